//! PRELOGIN (MS-TDS 2.2.6.5): an option table (token, big-endian offset and length), 0xFF,
//! then the option data.

use super::{ProtocolError, Reader};

const OPT_VERSION: u8 = 0x00;
const OPT_ENCRYPTION: u8 = 0x01;
const OPT_INSTOPT: u8 = 0x02;
const OPT_THREADID: u8 = 0x03;
const OPT_MARS: u8 = 0x04;
const OPT_TERMINATOR: u8 = 0xFF;

/// ENCRYPTION option values.
pub mod encrypt {
    pub const OFF: u8 = 0x00;
    pub const ON: u8 = 0x01;
    pub const NOT_SUP: u8 = 0x02;
    pub const REQ: u8 = 0x03;
}

/// SQL Server 2022 RTM, 16.0.1000.6: what VERSION and LOGINACK report.
pub const SERVER_VERSION: [u8; 4] = [16, 0, 0x03, 0xE8];
pub const SERVER_SUB_BUILD: u16 = 6;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPrelogin {
    pub encryption: u8,
    pub instance: Option<String>,
    pub mars: bool,
}

pub fn parse(payload: &[u8]) -> Result<ClientPrelogin, ProtocolError> {
    let mut table = Reader::new(payload);
    let mut out = ClientPrelogin {
        // A client that leaves ENCRYPTION out is treated as not supporting encryption.
        encryption: encrypt::NOT_SUP,
        instance: None,
        mars: false,
    };
    let mut saw_version = false;
    loop {
        let token = table.u8()?;
        if token == OPT_TERMINATOR {
            break;
        }
        let offset = u16::from_be_bytes([table.u8()?, table.u8()?]) as usize;
        let length = u16::from_be_bytes([table.u8()?, table.u8()?]) as usize;
        let data = payload
            .get(offset..offset + length)
            .ok_or_else(|| ProtocolError(format!("PRELOGIN option {token} out of bounds")))?;
        match token {
            OPT_VERSION => saw_version = true,
            OPT_ENCRYPTION => {
                let value = *data
                    .first()
                    .ok_or_else(|| ProtocolError("empty PRELOGIN ENCRYPTION".into()))?;
                // Only the low bits carry the level; 0x80 (CTAIP) is an independent flag.
                out.encryption = value & 0x0F;
                if out.encryption > encrypt::REQ {
                    return Err(ProtocolError(format!(
                        "invalid PRELOGIN ENCRYPTION value {value:#04x}"
                    )));
                }
            }
            OPT_INSTOPT => {
                let name: Vec<u8> = data.iter().copied().take_while(|b| *b != 0).collect();
                if !name.is_empty() {
                    out.instance = Some(String::from_utf8_lossy(&name).into_owned());
                }
            }
            OPT_MARS => out.mars = data.first().copied().unwrap_or(0) == 1,
            _ => {} // THREADID, TRACEID, FEDAUTHREQUIRED, NONCE: nothing to act on.
        }
    }
    if !saw_version {
        return Err(ProtocolError("PRELOGIN without VERSION".into()));
    }
    Ok(out)
}

/// The server's PRELOGIN response.
pub fn response(encryption: u8, instance_ok: bool) -> Vec<u8> {
    // VERSION(6), ENCRYPTION(1), INSTOPT(1), THREADID(0: SQL Server sends it empty), MARS(1).
    let options: [(u8, usize); 5] = [
        (OPT_VERSION, 6),
        (OPT_ENCRYPTION, 1),
        (OPT_INSTOPT, 1),
        (OPT_THREADID, 0),
        (OPT_MARS, 1),
    ];
    let table_len = options.len() * 5 + 1;
    let mut out = Vec::with_capacity(table_len + 9);
    let mut offset = table_len;
    for (token, len) in options {
        out.push(token);
        out.extend_from_slice(&(offset as u16).to_be_bytes());
        out.extend_from_slice(&(len as u16).to_be_bytes());
        offset += len;
    }
    out.push(OPT_TERMINATOR);
    out.extend_from_slice(&SERVER_VERSION);
    out.extend_from_slice(&SERVER_SUB_BUILD.to_be_bytes());
    out.push(encryption);
    // INSTOPT: 0 = the instance the client named is this one.
    out.push(if instance_ok { 0 } else { 1 });
    out.push(0); // MARS off: the test server does not multiplex sessions.
    out
}

/// What the server answers to the client's ENCRYPTION option (MS-TDS 2.2.6.5 table), and
/// how much of the connection that encrypts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// No TLS at all.
    None,
    /// TLS for LOGIN7 only, then plain text.
    LoginOnly,
    /// TLS for everything after PRELOGIN.
    Full,
    /// The server requires encryption the client cannot do: answer, then close.
    Refuse,
}

pub fn negotiate(client: u8, force_encryption: bool) -> (u8, Negotiated) {
    match (client, force_encryption) {
        (encrypt::NOT_SUP, false) => (encrypt::NOT_SUP, Negotiated::None),
        (encrypt::NOT_SUP, true) => (encrypt::REQ, Negotiated::Refuse),
        (encrypt::OFF, false) => (encrypt::OFF, Negotiated::LoginOnly),
        (encrypt::OFF, true) => (encrypt::REQ, Negotiated::Full),
        (_, _) => (encrypt::ON, Negotiated::Full),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_freetds_style_prelogin() {
        // Option table: VERSION @26 len 6, ENCRYPTION @32 len 1, INSTOPT @33 len 12,
        // THREADID @45 len 4, MARS @49 len 1.
        let mut p = vec![
            0x00, 0x00, 0x1a, 0x00, 0x06, 0x01, 0x00, 0x20, 0x00, 0x01, 0x02, 0x00, 0x21, 0x00,
            0x0c, 0x03, 0x00, 0x2d, 0x00, 0x04, 0x04, 0x00, 0x31, 0x00, 0x01, 0xff,
        ];
        p.extend_from_slice(&[9, 0, 0, 0, 0, 0]);
        p.push(encrypt::OFF);
        p.extend_from_slice(b"MSSQLServer\0");
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.push(0);
        let parsed = parse(&p).unwrap();
        assert_eq!(parsed.encryption, encrypt::OFF);
        assert_eq!(parsed.instance.as_deref(), Some("MSSQLServer"));
        assert!(!parsed.mars);
    }

    #[test]
    fn response_layout_matches_sql_server() {
        let r = response(encrypt::NOT_SUP, true);
        assert_eq!(
            r,
            vec![
                0x00, 0x00, 0x1a, 0x00, 0x06, 0x01, 0x00, 0x20, 0x00, 0x01, 0x02, 0x00, 0x21, 0x00,
                0x01, 0x03, 0x00, 0x22, 0x00, 0x00, 0x04, 0x00, 0x22, 0x00, 0x01, 0xff, 16, 0,
                0x03, 0xE8, 0x00, 0x06, 0x02, 0x00, 0x00
            ]
        );
    }

    #[test]
    fn encryption_table() {
        assert_eq!(
            negotiate(encrypt::OFF, false),
            (encrypt::OFF, Negotiated::LoginOnly)
        );
        assert_eq!(
            negotiate(encrypt::ON, false),
            (encrypt::ON, Negotiated::Full)
        );
        assert_eq!(
            negotiate(encrypt::REQ, false),
            (encrypt::ON, Negotiated::Full)
        );
        assert_eq!(
            negotiate(encrypt::NOT_SUP, false),
            (encrypt::NOT_SUP, Negotiated::None)
        );
        assert_eq!(
            negotiate(encrypt::NOT_SUP, true),
            (encrypt::REQ, Negotiated::Refuse)
        );
        assert_eq!(
            negotiate(encrypt::OFF, true),
            (encrypt::REQ, Negotiated::Full)
        );
    }
}
