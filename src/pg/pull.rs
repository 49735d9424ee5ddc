//! A pull on the backend's main thread: resolve names, describe the source, plan, check or
//! create the target, then feed each batch of the network thread's COPY stream to PostgreSQL's
//! own COPY, in the chosen mode. Every check a user can fail runs before the first row moves.

use super::compare::CompareTarget;
use super::copy::{copy_from, ChannelSource, CopyInto};
use super::watermark::{self, NextWatermark};
use super::{check_interrupts, server::connect_params};
use crate::error::{PgmigError, Result};
use crate::gucs;
use crate::tds::{PullSession, RowReader, StreamPlan};
use pgmig_core::compare::CompareKey;
use pgmig_core::ident::{
    display_pg_qualified, parse_qualified_name, pg_name, quote_pg, quote_pg_qualified,
    tsql_display_name,
};
use pgmig_core::plan::{plan_pull, FieldEncoding, Mode, PullPlan};
use pgmig_core::sqlgen::{
    pg_create_table, pg_literal, pg_sync_identity, pg_uncompressed_storage_query, pg_upsert,
    tsql_pull_select, upsert_prefilter_pays, PgColumn, PullQuery,
};
use pgmig_core::sync_lock::sync_lock_keys;
use pgmig_core::typemap::{check_target_columns, PgType, SourceColumn};
use pgmig_core::watermark::{columns_key, plan_watermark, WatermarkRequest};
use pgrx::prelude::*;
use std::time::Instant;

/// SQL Server's schema for names given without one (the default schema of most logins).
const DEFAULT_SOURCE_SCHEMA: &str = "dbo";
/// The per-backend staging table of upserts, dropped at commit.
const STAGE_TABLE: &str = "pgmig_stage";

/// What `pull_table` was asked to do, as given.
pub struct PullArgs {
    pub source: String,
    pub target: Option<String>,
    pub server: Option<String>,
    pub mode: String,
    pub key: Option<Vec<String>>,
    pub columns: Option<Vec<String>>,
    pub filter: Option<String>,
    pub batch_rows: Option<i32>,
    /// The source column of an incremental sync (`upsert` only).
    pub watermark: Option<String>,
    /// The run's id in `pgmig.runs`, stored with the watermark.
    pub run_id: i64,
}

/// What a finished pull reports.
#[derive(Debug, Clone, Default)]
pub struct PullSummary {
    pub server: String,
    pub source: String,
    pub target: String,
    pub mode: String,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_unchanged: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// The source table, described, with the connection that described it.
pub struct DescribedSource {
    pub server: String,
    pub schema: String,
    pub table: String,
    pub columns: Vec<SourceColumn>,
    pub session: PullSession,
}

/// A PostgreSQL table name, resolved.
#[derive(Debug, Clone)]
pub struct TargetName {
    pub schema: String,
    pub table: String,
}

impl TargetName {
    /// For SQL text.
    pub fn quoted(&self) -> String {
        quote_pg_qualified(&self.schema, &self.table)
    }

    /// For messages and the summary.
    pub fn display(&self) -> String {
        display_pg_qualified(&self.schema, &self.table)
    }
}

/// The server a call names, else `pgmig.server`, else the only pgmig server.
pub fn resolve_server(given: Option<&str>) -> Result<String> {
    if let Some(server) = given.filter(|s| !s.trim().is_empty()) {
        return Ok(server.to_string());
    }
    if let Some(server) = gucs::string_value(&gucs::SERVER) {
        return Ok(server);
    }
    let candidates: Vec<String> = Spi::connect(|client| {
        client
            .select(
                "SELECT s.srvname::text FROM pg_catalog.pg_foreign_server s \
                 JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw \
                 WHERE w.fdwname = 'pgmig' ORDER BY 1",
                None,
                &[],
            )?
            .map(|row| row.get::<String>(1).map(Option::unwrap_or_default))
            .collect::<std::result::Result<Vec<_>, _>>()
    })
    .map_err(spi_error)?;
    match candidates.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(PgmigError::NoDefaultServer { candidates }),
    }
}

pub(crate) fn spi_error(error: pgrx::spi::Error) -> PgmigError {
    PgmigError::Internal(format!("SPI: {error}"))
}

/// `dbo.Posts`, `Posts`, `[dbo].[My Table]` into SQL Server schema and table.
pub fn source_name(source: &str) -> Result<(String, String)> {
    let name = parse_qualified_name(source).map_err(|e| PgmigError::InvalidArgument {
        message: format!("invalid source table name {source:?}: {e}"),
        hint: Some("Write it as Posts, dbo.Posts or [dbo].[My Table].".into()),
    })?;
    Ok((
        name.schema
            .unwrap_or_else(|| DEFAULT_SOURCE_SCHEMA.to_string()),
        name.name,
    ))
}

/// Connects and describes the source table; 42P01 when it does not exist.
pub fn describe_source(source: &str, server: Option<&str>) -> Result<DescribedSource> {
    let (schema, table) = source_name(source)?;
    let server = resolve_server(server)?;
    let params = connect_params(&server)?;
    let mut session = PullSession::open(params)?;
    let columns = session.describe(&schema, &table, &mut check_interrupts)?;
    if columns.is_empty() {
        return Err(PgmigError::UnknownSourceTable {
            server,
            schema,
            table,
        });
    }
    Ok(DescribedSource {
        server,
        schema,
        table,
        columns,
        session,
    })
}

/// The target a call names (PostgreSQL rules: unquoted parts fold to lower case; no schema
/// means `pgmig.target_schema`), else the source table's name under the identifier policy.
pub fn target_name(given: Option<&str>, source_table: &str) -> Result<TargetName> {
    let default_schema =
        gucs::string_value(&gucs::TARGET_SCHEMA).unwrap_or_else(|| "public".to_string());
    let invalid = |message: String| PgmigError::InvalidArgument {
        message,
        hint: None,
    };
    match given.filter(|t| !t.trim().is_empty()) {
        Some(text) => {
            let name = parse_qualified_name(text)
                .map_err(|e| invalid(format!("invalid target table name {text:?}: {e}")))?;
            let fold = |part: String, quoted: bool| if quoted { part } else { part.to_lowercase() };
            Ok(TargetName {
                schema: name
                    .schema
                    .map(|s| fold(s, name.schema_quoted))
                    .unwrap_or(default_schema),
                table: fold(name.name, name.name_quoted),
            })
        }
        None => {
            let case = gucs::IDENTIFIER_CASE.get().policy();
            let table = pg_name(source_table, case)
                .map_err(|e| invalid(format!("cannot name the target: {e}")))?;
            Ok(TargetName {
                schema: default_schema,
                table,
            })
        }
    }
}

/// An existing target table: its oid, kind and columns (name, `format_type`, identity).
struct ExistingTarget {
    relid: pg_sys::Oid,
    relkind: String,
    owner: String,
    columns: Vec<(String, String, bool)>,
}

fn find_target(target: &TargetName) -> Result<Option<ExistingTarget>> {
    let found = Spi::connect(|client| {
        let row = client
            .select(
                "SELECT c.oid, c.relkind::text, pg_catalog.pg_get_userbyid(c.relowner)::text \
                 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2",
                None,
                &[target.schema.as_str().into(), target.table.as_str().into()],
            )?
            .first();
        if row.is_empty() {
            return Ok(None);
        }
        let relid = row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid);
        let relkind = row.get::<String>(2)?.unwrap_or_default();
        let owner = row.get::<String>(3)?.unwrap_or_default();
        let columns = client
            .select(
                "SELECT attname::text, pg_catalog.format_type(atttypid, atttypmod), attidentity <> '' \
                 FROM pg_catalog.pg_attribute \
                 WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' \
                 ORDER BY attnum",
                None,
                &[relid.into()],
            )?
            .map(|row| {
                Ok((
                    row.get::<String>(1)?.unwrap_or_default(),
                    row.get::<String>(2)?.unwrap_or_default(),
                    row.get::<bool>(3)?.unwrap_or(false),
                ))
            })
            .collect::<std::result::Result<Vec<_>, pgrx::spi::Error>>()?;
        Ok(Some(ExistingTarget {
            relid,
            relkind,
            owner,
            columns,
        }))
    });
    found.map_err(spi_error)
}

fn relid_of(target: &TargetName) -> Result<pg_sys::Oid> {
    find_target(target)?
        .map(|t| t.relid)
        .ok_or_else(|| PgmigError::Internal(format!("table {} vanished", target.display())))
}

/// Drops a table left by an earlier run in this session, quietly (no NOTICE when there is none).
fn drop_if_exists(quoted: &str) -> Result<()> {
    let exists = Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
        &[quoted.into()],
    )
    .map_err(spi_error)?
    .unwrap_or(false);
    if exists {
        run_sql(&format!("DROP TABLE {quoted}"))?;
    }
    Ok(())
}

fn run_sql(sql: &str) -> Result<()> {
    Spi::run(sql).map_err(spi_error)
}

/// Refuses a target that is not a table or whose columns cannot take the source's.
fn check_existing(target: &TargetName, existing: &ExistingTarget, plan: &PullPlan) -> Result<()> {
    let kind = match existing.relkind.as_str() {
        "r" | "p" => None,
        "v" => Some("view"),
        "m" => Some("materialized view"),
        "f" => Some("foreign table"),
        "S" => Some("sequence"),
        "i" | "I" => Some("index"),
        _ => Some("relation of another kind"),
    };
    if let Some(kind) = kind {
        return Err(PgmigError::TargetNotTable {
            target: target.display(),
            kind: kind.into(),
        });
    }
    let source: Vec<(String, PgType)> = plan
        .columns
        .iter()
        .map(|c| (c.pg_name.clone(), c.mapped.pg_type.clone()))
        .collect();
    let target_columns: Vec<(String, String)> = existing
        .columns
        .iter()
        .map(|(name, ty, _)| (name.clone(), ty.clone()))
        .collect();
    let mismatches = check_target_columns(&source, &target_columns);
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(PgmigError::TargetMismatch {
            target: target.display(),
            mismatches,
        })
    }
}

/// The target's column types in plan order (the existing table's, or the mapped ones).
fn target_columns(plan: &PullPlan, existing: Option<&ExistingTarget>) -> Vec<PgColumn> {
    plan.columns
        .iter()
        .map(|c| {
            let mut column = c.pg_column();
            if let Some(existing) = existing {
                if let Some((_, ty, identity)) = existing
                    .columns
                    .iter()
                    .find(|(name, _, _)| *name == c.pg_name)
                {
                    column.pg_type = PgType::parse_format_type(ty);
                    column.identity = *identity;
                }
            }
            column
        })
        .collect()
}

fn encodings(columns: &[PgColumn]) -> Result<Vec<FieldEncoding>> {
    columns
        .iter()
        .map(|c| {
            FieldEncoding::for_target(&c.pg_type).ok_or_else(|| {
                PgmigError::Internal(format!(
                    "no encoding for target column \"{}\" of type {}",
                    c.name, c.pg_type
                ))
            })
        })
        .collect()
}

fn create_table(target: &TargetName, plan: &PullPlan, mode: Mode) -> Result<()> {
    let sql = create_table_statement(target, plan, mode)?;
    run_sql(&sql)
}

/// The `CREATE TABLE` a pull runs for a missing target: the mapped columns, and the source's
/// primary key (for upsert, the key it merges on).
pub fn create_table_statement(target: &TargetName, plan: &PullPlan, mode: Mode) -> Result<String> {
    pg_create_table(
        &target.schema,
        &target.table,
        &plan.pg_columns(),
        &if plan.key_is_primary || mode == Mode::Upsert {
            plan.key_pg_names()
        } else {
            Vec::new()
        },
    )
    .map_err(|e| PgmigError::Internal(e.to_string()))
}

/// Takes the advisory lock of the sync (target, server, filter) for the rest of the
/// transaction, waiting for the run that holds it, if any, with a NOTICE naming its backend.
/// The wait is PostgreSQL's own: a cancel, `lock_timeout` and `statement_timeout` end it.
fn wait_for_same_sync(
    relid: pg_sys::Oid,
    server: &str,
    filter: Option<&str>,
    source: &str,
    target: &TargetName,
) -> Result<()> {
    // pgrx runs SPI read-only, on the statement's snapshot (taken before any wait), until the
    // transaction has an xid; with one, each later query (the watermark, the comparison, the
    // emptiness check) takes a snapshot of its own under READ COMMITTED and sees what the run
    // waited for committed. An upsert writes anyway.
    // SAFETY: main thread, inside the transaction; raises an ERROR if no xid can be assigned.
    unsafe {
        pg_sys::GetCurrentTransactionId();
    }
    let (relid_key, sync_key) = sync_lock_keys(relid.to_u32(), server, filter);
    let keys = [relid_key.into(), sync_key.into()];
    let taken = Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.pg_try_advisory_xact_lock($1, $2)",
        &keys,
    )
    .map_err(spi_error)?;
    if taken == Some(true) {
        return Ok(());
    }
    let holders = Spi::get_one_with_args::<String>(
        "SELECT pg_catalog.string_agg(pid::text, ', ' ORDER BY pid) FROM pg_catalog.pg_locks \
         WHERE locktype = 'advisory' AND granted AND objsubid = 2 \
           AND classid = $1::pg_catalog.oid AND objid = $2::pg_catalog.oid \
           AND database = (SELECT oid FROM pg_catalog.pg_database \
                           WHERE datname = pg_catalog.current_database())",
        &keys,
    )
    .map_err(spi_error)?;
    pgrx::notice!(
        "pgmig: waiting for another upsert of {source} into {} (backend {}) to end",
        target.display(),
        holders.as_deref().unwrap_or("unknown")
    );
    Spi::run_with_args("SELECT pg_catalog.pg_advisory_xact_lock($1, $2)", &keys)
        .map_err(spi_error)?;
    // Under READ COMMITTED every later query takes a new snapshot and sees what the other run
    // committed. A transaction snapshot (REPEATABLE READ, SERIALIZABLE) predates it: comparing
    // against it could take a row that run changed for unchanged. Fail as PostgreSQL fails an
    // update of a row changed since the snapshot.
    // SAFETY: reads a backend global on the main thread.
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_REPEATABLE_READ as i32 {
        return Err(PgmigError::SyncChangedWhileWaiting {
            target: target.display(),
        });
    }
    Ok(())
}

/// Whether the caller sees no row in `target` (row-level security may hide some: then a
/// watermark run reads everything, which is slower, never wrong).
fn table_is_empty(target: &TargetName) -> Result<bool> {
    Spi::get_one::<bool>(&format!(
        "SELECT NOT EXISTS (SELECT FROM {})",
        target.quoted()
    ))
    .map_err(spi_error)
    .map(|empty| empty.unwrap_or(false))
}

/// Whether COPY into `relid` may store fewer rows than it reads: a BEFORE INSERT row trigger
/// (on it or a partition) may return NULL, a foreign partition's wrapper may skip a row.
fn copy_may_skip_rows(relid: pg_sys::Oid) -> Result<bool> {
    Spi::get_one_with_args::<bool>(
        include_str!("../../sql/copy_may_skip_rows.sql"),
        &[relid.into()],
    )
    .map_err(spi_error)
    .map(|found| found.unwrap_or(false))
}

/// Objects that would block dropping `relid` (views, foreign keys of other tables, ...).
fn dependents(relid: pg_sys::Oid) -> Result<Vec<String>> {
    Spi::connect(|client| {
        client
            .select(
                "SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) \
                 FROM pg_catalog.pg_depend d \
                 WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                 AND d.refobjid = $1 AND d.deptype = 'n' \
                 AND NOT (d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = $1) \
                 ORDER BY 1",
                None,
                &[relid.into()],
            )?
            .map(|row| row.get::<String>(1).map(Option::unwrap_or_default))
            .collect::<std::result::Result<Vec<_>, _>>()
    })
    .map_err(spi_error)
}

/// `upsert` needs a unique index on exactly the key columns (what ON CONFLICT infers).
fn has_unique_key(relid: pg_sys::Oid, key: &[String]) -> Result<bool> {
    let mut sorted = key.to_vec();
    sorted.sort();
    Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i \
         WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL \
         AND (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attname::text) \
              FROM pg_catalog.unnest(i.indkey::int2[]) k \
              JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k) = $2)",
        &[relid.into(), sorted.into()],
    )
    .map(|found| found.unwrap_or(false))
    .map_err(spi_error)
}

/// Sets each identity sequence of the loaded target past the largest value loaded.
fn sync_identities(target: &TargetName, columns: &[PgColumn]) -> Result<()> {
    for column in columns.iter().filter(|c| c.identity) {
        run_sql(&pg_sync_identity(
            &target.schema,
            &target.table,
            &column.name,
        ))?;
    }
    Ok(())
}

/// Keeps the client encoding UTF-8 while COPY reads text: binary COPY's text input converts
/// from the client encoding, and the network thread writes UTF-8. Restored however the
/// statement ends.
struct Utf8ClientEncoding {
    previous: Option<i32>,
}

impl Utf8ClientEncoding {
    fn set() -> Utf8ClientEncoding {
        // SAFETY: main thread; SetClientEncoding only switches the conversion in use.
        unsafe {
            let current = pg_sys::pg_get_client_encoding();
            let utf8 = pg_sys::pg_enc::PG_UTF8 as i32;
            if current == utf8 {
                Utf8ClientEncoding { previous: None }
            } else {
                pg_sys::SetClientEncoding(utf8);
                Utf8ClientEncoding {
                    previous: Some(current),
                }
            }
        }
    }
}

impl Drop for Utf8ClientEncoding {
    fn drop(&mut self) {
        if let Some(previous) = self.previous {
            // SAFETY: as above; the previous encoding was valid a moment ago.
            unsafe {
                pg_sys::SetClientEncoding(previous);
            }
        }
    }
}

/// Progress NOTICEs at `pgmig.progress_interval`.
struct Progress {
    label: String,
    started: Instant,
    last: Instant,
    interval_secs: u64,
    bytes_before_batch: u64,
}

impl Progress {
    fn report(&mut self, rows: u64, batch_bytes: u64) {
        if self.interval_secs == 0 || self.last.elapsed().as_secs() < self.interval_secs {
            return;
        }
        self.last = Instant::now();
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let megabytes = (self.bytes_before_batch + batch_bytes) as f64 / 1e6;
        pgrx::notice!(
            "pgmig: {}: {rows} rows, {megabytes:.1} MB in {seconds:.1} s ({:.0} rows/s)",
            self.label,
            rows as f64 / seconds
        );
    }
}

/// Runs one pull.
pub fn pull(args: PullArgs) -> Result<PullSummary> {
    let started = Instant::now();
    let mode = Mode::parse(&args.mode).ok_or_else(|| PgmigError::InvalidArgument {
        message: format!("invalid mode {:?}", args.mode),
        hint: Some(format!("mode is one of: {}.", Mode::NAMES)),
    })?;
    let batch_rows = args.batch_rows.unwrap_or_else(|| gucs::BATCH_ROWS.get());
    let (min_batch, max_batch) = gucs::BATCH_ROWS_RANGE;
    if !(min_batch..=max_batch).contains(&batch_rows) {
        return Err(PgmigError::InvalidArgument {
            message: format!("batch_rows {batch_rows} is out of range"),
            hint: Some(format!(
                "batch_rows is between {min_batch} and {max_batch}."
            )),
        });
    }
    if let Some(filter) = &args.filter {
        pgmig_core::sqlgen::check_filter(filter).map_err(|e| PgmigError::InvalidArgument {
            message: e.to_string(),
            hint: Some("filter is one T-SQL search condition, e.g. 'Score > 10'.".into()),
        })?;
    }
    // Another run of the same sync into this target: wait for its transaction to end before
    // connecting to SQL Server and reading anything, so that the later run reads the later
    // rows (see sync_lock).
    let server = resolve_server(args.server.as_deref())?;
    let (source_schema, source_table) = source_name(&args.source)?;
    let source_display = tsql_display_name(&source_schema, &source_table);
    let target = target_name(args.target.as_deref(), &source_table)?;
    let existing = find_target(&target)?;
    if let (Mode::Upsert, Some(existing)) = (mode, &existing) {
        wait_for_same_sync(
            existing.relid,
            &server,
            args.filter.as_deref(),
            &source_display,
            &target,
        )?;
    }
    let mut source = describe_source(&args.source, Some(&server))?;
    let case = gucs::IDENTIFIER_CASE.get().policy();
    let plan = plan_pull(
        &source.columns,
        args.columns.as_deref(),
        args.key.as_deref(),
        mode,
        case,
    )?;
    let watermark_column =
        match &args.watermark {
            Some(name) if mode != Mode::Upsert => return Err(PgmigError::InvalidArgument {
                message: format!(
                    "watermark \"{name}\" needs mode => 'upsert', not '{}'",
                    mode.name()
                ),
                hint: Some(
                    "An incremental sync re-reads changed rows; only upsert updates them in place."
                        .into(),
                ),
            }),
            Some(name) => Some(watermark::watermark_column(&source.columns, name)?),
            None => None,
        };
    if let Some(existing) = &existing {
        check_existing(&target, existing, &plan)?;
    }

    // Before any data moves: what each mode needs of the target.
    let key_names = plan.key_pg_names();
    match (mode, &existing) {
        (Mode::Replace, Some(existing)) => {
            if existing.relkind == "p" {
                return Err(PgmigError::Unsupported {
                    what: "replace of a partitioned table".into(),
                    hint: "Use mode => 'truncate', which keeps the partitions.".into(),
                });
            }
            let dependents = dependents(existing.relid)?;
            if !dependents.is_empty() {
                return Err(PgmigError::TargetHasDependents {
                    target: target.display(),
                    dependents,
                });
            }
        }
        (Mode::Upsert, Some(existing)) if !has_unique_key(existing.relid, &key_names)? => {
            return Err(PgmigError::TargetKeyNotUnique {
                target: target.display(),
                key: key_names,
            });
        }
        _ => {}
    }

    let columns = target_columns(&plan, existing.as_ref());
    let column_names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let (select_columns, encodings) = plan.wire(&encodings(&columns)?);
    let order_by = plan.key_source_names();
    let compare_key = CompareKey::new(&encodings, &plan.key);
    let select = |condition: Option<&str>| {
        tsql_pull_select(&PullQuery {
            schema: &source.schema,
            table: &source.table,
            columns: &select_columns,
            order_by: &order_by,
            range: None,
            filter: args.filter.as_deref(),
            condition,
        })
        .map_err(|e| PgmigError::Internal(e.to_string()))
    };
    let mut stream_plan = StreamPlan {
        sql: select(None)?,
        encodings,
        column_names: plan.columns.iter().map(|c| c.source.name.clone()).collect(),
        key: plan.key.clone(),
        batch_rows: batch_rows as u64,
        nul: gucs::NUL_CHARACTERS.get().policy(),
        reader: match gucs::TDS_READER.get() {
            gucs::TdsReaderSetting::Native => RowReader::Native,
            gucs::TdsReaderSetting::Tiberius => RowReader::Tiberius,
        },
    };

    // The table COPY writes into, created or emptied as the mode says.
    let load_target = match mode {
        Mode::Replace => {
            let fresh = TargetName {
                schema: target.schema.clone(),
                table: format!("pgmig_replace_{}", std::process::id()),
            };
            drop_if_exists(&fresh.quoted())?;
            create_table(&fresh, &plan, mode)?;
            fresh
        }
        _ => {
            match (&existing, mode) {
                (None, _) => create_table(&target, &plan, mode)?,
                (Some(_), Mode::Truncate) => run_sql(&format!("TRUNCATE {}", target.quoted()))?,
                _ => {}
            }
            target.clone()
        }
    };
    let load_relid = relid_of(&load_target)?;
    let copy_may_skip = copy_may_skip_rows(load_relid)?;
    let columns_read = columns_key(plan.columns.iter().map(|c| c.source.name.as_str()));
    // An incremental sync: the high mark first, then the rows after the stored value up to it.
    let next_watermark = match &watermark_column {
        Some(column) => {
            let high = source.session.query_text(
                &column.tsql_high_mark(&source.schema, &source.table),
                &mut check_interrupts,
            )?;
            let stored = watermark::stored(&source.server, &source_display, load_relid)?;
            let request = WatermarkRequest {
                column,
                filter: args.filter.as_deref(),
                columns: &columns_read,
                target_relid: load_relid.to_u32(),
                // Only asked when it matters: one row's read, as the caller.
                target_empty: stored.is_some() && table_is_empty(&target)?,
            };
            let planned = plan_watermark(&request, stored.as_ref(), high.as_deref())
                .map_err(|e| PgmigError::Protocol(format!("watermark high mark: {e}")))?;
            let upto = planned
                .advance_to
                .as_ref()
                .map_or("no value yet".to_string(), |v| v.text.clone());
            match (&planned.full_reason, &planned.after) {
                (Some(reason), _) => pgrx::notice!(
                    "pgmig: watermark {}: reading the whole table ({reason}); up to {upto}",
                    column.name
                ),
                (None, Some(after)) => pgrx::notice!(
                    "pgmig: watermark {}: rows after {} up to {upto}",
                    column.name,
                    after.text
                ),
                (None, None) => {}
            }
            stream_plan.sql = select(planned.condition.as_deref())?;
            planned.advance_to
        }
        None => None,
    };
    // FREEZE needs a table created or emptied in this transaction, and not partitioned.
    let freeze = match (mode, &existing) {
        (Mode::Replace, _) | (_, None) => true,
        (Mode::Truncate, Some(existing)) => existing.relkind == "r",
        _ => false,
    };
    // An upsert into a target this statement created: the table is empty and the source's
    // primary key is unique, so every row is an insert. Load it as append does (COPY FREEZE
    // straight into the table) instead of staging and merging each row through ON CONFLICT
    // (1M votes rows: 6.9 s -> about an append's 2.1 s).
    let merges = mode == Mode::Upsert && !(existing.is_none() && plan.key_is_primary);
    let stage_relid = if merges {
        drop_if_exists(&format!("pg_temp.{}", quote_pg(STAGE_TABLE)))?;
        let list: Vec<String> = column_names.iter().map(|c| quote_pg(c)).collect();
        run_sql(&format!(
            "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA",
            quote_pg(STAGE_TABLE),
            list.join(", "),
            target.quoted()
        ))?;
        let uncompressed = Spi::get_one::<String>(&pg_uncompressed_storage_query(STAGE_TABLE))
            .map_err(spi_error)?;
        if let Some(alter) = uncompressed {
            run_sql(&alter)?;
        }
        Some(
            Spi::get_one::<pg_sys::Oid>(&format!(
                "SELECT {}::regclass::oid",
                pg_literal(&format!("pg_temp.{}", quote_pg(STAGE_TABLE)))
            ))
            .map_err(spi_error)?
            .ok_or_else(|| PgmigError::Internal("staging table vanished".into()))?,
        )
    } else {
        None
    };
    // Both forms of the merge; each batch picks one by its staged row width.
    let merge_sql = if merges {
        let merge = |prefilter| {
            pg_upsert(
                &target.schema,
                &target.table,
                STAGE_TABLE,
                &columns,
                &key_names,
                prefilter,
            )
            .map_err(|e| PgmigError::Internal(e.to_string()))
        };
        let plain = merge(false)?;
        let prefiltered = Some(merge(true)?).filter(|sql| *sql != plain);
        Some(MergeStatements { plain, prefiltered })
    } else {
        None
    };

    // An upsert with an integer or uuid key compares before it writes: only new and changed
    // rows go through the staging table and ON CONFLICT (see pg::compare).
    let mut compare = match (&stage_relid, compare_key) {
        (Some(_), Some(key)) if gucs::UPSERT_COMPARE.get() => Some(CompareTarget::new(
            load_relid,
            target.schema.clone(),
            target.table.clone(),
            column_names.clone(),
            key_names.clone(),
            key,
        )?),
        _ => None,
    };

    source.session.start_stream(stream_plan)?;
    let label = format!("{source_display} -> {}", target.display());
    let mut progress = Progress {
        label,
        started,
        last: Instant::now(),
        interval_secs: gucs::PROGRESS_INTERVAL_SECS.get().max(0) as u64,
        bytes_before_batch: 0,
    };
    let mut summary = PullSummary {
        server: source.server.clone(),
        source: source_display.clone(),
        target: target.display(),
        mode: mode.name().to_string(),
        ..PullSummary::default()
    };
    let _encoding = Utf8ClientEncoding::set();
    let mut stage_holds_rows = false;
    let mut rows_staged = 0u64;
    loop {
        let copy_into = CopyInto {
            relid: stage_relid.unwrap_or(load_relid),
            columns: &column_names,
            freeze: freeze && stage_relid.is_none(),
        };
        if stage_holds_rows {
            run_sql(&format!("TRUNCATE pg_temp.{}", quote_pg(STAGE_TABLE)))?;
            stage_holds_rows = false;
        }
        let mut on_data = |rows: u64, bytes: u64| progress.report(rows, bytes);
        let pool = source.session.pool();
        let mut channel = ChannelSource::new(source.session.task())
            .with_progress(&mut on_data)
            .with_pool(pool);
        // Rows the batch held, and how many of them were stored (in the target or staged).
        let (rows, stored) = match &mut compare {
            Some(compare) => {
                let batch = compare.stage_batch(&mut channel, &copy_into)?;
                (batch.rows, batch.staged)
            }
            None => {
                let stored = copy_from(&copy_into, &mut channel)?;
                let sent = channel.finish_copy(stored, copy_may_skip)?;
                (sent, stored)
            }
        };
        let last = channel.is_last();
        let batch_bytes = channel.bytes();
        drop(channel);
        progress.bytes_before_batch += batch_bytes;
        summary.bytes += batch_bytes;
        summary.rows_read += rows;
        match &merge_sql {
            Some(merge) if stored > 0 => {
                rows_staged += stored;
                // Compared rows are known to be new or changed: nothing left to prefilter.
                let merge = if compare.is_some() {
                    merge.plain.as_str()
                } else {
                    merge.for_batch(stored)?
                };
                let written =
                    Spi::connect_mut(|client| client.update(merge, None, &[]).map(|t| t.len()))
                        .map_err(spi_error)? as u64;
                stage_holds_rows = true;
                summary.rows_written += written;
                summary.rows_unchanged += rows.saturating_sub(written);
            }
            Some(_) => summary.rows_unchanged += rows,
            None => summary.rows_written += stored,
        }
        if last {
            break;
        }
    }
    if merges {
        pgrx::debug1!(
            "pgmig: upsert: {rows_staged} of {} rows staged for the merge ({})",
            summary.rows_read,
            if compare.is_some() {
                "the others were found unchanged"
            } else {
                "no comparison"
            }
        );
    }

    let loaded_columns: Vec<PgColumn> = if mode == Mode::Replace {
        plan.pg_columns()
    } else {
        columns
    };
    sync_identities(&load_target, &loaded_columns)?;
    if let (Some(column), Some(value)) = (&watermark_column, &next_watermark) {
        watermark::store(&NextWatermark {
            server: &source.server,
            source: &source_display,
            target: &target,
            relid: load_relid,
            column,
            filter: args.filter.as_deref(),
            columns: &columns_read,
            value,
            run_id: args.run_id,
        })?;
    }
    if let (Mode::Replace, Some(existing)) = (mode, &existing) {
        swap_in(&load_target, &target, existing)?;
    } else if mode == Mode::Replace {
        run_sql(&format!(
            "ALTER TABLE {} RENAME TO {}",
            load_target.quoted(),
            quote_pg(&target.table)
        ))?;
        rename_owned_names(&target, &load_target.table)?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// An upsert's merge statement with and without the prefilter of [`pg_upsert`] (`None` when the
/// key allows no prefilter: then nothing is left to choose per batch).
struct MergeStatements {
    plain: String,
    prefiltered: Option<String>,
}

impl MergeStatements {
    /// The form that pays for the batch just staged (`rows` rows): the staging table's size
    /// gives its bytes without reading it.
    fn for_batch(&self, rows: u64) -> Result<&str> {
        let Some(prefiltered) = &self.prefiltered else {
            return Ok(&self.plain);
        };
        let (stage_bytes, work_mem_bytes) = Spi::get_two::<i64, i64>(&format!(
            "SELECT pg_catalog.pg_total_relation_size({}::pg_catalog.regclass), \
             pg_catalog.pg_size_bytes(pg_catalog.current_setting('work_mem'))",
            pg_literal(&format!("pg_temp.{}", quote_pg(STAGE_TABLE)))
        ))
        .map_err(spi_error)?;
        let bytes = |value: Option<i64>| value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        Ok(
            if upsert_prefilter_pays(bytes(stage_bytes), rows, bytes(work_mem_bytes)) {
                prefiltered
            } else {
                &self.plain
            },
        )
    }
}

/// Replaces `old` by the freshly loaded `fresh`: owner, privileges and comments carried over,
/// the old table dropped, the fresh one renamed. All in the caller's transaction, so a failure
/// anywhere leaves the old table as it was.
fn swap_in(fresh: &TargetName, old: &TargetName, existing: &ExistingTarget) -> Result<()> {
    let fresh_quoted = fresh.quoted();
    let statements: Vec<String> = Spi::connect(|client| {
        let mut statements = Vec::new();
        // Privileges granted on the old table (the owner's own are implicit).
        let grants = client.select(
            "SELECT pg_catalog.format('GRANT %s ON TABLE %s TO %s%s', a.privilege_type, $2, \
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' \
                    ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, \
               CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) \
             FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a \
             WHERE c.oid = $1 AND a.grantee <> c.relowner",
            None,
            &[existing.relid.into(), fresh_quoted.as_str().into()],
        )?;
        for row in grants {
            if let Some(sql) = row.get::<String>(1)? {
                statements.push(sql);
            }
        }
        let comments = client.select(
            "SELECT CASE WHEN d.objsubid = 0 \
                 THEN pg_catalog.format('COMMENT ON TABLE %s IS %L', $2, d.description) \
                 ELSE pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', $2, a.attname, d.description) END \
             FROM pg_catalog.pg_description d \
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = d.objoid AND a.attnum = d.objsubid \
             WHERE d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objoid = $1 \
             AND (d.objsubid = 0 OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute f \
                  WHERE f.attrelid = $3::pg_catalog.regclass AND f.attname = a.attname \
                  AND NOT f.attisdropped))",
            None,
            &[
                existing.relid.into(),
                fresh_quoted.as_str().into(),
                fresh_quoted.as_str().into(),
            ],
        )?;
        for row in comments {
            if let Some(sql) = row.get::<String>(1)? {
                statements.push(sql);
            }
        }
        Ok::<_, pgrx::spi::Error>(statements)
    })
    .map_err(spi_error)?;
    for sql in statements {
        run_sql(&sql)?;
    }
    let current_user = Spi::get_one::<String>("SELECT current_user::text")
        .map_err(spi_error)?
        .unwrap_or_default();
    if existing.owner != current_user {
        run_sql(&format!(
            "ALTER TABLE {fresh_quoted} OWNER TO {}",
            quote_pg(&existing.owner)
        ))?;
    }
    run_sql(&format!("DROP TABLE {}", old.quoted()))?;
    run_sql(&format!(
        "ALTER TABLE {fresh_quoted} RENAME TO {}",
        quote_pg(&old.table)
    ))?;
    rename_owned_names(old, &fresh.table)
}

/// After a rename, gives the primary key and identity sequences the names PostgreSQL would
/// have given them for the final table name (`posts_pkey`, `posts_id_seq`).
fn rename_owned_names(target: &TargetName, fresh_table: &str) -> Result<()> {
    let renames: Vec<String> = Spi::connect(|client| {
        let mut renames = Vec::new();
        let rows = client.select(
            "SELECT pg_catalog.format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', $1, c.conname, \
                 pg_catalog.replace(c.conname, $2, $3)) \
             FROM pg_catalog.pg_constraint c \
             WHERE c.conrelid = $1::pg_catalog.regclass AND c.contype = 'p' \
             AND pg_catalog.strpos(c.conname, $2) = 1 \
             UNION ALL \
             SELECT pg_catalog.format('ALTER SEQUENCE %s.%I RENAME TO %I', \
                 pg_catalog.quote_ident(n.nspname), s.relname, pg_catalog.replace(s.relname, $2, $3)) \
             FROM pg_catalog.pg_depend d \
             JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
             JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace \
             WHERE d.refobjid = $1::pg_catalog.regclass AND d.deptype = 'i' \
             AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
             AND pg_catalog.strpos(s.relname, $2) = 1",
            None,
            &[
                target.quoted().as_str().into(),
                fresh_table.into(),
                target.table.as_str().into(),
            ],
        )?;
        for row in rows {
            if let Some(sql) = row.get::<String>(1)? {
                renames.push(sql);
            }
        }
        Ok::<_, pgrx::spi::Error>(renames)
    })
    .map_err(spi_error)?;
    for sql in renames {
        run_sql(&sql)?;
    }
    Ok(())
}
