//! The TDS 7.4 wire protocol, server side (MS-TDS).
//!
//! - `packet`: the 8-byte packet header, message reassembly, the packet writer.
//! - `transport`: plain TCP or TLS (TLS handshake inside PRELOGIN packets, or TDS 8.0 strict).
//! - `prelogin`, `login7`: the handshake messages.
//! - `tokens`: server tokens (LOGINACK, ENVCHANGE, INFO/ERROR, DONE, COLMETADATA, ...).
//! - `encode`: TYPE_INFO and value encoding of every SQL Server type, as SQL Server sends it.
//! - `decode`: TYPE_INFO and value decoding for RPC parameters; SQL_BATCH and RPC requests.

pub mod decode;
pub mod encode;
pub mod login7;
pub mod packet;
pub mod prelogin;
pub mod tokens;
pub mod transport;

/// A request the client sent that SQL Server would not accept at the protocol level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TDS protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

impl From<ProtocolError> for std::io::Error {
    fn from(e: ProtocolError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

/// A bounds-checked little-endian reader over a request payload.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if self.remaining() < n {
            return Err(ProtocolError(format!(
                "message truncated: needed {n} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, ProtocolError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, ProtocolError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, ProtocolError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// UTF-16LE text of `chars` code units.
    pub fn utf16(&mut self, chars: usize) -> Result<String, ProtocolError> {
        let bytes = self.take(chars * 2)?;
        Ok(utf16le_to_string(bytes))
    }

    /// B_VARCHAR: a byte count of characters, then UTF-16LE.
    pub fn b_varchar(&mut self) -> Result<String, ProtocolError> {
        let n = self.u8()? as usize;
        self.utf16(n)
    }

    /// US_VARCHAR: a u16 count of characters, then UTF-16LE.
    pub fn us_varchar(&mut self) -> Result<String, ProtocolError> {
        let n = self.u16()? as usize;
        self.utf16(n)
    }
}

/// UTF-16LE to a String; unpaired surrogates become U+FFFD (SQL Server stores them, but a
/// Rust string cannot hold them).
pub(crate) fn utf16le_to_string(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Appends `s` as UTF-16LE.
pub(crate) fn put_utf16(buf: &mut Vec<u8>, s: &str) {
    if s.is_ascii() {
        // Fast path: every byte is one code unit.
        buf.reserve(s.len() * 2);
        for &b in s.as_bytes() {
            buf.push(b);
            buf.push(0);
        }
    } else {
        for unit in s.encode_utf16() {
            buf.extend_from_slice(&unit.to_le_bytes());
        }
    }
}

/// Number of UTF-16 code units of `s`.
pub(crate) fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}
