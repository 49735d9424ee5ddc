//! TYPE_INFO (MS-TDS 2.2.5.4-2.2.5.6) of the column types this decoder reads, what each
//! (wire type, target encoding) pair turns into, and one value into its COPY field.
//!
//! The pairs accepted, and the `CopyEncoder` call each makes, are those of the tiberius-based
//! reader (`src/tds/encode.rs`), so both write byte-identical COPY data: integers into
//! smallint/integer/bigint (range-checked) or numeric, bit into boolean, real into real or
//! double, float into double, decimal into numeric, the date/time types into their PostgreSQL
//! counterparts, strings into text (and xml), xml into xml or text, binary into bytea, binary
//! holding UTF-16LE into text, uniqueidentifier into uuid. money arrives as a double, as
//! tiberius hands it over (pgmig casts money to decimal in its SELECT, so it does not occur).
//! One difference: xml into xml goes through `put_xml_utf16le`, which also drops a leading
//! byte-order mark or XML declaration that PostgreSQL's `xml_recv` would misread; SQL Server
//! stores and sends neither, so the bytes are the same.

use encoding_rs::Encoding;

use super::collation::Collation;
use super::cursor::{malformed, Cursor, Stop};
use super::metadata::Column;
use super::ValueError;
use crate::copy_binary::{CopyEncoder, EncodeError, NulPolicy};
use crate::plan::FieldEncoding;
use crate::temporal::MAX_TIME_SCALE;
use crate::text::encoding_for_code_page;

/// TYPE_INFO type bytes (MS-TDS 2.2.5.4).
pub(crate) mod type_byte {
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

/// The u16 maximum length that marks a `(max)` type, whose values are PLP streams.
const MAX_MARKER: u16 = 0xFFFF;
/// decimal/numeric hold at most 38 digits.
const MAX_DECIMAL_PRECISION: u8 = 38;
/// A date is 3 bytes of days since 0001-01-01.
const DATE_LEN: usize = 3;
/// datetimeoffset ends with the offset, i16 minutes.
const OFFSET_LEN: usize = 2;

/// How a column's values are delimited inside a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// NULLTYPE: no bytes, always NULL.
    AlwaysNull,
    /// The fixed-length types of NOT NULL columns: the value's bytes, no length.
    Fixed(u8),
    /// A u8 length, 0 for NULL.
    ByteLen,
    /// A u16 length, 0xFFFF for NULL.
    UShortLen,
    /// A PLP stream: `(max)` types and xml.
    Plp,
}

/// What SQL Server type a column carries, with what its values need from TYPE_INFO. Integer,
/// float, money and datetime widths are those of each value (as tiberius reads them).
#[derive(Debug, Clone, Copy)]
pub(crate) enum WireType {
    Null,
    Bit,
    Int,
    Float,
    Money,
    /// datetime (8 bytes) or smalldatetime (4).
    DateTime,
    Decimal {
        scale: u8,
        numeric: bool,
    },
    Guid,
    Date,
    Time {
        scale: u8,
    },
    DateTime2 {
        scale: u8,
    },
    DateTimeOffset {
        scale: u8,
    },
    Char {
        var: bool,
        encoding: &'static Encoding,
    },
    NChar {
        var: bool,
    },
    Binary {
        var: bool,
    },
    Xml,
}

impl WireType {
    /// The SQL Server type name of a value of `len` bytes, for messages.
    pub(crate) fn name(self, len: usize) -> &'static str {
        match self {
            WireType::Null => "null",
            WireType::Bit => "bit",
            WireType::Int => match len {
                1 => "tinyint",
                2 => "smallint",
                4 => "int",
                8 => "bigint",
                _ => "integer",
            },
            WireType::Float if len == 4 => "real",
            WireType::Float => "float",
            WireType::Money if len == 4 => "smallmoney",
            WireType::Money => "money",
            WireType::DateTime if len == 4 => "smalldatetime",
            WireType::DateTime => "datetime",
            WireType::Decimal { numeric: true, .. } => "numeric",
            WireType::Decimal { .. } => "decimal",
            WireType::Guid => "uniqueidentifier",
            WireType::Date => "date",
            WireType::Time { .. } => "time",
            WireType::DateTime2 { .. } => "datetime2",
            WireType::DateTimeOffset { .. } => "datetimeoffset",
            WireType::Char { var: true, .. } => "varchar",
            WireType::Char { .. } => "char",
            WireType::NChar { var: true } => "nvarchar",
            WireType::NChar { .. } => "nchar",
            WireType::Binary { var: true } => "varbinary",
            WireType::Binary { .. } => "binary",
            WireType::Xml => "xml",
        }
    }
}

/// A TYPE_INFO as read.
pub(crate) enum TypeInfo {
    Supported {
        wire: WireType,
        framing: Framing,
        /// The longest value a well-formed row carries, for u16-length values: a longer one
        /// means the stream is out of step, found before waiting for bytes that never come.
        max_len: u16,
    },
    /// A type this decoder does not read, described; the cursor is past its TYPE_INFO.
    Unsupported(String),
    /// A type byte whose TYPE_INFO layout this decoder does not know: nothing after it can
    /// be read.
    Unknown(u8),
}

/// Reads one TYPE_INFO.
pub(crate) fn read_type_info(cur: &mut Cursor<'_>) -> Result<TypeInfo, Stop> {
    use type_byte as t;
    let type_byte = cur.u8()?;
    let fixed = |wire, len| TypeInfo::Supported {
        wire,
        framing: Framing::Fixed(len),
        max_len: 0,
    };
    let byte_len = |wire| TypeInfo::Supported {
        wire,
        framing: Framing::ByteLen,
        max_len: 0,
    };
    Ok(match type_byte {
        t::NULL => TypeInfo::Supported {
            wire: WireType::Null,
            framing: Framing::AlwaysNull,
            max_len: 0,
        },
        t::INT1 => fixed(WireType::Int, 1),
        t::INT2 => fixed(WireType::Int, 2),
        t::INT4 => fixed(WireType::Int, 4),
        t::INT8 => fixed(WireType::Int, 8),
        t::BIT => fixed(WireType::Bit, 1),
        t::FLT4 => fixed(WireType::Float, 4),
        t::FLT8 => fixed(WireType::Float, 8),
        t::MONEY4 => fixed(WireType::Money, 4),
        t::MONEY => fixed(WireType::Money, 8),
        t::DATETIM4 => fixed(WireType::DateTime, 4),
        t::DATETIME => fixed(WireType::DateTime, 8),
        t::INTN | t::BITN | t::FLTN | t::MONEYN | t::DATETIMN | t::GUID => {
            let declared = cur.u8()?;
            let (wire, valid): (WireType, &[u8]) = match type_byte {
                t::INTN => (WireType::Int, &[1, 2, 4, 8]),
                t::BITN => (WireType::Bit, &[1]),
                t::FLTN => (WireType::Float, &[4, 8]),
                t::MONEYN => (WireType::Money, &[4, 8]),
                t::DATETIMN => (WireType::DateTime, &[4, 8]),
                _ => (WireType::Guid, &[16]),
            };
            if !valid.contains(&declared) {
                return Err(malformed(format!(
                    "TYPE_INFO 0x{type_byte:02X} declares a length of {declared}"
                )));
            }
            byte_len(wire)
        }
        t::DECIMALN | t::NUMERICN => {
            let [declared, precision, scale] = cur.array()?;
            if !matches!(declared, 5 | 9 | 13 | 17)
                || !(1..=MAX_DECIMAL_PRECISION).contains(&precision)
                || scale > precision
            {
                return Err(malformed(format!(
                    "decimal TYPE_INFO with length {declared}, precision {precision}, scale {scale}"
                )));
            }
            byte_len(WireType::Decimal {
                scale,
                numeric: type_byte == t::NUMERICN,
            })
        }
        t::DATEN => byte_len(WireType::Date),
        t::TIMEN | t::DATETIME2N | t::DATETIMEOFFSETN => {
            let scale = cur.u8()?;
            if scale > MAX_TIME_SCALE {
                return Err(malformed(format!("time scale {scale} in TYPE_INFO")));
            }
            byte_len(match type_byte {
                t::TIMEN => WireType::Time { scale },
                t::DATETIME2N => WireType::DateTime2 { scale },
                _ => WireType::DateTimeOffset { scale },
            })
        }
        t::BIGVARCHAR | t::BIGCHAR => {
            let max_len = cur.u16()?;
            let collation = Collation::from_wire(cur.array()?);
            let var = type_byte == t::BIGVARCHAR;
            let code_page = collation.code_page();
            let Some(encoding) = code_page.and_then(encoding_for_code_page) else {
                return Ok(TypeInfo::Unsupported(format!(
                    "{} with collation LCID 0x{:05X}, sort id {}, whose code page this decoder \
                     does not know",
                    if var { "varchar" } else { "char" },
                    collation.lcid(),
                    collation.sort_id
                )));
            };
            sized(WireType::Char { var, encoding }, max_len)
        }
        t::NVARCHAR | t::NCHAR => {
            let max_len = cur.u16()?;
            cur.take(5)?; // collation: UTF-16 needs none
            sized(
                WireType::NChar {
                    var: type_byte == t::NVARCHAR,
                },
                max_len,
            )
        }
        t::BIGVARBINARY | t::BIGBINARY => {
            let max_len = cur.u16()?;
            sized(
                WireType::Binary {
                    var: type_byte == t::BIGVARBINARY,
                },
                max_len,
            )
        }
        t::XML => {
            // XML_INFO: a schema-present flag, then the schema collection's three-part name.
            if cur.u8()? != 0 {
                cur.b_varchar()?;
                cur.b_varchar()?;
                cur.us_varchar()?;
            }
            TypeInfo::Supported {
                wire: WireType::Xml,
                framing: Framing::Plp,
                max_len: 0,
            }
        }
        // The unsupported types are read to their end so the message can name the column.
        t::TEXT | t::NTEXT | t::IMAGE => {
            cur.u32()?;
            if type_byte != t::IMAGE {
                cur.take(5)?;
            }
            // The table the values come from: a part count, then each part's name.
            for _ in 0..cur.u8()? {
                cur.us_varchar()?;
            }
            TypeInfo::Unsupported(
                match type_byte {
                    t::TEXT => "text",
                    t::NTEXT => "ntext",
                    _ => "image",
                }
                .to_string(),
            )
        }
        t::SSVARIANT => {
            cur.u32()?;
            TypeInfo::Unsupported("sql_variant".to_string())
        }
        t::UDT => {
            // UDT_INFO: max byte size, database, schema and type name, assembly name.
            cur.u16()?;
            cur.b_varchar()?;
            cur.b_varchar()?;
            let type_name = cur.b_varchar()?;
            cur.us_varchar()?;
            TypeInfo::Unsupported(format!("CLR type {type_name}"))
        }
        other => TypeInfo::Unknown(other),
    })
}

/// A u16-length type: PLP when its maximum is the `(max)` marker.
fn sized(wire: WireType, max_len: u16) -> TypeInfo {
    TypeInfo::Supported {
        wire,
        framing: if max_len == MAX_MARKER {
            Framing::Plp
        } else {
            Framing::UShortLen
        },
        max_len,
    }
}

/// Bytes of a time value at `scale`.
pub(crate) fn time_len(scale: u8) -> usize {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

/// What one value of a column becomes, settled once per result set from the wire type and the
/// target encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    Bool,
    /// An integer of any width into smallint, integer (both range-checked), bigint or
    /// numeric: one action each, so the row loop dispatches once per value.
    IntToInt16,
    IntToInt32,
    IntToInt64,
    IntToNumeric,
    Numeric {
        scale: u8,
    },
    /// real or float values into double precision (`true`) or real.
    Float {
        into_f64: bool,
    },
    /// money/smallmoney as the double tiberius makes of them.
    MoneyAsFloat64,
    Date,
    Time {
        scale: u8,
    },
    /// datetime or smalldatetime, by value length.
    DateTime,
    DateTime2 {
        scale: u8,
    },
    DateTimeOffset {
        scale: u8,
    },
    CodePageText {
        encoding: &'static Encoding,
        nul: NulPolicy,
    },
    Utf8Text {
        nul: NulPolicy,
    },
    Utf16Text {
        nul: NulPolicy,
    },
    Xml,
    Bytea,
    Uuid,
    /// The pair is not one pgmig writes: every non-NULL value is refused.
    Unexpected,
}

impl Action {
    /// The action for values of `wire` bound for `target`. `nul` applies to text targets; xml
    /// cannot hold U+0000 whatever the policy.
    pub(crate) fn new(wire: WireType, target: FieldEncoding, nul: NulPolicy) -> Action {
        use FieldEncoding as E;
        let text_nul = if target == E::Xml {
            NulPolicy::Error
        } else {
            nul
        };
        match (wire, target) {
            (WireType::Bit, E::Bool) => Action::Bool,
            (WireType::Int, E::Int16) => Action::IntToInt16,
            (WireType::Int, E::Int32) => Action::IntToInt32,
            (WireType::Int, E::Int64) => Action::IntToInt64,
            (WireType::Int, E::Numeric) => Action::IntToNumeric,
            (WireType::Decimal { scale, .. }, E::Numeric) => Action::Numeric { scale },
            (WireType::Float, E::Float32) => Action::Float { into_f64: false },
            (WireType::Float, E::Float64) => Action::Float { into_f64: true },
            (WireType::Money, E::Float64) => Action::MoneyAsFloat64,
            (WireType::Date, E::Date) => Action::Date,
            (WireType::Time { scale }, E::Time) => Action::Time { scale },
            (WireType::DateTime, E::Timestamp) => Action::DateTime,
            (WireType::DateTime2 { scale }, E::Timestamp) => Action::DateTime2 { scale },
            (WireType::DateTimeOffset { scale }, E::TimestampTz) => {
                Action::DateTimeOffset { scale }
            }
            (WireType::Char { encoding, .. }, E::Text | E::Xml) => {
                if encoding == encoding_rs::UTF_8 {
                    Action::Utf8Text { nul: text_nul }
                } else {
                    Action::CodePageText {
                        encoding,
                        nul: text_nul,
                    }
                }
            }
            (WireType::NChar { .. }, E::Text | E::Xml) => Action::Utf16Text { nul: text_nul },
            (WireType::Xml, E::Xml) => Action::Xml,
            (WireType::Xml, E::Text) => Action::Utf16Text {
                nul: NulPolicy::Error,
            },
            (WireType::Binary { .. }, E::Bytea) => Action::Bytea,
            (WireType::Binary { .. }, E::TextFromUtf16) => Action::Utf16Text { nul },
            (WireType::Guid, E::Uuid) => Action::Uuid,
            _ => Action::Unexpected,
        }
    }

    /// The fewest bytes a value of `input` wire bytes can take in its COPY field, counted as
    /// the encoder's own size checks count them (`CopyEncoder::put_*`): over
    /// `MAX_FIELD_BYTES`, the encoder refuses the value whatever it holds, so the value can
    /// be refused from its length before it has arrived.
    pub(crate) fn least_field_bytes(self, input: u64) -> u64 {
        match self {
            Action::Bytea | Action::Utf8Text { .. } => input,
            // UTF-16: a unit (2 bytes) becomes 1 to 3 UTF-8 bytes, a surrogate pair (4) 4.
            // Code pages: a character of 1 or 2 bytes becomes 1 to 4. The text can grow to
            // 1.5 times its wire bytes, but only converting it tells: a bound on that would
            // refuse values that fit (1.6 GB of ASCII as UTF-16 is 800 MB of text). Half is
            // the least it can become. Other actions (a PLP value pgmig does not expect) are
            // bounded as loosely.
            _ => input / 2,
        }
    }
}

/// Why one value was not written.
#[derive(Debug)]
pub(crate) enum Fault {
    Value(ValueError),
    /// The value's bytes do not fit its type (a corrupt or misread stream).
    Protocol(String),
}

impl From<EncodeError> for Fault {
    fn from(error: EncodeError) -> Self {
        Fault::Value(ValueError::Encode(error))
    }
}

#[cold]
fn bad_length(wire: WireType, len: usize) -> Fault {
    Fault::Protocol(format!("malformed {} value of {len} bytes", wire.name(len)))
}

/// Writes the non-NULL value `value` (its bytes, without length prefix) of `column` as the
/// next field of the row.
#[inline]
pub(crate) fn put_value(
    column: &Column,
    value: &[u8],
    encoder: &mut CopyEncoder,
) -> Result<(), Fault> {
    let wire = column.wire;
    match column.action {
        // The hot cases first: text from UTF-16 (nvarchar, or nvarchar read as varbinary).
        Action::Utf16Text { nul } => encoder.put_text_utf16le(value, nul)?,
        Action::IntToInt32 => {
            let number = int_value(column, value)?;
            encoder.put_i32(i32::try_from(number).map_err(|_| out_of_range(number, "integer"))?)
        }
        Action::IntToInt64 => encoder.put_i64(int_value(column, value)?),
        Action::IntToInt16 => {
            let number = int_value(column, value)?;
            encoder.put_i16(i16::try_from(number).map_err(|_| out_of_range(number, "smallint"))?)
        }
        Action::IntToNumeric => encoder.put_numeric(i128::from(int_value(column, value)?), 0),
        Action::CodePageText { encoding, nul } => encoder.put_text_encoded(value, encoding, nul)?,
        Action::Utf8Text { nul } => encoder.put_text_utf8(value, nul)?,
        Action::Bytea => encoder.put_bytea(value)?,
        Action::Xml => encoder.put_xml_utf16le(value)?,
        Action::Numeric { scale } => {
            let unscaled = decimal_value(value).ok_or_else(|| bad_length(wire, value.len()))?;
            encoder.put_numeric(unscaled, scale);
        }
        Action::Bool => match *value {
            [bit] => encoder.put_bool(bit != 0),
            _ => return Err(bad_length(wire, value.len())),
        },
        Action::Float { into_f64 } => match (value, into_f64) {
            (&[a, b, c, d], false) => encoder.put_f32(f32::from_le_bytes([a, b, c, d])),
            (&[a, b, c, d], true) => encoder.put_f64(f64::from(f32::from_le_bytes([a, b, c, d]))),
            (&[a, b, c, d, e, f, g, h], true) => {
                encoder.put_f64(f64::from_le_bytes([a, b, c, d, e, f, g, h]))
            }
            // A float does not narrow into real: refused like any other mismatch.
            (&[_, _, _, _, _, _, _, _], false) => return Err(unexpected(column, value)),
            _ => return Err(bad_length(wire, value.len())),
        },
        Action::MoneyAsFloat64 => {
            // tiberius's arithmetic, so both readers write the same double.
            let money = match *value {
                [a, b, c, d] => f64::from(i32::from_le_bytes([a, b, c, d])) / 1e4,
                [a, b, c, d, e, f, g, h] => {
                    let high = i64::from(i32::from_le_bytes([a, b, c, d]));
                    let low = f64::from(u32::from_le_bytes([e, f, g, h]));
                    ((high << 32) as f64 + low) / 1e4
                }
                _ => return Err(bad_length(wire, value.len())),
            };
            encoder.put_f64(money);
        }
        Action::Uuid => match <&[u8; 16]>::try_from(value) {
            Ok(guid) => encoder.put_uuid_from_guid(guid),
            Err(_) => return Err(bad_length(wire, value.len())),
        },
        Action::Date => match *value {
            [a, b, c] => encoder.put_date(u32::from_le_bytes([a, b, c, 0]))?,
            _ => return Err(bad_length(wire, value.len())),
        },
        Action::Time { scale } => {
            if value.len() != time_len(scale) {
                return Err(bad_length(wire, value.len()));
            }
            encoder.put_time(le_uint(value), scale)?
        }
        Action::DateTime => match *value {
            [a, b, c, d] => {
                encoder.put_smalldatetime(u16::from_le_bytes([a, b]), u16::from_le_bytes([c, d]))?
            }
            [a, b, c, d, e, f, g, h] => encoder.put_datetime(
                i32::from_le_bytes([a, b, c, d]),
                u32::from_le_bytes([e, f, g, h]),
            )?,
            _ => return Err(bad_length(wire, value.len())),
        },
        Action::DateTime2 { scale } => {
            let (increments, days) =
                time_and_date(value, scale, 0).ok_or_else(|| bad_length(wire, value.len()))?;
            encoder.put_datetime2(days, increments, scale)?
        }
        Action::DateTimeOffset { scale } => {
            // The wire's date and time are UTC already; the offset only says where the value
            // was written, and PostgreSQL has nowhere to keep it.
            let (increments, days) = time_and_date(value, scale, OFFSET_LEN)
                .ok_or_else(|| bad_length(wire, value.len()))?;
            encoder.put_datetimeoffset(days, increments, scale)?
        }
        Action::Unexpected => return Err(unexpected(column, value)),
    }
    Ok(())
}

/// An integer value of 1 (unsigned: tinyint), 2, 4 or 8 bytes.
#[inline(always)]
fn int_value(column: &Column, value: &[u8]) -> Result<i64, Fault> {
    let number = match value.len() {
        4 => <[u8; 4]>::try_from(value)
            .ok()
            .map(i32::from_le_bytes)
            .map(i64::from),
        8 => <[u8; 8]>::try_from(value).ok().map(i64::from_le_bytes),
        2 => <[u8; 2]>::try_from(value)
            .ok()
            .map(i16::from_le_bytes)
            .map(i64::from),
        1 => value.first().copied().map(i64::from),
        _ => None,
    };
    number.ok_or_else(|| bad_length(column.wire, value.len()))
}

#[cold]
fn out_of_range(number: i64, target: &'static str) -> Fault {
    Fault::Value(ValueError::OutOfRange {
        value: number.to_string(),
        target,
    })
}

fn unexpected(column: &Column, value: &[u8]) -> Fault {
    Fault::Value(ValueError::Unexpected {
        received: column.wire.name(value.len()),
        target: column.target,
    })
}

/// A little-endian unsigned integer of up to 8 bytes.
#[inline]
pub(crate) fn le_uint(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte))
}

/// The time (10^-scale s increments) and date (days since 0001-01-01) of a datetime2 value, or
/// of a datetimeoffset one when `trailer` is the offset's length.
pub(crate) fn time_and_date(value: &[u8], scale: u8, trailer: usize) -> Option<(u64, u32)> {
    let time_bytes = time_len(scale);
    if value.len() != time_bytes + DATE_LEN + trailer {
        return None;
    }
    let time = value.get(..time_bytes)?;
    let date = value.get(time_bytes..time_bytes + DATE_LEN)?;
    Some((le_uint(time), le_uint(date) as u32))
}

/// The unscaled value of a decimal: a sign byte (1 positive, 0 negative), then a little-endian
/// magnitude of 4, 8, 12 or 16 bytes. `None` for any other shape, or a magnitude beyond i128
/// (38 digits never are).
pub(crate) fn decimal_value(value: &[u8]) -> Option<i128> {
    let (&sign, magnitude) = value.split_first()?;
    if !matches!(magnitude.len(), 4 | 8 | 12 | 16) {
        return None;
    }
    let magnitude = magnitude
        .iter()
        .rev()
        .fold(0u128, |acc, &byte| (acc << 8) | u128::from(byte));
    let magnitude = i128::try_from(magnitude).ok()?;
    match sign {
        1 => Some(magnitude),
        0 => Some(-magnitude),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_read_every_width_and_both_signs() {
        assert_eq!(decimal_value(&[1, 0x39, 0x30, 0, 0]), Some(12345));
        assert_eq!(decimal_value(&[0, 0x39, 0x30, 0, 0]), Some(-12345));
        let max38 = 10i128.pow(38) - 1;
        let mut wire = vec![0];
        wire.extend_from_slice(&max38.to_le_bytes());
        assert_eq!(decimal_value(&wire), Some(-max38));
        // Bad sign, bad width, magnitude beyond i128.
        assert_eq!(decimal_value(&[2, 0, 0, 0, 0]), None);
        assert_eq!(decimal_value(&[1, 0, 0, 0]), None);
        let mut huge = vec![1];
        huge.extend_from_slice(&[0xFF; 16]);
        assert_eq!(decimal_value(&huge), None);
    }

    #[test]
    fn times_and_dates_split_by_scale() {
        assert_eq!(time_len(0), 3);
        assert_eq!(time_len(2), 3);
        assert_eq!(time_len(3), 4);
        assert_eq!(time_len(4), 4);
        assert_eq!(time_len(5), 5);
        assert_eq!(time_len(7), 5);
        // datetime2(7): 5 time bytes, 3 date bytes.
        let value = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            time_and_date(&value, 7, 0),
            Some((0x05_0403_0201, 0x08_0706))
        );
        assert_eq!(time_and_date(&value, 7, OFFSET_LEN), None);
        assert_eq!(time_and_date(&value[..7], 7, 0), None);
    }

    #[test]
    fn type_names_follow_the_value_width() {
        assert_eq!(WireType::Int.name(1), "tinyint");
        assert_eq!(WireType::Int.name(8), "bigint");
        assert_eq!(WireType::Float.name(4), "real");
        assert_eq!(WireType::Money.name(8), "money");
        assert_eq!(WireType::DateTime.name(4), "smalldatetime");
        assert_eq!(WireType::NChar { var: true }.name(0), "nvarchar");
    }
}
