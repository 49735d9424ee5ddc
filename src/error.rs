//! The one error enum of pgmig. Every case has a deliberate SQLSTATE; SQL Server's own error
//! number and message go in DETAIL; no message ever carries a password (the network side masks
//! server and library text before it builds an error).

use crate::tds::ValueError;
use pgmig_core::copy_binary::EncodeError;
use pgmig_core::ident::IdentError;
use pgmig_core::options::OptionError;
use pgmig_core::plan::PlanError;
use pgmig_core::typemap::ColumnMismatch;
use pgmig_core::watermark::{WatermarkError, WATERMARK_TYPES};
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
    /// A function argument out of its domain (mode, batch_rows, a malformed name).
    InvalidArgument {
        message: String,
        hint: Option<String>,
    },
    /// No server given, none in `pgmig.server`, and not exactly one pgmig server exists.
    NoDefaultServer { candidates: Vec<String> },
    /// The source table or view does not exist (or the login cannot see it).
    UnknownSourceTable {
        server: String,
        schema: String,
        table: String,
    },
    /// Columns, key or names that do not fit the source table.
    Plan(PlanError),
    /// The existing target cannot take the source columns.
    TargetMismatch {
        target: String,
        mismatches: Vec<ColumnMismatch>,
    },
    /// A target that is not an ordinary table (a view, a foreign table...).
    TargetNotTable { target: String, kind: String },
    /// `replace` of a table other objects depend on.
    TargetHasDependents {
        target: String,
        dependents: Vec<String>,
    },
    /// `upsert` into a target without a unique index on exactly the key columns.
    TargetKeyNotUnique { target: String, key: Vec<String> },
    /// One value could not be loaded; names its row and column.
    Value {
        column: String,
        /// `Id = 42, Site = 3` when the pull has a key.
        row_key: Option<String>,
        /// 1-based position of the row in the stream.
        row_number: u64,
        error: ValueError,
    },
    /// `watermark =>` names a column the source table does not have.
    UnknownWatermarkColumn {
        name: String,
        available: Vec<String>,
    },
    /// `watermark =>` names a column whose type cannot be a watermark.
    WatermarkType(WatermarkError),
    /// An upsert under a transaction snapshot (REPEATABLE READ, SERIALIZABLE) waited for
    /// another run of its sync: its snapshot cannot see what that run committed.
    SyncChangedWhileWaiting { target: String },
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
            PgmigError::SyncChangedWhileWaiting { .. } => ERRCODE_T_R_SERIALIZATION_FAILURE,
            PgmigError::Unsupported { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            PgmigError::Internal(_) => ERRCODE_INTERNAL_ERROR,
            PgmigError::InvalidArgument { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
            PgmigError::NoDefaultServer { .. } => ERRCODE_UNDEFINED_OBJECT,
            PgmigError::UnknownSourceTable { .. } => ERRCODE_UNDEFINED_TABLE,
            PgmigError::Plan(error) => match error {
                PlanError::UnknownColumns { .. }
                | PlanError::UnknownKeyColumns { .. }
                | PlanError::KeyNotSelected { .. } => ERRCODE_UNDEFINED_COLUMN,
                PlanError::DuplicateColumn { .. } => ERRCODE_DUPLICATE_COLUMN,
                PlanError::NoColumns => ERRCODE_INVALID_PARAMETER_VALUE,
                PlanError::UpsertWithoutKey => ERRCODE_INVALID_COLUMN_REFERENCE,
                PlanError::TypeMap(_) => ERRCODE_FEATURE_NOT_SUPPORTED,
                PlanError::Ident(IdentError::Collisions { .. }) => ERRCODE_DUPLICATE_COLUMN,
                PlanError::Ident(IdentError::TooLong { .. }) => ERRCODE_NAME_TOO_LONG,
                PlanError::Ident(_) => ERRCODE_INVALID_NAME,
            },
            PgmigError::TargetMismatch { .. } => ERRCODE_DATATYPE_MISMATCH,
            PgmigError::TargetNotTable { .. } => ERRCODE_WRONG_OBJECT_TYPE,
            PgmigError::TargetHasDependents { .. } => ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
            PgmigError::TargetKeyNotUnique { .. } => ERRCODE_INVALID_COLUMN_REFERENCE,
            PgmigError::UnknownWatermarkColumn { .. } => ERRCODE_UNDEFINED_COLUMN,
            PgmigError::WatermarkType(_) => ERRCODE_DATATYPE_MISMATCH,
            PgmigError::Value { error, .. } => match error {
                ValueError::Encode(EncodeError::NulInString { .. }) => {
                    ERRCODE_UNTRANSLATABLE_CHARACTER
                }
                ValueError::Encode(
                    EncodeError::UnpairedSurrogate { .. }
                    | EncodeError::OddUtf16Length { .. }
                    | EncodeError::InvalidText { .. },
                ) => ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
                ValueError::Encode(EncodeError::TooLarge { .. }) => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                ValueError::OutOfRange { .. } => ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                ValueError::Encode(_) => ERRCODE_DATA_EXCEPTION,
                ValueError::Unexpected { .. } => ERRCODE_PROTOCOL_VIOLATION,
            },
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
            PgmigError::TargetMismatch { mismatches, .. } => Some(
                mismatches
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            PgmigError::TargetHasDependents { dependents, .. } => {
                Some(format!("Depending objects: {}.", dependents.join(", ")))
            }
            PgmigError::Value {
                row_key,
                row_number,
                error,
                ..
            } => Some(match row_key {
                Some(key) => format!("Row with {key}: {error}."),
                None => format!("Row {row_number} of the source: {error}."),
            }),
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
            PgmigError::SyncChangedWhileWaiting { .. } => Some(
                "Retry the transaction, or run the pull in a READ COMMITTED transaction, which \
                 reads what the other run committed."
                    .into(),
            ),
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
            PgmigError::InvalidArgument { hint, .. } => hint.clone(),
            PgmigError::NoDefaultServer { candidates } => Some(if candidates.is_empty() {
                "Create one with CREATE SERVER name FOREIGN DATA WRAPPER pgmig OPTIONS (host '...')."
                    .into()
            } else {
                format!(
                    "Pass server => one of: {}; or SET pgmig.server.",
                    candidates.join(", ")
                )
            }),
            PgmigError::UnknownSourceTable { .. } => Some(
                "Give the table as schema.table (the schema defaults to dbo); the login must be \
                 able to see it (VIEW DEFINITION or SELECT on it)."
                    .into(),
            ),
            PgmigError::Plan(error) => error.hint(),
            PgmigError::TargetMismatch { .. } => Some(
                "Alter the target's columns, pick the columns to read with columns =>, or load \
                 into a new target."
                    .into(),
            ),
            PgmigError::TargetHasDependents { .. } => Some(
                "Use mode => 'truncate', which keeps the table and its dependents.".into(),
            ),
            PgmigError::TargetKeyNotUnique { key, .. } => Some(format!(
                "Add a primary key or unique index on ({}), or name other key columns with key =>.",
                key.join(", ")
            )),
            PgmigError::UnknownWatermarkColumn { available, .. } => Some(format!(
                "The source table's columns are: {}.",
                available.join(", ")
            )),
            PgmigError::WatermarkType(_) => Some(format!(
                "A watermark column is one of: {WATERMARK_TYPES}; rowversion is the safe choice."
            )),
            PgmigError::Value {
                error: ValueError::Encode(EncodeError::NulInString { .. }),
                ..
            } => Some(
                "SET pgmig.nul_characters = 'strip' drops NUL characters from text values.".into(),
            ),
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
            PgmigError::InvalidArgument { message, .. } => f.write_str(message),
            PgmigError::NoDefaultServer { candidates } if candidates.is_empty() => {
                write!(f, "no pgmig server exists")
            }
            PgmigError::NoDefaultServer { .. } => write!(
                f,
                "more than one pgmig server exists and neither server => nor pgmig.server names one"
            ),
            PgmigError::UnknownSourceTable {
                server,
                schema,
                table,
            } => write!(
                f,
                "table \"{schema}.{table}\" does not exist on server \"{server}\""
            ),
            PgmigError::Plan(error) => write!(f, "{error}"),
            PgmigError::TargetMismatch { target, mismatches } => write!(
                f,
                "target table {target} cannot take the source columns ({} mismatch{})",
                mismatches.len(),
                if mismatches.len() == 1 { "" } else { "es" }
            ),
            PgmigError::TargetNotTable { target, kind } => {
                write!(f, "target {target} is a {kind}, not a table")
            }
            PgmigError::TargetHasDependents { target, .. } => write!(
                f,
                "cannot replace table {target} because other objects depend on it"
            ),
            PgmigError::TargetKeyNotUnique { target, key } => write!(
                f,
                "target table {target} has no primary key or unique index on ({})",
                key.join(", ")
            ),
            PgmigError::UnknownWatermarkColumn { name, .. } => {
                write!(
                    f,
                    "watermark column \"{name}\" not found in the source table"
                )
            }
            PgmigError::WatermarkType(error) => write!(f, "{error}"),
            PgmigError::SyncChangedWhileWaiting { target } => write!(
                f,
                "could not serialize access: another upsert of the same sync into {target} \
                 ended while this one waited for it"
            ),
            PgmigError::Value { column, .. } => {
                write!(f, "cannot load a value of source column \"{column}\"")
            }
        }
    }
}

impl From<PlanError> for PgmigError {
    fn from(error: PlanError) -> Self {
        PgmigError::Plan(error)
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
