//! A test-only encoder of the tokens the decoder reads, built from MS-TDS independently of the
//! decoder (and checked against the project's TDS test server's layouts where they meet): a
//! column spec and typed values in, wire bytes out.

use crate::tds_rows::types::type_byte as ty;

pub const COLMETADATA: u8 = 0x81;
pub const ROW: u8 = 0xD1;
pub const NBCROW: u8 = 0xD2;
pub const DONE: u8 = 0xFD;
pub const DONEPROC: u8 = 0xFE;
pub const DONEINPROC: u8 = 0xFF;
pub const ERROR: u8 = 0xAA;
pub const INFO: u8 = 0xAB;
pub const ENVCHANGE: u8 = 0xE3;
pub const LOGINACK: u8 = 0xAD;

/// SQL_Latin1_General_CP1_CI_AS (code page 1252), as the test server sends it.
pub const SQL_LATIN1: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 52];
/// Latin1_General_100_CI_AS_SC_UTF8 (code page 65001).
pub const LATIN1_UTF8: [u8; 5] = [0x09, 0x04, 0xD0, 0x24, 0];
/// Cyrillic_General_CI_AS (code page 1251).
pub const CYRILLIC: [u8; 5] = [0x19, 0x04, 0xD0, 0x00, 0];
/// Japanese_CI_AS (code page 932).
pub const JAPANESE: [u8; 5] = [0x11, 0x04, 0xD0, 0x00, 0];
/// A Windows collation of an unassigned language: no known code page.
pub const UNKNOWN_COLLATION: [u8; 5] = [0xFF, 0x03, 0xD0, 0x00, 0];
/// The `(max)` length marker.
pub const MAX: u16 = 0xFFFF;

/// A column's TYPE_INFO.
#[derive(Debug, Clone)]
pub enum Col {
    /// NULLTYPE.
    Null,
    /// A fixed-length type of a NOT NULL column: INT1 .. MONEY4.
    Fixed(u8),
    /// INTN, BITN, FLTN, MONEYN, DATETIMN, GUID with their declared length.
    ByteLen(u8, u8),
    Decimal {
        numeric: bool,
        precision: u8,
        scale: u8,
    },
    Date,
    /// TIMEN, DATETIME2N or DATETIMEOFFSETN with a scale.
    Scaled(u8, u8),
    /// BIGCHAR or BIGVARCHAR: max length (MAX for varchar(max)), collation.
    Char(u8, u16, [u8; 5]),
    /// NCHAR or NVARCHAR: max length in bytes (MAX for nvarchar(max)).
    NChar(u8, u16),
    /// BIGBINARY or BIGVARBINARY: max length (MAX for varbinary(max)).
    Binary(u8, u16),
    /// XML with or without a schema collection.
    Xml(bool),
    /// Raw TYPE_INFO bytes, for types the decoder refuses.
    Raw(Vec<u8>),
}

impl Col {
    pub fn int() -> Col {
        Col::ByteLen(ty::INTN, 4)
    }
    pub fn nvarchar_max() -> Col {
        Col::NChar(ty::NVARCHAR, MAX)
    }
    pub fn nvarchar(chars: u16) -> Col {
        Col::NChar(ty::NVARCHAR, chars * 2)
    }
    pub fn varbinary_max() -> Col {
        Col::Binary(ty::BIGVARBINARY, MAX)
    }
    pub fn varchar(len: u16, collation: [u8; 5]) -> Col {
        Col::Char(ty::BIGVARCHAR, len, collation)
    }

    /// The fixed length of a NOT NULL fixed type.
    fn fixed_len(type_byte: u8) -> usize {
        match type_byte {
            ty::INT1 | ty::BIT => 1,
            ty::INT2 => 2,
            ty::INT4 | ty::DATETIM4 | ty::FLT4 | ty::MONEY4 => 4,
            _ => 8,
        }
    }

    fn is_plp(&self) -> bool {
        matches!(
            self,
            Col::Char(_, MAX, _) | Col::NChar(_, MAX) | Col::Binary(_, MAX) | Col::Xml(_)
        )
    }

    fn type_info(&self, out: &mut Vec<u8>) {
        match self {
            Col::Null => out.push(ty::NULL),
            Col::Fixed(t) => out.push(*t),
            Col::ByteLen(t, len) => out.extend_from_slice(&[*t, *len]),
            Col::Decimal {
                numeric,
                precision,
                scale,
            } => out.extend_from_slice(&[
                if *numeric { ty::NUMERICN } else { ty::DECIMALN },
                decimal_len(*precision),
                *precision,
                *scale,
            ]),
            Col::Date => out.push(ty::DATEN),
            Col::Scaled(t, scale) => out.extend_from_slice(&[*t, *scale]),
            Col::Char(t, len, collation) => {
                out.push(*t);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(collation);
            }
            Col::NChar(t, len) => {
                out.push(*t);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(&SQL_LATIN1);
            }
            Col::Binary(t, len) => {
                out.push(*t);
                out.extend_from_slice(&len.to_le_bytes());
            }
            Col::Xml(schema) => {
                out.push(ty::XML);
                if *schema {
                    out.push(1);
                    b_varchar(out, "db");
                    b_varchar(out, "dbo");
                    us_varchar(out, "Collection");
                } else {
                    out.push(0);
                }
            }
            Col::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }
}

/// Bytes of a decimal value (sign byte included) for a precision, as SQL Server sizes them.
pub fn decimal_len(precision: u8) -> u8 {
    match precision {
        0..=9 => 5,
        10..=19 => 9,
        20..=28 => 13,
        _ => 17,
    }
}

/// Bytes of a time value at a scale.
pub fn time_len(scale: u8) -> usize {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

/// A value in SQL Server's own units. Strings and binaries are their wire bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Int(i64),
    Bit(bool),
    F32(f32),
    F64(f64),
    /// Ten-thousandths.
    Money(i64),
    /// Unscaled.
    Dec(i128),
    /// Wire byte order.
    Guid([u8; 16]),
    /// Days since 0001-01-01.
    Date(u32),
    /// Increments of 10^-scale s.
    Time(u64),
    DateTime2(u32, u64),
    DateTimeOffset(u32, u64, i16),
    DateTime(i32, u32),
    SmallDateTime(u16, u16),
    Bytes(Vec<u8>),
}

/// How PLP values are cut into chunks.
#[derive(Debug, Clone)]
pub struct Plp {
    /// Chunk sizes, used in turn (the last repeats); empty: one chunk.
    pub chunks: Vec<usize>,
    /// Send the unknown-length marker instead of the total.
    pub unknown_length: bool,
}

impl Plp {
    pub fn one_chunk() -> Plp {
        Plp {
            chunks: Vec::new(),
            unknown_length: false,
        }
    }
}

pub fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

pub fn b_varchar(out: &mut Vec<u8>, text: &str) {
    let units = utf16(text);
    out.push((units.len() / 2) as u8);
    out.extend_from_slice(&units);
}

pub fn us_varchar(out: &mut Vec<u8>, text: &str) {
    let units = utf16(text);
    out.extend_from_slice(&((units.len() / 2) as u16).to_le_bytes());
    out.extend_from_slice(&units);
}

/// COLMETADATA for `columns` (type, name), all nullable.
pub fn colmetadata(columns: &[(Col, &str)]) -> Vec<u8> {
    let mut out = vec![COLMETADATA];
    out.extend_from_slice(&(columns.len() as u16).to_le_bytes());
    for (col, name) in columns {
        out.extend_from_slice(&0u32.to_le_bytes()); // user type
        out.extend_from_slice(&0x0009u16.to_le_bytes()); // nullable, updateable unknown
        col.type_info(&mut out);
        b_varchar(&mut out, name);
    }
    out
}

/// A PLP stream of `data`.
pub fn plp(data: &[u8], style: &Plp) -> Vec<u8> {
    let mut out = Vec::new();
    let total = if style.unknown_length {
        u64::MAX - 1
    } else {
        data.len() as u64
    };
    out.extend_from_slice(&total.to_le_bytes());
    let mut rest = data;
    let mut turn = 0;
    while !rest.is_empty() {
        let size = match style.chunks.get(turn).or(style.chunks.last()) {
            Some(&size) => size.clamp(1, rest.len()),
            None => rest.len(),
        };
        turn += 1;
        let (chunk, tail) = rest.split_at(size);
        out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        out.extend_from_slice(chunk);
        rest = tail;
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

/// One value of a column, as it sits in a ROW (NULL included).
pub fn value(col: &Col, v: &V, style: &Plp) -> Vec<u8> {
    let mut out = Vec::new();
    if col.is_plp() {
        match v {
            V::Null => out.extend_from_slice(&u64::MAX.to_le_bytes()),
            V::Bytes(bytes) => out.extend_from_slice(&plp(bytes, style)),
            other => panic!("{other:?} in a PLP column"),
        }
        return out;
    }
    let bytes: Vec<u8> = match (col, v) {
        (_, V::Null) => Vec::new(),
        (Col::Fixed(t), V::Int(n)) => n.to_le_bytes()[..Col::fixed_len(*t)].to_vec(),
        (Col::ByteLen(_, len), V::Int(n)) => n.to_le_bytes()[..usize::from(*len)].to_vec(),
        (_, V::Bit(b)) => vec![u8::from(*b)],
        (_, V::F32(f)) => f.to_le_bytes().to_vec(),
        (_, V::F64(f)) => f.to_le_bytes().to_vec(),
        (Col::Fixed(ty::MONEY4), V::Money(m)) | (Col::ByteLen(_, 4), V::Money(m)) => {
            (*m as i32).to_le_bytes().to_vec()
        }
        (_, V::Money(m)) => {
            // High 32 bits first, then the low 32 bits, each little-endian.
            let mut b = ((*m >> 32) as i32).to_le_bytes().to_vec();
            b.extend_from_slice(&(*m as u32).to_le_bytes());
            b
        }
        (Col::Decimal { precision, .. }, V::Dec(d)) => {
            let len = usize::from(decimal_len(*precision));
            let mut b = vec![u8::from(*d >= 0)];
            b.extend_from_slice(&d.unsigned_abs().to_le_bytes()[..len - 1]);
            b
        }
        (_, V::Guid(g)) => g.to_vec(),
        (_, V::Date(days)) => days.to_le_bytes()[..3].to_vec(),
        (Col::Scaled(_, scale), V::Time(t)) => t.to_le_bytes()[..time_len(*scale)].to_vec(),
        (Col::Scaled(_, scale), V::DateTime2(days, t)) => {
            let mut b = t.to_le_bytes()[..time_len(*scale)].to_vec();
            b.extend_from_slice(&days.to_le_bytes()[..3]);
            b
        }
        (Col::Scaled(_, scale), V::DateTimeOffset(days, t, offset)) => {
            let mut b = t.to_le_bytes()[..time_len(*scale)].to_vec();
            b.extend_from_slice(&days.to_le_bytes()[..3]);
            b.extend_from_slice(&offset.to_le_bytes());
            b
        }
        (_, V::DateTime(days, ticks)) => {
            let mut b = days.to_le_bytes().to_vec();
            b.extend_from_slice(&ticks.to_le_bytes());
            b
        }
        (_, V::SmallDateTime(days, minutes)) => {
            let mut b = days.to_le_bytes().to_vec();
            b.extend_from_slice(&minutes.to_le_bytes());
            b
        }
        (_, V::Bytes(b)) => b.clone(),
        (col, v) => panic!("{v:?} does not go in {col:?}"),
    };
    match col {
        Col::Null => {}
        Col::Fixed(_) => {
            assert!(
                *v != V::Null,
                "a fixed-length column cannot hold NULL in a ROW"
            );
            out.extend_from_slice(&bytes);
        }
        Col::Char(..) | Col::NChar(..) | Col::Binary(..) => {
            if *v == V::Null {
                out.extend_from_slice(&0xFFFFu16.to_le_bytes());
            } else {
                out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
                out.extend_from_slice(&bytes);
            }
        }
        _ => {
            out.push(bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
    }
    out
}

/// A ROW, or an NBCROW (NULLs only in its bitmap), of `values`.
pub fn row(columns: &[Col], values: &[V], nbc: bool, style: &Plp) -> Vec<u8> {
    assert_eq!(columns.len(), values.len());
    let mut out = vec![if nbc { NBCROW } else { ROW }];
    if nbc {
        let mut bitmap = vec![0u8; columns.len().div_ceil(8)];
        for (i, v) in values.iter().enumerate() {
            if *v == V::Null {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        out.extend_from_slice(&bitmap);
    }
    for (col, v) in columns.iter().zip(values) {
        if !(nbc && *v == V::Null) {
            out.extend_from_slice(&value(col, v, style));
        }
    }
    out
}

pub fn done(kind: u8, status: u16, rows: u64) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&0xC1u16.to_le_bytes()); // SELECT
    out.extend_from_slice(&rows.to_le_bytes());
    out
}

/// A token with a u16 length: the type byte, the length, `body`.
pub fn with_length(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// ERROR or INFO.
pub fn message(
    kind: u8,
    number: u32,
    state: u8,
    class: u8,
    text: &str,
    proc: &str,
    line: u32,
) -> Vec<u8> {
    let mut body = number.to_le_bytes().to_vec();
    body.extend_from_slice(&[state, class]);
    us_varchar(&mut body, text);
    b_varchar(&mut body, "PGMIG-TDS");
    b_varchar(&mut body, proc);
    body.extend_from_slice(&line.to_le_bytes());
    with_length(kind, &body)
}

/// ENVCHANGE with text values (database, packet size, language).
pub fn env_change(kind: u8, new: &str, old: &str) -> Vec<u8> {
    let mut body = vec![kind];
    b_varchar(&mut body, new);
    b_varchar(&mut body, old);
    with_length(ENVCHANGE, &body)
}

pub fn login_ack(tds_version: u32, program: &str) -> Vec<u8> {
    let mut body = vec![1];
    body.extend_from_slice(&tds_version.to_be_bytes());
    b_varchar(&mut body, program);
    body.extend_from_slice(&[16, 0, 0x03, 0xE8]);
    with_length(LOGINACK, &body)
}
