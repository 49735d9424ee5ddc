//! LOGIN7 (MS-TDS 2.2.6.4) for SQL Server authentication: a 94-byte fixed part (lengths,
//! flags, then an offset/length table), followed by the UTF-16LE strings it points at. The
//! password is obfuscated as TDS requires (nibbles swapped, XOR 0xA5): that is not secrecy,
//! which is why pgmig never sends LOGIN7 outside TLS.

use super::put_utf16;

/// TDS 7.3 (revision B, SQL Server 2008+): the first version with date, time, datetime2 and
/// datetimeoffset on the wire; what tiberius's catalog connections ask for too, so that both
/// of pgmig's connections get the same session behaviour.
pub const TDS_VERSION: u32 = 0x730B_0003;
/// The fixed part: 36 bytes of header fields, 58 of offsets, lengths and ClientID.
const FIXED_LEN: usize = 94;

/// OptionFlags1: warn on database change (fUseDB), fail the login if the database cannot be
/// used (fDatabase) rather than landing in the default one.
const FLAGS1_USE_DB_NOTIFY_INIT_DB_FATAL: u8 = 0x20 | 0x40;
/// OptionFlags2: fail if the language cannot be set (fLanguage); ODBC client (fODBC), which
/// makes the server apply the ODBC session defaults (ANSI_NULLS, ANSI_WARNINGS, ... ON), as
/// SQL Server's own drivers and tiberius do.
const FLAGS2_INIT_LANG_FATAL_ODBC: u8 = 0x01 | 0x02;
/// OptionFlags3: the client copes with collations it does not know (fUnknownCollationHandling).
const FLAGS3_UNKNOWN_COLLATION_HANDLING: u8 = 0x08;

/// What a SQL Server login says about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login<'a> {
    pub hostname: &'a str,
    pub user: &'a str,
    pub password: &'a str,
    pub application_name: &'a str,
    /// The server's host name as the client addressed it.
    pub server_name: &'a str,
    /// Empty: the login's default database.
    pub database: &'a str,
    /// The packet size asked for; the server may grant another (ENVCHANGE).
    pub packet_size: u32,
}

/// The LOGIN7 payload.
pub fn payload(login: &Login<'_>) -> Vec<u8> {
    let strings: [(&str, bool); 9] = [
        (login.hostname, false),
        (login.user, false),
        (login.password, true),
        (login.application_name, false),
        (login.server_name, false),
        ("", false), // ibExtension: no feature extensions.
        ("pgmig", false),
        ("", false), // language: the login's default.
        (login.database, false),
    ];
    let mut data = Vec::new();
    let mut table = Vec::with_capacity(FIXED_LEN - 36);
    for (text, obfuscated) in strings {
        let offset = FIXED_LEN + data.len();
        let start = data.len();
        put_utf16(&mut data, text);
        if obfuscated {
            for byte in &mut data[start..] {
                *byte = byte.rotate_left(4) ^ 0xA5;
            }
        }
        let chars = (data.len() - start) / 2;
        table.extend_from_slice(&(offset as u16).to_le_bytes());
        table.extend_from_slice(&(chars as u16).to_le_bytes());
    }
    table.extend_from_slice(&[0; 6]); // ClientID (a MAC address): none.
    let end = (FIXED_LEN + data.len()) as u16;
    for _ in 0..2 {
        // ibSSPI/cbSSPI, ibAtchDBFile/cchAtchDBFile: empty, pointing at the end.
        table.extend_from_slice(&end.to_le_bytes());
        table.extend_from_slice(&0u16.to_le_bytes());
    }
    table.extend_from_slice(&end.to_le_bytes()); // ibChangePassword
    table.extend_from_slice(&0u16.to_le_bytes());
    table.extend_from_slice(&0u32.to_le_bytes()); // cbSSPILong

    let total = FIXED_LEN + data.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&TDS_VERSION.to_le_bytes());
    out.extend_from_slice(&login.packet_size.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // ClientProgVer
    out.extend_from_slice(&std::process::id().to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // ConnectionID: a new connection.
    out.push(FLAGS1_USE_DB_NOTIFY_INIT_DB_FATAL);
    out.push(FLAGS2_INIT_LANG_FATAL_ODBC);
    out.push(0); // TypeFlags: SQL_DFLT, read-write intent.
    out.push(FLAGS3_UNKNOWN_COLLATION_HANDLING);
    out.extend_from_slice(&0i32.to_le_bytes()); // ClientTimeZone: unused by SQL Server.
    out.extend_from_slice(&0u32.to_le_bytes()); // ClientLCID
    out.extend_from_slice(&table);
    debug_assert_eq!(out.len(), FIXED_LEN);
    out.extend_from_slice(&data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16_at(payload: &[u8], entry: usize) -> Vec<u8> {
        let at = 36 + entry * 4;
        let offset = usize::from(u16::from_le_bytes([payload[at], payload[at + 1]]));
        let chars = usize::from(u16::from_le_bytes([payload[at + 2], payload[at + 3]]));
        payload[offset..offset + chars * 2].to_vec()
    }

    fn text(bytes: &[u8]) -> String {
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        String::from_utf16(&units).unwrap()
    }

    #[test]
    fn fields_land_where_the_offset_table_says() {
        let login = Login {
            hostname: "db-host",
            user: "loader",
            password: "pä$$",
            application_name: "pgmig",
            server_name: "mssql.example",
            database: "StackOverflow",
            packet_size: 32767,
        };
        let payload = payload(&login);
        assert_eq!(
            u32::from_le_bytes(payload[0..4].try_into().unwrap()) as usize,
            payload.len()
        );
        assert_eq!(&payload[4..8], &[0x03, 0x00, 0x0B, 0x73]);
        assert_eq!(&payload[8..12], &32767u32.to_le_bytes());
        assert_eq!(text(&utf16_at(&payload, 0)), "db-host");
        assert_eq!(text(&utf16_at(&payload, 1)), "loader");
        assert_eq!(text(&utf16_at(&payload, 3)), "pgmig");
        assert_eq!(text(&utf16_at(&payload, 4)), "mssql.example");
        assert_eq!(text(&utf16_at(&payload, 8)), "StackOverflow");
        // The password is obfuscated, and only the password.
        let hidden = utf16_at(&payload, 2);
        let plain: Vec<u8> = hidden.iter().map(|b| (b ^ 0xA5).rotate_left(4)).collect();
        assert_eq!(text(&plain), "pä$$");
        // Nowhere in plain UTF-16. (Not "no `$` unit anywhere": the header holds the process
        // id, whose bytes can be one; that made this test fail for some pids.)
        let plain_utf16: Vec<u8> = "pä$$".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(!payload.windows(plain_utf16.len()).any(|w| w == plain_utf16));
    }

    #[test]
    fn empty_strings_point_inside_the_message() {
        let payload = payload(&Login {
            hostname: "",
            user: "u",
            password: "",
            application_name: "",
            server_name: "",
            database: "",
            packet_size: 4096,
        });
        assert_eq!(payload.len(), FIXED_LEN + 2 + "pgmig".len() * 2);
        for entry in 0..9 {
            let at = 36 + entry * 4;
            let offset = usize::from(u16::from_le_bytes([payload[at], payload[at + 1]]));
            assert!(
                offset >= FIXED_LEN && offset <= payload.len(),
                "entry {entry}"
            );
        }
    }
}
