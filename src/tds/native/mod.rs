//! pgmig's own TDS connection for reading rows: TCP, PRELOGIN, TLS, LOGIN7 and the SQL batch,
//! with the response's token stream decoded by [`pgmig_core::tds_rows`] straight into binary
//! COPY tuples.
//!
//! Why not tiberius for this: tiberius appends every response packet to its buffer one byte
//! at a time and splits it again per read, which took 52% of the network thread on wide rows
//! (`perf`, 1M posts) and kept the pull from PostgreSQL's COPY speed. tiberius still serves
//! the catalog queries, where rows are few. Both connections log in with the same settings.

mod tls;

use super::ConnectParams;
use crate::error::{PgmigError, Result, ServerError};
use pgmig_core::copy_binary::{CopyEncoder, NulPolicy};
use pgmig_core::options::Encrypt;
use pgmig_core::tds_rows::{
    check_tds_version, done_status, DecodeError, EnvChange, RowDecoder, ServerMessage, Step, Token,
};
use pgmig_core::tds_wire::{
    self, login7, packet_type, prelogin, PacketHeader, HEADER_LEN, INITIAL_PACKET_SIZE,
    MAX_PACKET_SIZE,
};
use std::sync::Arc;
use tls::PreloginFramed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Socket reads go into a buffer this large: a few packets of the largest size per read.
const READ_BUFFER_BYTES: usize = 128 << 10;

/// What the connection's bytes travel over.
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<PreloginFramed<TcpStream>>>),
}

impl Transport {
    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Transport::Plain(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Transport::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    async fn read_into(&mut self, buffer: &mut Vec<u8>) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read_buf(buffer).await,
            Transport::Tls(s) => s.read_buf(buffer).await,
        }
    }
}

/// A logged-in connection.
pub struct NativeConnection {
    transport: Transport,
    /// Bytes read from the socket, not yet split into packets: `raw[raw_start..]`.
    raw: Vec<u8>,
    raw_start: usize,
    /// The packet size the server granted.
    packet_size: usize,
    packet_id: u8,
    address: String,
    password: String,
}

impl NativeConnection {
    /// TCP, PRELOGIN, TLS and LOGIN7, all within the connect timeout.
    pub async fn connect(params: &ConnectParams) -> Result<NativeConnection> {
        super::connect::install_crypto_provider();
        params
            .within_connect_timeout(Self::connect_now(params))
            .await
    }

    async fn connect_now(params: &ConnectParams) -> Result<NativeConnection> {
        let address = params.address();
        let tls_error = |reason: String| PgmigError::Tls {
            address: address.clone(),
            reason: params.mask(&reason),
        };
        let tcp = params.open_tcp().await?;

        let encrypt = params.server.encrypt;
        let trust = params.server.trust_server_certificate;
        let server_name = tls::server_name(&params.server.host, trust).map_err(tls_error)?;
        let handshake = |stream: PreloginFramed<TcpStream>, strict: bool| {
            let server_name = server_name.clone();
            async move {
                let config = tls::client_config(trust, strict)?;
                TlsConnector::from(Arc::new(config))
                    .connect(server_name, stream)
                    .await
                    .map_err(|e| e.to_string())
            }
        };

        let transport = if encrypt == Encrypt::Strict {
            let tls = handshake(PreloginFramed::new(tcp, false), true)
                .await
                .map_err(tls_error)?;
            Transport::Tls(Box::new(tls))
        } else {
            Transport::Plain(tcp)
        };
        let mut connection = NativeConnection {
            transport,
            raw: Vec::with_capacity(READ_BUFFER_BYTES),
            raw_start: 0,
            packet_size: INITIAL_PACKET_SIZE,
            packet_id: 1,
            address: address.clone(),
            password: params.login.password.clone(),
        };

        connection
            .send(packet_type::PRELOGIN, &prelogin::request(encrypt))
            .await?;
        let answer = connection.read_message().await?;
        let negotiated = prelogin::server_encryption(&answer)
            .map_err(PgmigError::Protocol)
            .and_then(|server| prelogin::negotiate(encrypt, server).map_err(tls_error))?;

        if negotiated != prelogin::Negotiated::Strict {
            let Transport::Plain(tcp) = connection.transport else {
                return Err(PgmigError::Internal("TLS started twice".into()));
            };
            let mut tls = handshake(PreloginFramed::new(tcp, true), false)
                .await
                .map_err(tls_error)?;
            tls.get_mut().0.handshake_done();
            connection.transport = Transport::Tls(Box::new(tls));
        }

        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let login = login7::Login {
            hostname: hostname.trim(),
            user: &params.login.user,
            password: &params.login.password,
            application_name: &params.application_name,
            server_name: &params.server.host,
            database: params.server.database.as_deref().unwrap_or(""),
            packet_size: params
                .server
                .packet_size
                .unwrap_or(super::connect::DEFAULT_PACKET_SIZE),
        };
        connection
            .send(packet_type::LOGIN7, &login7::payload(&login))
            .await?;
        if negotiated == prelogin::Negotiated::LoginOnly {
            // Login-only encryption: the rest of the session travels in clear, as asked.
            let Transport::Tls(tls) = connection.transport else {
                return Err(PgmigError::Internal("login-only TLS without TLS".into()));
            };
            connection.transport = Transport::Plain(tls.into_inner().0.into_inner());
        }
        connection.read_login_response(params).await?;
        Ok(connection)
    }

    /// Reads LOGINACK, the granted packet size and the final DONE; a refusal is `LoginFailed`.
    async fn read_login_response(&mut self, params: &ConnectParams) -> Result<()> {
        let mut decoder = RowDecoder::new(Vec::new(), Vec::new(), NulPolicy::Error);
        // No rows come in a login response; the decoder still wants somewhere to put them.
        let mut no_rows = CopyEncoder::new(0).map_err(|e| PgmigError::Internal(e.to_string()))?;
        let mut response = Response::default();
        let mut error = None;
        let mut acknowledged = false;
        loop {
            let token = response
                .next_token(self, &mut decoder, &mut no_rows)
                .await?;
            match token.map_err(|e| PgmigError::Protocol(format!("login response: {e:?}")))? {
                Token::LoginAck { tds_version, .. } => {
                    // The rest of the response is already in that version's format.
                    check_tds_version(tds_version).map_err(PgmigError::Protocol)?;
                    acknowledged = true;
                }
                Token::EnvChange(EnvChange::PacketSize(size)) => {
                    self.packet_size = (size as usize).clamp(512, MAX_PACKET_SIZE);
                }
                Token::Message(message) if message.is_error() && error.is_none() => {
                    error = Some(self.server_error(&message));
                }
                Token::Done { status, .. } if !done_has_more(status) => break,
                _ => {}
            }
        }
        match (acknowledged, error) {
            (true, None) => Ok(()),
            (_, error) => Err(PgmigError::LoginFailed {
                address: self.address.clone(),
                user: params.login.user.clone(),
                error: Box::new(error.unwrap_or_else(|| ServerError {
                    number: 0,
                    class: 0,
                    state: 0,
                    message: "the server ended the login without acknowledging it".into(),
                    server: String::new(),
                    procedure: String::new(),
                    line: 0,
                })),
            }),
        }
    }

    /// Sends one request message.
    pub async fn send(&mut self, kind: u8, payload: &[u8]) -> Result<()> {
        let mut framed = Vec::with_capacity(payload.len() + HEADER_LEN * 4);
        tds_wire::frame_message(
            &mut framed,
            kind,
            payload,
            self.packet_size,
            &mut self.packet_id,
        );
        self.transport
            .write_all(&framed)
            .await
            .map_err(|e| self.lost(&e))
    }

    /// Sends a SQL batch; read its response with a [`Response`].
    pub async fn send_batch(&mut self, sql: &str) -> Result<()> {
        self.send(packet_type::SQL_BATCH, &tds_wire::sql_batch_payload(sql))
            .await
    }

    /// A whole response message (PRELOGIN's answer).
    async fn read_message(&mut self) -> Result<Vec<u8>> {
        let mut message = Vec::new();
        while !self.read_packet(&mut message).await? {}
        Ok(message)
    }

    /// Appends the next packet's payload to `payload`; true when it ended the message.
    async fn read_packet(&mut self, payload: &mut Vec<u8>) -> Result<bool> {
        self.fill(HEADER_LEN).await?;
        let header = PacketHeader::parse(&self.raw[self.raw_start..], MAX_PACKET_SIZE)
            .map_err(PgmigError::Protocol)?;
        if header.packet_type != packet_type::TABULAR_RESULT {
            return Err(PgmigError::Protocol(format!(
                "the server sent a packet of type {:#04x} where a response was due",
                header.packet_type
            )));
        }
        self.fill(header.length).await?;
        let start = self.raw_start + HEADER_LEN;
        payload.extend_from_slice(&self.raw[start..self.raw_start + header.length]);
        self.raw_start += header.length;
        Ok(header.is_last())
    }

    /// Reads until `raw[raw_start..]` holds at least `wanted` bytes.
    async fn fill(&mut self, wanted: usize) -> Result<()> {
        while self.raw.len() - self.raw_start < wanted {
            if self.raw_start > 0 {
                // What remains is less than one packet: cheap to move to the front.
                self.raw.drain(..self.raw_start);
                self.raw_start = 0;
            }
            if self.raw.capacity() - self.raw.len() < MAX_PACKET_SIZE {
                self.raw.reserve(READ_BUFFER_BYTES);
            }
            let read = self
                .transport
                .read_into(&mut self.raw)
                .await
                .map_err(|e| self.lost(&e))?;
            if read == 0 {
                return Err(PgmigError::ConnectionLost {
                    address: self.address.clone(),
                    reason: "the server closed the connection".into(),
                });
            }
        }
        Ok(())
    }

    fn lost(&self, error: &std::io::Error) -> PgmigError {
        PgmigError::ConnectionLost {
            address: self.address.clone(),
            reason: pgmig_core::mask::mask_secret(&error.to_string(), &self.password).into_owned(),
        }
    }

    /// A server message as pgmig reports it, the password masked out.
    pub fn server_error(&self, message: &ServerMessage) -> ServerError {
        let mask = |text: &str| pgmig_core::mask::mask_secret(text, &self.password).into_owned();
        ServerError {
            number: message.number,
            class: message.class,
            state: message.state,
            message: mask(&message.message),
            server: mask(&message.server),
            procedure: mask(&message.procedure),
            line: message.line,
        }
    }
}

/// Whether a DONE token's status says more results follow.
pub fn done_has_more(status: u16) -> bool {
    status & done_status::MORE != 0
}

/// The token stream of one response: packet payloads gathered into one buffer, from which the
/// decoder takes whole tokens.
#[derive(Default)]
pub struct Response {
    tokens: Vec<u8>,
    start: usize,
    /// The last packet of the response has arrived.
    ended: bool,
}

impl Response {
    /// The next token; rows are written into `encoder` by the decoder. The outer error is
    /// the connection's; the inner one the decoder's, for the caller to name (a value's row
    /// and column, or a column type to fall back on tiberius for).
    pub async fn next_token(
        &mut self,
        connection: &mut NativeConnection,
        decoder: &mut RowDecoder,
        encoder: &mut CopyEncoder,
    ) -> Result<std::result::Result<Token, DecodeError>> {
        loop {
            match decoder.next(&self.tokens[self.start..], encoder) {
                Ok(Step::Token { consumed, token }) => {
                    self.start += consumed;
                    return Ok(Ok(token));
                }
                Ok(Step::NeedMore { at_least }) => self.fill(connection, at_least).await?,
                Err(error) => return Ok(Err(error)),
            }
        }
    }

    /// The type byte of the next token, reading a packet if none is buffered.
    pub async fn peek(&mut self, connection: &mut NativeConnection) -> Result<u8> {
        self.fill(connection, 1).await?;
        Ok(self.tokens[self.start])
    }

    /// Reads packets until `tokens[start..]` holds at least `wanted` bytes.
    async fn fill(&mut self, connection: &mut NativeConnection, wanted: usize) -> Result<()> {
        if self.start > 0 {
            // Only the part of one row or token that straddles packets remains.
            self.tokens.drain(..self.start);
            self.start = 0;
        }
        while self.tokens.len() < wanted {
            if self.ended {
                return Err(PgmigError::Protocol(
                    "the response ended inside a token".into(),
                ));
            }
            self.ended = connection.read_packet(&mut self.tokens).await?;
        }
        Ok(())
    }
}
