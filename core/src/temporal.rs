//! SQL Server dates and times to PostgreSQL's binary `date` (i32 days since 2000-01-01) and
//! `time`/`timestamp`/`timestamptz` (i64 microseconds; since midnight, or since
//! 2000-01-01 00:00:00 UTC). Integer arithmetic throughout.
//!
//! Rounding, the only place digits can go:
//! - time(7)/datetime2(7)/datetimeoffset(7) carry 100 ns; PostgreSQL keeps microseconds. The
//!   result equals what PostgreSQL itself makes of SQL Server's text of the value
//!   (`'hh:mm:ss.fffffff'::time(6)`, also what a text-based copy such as tds_fdw gets): round to
//!   the nearest microsecond, and on an exact tie (last digit 5) break it the way PostgreSQL's
//!   `ParseFractionalSecond` does, see [`pg_rounds_tie_up`]. A tie can carry into the next
//!   second, minute or day: time 23:59:59.9999995 becomes 24:00:00 (a legal PostgreSQL `time`,
//!   as `'23:59:59.9999995'::time` gives), datetime2 9999-12-31 23:59:59.9999995 becomes
//!   10000-01-01 00:00:00.
//! - datetime counts 1/300 s ticks; it becomes the nearest millisecond, which is how SQL Server
//!   shows it (.000, .003, .007) and what `CAST(x AS datetime2(3))` gives. Never a tie (a tick is
//!   3 1/3 ms), and the millisecond converts back to the same tick, so it round-trips.
//! - everything else is exact.
//!
//! Every SQL Server value (years 0001 to 9999) lies inside PostgreSQL's range (4713 BC to
//! 294276 AD); tests assert it.

use crate::copy_binary::EncodeError;

/// Days from 0001-01-01 (SQL Server's date/datetime2 epoch) to 2000-01-01 (PostgreSQL's).
const DAYS_0001_TO_2000: i64 = 730_119;
/// Days from 1900-01-01 (datetime/smalldatetime epoch) to 2000-01-01.
const DAYS_1900_TO_2000: i64 = 36_524;
/// 9999-12-31, the last SQL Server date, in days since 0001-01-01.
const MAX_DATE_DAYS: u32 = 3_652_058;
/// datetime's range in days since 1900-01-01: 1753-01-01 to 9999-12-31.
const DATETIME_DAYS: std::ops::RangeInclusive<i32> = -53_690..=2_958_463;
/// datetime ticks (1/300 s) in a day.
const DATETIME_TICKS_PER_DAY: u32 = 300 * 86_400;
const MINUTES_PER_DAY: u16 = 24 * 60;
const SECONDS_PER_DAY: u64 = 86_400;
const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
/// time/datetime2/datetimeoffset scales run from 0 to 7 (100 ns).
pub const MAX_TIME_SCALE: u8 = 7;
/// PostgreSQL keeps 6 fractional digits.
const PG_TIME_SCALE: u8 = 6;

/// PostgreSQL's `date` (days since 2000-01-01) from SQL Server's days since 0001-01-01.
pub fn date_to_pg(days_since_0001: u32) -> Result<i32, EncodeError> {
    if days_since_0001 > MAX_DATE_DAYS {
        return Err(EncodeError::InvalidWireValue {
            what: "date day count",
            value: i128::from(days_since_0001),
        });
    }
    Ok((i64::from(days_since_0001) - DAYS_0001_TO_2000) as i32)
}

/// PostgreSQL's `time` (microseconds since midnight) from time(`scale`) increments of
/// 10^-scale seconds. Scale 7 rounds (module docs); 23:59:59.9999995 gives 24:00:00.
pub fn time_to_pg(increments: u64, scale: u8) -> Result<i64, EncodeError> {
    if scale > MAX_TIME_SCALE {
        return Err(EncodeError::InvalidWireValue {
            what: "time scale",
            value: i128::from(scale),
        });
    }
    let per_second = 10u64.pow(u32::from(scale));
    if increments >= SECONDS_PER_DAY * per_second {
        return Err(EncodeError::InvalidWireValue {
            what: "time of day in 10^-scale seconds",
            value: i128::from(increments),
        });
    }
    let micros = if scale <= PG_TIME_SCALE {
        increments * 10u64.pow(u32::from(PG_TIME_SCALE - scale))
    } else {
        let (whole, last_digit) = (increments / 10, increments % 10);
        let round_up = match last_digit {
            0..=4 => false,
            5 => pg_rounds_tie_up(increments % per_second),
            _ => true,
        };
        whole + u64::from(round_up)
    };
    // At most 86 400 000 000: fits.
    Ok(micros as i64)
}

/// Whether PostgreSQL's text input rounds the 7-digit fraction `fraction` (0..10^7, last digit
/// 5: an exact tie) up to the next microsecond.
///
/// `ParseFractionalSecond` computes `rint(strtod(".fffffff") * 1000000)`: the decimal becomes
/// the nearest double, the product is rounded to a double, and `rint` rounds half to even. For
/// a tie the representation error decides, so the outcome is neither "half up" nor purely "half
/// to even": PostgreSQL 15 breaks 11 550 of the 1 000 000 ties against half-to-even.
/// This reproduces exactly those IEEE-754 steps (f64 division and multiplication are correctly
/// rounded, like glibc's `strtod` and x86-64 SSE arithmetic); compared with PostgreSQL 15 for
/// all 10^7 fractions, it agrees on every one. The float only decides the direction of a tie;
/// the value itself never passes through one.
pub fn pg_rounds_tie_up(fraction: u64) -> bool {
    let parsed = fraction as f64 / 1e7; // strtod: the double nearest to the decimal
    let micros = (parsed * 1e6).round_ties_even(); // rint in the default rounding mode
    micros > (fraction / 10) as f64
}

/// PostgreSQL's `timestamp` (microseconds since 2000-01-01) from datetime2(`scale`): days
/// since 0001-01-01 and the time of day in 10^-scale seconds. Also `timestamptz` from
/// datetimeoffset, whose wire date and time are UTC.
pub fn datetime2_to_pg(
    days_since_0001: u32,
    increments: u64,
    scale: u8,
) -> Result<i64, EncodeError> {
    let days = date_to_pg(days_since_0001)?;
    let micros = time_to_pg(increments, scale)?;
    Ok(i64::from(days) * MICROS_PER_DAY + micros)
}

/// PostgreSQL's `timestamp` from datetime: days since 1900-01-01 (negative back to 1753) and
/// 1/300 s ticks since midnight, rounded to the nearest millisecond (module docs).
pub fn datetime_to_pg(days_since_1900: i32, ticks: u32) -> Result<i64, EncodeError> {
    if !DATETIME_DAYS.contains(&days_since_1900) {
        return Err(EncodeError::InvalidWireValue {
            what: "datetime day count",
            value: i128::from(days_since_1900),
        });
    }
    if ticks >= DATETIME_TICKS_PER_DAY {
        return Err(EncodeError::InvalidWireValue {
            what: "datetime tick count (1/300 s)",
            value: i128::from(ticks),
        });
    }
    let millis = datetime_ticks_to_millis(ticks);
    Ok((i64::from(days_since_1900) - DAYS_1900_TO_2000) * MICROS_PER_DAY + millis * 1000)
}

/// The millisecond SQL Server shows for a datetime tick count: `ticks * 10/3` rounded to the
/// nearest (the fraction is 0, 1/3 or 2/3, never a half).
pub fn datetime_ticks_to_millis(ticks: u32) -> i64 {
    (i64::from(ticks) * 10 + 1) / 3
}

/// PostgreSQL's `timestamp` from smalldatetime: days since 1900-01-01 and minutes since
/// midnight.
pub fn smalldatetime_to_pg(days_since_1900: u16, minutes: u16) -> Result<i64, EncodeError> {
    if minutes >= MINUTES_PER_DAY {
        return Err(EncodeError::InvalidWireValue {
            what: "smalldatetime minute of day",
            value: i128::from(minutes),
        });
    }
    Ok(
        (i64::from(days_since_1900) - DAYS_1900_TO_2000) * MICROS_PER_DAY
            + i64::from(minutes) * 60 * MICROS_PER_SECOND,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL's `MIN_TIMESTAMP` (4714-11-24 BC) and `END_TIMESTAMP` (294277-01-01).
    const PG_MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;
    const PG_END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;

    #[test]
    fn dates_shift_to_the_2000_epoch() {
        assert_eq!(date_to_pg(0).unwrap(), -730_119); // 0001-01-01
        assert_eq!(date_to_pg(730_119).unwrap(), 0); // 2000-01-01
        assert_eq!(date_to_pg(733_983).unwrap(), 3_864); // 2010-07-31
        assert_eq!(date_to_pg(MAX_DATE_DAYS).unwrap(), 2_921_939); // 9999-12-31
        assert!(date_to_pg(MAX_DATE_DAYS + 1).is_err());
    }

    #[test]
    fn time_scales_below_seven_are_exact() {
        assert_eq!(time_to_pg(0, 0).unwrap(), 0);
        assert_eq!(time_to_pg(86_399, 0).unwrap(), 86_399_000_000);
        assert_eq!(time_to_pg(1, 3).unwrap(), 1_000);
        assert_eq!(time_to_pg(123_456, 6).unwrap(), 123_456);
        assert_eq!(time_to_pg(86_399_999_999, 6).unwrap(), 86_399_999_999);
        assert!(time_to_pg(86_400, 0).is_err());
        assert!(time_to_pg(0, 8).is_err());
    }

    #[test]
    fn time_seven_rounds_to_nearest_microsecond() {
        assert_eq!(time_to_pg(1_234_564, 7).unwrap(), 123_456);
        assert_eq!(time_to_pg(1_234_566, 7).unwrap(), 123_457);
        assert_eq!(time_to_pg(863_999_999_994, 7).unwrap(), 86_399_999_999);
        // 23:59:59.9999999 carries to 24:00:00, as '23:59:59.9999999'::time does.
        assert_eq!(time_to_pg(863_999_999_999, 7).unwrap(), MICROS_PER_DAY);
        assert!(time_to_pg(864_000_000_000, 7).is_err());
    }

    /// Ties as PostgreSQL 15 decides them: `'00:00:00.fffffff'::time(6)`.
    #[test]
    fn time_seven_ties_match_postgres_text_input() {
        let cases: &[(u64, i64)] = &[
            (5, 0),       // .0000005 -> .000000 (rint(0.5) = 0, even)
            (15, 2),      // .0000015 -> .000002
            (25, 2),      // .0000025 -> .000002
            (1_255, 125), // .0001255 -> .000125: float error, half-to-even would say 126
            (9_999_995, 1_000_000),
        ];
        for &(increments, micros) in cases {
            assert_eq!(time_to_pg(increments, 7).unwrap(), micros, "{increments}");
        }
        // 23:59:59.9999995 -> 24:00:00, as PostgreSQL's '23:59:59.9999995'::time(6).
        assert_eq!(time_to_pg(863_999_999_995, 7).unwrap(), MICROS_PER_DAY);
        // 23:59:59.9999985 -> 23:59:59.999998.
        assert_eq!(time_to_pg(863_999_999_985, 7).unwrap(), 86_399_999_998);
    }

    #[test]
    fn tie_rule_differs_from_half_to_even_exactly_as_often_as_postgres() {
        let (mut against_even, mut first) = (0, None);
        for fraction in (5..10_000_000u64).step_by(10) {
            let even_up = (fraction / 10) % 2 == 1;
            if pg_rounds_tie_up(fraction) != even_up {
                against_even += 1;
                first.get_or_insert(fraction);
            }
        }
        // Counted in PostgreSQL 15 over all 10^7 fractions: 11 550 of them round differently
        // from exact half-to-even, the first at .0001255.
        assert_eq!(against_even, 11_550);
        assert_eq!(first, Some(1_255));
    }

    #[test]
    fn datetime2_values_match_postgres() {
        // 2010-07-31 12:34:56.789 at scale 3.
        let increments = ((12 * 3600 + 34 * 60 + 56) * 1000 + 789) as u64;
        assert_eq!(
            datetime2_to_pg(733_983, increments, 3).unwrap(),
            333_894_896_789_000
        );
        assert_eq!(datetime2_to_pg(0, 0, 7).unwrap(), -63_082_281_600_000_000);
    }

    #[test]
    fn every_sql_server_timestamp_fits_postgres() {
        let min = datetime2_to_pg(0, 0, 7).unwrap();
        // 9999-12-31 23:59:59.9999999 rounds to 10000-01-01, still far inside PostgreSQL's range.
        let max = datetime2_to_pg(MAX_DATE_DAYS, 863_999_999_999, 7).unwrap();
        assert_eq!(max, 252_455_616_000_000_000);
        assert!(min >= PG_MIN_TIMESTAMP && max < PG_END_TIMESTAMP);
        let datetime_min = datetime_to_pg(*DATETIME_DAYS.start(), 0).unwrap();
        let datetime_max =
            datetime_to_pg(*DATETIME_DAYS.end(), DATETIME_TICKS_PER_DAY - 1).unwrap();
        assert!(datetime_min >= PG_MIN_TIMESTAMP && datetime_max < PG_END_TIMESTAMP);
    }

    #[test]
    fn datetime_ticks_round_like_sql_server() {
        let shown = |ticks: u32| datetime_ticks_to_millis(ticks);
        assert_eq!(shown(0), 0);
        assert_eq!(shown(1), 3);
        assert_eq!(shown(2), 7);
        assert_eq!(shown(3), 10);
        assert_eq!(shown(4), 13);
        assert_eq!(shown(5), 17);
        assert_eq!(shown(299), 997);
        for ticks in 0..=299u32 {
            let millis = shown(ticks);
            // Always ends in 0, 3 or 7 ...
            assert!(matches!(millis % 10, 0 | 3 | 7), "{ticks} -> {millis}");
            // ... is the nearest millisecond (within 1/3 ms) ...
            assert!((millis * 3 - i64::from(ticks) * 10).abs() <= 1);
            // ... and SQL Server's conversion back (nearest tick) gives the same tick.
            assert_eq!((millis * 3 + 5) / 10, i64::from(ticks));
        }
    }

    #[test]
    fn datetime_edges_match_postgres() {
        // 1753-01-01 00:00:00.
        assert_eq!(datetime_to_pg(-53_690, 0).unwrap(), -7_794_489_600_000_000);
        // 9999-12-31 23:59:59.997: the last tick of the last day (SQL Server rounds an input of
        // .998 to this and .999 to the next day, so no tick shows .998).
        assert_eq!(
            datetime_to_pg(2_958_463, DATETIME_TICKS_PER_DAY - 1).unwrap(),
            252_455_615_999_997_000
        );
        // 2010-07-31 12:34:56.790 (tick 226 of that second is 753.33 ms; use a whole second).
        let ticks = (12 * 3600 + 34 * 60 + 56) * 300;
        assert_eq!(datetime_to_pg(40_388, ticks).unwrap(), 333_894_896_000_000);
        assert!(datetime_to_pg(-53_691, 0).is_err());
        assert!(datetime_to_pg(2_958_464, 0).is_err());
        assert!(datetime_to_pg(0, DATETIME_TICKS_PER_DAY).is_err());
    }

    #[test]
    fn smalldatetime_edges_match_postgres() {
        assert_eq!(smalldatetime_to_pg(0, 0).unwrap(), -3_155_673_600_000_000);
        // 2079-06-06 23:59.
        assert_eq!(
            smalldatetime_to_pg(u16::MAX, 1439).unwrap(),
            2_506_636_740_000_000
        );
        assert!(smalldatetime_to_pg(0, 1440).is_err());
    }
}
