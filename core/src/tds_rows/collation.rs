//! The code page of a char/varchar column from its TDS COLLATION (MS-TDS 2.2.5.1.2), so its
//! bytes can be turned into UTF-8. A collation this table does not know is never guessed: the
//! column is reported unsupported and the caller reads the query another way.
//!
//! COLLATION is 5 bytes: a little-endian u32 whose low 20 bits are the LCID (a 16-bit language
//! id plus a 4-bit sort variant) and bits 20-27 comparison flags, then a sort id. A sort id of
//! 0 means a Windows collation (the code page follows from the language); any other is one of
//! the legacy `SQL_*` collations, each with a fixed code page.

/// The collation flag of SQL Server 2019's `_UTF8` collations: the data is UTF-8 whatever the
/// language.
const FLAG_UTF8: u32 = 0x0400_0000;
/// The language id inside the LCID; the bits above it only pick a sort variant (German phone
/// book, Chinese stroke order, ...), which keeps the language's code page.
const LANGUAGE_ID_MASK: u32 = 0xFFFF;
/// The primary language inside a language id; the bits above it name the country or script.
const PRIMARY_LANGUAGE_MASK: u16 = 0x03FF;
/// Code page 65001.
const UTF8_CODE_PAGE: u16 = 65001;

/// A collation as it arrives in TYPE_INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Collation {
    pub info: u32,
    pub sort_id: u8,
}

impl Collation {
    pub(crate) fn from_wire(bytes: [u8; 5]) -> Collation {
        let [a, b, c, d, sort_id] = bytes;
        Collation {
            info: u32::from_le_bytes([a, b, c, d]),
            sort_id,
        }
    }

    /// The 20-bit LCID.
    pub(crate) fn lcid(self) -> u32 {
        self.info & 0x000F_FFFF
    }

    /// The Windows code page of char/varchar data in this collation, if known for certain.
    pub(crate) fn code_page(self) -> Option<u16> {
        if self.info & FLAG_UTF8 != 0 {
            return Some(UTF8_CODE_PAGE);
        }
        if self.sort_id != 0 {
            return sql_collation_code_page(self.sort_id);
        }
        windows_code_page((self.info & LANGUAGE_ID_MASK) as u16)
    }
}

/// The legacy SQL collations by sort id. Only the `SQL_Latin1_General_CP1_*` family, by far
/// the most common (`SQL_Latin1_General_CP1_CI_AS` is SQL Server's installation default in
/// the US); the other sort ids are rare and their code pages are not all ones this crate can
/// convert (437, 850).
fn sql_collation_code_page(sort_id: u8) -> Option<u16> {
    match sort_id {
        // SQL_Latin1_General_CP1_CS_AS, _CP1_CI_AS, _Pref_CP1_CI_AS, _CP1_CI_AI.
        51..=54 => Some(1252),
        _ => None,
    }
}

/// The ANSI code page of a Windows language id: Windows' locale table, which SQL Server
/// follows for its Windows collations. Languages written in more than one script (Chinese,
/// Serbian/Croatian/Bosnian, Azerbaijani, Uzbek) are looked up by the whole language id; the
/// rest by primary language. Unicode-only languages (Hindi, Georgian, ...) have no code page
/// and no varchar data, and are left out with everything not listed.
fn windows_code_page(language_id: u16) -> Option<u16> {
    let by_script = match language_id {
        0x0404 | 0x0C04 | 0x1404 => Some(950), // Chinese: Taiwan, Hong Kong, Macao
        0x0804 | 0x1004 => Some(936),          // Chinese: PRC, Singapore
        0x041A | 0x081A | 0x101A | 0x141A => Some(1250), // Croatian, Serbian/Bosnian (Latin)
        0x0C1A | 0x201A => Some(1251),         // Serbian, Bosnian (Cyrillic)
        0x042C | 0x0443 => Some(1254),         // Azerbaijani, Uzbek (Latin)
        0x082C | 0x0843 => Some(1251),         // Azerbaijani, Uzbek (Cyrillic)
        0x085F => Some(1252),                  // Tamazight (Latin)
        _ => None,
    };
    if by_script.is_some() {
        return by_script;
    }
    Some(match language_id & PRIMARY_LANGUAGE_MASK {
        // Arabic, Urdu, Persian, Uyghur, Dari.
        0x01 | 0x20 | 0x29 | 0x80 | 0x8C => 1256,
        // Bulgarian, Russian, Ukrainian, Belarusian, Macedonian, Kazakh, Kyrgyz, Tatar,
        // Bashkir, Yakut.
        0x02 | 0x19 | 0x22 | 0x23 | 0x2F | 0x3F | 0x40 | 0x44 | 0x6D | 0x85 => 1251,
        // Czech, Hungarian, Polish, Romanian, Slovak, Albanian, Slovenian, Turkmen.
        0x05 | 0x0E | 0x15 | 0x18 | 0x1B | 0x1C | 0x24 | 0x42 => 1250,
        0x08 => 1253, // Greek
        0x0D => 1255, // Hebrew
        0x11 => 932,  // Japanese
        0x12 => 949,  // Korean
        0x1E => 874,  // Thai
        0x1F => 1254, // Turkish
        // Estonian, Latvian, Lithuanian.
        0x25..=0x27 => 1257,
        0x2A => 1258, // Vietnamese
        // Catalan, Danish, German, English, Spanish, Finnish, French, Icelandic, Italian,
        // Dutch, Norwegian, Portuguese, Romansh, Swedish, Indonesian, Basque, Upper Sorbian,
        // Afrikaans, Faroese, Sami, Malay, Swahili, Welsh, Frisian, Mapudungun, Mohawk, Breton,
        // Corsican.
        0x03 | 0x06 | 0x07 | 0x09 | 0x0A | 0x0B | 0x0C | 0x0F | 0x10 | 0x13 | 0x14 | 0x16
        | 0x17 | 0x1D | 0x21 | 0x2D | 0x2E | 0x36 | 0x38 | 0x3B | 0x3E | 0x41 | 0x52 | 0x62
        | 0x7A | 0x7C | 0x7E | 0x83 => 1252,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::encoding_for_code_page;

    fn collation(info: u32, sort_id: u8) -> Collation {
        let mut bytes = [0u8; 5];
        bytes[..4].copy_from_slice(&info.to_le_bytes());
        bytes[4] = sort_id;
        Collation::from_wire(bytes)
    }

    /// The collations of the project's TDS test server (tests/tds-server, engine/convert.rs),
    /// with the code pages it encodes their data in.
    #[test]
    fn the_test_servers_collations_get_their_code_pages() {
        let cases = [
            ("SQL_Latin1_General_CP1_CI_AS", 0x00D0_0409, 52, 1252),
            ("Latin1_General_CI_AS", 0x00D0_0409, 0, 1252),
            ("Latin1_General_BIN2", 0x0200_0409, 0, 1252),
            ("Latin1_General_100_CI_AS_SC_UTF8", 0x24D0_0409, 0, 65001),
            ("Cyrillic_General_CI_AS", 0x00D0_0419, 0, 1251),
            ("Chinese_PRC_CI_AS", 0x00D0_0804, 0, 936),
            ("Japanese_CI_AS", 0x00D0_0411, 0, 932),
        ];
        for (name, info, sort_id, code_page) in cases {
            let found = collation(info, sort_id).code_page();
            assert_eq!(found, Some(code_page), "{name}");
            assert!(encoding_for_code_page(code_page).is_some(), "{name}");
        }
    }

    #[test]
    fn windows_collations_follow_the_language() {
        let cases = [
            (0x0409, 1252), // en-US
            (0x0809, 1252), // en-GB: same primary language
            (0x0419, 1251), // ru
            (0x0804, 936),  // zh-CN
            (0x0404, 950),  // zh-TW
            (0x0C04, 950),  // zh-HK
            (0x0411, 932),  // ja
            (0x0412, 949),  // ko
            (0x0408, 1253), // el
            (0x041F, 1254), // tr
            (0x040D, 1255), // he
            (0x0401, 1256), // ar
            (0x0425, 1257), // et
            (0x0426, 1257), // lv
            (0x0427, 1257), // lt
            (0x0827, 1257), // Lithuanian_Classic
            (0x042A, 1258), // vi
            (0x041E, 874),  // th
            (0x0405, 1250), // cs
            (0x0415, 1250), // pl
            (0x040E, 1250), // hu
            (0x041A, 1250), // hr
            (0x041B, 1250), // sk
            (0x0424, 1250), // sl
            (0x0418, 1250), // ro
            (0x041C, 1250), // sq
            (0x081A, 1250), // Serbian_Latin
            (0x0C1A, 1251), // Serbian_Cyrillic
            (0x042C, 1254), // Azeri_Latin
            (0x082C, 1251), // Azeri_Cyrillic
            (0x0C0A, 1252), // Modern_Spanish
        ];
        for (lcid, code_page) in cases {
            assert_eq!(
                collation(0x00D0_0000 | lcid, 0).code_page(),
                Some(code_page),
                "LCID {lcid:#06x}"
            );
        }
        // A sort variant keeps the language's code page: German_PhoneBook, Chinese_PRC_Stroke.
        assert_eq!(collation(0x0001_0407, 0).code_page(), Some(1252));
        assert_eq!(collation(0x0002_0804, 0).code_page(), Some(936));
        assert_eq!(collation(0x0001_0409, 0).lcid(), 0x1_0409);
    }

    #[test]
    fn unknown_collations_are_not_guessed() {
        // Hindi (Unicode-only), Georgian, an unassigned language, an LCID of 0.
        for lcid in [0x0439, 0x0437, 0x03FF, 0x0000] {
            assert_eq!(collation(lcid, 0).code_page(), None, "LCID {lcid:#06x}");
        }
        // SQL collations outside SQL_Latin1_General_CP1_*: CP437, CP850, CP1250.
        for sort_id in [30, 40, 50, 55, 80, 183] {
            assert_eq!(collation(0x0409, sort_id).code_page(), None, "{sort_id}");
        }
        // The UTF-8 flag wins over everything else.
        assert_eq!(collation(0x0400_0439, 0).code_page(), Some(UTF8_CODE_PAGE));
    }
}
