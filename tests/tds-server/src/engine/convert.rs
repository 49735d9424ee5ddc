//! SQL Server's value rules: type names and precedence, conversions (CAST/CONVERT and implicit),
//! comparison (case-insensitive, trailing blanks ignored), arithmetic, date/time text.

use std::cmp::Ordering;

use crate::types::{ClrType, Collation, SqlError, SqlType, Value};

/// Days from 0001-01-01 to 1900-01-01 (the datetime/smalldatetime epoch).
pub const DAYS_TO_1900: i64 = 693_595;
pub const TICKS_PER_DAY: u64 = 864_000_000_000;
pub const TICKS_300_PER_DAY: u32 = 300 * 86_400;
/// 9999-12-31 as days since 0001-01-01.
pub const MAX_DAYS: i64 = 3_652_058;

static COLLATIONS: &[Collation] = &[
    Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
    Collation {
        name: "Latin1_General_CI_AS",
        info: 0x00D0_0409,
        sort_id: 0,
        code_page: 1252,
    },
    Collation {
        name: "Latin1_General_BIN2",
        info: 0x0200_0409,
        sort_id: 0,
        code_page: 1252,
    },
    Collation {
        name: "Latin1_General_100_CI_AS_SC_UTF8",
        info: 0x24D0_0409,
        sort_id: 0,
        code_page: 65001,
    },
    Collation {
        name: "Cyrillic_General_CI_AS",
        info: 0x00D0_0419,
        sort_id: 0,
        code_page: 1251,
    },
    Collation {
        name: "Chinese_PRC_CI_AS",
        info: 0x00D0_0804,
        sort_id: 0,
        code_page: 936,
    },
    Collation {
        name: "Japanese_CI_AS",
        info: 0x00D0_0411,
        sort_id: 0,
        code_page: 932,
    },
];

pub fn collation_by_name(name: &str) -> Option<Collation> {
    COLLATIONS
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .copied()
}

/// 10^n as i128, None beyond 10^38.
pub fn pow10(n: u8) -> Option<i128> {
    10i128.checked_pow(n as u32)
}

/// `12.50` -> (1250, precision 4, scale 2).
pub fn literal_decimal(text: &str) -> Option<(i128, u8, u8)> {
    let (int_part, frac) = text.split_once('.').unwrap_or((text, ""));
    let int_digits = int_part.trim_start_matches('0');
    let scale = frac.len();
    let precision = (int_digits.len() + scale).max(1).max(scale);
    if precision > 38 {
        return None;
    }
    let all: String = format!("{int_part}{frac}");
    let value: i128 = if all.is_empty() { 0 } else { all.parse().ok()? };
    Some((value, precision as u8, scale as u8))
}

/// The name SQL Server uses for a type in messages ("to data type int").
pub fn type_name(t: &SqlType) -> &'static str {
    match t {
        SqlType::Bit => "bit",
        SqlType::TinyInt => "tinyint",
        SqlType::SmallInt => "smallint",
        SqlType::Int => "int",
        SqlType::BigInt => "bigint",
        SqlType::Decimal { numeric: true, .. } => "numeric",
        SqlType::Decimal { .. } => "decimal",
        SqlType::Money => "money",
        SqlType::SmallMoney => "smallmoney",
        SqlType::Real => "real",
        SqlType::Float => "float",
        SqlType::Date => "date",
        SqlType::Time { .. } => "time",
        SqlType::SmallDateTime => "smalldatetime",
        SqlType::DateTime => "datetime",
        SqlType::DateTime2 { .. } => "datetime2",
        SqlType::DateTimeOffset { .. } => "datetimeoffset",
        SqlType::Char { .. } => "char",
        SqlType::VarChar { .. } => "varchar",
        SqlType::Text { .. } => "text",
        SqlType::NChar { .. } => "nchar",
        SqlType::NVarChar { .. } => "nvarchar",
        SqlType::NText { .. } => "ntext",
        SqlType::Binary { .. } => "binary",
        SqlType::VarBinary { .. } => "varbinary",
        SqlType::Image => "image",
        SqlType::UniqueIdentifier => "uniqueidentifier",
        SqlType::Xml => "xml",
        SqlType::RowVersion => "timestamp",
        SqlType::SqlVariant => "sql_variant",
        SqlType::Clr(c) => clr_name(*c),
    }
}

pub fn clr_name(c: ClrType) -> &'static str {
    match c {
        ClrType::HierarchyId => "hierarchyid",
        ClrType::Geometry => "geometry",
        ClrType::Geography => "geography",
    }
}

/// Data type precedence (higher wins), from SQL Server's documentation.
pub fn precedence(t: &SqlType) -> u8 {
    match t {
        // User-defined (CLR) types rank above every system type.
        SqlType::Clr(_) => 31,
        SqlType::SqlVariant => 30,
        SqlType::Xml => 29,
        SqlType::DateTimeOffset { .. } => 28,
        SqlType::DateTime2 { .. } => 27,
        SqlType::DateTime => 26,
        SqlType::SmallDateTime => 25,
        SqlType::Date => 24,
        SqlType::Time { .. } => 23,
        SqlType::Float => 22,
        SqlType::Real => 21,
        SqlType::Decimal { .. } => 20,
        SqlType::Money => 19,
        SqlType::SmallMoney => 18,
        SqlType::BigInt => 17,
        SqlType::Int => 16,
        SqlType::SmallInt => 15,
        SqlType::TinyInt => 14,
        SqlType::Bit => 13,
        SqlType::NText { .. } => 12,
        SqlType::Text { .. } => 11,
        SqlType::Image => 10,
        SqlType::RowVersion => 9,
        SqlType::UniqueIdentifier => 8,
        SqlType::NVarChar { .. } => 7,
        SqlType::NChar { .. } => 6,
        SqlType::VarChar { .. } => 5,
        SqlType::Char { .. } => 4,
        SqlType::VarBinary { .. } => 3,
        SqlType::Binary { .. } => 2,
    }
}

pub fn is_string(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::Char { .. }
            | SqlType::VarChar { .. }
            | SqlType::Text { .. }
            | SqlType::NChar { .. }
            | SqlType::NVarChar { .. }
            | SqlType::NText { .. }
            | SqlType::Xml
    )
}

pub fn is_unicode(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::NChar { .. } | SqlType::NVarChar { .. } | SqlType::NText { .. } | SqlType::Xml
    )
}

pub fn is_binary(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::Binary { .. } | SqlType::VarBinary { .. } | SqlType::Image | SqlType::RowVersion
    )
}

pub fn is_integer(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::Bit | SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt
    )
}

pub fn is_numeric(t: &SqlType) -> bool {
    is_integer(t)
        || matches!(
            t,
            SqlType::Decimal { .. }
                | SqlType::Money
                | SqlType::SmallMoney
                | SqlType::Real
                | SqlType::Float
        )
}

pub fn collation_of(t: &SqlType) -> Option<Collation> {
    match t {
        SqlType::Char { collation, .. }
        | SqlType::VarChar { collation, .. }
        | SqlType::Text { collation }
        | SqlType::NChar { collation, .. }
        | SqlType::NVarChar { collation, .. }
        | SqlType::NText { collation } => Some(*collation),
        _ => None,
    }
}

/// Precision and scale of a type as sys.columns shows them.
pub fn precision_scale(t: &SqlType) -> (u8, u8) {
    let frac = |s: u8| if s > 0 { s + 1 } else { 0 };
    match t {
        SqlType::Bit => (1, 0),
        SqlType::TinyInt => (3, 0),
        SqlType::SmallInt => (5, 0),
        SqlType::Int => (10, 0),
        SqlType::BigInt => (19, 0),
        SqlType::Decimal {
            precision, scale, ..
        } => (*precision, *scale),
        SqlType::Money => (19, 4),
        SqlType::SmallMoney => (10, 4),
        SqlType::Real => (24, 0),
        SqlType::Float => (53, 0),
        SqlType::Date => (10, 0),
        SqlType::Time { scale } => (8 + frac(*scale), *scale),
        SqlType::SmallDateTime => (16, 0),
        SqlType::DateTime => (23, 3),
        SqlType::DateTime2 { scale } => (19 + frac(*scale), *scale),
        SqlType::DateTimeOffset { scale } => (26 + frac(*scale), *scale),
        _ => (0, 0),
    }
}

/// sys.columns.max_length: bytes, -1 for max types.
pub fn max_length(t: &SqlType) -> i16 {
    let time_bytes = |s: u8| match s {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    };
    match t {
        SqlType::Bit | SqlType::TinyInt => 1,
        SqlType::SmallInt => 2,
        SqlType::Int | SqlType::Real | SqlType::SmallMoney | SqlType::SmallDateTime => 4,
        SqlType::BigInt
        | SqlType::Float
        | SqlType::Money
        | SqlType::DateTime
        | SqlType::RowVersion => 8,
        SqlType::Decimal { precision, .. } => match precision {
            0..=9 => 5,
            10..=19 => 9,
            20..=28 => 13,
            _ => 17,
        },
        SqlType::Date => 3,
        SqlType::Time { scale } => time_bytes(*scale),
        SqlType::DateTime2 { scale } => time_bytes(*scale) + 3,
        SqlType::DateTimeOffset { scale } => time_bytes(*scale) + 5,
        SqlType::Char { len, .. } | SqlType::Binary { len } => *len as i16,
        SqlType::VarChar { len, .. } | SqlType::VarBinary { len } => {
            len.map(|l| l as i16).unwrap_or(-1)
        }
        SqlType::NChar { len, .. } => (*len as i16).saturating_mul(2),
        SqlType::NVarChar { len, .. } => len.map(|l| (l as i16).saturating_mul(2)).unwrap_or(-1),
        SqlType::Text { .. }
        | SqlType::NText { .. }
        | SqlType::Image
        | SqlType::UniqueIdentifier => 16,
        SqlType::Xml => -1,
        SqlType::SqlVariant => 8016,
        SqlType::Clr(ClrType::HierarchyId) => 892,
        SqlType::Clr(_) => -1,
    }
}

/// Length limit of a string/binary type in characters (or bytes), None = unlimited.
pub fn char_limit(t: &SqlType) -> Option<usize> {
    match t {
        SqlType::Char { len, .. } | SqlType::NChar { len, .. } | SqlType::Binary { len } => {
            Some(*len as usize)
        }
        SqlType::VarChar { len, .. }
        | SqlType::NVarChar { len, .. }
        | SqlType::VarBinary { len } => len.map(|l| l as usize),
        _ => None,
    }
}

/// The type SQL Server gives a value of `t` when it must describe it alone (sql_variant base).
pub fn value_type(v: &Value) -> SqlType {
    let c = Collation::SQL_LATIN1_GENERAL_CP1_CI_AS;
    match v {
        Value::Null => SqlType::Int,
        Value::Bit(_) => SqlType::Bit,
        Value::TinyInt(_) => SqlType::TinyInt,
        Value::SmallInt(_) => SqlType::SmallInt,
        Value::Int(_) => SqlType::Int,
        Value::BigInt(_) => SqlType::BigInt,
        Value::Decimal { scale, .. } => SqlType::Decimal {
            precision: 38,
            scale: *scale,
            numeric: false,
        },
        Value::Money(_) => SqlType::Money,
        Value::Real(_) => SqlType::Real,
        Value::Float(_) => SqlType::Float,
        Value::Date(_) => SqlType::Date,
        Value::Time(_) => SqlType::Time { scale: 7 },
        Value::SmallDateTime { .. } => SqlType::SmallDateTime,
        Value::DateTime { .. } => SqlType::DateTime,
        Value::DateTime2 { .. } => SqlType::DateTime2 { scale: 7 },
        Value::DateTimeOffset { .. } => SqlType::DateTimeOffset { scale: 7 },
        Value::Str(_) => SqlType::NVarChar {
            len: Some(4000),
            collation: c,
        },
        Value::Bytes(_) => SqlType::VarBinary { len: Some(8000) },
        Value::Guid(_) => SqlType::UniqueIdentifier,
    }
}

// ----- errors -----

pub fn err(number: u32, class: u8, message: impl Into<String>) -> SqlError {
    SqlError::new(number, 1, class, message)
}

fn overflow(to: &SqlType) -> SqlError {
    err(
        8115,
        16,
        format!(
            "Arithmetic overflow error converting expression to data type {}.",
            type_name(to)
        ),
    )
}

fn conversion_failed(from: &SqlType, text: &str, to: &SqlType) -> SqlError {
    let from_name = if is_unicode(from) {
        "nvarchar"
    } else {
        "varchar"
    };
    err(
        245,
        16,
        format!(
            "Conversion failed when converting the {from_name} value '{text}' to data type {}.",
            type_name(to)
        ),
    )
}

// ----- calendar -----

/// Days since 0001-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // era-based days since 1970-01-01, then shifted to 0001-01-01.
    era * 146_097 + doe - 719_468 + 719_162
}

pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days - 719_162 + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// A parsed date/time string: local date (days since 0001-01-01), 100 ns ticks, offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParsedDateTime {
    pub days: i64,
    pub ticks: u64,
    pub offset_minutes: Option<i16>,
    pub has_date: bool,
    pub has_time: bool,
    /// More than 3 fractional digits (datetime refuses them).
    pub fraction_digits: usize,
}

/// Parses the ISO-like forms: `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-MM-DD[ T]hh:mm[:ss[.fffffff]]`,
/// `hh:mm[:ss[.f]]`, each with an optional ` +hh:mm`/`-hh:mm`/`Z` offset.
pub fn parse_datetime(text: &str) -> Option<ParsedDateTime> {
    let s = text.trim();
    let mut rest = s;
    let mut out = ParsedDateTime {
        days: 0,
        ticks: 0,
        offset_minutes: None,
        has_date: false,
        has_time: false,
        fraction_digits: 0,
    };
    // date part
    let date_end = rest.find([' ', 'T']).unwrap_or(rest.len());
    let date_text = &rest[..date_end];
    if !date_text.contains(':') {
        let (y, m, d) = if date_text.len() == 8 && date_text.bytes().all(|b| b.is_ascii_digit()) {
            (
                date_text[0..4].parse::<i64>().ok()?,
                date_text[4..6].parse::<u32>().ok()?,
                date_text[6..8].parse::<u32>().ok()?,
            )
        } else {
            let sep = if date_text.contains('-') {
                '-'
            } else if date_text.contains('/') {
                '/'
            } else if date_text.contains('.') {
                '.'
            } else {
                return None;
            };
            let parts: Vec<&str> = date_text.split(sep).collect();
            if parts.len() != 3 {
                return None;
            }
            if parts[0].len() == 4 {
                (
                    parts[0].parse().ok()?,
                    parts[1].parse().ok()?,
                    parts[2].parse().ok()?,
                )
            } else if parts[2].len() == 4 {
                // mdy, the us_english default DATEFORMAT
                (
                    parts[2].parse().ok()?,
                    parts[0].parse().ok()?,
                    parts[1].parse().ok()?,
                )
            } else {
                return None;
            }
        };
        if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        out.days = days_from_civil(y, m, d);
        out.has_date = true;
        rest = rest[date_end..].trim_start_matches([' ', 'T']);
    }
    // offset
    let mut time_text = rest.trim();
    if let Some(stripped) = time_text.strip_suffix('Z') {
        out.offset_minutes = Some(0);
        time_text = stripped.trim_end();
    } else if let Some(pos) = time_text.rfind(['+', '-']) {
        let off = time_text[pos..].trim();
        let sign: i32 = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].trim().split_once(':')?;
        let h: i32 = h.parse().ok()?;
        let m: i32 = m.parse().ok()?;
        if h > 14 || m > 59 || h * 60 + m > 840 {
            return None;
        }
        out.offset_minutes = Some((sign * (h * 60 + m)) as i16);
        time_text = time_text[..pos].trim_end();
    }
    if !time_text.is_empty() {
        let (hms, frac) = time_text.split_once('.').unwrap_or((time_text, ""));
        let mut parts = hms.split(':');
        let h: u64 = parts.next()?.trim().parse().ok()?;
        let mi: u64 = parts.next()?.parse().ok()?;
        let sec: u64 = match parts.next() {
            Some(x) => x.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() || h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        let (frac, ampm) = match frac.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => (&frac[..i], frac[i..].trim()),
            None => (frac, ""),
        };
        if frac.len() > 7 || !ampm.is_empty() {
            return None;
        }
        let mut f: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        for _ in frac.len()..7 {
            f *= 10;
        }
        out.fraction_digits = frac.len();
        out.ticks = ((h * 60 + mi) * 60 + sec) * 10_000_000 + f;
        out.has_time = true;
    }
    if !out.has_date && !out.has_time {
        return None;
    }
    Some(out)
}

/// Rounds 100 ns ticks to a time scale (0..=7); may reach a whole day.
pub fn round_ticks(ticks: u64, scale: u8) -> u64 {
    let unit = 10u64.pow(7 - scale.min(7) as u32);
    (ticks + unit / 2) / unit * unit
}

/// datetime's 1/300 s ticks from 100 ns ticks (rounded as SQL Server does).
pub fn ticks_to_300(ticks: u64) -> u64 {
    (ticks * 3 + 50_000) / 100_000
}

pub fn ticks_from_300(t300: u32) -> u64 {
    (t300 as u64 * 100_000 + 1) / 3
}

/// Date and 100 ns time of a date/time value (local time for datetimeoffset).
pub fn date_time_parts(v: &Value) -> Option<(i64, u64, Option<i16>)> {
    match v {
        Value::Date(d) => Some((*d as i64, 0, None)),
        Value::Time(t) => Some((DAYS_TO_1900, *t, None)),
        Value::SmallDateTime { days, minutes } => Some((
            DAYS_TO_1900 + *days as i64,
            *minutes as u64 * 600_000_000,
            None,
        )),
        Value::DateTime { days, ticks_300 } => Some((
            DAYS_TO_1900 + *days as i64,
            ticks_from_300(*ticks_300),
            None,
        )),
        Value::DateTime2 { days, ticks_100ns } => Some((*days as i64, *ticks_100ns, None)),
        Value::DateTimeOffset {
            days,
            ticks_100ns,
            offset_minutes,
        } => {
            let (d, t) = shift(*days as i64, *ticks_100ns, *offset_minutes as i64);
            Some((d, t, Some(*offset_minutes)))
        }
        _ => None,
    }
}

/// Adds `minutes` to a (days, ticks) instant.
pub fn shift(days: i64, ticks: u64, minutes: i64) -> (i64, u64) {
    let total =
        days as i128 * TICKS_PER_DAY as i128 + ticks as i128 + minutes as i128 * 600_000_000;
    let d = total.div_euclid(TICKS_PER_DAY as i128);
    let t = total.rem_euclid(TICKS_PER_DAY as i128);
    (d as i64, t as u64)
}

/// Builds a value of a date/time type from local date, time and offset.
pub fn make_datetime(
    days: i64,
    ticks: u64,
    offset: Option<i16>,
    to: &SqlType,
    out_of_range: impl Fn() -> SqlError,
) -> Result<Value, SqlError> {
    match to {
        SqlType::Date => {
            if !(0..=MAX_DAYS).contains(&days) {
                return Err(out_of_range());
            }
            Ok(Value::Date(days as u32))
        }
        SqlType::Time { scale } => {
            let t = round_ticks(ticks, *scale) % TICKS_PER_DAY;
            Ok(Value::Time(t))
        }
        SqlType::DateTime2 { scale } => {
            let (d, t) = shift(days, round_ticks(ticks, *scale), 0);
            if !(0..=MAX_DAYS).contains(&d) {
                return Err(out_of_range());
            }
            Ok(Value::DateTime2 {
                days: d as u32,
                ticks_100ns: t,
            })
        }
        SqlType::DateTimeOffset { scale } => {
            let off = offset.unwrap_or(0);
            let (d, t) = shift(days, round_ticks(ticks, *scale), -(off as i64));
            if !(0..=MAX_DAYS).contains(&d) {
                return Err(out_of_range());
            }
            Ok(Value::DateTimeOffset {
                days: d as u32,
                ticks_100ns: t,
                offset_minutes: off,
            })
        }
        SqlType::DateTime => {
            let mut d = days - DAYS_TO_1900;
            let mut t300 = ticks_to_300(ticks);
            if t300 >= TICKS_300_PER_DAY as u64 {
                t300 -= TICKS_300_PER_DAY as u64;
                d += 1;
            }
            // 1753-01-01 .. 9999-12-31
            if !(-53_690..=2_958_463).contains(&d) {
                return Err(out_of_range());
            }
            Ok(Value::DateTime {
                days: d as i32,
                ticks_300: t300 as u32,
            })
        }
        SqlType::SmallDateTime => {
            let mut d = days - DAYS_TO_1900;
            // rounds to the minute (30 s up)
            let mut minutes = (ticks + 300_000_000) / 600_000_000;
            if minutes >= 1440 {
                minutes -= 1440;
                d += 1;
            }
            // 1900-01-01 .. 2079-06-06
            if !(0..=65_535).contains(&d) {
                return Err(out_of_range());
            }
            Ok(Value::SmallDateTime {
                days: d as u16,
                minutes: minutes as u16,
            })
        }
        _ => Err(out_of_range()),
    }
}

pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn format_time(ticks: u64, scale: u8) -> String {
    let secs = ticks / 10_000_000;
    let frac = ticks % 10_000_000;
    let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if scale > 0 {
        let digits = format!("{frac:07}");
        s.push('.');
        s.push_str(&digits[..scale.min(7) as usize]);
    }
    s
}

fn format_offset(minutes: i16) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// datetime/smalldatetime in style 0: `Jan  1 2020 12:00AM`.
fn format_style0(days: i64, ticks: u64) -> String {
    let (y, m, d) = civil_from_days(days);
    let minutes = ticks / 600_000_000;
    let (h, mi) = (minutes / 60, minutes % 60);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!(
        "{} {d:>2} {y} {h12:>2}:{mi:02}{ampm}",
        MONTHS[(m - 1) as usize]
    )
}

pub fn format_decimal(value: i128, scale: u8) -> String {
    let neg = value < 0;
    let digits = value.unsigned_abs().to_string();
    let scale = scale as usize;
    let s = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!(
            "{}.{}",
            &digits[..digits.len() - scale],
            &digits[digits.len() - scale..]
        )
    } else {
        format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
    };
    if neg {
        format!("-{s}")
    } else {
        s
    }
}

/// float/real as CAST to varchar shows them: up to `digits` significant digits, `e+006` form.
pub fn format_float(f: f64, digits: usize) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if !f.is_finite() {
        return f.to_string();
    }
    let exp = f.abs().log10().floor() as i32;
    if !(-5..(digits as i32)).contains(&exp) {
        let mantissa = f / 10f64.powi(exp);
        let mut m = format!("{:.*}", digits - 1, mantissa);
        if m.contains('.') {
            m = m.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:03}", exp.abs());
    }
    let decimals = (digits as i32 - 1 - exp).max(0) as usize;
    let mut s = format!("{:.*}", decimals, f);
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s
}

pub fn format_guid(g: &[u8; 16]) -> String {
    let h: String = g.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn parse_guid(s: &str) -> Option<[u8; 16]> {
    let t = s.trim().trim_start_matches('{').trim_end_matches('}');
    if !t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return None;
    }
    let parts: Vec<&str> = t.split('-').collect();
    if parts.len() != 5
        || [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .any(|(n, p)| p.len() != *n)
    {
        return None;
    }
    let hex: String = parts.concat();
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// The text of a value as CAST/CONVERT to a string type produces it.
pub fn to_text(v: &Value, from: &SqlType, style: Option<i64>) -> String {
    let style = style.unwrap_or(0);
    match v {
        Value::Null => String::new(),
        Value::Bit(b) => if *b { "1" } else { "0" }.into(),
        Value::TinyInt(x) => x.to_string(),
        Value::SmallInt(x) => x.to_string(),
        Value::Int(x) => x.to_string(),
        Value::BigInt(x) => x.to_string(),
        Value::Decimal { value, scale } => format_decimal(*value, *scale),
        Value::Money(m) => {
            if style == 2 {
                format_decimal(*m as i128, 4)
            } else {
                // style 0: two decimals, rounded
                let r = if *m >= 0 {
                    (*m + 50) / 100
                } else {
                    (*m - 50) / 100
                };
                format_decimal(r as i128, 2)
            }
        }
        Value::Real(f) => format_float(*f as f64, 6),
        Value::Float(f) => format_float(*f, if style == 0 { 6 } else { 17 }),
        Value::Str(s) => s.to_string(),
        Value::Bytes(b) => {
            if style == 1 || style == 2 {
                let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
                if style == 1 {
                    format!("0x{hex}")
                } else {
                    hex
                }
            } else {
                b.iter().map(|&x| x as char).collect()
            }
        }
        Value::Guid(g) => format_guid(g),
        _ => {
            let Some((days, ticks, offset)) = date_time_parts(v) else {
                return String::new();
            };
            let scale = match from {
                SqlType::Time { scale }
                | SqlType::DateTime2 { scale }
                | SqlType::DateTimeOffset { scale } => *scale,
                _ => 7,
            };
            match v {
                Value::Date(_) => match style {
                    101 => {
                        let (y, m, d) = civil_from_days(days);
                        format!("{m:02}/{d:02}/{y:04}")
                    }
                    112 => format_date(days).replace('-', ""),
                    _ => format_date(days),
                },
                Value::Time(_) => format_time(ticks, scale),
                Value::DateTime { .. } | Value::SmallDateTime { .. } => {
                    // 1/300 s ticks show as .xx0, .xx3 or .xx7 (rounded milliseconds).
                    let ms = |t: u64| ((t + 5_000) / 10_000) % 1000;
                    match style {
                        120 | 20 => format!("{} {}", format_date(days), format_time(ticks, 0)),
                        121 | 21 | 25 => format!(
                            "{} {}.{:03}",
                            format_date(days),
                            format_time(ticks, 0),
                            ms(ticks)
                        ),
                        126 | 127 => {
                            let base = format!("{}T{}", format_date(days), format_time(ticks, 0));
                            if ms(ticks) == 0 {
                                base
                            } else {
                                format!("{base}.{:03}", ms(ticks))
                            }
                        }
                        23 => format_date(days),
                        112 => format_date(days).replace('-', ""),
                        108 | 8 => format_time(ticks, 0),
                        _ => format_style0(days, ticks),
                    }
                }
                _ => {
                    let sep = if style == 126 || style == 127 {
                        'T'
                    } else {
                        ' '
                    };
                    let mut s = format!("{}{sep}{}", format_date(days), format_time(ticks, scale));
                    if let Some(o) = offset {
                        s.push(' ');
                        s.push_str(&format_offset(o));
                    }
                    s
                }
            }
        }
    }
}

pub fn int_value(v: &Value) -> Option<i64> {
    match v {
        Value::Bit(b) => Some(*b as i64),
        Value::TinyInt(x) => Some(*x as i64),
        Value::SmallInt(x) => Some(*x as i64),
        Value::Int(x) => Some(*x as i64),
        Value::BigInt(x) => Some(*x),
        _ => None,
    }
}

/// A numeric value as an exact decimal (unscaled, scale) when it is exact.
pub fn decimal_value(v: &Value) -> Option<(i128, u8)> {
    match v {
        Value::Decimal { value, scale } => Some((*value, *scale)),
        Value::Money(m) => Some((*m as i128, 4)),
        other => int_value(other).map(|i| (i as i128, 0)),
    }
}

pub fn float_value(v: &Value) -> Option<f64> {
    match v {
        Value::Real(f) => Some(*f as f64),
        Value::Float(f) => Some(*f),
        other => decimal_value(other).map(|(x, s)| x as f64 / 10f64.powi(s as i32)),
    }
}

pub fn rescale(value: i128, from: u8, to: u8) -> Option<i128> {
    if to >= from {
        value.checked_mul(10i128.checked_pow((to - from) as u32)?)
    } else {
        let f = 10i128.checked_pow((from - to) as u32)?;
        let q = value / f;
        let r = value % f;
        Some(if r.unsigned_abs() * 2 >= f.unsigned_abs() {
            q + value.signum()
        } else {
            q
        })
    }
}

pub fn parse_decimal_text(s: &str) -> Option<(i128, u8)> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if t.is_empty()
        || !t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || t.matches('.').count() > 1
        || t == "."
    {
        return None;
    }
    let (v, _, s) = literal_decimal(t)?;
    Some((if neg { -v } else { v }, s))
}

fn parse_int_text(s: &str) -> Option<i64> {
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() {
        // '' converts to 0 in SQL Server.
        return Some(0);
    }
    t.parse().ok()
}

/// Converts `v` (of type `from`) to `to`, as CAST/CONVERT does (strings are truncated silently
/// to the target length; integer overflow and bad text are errors).
pub fn convert(
    v: &Value,
    from: &SqlType,
    to: &SqlType,
    style: Option<i64>,
) -> Result<Value, SqlError> {
    if let Value::Null = v {
        return Ok(Value::Null);
    }
    if matches!(from, SqlType::Clr(_)) || matches!(to, SqlType::Clr(_)) {
        clr_conversion(from, to, true)?;
        if let (SqlType::Clr(c), Value::Bytes(b)) = (to, v) {
            if *from != *to {
                return clr_from_bytes(*c, b);
            }
        }
    }
    let c = |v: Value| Ok(v);
    match to {
        SqlType::Clr(_) => c(v.clone()),
        SqlType::SqlVariant => c(v.clone()),
        SqlType::Bit | SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
            let i: i64 = match v {
                Value::Str(s) => {
                    if *to == SqlType::Bit {
                        match s.trim().to_ascii_lowercase().as_str() {
                            "true" => 1,
                            "false" => 0,
                            t => parse_int_text(t)
                                .or_else(|| parse_decimal_text(t).map(|(x, _)| x.signum() as i64))
                                .ok_or_else(|| conversion_failed(from, s, to))?,
                        }
                    } else {
                        parse_int_text(s).ok_or_else(|| conversion_failed(from, s, to))?
                    }
                }
                Value::Decimal { value, scale } => {
                    let t = *value / pow10(*scale).ok_or_else(|| overflow(to))?;
                    i64::try_from(t).map_err(|_| overflow(to))?
                }
                Value::Money(m) => {
                    // money rounds to the nearest integer
                    let r = rescale(*m as i128, 4, 0).ok_or_else(|| overflow(to))?;
                    i64::try_from(r).map_err(|_| overflow(to))?
                }
                Value::Real(_) | Value::Float(_) => {
                    let f = float_value(v).unwrap_or(0.0).trunc();
                    if !(-9.3e18..9.3e18).contains(&f) {
                        return Err(overflow(to));
                    }
                    f as i64
                }
                Value::Bytes(b) => {
                    let mut x: i64 = 0;
                    let tail = &b[b.len().saturating_sub(8)..];
                    for byte in tail {
                        x = (x << 8) | *byte as i64;
                    }
                    x
                }
                Value::DateTime { days, ticks_300 } if *to != SqlType::Bit => {
                    // rounds to the nearest day
                    *days as i64 + if *ticks_300 >= TICKS_300_PER_DAY / 2 { 1 } else { 0 }
                }
                other => match int_value(other) {
                    Some(i) => i,
                    None => return Err(explicit_not_allowed(from, to)),
                },
            };
            match to {
                SqlType::Bit => c(Value::Bit(i != 0)),
                SqlType::TinyInt => u8::try_from(i)
                    .map(Value::TinyInt)
                    .map_err(|_| err(220, 16, format!("Arithmetic overflow error for data type tinyint, value = {i}."))),
                SqlType::SmallInt => i16::try_from(i)
                    .map(Value::SmallInt)
                    .map_err(|_| err(220, 16, format!("Arithmetic overflow error for data type smallint, value = {i}."))),
                SqlType::Int => i32::try_from(i).map(Value::Int).map_err(|_| overflow(to)),
                _ => c(Value::BigInt(i)),
            }
        }
        SqlType::Decimal { .. } | SqlType::Money | SqlType::SmallMoney => {
            let (p, s) = match to {
                SqlType::Decimal {
                    precision, scale, ..
                } => (*precision, *scale),
                SqlType::Money => (19, 4),
                _ => (10, 4),
            };
            let unscaled = match v {
                Value::Str(text) => {
                    let t = text.trim().trim_start_matches('$');
                    let (x, xs) = parse_decimal_text(t).ok_or_else(|| {
                        err(
                            8114,
                            16,
                            format!(
                                "Error converting data type {} to {}.",
                                if is_unicode(from) { "nvarchar" } else { "varchar" },
                                type_name(to)
                            ),
                        )
                    })?;
                    rescale(x, xs, s)
                }
                Value::Real(_) | Value::Float(_) => {
                    let f = float_value(v).unwrap_or(0.0) * 10f64.powi(s as i32);
                    if f.abs() >= 1e38 {
                        None
                    } else {
                        Some(f.round() as i128)
                    }
                }
                other => match decimal_value(other) {
                    Some((x, xs)) => rescale(x, xs, s),
                    None => return Err(explicit_not_allowed(from, to)),
                },
            };
            let unscaled = unscaled.ok_or_else(|| numeric_overflow(from, to))?;
            match to {
                SqlType::Decimal { .. } => {
                    if pow10(p).is_none_or(|limit| unscaled.unsigned_abs() >= limit.unsigned_abs()) {
                        return Err(numeric_overflow(from, to));
                    }
                    c(Value::Decimal {
                        value: unscaled,
                        scale: s,
                    })
                }
                SqlType::Money => i64::try_from(unscaled).map(Value::Money).map_err(|_| numeric_overflow(from, to)),
                _ => {
                    if i32::try_from(unscaled).is_err() {
                        return Err(numeric_overflow(from, to));
                    }
                    c(Value::Money(unscaled as i64))
                }
            }
        }
        SqlType::Real | SqlType::Float => {
            let f = match v {
                Value::Str(text) => text.trim().parse::<f64>().map_err(|_| {
                    err(
                        8114,
                        16,
                        format!(
                            "Error converting data type {} to float.",
                            if is_unicode(from) { "nvarchar" } else { "varchar" }
                        ),
                    )
                })?,
                other => float_value(other).ok_or_else(|| explicit_not_allowed(from, to))?,
            };
            if *to == SqlType::Real {
                c(Value::Real(f as f32))
            } else {
                c(Value::Float(f))
            }
        }
        SqlType::Date
        | SqlType::Time { .. }
        | SqlType::DateTime
        | SqlType::SmallDateTime
        | SqlType::DateTime2 { .. }
        | SqlType::DateTimeOffset { .. } => {
            let range_err = || {
                err(
                    242,
                    16,
                    format!(
                        "The conversion of a {} data type to a {} data type resulted in an out-of-range value.",
                        type_name(from),
                        type_name(to)
                    ),
                )
            };
            match v {
                Value::Str(text) => {
                    let p = parse_datetime(text).ok_or_else(|| {
                        err(241, 16, "Conversion failed when converting date and/or time from character string.")
                    })?;
                    if matches!(to, SqlType::DateTime | SqlType::SmallDateTime) && p.fraction_digits > 3 {
                        return Err(err(241, 16, "Conversion failed when converting date and/or time from character string."));
                    }
                    let days = if p.has_date { p.days } else { DAYS_TO_1900 };
                    // Converting text with an offset to a type without one keeps the local time.
                    make_datetime(days, p.ticks, p.offset_minutes, to, range_err)
                }
                Value::Int(_) | Value::BigInt(_) | Value::SmallInt(_) | Value::TinyInt(_) | Value::Decimal { .. } | Value::Float(_)
                    if matches!(to, SqlType::DateTime | SqlType::SmallDateTime) =>
                {
                    let f = float_value(v).unwrap_or(0.0);
                    let days = f.floor();
                    let ticks = ((f - days) * TICKS_PER_DAY as f64).round() as u64;
                    make_datetime(DAYS_TO_1900 + days as i64, ticks, None, to, range_err)
                }
                other => {
                    let (days, ticks, offset) = date_time_parts(other).ok_or_else(|| explicit_not_allowed(from, to))?;
                    if matches!(other, Value::Time(_)) && matches!(to, SqlType::Date) {
                        return Err(explicit_not_allowed(from, to));
                    }
                    if matches!(other, Value::Date(_)) && matches!(to, SqlType::Time { .. }) {
                        return Err(explicit_not_allowed(from, to));
                    }
                    make_datetime(days, ticks, offset, to, range_err)
                }
            }
        }
        SqlType::Char { .. }
        | SqlType::VarChar { .. }
        | SqlType::Text { .. }
        | SqlType::NChar { .. }
        | SqlType::NVarChar { .. }
        | SqlType::NText { .. }
        | SqlType::Xml => {
            let text = match v {
                Value::Bytes(b) if is_unicode(to) && style.unwrap_or(0) == 0 => {
                    let units: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                    String::from_utf16_lossy(&units)
                }
                Value::Bytes(b) if style.unwrap_or(0) == 0 => String::from_utf8_lossy(b).into_owned(),
                _ => to_text(v, from, style),
            };
            let text = if is_unicode(to) {
                text
            } else {
                to_code_page(&text, to)
            };
            let text = match char_limit(to) {
                Some(limit) if !matches!(v, Value::Str(_)) && is_numeric(from) && text.chars().count() > limit => {
                    // Numbers that do not fit come back as '*' (varchar) or fail (nvarchar).
                    if is_unicode(to) {
                        return Err(err(8115, 16, format!("Arithmetic overflow error converting expression to data type {}.", type_name(to))));
                    }
                    "*".to_string()
                }
                Some(limit) => truncate_chars(&text, limit, is_unicode(to)),
                None => text,
            };
            // char(n)/nchar(n) hold exactly n characters, blank-padded.
            let text = match to {
                SqlType::Char { len, .. } | SqlType::NChar { len, .. } => {
                    let have = string_units(&text, is_unicode(to));
                    let mut t = text;
                    for _ in have..*len as usize {
                        t.push(' ');
                    }
                    t
                }
                _ => text,
            };
            c(Value::Str(text.into()))
        }
        SqlType::Binary { .. } | SqlType::VarBinary { .. } | SqlType::Image | SqlType::RowVersion => {
            let mut bytes: Vec<u8> = match v {
                Value::Bytes(b) => b.to_vec(),
                Value::Str(s) => {
                    if is_unicode(from) {
                        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
                    } else {
                        s.chars().map(|ch| if (ch as u32) < 256 { ch as u8 } else { b'?' }).collect()
                    }
                }
                Value::Bit(b) => vec![*b as u8],
                Value::TinyInt(x) => vec![*x],
                Value::SmallInt(x) => x.to_be_bytes().to_vec(),
                Value::Int(x) => x.to_be_bytes().to_vec(),
                Value::BigInt(x) => x.to_be_bytes().to_vec(),
                Value::Guid(g) => guid_to_sql_order(g).to_vec(),
                _ => return Err(explicit_not_allowed(from, to)),
            };
            if let SqlType::RowVersion = to {
                bytes.resize(8, 0);
            }
            if let Some(limit) = char_limit(to) {
                bytes.truncate(limit);
            }
            if let SqlType::Binary { len } = to {
                bytes.resize(*len as usize, 0);
            }
            c(Value::Bytes(bytes.into()))
        }
        SqlType::UniqueIdentifier => match v {
            Value::Guid(_) => c(v.clone()),
            Value::Str(s) => parse_guid(s)
                .map(Value::Guid)
                .ok_or_else(|| err(8169, 16, "Conversion failed when converting from a character string to uniqueidentifier.")),
            Value::Bytes(b) if b.len() >= 16 => {
                let mut raw = [0u8; 16];
                raw.copy_from_slice(&b[..16]);
                c(Value::Guid(guid_to_sql_order(&raw)))
            }
            _ => Err(explicit_not_allowed(from, to)),
        },
    }
}

/// SQL Server stores a GUID's first three groups little-endian; the swap is its own inverse.
pub fn guid_to_sql_order(g: &[u8; 16]) -> [u8; 16] {
    let mut o = *g;
    o[0..4].reverse();
    o[4..6].reverse();
    o[6..8].reverse();
    o
}

fn numeric_overflow(from: &SqlType, to: &SqlType) -> SqlError {
    err(
        8115,
        16,
        format!(
            "Arithmetic overflow error converting {} to data type {}.",
            type_name(from),
            type_name(to)
        ),
    )
}

fn explicit_not_allowed(from: &SqlType, to: &SqlType) -> SqlError {
    err(
        529,
        16,
        format!(
            "Explicit conversion from data type {} to {} is not allowed.",
            type_name(from),
            type_name(to)
        ),
    )
}

/// Cuts a string to `limit` characters (UTF-16 units for N types, bytes for single-byte ones).
pub fn truncate_chars(s: &str, limit: usize, unicode: bool) -> String {
    if unicode {
        let mut units = 0;
        let mut out = String::new();
        for ch in s.chars() {
            units += ch.len_utf16();
            if units > limit {
                break;
            }
            out.push(ch);
        }
        out
    } else {
        s.chars().take(limit).collect()
    }
}

/// Text as a single-byte column of `to`'s code page holds it: characters the code page
/// lacks become '?' (one per UTF-16 unit, as SQL Server converts them).
pub fn to_code_page(text: &str, to: &SqlType) -> String {
    let code_page = collation_of(to).map(|c| c.code_page).unwrap_or(1252);
    if text.is_ascii() || code_page == 65001 {
        return text.to_string();
    }
    let Some(encoding) = crate::wire::encode::encoding_for_code_page(code_page) else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for ch in text.chars() {
        let piece = ch.encode_utf8(&mut buf);
        let (_, _, unmappable) = encoding.encode(piece);
        if unmappable {
            for _ in 0..ch.len_utf16() {
                out.push('?');
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// Bytes of a string in a single-byte column's code page (what varchar(n) counts).
pub fn single_byte_len(text: &str, to: &SqlType) -> usize {
    let code_page = collation_of(to).map(|c| c.code_page).unwrap_or(1252);
    if text.is_ascii() {
        return text.len();
    }
    match crate::wire::encode::encoding_for_code_page(code_page) {
        None => text.len(),
        Some(encoding) => encoding.encode(text).0.len(),
    }
}

/// Length of a string as the column limit counts it.
pub fn string_units(s: &str, unicode: bool) -> usize {
    if unicode {
        s.encode_utf16().count()
    } else {
        s.chars().count()
    }
}

/// The type two operands are compared or combined in (higher precedence wins).
pub fn common_type(a: &SqlType, b: &SqlType) -> SqlType {
    if precedence(a) >= precedence(b) {
        a.clone()
    } else {
        b.clone()
    }
}

/// Compares two non-NULL values of the same comparison type.
pub fn compare(a: &Value, b: &Value, binary_collation: bool) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(compare_text(x, y, binary_collation)),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (Value::Guid(x), Value::Guid(y)) => {
            // SQL Server orders uniqueidentifier by byte groups 10-15, 8-9, 6-7, 4-5, 0-3.
            let key = |g: &[u8; 16]| {
                let mut k = Vec::with_capacity(16);
                k.extend_from_slice(&g[10..16]);
                k.extend_from_slice(&g[8..10]);
                k.extend_from_slice(&g[6..8]);
                k.extend_from_slice(&g[4..6]);
                k.extend_from_slice(&g[0..4]);
                k
            };
            Some(key(x).cmp(&key(y)))
        }
        (Value::Real(_) | Value::Float(_), _) | (_, Value::Real(_) | Value::Float(_)) => {
            float_value(a)?.partial_cmp(&float_value(b)?)
        }
        _ => {
            if let (Some(x), Some(y)) = (int_value(a), int_value(b)) {
                return Some(x.cmp(&y));
            }
            if let (Some((x, xs)), Some((y, ys))) = (decimal_value(a), decimal_value(b)) {
                let s = xs.max(ys);
                return match (rescale(x, xs, s), rescale(y, ys, s)) {
                    (Some(x), Some(y)) => Some(x.cmp(&y)),
                    _ => float_value(a)?.partial_cmp(&float_value(b)?),
                };
            }
            let instant = |v: &Value| -> Option<(i64, u64)> {
                match v {
                    Value::DateTimeOffset {
                        days, ticks_100ns, ..
                    } => Some((*days as i64, *ticks_100ns)),
                    Value::Time(t) => Some((0, *t)),
                    other => date_time_parts(other).map(|(d, t, _)| (d, t)),
                }
            };
            Some(instant(a)?.cmp(&instant(b)?))
        }
    }
}

/// A character's place under SQL Server's Latin1 CI_AS collations: its letter (case
/// folded) and an accent rank, so that `Å` sorts with `A` (after it) and before `B`.
pub fn collation_key(c: char) -> (char, u8) {
    let lower = if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        let mut l = c.to_lowercase();
        match (l.next(), l.next()) {
            (Some(x), None) => x,
            _ => c,
        }
    };
    match lower {
        'á' => ('a', 1),
        'à' => ('a', 2),
        'â' => ('a', 3),
        'ä' => ('a', 4),
        'ã' => ('a', 5),
        'å' => ('a', 6),
        'æ' => ('a', 7),
        'ç' => ('c', 1),
        'é' => ('e', 1),
        'è' => ('e', 2),
        'ê' => ('e', 3),
        'ë' => ('e', 4),
        'í' => ('i', 1),
        'ì' => ('i', 2),
        'î' => ('i', 3),
        'ï' => ('i', 4),
        'ð' => ('d', 1),
        'ñ' => ('n', 1),
        'ó' => ('o', 1),
        'ò' => ('o', 2),
        'ô' => ('o', 3),
        'ö' => ('o', 4),
        'õ' => ('o', 5),
        'ø' => ('o', 6),
        'ú' => ('u', 1),
        'ù' => ('u', 2),
        'û' => ('u', 3),
        'ü' => ('u', 4),
        'ý' => ('y', 1),
        'ÿ' => ('y', 4),
        'ß' => ('s', 9),
        'þ' => ('t', 9),
        other => (other, 0),
    }
}

/// Case-insensitive and accent-sensitive (unless binary), trailing blanks ignored, as the
/// CI_AS collations compare: letters first, accents only to break a tie.
pub fn compare_text(x: &str, y: &str, binary: bool) -> Ordering {
    let x = x.trim_end_matches(' ');
    let y = y.trim_end_matches(' ');
    if binary {
        return x.cmp(y);
    }
    if x.is_ascii() && y.is_ascii() {
        let (a, b) = (x.as_bytes(), y.as_bytes());
        for (p, q) in a.iter().zip(b) {
            let (p, q) = (p.to_ascii_lowercase(), q.to_ascii_lowercase());
            if p != q {
                return p.cmp(&q);
            }
        }
        return a.len().cmp(&b.len());
    }
    let primary = |s: &str| s.chars().map(|c| collation_key(c).0).collect::<Vec<_>>();
    match primary(x).cmp(&primary(y)) {
        Ordering::Equal => {}
        o => return o,
    }
    let secondary = |s: &str| s.chars().map(|c| collation_key(c).1).collect::<Vec<_>>();
    secondary(x).cmp(&secondary(y))
}

/// One element of a LIKE pattern.
enum LikeTok {
    Any,
    One,
    /// `[...]`: ranges and single characters (as collation keys), negated with `^`.
    Class(Vec<((char, u8), (char, u8))>, bool),
    Lit((char, u8)),
}

fn like_pattern(pattern: &str) -> Vec<LikeTok> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '%' => {
                if !matches!(out.last(), Some(LikeTok::Any)) {
                    out.push(LikeTok::Any);
                }
            }
            '_' => out.push(LikeTok::One),
            '[' => match p[i + 1..].iter().position(|&c| c == ']') {
                Some(len) => {
                    let class = &p[i + 1..i + 1 + len];
                    let (negate, class) = match class.first() {
                        Some('^') => (true, &class[1..]),
                        _ => (false, class),
                    };
                    let mut items = Vec::new();
                    let mut k = 0;
                    while k < class.len() {
                        if k + 2 < class.len() && class[k + 1] == '-' {
                            items.push((collation_key(class[k]), collation_key(class[k + 2])));
                            k += 3;
                        } else {
                            let key = collation_key(class[k]);
                            items.push((key, key));
                            k += 1;
                        }
                    }
                    out.push(LikeTok::Class(items, negate));
                    i += len + 1;
                }
                None => out.push(LikeTok::Lit(collation_key('['))),
            },
            c => out.push(LikeTok::Lit(collation_key(c))),
        }
        i += 1;
    }
    out
}

/// `LIKE` with `%`, `_` and `[...]` classes, under the CI_AS collation. Linear memory and
/// text × pattern time, whatever the pattern.
pub fn like(text: &str, pattern: &str) -> bool {
    let pat = like_pattern(pattern);
    // matched[j]: the pattern's first j elements match the text read so far.
    let mut matched = vec![false; pat.len() + 1];
    matched[0] = true;
    for j in 0..pat.len() {
        if matches!(pat[j], LikeTok::Any) && matched[j] {
            matched[j + 1] = true;
        }
    }
    let mut next = vec![false; pat.len() + 1];
    for c in text.chars().map(collation_key) {
        next.iter_mut().for_each(|m| *m = false);
        for j in 0..pat.len() {
            let hit = match &pat[j] {
                LikeTok::Any => {
                    // % absorbs this character.
                    if matched[j + 1] {
                        next[j + 1] = true;
                    }
                    false
                }
                LikeTok::One => true,
                LikeTok::Lit(k) => *k == c,
                LikeTok::Class(items, negate) => {
                    items.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negate
                }
            };
            if hit && matched[j] {
                next[j + 1] = true;
            }
            if matches!(pat[j], LikeTok::Any) && next[j] {
                next[j + 1] = true;
            }
        }
        std::mem::swap(&mut matched, &mut next);
        if !matched.iter().any(|m| *m) {
            return false;
        }
    }
    matched[pat.len()]
}

// ----- CLR types (hierarchyid, geometry, geography) -----

/// Error 206: an implicit conversion SQL Server does not make.
pub fn operand_type_clash(from: &SqlType, to: &SqlType) -> SqlError {
    SqlError::new(
        206,
        2,
        16,
        format!(
            "Operand type clash: {} is incompatible with {}",
            type_name(from),
            type_name(to)
        ),
    )
}

/// Whether SQL Server converts between `from` and `to` when one of them is a CLR type, and
/// the error when it does not. `explicit` is CAST/CONVERT. Conversions SQL Server makes but
/// the engine does not (string Parse/ToString, image, implicit CLR to binary) are 40517.
pub fn clr_conversion(from: &SqlType, to: &SqlType, explicit: bool) -> Result<(), SqlError> {
    let not_allowed = || {
        if explicit {
            explicit_not_allowed(from, to)
        } else {
            operand_type_clash(from, to)
        }
    };
    let not_implemented = || {
        super::expr::unsupported(&format!(
            "conversion from {} to {}",
            type_name(from),
            type_name(to)
        ))
    };
    let plain_binary =
        |t: &SqlType| matches!(t, SqlType::Binary { .. } | SqlType::VarBinary { .. });
    let string = |t: &SqlType| {
        matches!(
            t,
            SqlType::Char { .. }
                | SqlType::VarChar { .. }
                | SqlType::NChar { .. }
                | SqlType::NVarChar { .. }
        )
    };
    let unsure = |t: &SqlType| {
        matches!(
            t,
            SqlType::Image | SqlType::Text { .. } | SqlType::NText { .. } | SqlType::RowVersion
        )
    };
    match (from, to) {
        (SqlType::Clr(a), SqlType::Clr(b)) if a == b => Ok(()),
        (SqlType::Clr(_), SqlType::Clr(_)) => Err(not_allowed()),
        // varbinary -> CLR type deserializes the value (SSMS scripts data this way).
        (f, SqlType::Clr(_)) if plain_binary(f) => Ok(()),
        (f, SqlType::Clr(_)) if string(f) || unsure(f) => Err(not_implemented()),
        (SqlType::SqlVariant, SqlType::Clr(_)) if explicit => Err(not_implemented()),
        (_, SqlType::Clr(_)) => Err(not_allowed()),
        (SqlType::Clr(_), t) if plain_binary(t) && explicit => Ok(()),
        (SqlType::Clr(_), t) if plain_binary(t) || string(t) || unsure(t) => Err(not_implemented()),
        _ => Err(not_allowed()),
    }
}

/// A CLR value from its serialized bytes (varbinary to hierarchyid/geometry/geography), after
/// the checks SQL Server's deserializer makes on the format's structure.
pub fn clr_from_bytes(c: ClrType, b: &[u8]) -> Result<Value, SqlError> {
    let ok = match c {
        ClrType::HierarchyId => valid_hierarchyid(b),
        ClrType::Geometry | ClrType::Geography => valid_spatial(c, b),
    };
    if ok {
        return Ok(Value::Bytes(b.into()));
    }
    let detail = match c {
        ClrType::HierarchyId => "Microsoft.SqlServer.Types.HierarchyIdException: 24000: SqlHierarchyId operation failed because HierarchyId object was constructed from an invalid binary string.",
        _ => "System.FormatException: One of the identified items was in an invalid format.",
    };
    Err(err(
        6522,
        16,
        format!(
            "A .NET Framework error occurred during execution of user-defined routine or aggregate \"{}\": \n{detail}\n",
            clr_name(c)
        ),
    ))
}

/// hierarchyid label encodings (MS-SSCLRT 2.1.1): fixed bits, `x` value bits, `T` the
/// terminator (1 ends the level, 0 continues it with a dotted component).
const HIERARCHYID_PATTERNS: &[&str] = &[
    "01xxT",
    "100xxT",
    "101xxxT",
    "110xx0x1xxxT",
    "1110xxx0xxx0x1xxxT",
    "11110xxxxx0xxx0x1xxxT",
    "111110xxxxxxxxxxxxxxxxxxx0xxxxxx0xxx0x1xxxT",
    "111111xxxxxxxxxxxxxx0xxxxxxxxxxxxxxxxxxxxx0xxxxxx0xxx0x1xxxT",
    "00111xxxT",
    "0010xx0x1xxxT",
    "000110xxxxx0xxx0x1xxxT",
    "000101xxxxxxxxxxxxxxxxxxx0xxxxxx0xxx0x1xxxT",
    "000100xxxxxxxxxxxxxx0xxxxxxxxxxxxxxxxxxxxx0xxxxxx0xxx0x1xxxT",
];

/// Whether bytes are a hierarchyid encoding: labels end to end, the last ending its level,
/// then fewer than 8 zero bits of padding. The root is the empty string.
pub fn valid_hierarchyid(b: &[u8]) -> bool {
    if b.len() > 892 {
        return false;
    }
    let total = b.len() * 8;
    let bit = |i: usize| (b[i / 8] >> (7 - i % 8)) & 1 == 1;
    let mut pos = 0;
    let mut level_open = false;
    loop {
        let rest = total - pos;
        if rest < 8 && (pos..total).all(|i| !bit(i)) {
            return !level_open;
        }
        let pattern = HIERARCHYID_PATTERNS.iter().find(|p| {
            let prefix = p.bytes().take_while(|c| *c != b'x');
            prefix
                .enumerate()
                .all(|(k, c)| pos + k < total && bit(pos + k) == (c == b'1'))
        });
        let Some(pattern) = pattern else {
            return false;
        };
        if pos + pattern.len() > total {
            return false;
        }
        for (k, c) in pattern.bytes().enumerate() {
            let v = bit(pos + k);
            match c {
                b'0' if v => return false,
                b'1' if !v => return false,
                b'T' => level_open = !v,
                _ => {}
            }
        }
        pos += pattern.len();
    }
}

/// Whether bytes have the structure of a geometry/geography serialization (MS-SSCLRT 2.1.5):
/// SRID, version 1 or 2, properties, then one point, one segment, or the counted points,
/// figures, shapes (and version 2 segments), exactly filling the value.
pub fn valid_spatial(c: ClrType, b: &[u8]) -> bool {
    const HAS_Z: u8 = 0x01;
    const HAS_M: u8 = 0x02;
    const SINGLE_POINT: u8 = 0x08;
    const SINGLE_SEGMENT: u8 = 0x10;
    let u32_at = |at: usize| -> Option<usize> {
        let s = b.get(at..at + 4)?;
        Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let (Some(srid), Some(&version), Some(&props)) = (u32_at(0), b.get(4), b.get(5)) else {
        return false;
    };
    let srid = srid as u32 as i32;
    let srid_ok = match c {
        // sys.spatial_reference_systems: the EPSG geographic systems and the unit sphere.
        ClrType::Geography => (4120..=4999).contains(&srid) || srid == 104_001,
        _ => (0..=999_999).contains(&srid),
    };
    if !srid_ok || !(version == 1 || version == 2) || props & 0xC0 != 0 {
        return false;
    }
    if version == 1 && props & 0x20 != 0 {
        return false;
    }
    let per_point =
        16 + if props & HAS_Z != 0 { 8 } else { 0 } + if props & HAS_M != 0 { 8 } else { 0 };
    match (props & SINGLE_POINT != 0, props & SINGLE_SEGMENT != 0) {
        (true, true) => return false,
        (true, false) => return b.len() == 6 + per_point,
        (false, true) => return b.len() == 6 + 2 * per_point,
        (false, false) => {}
    }
    // A counted section at `at`: its u32 count, where its items start and where they end.
    let section = |at: usize, item_bytes: usize| -> Option<(usize, usize, usize)> {
        let count = u32_at(at)?;
        let start = at + 4;
        Some((
            count,
            start,
            count.checked_mul(item_bytes)?.checked_add(start)?,
        ))
    };
    let Some((points, _, at)) = section(6, per_point) else {
        return false;
    };
    let Some((figures, figures_at, at)) = section(at, 5) else {
        return false;
    };
    let Some((shapes, shapes_at, mut at)) = section(at, 9) else {
        return false;
    };
    if version == 2 {
        let Some((_, segments_at, end)) = section(at, 1) else {
            return false;
        };
        if b.get(segments_at..end)
            .is_none_or(|s| s.iter().any(|t| *t > 3))
        {
            return false;
        }
        at = end;
    }
    if at != b.len() {
        return false;
    }
    // Figures: attribute, then the offset of their first point, in order.
    let mut last_point = 0;
    for f in 0..figures {
        let base = figures_at + f * 5;
        let attr = b[base];
        let Some(offset) = u32_at(base + 1) else {
            return false;
        };
        if attr > if version == 1 { 2 } else { 3 } || offset < last_point || offset > points {
            return false;
        }
        last_point = offset;
    }
    // Shapes: parent shape (-1 for none), first figure (-1 for none), OGC type.
    for s in 0..shapes {
        let base = shapes_at + s * 9;
        let (Some(parent), Some(figure)) = (u32_at(base), u32_at(base + 4)) else {
            return false;
        };
        let kind = b[base + 8];
        let none = u32::MAX as usize;
        let parent_ok = if s == 0 { parent == none } else { parent < s };
        let figure_ok = figure == none || figure <= figures;
        let kind_ok = (1..=7).contains(&kind) || version == 2 && (8..=11).contains(&kind);
        if !parent_ok || !figure_ok || !kind_ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        assert_eq!(days_from_civil(1, 1, 1), 0);
        assert_eq!(days_from_civil(1900, 1, 1), DAYS_TO_1900);
        assert_eq!(days_from_civil(9999, 12, 31), MAX_DAYS);
        for d in [0, 1, 59, 60, 365, 693_595, 737_790, MAX_DAYS] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn datetimeoffset_text_is_stored_as_utc() {
        let c = SqlType::VarChar {
            len: Some(40),
            collation: Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
        };
        let v = convert(
            &Value::Str("2020-01-01 01:00:00.1234567 +14:00".into()),
            &c,
            &SqlType::DateTimeOffset { scale: 7 },
            None,
        )
        .unwrap();
        let Value::DateTimeOffset {
            days,
            ticks_100ns,
            offset_minutes,
        } = v
        else {
            panic!()
        };
        assert_eq!(offset_minutes, 840);
        assert_eq!(format_date(days as i64), "2019-12-31");
        assert_eq!(format_time(ticks_100ns, 7), "11:00:00.1234567");
        assert_eq!(
            to_text(&v, &SqlType::DateTimeOffset { scale: 7 }, None),
            "2020-01-01 01:00:00.1234567 +14:00"
        );
    }

    #[test]
    fn datetime_ticks_round_to_300ths() {
        let c = SqlType::VarChar {
            len: Some(40),
            collation: Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
        };
        let v = convert(
            &Value::Str("2000-01-01 00:00:00.002".into()),
            &c,
            &SqlType::DateTime,
            None,
        )
        .unwrap();
        assert_eq!(
            v,
            Value::DateTime {
                days: 36_524,
                ticks_300: 1
            }
        );
        assert_eq!(
            to_text(&v, &SqlType::DateTime, Some(121)),
            "2000-01-01 00:00:00.003"
        );
        assert_eq!(to_text(&v, &SqlType::DateTime, None), "Jan  1 2000 12:00AM");
    }

    #[test]
    fn conversion_errors_match_sql_server() {
        let c = SqlType::VarChar {
            len: Some(3),
            collation: Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
        };
        let e = convert(&Value::Str("x".into()), &c, &SqlType::Int, None).unwrap_err();
        assert_eq!((e.number, e.class), (245, 16));
        assert_eq!(
            e.message,
            "Conversion failed when converting the varchar value 'x' to data type int."
        );
        let e = convert(
            &Value::BigInt(1 << 40),
            &SqlType::BigInt,
            &SqlType::Int,
            None,
        )
        .unwrap_err();
        assert_eq!(e.number, 8115);
    }

    #[test]
    fn text_compares_case_insensitively_ignoring_trailing_blanks() {
        assert_eq!(compare_text("abc  ", "ABC", false), Ordering::Equal);
        assert_eq!(compare_text("abc", "ABD", false), Ordering::Less);
        assert!(like("Hello World", "h%o_w[aeo]rld"));
        assert!(!like("Hello", "h%x"));
    }

    #[test]
    fn floats_print_like_sql_server() {
        assert_eq!(format_float(1234567.0, 6), "1.23457e+006");
        assert_eq!(format_float(0.1, 6), "0.1");
        assert_eq!(format_float(-12.5, 6), "-12.5");
    }
}
