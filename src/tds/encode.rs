//! One decoded TDS value into one binary COPY field, by the target column's encoding. Runs on
//! the network thread; no pgrx.

use pgmig_core::copy_binary::{CopyEncoder, NulPolicy};
use pgmig_core::plan::FieldEncoding;
use tiberius::ColumnData;

pub use pgmig_core::tds_rows::ValueError;

/// The kind of a TDS value, for messages.
fn kind(data: &ColumnData<'_>) -> &'static str {
    match data {
        ColumnData::U8(_) => "tinyint",
        ColumnData::I16(_) => "smallint",
        ColumnData::I32(_) => "int",
        ColumnData::I64(_) => "bigint",
        ColumnData::F32(_) => "real",
        ColumnData::F64(_) => "float",
        ColumnData::Bit(_) => "bit",
        ColumnData::String(_) => "string",
        ColumnData::Guid(_) => "uniqueidentifier",
        ColumnData::Binary(_) => "binary",
        ColumnData::Numeric(_) => "decimal",
        ColumnData::Xml(_) => "xml",
        ColumnData::DateTime(_) => "datetime",
        ColumnData::SmallDateTime(_) => "smalldatetime",
        ColumnData::Time(_) => "time",
        ColumnData::Date(_) => "date",
        ColumnData::DateTime2(_) => "datetime2",
        ColumnData::DateTimeOffset(_) => "datetimeoffset",
    }
}

fn is_null(data: &ColumnData<'_>) -> bool {
    match data {
        ColumnData::U8(v) => v.is_none(),
        ColumnData::I16(v) => v.is_none(),
        ColumnData::I32(v) => v.is_none(),
        ColumnData::I64(v) => v.is_none(),
        ColumnData::F32(v) => v.is_none(),
        ColumnData::F64(v) => v.is_none(),
        ColumnData::Bit(v) => v.is_none(),
        ColumnData::String(v) => v.is_none(),
        ColumnData::Guid(v) => v.is_none(),
        ColumnData::Binary(v) => v.is_none(),
        ColumnData::Numeric(v) => v.is_none(),
        ColumnData::Xml(v) => v.is_none(),
        ColumnData::DateTime(v) => v.is_none(),
        ColumnData::SmallDateTime(v) => v.is_none(),
        ColumnData::Time(v) => v.is_none(),
        ColumnData::Date(v) => v.is_none(),
        ColumnData::DateTime2(v) => v.is_none(),
        ColumnData::DateTimeOffset(v) => v.is_none(),
    }
}

fn integer(data: &ColumnData<'_>) -> Option<i64> {
    match data {
        ColumnData::U8(Some(v)) => Some(i64::from(*v)),
        ColumnData::I16(Some(v)) => Some(i64::from(*v)),
        ColumnData::I32(Some(v)) => Some(i64::from(*v)),
        ColumnData::I64(Some(v)) => Some(*v),
        _ => None,
    }
}

/// Writes `data` as the next field of the row being encoded.
pub fn put_value(
    encoder: &mut CopyEncoder,
    data: &ColumnData<'_>,
    target: FieldEncoding,
    nul: NulPolicy,
) -> Result<(), ValueError> {
    use FieldEncoding as E;
    if is_null(data) {
        encoder.put_null();
        return Ok(());
    }
    let out_of_range = |value: i64, target: &'static str| ValueError::OutOfRange {
        value: value.to_string(),
        target,
    };
    match (data, target) {
        (ColumnData::Bit(Some(v)), E::Bool) => encoder.put_bool(*v),
        (_, E::Int16 | E::Int32 | E::Int64 | E::Numeric) if integer(data).is_some() => {
            let value = integer(data).unwrap_or_default();
            match target {
                E::Int16 => encoder
                    .put_i16(i16::try_from(value).map_err(|_| out_of_range(value, "smallint"))?),
                E::Int32 => encoder
                    .put_i32(i32::try_from(value).map_err(|_| out_of_range(value, "integer"))?),
                E::Int64 => encoder.put_i64(value),
                _ => encoder.put_numeric(i128::from(value), 0),
            }
        }
        (ColumnData::Numeric(Some(n)), E::Numeric) => encoder.put_numeric(n.value(), n.scale()),
        (ColumnData::F32(Some(v)), E::Float32) => encoder.put_f32(*v),
        (ColumnData::F32(Some(v)), E::Float64) => encoder.put_f64(f64::from(*v)),
        (ColumnData::F64(Some(v)), E::Float64) => encoder.put_f64(*v),
        (ColumnData::Date(Some(d)), E::Date) => encoder.put_date(d.days())?,
        (ColumnData::Time(Some(t)), E::Time) => encoder.put_time(t.increments(), t.scale())?,
        (ColumnData::DateTime(Some(dt)), E::Timestamp) => {
            encoder.put_datetime(dt.days(), dt.seconds_fragments())?
        }
        (ColumnData::SmallDateTime(Some(dt)), E::Timestamp) => {
            encoder.put_smalldatetime(dt.days(), dt.seconds_fragments())?
        }
        (ColumnData::DateTime2(Some(dt)), E::Timestamp) => {
            encoder.put_datetime2(dt.date().days(), dt.time().increments(), dt.time().scale())?
        }
        // The wire value is UTC already; the offset only says where it was written.
        (ColumnData::DateTimeOffset(Some(dto)), E::TimestampTz) => {
            let utc = dto.datetime2();
            encoder.put_datetimeoffset(
                utc.date().days(),
                utc.time().increments(),
                utc.time().scale(),
            )?
        }
        (ColumnData::String(Some(s)), E::Text | E::Xml) => encoder.put_text_str(
            s,
            if target == E::Xml {
                NulPolicy::Error
            } else {
                nul
            },
        )?,
        (ColumnData::Xml(Some(x)), E::Xml | E::Text) => {
            encoder.put_text_str(x.as_ref().as_ref(), NulPolicy::Error)?
        }
        (ColumnData::Binary(Some(b)), E::Bytea) => encoder.put_bytea(b)?,
        (ColumnData::Binary(Some(b)), E::TextFromUtf16) => encoder.put_text_utf16le(b, nul)?,
        (ColumnData::Guid(Some(g)), E::Uuid) => encoder.put_uuid(g.as_bytes()),
        _ => {
            return Err(ValueError::Unexpected {
                received: kind(data),
                target,
            })
        }
    }
    Ok(())
}

/// A value as text for an error message naming the row (key values).
pub fn describe_value(data: &ColumnData<'_>) -> String {
    const SHOWN_CHARS: usize = 60;
    if is_null(data) {
        return "NULL".into();
    }
    let text = match data {
        ColumnData::String(Some(s)) => format!("'{}'", s.replace('\'', "''")),
        ColumnData::Guid(Some(g)) => g.to_string(),
        ColumnData::Numeric(Some(n)) => n.to_string(),
        ColumnData::Bit(Some(b)) => u8::from(*b).to_string(),
        ColumnData::F32(Some(v)) => v.to_string(),
        ColumnData::F64(Some(v)) => v.to_string(),
        ColumnData::Binary(Some(b)) => {
            let hex: String = b
                .iter()
                .take(32)
                .map(|byte| format!("{byte:02X}"))
                .collect();
            format!("0x{hex}")
        }
        other => match integer(other) {
            Some(v) => v.to_string(),
            None => format!("{other:?}"),
        },
    };
    if text.chars().count() > SHOWN_CHARS {
        let shown: String = text.chars().take(SHOWN_CHARS).collect();
        format!("{shown}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgmig_core::copy_binary::EncodeError;
    use std::borrow::Cow;
    use tiberius::numeric::Numeric;

    fn encoded(data: ColumnData<'_>, target: FieldEncoding) -> Result<Vec<u8>, ValueError> {
        let mut encoder = CopyEncoder::new(1).unwrap();
        encoder.begin_row();
        put_value(&mut encoder, &data, target, NulPolicy::Error)?;
        encoder.end_row().unwrap();
        // Skip the field count (2 bytes); keep length word and value.
        Ok(encoder.bytes()[2..].to_vec())
    }

    #[test]
    fn integers_take_the_target_width() {
        assert_eq!(
            encoded(ColumnData::U8(Some(255)), FieldEncoding::Int64).unwrap(),
            [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 255]
        );
        assert_eq!(
            encoded(ColumnData::I16(Some(-2)), FieldEncoding::Int32).unwrap(),
            [0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe]
        );
        assert!(matches!(
            encoded(ColumnData::I64(Some(1 << 40)), FieldEncoding::Int32),
            Err(ValueError::OutOfRange { .. })
        ));
    }

    #[test]
    fn nulls_of_every_kind_are_null() {
        for data in [
            ColumnData::I32(None),
            ColumnData::String(None),
            ColumnData::Numeric(None),
        ] {
            assert_eq!(
                encoded(data, FieldEncoding::Text).unwrap(),
                [0xff, 0xff, 0xff, 0xff]
            );
        }
    }

    #[test]
    fn decimals_stay_exact_and_mismatches_are_refused() {
        let value =
            Numeric::new_with_scale(-12_345_678_901_234_567_890_123_456_789_012_345_678, 38);
        let bytes = encoded(ColumnData::Numeric(Some(value)), FieldEncoding::Numeric).unwrap();
        // ndigits 10, weight -1, sign negative, dscale 38.
        assert_eq!(&bytes[4..12], &[0, 10, 0xff, 0xff, 0x40, 0, 0, 38]);
        assert!(matches!(
            encoded(ColumnData::F64(Some(1.5)), FieldEncoding::Float32),
            Err(ValueError::Unexpected {
                received: "float",
                ..
            })
        ));
    }

    #[test]
    fn nul_in_text_is_refused_unless_stripped() {
        let data = ColumnData::String(Some(Cow::Borrowed("a\0b")));
        assert!(matches!(
            encoded(data.clone(), FieldEncoding::Text),
            Err(ValueError::Encode(EncodeError::NulInString {
                char_offset: 1
            }))
        ));
        let mut encoder = CopyEncoder::new(1).unwrap();
        encoder.begin_row();
        put_value(&mut encoder, &data, FieldEncoding::Text, NulPolicy::Strip).unwrap();
        encoder.end_row().unwrap();
        assert_eq!(&encoder.bytes()[2..], &[0, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn utf16_bytes_become_utf8_text_and_keep_the_nul_rule() {
        let utf16: Vec<u8> = "é😀a".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let bytes = encoded(
            ColumnData::Binary(Some(Cow::Owned(utf16))),
            FieldEncoding::TextFromUtf16,
        )
        .unwrap();
        assert_eq!(&bytes[..4], &[0, 0, 0, 7]);
        assert_eq!(std::str::from_utf8(&bytes[4..]).unwrap(), "é😀a");
        let nul = ColumnData::Binary(Some(Cow::Owned(vec![b'a', 0, 0, 0])));
        assert!(matches!(
            encoded(nul, FieldEncoding::TextFromUtf16),
            Err(ValueError::Encode(EncodeError::NulInString {
                char_offset: 1
            }))
        ));
        // Plain binary never turns into text by accident.
        assert!(matches!(
            encoded(
                ColumnData::Binary(Some(Cow::Borrowed(b"ab"))),
                FieldEncoding::Text
            ),
            Err(ValueError::Unexpected { .. })
        ));
    }

    #[test]
    fn values_are_described_briefly() {
        assert_eq!(describe_value(&ColumnData::I32(Some(42))), "42");
        assert_eq!(
            describe_value(&ColumnData::String(Some(Cow::Borrowed("it's")))),
            "'it''s'"
        );
        assert_eq!(describe_value(&ColumnData::I32(None)), "NULL");
        let long = "x".repeat(100);
        assert!(describe_value(&ColumnData::String(Some(Cow::Owned(long)))).ends_with("..."));
    }
}
