//! Shared by the wire_* tests: a canned backend (result sets without the SQL engine), a
//! tiberius connector, and a raw TDS client for byte-level checks.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use pgmig_tds_server::types::{
    Collation, Column, ResultSet, RowSource, RpcParam, SqlError, SqlType, StatementOutcome, Value,
};
use pgmig_tds_server::{Backend, BackendSession, RunningServer, Server, ServerConfig};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream as TokioTcp;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub const USER: &str = "loader";
pub const PASSWORD: &str = "S3cret-pw";

/// Every RPC call the server received: procedure name and decoded parameters.
pub type RpcLog = Arc<Mutex<Vec<(String, Vec<RpcParam>)>>>;

pub type Handler = dyn Fn(&str, &[RpcParam]) -> Vec<StatementOutcome> + Send + Sync;

/// Answers every batch (and RPC: proc name as the text) with `handler`, and records RPC
/// parameters.
pub struct Canned {
    pub handler: Arc<Handler>,
    pub rpc_log: RpcLog,
}

struct CannedSession {
    handler: Arc<Handler>,
    rpc_log: RpcLog,
}

impl Backend for Canned {
    fn open_session(
        &self,
        _login: &str,
        database: Option<&str>,
    ) -> Result<Box<dyn BackendSession>, SqlError> {
        if let Some(db) = database {
            if db != "master" {
                return Err(SqlError::new(
                    4060,
                    1,
                    11,
                    format!(
                        "Cannot open database \"{db}\" requested by the login. The login failed."
                    ),
                ));
            }
        }
        Ok(Box::new(CannedSession {
            handler: self.handler.clone(),
            rpc_log: self.rpc_log.clone(),
        }))
    }
}

impl BackendSession for CannedSession {
    fn database(&self) -> &str {
        "master"
    }
    fn execute_batch(&mut self, sql: &str) -> Vec<StatementOutcome> {
        (self.handler)(sql, &[])
    }
    fn execute_rpc(&mut self, proc_name: &str, params: Vec<RpcParam>) -> Vec<StatementOutcome> {
        self.rpc_log
            .lock()
            .unwrap()
            .push((proc_name.to_string(), params.clone()));
        let text = match params.first().map(|p| &p.value) {
            Some(Value::Str(s)) if proc_name == "sp_executesql" => s.to_string(),
            _ => proc_name.to_string(),
        };
        (self.handler)(&text, &params)
    }
}

pub fn start(
    handler: impl Fn(&str, &[RpcParam]) -> Vec<StatementOutcome> + Send + Sync + 'static,
) -> (RunningServer, RpcLog) {
    start_with(handler, false)
}

pub fn start_with(
    handler: impl Fn(&str, &[RpcParam]) -> Vec<StatementOutcome> + Send + Sync + 'static,
    force_encryption: bool,
) -> (RunningServer, RpcLog) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let backend = Canned {
        handler: Arc::new(handler),
        rpc_log: log.clone(),
    };
    let config = ServerConfig {
        user: USER.into(),
        password: PASSWORD.into(),
        force_encryption,
        ..ServerConfig::default()
    };
    let server = Server::start_with_backend(config, Arc::new(backend)).unwrap();
    (server, log)
}

/// Starts the server with its SQL engine, seeded with `seed` and/or `generate`d tables.
pub fn start_engine(seed: Option<&str>, generate: Option<&str>) -> RunningServer {
    let config = ServerConfig {
        user: USER.into(),
        password: PASSWORD.into(),
        seed_sql: seed.map(str::to_string),
        generate: generate.map(str::to_string),
        ..ServerConfig::default()
    };
    Server::start(config).unwrap()
}

/// Connects without encryption to database `db`.
pub async fn connect_db(addr: SocketAddr, db: &str) -> TClient {
    let mut c = config(addr, EncryptionLevel::Off, PASSWORD);
    c.database(db);
    connect_with(c).await.unwrap()
}

pub fn column(name: &str, sql_type: SqlType, nullable: bool) -> Column {
    Column {
        name: name.into(),
        sql_type,
        nullable,
        identity: false,
        computed: false,
    }
}

pub const CI_AS: Collation = Collation::SQL_LATIN1_GENERAL_CP1_CI_AS;

/// One result set from literal rows.
pub fn rows(columns: Vec<Column>, data: Vec<Vec<Value>>) -> StatementOutcome {
    StatementOutcome::Rows(ResultSet {
        columns,
        rows: RowSource::Values(Box::new(data.into_iter())),
    })
}

/// `n` rows of (int id, nvarchar(20) name): a narrow table.
pub fn narrow(n: u64) -> StatementOutcome {
    StatementOutcome::Rows(ResultSet {
        columns: vec![
            column("id", SqlType::Int, false),
            column(
                "name",
                SqlType::NVarChar {
                    len: Some(20),
                    collation: CI_AS,
                },
                true,
            ),
        ],
        rows: RowSource::Values(Box::new(
            (0..n).map(|i| vec![Value::Int(i as i32), Value::Str(format!("name-{i}").into())]),
        )),
    })
}

pub type TClient = Client<Compat<TokioTcp>>;

pub fn config(addr: SocketAddr, encryption: EncryptionLevel, password: &str) -> Config {
    let mut config = Config::new();
    config.host(addr.ip().to_string());
    config.port(addr.port());
    config.authentication(AuthMethod::sql_server(USER, password));
    config.encryption(encryption);
    config.trust_cert();
    config
}

pub async fn connect_with(config: Config) -> tiberius::Result<TClient> {
    let tcp = TokioTcp::connect(config.get_addr()).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

pub async fn connect(addr: SocketAddr) -> TClient {
    connect_with(config(addr, EncryptionLevel::Off, PASSWORD))
        .await
        .unwrap()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// A raw TDS client (no encryption) for checks below what tiberius exposes.

pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

pub fn send(sock: &mut TcpStream, kind: u8, payload: &[u8]) {
    let mut p = vec![kind, 1];
    p.extend_from_slice(&((payload.len() + 8) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 1, 0]);
    p.extend_from_slice(payload);
    sock.write_all(&p).unwrap();
}

/// Reads one response message; returns (payload, packet lengths).
pub fn receive(sock: &mut TcpStream) -> (Vec<u8>, Vec<usize>) {
    let mut payload = Vec::new();
    let mut lengths = Vec::new();
    loop {
        let mut h = [0u8; 8];
        sock.read_exact(&mut h).unwrap();
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        lengths.push(len);
        let start = payload.len();
        payload.resize(start + len - 8, 0);
        sock.read_exact(&mut payload[start..]).unwrap();
        if h[1] & 1 == 1 {
            return (payload, lengths);
        }
    }
}

pub fn prelogin_not_supported() -> Vec<u8> {
    vec![
        0x00, 0x00, 0x10, 0x00, 0x06, // VERSION
        0x01, 0x00, 0x16, 0x00, 0x01, // ENCRYPTION
        0x04, 0x00, 0x17, 0x00, 0x01, // MARS
        0xFF, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
    ]
}

pub fn login7(user: &str, password: &str, database: &str, packet_size: u32) -> Vec<u8> {
    let strings: [Vec<u8>; 9] = [
        utf16("host"),
        utf16(user),
        utf16(password)
            .iter()
            .map(|b| b.rotate_left(4) ^ 0xA5)
            .collect(),
        utf16("raw-test"),
        utf16("127.0.0.1"),
        Vec::new(),
        utf16("raw"),
        Vec::new(),
        utf16(database),
    ];
    let mut table = Vec::new();
    let mut data = Vec::new();
    for s in &strings {
        table.extend_from_slice(&((94 + data.len()) as u16).to_le_bytes());
        table.extend_from_slice(&((s.len() / 2) as u16).to_le_bytes());
        data.extend_from_slice(s);
    }
    table.extend_from_slice(&[0u8; 6 + 16]);
    let mut out = Vec::new();
    out.extend_from_slice(&((94 + data.len()) as u32).to_le_bytes());
    out.extend_from_slice(&0x7400_0004u32.to_le_bytes());
    out.extend_from_slice(&packet_size.to_le_bytes());
    out.extend_from_slice(&[0u8; 12]);
    out.extend_from_slice(&[0xE0, 0x03, 0, 0]);
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&table);
    out.extend_from_slice(&data);
    out
}

/// Connects without encryption and logs in; returns the socket and the login response.
pub fn raw_login(addr: SocketAddr, packet_size: u32) -> (TcpStream, Vec<u8>) {
    let mut sock = TcpStream::connect(addr).unwrap();
    send(&mut sock, 0x12, &prelogin_not_supported());
    let (pre, _) = receive(&mut sock);
    // The server's ENCRYPTION byte follows the 26-byte option table and 6-byte VERSION.
    assert_eq!(pre[32], 0x02, "server must answer ENCRYPT_NOT_SUP");
    send(&mut sock, 0x10, &login7(USER, PASSWORD, "", packet_size));
    let (resp, _) = receive(&mut sock);
    (sock, resp)
}

/// ALL_HEADERS with a zero transaction descriptor, as clients send.
pub fn all_headers() -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&22u32.to_le_bytes());
    h.extend_from_slice(&18u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h
}

pub fn batch(sql: &str) -> Vec<u8> {
    let mut p = all_headers();
    p.extend_from_slice(&utf16(sql));
    p
}

// ---------------------------------------------------------------------------------------
// FreeTDS's tsql (Debian package freetds-bin).

pub fn tsql_available() -> bool {
    let found = Command::new("tsql").arg("-C").output().is_ok();
    if !found {
        eprintln!(
            "\n\n!!!!!!!! SKIPPED: `tsql` (Debian package freetds-bin) is not installed; \
             FreeTDS compatibility is NOT tested !!!!!!!!\n\n"
        );
    }
    found
}

/// Runs `sql` through tsql with `encryption` (freetds.conf setting), logging in to
/// `database` if given; returns stdout and stderr.
pub fn tsql(
    addr: std::net::SocketAddr,
    password: &str,
    encryption: &str,
    database: Option<&str>,
    sql: &str,
) -> (String, String) {
    let dir = std::env::temp_dir().join(format!(
        "pgmig-tsql-{}-{}-{encryption}",
        std::process::id(),
        addr.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("freetds.conf");
    std::fs::write(
        &conf,
        format!(
            "[pgmig]\n\thost = {}\n\tport = {}\n\ttds version = 7.4\n\tencryption = {encryption}\n",
            addr.ip(),
            addr.port()
        ),
    )
    .unwrap();
    let mut args = vec!["-S", "pgmig", "-U", USER, "-P", password];
    if let Some(db) = database {
        args.extend(["-D", db]);
    }
    let mut child = Command::new("tsql")
        .args(&args)
        .env("FREETDSCONF", &conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{sql}\ngo\nexit\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
