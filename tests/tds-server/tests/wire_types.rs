//! Every SQL Server type, encoded by the server and decoded by tiberius.

mod wire_support;

use std::sync::Arc;

use pgmig_tds_server::types::{Collation, SqlType, Value};
use tiberius::numeric::Numeric;
use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, SmallDateTime, Time};
use tiberius::{ColumnData, ColumnType, Uuid};
use wire_support::*;

struct Case {
    sql_type: SqlType,
    nullable: bool,
    value: Value,
    expected: ColumnData<'static>,
    column_type: ColumnType,
}

fn case(
    sql_type: SqlType,
    nullable: bool,
    value: Value,
    expected: ColumnData<'static>,
    column_type: ColumnType,
) -> Case {
    Case {
        sql_type,
        nullable,
        value,
        expected,
        column_type,
    }
}

const GUID: [u8; 16] = [
    0x6F, 0x96, 0x19, 0xFF, 0x8B, 0x86, 0xD0, 0x11, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF,
];

fn cases() -> Vec<Case> {
    let s = |t: &str| ColumnData::String(Some(t.to_string().into()));
    let big = "x".repeat(9000);
    let latin1 = Collation {
        code_page: 1252,
        ..CI_AS
    };
    vec![
        case(
            SqlType::Bit,
            false,
            Value::Bit(true),
            ColumnData::Bit(Some(true)),
            ColumnType::Bit,
        ),
        case(
            SqlType::Bit,
            true,
            Value::Null,
            ColumnData::Bit(None),
            ColumnType::Bitn,
        ),
        case(
            SqlType::TinyInt,
            false,
            Value::TinyInt(255),
            ColumnData::U8(Some(255)),
            ColumnType::Int1,
        ),
        case(
            SqlType::SmallInt,
            true,
            Value::SmallInt(-32768),
            ColumnData::I16(Some(-32768)),
            ColumnType::Int2,
        ),
        case(
            SqlType::Int,
            false,
            Value::Int(i32::MIN),
            ColumnData::I32(Some(i32::MIN)),
            ColumnType::Int4,
        ),
        case(
            SqlType::Int,
            true,
            Value::Null,
            ColumnData::I32(None),
            ColumnType::Int4,
        ),
        case(
            SqlType::BigInt,
            false,
            Value::BigInt(i64::MAX),
            ColumnData::I64(Some(i64::MAX)),
            ColumnType::Int8,
        ),
        case(
            SqlType::BigInt,
            true,
            Value::BigInt(-5),
            ColumnData::I64(Some(-5)),
            ColumnType::Int8,
        ),
        case(
            SqlType::Decimal {
                precision: 38,
                scale: 38,
                numeric: false,
            },
            true,
            Value::Decimal {
                value: -(10i128.pow(38) - 1),
                scale: 38,
            },
            ColumnData::Numeric(Some(Numeric::new_with_scale(-(10i128.pow(38) - 1), 38))),
            ColumnType::Decimaln,
        ),
        case(
            SqlType::Decimal {
                precision: 18,
                scale: 4,
                numeric: true,
            },
            false,
            Value::Decimal {
                value: 12_345_678,
                scale: 4,
            },
            ColumnData::Numeric(Some(Numeric::new_with_scale(12_345_678, 4))),
            ColumnType::Numericn,
        ),
        case(
            SqlType::Decimal {
                precision: 5,
                scale: 0,
                numeric: false,
            },
            true,
            Value::Null,
            ColumnData::Numeric(None),
            ColumnType::Decimaln,
        ),
        case(
            SqlType::Money,
            false,
            Value::Money(-9_223_372_036_854_775_808),
            // tiberius itself decodes money as f64 (lossy past 15 digits); the exact bytes are
            // checked in wire::encode's unit tests.
            ColumnData::F64(Some(-9_223_372_036_854_775_808f64 / 10_000.0)),
            ColumnType::Money,
        ),
        case(
            SqlType::SmallMoney,
            true,
            Value::Money(-2_147_483_648),
            ColumnData::F64(Some(-214_748.364_8)),
            ColumnType::Money,
        ),
        case(
            SqlType::Real,
            false,
            Value::Real(1.5),
            ColumnData::F32(Some(1.5)),
            ColumnType::Float4,
        ),
        case(
            SqlType::Float,
            true,
            Value::Float(-0.0),
            ColumnData::F64(Some(-0.0)),
            ColumnType::Float8,
        ),
        case(
            SqlType::Float,
            false,
            Value::Float(f64::MAX),
            ColumnData::F64(Some(f64::MAX)),
            ColumnType::Float8,
        ),
        case(
            SqlType::Date,
            true,
            Value::Date(3_652_058),
            ColumnData::Date(Some(Date::new(3_652_058))),
            ColumnType::Daten,
        ),
        case(
            SqlType::Time { scale: 7 },
            true,
            Value::Time(863_999_999_999),
            ColumnData::Time(Some(Time::new(863_999_999_999, 7))),
            ColumnType::Timen,
        ),
        case(
            SqlType::Time { scale: 0 },
            false,
            Value::Time(10_000_000 * 3661),
            ColumnData::Time(Some(Time::new(3661, 0))),
            ColumnType::Timen,
        ),
        case(
            SqlType::SmallDateTime,
            false,
            Value::SmallDateTime {
                days: 100,
                minutes: 61,
            },
            ColumnData::SmallDateTime(Some(SmallDateTime::new(100, 61))),
            ColumnType::Datetime4,
        ),
        case(
            SqlType::DateTime,
            true,
            Value::DateTime {
                days: -53690,
                ticks_300: 299,
            },
            ColumnData::DateTime(Some(DateTime::new(-53690, 299))),
            ColumnType::Datetimen,
        ),
        case(
            SqlType::DateTime2 { scale: 3 },
            true,
            Value::DateTime2 {
                days: 730_119,
                ticks_100ns: 1_234_567,
            },
            ColumnData::DateTime2(Some(DateTime2::new(Date::new(730_119), Time::new(123, 3)))),
            ColumnType::Datetime2,
        ),
        case(
            SqlType::DateTimeOffset { scale: 7 },
            false,
            Value::DateTimeOffset {
                days: 1,
                ticks_100ns: 5,
                offset_minutes: -840,
            },
            ColumnData::DateTimeOffset(Some(DateTimeOffset::new(
                DateTime2::new(Date::new(1), Time::new(5, 7)),
                -840,
            ))),
            ColumnType::DatetimeOffsetn,
        ),
        case(
            SqlType::Char {
                len: 5,
                collation: latin1,
            },
            false,
            Value::Str("ab".into()),
            s("ab   "),
            ColumnType::BigChar,
        ),
        case(
            SqlType::VarChar {
                len: Some(20),
                collation: latin1,
            },
            true,
            Value::Str("Grüße €".into()),
            s("Grüße €"),
            ColumnType::BigVarChar,
        ),
        case(
            SqlType::VarChar {
                len: None,
                collation: latin1,
            },
            true,
            Value::Str(big.clone().into()),
            s(&big),
            ColumnType::BigVarChar,
        ),
        case(
            SqlType::VarChar {
                len: None,
                collation: latin1,
            },
            true,
            Value::Null,
            ColumnData::String(None),
            ColumnType::BigVarChar,
        ),
        case(
            SqlType::Text { collation: latin1 },
            true,
            Value::Str("old text".into()),
            s("old text"),
            ColumnType::Text,
        ),
        case(
            SqlType::Text { collation: latin1 },
            true,
            Value::Null,
            ColumnData::String(None),
            ColumnType::Text,
        ),
        case(
            SqlType::NChar {
                len: 3,
                collation: CI_AS,
            },
            true,
            Value::Str("日".into()),
            s("日  "),
            ColumnType::NChar,
        ),
        case(
            SqlType::NVarChar {
                len: Some(4000),
                collation: CI_AS,
            },
            true,
            Value::Str("emoji 😀 and NUL \0 inside".into()),
            s("emoji 😀 and NUL \0 inside"),
            ColumnType::NVarchar,
        ),
        case(
            SqlType::NVarChar {
                len: None,
                collation: CI_AS,
            },
            true,
            Value::Str("".into()),
            s(""),
            ColumnType::NVarchar,
        ),
        case(
            SqlType::NText { collation: CI_AS },
            true,
            Value::Str("ñtext".into()),
            s("ñtext"),
            ColumnType::NText,
        ),
        case(
            SqlType::Binary { len: 4 },
            false,
            Value::Bytes(Arc::from(&[1u8, 2][..])),
            ColumnData::Binary(Some(vec![1u8, 2, 0, 0].into())),
            ColumnType::BigBinary,
        ),
        case(
            SqlType::VarBinary { len: Some(10) },
            true,
            Value::Bytes(Arc::from(&[0u8, 255][..])),
            ColumnData::Binary(Some(vec![0u8, 255].into())),
            ColumnType::BigVarBin,
        ),
        case(
            SqlType::VarBinary { len: None },
            true,
            Value::Bytes(Arc::from(vec![7u8; 100_000])),
            ColumnData::Binary(Some(vec![7u8; 100_000].into())),
            ColumnType::BigVarBin,
        ),
        case(
            SqlType::Image,
            true,
            Value::Bytes(Arc::from(&[9u8; 3][..])),
            ColumnData::Binary(Some(vec![9u8; 3].into())),
            ColumnType::Image,
        ),
        case(
            SqlType::RowVersion,
            false,
            Value::Bytes(Arc::from(&[0, 0, 0, 0, 0, 0, 7, 0xD1][..])),
            ColumnData::Binary(Some(vec![0, 0, 0, 0, 0, 0, 7, 0xD1].into())),
            ColumnType::BigBinary,
        ),
        case(
            SqlType::UniqueIdentifier,
            true,
            Value::Guid(GUID),
            ColumnData::Guid(Some(Uuid::from_bytes(GUID))),
            ColumnType::Guid,
        ),
        case(
            SqlType::Xml,
            true,
            Value::Str("<a b=\"1\">ü</a>".into()),
            ColumnData::Xml(Some(std::borrow::Cow::Owned(tiberius::xml::XmlData::new(
                "<a b=\"1\">ü</a>",
            )))),
            ColumnType::Xml,
        ),
        case(
            SqlType::SqlVariant,
            true,
            Value::Int(42),
            ColumnData::I32(Some(42)),
            ColumnType::SSVariant,
        ),
        case(
            SqlType::SqlVariant,
            true,
            Value::Str("v".into()),
            s("v"),
            ColumnType::SSVariant,
        ),
        case(
            SqlType::SqlVariant,
            true,
            Value::Null,
            ColumnData::String(None),
            ColumnType::SSVariant,
        ),
    ]
}

#[test]
fn wire_types_every_type_decodes_in_tiberius() {
    let all = cases();
    let columns: Vec<_> = all
        .iter()
        .enumerate()
        .map(|(i, c)| column(&format!("c{i}"), c.sql_type.clone(), c.nullable))
        .collect();
    let values: Vec<Value> = all.iter().map(|c| c.value.clone()).collect();
    let (server, _) =
        start(move |_, _| vec![rows(columns.clone(), vec![values.clone(), values.clone()])]);
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let result = client
            .simple_query("SELECT * FROM every_type")
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        assert_eq!(result.len(), 2);
        let row = result.into_iter().next().unwrap();
        let types: Vec<ColumnType> = row.columns().iter().map(|c| c.column_type()).collect();
        let data: Vec<ColumnData<'static>> = row.into_iter().collect();
        for (i, c) in all.iter().enumerate() {
            assert_eq!(types[i], c.column_type, "column c{i} {:?}", c.sql_type);
            match (&data[i], &c.expected) {
                // -0.0 == 0.0 in PartialEq: compare bits so the sign is checked.
                (ColumnData::F64(Some(a)), ColumnData::F64(Some(b))) => {
                    assert_eq!(a.to_bits(), b.to_bits(), "column c{i}")
                }
                (got, want) => assert_eq!(got, want, "column c{i} {:?}", c.sql_type),
            }
        }
    });
}

#[test]
fn wire_types_null_heavy_rows_use_nbcrow_and_decode() {
    let columns: Vec<_> = (0..20)
        .map(|i| {
            column(
                &format!("c{i}"),
                SqlType::NVarChar {
                    len: Some(10),
                    collation: CI_AS,
                },
                true,
            )
        })
        .collect();
    let mut row = vec![Value::Null; 20];
    row[13] = Value::Str("x".into());
    let (server, _) = start(move |_, _| vec![rows(columns.clone(), vec![row.clone()])]);
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let result = client
            .simple_query("SELECT * FROM sparse")
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        for i in 0..20 {
            let v: Option<&str> = result.get(i);
            assert_eq!(v, if i == 13 { Some("x") } else { None }, "column {i}");
        }
    });
}

#[test]
fn wire_types_encoding_error_reaches_the_client() {
    let (server, _) = start(|_, _| {
        vec![rows(
            vec![column("t", SqlType::TinyInt, true)],
            vec![vec![Value::TinyInt(1)], vec![Value::Int(300)]],
        )]
    });
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let Err(err) = client
            .simple_query("SELECT t")
            .await
            .unwrap()
            .into_first_result()
            .await
        else {
            panic!("an out-of-range value must fail")
        };
        assert!(err.to_string().contains("cannot encode"), "{err}");
        // The connection is still usable.
        let ok = client.simple_query("SELECT t").await;
        assert!(ok.is_ok());
    });
}
