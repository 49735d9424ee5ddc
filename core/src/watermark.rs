//! Incremental sync: `pull_table(..., mode => 'upsert', watermark => 'LastEditDate')` moves only
//! the rows whose watermark column grew since the previous run.
//!
//! A run reads the source's high mark first (the largest value now committed), then pulls the
//! rows with `last < column <= high` and, in the same transaction as the data, remembers `high`
//! as the next run's `last`. A failed or rolled-back run leaves the stored value as it was, and
//! the next run moves the same rows again (upsert makes that harmless).
//!
//! Values travel as SQL Server's own text of them (`CONVERT(nvarchar, MAX(c), style)`) and go
//! back as a literal of the column's exact type, so a datetime's 1/300 s tick or a datetime2's
//! 100 ns compare exactly; nothing goes through a float or a PostgreSQL type. Every stored value
//! is parsed before it is pasted into T-SQL: the stored text cannot carry anything but a value.
//!
//! - `rowversion`: the high mark is the largest value below `MIN_ACTIVE_ROWVERSION()`, so a
//!   transaction still open on the source cannot commit a row below it later. The safe choice.
//! - integers and dates: the high mark is `MAX(column)`. A row written by a transaction that
//!   commits after that read with a value at or below it is missed (the README says so).

use std::cmp::Ordering;
use std::fmt;

use crate::ident::{quote_tsql, quote_tsql_qualified};
use crate::temporal::MAX_TIME_SCALE;
use crate::typemap::SourceColumn;

/// CONVERT style that writes dates and times as ISO 8601 (`yyyy-mm-ddThh:mi:ss[.f]`) and reads
/// them back exactly.
const ISO8601_STYLE: u8 = 126;
/// CONVERT style that writes binary as `0x` and hex digits.
const HEX_STYLE: u8 = 1;
/// Long enough for every value text here (datetime2(7): 27 characters; rowversion: 18).
const VALUE_TEXT_CHARS: u8 = 40;
/// rowversion is binary(8).
const ROWVERSION_BYTES: usize = 8;
/// datetime2 and time keep at most 7 fractional digits (100 ns).
const MAX_FRACTION_DIGITS: usize = MAX_TIME_SCALE as usize;

/// What kind of column can be a watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkKind {
    /// tinyint, smallint, int, bigint (an identity column of an insert-only table).
    Integer,
    /// date: `yyyy-mm-dd`.
    Date,
    /// smalldatetime, datetime, datetime2(n).
    DateTime,
    /// rowversion (timestamp): SQL Server bumps it on every insert and update.
    RowVersion,
}

/// The source column a run filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkColumn {
    /// As SQL Server names it.
    pub name: String,
    /// The type literals are converted to, as T-SQL spells it: `datetime`, `datetime2(3)`.
    pub sql_type: String,
    pub kind: WatermarkKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatermarkError {
    /// The column's type cannot order changes (nvarchar, float, datetimeoffset, ...).
    UnsupportedType { column: String, sql_type: String },
    /// A value that is not a value of the column's kind.
    InvalidValue { kind: WatermarkKind, text: String },
}

impl fmt::Display for WatermarkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatermarkError::UnsupportedType { column, sql_type } => write!(
                f,
                "watermark column \"{column}\" is {sql_type}, which cannot be a watermark"
            ),
            WatermarkError::InvalidValue { kind, text } => {
                write!(f, "{text:?} is not a valid {} watermark value", kind.name())
            }
        }
    }
}

impl std::error::Error for WatermarkError {}

impl WatermarkKind {
    pub fn name(self) -> &'static str {
        match self {
            WatermarkKind::Integer => "integer",
            WatermarkKind::Date => "date",
            WatermarkKind::DateTime => "date and time",
            WatermarkKind::RowVersion => "rowversion",
        }
    }
}

/// The types a watermark may have, for hints.
pub const WATERMARK_TYPES: &str =
    "rowversion, tinyint, smallint, int, bigint, date, smalldatetime, datetime, datetime2";

impl WatermarkColumn {
    /// The watermark for a described source column, if its type can be one.
    pub fn for_column(column: &SourceColumn) -> Result<WatermarkColumn, WatermarkError> {
        let base = column.effective_type();
        let (kind, sql_type) = match base.as_str() {
            "tinyint" | "smallint" | "int" | "bigint" => (WatermarkKind::Integer, base.clone()),
            "date" => (WatermarkKind::Date, base.clone()),
            "smalldatetime" | "datetime" => (WatermarkKind::DateTime, base.clone()),
            "datetime2" => (
                WatermarkKind::DateTime,
                format!("datetime2({})", column.scale.min(MAX_FRACTION_DIGITS as u8)),
            ),
            "timestamp" | "rowversion" => (WatermarkKind::RowVersion, "rowversion".to_string()),
            _ => {
                return Err(WatermarkError::UnsupportedType {
                    column: column.name.clone(),
                    sql_type: column.sql_type_text(),
                })
            }
        };
        Ok(WatermarkColumn {
            name: column.name.clone(),
            sql_type,
            kind,
        })
    }

    /// The query for the high mark: one row, one nvarchar column, NULL when no row has a value.
    pub fn tsql_high_mark(&self, schema: &str, table: &str) -> String {
        let column = quote_tsql(&self.name);
        let from = quote_tsql_qualified(schema, table);
        match self.kind {
            WatermarkKind::Integer => {
                format!("SELECT CONVERT(nvarchar({VALUE_TEXT_CHARS}), MAX({column})) FROM {from}")
            }
            WatermarkKind::Date | WatermarkKind::DateTime => format!(
                "SELECT CONVERT(nvarchar({VALUE_TEXT_CHARS}), MAX({column}), {ISO8601_STYLE}) \
                 FROM {from}"
            ),
            // Below every rowversion an open transaction holds: nothing can commit under it.
            WatermarkKind::RowVersion => format!(
                "SELECT CONVERT(nvarchar({VALUE_TEXT_CHARS}), MAX({column}), {HEX_STYLE}) \
                 FROM {from} WHERE {column} < MIN_ACTIVE_ROWVERSION()"
            ),
        }
    }

    /// The T-SQL literal of `value`, of the column's exact type.
    fn literal(&self, value: &WatermarkValue) -> String {
        match value.parsed {
            Parsed::Integer(n) => n.to_string(),
            Parsed::RowVersion(v) => format!("0x{v:016X}"),
            // The text was checked to hold only digits and `-:T.`.
            Parsed::Temporal(_) => format!(
                "CONVERT({}, N'{}', {ISO8601_STYLE})",
                self.sql_type, value.text
            ),
        }
    }

    /// `[c] > last [AND [c] <= high]`: the rows that changed after `last`, up to `high`.
    pub fn tsql_condition(&self, last: &WatermarkValue, high: Option<&WatermarkValue>) -> String {
        let column = quote_tsql(&self.name);
        let mut condition = format!("{column} > {}", self.literal(last));
        if let Some(high) = high {
            condition.push_str(&format!(" AND {column} <= {}", self.literal(high)));
        }
        condition
    }
}

/// A watermark value: SQL Server's text of it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkValue {
    /// As stored and as shown: SQL Server's own text (rowversion in upper-case hex).
    pub text: String,
    parsed: Parsed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Parsed {
    Integer(i64),
    /// (year, month, day, hour, minute, second, 100 ns units).
    Temporal((u16, u8, u8, u8, u8, u8, u32)),
    RowVersion(u64),
}

impl WatermarkValue {
    pub fn parse(kind: WatermarkKind, text: &str) -> Result<WatermarkValue, WatermarkError> {
        let invalid = || WatermarkError::InvalidValue {
            kind,
            text: text.to_string(),
        };
        let trimmed = text.trim();
        let parsed = match kind {
            WatermarkKind::Integer => Parsed::Integer(trimmed.parse().map_err(|_| invalid())?),
            WatermarkKind::Date => {
                let (y, m, d) = parse_date(trimmed).ok_or_else(invalid)?;
                Parsed::Temporal((y, m, d, 0, 0, 0, 0))
            }
            WatermarkKind::DateTime => {
                Parsed::Temporal(parse_datetime(trimmed).ok_or_else(invalid)?)
            }
            WatermarkKind::RowVersion => {
                let hex = trimmed
                    .strip_prefix("0x")
                    .or_else(|| trimmed.strip_prefix("0X"))
                    .filter(|h| h.len() == 2 * ROWVERSION_BYTES)
                    .ok_or_else(invalid)?;
                Parsed::RowVersion(u64::from_str_radix(hex, 16).map_err(|_| invalid())?)
            }
        };
        let text = match parsed {
            Parsed::Integer(n) => n.to_string(),
            Parsed::RowVersion(v) => format!("0x{v:016X}"),
            Parsed::Temporal(_) => trimmed.to_string(),
        };
        Ok(WatermarkValue { text, parsed })
    }
}

impl PartialOrd for WatermarkValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for WatermarkValue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parsed.cmp(&other.parsed)
    }
}

fn digits<T: std::str::FromStr>(text: &str, len: usize) -> Option<T> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn parse_date(text: &str) -> Option<(u16, u8, u8)> {
    let mut parts = text.split('-');
    let year: u16 = digits(parts.next()?, 4)?;
    let month: u8 = digits(parts.next()?, 2)?;
    let day: u8 = digits(parts.next()?, 2)?;
    let valid =
        parts.next().is_none() && year >= 1 && (1..=12).contains(&month) && (1..=31).contains(&day);
    valid.then_some((year, month, day))
}

/// `yyyy-mm-ddThh:mi:ss[.f{1,7}]`, as CONVERT style 126 writes datetime and datetime2.
fn parse_datetime(text: &str) -> Option<(u16, u8, u8, u8, u8, u8, u32)> {
    let (date, time) = text.split_once('T')?;
    let (y, mo, d) = parse_date(date)?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let mut parts = clock.split(':');
    let h: u8 = digits(parts.next()?, 2)?;
    let mi: u8 = digits(parts.next()?, 2)?;
    let s: u8 = digits(parts.next()?, 2)?;
    if parts.next().is_some() || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let units = match fraction {
        None => 0,
        Some(f) if (1..=MAX_FRACTION_DIGITS).contains(&f.len()) => {
            let value: u32 = digits(f, f.len())?;
            value * 10u32.pow((MAX_FRACTION_DIGITS - f.len()) as u32)
        }
        Some(_) => return None,
    };
    Some((y, mo, d, h, mi, s, units))
}

/// What the previous successful run left, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWatermark {
    pub column: String,
    pub sql_type: String,
    pub filter: Option<String>,
    /// The source columns the run read, as [`columns_key`] writes them (`None`: stored before
    /// pgmig kept them).
    pub columns: Option<String>,
    pub value: String,
    /// The target table's oid when it was stored: a table dropped and created again is empty.
    pub target_relid: u32,
}

/// The source columns a run reads, as its watermark keeps them: bracket-quoted, in order. A
/// column added to the pull (to `columns =>`, or to the source when all are read) must be read
/// for every row, not only for rows that change later.
pub fn columns_key<'a>(source_columns: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = source_columns.into_iter().map(quote_tsql).collect();
    quoted.join(", ")
}

/// What this run asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkRequest<'a> {
    pub column: &'a WatermarkColumn,
    pub filter: Option<&'a str>,
    /// [`columns_key`] of the columns this run reads.
    pub columns: &'a str,
    pub target_relid: u32,
    /// The target holds no row (truncated, emptied) though a watermark is stored: the rows
    /// the stored value stands for are gone.
    pub target_empty: bool,
}

/// What a run moves and what it stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkPlan {
    /// The T-SQL condition on the watermark column; `None`: the whole table (with the filter).
    pub condition: Option<String>,
    /// Why the whole table is read, when it is.
    pub full_reason: Option<String>,
    /// The value stored when the run commits; `None` keeps the stored one.
    pub advance_to: Option<WatermarkValue>,
    /// The stored value this run starts after, if it does.
    pub after: Option<WatermarkValue>,
}

/// Decides what a run moves, from what the previous run stored and the source's high mark
/// (SQL Server's text of it; `None` when no row has a value). A run whose stored state does not
/// describe this pull (first run, another column, filter or type, a target created anew, a value
/// that does not parse, or a source whose values went backwards, as after a restore) reads the
/// whole table: slower, never wrong.
pub fn plan_watermark(
    request: &WatermarkRequest<'_>,
    stored: Option<&StoredWatermark>,
    high_text: Option<&str>,
) -> Result<WatermarkPlan, WatermarkError> {
    let column = request.column;
    let high = high_text
        .map(|text| WatermarkValue::parse(column.kind, text))
        .transpose()?;
    let full = |reason: String| WatermarkPlan {
        condition: None,
        full_reason: Some(reason),
        advance_to: high.clone(),
        after: None,
    };
    let Some(stored) = stored else {
        return Ok(full("first run: no watermark is stored".into()));
    };
    if stored.column != column.name {
        return Ok(full(format!(
            "the stored watermark is for column \"{}\"",
            stored.column
        )));
    }
    if stored.sql_type != column.sql_type {
        return Ok(full(format!(
            "the column was {} when the watermark was stored",
            stored.sql_type
        )));
    }
    if stored.filter.as_deref() != request.filter {
        return Ok(full("the filter differs from the stored run's".into()));
    }
    if stored.columns.as_deref() != Some(request.columns) {
        return Ok(full(
            "the columns read differ from the stored run's (a column added?)".into(),
        ));
    }
    if stored.target_relid != request.target_relid {
        return Ok(full(
            "the target table was created again since the watermark was stored".into(),
        ));
    }
    if request.target_empty {
        return Ok(full(
            "the target is empty (truncated?) though a watermark is stored".into(),
        ));
    }
    let Ok(last) = WatermarkValue::parse(column.kind, &stored.value) else {
        return Ok(full(format!(
            "the stored value {:?} is not a valid {} value",
            stored.value,
            column.kind.name()
        )));
    };
    match &high {
        Some(high) if *high < last => Ok(full(format!(
            "the source's highest value {} is below the stored watermark {} (restored from a backup?)",
            high.text, last.text
        ))),
        _ => Ok(WatermarkPlan {
            condition: Some(column.tsql_condition(&last, high.as_ref())),
            full_reason: None,
            advance_to: high.clone(),
            after: Some(last),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, ty: &str, scale: u8) -> SourceColumn {
        SourceColumn::for_test(name, ty, 8, 0, scale)
    }

    fn column(ty: &str, scale: u8) -> WatermarkColumn {
        WatermarkColumn::for_column(&source("Edited", ty, scale)).unwrap()
    }

    fn request(column: &WatermarkColumn) -> WatermarkRequest<'_> {
        WatermarkRequest {
            column,
            filter: None,
            columns: "[Id], [Edited]",
            target_relid: 16400,
            target_empty: false,
        }
    }

    fn stored(column: &WatermarkColumn, value: &str) -> StoredWatermark {
        StoredWatermark {
            column: column.name.clone(),
            sql_type: column.sql_type.clone(),
            filter: None,
            columns: Some("[Id], [Edited]".into()),
            value: value.into(),
            target_relid: 16400,
        }
    }

    #[test]
    fn types_that_order_changes_are_watermarks_and_others_are_refused() {
        assert_eq!(column("int", 0).kind, WatermarkKind::Integer);
        assert_eq!(column("bigint", 0).sql_type, "bigint");
        assert_eq!(column("datetime2", 3).sql_type, "datetime2(3)");
        assert_eq!(column("datetime", 0).kind, WatermarkKind::DateTime);
        assert_eq!(column("date", 0).kind, WatermarkKind::Date);
        // sys.types names rowversion "timestamp".
        assert_eq!(column("timestamp", 0).kind, WatermarkKind::RowVersion);
        for refused in [
            "nvarchar",
            "float",
            "datetimeoffset",
            "uniqueidentifier",
            "decimal",
        ] {
            let error = WatermarkColumn::for_column(&source("c", refused, 0)).unwrap_err();
            assert!(
                matches!(error, WatermarkError::UnsupportedType { .. }),
                "{refused}"
            );
        }
        // An alias type counts by its base type.
        let mut alias = source("c", "EditStamp", 0);
        alias.base_type_name = Some("datetime".into());
        assert_eq!(
            WatermarkColumn::for_column(&alias).unwrap().sql_type,
            "datetime"
        );
    }

    #[test]
    fn high_mark_queries_use_the_exact_styles_and_rowversion_stays_below_open_transactions() {
        assert_eq!(
            column("datetime", 0).tsql_high_mark("dbo", "Posts"),
            "SELECT CONVERT(nvarchar(40), MAX([Edited]), 126) FROM [dbo].[Posts]"
        );
        assert_eq!(
            column("int", 0).tsql_high_mark("dbo", "My]T"),
            "SELECT CONVERT(nvarchar(40), MAX([Edited])) FROM [dbo].[My]]T]"
        );
        assert_eq!(
            column("timestamp", 0).tsql_high_mark("dbo", "T"),
            "SELECT CONVERT(nvarchar(40), MAX([Edited]), 1) FROM [dbo].[T] \
             WHERE [Edited] < MIN_ACTIVE_ROWVERSION()"
        );
    }

    #[test]
    fn values_parse_strictly_and_order_by_value() {
        let dt = |t: &str| WatermarkValue::parse(WatermarkKind::DateTime, t);
        assert!(dt("2010-01-01T00:00:00").unwrap() < dt("2010-01-01T00:00:00.003").unwrap());
        // Different digit counts of the same instant are equal.
        assert_eq!(
            dt("2010-01-01T00:00:00.5")
                .unwrap()
                .cmp(&dt("2010-01-01T00:00:00.5000000").unwrap()),
            Ordering::Equal
        );
        assert!(dt("2010-01-01T00:00:00.0000001").unwrap() > dt("2010-01-01T00:00:00").unwrap());
        for bad in [
            "2010-01-01",
            "2010-01-01 00:00:00",
            "2010-01-01T00:00:00.12345678",
            "2010-13-01T00:00:00",
            "2010-01-01T24:00:00",
            "2010-01-01T00:00:00'; DROP TABLE x --",
            "",
        ] {
            assert!(dt(bad).is_err(), "{bad}");
        }
        let date = |t: &str| WatermarkValue::parse(WatermarkKind::Date, t);
        assert!(date("2010-01-02").unwrap() > date("2010-01-01").unwrap());
        assert!(date("2010-01-02T00:00:00").is_err());

        let int = |t: &str| WatermarkValue::parse(WatermarkKind::Integer, t);
        assert!(int("-5").unwrap() < int("3").unwrap());
        assert!(int("1 OR 1=1").is_err());
        assert_eq!(int(" 42 ").unwrap().text, "42");

        let rv = |t: &str| WatermarkValue::parse(WatermarkKind::RowVersion, t);
        assert_eq!(rv("0x00000000000007d1").unwrap().text, "0x00000000000007D1");
        assert!(rv("0x00000000000007D1").unwrap() < rv("0x0000000000000800").unwrap());
        assert!(rv("0x07D1").is_err());
        assert!(rv("00000000000007D1").is_err());
        assert!(rv("0x00000000000007DZ").is_err());
    }

    #[test]
    fn first_run_reads_everything_and_stores_the_high_mark() {
        let c = column("datetime", 0);
        let plan = plan_watermark(&request(&c), None, Some("2010-05-01T10:00:00.007")).unwrap();
        assert_eq!(plan.condition, None);
        assert!(plan.full_reason.unwrap().contains("first run"));
        assert_eq!(plan.advance_to.unwrap().text, "2010-05-01T10:00:00.007");
        // An empty source: read everything (nothing), store nothing.
        let plan = plan_watermark(&request(&c), None, None).unwrap();
        assert_eq!((plan.condition, plan.advance_to), (None, None));
    }

    #[test]
    fn later_runs_read_after_the_stored_value_up_to_the_high_mark_in_the_column_type() {
        let c = column("datetime2", 3);
        let last = stored(&c, "2010-05-01T10:00:00.007");
        let plan =
            plan_watermark(&request(&c), Some(&last), Some("2010-05-02T00:00:00.000")).unwrap();
        assert_eq!(
            plan.condition.as_deref(),
            Some(
                "[Edited] > CONVERT(datetime2(3), N'2010-05-01T10:00:00.007', 126) \
                 AND [Edited] <= CONVERT(datetime2(3), N'2010-05-02T00:00:00.000', 126)"
            )
        );
        assert_eq!(plan.after.unwrap().text, "2010-05-01T10:00:00.007");
        assert_eq!(plan.full_reason, None);

        let rv = column("timestamp", 0);
        let plan = plan_watermark(
            &request(&rv),
            Some(&stored(&rv, "0x00000000000007D1")),
            Some("0x00000000000007D5"),
        )
        .unwrap();
        assert_eq!(
            plan.condition.as_deref(),
            Some("[Edited] > 0x00000000000007D1 AND [Edited] <= 0x00000000000007D5")
        );

        // Nothing changed: the same value comes back; the range is empty and the value stays.
        let int = column("bigint", 0);
        let plan = plan_watermark(&request(&int), Some(&stored(&int, "900")), Some("900")).unwrap();
        assert_eq!(
            plan.condition.as_deref(),
            Some("[Edited] > 900 AND [Edited] <= 900")
        );
        assert_eq!(plan.advance_to.unwrap().text, "900");

        // No row has a value any more: only the lower bound; the stored value is kept.
        let plan = plan_watermark(&request(&int), Some(&stored(&int, "900")), None).unwrap();
        assert_eq!(plan.condition.as_deref(), Some("[Edited] > 900"));
        assert_eq!(plan.advance_to, None);
    }

    #[test]
    fn a_stored_state_that_does_not_describe_this_pull_means_a_full_read() {
        let c = column("int", 0);
        let high = Some("100");
        let full_because = |stored: StoredWatermark, expected: &str| {
            let plan = plan_watermark(&request(&c), Some(&stored), high).unwrap();
            assert_eq!(plan.condition, None, "{expected}");
            let reason = plan.full_reason.unwrap();
            assert!(reason.contains(expected), "{reason}");
            assert_eq!(plan.advance_to.unwrap().text, "100");
        };
        full_because(
            StoredWatermark {
                column: "Other".into(),
                ..stored(&c, "5")
            },
            "column \"Other\"",
        );
        full_because(
            StoredWatermark {
                sql_type: "smallint".into(),
                ..stored(&c, "5")
            },
            "was smallint",
        );
        full_because(
            StoredWatermark {
                filter: Some("Score > 1".into()),
                ..stored(&c, "5")
            },
            "filter",
        );
        full_because(
            StoredWatermark {
                target_relid: 1,
                ..stored(&c, "5")
            },
            "created again",
        );
        full_because(
            StoredWatermark {
                columns: Some("[Id]".into()),
                ..stored(&c, "5")
            },
            "columns read differ",
        );
        full_because(
            StoredWatermark {
                columns: None,
                ..stored(&c, "5")
            },
            "columns read differ",
        );
        assert_eq!(
            columns_key(["Id", "a]b", "Edited"]),
            "[Id], [a]]b], [Edited]"
        );
        let emptied = WatermarkRequest {
            target_empty: true,
            ..request(&c)
        };
        let plan = plan_watermark(&emptied, Some(&stored(&c, "5")), high).unwrap();
        assert_eq!(plan.condition, None);
        assert!(plan.full_reason.unwrap().contains("target is empty"));
        full_because(stored(&c, "5; DROP"), "is not a valid integer value");
        full_because(stored(&c, "500"), "below the stored watermark 500");
    }

    #[test]
    fn a_high_mark_that_is_not_a_value_is_an_error() {
        let c = column("int", 0);
        assert!(plan_watermark(&request(&c), None, Some("x")).is_err());
    }
}
