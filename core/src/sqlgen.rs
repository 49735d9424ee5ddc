//! SQL text pgmig sends: the T-SQL that reads a table and describes its columns, and the
//! PostgreSQL DDL and merge statements on the target. Every name is quoted for its side; values
//! are bound as parameters or rendered from integers; the only user text pasted in is `filter`,
//! documented as a T-SQL search condition that SQL Server evaluates under the mapped login's
//! rights ([`check_filter`] only makes sure it cannot escape its parentheses).

use std::fmt;

use crate::compare::TargetLookup;
use crate::copy_binary::uuid_text;
use crate::ident::{quote_pg, quote_pg_qualified, quote_tsql, quote_tsql_qualified};
use crate::typemap::{column_ddl, PgType};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlGenError {
    /// A filter that is empty, unbalanced, unterminated, or holds a `;` (detail says which).
    InvalidFilter { detail: String },
    /// A SELECT without columns, an upsert without a key, a key column not among the columns.
    InvalidShape { detail: String },
}

impl fmt::Display for SqlGenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlGenError::InvalidFilter { detail } => write!(f, "invalid filter: {detail}"),
            SqlGenError::InvalidShape { detail } => f.write_str(detail),
        }
    }
}

impl std::error::Error for SqlGenError {}

/// One end of a key range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBound {
    /// Rendered as a T-SQL integer literal.
    Literal(i64),
    /// Rendered as `@P<n>` (tiberius binds `@P1`, `@P2`, ... through `sp_executesql`).
    Parameter(u16),
}

impl fmt::Display for KeyBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyBound::Literal(value) => write!(f, "{value}"),
            KeyBound::Parameter(n) => write!(f, "@P{n}"),
        }
    }
}

/// `column >= from AND column < to` (either end optional): half-open, so adjacent chunks
/// neither overlap nor leave gaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub column: String,
    pub from: Option<KeyBound>,
    pub to: Option<KeyBound>,
}

/// One column of a pull's SELECT: the name, and the type SQL Server converts it to when
/// the client cannot read the column's own type exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectColumn {
    pub name: String,
    /// A T-SQL type to `CAST` to (e.g. `decimal(19,4)` for money, whose TDS value tiberius
    /// would only give as a float).
    pub cast_to: Option<&'static str>,
}

impl SelectColumn {
    pub fn plain(name: &str) -> SelectColumn {
        SelectColumn {
            name: name.to_string(),
            cast_to: None,
        }
    }

    /// `[name]` or `CAST([name] AS type) AS [name]`.
    pub fn to_tsql(&self) -> String {
        let quoted = quote_tsql(&self.name);
        match self.cast_to {
            Some(cast_to) => format!("CAST({quoted} AS {cast_to}) AS {quoted}"),
            None => quoted,
        }
    }
}

/// What a pull reads from SQL Server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullQuery<'a> {
    pub schema: &'a str,
    pub table: &'a str,
    /// The columns to read, computed columns included.
    pub columns: &'a [SelectColumn],
    /// Key columns to order by (none: no ORDER BY).
    pub order_by: &'a [String],
    pub range: Option<KeyRange>,
    pub filter: Option<&'a str>,
    /// A condition pgmig built (the watermark range of an incremental sync), pasted as is.
    pub condition: Option<&'a str>,
}

/// The T-SQL SELECT for a pull. No `NOLOCK`: dirty reads can skip or repeat rows.
pub fn tsql_pull_select(query: &PullQuery<'_>) -> Result<String, SqlGenError> {
    if query.columns.is_empty() {
        return Err(SqlGenError::InvalidShape {
            detail: "no columns to select".into(),
        });
    }
    let columns: Vec<String> = query.columns.iter().map(SelectColumn::to_tsql).collect();
    let mut sql = format!(
        "SELECT {} FROM {}",
        columns.join(", "),
        quote_tsql_qualified(query.schema, query.table)
    );
    let mut conditions: Vec<String> = Vec::new();
    if let Some(range) = &query.range {
        let column = quote_tsql(&range.column);
        if let Some(from) = range.from {
            conditions.push(format!("{column} >= {from}"));
        }
        if let Some(to) = range.to {
            conditions.push(format!("{column} < {to}"));
        }
    }
    if let Some(filter) = query.filter {
        check_filter(filter)?;
        // On lines of its own, so a trailing `--` comment cannot swallow the closing parenthesis.
        conditions.push(format!("(\n{filter}\n)"));
    }
    if let Some(condition) = query.condition {
        conditions.push(format!("({condition})"));
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    if !query.order_by.is_empty() {
        let keys: Vec<String> = query.order_by.iter().map(|c| quote_tsql(c)).collect();
        sql.push_str(" ORDER BY ");
        sql.push_str(&keys.join(", "));
    }
    Ok(sql)
}

/// Checks that `filter` is one T-SQL search condition that stays inside the parentheses pgmig
/// wraps it in: parentheses balanced outside strings, quoted names and comments; no string,
/// quoted name or comment left open; no `;`; not empty. Not a security boundary (the filter
/// runs with the login's own rights), a guard against a filter that silently drops pgmig's own
/// key-range condition (`1=1) OR (1=1`).
pub fn check_filter(filter: &str) -> Result<(), SqlGenError> {
    let invalid = |detail: &str| {
        Err(SqlGenError::InvalidFilter {
            detail: detail.to_string(),
        })
    };
    let chars: Vec<char> = filter.chars().collect();
    let mut depth = 0usize;
    let mut has_content = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\'' | '[' | '"' => {
                let close = if c == '[' { ']' } else { c };
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return invalid(match c {
                                '\'' => "unterminated string literal",
                                _ => "unterminated quoted identifier",
                            })
                        }
                        Some(&d) if d == close => {
                            if chars.get(i + 1) == Some(&close) {
                                i += 2;
                            } else {
                                break;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
                has_content = true;
            }
            '-' if next == Some('-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                // T-SQL block comments nest.
                let mut nesting = 1;
                i += 2;
                while nesting > 0 {
                    match (chars.get(i), chars.get(i + 1)) {
                        (None, _) => return invalid("unterminated /* comment"),
                        (Some('/'), Some('*')) => {
                            nesting += 1;
                            i += 2;
                        }
                        (Some('*'), Some('/')) => {
                            nesting -= 1;
                            i += 2;
                        }
                        _ => i += 1,
                    }
                }
                continue;
            }
            '(' => {
                depth += 1;
                has_content = true;
            }
            ')' => {
                if depth == 0 {
                    return invalid("a ')' closes a parenthesis the filter did not open");
                }
                depth -= 1;
            }
            ';' => return invalid("';' is not allowed: the filter is one search condition"),
            c if c.is_whitespace() => {}
            _ => has_content = true,
        }
        i += 1;
    }
    if depth != 0 {
        return invalid("unbalanced parentheses");
    }
    if !has_content {
        return invalid("the filter is empty");
    }
    Ok(())
}

/// Describes one table's or view's columns, in column order; `@P1` is the schema name, `@P2`
/// the table name. Columns: column_name, type_name (declared type), base_type_name (system type
/// underneath; NULL for CLR types), max_length, precision, scale, is_nullable, is_identity,
/// is_computed, collation_name, primary_key_ordinal (NULL outside the primary key). Plain joins
/// only, runs on SQL Server 2012 and later.
pub const TSQL_DESCRIBE_COLUMNS: &str = "\
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

/// A column of a PostgreSQL table pgmig creates or loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgColumn {
    pub name: String,
    pub pg_type: PgType,
    pub not_null: bool,
    pub identity: bool,
}

/// `CREATE TABLE "schema"."table" (columns..., PRIMARY KEY (...))`.
pub fn pg_create_table(
    schema: &str,
    table: &str,
    columns: &[PgColumn],
    primary_key: &[String],
) -> Result<String, SqlGenError> {
    if columns.is_empty() {
        return Err(SqlGenError::InvalidShape {
            detail: "a table needs at least one column".into(),
        });
    }
    check_key_columns(columns, primary_key)?;
    let mut lines: Vec<String> = columns
        .iter()
        .map(|c| {
            // Key columns are NOT NULL in PostgreSQL anyway; say so in the DDL shown.
            let not_null = c.not_null || primary_key.contains(&c.name);
            format!(
                "    {}",
                column_ddl(&c.name, &c.pg_type, not_null, c.identity)
            )
        })
        .collect();
    if !primary_key.is_empty() {
        lines.push(format!("    PRIMARY KEY ({})", quoted_list(primary_key)));
    }
    Ok(format!(
        "CREATE TABLE {} (\n{}\n)",
        quote_pg_qualified(schema, table),
        lines.join(",\n")
    ))
}

/// `value` (a column of type `pg_type`) as the merge compares it: so that equal means the same
/// value stored, not merely equal by the type's `=`, which would leave some changes unwritten.
/// - Text under a nondeterministic collation: `=` ignores what the collation ignores (a
///   case-insensitive ICU collation takes `iPhone` for `iphone`); under "C" it compares bytes.
/// - Unconstrained numeric: `1.5 = 1.50`, but the scale is part of the value shown; a column
///   with a declared scale stores every value at that scale, where `=` is exact.
/// - Floats: `-0 = 0`; their send format is the bit pattern (NaN payloads aside, which at
///   worst write a row again).
/// - xml has no equality operator: its text.
fn exact_comparand(value: &str, pg_type: &PgType) -> String {
    match pg_type {
        PgType::Text | PgType::Varchar(_) | PgType::Char(_) => {
            format!("({value} COLLATE pg_catalog.\"C\")")
        }
        PgType::Numeric(None) | PgType::Xml => format!("{value}::text"),
        PgType::Real => format!("pg_catalog.float4send({value})"),
        PgType::DoublePrecision => format!("pg_catalog.float8send({value})"),
        _ => value.to_string(),
    }
}

/// The statement that merges staging table `pg_temp.stage` into the target: new keys are
/// inserted, changed rows updated, identical rows left alone (no new row version, no WAL).
/// With only key columns, existing keys are left alone (`DO NOTHING`).
///
/// With `prefilter`, staged rows identical to the target's are first dropped by an anti-join
/// against the target restricted to the batch's key range: `ON CONFLICT ... DO UPDATE ...
/// WHERE` row-locks every conflicting row even when its `WHERE` then skips the update (the lock
/// dirties the page and is WAL-logged). `ON CONFLICT` still decides for the rows that pass, so a
/// key inserted concurrently is updated, not a unique violation. Whether the prefilter pays
/// depends on the row width: see [`upsert_prefilter_pays`]. Without a key column whose type has
/// `min`/`max` there is no range to restrict to, and an unrestricted anti-join hashes the whole
/// target for every batch: then the plain statement is returned either way.
pub fn pg_upsert(
    schema: &str,
    table: &str,
    stage: &str,
    columns: &[PgColumn],
    key: &[String],
    prefilter: bool,
) -> Result<String, SqlGenError> {
    if key.is_empty() {
        return Err(SqlGenError::InvalidShape {
            detail: "upsert needs a key".into(),
        });
    }
    check_key_columns(columns, key)?;
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let column_list = quoted_list(&names);
    let target = quote_pg_qualified(schema, table);
    let stage = format!("pg_temp.{}", quote_pg(stage));
    let others: Vec<&PgColumn> = columns.iter().filter(|c| !key.contains(&c.name)).collect();
    let compared = |prefix: &str| -> String {
        let values: Vec<String> = others
            .iter()
            .map(|c| exact_comparand(&format!("{prefix}.{}", quote_pg(&c.name)), &c.pg_type))
            .collect();
        values.join(", ")
    };
    let ranges: Vec<String> = columns
        .iter()
        .filter(|c| key.contains(&c.name) && has_min_max(&c.pg_type))
        .map(|c| {
            let k = quote_pg(&c.name);
            format!(
                "cur.{k} BETWEEN (SELECT pg_catalog.min({k}) FROM {stage}) \
                 AND (SELECT pg_catalog.max({k}) FROM {stage})"
            )
        })
        .collect();
    let mut sql = format!(
        "INSERT INTO {target} AS t ({column_list}) OVERRIDING SYSTEM VALUE SELECT {column_list} FROM {stage}"
    );
    if others.is_empty() {
        sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", quoted_list(key)));
        return Ok(sql);
    }
    if prefilter && !ranges.is_empty() {
        let same_key: Vec<String> = key
            .iter()
            .map(|k| format!("cur.{0} = s.{0}", quote_pg(k)))
            .collect();
        // A row constructor of one element is just that value; ROW(...) keeps it a row either way.
        sql.push_str(&format!(
            " AS s WHERE NOT EXISTS (SELECT 1 FROM {target} AS cur WHERE {} AND {} \
             AND ROW({}) IS NOT DISTINCT FROM ROW({}))",
            same_key.join(" AND "),
            ranges.join(" AND "),
            compared("cur"),
            compared("s")
        ));
    }
    let sets: Vec<String> = others
        .iter()
        .map(|c| format!("{0} = EXCLUDED.{0}", quote_pg(&c.name)))
        .collect();
    sql.push_str(&format!(
        " ON CONFLICT ({}) DO UPDATE SET {} WHERE ROW({}) IS DISTINCT FROM ROW({})",
        quoted_list(key),
        sets.join(", "),
        compared("t"),
        compared("EXCLUDED")
    ));
    Ok(sql)
}

/// Staged bytes per row (the staging table's size over its rows) below which the upsert
/// prefilter is used. The prefilter's anti-join hashes the target's rows of the batch's key
/// range; once that spills past `work_mem`, writing and reading the spill costs more than the
/// row locks it saves. Measured per 100K-row batch, nothing changed: 60 B/row (votes) 73-81 ms
/// with the prefilter vs 273-331 ms without; 512 B/row 320-357 vs 338-426 ms; 1170 B/row
/// (posts) 505-510 vs 306-519 ms.
pub const UPSERT_PREFILTER_MAX_ROW_BYTES: u64 = 512;

/// Whether a batch of `rows` rows taking `stage_bytes` in the staging table is merged with the
/// prefilter of [`pg_upsert`]: when the batch fits in `work_mem` (the anti-join's hash of the
/// target's matching rows, about as large, does not spill), or when its rows are narrow.
pub fn upsert_prefilter_pays(stage_bytes: u64, rows: u64, work_mem_bytes: u64) -> bool {
    rows > 0
        && (stage_bytes <= work_mem_bytes || stage_bytes / rows < UPSERT_PREFILTER_MAX_ROW_BYTES)
}

/// The target's rows of one comparison window (see [`crate::compare`]): `columns` in the order
/// the COPY stream carries them, in key order, at most `limit` rows; for integer keys from `low`
/// to `high` inclusive, or (one-column keys) those of a list. A key of several columns compares
/// as a row, which a btree index on them answers in order; a row comparison can hold with a
/// NULL in a later column, so those are left out explicitly.
pub fn pg_compare_select(
    schema: &str,
    table: &str,
    columns: &[String],
    key: &[String],
    lookup: &TargetLookup,
    limit: usize,
) -> Result<String, SqlGenError> {
    let shape_error = || SqlGenError::InvalidShape {
        detail: "a comparison window needs one bound per key column".into(),
    };
    if key.is_empty() {
        return Err(shape_error());
    }
    let numbers = |values: &[i64], separator: &str| -> String {
        let list: Vec<String> = values.iter().map(i64::to_string).collect();
        list.join(separator)
    };
    let keys = quoted_list(key);
    let condition = match lookup {
        TargetLookup::Range { low, high } if low.len() != key.len() || high.len() != key.len() => {
            return Err(shape_error())
        }
        TargetLookup::Range { low, high } if key.len() == 1 => {
            format!("{keys} BETWEEN {} AND {}", low[0], high[0])
        }
        TargetLookup::Range { low, high } => {
            let not_null: Vec<String> = key
                .iter()
                .map(|k| format!(" AND {} IS NOT NULL", quote_pg(k)))
                .collect();
            format!(
                "({keys}) >= ({}) AND ({keys}) <= ({}){}",
                numbers(low, ", "),
                numbers(high, ", "),
                not_null.concat()
            )
        }
        // An int2/int4 column against int8 values: btree's integer_ops answers the cross-type
        // `= ANY` from the key's index.
        TargetLookup::Integers(values) if key.len() == 1 && !values.is_empty() => format!(
            "{keys} = ANY ('{{{}}}'::pg_catalog.int8[])",
            numbers(values, ",")
        ),
        TargetLookup::Uuids(values) if key.len() == 1 && !values.is_empty() => {
            let list: Vec<String> = values.iter().map(uuid_text).collect();
            format!("{keys} = ANY ('{{{}}}'::pg_catalog.uuid[])", list.join(","))
        }
        TargetLookup::Integers(_) | TargetLookup::Uuids(_) => return Err(shape_error()),
    };
    Ok(format!(
        "SELECT {} FROM {} WHERE {condition} ORDER BY {keys} LIMIT {limit}",
        quoted_list(columns),
        quote_pg_qualified(schema, table)
    ))
}

/// Types PostgreSQL 15 has `min`/`max` aggregates for, with the ordering of their default btree
/// operator class (not uuid, bytea, boolean, xml).
fn has_min_max(pg_type: &PgType) -> bool {
    matches!(
        pg_type,
        PgType::SmallInt
            | PgType::Integer
            | PgType::BigInt
            | PgType::Numeric(_)
            | PgType::Real
            | PgType::DoublePrecision
            | PgType::Date
            | PgType::Time(_)
            | PgType::Timestamp(_)
            | PgType::TimestampTz(_)
            | PgType::Char(_)
            | PgType::Varchar(_)
            | PgType::Text
    )
}

/// Moves an identity column's sequence to the column's maximum, so the next generated value
/// follows the loaded rows. Does nothing for an empty table or a maximum below the sequence's
/// minimum (SQL Server identities may be negative; PostgreSQL's start at 1).
pub fn pg_sync_identity(schema: &str, table: &str, column: &str) -> String {
    let qualified = quote_pg_qualified(schema, table);
    format!(
        "SELECT pg_catalog.setval(s.seq, m.max_value) \
         FROM (SELECT pg_catalog.pg_get_serial_sequence({}, {})::pg_catalog.regclass AS seq) AS s, \
         (SELECT pg_catalog.max({}) AS max_value FROM {qualified}) AS m, \
         pg_catalog.pg_sequence AS q \
         WHERE q.seqrelid = s.seq AND m.max_value >= q.seqmin",
        pg_literal(&qualified),
        // pg_get_serial_sequence takes the column name literally (no identifier parsing).
        pg_literal(column),
        quote_pg(column),
    )
}

/// A PostgreSQL string literal, correct whatever `standard_conforming_strings` says: an
/// `E'...'` literal with backslashes doubled when the text has any (as `quote_literal` does).
pub fn pg_literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| quote_pg(n)).collect();
    quoted.join(", ")
}

fn check_key_columns(columns: &[PgColumn], key: &[String]) -> Result<(), SqlGenError> {
    for name in key {
        if !columns.iter().any(|c| &c.name == name) {
            return Err(SqlGenError::InvalidShape {
                detail: format!("key column {name:?} is not among the table's columns"),
            });
        }
    }
    Ok(())
}

/// A query whose one value is the `ALTER TABLE` that stores the temporary table `table`'s
/// compressible columns (storage `extended`: text, varchar, bytea, xml, ...) uncompressed, or
/// NULL when it has none. For the upsert's staging table: it lives for one statement, so
/// compressing its values (pglz) only costs time. 300K posts, COPY into the staging table:
/// 2.05-2.49 s compressed, 1.43-1.95 s not; the merge after it took the same either way.
pub fn pg_uncompressed_storage_query(table: &str) -> String {
    let qualified = quote_pg_qualified("pg_temp", table);
    format!(
        "SELECT {} || string_agg(format('ALTER COLUMN %I SET STORAGE EXTERNAL', attname), ', ') \
         FROM pg_attribute WHERE attrelid = {}::regclass AND attnum > 0 \
         AND NOT attisdropped AND attstorage = 'x'",
        pg_literal(&format!("ALTER TABLE {qualified} ")),
        pg_literal(&qualified),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_storage_query_names_the_temp_table_quoted() {
        let sql = pg_uncompressed_storage_query("my\"stage");
        assert!(
            sql.starts_with(r#"SELECT 'ALTER TABLE "pg_temp"."my""stage" ' || string_agg("#),
            "{sql}"
        );
        assert!(
            sql.contains(r#"attrelid = '"pg_temp"."my""stage"'::regclass"#),
            "{sql}"
        );
        assert!(sql.ends_with("attstorage = 'x'"), "{sql}");
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn column(name: &str, pg_type: PgType) -> PgColumn {
        PgColumn {
            name: name.into(),
            pg_type,
            not_null: false,
            identity: false,
        }
    }

    fn selects(list: &[&str]) -> Vec<SelectColumn> {
        list.iter().map(|name| SelectColumn::plain(name)).collect()
    }

    #[test]
    fn pull_select_quotes_every_name() {
        let mut columns = selects(&["Id", "Title]x", "My Col", "表"]);
        columns.push(SelectColumn {
            name: "Pri]ce".into(),
            cast_to: Some("decimal(19,4)"),
        });
        let sql = tsql_pull_select(&PullQuery {
            schema: "dbo",
            table: "Posts]; DROP TABLE x; --",
            columns: &columns,
            order_by: &[],
            range: None,
            filter: None,
            condition: None,
        })
        .unwrap();
        assert_eq!(
            sql,
            "SELECT [Id], [Title]]x], [My Col], [表], CAST([Pri]]ce] AS decimal(19,4)) AS [Pri]]ce] \
             FROM [dbo].[Posts]]; DROP TABLE x; --]"
        );
    }

    #[test]
    fn pull_select_with_range_filter_and_order() {
        let columns = selects(&["Id", "Score"]);
        let key = names(&["Id"]);
        let sql = tsql_pull_select(&PullQuery {
            schema: "dbo",
            table: "Posts",
            columns: &columns,
            order_by: &key,
            range: Some(KeyRange {
                column: "Id".into(),
                from: Some(KeyBound::Literal(-5)),
                to: Some(KeyBound::Literal(1_000_000)),
            }),
            filter: Some("Score > 10 -- popular only"),
            condition: Some("[Edited] > 5"),
        })
        .unwrap();
        assert_eq!(
            sql,
            "SELECT [Id], [Score] FROM [dbo].[Posts] WHERE [Id] >= -5 AND [Id] < 1000000 AND (\n\
             Score > 10 -- popular only\n) AND ([Edited] > 5) ORDER BY [Id]"
        );
        let sql = tsql_pull_select(&PullQuery {
            schema: "s",
            table: "t",
            columns: &columns,
            order_by: &names(&["Id", "Score"]),
            range: Some(KeyRange {
                column: "Id".into(),
                from: None,
                to: Some(KeyBound::Parameter(1)),
            }),
            filter: None,
            condition: None,
        })
        .unwrap();
        assert_eq!(
            sql,
            "SELECT [Id], [Score] FROM [s].[t] WHERE [Id] < @P1 ORDER BY [Id], [Score]"
        );
        assert!(tsql_pull_select(&PullQuery {
            schema: "s",
            table: "t",
            columns: &[],
            order_by: &[],
            range: None,
            filter: None,
            condition: None,
        })
        .is_err());
    }

    #[test]
    fn filters_that_stay_inside_their_parentheses_pass() {
        for filter in [
            "Score > 10",
            "(a = 1 OR b = 2) AND c IN (1, 2)",
            "Title = N'it''s (not) closed'",
            "[weird)name] = 1",
            "\"quoted(\" = 1",
            "x = 1 /* a ) b /* nested ( */ c */",
            "x = 1 -- trailing ) comment",
            "Body LIKE '%;%'",
        ] {
            assert_eq!(check_filter(filter), Ok(()), "{filter}");
        }
    }

    #[test]
    fn filters_that_could_escape_are_refused() {
        for (filter, says) in [
            ("1=1) OR (1=1", "did not open"),
            ("(a = 1", "unbalanced"),
            ("a = 'open", "unterminated string"),
            ("[open = 1", "unterminated quoted"),
            ("a = 1 /* open", "unterminated /*"),
            ("a = 1; DROP TABLE t", "';'"),
            ("   ", "empty"),
            ("-- only a comment", "empty"),
        ] {
            let error = check_filter(filter).unwrap_err().to_string();
            assert!(error.contains(says), "{filter}: {error}");
        }
    }

    #[test]
    fn describe_query_is_parameterised_and_plain() {
        assert!(TSQL_DESCRIBE_COLUMNS.contains("s.name = @P1 AND o.name = @P2"));
        assert!(TSQL_DESCRIBE_COLUMNS.ends_with("ORDER BY c.column_id"));
        for construct in ["WITH ", "OVER(", "OVER (", "APPLY", ";"] {
            assert!(!TSQL_DESCRIBE_COLUMNS.contains(construct), "{construct}");
        }
        for column in [
            "column_name",
            "type_name",
            "base_type_name",
            "max_length",
            "precision",
            "scale",
            "is_nullable",
            "is_identity",
            "is_computed",
            "collation_name",
            "primary_key_ordinal",
        ] {
            assert!(TSQL_DESCRIBE_COLUMNS.contains(column), "{column}");
        }
    }

    #[test]
    fn create_table_with_identity_and_key() {
        let columns = vec![
            PgColumn {
                identity: true,
                ..column("id", PgType::Integer)
            },
            PgColumn {
                not_null: true,
                ..column("Title \"x\"", PgType::Varchar(Some(250)))
            },
            column("created", PgType::Timestamp(Some(3))),
        ];
        let sql = pg_create_table("my schema", "Posts", &columns, &names(&["id"])).unwrap();
        assert_eq!(
            sql,
            "CREATE TABLE \"my schema\".\"Posts\" (\n\
             \x20   \"id\" integer NOT NULL GENERATED BY DEFAULT AS IDENTITY,\n\
             \x20   \"Title \"\"x\"\"\" varchar(250) NOT NULL,\n\
             \x20   \"created\" timestamp(3),\n\
             \x20   PRIMARY KEY (\"id\")\n\
             )"
        );
        assert!(pg_create_table("s", "t", &columns, &names(&["nope"])).is_err());
        let no_key = pg_create_table("s", "t", &columns[2..], &[]).unwrap();
        assert!(!no_key.contains("PRIMARY KEY"));
    }

    #[test]
    fn upsert_drops_identical_rows_in_the_key_range_then_updates_only_changed_rows() {
        let columns = vec![
            column("id", PgType::BigInt),
            column("title", PgType::Text),
            column("doc", PgType::Xml),
        ];
        let sql = pg_upsert(
            "public",
            "posts",
            "pgmig_stage",
            &columns,
            &names(&["id"]),
            true,
        )
        .unwrap();
        assert_eq!(
            sql,
            "INSERT INTO \"public\".\"posts\" AS t (\"id\", \"title\", \"doc\") OVERRIDING SYSTEM VALUE \
             SELECT \"id\", \"title\", \"doc\" FROM pg_temp.\"pgmig_stage\" AS s \
             WHERE NOT EXISTS (SELECT 1 FROM \"public\".\"posts\" AS cur WHERE cur.\"id\" = s.\"id\" \
             AND cur.\"id\" BETWEEN (SELECT pg_catalog.min(\"id\") FROM pg_temp.\"pgmig_stage\") \
             AND (SELECT pg_catalog.max(\"id\") FROM pg_temp.\"pgmig_stage\") \
             AND ROW((cur.\"title\" COLLATE pg_catalog.\"C\"), cur.\"doc\"::text) \
             IS NOT DISTINCT FROM ROW((s.\"title\" COLLATE pg_catalog.\"C\"), s.\"doc\"::text)) \
             ON CONFLICT (\"id\") \
             DO UPDATE SET \"title\" = EXCLUDED.\"title\", \"doc\" = EXCLUDED.\"doc\" \
             WHERE ROW((t.\"title\" COLLATE pg_catalog.\"C\"), t.\"doc\"::text) \
             IS DISTINCT FROM ROW((EXCLUDED.\"title\" COLLATE pg_catalog.\"C\"), EXCLUDED.\"doc\"::text)"
        );
    }

    #[test]
    fn the_merge_compares_what_is_stored_not_what_equality_ignores() {
        let cases = [
            (
                PgType::Varchar(Some(5)),
                "(t.\"v\" COLLATE pg_catalog.\"C\")",
            ),
            (PgType::Char(Some(5)), "(t.\"v\" COLLATE pg_catalog.\"C\")"),
            (PgType::Numeric(None), "t.\"v\"::text"),
            (PgType::Numeric(Some((10, 2))), "t.\"v\""),
            (PgType::Real, "pg_catalog.float4send(t.\"v\")"),
            (PgType::DoublePrecision, "pg_catalog.float8send(t.\"v\")"),
            (PgType::TimestampTz(None), "t.\"v\""),
            (PgType::Bytea, "t.\"v\""),
        ];
        for (pg_type, comparand) in cases {
            let columns = vec![column("id", PgType::Integer), column("v", pg_type.clone())];
            let sql = pg_upsert("s", "t", "st", &columns, &names(&["id"]), false).unwrap();
            assert!(
                sql.ends_with(&format!(
                    "WHERE ROW({comparand}) IS DISTINCT FROM ROW({})",
                    comparand.replace("t.", "EXCLUDED.")
                )),
                "{pg_type:?}: {sql}"
            );
        }
    }

    #[test]
    fn upsert_ranges_over_every_orderable_key_column() {
        let columns = vec![
            column("a", PgType::Uuid),
            column("b", PgType::Varchar(Some(10))),
            column("v", PgType::Integer),
        ];
        let sql = pg_upsert("s", "t", "st", &columns, &names(&["a", "b"]), true).unwrap();
        assert!(
            sql.contains("WHERE cur.\"a\" = s.\"a\" AND cur.\"b\" = s.\"b\" AND cur.\"b\" BETWEEN"),
            "{sql}"
        );
        // uuid has no min/max: no range on it.
        assert!(!sql.contains("min(\"a\")"), "{sql}");
    }

    #[test]
    fn upsert_without_prefilter_is_the_plain_statement() {
        let columns = vec![column("id", PgType::Integer), column("v", PgType::Text)];
        let plain = pg_upsert("s", "t", "st", &columns, &names(&["id"]), false).unwrap();
        assert!(!plain.contains("NOT EXISTS"), "{plain}");
        assert!(plain.contains("FROM pg_temp.\"st\" ON CONFLICT (\"id\") DO UPDATE"));
        let prefiltered = pg_upsert("s", "t", "st", &columns, &names(&["id"]), true).unwrap();
        assert!(prefiltered.contains("NOT EXISTS"), "{prefiltered}");
    }

    #[test]
    fn prefilter_pays_for_narrow_rows_or_batches_within_work_mem() {
        const WORK_MEM: u64 = 4 << 20;
        assert!(upsert_prefilter_pays(60 * 100_000, 100_000, WORK_MEM));
        assert!(upsert_prefilter_pays(511 * 100_000, 100_000, WORK_MEM));
        assert!(!upsert_prefilter_pays(512 * 100_000, 100_000, WORK_MEM));
        assert!(!upsert_prefilter_pays(1170 * 100_000, 100_000, WORK_MEM));
        // A small batch fills whole pages but its hash stays in memory.
        assert!(upsert_prefilter_pays(8192, 2, WORK_MEM));
        assert!(upsert_prefilter_pays(1170 * 3000, 3000, WORK_MEM));
        assert!(!upsert_prefilter_pays(1170 * 3000, 3000, 64 << 10));
        assert!(!upsert_prefilter_pays(8192, 0, WORK_MEM));
    }

    #[test]
    fn upsert_without_an_orderable_key_column_merges_without_the_prefilter() {
        let columns = vec![column("id", PgType::Uuid), column("v", PgType::Integer)];
        let sql = pg_upsert("s", "t", "st", &columns, &names(&["id"]), true).unwrap();
        assert_eq!(
            sql,
            "INSERT INTO \"s\".\"t\" AS t (\"id\", \"v\") OVERRIDING SYSTEM VALUE \
             SELECT \"id\", \"v\" FROM pg_temp.\"st\" ON CONFLICT (\"id\") \
             DO UPDATE SET \"v\" = EXCLUDED.\"v\" WHERE ROW(t.\"v\") IS DISTINCT FROM ROW(EXCLUDED.\"v\")"
        );
    }

    #[test]
    fn upsert_with_only_key_columns_does_nothing_on_conflict() {
        let columns = vec![column("a", PgType::Integer), column("b\"", PgType::Integer)];
        let sql = pg_upsert("s", "t", "st", &columns, &names(&["a", "b\""]), true).unwrap();
        assert!(
            sql.ends_with("FROM pg_temp.\"st\" ON CONFLICT (\"a\", \"b\"\"\") DO NOTHING"),
            "{sql}"
        );
        assert!(pg_upsert("s", "t", "st", &columns, &[], true).is_err());
        assert!(pg_upsert("s", "t", "st", &columns, &names(&["c"]), true).is_err());
    }

    #[test]
    fn identity_sync_quotes_table_as_identifier_and_column_as_literal() {
        let sql = pg_sync_identity("sch'ema", "Ta\\ble", "I'd");
        assert!(
            sql.contains("pg_get_serial_sequence(E'\"sch''ema\".\"Ta\\\\ble\"', 'I''d')"),
            "{sql}"
        );
        assert!(sql.contains("pg_catalog.max(\"I'd\") AS max_value FROM \"sch'ema\".\"Ta\\ble\""));
        assert!(sql.contains("m.max_value >= q.seqmin"));
    }

    #[test]
    fn literals_survive_either_string_setting() {
        assert_eq!(pg_literal("plain"), "'plain'");
        assert_eq!(pg_literal("it's"), "'it''s'");
        assert_eq!(pg_literal("back\\slash'"), "E'back\\\\slash'''");
    }

    #[test]
    fn compare_window_reads_the_key_range_or_the_keys_in_key_order() {
        let columns = names(&["Id", "ti\"tle"]);
        let range = |low: &[i64], high: &[i64]| TargetLookup::Range {
            low: low.to_vec(),
            high: high.to_vec(),
        };
        assert_eq!(
            pg_compare_select("s", "T", &columns, &names(&["Id"]), &range(&[-3], &[9]), 28)
                .unwrap(),
            "SELECT \"Id\", \"ti\"\"tle\" FROM \"s\".\"T\" WHERE \"Id\" BETWEEN -3 AND 9 \
             ORDER BY \"Id\" LIMIT 28"
        );
        let pair = names(&["a", "b"]);
        assert_eq!(
            pg_compare_select("s", "t", &pair, &pair, &range(&[1, i64::MIN], &[2, 5]), 9).unwrap(),
            "SELECT \"a\", \"b\" FROM \"s\".\"t\" WHERE (\"a\", \"b\") >= (1, -9223372036854775808) \
             AND (\"a\", \"b\") <= (2, 5) AND \"a\" IS NOT NULL AND \"b\" IS NOT NULL \
             ORDER BY \"a\", \"b\" LIMIT 9"
        );
        assert_eq!(
            pg_compare_select(
                "s",
                "t",
                &columns,
                &names(&["Id"]),
                &TargetLookup::Integers(vec![i64::MIN, -1, 7, 7]),
                20
            )
            .unwrap(),
            "SELECT \"Id\", \"ti\"\"tle\" FROM \"s\".\"t\" WHERE \"Id\" = ANY \
             ('{-9223372036854775808,-1,7,7}'::pg_catalog.int8[]) ORDER BY \"Id\" LIMIT 20"
        );
        assert!(pg_compare_select("s", "t", &pair, &pair, &range(&[1], &[2, 5]), 9).is_err());
        assert!(pg_compare_select("s", "t", &pair, &[], &range(&[], &[]), 9).is_err());
        assert!(
            pg_compare_select("s", "t", &pair, &pair, &TargetLookup::Integers(vec![1]), 9).is_err()
        );
        assert!(pg_compare_select(
            "s",
            "t",
            &pair,
            &names(&["a"]),
            &TargetLookup::Integers(vec![]),
            9
        )
        .is_err());
        let mut uuid = [0u8; 16];
        uuid[0] = 0x6f;
        uuid[15] = 0xff;
        assert_eq!(
            pg_compare_select(
                "s",
                "t",
                &columns,
                &names(&["g"]),
                &TargetLookup::Uuids(vec![uuid, [0xab; 16]]),
                18
            )
            .unwrap(),
            "SELECT \"Id\", \"ti\"\"tle\" FROM \"s\".\"t\" WHERE \"g\" = ANY \
             ('{6f000000-0000-0000-0000-0000000000ff,abababab-abab-abab-abab-abababababab}'\
             ::pg_catalog.uuid[]) ORDER BY \"g\" LIMIT 18"
        );
        assert!(
            pg_compare_select("s", "t", &pair, &pair, &TargetLookup::Uuids(vec![uuid]), 9).is_err()
        );
    }
}
