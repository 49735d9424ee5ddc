//! Engine tests: statements run through `Session::execute_batch`/`execute_rpc` as the wire
//! side calls them, results read back as values.

use std::sync::Arc;

use super::*;
use crate::types::{ResultSet, RowSource, StatementOutcome, Value};

/// What a statement produced, with rows collected.
#[derive(Debug)]
enum Out {
    Rows(Vec<crate::types::Column>, Vec<Vec<Value>>),
    Encoded(Vec<crate::types::Column>, Vec<Arc<[u8]>>),
    Done(Option<u64>),
    Info(u32, String),
    Db(String),
    Error(crate::types::SqlError),
}

fn collect(outcomes: Vec<StatementOutcome>) -> Vec<Out> {
    let mut out = Vec::new();
    for o in outcomes {
        let item = match o {
            StatementOutcome::Rows(ResultSet { columns, rows }) => match rows {
                RowSource::Values(it) => Out::Rows(columns, it.collect()),
                RowSource::Fallible(it) => {
                    let mut rows = Vec::new();
                    let mut error = None;
                    for r in it {
                        match r {
                            Ok(r) => rows.push(r),
                            Err(e) => {
                                error = Some(e);
                                break;
                            }
                        }
                    }
                    out.push(Out::Rows(columns, rows));
                    match error {
                        Some(e) => Out::Error(e),
                        None => continue,
                    }
                }
                RowSource::Encoded(it) => Out::Encoded(columns, it.collect()),
            },
            StatementOutcome::Done { rows_affected } => Out::Done(rows_affected),
            StatementOutcome::Info { number, message } => Out::Info(number, message),
            StatementOutcome::DatabaseChanged { new, .. } => Out::Db(new),
            StatementOutcome::Error(e) => Out::Error(e),
        };
        out.push(item);
    }
    out
}

fn engine() -> Engine {
    Engine::new(Arc::new(crate::faults::Faults::new()))
}

fn session(e: &Engine) -> Session {
    e.open_session("sa", None).unwrap()
}

fn run(s: &mut Session, sql: &str) -> Vec<Out> {
    collect(s.execute_batch(sql))
}

/// The rows of the only result set of `sql`; panics on anything else.
fn rows(s: &mut Session, sql: &str) -> Vec<Vec<Value>> {
    let out = run(s, sql);
    let mut found = None;
    for o in out {
        match o {
            Out::Rows(_, r) => found = Some(r),
            Out::Error(e) => panic!("{sql}: error {} {}", e.number, e.message),
            _ => {}
        }
    }
    found.unwrap_or_else(|| panic!("{sql}: no result set"))
}

fn columns(s: &mut Session, sql: &str) -> Vec<crate::types::Column> {
    for o in run(s, sql) {
        match o {
            Out::Rows(c, _) | Out::Encoded(c, _) => return c,
            Out::Error(e) => panic!("{sql}: error {} {}", e.number, e.message),
            _ => {}
        }
    }
    panic!("{sql}: no result set")
}

/// The first error of `sql`.
fn error(s: &mut Session, sql: &str) -> crate::types::SqlError {
    for o in run(s, sql) {
        if let Out::Error(e) = o {
            return e;
        }
    }
    panic!("{sql}: expected an error")
}

fn ok(s: &mut Session, sql: &str) {
    for o in run(s, sql) {
        if let Out::Error(e) = o {
            panic!("{sql}: error {} {}", e.number, e.message);
        }
    }
}

fn text(v: &str) -> Value {
    Value::Str(Arc::from(v))
}

fn one(s: &mut Session, sql: &str) -> Value {
    let r = rows(s, sql);
    assert_eq!(r.len(), 1, "{sql}: {r:?}");
    r[0][0].clone()
}

#[test]
fn smoke_create_insert_select() {
    let e = engine();
    let mut s = session(&e);
    ok(
        &mut s,
        "CREATE DATABASE shop; USE shop; CREATE TABLE dbo.T (Id int NOT NULL PRIMARY KEY, Name nvarchar(20) NULL, Price money)",
    );
    ok(
        &mut s,
        "INSERT INTO dbo.T (Id, Name, Price) VALUES (2, N'b', 2.5), (1, N'a', 1.25)",
    );
    let r = rows(
        &mut s,
        "SELECT Id, Name, CAST([Price] AS decimal(19,4)) AS [Price] FROM dbo.T ORDER BY Id",
    );
    assert_eq!(
        r,
        vec![
            vec![
                Value::Int(1),
                text("a"),
                Value::Decimal {
                    value: 12500,
                    scale: 4
                }
            ],
            vec![
                Value::Int(2),
                text("b"),
                Value::Decimal {
                    value: 25000,
                    scale: 4
                }
            ],
        ]
    );
    assert_eq!(
        one(&mut s, "SELECT COUNT(*) FROM T WHERE Id >= 2"),
        Value::Int(1)
    );
}

const ALL_TYPES: &str = include_str!("../../tests/seed/all_types.sql");

fn seeded() -> (Engine, Session) {
    let e = engine();
    e.run_script(ALL_TYPES)
        .unwrap_or_else(|err| panic!("seed: {} {}", err.number, err.message));
    let s = e.open_session("sa", Some("typedb")).unwrap();
    (e, s)
}

#[test]
fn every_type_keeps_its_edge_values() {
    let (_e, mut s) = seeded();
    let r = rows(&mut s, "SELECT * FROM dbo.AllTypes ORDER BY id");
    assert_eq!(r.len(), 9);
    let lo = &r[0];
    let hi = &r[1];
    assert_eq!(lo[1], Value::Bit(false));
    assert_eq!(hi[2], Value::TinyInt(255));
    assert_eq!(lo[3], Value::SmallInt(-32768));
    assert_eq!(lo[4], Value::Int(i32::MIN));
    assert_eq!(lo[5], Value::BigInt(i64::MIN));
    assert_eq!(hi[5], Value::BigInt(i64::MAX));
    assert_eq!(
        hi[6],
        Value::Decimal {
            value: 99_999_999_999_999_999_999_999_999_999_999_999_999,
            scale: 38
        }
    );
    assert_eq!(
        lo[6],
        Value::Decimal {
            value: -99_999_999_999_999_999_999_999_999_999_999_999_999,
            scale: 38
        }
    );
    assert_eq!(
        hi[7],
        Value::Decimal {
            value: 99_999_999_999_999_999_999_999_999_999_999_999_999,
            scale: 6
        }
    );
    assert_eq!(
        lo[8],
        Value::Decimal {
            value: -9_999_999_999,
            scale: 2
        }
    );
    assert_eq!(lo[9], Value::Money(i64::MIN));
    assert_eq!(hi[9], Value::Money(i64::MAX));
    assert_eq!(lo[10], Value::Money(-2_147_483_648));
    assert_eq!(hi[10], Value::Money(2_147_483_647));
    assert_eq!(hi[11], Value::Real(3.4e38));
    assert_eq!(lo[12], Value::Float(-1.79e308));
    assert_eq!(lo[13], Value::Date(0));
    assert_eq!(hi[13], Value::Date(3_652_058));
    assert_eq!(hi[14], Value::Time(863_999_999_999));
    assert_eq!(hi[15], Value::Time(863_990_000_000));
    assert_eq!(
        hi[16],
        Value::SmallDateTime {
            days: 65_535,
            minutes: 1439
        }
    );
    assert_eq!(
        lo[17],
        Value::DateTime {
            days: -53_690,
            ticks_300: 0
        }
    );
    assert_eq!(
        hi[17],
        Value::DateTime {
            days: 2_958_463,
            ticks_300: 25_919_999
        }
    );
    assert_eq!(
        lo[18],
        Value::DateTime2 {
            days: 0,
            ticks_100ns: 0
        }
    );
    assert_eq!(
        hi[18],
        Value::DateTime2 {
            days: 3_652_058,
            ticks_100ns: 863_999_999_999
        }
    );
    assert_eq!(
        hi[19],
        Value::DateTime2 {
            days: 3_652_058,
            ticks_100ns: 863_999_990_000
        }
    );
    // Stored as UTC plus the offset: both edges are the ends of the UTC range.
    assert_eq!(
        lo[20],
        Value::DateTimeOffset {
            days: 0,
            ticks_100ns: 0,
            offset_minutes: 840
        }
    );
    assert_eq!(
        hi[20],
        Value::DateTimeOffset {
            days: 3_652_058,
            ticks_100ns: 863_999_999_999,
            offset_minutes: -840
        }
    );
    assert_eq!(hi[21], text("abcde"));
    assert_eq!(lo[21], text("a    "));
    assert_eq!(hi[22], text("café ?"));
    assert!(
        hi[23] == Value::Str(Arc::from("x".repeat(9000).as_str())),
        "varchar(max) of 9000"
    );
    assert_eq!(hi[24], text("😀é  "));
    assert_eq!(hi[25], text("Grüße 😀 𝄞"));
    assert_eq!(hi[26], text("日本語テキスト😀"));
    assert_eq!(
        hi[29],
        Value::Bytes(Arc::from(&[0xDE, 0xAD, 0xBE, 0xEF][..]))
    );
    assert_eq!(lo[29], Value::Bytes(Arc::from(&[0, 0, 0, 0][..])));
    assert_eq!(hi[30], Value::Bytes(Arc::from(&[0x00, 0xFF, 0x10][..])));
    assert_eq!(lo[30], Value::Bytes(Arc::from(&[][..])));
    assert_eq!(
        hi[33],
        Value::Guid([
            0x6F, 0x96, 0x19, 0xFF, 0x8B, 0x86, 0xD0, 0x11, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9,
            0x64, 0xFF
        ])
    );
    assert!(matches!(&hi[35], Value::Bytes(b) if b.len() == 8));
    assert_ne!(lo[35], hi[35]);
    // NULLs everywhere a row gave nothing (but the rowversion).
    assert!(r[8][1..35].iter().all(|v| *v == Value::Null));
}

fn nv(s: &str) -> crate::types::RpcParam {
    crate::types::RpcParam {
        name: String::new(),
        value: text(s),
        sql_type: crate::types::SqlType::NVarChar {
            len: Some(4000),
            collation: crate::types::Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
        },
        output: false,
    }
}

fn named(name: &str, mut p: crate::types::RpcParam) -> crate::types::RpcParam {
    p.name = name.into();
    p
}

/// The statement tiberius sends through sp_executesql, with @P1/@P2 as it declares them.
fn executesql(s: &mut Session, sql: &str, values: Vec<crate::types::RpcParam>) -> Vec<Out> {
    let decls: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ty = match &p.sql_type {
                crate::types::SqlType::Int => "int".to_string(),
                crate::types::SqlType::BigInt => "bigint".to_string(),
                _ => "nvarchar(4000)".to_string(),
            };
            format!("@P{} {ty}", i + 1)
        })
        .collect();
    let mut params = vec![nv(sql), nv(&decls.join(","))];
    for (i, p) in values.into_iter().enumerate() {
        params.push(named(&format!("@P{}", i + 1), p));
    }
    collect(s.execute_rpc("sp_executesql", params))
}

const DESCRIBE: &str = "SELECT c.name AS column_name, ut.name AS type_name, bt.name AS base_type_name, c.max_length, c.precision, c.scale, c.is_nullable, c.is_identity, c.is_computed, c.collation_name, ic.key_ordinal AS primary_key_ordinal FROM sys.columns AS c JOIN sys.objects AS o ON o.object_id = c.object_id JOIN sys.schemas AS s ON s.schema_id = o.schema_id JOIN sys.types AS ut ON ut.user_type_id = c.user_type_id LEFT JOIN sys.types AS bt ON bt.user_type_id = c.system_type_id LEFT JOIN sys.indexes AS i ON i.object_id = c.object_id AND i.is_primary_key = 1 LEFT JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.column_id = c.column_id WHERE s.name = @P1 AND o.name = @P2 AND o.type IN ('U', 'V') ORDER BY c.column_id";

/// The catalog query's rows as text: name type base max_length precision scale nullable
/// identity computed collation pk.
fn describe(s: &mut Session, schema: &str, table: &str) -> Vec<String> {
    let out = executesql(s, DESCRIBE, vec![nv(schema), nv(table)]);
    let mut rows = None;
    for o in out {
        match o {
            Out::Rows(c, r) => {
                assert_eq!(c.len(), 11);
                assert_eq!(c[0].name, "column_name");
                assert_eq!(c[10].name, "primary_key_ordinal");
                rows = Some(r);
            }
            Out::Error(e) => panic!("describe: {} {}", e.number, e.message),
            _ => {}
        }
    }
    let show = |v: &Value| match v {
        Value::Null => "NULL".to_string(),
        Value::Str(s) => s.to_string(),
        Value::Bit(b) => (*b as u8).to_string(),
        Value::TinyInt(x) => x.to_string(),
        Value::SmallInt(x) => x.to_string(),
        Value::Int(x) => x.to_string(),
        other => format!("{other:?}"),
    };
    rows.expect("a result")
        .iter()
        .map(|r| r.iter().map(show).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn catalog_query_describes_every_type_as_sql_server() {
    let (_e, mut s) = seeded();
    let got = describe(&mut s, "dbo", "AllTypes");
    let ci = "SQL_Latin1_General_CP1_CI_AS";
    let want = vec![
        "id int int 4 10 0 0 0 0 NULL 1".to_string(),
        "c_bit bit bit 1 1 0 1 0 0 NULL NULL".into(),
        "c_tinyint tinyint tinyint 1 3 0 1 0 0 NULL NULL".into(),
        "c_smallint smallint smallint 2 5 0 1 0 0 NULL NULL".into(),
        "c_int int int 4 10 0 1 0 0 NULL NULL".into(),
        "c_bigint bigint bigint 8 19 0 1 0 0 NULL NULL".into(),
        "c_dec38 decimal decimal 17 38 38 1 0 0 NULL NULL".into(),
        "c_dec decimal decimal 17 38 6 1 0 0 NULL NULL".into(),
        "c_num numeric numeric 9 10 2 1 0 0 NULL NULL".into(),
        "c_money money money 8 19 4 1 0 0 NULL NULL".into(),
        "c_smallmoney smallmoney smallmoney 4 10 4 1 0 0 NULL NULL".into(),
        "c_real real real 4 24 0 1 0 0 NULL NULL".into(),
        "c_float float float 8 53 0 1 0 0 NULL NULL".into(),
        "c_date date date 3 10 0 1 0 0 NULL NULL".into(),
        "c_time time time 5 16 7 1 0 0 NULL NULL".into(),
        "c_time0 time time 3 8 0 1 0 0 NULL NULL".into(),
        "c_sdt smalldatetime smalldatetime 4 16 0 1 0 0 NULL NULL".into(),
        "c_dt datetime datetime 8 23 3 1 0 0 NULL NULL".into(),
        "c_dt2 datetime2 datetime2 8 27 7 1 0 0 NULL NULL".into(),
        "c_dt2_3 datetime2 datetime2 7 23 3 1 0 0 NULL NULL".into(),
        "c_dto datetimeoffset datetimeoffset 10 34 7 1 0 0 NULL NULL".into(),
        format!("c_char char char 5 0 0 1 0 0 {ci} NULL"),
        format!("c_varchar varchar varchar 20 0 0 1 0 0 {ci} NULL"),
        format!("c_vmax varchar varchar -1 0 0 1 0 0 {ci} NULL"),
        format!("c_nchar nchar nchar 10 0 0 1 0 0 {ci} NULL"),
        format!("c_nvarchar nvarchar nvarchar 40 0 0 1 0 0 {ci} NULL"),
        format!("c_nmax nvarchar nvarchar -1 0 0 1 0 0 {ci} NULL"),
        format!("c_text text text 16 0 0 1 0 0 {ci} NULL"),
        format!("c_ntext ntext ntext 16 0 0 1 0 0 {ci} NULL"),
        "c_binary binary binary 4 0 0 1 0 0 NULL NULL".into(),
        "c_varbinary varbinary varbinary 20 0 0 1 0 0 NULL NULL".into(),
        "c_vbmax varbinary varbinary -1 0 0 1 0 0 NULL NULL".into(),
        "c_image image image 16 0 0 1 0 0 NULL NULL".into(),
        "c_guid uniqueidentifier uniqueidentifier 16 0 0 1 0 0 NULL NULL".into(),
        "c_xml xml xml -1 0 0 1 0 0 NULL NULL".into(),
        "c_rv timestamp timestamp 8 0 0 0 0 0 NULL NULL".into(),
    ];
    assert_eq!(got, want);

    let got = describe(&mut s, "sales", "Orders");
    assert_eq!(got[0], "OrderId int int 4 10 0 0 1 0 NULL 1");
    assert_eq!(got[1], format!("Region char char 2 0 0 0 0 0 {ci} NULL"));
    assert_eq!(got[3], "Amount decimal decimal 9 12 2 0 0 0 NULL NULL");
    assert_eq!(got[5], "Placed datetime2 datetime2 7 23 3 0 0 0 NULL NULL");
    assert!(
        got[6].starts_with("Total decimal decimal ") && got[6].ends_with(" 1 0 1 NULL NULL"),
        "{}",
        got[6]
    );
    // Composite key: ordinals 1 and 2.
    let got = describe(&mut s, "dbo", "Composite");
    assert!(
        got[0].ends_with(" 1") && got[1].ends_with(" 2") && got[2].ends_with(" NULL"),
        "{got:?}"
    );
    // Unknown table or wrong schema: no rows.
    assert!(describe(&mut s, "dbo", "Orders").is_empty());
    assert!(
        describe(&mut s, "DBO", "alltypes").len() == 36,
        "names compare case-insensitively"
    );
}

#[test]
fn errors_have_sql_server_numbers_classes_and_states() {
    let (_e, mut s) = seeded();
    let check = |e: crate::types::SqlError, number: u32, class: u8, state: u8, message: &str| {
        assert_eq!(
            (e.number, e.class, e.state),
            (number, class, state),
            "{}",
            e.message
        );
        assert_eq!(e.message, message);
    };
    check(
        error(&mut s, "SELECT * FORM dbo.AllTypes"),
        102,
        15,
        1,
        "Incorrect syntax near 'FORM'.",
    );
    check(
        error(&mut s, "SELECT id FROM dbo.AllTypes LIMIT 10"),
        102,
        15,
        1,
        "Incorrect syntax near '10'.",
    );
    check(
        error(&mut s, "SELECT id::int FROM dbo.AllTypes"),
        102,
        15,
        1,
        "Incorrect syntax near ':'.",
    );
    check(
        error(&mut s, "SELECT FROM dbo.AllTypes"),
        156,
        15,
        1,
        "Incorrect syntax near the keyword 'FROM'.",
    );
    check(
        error(&mut s, "SELECT * FROM dbo.Nope"),
        208,
        16,
        1,
        "Invalid object name 'dbo.Nope'.",
    );
    check(
        error(&mut s, "SELECT * FROM Nope.dbo.T"),
        208,
        16,
        1,
        "Invalid object name 'Nope.dbo.T'.",
    );
    check(
        error(&mut s, "SELECT nope FROM dbo.AllTypes"),
        207,
        16,
        1,
        "Invalid column name 'nope'.",
    );
    check(
        error(&mut s, "SELECT x.id FROM dbo.AllTypes AS a"),
        4104,
        16,
        1,
        "The multi-part identifier \"x.id\" could not be bound.",
    );
    check(
        error(
            &mut s,
            "SELECT a FROM dbo.Composite b CROSS JOIN dbo.Composite c",
        ),
        209,
        16,
        1,
        "Ambiguous column name 'a'.",
    );
    ok(
        &mut s,
        "CREATE TABLE dbo.K (a int NOT NULL CONSTRAINT PK_K PRIMARY KEY, b varchar(10) NULL)",
    );
    ok(&mut s, "INSERT INTO dbo.K VALUES (1, 'x')");
    check(
        error(&mut s, "INSERT INTO dbo.K VALUES (2, 'y'), (1, 'z')"),
        2627,
        14,
        1,
        "Violation of PRIMARY KEY constraint 'PK_K'. Cannot insert duplicate key in object 'dbo.K'. The duplicate key value is (1).",
    );
    // The failed statement inserted nothing.
    assert_eq!(one(&mut s, "SELECT COUNT(*) FROM dbo.K"), Value::Int(1));
    let e = error(&mut s, "INSERT INTO dbo.Composite VALUES (1, N'A', 9)");
    assert_eq!((e.number, e.class, e.state), (2627, 14, 1));
    assert!(
        e.message
            .starts_with("Violation of PRIMARY KEY constraint 'PK__Composit__"),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("Cannot insert duplicate key in object 'dbo.Composite'. The duplicate key value is (1, A)."), "{}", e.message);
    check(
        error(&mut s, "SELECT CAST(b AS int) FROM dbo.K"),
        245,
        16,
        1,
        "Conversion failed when converting the varchar value 'x' to data type int.",
    );
    check(
        error(&mut s, "SELECT a FROM dbo.K WHERE b = 5"),
        245,
        16,
        1,
        "Conversion failed when converting the varchar value 'x' to data type int.",
    );
    check(
        error(&mut s, "SELECT CAST(N'abc' AS int)"),
        245,
        16,
        1,
        "Conversion failed when converting the nvarchar value 'abc' to data type int.",
    );
    check(
        error(&mut s, "CREATE TABLE dbo.K (x int)"),
        2714,
        16,
        6,
        "There is already an object named 'K' in the database.",
    );
    check(
        error(&mut s, "DROP TABLE dbo.Nope"),
        3701,
        11,
        5,
        "Cannot drop the table 'dbo.Nope', because it does not exist or you do not have permission.",
    );
    ok(&mut s, "DROP TABLE IF EXISTS dbo.Nope");
    check(
        error(&mut s, "INSERT INTO dbo.K (a) VALUES (NULL)"),
        515,
        16,
        2,
        "Cannot insert the value NULL into column 'a', table 'typedb.dbo.K'; column does not allow nulls. INSERT fails.",
    );
    check(
        error(&mut s, "INSERT INTO dbo.K VALUES (5, 'abcdefghijklmnop')"),
        2628,
        16,
        1,
        "String or binary data would be truncated in table 'typedb.dbo.K', column 'b'. Truncated value: 'abcdefghij'.",
    );
    // Trailing blanks are cut silently.
    ok(&mut s, "INSERT INTO dbo.K VALUES (6, 'abcdefghij    ')");
    check(
        error(&mut s, "INSERT INTO dbo.K (a) VALUES (1, 2)"),
        110,
        15,
        1,
        "There are fewer columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.",
    );
    check(
        error(&mut s, "SELECT 1/0"),
        8134,
        16,
        1,
        "Divide by zero error encountered.",
    );
    check(
        error(&mut s, "EXEC dbo.nope"),
        2812,
        16,
        62,
        "Could not find stored procedure 'dbo.nope'.",
    );
    check(
        error(&mut s, "SET BOGUS ON"),
        195,
        15,
        1,
        "'BOGUS' is not a recognized SET option.",
    );
    check(
        error(&mut s, "SELECT 1 WHERE 'a' LIKE 'a' ESCAPE '!'"),
        40517,
        16,
        1,
        "Keyword or statement option 'ESCAPE' is not supported in this version of SQL Server.",
    );
    for sql in [
        "IF 1 = 1 SELECT 1",
        "SELECT * FROM dbo.K a FULL OUTER JOIN dbo.K b ON a.a = b.a",
        "SELECT * FROM dbo.K a CROSS APPLY (SELECT 1 AS x) b",
        "SELECT ROW_NUMBER() OVER (ORDER BY a) FROM dbo.K",
        "WITH c AS (SELECT 1 AS x) SELECT * FROM c",
        "MERGE dbo.K AS t USING dbo.K AS s ON t.a = s.a WHEN MATCHED THEN DELETE;",
        "CREATE INDEX ix ON dbo.K (b)",
        "ALTER TABLE dbo.K ADD c int",
        "SELECT TOP (1) WITH TIES a FROM dbo.K ORDER BY a",
    ] {
        let e = error(&mut s, sql);
        assert_eq!((e.number, e.class), (40517, 16), "{sql}: {}", e.message);
    }
    check(
        error(&mut s, "COMMIT"),
        3902,
        16,
        1,
        "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.",
    );
    check(
        error(&mut s, "USE nodb"),
        911,
        16,
        1,
        "Database 'nodb' does not exist. Make sure that the name is entered correctly.",
    );
    check(
        error(&mut s, "SELECT @x"),
        137,
        15,
        2,
        "Must declare the scalar variable \"@x\".",
    );
    check(
        error(&mut s, "SELECT NOPE(1)"),
        195,
        15,
        10,
        "'NOPE' is not a recognized built-in function name.",
    );
    check(
        error(&mut s, "SELECT id, COUNT(*) FROM dbo.AllTypes"),
        8120,
        16,
        1,
        "Column 'dbo.AllTypes.id' is invalid in the select list because it is not contained in either an aggregate function or the GROUP BY clause.",
    );
}

#[test]
fn syntax_error_runs_nothing_and_batch_errors_stop_the_batch() {
    let (_e, mut s) = seeded();
    // A syntax error anywhere: nothing of the batch runs.
    let out = run(&mut s, "CREATE TABLE dbo.A1 (x int)\nSELECT * FORM dbo.A1");
    assert!(
        matches!(&out[..], [Out::Error(e)] if e.number == 102 && e.line == 2),
        "{out:?}"
    );
    assert_eq!(error(&mut s, "SELECT * FROM dbo.A1").number, 208);
    // 208 ends the batch; 2627 ends only its statement.
    let out = run(&mut s, "SELECT * FROM dbo.Nope\nSELECT 1");
    assert_eq!(out.len(), 1);
    let out = run(
        &mut s,
        "INSERT INTO dbo.Composite VALUES (1, N'a', 1)\nSELECT 1",
    );
    assert!(matches!(&out[0], Out::Error(e) if e.number == 2627));
    assert!(matches!(&out[1], Out::Rows(_, r) if r == &vec![vec![Value::Int(1)]]));
}

#[test]
fn datetime_keeps_sql_server_300ths() {
    let (_e, mut s) = seeded();
    let r = rows(&mut s, "SELECT id, c_dt, CONVERT(varchar(23), c_dt, 121) FROM dbo.AllTypes WHERE id BETWEEN 3 AND 8 ORDER BY id");
    let base = (12 * 3600 + 34 * 60 + 56) * 300;
    let days = (convert::days_from_civil(2024, 2, 29) - convert::DAYS_TO_1900) as i32;
    let want = [
        (base + 299, "2024-02-29 12:34:56.997"),
        (base + 298, "2024-02-29 12:34:56.993"),
        (base + 297, "2024-02-29 12:34:56.990"),
        (base + 299, "2024-02-29 12:34:56.997"),
        (base + 300, "2024-02-29 12:34:57.000"),
        (base, "2024-02-29 12:34:56.000"),
    ];
    for (row, (ticks, shown)) in r.iter().zip(want) {
        assert_eq!(
            row[1],
            Value::DateTime {
                days,
                ticks_300: ticks as u32
            },
            "row {:?}",
            row[0]
        );
        assert_eq!(row[2], text(shown));
    }
    let r = rows(&mut s, "SELECT CONVERT(nvarchar(40), c_dto), CONVERT(nvarchar(30), c_dt2), CAST(c_time AS varchar(20)) FROM dbo.AllTypes WHERE id = 3");
    assert_eq!(
        r[0],
        vec![
            text("2024-02-29 12:34:56.1234567 +05:30"),
            text("2024-02-29 12:34:56.1234567"),
            text("12:34:56.1234567")
        ]
    );
    // Stored as UTC with the offset.
    let r = rows(&mut s, "SELECT c_dto FROM dbo.AllTypes WHERE id = 3");
    let utc_ticks = ((7 * 3600 + 4 * 60 + 56) as u64) * 10_000_000 + 1_234_567;
    assert_eq!(
        r[0][0],
        Value::DateTimeOffset {
            days: convert::days_from_civil(2024, 2, 29) as u32,
            ticks_100ns: utc_ticks,
            offset_minutes: 330
        }
    );
}

fn encoded(s: &mut Session, sql: &str) -> (Vec<crate::types::Column>, Vec<Arc<[u8]>>) {
    for o in run(s, sql) {
        match o {
            Out::Encoded(c, r) => return (c, r),
            Out::Rows(..) => panic!("{sql}: expected pre-encoded rows, got values"),
            Out::Error(e) => panic!("{sql}: error {} {}", e.number, e.message),
            _ => {}
        }
    }
    panic!("{sql}: no result set")
}

/// The wire encoding of rows of values, for comparison with pre-encoded rows.
fn encode_values(columns: &[crate::types::Column], rows: &[Vec<Value>]) -> Vec<Vec<u8>> {
    let plans: Vec<crate::wire::encode::ColumnPlan> = columns
        .iter()
        .map(crate::wire::encode::ColumnPlan::new)
        .collect();
    rows.iter()
        .map(|r| {
            let mut b = Vec::new();
            crate::wire::encode::row(&mut b, &plans, r).unwrap();
            b
        })
        .collect()
}

fn generated() -> (Engine, Session) {
    let e = engine();
    e.generate("posts=1000,votes=5000").unwrap();
    let s = e.open_session("sa", Some("StackOverflow2010")).unwrap();
    (e, s)
}

#[test]
fn generated_tables_are_pre_encoded_exactly_as_their_values() {
    let (_e, mut s) = generated();
    let (cols, enc) = encoded(&mut s, "SELECT * FROM dbo.Votes");
    assert_eq!(enc.len(), 5000);
    assert_eq!(cols.len(), 6);
    // The same rows through the value path (a condition that is not a key range).
    let vals = rows(&mut s, "SELECT * FROM dbo.Votes WHERE 1 = 1");
    assert_eq!(vals.len(), 5000);
    let want = encode_values(&cols, &vals);
    for i in 0..5000 {
        assert_eq!(&enc[i][..], &want[i][..], "Votes row {i}");
    }
    let sql = "SELECT [Id], [Title], [Body], [LastEditDate], [Tags], [OwnerUserId] FROM [dbo].[Posts] WHERE [Id] >= 100 AND [Id] < 200 ORDER BY [Id]";
    let (cols, enc) = encoded(&mut s, sql);
    let vals = rows(&mut s, &sql.replace("ORDER BY", "AND 1 = 1 ORDER BY"));
    assert_eq!(enc.len(), 100);
    assert_eq!(vals[0][0], Value::Int(100));
    assert_eq!(vals[99][0], Value::Int(199));
    let want = encode_values(&cols, &vals);
    for i in 0..100 {
        assert_eq!(&enc[i][..], &want[i][..], "Posts row {i}");
    }
    // Some NULLs, some answers without a title, bodies of about 1 KB.
    assert!(vals.iter().any(|r| r[1] == Value::Null) && vals.iter().any(|r| r[1] != Value::Null));
    let body_chars: usize = vals
        .iter()
        .map(|r| match &r[2] {
            Value::Str(s) => s.chars().count(),
            _ => 0,
        })
        .sum();
    assert!(
        (600..1500).contains(&(body_chars / 100)),
        "average body {}",
        body_chars / 100
    );
    // Descending key order and TOP come pre-encoded too.
    let (_, enc) = encoded(&mut s, "SELECT TOP (3) Id FROM dbo.Posts ORDER BY Id DESC");
    let ids: Vec<Value> = rows(
        &mut s,
        "SELECT TOP (3) Id FROM dbo.Posts WHERE 1 = 1 ORDER BY Id DESC",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    assert_eq!(
        ids,
        vec![Value::Int(1000), Value::Int(999), Value::Int(998)]
    );
    assert_eq!(enc.len(), 3);
    let (_, enc) = encoded(
        &mut s,
        "SELECT Id FROM dbo.Posts ORDER BY Id OFFSET 10 ROWS FETCH NEXT 5 ROWS ONLY",
    );
    assert_eq!(enc.len(), 5);
    // pgmig's read of unicode text as bytes: pre-encoded too, the same bytes as the value path.
    let sql = "SELECT [Id], CAST([Title] AS varbinary(max)) AS [Title], CAST([Body] AS varbinary(max)) AS [Body], [Score] FROM [dbo].[Posts] ORDER BY [Id]";
    let (cols, enc) = encoded(&mut s, sql);
    assert!(matches!(
        cols[2].sql_type,
        crate::types::SqlType::VarBinary { len: None }
    ));
    let vals = rows(&mut s, &sql.replace("ORDER BY", "WHERE 1 = 1 ORDER BY"));
    assert_eq!(enc.len(), 1000);
    let want = encode_values(&cols, &vals);
    for i in 0..1000 {
        assert_eq!(&enc[i][..], &want[i][..], "Posts row {i} read as bytes");
    }
    let Value::Bytes(first_body) = &vals[0][2] else {
        panic!("body as bytes: {:?}", vals[0][2]);
    };
    let Value::Str(text) = &rows(&mut s, "SELECT Body FROM dbo.Posts WHERE Id = 1 AND 1 = 1")[0][0]
    else {
        panic!("body as text");
    };
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert_eq!(&first_body[..], &utf16[..]);
}

#[test]
fn generated_tables_answer_counts_filters_and_the_catalog() {
    let (_e, mut s) = generated();
    let r = rows(
        &mut s,
        "SELECT COUNT_BIG(*), MIN([Id]), MAX([Id]) FROM [dbo].[Posts]",
    );
    assert_eq!(
        r,
        vec![vec![Value::BigInt(1000), Value::Int(1), Value::Int(1000)]]
    );
    let r = rows(
        &mut s,
        "SELECT COUNT(*), MIN(Id), MAX(Id) FROM dbo.Votes WHERE Id >= 100 AND Id < 200",
    );
    assert_eq!(
        r,
        vec![vec![Value::Int(100), Value::Int(100), Value::Int(199)]]
    );
    let r = rows(
        &mut s,
        "SELECT COUNT(*), MIN(Id), MAX(Id) FROM dbo.Votes WHERE Id > 9000",
    );
    assert_eq!(r, vec![vec![Value::Int(0), Value::Null, Value::Null]]);
    // A user filter beside the key range: the value path.
    let all = rows(&mut s, "SELECT Id, Score FROM dbo.Posts WHERE Id >= 1 AND Id < 500 AND (\nScore > 150 -- popular\n) ORDER BY Id");
    assert!(!all.is_empty());
    assert!(all.iter().all(|r| matches!(r[1], Value::Int(x) if x > 150)));
    let count = one(
        &mut s,
        "SELECT COUNT(*) FROM dbo.Posts WHERE Score > 150 AND Id < 500",
    );
    assert_eq!(count, Value::Int(all.len() as i32));
    let got = describe(&mut s, "dbo", "Posts");
    assert_eq!(got.len(), 15);
    assert_eq!(got[0], "Id int int 4 10 0 0 1 0 NULL 1");
    assert_eq!(
        got[7],
        "Body nvarchar nvarchar -1 0 0 0 0 0 SQL_Latin1_General_CP1_CI_AS NULL"
    );
    assert_eq!(
        got[10],
        "Title nvarchar nvarchar 500 0 0 1 0 0 SQL_Latin1_General_CP1_CI_AS NULL"
    );
    assert_eq!(
        describe(&mut s, "dbo", "Votes")[5],
        "CreationDate datetime datetime 8 23 3 0 0 0 NULL NULL"
    );
    assert_eq!(
        error(
            &mut s,
            "INSERT INTO dbo.Votes (PostId, VoteTypeId, CreationDate) VALUES (1, 1, '2020-01-01')"
        )
        .number,
        40517
    );
}

#[test]
fn inject_switches_faults_on_and_off() {
    let e = engine();
    let mut s = session(&e);
    let faults = e.state.faults.clone();
    ok(
        &mut s,
        "EXEC pgmig_test.inject @fault = 'drop_after_rows', @value = 1000",
    );
    assert_eq!(faults.take_for_result().drop_after_rows, Some(1000));
    ok(&mut s, "EXEC pgmig_test.inject @fault = N'error_after_rows', @n = 5, @number = 1205, @message = N'deadlock victim'");
    assert_eq!(
        faults.take_for_result().error_after_rows,
        Some((5, 1205, "deadlock victim".to_string()))
    );
    ok(
        &mut s,
        "EXEC [pgmig_test].[inject] @fault = 'delay_packets', @value = 3",
    );
    assert!(faults.packet_delay().is_some());
    ok(&mut s, "EXEC pgmig_test.inject @fault = 'clear'");
    assert!(faults.packet_delay().is_none());
    let e2 = error(
        &mut s,
        "EXEC pgmig_test.inject @fault = 'nonsense', @value = 1",
    );
    assert_eq!((e2.number, e2.class), (50000, 16));
    assert!(e2.message.contains("unknown fault"), "{}", e2.message);
    assert_eq!(
        error(&mut s, "EXEC pgmig_test.inject @value = 1").number,
        201
    );
    // As an RPC, the way a client calls a procedure.
    let out = collect(s.execute_rpc(
        "pgmig_test.inject",
        vec![
            named("@fault", nv("drop_after_bytes")),
            named(
                "@value",
                crate::types::RpcParam {
                    name: String::new(),
                    value: Value::Int(4096),
                    sql_type: crate::types::SqlType::Int,
                    output: false,
                },
            ),
        ],
    ));
    assert!(out.iter().all(|o| !matches!(o, Out::Error(_))), "{out:?}");
    assert_eq!(faults.take_for_result().drop_after_bytes, Some(4096));
}

fn int_param(v: i32) -> crate::types::RpcParam {
    crate::types::RpcParam {
        name: String::new(),
        value: Value::Int(v),
        sql_type: crate::types::SqlType::Int,
        output: false,
    }
}

#[test]
fn sp_executesql_binds_typed_parameters() {
    let (_e, mut s) = seeded();
    let out = executesql(&mut s, "SELECT OrderId, Customer FROM sales.Orders WHERE OrderId >= @P1 AND Customer <> @P2 ORDER BY OrderId", vec![int_param(105), nv("bob")]);
    let Some(Out::Rows(_, r)) = out.into_iter().find(|o| matches!(o, Out::Rows(..))) else {
        panic!("no rows");
    };
    assert_eq!(r, vec![vec![Value::Int(110), text("Chloé")]]);
    // Positional values.
    let out = collect(s.execute_rpc(
        "sp_executesql",
        vec![nv("SELECT @a + 1"), nv("@a int"), int_param(41)],
    ));
    assert!(
        matches!(&out[0], Out::Rows(_, r) if r == &vec![vec![Value::Int(42)]]),
        "{out:?}"
    );
    // A declared parameter without a value: 8178.
    let out = collect(s.execute_rpc("sp_executesql", vec![nv("SELECT @a"), nv("@a int")]));
    assert!(
        matches!(&out[0], Out::Error(e) if e.number == 8178),
        "{out:?}"
    );
    // The batch form.
    let r = rows(
        &mut s,
        "EXEC sp_executesql N'SELECT @x * 2', N'@x int', @x = 21",
    );
    assert_eq!(r, vec![vec![Value::Int(42)]]);
    // Other system procedures are refused clearly.
    let out = collect(s.execute_rpc("sp_prepare", vec![]));
    assert!(
        matches!(&out[0], Out::Error(e) if e.number == 40517),
        "{out:?}"
    );
}

#[test]
fn select_features() {
    let (_e, mut s) = seeded();
    // Casts of money, nvarchar(max), NOLOCK, three-part names, aliases.
    let r = rows(&mut s, "SELECT o.OrderId, CAST(o.[Price] AS decimal(19,4)) AS Price, CAST(o.Customer AS nvarchar(max)) FROM typedb.sales.Orders AS o WITH (NOLOCK) WHERE o.Price IS NOT NULL ORDER BY o.Price DESC");
    assert_eq!(r.len(), 3);
    assert_eq!(
        r[0][1],
        Value::Decimal {
            value: 999_900,
            scale: 4
        }
    );
    assert_eq!(
        r[2][1],
        Value::Decimal {
            value: 5000,
            scale: 4
        }
    );
    let c = columns(&mut s, "SELECT CAST(c_money AS decimal(19,4)) AS [m], CAST(c_smallmoney AS decimal(10,4)) FROM dbo.AllTypes");
    assert_eq!(c[0].name, "m");
    assert_eq!(
        c[0].sql_type,
        crate::types::SqlType::Decimal {
            precision: 19,
            scale: 4,
            numeric: false
        }
    );
    assert_eq!(c[1].name, "");
    let r = rows(&mut s, "SELECT CAST(c_money AS decimal(19,4)), CAST(c_smallmoney AS decimal(10,4)) FROM dbo.AllTypes WHERE id IN (1, 2) ORDER BY id");
    assert_eq!(
        r[0],
        vec![
            Value::Decimal {
                value: i64::MIN as i128,
                scale: 4
            },
            Value::Decimal {
                value: -2_147_483_648,
                scale: 4
            }
        ]
    );
    assert_eq!(
        r[1],
        vec![
            Value::Decimal {
                value: i64::MAX as i128,
                scale: 4
            },
            Value::Decimal {
                value: 2_147_483_647,
                scale: 4
            }
        ]
    );
    // WHERE forms.
    let ids = |s: &mut Session, w: &str| -> Vec<i32> {
        rows(
            s,
            &format!("SELECT OrderId FROM sales.Orders WHERE {w} ORDER BY OrderId"),
        )
        .into_iter()
        .map(|r| match r[0] {
            Value::Int(x) => x,
            _ => -1,
        })
        .collect()
    };
    assert_eq!(ids(&mut s, "Region = 'eu'"), vec![100, 110]);
    assert_eq!(ids(&mut s, "Region <> 'EU' AND NOT Amount < 10"), vec![105]);
    assert_eq!(
        ids(&mut s, "Customer IS NULL OR Amount BETWEEN 5 AND 7.75"),
        vec![110, 115]
    );
    assert_eq!(ids(&mut s, "Customer LIKE N'%o%'"), vec![105, 110]);
    assert_eq!(ids(&mut s, "Customer NOT LIKE N'[a-b]%'"), vec![110]);
    assert_eq!(ids(&mut s, "Region IN ('AP', 'US')"), vec![105, 115]);
    assert_eq!(
        ids(&mut s, "Placed >= '2024-01-02' AND Placed < '2024-01-04'"),
        vec![105, 110]
    );
    assert_eq!(ids(&mut s, "Customer = NULL"), Vec::<i32>::new());
    assert_eq!(
        ids(
            &mut s,
            "OrderId IN (SELECT OrderId FROM sales.Orders WHERE Region = 'EU')"
        ),
        vec![100, 110]
    );
    assert_eq!(ids(&mut s, "Total > 20"), vec![100, 105]);
    // TOP, OFFSET/FETCH, ORDER BY several keys and positions.
    let r = rows(
        &mut s,
        "SELECT TOP (2) Region, OrderId FROM sales.Orders ORDER BY Region DESC, OrderId",
    );
    assert_eq!(
        r,
        vec![
            vec![text("US"), Value::Int(105)],
            vec![text("EU"), Value::Int(100)]
        ]
    );
    let r = rows(
        &mut s,
        "SELECT OrderId FROM sales.Orders ORDER BY 1 DESC OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY",
    );
    assert_eq!(r, vec![vec![Value::Int(110)], vec![Value::Int(105)]]);
    // Aggregates, GROUP BY, HAVING.
    let r = rows(&mut s, "SELECT Region, COUNT(*) AS n, SUM(Amount), MAX(Customer) FROM sales.Orders GROUP BY Region HAVING COUNT(*) >= 1 ORDER BY n DESC, Region");
    assert_eq!(
        r[0],
        vec![
            text("EU"),
            Value::Int(2),
            Value::Decimal {
                value: 1550,
                scale: 2
            },
            text("Chloé")
        ]
    );
    assert_eq!(
        one(&mut s, "SELECT MIN(Customer) FROM sales.Orders"),
        text("Åsa")
    );
    assert_eq!(
        one(
            &mut s,
            "SELECT COUNT(*) FROM sales.Orders WHERE Customer < N'B'"
        ),
        Value::Int(1)
    );
    assert_eq!(
        one(
            &mut s,
            "SELECT COUNT(*) FROM sales.Orders WHERE Customer = N'ASA'"
        ),
        Value::Int(0)
    );
    assert_eq!(
        one(
            &mut s,
            "SELECT COUNT(*) FROM sales.Orders WHERE Customer = N'åSA'"
        ),
        Value::Int(1)
    );
    assert_eq!(r.len(), 3);
    assert_eq!(
        one(&mut s, "SELECT AVG(Amount) FROM sales.Orders"),
        Value::Decimal {
            value: 10_875_000,
            scale: 6
        }
    );
    assert_eq!(
        one(&mut s, "SELECT COUNT(DISTINCT Region) FROM sales.Orders"),
        Value::Int(3)
    );
    // Joins: inner, left, catalog.
    let r = rows(&mut s, "SELECT t.name, c.name FROM sys.tables t JOIN sys.columns c ON c.object_id = t.object_id WHERE t.name = 'Composite' ORDER BY c.column_id");
    assert_eq!(
        r,
        vec![
            vec![text("Composite"), text("a")],
            vec![text("Composite"), text("b")],
            vec![text("Composite"), text("v")]
        ]
    );
    let r = rows(&mut s, "SELECT a.OrderId, b.OrderId FROM sales.Orders a LEFT JOIN sales.Orders b ON b.OrderId = a.OrderId + 5 ORDER BY a.OrderId");
    assert_eq!(r[3], vec![Value::Int(115), Value::Null]);
    assert_eq!(r[0], vec![Value::Int(100), Value::Int(105)]);
    // Composite key order.
    let r = rows(&mut s, "SELECT a, b FROM dbo.Composite");
    assert_eq!(
        r,
        vec![
            vec![Value::Int(1), text("a")],
            vec![Value::Int(1), text("b")],
            vec![Value::Int(2), text("x")]
        ]
    );
    // DISTINCT and UNION.
    assert_eq!(
        rows(
            &mut s,
            "SELECT DISTINCT Region FROM sales.Orders ORDER BY Region"
        )
        .len(),
        3
    );
    assert_eq!(
        rows(&mut s, "SELECT 1 UNION SELECT 1 UNION ALL SELECT 2").len(),
        2
    );
    // System functions and globals.
    assert_eq!(one(&mut s, "SELECT DB_NAME()"), text("typedb"));
    assert_eq!(one(&mut s, "SELECT SCHEMA_NAME()"), text("dbo"));
    assert_eq!(one(&mut s, "SELECT @@VERSION"), text(VERSION));
    assert!(matches!(one(&mut s, "SELECT @@SPID"), Value::SmallInt(n) if n >= 51));
    assert_eq!(
        one(&mut s, "SELECT SERVERPROPERTY('ProductVersion')"),
        text("16.0.1000.6")
    );
    assert_eq!(
        one(
            &mut s,
            "SELECT CAST(SERVERPROPERTY('EngineEdition') AS int)"
        ),
        Value::Int(3)
    );
    assert_eq!(
        one(&mut s, "SELECT SERVERPROPERTY('Edition')"),
        text(EDITION)
    );
    let oid = one(&mut s, "SELECT OBJECT_ID('sales.Orders')");
    assert_eq!(
        oid,
        one(
            &mut s,
            "SELECT object_id FROM sys.tables WHERE name = 'Orders'"
        )
    );
    assert_eq!(one(&mut s, "SELECT OBJECT_ID('[dbo].[Nope]')"), Value::Null);
    assert_eq!(
        one(
            &mut s,
            "SELECT OBJECT_NAME(OBJECT_ID('typedb.dbo.Composite'))"
        ),
        text("Composite")
    );
    let r = rows(&mut s, "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_NAME");
    assert_eq!(
        r[0],
        vec![text("dbo"), text("AllTypes"), text("BASE TABLE")]
    );
    let r = rows(&mut s, "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'Orders' ORDER BY ORDINAL_POSITION");
    assert_eq!(
        r[2],
        vec![
            text("Customer"),
            text("nvarchar"),
            Value::Int(50),
            Value::Null,
            text("YES")
        ]
    );
    assert_eq!(
        r[3],
        vec![
            text("Amount"),
            text("decimal"),
            Value::Null,
            Value::TinyInt(12),
            text("NO")
        ]
    );
    let r = rows(&mut s, "SELECT name, database_id FROM sys.databases WHERE name IN ('master', 'typedb') ORDER BY database_id");
    assert_eq!(
        r,
        vec![
            vec![text("master"), Value::Int(1)],
            vec![text("typedb"), Value::Int(5)]
        ]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT s.name FROM sys.schemas s WHERE s.name = 'sales'"
        )
        .len(),
        1
    );
    assert_eq!(
        one(
            &mut s,
            "SELECT COUNT(*) FROM sys.identity_columns WHERE object_id = OBJECT_ID('sales.Orders')"
        ),
        Value::Int(1)
    );
    assert_eq!(
        one(&mut s, "SELECT definition FROM sys.computed_columns"),
        text("([Amount]*(2))")
    );
    assert_eq!(
        one(
            &mut s,
            "SELECT COUNT(*) FROM sys.key_constraints WHERE type = 'UQ'"
        ),
        Value::Int(1)
    );
    assert_eq!(one(&mut s, "SELECT rows FROM sys.partitions WHERE object_id = OBJECT_ID('sales.Orders') AND index_id IN (0, 1)"), Value::BigInt(4));
}

#[test]
fn identity_insert_computed_defaults_and_rowversion() {
    let (_e, mut s) = seeded();
    // Identity from the seed (100, step 5); explicit values need IDENTITY_INSERT.
    let e = error(&mut s, "INSERT INTO sales.Orders (OrderId, Region, Amount, Placed) VALUES (7, 'EU', 1, '2024-01-01')");
    assert_eq!((e.number, e.class, e.state), (544, 16, 1));
    assert_eq!(e.message, "Cannot insert explicit value for identity column in table 'Orders' when IDENTITY_INSERT is set to OFF.");
    ok(&mut s, "SET IDENTITY_INSERT sales.Orders ON");
    ok(&mut s, "INSERT INTO sales.Orders (OrderId, Region, Customer, Amount, Placed) VALUES (500, 'EU', N'Dan', 1, '2024-01-01')");
    assert_eq!(
        error(
            &mut s,
            "INSERT INTO sales.Orders (Region, Amount, Placed) VALUES ('EU', 1, '2024-01-01')"
        )
        .number,
        545
    );
    ok(&mut s, "SET IDENTITY_INSERT sales.Orders OFF");
    ok(
        &mut s,
        "INSERT INTO sales.Orders (Region, Placed, Customer) VALUES ('US', '2024-02-01', N'Eve')",
    );
    let r = rows(
        &mut s,
        "SELECT TOP 1 OrderId, Amount, Total FROM sales.Orders ORDER BY OrderId DESC",
    );
    assert_eq!(
        r[0][0],
        Value::Int(505),
        "identity continues after the largest explicit value"
    );
    assert_eq!(r[0][1], Value::Decimal { value: 0, scale: 2 }, "default");
    assert!(matches!(r[0][2], Value::Decimal { value: 0, .. }));
    assert_eq!(
        one(&mut s, "SELECT @@IDENTITY"),
        Value::Decimal {
            value: 505,
            scale: 0
        }
    );
    assert_eq!(
        one(&mut s, "SELECT SCOPE_IDENTITY()"),
        Value::Decimal {
            value: 505,
            scale: 0
        }
    );
    assert_eq!(
        error(
            &mut s,
            "INSERT INTO sales.Orders (Region, Placed, Total) VALUES ('US', '2024-02-01', 1)"
        )
        .number,
        271
    );
    assert_eq!(
        one(&mut s, "SELECT definition FROM sys.default_constraints"),
        text("((0))")
    );
    // UNIQUE allows one NULL.
    let e = error(
        &mut s,
        "INSERT INTO sales.Orders (Region, Placed, Customer) VALUES ('US', '2024-02-01', N'bob')",
    );
    assert_eq!(e.message, "Violation of UNIQUE KEY constraint 'UQ_Orders_Customer'. Cannot insert duplicate key in object 'sales.Orders'. The duplicate key value is (bob).");
    // rowversion changes on UPDATE.
    let before = one(&mut s, "SELECT c_rv FROM dbo.AllTypes WHERE id = 9");
    let out = run(&mut s, "UPDATE dbo.AllTypes SET c_int = 5 WHERE id = 9");
    assert!(matches!(&out[..], [Out::Done(Some(1))]), "{out:?}");
    assert_ne!(
        one(&mut s, "SELECT c_rv FROM dbo.AllTypes WHERE id = 9"),
        before
    );
    assert_eq!(
        error(&mut s, "UPDATE dbo.AllTypes SET c_rv = 0x01").number,
        272
    );
    assert_eq!(
        error(
            &mut s,
            "INSERT INTO dbo.AllTypes (id, c_rv) VALUES (50, 0x01)"
        )
        .number,
        273
    );
    // Without a column list the rowversion column is in the list and takes DEFAULT.
    ok(&mut s, "CREATE TABLE dbo.Rv (k int, rv rowversion)");
    ok(&mut s, "INSERT INTO dbo.Rv VALUES (1, DEFAULT)");
    assert_eq!(error(&mut s, "INSERT INTO dbo.Rv VALUES (2)").number, 213);
    assert_eq!(
        error(&mut s, "INSERT INTO dbo.Rv VALUES (2, 0x01)").number,
        273
    );
    assert_eq!(
        error(&mut s, "INSERT INTO dbo.Rv SELECT k, rv FROM dbo.Rv").number,
        273
    );
    assert_eq!(one(&mut s, "SELECT COUNT(*) FROM dbo.Rv"), Value::Int(1));
}

#[test]
fn dml_transactions_and_temp_tables() {
    let (_e, mut s) = seeded();
    ok(
        &mut s,
        "CREATE TABLE #t (k int PRIMARY KEY, v nvarchar(10))",
    );
    let out = run(
        &mut s,
        "INSERT INTO #t VALUES (3, N'c'), (1, N'a'), (2, N'b')",
    );
    assert!(matches!(&out[..], [Out::Done(Some(3))]), "{out:?}");
    let out = run(
        &mut s,
        "SET NOCOUNT ON; INSERT INTO #t VALUES (4, N'd'); SET NOCOUNT OFF",
    );
    assert!(matches!(&out[..], [Out::Done(None)]), "{out:?}");
    assert_eq!(
        rows(&mut s, "SELECT k FROM #t")
            .iter()
            .map(|r| r[0].clone())
            .collect::<Vec<_>>(),
        vec![Value::Int(1), Value::Int(2), Value::Int(3), Value::Int(4)]
    );
    // UPDATE of the key re-sorts and checks duplicates.
    assert_eq!(
        error(&mut s, "UPDATE #t SET k = 1 WHERE k = 4").number,
        2627
    );
    ok(&mut s, "UPDATE #t SET k = 0 WHERE k = 4");
    assert_eq!(one(&mut s, "SELECT TOP 1 v FROM #t"), text("d"));
    // Transactions: ROLLBACK restores rows and undoes CREATE/DROP.
    ok(&mut s, "BEGIN TRAN; DELETE FROM #t WHERE k > 1; CREATE TABLE dbo.Tx (a int); DROP TABLE dbo.Composite");
    assert_eq!(one(&mut s, "SELECT @@TRANCOUNT"), Value::Int(1));
    assert_eq!(one(&mut s, "SELECT COUNT(*) FROM #t"), Value::Int(2));
    ok(&mut s, "ROLLBACK");
    assert_eq!(one(&mut s, "SELECT COUNT(*) FROM #t"), Value::Int(4));
    assert_eq!(error(&mut s, "SELECT * FROM dbo.Tx").number, 208);
    assert_eq!(
        one(&mut s, "SELECT COUNT(*) FROM dbo.Composite"),
        Value::Int(3)
    );
    ok(
        &mut s,
        "BEGIN TRANSACTION; TRUNCATE TABLE #t; COMMIT TRANSACTION",
    );
    assert_eq!(one(&mut s, "SELECT COUNT(*) FROM #t"), Value::Int(0));
    // INSERT .. SELECT and SELECT .. INTO.
    ok(
        &mut s,
        "INSERT INTO #t (k, v) SELECT OrderId, Region FROM sales.Orders WHERE OrderId < 110",
    );
    assert_eq!(one(&mut s, "SELECT COUNT(*) FROM #t"), Value::Int(2));
    ok(&mut s, "SELECT TOP 0 * INTO #copy FROM sales.Orders");
    assert_eq!(one(&mut s, "SELECT COUNT(*) FROM #copy"), Value::Int(0));
    ok(
        &mut s,
        "SELECT OrderId, Region INTO dbo.Copy FROM sales.Orders",
    );
    assert_eq!(one(&mut s, "SELECT COUNT(*) FROM dbo.Copy"), Value::Int(4));
    assert_eq!(
        one(
            &mut s,
            "SELECT COUNT(*) FROM sys.identity_columns WHERE object_id = OBJECT_ID('dbo.Copy')"
        ),
        Value::Int(1)
    );
    // Variables and PRINT.
    let out = run(&mut s, "DECLARE @n int = 2, @s nvarchar(10); SET @s = N'x'; SELECT @n = COUNT(*) FROM #t; PRINT @s; SELECT @n, @s");
    assert!(
        out.iter().any(|o| matches!(o, Out::Info(0, m) if m == "x")),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Out::Rows(_, r) if r == &vec![vec![Value::Int(2), text("x")]])),
        "{out:?}"
    );
    // Another session sees the committed table, not the #temp one.
    let mut other = _e.open_session("sa", Some("typedb")).unwrap();
    assert_eq!(error(&mut other, "SELECT * FROM #t").number, 208);
    assert_eq!(
        one(&mut other, "SELECT COUNT(*) FROM dbo.Copy"),
        Value::Int(4)
    );
}

#[test]
fn set_options_and_use() {
    let e = engine();
    let mut s = session(&e);
    // What tds_fdw, tsql and JDBC-like clients send on connect.
    ok(
        &mut s,
        "SET ANSI_NULLS ON; SET ANSI_PADDING ON; SET ANSI_WARNINGS ON; SET ARITHABORT ON; \
         SET CONCAT_NULL_YIELDS_NULL ON; SET QUOTED_IDENTIFIER ON; SET ANSI_NULL_DFLT_ON ON; \
         SET IMPLICIT_TRANSACTIONS OFF; SET CURSOR_CLOSE_ON_COMMIT OFF; SET TEXTSIZE 2147483647; \
         SET DATEFORMAT ymd; SET LANGUAGE us_english; SET LOCK_TIMEOUT 5000; SET XACT_ABORT ON; \
         SET TRANSACTION ISOLATION LEVEL SNAPSHOT; SET DEADLOCK_PRIORITY LOW; SET NOCOUNT ON",
    );
    assert_eq!(s.options().textsize, 2_147_483_647);
    assert_eq!(s.options().isolation, "SNAPSHOT");
    assert_eq!(one(&mut s, "SELECT @@TEXTSIZE"), Value::Int(2_147_483_647));
    assert_eq!(one(&mut s, "SELECT @@LOCK_TIMEOUT"), Value::Int(5000));
    assert!(
        run(&mut s, "SET NOCOUNT OFF").is_empty(),
        "SET sends no DONE of its own"
    );
    let out = run(&mut s, "CREATE DATABASE d2; USE d2");
    assert!(
        matches!(&out[..], [Out::Done(None), Out::Db(d), Out::Info(5701, m), Out::Done(None)] if d == "d2" && m == "Changed database context to 'd2'."),
        "{out:?}"
    );
    assert_eq!(s.database(), "d2");
    assert_eq!(error(&mut s, "CREATE DATABASE D2").number, 1801);
    assert_eq!(error(&mut s, "DROP DATABASE d2").number, 3702);
    ok(&mut s, "USE master; DROP DATABASE d2");
    assert!(e.open_session("sa", Some("d2")).is_err());
    ok(&mut s, "CREATE DATABASE d3");
    let e2 = error(&mut s, "CREATE TABLE d3.nope.T (a int)");
    assert_eq!(e2.number, 2760);
    assert_eq!(error(&mut s, "SELECT 1; CREATE SCHEMA s1").number, 111);
}

#[test]
fn login_database_must_exist() {
    let e = engine();
    let Err(error) = e.open_session("sa", Some("StackOverflow2010")) else {
        panic!("expected 4060");
    };
    assert_eq!((error.number, error.class), (4060, 11));
    assert_eq!(
        error.message,
        "Cannot open database \"StackOverflow2010\" requested by the login. The login failed."
    );
    assert!(e.open_session("sa", Some("TEMPDB")).is_ok());
    assert_eq!(
        e.open_session("sa", Some("tempdb")).unwrap().database(),
        "tempdb"
    );
}

#[test]
fn what_tds_fdw_sends() {
    // Logged from tds_fdw 2.0.3 (Debian's postgresql-15-tds-fdw) scanning foreign tables and
    // running IMPORT FOREIGN SCHEMA against this server.
    let (_e, mut s) = seeded();
    ok(&mut s, "set textsize 2147483647");
    let r = rows(
        &mut s,
        "SELECT [orderid], [region], [customer] FROM [sales].[Orders] WHERE (([orderid] < 106))",
    );
    assert_eq!(r.len(), 2);
    let r = rows(&mut s, "SELECT [id] FROM dbo.AllTypes");
    assert_eq!(r.len(), 9);
    assert_eq!(
        one(
            &mut s,
            "SELECT CHARINDEX('Microsoft', @@version) AS is_sql_server"
        ),
        Value::Int(1)
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT schema_name FROM INFORMATION_SCHEMA.SCHEMATA WHERE schema_name = 'sales'"
        ),
        vec![vec![text("sales")]]
    );
    let r = rows(
        &mut s,
        "SELECT t.table_name,  c.column_name,   c.data_type,   c.column_default,   c.is_nullable,   \
         c.character_maximum_length,   c.numeric_precision,   c.numeric_precision_radix,   \
         c.numeric_scale,   c.datetime_precision FROM INFORMATION_SCHEMA.TABLES t   LEFT JOIN \
         INFORMATION_SCHEMA.COLUMNS c ON     t.table_schema = c.table_schema       AND \
         t.table_name = c.table_name WHERE t.table_type IN ('BASE TABLE','VIEW')   AND \
         t.table_schema = 'sales' ORDER BY t.table_name, c.ordinal_position",
    );
    assert_eq!(r.len(), 7);
    assert_eq!(
        r[3][..4],
        [
            text("Orders"),
            text("Amount"),
            text("decimal"),
            text("((0))")
        ]
    );
    assert_eq!(r[5][9], Value::SmallInt(3), "datetime2(3)");
    // Its remote estimate with row_estimate_method 'showplan_all' is refused clearly.
    assert_eq!(error(&mut s, "SET SHOWPLAN_ALL ON").number, 40517);
}

#[test]
fn deep_nesting_is_error_191_and_long_chains_work() {
    let e = engine();
    let mut s = session(&e);
    let nested = |n: usize| format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(one(&mut s, &nested(90)), Value::Int(1));
    let err = error(&mut s, &nested(5000));
    assert_eq!((err.number, err.class), (191, 15));
    assert_eq!(
        error(&mut s, &format!("SELECT {}1", "- ".repeat(5000))).number,
        191
    );
    assert_eq!(
        error(&mut s, &format!("SELECT 1{}", "+1".repeat(5000))).number,
        191
    );
    // The longest chain allowed, on a stack like a connection thread's.
    let long = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || one(&mut s, &format!("SELECT 1{}", "+1".repeat(999))))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(long, Value::Int(1000));
    let mut s = session(&e);
    // A long OR list, as generated filters have, is fine.
    let ors: Vec<String> = (0..5000).map(|i| format!("x = {i}")).collect();
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 7 AS x) AS t WHERE {}",
        ors.join(" OR ")
    );
    assert_eq!(one(&mut s, &sql), Value::Int(1));
    // LIKE stays linear with many wildcards.
    let long = "a".repeat(20_000);
    let sql = format!("SELECT CASE WHEN '{long}' LIKE '%a%a%a%a%a%a%a%a%a%a%b' THEN 1 ELSE 0 END");
    assert_eq!(one(&mut s, &sql), Value::Int(0));
    assert_eq!(
        one(
            &mut s,
            "SELECT CASE WHEN N'Straße' LIKE N'str_ß%' THEN 1 ELSE 0 END"
        ),
        Value::Int(1)
    );
    // Malformed GUID text with non-ASCII characters is a conversion error, not a crash.
    assert_eq!(
        error(
            &mut s,
            "SELECT CAST(N'6F9619FF-8B86-D011-B42D-00C04FC964é' AS uniqueidentifier)"
        )
        .number,
        8169
    );
    assert_eq!(
        one(&mut s, "SELECT REPLACE(N'Grüße GRÜSSE', N'üß', N'ue')"),
        text("Gruee GRÜSSE")
    );
    assert_eq!(
        one(&mut s, "SELECT CHARINDEX(N'SSE', N'Grüße GRÜSSE')"),
        Value::Int(10)
    );
}

#[test]
fn nchar_and_char_build_single_characters() {
    let e = engine();
    let mut s = session(&e);
    let r = rows(
        &mut s,
        "SELECT N'a' + NCHAR(0) + N'b', NCHAR(26085), NCHAR(65536), NCHAR(-1), CHAR(65), CHAR(128), CHAR(256)",
    );
    let text = |v: &str| Value::Str(Arc::from(v));
    assert_eq!(
        r,
        vec![vec![
            text("a\0b"),
            text("日"),
            Value::Null,
            Value::Null,
            text("A"),
            text("€"),
            Value::Null,
        ]]
    );
    assert_eq!(error(&mut s, "SELECT NCHAR(55296)").number, 40517);
    let c = columns(&mut s, "SELECT NCHAR(65) AS n, CHAR(65) AS c");
    assert!(
        matches!(c[0].sql_type, SqlType::NChar { len: 1, .. }),
        "{:?}",
        c[0].sql_type
    );
    assert!(
        matches!(c[1].sql_type, SqlType::Char { len: 1, .. }),
        "{:?}",
        c[1].sql_type
    );
}

// ----- CLR types: hierarchyid, geometry, geography -----

const SHAPES_H: &[u8] = &[0x58];
const SHAPES_G: &[u8] = &[
    0x00, 0x00, 0x00, 0x00, 0x01, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x40,
];
const SHAPES_GG: &[u8] = &[
    0xE6, 0x10, 0x00, 0x00, 0x01, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4A, 0x40, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x34, 0x40,
];

fn shapes() -> (Engine, Session) {
    let e = engine();
    let mut s = session(&e);
    ok(
        &mut s,
        "CREATE DATABASE geo; USE geo; CREATE TABLE dbo.Shapes (Id int NOT NULL PRIMARY KEY, H hierarchyid NULL, G geometry NULL, Gg geography NULL)",
    );
    ok(
        &mut s,
        "INSERT INTO dbo.Shapes VALUES (1, 0x58, 0x00000000010C000000000000F03F0000000000000040, 0xE6100000010C0000000000004A400000000000003440), (2, NULL, NULL, NULL)",
    );
    (e, s)
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.into())
}

#[test]
fn spatial_values_with_counted_points_figures_and_shapes_are_checked() {
    let (_e, mut s) = shapes();
    // LINESTRING (1 2, 3 4): SRID 0, version 1, valid; 2 points, 1 figure, 1 shape.
    let line = concat!(
        "00000000",
        "0104",
        "02000000",
        "000000000000F03F0000000000000040",
        "00000000000008400000000000001040",
        "01000000",
        "0100000000",
        "01000000",
        "FFFFFFFF0000000002"
    );
    ok(
        &mut s,
        &format!("INSERT INTO dbo.Shapes (Id, G) VALUES (20, 0x{line})"),
    );
    // One byte short, one byte over, and a figure pointing past the points.
    let short = &line[..line.len() - 2];
    let over = format!("{line}00");
    let bad_figure = line.replacen("0100000000", "0103000000", 1);
    assert_ne!(bad_figure, line);
    for bytes in [short, &over, &bad_figure] {
        let e = error(
            &mut s,
            &format!("INSERT INTO dbo.Shapes (Id, G) VALUES (21, 0x{bytes})"),
        );
        assert_eq!((e.number, e.class), (6522, 16), "{bytes}: {}", e.message);
    }
}

#[test]
fn clr_columns_hold_varbinary_and_cast_back_to_varbinary_max() {
    let (_e, mut s) = shapes();
    let sql = "SELECT Id, CAST(H AS varbinary(max)) AS H, CAST(G AS varbinary(max)) AS G, CAST(Gg AS varbinary(max)) AS Gg FROM dbo.Shapes ORDER BY Id";
    let cols = columns(&mut s, sql);
    let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Id", "H", "G", "Gg"]);
    for c in &cols[1..] {
        assert_eq!(c.sql_type, SqlType::VarBinary { len: None });
        assert!(c.nullable);
    }
    assert_eq!(
        rows(&mut s, sql),
        vec![
            vec![
                Value::Int(1),
                bytes(SHAPES_H),
                bytes(SHAPES_G),
                bytes(SHAPES_GG)
            ],
            vec![Value::Int(2), Value::Null, Value::Null, Value::Null],
        ]
    );
    // CONVERT, variables, explicit CAST on insert, the root hierarchyid (0x), IS NULL and
    // COUNT work too.
    ok(
        &mut s,
        "INSERT INTO dbo.Shapes (Id, H, G) VALUES (3, CAST(0x AS hierarchyid), CONVERT(geometry, 0x00000000010C000000000000F03F0000000000000040))",
    );
    ok(
        &mut s,
        "DECLARE @h hierarchyid = 0x5AC0; INSERT INTO dbo.Shapes (Id, H) VALUES (4, @h)",
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT CONVERT(varbinary(max), H), CAST(G AS varbinary(8000)) FROM dbo.Shapes WHERE Id >= 3 ORDER BY Id"
        ),
        vec![
            vec![bytes(&[]), bytes(SHAPES_G)],
            vec![bytes(&[0x5A, 0xC0]), Value::Null],
        ]
    );
    assert_eq!(
        one(
            &mut s,
            "SELECT COUNT(G) FROM dbo.Shapes WHERE H IS NOT NULL"
        ),
        Value::Int(2)
    );
    ok(
        &mut s,
        "UPDATE dbo.Shapes SET G = NULL, H = 0x68 WHERE Id = 1",
    );
    assert_eq!(
        one(
            &mut s,
            "SELECT CAST(H AS varbinary(10)) FROM dbo.Shapes WHERE Id = 1"
        ),
        bytes(&[0x68])
    );
}

#[test]
fn clr_columns_are_described_as_sql_server_describes_them() {
    let (_e, mut s) = shapes();
    assert_eq!(
        describe(&mut s, "dbo", "Shapes"),
        vec![
            "Id int int 4 10 0 0 0 0 NULL 1".to_string(),
            "H hierarchyid NULL 892 0 0 1 0 0 NULL NULL".into(),
            "G geometry NULL -1 0 0 1 0 0 NULL NULL".into(),
            "Gg geography NULL -1 0 0 1 0 0 NULL NULL".into(),
        ]
    );
    let r = rows(
        &mut s,
        "SELECT c.name, c.system_type_id, c.user_type_id, c.max_length, t.name, t.is_assembly_type, t.is_user_defined, c.is_ansi_padded FROM sys.columns c JOIN sys.types t ON t.user_type_id = c.user_type_id WHERE c.object_id = OBJECT_ID('dbo.Shapes') AND c.column_id > 1 ORDER BY c.column_id",
    );
    let row = |n: &str, id: i32, len: i16| {
        vec![
            text(n),
            Value::TinyInt(240),
            Value::Int(id),
            Value::SmallInt(len),
            text(match id {
                128 => "hierarchyid",
                129 => "geometry",
                _ => "geography",
            }),
            Value::Bit(true),
            Value::Bit(true),
            Value::Bit(false),
        ]
    };
    assert_eq!(
        r,
        vec![row("H", 128, 892), row("G", 129, -1), row("Gg", 130, -1)]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, COLLATION_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'Shapes' AND ORDINAL_POSITION > 1 ORDER BY ORDINAL_POSITION"
        ),
        vec![
            vec![text("H"), text("hierarchyid"), Value::Int(892), Value::Int(892), Value::Null, Value::Null],
            vec![text("G"), text("geometry"), Value::Int(-1), Value::Int(-1), Value::Null, Value::Null],
            vec![text("Gg"), text("geography"), Value::Int(-1), Value::Int(-1), Value::Null, Value::Null],
        ]
    );
    assert_eq!(
        rows(
            &mut s,
            "SELECT name, system_type_id, max_length, is_assembly_type FROM sys.types WHERE user_type_id IN (128, 129, 130) ORDER BY user_type_id"
        ),
        vec![
            vec![text("hierarchyid"), Value::TinyInt(240), Value::SmallInt(892), Value::Bit(true)],
            vec![text("geometry"), Value::TinyInt(240), Value::SmallInt(-1), Value::Bit(true)],
            vec![text("geography"), Value::TinyInt(240), Value::SmallInt(-1), Value::Bit(true)],
        ]
    );
    assert_eq!(one(&mut s, "SELECT TYPE_NAME(129)"), text("geometry"));
}

#[test]
fn clr_conversions_fail_as_in_sql_server() {
    let (_e, mut s) = shapes();
    let clash = |s: &mut Session, sql: &str, msg: &str| {
        let e = error(s, sql);
        assert_eq!(
            (e.number, e.class, e.message.as_str()),
            (206, 16, msg),
            "{sql}"
        );
    };
    clash(
        &mut s,
        "INSERT INTO dbo.Shapes (Id, G) VALUES (10, 1)",
        "Operand type clash: int is incompatible with geometry",
    );
    clash(
        &mut s,
        "INSERT INTO dbo.Shapes (Id, H) VALUES (10, GETDATE())",
        "Operand type clash: datetime is incompatible with hierarchyid",
    );
    clash(
        &mut s,
        "UPDATE dbo.Shapes SET Gg = G",
        "Operand type clash: geometry is incompatible with geography",
    );
    clash(
        &mut s,
        "INSERT INTO dbo.Shapes (Id, Gg) SELECT Id, H FROM dbo.Shapes",
        "Operand type clash: hierarchyid is incompatible with geography",
    );
    let e = error(&mut s, "SELECT CAST(1 AS geometry)");
    assert_eq!(e.number, 529);
    assert_eq!(
        e.message,
        "Explicit conversion from data type int to geometry is not allowed."
    );
    let e = error(&mut s, "SELECT CAST(G AS int) FROM dbo.Shapes");
    assert_eq!(
        (e.number, e.message.as_str()),
        (
            529,
            "Explicit conversion from data type geometry to int is not allowed."
        )
    );
    let e = error(&mut s, "SELECT CAST(H AS geography) FROM dbo.Shapes");
    assert_eq!(e.number, 529);
    // Bytes that are not a serialized value fail in the type's deserializer.
    for sql in [
        "INSERT INTO dbo.Shapes (Id, G) VALUES (10, 0x01)",
        "INSERT INTO dbo.Shapes (Id, G) VALUES (10, 0x00000000010C000000000000F03F)",
        "INSERT INTO dbo.Shapes (Id, Gg) VALUES (10, 0x00000000010C000000000000F03F0000000000000040)",
        "INSERT INTO dbo.Shapes (Id, H) VALUES (10, 0x00)",
        "INSERT INTO dbo.Shapes (Id, H) VALUES (10, 0x50)",
    ] {
        let e = error(&mut s, sql);
        assert_eq!((e.number, e.class), (6522, 16), "{sql}: {}", e.message);
    }
    assert!(
        error(&mut s, "INSERT INTO dbo.Shapes (Id, H) VALUES (10, 0x00)")
            .message
            .contains("\"hierarchyid\"")
    );
    // Nothing of the failed statements was stored.
    assert_eq!(
        one(&mut s, "SELECT COUNT(*) FROM dbo.Shapes"),
        Value::Int(2)
    );
    // Width is not allowed on these types.
    let e = error(&mut s, "CREATE TABLE dbo.W (G geometry(10))");
    assert_eq!(e.number, 2716);
}

#[test]
fn clr_operations_not_implemented_are_refused_with_40517() {
    let (_e, mut s) = shapes();
    for sql in [
        // Uncast CLR columns go out as TDS UDTTYPE.
        "SELECT Id, H FROM dbo.Shapes",
        "SELECT * FROM dbo.Shapes",
        "SELECT G FROM dbo.Shapes",
        "DECLARE @g geography = 0xE6100000010C0000000000004A400000000000003440; SELECT @g",
        // Parse / ToString of the text forms.
        "INSERT INTO dbo.Shapes (Id, H) VALUES (10, '/1/')",
        "SELECT CAST(G AS nvarchar(max)) FROM dbo.Shapes",
        "SELECT CAST('POINT(1 2)' AS geometry)",
        // Comparison, ordering, grouping, functions.
        "SELECT Id FROM dbo.Shapes WHERE H = 0x58",
        "SELECT Id FROM dbo.Shapes ORDER BY H",
        "SELECT COUNT(*) FROM dbo.Shapes GROUP BY H",
        "SELECT DISTINCT CAST(Id AS int), H FROM dbo.Shapes",
        "SELECT MAX(H) FROM dbo.Shapes",
        "SELECT ISNULL(H, 0x) FROM dbo.Shapes",
        "SELECT DATALENGTH(G) FROM dbo.Shapes",
        "SELECT geometry::Point(1, 2, 0)",
        "CREATE TABLE dbo.K (H hierarchyid NOT NULL PRIMARY KEY)",
    ] {
        let e = error(&mut s, sql);
        assert_eq!((e.number, e.class), (40517, 16), "{sql}: {}", e.message);
    }
    let e = error(&mut s, "SELECT G FROM dbo.Shapes");
    assert!(
        e.message.contains("geometry") && e.message.contains("UDTTYPE"),
        "{}",
        e.message
    );
    // geometry and geography cannot be index keys at all.
    let e = error(
        &mut s,
        "CREATE TABLE dbo.K (G geometry NOT NULL PRIMARY KEY)",
    );
    assert_eq!(e.number, 1919);
}

#[test]
fn min_active_rowversion_stays_below_open_transactions_and_a_disconnect_rolls_back() {
    let e = engine();
    let mut a = session(&e);
    let mut b = session(&e);
    ok(
        &mut a,
        "CREATE TABLE dbo.Rv (k int PRIMARY KEY, rv rowversion)",
    );
    ok(&mut a, "INSERT INTO dbo.Rv (k) VALUES (1)");
    let first = one(&mut a, "SELECT rv FROM dbo.Rv WHERE k = 1");
    let dbts = one(&mut a, "SELECT @@DBTS");
    assert_eq!(dbts, first, "@@DBTS is the last rowversion taken");
    let bytes = |v: &Value| match v {
        Value::Bytes(b) => u64::from_be_bytes(b.as_ref().try_into().unwrap()),
        other => panic!("{other:?}"),
    };
    // No open transaction: the next rowversion.
    assert_eq!(
        bytes(&one(&mut b, "SELECT MIN_ACTIVE_ROWVERSION()")),
        bytes(&first) + 1
    );
    // b opens a transaction and takes a rowversion; a commits one after it.
    ok(&mut b, "BEGIN TRAN");
    ok(&mut b, "INSERT INTO dbo.Rv (k) VALUES (2)");
    let open = bytes(&one(&mut b, "SELECT rv FROM dbo.Rv WHERE k = 2"));
    ok(&mut a, "INSERT INTO dbo.Rv (k) VALUES (3)");
    assert_eq!(bytes(&one(&mut a, "SELECT MIN_ACTIVE_ROWVERSION()")), open);
    // What a watermark reads: committed rows below it only.
    assert_eq!(
        one(
            &mut a,
            "SELECT CONVERT(nvarchar(40), MAX(rv), 1) FROM dbo.Rv WHERE rv < MIN_ACTIVE_ROWVERSION()"
        ),
        text(&format!("0x{:016X}", bytes(&first)))
    );
    ok(&mut b, "COMMIT");
    assert!(bytes(&one(&mut a, "SELECT MIN_ACTIVE_ROWVERSION()")) > open + 1);
    // A session that disconnects inside a transaction is rolled back, and holds nothing.
    ok(&mut b, "BEGIN TRAN");
    ok(&mut b, "UPDATE dbo.Rv SET k = 20 WHERE k = 2");
    assert!(
        bytes(&one(&mut a, "SELECT MIN_ACTIVE_ROWVERSION()"))
            <= bytes(&one(&mut a, "SELECT @@DBTS"))
    );
    drop(b);
    assert_eq!(
        one(&mut a, "SELECT COUNT(*) FROM dbo.Rv WHERE k = 2"),
        Value::Int(1)
    );
    assert_eq!(
        bytes(&one(&mut a, "SELECT MIN_ACTIVE_ROWVERSION()")),
        bytes(&one(&mut a, "SELECT @@DBTS")) + 1
    );
    assert_eq!(error(&mut a, "SELECT MIN_ACTIVE_ROWVERSION(1)").number, 174);
}

#[test]
fn watermark_texts_round_trip_through_convert_styles() {
    let e = engine();
    let mut s = session(&e);
    ok(
        &mut s,
        "CREATE TABLE dbo.W (k int PRIMARY KEY, d datetime, d2 datetime2(7), dd date)",
    );
    ok(&mut s, "INSERT INTO dbo.W VALUES (1, '2010-01-01T10:00:00.003', '2010-01-01T10:00:00.1234567', '2010-01-01'), (2, '2010-01-01T10:00:00', '2010-01-01T10:00:00.1234568', '2010-01-02')");
    assert_eq!(
        one(
            &mut s,
            "SELECT CONVERT(nvarchar(40), MAX(d), 126) FROM dbo.W"
        ),
        text("2010-01-01T10:00:00.003")
    );
    assert_eq!(
        one(
            &mut s,
            "SELECT CONVERT(nvarchar(40), MAX(d2), 126) FROM dbo.W"
        ),
        text("2010-01-01T10:00:00.1234568")
    );
    assert_eq!(
        one(
            &mut s,
            "SELECT CONVERT(nvarchar(40), MAX(dd), 126) FROM dbo.W"
        ),
        text("2010-01-02")
    );
    // The text converts back to the same value: strictly-greater excludes the row itself.
    assert_eq!(one(&mut s, "SELECT COUNT(*) FROM dbo.W WHERE d > CONVERT(datetime, N'2010-01-01T10:00:00.003', 126)"), Value::Int(0));
    assert_eq!(one(&mut s, "SELECT COUNT(*) FROM dbo.W WHERE d2 > CONVERT(datetime2(7), N'2010-01-01T10:00:00.1234567', 126)"), Value::Int(1));
    assert_eq!(
        one(
            &mut s,
            "SELECT COUNT(*) FROM dbo.W WHERE dd > CONVERT(date, N'2010-01-01', 126)"
        ),
        Value::Int(1)
    );
    // datetime takes at most 3 fractional digits, as in SQL Server.
    assert_eq!(
        error(
            &mut s,
            "SELECT CONVERT(datetime, N'2010-01-01T10:00:00.0033333', 126)"
        )
        .number,
        241
    );
}
