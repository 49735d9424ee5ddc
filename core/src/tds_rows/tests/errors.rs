//! Values that fail (with the row's key), columns the decoder refuses, malformed streams.

use super::encoder::{self, Col, Plp, LATIN1_UTF8, SQL_LATIN1, UNKNOWN_COLLATION, V};
use super::*;
use crate::copy_binary::EncodeError;
use crate::tds_rows::types::type_byte as ty;

/// Decodes COLMETADATA and two rows (the second one failing) with key columns 0 and 1.
fn second_row_fails(
    columns: &[(Col, &str)],
    targets: &[FieldEncoding],
    good: Vec<V>,
    bad: Vec<V>,
    nul: NulPolicy,
) -> (DecodeError, Vec<u8>, Vec<u8>) {
    let input = stream(columns, &[good.clone(), bad], false, &Plp::one_chunk());
    let (run, copy) = decode(targets, &[0, 1], nul, &input);
    let cols: Vec<Col> = columns.iter().map(|(c, _)| c.clone()).collect();
    let expected_first = expected_copy(&cols, targets, &[good], nul).unwrap();
    match run.end {
        End::Failed(error) => (error, copy, expected_first),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn out_of_range_names_the_row_by_its_key_and_abandons_it() {
    let columns = [
        (Col::int(), "Id"),
        (Col::nvarchar(20), "Name"),
        (Col::int(), "Small"),
    ];
    let targets = [
        FieldEncoding::Int32,
        FieldEncoding::Text,
        FieldEncoding::Int16,
    ];
    let (error, copy, first) = second_row_fails(
        &columns,
        &targets,
        vec![V::Int(1), V::Bytes(encoder::utf16("ok")), V::Int(5)],
        vec![
            V::Int(42),
            V::Bytes(encoder::utf16("O'Brien")),
            V::Int(40_000),
        ],
        NulPolicy::Error,
    );
    assert_eq!(
        error,
        DecodeError::Value {
            column: 2,
            row_key: Some("Id = 42, Name = 'O''Brien'".into()),
            error: ValueError::OutOfRange {
                value: "40000".into(),
                target: "smallint"
            }
        }
    );
    // The first row stays; nothing of the second.
    assert_eq!(copy, first);
    assert_eq!(
        error.to_string(),
        "row (Id = 42, Name = 'O''Brien'), result column 3: value 40000 is out of range for \
         type smallint"
    );
}

#[test]
fn nul_in_nvarchar_is_refused_or_stripped_by_policy() {
    let columns = [(Col::int(), "Id"), (Col::nvarchar_max(), "Body")];
    let targets = [FieldEncoding::Int32, FieldEncoding::Text];
    let bad = vec![V::Int(7), V::Bytes(encoder::utf16("a\0b"))];
    let (error, copy, first) = second_row_fails(
        &columns,
        &targets,
        vec![V::Int(1), V::Bytes(encoder::utf16("fine"))],
        bad.clone(),
        NulPolicy::Error,
    );
    assert_eq!(
        error,
        DecodeError::Value {
            column: 1,
            row_key: Some("Id = 7, Body = 'a\0b'".into()),
            error: ValueError::Encode(EncodeError::NulInString { char_offset: 1 })
        }
    );
    assert_eq!(copy, first);
    // Stripped: both rows load, the NUL gone.
    let input = stream(&columns, &[bad], false, &Plp::one_chunk());
    let (run, copy) = decode(&targets, &[0], NulPolicy::Strip, &input);
    assert_eq!(run.end, End::Finished);
    assert!(copy.ends_with(&[0, 0, 0, 2, b'a', b'b']));
    // An xml target refuses NUL whatever the policy.
    let input = stream(
        &[(Col::int(), "Id"), (Col::nvarchar(9), "Doc")],
        &[vec![V::Int(1), V::Bytes(encoder::utf16("<a>\0</a>"))]],
        false,
        &Plp::one_chunk(),
    );
    let (run, _) = decode(
        &[FieldEncoding::Int32, FieldEncoding::Xml],
        &[],
        NulPolicy::Strip,
        &input,
    );
    assert!(matches!(
        run.end,
        End::Failed(DecodeError::Value {
            column: 1,
            error: ValueError::Encode(EncodeError::NulInString { char_offset: 3 }),
            ..
        })
    ));
}

#[test]
fn unpaired_surrogates_and_bad_code_page_bytes_are_value_errors() {
    let columns = [(Col::int(), "Id"), (Col::varbinary_max(), "Body")];
    let targets = [FieldEncoding::Int32, FieldEncoding::TextFromUtf16];
    let lone = [b'x', 0, 0x00, 0xD8, b'y', 0].to_vec();
    let (error, _, _) = second_row_fails(
        &columns,
        &targets,
        vec![V::Int(1), V::Bytes(encoder::utf16("fine"))],
        vec![V::Int(2), V::Bytes(lone)],
        NulPolicy::Error,
    );
    assert_eq!(
        error,
        DecodeError::Value {
            column: 1,
            row_key: Some("Id = 2, Body = 0x780000D87900".into()),
            error: ValueError::Encode(EncodeError::UnpairedSurrogate {
                char_offset: 1,
                code_unit: 0xD800
            })
        }
    );
    // 0xFF is never in UTF-8.
    let columns = [(Col::int(), "Id"), (Col::varchar(10, LATIN1_UTF8), "Tag")];
    let (error, _, _) = second_row_fails(
        &columns,
        &[FieldEncoding::Int32, FieldEncoding::Text],
        vec![V::Int(1), V::Bytes(b"ok".to_vec())],
        vec![V::Int(2), V::Bytes(vec![b'a', 0xFF])],
        NulPolicy::Error,
    );
    assert!(matches!(
        error,
        DecodeError::Value {
            column: 1,
            error: ValueError::Encode(EncodeError::InvalidText {
                encoding: "UTF-8",
                byte_offset: 1
            }),
            ..
        }
    ));
}

#[test]
fn an_unexpected_type_is_refused_per_value_not_for_nulls() {
    let columns = [(Col::int(), "Id"), (Col::int(), "Count")];
    let targets = [FieldEncoding::Int32, FieldEncoding::Text];
    // A NULL passes whatever the target (as with tiberius); a value does not.
    let (error, copy, first) = second_row_fails(
        &columns,
        &targets,
        vec![V::Int(1), V::Null],
        vec![V::Int(2), V::Int(3)],
        NulPolicy::Error,
    );
    assert_eq!(
        error,
        DecodeError::Value {
            column: 1,
            row_key: Some("Id = 2, Count = 3".into()),
            error: ValueError::Unexpected {
                received: "int",
                target: FieldEncoding::Text
            }
        }
    );
    assert_eq!(copy, first);
    assert!(!first.is_empty());
}

/// Key values of many types, rendered from the wire.
#[test]
fn row_keys_render_each_type_readably() {
    let guid = [
        0xff, 0x19, 0x96, 0x6f, 0x86, 0x8b, 0x11, 0xd0, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9, 0x64,
        0xff,
    ];
    let long_binary = format!(
        "0x{}...",
        (0..29).map(|b| format!("{b:02X}")).collect::<String>()
    );
    let long_text = format!("'{}...", "x".repeat(59));
    let cases: Vec<(Col, V, &str)> = vec![
        (Col::Fixed(ty::BIT), V::Bit(true), "1"),
        (Col::Fixed(ty::INT1), V::Int(200), "200"),
        (Col::ByteLen(ty::INTN, 8), V::Int(-5), "-5"),
        (Col::Fixed(ty::FLT8), V::F64(2.5), "2.5"),
        (Col::Fixed(ty::FLT4), V::F32(-0.25), "-0.25"),
        (Col::Fixed(ty::MONEY), V::Money(-12_345), "-1.2345"),
        (
            Col::Decimal {
                numeric: false,
                precision: 10,
                scale: 2,
            },
            V::Dec(-1250),
            "-12.50",
        ),
        (
            Col::ByteLen(ty::GUID, 16),
            V::Guid(guid),
            "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        ),
        (Col::Date, V::Date(730_119 + 59), "2000-02-29"),
        (
            Col::Scaled(ty::TIMEN, 3),
            V::Time(45_296_789),
            "12:34:56.789",
        ),
        (
            Col::Scaled(ty::DATETIME2N, 7),
            V::DateTime2(730_119, 10_000_001),
            "2000-01-01 00:00:01.0000001",
        ),
        (
            Col::Scaled(ty::DATETIMEOFFSETN, 0),
            V::DateTimeOffset(730_119, 3600, -300),
            "1999-12-31 20:00:00 -05:00",
        ),
        (
            Col::Fixed(ty::DATETIME),
            V::DateTime(36_524, 301),
            "2000-01-01 00:00:01.003",
        ),
        (
            Col::Fixed(ty::DATETIM4),
            V::SmallDateTime(36_524, 61),
            "2000-01-01 01:01",
        ),
        (
            Col::varchar(20, SQL_LATIN1),
            V::Bytes(vec![b'c', b'a', b'f', 0xE9]),
            "'café'",
        ),
        (
            Col::Binary(ty::BIGBINARY, 40),
            V::Bytes((0..40).collect()),
            // 0x and 32 bytes of hex is 66 characters: cut at 60.
            &long_binary,
        ),
        (Col::nvarchar_max(), V::Null, "NULL"),
        (
            Col::nvarchar(100),
            V::Bytes(encoder::utf16(&"x".repeat(100))),
            &long_text,
        ),
    ];
    for (col, value, shown) in cases {
        // The failing value first (an int into a boolean column), then the key column.
        let columns = [(Col::int(), "V"), (col.clone(), "K")];
        let input = stream(
            &columns,
            &[vec![V::Int(1), value.clone()]],
            false,
            &Plp::one_chunk(),
        );
        let targets = [FieldEncoding::Bool, FieldEncoding::Bytea];
        let (run, _) = decode(&targets, &[1], NulPolicy::Error, &input);
        match run.end {
            End::Failed(DecodeError::Value {
                column: 0,
                row_key: Some(key),
                ..
            }) => assert_eq!(key, format!("K = {shown}"), "{col:?}"),
            other => panic!("{col:?}: {other:?}"),
        }
    }
}

#[test]
fn columns_this_decoder_cannot_read_are_unsupported_before_any_row() {
    let mut text = vec![ty::TEXT];
    text.extend_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    text.extend_from_slice(&SQL_LATIN1);
    text.push(2); // a two-part table name
    encoder::us_varchar(&mut text, "dbo");
    encoder::us_varchar(&mut text, "T");
    let mut ntext = vec![ty::NTEXT];
    ntext.extend_from_slice(&0x7FFF_FFFEu32.to_le_bytes());
    ntext.extend_from_slice(&SQL_LATIN1);
    ntext.push(0);
    let mut image = vec![ty::IMAGE];
    image.extend_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    image.push(1);
    encoder::us_varchar(&mut image, "T");
    let mut variant = vec![ty::SSVARIANT];
    variant.extend_from_slice(&8016u32.to_le_bytes());
    let mut udt = vec![ty::UDT];
    udt.extend_from_slice(&0xFFFFu16.to_le_bytes());
    encoder::b_varchar(&mut udt, "db");
    encoder::b_varchar(&mut udt, "sys");
    encoder::b_varchar(&mut udt, "hierarchyid");
    encoder::us_varchar(&mut udt, "Microsoft.SqlServer.Types.SqlHierarchyId");
    let mut unknown_collation = vec![ty::BIGVARCHAR];
    unknown_collation.extend_from_slice(&10u16.to_le_bytes());
    unknown_collation.extend_from_slice(&UNKNOWN_COLLATION);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (text, "column 2 (\"Doc\") is text"),
        (ntext, "column 2 (\"Doc\") is ntext"),
        (image, "column 2 (\"Doc\") is image"),
        (variant, "column 2 (\"Doc\") is sql_variant"),
        (udt, "column 2 (\"Doc\") is CLR type hierarchyid"),
        (
            unknown_collation,
            "column 2 (\"Doc\") is varchar with collation LCID 0x003FF, sort id 0",
        ),
        // Legacy DECIMAL, and a type byte that is none: no layout to read the name by.
        (vec![0x37, 17, 38, 0], "column 2 has TDS type 0x37"),
        (vec![0x99], "column 2 has TDS type 0x99"),
    ];
    for (type_info, message) in cases {
        let columns = [(Col::int(), "Id"), (Col::Raw(type_info), "Doc")];
        let mut input = encoder::colmetadata(&columns);
        // A row follows; it must not be reached.
        input.extend_from_slice(&[encoder::ROW, 4, 1, 0, 0, 0]);
        let targets = [FieldEncoding::Int32, FieldEncoding::Text];
        let (run, copy) = decode(&targets, &[], NulPolicy::Error, &input);
        match run.end {
            End::Failed(DecodeError::Unsupported(text)) => {
                assert!(text.starts_with(message), "{text}")
            }
            other => panic!("{message}: {other:?}"),
        }
        assert!(run.tokens.is_empty());
        assert!(copy.is_empty());
    }
}

#[test]
fn a_column_count_that_differs_from_the_targets_is_refused() {
    let input = encoder::colmetadata(&[(Col::int(), "a"), (Col::int(), "b")]);
    let (first, _) = decode(&[FieldEncoding::Int32], &[], NulPolicy::Error, &input);
    assert_eq!(
        first.end,
        End::Failed(DecodeError::ColumnCount {
            received: 2,
            expected: 1
        })
    );
    // An encoder built for another field count: the row is refused, not half-written.
    let mut input = encoder::colmetadata(&[(Col::int(), "a")]);
    input.extend(encoder::row(
        &[Col::int()],
        &[V::Int(1)],
        false,
        &Plp::one_chunk(),
    ));
    let mut decoder = RowDecoder::new(vec![FieldEncoding::Int32], vec![], NulPolicy::Error);
    let mut encoder = CopyEncoder::new(2).unwrap();
    let result = run(&mut decoder, &mut encoder, &input);
    assert_eq!(
        result.end,
        End::Failed(DecodeError::ColumnCount {
            received: 1,
            expected: 2
        })
    );
    assert!(encoder.is_empty());
    // NoMetaData (0xFFFF) is zero columns.
    let (run, _) = decode(
        &[],
        &[],
        NulPolicy::Error,
        &[encoder::COLMETADATA, 0xFF, 0xFF],
    );
    assert_eq!(run.end, End::Finished);
    assert_eq!(run.tokens, vec![Token::Columns]);
}

fn protocol_error(targets: &[FieldEncoding], input: &[u8]) -> String {
    match decode(targets, &[], NulPolicy::Error, input).0.end {
        End::Failed(DecodeError::Protocol(message)) => message,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn malformed_streams_are_protocol_errors() {
    let int = [FieldEncoding::Int32];
    // Unknown token; RETURNVALUE.
    assert!(protocol_error(&int, &[0x42]).contains("0x42"));
    assert!(protocol_error(&int, &[0xAC, 0, 0]).contains("RETURNVALUE"));
    // A row before any COLMETADATA.
    assert!(protocol_error(&int, &[encoder::ROW, 0]).contains("COLMETADATA"));
    // An ERROR token whose length stops inside its message text.
    let mut error = encoder::message(encoder::ERROR, 1, 1, 16, "text", "", 1);
    let short_len = (error.len() - 3 - 10) as u16;
    error[1..3].copy_from_slice(&short_len.to_le_bytes());
    error.truncate(3 + usize::from(short_len));
    assert!(protocol_error(&int, &error).contains("ERROR token"));
    // An INTN value of 3 bytes.
    let mut input = encoder::colmetadata(&[(Col::int(), "a")]);
    input.extend_from_slice(&[encoder::ROW, 3, 1, 2, 3]);
    assert!(protocol_error(&int, &input).contains("integer value of 3 bytes"));
    // A decimal with sign byte 2.
    let dec = Col::Decimal {
        numeric: false,
        precision: 5,
        scale: 0,
    };
    let mut input = encoder::colmetadata(&[(dec, "d")]);
    input.extend_from_slice(&[encoder::ROW, 5, 2, 1, 0, 0, 0]);
    assert!(protocol_error(&[FieldEncoding::Numeric], &input).contains("decimal"));
    // A u16 value longer than the column's declared maximum.
    let mut input = encoder::colmetadata(&[(Col::nvarchar(2), "s")]);
    input.extend_from_slice(&[encoder::ROW, 6, 0]);
    assert!(protocol_error(&[FieldEncoding::Text], &input).contains("declared at most 4"));
    // PLP chunks adding up to more, or less, than the total.
    let text = [FieldEncoding::Text];
    let mut input = encoder::colmetadata(&[(Col::nvarchar_max(), "s")]);
    input.push(encoder::ROW);
    input.extend_from_slice(&2u64.to_le_bytes());
    input.extend_from_slice(&4u32.to_le_bytes());
    input.extend_from_slice(&[b'a', 0, b'b', 0]);
    input.extend_from_slice(&0u32.to_le_bytes());
    assert!(protocol_error(&text, &input).contains("exceed its length of 2"));
    let mut input = encoder::colmetadata(&[(Col::nvarchar_max(), "s")]);
    input.push(encoder::ROW);
    input.extend_from_slice(&6u64.to_le_bytes());
    input.extend_from_slice(&4u32.to_le_bytes());
    input.extend_from_slice(&[b'a', 0, b'b', 0]);
    input.extend_from_slice(&0u32.to_le_bytes());
    assert!(protocol_error(&text, &input).contains("2 bytes short"));
    // TYPE_INFO out of range: INTN of 3 bytes, time scale 8, decimal precision 39.
    for type_info in [
        vec![ty::INTN, 3],
        vec![ty::TIMEN, 8],
        vec![ty::DECIMALN, 17, 39, 0],
    ] {
        let input = encoder::colmetadata(&[(Col::Raw(type_info), "x")]);
        assert!(protocol_error(&int, &input).contains("TYPE_INFO"));
    }
    // A packet size that is not a number.
    let input = encoder::env_change(4, "lots", "4096");
    assert!(protocol_error(&int, &input).contains("lots"));
}
