//! Client requests: SQL_BATCH, RPC (with TYPE_INFO + value decoding of parameters) and
//! TRANSACTION MANAGER requests, each after the ALL_HEADERS block (MS-TDS 2.2.5.3).

use super::encode::ty;
use super::{ProtocolError, Reader};
use crate::types::{Collation, RpcParam, SqlType, Value};

const PLP_NULL: u64 = u64::MAX;
const PLP_UNKNOWN_LEN: u64 = u64::MAX - 1;
/// RPC parameter status flag: output (by reference) parameter.
const PARAM_BY_REF: u8 = 0x01;
/// RPC batch separators (TDS 7.2+: 0xFF; 0x80 in older versions).
const RPC_BATCH_FLAGS: [u8; 2] = [0x80, 0xFF];

/// Skips ALL_HEADERS and returns the transaction descriptor if the client sent one.
fn all_headers(r: &mut Reader) -> Result<Option<u64>, ProtocolError> {
    let total = r.u32()? as usize;
    if total < 4 || total - 4 > r.remaining() {
        return Err(ProtocolError(format!("bad ALL_HEADERS length {total}")));
    }
    let mut block = Reader::new(r.take(total - 4)?);
    let mut descriptor = None;
    while block.remaining() > 0 {
        let len = block.u32()? as usize;
        if len < 6 || len - 4 > block.remaining() {
            return Err(ProtocolError(format!("bad header length {len}")));
        }
        let kind = block.u16()?;
        let mut data = Reader::new(block.take(len - 6)?);
        // 2 = transaction descriptor: 8-byte descriptor + 4-byte outstanding requests.
        if kind == 2 {
            descriptor = Some(data.u64()?);
        }
    }
    Ok(descriptor)
}

/// SQL_BATCH: ALL_HEADERS then UTF-16LE text.
pub fn sql_batch(payload: &[u8]) -> Result<String, ProtocolError> {
    let mut r = Reader::new(payload);
    all_headers(&mut r)?;
    if !r.remaining().is_multiple_of(2) {
        return Err(ProtocolError("SQL batch text has an odd byte count".into()));
    }
    let n = r.remaining() / 2;
    r.utf16(n)
}

/// One procedure call of an RPC request.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcCall {
    pub proc_name: String,
    pub params: Vec<RpcParam>,
}

/// Names of the well-known procedures clients call by ProcID (MS-TDS 2.2.6.6).
pub fn proc_name_for_id(id: u16) -> Option<&'static str> {
    Some(match id {
        1 => "sp_cursor",
        2 => "sp_cursoropen",
        3 => "sp_cursorprepare",
        4 => "sp_cursorexecute",
        5 => "sp_cursorprepexec",
        6 => "sp_cursorunprepare",
        7 => "sp_cursorfetch",
        8 => "sp_cursoroption",
        9 => "sp_cursorclose",
        10 => "sp_executesql",
        11 => "sp_prepare",
        12 => "sp_execute",
        13 => "sp_prepexec",
        14 => "sp_prepexecrpc",
        15 => "sp_unprepare",
        _ => return None,
    })
}

pub fn rpc(payload: &[u8]) -> Result<Vec<RpcCall>, ProtocolError> {
    let mut r = Reader::new(payload);
    all_headers(&mut r)?;
    let mut calls = Vec::new();
    loop {
        let name_len = r.u16()?;
        let proc_name = if name_len == 0xFFFF {
            let id = r.u16()?;
            proc_name_for_id(id)
                .ok_or_else(|| ProtocolError(format!("unknown RPC ProcID {id}")))?
                .to_string()
        } else {
            r.utf16(name_len as usize)?
        };
        let _option_flags = r.u16()?;
        let mut params = Vec::new();
        let mut more = false;
        while r.remaining() > 0 {
            let peek = payload[r.position()];
            if RPC_BATCH_FLAGS.contains(&peek) {
                r.u8()?;
                more = r.remaining() > 0;
                break;
            }
            params.push(param(&mut r)?);
        }
        calls.push(RpcCall { proc_name, params });
        if !more {
            return Ok(calls);
        }
    }
}

fn param(r: &mut Reader) -> Result<RpcParam, ProtocolError> {
    let name = r.b_varchar()?;
    let status = r.u8()?;
    let info = type_info(r)?;
    let value = value(r, &info)?;
    Ok(RpcParam {
        name,
        value,
        sql_type: info.sql_type,
        output: status & PARAM_BY_REF != 0,
    })
}

/// A decoded TYPE_INFO: the wire type and the SQL type it declares.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeInfo {
    pub wire: u8,
    /// Declared length (bytes; 0xFFFF for max), where the type has one.
    pub len: u32,
    pub scale: u8,
    pub code_page: u16,
    pub sql_type: SqlType,
}

/// The collation a client sent, matched to the ones the server knows (by LCID) so that
/// single-byte text decodes in the right code page.
fn collation(bytes: &[u8]) -> Collation {
    let info = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let sort_id = bytes[4];
    let default = Collation::SQL_LATIN1_GENERAL_CP1_CI_AS;
    // fUTF8 (bit 27 of the info word, SQL Server 2019 UTF-8 collations).
    let utf8 = info & (1 << 27) != 0;
    Collation {
        name: if info == default.info && sort_id == default.sort_id {
            default.name
        } else {
            "client collation"
        },
        info,
        sort_id,
        code_page: if utf8 {
            65001
        } else {
            code_page_for_lcid(info & 0xFFFFF)
        },
    }
}

fn code_page_for_lcid(lcid: u32) -> u16 {
    match lcid & 0x3FF {
        // Primary language ids (MS-LCID): Japanese, Chinese, Korean, Thai, central
        // European, Cyrillic, Greek, Turkish, Hebrew, Arabic, Baltic, Vietnamese.
        0x11 => 932,
        0x04 => 936,
        0x12 => 949,
        0x1E => 874,
        0x05 | 0x0E | 0x15 | 0x18 | 0x1A | 0x1B | 0x24 => 1250,
        0x19 | 0x22 | 0x23 | 0x02 | 0x2F => 1251,
        0x08 => 1253,
        0x1F => 1254,
        0x0D => 1255,
        0x01 => 1256,
        0x25..=0x27 => 1257,
        0x2A => 1258,
        _ => 1252,
    }
}

pub fn type_info(r: &mut Reader) -> Result<TypeInfo, ProtocolError> {
    let wire = r.u8()?;
    let mut info = TypeInfo {
        wire,
        len: 0,
        scale: 0,
        code_page: 1252,
        sql_type: SqlType::Int,
    };
    let fixed = |t: SqlType, len: u32| (t, len);
    let (sql_type, len) = match wire {
        ty::NULL => fixed(SqlType::Int, 0),
        ty::INT1 => fixed(SqlType::TinyInt, 1),
        ty::BIT => fixed(SqlType::Bit, 1),
        ty::INT2 => fixed(SqlType::SmallInt, 2),
        ty::INT4 => fixed(SqlType::Int, 4),
        ty::INT8 => fixed(SqlType::BigInt, 8),
        ty::FLT4 => fixed(SqlType::Real, 4),
        ty::FLT8 => fixed(SqlType::Float, 8),
        ty::MONEY => fixed(SqlType::Money, 8),
        ty::MONEY4 => fixed(SqlType::SmallMoney, 4),
        ty::DATETIME => fixed(SqlType::DateTime, 8),
        ty::DATETIM4 => fixed(SqlType::SmallDateTime, 4),
        ty::INTN | ty::BITN | ty::FLTN | ty::MONEYN | ty::DATETIMN | ty::GUID => {
            let len = r.u8()? as u32;
            let t = match (wire, len) {
                (ty::INTN, 1) => SqlType::TinyInt,
                (ty::INTN, 2) => SqlType::SmallInt,
                (ty::INTN, 4) => SqlType::Int,
                (ty::INTN, 8) => SqlType::BigInt,
                (ty::BITN, 1) => SqlType::Bit,
                (ty::FLTN, 4) => SqlType::Real,
                (ty::FLTN, 8) => SqlType::Float,
                (ty::MONEYN, 4) => SqlType::SmallMoney,
                (ty::MONEYN, 8) => SqlType::Money,
                (ty::DATETIMN, 4) => SqlType::SmallDateTime,
                (ty::DATETIMN, 8) => SqlType::DateTime,
                (ty::GUID, 16) => SqlType::UniqueIdentifier,
                _ => {
                    return Err(ProtocolError(format!(
                        "type {wire:#04x} with invalid length {len}"
                    )))
                }
            };
            (t, len)
        }
        ty::DECIMALN | ty::NUMERICN => {
            let len = r.u8()? as u32;
            let precision = r.u8()?;
            let scale = r.u8()?;
            if !(1..=38).contains(&precision) || scale > precision || len > 17 {
                return Err(ProtocolError(format!(
                    "decimal({precision},{scale}) with length {len}"
                )));
            }
            info.scale = scale;
            (
                SqlType::Decimal {
                    precision,
                    scale,
                    numeric: wire == ty::NUMERICN,
                },
                len,
            )
        }
        ty::DATEN => (SqlType::Date, 3),
        ty::TIMEN | ty::DATETIME2N | ty::DATETIMEOFFSETN => {
            let scale = r.u8()?;
            if scale > 7 {
                return Err(ProtocolError(format!("time scale {scale} > 7")));
            }
            info.scale = scale;
            let t = match wire {
                ty::TIMEN => SqlType::Time { scale },
                ty::DATETIME2N => SqlType::DateTime2 { scale },
                _ => SqlType::DateTimeOffset { scale },
            };
            (t, 0)
        }
        ty::BIGVARCHAR | ty::BIGCHAR | ty::NVARCHAR | ty::NCHAR => {
            let len = r.u16()?;
            let c = collation(r.take(5)?);
            info.code_page = c.code_page;
            let max = len == 0xFFFF;
            let chars = len / 2;
            let t = match wire {
                ty::BIGVARCHAR => SqlType::VarChar {
                    len: (!max).then_some(len),
                    collation: c,
                },
                ty::BIGCHAR => SqlType::Char { len, collation: c },
                ty::NVARCHAR => SqlType::NVarChar {
                    len: (!max).then_some(chars),
                    collation: c,
                },
                _ => SqlType::NChar {
                    len: chars,
                    collation: c,
                },
            };
            (t, len as u32)
        }
        ty::BIGVARBINARY | ty::BIGBINARY => {
            let len = r.u16()?;
            let t = if wire == ty::BIGBINARY {
                SqlType::Binary { len }
            } else {
                SqlType::VarBinary {
                    len: (len != 0xFFFF).then_some(len),
                }
            };
            (t, len as u32)
        }
        ty::TEXT | ty::NTEXT => {
            let len = r.u32()?;
            let c = collation(r.take(5)?);
            info.code_page = c.code_page;
            let t = if wire == ty::TEXT {
                SqlType::Text { collation: c }
            } else {
                SqlType::NText { collation: c }
            };
            (t, len)
        }
        ty::IMAGE => (SqlType::Image, r.u32()?),
        ty::XML => {
            if r.u8()? != 0 {
                // Typed XML: database, owning schema, collection names.
                r.b_varchar()?;
                r.b_varchar()?;
                r.us_varchar()?;
            }
            (SqlType::Xml, 0xFFFF)
        }
        other => {
            return Err(ProtocolError(format!(
                "parameter type {other:#04x} is not supported"
            )))
        }
    };
    info.sql_type = sql_type;
    info.len = len;
    Ok(info)
}

fn le_int(bytes: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(a)
}

fn plp(r: &mut Reader) -> Result<Option<Vec<u8>>, ProtocolError> {
    let total = r.u64()?;
    if total == PLP_NULL {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(if total == PLP_UNKNOWN_LEN {
        0
    } else {
        (total as usize).min(r.remaining())
    });
    loop {
        let chunk = r.u32()? as usize;
        if chunk == 0 {
            break;
        }
        out.extend_from_slice(r.take(chunk)?);
    }
    if total != PLP_UNKNOWN_LEN && total as usize != out.len() {
        return Err(ProtocolError(format!(
            "PLP length {total} but {} bytes in chunks",
            out.len()
        )));
    }
    Ok(Some(out))
}

fn single_byte_text(bytes: &[u8], code_page: u16) -> Value {
    match super::encode::encoding_for_code_page(code_page) {
        None => Value::Str(String::from_utf8_lossy(bytes).into()),
        Some(encoding) => {
            let (text, _) = encoding.decode_without_bom_handling(bytes);
            Value::Str(text.into())
        }
    }
}

/// Decodes a parameter value of the given TYPE_INFO.
pub fn value(r: &mut Reader, info: &TypeInfo) -> Result<Value, ProtocolError> {
    let fixed_len = match info.wire {
        ty::NULL => return Ok(Value::Null),
        ty::INT1 | ty::BIT => Some(1),
        ty::INT2 => Some(2),
        ty::INT4 | ty::FLT4 | ty::MONEY4 | ty::DATETIM4 => Some(4),
        ty::INT8 | ty::FLT8 | ty::MONEY | ty::DATETIME => Some(8),
        _ => None,
    };
    let data: Vec<u8> = match info.wire {
        _ if fixed_len.is_some() => r.take(fixed_len.unwrap_or(0))?.to_vec(),
        ty::INTN
        | ty::BITN
        | ty::FLTN
        | ty::MONEYN
        | ty::DATETIMN
        | ty::GUID
        | ty::DECIMALN
        | ty::NUMERICN
        | ty::DATEN
        | ty::TIMEN
        | ty::DATETIME2N
        | ty::DATETIMEOFFSETN => {
            let len = r.u8()? as usize;
            if len == 0 {
                return Ok(Value::Null);
            }
            r.take(len)?.to_vec()
        }
        ty::BIGVARCHAR
        | ty::BIGCHAR
        | ty::NVARCHAR
        | ty::NCHAR
        | ty::BIGVARBINARY
        | ty::BIGBINARY
            if info.len == 0xFFFF =>
        {
            match plp(r)? {
                None => return Ok(Value::Null),
                Some(d) => d,
            }
        }
        ty::BIGVARCHAR
        | ty::BIGCHAR
        | ty::NVARCHAR
        | ty::NCHAR
        | ty::BIGVARBINARY
        | ty::BIGBINARY => {
            let len = r.u16()?;
            if len == 0xFFFF {
                return Ok(Value::Null);
            }
            if len as u32 > info.len {
                return Err(ProtocolError(format!(
                    "parameter value of {len} bytes for a declared length of {}",
                    info.len
                )));
            }
            r.take(len as usize)?.to_vec()
        }
        ty::TEXT | ty::NTEXT | ty::IMAGE => {
            let len = r.u32()?;
            if len == u32::MAX {
                return Ok(Value::Null);
            }
            r.take(len as usize)?.to_vec()
        }
        ty::XML => match plp(r)? {
            None => return Ok(Value::Null),
            Some(d) => d,
        },
        other => {
            return Err(ProtocolError(format!(
                "parameter type {other:#04x} is not supported"
            )))
        }
    };
    let bad = || {
        ProtocolError(format!(
            "{} value bytes do not fit type {:#04x}",
            data.len(),
            info.wire
        ))
    };
    Ok(match &info.sql_type {
        SqlType::Bit => Value::Bit(*data.first().ok_or_else(bad)? != 0),
        SqlType::TinyInt => Value::TinyInt(*data.first().ok_or_else(bad)?),
        SqlType::SmallInt => Value::SmallInt(le_int(&data) as u16 as i16),
        SqlType::Int => Value::Int(le_int(&data) as u32 as i32),
        SqlType::BigInt => Value::BigInt(le_int(&data) as i64),
        SqlType::Real => Value::Real(f32::from_bits(le_int(&data) as u32)),
        SqlType::Float => Value::Float(f64::from_bits(le_int(&data))),
        SqlType::Money if data.len() == 8 => {
            let high = le_int(&data[..4]) as u32 as i32 as i64;
            let low = le_int(&data[4..]);
            Value::Money((high << 32) | low as i64)
        }
        SqlType::SmallMoney if data.len() == 4 => Value::Money(le_int(&data) as u32 as i32 as i64),
        SqlType::DateTime if data.len() == 8 => Value::DateTime {
            days: le_int(&data[..4]) as u32 as i32,
            ticks_300: le_int(&data[4..]) as u32,
        },
        SqlType::SmallDateTime if data.len() == 4 => Value::SmallDateTime {
            days: le_int(&data[..2]) as u16,
            minutes: le_int(&data[2..]) as u16,
        },
        SqlType::UniqueIdentifier if data.len() == 16 => {
            let mut g = [0u8; 16];
            g.copy_from_slice(&data);
            // Mixed-endian on the wire; the same swap converts back.
            Value::Guid(super::encode::guid_to_wire(&g))
        }
        SqlType::Decimal { .. } => {
            let (&sign, magnitude) = data.split_first().ok_or_else(bad)?;
            if magnitude.len() > 16 {
                return Err(bad());
            }
            let mut a = [0u8; 16];
            a[..magnitude.len()].copy_from_slice(magnitude);
            let m = u128::from_le_bytes(a);
            let m = i128::try_from(m).map_err(|_| bad())?;
            Value::Decimal {
                value: if sign == 0 { -m } else { m },
                scale: info.scale,
            }
        }
        SqlType::Date if data.len() == 3 => Value::Date(le_int(&data) as u32),
        SqlType::Time { scale } => Value::Time(time_ticks(&data, *scale).ok_or_else(bad)?),
        SqlType::DateTime2 { scale } if data.len() > 3 => {
            let split = data.len() - 3;
            Value::DateTime2 {
                ticks_100ns: time_ticks(&data[..split], *scale).ok_or_else(bad)?,
                days: le_int(&data[split..]) as u32,
            }
        }
        SqlType::DateTimeOffset { scale } if data.len() > 5 => {
            let split = data.len() - 5;
            Value::DateTimeOffset {
                ticks_100ns: time_ticks(&data[..split], *scale).ok_or_else(bad)?,
                days: le_int(&data[split..split + 3]) as u32,
                offset_minutes: le_int(&data[split + 3..]) as u16 as i16,
            }
        }
        SqlType::NVarChar { .. } | SqlType::NChar { .. } | SqlType::NText { .. } | SqlType::Xml => {
            if !data.len().is_multiple_of(2) {
                return Err(bad());
            }
            Value::Str(super::utf16le_to_string(&data).into())
        }
        SqlType::VarChar { .. } | SqlType::Char { .. } | SqlType::Text { .. } => {
            single_byte_text(&data, info.code_page)
        }
        SqlType::Binary { .. } | SqlType::VarBinary { .. } | SqlType::Image => {
            Value::Bytes(data.into())
        }
        _ => return Err(bad()),
    })
}

fn time_ticks(bytes: &[u8], scale: u8) -> Option<u64> {
    if bytes.len() != super::encode::time_len(scale) as usize {
        return None;
    }
    le_int(bytes).checked_mul(10u64.pow(7 - scale as u32))
}

/// TRANSACTION MANAGER request types (MS-TDS 2.2.6.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionRequest {
    GetDtcAddress,
    Propagate,
    Begin { isolation: u8, name: String },
    Commit { name: String, begin_new: bool },
    Rollback { name: String, begin_new: bool },
    Save { name: String },
}

pub fn transaction_manager(payload: &[u8]) -> Result<TransactionRequest, ProtocolError> {
    let mut r = Reader::new(payload);
    all_headers(&mut r)?;
    let kind = r.u16()?;
    Ok(match kind {
        0 => TransactionRequest::GetDtcAddress,
        1 => TransactionRequest::Propagate,
        5 => {
            let isolation = r.u8()?;
            let name = r.b_varchar()?;
            TransactionRequest::Begin { isolation, name }
        }
        7 | 8 => {
            let name = r.b_varchar()?;
            let flags = r.u8()?;
            let begin_new = flags & 0x01 != 0;
            if begin_new {
                let _isolation = r.u8()?;
                let _new_name = r.b_varchar()?;
            }
            if kind == 7 {
                TransactionRequest::Commit { name, begin_new }
            } else {
                TransactionRequest::Rollback { name, begin_new }
            }
        }
        9 => TransactionRequest::Save {
            name: r.b_varchar()?,
        },
        other => {
            return Err(ProtocolError(format!(
                "unknown transaction manager request {other}"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&22u32.to_le_bytes());
        h.extend_from_slice(&18u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&0u64.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        h
    }

    #[test]
    fn batch_text() {
        let mut p = headers();
        crate::wire::put_utf16(&mut p, "SELECT 1");
        assert_eq!(sql_batch(&p).unwrap(), "SELECT 1");
        assert!(sql_batch(&p[..10]).is_err());
    }

    #[test]
    fn rpc_executesql_with_typed_params() {
        let mut p = headers();
        p.extend_from_slice(&[0xFF, 0xFF, 10, 0, 0, 0]);
        // @stmt nvarchar(4000) N'SELECT @P1'
        p.extend_from_slice(&[0, 0, ty::NVARCHAR, 0x40, 0x1F, 0x09, 0x04, 0xD0, 0x00, 52]);
        p.extend_from_slice(&20u16.to_le_bytes());
        crate::wire::put_utf16(&mut p, "SELECT @P1");
        // @P1 int = 42
        p.push(3);
        crate::wire::put_utf16(&mut p, "@P1");
        p.extend_from_slice(&[0, ty::INTN, 4, 4, 42, 0, 0, 0]);
        // @P2 decimal(10,2) = -1.50, @P3 datetime2(7) NULL, @P4 varbinary(max) 0x0102
        p.extend_from_slice(&[0, 0, ty::DECIMALN, 9, 10, 2, 9, 0, 150, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[0, 1, ty::DATETIME2N, 7, 0]);
        p.extend_from_slice(&[0, 0, ty::BIGVARBINARY, 0xFF, 0xFF]);
        p.extend_from_slice(&2u64.to_le_bytes());
        p.extend_from_slice(&[2, 0, 0, 0, 1, 2, 0, 0, 0, 0]);
        let calls = rpc(&p).unwrap();
        assert_eq!(calls.len(), 1);
        let call = &calls[0];
        assert_eq!(call.proc_name, "sp_executesql");
        assert_eq!(call.params[0].value, Value::Str("SELECT @P1".into()));
        assert_eq!(call.params[1].name, "@P1");
        assert_eq!(call.params[1].value, Value::Int(42));
        assert_eq!(
            call.params[2].value,
            Value::Decimal {
                value: -150,
                scale: 2
            }
        );
        assert_eq!(call.params[3].value, Value::Null);
        assert!(call.params[3].output);
        assert_eq!(call.params[4].value, Value::Bytes(vec![1u8, 2].into()));
        assert_eq!(call.params[4].sql_type, SqlType::VarBinary { len: None });
    }

    #[test]
    fn varchar_param_decodes_from_cp1252() {
        let mut bytes = vec![
            ty::BIGVARCHAR,
            10,
            0,
            0x09,
            0x04,
            0xD0,
            0x00,
            52,
            2,
            0,
            0xE9,
            0x80,
        ];
        bytes.insert(0, 0); // status
        bytes.insert(0, 0); // empty name
        let mut r = Reader::new(&bytes);
        let p = param(&mut r).unwrap();
        assert_eq!(p.value, Value::Str("é€".into()));
    }
}
