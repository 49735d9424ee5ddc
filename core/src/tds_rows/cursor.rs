//! Bounds-checked little-endian reads over the bytes of one token. Every read of wire data
//! goes through here or through `get`, never through a panicking index.
//!
//! A cursor runs in one of two modes. Over the caller's input (the stream), running out of
//! bytes means the token has not fully arrived: [`Stop::Short`] with the length the input
//! needs at least. Over the body of a token whose length was given up front, running out means
//! the token lied about its length: a protocol error.

use super::DecodeError;

/// Why decoding a token stopped before it produced one.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The input ends inside the token, which needs at least this many bytes of input
    /// (counted from the token's first byte).
    Short(usize),
    /// The token is malformed or cannot be decoded.
    Fail(DecodeError),
}

impl From<DecodeError> for Stop {
    fn from(error: DecodeError) -> Self {
        Stop::Fail(error)
    }
}

/// A protocol error, as a [`Stop`].
pub(crate) fn malformed(message: impl Into<String>) -> Stop {
    Stop::Fail(DecodeError::Protocol(message.into()))
}

pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// `Some(token name)` when `bytes` is a token body whose end is known.
    body_of: Option<&'static str>,
}

impl<'a> Cursor<'a> {
    /// Over the caller's input, from `pos` (the token byte is at 0).
    pub(crate) fn stream(input: &'a [u8], pos: usize) -> Cursor<'a> {
        Cursor {
            bytes: input,
            pos,
            body_of: None,
        }
    }

    /// Over the body of a length-prefixed `token`.
    pub(crate) fn body(body: &'a [u8], token: &'static str) -> Cursor<'a> {
        Cursor {
            bytes: body,
            pos: 0,
            body_of: Some(token),
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn past_end(&self, end: usize) -> Stop {
        match self.body_of {
            None => Stop::Short(end),
            Some(token) => malformed(format!(
                "{token} token is shorter than the data it holds ({} bytes)",
                self.bytes.len()
            )),
        }
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let end = self.pos.saturating_add(n);
        match self.bytes.get(self.pos..end) {
            Some(bytes) => {
                self.pos = end;
                Ok(bytes)
            }
            None => Err(self.past_end(end)),
        }
    }

    #[inline]
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let bytes = self.take(N)?;
        let mut array = [0u8; N];
        // `take` returned exactly N bytes.
        array.copy_from_slice(bytes);
        Ok(array)
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, Stop> {
        self.array().map(u8::from_le_bytes)
    }

    #[inline]
    pub(crate) fn u16(&mut self) -> Result<u16, Stop> {
        self.array().map(u16::from_le_bytes)
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, Stop> {
        self.array().map(u32::from_le_bytes)
    }

    #[inline]
    pub(crate) fn u64(&mut self) -> Result<u64, Stop> {
        self.array().map(u64::from_le_bytes)
    }

    /// B_VARCHAR: a u8 count of UTF-16 code units, then the units.
    pub(crate) fn b_varchar(&mut self) -> Result<String, Stop> {
        let units = usize::from(self.u8()?);
        self.take(2 * units).map(utf16_lossy)
    }

    /// US_VARCHAR: a u16 count of UTF-16 code units, then the units.
    pub(crate) fn us_varchar(&mut self) -> Result<String, Stop> {
        let units = usize::from(self.u16()?);
        self.take(2 * units).map(utf16_lossy)
    }
}

/// UTF-16LE names and messages as a `String`. These only label things for people, so a broken
/// surrogate becomes U+FFFD rather than an error that would hide the server's message.
pub(crate) fn utf16_lossy(bytes: &[u8]) -> String {
    char::decode_utf16(
        bytes
            .chunks_exact(2)
            .filter_map(|pair| <[u8; 2]>::try_from(pair).ok())
            .map(u16::from_le_bytes),
    )
    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
    .collect()
}

/// The u16 at `pos`, if the input holds it.
#[inline]
pub(crate) fn u16_at(bytes: &[u8], pos: usize) -> Option<u16> {
    match bytes.get(pos..pos.checked_add(2)?)? {
        &[a, b] => Some(u16::from_le_bytes([a, b])),
        _ => None,
    }
}

/// The u32 at `pos`, if the input holds it.
#[inline]
pub(crate) fn u32_at(bytes: &[u8], pos: usize) -> Option<u32> {
    match bytes.get(pos..pos.checked_add(4)?)? {
        &[a, b, c, d] => Some(u32::from_le_bytes([a, b, c, d])),
        _ => None,
    }
}

/// The u64 at `pos`, if the input holds it.
#[inline]
pub(crate) fn u64_at(bytes: &[u8], pos: usize) -> Option<u64> {
    let slice = bytes.get(pos..pos.checked_add(8)?)?;
    let mut array = [0u8; 8];
    array.copy_from_slice(slice);
    Some(u64::from_le_bytes(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_reads_report_how_much_input_they_need() {
        let bytes = [0xAA, 1, 0, 2, 0, 0];
        let mut cursor = Cursor::stream(&bytes, 1);
        assert_eq!(cursor.u16().ok(), Some(1));
        assert!(matches!(cursor.u32(), Err(Stop::Short(7))));
        // A failed read does not move the cursor.
        assert_eq!(cursor.pos(), 3);
        assert_eq!(cursor.u16().ok(), Some(2));
    }

    #[test]
    fn body_reads_past_the_end_are_protocol_errors() {
        let mut cursor = Cursor::body(&[3, b'a', 0], "ERROR");
        assert!(matches!(
            cursor.b_varchar(),
            Err(Stop::Fail(DecodeError::Protocol(_)))
        ));
        let mut cursor = Cursor::body(&[2, b'h', 0, b'i', 0], "ERROR");
        assert_eq!(cursor.b_varchar().ok().as_deref(), Some("hi"));
        assert_eq!(cursor.pos(), 5);
    }

    #[test]
    fn names_with_broken_surrogates_are_still_shown() {
        assert_eq!(utf16_lossy(&[0x00, 0xD8, b'x', 0]), "\u{FFFD}x");
        assert_eq!(u16_at(&[1, 2, 3], 1), Some(0x0302));
        assert_eq!(u16_at(&[1, 2, 3], 2), None);
        assert_eq!(u32_at(&[1, 0, 0, 0], 0), Some(1));
        assert_eq!(u64_at(&[0; 7], 0), None);
        assert_eq!(u64_at(&[0; 8], usize::MAX), None);
    }
}
