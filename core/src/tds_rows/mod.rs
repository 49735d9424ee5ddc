//! A decoder of SQL Server's response token stream (MS-TDS 2.2.7) that writes result rows
//! straight into PostgreSQL binary COPY tuples ([`CopyEncoder`]).
//!
//! Why: tiberius, the TDS client pgmig used for rows, copies the stream one byte at a time and
//! builds a value object per cell, which cost half of the network thread. Here a row is read
//! from the bytes as they arrived (the payloads of the response's TDS packets, concatenated,
//! packet headers already stripped by the caller) with a tight loop over a per-column
//! description settled once from COLMETADATA, and no per-row or per-value Rust structure: each
//! value goes from the input slice into the COPY buffer.
//!
//! The caller feeds [`RowDecoder::next`] the unread bytes; each call decodes the one token at
//! their start, or says how many bytes it needs ([`Step::NeedMore`]) without consuming
//! anything, so a token split across packets is simply retried with more bytes appended.
//!
//! Scope: TDS 7.2 and later (u32 user types, u64 DONE row counts); the column types pgmig
//! reads (`types.rs` lists them). text, ntext, image, sql_variant, CLR types, legacy types and
//! char/varchar in a collation whose code page is not known for certain make COLMETADATA
//! fail with [`DecodeError::Unsupported`] before any row, so the caller can read that query
//! with tiberius instead.

mod collation;
mod cursor;
mod describe;
mod messages;
mod metadata;
mod row;
mod tokens;
mod types;
mod value_error;

#[cfg(test)]
mod tests;

use std::fmt;

use crate::copy_binary::{CopyEncoder, EncodeError, NulPolicy};
use crate::plan::FieldEncoding;

use cursor::{malformed, Stop};
use metadata::Column;

pub use tokens::{check_result_set_end, check_tds_version, token, MIN_TDS_VERSION};
pub use value_error::ValueError;

/// Decodes the token stream of one query's response.
#[derive(Debug)]
pub struct RowDecoder {
    /// How each result column is written, in SELECT order.
    targets: Vec<FieldEncoding>,
    /// Positions of the key columns, to name a failing row.
    key: Vec<usize>,
    nul: NulPolicy,
    /// The current result set's columns; `None` before the first COLMETADATA.
    columns: Option<Vec<Column>>,
    /// Where each value of a row that could not be written lies (cold path), kept for reuse.
    spans: Vec<row::Span>,
    /// Where a PLP value split into several chunks is gathered; kept between rows so that
    /// only its growth allocates.
    scratch: Vec<u8>,
}

/// What one call of [`RowDecoder::next`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The input does not hold the whole token at its start; nothing was consumed or written.
    /// Call again once the input holds at least `at_least` bytes (always more than it held).
    NeedMore { at_least: usize },
    /// One token was decoded from the first `consumed` bytes of the input.
    Token { consumed: usize, token: Token },
}

/// A decoded token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// COLMETADATA: the decoder now holds the result set's column types.
    Columns,
    /// ROW or NBCROW: one tuple was written into the encoder (`begin_row` .. `end_row`).
    Row,
    /// DONE, DONEPROC or DONEINPROC.
    Done {
        status: u16,
        /// The statement's row count, when the status says it is valid.
        row_count: Option<u64>,
        kind: DoneKind,
    },
    /// ERROR or INFO.
    Message(ServerMessage),
    EnvChange(EnvChange),
    LoginAck {
        /// As the server states it, e.g. 0x7300000B for TDS 7.3B.
        tds_version: u32,
        program: String,
    },
    FeatureExtAck,
    /// RETURNSTATUS: a stored procedure's return value.
    ReturnStatus(i32),
    /// ORDER, COLINFO, TABNAME or SSPI, stepped over.
    Skipped,
}

/// DONE status bits (MS-TDS 2.2.7.6).
pub mod done_status {
    /// More results follow.
    pub const MORE: u16 = 0x0001;
    /// The statement failed.
    pub const ERROR: u16 = 0x0002;
    /// The row count is valid.
    pub const COUNT: u16 = super::tokens::DONE_COUNT;
    /// The server acknowledges an attention (cancel).
    pub const ATTENTION: u16 = 0x0020;
    /// A server error ended the batch.
    pub const SERVER_ERROR: u16 = 0x0100;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneKind {
    /// DONE: a statement of the batch completed.
    Done,
    /// DONEPROC: a stored procedure completed.
    Proc,
    /// DONEINPROC: a statement inside a stored procedure completed.
    InProc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// An ERROR token (severity above 10).
    Error,
    /// An INFO token (severity 10 or below: PRINT, warnings, database changes).
    Info,
}

/// An ERROR or INFO token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMessage {
    pub kind: MessageKind,
    pub number: u32,
    pub state: u8,
    /// Severity.
    pub class: u8,
    pub message: String,
    pub server: String,
    pub procedure: String,
    pub line: u32,
}

impl ServerMessage {
    /// Whether it came as an ERROR token.
    pub fn is_error(&self) -> bool {
        self.kind == MessageKind::Error
    }
}

/// An ENVCHANGE token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvChange {
    /// The packet size the server now uses, in bytes.
    PacketSize(u32),
    /// The current database's new name.
    Database(String),
    /// Another change, by ENVCHANGE type; not decoded.
    Other(u8),
}

/// Why the stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The stream is malformed (or holds a token this decoder does not take).
    Protocol(String),
    /// COLMETADATA has a column this decoder cannot read (the message names it and its
    /// type). Raised before any row of the result set: the caller can read the query another
    /// way.
    Unsupported(String),
    /// COLMETADATA has a different number of columns than targets were given (or the
    /// encoder was built for a different number of fields).
    ColumnCount { received: usize, expected: usize },
    /// A value of a complete row could not be written; the row was abandoned.
    Value {
        /// The column's position in the result (from 0).
        column: usize,
        /// The row's key columns and their values ("Id = 42, Site = 3"), when a key was given.
        row_key: Option<String>,
        error: ValueError,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Protocol(message) => {
                write!(f, "malformed TDS response from SQL Server: {message}")
            }
            DecodeError::Unsupported(message) => write!(f, "{message}"),
            DecodeError::ColumnCount { received, expected } => write!(
                f,
                "SQL Server returned {received} columns where {expected} were expected"
            ),
            DecodeError::Value {
                column,
                row_key: Some(key),
                error,
            } => write!(f, "row ({key}), result column {}: {error}", column + 1),
            DecodeError::Value {
                column,
                row_key: None,
                error,
            } => write!(f, "result column {}: {error}", column + 1),
        }
    }
}

impl std::error::Error for DecodeError {}

impl RowDecoder {
    /// A decoder for a query whose result columns are written as `targets` (in SELECT order),
    /// naming a failing row by the columns at positions `key`, applying `nul` to text.
    pub fn new(targets: Vec<FieldEncoding>, key: Vec<usize>, nul: NulPolicy) -> RowDecoder {
        RowDecoder {
            targets,
            key,
            nul,
            columns: None,
            spans: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The names of the current result set's columns (none before its COLMETADATA).
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .flatten()
            .map(|column| column.name.as_str())
    }

    /// Decodes the token at the start of `input`. Never consumes part of a token: when
    /// `input` does not hold all of it (for ROW/NBCROW: the whole row), returns
    /// [`Step::NeedMore`] with a lower bound on the input length the token needs, as far as
    /// the decoder could see (a known PLP length counts whole). A row is in `encoder` after
    /// the call only when it was complete and every value was written: one cut short, or with
    /// a value that fails, is abandoned.
    pub fn next(&mut self, input: &[u8], encoder: &mut CopyEncoder) -> Result<Step, DecodeError> {
        let Some(&token_type) = input.first() else {
            return Ok(Step::NeedMore { at_least: 1 });
        };
        // Rows first, and without the general token result: they are nearly all tokens.
        if token_type == token::ROW || token_type == token::NBCROW {
            return match self.row(input, token_type == token::NBCROW, encoder) {
                Ok(consumed) => Ok(Step::Token {
                    consumed,
                    token: Token::Row,
                }),
                Err(Stop::Short(at_least)) => Ok(Step::NeedMore { at_least }),
                Err(Stop::Fail(error)) => Err(error),
            };
        }
        let decoded = match token_type {
            token::COLMETADATA => self.columns(input),
            token::DONE => tokens::done(input, DoneKind::Done),
            token::DONEPROC => tokens::done(input, DoneKind::Proc),
            token::DONEINPROC => tokens::done(input, DoneKind::InProc),
            token::ERROR => messages::message(input, MessageKind::Error),
            token::INFO => messages::message(input, MessageKind::Info),
            token::ENVCHANGE => tokens::env_change(input),
            token::LOGINACK => tokens::login_ack(input),
            token::FEATUREEXTACK => tokens::feature_ext_ack(input),
            token::RETURN_STATUS => tokens::return_status(input),
            token::ORDER | token::COLINFO | token::TABNAME | token::SSPI => tokens::skipped(input),
            token::RETURNVALUE => Err(malformed(
                "RETURNVALUE token (an output parameter), which this decoder does not read",
            )),
            other => Err(malformed(format!("unknown token type 0x{other:02X}"))),
        };
        match decoded {
            Ok((consumed, token)) => Ok(Step::Token { consumed, token }),
            Err(Stop::Short(at_least)) => Ok(Step::NeedMore { at_least }),
            Err(Stop::Fail(error)) => Err(error),
        }
    }

    fn columns(&mut self, input: &[u8]) -> Result<(usize, Token), Stop> {
        let (consumed, columns) = metadata::read_columns(input, &self.targets, self.nul)?;
        self.columns = Some(columns);
        Ok((consumed, Token::Columns))
    }

    /// Writes the ROW or NBCROW at the start of `input`; returns its length.
    #[inline]
    fn row(&mut self, input: &[u8], nbc: bool, encoder: &mut CopyEncoder) -> Result<usize, Stop> {
        let Some(columns) = self.columns.as_deref() else {
            return Err(malformed("a row before any COLMETADATA"));
        };
        match row::write_row(columns, input, nbc, encoder, &mut self.scratch) {
            Ok(end) => Ok(end),
            Err(stop) => {
                encoder.abandon_row();
                Err(row_stopped(
                    columns,
                    &self.key,
                    input,
                    nbc,
                    &mut self.spans,
                    stop,
                ))
            }
        }
    }
}

/// What a row that could not be written says (cold path): measured by its length prefixes,
/// it needs more input, is malformed, or is whole and has a value that failed.
#[cold]
fn row_stopped(
    columns: &[Column],
    key: &[usize],
    input: &[u8],
    nbc: bool,
    spans: &mut Vec<row::Span>,
    stop: row::RowStop,
) -> Stop {
    let end = match row::measure(columns, input, nbc, spans) {
        Ok(end) => end,
        Err(Stop::Fail(DecodeError::Value {
            column,
            row_key: None,
            error,
        })) => {
            // A value refused from its length before the rest of the row arrived: the row is
            // named by its key only when all key values come before that value.
            let row_key = key
                .iter()
                .all(|&k| k < column)
                .then(|| describe::row_key(columns, key, spans, input))
                .flatten();
            return Stop::Fail(DecodeError::Value {
                column,
                row_key,
                error,
            });
        }
        Err(stop) => return stop,
    };
    match (stop, input.get(..end)) {
        (row::RowStop::Fault { column, fault }, Some(row)) => {
            Stop::Fail(row_error(columns, key, spans, row, column, fault))
        }
        _ => malformed("a row whose length prefixes do not match its values"),
    }
}

/// The error for a whole row whose value failed.
fn row_error(
    columns: &[Column],
    key: &[usize],
    spans: &[row::Span],
    row: &[u8],
    column: usize,
    fault: types::Fault,
) -> DecodeError {
    match fault {
        types::Fault::Value(ValueError::Encode(EncodeError::WrongFieldCount {
            expected,
            written,
        })) => DecodeError::ColumnCount {
            received: usize::from(written),
            expected: usize::from(expected),
        },
        types::Fault::Value(error) => DecodeError::Value {
            column,
            row_key: describe::row_key(columns, key, spans, row),
            error,
        },
        types::Fault::Protocol(message) => {
            let name = columns.get(column).map_or("", |c| c.name.as_str());
            DecodeError::Protocol(format!("column {} (\"{name}\"): {message}", column + 1))
        }
    }
}
