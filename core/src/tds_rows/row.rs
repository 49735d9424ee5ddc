//! ROW and NBCROW (MS-TDS 2.2.7.19, 2.2.7.15): the hot path, run once per row.
//!
//! One pass writes each value straight from the input into the COPY buffer as it reads the
//! value's framing. The only copy is of a PLP value split into several chunks, gathered into a
//! scratch buffer the decoder keeps. When the pass stops (the input ends inside the row, or a
//! value fails) the half-written tuple is dropped and a second, cold pass measures the row by
//! its length prefixes alone: how many bytes it needs (rows arrive whole or not at all, so the
//! caller hands the same bytes back with more appended), or, for a failure, that the row is
//! whole and where its key values lie. A row cut by a packet boundary is thus partly converted
//! twice; measuring every row first instead cost more than that.
//!
//! NBCROW starts with a bitmap, one bit per column (bit `i % 8` of byte `i / 8`), set for a
//! NULL; NULL columns then have no bytes at all.

use super::cursor::{malformed, u16_at, u32_at, u64_at, Stop};
use super::metadata::Column;
use super::types::{put_value, Fault, Framing};
use super::{DecodeError, ValueError};
use crate::copy_binary::{CopyEncoder, EncodeError, MAX_FIELD_BYTES};

/// u16 length of a NULL in a u16-length column (CHARBIN_NULL).
const USHORT_NULL: u16 = 0xFFFF;
/// PLP total length of a NULL.
const PLP_NULL: u64 = u64::MAX;
/// PLP total length when the server streams without knowing it (PLP_UNKNOWN).
const PLP_UNKNOWN: u64 = u64::MAX - 1;
/// Bytes of a PLP total length and of a chunk length.
const PLP_TOTAL_LEN: usize = 8;
const PLP_CHUNK_LEN: usize = 4;

/// Where one value of a measured row lies, as offsets from the row's token byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    Null,
    /// The value's bytes are `row[start..start + len]` (a PLP value of one chunk included).
    Bytes {
        start: usize,
        len: usize,
    },
    /// A PLP value of several chunks, the first chunk's length at `row[first..]`.
    Chunks {
        first: usize,
    },
}

/// The NULL bitmap of an NBCROW (empty for a ROW) and where the values start.
#[inline]
fn bitmap(columns: usize, input: &[u8], nbc: bool) -> Result<(&[u8], usize), Stop> {
    if !nbc {
        return Ok((&[], 1));
    }
    let end = 1 + columns.div_ceil(8);
    let bitmap = input.get(1..end).ok_or(Stop::Short(end))?;
    Ok((bitmap, end))
}

#[inline]
fn is_null(bitmap: &[u8], column: usize) -> bool {
    bitmap
        .get(column / 8)
        .is_some_and(|byte| byte & (1 << (column % 8)) != 0)
}

/// The length of the ROW or NBCROW at the start of `input`, once all of it is there, with
/// each value's place in `spans` (one per column); else [`Stop::Short`] with the furthest end
/// the row can be seen to need.
pub(crate) fn measure(
    columns: &[Column],
    input: &[u8],
    nbc: bool,
    spans: &mut Vec<Span>,
) -> Result<usize, Stop> {
    spans.clear();
    let (bitmap, mut pos) = bitmap(columns.len(), input, nbc)?;
    for (index, column) in columns.iter().enumerate() {
        if is_null(bitmap, index) {
            spans.push(Span::Null);
            continue;
        }
        // Values are stepped over by their lengths, not read: `pos` may run past the input
        // while the prefixes it needs are still there.
        let (span, end) = match column.framing {
            Framing::Fixed(len) => {
                let len = usize::from(len);
                (Span::Bytes { start: pos, len }, pos + len)
            }
            Framing::ByteLen => match *input.get(pos).ok_or(Stop::Short(pos + 1))? {
                0 => (Span::Null, pos + 1),
                len => {
                    let len = usize::from(len);
                    (
                        Span::Bytes {
                            start: pos + 1,
                            len,
                        },
                        pos + 1 + len,
                    )
                }
            },
            Framing::UShortLen => match u16_at(input, pos).ok_or(Stop::Short(pos + 2))? {
                USHORT_NULL => (Span::Null, pos + 2),
                len if len > column.max_len => {
                    return Err(malformed(format!(
                        "a value of {len} bytes in column {} (\"{}\"), declared at most {}",
                        index + 1,
                        column.name,
                        column.max_len
                    )))
                }
                len => {
                    let len = usize::from(len);
                    (
                        Span::Bytes {
                            start: pos + 2,
                            len,
                        },
                        pos + 2 + len,
                    )
                }
            },
            Framing::Plp => measure_plp(input, pos, column, index).map_err(|stop| match stop {
                Stop::Fail(DecodeError::Protocol(message)) => malformed(format!(
                    "column {} (\"{}\"): {message}",
                    index + 1,
                    column.name
                )),
                other => other,
            })?,
            Framing::AlwaysNull => (Span::Null, pos),
        };
        spans.push(span);
        pos = end;
    }
    if pos > input.len() {
        return Err(Stop::Short(pos));
    }
    Ok(pos)
}

/// The place and end of the PLP value of `column` (the row's `index`th) starting at `pos`.
/// Only its chunk lengths are read. A value that has not all arrived and is already known to
/// be too large for its field (its total length, or the chunk lengths seen of an unknown
/// one) is refused: waiting for it would buffer up to gigabytes only to refuse it then.
fn measure_plp(
    input: &[u8],
    pos: usize,
    column: &Column,
    index: usize,
) -> Result<(Span, usize), Stop> {
    let total = u64_at(input, pos).ok_or(Stop::Short(pos + PLP_TOTAL_LEN))?;
    let first = pos + PLP_TOTAL_LEN;
    if total == PLP_NULL {
        return Ok((Span::Null, first));
    }
    // What a known total length still owes: each chunk is counted off it.
    let mut remaining = (total != PLP_UNKNOWN).then_some(total);
    // The value's size as far as it is known: its total, or the chunks announced so far.
    let mut announced = if total == PLP_UNKNOWN { 0 } else { total };
    let mut pos = first;
    // The first chunk's data, while it is the only one.
    let mut only = Span::Bytes {
        start: first + PLP_CHUNK_LEN,
        len: 0,
    };
    let mut chunks = 0usize;
    loop {
        let Some(chunk) = u32_at(input, pos) else {
            refuse_oversized(column, index, announced)?;
            // The rest of a known length must still come, behind this chunk's length and
            // before the terminator: waiting for all of it at once keeps a large value from
            // costing one retry per chunk.
            let owed = match remaining {
                Some(bytes) if bytes > 0 => usize::try_from(bytes)
                    .unwrap_or(usize::MAX)
                    .saturating_add(PLP_CHUNK_LEN),
                _ => 0,
            };
            return Err(Stop::Short(
                pos.saturating_add(PLP_CHUNK_LEN).saturating_add(owed),
            ));
        };
        pos += PLP_CHUNK_LEN;
        if chunk == 0 {
            if let Some(bytes) = remaining.filter(|&bytes| bytes > 0) {
                return Err(malformed(format!(
                    "a PLP value ends {bytes} bytes short of its length of {total}"
                )));
            }
            let span = if chunks > 1 {
                Span::Chunks { first }
            } else {
                only
            };
            return Ok((span, pos));
        }
        if let Some(bytes) = remaining.as_mut() {
            *bytes = bytes.checked_sub(u64::from(chunk)).ok_or_else(|| {
                malformed(format!(
                    "a PLP value's chunks exceed its length of {total} bytes"
                ))
            })?;
        } else {
            announced = announced.saturating_add(u64::from(chunk));
        }
        if chunks == 0 {
            only = Span::Bytes {
                start: pos,
                len: chunk as usize,
            };
        }
        chunks += 1;
        pos = pos.saturating_add(chunk as usize);
    }
}

/// Refuses a value of `column` (the row's `index`th) of `bytes` wire bytes that its COPY
/// field could not hold, with the error the encoder gives it once it has arrived; the caller
/// adds the row's key.
fn refuse_oversized(column: &Column, index: usize, bytes: u64) -> Result<(), Stop> {
    let least = column.action.least_field_bytes(bytes);
    if least <= MAX_FIELD_BYTES as u64 {
        return Ok(());
    }
    Err(Stop::Fail(DecodeError::Value {
        column: index,
        row_key: None,
        error: ValueError::Encode(EncodeError::TooLarge {
            bytes: usize::try_from(least).unwrap_or(usize::MAX),
        }),
    }))
}

/// Why [`write_row`] stopped.
#[derive(Debug)]
pub(crate) enum RowStop {
    /// The input ends inside the row, or its framing is malformed: measuring the row tells
    /// which, and says it the same way whatever the input's length.
    Unread,
    /// A value failed (or the tuple did: `column` is then the column count).
    Fault { column: usize, fault: Fault },
}

/// Writes the ROW or NBCROW at the start of `input` as one COPY tuple, reading each value's
/// framing as it goes; returns the row's length. On any stop the tuple is left unfinished:
/// the caller abandons it and measures the row, to learn what it needs or to report the
/// failure only once the row is whole (so the outcome does not depend on where the input was
/// cut, and the row's key can be named).
#[inline]
pub(crate) fn write_row(
    columns: &[Column],
    input: &[u8],
    nbc: bool,
    encoder: &mut CopyEncoder,
    scratch: &mut Vec<u8>,
) -> Result<usize, RowStop> {
    let Ok((bitmap, mut pos)) = bitmap(columns.len(), input, nbc) else {
        return Err(RowStop::Unread);
    };
    encoder.begin_row();
    for (index, column) in columns.iter().enumerate() {
        if is_null(bitmap, index) {
            encoder.put_null();
            continue;
        }
        // (let-else rather than `ok_or(RowStop::Unread)?`, which builds and drops a RowStop
        // for every value read.)
        let Some(value) = read_value(column, input, &mut pos, scratch) else {
            return Err(RowStop::Unread);
        };
        let Some(value) = value else {
            encoder.put_null();
            continue;
        };
        if let Err(fault) = put_value(column, value, encoder) {
            return Err(RowStop::Fault {
                column: index,
                fault,
            });
        }
    }
    if let Err(error) = encoder.end_row() {
        return Err(RowStop::Fault {
            column: columns.len(),
            fault: Fault::from(error),
        });
    }
    Ok(pos)
}

/// The value of `column` at `pos` (`Some(None)` for NULL), moving `pos` past it; `None` when
/// the input ends inside it or its framing is malformed.
#[inline(always)]
fn read_value<'r>(
    column: &Column,
    input: &'r [u8],
    pos: &mut usize,
    scratch: &'r mut Vec<u8>,
) -> Option<Option<&'r [u8]>> {
    let at = *pos;
    let (value, end) = match column.framing {
        Framing::Fixed(len) => {
            let len = usize::from(len);
            (Some(slice(input, at, len)?), at + len)
        }
        Framing::ByteLen => match usize::from(*input.get(at)?) {
            0 => (None, at + 1),
            len => (Some(slice(input, at + 1, len)?), at + 1 + len),
        },
        Framing::UShortLen => match u16_at(input, at)? {
            USHORT_NULL => (None, at + 2),
            len if len > column.max_len => return None,
            len => {
                let len = usize::from(len);
                (Some(slice(input, at + 2, len)?), at + 2 + len)
            }
        },
        Framing::Plp => return read_plp(input, pos, scratch),
        Framing::AlwaysNull => (None, at),
    };
    *pos = end;
    Some(value)
}

/// The PLP value at `pos` (`Some(None)` for NULL), moving `pos` past it. One chunk (what SQL
/// Server sends for all but large values) is used where it lies; several are gathered into
/// `scratch`, so that a character split between chunks is whole again.
#[inline]
fn read_plp<'r>(
    input: &'r [u8],
    pos: &mut usize,
    scratch: &'r mut Vec<u8>,
) -> Option<Option<&'r [u8]>> {
    let total = u64_at(input, *pos)?;
    let first = *pos + PLP_TOTAL_LEN;
    if total == PLP_NULL {
        *pos = first;
        return Some(None);
    }
    let chunk = u32_at(input, first)? as usize;
    let data = first + PLP_CHUNK_LEN;
    let (value, end) = if chunk == 0 {
        (&[][..], data)
    } else {
        match u32_at(input, data + chunk)? {
            0 => (slice(input, data, chunk)?, data + chunk + PLP_CHUNK_LEN),
            _ => {
                // Several chunks: copy none until all have arrived, or a value streamed in
                // many chunks would be gathered again on every retry.
                scratch.reserve(chunked_bytes(input, first)?);
                gather(input, first, scratch)?
            }
        }
    };
    if total != PLP_UNKNOWN && total != value.len() as u64 {
        return None;
    }
    *pos = end;
    Some(Some(value))
}

/// The values of a measured row, copied: for naming a failing row by its key (cold path).
pub(crate) fn row_values(spans: &[Span], row: &[u8]) -> Vec<Option<Vec<u8>>> {
    let mut scratch = Vec::new();
    spans
        .iter()
        .map(|span| match *span {
            Span::Null => None,
            Span::Bytes { start, len } => slice(row, start, len).map(<[u8]>::to_vec),
            Span::Chunks { first } => {
                gather(row, first, &mut scratch).map(|(value, _)| value.to_vec())
            }
        })
        .collect()
}

/// `len` bytes of `bytes` from `at`, if there.
#[inline]
fn slice(bytes: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    bytes.get(at..at.checked_add(len)?)
}

/// The bytes held by the chunks of a PLP value from its first chunk length at `pos`; `None`
/// if the input ends before its terminator. Reads the chunk lengths only.
fn chunked_bytes(input: &[u8], mut pos: usize) -> Option<usize> {
    let mut bytes = 0usize;
    loop {
        let chunk = u32_at(input, pos)? as usize;
        if chunk == 0 {
            return Some(bytes);
        }
        bytes += chunk;
        pos = pos.checked_add(PLP_CHUNK_LEN + chunk)?;
    }
}

/// The chunks of a PLP value from its first chunk length at `pos`, gathered into `scratch`,
/// and where the value ends; `None` if the input ends first.
fn gather<'r>(row: &[u8], mut pos: usize, scratch: &'r mut Vec<u8>) -> Option<(&'r [u8], usize)> {
    scratch.clear();
    loop {
        let chunk = u32_at(row, pos)? as usize;
        pos += PLP_CHUNK_LEN;
        if chunk == 0 {
            return Some((scratch.as_slice(), pos));
        }
        scratch.extend_from_slice(slice(row, pos, chunk)?);
        pos += chunk;
    }
}
