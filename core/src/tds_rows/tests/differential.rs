//! Random result sets (seeded, so every run is the same) of mixed types, NULLs, ROW and NBCROW,
//! PLP values in random chunks, fed in random-sized pieces as packets would bring them: the
//! COPY bytes must equal the tiberius-way direct encoder calls for the same values.

use super::encoder::{self, Col, Plp, CYRILLIC, LATIN1_UTF8, MAX, SQL_LATIN1, V};
use super::*;
use crate::tds_rows::types::type_byte as ty;

/// xorshift64: small, deterministic, no dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Characters for strings: ASCII, quotes, Latin-1, the euro sign, CJK, astral.
const UNICODE_CHARS: &[char] = &[
    'a', 'b', 'Z', '0', ' ', '\'', ',', 'é', 'ü', 'ñ', '€', '日', '本', '語', '😀', '𝄞', '∑',
];
/// Characters windows-1252 has.
const LATIN1_CHARS: &[char] = &['a', 'B', '9', ' ', '\'', 'é', 'ü', 'ñ', '€', '—', 'ß'];
/// Characters windows-1251 has.
const CYRILLIC_CHARS: &[char] = &['a', ' ', 'п', 'р', 'и', 'в', 'е', 'т', 'Ж', '№'];

fn random_text(random: &mut Random, chars: &[char], max_chars: u64) -> String {
    let len = random.below(max_chars + 1);
    (0..len).map(|_| *random.pick(chars)).collect()
}

/// The column kinds, as (TYPE_INFO, a target that takes every value, value generator).
fn random_column(random: &mut Random, nullable: bool) -> (Col, FieldEncoding) {
    use FieldEncoding as E;
    let int_target = |random: &mut Random, narrowest: E| {
        let wider: &[E] = match narrowest {
            E::Int16 => &[E::Int16, E::Int32, E::Int64, E::Numeric],
            E::Int32 => &[E::Int32, E::Int64, E::Numeric],
            _ => &[E::Int64, E::Numeric],
        };
        *random.pick(wider)
    };
    let fixed_or_n = |fixed: u8, n: u8, len: u8| {
        if nullable {
            Col::ByteLen(n, len)
        } else {
            Col::Fixed(fixed)
        }
    };
    match random.below(22) {
        0 => (
            fixed_or_n(ty::INT1, ty::INTN, 1),
            int_target(random, E::Int16),
        ),
        1 => (
            fixed_or_n(ty::INT2, ty::INTN, 2),
            int_target(random, E::Int16),
        ),
        2 => (
            fixed_or_n(ty::INT4, ty::INTN, 4),
            int_target(random, E::Int32),
        ),
        3 => (
            fixed_or_n(ty::INT8, ty::INTN, 8),
            int_target(random, E::Int64),
        ),
        4 => (fixed_or_n(ty::BIT, ty::BITN, 1), E::Bool),
        5 => (
            fixed_or_n(ty::FLT4, ty::FLTN, 4),
            *random.pick(&[E::Float32, E::Float64]),
        ),
        6 => (fixed_or_n(ty::FLT8, ty::FLTN, 8), E::Float64),
        7 => (fixed_or_n(ty::MONEY, ty::MONEYN, 8), E::Float64),
        8 => (fixed_or_n(ty::MONEY4, ty::MONEYN, 4), E::Float64),
        9 => (fixed_or_n(ty::DATETIME, ty::DATETIMN, 8), E::Timestamp),
        10 => (fixed_or_n(ty::DATETIM4, ty::DATETIMN, 4), E::Timestamp),
        11 => {
            let precision = random.range(1, 38) as u8;
            let scale = random.range(0, i64::from(precision)) as u8;
            (
                Col::Decimal {
                    numeric: random.chance(50),
                    precision,
                    scale,
                },
                E::Numeric,
            )
        }
        12 => (Col::ByteLen(ty::GUID, 16), E::Uuid),
        13 => (Col::Date, E::Date),
        14 => (Col::Scaled(ty::TIMEN, random.range(0, 7) as u8), E::Time),
        15 => (
            Col::Scaled(ty::DATETIME2N, random.range(0, 7) as u8),
            E::Timestamp,
        ),
        16 => (
            Col::Scaled(ty::DATETIMEOFFSETN, random.range(0, 7) as u8),
            E::TimestampTz,
        ),
        17 => {
            let collation = *random.pick(&[SQL_LATIN1, CYRILLIC, LATIN1_UTF8]);
            let len = if random.chance(30) { MAX } else { 400 };
            let kind = if len != MAX && random.chance(30) {
                ty::BIGCHAR
            } else {
                ty::BIGVARCHAR
            };
            (
                Col::Char(kind, len, collation),
                *random.pick(&[E::Text, E::Xml]),
            )
        }
        18 => {
            let col = if random.chance(50) {
                Col::nvarchar_max()
            } else {
                Col::NChar(*random.pick(&[ty::NVARCHAR, ty::NCHAR]), 800)
            };
            (col, E::Text)
        }
        19 => {
            let col = if random.chance(50) {
                Col::varbinary_max()
            } else {
                Col::Binary(*random.pick(&[ty::BIGVARBINARY, ty::BIGBINARY]), 400)
            };
            (col, *random.pick(&[E::Bytea, E::TextFromUtf16]))
        }
        20 => (
            Col::Xml(random.chance(20)),
            *random.pick(&[E::Xml, E::Text]),
        ),
        _ => (Col::Null, E::Text),
    }
}

fn random_value(random: &mut Random, col: &Col, target: FieldEncoding, nullable: bool) -> V {
    if matches!(col, Col::Null) || (nullable && random.chance(20)) {
        return V::Null;
    }
    let int_of = |random: &mut Random, bytes: u8| match bytes {
        1 => V::Int(random.range(0, 255)),
        2 => V::Int(random.range(-32_768, 32_767)),
        4 => V::Int(random.range(-2_147_483_648, 2_147_483_647)),
        _ => V::Int(random.next() as i64),
    };
    match col {
        Col::Fixed(t) | Col::ByteLen(t, _) => {
            let len = match col {
                Col::ByteLen(_, len) => *len,
                _ => match *t {
                    ty::INT1 | ty::BIT => 1,
                    ty::INT2 => 2,
                    ty::INT4 | ty::FLT4 | ty::MONEY4 | ty::DATETIM4 => 4,
                    _ => 8,
                },
            };
            match *t {
                ty::INT1 | ty::INT2 | ty::INT4 | ty::INT8 | ty::INTN => int_of(random, len),
                ty::BIT | ty::BITN => V::Bit(random.chance(50)),
                ty::FLT4 | ty::FLT8 | ty::FLTN if len == 4 => {
                    V::F32(f32::from_bits(random.next() as u32))
                }
                ty::FLT4 | ty::FLT8 | ty::FLTN => V::F64(f64::from_bits(random.next())),
                ty::MONEY4 => V::Money(random.range(-2_147_483_648, 2_147_483_647)),
                ty::MONEY | ty::MONEYN if len == 8 => V::Money(random.next() as i64),
                ty::MONEYN => V::Money(random.range(-2_147_483_648, 2_147_483_647)),
                ty::DATETIM4 | ty::DATETIMN if len == 4 => {
                    V::SmallDateTime(random.below(65_536) as u16, random.below(1440) as u16)
                }
                ty::DATETIME | ty::DATETIMN => V::DateTime(
                    random.range(-53_690, 2_958_463) as i32,
                    random.below(25_920_000) as u32,
                ),
                ty::GUID => {
                    let mut guid = [0u8; 16];
                    guid[..8].copy_from_slice(&random.next().to_le_bytes());
                    guid[8..].copy_from_slice(&random.next().to_le_bytes());
                    V::Guid(guid)
                }
                other => panic!("no values for type 0x{other:02X}"),
            }
        }
        Col::Decimal { precision, .. } => {
            let limit = 10u128.pow(u32::from(*precision));
            let magnitude = ((u128::from(random.next()) << 64) | u128::from(random.next())) % limit;
            let value = magnitude as i128;
            V::Dec(if random.chance(50) { -value } else { value })
        }
        Col::Date => V::Date(random.below(3_652_059) as u32),
        Col::Scaled(t, scale) => {
            let increments = random.below(86_400 * 10u64.pow(u32::from(*scale)));
            let days = random.below(3_652_059) as u32;
            match *t {
                ty::TIMEN => V::Time(increments),
                ty::DATETIME2N => V::DateTime2(days, increments),
                _ => V::DateTimeOffset(days, increments, random.range(-840, 840) as i16),
            }
        }
        Col::Char(kind, len, collation) => {
            let encoding = encoding_of(*collation);
            let chars = match *collation {
                SQL_LATIN1 => LATIN1_CHARS,
                CYRILLIC => CYRILLIC_CHARS,
                _ => UNICODE_CHARS,
            };
            let text = random_text(random, chars, 60);
            let mut bytes = encoding.encode(&text).0.into_owned();
            if *kind == ty::BIGCHAR {
                // char(n) arrives blank-padded.
                bytes.resize(usize::from(*len), b' ');
            }
            V::Bytes(bytes)
        }
        Col::NChar(..) | Col::Xml(_) => {
            let text = random_text(random, UNICODE_CHARS, 120);
            let text = if matches!(col, Col::Xml(_)) {
                format!("<r a=\"{}\">{text}</r>", text.len())
            } else {
                text
            };
            V::Bytes(encoder::utf16(&text))
        }
        Col::Binary(kind, len) => {
            let mut bytes = if target == FieldEncoding::TextFromUtf16 {
                encoder::utf16(&random_text(random, UNICODE_CHARS, 100))
            } else {
                (0..random.below(150))
                    .map(|_| random.next() as u8)
                    .collect()
            };
            if *kind == ty::BIGBINARY {
                // binary(n) arrives zero-padded; UTF-16 is padded with spaces to stay text.
                let pad: &[u8] = if target == FieldEncoding::TextFromUtf16 {
                    &[b' ', 0]
                } else {
                    &[0]
                };
                while bytes.len() < usize::from(*len) {
                    bytes.extend_from_slice(pad);
                }
            }
            V::Bytes(bytes)
        }
        other => panic!("no values for {other:?}"),
    }
}

#[test]
fn random_result_sets_match_direct_encoder_calls() {
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut rows_checked = 0;
    for set in 0..40 {
        let ncols = random.range(1, 20) as usize;
        let mut columns = Vec::new();
        let mut targets = Vec::new();
        let mut nullable = Vec::new();
        for _ in 0..ncols {
            let is_nullable = random.chance(70);
            let (col, target) = random_column(&mut random, is_nullable);
            columns.push(col);
            targets.push(target);
            nullable.push(is_nullable);
        }
        let named: Vec<(Col, &str)> = columns.iter().map(|c| (c.clone(), "c")).collect();
        let mut input = encoder::colmetadata(&named);
        let mut rows = Vec::new();
        for _ in 0..60 {
            let values: Vec<V> = columns
                .iter()
                .zip(&targets)
                .zip(&nullable)
                .map(|((col, &target), &is_nullable)| {
                    random_value(&mut random, col, target, is_nullable)
                })
                .collect();
            let style = Plp {
                chunks: (0..3).map(|_| random.range(1, 40) as usize).collect(),
                unknown_length: random.chance(30),
            };
            input.extend(encoder::row(&columns, &values, random.chance(50), &style));
            rows.push(values);
        }
        input.extend(encoder::done(encoder::DONE, 0x10, rows.len() as u64));

        // Fed in pieces: grow the input by a random packet, at least to what was asked for.
        let mut decoder = RowDecoder::new(targets.clone(), vec![0], NulPolicy::Strip);
        let mut encoder = CopyEncoder::new(ncols).unwrap();
        let (mut at, mut have) = (0, 0);
        let mut row_tokens = 0;
        while at < input.len() {
            match decoder.next(&input[at..have], &mut encoder) {
                Ok(Step::Token { consumed, token }) => {
                    at += consumed;
                    row_tokens += usize::from(token == Token::Row);
                }
                Ok(Step::NeedMore { at_least }) => {
                    assert!(
                        at + at_least <= input.len(),
                        "set {set}: bound past the end"
                    );
                    let packet = random.range(1, 600) as usize;
                    have = (have + packet).max(at + at_least).min(input.len());
                }
                Err(error) => panic!("set {set}: {error}"),
            }
        }
        assert_eq!(row_tokens, rows.len());
        let expected = expected_copy(&columns, &targets, &rows, NulPolicy::Strip)
            .unwrap_or_else(|error| panic!("set {set}: {error}"));
        assert_eq!(
            encoder.bytes(),
            expected,
            "set {set}: {columns:?} {targets:?}"
        );
        rows_checked += rows.len();
    }
    assert_eq!(rows_checked, 40 * 60);
}
