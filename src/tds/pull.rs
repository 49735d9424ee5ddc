//! A pull's network side: one TDS connection on a network thread that answers the main
//! thread's requests in turn: describe the source table, then stream its rows encoded as
//! binary COPY batches.

use super::encode::{describe_value, put_value, ValueError};
use super::{connect, ChunkPool, ConnectParams, NetworkTask, StreamMessage};
use crate::error::{PgmigError, Result};
use futures::TryStreamExt;
use pgmig_core::copy_binary::{CopyEncoder, NulPolicy};
use pgmig_core::plan::FieldEncoding;
use pgmig_core::sqlgen::TSQL_DESCRIBE_COLUMNS;
use pgmig_core::typemap::SourceColumn;
use std::sync::mpsc::SyncSender;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Size of one COPY chunk handed to the main thread: large enough that channel hand-offs cost
/// nothing per row (COPY reads 64 KB at a time anyway), small enough that the whole pipeline
/// (the channel's chunks, one being filled, one being read: ~2 MB) is reached within the first
/// few MB of any table, so memory does not grow with the table after that. With 1 MB chunks
/// the pipeline was ~7.5 MB and a 100K-row narrow table (5 MB) never filled it.
const CHUNK_BYTES: usize = 256 << 10;
/// Chunks in flight between the threads: the network thread may run this far ahead of COPY.
const CHANNEL_CHUNKS: usize = 4;
/// A chunk is sent once it holds CHUNK_BYTES; the slack keeps the row that crosses the mark
/// from reallocating it.
const CHUNK_CAPACITY: usize = CHUNK_BYTES + CHUNK_BYTES / 4;

/// What the main thread asks of the network thread.
pub enum PullRequest {
    Describe { schema: String, table: String },
    Stream(StreamPlan),
}

/// How to read and encode a source table.
pub struct StreamPlan {
    /// The T-SQL SELECT.
    pub sql: String,
    /// Per column read, in SELECT order.
    pub encodings: Vec<FieldEncoding>,
    /// Source column names, for messages.
    pub column_names: Vec<String>,
    /// Positions of the key columns, to name a failing row.
    pub key: Vec<usize>,
    /// Rows per batch (each batch is a COPY of its own).
    pub batch_rows: u64,
    pub nul: NulPolicy,
}

/// The main thread's handle on a pull's connection.
pub struct PullSession {
    task: NetworkTask<StreamMessage>,
    requests: UnboundedSender<PullRequest>,
    pool: ChunkPool,
}

impl PullSession {
    /// Starts the network thread; it connects at once, and a connect error is the answer to
    /// the first request.
    pub fn open(params: ConnectParams) -> Result<PullSession> {
        let (requests, incoming) = unbounded_channel();
        // The channel's chunks, the one being filled and the one COPY reads.
        let pool = ChunkPool::new(CHANNEL_CHUNKS + 2);
        let network_pool = pool.clone();
        let task = NetworkTask::spawn("pgmig pull", CHANNEL_CHUNKS, move |out| {
            serve(params, incoming, out, network_pool)
        })?;
        Ok(PullSession {
            task,
            requests,
            pool,
        })
    }

    fn request(&mut self, request: PullRequest) -> Result<()> {
        self.requests
            .send(request)
            .map_err(|_| PgmigError::Internal("the network thread has ended".into()))
    }

    /// The source table's columns (empty when there is no such table or view).
    pub fn describe(
        &mut self,
        schema: &str,
        table: &str,
        check_interrupts: &mut dyn FnMut(),
    ) -> Result<Vec<SourceColumn>> {
        self.request(PullRequest::Describe {
            schema: schema.to_string(),
            table: table.to_string(),
        })?;
        match self.task.recv(check_interrupts) {
            Some(StreamMessage::Columns(columns)) => Ok(columns),
            Some(StreamMessage::Failed(error)) => Err(error),
            Some(_) => Err(PgmigError::Internal("unexpected answer to describe".into())),
            None => Err(PgmigError::Internal(
                "the network thread ended without describing the table".into(),
            )),
        }
    }

    /// Starts streaming; read the batches with a `ChannelSource` on [`PullSession::task`].
    pub fn start_stream(&mut self, plan: StreamPlan) -> Result<()> {
        self.request(PullRequest::Stream(plan))
    }

    pub fn task(&mut self) -> &mut NetworkTask<StreamMessage> {
        &mut self.task
    }

    /// Where the main thread returns consumed chunks.
    pub fn pool(&self) -> ChunkPool {
        self.pool.clone()
    }
}

/// The network thread's body: connect, then answer requests until the main thread hangs up.
async fn serve(
    params: ConnectParams,
    mut requests: UnboundedReceiver<PullRequest>,
    out: SyncSender<StreamMessage>,
    pool: ChunkPool,
) {
    let mut client = match connect(&params).await {
        Ok(client) => client,
        Err(error) => {
            let _ = out.send(StreamMessage::Failed(error));
            return;
        }
    };
    while let Some(request) = requests.recv().await {
        let answered = match request {
            PullRequest::Describe { schema, table } => {
                let message = match describe(&mut client, &params, &schema, &table).await {
                    Ok(columns) => StreamMessage::Columns(columns),
                    Err(error) => StreamMessage::Failed(error),
                };
                out.send(message).is_ok()
            }
            PullRequest::Stream(plan) => {
                match stream(&mut client, &params, &plan, &out, &pool).await {
                    Ok(()) => true,
                    Err(error) => {
                        // A closed channel means the main thread stopped listening: nothing to tell.
                        let _ = out.send(StreamMessage::Failed(error));
                        false
                    }
                }
            }
        };
        if !answered {
            return;
        }
    }
    // A clean close tells SQL Server the session ended; a failure here changes nothing.
    let _ = client.close().await;
}

async fn describe(
    client: &mut super::connect::TdsClient,
    params: &ConnectParams,
    schema: &str,
    table: &str,
) -> Result<Vec<SourceColumn>> {
    let rows = client
        .query(TSQL_DESCRIBE_COLUMNS, &[&schema, &table])
        .await
        .map_err(|e| params.query_error(e))?
        .into_first_result()
        .await
        .map_err(|e| params.query_error(e))?;
    rows.iter().map(|row| source_column(row, params)).collect()
}

fn source_column(row: &tiberius::Row, params: &ConnectParams) -> Result<SourceColumn> {
    let text = |i: usize| -> Result<Option<String>> {
        row.try_get::<&str, _>(i)
            .map(|v| v.map(str::to_owned))
            .map_err(|e| params.query_error(e))
    };
    let tiny = |i: usize| -> Result<Option<u8>> {
        row.try_get::<u8, _>(i).map_err(|e| params.query_error(e))
    };
    let bit = |i: usize| -> Result<bool> {
        Ok(row
            .try_get::<bool, _>(i)
            .map_err(|e| params.query_error(e))?
            .unwrap_or(false))
    };
    let required = |value: Option<String>, what: &str| {
        value.ok_or_else(|| PgmigError::Protocol(format!("sys.columns gave no {what}")))
    };
    Ok(SourceColumn {
        name: required(text(0)?, "column name")?,
        type_name: required(text(1)?, "type name")?,
        base_type_name: text(2)?,
        max_length: row
            .try_get::<i16, _>(3)
            .map_err(|e| params.query_error(e))?
            .unwrap_or(0),
        precision: tiny(4)?.unwrap_or(0),
        scale: tiny(5)?.unwrap_or(0),
        is_nullable: bit(6)?,
        is_identity: bit(7)?,
        is_computed: bit(8)?,
        collation_name: text(9)?,
        primary_key_ordinal: tiny(10)?,
    })
}

/// Runs the SELECT and sends its rows as binary COPY batches.
async fn stream(
    client: &mut super::connect::TdsClient,
    params: &ConnectParams,
    plan: &StreamPlan,
    out: &SyncSender<StreamMessage>,
    pool: &ChunkPool,
) -> Result<()> {
    let closed = || PgmigError::Internal("the main thread stopped reading".into());
    let mut rows = client
        .simple_query(&plan.sql)
        .await
        .map_err(|e| params.query_error(e))?
        .into_row_stream();
    let fields = plan.encodings.len();
    let mut encoder = CopyEncoder::with_buffer(fields, pool.take(CHUNK_CAPACITY))
        .map_err(|e| PgmigError::Internal(e.to_string()))?;
    encoder.write_header();
    let batch_rows = plan.batch_rows.max(1);
    let mut in_batch: u64 = 0;
    let mut total: u64 = 0;
    let send = |encoder: &mut CopyEncoder, total: u64| {
        let chunk = encoder.swap_buffer(pool.take(CHUNK_CAPACITY));
        out.send(StreamMessage::Data { chunk, rows: total })
            .map_err(|_| closed())
    };
    while let Some(row) = rows.try_next().await.map_err(|e| params.query_error(e))? {
        if in_batch == batch_rows {
            encoder.write_trailer();
            send(&mut encoder, total)?;
            out.send(StreamMessage::End {
                rows: in_batch,
                last: false,
            })
            .map_err(|_| closed())?;
            encoder.write_header();
            in_batch = 0;
        }
        if row.len() != fields {
            return Err(PgmigError::Protocol(format!(
                "SQL Server sent {} columns, {fields} were asked for",
                row.len()
            )));
        }
        encoder.begin_row();
        for (i, (_, data)) in row.cells().enumerate() {
            if let Err(error) = put_value(&mut encoder, data, plan.encodings[i], plan.nul) {
                return Err(value_error(plan, &row, total + 1, i, error));
            }
        }
        encoder
            .end_row()
            .map_err(|e| PgmigError::Internal(e.to_string()))?;
        in_batch += 1;
        total += 1;
        if encoder.len() >= CHUNK_BYTES {
            send(&mut encoder, total)?;
        }
    }
    encoder.write_trailer();
    send(&mut encoder, total)?;
    out.send(StreamMessage::End {
        rows: in_batch,
        last: true,
    })
    .map_err(|_| closed())
}

/// A value that cannot be loaded, naming its column and its row by key (or by position).
fn value_error(
    plan: &StreamPlan,
    row: &tiberius::Row,
    row_number: u64,
    column: usize,
    error: ValueError,
) -> PgmigError {
    let cells: Vec<&tiberius::ColumnData<'static>> = row.cells().map(|(_, data)| data).collect();
    let row_key = if plan.key.is_empty() {
        None
    } else {
        let parts: Vec<String> = plan
            .key
            .iter()
            .filter_map(|&k| {
                let data = cells.get(k)?;
                Some(format!(
                    "{} = {}",
                    plan.column_names[k],
                    describe_value(data)
                ))
            })
            .collect();
        Some(parts.join(", "))
    };
    PgmigError::Value {
        column: plan.column_names.get(column).cloned().unwrap_or_default(),
        row_key,
        row_number,
        error,
    }
}
