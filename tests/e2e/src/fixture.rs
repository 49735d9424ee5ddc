//! A source for pull tests: tables declared in Rust, served by the TDS test server's wire side
//! through its `Backend` interface. It answers exactly the statements pgmig sends for a pull
//! (`SELECT @@VERSION`; the column description through `sp_executesql`; the data SELECT with
//! its column list, CASTs, key order and simple `column <op> integer` conditions) and refuses
//! everything else with SQL Server's errors (102, 208). It stands in for the test server's SQL
//! engine, which is not complete yet (see README, "The TDS test server").
//!
//! Rows are produced lazily by a function per table, so a table of millions of rows costs no
//! memory.

use pgmig_tds_server::server::{Backend, BackendSession};
use pgmig_tds_server::types::{
    Collation, Column, ResultSet, RowSource, RpcParam, SqlError, SqlType, StatementOutcome, Value,
};
use pgmig_tds_server::{RunningServer, Server, ServerConfig};
use std::sync::Arc;

/// Makes a table's rows, in key order, each time the table is read.
pub type RowMaker = Arc<dyn Fn() -> Box<dyn Iterator<Item = Vec<Value>> + Send> + Send + Sync>;

#[derive(Clone)]
pub struct FixtureColumn {
    pub name: String,
    pub sql_type: SqlType,
    pub nullable: bool,
    pub identity: bool,
    /// Position in the primary key, from 1.
    pub key: Option<u8>,
}

/// `name type NULL`.
pub fn column(name: &str, sql_type: SqlType) -> FixtureColumn {
    FixtureColumn {
        name: name.into(),
        sql_type,
        nullable: true,
        identity: false,
        key: None,
    }
}

/// `name type NOT NULL PRIMARY KEY` (one-column key), optionally IDENTITY.
pub fn key_column(name: &str, sql_type: SqlType, identity: bool) -> FixtureColumn {
    FixtureColumn {
        name: name.into(),
        sql_type,
        nullable: false,
        identity,
        key: Some(1),
    }
}

pub fn not_null(mut column: FixtureColumn) -> FixtureColumn {
    column.nullable = false;
    column
}

#[derive(Clone)]
pub struct FixtureTable {
    pub schema: String,
    pub name: String,
    pub columns: Vec<FixtureColumn>,
    pub rows: RowMaker,
}

impl FixtureTable {
    /// A table with fixed rows.
    pub fn new(name: &str, columns: Vec<FixtureColumn>, rows: Vec<Vec<Value>>) -> FixtureTable {
        let rows = Arc::new(rows);
        FixtureTable {
            schema: "dbo".into(),
            name: name.into(),
            columns,
            rows: Arc::new(move || {
                let rows = rows.clone();
                Box::new((0..rows.len()).map(move |i| rows[i].clone()))
            }),
        }
    }

    /// A table whose rows a function makes.
    pub fn generated(name: &str, columns: Vec<FixtureColumn>, rows: RowMaker) -> FixtureTable {
        FixtureTable {
            schema: "dbo".into(),
            name: name.into(),
            columns,
            rows,
        }
    }
}

pub const COLLATION: Collation = Collation::SQL_LATIN1_GENERAL_CP1_CI_AS;

pub fn nvarchar(len: Option<u16>) -> SqlType {
    SqlType::NVarChar {
        len,
        collation: COLLATION,
    }
}

pub fn text(value: &str) -> Value {
    Value::Str(Arc::from(value))
}

/// Starts the TDS test server serving `tables` in database `shop`.
pub fn start_fixture(tables: Vec<FixtureTable>) -> RunningServer {
    Server::start_with_backend(
        ServerConfig {
            listen: "127.0.0.1:0".parse().expect("loopback address"),
            user: crate::TDS_USER.into(),
            password: crate::TDS_PASSWORD.into(),
            ..ServerConfig::default()
        },
        Arc::new(Fixture::new(tables)),
    )
    .expect("start the TDS test server")
}

/// The backend; [`start_fixture`] starts a server with one.
pub struct Fixture {
    tables: Arc<Vec<FixtureTable>>,
}

impl Fixture {
    pub fn new(tables: Vec<FixtureTable>) -> Fixture {
        Fixture {
            tables: Arc::new(tables),
        }
    }
}

struct FixtureSession {
    tables: Arc<Vec<FixtureTable>>,
}

impl Backend for Fixture {
    fn open_session(
        &self,
        _login: &str,
        _database: Option<&str>,
    ) -> Result<Box<dyn BackendSession>, SqlError> {
        Ok(Box::new(FixtureSession {
            tables: self.tables.clone(),
        }))
    }
}

fn syntax_error(near: &str) -> StatementOutcome {
    StatementOutcome::Error(SqlError::new(
        102,
        1,
        15,
        format!("Incorrect syntax near '{near}'."),
    ))
}

impl BackendSession for FixtureSession {
    fn database(&self) -> &str {
        "shop"
    }

    fn execute_batch(&mut self, sql: &str) -> Vec<StatementOutcome> {
        if sql.trim().eq_ignore_ascii_case("SELECT @@VERSION") {
            let columns = vec![result_column("", nvarchar(Some(300)), true)];
            let rows = vec![vec![text(
                "Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64)",
            )]];
            return vec![StatementOutcome::Rows(ResultSet {
                columns,
                rows: RowSource::Values(Box::new(rows.into_iter())),
            })];
        }
        vec![self.select(sql)]
    }

    fn execute_rpc(&mut self, proc_name: &str, params: Vec<RpcParam>) -> Vec<StatementOutcome> {
        let statement = match params.first().map(|p| &p.value) {
            Some(Value::Str(s)) if proc_name.eq_ignore_ascii_case("sp_executesql") => s.clone(),
            _ => {
                return vec![StatementOutcome::Error(SqlError::new(
                    2812,
                    62,
                    16,
                    format!("Could not find stored procedure '{proc_name}'."),
                ))]
            }
        };
        if statement.contains("FROM sys.columns AS c") {
            let param = |name: &str| {
                params
                    .iter()
                    .find_map(|p| match (&p.value, p.name == name) {
                        (Value::Str(s), true) => Some(s.to_string()),
                        _ => None,
                    })
            };
            let (Some(schema), Some(table)) = (param("@P1"), param("@P2")) else {
                return vec![StatementOutcome::Error(SqlError::new(
                    137,
                    2,
                    15,
                    "Must declare the scalar variable \"@P1\".",
                ))];
            };
            return vec![self.describe(&schema, &table)];
        }
        self.execute_batch(&statement)
    }
}

fn result_column(name: &str, sql_type: SqlType, nullable: bool) -> Column {
    Column {
        name: name.into(),
        sql_type,
        nullable,
        identity: false,
        computed: false,
    }
}

/// (type name, max_length, precision, scale) as sys.columns shows them.
fn catalog_facts(t: &SqlType) -> (&'static str, i16, u8, u8) {
    let bytes = |len: Option<u16>, per_char: i16| len.map_or(-1, |l| l as i16 * per_char);
    match t {
        SqlType::Bit => ("bit", 1, 1, 0),
        SqlType::TinyInt => ("tinyint", 1, 3, 0),
        SqlType::SmallInt => ("smallint", 2, 5, 0),
        SqlType::Int => ("int", 4, 10, 0),
        SqlType::BigInt => ("bigint", 8, 19, 0),
        SqlType::Decimal {
            precision,
            scale,
            numeric,
        } => {
            let len = match precision {
                1..=9 => 5,
                10..=19 => 9,
                20..=28 => 13,
                _ => 17,
            };
            (
                if *numeric { "numeric" } else { "decimal" },
                len,
                *precision,
                *scale,
            )
        }
        SqlType::Money => ("money", 8, 19, 4),
        SqlType::SmallMoney => ("smallmoney", 4, 10, 4),
        SqlType::Real => ("real", 4, 24, 0),
        SqlType::Float => ("float", 8, 53, 0),
        SqlType::Date => ("date", 3, 10, 0),
        SqlType::Time { scale } => (
            "time",
            if *scale <= 2 {
                3
            } else if *scale <= 4 {
                4
            } else {
                5
            },
            8 + scale + u8::from(*scale > 0),
            *scale,
        ),
        SqlType::SmallDateTime => ("smalldatetime", 4, 16, 0),
        SqlType::DateTime => ("datetime", 8, 23, 3),
        SqlType::DateTime2 { scale } => (
            "datetime2",
            if *scale <= 2 {
                6
            } else if *scale <= 4 {
                7
            } else {
                8
            },
            19 + scale + u8::from(*scale > 0),
            *scale,
        ),
        SqlType::DateTimeOffset { scale } => (
            "datetimeoffset",
            if *scale <= 2 {
                8
            } else if *scale <= 4 {
                9
            } else {
                10
            },
            26 + scale + u8::from(*scale > 0),
            *scale,
        ),
        SqlType::Char { len, .. } => ("char", *len as i16, 0, 0),
        SqlType::VarChar { len, .. } => ("varchar", bytes(*len, 1), 0, 0),
        SqlType::Text { .. } => ("text", 16, 0, 0),
        SqlType::NChar { len, .. } => ("nchar", *len as i16 * 2, 0, 0),
        SqlType::NVarChar { len, .. } => ("nvarchar", bytes(*len, 2), 0, 0),
        SqlType::NText { .. } => ("ntext", 16, 0, 0),
        SqlType::Binary { len } => ("binary", *len as i16, 0, 0),
        SqlType::VarBinary { len } => ("varbinary", bytes(*len, 1), 0, 0),
        SqlType::Image => ("image", 16, 0, 0),
        SqlType::UniqueIdentifier => ("uniqueidentifier", 16, 0, 0),
        SqlType::Xml => ("xml", -1, 0, 0),
        SqlType::RowVersion => ("timestamp", 8, 0, 0),
        SqlType::SqlVariant => ("sql_variant", 8016, 0, 0),
    }
}

fn is_character(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::Char { .. }
            | SqlType::VarChar { .. }
            | SqlType::Text { .. }
            | SqlType::NChar { .. }
            | SqlType::NVarChar { .. }
            | SqlType::NText { .. }
    )
}

/// Splits `a, CAST(b AS decimal(19,4)) AS [b]` at the top-level commas.
fn split_items(list: &str) -> Vec<String> {
    let (mut items, mut depth, mut bracket, mut current) = (Vec::new(), 0, false, String::new());
    for c in list.chars() {
        match c {
            '[' => bracket = true,
            ']' => bracket = false,
            '(' if !bracket => depth += 1,
            ')' if !bracket => depth -= 1,
            ',' if !bracket && depth == 0 => {
                items.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current.trim().to_string());
    items
}

/// `[a]]b]` to `a]b`.
fn unbracket(name: &str) -> String {
    let name = name.trim();
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(inner) => inner.replace("]]", "]"),
        None => name.to_string(),
    }
}

/// `[a].[b]]c]` to `["a", "b]c"]`.
fn bracketed_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c != '[' {
            continue;
        }
        let mut name = String::new();
        while let Some(c) = chars.next() {
            if c == ']' {
                if chars.peek() == Some(&']') {
                    chars.next();
                    name.push(']');
                } else {
                    break;
                }
            } else {
                name.push(c);
            }
        }
        names.push(name);
    }
    names
}

/// One `column <op> integer` condition.
struct Condition {
    column: usize,
    op: String,
    value: i64,
}

impl Condition {
    fn holds(&self, row: &[Value]) -> bool {
        let v = match &row[self.column] {
            Value::TinyInt(v) => i64::from(*v),
            Value::SmallInt(v) => i64::from(*v),
            Value::Int(v) => i64::from(*v),
            Value::BigInt(v) => *v,
            _ => return false,
        };
        match self.op.as_str() {
            "=" => v == self.value,
            "<" => v < self.value,
            "<=" => v <= self.value,
            ">" => v > self.value,
            ">=" => v >= self.value,
            "<>" => v != self.value,
            _ => false,
        }
    }
}

impl FixtureSession {
    fn table(&self, schema: &str, name: &str) -> Option<&FixtureTable> {
        self.tables
            .iter()
            .find(|t| t.schema.eq_ignore_ascii_case(schema) && t.name.eq_ignore_ascii_case(name))
    }

    fn describe(&self, schema: &str, table: &str) -> StatementOutcome {
        let sysname = nvarchar(Some(128));
        let columns = vec![
            result_column("column_name", sysname.clone(), false),
            result_column("type_name", sysname.clone(), false),
            result_column("base_type_name", sysname.clone(), true),
            result_column("max_length", SqlType::SmallInt, false),
            result_column("precision", SqlType::TinyInt, false),
            result_column("scale", SqlType::TinyInt, false),
            result_column("is_nullable", SqlType::Bit, true),
            result_column("is_identity", SqlType::Bit, false),
            result_column("is_computed", SqlType::Bit, false),
            result_column("collation_name", sysname, true),
            result_column("primary_key_ordinal", SqlType::TinyInt, true),
        ];
        let rows: Vec<Vec<Value>> = self
            .table(schema, table)
            .map(|t| {
                t.columns
                    .iter()
                    .map(|c| {
                        let (type_name, max_length, precision, scale) = catalog_facts(&c.sql_type);
                        vec![
                            text(&c.name),
                            text(type_name),
                            text(type_name),
                            Value::SmallInt(max_length),
                            Value::TinyInt(precision),
                            Value::TinyInt(scale),
                            Value::Bit(c.nullable),
                            Value::Bit(c.identity),
                            Value::Bit(false),
                            if is_character(&c.sql_type) {
                                text(COLLATION.name)
                            } else {
                                Value::Null
                            },
                            c.key.map_or(Value::Null, Value::TinyInt),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        StatementOutcome::Rows(ResultSet {
            columns,
            rows: RowSource::Values(Box::new(rows.into_iter())),
        })
    }

    /// `SELECT items FROM [s].[t] [WHERE conditions] [ORDER BY key]`.
    fn select(&self, sql: &str) -> StatementOutcome {
        let sql = sql.trim();
        let Some(rest) = sql.strip_prefix("SELECT ") else {
            return syntax_error(sql.split_whitespace().next().unwrap_or(""));
        };
        let Some(from_at) = rest.find(" FROM ") else {
            return syntax_error("FROM");
        };
        let (items, after) = (&rest[..from_at], &rest[from_at + 6..]);
        let (source, clauses) = match after.find(" WHERE ").or_else(|| after.find(" ORDER BY ")) {
            Some(at) => (&after[..at], &after[at..]),
            None => (after, ""),
        };
        let (schema, name) = match bracketed_names(source).as_slice() {
            [schema, name] => (schema.clone(), name.clone()),
            _ => return syntax_error(source),
        };
        let Some(table) = self.table(&schema, &name) else {
            return StatementOutcome::Error(SqlError::new(
                208,
                1,
                16,
                format!("Invalid object name '{schema}.{name}'."),
            ));
        };
        // Column list: positions in the table, and money CAST to decimal.
        let mut positions = Vec::new();
        let mut columns = Vec::new();
        for item in split_items(items) {
            let (name, cast) = match item.strip_prefix("CAST(") {
                Some(cast) => {
                    let Some(as_at) = cast.find(" AS ") else {
                        return syntax_error("CAST");
                    };
                    (unbracket(&cast[..as_at]), true)
                }
                None => (unbracket(&item), false),
            };
            let Some(at) = table
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(&name))
            else {
                return StatementOutcome::Error(SqlError::new(
                    207,
                    1,
                    16,
                    format!("Invalid column name '{name}'."),
                ));
            };
            let c = &table.columns[at];
            let sql_type = match (&c.sql_type, cast) {
                (SqlType::Money, true) => SqlType::Decimal {
                    precision: 19,
                    scale: 4,
                    numeric: false,
                },
                (SqlType::SmallMoney, true) => SqlType::Decimal {
                    precision: 10,
                    scale: 4,
                    numeric: false,
                },
                (_, true) => return syntax_error("CAST"),
                (t, false) => t.clone(),
            };
            positions.push(at);
            columns.push(Column {
                name: c.name.clone(),
                sql_type,
                nullable: c.nullable,
                identity: c.identity,
                computed: false,
            });
        }
        // WHERE: `[col] op int` or `(\ncol op int\n)` joined by AND; ORDER BY is the key order.
        let mut conditions = Vec::new();
        let where_text = clauses
            .strip_prefix(" WHERE ")
            .map(|w| w.split(" ORDER BY ").next().unwrap_or(""))
            .unwrap_or("");
        for part in where_text.split(" AND ").filter(|p| !p.trim().is_empty()) {
            let part = part
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .trim();
            let words: Vec<&str> = part.split_whitespace().collect();
            let [column, op, value] = words.as_slice() else {
                return syntax_error(part);
            };
            let column = unbracket(column);
            let (Some(at), Ok(value)) = (
                table
                    .columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(&column)),
                value.parse::<i64>(),
            ) else {
                return syntax_error(part);
            };
            conditions.push(Condition {
                column: at,
                op: op.to_string(),
                value,
            });
        }
        let money: Vec<bool> = positions
            .iter()
            .map(|&p| {
                matches!(
                    table.columns[p].sql_type,
                    SqlType::Money | SqlType::SmallMoney
                )
            })
            .collect();
        let rows = (table.rows)()
            .filter(move |row| conditions.iter().all(|c| c.holds(row)))
            .map(move |row| {
                positions
                    .iter()
                    .zip(&money)
                    .map(|(&p, &is_money)| match (&row[p], is_money) {
                        (Value::Money(v), true) => Value::Decimal {
                            value: i128::from(*v),
                            scale: 4,
                        },
                        (v, _) => v.clone(),
                    })
                    .collect()
            });
        StatementOutcome::Rows(ResultSet {
            columns,
            rows: RowSource::Values(Box::new(rows)),
        })
    }
}

/// A StackOverflow-like dbo.Posts of `rows` rows with ~1 KB bodies, made row by row.
pub fn posts(rows: i32) -> FixtureTable {
    let body: Arc<str> = Arc::from("Lorem ipsum dolor sit amet, ".repeat(37).as_str());
    FixtureTable::generated(
        "Posts",
        vec![
            key_column("Id", SqlType::Int, true),
            column("Title", nvarchar(Some(250))),
            not_null(column("Body", nvarchar(None))),
            not_null(column("CreationDate", SqlType::DateTime)),
        ],
        Arc::new(move || {
            let body = body.clone();
            Box::new((1..=rows).map(move |id| {
                vec![
                    Value::Int(id),
                    if id % 5 == 0 {
                        Value::Null
                    } else {
                        text(&format!("Question {id}"))
                    },
                    Value::Str(body.clone()),
                    Value::DateTime {
                        days: 40_000 + id % 3000,
                        ticks_300: (id as u32 * 7) % 25_920_000,
                    },
                ]
            }))
        }),
    )
}

/// A narrow dbo.Votes of `rows` rows, made row by row.
pub fn votes(rows: i32) -> FixtureTable {
    FixtureTable::generated(
        "Votes",
        vec![
            key_column("Id", SqlType::Int, true),
            not_null(column("PostId", SqlType::Int)),
            column("UserId", SqlType::Int),
            column("BountyAmount", SqlType::Int),
            not_null(column("VoteTypeId", SqlType::Int)),
            not_null(column("CreationDate", SqlType::DateTime)),
        ],
        Arc::new(move || {
            Box::new((1..=rows).map(|id| {
                vec![
                    Value::Int(id),
                    Value::Int(id / 3 + 1),
                    if id % 4 == 0 {
                        Value::Null
                    } else {
                        Value::Int(id % 50_000)
                    },
                    if id % 100 == 0 {
                        Value::Int(50)
                    } else {
                        Value::Null
                    },
                    Value::Int(id % 15 + 1),
                    Value::DateTime {
                        days: 40_000 + id % 3000,
                        ticks_300: 0,
                    },
                ]
            }))
        }),
    )
}
