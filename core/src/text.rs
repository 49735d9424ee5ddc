//! SQL Server strings to the UTF-8 PostgreSQL text wants, appended straight to an output
//! buffer (no intermediate `String`). nchar/nvarchar/ntext/xml arrive as UTF-16LE; char/varchar/
//! text in the column's code page (single-byte Windows code pages, the DBCS code pages, or
//! UTF-8 for `_UTF8` collations).
//!
//! PostgreSQL text cannot hold U+0000 (see [`NulPolicy`]) nor a lone surrogate (UTF-8 has no
//! encoding for one), so both are refused with the character position, never replaced.

use encoding_rs::{DecoderResult, Encoding};

use crate::copy_binary::{EncodeError, NulPolicy};

/// Code units (little-endian u16) per fast-path step: 8 bytes, one u64.
const ASCII_CHUNK_BYTES: usize = 8;
/// A bit set in any code unit of a chunk marks a unit outside ASCII.
const NON_ASCII_MASK: u64 = 0xff80_ff80_ff80_ff80;
/// The zero-lane test of "Bit Twiddling Hacks", on four 16-bit lanes.
const LANE_ONES: u64 = 0x0001_0001_0001_0001;
const LANE_HIGH_BITS: u64 = 0x8000_8000_8000_8000;

/// Appends UTF-16LE `src` to `out` as UTF-8. On error `out` may hold part of the value; the
/// caller truncates it.
pub fn append_utf16le(out: &mut Vec<u8>, src: &[u8], nul: NulPolicy) -> Result<(), EncodeError> {
    if !src.len().is_multiple_of(2) {
        return Err(EncodeError::OddUtf16Length { bytes: src.len() });
    }
    let start = out.len();
    // Worst case three UTF-8 bytes per UTF-16 unit (a surrogate pair is 4 bytes for 2 units).
    out.resize(start + src.len() / 2 * 3, 0);
    let dst = &mut out[start..];
    let mut written = 0usize;
    let mut at = 0usize;
    while at < src.len() {
        // Fast path: ASCII without NUL, 8 units (two u64) per step. A chunk holding another
        // unit still yields its ASCII prefix: text with an accented letter every few words
        // would otherwise fall to the unit-by-unit path for most of its ASCII.
        let mut at_stop = false;
        while let Some(chunk) = src.get(at..at + 2 * ASCII_CHUNK_BYTES) {
            let (low, high) = chunk.split_at(ASCII_CHUNK_BYTES);
            let low = u64::from_le_bytes(low.try_into().unwrap_or([0xff; 8]));
            let high = u64::from_le_bytes(high.try_into().unwrap_or([0xff; 8]));
            // dst holds 3 bytes per remaining unit, so 8 bytes for these 8 units always fit;
            // bytes past the ASCII prefix are overwritten by what follows.
            let packed =
                u64::from(pack_ascii_units(low)) | (u64::from(pack_ascii_units(high)) << 32);
            dst[written..written + 8].copy_from_slice(&packed.to_le_bytes());
            let (stop_low, stop_high) = (ascii_stops(low), ascii_stops(high));
            if stop_low | stop_high == 0 {
                written += 8;
                at += 2 * ASCII_CHUNK_BYTES;
                continue;
            }
            let ascii_units = if stop_low != 0 {
                first_stop_lane(stop_low)
            } else {
                4 + first_stop_lane(stop_high)
            };
            written += ascii_units;
            at += 2 * ascii_units;
            at_stop = true;
            break;
        }
        // Fewer than 8 units left: the tail, 4 units per step (at a stop this would fail).
        if let Some(chunk) = src.get(at..at + ASCII_CHUNK_BYTES).filter(|_| !at_stop) {
            let lanes = u64::from_le_bytes(chunk.try_into().unwrap_or([0xff; 8]));
            if ascii_stops(lanes) == 0 {
                dst[written..written + 4].copy_from_slice(&pack_ascii_units(lanes).to_le_bytes());
                written += 4;
                at += ASCII_CHUNK_BYTES;
                continue;
            }
        }
        let Some(&[first, second]) = src.get(at..at + 2) else {
            break; // the fast path consumed the rest
        };
        let unit = u16::from_le_bytes([first, second]);
        at += 2;
        match unit {
            0 => match nul {
                NulPolicy::Error => {
                    return Err(EncodeError::NulInString {
                        char_offset: utf16_chars_before(src, at - 2),
                    })
                }
                NulPolicy::Strip => {}
            },
            0x01..=0x7f => {
                dst[written] = unit as u8;
                written += 1;
            }
            0x80..=0x7ff => {
                dst[written] = 0xc0 | (unit >> 6) as u8;
                dst[written + 1] = 0x80 | (unit & 0x3f) as u8;
                written += 2;
            }
            0xd800..=0xdbff => {
                let low = src
                    .get(at..at + 2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .filter(|low| (0xdc00..=0xdfff).contains(low));
                let Some(low) = low else {
                    return Err(EncodeError::UnpairedSurrogate {
                        char_offset: utf16_chars_before(src, at - 2),
                        code_unit: unit,
                    });
                };
                at += 2;
                let scalar =
                    0x10000 + ((u32::from(unit) - 0xd800) << 10) + (u32::from(low) - 0xdc00);
                dst[written] = 0xf0 | (scalar >> 18) as u8;
                dst[written + 1] = 0x80 | ((scalar >> 12) & 0x3f) as u8;
                dst[written + 2] = 0x80 | ((scalar >> 6) & 0x3f) as u8;
                dst[written + 3] = 0x80 | (scalar & 0x3f) as u8;
                written += 4;
            }
            0xdc00..=0xdfff => {
                return Err(EncodeError::UnpairedSurrogate {
                    char_offset: utf16_chars_before(src, at - 2),
                    code_unit: unit,
                })
            }
            _ => {
                dst[written] = 0xe0 | (unit >> 12) as u8;
                dst[written + 1] = 0x80 | ((unit >> 6) & 0x3f) as u8;
                dst[written + 2] = 0x80 | (unit & 0x3f) as u8;
                written += 3;
            }
        }
    }
    out.truncate(start + written);
    Ok(())
}

/// A bit set in every 16-bit lane of `lanes` that stops the ASCII fast path: a unit outside
/// ASCII, or zero (NUL). Exact up to the first such lane (the zero test's borrow only runs
/// upwards, past it), which is all [`first_stop_lane`] reads.
#[inline(always)]
fn ascii_stops(lanes: u64) -> u64 {
    (lanes & NON_ASCII_MASK) | (lanes.wrapping_sub(LANE_ONES) & !lanes & LANE_HIGH_BITS)
}

/// The lane (0..4) of the lowest stop in a non-zero [`ascii_stops`] result.
#[inline(always)]
fn first_stop_lane(stops: u64) -> usize {
    (stops.trailing_zeros() / 16) as usize
}

/// The low bytes of four ASCII code units (each lane below 0x80), packed little-endian.
#[inline(always)]
fn pack_ascii_units(lanes: u64) -> u32 {
    let pairs = (lanes | (lanes >> 8)) & 0x0000_ffff_0000_ffff;
    (pairs | (pairs >> 16)) as u32
}

/// Characters in the UTF-16LE prefix `src[..byte_end]`, which the converter has already
/// accepted (so every low surrogate in it follows a high one and is not counted). Cold path:
/// only to report an error position.
fn utf16_chars_before(src: &[u8], byte_end: usize) -> usize {
    src[..byte_end]
        .chunks_exact(2)
        .filter(|b| !(0xdc00..=0xdfff).contains(&u16::from_le_bytes([b[0], b[1]])))
        .count()
}

/// Characters in valid UTF-8 `bytes`: every byte except continuation bytes starts one.
fn utf8_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xc0 != 0x80).count()
}

/// Appends `src`, valid UTF-8 by its type, applying `nul`.
pub fn append_str(out: &mut Vec<u8>, src: &str, nul: NulPolicy) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(src.as_bytes());
    apply_nul_policy(out, start, nul)
}

/// Appends UTF-8 `src` to `out` after validating it (a `_UTF8` collation's varchar).
pub fn append_utf8(out: &mut Vec<u8>, src: &[u8], nul: NulPolicy) -> Result<(), EncodeError> {
    if let Err(error) = std::str::from_utf8(src) {
        return Err(EncodeError::InvalidText {
            encoding: "UTF-8",
            byte_offset: error.valid_up_to(),
        });
    }
    let start = out.len();
    out.extend_from_slice(src);
    apply_nul_policy(out, start, nul)
}

/// Appends `src`, text in `encoding` (a code page: windows-1252, Shift_JIS, ...), to `out` as
/// UTF-8. Bytes the code page does not define are refused with their offset.
pub fn append_encoded(
    out: &mut Vec<u8>,
    src: &[u8],
    encoding: &'static Encoding,
    nul: NulPolicy,
) -> Result<(), EncodeError> {
    if encoding == encoding_rs::UTF_8 {
        return append_utf8(out, src, nul);
    }
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let Some(worst_case) = decoder.max_utf8_buffer_length_without_replacement(src.len()) else {
        return Err(EncodeError::TooLarge { bytes: src.len() });
    };
    let start = out.len();
    out.resize(start + worst_case, 0);
    let (result, read, written) =
        decoder.decode_to_utf8_without_replacement(src, &mut out[start..], true);
    match result {
        DecoderResult::InputEmpty => {}
        DecoderResult::Malformed(bad, after) => {
            return Err(EncodeError::InvalidText {
                encoding: encoding.name(),
                byte_offset: read - usize::from(bad) - usize::from(after),
            })
        }
        // The buffer was sized for the worst case; encoding_rs promises this cannot happen.
        DecoderResult::OutputFull => {
            return Err(EncodeError::TooLarge { bytes: worst_case });
        }
    }
    out.truncate(start + written);
    apply_nul_policy(out, start, nul)
}

/// Applies `nul` to the UTF-8 text `out[start..]`.
fn apply_nul_policy(out: &mut Vec<u8>, start: usize, nul: NulPolicy) -> Result<(), EncodeError> {
    let Some(first) = out[start..].iter().position(|&b| b == 0) else {
        return Ok(());
    };
    match nul {
        NulPolicy::Error => Err(EncodeError::NulInString {
            char_offset: utf8_chars(&out[start..start + first]),
        }),
        NulPolicy::Strip => {
            let mut kept = start + first;
            for read in start + first + 1..out.len() {
                let byte = out[read];
                if byte != 0 {
                    out[kept] = byte;
                    kept += 1;
                }
            }
            out.truncate(kept);
            Ok(())
        }
    }
}

/// Appends SQL Server xml (UTF-16LE) to `out` as UTF-8 for PostgreSQL's `xml_recv`.
///
/// `xml_recv` takes the encoding from the value's XML declaration and assumes UTF-8 without
/// one; a declaration naming UTF-16 (what a UTF-16 document carries) would make it fail or
/// misread the UTF-8 we send. SQL Server does not store the declaration (it is dropped on
/// input), so none should arrive; if one does, it is removed along with a byte-order mark.
/// XML cannot contain U+0000, so a NUL is always an error.
pub fn append_xml_utf16le(out: &mut Vec<u8>, src: &[u8]) -> Result<(), EncodeError> {
    const UTF16LE_BOM: &[u8] = &[0xff, 0xfe];
    let body = src.strip_prefix(UTF16LE_BOM).unwrap_or(src);
    let start = out.len();
    append_utf16le(out, body, NulPolicy::Error)?;
    if let Some(declaration_len) = xml_declaration_len(&out[start..]) {
        out.drain(start..start + declaration_len);
    }
    Ok(())
}

/// Length of a leading XML declaration (`<?xml` followed by white space, up to `?>`), if any.
/// (`<?xml-stylesheet ...?>` is a processing instruction, not a declaration, and stays.)
fn xml_declaration_len(text: &[u8]) -> Option<usize> {
    let rest = text.strip_prefix(b"<?xml")?;
    if !matches!(rest.first(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        return None;
    }
    let end = rest.windows(2).position(|pair| pair == b"?>")?;
    Some(b"<?xml".len() + end + 2)
}

/// The encoding of a SQL Server code page, for char/varchar/text columns. `None` for code pages
/// PostgreSQL-side conversion cannot do exactly here (437, 850 of the old `SQL_*CP437/CP850`
/// collations): the caller refuses the column rather than guess.
pub fn encoding_for_code_page(code_page: u16) -> Option<&'static Encoding> {
    use encoding_rs::*;
    Some(match code_page {
        874 => WINDOWS_874,
        932 => SHIFT_JIS,
        936 => GBK,
        949 => EUC_KR,
        950 => BIG5,
        1250 => WINDOWS_1250,
        1251 => WINDOWS_1251,
        1252 => WINDOWS_1252,
        1253 => WINDOWS_1253,
        1254 => WINDOWS_1254,
        1255 => WINDOWS_1255,
        1256 => WINDOWS_1256,
        1257 => WINDOWS_1257,
        1258 => WINDOWS_1258,
        65001 => UTF_8,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn units(units: &[u16]) -> Vec<u8> {
        units.iter().flat_map(|u| u.to_le_bytes()).collect()
    }

    fn convert(src: &[u8], nul: NulPolicy) -> Result<String, EncodeError> {
        let mut out = b"prefix".to_vec();
        append_utf16le(&mut out, src, nul)?;
        assert!(out.starts_with(b"prefix"));
        Ok(String::from_utf8(out[6..].to_vec()).unwrap())
    }

    #[test]
    fn utf16_converts_every_width() {
        for text in [
            "",
            "a",
            "plain ascii longer than one chunk of eight bytes",
            "é",
            "naïve café — “quotes” €",
            "日本語のテキスト",
            "emoji 😀 and 𝄞 clef",
            "\u{ffff}\u{fffd}\u{10ffff}",
            "mixed ascii then ü then more ascii here",
        ] {
            assert_eq!(convert(&utf16le(text), NulPolicy::Error).unwrap(), text);
        }
    }

    #[test]
    fn ascii_chunks_and_tails_line_up() {
        // Lengths around the 4-unit chunk with a non-ASCII unit at every position.
        for len in 0..40 {
            for special in 0..len {
                let text: String = (0..len)
                    .map(|i| {
                        if i == special {
                            'ß'
                        } else {
                            (b'a' + i as u8) as char
                        }
                    })
                    .collect();
                assert_eq!(convert(&utf16le(&text), NulPolicy::Error).unwrap(), text);
            }
        }
    }

    /// Pseudo-random UTF-16 (ASCII runs, BMP, surrogates paired and not, NUL) against the
    /// standard library's decoder.
    #[test]
    fn agrees_with_std_on_random_utf16() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Mostly-mixed text, and mostly-ASCII text whose rare other units land in every lane
        // of the fast path's 8-unit chunks.
        for (ascii_percent, cases) in [(65, 20_000), (97, 20_000)] {
            for _ in 0..cases {
                let len = (next() % 80) as usize;
                let code_units: Vec<u16> = (0..len)
                    .map(|_| match next() % 100 {
                        r if r < ascii_percent => 0x20 + (next() % 0x5f) as u16,
                        r => match r % 7 {
                            0 => 0xd800 + (next() % 0x400) as u16,
                            1 => 0xdc00 + (next() % 0x400) as u16,
                            2 => (next() % 0x10000) as u16,
                            3 => 0,
                            _ => 0x80 + (next() % 0x780) as u16,
                        },
                    })
                    .collect();
                let expected: Result<String, EncodeError> = {
                    let mut text = String::new();
                    let mut failure = None;
                    for (index, decoded) in
                        char::decode_utf16(code_units.iter().copied()).enumerate()
                    {
                        match decoded {
                            Ok('\0') => {
                                failure = Some(EncodeError::NulInString { char_offset: index });
                                break;
                            }
                            Ok(c) => text.push(c),
                            Err(e) => {
                                failure = Some(EncodeError::UnpairedSurrogate {
                                    char_offset: index,
                                    code_unit: e.unpaired_surrogate(),
                                });
                                break;
                            }
                        }
                    }
                    failure.map_or(Ok(text), Err)
                };
                assert_eq!(
                    convert(&units(&code_units), NulPolicy::Error),
                    expected,
                    "{code_units:x?}"
                );
            }
        }
    }

    #[test]
    fn nul_is_found_at_every_position_of_the_fast_path() {
        for len in 1..40 {
            for nul_at in 0..len {
                let text: String = (0..len)
                    .map(|i| if i == nul_at { '\0' } else { 'x' })
                    .collect();
                assert_eq!(
                    convert(&utf16le(&text), NulPolicy::Error),
                    Err(EncodeError::NulInString {
                        char_offset: nul_at
                    }),
                    "{len} {nul_at}"
                );
                assert_eq!(
                    convert(&utf16le(&text), NulPolicy::Strip).unwrap(),
                    "x".repeat(len - 1)
                );
            }
        }
    }

    #[test]
    fn nul_is_refused_with_its_character_offset_or_stripped() {
        let src = utf16le("ab\u{0}cd");
        assert_eq!(
            convert(&src, NulPolicy::Error),
            Err(EncodeError::NulInString { char_offset: 2 })
        );
        assert_eq!(convert(&src, NulPolicy::Strip).unwrap(), "abcd");
        // A NUL inside an ASCII chunk, after a surrogate pair (one character, two units).
        let src = utf16le("😀abcdefg\u{0}h");
        assert_eq!(
            convert(&src, NulPolicy::Error),
            Err(EncodeError::NulInString { char_offset: 8 })
        );
        assert_eq!(convert(&src, NulPolicy::Strip).unwrap(), "😀abcdefgh");
        assert_eq!(
            convert(&utf16le("\u{0}\u{0}"), NulPolicy::Strip).unwrap(),
            ""
        );
    }

    #[test]
    fn unpaired_surrogates_are_refused_with_position() {
        assert_eq!(
            convert(&units(&[0x61, 0xd800, 0x62]), NulPolicy::Error),
            Err(EncodeError::UnpairedSurrogate {
                char_offset: 1,
                code_unit: 0xd800
            })
        );
        // High surrogate at the very end.
        assert_eq!(
            convert(&units(&[0x61, 0x62, 0xdbff]), NulPolicy::Error),
            Err(EncodeError::UnpairedSurrogate {
                char_offset: 2,
                code_unit: 0xdbff
            })
        );
        // Low surrogate first, after a valid pair.
        assert_eq!(
            convert(&units(&[0xd83d, 0xde00, 0xde00]), NulPolicy::Error),
            Err(EncodeError::UnpairedSurrogate {
                char_offset: 1,
                code_unit: 0xde00
            })
        );
        assert_eq!(
            convert(&[0x61, 0x00, 0x62], NulPolicy::Error),
            Err(EncodeError::OddUtf16Length { bytes: 3 })
        );
    }

    #[test]
    fn code_page_text_converts() {
        let mut out = Vec::new();
        // windows-1252: 0x80 is the euro sign, 0xe9 é, 0x81 (undefined) maps to U+0081 as
        // Windows itself maps it.
        append_encoded(
            &mut out,
            b"\x80 caf\xe9 \x81",
            encoding_rs::WINDOWS_1252,
            NulPolicy::Error,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "€ café \u{81}");

        let mut out = Vec::new();
        append_encoded(
            &mut out,
            b"\xcf\xf0\xe8\xe2\xe5\xf2",
            encoding_rs::WINDOWS_1251,
            NulPolicy::Error,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "Привет");

        let mut out = Vec::new();
        let shift_jis = encoding_for_code_page(932).unwrap();
        append_encoded(&mut out, b"\x93\xfa\x96\x7b", shift_jis, NulPolicy::Error).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "日本");
    }

    #[test]
    fn code_page_errors_carry_offsets() {
        let mut out = Vec::new();
        // 0xaa is undefined in windows-1253.
        assert_eq!(
            append_encoded(
                &mut out,
                b"ab\xaa",
                encoding_rs::WINDOWS_1253,
                NulPolicy::Error
            ),
            Err(EncodeError::InvalidText {
                encoding: "windows-1253",
                byte_offset: 2
            })
        );
        let mut out = Vec::new();
        assert_eq!(
            append_encoded(
                &mut out,
                b"\xe9t\xe9\0x",
                encoding_rs::WINDOWS_1252,
                NulPolicy::Error
            ),
            Err(EncodeError::NulInString { char_offset: 3 })
        );
        let mut out = Vec::new();
        append_encoded(
            &mut out,
            b"\0a\0\0b\0",
            encoding_rs::WINDOWS_1252,
            NulPolicy::Strip,
        )
        .unwrap();
        assert_eq!(out, b"ab");
    }

    #[test]
    fn utf8_code_page_is_validated() {
        let utf8 = encoding_for_code_page(65001).unwrap();
        let mut out = Vec::new();
        append_encoded(&mut out, "grüße".as_bytes(), utf8, NulPolicy::Error).unwrap();
        assert_eq!(out, "grüße".as_bytes());
        let mut out = Vec::new();
        assert_eq!(
            append_utf8(&mut out, b"ok\xc3(", NulPolicy::Error),
            Err(EncodeError::InvalidText {
                encoding: "UTF-8",
                byte_offset: 2
            })
        );
        let mut out = Vec::new();
        assert_eq!(
            append_utf8(&mut out, "ü\0".as_bytes(), NulPolicy::Error),
            Err(EncodeError::NulInString { char_offset: 1 })
        );
    }

    #[test]
    fn unknown_code_pages_are_not_guessed() {
        assert!(encoding_for_code_page(437).is_none());
        assert!(encoding_for_code_page(850).is_none());
        assert_eq!(encoding_for_code_page(1252).unwrap().name(), "windows-1252");
    }

    #[test]
    fn xml_loses_its_declaration_and_bom_only() {
        let mut out = Vec::new();
        let mut src = vec![0xff, 0xfe];
        src.extend(utf16le(
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a>ü</a>",
        ));
        append_xml_utf16le(&mut out, &src).unwrap();
        assert_eq!(out, "<a>ü</a>".as_bytes());

        let mut out = b"x".to_vec();
        append_xml_utf16le(&mut out, &utf16le("<?xml-stylesheet href=\"s\"?><a/>")).unwrap();
        assert_eq!(out, b"x<?xml-stylesheet href=\"s\"?><a/>");

        let mut out = Vec::new();
        append_xml_utf16le(&mut out, &utf16le("text <b>fragment</b>")).unwrap();
        assert_eq!(out, b"text <b>fragment</b>");
    }

    /// A rough speed check of the hot path (a 1 KB mostly-ASCII body). Prints, asserts only
    /// the result; run with `--ignored --nocapture` in release to see the rate.
    #[test]
    #[ignore]
    fn utf16_conversion_rate() {
        let body: String = "Lorem ipsum dolor sit amet, <code>x = y;</code> café. ".repeat(20);
        let src = utf16le(&body);
        let mut out = Vec::with_capacity(4096);
        let rounds = 200_000;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            out.clear();
            append_utf16le(&mut out, &src, NulPolicy::Error).unwrap();
        }
        let elapsed = started.elapsed();
        assert_eq!(out, body.as_bytes());
        let megabytes = (src.len() * rounds) as f64 / 1e6;
        println!(
            "{} bytes UTF-16 x {rounds}: {:.0} MB/s of UTF-16 input",
            src.len(),
            megabytes / elapsed.as_secs_f64()
        );
    }
}
