//! What a network thread sends the main thread during a pull.

use crate::error::PgmigError;
use pgmig_core::typemap::SourceColumn;
use std::sync::{Arc, Mutex};

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
    /// The one value of a one-value query, as text (`None`: NULL or no row).
    Text(Option<String>),
    /// Something worth a DEBUG1 line (which reader read the rows, and why).
    Note(String),
}

/// COPY chunk buffers on their way back from the main thread to the network thread, so that a
/// pull reuses a handful of buffers instead of allocating one per chunk. Without it, malloc keeps
/// the freed chunks around and the backend's memory creeps up with the first ~200K rows.
#[derive(Clone, Default)]
pub struct ChunkPool {
    free: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Buffers kept at most: more than the pipeline ever holds at once.
    keep: usize,
}

impl ChunkPool {
    pub fn new(keep: usize) -> ChunkPool {
        ChunkPool {
            free: Arc::default(),
            keep,
        }
    }

    /// An empty buffer: a returned one when there is one, else a new one of `capacity`.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = self
            .free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        reused.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// Hands a consumed buffer back for reuse.
    pub fn give(&self, mut chunk: Vec<u8>) {
        if chunk.capacity() == 0 {
            return;
        }
        chunk.clear();
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if free.len() < self.keep {
            free.push(chunk);
        }
    }

    /// Buffers waiting for reuse.
    #[cfg(test)]
    fn pooled(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::ChunkPool;

    #[test]
    fn chunk_pool_reuses_buffers_and_keeps_a_bounded_number() {
        let pool = ChunkPool::new(2);
        let mut first = pool.take(1024);
        first.extend_from_slice(b"abc");
        let address = first.as_ptr();
        pool.give(first);
        let again = pool.take(1024);
        assert_eq!(again.as_ptr(), address, "the returned buffer is reused");
        assert!(again.is_empty());
        assert!(again.capacity() >= 1024);
        for _ in 0..5 {
            pool.give(Vec::with_capacity(16));
        }
        assert_eq!(pool.pooled(), 2);
        pool.give(Vec::new());
        assert_eq!(pool.pooled(), 2, "empty vectors are not worth keeping");
    }
}
