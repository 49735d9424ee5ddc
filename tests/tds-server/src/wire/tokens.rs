//! Server-to-client tokens (MS-TDS 2.2.7), appended to a byte buffer.

use super::put_utf16;
use crate::types::Collation;

pub mod token {
    pub const RETURN_STATUS: u8 = 0x79;
    pub const COLMETADATA: u8 = 0x81;
    pub const ERROR: u8 = 0xAA;
    pub const INFO: u8 = 0xAB;
    pub const LOGINACK: u8 = 0xAD;
    pub const FEATUREEXTACK: u8 = 0xAE;
    pub const ROW: u8 = 0xD1;
    pub const NBCROW: u8 = 0xD2;
    pub const ENVCHANGE: u8 = 0xE3;
    pub const DONE: u8 = 0xFD;
    pub const DONEPROC: u8 = 0xFE;
    pub const DONEINPROC: u8 = 0xFF;
}

/// DONE status bits (MS-TDS 2.2.7.6).
pub mod done {
    pub const FINAL: u16 = 0x0000;
    pub const MORE: u16 = 0x0001;
    pub const ERROR: u16 = 0x0002;
    pub const INXACT: u16 = 0x0004;
    pub const COUNT: u16 = 0x0010;
    pub const ATTN: u16 = 0x0020;
    pub const SRVERROR: u16 = 0x0100;
}

/// CurCmd values SQL Server puts in DONE tokens.
pub mod cur_cmd {
    pub const NONE: u16 = 0x00;
    pub const SELECT: u16 = 0xC1;
    pub const INSERT: u16 = 0xC3;
    pub const EXECUTE: u16 = 0xE0;
}

/// ENVCHANGE types.
pub mod env {
    pub const DATABASE: u8 = 1;
    pub const LANGUAGE: u8 = 2;
    pub const PACKET_SIZE: u8 = 4;
    pub const SQL_COLLATION: u8 = 7;
    pub const BEGIN_TRANSACTION: u8 = 8;
    pub const COMMIT_TRANSACTION: u8 = 9;
    pub const ROLLBACK_TRANSACTION: u8 = 10;
}

/// The name SQL Server puts in ERROR/INFO tokens (its `@@SERVERNAME`).
pub const SERVER_NAME: &str = "PGMIG-TDS";

fn put_b_varchar(buf: &mut Vec<u8>, s: &str) {
    let units = super::utf16_len(s).min(255);
    buf.push(units as u8);
    if units == super::utf16_len(s) {
        put_utf16(buf, s);
    } else {
        let mut tmp = Vec::new();
        put_utf16(&mut tmp, s);
        buf.extend_from_slice(&tmp[..units * 2]);
    }
}

fn put_us_varchar(buf: &mut Vec<u8>, s: &str) {
    let units = super::utf16_len(s).min(u16::MAX as usize);
    buf.extend_from_slice(&(units as u16).to_le_bytes());
    let mut tmp = Vec::new();
    put_utf16(&mut tmp, s);
    buf.extend_from_slice(&tmp[..units * 2]);
}

/// Runs `body` and back-patches the u16 length that precedes it.
fn with_u16_length(buf: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = buf.len();
    buf.extend_from_slice(&[0, 0]);
    body(buf);
    let len = (buf.len() - at - 2).min(u16::MAX as usize) as u16;
    buf[at..at + 2].copy_from_slice(&len.to_le_bytes());
}

pub fn env_change_text(buf: &mut Vec<u8>, kind: u8, new: &str, old: &str) {
    buf.push(token::ENVCHANGE);
    with_u16_length(buf, |b| {
        b.push(kind);
        put_b_varchar(b, new);
        put_b_varchar(b, old);
    });
}

pub fn env_change_collation(buf: &mut Vec<u8>, collation: &Collation) {
    buf.push(token::ENVCHANGE);
    with_u16_length(buf, |b| {
        b.push(env::SQL_COLLATION);
        b.push(5);
        put_collation(b, collation);
        b.push(0); // old value: empty
    });
}

/// ENVCHANGE for transactions: new/old values are 8-byte descriptors (or empty).
pub fn env_change_transaction(buf: &mut Vec<u8>, kind: u8, new: Option<u64>, old: Option<u64>) {
    buf.push(token::ENVCHANGE);
    with_u16_length(buf, |b| {
        b.push(kind);
        for v in [new, old] {
            match v {
                Some(d) => {
                    b.push(8);
                    b.extend_from_slice(&d.to_le_bytes());
                }
                None => b.push(0),
            }
        }
    });
}

pub fn put_collation(buf: &mut Vec<u8>, collation: &Collation) {
    buf.extend_from_slice(&collation.info.to_le_bytes());
    buf.push(collation.sort_id);
}

/// An INFO (class <= 10) or ERROR token.
pub fn message(
    buf: &mut Vec<u8>,
    number: u32,
    state: u8,
    class: u8,
    text: &str,
    proc_name: &str,
    line: u32,
) {
    buf.push(if class > 10 {
        token::ERROR
    } else {
        token::INFO
    });
    with_u16_length(buf, |b| {
        b.extend_from_slice(&number.to_le_bytes());
        b.push(state);
        b.push(class);
        put_us_varchar(b, text);
        put_b_varchar(b, SERVER_NAME);
        put_b_varchar(b, proc_name);
        b.extend_from_slice(&line.to_le_bytes());
    });
}

pub fn login_ack(buf: &mut Vec<u8>, tds_version: u32) {
    buf.push(token::LOGINACK);
    with_u16_length(buf, |b| {
        b.push(1); // interface: SQL_TSQL
        b.extend_from_slice(&tds_version.to_be_bytes());
        put_b_varchar(b, "Microsoft SQL Server");
        b.extend_from_slice(&super::prelogin::SERVER_VERSION);
    });
}

/// FEATUREEXTACK acknowledging none of the requested features (all optional for clients).
pub fn feature_ext_ack_none(buf: &mut Vec<u8>) {
    buf.push(token::FEATUREEXTACK);
    buf.push(0xFF);
}

pub fn done(buf: &mut Vec<u8>, kind: u8, status: u16, cur_cmd: u16, rows: u64) {
    buf.push(kind);
    buf.extend_from_slice(&status.to_le_bytes());
    buf.extend_from_slice(&cur_cmd.to_le_bytes());
    buf.extend_from_slice(&rows.to_le_bytes());
}

pub fn return_status(buf: &mut Vec<u8>, value: i32) {
    buf.push(token::RETURN_STATUS);
    buf.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_layout() {
        let mut b = Vec::new();
        done(
            &mut b,
            token::DONE,
            done::COUNT | done::MORE,
            cur_cmd::SELECT,
            3,
        );
        assert_eq!(
            b,
            vec![0xFD, 0x11, 0x00, 0xC1, 0x00, 3, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn error_layout() {
        let mut b = Vec::new();
        message(&mut b, 18456, 1, 14, "x", "", 1);
        let mut expected = vec![0xAA];
        let body_len = 4 + 1 + 1 + 2 + 2 + 1 + 2 * SERVER_NAME.len() + 1 + 4;
        expected.extend_from_slice(&(body_len as u16).to_le_bytes());
        expected.extend_from_slice(&18456u32.to_le_bytes());
        expected.extend_from_slice(&[1, 14, 1, 0, b'x', 0, SERVER_NAME.len() as u8]);
        for c in SERVER_NAME.bytes() {
            expected.extend_from_slice(&[c, 0]);
        }
        expected.push(0);
        expected.extend_from_slice(&1u32.to_le_bytes());
        assert_eq!(b, expected);
    }

    #[test]
    fn login_ack_reports_tds_7_4_and_sql_server_2022() {
        let mut b = Vec::new();
        login_ack(&mut b, 0x7400_0004);
        assert_eq!(&b[..8], &[0xAD, 0x32, 0x00, 0x01, 0x74, 0x00, 0x00, 0x04]);
        assert_eq!(&b[b.len() - 4..], &[16, 0, 0x03, 0xE8]);
    }
}
