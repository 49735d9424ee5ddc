//! `pgmig.ping(server)`: connect with the caller's user mapping and return `SELECT @@VERSION`.

use super::or_report;
use crate::{pg, tds};
use pgrx::prelude::*;

#[pg_extern]
fn ping(server: &str) -> String {
    or_report(
        pg::server::connect_params(server)
            .and_then(|params| tds::ping(params, &mut pg::check_interrupts)),
    )
}
