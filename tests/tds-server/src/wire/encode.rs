//! TYPE_INFO and value encoding of every SQL Server type, byte for byte as SQL Server
//! sends them in COLMETADATA and ROW/NBCROW (MS-TDS 2.2.5.4-2.2.5.6, 2.2.7.4, 2.2.7.19).
//!
//! SQL Server describes NOT NULL columns of fixed-size types with the fixed-length type
//! (INT4, FLT8, ...) and nullable ones with the nullable form (INTN, FLTN, ...);
//! decimal, uniqueidentifier and the date/time types of SQL Server 2008 always use the
//! nullable form. `(n)varchar(max)`, `varbinary(max)` and `xml` values are PLP streams.

use encoding_rs::Encoding;

use super::put_utf16;
use super::tokens::{put_collation, token};
use crate::types::{Collation, Column, SqlType, Value};

/// TYPE_INFO type bytes (MS-TDS 2.2.5.4).
pub mod ty {
    pub const NULL: u8 = 0x1F;
    pub const INT1: u8 = 0x30;
    pub const BIT: u8 = 0x32;
    pub const INT2: u8 = 0x34;
    pub const INT4: u8 = 0x38;
    pub const DATETIM4: u8 = 0x3A;
    pub const FLT4: u8 = 0x3B;
    pub const MONEY: u8 = 0x3C;
    pub const DATETIME: u8 = 0x3D;
    pub const FLT8: u8 = 0x3E;
    pub const MONEY4: u8 = 0x7A;
    pub const INT8: u8 = 0x7F;
    pub const GUID: u8 = 0x24;
    pub const INTN: u8 = 0x26;
    pub const DECIMALN: u8 = 0x6A;
    pub const NUMERICN: u8 = 0x6C;
    pub const BITN: u8 = 0x68;
    pub const FLTN: u8 = 0x6D;
    pub const MONEYN: u8 = 0x6E;
    pub const DATETIMN: u8 = 0x6F;
    pub const DATEN: u8 = 0x28;
    pub const TIMEN: u8 = 0x29;
    pub const DATETIME2N: u8 = 0x2A;
    pub const DATETIMEOFFSETN: u8 = 0x2B;
    pub const BIGVARBINARY: u8 = 0xA5;
    pub const BIGVARCHAR: u8 = 0xA7;
    pub const BIGBINARY: u8 = 0xAD;
    pub const BIGCHAR: u8 = 0xAF;
    pub const NVARCHAR: u8 = 0xE7;
    pub const NCHAR: u8 = 0xEF;
    pub const XML: u8 = 0xF1;
    pub const TEXT: u8 = 0x23;
    pub const IMAGE: u8 = 0x22;
    pub const NTEXT: u8 = 0x63;
    pub const SSVARIANT: u8 = 0x62;
    pub const UDT: u8 = 0xF0;
}

/// USHORTMAXLEN: the length that marks a `max` type.
const MAX_LEN_MARKER: u16 = 0xFFFF;
/// text/image TYPE_INFO length (2^31 - 1 bytes); ntext's is one less (2^30 - 1 characters).
const TEXT_MAX_LEN: u32 = 0x7FFF_FFFF;
const NTEXT_MAX_LEN: u32 = 0x7FFF_FFFE;
/// sql_variant's TYPE_INFO length: 8000 bytes of data plus base type and properties.
const SQL_VARIANT_MAX_LEN: u32 = 8016;
const PLP_NULL: u64 = u64::MAX;
/// user type SQL Server reports for timestamp/rowversion columns.
const USER_TYPE_TIMESTAMP: u32 = 0x50;
/// Largest PLP chunk; a chunk length is a u32, we keep well under it.
const PLP_CHUNK: usize = 1 << 30;
/// A fixed TEXTPTR: clients only hand it back in WRITETEXT/UPDATETEXT, which the test
/// server does not implement.
const TEXT_PTR: [u8; 16] = *b"pgmig-textptr-00";
const TEXT_TIMESTAMP: [u8; 8] = [0; 8];

/// COLMETADATA flags.
mod flag {
    pub const NULLABLE: u16 = 0x0001;
    /// usUpdateable = 2 (unknown) in bits 2-3, as SQL Server sends for SELECT columns.
    pub const UPDATEABLE_UNKNOWN: u16 = 0x0008;
    pub const IDENTITY: u16 = 0x0010;
    pub const COMPUTED: u16 = 0x0020;
}

/// Why a value could not be encoded for its column (an engine bug or a value out of the
/// column's range); the connection reports it as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(pub String);

/// Per-column encoding decisions made once per result set.
pub struct ColumnPlan {
    pub sql_type: SqlType,
    pub nullable: bool,
    /// Code page encoder for single-byte strings; `None` = UTF-8 (or not a char type).
    code_page: Option<&'static Encoding>,
    /// Size of this column's NULL encoding in a ROW (what NBCROW saves).
    null_len: u8,
}

impl ColumnPlan {
    pub fn new(column: &Column) -> ColumnPlan {
        let sql_type = column.sql_type.clone();
        // Types SQL Server never sends as fixed-length are always "nullable" on the wire.
        let nullable = column.nullable || !has_fixed_form(&sql_type);
        let code_page = match &sql_type {
            SqlType::Char { collation, .. }
            | SqlType::VarChar { collation, .. }
            | SqlType::Text { collation } => code_page_encoding(collation),
            _ => None,
        };
        let null_len = match &sql_type {
            SqlType::VarChar { len: None, .. }
            | SqlType::NVarChar { len: None, .. }
            | SqlType::VarBinary { len: None }
            | SqlType::Xml => 8,
            SqlType::Char { .. }
            | SqlType::VarChar { .. }
            | SqlType::NChar { .. }
            | SqlType::NVarChar { .. }
            | SqlType::Binary { .. }
            | SqlType::VarBinary { .. }
            | SqlType::RowVersion => 2,
            SqlType::SqlVariant => 4,
            _ => 1,
        };
        ColumnPlan {
            sql_type,
            nullable,
            code_page,
            null_len,
        }
    }
}

impl ColumnPlan {
    /// Bytes a NULL of this column takes in a ROW token (what an NBCROW bitmap saves).
    pub fn null_len(&self) -> usize {
        self.null_len as usize
    }
}

fn has_fixed_form(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::Bit
            | SqlType::TinyInt
            | SqlType::SmallInt
            | SqlType::Int
            | SqlType::BigInt
            | SqlType::Money
            | SqlType::SmallMoney
            | SqlType::Real
            | SqlType::Float
            | SqlType::SmallDateTime
            | SqlType::DateTime
    )
}

/// The encoder for a collation's code page; `None` for UTF-8 collations.
fn code_page_encoding(c: &Collation) -> Option<&'static Encoding> {
    encoding_for_code_page(c.code_page)
}

/// The encoder for a Windows code page; `None` for 65001 (UTF-8). Unknown code pages fall
/// back to 1252, the default collation's.
pub fn encoding_for_code_page(code_page: u16) -> Option<&'static Encoding> {
    let label: &[u8] = match code_page {
        65001 => return None,
        874 => b"windows-874",
        932 => b"shift_jis",
        936 => b"gbk",
        949 => b"euc-kr",
        950 => b"big5",
        1250 => b"windows-1250",
        1251 => b"windows-1251",
        1253 => b"windows-1253",
        1254 => b"windows-1254",
        1255 => b"windows-1255",
        1256 => b"windows-1256",
        1257 => b"windows-1257",
        1258 => b"windows-1258",
        _ => b"windows-1252",
    };
    Encoding::for_label(label).or(Some(encoding_rs::WINDOWS_1252))
}

/// Bytes of a decimal value for precision `p` (sign byte included).
pub fn decimal_len(precision: u8) -> u8 {
    match precision {
        0..=9 => 5,
        10..=19 => 9,
        20..=28 => 13,
        _ => 17,
    }
}

/// Bytes of a time value at scale `s`.
pub fn time_len(scale: u8) -> u8 {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

pub fn colmetadata(buf: &mut Vec<u8>, columns: &[Column], plans: &[ColumnPlan]) {
    buf.push(token::COLMETADATA);
    buf.extend_from_slice(&(columns.len() as u16).to_le_bytes());
    for (column, plan) in columns.iter().zip(plans) {
        let user_type = if column.sql_type == SqlType::RowVersion {
            USER_TYPE_TIMESTAMP
        } else {
            0
        };
        buf.extend_from_slice(&user_type.to_le_bytes());
        let mut flags = 0u16;
        if column.nullable {
            flags |= flag::NULLABLE;
        }
        if column.identity {
            flags |= flag::IDENTITY;
        }
        if column.computed {
            flags |= flag::COMPUTED;
        }
        if !column.identity && !column.computed && column.sql_type != SqlType::RowVersion {
            flags |= flag::UPDATEABLE_UNKNOWN;
        }
        buf.extend_from_slice(&flags.to_le_bytes());
        type_info(buf, plan);
        let name_units = super::utf16_len(&column.name).min(128);
        buf.push(name_units as u8);
        let mut name = Vec::new();
        put_utf16(&mut name, &column.name);
        buf.extend_from_slice(&name[..name_units * 2]);
    }
}

/// TYPE_INFO of one column, as in COLMETADATA.
pub fn type_info(buf: &mut Vec<u8>, plan: &ColumnPlan) {
    let n = plan.nullable;
    let fixed_or_n = |buf: &mut Vec<u8>, fixed: u8, var: u8, len: u8| {
        if n {
            buf.extend_from_slice(&[var, len]);
        } else {
            buf.push(fixed);
        }
    };
    match &plan.sql_type {
        SqlType::Bit => fixed_or_n(buf, ty::BIT, ty::BITN, 1),
        SqlType::TinyInt => fixed_or_n(buf, ty::INT1, ty::INTN, 1),
        SqlType::SmallInt => fixed_or_n(buf, ty::INT2, ty::INTN, 2),
        SqlType::Int => fixed_or_n(buf, ty::INT4, ty::INTN, 4),
        SqlType::BigInt => fixed_or_n(buf, ty::INT8, ty::INTN, 8),
        SqlType::Money => fixed_or_n(buf, ty::MONEY, ty::MONEYN, 8),
        SqlType::SmallMoney => fixed_or_n(buf, ty::MONEY4, ty::MONEYN, 4),
        SqlType::Real => fixed_or_n(buf, ty::FLT4, ty::FLTN, 4),
        SqlType::Float => fixed_or_n(buf, ty::FLT8, ty::FLTN, 8),
        SqlType::SmallDateTime => fixed_or_n(buf, ty::DATETIM4, ty::DATETIMN, 4),
        SqlType::DateTime => fixed_or_n(buf, ty::DATETIME, ty::DATETIMN, 8),
        SqlType::Decimal {
            precision,
            scale,
            numeric,
        } => {
            let t = if *numeric { ty::NUMERICN } else { ty::DECIMALN };
            buf.extend_from_slice(&[t, decimal_len(*precision), *precision, *scale]);
        }
        SqlType::Date => buf.push(ty::DATEN),
        SqlType::Time { scale } => buf.extend_from_slice(&[ty::TIMEN, *scale]),
        SqlType::DateTime2 { scale } => buf.extend_from_slice(&[ty::DATETIME2N, *scale]),
        SqlType::DateTimeOffset { scale } => buf.extend_from_slice(&[ty::DATETIMEOFFSETN, *scale]),
        SqlType::Char { len, collation } => {
            buf.push(ty::BIGCHAR);
            buf.extend_from_slice(&len.to_le_bytes());
            put_collation(buf, collation);
        }
        SqlType::VarChar { len, collation } => {
            buf.push(ty::BIGVARCHAR);
            buf.extend_from_slice(&len.unwrap_or(MAX_LEN_MARKER).to_le_bytes());
            put_collation(buf, collation);
        }
        SqlType::NChar { len, collation } => {
            buf.push(ty::NCHAR);
            buf.extend_from_slice(&len.saturating_mul(2).to_le_bytes());
            put_collation(buf, collation);
        }
        SqlType::NVarChar { len, collation } => {
            buf.push(ty::NVARCHAR);
            let bytes = len.map(|l| l.saturating_mul(2)).unwrap_or(MAX_LEN_MARKER);
            buf.extend_from_slice(&bytes.to_le_bytes());
            put_collation(buf, collation);
        }
        SqlType::Binary { len } => {
            buf.push(ty::BIGBINARY);
            buf.extend_from_slice(&len.to_le_bytes());
        }
        SqlType::VarBinary { len } => {
            buf.push(ty::BIGVARBINARY);
            buf.extend_from_slice(&len.unwrap_or(MAX_LEN_MARKER).to_le_bytes());
        }
        SqlType::RowVersion => {
            buf.push(ty::BIGBINARY);
            buf.extend_from_slice(&8u16.to_le_bytes());
        }
        SqlType::Text { collation } => {
            buf.push(ty::TEXT);
            buf.extend_from_slice(&TEXT_MAX_LEN.to_le_bytes());
            put_collation(buf, collation);
            buf.push(0); // TableName with no parts: the result is not tied to a table here.
        }
        SqlType::NText { collation } => {
            buf.push(ty::NTEXT);
            buf.extend_from_slice(&NTEXT_MAX_LEN.to_le_bytes());
            put_collation(buf, collation);
            buf.push(0);
        }
        SqlType::Image => {
            buf.push(ty::IMAGE);
            buf.extend_from_slice(&TEXT_MAX_LEN.to_le_bytes());
            buf.push(0);
        }
        SqlType::UniqueIdentifier => buf.extend_from_slice(&[ty::GUID, 16]),
        SqlType::Xml => buf.extend_from_slice(&[ty::XML, 0]),
        SqlType::SqlVariant => {
            buf.push(ty::SSVARIANT);
            buf.extend_from_slice(&SQL_VARIANT_MAX_LEN.to_le_bytes());
        }
        // UDTTYPE (UDT_INFO with assembly names) is not implemented: the engine refuses
        // result sets with CLR columns (40517) and the server checks again before COLMETADATA,
        // so this arm is never reached.
        SqlType::Clr(_) => buf.push(ty::UDT),
    }
}

/// Encodes one row as ROW, or as NBCROW when the null bitmap is smaller than the NULL
/// markers it replaces (SQL Server's own choice since 2008).
pub fn row(buf: &mut Vec<u8>, plans: &[ColumnPlan], values: &[Value]) -> Result<(), EncodeError> {
    if values.len() != plans.len() {
        return Err(EncodeError(format!(
            "row has {} values for {} columns",
            values.len(),
            plans.len()
        )));
    }
    let mut null_bytes_saved = 0usize;
    for (plan, v) in plans.iter().zip(values) {
        if matches!(v, Value::Null) {
            null_bytes_saved += plan.null_len as usize;
        }
    }
    let bitmap_len = plans.len().div_ceil(8);
    if null_bytes_saved > bitmap_len {
        buf.push(token::NBCROW);
        let at = buf.len();
        buf.resize(at + bitmap_len, 0);
        for (i, v) in values.iter().enumerate() {
            if matches!(v, Value::Null) {
                buf[at + i / 8] |= 1 << (i % 8);
            }
        }
        for (plan, v) in plans.iter().zip(values) {
            if !matches!(v, Value::Null) {
                value(buf, plan, v)?;
            }
        }
    } else {
        buf.push(token::ROW);
        for (plan, v) in plans.iter().zip(values) {
            value(buf, plan, v)?;
        }
    }
    Ok(())
}

fn mismatch(plan: &ColumnPlan, v: &Value) -> EncodeError {
    EncodeError(format!(
        "value {} does not fit column type {:?}",
        describe(v),
        plan.sql_type
    ))
}

fn describe(v: &Value) -> String {
    match v {
        Value::Str(s) if s.len() > 40 => format!("Str(<{} bytes>)", s.len()),
        Value::Bytes(b) if b.len() > 40 => format!("Bytes(<{} bytes>)", b.len()),
        other => format!("{other:?}"),
    }
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Bit(b) => Some(*b as i64),
        Value::TinyInt(x) => Some(*x as i64),
        Value::SmallInt(x) => Some(*x as i64),
        Value::Int(x) => Some(*x as i64),
        Value::BigInt(x) => Some(*x),
        _ => None,
    }
}

/// Encodes one value of a column (no token byte).
pub fn value(buf: &mut Vec<u8>, plan: &ColumnPlan, v: &Value) -> Result<(), EncodeError> {
    if let Value::Null = v {
        return null(buf, plan);
    }
    let n = plan.nullable;
    // The nullable forms carry a length byte before fixed-size data.
    let len_prefix = |buf: &mut Vec<u8>, len: u8| {
        if n {
            buf.push(len);
        }
    };
    match &plan.sql_type {
        SqlType::Bit => {
            let b = match v {
                Value::Bit(b) => *b,
                other => integer(other).ok_or_else(|| mismatch(plan, v))? != 0,
            };
            len_prefix(buf, 1);
            buf.push(b as u8);
        }
        SqlType::TinyInt => {
            let x = integer(v)
                .and_then(|x| u8::try_from(x).ok())
                .ok_or_else(|| mismatch(plan, v))?;
            len_prefix(buf, 1);
            buf.push(x);
        }
        SqlType::SmallInt => {
            let x = integer(v)
                .and_then(|x| i16::try_from(x).ok())
                .ok_or_else(|| mismatch(plan, v))?;
            len_prefix(buf, 2);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        SqlType::Int => {
            let x = integer(v)
                .and_then(|x| i32::try_from(x).ok())
                .ok_or_else(|| mismatch(plan, v))?;
            len_prefix(buf, 4);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        SqlType::BigInt => {
            let x = integer(v).ok_or_else(|| mismatch(plan, v))?;
            len_prefix(buf, 8);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        SqlType::Decimal {
            precision, scale, ..
        } => {
            let unscaled = match v {
                Value::Decimal { value, scale: vs } => rescale(*value, *vs, *scale),
                Value::Money(m) => rescale(*m as i128, 4, *scale),
                other => integer(other).and_then(|i| rescale(i as i128, 0, *scale)),
            }
            .ok_or_else(|| mismatch(plan, v))?;
            decimal_value(buf, unscaled, *precision).ok_or_else(|| mismatch(plan, v))?;
        }
        SqlType::Money | SqlType::SmallMoney => {
            let m: i64 = match v {
                Value::Money(m) => Some(*m),
                Value::Decimal { value, scale } => {
                    rescale(*value, *scale, 4).and_then(|x| i64::try_from(x).ok())
                }
                other => integer(other).and_then(|i| i.checked_mul(10_000)),
            }
            .ok_or_else(|| mismatch(plan, v))?;
            if plan.sql_type == SqlType::Money {
                len_prefix(buf, 8);
                // MONEY: the high 32 bits first, then the low 32 bits, each little-endian.
                buf.extend_from_slice(&((m >> 32) as i32).to_le_bytes());
                buf.extend_from_slice(&(m as u32).to_le_bytes());
            } else {
                let small = i32::try_from(m).map_err(|_| mismatch(plan, v))?;
                len_prefix(buf, 4);
                buf.extend_from_slice(&small.to_le_bytes());
            }
        }
        SqlType::Real => {
            let f = match v {
                Value::Real(f) => *f,
                Value::Float(f) => *f as f32,
                _ => return Err(mismatch(plan, v)),
            };
            len_prefix(buf, 4);
            buf.extend_from_slice(&f.to_le_bytes());
        }
        SqlType::Float => {
            let f = match v {
                Value::Float(f) => *f,
                Value::Real(f) => *f as f64,
                _ => return Err(mismatch(plan, v)),
            };
            len_prefix(buf, 8);
            buf.extend_from_slice(&f.to_le_bytes());
        }
        SqlType::SmallDateTime => {
            let Value::SmallDateTime { days, minutes } = v else {
                return Err(mismatch(plan, v));
            };
            len_prefix(buf, 4);
            buf.extend_from_slice(&days.to_le_bytes());
            buf.extend_from_slice(&minutes.to_le_bytes());
        }
        SqlType::DateTime => {
            let Value::DateTime { days, ticks_300 } = v else {
                return Err(mismatch(plan, v));
            };
            len_prefix(buf, 8);
            buf.extend_from_slice(&days.to_le_bytes());
            buf.extend_from_slice(&ticks_300.to_le_bytes());
        }
        SqlType::Date => {
            let days = match v {
                Value::Date(d) => *d,
                Value::DateTime2 { days, .. } => *days,
                _ => return Err(mismatch(plan, v)),
            };
            buf.push(3);
            put_days(buf, days, plan, v)?;
        }
        SqlType::Time { scale } => {
            let Value::Time(ticks) = v else {
                return Err(mismatch(plan, v));
            };
            buf.push(time_len(*scale));
            put_time(buf, *ticks, *scale);
        }
        SqlType::DateTime2 { scale } => {
            let Value::DateTime2 { days, ticks_100ns } = v else {
                return Err(mismatch(plan, v));
            };
            buf.push(time_len(*scale) + 3);
            put_time(buf, *ticks_100ns, *scale);
            put_days(buf, *days, plan, v)?;
        }
        SqlType::DateTimeOffset { scale } => {
            let Value::DateTimeOffset {
                days,
                ticks_100ns,
                offset_minutes,
            } = v
            else {
                return Err(mismatch(plan, v));
            };
            buf.push(time_len(*scale) + 5);
            put_time(buf, *ticks_100ns, *scale);
            put_days(buf, *days, plan, v)?;
            buf.extend_from_slice(&offset_minutes.to_le_bytes());
        }
        SqlType::Char { len, .. } | SqlType::VarChar { len: Some(len), .. } => {
            let Value::Str(s) = v else {
                return Err(mismatch(plan, v));
            };
            let at = buf.len();
            buf.extend_from_slice(&[0, 0]);
            put_single_byte(buf, s, plan.code_page);
            let mut written = buf.len() - at - 2;
            if matches!(plan.sql_type, SqlType::Char { .. }) {
                // char(n) comes back blank-padded to n bytes.
                while written < *len as usize {
                    buf.push(b' ');
                    written += 1;
                }
            }
            if written > *len as usize {
                return Err(EncodeError(format!(
                    "{written}-byte string for a column of {len} bytes"
                )));
            }
            buf[at..at + 2].copy_from_slice(&(written as u16).to_le_bytes());
        }
        SqlType::NChar { len, .. } | SqlType::NVarChar { len: Some(len), .. } => {
            let Value::Str(s) = v else {
                return Err(mismatch(plan, v));
            };
            let mut units = super::utf16_len(s);
            let pad = match plan.sql_type {
                SqlType::NChar { .. } => (*len as usize).saturating_sub(units),
                _ => 0,
            };
            if units > *len as usize {
                return Err(EncodeError(format!(
                    "{units}-character string for a column of {len} characters"
                )));
            }
            units += pad;
            buf.extend_from_slice(&((units * 2) as u16).to_le_bytes());
            put_utf16(buf, s);
            for _ in 0..pad {
                buf.extend_from_slice(&[b' ', 0]);
            }
        }
        SqlType::VarChar { len: None, .. } => {
            let Value::Str(s) = v else {
                return Err(mismatch(plan, v));
            };
            let mut bytes = Vec::new();
            put_single_byte(&mut bytes, s, plan.code_page);
            plp(buf, &bytes);
        }
        SqlType::NVarChar { len: None, .. } | SqlType::Xml => {
            let Value::Str(s) = v else {
                return Err(mismatch(plan, v));
            };
            plp_utf16(buf, s);
        }
        SqlType::Binary { len } | SqlType::VarBinary { len: Some(len) } => {
            let Value::Bytes(b) = v else {
                return Err(mismatch(plan, v));
            };
            if b.len() > *len as usize {
                return Err(EncodeError(format!(
                    "{}-byte value for a column of {len} bytes",
                    b.len()
                )));
            }
            let pad = match plan.sql_type {
                // binary(n) comes back zero-padded to n bytes.
                SqlType::Binary { .. } => *len as usize - b.len(),
                _ => 0,
            };
            buf.extend_from_slice(&((b.len() + pad) as u16).to_le_bytes());
            buf.extend_from_slice(b);
            buf.resize(buf.len() + pad, 0);
        }
        SqlType::RowVersion => {
            let Value::Bytes(b) = v else {
                return Err(mismatch(plan, v));
            };
            if b.len() != 8 {
                return Err(mismatch(plan, v));
            }
            buf.extend_from_slice(&8u16.to_le_bytes());
            buf.extend_from_slice(b);
        }
        SqlType::VarBinary { len: None } => {
            let Value::Bytes(b) = v else {
                return Err(mismatch(plan, v));
            };
            plp(buf, b);
        }
        SqlType::Text { .. } => {
            let Value::Str(s) = v else {
                return Err(mismatch(plan, v));
            };
            let mut bytes = Vec::new();
            put_single_byte(&mut bytes, s, plan.code_page);
            text_value(buf, &bytes)?;
        }
        SqlType::NText { .. } => {
            let Value::Str(s) = v else {
                return Err(mismatch(plan, v));
            };
            let mut bytes = Vec::new();
            put_utf16(&mut bytes, s);
            text_value(buf, &bytes)?;
        }
        SqlType::Image => {
            let Value::Bytes(b) = v else {
                return Err(mismatch(plan, v));
            };
            text_value(buf, b)?;
        }
        SqlType::UniqueIdentifier => {
            let Value::Guid(g) = v else {
                return Err(mismatch(plan, v));
            };
            buf.push(16);
            buf.extend_from_slice(&guid_to_wire(g));
        }
        SqlType::SqlVariant => variant(buf, v)?,
        SqlType::Clr(_) => {
            return Err(EncodeError(
                "CLR type values (TDS UDTTYPE) are not encoded".into(),
            ))
        }
    }
    Ok(())
}

fn null(buf: &mut Vec<u8>, plan: &ColumnPlan) -> Result<(), EncodeError> {
    if !plan.nullable {
        return Err(EncodeError(format!(
            "NULL in a NOT NULL column of type {:?}",
            plan.sql_type
        )));
    }
    match plan.null_len {
        8 => buf.extend_from_slice(&PLP_NULL.to_le_bytes()),
        4 => buf.extend_from_slice(&0u32.to_le_bytes()),
        2 => buf.extend_from_slice(&0xFFFFu16.to_le_bytes()),
        // 1-byte length types, and text/ntext/image (TEXTPTR length 0).
        _ => buf.push(0),
    }
    Ok(())
}

/// Brings an unscaled decimal from scale `from` to scale `to`, rounding half away from zero
/// as SQL Server does when it narrows a scale.
pub fn rescale(value: i128, from: u8, to: u8) -> Option<i128> {
    if from == to {
        return Some(value);
    }
    if to > from {
        let factor = 10i128.checked_pow((to - from) as u32)?;
        return value.checked_mul(factor);
    }
    let factor = 10i128.checked_pow((from - to) as u32)?;
    let q = value / factor;
    let r = value % factor;
    if r.unsigned_abs() * 2 >= factor.unsigned_abs() {
        Some(q + value.signum())
    } else {
        Some(q)
    }
}

/// Length byte, sign byte (1 = positive), little-endian magnitude sized for the precision.
fn decimal_value(buf: &mut Vec<u8>, unscaled: i128, precision: u8) -> Option<()> {
    let limit = 10u128.checked_pow(precision as u32)?;
    let magnitude = unscaled.unsigned_abs();
    if magnitude >= limit {
        return None;
    }
    let len = decimal_len(precision);
    buf.push(len);
    buf.push(if unscaled < 0 { 0 } else { 1 });
    buf.extend_from_slice(&magnitude.to_le_bytes()[..(len - 1) as usize]);
    Some(())
}

/// Days since 0001-01-01 in 3 bytes; 9999-12-31 is day 3,652,058.
fn put_days(buf: &mut Vec<u8>, days: u32, plan: &ColumnPlan, v: &Value) -> Result<(), EncodeError> {
    if days > 3_652_058 {
        return Err(mismatch(plan, v));
    }
    buf.extend_from_slice(&days.to_le_bytes()[..3]);
    Ok(())
}

/// Time of day in units of 10^-scale s (truncating finer ticks), in `time_len(scale)` bytes.
fn put_time(buf: &mut Vec<u8>, ticks_100ns: u64, scale: u8) {
    let divisor = 10u64.pow(7 - scale.min(7) as u32);
    let units = ticks_100ns / divisor;
    buf.extend_from_slice(&units.to_le_bytes()[..time_len(scale) as usize]);
}

/// RFC 4122 byte order to SQL Server's: the first three fields little-endian.
pub fn guid_to_wire(g: &[u8; 16]) -> [u8; 16] {
    let mut w = *g;
    w[0..4].reverse();
    w[4..6].reverse();
    w[6..8].reverse();
    w
}

/// Single-byte text in the column's code page; characters it lacks become '?', as SQL
/// Server converts them.
fn put_single_byte(buf: &mut Vec<u8>, s: &str, code_page: Option<&'static Encoding>) {
    let Some(encoding) = code_page else {
        buf.extend_from_slice(s.as_bytes());
        return;
    };
    if s.is_ascii() {
        buf.extend_from_slice(s.as_bytes());
        return;
    }
    let mut encoder = encoding.new_encoder();
    let mut src = s;
    let mut chunk = [0u8; 1024];
    loop {
        let (result, read, written) =
            encoder.encode_from_utf8_without_replacement(src, &mut chunk, true);
        buf.extend_from_slice(&chunk[..written]);
        src = &src[read..];
        match result {
            encoding_rs::EncoderResult::InputEmpty => break,
            encoding_rs::EncoderResult::OutputFull => {}
            encoding_rs::EncoderResult::Unmappable(_) => buf.push(b'?'),
        }
    }
}

/// A PLP value with a known total length, in chunks.
fn plp(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    for chunk in bytes.chunks(PLP_CHUNK) {
        buf.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        buf.extend_from_slice(chunk);
    }
    buf.extend_from_slice(&0u32.to_le_bytes()); // PLP_TERMINATOR
}

/// A UTF-16 PLP value, encoded in place without an intermediate buffer.
fn plp_utf16(buf: &mut Vec<u8>, s: &str) {
    let bytes = super::utf16_len(s) * 2;
    buf.extend_from_slice(&(bytes as u64).to_le_bytes());
    if bytes > 0 {
        if bytes <= PLP_CHUNK {
            buf.extend_from_slice(&(bytes as u32).to_le_bytes());
            put_utf16(buf, s);
        } else {
            let mut encoded = Vec::with_capacity(bytes);
            put_utf16(&mut encoded, s);
            for chunk in encoded.chunks(PLP_CHUNK) {
                buf.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
                buf.extend_from_slice(chunk);
            }
        }
    }
    buf.extend_from_slice(&0u32.to_le_bytes());
}

/// text/ntext/image: TEXTPTR length and pointer, timestamp, 4-byte length, data.
fn text_value(buf: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EncodeError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|l| *l <= TEXT_MAX_LEN)
        .ok_or_else(|| EncodeError("text value over 2 GB".into()))?;
    buf.push(TEXT_PTR.len() as u8);
    buf.extend_from_slice(&TEXT_PTR);
    buf.extend_from_slice(&TEXT_TIMESTAMP);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
    Ok(())
}

/// sql_variant (MS-TDS 2.2.5.5.4): total length, base type, property count, properties,
/// data. The base type follows the value's own kind.
fn variant(buf: &mut Vec<u8>, v: &Value) -> Result<(), EncodeError> {
    let at = buf.len();
    buf.extend_from_slice(&[0, 0, 0, 0]);
    match v {
        Value::Null => {}
        Value::Bit(b) => buf.extend_from_slice(&[ty::BIT, 0, *b as u8]),
        Value::TinyInt(x) => buf.extend_from_slice(&[ty::INT1, 0, *x]),
        Value::SmallInt(x) => {
            buf.extend_from_slice(&[ty::INT2, 0]);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::Int(x) => {
            buf.extend_from_slice(&[ty::INT4, 0]);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::BigInt(x) => {
            buf.extend_from_slice(&[ty::INT8, 0]);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::Real(f) => {
            buf.extend_from_slice(&[ty::FLT4, 0]);
            buf.extend_from_slice(&f.to_le_bytes());
        }
        Value::Float(f) => {
            buf.extend_from_slice(&[ty::FLT8, 0]);
            buf.extend_from_slice(&f.to_le_bytes());
        }
        Value::Money(m) => {
            buf.extend_from_slice(&[ty::MONEY, 0]);
            buf.extend_from_slice(&((m >> 32) as i32).to_le_bytes());
            buf.extend_from_slice(&(*m as u32).to_le_bytes());
        }
        Value::Decimal { value, scale } => {
            // numeric(38, scale): sign byte and a 16-byte magnitude.
            buf.extend_from_slice(&[ty::NUMERICN, 2, 38, *scale]);
            buf.push(if *value < 0 { 0 } else { 1 });
            buf.extend_from_slice(&value.unsigned_abs().to_le_bytes());
        }
        Value::Date(d) => {
            buf.extend_from_slice(&[ty::DATEN, 0]);
            buf.extend_from_slice(&d.to_le_bytes()[..3]);
        }
        Value::Time(t) => {
            buf.extend_from_slice(&[ty::TIMEN, 1, 7]);
            put_time(buf, *t, 7);
        }
        Value::SmallDateTime { days, minutes } => {
            buf.extend_from_slice(&[ty::DATETIM4, 0]);
            buf.extend_from_slice(&days.to_le_bytes());
            buf.extend_from_slice(&minutes.to_le_bytes());
        }
        Value::DateTime { days, ticks_300 } => {
            buf.extend_from_slice(&[ty::DATETIME, 0]);
            buf.extend_from_slice(&days.to_le_bytes());
            buf.extend_from_slice(&ticks_300.to_le_bytes());
        }
        Value::DateTime2 { days, ticks_100ns } => {
            buf.extend_from_slice(&[ty::DATETIME2N, 1, 7]);
            put_time(buf, *ticks_100ns, 7);
            buf.extend_from_slice(&days.to_le_bytes()[..3]);
        }
        Value::DateTimeOffset {
            days,
            ticks_100ns,
            offset_minutes,
        } => {
            buf.extend_from_slice(&[ty::DATETIMEOFFSETN, 1, 7]);
            put_time(buf, *ticks_100ns, 7);
            buf.extend_from_slice(&days.to_le_bytes()[..3]);
            buf.extend_from_slice(&offset_minutes.to_le_bytes());
        }
        Value::Str(s) => {
            if super::utf16_len(s) > 4000 {
                return Err(EncodeError(
                    "sql_variant string over 4000 characters".into(),
                ));
            }
            buf.extend_from_slice(&[ty::NVARCHAR, 7]);
            buf.extend_from_slice(&8000u16.to_le_bytes());
            put_collation(buf, &Collation::SQL_LATIN1_GENERAL_CP1_CI_AS);
            put_utf16(buf, s);
        }
        Value::Bytes(b) => {
            if b.len() > 8000 {
                return Err(EncodeError("sql_variant binary over 8000 bytes".into()));
            }
            buf.extend_from_slice(&[ty::BIGVARBINARY, 2]);
            buf.extend_from_slice(&8000u16.to_le_bytes());
            buf.extend_from_slice(b);
        }
        Value::Guid(g) => {
            buf.extend_from_slice(&[ty::GUID, 0]);
            buf.extend_from_slice(&guid_to_wire(g));
        }
    }
    let len = (buf.len() - at - 4) as u32;
    buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: SqlType, nullable: bool) -> Column {
        Column {
            name: "c".into(),
            sql_type: t,
            nullable,
            identity: false,
            computed: false,
        }
    }

    fn enc(t: SqlType, nullable: bool, v: Value) -> (Vec<u8>, Vec<u8>) {
        let plan = ColumnPlan::new(&col(t, nullable));
        let mut ti = Vec::new();
        type_info(&mut ti, &plan);
        let mut val = Vec::new();
        value(&mut val, &plan, &v).unwrap();
        (ti, val)
    }

    const CI_AS: Collation = Collation::SQL_LATIN1_GENERAL_CP1_CI_AS;

    #[test]
    fn integers_use_fixed_types_when_not_null() {
        assert_eq!(
            enc(SqlType::Int, false, Value::Int(-2)),
            (vec![0x38], vec![0xFE, 0xFF, 0xFF, 0xFF])
        );
        assert_eq!(
            enc(SqlType::Int, true, Value::Int(1)),
            (vec![0x26, 4], vec![4, 1, 0, 0, 0])
        );
        assert_eq!(
            enc(SqlType::BigInt, true, Value::Int(1)).1,
            vec![8, 1, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            enc(SqlType::Bit, true, Value::Bit(true)),
            (vec![0x68, 1], vec![1, 1])
        );
        assert_eq!(
            enc(SqlType::TinyInt, false, Value::TinyInt(255)),
            (vec![0x30], vec![255])
        );
    }

    #[test]
    fn decimal_sign_and_magnitude() {
        let t = SqlType::Decimal {
            precision: 10,
            scale: 2,
            numeric: false,
        };
        let (ti, v) = enc(
            t,
            true,
            Value::Decimal {
                value: -12345,
                scale: 2,
            },
        );
        assert_eq!(ti, vec![0x6A, 9, 10, 2]);
        assert_eq!(v, vec![9, 0, 0x39, 0x30, 0, 0, 0, 0, 0, 0]);
        let t38 = SqlType::Decimal {
            precision: 38,
            scale: 38,
            numeric: true,
        };
        let max = 10i128.pow(38) - 1;
        let (ti, v) = enc(
            t38,
            false,
            Value::Decimal {
                value: max,
                scale: 38,
            },
        );
        assert_eq!(ti, vec![0x6C, 17, 38, 38]);
        assert_eq!(v[0], 17);
        assert_eq!(&v[2..], &(max as u128).to_le_bytes());
    }

    #[test]
    fn decimal_rescale_rounds_half_away_from_zero() {
        assert_eq!(rescale(125, 2, 1), Some(13));
        assert_eq!(rescale(-125, 2, 1), Some(-13));
        assert_eq!(rescale(124, 2, 1), Some(12));
        assert_eq!(rescale(5, 0, 3), Some(5000));
    }

    #[test]
    fn money_is_high_half_first() {
        // 1.0001 = 10001 ten-thousandths; -1 = all ones.
        assert_eq!(
            enc(SqlType::Money, false, Value::Money(10001)),
            (vec![0x3C], vec![0, 0, 0, 0, 0x11, 0x27, 0, 0])
        );
        assert_eq!(
            enc(SqlType::Money, true, Value::Money(-1)).1,
            vec![8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            enc(SqlType::SmallMoney, true, Value::Money(-1)),
            (vec![0x6E, 4], vec![4, 0xFF, 0xFF, 0xFF, 0xFF])
        );
    }

    #[test]
    fn dates_and_times() {
        // 2000-01-01 is day 730119 since 0001-01-01.
        assert_eq!(
            enc(SqlType::Date, false, Value::Date(730_119)),
            (vec![0x28], vec![3, 0x07, 0x24, 0x0B])
        );
        // 12:34:56.1234567 at scale 7 = 452961234567 ticks; at scale 3 = 45296123 ms.
        let ticks = 452_961_234_567u64;
        assert_eq!(
            enc(SqlType::Time { scale: 7 }, true, Value::Time(ticks)).1[0],
            5
        );
        let (ti, v) = enc(SqlType::Time { scale: 3 }, true, Value::Time(ticks));
        assert_eq!(ti, vec![0x29, 3]);
        assert_eq!(v, [&[4u8][..], &45_296_123u32.to_le_bytes()].concat());
        let (ti, v) = enc(
            SqlType::DateTimeOffset { scale: 0 },
            false,
            Value::DateTimeOffset {
                days: 730_119,
                ticks_100ns: 10_000_000,
                offset_minutes: -300,
            },
        );
        assert_eq!(ti, vec![0x2B, 0]);
        assert_eq!(v, vec![8, 1, 0, 0, 0x07, 0x24, 0x0B, 0xD4, 0xFE]);
        let (ti, v) = enc(
            SqlType::DateTime,
            true,
            Value::DateTime {
                days: -1,
                ticks_300: 300,
            },
        );
        assert_eq!(ti, vec![0x6F, 8]);
        assert_eq!(v, vec![8, 0xFF, 0xFF, 0xFF, 0xFF, 0x2C, 0x01, 0, 0]);
    }

    #[test]
    fn strings_in_utf16_and_code_page() {
        let (ti, v) = enc(
            SqlType::NVarChar {
                len: Some(10),
                collation: CI_AS,
            },
            true,
            Value::Str("hé".into()),
        );
        assert_eq!(ti, vec![0xE7, 20, 0, 0x09, 0x04, 0xD0, 0x00, 52]);
        assert_eq!(v, vec![4, 0, b'h', 0, 0xE9, 0]);
        // CP1252: é = 0xE9, € = 0x80; a character outside the code page becomes '?'.
        let (ti, v) = enc(
            SqlType::VarChar {
                len: Some(10),
                collation: CI_AS,
            },
            true,
            Value::Str("é€✓".into()),
        );
        assert_eq!(ti, vec![0xA7, 10, 0, 0x09, 0x04, 0xD0, 0x00, 52]);
        assert_eq!(v, vec![3, 0, 0xE9, 0x80, b'?']);
        // char(n)/nchar(n) come back padded.
        assert_eq!(
            enc(
                SqlType::Char {
                    len: 3,
                    collation: CI_AS
                },
                false,
                Value::Str("a".into())
            )
            .1,
            vec![3, 0, b'a', b' ', b' ']
        );
        assert_eq!(
            enc(
                SqlType::NChar {
                    len: 2,
                    collation: CI_AS
                },
                false,
                Value::Str("a".into())
            )
            .1,
            vec![4, 0, b'a', 0, b' ', 0]
        );
    }

    #[test]
    fn max_types_are_plp() {
        let (ti, v) = enc(
            SqlType::NVarChar {
                len: None,
                collation: CI_AS,
            },
            true,
            Value::Str("ab".into()),
        );
        assert_eq!(&ti[..3], &[0xE7, 0xFF, 0xFF]);
        assert_eq!(
            v,
            vec![4, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, b'a', 0, b'b', 0, 0, 0, 0, 0]
        );
        let (_, v) = enc(
            SqlType::VarBinary { len: None },
            true,
            Value::Bytes(Vec::new().into()),
        );
        assert_eq!(v, vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let plan = ColumnPlan::new(&col(SqlType::Xml, true));
        let mut v = Vec::new();
        value(&mut v, &plan, &Value::Null).unwrap();
        assert_eq!(v, vec![0xFF; 8]);
    }

    #[test]
    fn text_has_a_text_pointer() {
        let (ti, v) = enc(
            SqlType::Text { collation: CI_AS },
            true,
            Value::Str("x".into()),
        );
        assert_eq!(
            ti,
            vec![0x23, 0xFF, 0xFF, 0xFF, 0x7F, 0x09, 0x04, 0xD0, 0x00, 52, 0]
        );
        assert_eq!(v[0], 16);
        assert_eq!(&v[25..], &[1, 0, 0, 0, b'x']);
        let plan = ColumnPlan::new(&col(SqlType::Image, true));
        let mut n = Vec::new();
        value(&mut n, &plan, &Value::Null).unwrap();
        assert_eq!(n, vec![0]);
    }

    #[test]
    fn guid_is_mixed_endian() {
        let g = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD,
            0xEE, 0xFF,
        ];
        let (ti, v) = enc(SqlType::UniqueIdentifier, false, Value::Guid(g));
        assert_eq!(ti, vec![0x24, 16]);
        assert_eq!(
            v,
            vec![
                16, 0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xAA, 0xBB, 0xCC,
                0xDD, 0xEE, 0xFF
            ]
        );
    }

    #[test]
    fn nbcrow_when_nulls_save_bytes() {
        let cols: Vec<ColumnPlan> = (0..3)
            .map(|_| {
                ColumnPlan::new(&col(
                    SqlType::NVarChar {
                        len: Some(5),
                        collation: CI_AS,
                    },
                    true,
                ))
            })
            .collect();
        let mut b = Vec::new();
        row(
            &mut b,
            &cols,
            &[Value::Null, Value::Str("a".into()), Value::Null],
        )
        .unwrap();
        assert_eq!(b, vec![0xD2, 0b101, 2, 0, b'a', 0]);
        let mut b = Vec::new();
        row(
            &mut b,
            &cols,
            &[
                Value::Str("a".into()),
                Value::Str("b".into()),
                Value::Str("c".into()),
            ],
        )
        .unwrap();
        assert_eq!(b[0], 0xD1);
    }

    #[test]
    fn null_in_not_null_column_is_refused() {
        let plan = ColumnPlan::new(&col(SqlType::Int, false));
        assert!(value(&mut Vec::new(), &plan, &Value::Null).is_err());
        let plan = ColumnPlan::new(&col(SqlType::TinyInt, true));
        assert!(value(&mut Vec::new(), &plan, &Value::Int(256)).is_err());
    }

    #[test]
    fn variant_int_and_string() {
        let (ti, v) = enc(SqlType::SqlVariant, true, Value::Int(7));
        assert_eq!(ti, vec![0x62, 0x50, 0x1F, 0, 0]);
        assert_eq!(v, vec![6, 0, 0, 0, 0x38, 0, 7, 0, 0, 0]);
        let (_, v) = enc(SqlType::SqlVariant, true, Value::Str("a".into()));
        assert_eq!(&v[..6], &[11, 0, 0, 0, 0xE7, 7]);
    }
}
