//! The key of a row whose value failed, as text for the error message ("Id = 42, Site = 3"),
//! rendered from the row's wire bytes. Cold path: only runs when a row is refused.
//!
//! Values read as SQL Server shows them, like the tiberius-based reader's `describe_value`:
//! numbers as digits, strings quoted with `''` doubling, uniqueidentifier hyphenated,
//! binary as `0x` and up to 32 bytes of hex, dates and times in ISO form, NULL as `NULL`; the
//! text is cut after 60 characters with `...`.

use super::cursor::utf16_lossy;
use super::metadata::Column;
use super::row::{row_values, Span};
use super::types::{decimal_value, le_uint, time_and_date, time_len, WireType};
use crate::copy_binary::{guid_to_uuid, uuid_text};
use crate::numeric::MONEY_SCALE;
use crate::temporal::datetime_ticks_to_millis;

/// Characters of a value shown before `...`.
const SHOWN_CHARS: usize = 60;
/// Bytes of a binary value shown.
const SHOWN_BINARY_BYTES: usize = 32;
/// Days from 0001-01-01 (date/datetime2) to 1970-01-01, the epoch of [`civil_date`].
const DAYS_0001_TO_1970: i64 = 719_162;
/// Days from 0001-01-01 to 1900-01-01 (datetime/smalldatetime).
const DAYS_0001_TO_1900: i64 = 693_595;
/// datetimeoffset's trailing offset: i16 minutes.
const OFFSET_LEN: usize = 2;
const SECONDS_PER_DAY: i128 = 86_400;

/// "Name = value, ..." for the columns at `key` of the row `row`, measured into `spans`;
/// `None` without a key.
pub(crate) fn row_key(
    columns: &[Column],
    key: &[usize],
    spans: &[Span],
    row: &[u8],
) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let values = row_values(spans, row);
    let parts: Vec<String> = key
        .iter()
        .filter_map(|&k| {
            let column = columns.get(k)?;
            let value = values.get(k)?;
            Some(format!(
                "{} = {}",
                column.name,
                describe(column, value.as_deref())
            ))
        })
        .collect();
    Some(parts.join(", "))
}

/// One value as text; `None` is NULL.
pub(crate) fn describe(column: &Column, value: Option<&[u8]>) -> String {
    let Some(value) = value else {
        return "NULL".into();
    };
    let text = render(column, value).unwrap_or_else(|| hex(value));
    if text.chars().count() > SHOWN_CHARS {
        let shown: String = text.chars().take(SHOWN_CHARS).collect();
        format!("{shown}...")
    } else {
        text
    }
}

/// The text of a value, or `None` when its bytes do not fit its type (shown as hex then).
fn render(column: &Column, value: &[u8]) -> Option<String> {
    Some(match column.wire {
        WireType::Null => "NULL".into(),
        WireType::Bit => u8::from(*value.first()? != 0).to_string(),
        WireType::Int => match *value {
            [a] => a.to_string(),
            [a, b] => i16::from_le_bytes([a, b]).to_string(),
            [a, b, c, d] => i32::from_le_bytes([a, b, c, d]).to_string(),
            [a, b, c, d, e, f, g, h] => i64::from_le_bytes([a, b, c, d, e, f, g, h]).to_string(),
            _ => return None,
        },
        WireType::Float => match *value {
            [a, b, c, d] => f32::from_le_bytes([a, b, c, d]).to_string(),
            [a, b, c, d, e, f, g, h] => f64::from_le_bytes([a, b, c, d, e, f, g, h]).to_string(),
            _ => return None,
        },
        WireType::Money => {
            let ten_thousandths = match *value {
                [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
                [a, b, c, d, e, f, g, h] => {
                    (i64::from(i32::from_le_bytes([a, b, c, d])) << 32)
                        | i64::from(u32::from_le_bytes([e, f, g, h]))
                }
                _ => return None,
            };
            decimal_text(i128::from(ten_thousandths), MONEY_SCALE)
        }
        WireType::DateTime => match *value {
            [a, b, c, d] => {
                let days = i64::from(u16::from_le_bytes([a, b])) + DAYS_0001_TO_1900;
                let minutes = u16::from_le_bytes([c, d]);
                format!(
                    "{} {:02}:{:02}",
                    date_text(days),
                    minutes / 60,
                    minutes % 60
                )
            }
            [a, b, c, d, e, f, g, h] => {
                let days = i64::from(i32::from_le_bytes([a, b, c, d])) + DAYS_0001_TO_1900;
                let millis = datetime_ticks_to_millis(u32::from_le_bytes([e, f, g, h]));
                format!(
                    "{} {}.{:03}",
                    date_text(days),
                    clock_text(millis / 1000),
                    millis % 1000
                )
            }
            _ => return None,
        },
        WireType::Decimal { scale, .. } => decimal_text(decimal_value(value)?, scale),
        WireType::Guid => guid_text(<&[u8; 16]>::try_from(value).ok()?),
        WireType::Date => match *value {
            [a, b, c] => date_text(i64::from(u32::from_le_bytes([a, b, c, 0]))),
            _ => return None,
        },
        WireType::Time { scale } => {
            if value.len() != time_len(scale) {
                return None;
            }
            time_text(i128::from(le_uint(value)), scale)
        }
        WireType::DateTime2 { scale } => {
            let (increments, days) = time_and_date(value, scale, 0)?;
            format!(
                "{} {}",
                date_text(i64::from(days)),
                time_text(i128::from(increments), scale)
            )
        }
        WireType::DateTimeOffset { scale } => {
            let (increments, days) = time_and_date(value, scale, OFFSET_LEN)?;
            let offset = match *value.get(value.len().checked_sub(OFFSET_LEN)?..)? {
                [a, b] => i16::from_le_bytes([a, b]),
                _ => return None,
            };
            // The wire holds UTC; SQL Server shows the local time beside its offset.
            let per_second = 10i128.pow(u32::from(scale));
            let per_day = SECONDS_PER_DAY * per_second;
            let local = i128::from(days) * per_day
                + i128::from(increments)
                + i128::from(offset) * 60 * per_second;
            let sign = if offset < 0 { '-' } else { '+' };
            let offset = offset.unsigned_abs();
            format!(
                "{} {} {sign}{:02}:{:02}",
                date_text(local.div_euclid(per_day) as i64),
                time_text(local.rem_euclid(per_day), scale),
                offset / 60,
                offset % 60
            )
        }
        WireType::Char { .. } => {
            let encoding = column.encoding()?;
            quoted(&encoding.decode_without_bom_handling(value).0)
        }
        WireType::NChar { .. } | WireType::Xml => quoted(&utf16_lossy(value)),
        WireType::Binary { .. } => hex(value),
    })
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes
        .iter()
        .take(SHOWN_BINARY_BYTES)
        .map(|byte| format!("{byte:02X}"))
        .collect();
    format!("0x{digits}")
}

/// `unscaled * 10^-scale` in decimal: `-12.50`.
fn decimal_text(unscaled: i128, scale: u8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

fn guid_text(wire: &[u8; 16]) -> String {
    uuid_text(&guid_to_uuid(wire))
}

/// `YYYY-MM-DD` of a day count since 0001-01-01.
fn date_text(days_since_0001: i64) -> String {
    let (year, month, day) = civil_date(days_since_0001 - DAYS_0001_TO_1970);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `HH:MM:SS` of whole seconds since midnight.
fn clock_text(seconds: i64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// `HH:MM:SS[.fffffff]` of `increments` of 10^-scale s since midnight.
fn time_text(increments: i128, scale: u8) -> String {
    let per_second = 10i128.pow(u32::from(scale));
    let clock = clock_text((increments / per_second) as i64);
    if scale == 0 {
        return clock;
    }
    format!(
        "{clock}.{:0width$}",
        increments % per_second,
        width = usize::from(scale)
    )
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_land_on_the_right_day() {
        assert_eq!(date_text(0), "0001-01-01");
        assert_eq!(date_text(730_119), "2000-01-01");
        assert_eq!(date_text(3_652_058), "9999-12-31");
        assert_eq!(date_text(DAYS_0001_TO_1900), "1900-01-01");
        // 2000 is a leap year, 1900 is not.
        assert_eq!(date_text(730_119 + 59), "2000-02-29");
        assert_eq!(date_text(DAYS_0001_TO_1900 + 59), "1900-03-01");
    }

    #[test]
    fn numbers_and_times_read_as_sql_server_shows_them() {
        assert_eq!(decimal_text(1250, 2), "12.50");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(0, 2), "0.00");
        assert_eq!(decimal_text(-42, 0), "-42");
        assert_eq!(time_text(0, 0), "00:00:00");
        assert_eq!(time_text(863_999_999_999, 7), "23:59:59.9999999");
        assert_eq!(time_text(4_500, 2), "00:00:45.00");
        assert_eq!(hex(&[0xAB; 40]).len(), 2 + 64);
    }
}
