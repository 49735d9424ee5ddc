//! The SQL engine through tiberius: every type with edge values, big values both ways, the
//! catalog query pgmig sends through sp_executesql, and errors as a client sees them.

mod wire_support;

use tiberius::numeric::Numeric;
use tiberius::{ColumnData, Uuid};
use wire_support::*;

const ALL_TYPES: &str = include_str!("seed/all_types.sql");

/// The same text pgmig sends (core's TSQL_DESCRIBE_COLUMNS).
const DESCRIBE: &str = "\
SELECT c.name AS column_name, ut.name AS type_name, bt.name AS base_type_name, \
c.max_length, c.precision, c.scale, c.is_nullable, c.is_identity, c.is_computed, \
c.collation_name, ic.key_ordinal AS primary_key_ordinal \
FROM sys.columns AS c \
JOIN sys.objects AS o ON o.object_id = c.object_id \
JOIN sys.schemas AS s ON s.schema_id = o.schema_id \
JOIN sys.types AS ut ON ut.user_type_id = c.user_type_id \
LEFT JOIN sys.types AS bt ON bt.user_type_id = c.system_type_id \
LEFT JOIN sys.indexes AS i ON i.object_id = c.object_id AND i.is_primary_key = 1 \
LEFT JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id \
AND ic.column_id = c.column_id \
WHERE s.name = @P1 AND o.name = @P2 AND o.type IN ('U', 'V') \
ORDER BY c.column_id";

fn text(c: &ColumnData<'_>) -> Option<String> {
    match c {
        ColumnData::String(s) => s.as_ref().map(|s| s.to_string()),
        other => panic!("not text: {other:?}"),
    }
}

fn bytes(c: &ColumnData<'_>) -> Option<Vec<u8>> {
    match c {
        ColumnData::Binary(b) => b.as_ref().map(|b| b.to_vec()),
        other => panic!("not binary: {other:?}"),
    }
}

#[test]
fn engine_tiberius_every_type_with_edge_values() {
    let server = start_engine(Some(ALL_TYPES), None);
    runtime().block_on(async {
        let mut client = connect_db(server.addr(), "typedb").await;
        let rows = client
            .simple_query("SELECT * FROM dbo.AllTypes ORDER BY id")
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        assert_eq!(rows.len(), 9);
        let all: Vec<Vec<ColumnData<'static>>> = rows.into_iter().map(|r| r.into_iter().collect()).collect();
        let (lo, hi) = (&all[0], &all[1]);
        assert!(matches!(lo[1], ColumnData::Bit(Some(false))));
        assert!(matches!(hi[2], ColumnData::U8(Some(255))));
        assert!(matches!(lo[3], ColumnData::I16(Some(i16::MIN))));
        assert!(matches!(lo[4], ColumnData::I32(Some(i32::MIN))));
        assert!(matches!(hi[5], ColumnData::I64(Some(i64::MAX))));
        assert!(matches!(lo[5], ColumnData::I64(Some(i64::MIN))));
        let nines: i128 = 99_999_999_999_999_999_999_999_999_999_999_999_999;
        match (&lo[6], &hi[6]) {
            (ColumnData::Numeric(Some(a)), ColumnData::Numeric(Some(b))) => {
                assert_eq!((a.value(), a.scale()), (-nines, 38));
                assert_eq!((b.value(), b.scale()), (nines, 38));
            }
            other => panic!("decimal(38,38): {other:?}"),
        }
        match &hi[7] {
            ColumnData::Numeric(Some(n)) => assert_eq!((n.value(), n.scale()), (nines, 6)),
            other => panic!("decimal(38,6): {other:?}"),
        }
        assert!(matches!(hi[11], ColumnData::F32(Some(f)) if f == 3.4e38));
        assert!(matches!(lo[12], ColumnData::F64(Some(f)) if f == -1.79e308));
        match (&lo[13], &hi[13]) {
            (ColumnData::Date(Some(a)), ColumnData::Date(Some(b))) => {
                assert_eq!((a.days(), b.days()), (0, 3_652_058));
            }
            other => panic!("date: {other:?}"),
        }
        match &hi[14] {
            ColumnData::Time(Some(t)) => assert_eq!((t.increments(), t.scale()), (863_999_999_999, 7)),
            other => panic!("time(7): {other:?}"),
        }
        match &hi[15] {
            ColumnData::Time(Some(t)) => assert_eq!((t.increments(), t.scale()), (86_399, 0)),
            other => panic!("time(0): {other:?}"),
        }
        match &hi[16] {
            ColumnData::SmallDateTime(Some(d)) => assert_eq!((d.days(), d.seconds_fragments()), (65_535, 1439)),
            other => panic!("smalldatetime: {other:?}"),
        }
        match (&lo[17], &hi[17]) {
            (ColumnData::DateTime(Some(a)), ColumnData::DateTime(Some(b))) => {
                assert_eq!((a.days(), a.seconds_fragments()), (-53_690, 0));
                assert_eq!((b.days(), b.seconds_fragments()), (2_958_463, 25_919_999));
            }
            other => panic!("datetime: {other:?}"),
        }
        match &hi[18] {
            ColumnData::DateTime2(Some(d)) => {
                assert_eq!(d.date().days(), 3_652_058);
                assert_eq!((d.time().increments(), d.time().scale()), (863_999_999_999, 7));
            }
            other => panic!("datetime2(7): {other:?}"),
        }
        match &hi[19] {
            ColumnData::DateTime2(Some(d)) => assert_eq!((d.time().increments(), d.time().scale()), (86_399_999, 3)),
            other => panic!("datetime2(3): {other:?}"),
        }
        // datetimeoffset: UTC on the wire plus the offset.
        match (&lo[20], &hi[20]) {
            (ColumnData::DateTimeOffset(Some(a)), ColumnData::DateTimeOffset(Some(b))) => {
                assert_eq!((a.datetime2().date().days(), a.datetime2().time().increments(), a.offset()), (0, 0, 840));
                assert_eq!(
                    (b.datetime2().date().days(), b.datetime2().time().increments(), b.offset()),
                    (3_652_058, 863_999_999_999, -840)
                );
            }
            other => panic!("datetimeoffset: {other:?}"),
        }
        assert_eq!(text(&hi[21]).as_deref(), Some("abcde"));
        assert_eq!(text(&lo[21]).as_deref(), Some("a    "));
        assert_eq!(text(&hi[22]).as_deref(), Some("café ?"));
        assert_eq!(text(&hi[23]).map(|s| s.len()), Some(9000));
        assert_eq!(text(&lo[23]).as_deref(), Some(""));
        assert_eq!(text(&hi[24]).as_deref(), Some("😀é  "));
        assert_eq!(text(&hi[25]).as_deref(), Some("Grüße 😀 𝄞"));
        assert_eq!(text(&hi[26]).as_deref(), Some("日本語テキスト😀"));
        assert_eq!(text(&hi[27]).as_deref(), Some("naïve"));
        assert_eq!(text(&hi[28]).as_deref(), Some("ntext 😀"));
        assert_eq!(bytes(&hi[29]), Some(vec![0xDE, 0xAD, 0xBE, 0xEF]));
        assert_eq!(bytes(&lo[29]), Some(vec![0, 0, 0, 0]));
        assert_eq!(bytes(&hi[30]), Some(vec![0x00, 0xFF, 0x10]));
        assert_eq!(bytes(&hi[31]), Some(vec![0xCA, 0xFE]));
        assert_eq!(bytes(&hi[32]), Some(vec![0xBE, 0xEF]));
        match &hi[33] {
            ColumnData::Guid(Some(g)) => {
                assert_eq!(*g, Uuid::parse_str("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap());
            }
            other => panic!("uniqueidentifier: {other:?}"),
        }
        match &hi[34] {
            ColumnData::Xml(Some(x)) => assert_eq!(x.to_string(), "<root a=\"1\">x</root>"),
            other => panic!("xml: {other:?}"),
        }
        assert_eq!(bytes(&hi[35]).map(|b| b.len()), Some(8));
        // Row 9: NULL in every nullable column.
        assert!(all[8][1..35].iter().all(|c| matches!(
            c,
            ColumnData::Bit(None) | ColumnData::U8(None) | ColumnData::I16(None) | ColumnData::I32(None)
                | ColumnData::I64(None) | ColumnData::Numeric(None) | ColumnData::F32(None)
                | ColumnData::F64(None) | ColumnData::Date(None) | ColumnData::Time(None)
                | ColumnData::SmallDateTime(None) | ColumnData::DateTime(None) | ColumnData::DateTime2(None)
                | ColumnData::DateTimeOffset(None) | ColumnData::String(None) | ColumnData::Binary(None)
                | ColumnData::Guid(None) | ColumnData::Xml(None)
        )));

        // datetime 1/300 s ticks as SQL Server rounds them (.997 .993 .990 .997 +1s .000).
        let rows = client
            .simple_query("SELECT c_dt FROM dbo.AllTypes WHERE id BETWEEN 3 AND 8 ORDER BY id")
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        let base = (12 * 3600 + 34 * 60 + 56) * 300;
        let ticks: Vec<u32> = rows
            .into_iter()
            .map(|r| match r.into_iter().next() {
                Some(ColumnData::DateTime(Some(d))) => d.seconds_fragments() - base,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ticks, vec![299, 298, 297, 299, 300, 0]);

        // money/smallmoney exactly, as pgmig reads them.
        let row = client
            .simple_query("SELECT CAST([c_money] AS decimal(19,4)) AS [c_money], CAST([c_smallmoney] AS decimal(10,4)) AS [c_smallmoney] FROM [dbo].[AllTypes] WHERE [id] = 1")
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<Numeric, _>("c_money"), Some(Numeric::new_with_scale(i64::MIN as i128, 4)));
        assert_eq!(row.get::<Numeric, _>(1), Some(Numeric::new_with_scale(-2_147_483_648, 4)));
    });
}

#[test]
fn engine_tiberius_10mb_values_and_non_bmp_text_both_ways() {
    let server = start_engine(Some(ALL_TYPES), None);
    let big_text: String = "pgmig ✓ 😀 ".repeat(10 * 1024 * 1024 / 24);
    let big_bytes: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    runtime().block_on(async {
        let mut client = connect_db(server.addr(), "typedb").await;
        client
            .simple_query("CREATE TABLE dbo.Big (id int PRIMARY KEY, t nvarchar(max), b varbinary(max), e nvarchar(10))")
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
        let result = client
            .execute(
                "INSERT INTO dbo.Big (id, t, b, e) VALUES (@P1, @P2, @P3, @P4)",
                &[&1i32, &big_text.as_str(), &big_bytes.as_slice(), &"😀𝄞é"],
            )
            .await
            .unwrap();
        assert_eq!(result.rows_affected(), &[1]);
        let row = client
            .query("SELECT t, b, e, LEN(e), DATALENGTH(t) FROM dbo.Big WHERE id = @P1", &[&1i32])
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert!(row.get::<&str, _>(0) == Some(big_text.as_str()), "10 MB nvarchar(max)");
        assert!(row.get::<&[u8], _>(1) == Some(big_bytes.as_slice()), "10 MB varbinary(max)");
        assert_eq!(row.get::<&str, _>(2), Some("😀𝄞é"));
        // LEN counts UTF-16 code units under a non-SC collation, as SQL Server does.
        assert_eq!(row.get::<i32, _>(3), Some(5));
        assert_eq!(row.get::<i64, _>(4), Some(big_text.encode_utf16().count() as i64 * 2));
    });
}

#[test]
fn engine_tiberius_catalog_query_through_sp_executesql() {
    let server = start_engine(Some(ALL_TYPES), None);
    runtime().block_on(async {
        let mut client = connect_db(server.addr(), "typedb").await;
        let rows = client
            .query(DESCRIBE, &[&"sales", &"Orders"])
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        let got: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {} {} {} {} {} {} {} {}",
                    r.get::<&str, _>("column_name").unwrap_or("?"),
                    r.get::<&str, _>("type_name").unwrap_or("?"),
                    r.get::<&str, _>("base_type_name").unwrap_or("NULL"),
                    r.get::<i16, _>("max_length").unwrap_or(0),
                    r.get::<u8, _>("precision").unwrap_or(0),
                    r.get::<u8, _>("scale").unwrap_or(0),
                    r.get::<bool, _>("is_nullable").map(u8::from).unwrap_or(9),
                    r.get::<bool, _>("is_identity").map(u8::from).unwrap_or(9),
                    r.get::<bool, _>("is_computed").map(u8::from).unwrap_or(9),
                    r.get::<&str, _>("collation_name").unwrap_or("NULL"),
                    r.get::<u8, _>("primary_key_ordinal")
                        .map(|o| o.to_string())
                        .unwrap_or_else(|| "NULL".into()),
                )
            })
            .collect();
        let ci = "SQL_Latin1_General_CP1_CI_AS";
        assert_eq!(
            &got[..6],
            &[
                "OrderId int int 4 10 0 0 1 0 NULL 1".to_string(),
                format!("Region char char 2 0 0 0 0 0 {ci} NULL"),
                format!("Customer nvarchar nvarchar 100 0 0 1 0 0 {ci} NULL"),
                "Amount decimal decimal 9 12 2 0 0 0 NULL NULL".to_string(),
                "Price money money 8 19 4 1 0 0 NULL NULL".to_string(),
                "Placed datetime2 datetime2 7 23 3 0 0 0 NULL NULL".to_string(),
            ]
        );
        assert!(
            got[6].starts_with("Total decimal decimal") && got[6].ends_with("1 0 1 NULL NULL"),
            "{}",
            got[6]
        );
        let rows = client
            .query(DESCRIBE, &[&"dbo", &"AllTypes"])
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        assert_eq!(rows.len(), 36);
        assert_eq!(rows[35].get::<&str, _>("type_name"), Some("timestamp"));
        assert_eq!(rows[26].get::<i16, _>("max_length"), Some(-1));
        assert_eq!(rows[0].get::<u8, _>("primary_key_ordinal"), Some(1));
        let none = client
            .query(DESCRIBE, &[&"dbo", &"Nope"])
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        assert!(none.is_empty());
    });
}

#[test]
fn engine_tiberius_errors_carry_number_class_and_state() {
    let server = start_engine(Some(ALL_TYPES), None);
    runtime().block_on(async {
        let mut client = connect_db(server.addr(), "typedb").await;
        for (sql, code, class, state) in [
            ("SELECT * FROM dbo.Nope", 208, 16, 1),
            ("SELECT nope FROM dbo.AllTypes", 207, 16, 1),
            ("SELECT * FORM dbo.AllTypes", 102, 15, 1),
            ("SELEC 1", 2812, 16, 62),
            ("SELECT id FROM dbo.AllTypes WHERE id = = 1", 102, 15, 1),
            ("SELECT * FROM dbo.AllTypes WHERE", 156, 15, 1),
            ("INSERT INTO dbo.Composite VALUES (1, N'a', 1)", 2627, 14, 1),
            (
                "SELECT CAST(c_varchar AS int) FROM dbo.AllTypes WHERE id = 2",
                245,
                16,
                1,
            ),
            ("CREATE TABLE dbo.Composite (a int)", 2714, 16, 6),
            ("DROP TABLE dbo.Nope", 3701, 11, 5),
        ] {
            let e = match client.simple_query(sql).await {
                Ok(stream) => stream.into_results().await.err(),
                Err(e) => Some(e),
            };
            match e {
                Some(tiberius::error::Error::Server(t)) => {
                    assert_eq!(
                        (t.code(), t.class(), t.state()),
                        (code, class, state),
                        "{sql}: {}",
                        t.message()
                    );
                }
                other => panic!("{sql}: {other:?}"),
            }
        }
        // The connection is still usable after errors.
        let row = client
            .simple_query("SELECT COUNT(*) FROM dbo.AllTypes")
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<i32, _>(0), Some(9));
    });
}
