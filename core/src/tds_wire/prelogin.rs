//! PRELOGIN (MS-TDS 2.2.6.5): an option table (token, big-endian offset and length, 0xFF),
//! then the options' data. The client says which encryption it wants; the server's answer
//! decides how much of the connection TLS covers.

use crate::options::Encrypt;

const OPTION_VERSION: u8 = 0x00;
const OPTION_ENCRYPTION: u8 = 0x01;
const OPTION_INSTANCE: u8 = 0x02;
const OPTION_THREAD_ID: u8 = 0x03;
const OPTION_MARS: u8 = 0x04;
const OPTION_TERMINATOR: u8 = 0xFF;

/// ENCRYPTION option values (both directions).
pub mod encryption {
    pub const OFF: u8 = 0x00;
    pub const ON: u8 = 0x01;
    pub const NOT_SUPPORTED: u8 = 0x02;
    pub const REQUIRED: u8 = 0x03;
}

/// The client version PRELOGIN reports; informational only (SQL Server logs it).
const CLIENT_VERSION: [u8; 6] = [0, 1, 0, 0, 0, 0];

/// What TLS covers once PRELOGIN is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// LOGIN7 only; everything after it travels in clear (client and server both said OFF).
    LoginOnly,
    /// Everything after PRELOGIN.
    Full,
    /// TDS 8.0: TLS came first, PRELOGIN itself travelled inside it.
    Strict,
}

/// The ENCRYPTION value the client sends for `encrypt`.
pub fn client_encryption(encrypt: Encrypt) -> u8 {
    match encrypt {
        Encrypt::Off => encryption::OFF,
        Encrypt::On => encryption::ON,
        // Under strict the value only informs; SQL Server expects REQUIRED.
        Encrypt::Required | Encrypt::Strict => encryption::REQUIRED,
    }
}

/// The client's PRELOGIN payload: no instance name (a port is given), no MARS.
pub fn request(encrypt: Encrypt) -> Vec<u8> {
    let options: [(u8, &[u8]); 5] = [
        (OPTION_VERSION, &CLIENT_VERSION),
        (OPTION_ENCRYPTION, &[client_encryption(encrypt)]),
        // An empty instance name: just the terminating NUL.
        (OPTION_INSTANCE, &[0]),
        (OPTION_THREAD_ID, &[0, 0, 0, 0]),
        (OPTION_MARS, &[0]),
    ];
    let table_len = options.len() * 5 + 1;
    let mut out = Vec::with_capacity(table_len + 16);
    let mut offset = table_len;
    for (token, data) in options {
        out.push(token);
        out.extend_from_slice(&(offset as u16).to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        offset += data.len();
    }
    out.push(OPTION_TERMINATOR);
    for (_, data) in options {
        out.extend_from_slice(data);
    }
    out
}

/// The server's ENCRYPTION answer, from its PRELOGIN response.
pub fn server_encryption(response: &[u8]) -> Result<u8, String> {
    let mut at = 0;
    let mut found = None;
    loop {
        let token = *response
            .get(at)
            .ok_or("PRELOGIN response ends inside its option table")?;
        if token == OPTION_TERMINATOR {
            break;
        }
        let entry = response
            .get(at + 1..at + 5)
            .ok_or("PRELOGIN response ends inside its option table")?;
        let offset = usize::from(u16::from_be_bytes([entry[0], entry[1]]));
        let length = usize::from(u16::from_be_bytes([entry[2], entry[3]]));
        if token == OPTION_ENCRYPTION {
            let value = response
                .get(offset..offset + length)
                .and_then(|data| data.first())
                .ok_or("PRELOGIN response's ENCRYPTION option is out of bounds")?;
            found = Some(*value);
        }
        at += 5;
    }
    found.ok_or_else(|| "PRELOGIN response has no ENCRYPTION option".into())
}

/// What TLS covers, given what the client asked and the server answered (MS-TDS 2.2.6.5's
/// table). `Err` names why there is no acceptable outcome.
pub fn negotiate(encrypt: Encrypt, server: u8) -> Result<Negotiated, String> {
    use encryption::*;
    match (encrypt, server) {
        (Encrypt::Strict, _) => Ok(Negotiated::Strict),
        (Encrypt::Off, OFF) => Ok(Negotiated::LoginOnly),
        (Encrypt::Off, ON | REQUIRED) => Ok(Negotiated::Full),
        (Encrypt::On | Encrypt::Required, ON | REQUIRED) => Ok(Negotiated::Full),
        (_, NOT_SUPPORTED) => Err("the server does not support encryption".into()),
        (_, OFF) => Err("the server does not allow the requested encryption level".into()),
        (_, other) => Err(format!(
            "the server answered an unknown encryption value {other:#04x}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_lays_out_its_option_table() {
        let payload = request(Encrypt::On);
        // 5 entries of 5 bytes and the terminator, then 6 + 1 + 1 + 4 + 1 bytes of data.
        assert_eq!(payload.len(), 26 + 13);
        assert_eq!(&payload[..5], &[OPTION_VERSION, 0, 26, 0, 6]);
        assert_eq!(&payload[5..10], &[OPTION_ENCRYPTION, 0, 32, 0, 1]);
        assert_eq!(payload[25], OPTION_TERMINATOR);
        assert_eq!(payload[32], encryption::ON);
        assert_eq!(request(Encrypt::Off)[32], encryption::OFF);
        assert_eq!(request(Encrypt::Required)[32], encryption::REQUIRED);
        // The request parses as a response would: same layout.
        assert_eq!(server_encryption(&payload), Ok(encryption::ON));
    }

    #[test]
    fn a_server_response_is_read_and_checked() {
        // SQL Server 2022's answer: VERSION, ENCRYPTION, INSTOPT, THREADID (empty), MARS.
        let response = [
            0x00, 0x00, 0x1a, 0x00, 0x06, 0x01, 0x00, 0x20, 0x00, 0x01, 0x02, 0x00, 0x21, 0x00,
            0x01, 0x03, 0x00, 0x22, 0x00, 0x00, 0x04, 0x00, 0x22, 0x00, 0x01, 0xff, 16, 0, 0x03,
            0xE8, 0x00, 0x06, 0x03, 0x00, 0x00,
        ];
        assert_eq!(server_encryption(&response), Ok(encryption::REQUIRED));
        assert!(server_encryption(&response[..12]).is_err());
        let mut bad_offset = response;
        bad_offset[7] = 0xF0;
        assert!(server_encryption(&bad_offset).is_err());
    }

    #[test]
    fn negotiation_follows_the_specification_table() {
        use encryption::*;
        assert_eq!(negotiate(Encrypt::Off, OFF), Ok(Negotiated::LoginOnly));
        assert_eq!(negotiate(Encrypt::Off, REQUIRED), Ok(Negotiated::Full));
        assert_eq!(negotiate(Encrypt::On, ON), Ok(Negotiated::Full));
        assert_eq!(negotiate(Encrypt::Required, ON), Ok(Negotiated::Full));
        assert_eq!(
            negotiate(Encrypt::Strict, NOT_SUPPORTED),
            Ok(Negotiated::Strict)
        );
        assert!(negotiate(Encrypt::On, NOT_SUPPORTED).is_err());
        assert!(negotiate(Encrypt::Off, NOT_SUPPORTED).is_err());
        assert!(negotiate(Encrypt::Required, OFF).is_err());
        assert!(negotiate(Encrypt::On, OFF).is_err());
        assert!(negotiate(Encrypt::On, 9).is_err());
    }
}
