//! The run log (`pgmig.runs`). A run's row must survive the rollback of the run's own data
//! (a failed pull rolls back everything it wrote), so it is written by a short-lived dynamic
//! background worker in a transaction of its own. The record travels to the worker in a
//! dynamic shared memory segment; the backend waits for the worker, so the row is there when
//! the pull's statement returns.
//!
//! The worker connects as the bootstrap superuser to insert into `pgmig.run_log`; it runs no
//! user-supplied SQL, only one parameterised INSERT of the record the backend built.

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use std::time::SystemTime;

/// What is recorded of one run.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub run_id: i64,
    pub role: String,
    pub server: Option<String>,
    pub source: String,
    pub target: Option<String>,
    pub mode: String,
    /// Seconds since the Unix epoch.
    pub started: f64,
    pub finished: f64,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_unchanged: u64,
    pub bytes: u64,
    /// ok, failed or cancelled.
    pub status: String,
    pub sqlstate: Option<String>,
    pub error: Option<String>,
    /// The pull's transaction (xid8 as text).
    pub xid: Option<String>,
    pub database: u32,
}

pub fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Field separator of the serialized record: PostgreSQL text never holds NUL.
const SEPARATOR: char = '\0';

impl RunRecord {
    fn serialize(&self) -> String {
        let optional = |value: &Option<String>| match value {
            Some(text) => format!("+{text}"),
            None => "-".to_string(),
        };
        let fields: Vec<String> = vec![
            self.run_id.to_string(),
            self.role.clone(),
            optional(&self.server),
            self.source.clone(),
            optional(&self.target),
            self.mode.clone(),
            self.started.to_string(),
            self.finished.to_string(),
            self.rows_read.to_string(),
            self.rows_written.to_string(),
            self.rows_unchanged.to_string(),
            self.bytes.to_string(),
            self.status.clone(),
            optional(&self.sqlstate),
            optional(&self.error),
            optional(&self.xid),
            self.database.to_string(),
        ];
        // Any NUL in a value (there should be none) would shift fields: drop it.
        let cleaned: Vec<String> = fields.iter().map(|f| f.replace(SEPARATOR, "")).collect();
        cleaned.join(&SEPARATOR.to_string())
    }

    fn deserialize(text: &str) -> Option<RunRecord> {
        let fields: Vec<&str> = text.split(SEPARATOR).collect();
        if fields.len() != 17 {
            return None;
        }
        let optional = |field: &str| field.strip_prefix('+').map(str::to_string);
        Some(RunRecord {
            run_id: fields[0].parse().ok()?,
            role: fields[1].to_string(),
            server: optional(fields[2]),
            source: fields[3].to_string(),
            target: optional(fields[4]),
            mode: fields[5].to_string(),
            started: fields[6].parse().ok()?,
            finished: fields[7].parse().ok()?,
            rows_read: fields[8].parse().ok()?,
            rows_written: fields[9].parse().ok()?,
            rows_unchanged: fields[10].parse().ok()?,
            bytes: fields[11].parse().ok()?,
            status: fields[12].to_string(),
            sqlstate: optional(fields[13]),
            error: optional(fields[14]),
            xid: optional(fields[15]),
            database: fields[16].parse().ok()?,
        })
    }
}

/// A new run id (sequences are not transactional: the id stays taken whatever happens).
pub fn next_run_id() -> i64 {
    Spi::get_one::<i64>("SELECT pg_catalog.nextval('pgmig.run_id_seq')")
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// The role and transaction a run is recorded under.
pub fn current_role_and_xid() -> (String, Option<String>) {
    let role = Spi::get_one::<String>("SELECT current_user::text")
        .ok()
        .flatten()
        .unwrap_or_default();
    let xid = Spi::get_one::<String>("SELECT pg_catalog.pg_current_xact_id()::text")
        .ok()
        .flatten();
    (role, xid)
}

/// Writes `record` through a background worker and waits for it. Never raises: a run that
/// cannot be recorded (no free worker slot) gets a WARNING, and the pull's own outcome stands.
pub fn record(mut record: RunRecord) {
    // SAFETY: main thread; MyDatabaseId is set in any backend that runs SQL.
    record.database = unsafe { pg_sys::MyDatabaseId }.to_u32();
    if let Err(reason) = record_through_worker(&record) {
        pgrx::warning!(
            "pgmig: could not record run {} in pgmig.runs: {reason}",
            record.run_id
        );
    }
}

fn record_through_worker(record: &RunRecord) -> Result<(), String> {
    let payload = record.serialize().into_bytes();
    // SAFETY: main thread. The segment lives until dsm_detach below, after the worker ended.
    unsafe {
        let length = payload.len() + 4;
        let segment = pg_sys::dsm_create(length, 0);
        if segment.is_null() {
            return Err("no dynamic shared memory".into());
        }
        let address = pg_sys::dsm_segment_address(segment).cast::<u8>();
        let prefix = (payload.len() as u32).to_le_bytes();
        std::ptr::copy_nonoverlapping(prefix.as_ptr(), address, 4);
        std::ptr::copy_nonoverlapping(payload.as_ptr(), address.add(4), payload.len());
        let handle = pg_sys::dsm_segment_handle(segment);
        let launched = BackgroundWorkerBuilder::new("pgmig run recorder")
            .set_type("pgmig run recorder")
            .set_library("pgmig")
            .set_function("pgmig_run_recorder")
            .set_argument(Some(pg_sys::Datum::from(handle)))
            .enable_spi_access()
            .set_notify_pid(pg_sys::MyProcPid)
            .load_dynamic();
        let outcome = match launched {
            Ok(worker) => worker
                .wait_for_shutdown()
                .map_err(|status| format!("the recorder ended with status {status:?}")),
            Err(_) => {
                Err("no background worker slot is free (raise max_worker_processes)".to_string())
            }
        };
        pg_sys::dsm_detach(segment);
        outcome
    }
}

const INSERT_RUN: &str = "INSERT INTO pgmig.run_log (run_id, role, server, source, target, mode, \
    started, finished, rows_read, rows_written, rows_unchanged, bytes, status, sqlstate, error, xid) \
    VALUES ($1, $2, $3, $4, $5, $6, pg_catalog.to_timestamp($7), pg_catalog.to_timestamp($8), \
    $9, $10, $11, $12, $13, $14, $15, $16::xid8) \
    ON CONFLICT (run_id) DO NOTHING";

/// The background worker's entry point: read the record from the segment, insert it, exit.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn pgmig_run_recorder(argument: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let handle = argument.value() as pg_sys::dsm_handle;
    // SAFETY: the backend that started us keeps the segment until we exit.
    let text = unsafe {
        let segment = pg_sys::dsm_attach(handle);
        if segment.is_null() {
            pgrx::log!("pgmig run recorder: the run's shared memory is gone");
            return;
        }
        let address = pg_sys::dsm_segment_address(segment).cast::<u8>();
        let mut prefix = [0u8; 4];
        std::ptr::copy_nonoverlapping(address, prefix.as_mut_ptr(), 4);
        let length = u32::from_le_bytes(prefix) as usize;
        let bytes = std::slice::from_raw_parts(address.add(4), length).to_vec();
        pg_sys::dsm_detach(segment);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let Some(record) = RunRecord::deserialize(&text) else {
        pgrx::log!("pgmig run recorder: malformed run record");
        return;
    };
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(record.database)), None);
    BackgroundWorker::transaction(|| {
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let inserted = Spi::run_with_args(
            INSERT_RUN,
            &[
                record.run_id.into(),
                record.role.as_str().into(),
                record.server.clone().into(),
                record.source.as_str().into(),
                record.target.clone().into(),
                record.mode.as_str().into(),
                record.started.into(),
                record.finished.into(),
                as_i64(record.rows_read).into(),
                as_i64(record.rows_written).into(),
                as_i64(record.rows_unchanged).into(),
                as_i64(record.bytes).into(),
                record.status.as_str().into(),
                record.sqlstate.clone().into(),
                record.error.clone().into(),
                record.xid.clone().into(),
            ],
        );
        if let Err(error) = inserted {
            pgrx::log!("pgmig run recorder: {error}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_serialization() {
        let record = RunRecord {
            run_id: 7,
            role: "loader".into(),
            server: Some("src".into()),
            source: "dbo.Posts".into(),
            target: None,
            mode: "append".into(),
            started: 1.5,
            finished: 2.25,
            rows_read: 10,
            rows_written: 9,
            rows_unchanged: 1,
            bytes: 1000,
            status: "failed".into(),
            sqlstate: Some("42P01".into()),
            error: Some("table \"x\" does not exist; -".into()),
            xid: Some("1234".into()),
            database: 5,
        };
        let back = RunRecord::deserialize(&record.serialize()).unwrap();
        assert_eq!(back.serialize(), record.serialize());
        assert_eq!(back.target, None);
        assert_eq!(back.error.as_deref(), Some("table \"x\" does not exist; -"));
        assert!(RunRecord::deserialize("1\0two").is_none());
    }
}
