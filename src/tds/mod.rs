//! The network side. Everything here runs on, or talks to, a thread of its own that never
//! calls PostgreSQL: it exchanges plain Rust values with the backend's main thread over a
//! bounded channel (see `thread.rs`). No pgrx in this module except through `crate::error`.

mod connect;
mod encode;
mod native;
mod pull;
mod stream;
mod thread;

pub use connect::{connect, ConnectParams};
pub use encode::ValueError;
pub use pull::{PullSession, RowReader, StreamPlan, CHANNEL_CHUNKS, CHUNK_BYTES};
pub use stream::{ChunkPool, StreamMessage};
pub use thread::NetworkTask;

use crate::error::Result;

/// `SELECT @@VERSION` over a fresh connection: the cheapest proof that host, TLS and login work.
pub fn ping(params: ConnectParams, check_interrupts: &mut dyn FnMut()) -> Result<String> {
    let mut task = NetworkTask::spawn("pgmig ping", 1, move |results| async move {
        let outcome = async {
            let mut client = connect(&params).await?;
            let stream = client
                .simple_query("SELECT @@VERSION")
                .await
                .map_err(|e| params.query_error(e))?;
            let row = stream.into_row().await.map_err(|e| params.query_error(e))?;
            let version = row.and_then(|row| row.get::<&str, _>(0).map(str::to_owned));
            // A clean close tells SQL Server the session ended; a failure here changes nothing.
            let _ = client.close().await;
            Ok(version.unwrap_or_default())
        }
        .await;
        // The receiver is gone only if the statement was cancelled: nobody waits for it.
        let _ = results.send(outcome);
    })?;
    task.recv(check_interrupts).unwrap_or_else(|| {
        Err(crate::error::PgmigError::Internal(
            "the ping thread ended without an answer".into(),
        ))
    })
}
