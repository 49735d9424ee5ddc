//! PostgreSQL's binary `numeric` (what `numeric_send` writes and `numeric_recv` reads), built
//! straight from SQL Server's exact decimal: an unscaled integer and a scale. No float and no
//! intermediate decimal type: every digit of decimal(38,38) or money arrives as sent.
//!
//! Layout (big-endian): `ndigits: i16, weight: i16, sign: u16, dscale: i16`, then `ndigits`
//! base-10000 digits (`i16` each), most significant first. `weight` is the power of 10000 of the
//! first digit. Leading and trailing zero digits are never sent (PostgreSQL's `strip_var`), zero
//! has no digits and weight 0, and `dscale` is the number of decimal digits after the point.

use crate::copy_binary::EncodeError;

/// PostgreSQL's numeric base (`NBASE`): one digit holds four decimal digits.
const NBASE: u128 = 10_000;
/// Decimal digits per base-10000 digit (`DEC_DIGITS`).
const DEC_DIGITS: u32 = 4;
/// `NUMERIC_POS` and `NUMERIC_NEG` of PostgreSQL's numeric.c.
const SIGN_POSITIVE: u16 = 0x0000;
const SIGN_NEGATIVE: u16 = 0x4000;
/// An i128 has at most 39 decimal digits; with up to 3 digits of padding to align the point
/// to a base-10000 boundary that is 42 digits, so 11 base-10000 digits. 12 leaves a margin.
const MAX_GROUPS: usize = 12;

/// money and smallmoney are integers counting ten-thousandths (SQL Server's fixed scale 4).
pub const MONEY_SCALE: u8 = 4;

/// Appends the binary `numeric` of `unscaled * 10^-scale` to `out`, with `dscale = scale` (so a
/// decimal(10,2) value 1.50 is sent as 1.50, as PostgreSQL shows it). Exact for every i128.
pub fn write_numeric(out: &mut Vec<u8>, unscaled: i128, scale: u8) {
    let negative = unscaled < 0;
    let mut magnitude = unscaled.unsigned_abs();

    // Least significant first. The lowest digit sits `fraction_groups` places right of the point.
    let fraction_groups = (u32::from(scale)).div_ceil(DEC_DIGITS);
    let padding = fraction_groups * DEC_DIGITS - u32::from(scale);
    let mut groups = [0u16; MAX_GROUPS];
    let mut count = 0usize;
    if magnitude != 0 && padding != 0 {
        // The lowest group holds only `4 - padding` real digits; scale them up to their place
        // value here rather than multiplying the whole magnitude (which could overflow u128).
        let head = 10u128.pow(DEC_DIGITS - padding);
        groups[0] = ((magnitude % head) * 10u128.pow(padding)) as u16;
        magnitude /= head;
        count = 1;
    }
    while magnitude != 0 {
        groups[count] = (magnitude % NBASE) as u16;
        magnitude /= NBASE;
        count += 1;
    }

    // The most significant group is nonzero by construction; trailing zero groups are dropped.
    let lowest = groups[..count]
        .iter()
        .position(|&g| g != 0)
        .unwrap_or(count);
    let ndigits = count - lowest;
    let (weight, sign) = if ndigits == 0 {
        (0i16, SIGN_POSITIVE)
    } else {
        (
            count as i16 - 1 - fraction_groups as i16,
            if negative {
                SIGN_NEGATIVE
            } else {
                SIGN_POSITIVE
            },
        )
    };

    out.reserve(8 + 2 * ndigits);
    out.extend_from_slice(&(ndigits as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&i16::from(scale).to_be_bytes());
    for group in groups[lowest..count].iter().rev() {
        out.extend_from_slice(&group.to_be_bytes());
    }
}

/// The ten-thousandths of a money (8 bytes) or smallmoney (4 bytes) wire value. money is sent
/// as two little-endian 32-bit halves, the high half first (MS-TDS 2.2.5.5.1.4); tiberius hands
/// money to its callers as an f64, which cannot hold all 19 digits, so decode the bytes here.
pub fn money_from_wire(bytes: &[u8]) -> Result<i64, EncodeError> {
    match *bytes {
        [h0, h1, h2, h3, l0, l1, l2, l3] => {
            let high = i32::from_le_bytes([h0, h1, h2, h3]);
            let low = u32::from_le_bytes([l0, l1, l2, l3]);
            Ok((i64::from(high) << 32) | i64::from(low))
        }
        [b0, b1, b2, b3] => Ok(i64::from(i32::from_le_bytes([b0, b1, b2, b3]))),
        _ => Err(EncodeError::InvalidWireValue {
            what: "money length in bytes",
            value: bytes.len() as i128,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn encoded(unscaled: i128, scale: u8) -> String {
        let mut out = Vec::new();
        write_numeric(&mut out, unscaled, scale);
        hex(&out)
    }

    /// Expected bytes are `numeric_send('<value>'::numeric)` from PostgreSQL 15.
    #[test]
    fn matches_postgres_numeric_send() {
        let cases: &[(i128, u8, &str)] = &[
            (0, 0, "0000000000000000"),
            (0, 2, "0000000000000002"),
            (0, 4, "0000000000000004"),
            (1, 0, "00010000000000000001"),
            (-1, 0, "00010000400000000001"),
            (1, 4, "0001ffff000000040001"),
            (123456789, 4, "0003000100000004000109291a85"),
            (10i128.pow(37), 0, "0001000900000000000a"),
            (
                10i128.pow(38) - 1,
                0,
                "000a0009000000000063270f270f270f270f270f270f270f270f270f",
            ),
            (
                10i128.pow(38) - 1,
                38,
                "000affff00000026270f270f270f270f270f270f270f270f270f26ac",
            ),
            (-5, 1, "0001ffff400000011388"),
            (1000000000001, 4, "00040002000000040001000000000001"),
            (100010000, 8, "000200000000000800010001"),
            (10000, 0, "00010001000000000001"),
            (12340, 2, "0002000000000002007b0fa0"),
            (15, 1, "000200000000000100011388"),
            (1, 1, "0001ffff0000000103e8"),
            (12345, 5, "0002ffff0000000504d21388"),
            (5000000005, 5, "00040001000000050005000000001388"),
            (1, 38, "0001fff6000000260064"),
        ];
        for &(unscaled, scale, expected) in cases {
            assert_eq!(
                encoded(unscaled, scale),
                expected,
                "{unscaled} scale {scale}"
            );
        }
    }

    #[test]
    fn the_extremes_of_i128_are_exact() {
        assert_eq!(
            encoded(i128::MAX, 0),
            "000a00090000000000aa0583209a01d5090d0c601c871bf620da165f"
        );
        assert_eq!(
            encoded(i128::MIN, 0),
            "000a00094000000000aa0583209a01d5090d0c601c871bf620da1660"
        );
        assert_eq!(
            encoded(i128::MIN, 38),
            "000b00004000002600011b66049f11fc1b0b06c31ad9017316fc04210af0"
        );
    }

    #[test]
    fn money_extremes_match_postgres() {
        assert_eq!(
            encoded(i128::from(i64::MAX), MONEY_SCALE),
            "0005000300000004039a0d2c0170156516af"
        );
        assert_eq!(
            encoded(i128::from(i64::MIN), MONEY_SCALE),
            "0005000340000004039a0d2c0170156516b0"
        );
    }

    #[test]
    fn money_wire_halves_are_high_first() {
        // 922337203685477.5807 = i64::MAX: high half 0x7fffffff, low half 0xffffffff.
        let max = [0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(money_from_wire(&max).unwrap(), i64::MAX);
        // -1 ten-thousandth: both halves all ones.
        assert_eq!(money_from_wire(&[0xff; 8]).unwrap(), -1);
        // 1.0000 = 10000: high half 0, low half 10000.
        let one = [0, 0, 0, 0, 0x10, 0x27, 0, 0];
        assert_eq!(money_from_wire(&one).unwrap(), 10_000);
        // smallmoney -214748.3648 = i32::MIN.
        assert_eq!(
            money_from_wire(&[0, 0, 0, 0x80]).unwrap(),
            i64::from(i32::MIN)
        );
        assert!(money_from_wire(&[0; 5]).is_err());
    }
}
