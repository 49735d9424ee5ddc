//! Every `pgmig.*` setting, registered once at load time.

use pgmig_core::copy_binary::NulPolicy;
use pgmig_core::ident::IdentifierCase;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use std::ffi::CString;

/// `pgmig.connect_timeout`: seconds a connect + login may take when the server sets none.
pub static CONNECT_TIMEOUT_SECS: GucSetting<i32> = GucSetting::<i32>::new(15);

/// `pgmig.server`: the server pulls use when they name none.
pub static SERVER: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// `pgmig.target_schema`: where targets go when they name no schema.
pub static TARGET_SCHEMA: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"public"));

/// `pgmig.identifier_case`: how SQL Server names become PostgreSQL names.
pub static IDENTIFIER_CASE: GucSetting<IdentifierCaseSetting> =
    GucSetting::<IdentifierCaseSetting>::new(IdentifierCaseSetting::Lower);

/// Rows per batch when a pull names none. Each batch is one COPY (and, for upsert, one merge):
/// large enough that the per-batch work is noise, small enough that an upsert's staging table
/// stays in temp_buffers-sized pieces.
pub const DEFAULT_BATCH_ROWS: i32 = 100_000;
/// Accepted batch sizes.
pub const BATCH_ROWS_RANGE: (i32, i32) = (1, 100_000_000);
pub static BATCH_ROWS: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_BATCH_ROWS);

/// `pgmig.progress_interval`: seconds between progress NOTICEs; 0 = none.
pub static PROGRESS_INTERVAL_SECS: GucSetting<i32> = GucSetting::<i32>::new(10);

/// `pgmig.nul_characters`: what to do with U+0000 in text, which PostgreSQL cannot store.
pub static NUL_CHARACTERS: GucSetting<NulSetting> =
    GucSetting::<NulSetting>::new(NulSetting::Error);

/// `pgmig.tds_reader`: what reads a pull's rows. `native` (pgmig's own TDS reader) unless a
/// problem with it needs working around; `tiberius` is the reader pgmig used before.
pub static TDS_READER: GucSetting<TdsReaderSetting> =
    GucSetting::<TdsReaderSetting>::new(TdsReaderSetting::Native);

/// `pgmig.upsert_compare`: an upsert with an integer key compares the target's rows with the
/// source's before it writes, and writes only the rows that differ (off: every row goes through
/// the staging table and ON CONFLICT, as before).
pub static UPSERT_COMPARE: GucSetting<bool> = GucSetting::<bool>::new(true);

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum TdsReaderSetting {
    #[name = c"native"]
    Native,
    #[name = c"tiberius"]
    Tiberius,
}

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IdentifierCaseSetting {
    #[name = c"lower"]
    Lower,
    #[name = c"snake"]
    Snake,
    #[name = c"preserve"]
    Preserve,
}

impl IdentifierCaseSetting {
    pub fn policy(self) -> IdentifierCase {
        match self {
            IdentifierCaseSetting::Lower => IdentifierCase::Lower,
            IdentifierCaseSetting::Snake => IdentifierCase::Snake,
            IdentifierCaseSetting::Preserve => IdentifierCase::Preserve,
        }
    }
}

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum NulSetting {
    #[name = c"error"]
    Error,
    #[name = c"strip"]
    Strip,
}

impl NulSetting {
    pub fn policy(self) -> NulPolicy {
        match self {
            NulSetting::Error => NulPolicy::Error,
            NulSetting::Strip => NulPolicy::Strip,
        }
    }
}

/// A string setting's value; `None` when unset or empty.
pub fn string_value(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting
        .get()
        .map(|value| value.to_string_lossy().into_owned())
        .filter(|value| !value.trim().is_empty())
}

pub fn init() {
    GucRegistry::define_int_guc(
        c"pgmig.connect_timeout",
        c"Seconds a connection to SQL Server (TCP, TLS and login) may take.",
        c"Used when the server has no connect_timeout option. Cancel and statement_timeout \
          stop a connect sooner.",
        &CONNECT_TIMEOUT_SECS,
        1,
        3600,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"pgmig.server",
        c"The pgmig foreign server a pull uses when it names none.",
        c"Empty: the only pgmig server, if there is exactly one.",
        &SERVER,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"pgmig.target_schema",
        c"The PostgreSQL schema of targets that name no schema.",
        c"",
        &TARGET_SCHEMA,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"pgmig.identifier_case",
        c"How SQL Server table and column names become PostgreSQL names.",
        c"lower: lower case (Posts -> posts, LastEditDate -> lasteditdate); snake: lower snake \
          case (LastEditDate -> last_edit_date); preserve: as in SQL Server (needs quoting).",
        &IDENTIFIER_CASE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pgmig.batch_rows",
        c"Rows per batch of a pull when it names none.",
        c"Each batch is one COPY and, for upsert, one merge statement.",
        &BATCH_ROWS,
        BATCH_ROWS_RANGE.0,
        BATCH_ROWS_RANGE.1,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pgmig.progress_interval",
        c"Seconds between progress NOTICEs of a pull; 0 turns them off.",
        c"",
        &PROGRESS_INTERVAL_SECS,
        0,
        86_400,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_enum_guc(
        c"pgmig.nul_characters",
        c"What a pull does with NUL characters (U+0000) in text, which PostgreSQL cannot store.",
        c"error: fail naming the row and column; strip: drop them.",
        &NUL_CHARACTERS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"pgmig.tds_reader",
        c"What reads a pull's rows from SQL Server.",
        c"native: pgmig's own reader, which writes COPY data straight from the packets (columns \
          of type text, ntext or image are read with tiberius); tiberius: the tiberius crate.",
        &TDS_READER,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pgmig.upsert_compare",
        c"Whether an upsert with an integer key compares before it writes.",
        c"on: the target's rows are read by key range and only new or changed rows are written; \
          off: every source row goes through the staging table and INSERT ... ON CONFLICT.",
        &UPSERT_COMPARE,
        GucContext::Userset,
        GucFlags::default(),
    );
}
