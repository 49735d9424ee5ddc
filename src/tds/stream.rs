//! What a network thread sends the main thread while it streams a result into COPY.

use crate::error::PgmigError;

/// One message of a COPY stream, in order: `Data`* then exactly one `End` or `Failed`.
pub enum StreamMessage {
    /// Binary COPY bytes: the header first, then whole or partial tuples.
    Data(Vec<u8>),
    /// The source sent all its rows and the trailer was written.
    End { rows: u64 },
    /// The source failed; the statement must fail with this error.
    Failed(PgmigError),
}
