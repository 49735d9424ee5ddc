//! Upsert by comparison, the backend's part (the plan is in [`pgmig_core::compare`]): for each
//! window of source rows, read the target's rows for the window's keys (their range, or the keys
//! themselves) with one ordinary `SELECT` (so the caller's privileges and row-level security
//! apply) and compare them, field by field, with the binary COPY bytes the network thread wrote.
//!
//! A field is equal when the target's value, in its type's binary send format, has exactly the
//! source field's bytes: that format is what COPY's receive function read the stored value from,
//! so equal bytes mean the upsert would store the same value. Common types are compared on the
//! datum without calling the send function; the rest go through it.

use super::copy::{attnum_of, copy_from, ChannelSource, CopyInto, SliceSource};
use crate::error::{PgmigError, Result};
use crate::tds::{CHANNEL_CHUNKS, CHUNK_BYTES};
use pgmig_core::compare::{
    integer_key_value, rows_to_write, uuid_key_value, CompareKey, WindowKeys, WINDOW_MAX_BYTES,
};
use pgmig_core::copy_binary::{COPY_HEADER, COPY_HEADER_LEN, COPY_TRAILER};
use pgmig_core::copy_rows::{check_header, RowIndex};
use pgmig_core::sqlgen::pg_compare_select;
use pgrx::pg_sys;
use std::ffi::CString;

// The network thread must be able to read a whole window ahead while one is compared.
const _: () = assert!(WINDOW_MAX_BYTES <= CHANNEL_CHUNKS * CHUNK_BYTES);

/// Rows to write are copied into the staging table once they fill this much (and at the end of
/// each batch), not once per window: a COPY's setup costs about as much as a window's compare.
const STAGE_FLUSH_BYTES: usize = 4 << 20;

/// An upsert by comparison: its target, and the buffers it reuses from window to window.
pub struct CompareTarget {
    schema: String,
    table: String,
    /// Target columns in the order the COPY stream carries them.
    columns: Vec<String>,
    /// The key's column names, in key order.
    key_names: Vec<String>,
    key: CompareKey,
    /// Each column's type and how its datum is compared, looked up once.
    types: Vec<pg_sys::Oid>,
    comparisons: Vec<DatumCompare>,
    /// The fields outside the key: those compared.
    compared: Vec<usize>,
    /// Source rows of the window, from a row border on.
    window: Vec<u8>,
    index: RowIndex,
    /// The rows to write, as a binary COPY stream without its trailer (empty: none).
    staged: Vec<u8>,
    staged_rows: u64,
}

/// How a target column's datum is compared with a binary COPY field.
#[derive(Debug, Clone, Copy)]
enum DatumCompare {
    /// By value, its `*_send` being the value big-endian in this many bytes: int2, int4, date,
    /// int8, time, timestamp, timestamptz, float4 and float8 (bit patterns).
    Fixed(usize),
    Bool,
    /// 16 bytes by reference.
    Uuid,
    /// A varlena whose send format is its bytes: bytea, and text and varchar in a UTF-8
    /// database (the stream is UTF-8).
    Bytes,
    /// Anything else: the type's send function.
    Send(pg_sys::Oid),
}

impl DatumCompare {
    /// # Safety
    /// Main thread, inside a transaction (looks up the type's send function).
    unsafe fn for_type(type_oid: pg_sys::Oid, utf8_database: bool) -> DatumCompare {
        match type_oid {
            pg_sys::INT2OID => DatumCompare::Fixed(2),
            pg_sys::INT4OID | pg_sys::DATEOID | pg_sys::FLOAT4OID => DatumCompare::Fixed(4),
            // By value on every platform pgrx builds for (64-bit: FLOAT8PASSBYVAL).
            pg_sys::INT8OID
            | pg_sys::TIMEOID
            | pg_sys::TIMESTAMPOID
            | pg_sys::TIMESTAMPTZOID
            | pg_sys::FLOAT8OID => DatumCompare::Fixed(8),
            pg_sys::BOOLOID => DatumCompare::Bool,
            pg_sys::UUIDOID => DatumCompare::Uuid,
            pg_sys::BYTEAOID => DatumCompare::Bytes,
            pg_sys::TEXTOID | pg_sys::VARCHAROID if utf8_database => DatumCompare::Bytes,
            _ => {
                let mut send = pg_sys::InvalidOid;
                let mut is_varlena = false;
                pg_sys::getTypeBinaryOutputInfo(type_oid, &mut send, &mut is_varlena);
                DatumCompare::Send(send)
            }
        }
    }

    /// Whether the datum (`None`: NULL) is exactly the field (`None`: NULL).
    ///
    /// # Safety
    /// `datum` is a valid datum of the type this comparison was made for.
    unsafe fn matches(self, datum: Option<pg_sys::Datum>, field: Option<&[u8]>) -> bool {
        let (datum, field) = match (datum, field) {
            (None, None) => return true,
            (Some(datum), Some(field)) => (datum, field),
            _ => return false,
        };
        match self {
            DatumCompare::Fixed(len) => {
                let bytes = (datum.value() as u64).to_be_bytes();
                field.len() == len && field == &bytes[8 - len..]
            }
            DatumCompare::Bool => field == [u8::from(datum.value() != 0)],
            DatumCompare::Uuid => field == uuid_bytes(datum),
            DatumCompare::Bytes => {
                let value = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
                let len = pgrx::varsize_any_exhdr(value);
                let stored = std::slice::from_raw_parts(pgrx::vardata_any(value).cast::<u8>(), len);
                field == stored
            }
            DatumCompare::Send(function) => {
                let sent = pg_sys::OidSendFunctionCall(function, datum);
                let len = pgrx::varsize_any_exhdr(sent);
                let stored = std::slice::from_raw_parts(pgrx::vardata_any(sent).cast::<u8>(), len);
                field == stored
            }
        }
    }
}

/// The 16 bytes of a uuid datum (a pointer to them: uuid is passed by reference).
///
/// # Safety
/// `datum` is a valid, non-NULL uuid datum.
unsafe fn uuid_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8; 16] {
    &*datum.cast_mut_ptr::<[u8; 16]>()
}

impl CompareTarget {
    /// `relid` is the target's; `columns` and `key_names` name its columns.
    pub fn new(
        relid: pg_sys::Oid,
        schema: String,
        table: String,
        columns: Vec<String>,
        key_names: Vec<String>,
        key: CompareKey,
    ) -> Result<CompareTarget> {
        // SAFETY: main thread, inside the pull's transaction (catalog lookups).
        let (types, comparisons) = unsafe {
            let utf8_database = pg_sys::GetDatabaseEncoding() == pg_sys::pg_enc::PG_UTF8 as i32;
            let mut types = Vec::with_capacity(columns.len());
            for column in &columns {
                types.push(pg_sys::get_atttype(relid, attnum_of(relid, column)?));
            }
            let comparisons = types
                .iter()
                .map(|&type_oid| DatumCompare::for_type(type_oid, utf8_database))
                .collect();
            (types, comparisons)
        };
        let compared = (0..columns.len())
            .filter(|field| !key.fields().any(|k| k == *field))
            .collect();
        let index = RowIndex::new(columns.len());
        Ok(CompareTarget {
            schema,
            table,
            columns,
            key_names,
            key,
            types,
            comparisons,
            compared,
            window: Vec::new(),
            index,
            staged: Vec::new(),
            staged_rows: 0,
        })
    }

    /// For each row of the window: must it be written? Reads the target's rows for the
    /// window's keys (a range, or the keys themselves when they lie far apart; at most a few
    /// rows per window row, so memory never follows the table); rows it cannot match are
    /// written.
    fn rows_to_write(&self) -> Result<Vec<bool>> {
        let (buf, index) = (&self.window, &self.index);
        let keys = WindowKeys::build(&self.key, buf, index);
        let Some((lookup, limit)) = keys.lookup() else {
            return Ok(vec![true; index.len()]);
        };
        let sql = pg_compare_select(
            &self.schema,
            &self.table,
            &self.columns,
            &self.key_names,
            &lookup,
            limit,
        )
        .map_err(|e| PgmigError::Internal(e.to_string()))?;
        let sql = CString::new(sql)
            .map_err(|_| PgmigError::Internal("a comparison query with NUL".into()))?;
        let fields = self.columns.len();
        // SAFETY: main thread, inside the pull's transaction. Everything SPI and the comparisons
        // allocate lives in the SPI procedure context, freed by SPI_finish; an ERROR in between
        // leaves the connection to the (sub)transaction's abort, which closes it.
        unsafe {
            pg_sys::SPI_connect();
            // Planned without CURSOR_OPT_PARALLEL_OK, which SPI_execute would set: on a table
            // without statistics yet (just loaded) the planner chose a parallel plan for the
            // window's few hundred rows, and starting workers for each of ~4600 windows made a
            // 1M-posts upsert with 10% changed take 43 s instead of 8.
            let plan = pg_sys::SPI_prepare_cursor(sql.as_ptr(), 0, std::ptr::null_mut(), 0);
            if plan.is_null() {
                pg_sys::SPI_finish();
                return Err(PgmigError::Internal(
                    "the comparison query of an upsert did not plan".into(),
                ));
            }
            let status =
                pg_sys::SPI_execute_plan(plan, std::ptr::null_mut(), std::ptr::null(), false, 0);
            if status != pg_sys::SPI_OK_SELECT as i32 || pg_sys::SPI_tuptable.is_null() {
                pg_sys::SPI_finish();
                return Err(PgmigError::Internal(format!(
                    "the comparison query of an upsert returned status {status}"
                )));
            }
            let table = pg_sys::SPI_tuptable;
            let tupdesc = (*table).tupdesc;
            let rows = pg_sys::SPI_processed as usize;
            let same_types = (*tupdesc).natts as usize == fields
                && (*tupdesc)
                    .attrs
                    .as_slice(fields)
                    .iter()
                    .zip(&self.types)
                    .all(|(attr, &type_oid)| attr.atttypid == type_oid);
            if !same_types {
                pg_sys::SPI_finish();
                return Err(PgmigError::Internal(
                    "the comparison query returned other columns".into(),
                ));
            }
            let mut values = vec![pg_sys::Datum::from(0usize); rows * fields];
            let mut nulls = vec![true; rows * fields];
            let tuples = std::slice::from_raw_parts((*table).vals, rows);
            let mut target_keys = Vec::with_capacity(rows * self.key.width());
            for (row, &tuple) in tuples.iter().enumerate() {
                let at = row * fields;
                pg_sys::heap_deform_tuple(
                    tuple,
                    tupdesc,
                    values[at..].as_mut_ptr(),
                    nulls[at..].as_mut_ptr(),
                );
                for field in self.key.fields() {
                    // Key columns are integers or a uuid (CompareKey), compared by value.
                    let value = match (nulls[at + field], self.comparisons[field]) {
                        (false, DatumCompare::Fixed(2)) => {
                            integer_key_value(i64::from(values[at + field].value() as i16))
                        }
                        (false, DatumCompare::Fixed(4)) => {
                            integer_key_value(i64::from(values[at + field].value() as i32))
                        }
                        (false, DatumCompare::Fixed(8)) => {
                            integer_key_value(values[at + field].value() as i64)
                        }
                        (false, DatumCompare::Uuid) => {
                            uuid_key_value(*uuid_bytes(values[at + field]))
                        }
                        _ => {
                            pg_sys::SPI_finish();
                            return Err(PgmigError::Internal(
                                "the comparison query returned a NULL key or one of another type"
                                    .into(),
                            ));
                        }
                    };
                    target_keys.push(value);
                }
            }
            let complete = rows < limit;
            let write = rows_to_write(index.len(), &keys, &target_keys, complete, |row, target| {
                let spans = index.fields(row);
                self.compared.iter().all(|&field| {
                    let at = target * fields + field;
                    let datum = (!nulls[at]).then_some(values[at]);
                    self.comparisons[field].matches(datum, spans[field].value(buf))
                })
            });
            pg_sys::SPI_finish();
            Ok(write)
        }
    }
}

/// One batch of an upsert by comparison.
pub struct ComparedBatch {
    /// Source rows the batch held.
    pub rows: u64,
    /// Of those, the rows copied into the staging table to be merged.
    pub staged: u64,
}

impl CompareTarget {
    /// Reads one batch from the network thread, window by window, and copies into `stage` the
    /// rows that are new or differ from the target. Checks, as a plain COPY's batch is checked,
    /// that the batch ended at a row border with the row count sent.
    pub fn stage_batch(
        &mut self,
        channel: &mut ChannelSource<'_>,
        stage: &CopyInto<'_>,
    ) -> Result<ComparedBatch> {
        let broken = |what: String| PgmigError::Internal(format!("upsert comparison: {what}"));
        self.window.clear();
        let mut header_read = false;
        let mut trailer_read = false;
        let mut batch = ComparedBatch { rows: 0, staged: 0 };
        loop {
            let ended = match channel.next_chunk() {
                Some(_) if trailer_read => return Err(broken("data after the trailer".into())),
                Some(chunk) => {
                    self.window.extend_from_slice(chunk);
                    false
                }
                None => true,
            };
            if !header_read {
                if self.window.len() < COPY_HEADER_LEN && !ended {
                    continue;
                }
                check_header(&self.window).map_err(|e| broken(e.to_string()))?;
                self.window.drain(..COPY_HEADER_LEN);
                header_read = true;
            }
            if self.window.len() < WINDOW_MAX_BYTES && !ended {
                continue;
            }
            let split = self
                .index
                .split(&self.window)
                .map_err(|e| broken(e.to_string()))?;
            if !self.index.is_empty() {
                super::check_interrupts();
                batch.staged += self.stage_window()?;
                batch.rows += self.index.len() as u64;
                if self.staged.len() >= STAGE_FLUSH_BYTES {
                    self.flush_staged(stage)?;
                }
            }
            self.window.drain(..split.consumed);
            trailer_read |= split.trailer;
            if ended {
                self.flush_staged(stage)?;
                if !trailer_read || !self.window.is_empty() {
                    return Err(broken("the batch ended inside a row".into()));
                }
                channel.finish(batch.rows)?;
                return Ok(batch);
            }
        }
    }

    /// Compares the window's rows and appends those to write to the staged rows; returns how
    /// many.
    fn stage_window(&mut self) -> Result<u64> {
        let write = self.rows_to_write()?;
        let mut rows = 0;
        for (row, _) in write.iter().enumerate().filter(|(_, &w)| w) {
            if self.staged.is_empty() {
                self.staged.extend_from_slice(&COPY_HEADER);
            }
            self.staged
                .extend_from_slice(&self.window[self.index.row(row)]);
            rows += 1;
        }
        self.staged_rows += rows;
        Ok(rows)
    }

    /// Copies the staged rows, if any, into the staging table.
    fn flush_staged(&mut self, stage: &CopyInto<'_>) -> Result<()> {
        if self.staged_rows == 0 {
            return Ok(());
        }
        self.staged.extend_from_slice(&COPY_TRAILER.to_be_bytes());
        let stored = copy_from(stage, &mut SliceSource::new(&self.staged))?;
        let rows = std::mem::take(&mut self.staged_rows);
        self.staged.clear();
        if stored != rows {
            return Err(PgmigError::Internal(format!(
                "upsert comparison: staged {rows} rows but COPY stored {stored}"
            )));
        }
        Ok(())
    }
}
