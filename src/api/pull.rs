//! `pgmig.pull_table(...)`: one SQL Server table into PostgreSQL; one summary row. Every run is
//! recorded in `pgmig.runs`, failed and cancelled ones too.

use super::or_report;
use crate::pg::pull::{pull, resolve_server, PullArgs, PullSummary};
use crate::pg::runs::{self, RunRecord};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::SystemTime;

#[allow(clippy::too_many_arguments, clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe)]
fn pull_table(
    source: &str,
    target: default!(Option<&str>, "NULL"),
    server: default!(Option<&str>, "NULL"),
    mode: default!(&str, "'append'"),
    key: default!(Option<Vec<String>>, "NULL"),
    columns: default!(Option<Vec<String>>, "NULL"),
    filter: default!(Option<&str>, "NULL"),
    batch_rows: default!(Option<i32>, "NULL"),
    watermark: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(run_id, i64),
        name!(source, String),
        name!(target, String),
        name!(mode, String),
        name!(rows_read, i64),
        name!(rows_written, i64),
        name!(rows_unchanged, i64),
        name!(bytes, i64),
        name!(seconds, f64),
        name!(rows_per_sec, f64),
    ),
> {
    let run_id = runs::next_run_id();
    let args = PullArgs {
        source: source.to_string(),
        target: target.map(str::to_string),
        server: server.map(str::to_string),
        mode: mode.to_string(),
        key,
        columns,
        filter: filter.map(str::to_string),
        batch_rows,
        watermark: watermark.map(str::to_string),
        run_id,
    };
    let (role, xid) = runs::current_role_and_xid();
    let started = SystemTime::now();
    let mut record = RunRecord {
        run_id,
        role,
        server: args.server.clone(),
        source: args.source.clone(),
        target: args.target.clone(),
        mode: args.mode.clone(),
        started: runs::epoch_seconds(started),
        xid,
        ..RunRecord::default()
    };
    // PostgreSQL errors raised inside (COPY, SPI, a cancel) arrive as panics: record, re-raise.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // The run log names the server used, not the argument, even when the pull fails later.
        let mut args = args;
        if let Ok(server) = resolve_server(args.server.as_deref()) {
            record.server = Some(server.clone());
            args.server = Some(server);
        }
        pull(args)
    }));
    record.finished = runs::epoch_seconds(SystemTime::now());
    match outcome {
        Ok(Ok(summary)) => {
            fill(&mut record, &summary);
            record.status = "ok".into();
            runs::record(record);
            let rows_per_sec = if summary.seconds > 0.0 {
                summary.rows_read as f64 / summary.seconds
            } else {
                0.0
            };
            let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            TableIterator::once((
                run_id,
                summary.source,
                summary.target,
                summary.mode,
                as_i64(summary.rows_read),
                as_i64(summary.rows_written),
                as_i64(summary.rows_unchanged),
                as_i64(summary.bytes),
                summary.seconds,
                rows_per_sec,
            ))
        }
        Ok(Err(error)) => {
            record.status = "failed".into();
            record.sqlstate = Some(sqlstate_text(error.sqlstate()));
            record.error = Some(error.to_string());
            runs::record(record);
            or_report(Err(error))
        }
        Err(panic) => {
            let (sqlstate, message) = match panic.downcast_ref::<CaughtError>() {
                Some(
                    CaughtError::PostgresError(report)
                    | CaughtError::ErrorReport(report)
                    | CaughtError::RustPanic {
                        ereport: report, ..
                    },
                ) => (report.sql_error_code(), report.message().to_string()),
                None => (
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    "pgmig: unexpected panic".to_string(),
                ),
            };
            record.status = if sqlstate == PgSqlErrorCode::ERRCODE_QUERY_CANCELED {
                "cancelled".into()
            } else {
                "failed".into()
            };
            record.sqlstate = Some(sqlstate_text(sqlstate));
            record.error = Some(message);
            runs::record(record);
            resume_unwind(panic)
        }
    }
}

fn fill(record: &mut RunRecord, summary: &PullSummary) {
    record.server = Some(summary.server.clone());
    record.source = summary.source.clone();
    record.target = Some(summary.target.clone());
    record.mode = summary.mode.clone();
    record.rows_read = summary.rows_read;
    record.rows_written = summary.rows_written;
    record.rows_unchanged = summary.rows_unchanged;
    record.bytes = summary.bytes;
}

/// `42P01` from PostgreSQL's packed representation.
fn sqlstate_text(code: PgSqlErrorCode) -> String {
    let packed = code as i32;
    (0..5)
        .map(|i| {
            let six_bits = ((packed >> (6 * i)) & 0x3f) as u8;
            char::from(six_bits + b'0')
        })
        .collect()
}

extension_sql_file!("../../sql/runs.sql", name = "runs");
extension_sql_file!("../../sql/watermarks.sql", name = "watermarks");
