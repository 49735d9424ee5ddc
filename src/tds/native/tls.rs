//! TLS for pgmig's own TDS connections, with the same trust rules as the catalog connections
//! tiberius opens: the operating system's certificate store and the host name, or no check at
//! all under `trust_server_certificate`.
//!
//! TDS 7.x carries the TLS handshake inside PRELOGIN packets ([`PreloginFramed`]); once it is
//! done, TLS records flow on the socket directly. TDS 8.0 (`encrypt 'strict'`) starts TLS
//! before any TDS byte, with ALPN `tds/8.0`.

use pgmig_core::tds_wire::{packet_type, HEADER_LEN, INITIAL_PACKET_SIZE};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// ALPN protocol of TDS 8.0.
const TDS8_ALPN: &[u8] = b"tds/8.0";

/// The rustls client configuration for a connection to `host`.
pub fn client_config(trust_server_certificate: bool, strict: bool) -> Result<ClientConfig, String> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = if trust_server_certificate {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth()
    };
    if strict {
        config.alpn_protocols.push(TDS8_ALPN.to_vec());
    }
    Ok(config)
}

/// The name the certificate must carry: the host as configured. Under
/// `trust_server_certificate` nothing is checked, so a host that is no valid name (rare:
/// an odd alias) gets a placeholder rather than an error.
pub fn server_name(
    host: &str,
    trust_server_certificate: bool,
) -> Result<ServerName<'static>, String> {
    match ServerName::try_from(host.to_string()) {
        Ok(name) => Ok(name),
        Err(_) if trust_server_certificate => {
            Ok(ServerName::try_from("unchecked.invalid").map_err(|e| e.to_string())?)
        }
        Err(e) => Err(format!("{host} is not a valid name for a certificate: {e}")),
    }
}

fn system_roots() -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(format!(
            "no trusted certificates found in the system store ({} errors)",
            found.errors.len()
        ));
    }
    Ok(roots)
}

/// `trust_server_certificate`: accepts any certificate, as the option says.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A socket that, while `handshaking`, wraps what TLS writes into PRELOGIN packets and strips
/// the packet headers from what it reads; afterwards it passes bytes through.
pub struct PreloginFramed<S> {
    inner: S,
    handshaking: bool,
    /// Header of the packet being read, and how much of it has arrived.
    read_header: [u8; HEADER_LEN],
    read_header_len: usize,
    /// Payload bytes of the current packet not yet read.
    read_payload_left: usize,
    /// Outgoing handshake bytes, framed on flush; and how much of the framed packets went out.
    write_pending: Vec<u8>,
    write_framed: Vec<u8>,
    write_sent: usize,
    packet_id: u8,
}

impl<S> PreloginFramed<S> {
    pub fn new(inner: S, handshaking: bool) -> Self {
        PreloginFramed {
            inner,
            handshaking,
            read_header: [0; HEADER_LEN],
            read_header_len: 0,
            read_payload_left: 0,
            write_pending: Vec::new(),
            write_framed: Vec::new(),
            write_sent: 0,
            packet_id: 1,
        }
    }

    /// The handshake is over: from now on bytes pass through unchanged.
    pub fn handshake_done(&mut self) {
        self.handshaking = false;
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PreloginFramed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.handshaking {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        while this.read_payload_left == 0 {
            let mut header = ReadBuf::new(&mut this.read_header[this.read_header_len..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut header))?;
            let got = header.filled().len();
            if got == 0 {
                // End of stream: TLS reports it.
                return Poll::Ready(Ok(()));
            }
            this.read_header_len += got;
            if this.read_header_len == HEADER_LEN {
                let length = usize::from(u16::from_be_bytes([
                    this.read_header[2],
                    this.read_header[3],
                ]));
                if this.read_header[0] != packet_type::TABULAR_RESULT
                    && this.read_header[0] != packet_type::PRELOGIN
                    || length < HEADER_LEN
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the server framed its TLS handshake wrongly",
                    )));
                }
                this.read_payload_left = length - HEADER_LEN;
                this.read_header_len = 0;
            }
        }
        let room = buf.remaining().min(this.read_payload_left);
        let mut part = ReadBuf::new(buf.initialize_unfilled_to(room));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
        let got = part.filled().len();
        buf.advance(got);
        this.read_payload_left -= got;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PreloginFramed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.handshaking {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        this.write_pending.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.write_framed.is_empty() && !this.write_pending.is_empty() {
            // The handshake runs before LOGIN7 sets a packet size: the initial one applies.
            pgmig_core::tds_wire::frame_message(
                &mut this.write_framed,
                packet_type::PRELOGIN,
                &this.write_pending,
                INITIAL_PACKET_SIZE,
                &mut this.packet_id,
            );
            this.write_pending.clear();
            this.write_sent = 0;
        }
        while this.write_sent < this.write_framed.len() {
            let sent = ready!(
                Pin::new(&mut this.inner).poll_write(cx, &this.write_framed[this.write_sent..])
            )?;
            if sent == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.write_sent += sent;
        }
        this.write_framed.clear();
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgmig_core::tds_wire::STATUS_END_OF_MESSAGE;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn handshake_bytes_travel_in_prelogin_packets_then_pass_through() {
        runtime().block_on(async {
            let (client, mut server) = tokio::io::duplex(1 << 16);
            let mut framed = PreloginFramed::new(client, true);
            framed.write_all(b"hello").await.unwrap();
            framed.write_all(b" tls").await.unwrap();
            framed.flush().await.unwrap();
            let mut packet = [0u8; HEADER_LEN + 9];
            server.read_exact(&mut packet).await.unwrap();
            assert_eq!(
                &packet[..4],
                &[packet_type::PRELOGIN, STATUS_END_OF_MESSAGE, 0, 17]
            );
            assert_eq!(&packet[HEADER_LEN..], b"hello tls");

            // The server's answer, in two packets, reads back as one byte stream.
            server
                .write_all(&[4, 0, 0, 11, 0, 0, 1, 0, b'a', b'b', b'c'])
                .await
                .unwrap();
            server
                .write_all(&[4, 1, 0, 10, 0, 0, 2, 0, b'd', b'e'])
                .await
                .unwrap();
            let mut read = [0u8; 5];
            framed.read_exact(&mut read).await.unwrap();
            assert_eq!(&read, b"abcde");

            framed.handshake_done();
            framed.write_all(b"raw").await.unwrap();
            framed.flush().await.unwrap();
            let mut raw = [0u8; 3];
            server.read_exact(&mut raw).await.unwrap();
            assert_eq!(&raw, b"raw");
        });
    }

    #[test]
    fn a_handshake_packet_of_another_type_is_refused() {
        runtime().block_on(async {
            let (client, mut server) = tokio::io::duplex(1024);
            let mut framed = PreloginFramed::new(client, true);
            server
                .write_all(&[0x01, 1, 0, 9, 0, 0, 1, 0, b'x'])
                .await
                .unwrap();
            let mut read = [0u8; 1];
            let error = framed.read_exact(&mut read).await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        });
    }
}
