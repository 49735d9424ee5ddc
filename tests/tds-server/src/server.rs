//! The listener, one thread per connection, and the public in-process API.
//!
//! Thread-per-connection with blocking std I/O: a session is sequential by nature (TDS
//! without MARS), the engine is synchronous, and a blocking writer that encodes rows into
//! one reusable packet buffer streams well over a million narrow rows per second per core.
//! While a response streams, the socket is polled (no wait) between packets for an
//! ATTENTION from the client.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::engine::{self, Engine};
use crate::faults::Faults;
use crate::types::{Collation, ResultSet, RowSource, RpcParam, SqlError, StatementOutcome, Value};
use crate::wire::decode::{self, TransactionRequest};
use crate::wire::encode::{self, ColumnPlan};
use crate::wire::login7::{self, Login7};
use crate::wire::packet::{self, kind, status, Message, PacketSink, PacketWriter};
use crate::wire::prelogin::{self, Negotiated};
use crate::wire::tokens::{self, cur_cmd, done, env, token};
use crate::wire::transport::{self, TlsSetup, Transport};
use crate::wire::ProtocolError;

/// How the server is started.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Port 0 picks a free port; `RunningServer::addr()` tells which.
    pub listen: SocketAddr,
    /// The one SQL login the server accepts.
    pub user: String,
    pub password: String,
    /// SQL Server's "Force Encryption": refuse clients that cannot do TLS, encrypt
    /// everything for the others.
    pub force_encryption: bool,
    /// T-SQL run at start (batches separated by GO lines).
    pub seed_sql: Option<String>,
    /// Generated benchmark tables, e.g. "posts=1000000,votes=5000000".
    pub generate: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            user: "pgmig".to_string(),
            password: "pgmig-Test-1".to_string(),
            force_encryption: false,
            seed_sql: None,
            generate: None,
        }
    }
}

/// Why the server did not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// What executes requests for a session. The SQL engine in production; wire tests plug in
/// canned result sets to test encoding without depending on the engine.
pub trait Backend: Send + Sync + 'static {
    fn open_session(
        &self,
        login: &str,
        database: Option<&str>,
    ) -> Result<Box<dyn BackendSession>, SqlError>;
}

pub trait BackendSession {
    fn database(&self) -> &str;
    fn execute_batch(&mut self, sql: &str) -> Vec<StatementOutcome>;
    fn execute_rpc(&mut self, proc_name: &str, params: Vec<RpcParam>) -> Vec<StatementOutcome>;
}

impl Backend for Engine {
    fn open_session(
        &self,
        login: &str,
        database: Option<&str>,
    ) -> Result<Box<dyn BackendSession>, SqlError> {
        Ok(Box::new(Engine::open_session(self, login, database)?))
    }
}

impl BackendSession for engine::Session {
    fn database(&self) -> &str {
        engine::Session::database(self)
    }
    fn execute_batch(&mut self, sql: &str) -> Vec<StatementOutcome> {
        engine::Session::execute_batch(self, sql)
    }
    fn execute_rpc(&mut self, proc_name: &str, params: Vec<RpcParam>) -> Vec<StatementOutcome> {
        engine::Session::execute_rpc(self, proc_name, params)
    }
}

pub struct Server;

impl Server {
    /// Seeds the engine, binds, and starts accepting connections.
    pub fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
        let faults = Arc::new(Faults::new());
        let engine = Engine::new(faults.clone());
        if let Some(sql) = &config.seed_sql {
            engine.run_script(sql).map_err(|e| {
                StartError(format!(
                    "seed script failed: Msg {}, Level {}, State {}, Line {}: {}",
                    e.number, e.class, e.state, e.line, e.message
                ))
            })?;
        }
        if let Some(spec) = &config.generate {
            engine
                .generate(spec)
                .map_err(|e| StartError(format!("--generate {spec}: {e}")))?;
        }
        let backend: Arc<dyn Backend> = Arc::new(engine.clone());
        Self::start_inner(config, faults, engine, backend)
    }

    /// Starts with another backend (wire tests); the engine is created but not used.
    pub fn start_with_backend(
        config: ServerConfig,
        backend: Arc<dyn Backend>,
    ) -> Result<RunningServer, StartError> {
        let faults = Arc::new(Faults::new());
        let engine = Engine::new(faults.clone());
        Self::start_inner(config, faults, engine, backend)
    }

    fn start_inner(
        config: ServerConfig,
        faults: Arc<Faults>,
        engine: Engine,
        backend: Arc<dyn Backend>,
    ) -> Result<RunningServer, StartError> {
        let tls = TlsSetup::self_signed().map_err(StartError)?;
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| StartError(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError(format!("listener address: {e}")))?;
        let shared = Arc::new(Shared {
            config,
            faults: faults.clone(),
            backend,
            tls,
            shutting_down: AtomicBool::new(false),
            connections: Mutex::new(HashMap::new()),
            logins: Mutex::new(Vec::new()),
            next_spid: AtomicU16::new(FIRST_SPID),
            next_connection: AtomicU64::new(1),
        });
        let accept_shared = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("tds-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))
            .map_err(|e| StartError(format!("cannot start the accept thread: {e}")))?;
        Ok(RunningServer {
            addr,
            faults,
            engine,
            shared,
            acceptor: Some(acceptor),
        })
    }
}

/// A started server; shuts down when dropped.
pub struct RunningServer {
    addr: SocketAddr,
    faults: Arc<Faults>,
    engine: Engine,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn faults(&self) -> Arc<Faults> {
        self.faults.clone()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The client interface name (LOGIN7 ibCltIntName, what SQL Server shows as
    /// `sys.dm_exec_sessions.client_interface_name`) of every login accepted so far, in order:
    /// tells tests which client library connected.
    pub fn client_interfaces(&self) -> Vec<String> {
        lock(&self.shared.logins).clone()
    }

    /// Number of client connections currently open.
    pub fn connection_count(&self) -> usize {
        lock(&self.shared.connections).len()
    }

    /// Stops accepting, closes every connection, and waits for the accept thread.
    pub fn shutdown(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        // Wake the blocking accept() with a connection of our own.
        let _ = TcpStream::connect(self.addr);
        let _ = acceptor.join();
        for (_, sock) in lock(&self.shared.connections).drain() {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Row scratch capacity kept between rows; larger buffers (MAX values) are released.
const ROW_BUFFER_KEEP: usize = 1 << 20;

/// Stack of a connection thread: parsing, binding and evaluating a statement recurse over
/// its expressions (nested up to the engine's limit); address space only, pages are touched
/// as used.
const CONNECTION_STACK: usize = 64 << 20;

/// SQL Server numbers user sessions from 51 (1-50 are its own).
const FIRST_SPID: u16 = 51;

struct Shared {
    config: ServerConfig,
    faults: Arc<Faults>,
    backend: Arc<dyn Backend>,
    tls: TlsSetup,
    shutting_down: AtomicBool,
    connections: Mutex<HashMap<u64, TcpStream>>,
    /// Client interface names of the logins accepted so far, in order.
    logins: Mutex<Vec<String>>,
    next_spid: AtomicU16,
    next_connection: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.shutting_down.load(Ordering::SeqCst) {
            break;
        }
        let Ok(sock) = incoming else {
            continue;
        };
        let id = shared.next_connection.fetch_add(1, Ordering::SeqCst);
        let spid = shared.next_spid.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = sock.try_clone() {
            lock(&shared.connections).insert(id, clone);
        }
        let conn_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("tds-spid-{spid}"))
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                if let Err(e) = serve(sock, &conn_shared, spid) {
                    if !is_disconnect(&e) {
                        eprintln!("pgmig-tds-server: spid {spid}: {e}");
                    }
                }
                lock(&conn_shared.connections).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.connections).remove(&id);
        }
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
    )
}

/// The connection's output side: faults, attention detection, the transport.
struct Sink {
    transport: Transport,
    faults: Arc<Faults>,
    /// An ATTENTION arrived while a response was streaming.
    attention: bool,
    /// Bytes the current result may still send before the connection is dropped.
    byte_budget: Option<u64>,
}

impl PacketSink for Sink {
    fn send_packet(&mut self, packet: &[u8], last: bool) -> io::Result<()> {
        if let Some(delay) = self.faults.packet_delay() {
            std::thread::sleep(delay);
        }
        if let Some(budget) = self.byte_budget {
            if packet.len() as u64 >= budget {
                let _ = self.transport.write_all(&packet[..budget as usize]);
                let _ = self.transport.flush();
                return Err(self.drop_connection());
            }
            self.byte_budget = Some(budget - packet.len() as u64);
        }
        self.transport.write_all(packet)?;
        if last || self.transport.is_tls() {
            self.transport.flush()?;
        }
        if !last && !self.attention && self.transport.has_input() {
            self.read_attention()?;
        }
        Ok(())
    }
}

impl Sink {
    /// The client sent something while we stream: only ATTENTION is legal (no MARS).
    fn read_attention(&mut self) -> io::Result<()> {
        match packet::read_message(&mut self.transport, packet::MAX_PACKET_SIZE)? {
            None => Err(io::ErrorKind::UnexpectedEof.into()),
            Some(m) if m.kind == kind::ATTENTION => {
                self.attention = true;
                Ok(())
            }
            Some(m) => Err(ProtocolError(format!(
                "request of type {:#04x} while a response was still streaming",
                m.kind
            ))
            .into()),
        }
    }

    fn drop_connection(&mut self) -> io::Error {
        let _ = self.transport.socket().shutdown(Shutdown::Both);
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "fault injection dropped the connection",
        )
    }
}

/// Whether a DONE ends the response or more tokens follow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Batch,
    Rpc,
}

struct Connection<'a> {
    shared: &'a Shared,
    sink: Sink,
    writer: PacketWriter,
    /// Token scratch and row scratch, reused for the whole connection.
    tokens: Vec<u8>,
    row: Vec<u8>,
    session: Box<dyn BackendSession>,
    login: Login7,
    transaction: Option<u64>,
    next_transaction: u64,
}

fn serve(sock: TcpStream, shared: &Shared, spid: u16) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let mut first = [0u8; 1];
    if sock.peek(&mut first)? == 0 {
        return Ok(());
    }
    // A TLS record (handshake content type 0x16) first means TDS 8.0 strict.
    const TLS_HANDSHAKE_RECORD: u8 = 0x16;
    let strict = first[0] == TLS_HANDSHAKE_RECORD;
    let mut transport = if strict {
        transport::handshake_strict(sock, shared.tls.strict.clone())?
    } else {
        Transport::Plain(sock)
    };

    let Some(msg) = packet::read_message(&mut transport, packet::MAX_PACKET_SIZE)? else {
        return Ok(());
    };
    if msg.kind != kind::PRELOGIN {
        return Err(ProtocolError(format!("expected PRELOGIN, got type {:#04x}", msg.kind)).into());
    }
    let client = prelogin::parse(&msg.payload)?;
    let (answer, mode) = if strict {
        // Already encrypted; the option only informs.
        (prelogin::encrypt::NOT_SUP, Negotiated::None)
    } else {
        prelogin::negotiate(client.encryption, shared.config.force_encryption)
    };
    let instance_ok = client
        .instance
        .as_deref()
        .is_none_or(|i| i.eq_ignore_ascii_case("MSSQLServer"));
    send_message(
        &mut transport,
        spid,
        &prelogin::response(answer, instance_ok),
    )?;
    if mode == Negotiated::Refuse {
        return Ok(());
    }
    if matches!(mode, Negotiated::LoginOnly | Negotiated::Full) {
        let Transport::Plain(sock) = transport else {
            return Err(ProtocolError("TLS requested twice".into()).into());
        };
        transport = transport::handshake_in_prelogin(sock, shared.tls.prelogin.clone())?;
    }

    let Some(msg) = packet::read_message(&mut transport, packet::MAX_PACKET_SIZE)? else {
        return Ok(());
    };
    if mode == Negotiated::LoginOnly {
        // Login-only encryption: LOGIN7 came through TLS, everything after is plain.
        transport = Transport::Plain(transport.into_plain());
    }
    if msg.kind != kind::LOGIN7 {
        return Err(ProtocolError(format!("expected LOGIN7, got type {:#04x}", msg.kind)).into());
    }
    let mut writer = PacketWriter::new(packet::DEFAULT_PACKET_SIZE, spid);
    let mut sink = Sink {
        transport,
        faults: shared.faults.clone(),
        attention: false,
        byte_budget: None,
    };
    let login = login7::parse(&msg.payload)?;

    let mut conn = match login_session(shared, &login, &mut writer, &mut sink)? {
        Some(session) => Connection {
            shared,
            sink,
            writer,
            tokens: Vec::with_capacity(4096),
            row: Vec::with_capacity(4096),
            session,
            login,
            transaction: None,
            next_transaction: 1,
        },
        None => return Ok(()),
    };
    conn.run()
}

/// Sends one complete response message outside the session's writer (PRELOGIN).
fn send_message(transport: &mut Transport, spid: u16, payload: &[u8]) -> io::Result<()> {
    struct Direct<'a>(&'a mut Transport);
    impl PacketSink for Direct<'_> {
        fn send_packet(&mut self, packet: &[u8], _last: bool) -> io::Result<()> {
            self.0.write_all(packet)?;
            self.0.flush()
        }
    }
    let mut writer = PacketWriter::new(packet::DEFAULT_PACKET_SIZE, spid);
    let mut sink = Direct(transport);
    writer.begin(kind::TABULAR_RESULT);
    writer.put(&mut sink, payload)?;
    writer.end(&mut sink)
}

/// Checks the login and sends the login response. `None` = refused (response sent).
fn login_session(
    shared: &Shared,
    login: &Login7,
    writer: &mut PacketWriter,
    sink: &mut Sink,
) -> io::Result<Option<Box<dyn BackendSession>>> {
    let mut out = Vec::with_capacity(512);
    let login_failed = |out: &mut Vec<u8>, extra: Option<&SqlError>| {
        if let Some(e) = extra {
            tokens::message(out, e.number, e.state, e.class, &e.message, "", e.line);
        }
        tokens::message(
            out,
            18456,
            1,
            14,
            &format!("Login failed for user '{}'.", login.user),
            "",
            1,
        );
        tokens::done(out, token::DONE, done::ERROR, cur_cmd::NONE, 0);
    };
    let Some(tds_version) = login.negotiated_version() else {
        return Err(ProtocolError(format!(
            "TDS version {:#010x} is not supported (7.2 or later)",
            login.tds_version
        ))
        .into());
    };
    let credentials_ok = !login.integrated_security
        && login.user.eq_ignore_ascii_case(&shared.config.user)
        && login.password == shared.config.password;
    let session = if shared.faults.logins_refused() || !credentials_ok {
        login_failed(&mut out, None);
        None
    } else {
        let database = Some(login.database.as_str()).filter(|d| !d.is_empty());
        match shared.backend.open_session(&login.user, database) {
            Ok(s) => Some(s),
            Err(e) => {
                login_failed(&mut out, Some(&e));
                None
            }
        }
    };
    let Some(session) = session else {
        writer.begin(kind::TABULAR_RESULT);
        writer.put(sink, &out)?;
        writer.end(sink)?;
        return Ok(None);
    };

    lock(&shared.logins).push(login.client_interface.clone());
    let packet_size = match login.packet_size {
        0 => packet::DEFAULT_PACKET_SIZE,
        n => (n as usize).clamp(packet::MIN_PACKET_SIZE, packet::MAX_PACKET_SIZE),
    };
    let database = session.database().to_string();
    let collation = Collation::SQL_LATIN1_GENERAL_CP1_CI_AS;
    // The order SQL Server sends them in.
    tokens::env_change_text(&mut out, env::DATABASE, &database, "master");
    tokens::message(
        &mut out,
        5701,
        2,
        0,
        &format!("Changed database context to '{database}'."),
        "",
        1,
    );
    tokens::env_change_collation(&mut out, &collation);
    tokens::env_change_text(&mut out, env::LANGUAGE, "us_english", "");
    tokens::message(
        &mut out,
        5703,
        1,
        0,
        "Changed language setting to us_english.",
        "",
        1,
    );
    tokens::login_ack(&mut out, tds_version);
    if !login.features.is_empty() {
        tokens::feature_ext_ack_none(&mut out);
    }
    tokens::env_change_text(
        &mut out,
        env::PACKET_SIZE,
        &packet_size.to_string(),
        &packet::DEFAULT_PACKET_SIZE.to_string(),
    );
    tokens::done(&mut out, token::DONE, done::FINAL, cur_cmd::NONE, 0);
    writer.begin(kind::TABULAR_RESULT);
    writer.put(sink, &out)?;
    writer.end(sink)?;
    writer.set_packet_size(packet_size);
    Ok(Some(session))
}

/// How a result set's streaming ended.
enum Streamed {
    Complete,
    /// An ATTENTION stopped it; the caller ends the response with DONE(ATTN).
    Attention,
    /// An error token ended it (injected or an encoding failure).
    Error,
}

impl Connection<'_> {
    fn run(&mut self) -> io::Result<()> {
        loop {
            let max = self.writer.packet_size();
            let Some(msg) = packet::read_message(&mut self.sink.transport, max)? else {
                return Ok(());
            };
            self.sink.attention = false;
            self.writer.begin(kind::TABULAR_RESULT);
            if msg.status & (status::RESET_CONNECTION | status::RESET_CONNECTION_SKIP_TRAN) != 0
                && msg.kind != kind::ATTENTION
            {
                self.reset_session()?;
            }
            match msg.kind {
                kind::SQL_BATCH => self.sql_batch(&msg)?,
                kind::RPC => self.rpc(&msg)?,
                kind::ATTENTION => {
                    // Arrived after the response was complete: still acknowledged.
                    self.tokens.clear();
                    tokens::done(&mut self.tokens, token::DONE, done::ATTN, cur_cmd::NONE, 0);
                    self.flush_tokens()?;
                    self.writer.end(&mut self.sink)?;
                }
                kind::TRANSACTION_MANAGER => self.transaction_manager(&msg)?,
                other => {
                    return Err(ProtocolError(format!(
                        "unexpected request type {other:#04x} after login"
                    ))
                    .into())
                }
            }
        }
    }

    /// RESETCONNECTION: a fresh session (as sp_reset_connection does), acknowledged with
    /// ENVCHANGE type 18.
    fn reset_session(&mut self) -> io::Result<()> {
        let database = Some(self.login.database.as_str()).filter(|d| !d.is_empty());
        if let Ok(session) = self.shared.backend.open_session(&self.login.user, database) {
            self.session = session;
            self.transaction = None;
        }
        const ENV_RESET_ACK: u8 = 18;
        self.tokens.clear();
        self.tokens
            .extend_from_slice(&[token::ENVCHANGE, 3, 0, ENV_RESET_ACK, 0, 0]);
        self.flush_tokens()
    }

    fn flush_tokens(&mut self) -> io::Result<()> {
        self.writer.put(&mut self.sink, &self.tokens)?;
        self.tokens.clear();
        Ok(())
    }

    /// A request SQL Server cannot parse: error 4002 and the connection closes, as SQL
    /// Server does for a malformed TDS stream.
    fn protocol_failure(&mut self, e: ProtocolError) -> io::Error {
        self.tokens.clear();
        tokens::message(
            &mut self.tokens,
            4002,
            1,
            16,
            "The incoming tabular data stream (TDS) protocol stream is incorrect. The stream ended unexpectedly.",
            "",
            1,
        );
        tokens::done(&mut self.tokens, token::DONE, done::ERROR, cur_cmd::NONE, 0);
        let _ = self.flush_tokens();
        let _ = self.writer.end(&mut self.sink);
        e.into()
    }

    fn sql_batch(&mut self, msg: &Message) -> io::Result<()> {
        let sql = match decode::sql_batch(&msg.payload) {
            Ok(s) => s,
            Err(e) => return Err(self.protocol_failure(e)),
        };
        let outcomes = self.session.execute_batch(&sql);
        self.write_outcomes(outcomes, Context::Batch, true)?;
        self.writer.end(&mut self.sink)
    }

    fn rpc(&mut self, msg: &Message) -> io::Result<()> {
        let calls = match decode::rpc(&msg.payload) {
            Ok(c) => c,
            Err(e) => return Err(self.protocol_failure(e)),
        };
        let count = calls.len();
        for (i, call) in calls.into_iter().enumerate() {
            let outcomes = self.session.execute_rpc(&call.proc_name, call.params);
            if !self.write_outcomes(outcomes, Context::Rpc, i + 1 == count)? {
                break;
            }
        }
        self.writer.end(&mut self.sink)
    }

    /// Writes the tokens for a list of outcomes. Returns false when an ATTENTION ended it.
    fn write_outcomes(
        &mut self,
        outcomes: Vec<StatementOutcome>,
        context: Context,
        last_call: bool,
    ) -> io::Result<bool> {
        let done_kind = match context {
            Context::Batch => token::DONE,
            Context::Rpc => token::DONEINPROC,
        };
        let count = outcomes.len();
        let last_done = outcomes.iter().rposition(|o| {
            matches!(
                o,
                StatementOutcome::Rows(_)
                    | StatementOutcome::Done { .. }
                    | StatementOutcome::Error(_)
            )
        });
        let mut any_error = false;
        for (i, outcome) in outcomes.into_iter().enumerate() {
            // Inside a procedure every DONEINPROC is followed by DONEPROC; in a batch only the
            // statement that produces the last DONE omits MORE.
            let more = context == Context::Rpc || Some(i) != last_done;
            let more_bit = if more { done::MORE } else { 0 };
            // CLR columns would need TDS UDTTYPE, which is not implemented; the engine refuses
            // such results already, and nothing else may reach COLMETADATA in their place.
            let outcome = match outcome {
                StatementOutcome::Rows(rs)
                    if rs
                        .columns
                        .iter()
                        .any(|c| matches!(c.sql_type, crate::types::SqlType::Clr(_))) =>
                {
                    StatementOutcome::Error(engine::expr::unsupported(
                        "CLR type column in a result set (TDS UDTTYPE)",
                    ))
                }
                other => other,
            };
            match outcome {
                StatementOutcome::Rows(rs) => match self.stream_result(rs, more_bit, done_kind)? {
                    Streamed::Complete => {}
                    Streamed::Error => any_error = true,
                    Streamed::Attention => {
                        self.tokens.clear();
                        tokens::done(&mut self.tokens, token::DONE, done::ATTN, cur_cmd::NONE, 0);
                        self.flush_tokens()?;
                        return Ok(false);
                    }
                },
                StatementOutcome::Done { rows_affected } => {
                    let (count_bit, rows) = match rows_affected {
                        Some(n) => (done::COUNT, n),
                        None => (0, 0),
                    };
                    tokens::done(
                        &mut self.tokens,
                        done_kind,
                        more_bit | count_bit,
                        cur_cmd::NONE,
                        rows,
                    );
                }
                StatementOutcome::Info { number, message } => {
                    tokens::message(&mut self.tokens, number, 1, 0, &message, "", 1);
                }
                StatementOutcome::DatabaseChanged { old, new } => {
                    tokens::env_change_text(&mut self.tokens, env::DATABASE, &new, &old);
                }
                StatementOutcome::Error(e) => {
                    any_error = true;
                    tokens::message(
                        &mut self.tokens,
                        e.number,
                        e.state,
                        e.class,
                        &e.message,
                        "",
                        e.line,
                    );
                    tokens::done(
                        &mut self.tokens,
                        done_kind,
                        more_bit | done::ERROR,
                        cur_cmd::NONE,
                        0,
                    );
                }
            }
            self.flush_tokens()?;
            if self.sink.attention {
                tokens::done(&mut self.tokens, token::DONE, done::ATTN, cur_cmd::NONE, 0);
                self.flush_tokens()?;
                return Ok(false);
            }
        }
        match context {
            Context::Batch => {
                if last_done.is_none_or(|l| l + 1 != count) {
                    tokens::done(&mut self.tokens, token::DONE, done::FINAL, cur_cmd::NONE, 0);
                }
            }
            Context::Rpc => {
                if !any_error {
                    tokens::return_status(&mut self.tokens, 0);
                }
                let mut status = if last_call { 0 } else { done::MORE };
                if any_error {
                    status |= done::ERROR;
                }
                tokens::done(
                    &mut self.tokens,
                    token::DONEPROC,
                    status,
                    cur_cmd::EXECUTE,
                    0,
                );
            }
        }
        self.flush_tokens()?;
        Ok(true)
    }

    fn stream_result(
        &mut self,
        rs: ResultSet,
        more_bit: u16,
        done_kind: u8,
    ) -> io::Result<Streamed> {
        let plans: Vec<ColumnPlan> = rs.columns.iter().map(ColumnPlan::new).collect();
        let faults = self.shared.faults.take_for_result();
        self.sink.byte_budget = faults.drop_after_bytes;
        self.tokens.clear();
        encode::colmetadata(&mut self.tokens, &rs.columns, &plans);
        self.flush_tokens()?;
        let mut rows: u64 = 0;
        let checks = !faults.is_empty();
        let outcome = match rs.rows {
            RowSource::Values(iter) => self.stream_values(
                iter.map(Ok),
                &plans,
                &faults,
                &mut rows,
                more_bit,
                done_kind,
            )?,
            RowSource::Fallible(iter) => {
                self.stream_values(iter, &plans, &faults, &mut rows, more_bit, done_kind)?
            }
            RowSource::Encoded(iter) => {
                let mut result = Streamed::Complete;
                for encoded in iter {
                    if checks {
                        if let Some(end) =
                            self.fault_before_row(&faults, rows, more_bit, done_kind)?
                        {
                            result = end;
                            break;
                        }
                    }
                    self.writer.put(&mut self.sink, &encoded)?;
                    rows += 1;
                    if self.sink.attention {
                        result = Streamed::Attention;
                        break;
                    }
                }
                result
            }
        };
        if let Streamed::Complete = outcome {
            tokens::done(
                &mut self.tokens,
                done_kind,
                more_bit | done::COUNT,
                cur_cmd::SELECT,
                rows,
            );
            // The result was too short for its faults: they wait for the next one.
            if checks {
                let unfired = crate::faults::ResultFaults {
                    drop_after_rows: faults.drop_after_rows.filter(|&n| n >= rows),
                    drop_after_bytes: self.sink.byte_budget.and(faults.drop_after_bytes),
                    error_after_rows: faults.error_after_rows.clone().filter(|(n, ..)| *n >= rows),
                };
                self.shared.faults.rearm_unfired(unfired);
            }
        }
        self.sink.byte_budget = None;
        Ok(outcome)
    }

    /// Streams rows the wire side encodes itself; an `Err` item (an engine error in row N)
    /// or a value that cannot be encoded ends the result with an ERROR token.
    fn stream_values(
        &mut self,
        iter: impl Iterator<Item = Result<Vec<Value>, SqlError>>,
        plans: &[ColumnPlan],
        faults: &crate::faults::ResultFaults,
        rows: &mut u64,
        more_bit: u16,
        done_kind: u8,
    ) -> io::Result<Streamed> {
        let checks = !faults.is_empty();
        for item in iter {
            if checks {
                if let Some(end) = self.fault_before_row(faults, *rows, more_bit, done_kind)? {
                    return Ok(end);
                }
            }
            let values = match item {
                Ok(values) => values,
                Err(e) => {
                    self.error_in_result(&e, *rows, more_bit, done_kind)?;
                    return Ok(Streamed::Error);
                }
            };
            self.row.clear();
            if let Err(e) = encode::row(&mut self.row, plans, &values) {
                let error = SqlError::new(
                    50000,
                    1,
                    16,
                    format!("pgmig-tds-server cannot encode a value: {}", e.0),
                );
                self.error_in_result(&error, *rows, more_bit, done_kind)?;
                return Ok(Streamed::Error);
            }
            self.writer.put(&mut self.sink, &self.row)?;
            if self.row.capacity() > ROW_BUFFER_KEEP {
                // A huge value passed: give the memory back instead of keeping it
                // for the life of the connection.
                self.row = Vec::with_capacity(ROW_BUFFER_KEEP);
            }
            *rows += 1;
            if self.sink.attention {
                return Ok(Streamed::Attention);
            }
        }
        Ok(Streamed::Complete)
    }

    /// Applies a one-shot fault before row number `rows + 1`.
    fn fault_before_row(
        &mut self,
        faults: &crate::faults::ResultFaults,
        rows: u64,
        more_bit: u16,
        done_kind: u8,
    ) -> io::Result<Option<Streamed>> {
        if faults.drop_after_rows == Some(rows) {
            // Let the client have the rows before the cut.
            self.writer.flush_partial(&mut self.sink)?;
            return Err(self.sink.drop_connection());
        }
        if let Some((at, number, message)) = &faults.error_after_rows {
            if *at == rows {
                let error = SqlError::new(*number, 1, 16, message.clone());
                self.error_in_result(&error, rows, more_bit, done_kind)?;
                return Ok(Some(Streamed::Error));
            }
        }
        Ok(None)
    }

    /// Ends a result set with an ERROR token and DONE(ERROR), as SQL Server does when a
    /// statement fails mid-stream (e.g. a conversion error in row N).
    fn error_in_result(
        &mut self,
        error: &SqlError,
        rows: u64,
        more_bit: u16,
        done_kind: u8,
    ) -> io::Result<()> {
        self.tokens.clear();
        tokens::message(
            &mut self.tokens,
            error.number,
            error.state,
            error.class,
            &error.message,
            "",
            error.line,
        );
        tokens::done(
            &mut self.tokens,
            done_kind,
            more_bit | done::ERROR | done::COUNT,
            cur_cmd::SELECT,
            rows,
        );
        self.flush_tokens()
    }

    fn transaction_manager(&mut self, msg: &Message) -> io::Result<()> {
        let request = match decode::transaction_manager(&msg.payload) {
            Ok(r) => r,
            Err(e) => return Err(self.protocol_failure(e)),
        };
        let (sql, change): (String, Option<u8>) = match &request {
            TransactionRequest::Begin { name, .. } => (
                format!("BEGIN TRANSACTION {}", quote_name(name)),
                Some(env::BEGIN_TRANSACTION),
            ),
            TransactionRequest::Commit { name, .. } => (
                format!("COMMIT TRANSACTION {}", quote_name(name)),
                Some(env::COMMIT_TRANSACTION),
            ),
            TransactionRequest::Rollback { name, .. } => (
                format!("ROLLBACK TRANSACTION {}", quote_name(name)),
                Some(env::ROLLBACK_TRANSACTION),
            ),
            TransactionRequest::Save { name } => {
                (format!("SAVE TRANSACTION {}", quote_name(name)), None)
            }
            TransactionRequest::GetDtcAddress | TransactionRequest::Propagate => {
                tokens::message(
                    &mut self.tokens,
                    8501,
                    3,
                    16,
                    "MSDTC on server 'PGMIG-TDS' is unavailable.",
                    "",
                    1,
                );
                tokens::done(&mut self.tokens, token::DONE, done::ERROR, cur_cmd::NONE, 0);
                self.flush_tokens()?;
                return self.writer.end(&mut self.sink);
            }
        };
        let outcomes = self.session.execute_batch(sql.trim_end());
        let failure = outcomes.into_iter().find_map(|o| match o {
            StatementOutcome::Error(e) => Some(e),
            _ => None,
        });
        if let Some(e) = failure {
            tokens::message(
                &mut self.tokens,
                e.number,
                e.state,
                e.class,
                &e.message,
                "",
                e.line,
            );
            tokens::done(&mut self.tokens, token::DONE, done::ERROR, cur_cmd::NONE, 0);
        } else {
            match change {
                Some(env::BEGIN_TRANSACTION) => {
                    let descriptor = self.next_transaction;
                    self.next_transaction += 1;
                    self.transaction = Some(descriptor);
                    tokens::env_change_transaction(
                        &mut self.tokens,
                        env::BEGIN_TRANSACTION,
                        Some(descriptor),
                        None,
                    );
                }
                Some(kind) => {
                    let old = self.transaction.take();
                    tokens::env_change_transaction(&mut self.tokens, kind, None, old);
                    let begin_new = matches!(
                        request,
                        TransactionRequest::Commit {
                            begin_new: true,
                            ..
                        } | TransactionRequest::Rollback {
                            begin_new: true,
                            ..
                        }
                    );
                    if begin_new {
                        let outcomes = self.session.execute_batch("BEGIN TRANSACTION");
                        if !outcomes
                            .iter()
                            .any(|o| matches!(o, StatementOutcome::Error(_)))
                        {
                            let descriptor = self.next_transaction;
                            self.next_transaction += 1;
                            self.transaction = Some(descriptor);
                            tokens::env_change_transaction(
                                &mut self.tokens,
                                env::BEGIN_TRANSACTION,
                                Some(descriptor),
                                None,
                            );
                        }
                    }
                }
                None => {}
            }
            tokens::done(&mut self.tokens, token::DONE, done::FINAL, cur_cmd::NONE, 0);
        }
        self.flush_tokens()?;
        self.writer.end(&mut self.sink)
    }
}

fn quote_name(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("[{}]", name.replace(']', "]]"))
    }
}
