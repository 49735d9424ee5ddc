//! The tokens around the rows (MS-TDS 2.2.7): DONE and its kin, ENVCHANGE, LOGINACK,
//! FEATUREEXTACK, RETURNSTATUS, and the ones only skipped. Rare next to ROW, so written for
//! clarity rather than speed.

use super::cursor::{malformed, Cursor, Stop};
use super::{done_status, DoneKind, EnvChange, Token};

/// Token type bytes.
pub mod token {
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
/// The oldest TDS version this decoder reads, 7.2 (SQL Server 2005), as LOGINACK states it:
/// before it, DONE row counts are 4 bytes, user types 2, and there are no PLP values.
pub const MIN_TDS_VERSION: u32 = 0x7209_0002;
/// TDS 8.0 as LOGINACK would state it: its major version in the top byte (like 7.0's and
/// 7.1's), hence numerically below 7.2, with 7.4's token stream.
const TDS_8_0: u32 = 0x0800_0000;
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

/// Refuses the result set a DONE token (DONE, DONEPROC or DONEINPROC) ends, after
/// `rows_decoded` rows: for an error or attention bit, or a row count (DONE_COUNT) other than
/// the rows decoded. Pass the count only for the DONE that ends the result set's own
/// statement; a later statement's DONE counts its own rows. An ERROR token before the DONE is
/// the caller's to report: it says what failed; this is for a DONE that says so alone.
pub fn check_result_set_end(
    status: u16,
    row_count: Option<u64>,
    rows_decoded: u64,
) -> Result<(), String> {
    if status & done_status::SERVER_ERROR != 0 {
        return Err(format!(
            "SQL Server ended the result set with a severe error (DONE status 0x{status:04X}) \
             and sent no error message"
        ));
    }
    if status & done_status::ERROR != 0 {
        return Err(format!(
            "SQL Server ended the result set with an error (DONE status 0x{status:04X}) and \
             sent no error message"
        ));
    }
    if status & done_status::ATTENTION != 0 {
        return Err(format!(
            "SQL Server ended the result set with an attention acknowledgement (DONE status \
             0x{status:04X}): the query was cancelled"
        ));
    }
    match row_count {
        Some(reported) if reported != rows_decoded => Err(format!(
            "SQL Server reports {reported} rows in the result set, pgmig decoded {rows_decoded}"
        )),
        _ => Ok(()),
    }
}

/// Refuses a server whose LOGINACK states a TDS version older than [`MIN_TDS_VERSION`].
pub fn check_tds_version(tds_version: u32) -> Result<(), String> {
    if tds_version >= MIN_TDS_VERSION || tds_version == TDS_8_0 {
        return Ok(());
    }
    // The older versions' LOGINACK values (MS-TDS appendix A, LOGINACK).
    let version = match tds_version {
        0x0700_0000 => "7.0",
        0x0701_0000 => "7.1",
        0x7100_0001 => "7.1 revision 1",
        _ => "",
    };
    let version = match version {
        "" => format!("0x{tds_version:08X}"),
        name => format!("{name} (0x{tds_version:08X})"),
    };
    Err(format!(
        "SQL Server reports TDS version {version}; pgmig needs 7.2 (SQL Server 2005) or later"
    ))
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

/// The most data one acknowledged feature may carry. pgmig asks only for UTF8_SUPPORT (one
/// byte of data); the largest SQL Server sends to any client, session recovery's state, stays
/// far below this. A larger length is taken for a broken stream rather than waited for: the
/// reader would otherwise buffer up to 4 GB at login.
const FEATURE_DATA_MAX_BYTES: usize = 1 << 20;

/// FEATUREEXTACK: (feature id, u32 length, data) until the terminator; no length of its own.
pub(crate) fn feature_ext_ack(input: &[u8]) -> Result<(usize, Token), Stop> {
    let mut cur = Cursor::stream(input, 1);
    while cur.u8()? != FEATURE_TERMINATOR {
        let len = cur.u32()? as usize;
        if len > FEATURE_DATA_MAX_BYTES {
            return Err(malformed(format!(
                "FEATUREEXTACK announces {len} bytes of feature data"
            )));
        }
        cur.take(len)?;
    }
    Ok((cur.pos(), Token::FeatureExtAck))
}
