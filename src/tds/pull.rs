//! A pull's network side: one TDS connection on a network thread that answers the main
//! thread's requests in turn: describe the source table, then stream its rows encoded as
//! binary COPY batches.

use super::encode::{describe_value, put_value, ValueError};
use super::native::{done_has_more, NativeConnection, Response};
use super::{connect, ChunkPool, ConnectParams, NetworkTask, StreamMessage};
use crate::error::{PgmigError, Result};
use futures::TryStreamExt;
use pgmig_core::copy_binary::{CopyEncoder, NulPolicy};
use pgmig_core::plan::FieldEncoding;
use pgmig_core::sqlgen::TSQL_DESCRIBE_COLUMNS;
use pgmig_core::tds_rows::{
    check_result_set_end, token, DecodeError, RowDecoder, ServerMessage, Token,
};
use pgmig_core::typemap::SourceColumn;
use std::sync::mpsc::SyncSender;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Size of one COPY chunk handed to the main thread: large enough that channel hand-offs cost
/// nothing per row (COPY reads 64 KB at a time anyway), small enough that the whole pipeline
/// (the channel's chunks, one being filled, one being read: ~2 MB) is reached within the first
/// few MB of any table, so memory does not grow with the table after that. With 1 MB chunks
/// the pipeline was ~7.5 MB and a 100K-row narrow table (5 MB) never filled it.
pub const CHUNK_BYTES: usize = 256 << 10;
/// Chunks in flight between the threads: the network thread may run this far ahead of COPY.
pub const CHANNEL_CHUNKS: usize = 4;
/// A chunk is sent once it holds CHUNK_BYTES; the slack keeps the row that crosses the mark
/// from reallocating it.
const CHUNK_CAPACITY: usize = CHUNK_BYTES + CHUNK_BYTES / 4;

/// What the main thread asks of the network thread.
pub enum PullRequest {
    Describe {
        schema: String,
        table: String,
    },
    /// A query of one nvarchar value (a watermark's high mark).
    Text {
        sql: String,
    },
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
    pub reader: RowReader,
}

/// What reads a stream's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowReader {
    /// pgmig's own TDS connection and token decoder (`native/`), which writes COPY tuples
    /// straight from the packets. A result set with a column type it does not read (text,
    /// ntext, image, a collation it cannot map) is read with tiberius instead.
    Native,
    /// tiberius, on the connection that described the table.
    Tiberius,
}

/// How a native read ended.
enum NativeOutcome {
    Streamed,
    /// The result set has a column the native decoder does not read (the reason says which);
    /// nothing was sent to the main thread yet.
    Unsupported(String),
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
        let request = PullRequest::Describe {
            schema: schema.to_string(),
            table: table.to_string(),
        };
        match self.ask(request, "describe", check_interrupts)? {
            StreamMessage::Columns(columns) => Ok(columns),
            _ => Err(PgmigError::Internal("unexpected answer to describe".into())),
        }
    }

    /// The value of a query that returns one nvarchar value (`None`: NULL or no row).
    pub fn query_text(
        &mut self,
        sql: &str,
        check_interrupts: &mut dyn FnMut(),
    ) -> Result<Option<String>> {
        let request = PullRequest::Text {
            sql: sql.to_string(),
        };
        match self.ask(request, "a query", check_interrupts)? {
            StreamMessage::Text(value) => Ok(value),
            _ => Err(PgmigError::Internal("unexpected answer to a query".into())),
        }
    }

    /// Sends a request that has one answer and waits for it; a failure is the error.
    fn ask(
        &mut self,
        request: PullRequest,
        what: &str,
        check_interrupts: &mut dyn FnMut(),
    ) -> Result<StreamMessage> {
        self.request(request)?;
        match self.task.recv(check_interrupts) {
            Some(StreamMessage::Failed(error)) => Err(error),
            Some(answer) => Ok(answer),
            None => Err(PgmigError::Internal(format!(
                "the network thread ended without answering {what}"
            ))),
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
    // Opened by the first native stream and kept for the next.
    let mut native: Option<NativeConnection> = None;
    while let Some(request) = requests.recv().await {
        let answered = match request {
            PullRequest::Describe { schema, table } => {
                let message = match describe(&mut client, &params, &schema, &table).await {
                    Ok(columns) => StreamMessage::Columns(columns),
                    Err(error) => StreamMessage::Failed(error),
                };
                out.send(message).is_ok()
            }
            PullRequest::Text { sql } => {
                let message = match query_text(&mut client, &params, &sql).await {
                    Ok(value) => StreamMessage::Text(value),
                    Err(error) => StreamMessage::Failed(error),
                };
                out.send(message).is_ok()
            }
            PullRequest::Stream(plan) => {
                let streamed = match plan.reader {
                    RowReader::Native => {
                        match stream_native(&mut native, &params, &plan, &out, &pool).await {
                            Ok(NativeOutcome::Streamed) => Ok(()),
                            Ok(NativeOutcome::Unsupported(reason)) => {
                                // The connection is mid-response: drop it, read with tiberius.
                                native = None;
                                let note = format!("rows read with tiberius: {reason}");
                                // A closed channel shows at the stream's first send.
                                let _ = out.send(StreamMessage::Note(note));
                                stream(&mut client, &params, &plan, &out, &pool).await
                            }
                            Err(error) => Err(error),
                        }
                    }
                    RowReader::Tiberius => stream(&mut client, &params, &plan, &out, &pool).await,
                };
                match streamed {
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

async fn query_text(
    client: &mut super::connect::TdsClient,
    params: &ConnectParams,
    sql: &str,
) -> Result<Option<String>> {
    let row = client
        .simple_query(sql)
        .await
        .map_err(|e| params.query_error(e))?
        .into_row()
        .await
        .map_err(|e| params.query_error(e))?;
    match row {
        Some(row) => row
            .try_get::<&str, _>(0)
            .map(|v| v.map(str::to_owned))
            .map_err(|e| params.query_error(e)),
        None => Ok(None),
    }
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

/// A stream's COPY data on its way to the main thread: the encoder's buffer goes out whenever
/// it holds CHUNK_BYTES, and every `batch_rows` rows the batch is closed (trailer, `End`) and
/// the next one begun. Both readers feed rows through it.
struct BatchSender<'a> {
    encoder: CopyEncoder,
    out: &'a SyncSender<StreamMessage>,
    pool: &'a ChunkPool,
    batch_rows: u64,
    in_batch: u64,
    total: u64,
}

impl<'a> BatchSender<'a> {
    fn new(
        plan: &StreamPlan,
        out: &'a SyncSender<StreamMessage>,
        pool: &'a ChunkPool,
    ) -> Result<BatchSender<'a>> {
        let encoder = CopyEncoder::with_buffer(plan.encodings.len(), pool.take(CHUNK_CAPACITY))
            .map_err(|e| PgmigError::Internal(e.to_string()))?;
        Ok(BatchSender {
            encoder,
            out,
            pool,
            batch_rows: plan.batch_rows.max(1),
            in_batch: 0,
            total: 0,
        })
    }

    fn send(&self, message: StreamMessage) -> Result<()> {
        self.out
            .send(message)
            .map_err(|_| PgmigError::Internal("the main thread stopped reading".into()))
    }

    fn send_chunk(&mut self) -> Result<()> {
        let chunk = self.encoder.swap_buffer(self.pool.take(CHUNK_CAPACITY));
        self.send(StreamMessage::Data {
            chunk,
            rows: self.total,
        })
    }

    /// Begins the first batch, once the result set's columns are known.
    fn begin(&mut self) {
        self.encoder.write_header();
    }

    /// Closes the current batch if it is full; called before a row is written, so that the
    /// last batch is never empty.
    fn before_row(&mut self) -> Result<()> {
        if self.in_batch == self.batch_rows {
            self.encoder.write_trailer();
            self.send_chunk()?;
            self.send(StreamMessage::End {
                rows: self.in_batch,
                last: false,
            })?;
            self.encoder.write_header();
            self.in_batch = 0;
        }
        Ok(())
    }

    /// Counts the row just written into the encoder.
    fn row_written(&mut self) -> Result<()> {
        self.in_batch += 1;
        self.total += 1;
        if self.encoder.len() >= CHUNK_BYTES {
            self.send_chunk()?;
        }
        Ok(())
    }

    /// Ends the last batch and the stream.
    fn finish(mut self) -> Result<()> {
        self.encoder.write_trailer();
        self.send_chunk()?;
        self.send(StreamMessage::End {
            rows: self.in_batch,
            last: true,
        })
    }
}

/// Runs the SELECT and sends its rows as binary COPY batches.
async fn stream(
    client: &mut super::connect::TdsClient,
    params: &ConnectParams,
    plan: &StreamPlan,
    out: &SyncSender<StreamMessage>,
    pool: &ChunkPool,
) -> Result<()> {
    let mut rows = client
        .simple_query(&plan.sql)
        .await
        .map_err(|e| params.query_error(e))?
        .into_row_stream();
    let fields = plan.encodings.len();
    let mut batches = BatchSender::new(plan, out, pool)?;
    batches.begin();
    while let Some(row) = rows.try_next().await.map_err(|e| params.query_error(e))? {
        batches.before_row()?;
        if row.len() != fields {
            return Err(PgmigError::Protocol(format!(
                "SQL Server sent {} columns, {fields} were asked for",
                row.len()
            )));
        }
        let encoder = &mut batches.encoder;
        encoder.begin_row();
        for (i, (_, data)) in row.cells().enumerate() {
            if let Err(error) = put_value(encoder, data, plan.encodings[i], plan.nul) {
                return Err(value_error(plan, &row, batches.total + 1, i, error));
            }
        }
        encoder
            .end_row()
            .map_err(|e| PgmigError::Internal(e.to_string()))?;
        batches.row_written()?;
    }
    batches.finish()
}

/// Runs the SELECT on pgmig's own connection (opened on first use) and sends its rows as binary
/// COPY batches, exactly as [`stream`] does.
async fn stream_native(
    native: &mut Option<NativeConnection>,
    params: &ConnectParams,
    plan: &StreamPlan,
    out: &SyncSender<StreamMessage>,
    pool: &ChunkPool,
) -> Result<NativeOutcome> {
    /// ROW and NBCROW token types: the next token starts a row.
    const ROW_TOKENS: [u8; 2] = [token::ROW, token::NBCROW];
    let connection = match native {
        Some(connection) => connection,
        None => native.insert(NativeConnection::connect(params).await?),
    };
    connection.send_batch(&plan.sql).await?;
    let mut decoder = RowDecoder::new(plan.encodings.clone(), plan.key.clone(), plan.nul);
    let mut response = Response::default();
    let mut batches = BatchSender::new(plan, out, pool)?;

    // Up to the column metadata nothing is sent: an unsupported column can still fall back.
    loop {
        match response
            .next_token(connection, &mut decoder, &mut batches.encoder)
            .await?
        {
            Ok(Token::Columns) => break,
            Ok(Token::Message(message)) if message.is_error() => {
                return Err(server_failure(connection, &message))
            }
            Ok(Token::Done { status, .. }) if !done_has_more(status) => {
                return Err(PgmigError::Protocol(
                    "the SELECT returned no result set".into(),
                ))
            }
            Ok(_) => {}
            Err(DecodeError::Unsupported(reason)) => return Ok(NativeOutcome::Unsupported(reason)),
            Err(error) => return Err(decode_failure(plan, error, 1)),
        }
    }

    batches.begin();
    // The first DONE after the rows is the SELECT's own, with its row count; any later one
    // belongs to a statement after it. The stream is complete at the final DONE, and only if
    // every DONE from the SELECT's on is clean (an ERROR token before one fails the pull with
    // SQL Server's own error first).
    let mut result_set_ended = false;
    loop {
        // The decoder writes a row as it reads it: a full batch is closed when the next
        // token is a row.
        if batches.in_batch == batches.batch_rows
            && !result_set_ended
            && ROW_TOKENS.contains(&response.peek(connection).await?)
        {
            batches.before_row()?;
        }
        match response
            .next_token(connection, &mut decoder, &mut batches.encoder)
            .await?
        {
            Ok(Token::Row) if !result_set_ended => batches.row_written()?,
            Ok(Token::Message(message)) if message.is_error() => {
                return Err(server_failure(connection, &message))
            }
            Ok(Token::Done {
                status, row_count, ..
            }) => {
                let row_count = if result_set_ended { None } else { row_count };
                check_result_set_end(status, row_count, batches.total)
                    .map_err(PgmigError::Protocol)?;
                result_set_ended = true;
                if !done_has_more(status) {
                    break;
                }
            }
            Ok(Token::Columns) => {
                return Err(PgmigError::Protocol(
                    "the SELECT returned a second result set".into(),
                ))
            }
            Ok(Token::Row) => {
                return Err(PgmigError::Protocol(
                    "SQL Server sent rows after the end of the result set".into(),
                ))
            }
            Ok(_) => {}
            Err(error) => return Err(decode_failure(plan, error, batches.total + 1)),
        }
    }
    batches.finish()?;
    Ok(NativeOutcome::Streamed)
}

/// An ERROR token from SQL Server, as pgmig reports it.
fn server_failure(connection: &NativeConnection, message: &ServerMessage) -> PgmigError {
    PgmigError::Server(Box::new(connection.server_error(message)))
}

/// A decoder error as pgmig reports it; `row_number` is the 1-based row being read.
fn decode_failure(plan: &StreamPlan, error: DecodeError, row_number: u64) -> PgmigError {
    match error {
        DecodeError::Value {
            column,
            row_key,
            error,
        } => PgmigError::Value {
            column: plan.column_names.get(column).cloned().unwrap_or_default(),
            row_key,
            row_number,
            error,
        },
        DecodeError::ColumnCount { received, expected } => PgmigError::Protocol(format!(
            "SQL Server sent {received} columns, {expected} were asked for"
        )),
        DecodeError::Protocol(reason) | DecodeError::Unsupported(reason) => {
            PgmigError::Protocol(reason)
        }
    }
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
