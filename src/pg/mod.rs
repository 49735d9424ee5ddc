//! The backend side: everything that calls into PostgreSQL, on the main thread only.

// The data path of pull_table (issue 4, in progress): until pull_table lands only the
// #[pg_test]s call it.
#[allow(dead_code)]
pub mod copy;
pub mod server;

/// Raises PostgreSQL's pending cancel or timeout, if any. Passed to the network side's waits.
pub fn check_interrupts() {
    pgrx::check_for_interrupts!();
}
