//! The SQL surface: thin `#[pg_extern]` functions that convert arguments, call into the
//! modules, and turn a `PgmigError` into a PostgreSQL ERROR.

mod describe;
mod fdw;
mod ping;
mod pull;

use crate::error::Result;

/// The value, or the error raised as a PostgreSQL ERROR.
fn or_report<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|error| error.report())
}
