//! PostgreSQL's own COPY ... FROM, fed in-process: `BeginCopyFrom` with a data-source callback,
//! `CopyFrom`, `EndCopyFrom`, in the binary format. COPY brings constraints, defaults, triggers,
//! partition routing, index maintenance, multi-insert batching, FREEZE and
//! `pg_stat_progress_copy` with it.
//!
//! `BeginCopyFrom` does no permission checks of its own (`DoCopy` does them before it), so this
//! module makes the same checks `COPY` makes: INSERT on the table or on every target column,
//! no row-level security, no read-only transaction.

use crate::error::{PgmigError, Result};
use crate::tds::{ChunkPool, NetworkTask, StreamMessage};
use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::{c_int, c_void, CString};

/// Where the bytes of a binary COPY stream come from. Called on the main thread only, from
/// inside `CopyFrom`; it may block, and it must check for interrupts while it does.
pub trait CopySource {
    /// Fills the start of `out` with the next bytes and returns how many; 0 means the end.
    fn read(&mut self, out: &mut [u8]) -> usize;
}

/// The options of one in-process COPY.
pub struct CopyInto<'a> {
    pub relid: pg_sys::Oid,
    /// Target columns in the order the stream carries them; empty = all, in table order.
    pub columns: &'a [String],
    /// `COPY ... (FREEZE)`: only for a table created or truncated in this transaction.
    pub freeze: bool,
}

thread_local! {
    /// The source of the COPY in progress. The callback has no user-data argument, so the
    /// source is reached through this slot, set only for the duration of `copy_from`.
    static ACTIVE_SOURCE: Cell<Option<*mut (dyn CopySource + 'static)>> = const { Cell::new(None) };
}

/// Clears the slot however `copy_from` ends, an ERROR's unwinding included.
struct ActiveSourceGuard;

impl Drop for ActiveSourceGuard {
    fn drop(&mut self) {
        ACTIVE_SOURCE.with(|slot| slot.set(None));
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn read_from_active_source(
    outbuf: *mut c_void,
    _minread: c_int,
    maxread: c_int,
) -> c_int {
    let Some(source) = ACTIVE_SOURCE.with(|slot| slot.get()) else {
        return 0;
    };
    let len = usize::try_from(maxread).unwrap_or(0);
    if len == 0 {
        return 0;
    }
    // SAFETY: COPY hands us a buffer of `maxread` bytes; the source outlives the COPY
    // (copy_from borrows it for its whole duration and clears the slot before returning).
    let out = std::slice::from_raw_parts_mut(outbuf.cast::<u8>(), len);
    let filled = (*source).read(out).min(len);
    filled as c_int
}

/// Runs `COPY relation (columns) FROM <source> (FORMAT binary[, FREEZE])` in this backend and
/// returns the number of rows COPY stored.
pub fn copy_from(target: &CopyInto<'_>, source: &mut dyn CopySource) -> Result<u64> {
    // SAFETY: main thread, inside a transaction; everything palloc'd lives in the current
    // memory context for the duration of the statement.
    unsafe {
        let rel = pg_sys::table_open(target.relid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
        let pstate = pg_sys::make_parsestate(std::ptr::null_mut());
        let attnums = target_attnums(rel, target.columns)?;
        check_privileges(pstate, rel, &attnums)?;
        if pg_sys::check_enable_rls(target.relid, pg_sys::InvalidOid, false)
            == pg_sys::CheckEnableRlsResult::RLS_ENABLED as c_int
        {
            return Err(PgmigError::Unsupported {
                what: "loading a table with row-level security enabled".into(),
                hint: "COPY FROM, which pgmig uses, refuses such tables too: load into a table \
                       without row-level security, then INSERT ... SELECT."
                    .into(),
            });
        }
        if pg_sys::XactReadOnly && !(*rel).rd_islocaltemp {
            pg_sys::PreventCommandIfReadOnly(c"COPY FROM".as_ptr());
        }

        let mut options = std::ptr::null_mut();
        options = pg_sys::lappend(options, def_elem(c"format", Some(c"binary")).cast());
        if target.freeze {
            options = pg_sys::lappend(options, def_elem(c"freeze", None).cast());
        }
        let mut attnamelist = std::ptr::null_mut();
        for column in target.columns {
            let name = pstrdup(column)?;
            attnamelist = pg_sys::lappend(attnamelist, pg_sys::makeString(name).cast());
        }

        // Lifetime erased for the slot; the guard clears it before `source` can go away.
        let erased: *mut (dyn CopySource + '_) = source;
        let erased: *mut (dyn CopySource + 'static) = std::mem::transmute(erased);
        ACTIVE_SOURCE.with(|slot| slot.set(Some(erased)));
        let _guard = ActiveSourceGuard;

        let cstate = pg_sys::BeginCopyFrom(
            pstate,
            rel,
            std::ptr::null_mut(),
            std::ptr::null(),
            false,
            Some(read_from_active_source),
            attnamelist,
            options,
        );
        let rows = pg_sys::CopyFrom(cstate);
        pg_sys::EndCopyFrom(cstate);
        // Keep the lock to the end of the transaction, as COPY does.
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        Ok(rows)
    }
}

/// Attribute numbers of the target columns (all non-dropped, non-generated ones when empty).
unsafe fn target_attnums(rel: pg_sys::Relation, columns: &[String]) -> Result<Vec<i16>> {
    let relid = (*rel).rd_id;
    let mut attnums = Vec::with_capacity(columns.len());
    for column in columns {
        attnums.push(attnum_of(relid, column)?);
    }
    if columns.is_empty() {
        let desc = (*rel).rd_att;
        let natts = (*desc).natts as usize;
        for attr in (*desc).attrs.as_slice(natts) {
            if !attr.attisdropped && attr.attgenerated == 0 {
                attnums.push(attr.attnum);
            }
        }
    }
    Ok(attnums)
}

/// The attribute number of column `column` of table `relid`.
///
/// # Safety
/// Main thread, inside a transaction (a catalog lookup).
pub unsafe fn attnum_of(relid: pg_sys::Oid, column: &str) -> Result<i16> {
    let name = CString::new(column)
        .map_err(|_| PgmigError::Internal(format!("column name with NUL: {column:?}")))?;
    let attnum = pg_sys::get_attnum(relid, name.as_ptr());
    if attnum <= 0 {
        return Err(PgmigError::Internal(format!(
            "target column \"{column}\" not found"
        )));
    }
    Ok(attnum)
}

/// INSERT on the table, or on each target column, exactly as COPY FROM checks it; raises
/// PostgreSQL's own "permission denied for table" (42501) when it fails.
unsafe fn check_privileges(
    pstate: *mut pg_sys::ParseState,
    rel: pg_sys::Relation,
    attnums: &[i16],
) -> Result<()> {
    let nsitem = pg_sys::addRangeTableEntryForRelation(
        pstate,
        rel,
        pg_sys::RowExclusiveLock as c_int,
        std::ptr::null_mut(),
        false,
        false,
    );
    let mut inserted_cols = std::ptr::null_mut();
    for &attnum in attnums {
        let member = attnum as c_int - pg_sys::FirstLowInvalidHeapAttributeNumber;
        inserted_cols = pg_sys::bms_add_member(inserted_cols, member);
    }
    require_insert(pstate, nsitem, inserted_cols);
    Ok(())
}

/// PostgreSQL 13-15 keep the required permissions on the range-table entry.
#[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
unsafe fn require_insert(
    pstate: *mut pg_sys::ParseState,
    nsitem: *mut pg_sys::ParseNamespaceItem,
    inserted_cols: *mut pg_sys::Bitmapset,
) {
    let rte = (*nsitem).p_rte;
    (*rte).requiredPerms = pg_sys::ACL_INSERT as pg_sys::AclMode;
    (*rte).insertedCols = inserted_cols;
    pg_sys::ExecCheckRTPerms((*pstate).p_rtable, true);
}

/// PostgreSQL 16+ keep them in a separate RTEPermissionInfo.
#[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
unsafe fn require_insert(
    pstate: *mut pg_sys::ParseState,
    nsitem: *mut pg_sys::ParseNamespaceItem,
    inserted_cols: *mut pg_sys::Bitmapset,
) {
    let perminfo = (*nsitem).p_perminfo;
    (*perminfo).requiredPerms = pg_sys::ACL_INSERT as pg_sys::AclMode;
    (*perminfo).insertedCols = inserted_cols;
    pg_sys::ExecCheckPermissions((*pstate).p_rtable, (*pstate).p_rteperminfos, true);
}

unsafe fn def_elem(
    name: &'static std::ffi::CStr,
    value: Option<&'static std::ffi::CStr>,
) -> *mut pg_sys::DefElem {
    let arg = match value {
        Some(value) => pg_sys::makeString(pg_sys::pstrdup(value.as_ptr())).cast(),
        None => std::ptr::null_mut(),
    };
    pg_sys::makeDefElem(pg_sys::pstrdup(name.as_ptr()), arg, -1)
}

unsafe fn pstrdup(text: &str) -> Result<*mut std::ffi::c_char> {
    let text = CString::new(text)
        .map_err(|_| PgmigError::Internal(format!("identifier with NUL: {text:?}")))?;
    Ok(pg_sys::pstrdup(text.as_ptr()))
}

/// A COPY source fed by a network thread, one batch at a time. Binary COPY takes an end of
/// input at a tuple border as the end of the data, so a thread that died between two rows would
/// silently truncate the load: a batch is complete only when the thread says `End`, and the row
/// count COPY stored is checked against the count the thread sent.
pub struct ChannelSource<'a> {
    task: &'a mut NetworkTask<StreamMessage>,
    current: Vec<u8>,
    position: usize,
    /// Rows the network thread says this batch holds, once it has said `End`.
    rows_sent: Option<u64>,
    last: bool,
    bytes: u64,
    /// Called with (rows encoded so far in the stream, bytes received in this batch) as data
    /// arrives.
    on_data: Option<&'a mut dyn FnMut(u64, u64)>,
    /// Where consumed chunks go back to the network thread for reuse.
    pool: Option<ChunkPool>,
}

impl<'a> ChannelSource<'a> {
    pub fn new(task: &'a mut NetworkTask<StreamMessage>) -> ChannelSource<'a> {
        ChannelSource {
            task,
            current: Vec::new(),
            position: 0,
            rows_sent: None,
            last: false,
            bytes: 0,
            on_data: None,
            pool: None,
        }
    }

    pub fn with_pool(mut self, pool: ChunkPool) -> ChannelSource<'a> {
        self.pool = Some(pool);
        self
    }

    pub fn with_progress(mut self, on_data: &'a mut dyn FnMut(u64, u64)) -> ChannelSource<'a> {
        self.on_data = Some(on_data);
        self
    }

    /// Bytes of COPY data received so far in this batch.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the batch read was the stream's last.
    pub fn is_last(&self) -> bool {
        self.last
    }

    /// Checks, once the batch has been read (by COPY, or by an upsert's comparison), that
    /// every row sent was read and the batch ended well.
    pub fn finish(&self, rows_read: u64) -> Result<()> {
        self.finish_copy(rows_read, false).map(|_| ())
    }

    /// [`Self::finish`] for a COPY that stored `stored` rows; returns the rows sent. Into a
    /// target that may skip rows (`may_skip`: BEFORE INSERT row triggers, foreign partitions)
    /// COPY counts only the rows it stored, so there the stream's end (which COPY reaches only
    /// after the trailer, past every row) is what shows that every row was read.
    pub fn finish_copy(&self, stored: u64, may_skip: bool) -> Result<u64> {
        match self.rows_sent {
            Some(sent) if sent == stored || (may_skip && stored < sent) => Ok(sent),
            Some(sent) => Err(PgmigError::Internal(format!(
                "the network thread sent {sent} rows but {stored} were read"
            ))),
            None => Err(PgmigError::Internal(
                "the batch was left before the stream ended it".into(),
            )),
        }
    }
}

impl ChannelSource<'_> {
    /// Receives until a chunk of data arrives (true, in `current`) or the batch ends (false).
    fn receive(&mut self) -> bool {
        loop {
            if self.rows_sent.is_some() {
                return false;
            }
            match self.task.recv(&mut super::check_interrupts) {
                Some(StreamMessage::Data { chunk, rows }) => {
                    self.bytes += chunk.len() as u64;
                    let consumed = std::mem::replace(&mut self.current, chunk);
                    if let Some(pool) = &self.pool {
                        pool.give(consumed);
                    }
                    self.position = 0;
                    if let Some(on_data) = self.on_data.as_mut() {
                        on_data(rows, self.bytes);
                    }
                    return true;
                }
                Some(StreamMessage::End { rows, last }) => {
                    self.rows_sent = Some(rows);
                    self.last = last;
                }
                // Raised from inside COPY: the statement fails, nothing of it stays.
                Some(StreamMessage::Failed(error)) => error.report(),
                Some(StreamMessage::Note(note)) => pgrx::debug1!("pgmig: {note}"),
                Some(StreamMessage::Columns(_) | StreamMessage::Text(_)) => {
                    PgmigError::Internal("a query's answer in the middle of a stream".into())
                        .report()
                }
                None => PgmigError::Internal(
                    "the network thread ended without finishing the stream".into(),
                )
                .report(),
            }
        }
    }

    /// The batch's next chunk of COPY bytes, `None` once the network thread has ended the
    /// batch (then [`ChannelSource::finish`] can check it and [`ChannelSource::is_last`] is
    /// known).
    pub fn next_chunk(&mut self) -> Option<&[u8]> {
        if self.position < self.current.len() || self.receive() {
            let start = self.position;
            self.position = self.current.len();
            Some(&self.current[start..])
        } else {
            None
        }
    }
}

impl CopySource for ChannelSource<'_> {
    fn read(&mut self, out: &mut [u8]) -> usize {
        if self.position >= self.current.len() && !self.receive() {
            return 0;
        }
        let n = out.len().min(self.current.len() - self.position);
        out[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        n
    }
}

/// A COPY source over bytes in memory.
pub struct SliceSource<'a> {
    bytes: &'a [u8],
}

impl<'a> SliceSource<'a> {
    pub fn new(bytes: &'a [u8]) -> SliceSource<'a> {
        SliceSource { bytes }
    }
}

impl CopySource for SliceSource<'_> {
    fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.bytes.len());
        out[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        n
    }
}
