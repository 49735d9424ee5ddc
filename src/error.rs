//! The one error enum of pgmig. Every case has a deliberate SQLSTATE; SQL Server's own error
//! number and message go in DETAIL; no message ever carries a password (the network side masks
//! server and library text before it builds an error).

use pgmig_core::options::OptionError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use std::fmt;

/// An error raised by SQL Server (an ERROR token), as it sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub number: u32,
    pub class: u8,
    pub state: u8,
    pub message: String,
    pub server: String,
    pub procedure: String,
    pub line: u32,
}

impl ServerError {
    /// "SQL Server error 208, severity 16, state 1, line 1: Invalid object name 'x'."
    pub fn detail(&self) -> String {
        let mut detail = format!(
            "SQL Server error {}, severity {}, state {}",
            self.number, self.class, self.state
        );
        if !self.procedure.is_empty() {
            detail.push_str(&format!(", procedure {}", self.procedure));
        }
        if self.line > 0 {
            detail.push_str(&format!(", line {}", self.line));
        }
        detail.push_str(": ");
        detail.push_str(&self.message);
        detail
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgmigError {
    /// A server or user-mapping option list the validator refuses.
    InvalidOption(OptionError),
    /// No foreign server of that name.
    UnknownServer { server: String },
    /// The server exists but belongs to another foreign-data wrapper.
    NotPgmigServer { server: String, wrapper: String },
    /// The caller lacks USAGE on the server.
    NoServerUsage { server: String },
    /// Neither the caller nor PUBLIC has a user mapping for the server.
    NoUserMapping { server: String, role: String },
    /// TCP connect refused, unreachable, or DNS failure.
    Connect { address: String, reason: String },
    /// TCP + TLS + login took longer than the connect timeout.
    ConnectTimeout { address: String, seconds: u64 },
    /// TLS negotiation failed (certificate, encryption level).
    Tls { address: String, reason: String },
    /// SQL Server refused the login (error 18456 and friends).
    LoginFailed {
        address: String,
        user: String,
        error: Box<ServerError>,
    },
    /// SQL Server raised an error for a statement.
    Server(Box<ServerError>),
    /// The connection broke after login.
    ConnectionLost { address: String, reason: String },
    /// The server sent something the client does not understand.
    Protocol(String),
    /// A feature pgmig does not support (yet), with what to do instead.
    Unsupported { what: String, hint: String },
    /// A bug in pgmig; the message says where.
    Internal(String),
}

impl PgmigError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            PgmigError::InvalidOption(OptionError::Unknown { .. }) => {
                ERRCODE_FDW_INVALID_OPTION_NAME
            }
            PgmigError::InvalidOption(OptionError::Missing { .. }) => {
                ERRCODE_FDW_OPTION_NAME_NOT_FOUND
            }
            PgmigError::InvalidOption(OptionError::Malformed { .. }) => {
                ERRCODE_INVALID_PARAMETER_VALUE
            }
            PgmigError::UnknownServer { .. } | PgmigError::NoUserMapping { .. } => {
                ERRCODE_UNDEFINED_OBJECT
            }
            PgmigError::NotPgmigServer { .. } => ERRCODE_WRONG_OBJECT_TYPE,
            PgmigError::NoServerUsage { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            PgmigError::Connect { .. }
            | PgmigError::ConnectTimeout { .. }
            | PgmigError::Tls { .. } => ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
            PgmigError::LoginFailed { .. } => ERRCODE_INVALID_PASSWORD,
            PgmigError::Server(error) => sqlstate_for_server_error(error.number),
            PgmigError::ConnectionLost { .. } => ERRCODE_CONNECTION_FAILURE,
            PgmigError::Protocol(_) => ERRCODE_PROTOCOL_VIOLATION,
            PgmigError::Unsupported { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            PgmigError::Internal(_) => ERRCODE_INTERNAL_ERROR,
        }
    }

    pub fn detail(&self) -> Option<String> {
        match self {
            PgmigError::LoginFailed { error, .. } | PgmigError::Server(error) => {
                Some(error.detail())
            }
            PgmigError::Connect { reason, .. }
            | PgmigError::Tls { reason, .. }
            | PgmigError::ConnectionLost { reason, .. } => Some(reason.clone()),
            _ => None,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            PgmigError::InvalidOption(error) => Some(error.hint()),
            PgmigError::UnknownServer { .. } => Some(
                "Create it with CREATE SERVER name FOREIGN DATA WRAPPER pgmig OPTIONS (host '...'); \
                 existing ones are listed by SELECT srvname FROM pg_foreign_server."
                    .into(),
            ),
            PgmigError::NoServerUsage { server } => {
                Some(format!("GRANT USAGE ON FOREIGN SERVER {server} TO the role."))
            }
            PgmigError::NoUserMapping { server, .. } => Some(format!(
                "CREATE USER MAPPING FOR CURRENT_USER SERVER {server} OPTIONS (user '...', password '...');"
            )),
            PgmigError::ConnectTimeout { .. } => Some(
                "Check host, port and firewall; raise the server's connect_timeout option or \
                 pgmig.connect_timeout for a slow network."
                    .into(),
            ),
            PgmigError::Tls { .. } => Some(
                "Check the server's encrypt and trust_server_certificate options against the \
                 SQL Server's certificate and its Force Encryption setting."
                    .into(),
            ),
            PgmigError::Unsupported { hint, .. } => Some(hint.clone()),
            _ => None,
        }
    }

    /// Raises this error as a PostgreSQL ERROR. Does not return.
    pub fn report(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), self.to_string(), "pgmig");
        if let Some(detail) = self.detail() {
            report = report.set_detail(detail);
        }
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
}

/// SQL Server error numbers that have a PostgreSQL SQLSTATE of the same meaning; the rest are
/// "fdw_error" with the number in DETAIL.
fn sqlstate_for_server_error(number: u32) -> PgSqlErrorCode {
    use PgSqlErrorCode::*;
    match number {
        102 | 156 | 170 => ERRCODE_SYNTAX_ERROR,
        207 => ERRCODE_UNDEFINED_COLUMN,
        208 => ERRCODE_UNDEFINED_TABLE,
        229 | 230 | 262 | 297 | 300 => ERRCODE_INSUFFICIENT_PRIVILEGE,
        245 | 8114 | 8115 => ERRCODE_DATA_EXCEPTION,
        515 => ERRCODE_NOT_NULL_VIOLATION,
        547 => ERRCODE_FOREIGN_KEY_VIOLATION,
        1205 => ERRCODE_T_R_DEADLOCK_DETECTED,
        2601 | 2627 => ERRCODE_UNIQUE_VIOLATION,
        3960 => ERRCODE_T_R_SERIALIZATION_FAILURE,
        4060 => ERRCODE_INVALID_CATALOG_NAME,
        18456 => ERRCODE_INVALID_PASSWORD,
        _ => ERRCODE_FDW_ERROR,
    }
}

impl fmt::Display for PgmigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgmigError::InvalidOption(error) => write!(f, "{error}"),
            PgmigError::UnknownServer { server } => {
                write!(f, "server \"{server}\" does not exist")
            }
            PgmigError::NotPgmigServer { server, wrapper } => write!(
                f,
                "server \"{server}\" belongs to foreign-data wrapper \"{wrapper}\", not pgmig"
            ),
            PgmigError::NoServerUsage { server } => {
                write!(f, "permission denied for foreign server {server}")
            }
            PgmigError::NoUserMapping { server, role } => {
                write!(
                    f,
                    "no user mapping for role \"{role}\" (or PUBLIC) on server \"{server}\""
                )
            }
            PgmigError::Connect { address, .. } => {
                write!(f, "could not connect to SQL Server at {address}")
            }
            PgmigError::ConnectTimeout { address, seconds } => write!(
                f,
                "could not connect to SQL Server at {address}: timed out after {seconds} s"
            ),
            PgmigError::Tls { address, .. } => {
                write!(f, "could not establish TLS with SQL Server at {address}")
            }
            PgmigError::LoginFailed { address, user, .. } => {
                write!(
                    f,
                    "SQL Server at {address} refused the login of user \"{user}\""
                )
            }
            PgmigError::Server(error) => write!(f, "SQL Server: {}", error.message),
            PgmigError::ConnectionLost { address, .. } => {
                write!(f, "connection to SQL Server at {address} was lost")
            }
            PgmigError::Protocol(message) => write!(f, "TDS protocol error: {message}"),
            PgmigError::Unsupported { what, .. } => write!(f, "{what} is not supported"),
            PgmigError::Internal(message) => write!(f, "pgmig internal error: {message}"),
        }
    }
}

impl From<OptionError> for PgmigError {
    fn from(error: OptionError) -> Self {
        PgmigError::InvalidOption(error)
    }
}

pub type Result<T> = std::result::Result<T, PgmigError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(number: u32) -> ServerError {
        ServerError {
            number,
            class: 16,
            state: 1,
            message: "Invalid object name 'dbo.Nope'.".into(),
            server: "test".into(),
            procedure: String::new(),
            line: 1,
        }
    }

    #[test]
    fn server_errors_map_to_their_postgres_meaning() {
        let state = |n| PgmigError::Server(Box::new(server_error(n))).sqlstate();
        assert_eq!(state(208), PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE);
        assert_eq!(state(207), PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN);
        assert_eq!(state(1205), PgSqlErrorCode::ERRCODE_T_R_DEADLOCK_DETECTED);
        assert_eq!(state(2627), PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION);
        assert_eq!(state(229), PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE);
        assert_eq!(state(50000), PgSqlErrorCode::ERRCODE_FDW_ERROR);
    }

    #[test]
    fn server_error_detail_carries_number_and_message() {
        let detail = PgmigError::Server(Box::new(server_error(208)))
            .detail()
            .unwrap();
        assert_eq!(
            detail,
            "SQL Server error 208, severity 16, state 1, line 1: Invalid object name 'dbo.Nope'."
        );
    }

    #[test]
    fn connection_errors_are_08001_and_login_is_28p01() {
        let refused = PgmigError::Connect {
            address: "127.0.0.1:1".into(),
            reason: "Connection refused (os error 111)".into(),
        };
        assert_eq!(
            refused.sqlstate(),
            PgSqlErrorCode::ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION
        );
        assert_eq!(
            refused.to_string(),
            "could not connect to SQL Server at 127.0.0.1:1"
        );
        let login = PgmigError::LoginFailed {
            address: "h:1433".into(),
            user: "sa".into(),
            error: Box::new(server_error(18456)),
        };
        assert_eq!(login.sqlstate(), PgSqlErrorCode::ERRCODE_INVALID_PASSWORD);
        assert!(login
            .detail()
            .unwrap()
            .starts_with("SQL Server error 18456"));
    }
}
