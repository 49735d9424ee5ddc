//! What a network thread sends the main thread during a pull.

use crate::error::PgmigError;
use pgmig_core::typemap::SourceColumn;

/// One message from a pull's network thread. A describe is answered by `Columns` or `Failed`;
/// a stream by batches, each `Data`* then `End`, the last with `last: true`, or by `Failed`
/// at any point.
pub enum StreamMessage {
    /// The source table's columns, in table order (empty: no such table or view).
    Columns(Vec<SourceColumn>),
    /// Binary COPY bytes of the current batch: its header first, then whole or partial tuples.
    /// `rows` counts the rows of the whole stream encoded so far (for progress reports).
    Data { chunk: Vec<u8>, rows: u64 },
    /// The batch is complete (trailer written) and holds `rows` rows; `last`: the stream too.
    End { rows: u64, last: bool },
    /// The source failed; the statement must fail with this error.
    Failed(PgmigError),
}
