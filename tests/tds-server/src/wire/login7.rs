//! LOGIN7 (MS-TDS 2.2.6.4): a fixed 36-byte header, an offset/length table, then UTF-16LE
//! strings. The password is obfuscated: each byte had its nibbles swapped and was XORed with
//! 0xA5.

use super::{utf16le_to_string, ProtocolError, Reader};

/// TDS versions a LOGIN7 may ask for, and what the server acknowledges.
pub mod version {
    pub const TDS_7_2: u32 = 0x7209_0002;
    pub const TDS_7_3_A: u32 = 0x730A_0003;
    pub const TDS_7_3_B: u32 = 0x730B_0003;
    pub const TDS_7_4: u32 = 0x7400_0004;
}

/// OptionFlags2 fIntSecurity: Windows authentication (SSPI), which this server lacks.
const FLAG2_INTEGRATED_SECURITY: u8 = 0x80;
/// OptionFlags3 fExtension: ibExtension points at a FeatureExt block.
const FLAG3_EXTENSION: u8 = 0x10;
/// TypeFlags fReadOnlyIntent.
const TYPE_READ_ONLY_INTENT: u8 = 0x20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login7 {
    pub tds_version: u32,
    /// 0 = "use the server's default".
    pub packet_size: u32,
    pub hostname: String,
    pub user: String,
    pub password: String,
    pub app_name: String,
    pub server_name: String,
    pub language: String,
    pub database: String,
    /// The client library's name (ibCltIntName): `sys.dm_exec_sessions.client_interface_name`.
    pub client_interface: String,
    pub integrated_security: bool,
    pub read_only_intent: bool,
    /// Feature ids the client asked for in FeatureExt.
    pub features: Vec<u8>,
}

impl Login7 {
    /// The TDS version the server answers with: the client's if we speak it, 7.4 for any
    /// newer one. Versions before 7.2 lack 8-byte row counts and are refused.
    pub fn negotiated_version(&self) -> Option<u32> {
        match self.tds_version {
            version::TDS_7_2 | version::TDS_7_3_A | version::TDS_7_3_B | version::TDS_7_4 => {
                Some(self.tds_version)
            }
            v if v > version::TDS_7_4 => Some(version::TDS_7_4),
            _ => None,
        }
    }
}

/// Undoes the LOGIN7 password obfuscation.
pub fn deobfuscate_password(bytes: &[u8]) -> String {
    let plain: Vec<u8> = bytes
        .iter()
        .map(|b| {
            let x = b ^ 0xA5;
            x.rotate_left(4)
        })
        .collect();
    utf16le_to_string(&plain)
}

/// The inverse, for tests and clients.
pub fn obfuscate_password(password: &str) -> Vec<u8> {
    let mut utf16 = Vec::new();
    super::put_utf16(&mut utf16, password);
    utf16.iter().map(|b| b.rotate_left(4) ^ 0xA5).collect()
}

pub fn parse(payload: &[u8]) -> Result<Login7, ProtocolError> {
    let mut r = Reader::new(payload);
    let length = r.u32()? as usize;
    if length > payload.len() || length < 94 {
        return Err(ProtocolError(format!(
            "LOGIN7 length {length} does not match the message ({} bytes)",
            payload.len()
        )));
    }
    let tds_version = r.u32()?;
    let packet_size = r.u32()?;
    let _client_prog_ver = r.u32()?;
    let _client_pid = r.u32()?;
    let _connection_id = r.u32()?;
    let _flags1 = r.u8()?;
    let flags2 = r.u8()?;
    let type_flags = r.u8()?;
    let flags3 = r.u8()?;
    let _time_zone = r.u32()?;
    let _lcid = r.u32()?;

    let body = &payload[..length];
    let string_at = |r: &mut Reader| -> Result<(usize, usize), ProtocolError> {
        let offset = r.u16()? as usize;
        let chars = r.u16()? as usize;
        Ok((offset, chars))
    };
    let text = |(offset, chars): (usize, usize)| -> Result<String, ProtocolError> {
        body.get(offset..offset + chars * 2)
            .map(utf16le_to_string)
            .ok_or_else(|| ProtocolError("LOGIN7 string out of bounds".into()))
    };
    let hostname = string_at(&mut r)?;
    let user = string_at(&mut r)?;
    let password = string_at(&mut r)?;
    let app_name = string_at(&mut r)?;
    let server_name = string_at(&mut r)?;
    // ibExtension/cbExtension: with fExtension its offset points at a DWORD offset of the
    // FeatureExt block; the length is in bytes here, not characters.
    let extension = string_at(&mut r)?;
    let client_interface = string_at(&mut r)?;
    let language = string_at(&mut r)?;
    let database = string_at(&mut r)?;

    let password_bytes = body
        .get(password.0..password.0 + password.1 * 2)
        .ok_or_else(|| ProtocolError("LOGIN7 password out of bounds".into()))?;

    let mut features = Vec::new();
    if flags3 & FLAG3_EXTENSION != 0 && extension.1 >= 4 {
        let at = extension.0;
        let pointer = body
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| ProtocolError("LOGIN7 extension out of bounds".into()))?;
        // The FeatureExt block may sit past cbLength's body in some clients; read from the
        // whole payload.
        let mut fr = Reader::new(payload.get(pointer..).unwrap_or(&[]));
        loop {
            let id = fr.u8()?;
            if id == 0xFF {
                break;
            }
            let len = fr.u32()? as usize;
            fr.take(len)?;
            features.push(id);
        }
    }

    Ok(Login7 {
        tds_version,
        packet_size,
        hostname: text(hostname)?,
        user: text(user)?,
        password: deobfuscate_password(password_bytes),
        app_name: text(app_name)?,
        server_name: text(server_name)?,
        language: text(language)?,
        database: text(database)?,
        client_interface: text(client_interface)?,
        integrated_security: flags2 & FLAG2_INTEGRATED_SECURITY != 0,
        read_only_intent: type_flags & TYPE_READ_ONLY_INTENT != 0,
        features,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a LOGIN7 the way clients lay it out.
    pub(crate) fn build(user: &str, password: &str, database: &str, packet_size: u32) -> Vec<u8> {
        let mut strings: Vec<u8> = Vec::new();
        let mut table: Vec<u8> = Vec::new();
        let base = 94usize;
        let add = |table: &mut Vec<u8>, strings: &mut Vec<u8>, bytes: Vec<u8>, chars: usize| {
            table.extend_from_slice(&((base + strings.len()) as u16).to_le_bytes());
            table.extend_from_slice(&(chars as u16).to_le_bytes());
            strings.extend_from_slice(&bytes);
        };
        let utf16 = |s: &str| {
            let mut v = Vec::new();
            crate::wire::put_utf16(&mut v, s);
            v
        };
        add(&mut table, &mut strings, utf16("host"), 4);
        add(&mut table, &mut strings, utf16(user), user.len());
        add(
            &mut table,
            &mut strings,
            obfuscate_password(password),
            password.len(),
        );
        add(&mut table, &mut strings, utf16("app"), 3);
        add(&mut table, &mut strings, utf16("srv"), 3);
        add(&mut table, &mut strings, Vec::new(), 0); // extension
        add(&mut table, &mut strings, utf16("lib"), 3);
        add(&mut table, &mut strings, Vec::new(), 0); // language
        add(&mut table, &mut strings, utf16(database), database.len());
        table.extend_from_slice(&[0u8; 6]); // client id
        for _ in 0..4 {
            table.extend_from_slice(&[0u8; 4]); // sspi, attach db, change password
        }
        let mut out = Vec::new();
        let total = 36 + table.len() + strings.len();
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&version::TDS_7_4.to_le_bytes());
        out.extend_from_slice(&packet_size.to_le_bytes());
        out.extend_from_slice(&[0u8; 12]);
        out.extend_from_slice(&[0xE0, 0x03, 0, 0]);
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(&table[..58]);
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn password_obfuscation_round_trips() {
        // MS-TDS example: 'a' (0x61 0x00) -> 0xB3 0xA5.
        assert_eq!(obfuscate_password("a"), vec![0xB3, 0xA5]);
        assert_eq!(
            deobfuscate_password(&obfuscate_password("pässwörd")),
            "pässwörd"
        );
    }

    #[test]
    fn parses_user_password_database() {
        let msg = build("loader", "s3cret", "Stack", 32767);
        let login = parse(&msg).unwrap();
        assert_eq!(login.user, "loader");
        assert_eq!(login.password, "s3cret");
        assert_eq!(login.database, "Stack");
        assert_eq!(login.packet_size, 32767);
        assert_eq!(login.negotiated_version(), Some(version::TDS_7_4));
        assert!(login.features.is_empty());
    }

    #[test]
    fn truncated_login_is_refused() {
        let msg = build("u", "p", "d", 4096);
        assert!(parse(&msg[..60]).is_err());
    }
}
