//! The reading side of the binary COPY format [`crate::copy_binary`] writes: finds the whole rows
//! at the front of a buffer and where each of their fields lies, without copying anything. An
//! upsert uses it to compare the source's rows with the target's before it writes (see
//! [`crate::compare`]).

use std::fmt;
use std::ops::Range;

use crate::copy_binary::COPY_HEADER;

/// Where one field of a row lies in the buffer: `len` -1 is NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpan {
    pub start: usize,
    pub len: i32,
}

impl FieldSpan {
    /// The field's bytes in `buf`, `None` for NULL.
    pub fn value<'a>(&self, buf: &'a [u8]) -> Option<&'a [u8]> {
        let len = usize::try_from(self.len).ok()?;
        buf.get(self.start..self.start + len)
    }
}

/// A stream the network thread wrote that does not read back as binary COPY: a bug, never
/// user input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyReadError {
    BadHeader,
    WrongFieldCount { expected: usize, found: i16 },
    BadFieldLength { length: i32 },
    DataAfterTrailer,
}

impl fmt::Display for CopyReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyReadError::BadHeader => write!(f, "the COPY stream does not start with a header"),
            CopyReadError::WrongFieldCount { expected, found } => {
                write!(f, "a COPY row has {found} fields, not {expected}")
            }
            CopyReadError::BadFieldLength { length } => {
                write!(f, "a COPY field has the length {length}")
            }
            CopyReadError::DataAfterTrailer => write!(f, "bytes after the COPY trailer"),
        }
    }
}

impl std::error::Error for CopyReadError {}

/// Checks the 19-byte header [`crate::copy_binary::CopyEncoder::write_header`] writes.
pub fn check_header(buf: &[u8]) -> Result<(), CopyReadError> {
    if buf.starts_with(&COPY_HEADER) {
        Ok(())
    } else {
        Err(CopyReadError::BadHeader)
    }
}

/// The whole rows found at the front of a buffer (which starts at a row border), each with
/// its fields.
#[derive(Debug, Default)]
pub struct RowIndex {
    fields_per_row: usize,
    rows: Vec<Range<usize>>,
    fields: Vec<FieldSpan>,
}

/// What [`RowIndex::split`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Bytes taken by whole rows (and the trailer); the rest is the start of a row.
    pub consumed: usize,
    /// The trailer ended the buffer.
    pub trailer: bool,
}

impl RowIndex {
    pub fn new(fields_per_row: usize) -> RowIndex {
        RowIndex {
            fields_per_row,
            ..RowIndex::default()
        }
    }

    /// Forgets the rows found so far, keeping the allocations.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.fields.clear();
    }

    /// Indexes the whole rows at the front of `buf`, up to the first partial row or the
    /// trailer. Nothing may follow the trailer.
    pub fn split(&mut self, buf: &[u8]) -> Result<Split, CopyReadError> {
        self.clear();
        let mut at = 0;
        loop {
            let Some(count) = read_i16(buf, at) else {
                return Ok(Split {
                    consumed: at,
                    trailer: false,
                });
            };
            if count == -1 {
                if buf.len() > at + 2 {
                    return Err(CopyReadError::DataAfterTrailer);
                }
                return Ok(Split {
                    consumed: at + 2,
                    trailer: true,
                });
            }
            if usize::try_from(count).ok() != Some(self.fields_per_row) {
                return Err(CopyReadError::WrongFieldCount {
                    expected: self.fields_per_row,
                    found: count,
                });
            }
            let fields_before = self.fields.len();
            let mut pos = at + 2;
            let mut whole = true;
            for _ in 0..self.fields_per_row {
                let Some(length) = read_i32(buf, pos) else {
                    whole = false;
                    break;
                };
                pos += 4;
                let start = pos;
                match length {
                    -1 => {}
                    0.. => pos += length as usize,
                    _ => return Err(CopyReadError::BadFieldLength { length }),
                }
                if pos > buf.len() {
                    whole = false;
                    break;
                }
                self.fields.push(FieldSpan { start, len: length });
            }
            if !whole {
                self.fields.truncate(fields_before);
                return Ok(Split {
                    consumed: at,
                    trailer: false,
                });
            }
            self.rows.push(at..pos);
            at = pos;
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `row`'s bytes in the buffer, field count included.
    pub fn row(&self, row: usize) -> Range<usize> {
        self.rows[row].clone()
    }

    /// Row `row`'s fields.
    pub fn fields(&self, row: usize) -> &[FieldSpan] {
        &self.fields[row * self.fields_per_row..(row + 1) * self.fields_per_row]
    }
}

fn read_i16(buf: &[u8], at: usize) -> Option<i16> {
    let bytes = buf.get(at..at + 2)?;
    Some(i16::from_be_bytes([bytes[0], bytes[1]]))
}

fn read_i32(buf: &[u8], at: usize) -> Option<i32> {
    let bytes = buf.get(at..at + 4)?;
    Some(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy_binary::{CopyEncoder, NulPolicy, COPY_HEADER_LEN};

    fn two_rows() -> Vec<u8> {
        let mut encoder = CopyEncoder::new(2).unwrap();
        encoder.write_header();
        encoder.begin_row();
        encoder.put_i32(7);
        encoder.put_text_str("seven", NulPolicy::Error).unwrap();
        encoder.end_row().unwrap();
        encoder.begin_row();
        encoder.put_i32(8);
        encoder.put_null();
        encoder.end_row().unwrap();
        encoder.write_trailer();
        encoder.bytes().to_vec()
    }

    #[test]
    fn reads_back_what_the_encoder_wrote() {
        let stream = two_rows();
        check_header(&stream).unwrap();
        let body = &stream[COPY_HEADER_LEN..];
        let mut index = RowIndex::new(2);
        let split = index.split(body).unwrap();
        assert_eq!(
            split,
            Split {
                consumed: body.len(),
                trailer: true
            }
        );
        assert_eq!(index.len(), 2);
        let first = index.fields(0);
        assert_eq!(first[0].value(body), Some(&7i32.to_be_bytes()[..]));
        assert_eq!(first[1].value(body), Some(&b"seven"[..]));
        assert_eq!(index.fields(1)[1].value(body), None);
        assert_eq!(index.row(1).end, body.len() - 2);
    }

    #[test]
    fn stops_at_every_possible_partial_row() {
        let stream = two_rows();
        let body = &stream[COPY_HEADER_LEN..];
        let mut index = RowIndex::new(2);
        index.split(body).unwrap();
        let first_end = index.row(0).end;
        let second_end = index.row(1).end;
        for cut in 0..body.len() {
            let split = index.split(&body[..cut]).unwrap();
            let expected = match cut {
                c if c < first_end => (0, 0),
                c if c < second_end => (1, first_end),
                _ => (2, second_end),
            };
            assert_eq!((index.len(), split.consumed), expected, "cut at {cut}");
            assert!(!split.trailer);
        }
    }

    #[test]
    fn refuses_what_is_not_binary_copy() {
        assert_eq!(check_header(b"PGCOPY\n"), Err(CopyReadError::BadHeader));
        let mut flags = two_rows();
        flags[12] = 1;
        assert_eq!(check_header(&flags), Err(CopyReadError::BadHeader));
        let stream = two_rows();
        let body = &stream[COPY_HEADER_LEN..];
        assert_eq!(
            RowIndex::new(3).split(body).unwrap_err(),
            CopyReadError::WrongFieldCount {
                expected: 3,
                found: 2
            }
        );
        let mut negative = body.to_vec();
        negative[2..6].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(
            RowIndex::new(2).split(&negative).unwrap_err(),
            CopyReadError::BadFieldLength { length: -2 }
        );
        let mut trailing = body.to_vec();
        trailing.push(0);
        assert_eq!(
            RowIndex::new(2).split(&trailing).unwrap_err(),
            CopyReadError::DataAfterTrailer
        );
    }
}
