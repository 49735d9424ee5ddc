//! Opening a TDS connection with tiberius: TCP, TLS and login under one deadline, and the
//! translation of tiberius's errors into pgmig's, with the password masked out of every text.

use crate::error::{PgmigError, Result, ServerError};
use pgmig_core::mask::mask_secret;
use pgmig_core::options::{Encrypt, ServerOptions, UserMappingOptions};
use std::time::Duration;
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub type TdsClient = Client<Compat<TcpStream>>;

/// TDS packet size asked for when the server sets none: the largest TDS allows. Rows stream in
/// 8x fewer packets (and reads) than at the 4096 default; SQL Server grants it.
pub(super) const DEFAULT_PACKET_SIZE: u32 = 32767;

/// Everything needed to open a connection, read from the catalogs on the main thread and moved
/// to the network thread.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    pub server: ServerOptions,
    pub login: UserMappingOptions,
    pub connect_timeout: Duration,
    /// "pgmig" unless the server sets application_name: shows in SQL Server's sys.dm_exec_sessions.
    pub application_name: String,
}

impl ConnectParams {
    /// `host:port` as the user configured it; used in every connection message.
    pub fn address(&self) -> String {
        if self.server.host.contains(':') {
            // An IPv6 literal.
            format!("[{}]:{}", self.server.host, self.server.port)
        } else {
            format!("{}:{}", self.server.host, self.server.port)
        }
    }

    pub(super) fn mask(&self, text: &str) -> String {
        mask_secret(text, &self.login.password).into_owned()
    }

    fn tiberius_config(&self) -> Config {
        let mut config = Config::new();
        config.host(&self.server.host);
        config.port(self.server.port);
        if let Some(database) = &self.server.database {
            config.database(database);
        }
        config.application_name(&self.application_name);
        config.authentication(AuthMethod::sql_server(
            &self.login.user,
            &self.login.password,
        ));
        config.encryption(match self.server.encrypt {
            Encrypt::Off => EncryptionLevel::Off,
            Encrypt::On => EncryptionLevel::On,
            Encrypt::Required => EncryptionLevel::Required,
            Encrypt::Strict => EncryptionLevel::Strict,
        });
        if self.server.trust_server_certificate {
            config.trust_cert();
        }
        config.packet_size(self.server.packet_size.unwrap_or(DEFAULT_PACKET_SIZE));
        config
    }

    /// An error while connecting or logging in.
    fn connect_error(&self, error: tiberius::error::Error) -> PgmigError {
        let address = self.address();
        match error {
            tiberius::error::Error::Server(token) => {
                let error = Box::new(self.server_error(&token));
                PgmigError::LoginFailed {
                    address,
                    user: self.login.user.clone(),
                    error,
                }
            }
            tiberius::error::Error::Tls(reason) => PgmigError::Tls {
                address,
                reason: self.mask(&reason),
            },
            tiberius::error::Error::Protocol(reason) if reason.contains("encryption") => {
                PgmigError::Tls {
                    address,
                    reason: self.mask(&reason),
                }
            }
            tiberius::error::Error::Io { message, .. } => PgmigError::Connect {
                address,
                reason: self.mask(&message),
            },
            tiberius::error::Error::Routing { host, port } => PgmigError::Unsupported {
                what: format!("a redirect from {address} to {host}:{port}"),
                hint: format!("Point the server's host and port options at {host}:{port}."),
            },
            other => PgmigError::Protocol(self.mask(&other.to_string())),
        }
    }

    /// An error on an established connection.
    pub fn query_error(&self, error: tiberius::error::Error) -> PgmigError {
        match error {
            tiberius::error::Error::Server(token) => {
                PgmigError::Server(Box::new(self.server_error(&token)))
            }
            tiberius::error::Error::Io { message, .. } => PgmigError::ConnectionLost {
                address: self.address(),
                reason: self.mask(&message),
            },
            other => PgmigError::Protocol(self.mask(&other.to_string())),
        }
    }

    fn server_error(&self, token: &tiberius::error::TokenError) -> ServerError {
        ServerError {
            number: token.code(),
            class: token.class(),
            state: token.state(),
            message: self.mask(token.message()),
            server: self.mask(token.server()),
            procedure: self.mask(token.procedure()),
            line: token.line(),
        }
    }
}

/// Makes `ring` the process's rustls crypto provider, which tiberius uses when one is installed.
/// Its fallback, aws-lc-rs, seeds its random generator from CPU-jitter entropy the first time a
/// process uses it: ~55 ms of CPU in every new backend, more than a whole 10K-row pull takes.
/// ring seeds from the kernel (getrandom). Idempotent; a provider installed earlier in this
/// process by another extension is kept.
pub(super) fn install_crypto_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Opens a connection: TCP, TLS and login must all finish within the connect timeout.
pub async fn connect(params: &ConnectParams) -> Result<TdsClient> {
    install_crypto_provider();
    params
        .within_connect_timeout(async {
            let tcp = params.open_tcp().await?;
            Client::connect(params.tiberius_config(), tcp.compat_write())
                .await
                .map_err(|e| params.connect_error(e))
        })
        .await
}

impl ConnectParams {
    /// The TCP connection to the server. Small control messages and requests must not wait for
    /// Nagle, so it is off.
    pub(super) async fn open_tcp(&self) -> Result<TcpStream> {
        let tcp = TcpStream::connect((self.server.host.as_str(), self.server.port))
            .await
            .map_err(|e| PgmigError::Connect {
                address: self.address(),
                reason: self.mask(&e.to_string()),
            })?;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }

    /// `attempt` (TCP, TLS and login together) within the connect timeout.
    pub(super) async fn within_connect_timeout<T>(
        &self,
        attempt: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(PgmigError::ConnectTimeout {
                address: self.address(),
                seconds: self.connect_timeout.as_secs(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(password: &str) -> ConnectParams {
        ConnectParams {
            server: ServerOptions::parse(&[("host", "127.0.0.1"), ("port", "1")]).unwrap(),
            login: UserMappingOptions {
                user: "loader".into(),
                password: password.into(),
            },
            connect_timeout: Duration::from_secs(1),
            application_name: "pgmig".into(),
        }
    }

    #[test]
    fn io_errors_are_masked() {
        let p = params("hunter2");
        let error = p.connect_error(tiberius::error::Error::Io {
            kind: std::io::ErrorKind::Other,
            message: "bad thing near hunter2".into(),
        });
        let text = format!("{error} {:?}", error.detail());
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("127.0.0.1:1"));
    }

    #[test]
    fn ipv6_address_is_bracketed() {
        let mut p = params("x");
        p.server.host = "::1".into();
        assert_eq!(p.address(), "[::1]:1");
    }
}
