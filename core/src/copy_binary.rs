//! An encoder of PostgreSQL's binary COPY format over a reusable `Vec<u8>`: the network thread
//! writes SQL Server wire values straight into it and hands whole buffers to the backend, whose
//! COPY reads them unchanged (no per-row objects, no text round-trip).
//!
//! Format (PostgreSQL docs, "COPY ... Binary Format"): a 19-byte header (11-byte signature,
//! i32 flags, i32 header-extension length), then per tuple an i16 field count and per field an
//! i32 byte length (-1 for NULL) followed by the value in the type's `*_send` format, and an
//! i16 -1 trailer. All integers are big-endian.
//!
//! Binary COPY does no conversion: each field must be in the binary format of the *target*
//! column's type (an int4 value for a bigint column is refused by `int8recv`). The caller picks
//! the `put_*` method from the target type ([`crate::typemap::PgType`]).
//!
//! Text values are written as UTF-8. PostgreSQL's `textrecv` converts them from the session's
//! `client_encoding` to the database encoding, so the backend must run the COPY with
//! `client_encoding` UTF8.

use std::fmt;

use encoding_rs::Encoding;

use crate::{numeric, temporal, text};

/// The signature that opens every binary COPY stream: `PGCOPY\n\377\r\n\0`.
pub const COPY_SIGNATURE: [u8; 11] = *b"PGCOPY\n\xff\r\n\0";
/// Signature, flags (0: no OIDs) and header-extension length (0).
pub const COPY_HEADER_LEN: usize = 19;
/// The header itself: the signature, then zeros.
pub const COPY_HEADER: [u8; COPY_HEADER_LEN] = {
    let mut header = [0u8; COPY_HEADER_LEN];
    let mut i = 0;
    while i < COPY_SIGNATURE.len() {
        header[i] = COPY_SIGNATURE[i];
        i += 1;
    }
    header
};
/// The field count that ends the stream.
pub const COPY_TRAILER: i16 = -1;
/// The field length that marks a NULL.
const NULL_LENGTH: i32 = -1;
/// PostgreSQL allocates at most `MaxAllocSize` (1 GiB - 1) bytes for one value, and a varlena
/// value carries a 4-byte header inside that allocation: the largest text or bytea it can hold.
pub const MAX_FIELD_BYTES: usize = 0x3fff_ffff - 4;
/// `MaxHeapAttributeNumber`: no PostgreSQL table has more columns.
pub const MAX_COPY_FIELDS: u16 = 1600;

/// A value PostgreSQL's COPY cannot take as it stands. The caller adds the row key and the
/// column name; these carry what only the encoder knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A U+0000 character in a string; PostgreSQL's text types cannot hold it. `char_offset`
    /// counts Unicode characters from 0.
    NulInString { char_offset: usize },
    /// A UTF-16 surrogate without its partner: not a Unicode character, so not storable as
    /// UTF-8. `char_offset` counts Unicode characters from 0.
    UnpairedSurrogate { char_offset: usize, code_unit: u16 },
    /// UTF-16 data with an odd number of bytes.
    OddUtf16Length { bytes: usize },
    /// Bytes that are not valid in the column's character encoding (a code page or UTF-8).
    InvalidText {
        encoding: &'static str,
        byte_offset: usize,
    },
    /// A value over PostgreSQL's per-value limit ([`MAX_FIELD_BYTES`]). `bytes` is the size it
    /// would have had (at least).
    TooLarge { bytes: usize },
    /// A wire value outside the range its SQL Server type allows (a corrupt or misread stream).
    InvalidWireValue { what: &'static str, value: i128 },
    /// More columns than a PostgreSQL table can have.
    TooManyFields { fields: usize },
    /// A row ended with a different number of fields than the encoder was built for.
    WrongFieldCount { expected: u16, written: u16 },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::NulInString { char_offset } => write!(
                f,
                "string contains a NUL character (U+0000) at character {char_offset} (counting from 0), \
                 which PostgreSQL text cannot store"
            ),
            EncodeError::UnpairedSurrogate {
                char_offset,
                code_unit,
            } => write!(
                f,
                "string contains an unpaired UTF-16 surrogate 0x{code_unit:04X} at character \
                 {char_offset} (counting from 0), which is not a Unicode character"
            ),
            EncodeError::OddUtf16Length { bytes } => {
                write!(f, "UTF-16 value has an odd length of {bytes} bytes")
            }
            EncodeError::InvalidText {
                encoding,
                byte_offset,
            } => write!(
                f,
                "value is not valid {encoding} text at byte {byte_offset} (counting from 0)"
            ),
            EncodeError::TooLarge { bytes } => write!(
                f,
                "value of {bytes} bytes exceeds PostgreSQL's limit of {MAX_FIELD_BYTES} bytes per value"
            ),
            EncodeError::InvalidWireValue { what, value } => {
                write!(f, "invalid {what} {value} received from SQL Server")
            }
            EncodeError::TooManyFields { fields } => write!(
                f,
                "{fields} columns exceed PostgreSQL's limit of {MAX_COPY_FIELDS} columns per table"
            ),
            EncodeError::WrongFieldCount { expected, written } => write!(
                f,
                "row has {written} fields where {expected} were expected"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// What to do with U+0000 in a string bound for PostgreSQL text, which cannot hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NulPolicy {
    /// Refuse the value ([`EncodeError::NulInString`]). The default: no silent data change.
    #[default]
    Error,
    /// Drop every U+0000, keep the rest.
    Strip,
}

/// Writes binary COPY data into a buffer it owns. Between rows the buffer can be swapped for
/// an empty one ([`CopyEncoder::swap_buffer`]) and sent off whole.
#[derive(Debug)]
pub struct CopyEncoder {
    buf: Vec<u8>,
    fields_per_row: u16,
    /// Where the row being written starts, when one is.
    row_start: Option<usize>,
    fields_written: u16,
    rows_in_buffer: u64,
    /// [`MAX_FIELD_BYTES`]; lowered by tests to reach the limit without gigabytes.
    max_field_bytes: usize,
}

impl CopyEncoder {
    /// An encoder for rows of `fields_per_row` fields, with an empty buffer.
    pub fn new(fields_per_row: usize) -> Result<CopyEncoder, EncodeError> {
        Self::with_buffer(fields_per_row, Vec::new())
    }

    /// Like [`CopyEncoder::new`], writing into `buffer` (cleared first) to reuse its capacity.
    pub fn with_buffer(
        fields_per_row: usize,
        mut buffer: Vec<u8>,
    ) -> Result<CopyEncoder, EncodeError> {
        let fields = u16::try_from(fields_per_row)
            .ok()
            .filter(|&n| n <= MAX_COPY_FIELDS)
            .ok_or(EncodeError::TooManyFields {
                fields: fields_per_row,
            })?;
        buffer.clear();
        Ok(CopyEncoder {
            buf: buffer,
            fields_per_row: fields,
            row_start: None,
            fields_written: 0,
            rows_in_buffer: 0,
            max_field_bytes: MAX_FIELD_BYTES,
        })
    }

    /// The bytes written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Complete rows in the buffer since it was created or last swapped.
    pub fn rows_in_buffer(&self) -> u64 {
        self.rows_in_buffer
    }

    /// Bytes in the buffer, including a row being written.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the buffer, leaving `empty` (cleared first) in its place. A row being written
    /// moves over to the new buffer, so the returned bytes always end at a row border.
    pub fn swap_buffer(&mut self, mut empty: Vec<u8>) -> Vec<u8> {
        empty.clear();
        if let Some(start) = self.row_start {
            empty.extend_from_slice(&self.buf[start..]);
            self.buf.truncate(start);
            self.row_start = Some(0);
        }
        self.rows_in_buffer = 0;
        std::mem::replace(&mut self.buf, empty)
    }

    /// The 19-byte file header; once, before the first row of a COPY.
    pub fn write_header(&mut self) {
        self.buf.extend_from_slice(&COPY_HEADER);
    }

    /// The end-of-data marker; once, after the last row.
    pub fn write_trailer(&mut self) {
        self.buf.extend_from_slice(&COPY_TRAILER.to_be_bytes());
    }

    /// Starts a row. A row left unfinished is discarded first.
    pub fn begin_row(&mut self) {
        self.abandon_row();
        self.row_start = Some(self.buf.len());
        self.fields_written = 0;
        self.buf
            .extend_from_slice(&(self.fields_per_row as i16).to_be_bytes());
    }

    /// Ends a row; fails (and discards the row) unless every field was written.
    pub fn end_row(&mut self) -> Result<(), EncodeError> {
        if self.fields_written != self.fields_per_row {
            let written = self.fields_written;
            self.abandon_row();
            return Err(EncodeError::WrongFieldCount {
                expected: self.fields_per_row,
                written,
            });
        }
        self.row_start = None;
        self.rows_in_buffer += 1;
        Ok(())
    }

    /// Discards the row being written, if any (after a value failed to encode).
    pub fn abandon_row(&mut self) {
        if let Some(start) = self.row_start.take() {
            self.buf.truncate(start);
        }
        self.fields_written = 0;
    }

    pub fn put_null(&mut self) {
        self.buf.extend_from_slice(&NULL_LENGTH.to_be_bytes());
        self.count_field();
    }

    fn put_fixed<const N: usize>(&mut self, value: [u8; N]) {
        self.buf.extend_from_slice(&(N as i32).to_be_bytes());
        self.buf.extend_from_slice(&value);
        self.count_field();
    }

    /// `boolean` from bit.
    pub fn put_bool(&mut self, value: bool) {
        self.put_fixed([u8::from(value)]);
    }

    /// `smallint` from smallint, or tinyint widened by the caller.
    pub fn put_i16(&mut self, value: i16) {
        self.put_fixed(value.to_be_bytes());
    }

    pub fn put_i32(&mut self, value: i32) {
        self.put_fixed(value.to_be_bytes());
    }

    pub fn put_i64(&mut self, value: i64) {
        self.put_fixed(value.to_be_bytes());
    }

    /// `real`; the bit pattern is kept (-0.0, NaN payloads).
    pub fn put_f32(&mut self, value: f32) {
        self.put_fixed(value.to_bits().to_be_bytes());
    }

    /// `double precision`; the bit pattern is kept.
    pub fn put_f64(&mut self, value: f64) {
        self.put_fixed(value.to_bits().to_be_bytes());
    }

    /// `numeric` from decimal/numeric: the unscaled integer and the column's scale.
    pub fn put_numeric(&mut self, unscaled: i128, scale: u8) {
        let at = self.open_field();
        numeric::write_numeric(&mut self.buf, unscaled, scale);
        // A numeric is at most 8 + 2 * 12 bytes: never near the limit.
        self.patch_length(at);
        self.count_field();
    }

    /// `numeric(19,4)` / `numeric(10,4)` from money/smallmoney in ten-thousandths.
    pub fn put_money(&mut self, ten_thousandths: i64) {
        self.put_numeric(i128::from(ten_thousandths), numeric::MONEY_SCALE);
    }

    /// `date` from SQL Server's days since 0001-01-01.
    pub fn put_date(&mut self, days_since_0001: u32) -> Result<(), EncodeError> {
        let days = temporal::date_to_pg(days_since_0001)?;
        self.put_i32(days);
        Ok(())
    }

    /// `time(n)` from increments of 10^-scale seconds since midnight (see
    /// [`temporal::time_to_pg`] for the rounding of scale 7).
    pub fn put_time(&mut self, increments: u64, scale: u8) -> Result<(), EncodeError> {
        let micros = temporal::time_to_pg(increments, scale)?;
        self.put_i64(micros);
        Ok(())
    }

    /// `timestamp(n)` from datetime2(n).
    pub fn put_datetime2(
        &mut self,
        days_since_0001: u32,
        increments: u64,
        scale: u8,
    ) -> Result<(), EncodeError> {
        let micros = temporal::datetime2_to_pg(days_since_0001, increments, scale)?;
        self.put_i64(micros);
        Ok(())
    }

    /// `timestamptz(n)` from datetimeoffset(n): the wire's date and time are UTC already; the
    /// offset is not needed for the instant and PostgreSQL has nowhere to keep it.
    pub fn put_datetimeoffset(
        &mut self,
        utc_days_since_0001: u32,
        utc_increments: u64,
        scale: u8,
    ) -> Result<(), EncodeError> {
        self.put_datetime2(utc_days_since_0001, utc_increments, scale)
    }

    /// `timestamp(3)` from datetime (days since 1900-01-01, 1/300 s ticks).
    pub fn put_datetime(&mut self, days_since_1900: i32, ticks: u32) -> Result<(), EncodeError> {
        let micros = temporal::datetime_to_pg(days_since_1900, ticks)?;
        self.put_i64(micros);
        Ok(())
    }

    /// `timestamp(0)` from smalldatetime (days since 1900-01-01, minutes since midnight).
    pub fn put_smalldatetime(
        &mut self,
        days_since_1900: u16,
        minutes: u16,
    ) -> Result<(), EncodeError> {
        let micros = temporal::smalldatetime_to_pg(days_since_1900, minutes)?;
        self.put_i64(micros);
        Ok(())
    }

    /// `uuid` from uniqueidentifier's 16 wire bytes, whose first three groups are
    /// little-endian (a Windows GUID); `uuid` wants all 16 in RFC 4122 (big-endian) order.
    pub fn put_uuid_from_guid(&mut self, wire: &[u8; 16]) {
        self.put_fixed(guid_to_uuid(wire));
    }

    /// `uuid` from 16 bytes already in RFC 4122 order (as tiberius hands a uniqueidentifier).
    pub fn put_uuid(&mut self, rfc4122: &[u8; 16]) {
        self.put_fixed(*rfc4122);
    }

    /// `bytea` from binary, varbinary, image, rowversion, CLR types: the bytes as they are.
    pub fn put_bytea(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        if bytes.len() > self.max_field_bytes {
            return Err(EncodeError::TooLarge { bytes: bytes.len() });
        }
        self.buf
            .extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self.count_field();
        Ok(())
    }

    /// Text from nchar/nvarchar/ntext (UTF-16LE), converted to UTF-8 in place.
    pub fn put_text_utf16le(&mut self, utf16le: &[u8], nul: NulPolicy) -> Result<(), EncodeError> {
        // Every UTF-16 unit becomes at least one UTF-8 byte: refuse before converting.
        if utf16le.len() / 2 > self.max_field_bytes {
            return Err(EncodeError::TooLarge {
                bytes: utf16le.len() / 2,
            });
        }
        self.put_variable(|buf| text::append_utf16le(buf, utf16le, nul))
    }

    /// Text from char/varchar/text in the column's code page (single-byte or DBCS code pages
    /// through `encoding`; UTF-8 is validated and copied).
    pub fn put_text_encoded(
        &mut self,
        bytes: &[u8],
        encoding: &'static Encoding,
        nul: NulPolicy,
    ) -> Result<(), EncodeError> {
        // A character takes at most two code-page bytes and at least one UTF-8 byte.
        if bytes.len() / 2 > self.max_field_bytes {
            return Err(EncodeError::TooLarge {
                bytes: bytes.len() / 2,
            });
        }
        self.put_variable(|buf| text::append_encoded(buf, bytes, encoding, nul))
    }

    /// Text that is UTF-8 already (a UTF-8 collation, code page 65001), validated.
    pub fn put_text_utf8(&mut self, utf8: &[u8], nul: NulPolicy) -> Result<(), EncodeError> {
        if utf8.len() > self.max_field_bytes {
            return Err(EncodeError::TooLarge { bytes: utf8.len() });
        }
        self.put_variable(|buf| text::append_utf8(buf, utf8, nul))
    }

    /// Text already known to be UTF-8 (a Rust `str`): only the NUL policy applies.
    pub fn put_text_str(&mut self, text: &str, nul: NulPolicy) -> Result<(), EncodeError> {
        if text.len() > self.max_field_bytes {
            return Err(EncodeError::TooLarge { bytes: text.len() });
        }
        self.put_variable(|buf| text::append_str(buf, text, nul))
    }

    /// `xml` from SQL Server xml (UTF-16LE). `xml_recv` reads the value as UTF-8 unless an
    /// XML declaration names another encoding, so a leading declaration (which SQL Server does
    /// not store anyway) and byte-order mark are dropped: see [`text::append_xml_utf16le`].
    pub fn put_xml_utf16le(&mut self, utf16le: &[u8]) -> Result<(), EncodeError> {
        if utf16le.len() / 2 > self.max_field_bytes {
            return Err(EncodeError::TooLarge {
                bytes: utf16le.len() / 2,
            });
        }
        self.put_variable(|buf| text::append_xml_utf16le(buf, utf16le))
    }

    /// Reserves the length word, lets `write` append the value, then patches the length in; on
    /// error the partial field is removed.
    fn put_variable(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let max = self.max_field_bytes;
        let at = self.open_field();
        let written = write(&mut self.buf).and_then(|()| {
            let bytes = self.buf.len() - at - 4;
            if bytes > max {
                Err(EncodeError::TooLarge { bytes })
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) => {
                self.patch_length(at);
                self.count_field();
                Ok(())
            }
            Err(error) => {
                self.buf.truncate(at);
                Err(error)
            }
        }
    }

    fn count_field(&mut self) {
        // Saturating: a runaway caller gets WrongFieldCount from end_row, not a panic.
        self.fields_written = self.fields_written.saturating_add(1);
    }

    fn open_field(&mut self) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        at
    }

    /// Writes the length of the field that starts at `at`. Callers have checked it against
    /// [`MAX_FIELD_BYTES`], so it fits an i32.
    fn patch_length(&mut self, at: usize) {
        let length = (self.buf.len() - at - 4) as i32;
        self.buf[at..at + 4].copy_from_slice(&length.to_be_bytes());
    }
}

/// uniqueidentifier wire bytes (groups 1-3 little-endian) to RFC 4122 byte order.
pub fn guid_to_uuid(wire: &[u8; 16]) -> [u8; 16] {
    let mut uuid = *wire;
    uuid[0..4].reverse();
    uuid[4..6].reverse();
    uuid[6..8].reverse();
    uuid
}

/// A uuid's text form from its RFC 4122 bytes, as PostgreSQL prints it.
pub fn uuid_text(rfc4122: &[u8; 16]) -> String {
    let hex: String = rfc4122.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be_i32(bytes: &[u8]) -> i32 {
        i32::from_be_bytes(bytes.try_into().unwrap())
    }

    /// Splits one encoded row (after its field count) into its fields; None for NULL.
    fn fields(row: &[u8]) -> Vec<Option<Vec<u8>>> {
        let count = i16::from_be_bytes([row[0], row[1]]) as usize;
        let mut at = 2;
        let mut out = Vec::new();
        for _ in 0..count {
            let len = be_i32(&row[at..at + 4]);
            at += 4;
            if len < 0 {
                out.push(None);
            } else {
                out.push(Some(row[at..at + len as usize].to_vec()));
                at += len as usize;
            }
        }
        assert_eq!(at, row.len(), "trailing bytes after the row");
        out
    }

    #[test]
    fn header_and_trailer_are_postgres_binary_copy() {
        let mut encoder = CopyEncoder::new(1).unwrap();
        encoder.write_header();
        assert_eq!(encoder.len(), COPY_HEADER_LEN);
        encoder.write_trailer();
        assert_eq!(
            encoder.bytes(),
            b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0\xff\xff"
        );
    }

    #[test]
    fn fixed_width_fields_are_big_endian_with_lengths() {
        let mut encoder = CopyEncoder::new(7).unwrap();
        encoder.begin_row();
        encoder.put_bool(true);
        encoder.put_i16(-2);
        encoder.put_i32(0x0102_0304);
        encoder.put_i64(-1);
        encoder.put_null();
        encoder.put_f32(-0.0);
        encoder.put_f64(-0.0);
        encoder.end_row().unwrap();
        let row = fields(encoder.bytes());
        assert_eq!(row[0].as_deref(), Some(&[1u8][..]));
        assert_eq!(row[1].as_deref(), Some(&[0xff, 0xfe][..]));
        assert_eq!(row[2].as_deref(), Some(&[1, 2, 3, 4][..]));
        assert_eq!(row[3].as_deref(), Some(&[0xff; 8][..]));
        assert_eq!(row[4], None);
        // -0.0 keeps its sign bit.
        assert_eq!(row[5].as_deref(), Some(&[0x80, 0, 0, 0][..]));
        assert_eq!(row[6].as_deref(), Some(&[0x80, 0, 0, 0, 0, 0, 0, 0][..]));
        assert_eq!(encoder.rows_in_buffer(), 1);
    }

    #[test]
    fn float_bit_patterns_survive() {
        let mut encoder = CopyEncoder::new(2).unwrap();
        encoder.begin_row();
        encoder.put_f64(f64::MIN_POSITIVE / 2.0); // subnormal
        encoder.put_f32(f32::INFINITY);
        encoder.end_row().unwrap();
        let row = fields(encoder.bytes());
        assert_eq!(
            row[0].as_deref(),
            Some(&(f64::MIN_POSITIVE / 2.0).to_bits().to_be_bytes()[..])
        );
        assert_eq!(row[1].as_deref(), Some(&[0x7f, 0x80, 0, 0][..]));
    }

    #[test]
    fn variable_fields_get_their_length_patched_in() {
        let mut encoder = CopyEncoder::new(4).unwrap();
        encoder.begin_row();
        encoder
            .put_text_utf16le(&[b'h', 0, 0xe9, 0], NulPolicy::Error)
            .unwrap();
        encoder.put_numeric(123456789, 4);
        encoder.put_bytea(&[0, 1, 2]).unwrap();
        encoder.put_money(-5000);
        encoder.end_row().unwrap();
        let row = fields(encoder.bytes());
        assert_eq!(row[0].as_deref(), Some("hé".as_bytes()));
        assert_eq!(
            row[1].as_deref(),
            Some(&[0, 3, 0, 1, 0, 0, 0, 4, 0, 1, 0x09, 0x29, 0x1a, 0x85][..])
        );
        assert_eq!(row[2].as_deref(), Some(&[0, 1, 2][..]));
        // -0.5000 as numeric: one digit 5000, weight -1, negative, dscale 4.
        assert_eq!(
            row[3].as_deref(),
            Some(&[0, 1, 0xff, 0xff, 0x40, 0, 0, 4, 0x13, 0x88][..])
        );
    }

    #[test]
    fn a_failed_value_leaves_no_partial_field_and_the_row_can_be_abandoned() {
        let mut encoder = CopyEncoder::new(2).unwrap();
        encoder.write_header();
        encoder.begin_row();
        encoder.put_i32(1);
        let before = encoder.len();
        let failed = encoder.put_text_utf16le(&[b'a', 0, 0, 0], NulPolicy::Error);
        assert_eq!(failed, Err(EncodeError::NulInString { char_offset: 1 }));
        assert_eq!(encoder.len(), before);
        encoder.abandon_row();
        assert_eq!(encoder.len(), COPY_HEADER_LEN);
        assert_eq!(encoder.rows_in_buffer(), 0);
    }

    #[test]
    fn a_row_with_missing_fields_is_refused_and_removed() {
        let mut encoder = CopyEncoder::new(2).unwrap();
        encoder.begin_row();
        encoder.put_i32(1);
        assert_eq!(
            encoder.end_row(),
            Err(EncodeError::WrongFieldCount {
                expected: 2,
                written: 1
            })
        );
        assert!(encoder.is_empty());
    }

    #[test]
    fn swapping_mid_row_carries_the_partial_row_over() {
        let mut encoder = CopyEncoder::new(2).unwrap();
        encoder.begin_row();
        encoder.put_i32(1);
        encoder.put_i32(2);
        encoder.end_row().unwrap();
        encoder.begin_row();
        encoder.put_i32(3);
        let full = encoder.swap_buffer(Vec::with_capacity(64));
        assert_eq!(full.len(), 2 + 2 * 8);
        encoder.put_i32(4);
        encoder.end_row().unwrap();
        assert_eq!(encoder.rows_in_buffer(), 1);
        let second = fields(encoder.bytes());
        assert_eq!(second[0].as_deref(), Some(&3i32.to_be_bytes()[..]));
        assert_eq!(second[1].as_deref(), Some(&4i32.to_be_bytes()[..]));
    }

    #[test]
    fn too_many_columns_are_refused() {
        assert!(CopyEncoder::new(1600).is_ok());
        assert_eq!(
            CopyEncoder::new(1601).unwrap_err(),
            EncodeError::TooManyFields { fields: 1601 }
        );
        assert!(CopyEncoder::new(100_000).is_err());
    }

    #[test]
    fn uniqueidentifier_wire_order_becomes_rfc_order() {
        // SQL Server shows 6F9619FF-8B86-D011-B42D-00C04FC964FF for these wire bytes.
        let wire = [
            0xff, 0x19, 0x96, 0x6f, 0x86, 0x8b, 0x11, 0xd0, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9,
            0x64, 0xff,
        ];
        assert_eq!(
            guid_to_uuid(&wire),
            [
                0x6f, 0x96, 0x19, 0xff, 0x8b, 0x86, 0xd0, 0x11, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9,
                0x64, 0xff
            ]
        );
        let mut encoder = CopyEncoder::new(1).unwrap();
        encoder.begin_row();
        encoder.put_uuid_from_guid(&wire);
        encoder.end_row().unwrap();
        assert_eq!(fields(encoder.bytes())[0].as_ref().unwrap()[0], 0x6f);
    }

    #[test]
    fn temporal_fields_are_int64_microseconds_and_int32_days() {
        let mut encoder = CopyEncoder::new(3).unwrap();
        encoder.begin_row();
        encoder.put_date(730_119).unwrap(); // 2000-01-01
        encoder.put_datetime(36_524, 300).unwrap(); // 2000-01-01 00:00:01
        encoder.put_time(1, 0).unwrap(); // 00:00:01
        encoder.end_row().unwrap();
        let row = fields(encoder.bytes());
        assert_eq!(row[0].as_deref(), Some(&0i32.to_be_bytes()[..]));
        assert_eq!(row[1].as_deref(), Some(&1_000_000i64.to_be_bytes()[..]));
        assert_eq!(row[2].as_deref(), Some(&1_000_000i64.to_be_bytes()[..]));
        // An out-of-range wire value is refused without writing a field.
        encoder.begin_row();
        let before = encoder.len();
        assert!(encoder.put_date(3_652_059).is_err());
        assert_eq!(encoder.len(), before);
    }

    #[test]
    fn values_over_the_limit_are_refused_before_conversion() {
        let mut encoder = CopyEncoder::new(1).unwrap();
        encoder.begin_row();
        assert_eq!(MAX_FIELD_BYTES, 1_073_741_819);
        // Zeroed pages are never touched: only the length is looked at before refusing.
        let big = vec![0u8; MAX_FIELD_BYTES + 1];
        assert_eq!(
            encoder.put_bytea(&big),
            Err(EncodeError::TooLarge {
                bytes: MAX_FIELD_BYTES + 1
            })
        );
        assert_eq!(
            encoder.put_text_utf8(&big, NulPolicy::Error),
            Err(EncodeError::TooLarge {
                bytes: MAX_FIELD_BYTES + 1
            })
        );
        assert_eq!(
            encoder.put_text_utf16le(&vec![0u8; 2 * MAX_FIELD_BYTES + 2], NulPolicy::Strip),
            Err(EncodeError::TooLarge {
                bytes: MAX_FIELD_BYTES + 1
            })
        );
        assert_eq!(encoder.len(), 2);
    }

    #[test]
    fn a_value_that_grows_past_the_limit_while_converting_is_refused() {
        // With the limit lowered to 10 bytes: 6 UTF-16 units pass the input check (6 <= 10)
        // but become 12 bytes of UTF-8.
        let mut encoder = CopyEncoder::new(2).unwrap();
        encoder.max_field_bytes = 10;
        encoder.begin_row();
        encoder
            .put_text_utf8(b"0123456789", NulPolicy::Error)
            .unwrap();
        let before = encoder.len();
        let src: Vec<u8> = [0xe9u8, 0x00].repeat(6);
        assert_eq!(
            encoder.put_text_utf16le(&src, NulPolicy::Error),
            Err(EncodeError::TooLarge { bytes: 12 })
        );
        assert_eq!(encoder.len(), before);
        assert_eq!(
            encoder.put_text_encoded(&[0xe9; 11], encoding_rs::WINDOWS_1252, NulPolicy::Error),
            Err(EncodeError::TooLarge { bytes: 22 })
        );
        assert_eq!(
            encoder.put_bytea(&[0; 11]),
            Err(EncodeError::TooLarge { bytes: 11 })
        );
        assert_eq!(encoder.len(), before);
    }
}
