//! pgmig: move tables between Microsoft SQL Server and PostgreSQL from inside PostgreSQL.
//!
//! Layout (see README "Code layout"):
//! - `api/`: thin `#[pg_extern]` functions: convert arguments, call into modules, map errors;
//! - `pg/`: the backend side: catalogs, user mappings, waits that check for interrupts;
//! - `tds/`: the network side: tiberius on a current-thread tokio runtime in its own thread,
//!   never calling PostgreSQL;
//! - `error.rs`: the one error enum and its SQLSTATEs; `gucs.rs`: every `pgmig.*` setting;
//! - the pure logic lives in the `pgmig-core` crate (`core/`), which never imports pgrx.

use pgrx::prelude::*;

mod api;
mod error;
mod gucs;
mod pg;
mod tds;

::pgrx::pg_module_magic!(name, version);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
}

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
