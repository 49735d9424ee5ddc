//! The tokens around the rows (MS-TDS 2.2.7): DONE and its kin, ENVCHANGE, LOGINACK,
//! FEATUREEXTACK, RETURNSTATUS, and the ones only skipped. Rare next to ROW, so written for
//! clarity rather than speed.

use super::cursor::{malformed, Cursor, Stop};
use super::{DoneKind, EnvChange, Token};

/// Token type bytes.
pub(crate) mod token {
    pub const RETURN_STATUS: u8 = 0x79;
    pub const COLMETADATA: u8 = 0x81;
    pub const TABNAME: u8 = 0xA4;
    pub const COLINFO: u8 = 0xA5;
    pub const ORDER: u8 = 0xA9;
    pub const ERROR: u8 = 0xAA;
    pub const INFO: u8 = 0xAB;
    pub const RETURNVALUE: u8 = 0xAC;
    pub const LOGINACK: u8 = 0xAD;
    pub const FEATUREEXTACK: u8 = 0xAE;
    pub const ROW: u8 = 0xD1;
    pub const NBCROW: u8 = 0xD2;
    pub const ENVCHANGE: u8 = 0xE3;
    pub const SSPI: u8 = 0xED;
    pub const DONE: u8 = 0xFD;
    pub const DONEPROC: u8 = 0xFE;
    pub const DONEINPROC: u8 = 0xFF;
}

/// DONE status bit: `row_count` is valid.
pub(crate) const DONE_COUNT: u16 = 0x0010;
/// ENVCHANGE types this decoder reports.
const ENV_DATABASE: u8 = 1;
const ENV_PACKET_SIZE: u8 = 4;
/// Ends the list of acknowledged features.
const FEATURE_TERMINATOR: u8 = 0xFF;

/// The body of a token with a u16 length after its type byte, and the token's whole length.
pub(crate) fn u16_body(input: &[u8]) -> Result<(&[u8], usize), Stop> {
    let mut cur = Cursor::stream(input, 1);
    let len = usize::from(cur.u16()?);
    let body = cur.take(len)?;
    Ok((body, cur.pos()))
}

/// DONE, DONEPROC, DONEINPROC: status, current command, row count (u64 since TDS 7.2).
pub(crate) fn done(input: &[u8], kind: DoneKind) -> Result<(usize, Token), Stop> {
    let mut cur = Cursor::stream(input, 1);
    let status = cur.u16()?;
    let _current_command = cur.u16()?;
    let count = cur.u64()?;
    let token = Token::Done {
        status,
        row_count: (status & DONE_COUNT != 0).then_some(count),
        kind,
    };
    Ok((cur.pos(), token))
}

/// RETURNSTATUS: the i32 a stored procedure returned.
pub(crate) fn return_status(input: &[u8]) -> Result<(usize, Token), Stop> {
    let mut cur = Cursor::stream(input, 1);
    let status = i32::from_le_bytes(cur.array()?);
    Ok((cur.pos(), Token::ReturnStatus(status)))
}

/// A token read only to step over it.
pub(crate) fn skipped(input: &[u8]) -> Result<(usize, Token), Stop> {
    let (_, consumed) = u16_body(input)?;
    Ok((consumed, Token::Skipped))
}

/// ENVCHANGE: a type, then its new and old values. Only the packet size (which the caller's
/// packet reader must follow) and the database are decoded.
pub(crate) fn env_change(input: &[u8]) -> Result<(usize, Token), Stop> {
    let (body, consumed) = u16_body(input)?;
    let mut cur = Cursor::body(body, "ENVCHANGE");
    let change = match cur.u8()? {
        ENV_PACKET_SIZE => {
            let text = cur.b_varchar()?;
            let size = text
                .parse::<u32>()
                .map_err(|_| malformed(format!("ENVCHANGE packet size \"{text}\"")))?;
            EnvChange::PacketSize(size)
        }
        ENV_DATABASE => EnvChange::Database(cur.b_varchar()?),
        other => EnvChange::Other(other),
    };
    Ok((consumed, Token::EnvChange(change)))
}

/// LOGINACK: interface, TDS version (big-endian), program name, program version.
pub(crate) fn login_ack(input: &[u8]) -> Result<(usize, Token), Stop> {
    let (body, consumed) = u16_body(input)?;
    let mut cur = Cursor::body(body, "LOGINACK");
    let _interface = cur.u8()?;
    let tds_version = u32::from_be_bytes(cur.array()?);
    let program = cur.b_varchar()?;
    let _program_version: [u8; 4] = cur.array()?;
    Ok((
        consumed,
        Token::LoginAck {
            tds_version,
            program,
        },
    ))
}

/// FEATUREEXTACK: (feature id, u32 length, data) until the terminator; no length of its own.
pub(crate) fn feature_ext_ack(input: &[u8]) -> Result<(usize, Token), Stop> {
    let mut cur = Cursor::stream(input, 1);
    while cur.u8()? != FEATURE_TERMINATOR {
        let len = cur.u32()? as usize;
        cur.take(len)?;
    }
    Ok((cur.pos(), Token::FeatureExtAck))
}
