//! The backend side: everything that calls into PostgreSQL, on the main thread only.

pub mod compare;
pub mod copy;
pub mod pull;
pub mod runs;
pub mod server;
pub mod watermark;

/// Raises PostgreSQL's pending cancel or timeout, if any. Passed to the network side's waits.
pub fn check_interrupts() {
    pgrx::check_for_interrupts!();
}
