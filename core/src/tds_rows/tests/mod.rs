//! Tests of the token decoder against a test-only token encoder ([`encoder`]) and against
//! direct [`CopyEncoder`] calls made the way the tiberius-based reader makes them.

mod differential;
mod encoder;
mod errors;
mod sizes;
mod stream;
mod tokens;
mod values;

use encoding_rs::Encoding;

use super::{DecodeError, RowDecoder, Step, Token, ValueError};
use crate::copy_binary::{guid_to_uuid, CopyEncoder, NulPolicy};
use crate::plan::FieldEncoding;
use encoder::{Col, V};

/// How a run over some input ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// All input was consumed.
    Finished,
    /// The input ends inside a token that needs at least this many bytes (from its start).
    NeedMore(usize),
    Failed(DecodeError),
}

/// Tokens decoded from one input, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub tokens: Vec<Token>,
    pub consumed: usize,
    pub end: End,
}

/// Decodes tokens from `input` until it is used up, short, or fails.
pub fn run(decoder: &mut RowDecoder, encoder: &mut CopyEncoder, input: &[u8]) -> Run {
    let mut tokens = Vec::new();
    let mut at = 0;
    let end = loop {
        if at == input.len() {
            break End::Finished;
        }
        match decoder.next(&input[at..], encoder) {
            Ok(Step::Token { consumed, token }) => {
                assert!(consumed > 0 && at + consumed <= input.len());
                at += consumed;
                tokens.push(token);
            }
            Ok(Step::NeedMore { at_least }) => {
                assert!(
                    at_least > input.len() - at,
                    "NeedMore asks for {at_least} bytes with {} there",
                    input.len() - at
                );
                break End::NeedMore(at_least);
            }
            Err(error) => break End::Failed(error),
        }
    };
    Run {
        tokens,
        consumed: at,
        end,
    }
}

/// Decodes all of `stream` with a fresh decoder: the run and the COPY bytes written.
pub fn decode(
    targets: &[FieldEncoding],
    key: &[usize],
    nul: NulPolicy,
    stream: &[u8],
) -> (Run, Vec<u8>) {
    let mut decoder = RowDecoder::new(targets.to_vec(), key.to_vec(), nul);
    let mut encoder = CopyEncoder::new(targets.len()).unwrap();
    let result = run(&mut decoder, &mut encoder, stream);
    (result, encoder.bytes().to_vec())
}

/// A stream of COLMETADATA for `columns`, one ROW (or NBCROW) per entry of `rows`, and DONE.
pub fn stream(
    columns: &[(Col, &str)],
    rows: &[Vec<V>],
    nbc: bool,
    style: &encoder::Plp,
) -> Vec<u8> {
    let mut out = encoder::colmetadata(columns);
    let cols: Vec<Col> = columns.iter().map(|(c, _)| c.clone()).collect();
    for values in rows {
        out.extend_from_slice(&encoder::row(&cols, values, nbc, style));
    }
    out.extend_from_slice(&encoder::done(encoder::DONE, 0x10, rows.len() as u64));
    out
}

/// The code page encoding of the test collations.
pub fn encoding_of(collation: [u8; 5]) -> &'static Encoding {
    match collation {
        encoder::SQL_LATIN1 => encoding_rs::WINDOWS_1252,
        encoder::LATIN1_UTF8 => encoding_rs::UTF_8,
        encoder::CYRILLIC => encoding_rs::WINDOWS_1251,
        encoder::JAPANESE => encoding_rs::SHIFT_JIS,
        other => panic!("no test encoding for collation {other:?}"),
    }
}

/// Writes `v` of `col` bound for `target` the way the tiberius-based reader does
/// (`src/tds/encode.rs`): strings are decoded to a Rust `String` first and written with
/// `put_text_str`, integers are widened to i64, uuids reordered into RFC order.
pub fn tiberius_way(
    encoder: &mut CopyEncoder,
    col: &Col,
    v: &V,
    target: FieldEncoding,
    nul: NulPolicy,
) -> Result<(), ValueError> {
    use FieldEncoding as E;
    if *v == V::Null || matches!(col, Col::Null) {
        encoder.put_null();
        return Ok(());
    }
    let out_of_range = |value: i64, target: &'static str| ValueError::OutOfRange {
        value: value.to_string(),
        target,
    };
    let text_nul = if target == E::Xml {
        NulPolicy::Error
    } else {
        nul
    };
    match (col, v, target) {
        (_, V::Bit(b), E::Bool) => encoder.put_bool(*b),
        (_, V::Int(n), E::Int16) => {
            encoder.put_i16(i16::try_from(*n).map_err(|_| out_of_range(*n, "smallint"))?)
        }
        (_, V::Int(n), E::Int32) => {
            encoder.put_i32(i32::try_from(*n).map_err(|_| out_of_range(*n, "integer"))?)
        }
        (_, V::Int(n), E::Int64) => encoder.put_i64(*n),
        (_, V::Int(n), E::Numeric) => encoder.put_numeric(i128::from(*n), 0),
        (Col::Decimal { scale, .. }, V::Dec(d), E::Numeric) => encoder.put_numeric(*d, *scale),
        (_, V::F32(f), E::Float32) => encoder.put_f32(*f),
        (_, V::F32(f), E::Float64) => encoder.put_f64(f64::from(*f)),
        (_, V::F64(f), E::Float64) => encoder.put_f64(*f),
        (col, V::Money(m), E::Float64) => {
            let small = matches!(col, Col::Fixed(0x7A) | Col::ByteLen(_, 4));
            let value = if small {
                f64::from(*m as i32) / 1e4
            } else {
                (((*m >> 32) << 32) as f64 + f64::from(*m as u32)) / 1e4
            };
            encoder.put_f64(value)
        }
        (_, V::Date(d), E::Date) => encoder.put_date(*d)?,
        (Col::Scaled(_, s), V::Time(t), E::Time) => encoder.put_time(*t, *s)?,
        (_, V::DateTime(d, t), E::Timestamp) => encoder.put_datetime(*d, *t)?,
        (_, V::SmallDateTime(d, m), E::Timestamp) => encoder.put_smalldatetime(*d, *m)?,
        (Col::Scaled(_, s), V::DateTime2(d, t), E::Timestamp) => {
            encoder.put_datetime2(*d, *t, *s)?
        }
        (Col::Scaled(_, s), V::DateTimeOffset(d, t, _), E::TimestampTz) => {
            encoder.put_datetimeoffset(*d, *t, *s)?
        }
        (Col::Char(_, _, collation), V::Bytes(b), E::Text | E::Xml) => {
            let text = encoding_of(*collation)
                .decode_without_bom_handling_and_without_replacement(b)
                .expect("test strings are valid in their code page");
            encoder.put_text_str(&text, text_nul)?
        }
        (Col::NChar(..), V::Bytes(b), E::Text | E::Xml) => {
            encoder.put_text_str(&string_from_utf16(b), text_nul)?
        }
        (Col::Xml(_), V::Bytes(b), E::Xml | E::Text) => {
            encoder.put_text_str(&string_from_utf16(b), NulPolicy::Error)?
        }
        (Col::Binary(..), V::Bytes(b), E::Bytea) => encoder.put_bytea(b)?,
        (Col::Binary(..), V::Bytes(b), E::TextFromUtf16) => encoder.put_text_utf16le(b, nul)?,
        (_, V::Guid(g), E::Uuid) => encoder.put_uuid(&guid_to_uuid(g)),
        _ => {
            return Err(ValueError::Unexpected {
                received: "?",
                target,
            })
        }
    }
    Ok(())
}

pub fn string_from_utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16(&units).expect("test UTF-16 is valid")
}

/// The COPY bytes of `rows` written the tiberius way, or the first value error.
pub fn expected_copy(
    columns: &[Col],
    targets: &[FieldEncoding],
    rows: &[Vec<V>],
    nul: NulPolicy,
) -> Result<Vec<u8>, ValueError> {
    let mut encoder = CopyEncoder::new(targets.len()).unwrap();
    for values in rows {
        encoder.begin_row();
        for ((col, v), &target) in columns.iter().zip(values).zip(targets) {
            tiberius_way(&mut encoder, col, v, target, nul)?;
        }
        encoder.end_row().unwrap();
    }
    Ok(encoder.bytes().to_vec())
}
