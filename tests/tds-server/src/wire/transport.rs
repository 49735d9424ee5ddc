//! Plain TCP or TLS, and the two ways TDS starts TLS:
//! - TDS 7.x: after PRELOGIN, the TLS handshake records travel as the payload of PRELOGIN
//!   (0x12) packets; afterwards TLS records flow on the socket and carry TDS packets.
//! - TDS 8.0 strict: TLS first (ALPN "tds/8.0"), everything including PRELOGIN inside it.
//!
//! SQL Server speaks TLS 1.2 for the TDS 7.x handshake (TLS 1.3 only with TDS 8.0), so the
//! in-PRELOGIN configuration is TLS 1.2 only. That also matters for login-only encryption:
//! TLS 1.3 servers send session tickets after the handshake, which a client that drops TLS
//! right after LOGIN7 would then read as TDS bytes.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::packet::{self, kind, status, HEADER_LEN};
use super::ProtocolError;

/// The server's certificate and the two TLS configurations built from it.
pub struct TlsSetup {
    /// TLS inside PRELOGIN packets (TDS 7.x).
    pub prelogin: Arc<ServerConfig>,
    /// TDS 8.0 strict.
    pub strict: Arc<ServerConfig>,
}

impl TlsSetup {
    /// Generates a self-signed certificate for localhost, as SQL Server does at start-up
    /// when no certificate is configured.
    pub fn self_signed() -> Result<TlsSetup, String> {
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|e| format!("generating the TLS certificate: {e}"))?;
        let cert = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());

        let mut prelogin = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key.clone_key())
            .map_err(|e| format!("TLS certificate: {e}"))?;
        prelogin.send_tls13_tickets = 0;

        let mut strict = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .map_err(|e| format!("TLS certificate: {e}"))?;
        strict.alpn_protocols = vec![b"tds/8.0".to_vec()];
        strict.send_tls13_tickets = 0;

        Ok(TlsSetup {
            prelogin: Arc::new(prelogin),
            strict: Arc::new(strict),
        })
    }
}

/// The connection's byte stream.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Transport {
    pub fn socket(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => &s.sock,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Drops TLS after a login-only encrypted LOGIN7 (client ENCRYPT_OFF, server
    /// ENCRYPT_OFF): from here on the client sends and expects plain TDS.
    pub fn into_plain(self) -> TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => s.sock,
        }
    }

    /// True when bytes (or an end of stream) are waiting on the socket, without blocking.
    /// (While a response streams, the client sends nothing but ATTENTION, so TLS never
    /// holds decrypted input the socket poll would miss.)
    pub fn has_input(&self) -> bool {
        socket_readable(self.socket())
    }
}

fn socket_readable(sock: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut fds = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `fds` is a valid pollfd for the duration of the call; timeout 0 never blocks.
    let ready = unsafe { libc::poll(&mut fds, 1, 0) };
    ready > 0 && fds.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.write_all(buf),
            Transport::Tls(s) => s.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// Runs the server side of the TLS handshake inside PRELOGIN packets.
pub fn handshake_in_prelogin(
    mut sock: TcpStream,
    config: Arc<ServerConfig>,
) -> io::Result<Transport> {
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut payload = Vec::new();
    while conn.is_handshaking() {
        if conn.wants_write() {
            send_tls_records(&mut conn, &mut sock)?;
            continue;
        }
        payload.clear();
        let Some((packet_kind, _)) =
            packet::read_packet(&mut sock, packet::MAX_PACKET_SIZE, &mut payload)?
        else {
            return Err(io::ErrorKind::UnexpectedEof.into());
        };
        if packet_kind != kind::PRELOGIN {
            return Err(ProtocolError(format!(
                "expected a PRELOGIN packet carrying TLS, got type {packet_kind:#04x}"
            ))
            .into());
        }
        let mut records = &payload[..];
        while !records.is_empty() {
            conn.read_tls(&mut records)?;
            if let Err(e) = conn.process_new_packets() {
                // Tell the client why (the alert rustls queued), then give up.
                let _ = send_tls_records(&mut conn, &mut sock);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
    // TLS 1.2: the server's ChangeCipherSpec + Finished are still queued.
    if conn.wants_write() {
        send_tls_records(&mut conn, &mut sock)?;
    }
    Ok(Transport::Tls(Box::new(StreamOwned::new(conn, sock))))
}

/// Sends the queued TLS records as one PRELOGIN message.
fn send_tls_records(conn: &mut ServerConnection, sock: &mut TcpStream) -> io::Result<()> {
    let mut records = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut records)?;
    }
    let chunk_max = packet::MAX_PACKET_SIZE - HEADER_LEN;
    let chunks: Vec<&[u8]> = records.chunks(chunk_max).collect();
    let count = chunks.len();
    let mut out = Vec::with_capacity(records.len() + HEADER_LEN * count);
    for (i, chunk) in chunks.into_iter().enumerate() {
        let len = (chunk.len() + HEADER_LEN) as u16;
        let eom = if i + 1 == count { status::EOM } else { 0 };
        out.extend_from_slice(&[kind::PRELOGIN, eom]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, 0, (i as u8).wrapping_add(1), 0]);
        out.extend_from_slice(chunk);
    }
    sock.write_all(&out)?;
    sock.flush()
}

/// TDS 8.0 strict: a plain TLS handshake on the socket before any TDS.
pub fn handshake_strict(mut sock: TcpStream, config: Arc<ServerConfig>) -> io::Result<Transport> {
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    Ok(Transport::Tls(Box::new(StreamOwned::new(conn, sock))))
}
