//! Every supported wire type into every target encoding, NULLs, and PLP values in chunks.

use super::encoder::{self, Col, Plp, CYRILLIC, JAPANESE, LATIN1_UTF8, MAX, SQL_LATIN1, V};
use super::*;
use crate::tds_rows::types::type_byte as ty;

const ALL_TARGETS: [FieldEncoding; 16] = [
    FieldEncoding::Bool,
    FieldEncoding::Int16,
    FieldEncoding::Int32,
    FieldEncoding::Int64,
    FieldEncoding::Numeric,
    FieldEncoding::Float32,
    FieldEncoding::Float64,
    FieldEncoding::Date,
    FieldEncoding::Time,
    FieldEncoding::Timestamp,
    FieldEncoding::TimestampTz,
    FieldEncoding::Text,
    FieldEncoding::Bytea,
    FieldEncoding::Uuid,
    FieldEncoding::Xml,
    FieldEncoding::TextFromUtf16,
];

fn code_page_bytes(encoding: &'static Encoding, text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "{text} in {}", encoding.name());
    bytes.into_owned()
}

/// A GUID in wire order: SQL Server shows it as 6F9619FF-8B86-D011-B42D-00C04FC964FF.
const GUID: [u8; 16] = [
    0xff, 0x19, 0x96, 0x6f, 0x86, 0x8b, 0x11, 0xd0, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9, 0x64, 0xff,
];

/// (column, value, the type name a refused value is reported as).
fn cases() -> Vec<(Col, V, &'static str)> {
    let max38 = 10i128.pow(38) - 1;
    vec![
        (Col::Fixed(ty::INT1), V::Int(255), "tinyint"),
        (Col::Fixed(ty::INT2), V::Int(-2), "smallint"),
        (Col::Fixed(ty::INT4), V::Int(-70_000), "int"),
        (Col::Fixed(ty::INT8), V::Int(1 << 40), "bigint"),
        (Col::Fixed(ty::INT8), V::Int(i64::MIN), "bigint"),
        (Col::ByteLen(ty::INTN, 1), V::Int(7), "tinyint"),
        (Col::ByteLen(ty::INTN, 2), V::Int(32_767), "smallint"),
        (Col::ByteLen(ty::INTN, 4), V::Int(40_000), "int"),
        (Col::ByteLen(ty::INTN, 4), V::Int(-2_147_483_648), "int"),
        (Col::ByteLen(ty::INTN, 8), V::Int(i64::MAX), "bigint"),
        (Col::Fixed(ty::BIT), V::Bit(true), "bit"),
        (Col::ByteLen(ty::BITN, 1), V::Bit(false), "bit"),
        (Col::Fixed(ty::FLT4), V::F32(-1.5), "real"),
        (Col::ByteLen(ty::FLTN, 4), V::F32(0.1), "real"),
        (Col::Fixed(ty::FLT8), V::F64(1e300), "float"),
        (Col::ByteLen(ty::FLTN, 8), V::F64(-0.0), "float"),
        (Col::Fixed(ty::MONEY), V::Money(i64::MIN), "money"),
        (
            Col::Fixed(ty::MONEY4),
            V::Money(-2_147_483_648),
            "smallmoney",
        ),
        (
            Col::ByteLen(ty::MONEYN, 8),
            V::Money(123_456_789_012),
            "money",
        ),
        (Col::ByteLen(ty::MONEYN, 4), V::Money(12_345), "smallmoney"),
        (
            Col::Fixed(ty::DATETIME),
            V::DateTime(36_524, 300),
            "datetime",
        ),
        (
            Col::Fixed(ty::DATETIME),
            V::DateTime(-53_690, 0),
            "datetime",
        ),
        (
            Col::Fixed(ty::DATETIM4),
            V::SmallDateTime(36_524, 61),
            "smalldatetime",
        ),
        (
            Col::ByteLen(ty::DATETIMN, 8),
            V::DateTime(2_958_463, 25_919_999),
            "datetime",
        ),
        (
            Col::ByteLen(ty::DATETIMN, 4),
            V::SmallDateTime(65_535, 1439),
            "smalldatetime",
        ),
        (
            Col::Decimal {
                numeric: false,
                precision: 10,
                scale: 4,
            },
            V::Dec(-1_234_567_890),
            "decimal",
        ),
        (
            Col::Decimal {
                numeric: true,
                precision: 38,
                scale: 38,
            },
            V::Dec(max38),
            "numeric",
        ),
        (
            Col::Decimal {
                numeric: false,
                precision: 5,
                scale: 0,
            },
            V::Dec(-99_999),
            "decimal",
        ),
        (
            Col::Decimal {
                numeric: false,
                precision: 24,
                scale: 5,
            },
            V::Dec(123_456_789_012_345_678_901_234),
            "decimal",
        ),
        (
            Col::ByteLen(ty::GUID, 16),
            V::Guid(GUID),
            "uniqueidentifier",
        ),
        (Col::Date, V::Date(730_119), "date"),
        (Col::Date, V::Date(0), "date"),
        (Col::Scaled(ty::TIMEN, 7), V::Time(863_999_999_999), "time"),
        (Col::Scaled(ty::TIMEN, 0), V::Time(86_399), "time"),
        (Col::Scaled(ty::TIMEN, 3), V::Time(12_345_678), "time"),
        (
            Col::Scaled(ty::DATETIME2N, 7),
            V::DateTime2(3_652_058, 863_999_999_995),
            "datetime2",
        ),
        (
            Col::Scaled(ty::DATETIME2N, 2),
            V::DateTime2(730_119, 4_500),
            "datetime2",
        ),
        (
            Col::Scaled(ty::DATETIMEOFFSETN, 7),
            V::DateTimeOffset(730_119, 123, -300),
            "datetimeoffset",
        ),
        (
            Col::Scaled(ty::DATETIMEOFFSETN, 4),
            V::DateTimeOffset(1, 9_999, 840),
            "datetimeoffset",
        ),
        (
            Col::varchar(50, SQL_LATIN1),
            V::Bytes(code_page_bytes(encoding_rs::WINDOWS_1252, "café €5")),
            "varchar",
        ),
        (
            Col::Char(ty::BIGCHAR, 10, CYRILLIC),
            V::Bytes(code_page_bytes(encoding_rs::WINDOWS_1251, "привет    ")),
            "char",
        ),
        (
            Col::varchar(MAX, LATIN1_UTF8),
            V::Bytes("ñandú 😀".as_bytes().to_vec()),
            "varchar",
        ),
        (
            Col::varchar(MAX, JAPANESE),
            V::Bytes(code_page_bytes(encoding_rs::SHIFT_JIS, "日本語テキスト")),
            "varchar",
        ),
        (
            Col::varchar(20, SQL_LATIN1),
            V::Bytes(Vec::new()),
            "varchar",
        ),
        (
            Col::nvarchar(100),
            V::Bytes(encoder::utf16("héllo 😀 wörld")),
            "nvarchar",
        ),
        (
            Col::NChar(ty::NCHAR, 20),
            V::Bytes(encoder::utf16("fixed     ")),
            "nchar",
        ),
        (
            Col::nvarchar_max(),
            V::Bytes(encoder::utf16(&"long text ∑ ".repeat(50))),
            "nvarchar",
        ),
        (
            Col::Binary(ty::BIGVARBINARY, 50),
            V::Bytes(encoder::utf16("bin as text")),
            "varbinary",
        ),
        (
            Col::Binary(ty::BIGBINARY, 4),
            V::Bytes(vec![0x61, 0, 0x62, 0]),
            "binary",
        ),
        (
            Col::varbinary_max(),
            V::Bytes(encoder::utf16("𝄞 clef in varbinary(max)")),
            "varbinary",
        ),
        (
            Col::Xml(false),
            V::Bytes(encoder::utf16("<a b=\"1\">ü</a>")),
            "xml",
        ),
        (Col::Xml(true), V::Bytes(encoder::utf16("<r/>")), "xml"),
    ]
}

#[test]
fn every_type_into_every_target_matches_the_tiberius_reader() {
    let (mut accepted, mut refused, mut out_of_range) = (0, 0, 0);
    for (col, value, name) in cases() {
        for target in ALL_TARGETS {
            let columns = [(col.clone(), "c")];
            let stream = stream(&columns, &[vec![value.clone()]], false, &Plp::one_chunk());
            let (run, copy) = decode(&[target], &[], NulPolicy::Error, &stream);
            let mut expected = CopyEncoder::new(1).unwrap();
            expected.begin_row();
            let context = format!("{col:?} {value:?} into {target:?}");
            match tiberius_way(&mut expected, &col, &value, target, NulPolicy::Error) {
                Ok(()) => {
                    expected.end_row().unwrap();
                    assert_eq!(run.end, End::Finished, "{context}");
                    assert_eq!(run.tokens.len(), 3, "{context}");
                    assert_eq!(copy, expected.bytes(), "{context}");
                    accepted += 1;
                }
                Err(ValueError::Unexpected { .. }) => {
                    let error = ValueError::Unexpected {
                        received: name,
                        target,
                    };
                    assert_eq!(
                        run.end,
                        End::Failed(DecodeError::Value {
                            column: 0,
                            row_key: None,
                            error
                        }),
                        "{context}"
                    );
                    assert!(copy.is_empty(), "{context}: the row was abandoned");
                    refused += 1;
                }
                Err(error) => {
                    assert_eq!(
                        run.end,
                        End::Failed(DecodeError::Value {
                            column: 0,
                            row_key: None,
                            error
                        }),
                        "{context}"
                    );
                    out_of_range += 1;
                }
            }
        }
    }
    // Each case is accepted by one to four targets; the int cases overflow smallint/integer.
    assert_eq!(accepted + refused + out_of_range, cases().len() * 16);
    assert!(accepted >= 70, "{accepted}");
    assert!(out_of_range >= 6, "{out_of_range}");
}

/// The accepted pairs are exactly the tiberius reader's: spot checks that do not go through
/// the test's own model of it.
#[test]
fn accepted_pairs_and_their_bytes() {
    let one = |col: Col, value: V, target| {
        let (run, copy) = decode(
            &[target],
            &[],
            NulPolicy::Error,
            &stream(&[(col, "c")], &[vec![value]], false, &Plp::one_chunk()),
        );
        match run.end {
            End::Finished => Ok(copy[2..].to_vec()),
            End::Failed(DecodeError::Value { error, .. }) => Err(error),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        one(Col::int(), V::Int(42), FieldEncoding::Int32),
        Ok(vec![0, 0, 0, 4, 0, 0, 0, 42])
    );
    assert_eq!(
        one(Col::Fixed(ty::INT1), V::Int(255), FieldEncoding::Int64),
        Ok(vec![0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 255])
    );
    assert_eq!(
        one(Col::int(), V::Int(40_000), FieldEncoding::Int16),
        Err(ValueError::OutOfRange {
            value: "40000".into(),
            target: "smallint"
        })
    );
    // bit is not an integer; float does not narrow into real; real widens into double.
    assert!(matches!(
        one(Col::Fixed(ty::BIT), V::Bit(true), FieldEncoding::Int16),
        Err(ValueError::Unexpected {
            received: "bit",
            ..
        })
    ));
    assert!(matches!(
        one(Col::Fixed(ty::FLT8), V::F64(1.5), FieldEncoding::Float32),
        Err(ValueError::Unexpected {
            received: "float",
            ..
        })
    ));
    assert_eq!(
        one(Col::Fixed(ty::FLT4), V::F32(1.5), FieldEncoding::Float64),
        Ok([&[0, 0, 0, 8][..], &1.5f64.to_bits().to_be_bytes()].concat())
    );
    // money as tiberius's double: 1.2345.
    assert_eq!(
        one(
            Col::ByteLen(ty::MONEYN, 4),
            V::Money(12_345),
            FieldEncoding::Float64
        ),
        Ok([
            &[0, 0, 0, 8][..],
            &(12_345f64 / 1e4).to_bits().to_be_bytes()
        ]
        .concat())
    );
    // uniqueidentifier: wire order in, RFC 4122 order out.
    assert_eq!(
        one(
            Col::ByteLen(ty::GUID, 16),
            V::Guid(GUID),
            FieldEncoding::Uuid
        ),
        Ok([
            &[0, 0, 0, 16][..],
            &[
                0x6f, 0x96, 0x19, 0xff, 0x8b, 0x86, 0xd0, 0x11, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9,
                0x64, 0xff
            ]
        ]
        .concat())
    );
    // datetimeoffset: the instant; the offset is not applied again. 2000-01-01 00:00:01 UTC.
    assert_eq!(
        one(
            Col::Scaled(ty::DATETIMEOFFSETN, 0),
            V::DateTimeOffset(730_119, 1, -300),
            FieldEncoding::TimestampTz
        ),
        Ok([&[0, 0, 0, 8][..], &1_000_000i64.to_be_bytes()].concat())
    );
    // varbinary holding UTF-16 becomes text; plain binary into text is refused.
    assert_eq!(
        one(
            Col::Binary(ty::BIGVARBINARY, 10),
            V::Bytes(encoder::utf16("é")),
            FieldEncoding::TextFromUtf16
        ),
        Ok(vec![0, 0, 0, 2, 0xc3, 0xa9])
    );
    assert!(matches!(
        one(
            Col::Binary(ty::BIGVARBINARY, 10),
            V::Bytes(vec![1]),
            FieldEncoding::Text
        ),
        Err(ValueError::Unexpected {
            received: "varbinary",
            ..
        })
    ));
    // nvarchar into text/xml, not into TextFromUtf16 (only binary is cast for that).
    assert!(matches!(
        one(
            Col::nvarchar(5),
            V::Bytes(encoder::utf16("x")),
            FieldEncoding::TextFromUtf16
        ),
        Err(ValueError::Unexpected {
            received: "nvarchar",
            ..
        })
    ));
    // xml into text, and into xml (a leading byte-order mark dropped, as xml_recv needs).
    assert_eq!(
        one(
            Col::Xml(false),
            V::Bytes(encoder::utf16("<a/>")),
            FieldEncoding::Text
        ),
        Ok(vec![0, 0, 0, 4, b'<', b'a', b'/', b'>'])
    );
    assert_eq!(
        one(
            Col::Xml(false),
            V::Bytes(encoder::utf16("\u{feff}<a/>")),
            FieldEncoding::Xml
        ),
        Ok(vec![0, 0, 0, 4, b'<', b'a', b'/', b'>'])
    );
}

#[test]
fn nulls_of_every_framing_in_row_and_nbcrow() {
    // Ten columns, so the NBCROW bitmap takes two bytes; NULLs in both bytes.
    let columns: Vec<(Col, &str)> = vec![
        (Col::int(), "a"),
        (Col::nvarchar(10), "b"),
        (Col::nvarchar_max(), "c"),
        (
            Col::Decimal {
                numeric: false,
                precision: 18,
                scale: 2,
            },
            "d",
        ),
        (Col::Date, "e"),
        (Col::Scaled(ty::DATETIME2N, 7), "f"),
        (Col::varbinary_max(), "g"),
        (Col::ByteLen(ty::GUID, 16), "h"),
        (Col::Xml(false), "i"),
        (Col::Null, "j"),
    ];
    let targets = [
        FieldEncoding::Int32,
        FieldEncoding::Text,
        FieldEncoding::Text,
        FieldEncoding::Numeric,
        FieldEncoding::Date,
        FieldEncoding::Timestamp,
        FieldEncoding::Bytea,
        FieldEncoding::Uuid,
        FieldEncoding::Xml,
        // NULLTYPE values are NULL whatever the target.
        FieldEncoding::Bool,
    ];
    let cols: Vec<Col> = columns.iter().map(|(c, _)| c.clone()).collect();
    let all_null = vec![V::Null; 10];
    let mixed = vec![
        V::Int(1),
        V::Null,
        V::Bytes(encoder::utf16("x")),
        V::Null,
        V::Date(5),
        V::Null,
        V::Bytes(vec![]),
        V::Null,
        V::Null,
        V::Null,
    ];
    let rows = vec![all_null.clone(), mixed.clone(), all_null, mixed];
    for nbc in [false, true] {
        let input = stream(&columns, &rows, nbc, &Plp::one_chunk());
        let (run, copy) = decode(&targets, &[], NulPolicy::Error, &input);
        assert_eq!(run.end, End::Finished, "nbc {nbc}");
        let expected = expected_copy(&cols, &targets, &rows, NulPolicy::Error).unwrap();
        assert_eq!(copy, expected, "nbc {nbc}");
    }
    // Every field of the all-NULL row is the NULL length -1.
    let expected = expected_copy(&cols, &targets, &rows[..1], NulPolicy::Error).unwrap();
    assert_eq!(expected.len(), 2 + 10 * 4);
    assert!(expected[2..].iter().all(|&b| b == 0xff));
}

#[test]
fn a_not_null_fixed_column_can_still_be_null_in_an_nbcrow() {
    let columns = [(Col::Fixed(ty::INT4), "a"), (Col::Fixed(ty::INT8), "b")];
    let mut input = encoder::colmetadata(&columns);
    // NBCROW, bitmap: column 0 NULL; column 1's 8 bytes follow.
    input.extend_from_slice(&[encoder::NBCROW, 0b01]);
    input.extend_from_slice(&7i64.to_le_bytes());
    let targets = [FieldEncoding::Int32, FieldEncoding::Int64];
    let (run, copy) = decode(&targets, &[], NulPolicy::Error, &input);
    assert_eq!(run.end, End::Finished);
    let mut expected = CopyEncoder::new(2).unwrap();
    expected.begin_row();
    expected.put_null();
    expected.put_i64(7);
    expected.end_row().unwrap();
    assert_eq!(copy, expected.bytes());
}

/// One nvarchar(max) (and varbinary(max) holding UTF-16) value in every chunking from 1-byte
/// chunks to one chunk, with known and unknown total length: splits fall inside code units and
/// inside surrogate pairs.
#[test]
fn plp_chunks_split_anywhere_give_the_same_text() {
    let text = "a😀é𝄞€z".repeat(3);
    let utf16 = encoder::utf16(&text);
    let mut expected = CopyEncoder::new(1).unwrap();
    expected.begin_row();
    expected.put_text_utf16le(&utf16, NulPolicy::Error).unwrap();
    expected.end_row().unwrap();
    let mut checked = 0;
    for chunk in 1..=utf16.len() {
        for unknown_length in [false, true] {
            for (col, target) in [
                (Col::nvarchar_max(), FieldEncoding::Text),
                (Col::varbinary_max(), FieldEncoding::TextFromUtf16),
            ] {
                let style = Plp {
                    chunks: vec![chunk],
                    unknown_length,
                };
                let input = stream(
                    &[(col, "c")],
                    &[vec![V::Bytes(utf16.clone())]],
                    false,
                    &style,
                );
                let (run, copy) = decode(&[target], &[], NulPolicy::Error, &input);
                assert_eq!(run.end, End::Finished, "chunk {chunk}");
                assert_eq!(
                    copy,
                    expected.bytes(),
                    "chunk {chunk} unknown {unknown_length}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4 * utf16.len());
    // Uneven chunks: a high surrogate's two bytes in different chunks, then one whole.
    let style = Plp {
        chunks: vec![3, 1, 5, 2, 7],
        unknown_length: false,
    };
    for col in [Col::nvarchar_max(), Col::varbinary_max()] {
        let target = if matches!(col, Col::Binary(..)) {
            FieldEncoding::TextFromUtf16
        } else {
            FieldEncoding::Text
        };
        let input = stream(
            &[(col, "c")],
            &[vec![V::Bytes(utf16.clone())]],
            true,
            &style,
        );
        let (run, copy) = decode(&[target], &[], NulPolicy::Error, &input);
        assert_eq!(run.end, End::Finished);
        assert_eq!(copy, expected.bytes());
    }
}

#[test]
fn plp_values_with_no_chunks_one_chunk_or_many() {
    let cases: Vec<(Vec<u8>, Plp)> = vec![
        // Empty: total 0, then the terminator at once.
        (Vec::new(), Plp::one_chunk()),
        // Empty with unknown length.
        (
            Vec::new(),
            Plp {
                chunks: vec![],
                unknown_length: true,
            },
        ),
        (vec![1, 2, 3], Plp::one_chunk()),
        (
            (0..=255).collect(),
            Plp {
                chunks: vec![100, 1, 50],
                unknown_length: false,
            },
        ),
        (
            (0..=255).collect(),
            Plp {
                chunks: vec![7],
                unknown_length: true,
            },
        ),
    ];
    for (bytes, style) in cases {
        // Two multi-chunk values in one row: the scratch buffer is reused between them.
        let columns = [(Col::varbinary_max(), "a"), (Col::varbinary_max(), "b")];
        let row = vec![
            V::Bytes(bytes.clone()),
            V::Bytes(bytes.iter().rev().copied().collect()),
        ];
        let input = stream(&columns, &[row.clone(), row.clone()], false, &style);
        let targets = [FieldEncoding::Bytea, FieldEncoding::Bytea];
        let (run, copy) = decode(&targets, &[], NulPolicy::Error, &input);
        assert_eq!(run.end, End::Finished, "{style:?}");
        let cols = [Col::varbinary_max(), Col::varbinary_max()];
        assert_eq!(
            copy,
            expected_copy(&cols, &targets, &[row.clone(), row], NulPolicy::Error).unwrap(),
            "{style:?}"
        );
    }
}

#[test]
fn varchar_max_utf8_split_inside_a_character() {
    let text = "ñandú 😀 日本";
    let style = Plp {
        chunks: vec![2, 3, 1],
        unknown_length: false,
    };
    let col = Col::varchar(MAX, LATIN1_UTF8);
    let input = stream(
        &[(col.clone(), "c")],
        &[vec![V::Bytes(text.as_bytes().to_vec())]],
        false,
        &style,
    );
    let (run, copy) = decode(&[FieldEncoding::Text], &[], NulPolicy::Error, &input);
    assert_eq!(run.end, End::Finished);
    assert_eq!(&copy[6..], text.as_bytes());
}
