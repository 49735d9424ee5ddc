//! The SQL engine: in-memory databases and the T-SQL subset that pgmig, FreeTDS (`tsql`,
//! tds_fdw) and tiberius send, answered the way SQL Server answers it.
//!
//! # What it runs
//! - DDL: `CREATE DATABASE`, `DROP DATABASE [IF EXISTS]`, `CREATE SCHEMA`, `USE`,
//!   `CREATE TABLE` (every type of [`SqlType`], NULL/NOT NULL, inline and table PRIMARY KEY
//!   and UNIQUE constraints (composite, CLUSTERED/NONCLUSTERED), `IDENTITY(seed, inc)`,
//!   `DEFAULT`, computed columns `c AS (expr) [PERSISTED]`, `COLLATE`), `DROP TABLE [IF
//!   EXISTS]`, `TRUNCATE TABLE`; `#temp` tables (session-local).
//! - DML: `INSERT [INTO] t [(cols)] VALUES (..), (..) | SELECT .. | DEFAULT VALUES`,
//!   `UPDATE t SET .. [WHERE ..]`, `DELETE [FROM] t [WHERE ..]`, `SELECT .. INTO t`,
//!   `SET IDENTITY_INSERT`. Primary keys and NOT NULL are enforced; values are converted
//!   with SQL Server's implicit conversion rules and kept exactly (see `convert`).
//! - Queries: `SELECT [DISTINCT] [TOP (n) [PERCENT]] list [FROM t [AS a] [WITH (hints)]
//!   [INNER|LEFT|RIGHT|CROSS JOIN ..]] [WHERE ..] [GROUP BY ..] [HAVING ..] [ORDER BY ..
//!   [OFFSET .. FETCH ..]]`, `UNION [ALL]`, derived tables, uncorrelated subqueries
//!   (scalar, `IN`, `EXISTS`), CAST/CONVERT/TRY_CAST/TRY_CONVERT, CASE, the usual scalar
//!   functions and COUNT/COUNT_BIG/MIN/MAX/SUM/AVG. SELECTs of tables stream from a snapshot
//!   (never collected unless they need a sort that the clustered key does not give), and
//!   conditions on the leading clustered-key column become a binary-searched key range.
//! - Session: `SET` options (NOCOUNT, ANSI_*, QUOTED_IDENTIFIER, XACT_ABORT, TEXTSIZE,
//!   DATEFORMAT, LANGUAGE, LOCK_TIMEOUT, ROWCOUNT, DEADLOCK_PRIORITY, TRANSACTION ISOLATION
//!   LEVEL incl. SNAPSHOT, ...), `DECLARE`/`SET @v`, `PRINT`, `BEGIN/COMMIT/ROLLBACK
//!   TRAN` (ROLLBACK restores table contents and undoes CREATE/DROP TABLE).
//! - Catalog: sys.schemas/objects/all_objects/tables/columns/all_columns/types/indexes/
//!   index_columns/key_constraints/identity_columns/computed_columns/default_constraints/
//!   partitions/dm_db_partition_stats/databases, INFORMATION_SCHEMA.SCHEMATA/TABLES/COLUMNS/
//!   TABLE_CONSTRAINTS/KEY_COLUMN_USAGE; OBJECT_ID, OBJECT_NAME, SCHEMA_NAME, DB_NAME, ...,
//!   @@VERSION, @@SPID, SERVERPROPERTY.
//! - RPC: `sp_executesql` (statement, parameter declarations, values by name or position).
//! - Test control: `EXEC pgmig_test.inject @fault = 'drop_after_rows', @value = 1000` (see
//!   [`crate::faults::Fault::from_control`]; `@value` or `@n`, `@number`, `@message`) and
//!   `EXEC pgmig_test.inject @fault = 'clear'`.
//!
//! # What it refuses
//! Everything SQL Server refuses, with SQL Server's error numbers (102/156 syntax, 207/208/
//! 209/4104 names, 245/8114/241 conversions, 2627 duplicate keys, 515 NULLs, 2628
//! truncation, 2714, 3701, ...). Valid T-SQL it does not implement is refused with error
//! 40517 ("Keyword or statement option '..' is not supported in this version of SQL
//! Server."): IF/WHILE/BEGIN..END blocks, ALTER, CREATE INDEX/VIEW/PROCEDURE/FUNCTION/
//! TRIGGER, MERGE, window functions (OVER), LIKE .. ESCAPE, TOP .. WITH TIES, correlated
//! subqueries, sp_prepare/sp_execute and other system procedures. FOREIGN KEY and CHECK
//! constraints are parsed and not enforced; isolation levels are accepted and everything
//! reads committed data (no locks).
//!
//! # Why a hand-written parser and not `sqlparser`
//! `sqlparser` with `MsSqlDialect` rejects T-SQL computed columns (`c AS (a * 2)`), accepts
//! what SQL Server refuses (`LIMIT 10`, `a::int`, `ILIKE`), and its errors do not carry what
//! SQL Server's 102/156 messages need. The subset here is small enough that a
//! recursive-descent parser (`parser.rs`) is less code than adapting one, and it reports
//! "Incorrect syntax near 'X'." / "near the keyword 'X'." like SQL Server.
//!
//! # Layout
//! - `lexer`, `parser`, `ast`: T-SQL text to statements.
//! - `convert`: SQL Server's type rules (conversion, comparison, date text).
//! - `expr`: names bound to columns, expressions typed and evaluated.
//! - `query`: SELECT planning and streaming.
//! - `exec`: statements, RPC, transactions.
//! - `storage`: databases, tables, copy-on-write row snapshots.
//! - `catalog`: sys.* and INFORMATION_SCHEMA views.
//! - `generate`: the StackOverflow-like benchmark tables, served pre-encoded.

pub mod ast;
pub mod catalog;
pub mod convert;
pub mod exec;
pub mod expr;
pub mod generate;
pub mod lexer;
pub mod parser;
pub mod query;
pub mod storage;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::faults::Faults;
use crate::types::{SqlError, SqlType, StatementOutcome, Value};
use storage::{Database, Table};

pub use crate::types::RpcParam;

/// Variables of a batch by lower-case name with the `@`: type and value.
pub(crate) type Variables = HashMap<String, (SqlType, Value)>;

/// What `@@VERSION` returns: SQL Server 2022's first line, and what this server really is.
/// The version agrees with what the wire side announces in PRELOGIN/LOGINACK (16.0.1000.6).
pub const VERSION: &str = "Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64)\n\
    \tpgmig TDS test server (a stand-in for SQL Server in pgmig's tests)";
/// `@@SERVERNAME` and SERVERPROPERTY('ServerName') (the wire's ERROR tokens say the same).
pub const SERVER_NAME: &str = crate::wire::tokens::SERVER_NAME;
pub const PRODUCT_VERSION: &str = "16.0.1000.6";
pub const EDITION: &str = "Developer Edition (64-bit)";
/// SERVERPROPERTY('EngineEdition'): 3 = Enterprise/Developer.
pub const ENGINE_EDITION: i32 = 3;
/// First session id handed out; SQL Server's user sessions start above the system ones.
const FIRST_SPID: u16 = 51;
/// database_id of the first user database (1-4 are master, tempdb, model, msdb).
const FIRST_USER_DATABASE_ID: i32 = 5;

pub(crate) struct EngineState {
    pub(crate) databases: RwLock<Vec<Arc<Database>>>,
    pub(crate) faults: Arc<Faults>,
    next_spid: AtomicU16,
    next_database_id: AtomicI32,
    /// The rowversion counter (SQL Server keeps one per database; one here is enough).
    pub(crate) rowversion: AtomicU64,
    /// The first rowversion each session with an open transaction took, by spid: what
    /// MIN_ACTIVE_ROWVERSION() looks at.
    pub(crate) open_rowversions: Mutex<HashMap<u16, u64>>,
    /// The database the last seed script `USE`d; generated tables go there.
    last_seeded_database: Mutex<Option<String>>,
}

/// The shared in-memory server state; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) state: Arc<EngineState>,
}

impl Engine {
    pub fn new(faults: Arc<Faults>) -> Engine {
        let system = vec![
            Arc::new(Database::new("master", 1)),
            Arc::new(Database::new("tempdb", 2)),
            Arc::new(Database::new("model", 3)),
            Arc::new(Database::new("msdb", 4)),
        ];
        Engine {
            state: Arc::new(EngineState {
                databases: RwLock::new(system),
                faults,
                next_spid: AtomicU16::new(FIRST_SPID),
                next_database_id: AtomicI32::new(FIRST_USER_DATABASE_ID),
                rowversion: AtomicU64::new(2000),
                open_rowversions: Mutex::new(HashMap::new()),
                last_seeded_database: Mutex::new(None),
            }),
        }
    }

    pub(crate) fn database(&self, name: &str) -> Option<Arc<Database>> {
        let dbs = self
            .state
            .databases
            .read()
            .unwrap_or_else(|e| e.into_inner());
        dbs.iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
            .cloned()
    }

    pub(crate) fn database_by_id(&self, id: i32) -> Option<Arc<Database>> {
        let dbs = self
            .state
            .databases
            .read()
            .unwrap_or_else(|e| e.into_inner());
        dbs.iter().find(|d| d.id == id).cloned()
    }

    pub(crate) fn database_list(&self) -> Vec<(String, i32)> {
        let dbs = self
            .state
            .databases
            .read()
            .unwrap_or_else(|e| e.into_inner());
        dbs.iter().map(|d| (d.name.clone(), d.id)).collect()
    }

    /// Creates a database; error 1801 if it exists.
    pub(crate) fn create_database(&self, name: &str) -> Result<(), SqlError> {
        let mut dbs = self
            .state
            .databases
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if dbs.iter().any(|d| d.name.eq_ignore_ascii_case(name)) {
            return Err(SqlError::new(
                1801,
                3,
                16,
                format!("Database '{name}' already exists. Choose a different database name."),
            ));
        }
        let id = self.state.next_database_id.fetch_add(1, Ordering::SeqCst);
        dbs.push(Arc::new(Database::new(name, id)));
        Ok(())
    }

    /// Drops a user database; false when there is none of that name.
    pub(crate) fn drop_database(&self, name: &str) -> bool {
        let mut dbs = self
            .state
            .databases
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let before = dbs.len();
        dbs.retain(|d| !d.name.eq_ignore_ascii_case(name) || d.id < FIRST_USER_DATABASE_ID);
        dbs.len() != before
    }

    /// OBJECT_ID('[db.][schema.]name'): tables and constraints; `#temp` tables are not found.
    pub(crate) fn object_id(&self, current_db: &str, text: &str) -> Option<i32> {
        let name = parser::parse_object_name(text).ok()?;
        if name.name.starts_with('#') {
            return None;
        }
        let db = self.database(name.database.as_deref().unwrap_or(current_db))?;
        db.object_id(name.schema.as_deref().unwrap_or("dbo"), &name.name)
    }

    /// Runs a T-SQL seeding script (batches separated by lines holding only GO), stopping
    /// at the first error.
    pub fn run_script(&self, sql: &str) -> Result<(), SqlError> {
        let mut session = self.new_session("sa", "master");
        for batch in lexer::split_batches(sql) {
            for outcome in session.execute_batch(&batch) {
                match outcome {
                    StatementOutcome::Error(e) => return Err(e),
                    StatementOutcome::Rows(rs) => drain(rs.rows)?,
                    _ => {}
                }
            }
        }
        if !session.database.eq_ignore_ascii_case("master") {
            *self
                .state
                .last_seeded_database
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(session.database.clone());
        }
        Ok(())
    }

    /// Adds the generated benchmark tables, spec `posts=N,votes=M`, to the database the seed
    /// script last `USE`d (else [`generate::DEFAULT_GENERATED_DATABASE`], created if needed).
    /// Tables of the same name are replaced.
    pub fn generate(&self, spec: &str) -> Result<(), String> {
        let parts = generate::parse_spec(spec)?;
        let db_name = self
            .state
            .last_seeded_database
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| generate::DEFAULT_GENERATED_DATABASE.to_string());
        if self.database(&db_name).is_none() {
            self.create_database(&db_name).map_err(|e| e.message)?;
        }
        let db = self
            .database(&db_name)
            .ok_or_else(|| format!("database {db_name} vanished"))?;
        let mut st = db.write();
        for (name, rows) in parts {
            let kind = if name == "posts" {
                generate::GenKind::Posts(Arc::new(generate::PostsPools::new()))
            } else {
                generate::GenKind::Votes
            };
            st.tables.retain(|t| {
                !(t.def.schema.eq_ignore_ascii_case("dbo")
                    && t.def.name.eq_ignore_ascii_case(kind.table_name()))
            });
            let object_id = st.allocate_object_id();
            let pk_id = st.allocate_object_id();
            let def = storage::TableDef {
                object_id,
                schema_id: 1,
                schema: "dbo".into(),
                name: kind.table_name().into(),
                columns: kind.columns(),
                keys: vec![kind.primary_key(pk_id)],
                created: expr::now_datetime(),
            };
            st.tables.push(Arc::new(Table::new(
                def,
                storage::TableData::Generated { kind, rows },
            )));
        }
        Ok(())
    }

    /// A new session after login; database None = "master". Error 4060 for an unknown
    /// database, as SQL Server answers a login.
    pub fn open_session(&self, login: &str, database: Option<&str>) -> Result<Session, SqlError> {
        let name = database.filter(|d| !d.is_empty()).unwrap_or("master");
        let db = self.database(name).ok_or_else(|| {
            SqlError::new(
                4060,
                1,
                11,
                format!(
                    "Cannot open database \"{name}\" requested by the login. The login failed."
                ),
            )
        })?;
        Ok(self.new_session(login, &db.name))
    }

    fn new_session(&self, login: &str, database: &str) -> Session {
        let spid = self.state.next_spid.fetch_add(1, Ordering::SeqCst);
        Session {
            engine: self.clone(),
            database: database.to_string(),
            login: login.to_string(),
            spid,
            options: SessionOptions::default(),
            temp_tables: Vec::new(),
            tran_count: 0,
            undo: Vec::new(),
            last_identity: None,
            last_rowcount: 0,
            last_error: 0,
            variables: HashMap::new(),
            identity_insert: None,
        }
    }
}

/// Consumes a result nobody reads (seed scripts), surfacing an error in it.
fn drain(rows: crate::types::RowSource) -> Result<(), SqlError> {
    match rows {
        crate::types::RowSource::Values(it) => it.for_each(drop),
        crate::types::RowSource::Encoded(it) => it.for_each(drop),
        crate::types::RowSource::Fallible(mut it) => {
            if let Some(Err(e)) = it.find(|r| r.is_err()) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// SET options a session keeps.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub nocount: bool,
    pub xact_abort: bool,
    pub textsize: i64,
    pub lock_timeout: i64,
    pub rowcount: i64,
    pub dateformat: String,
    pub language: String,
    pub isolation: String,
    pub datefirst: i64,
    pub deadlock_priority: i64,
    /// Every ON/OFF option by upper-case name (ANSI_NULLS, QUOTED_IDENTIFIER, ...).
    pub flags: HashMap<String, bool>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            nocount: false,
            xact_abort: false,
            // What SQL Server reports before a client sets it.
            textsize: 4096,
            lock_timeout: -1,
            rowcount: 0,
            dateformat: "mdy".into(),
            language: "us_english".into(),
            isolation: "READ COMMITTED".into(),
            datefirst: 7,
            deadlock_priority: 0,
            flags: HashMap::new(),
        }
    }
}

/// One undo step of an open transaction, applied in reverse order by ROLLBACK.
pub(crate) enum Undo {
    /// A table's contents before the transaction first changed them.
    Data(Arc<Table>, storage::TableData),
    /// A table the transaction created (in a database, or `None` = a `#temp` table).
    Created(Option<Arc<Database>>, Arc<Table>),
    /// A table the transaction dropped.
    Dropped(Option<Arc<Database>>, Arc<Table>),
}

/// One client session: current database, SET options, `#temp` tables, transaction state.
pub struct Session {
    pub(crate) engine: Engine,
    pub(crate) database: String,
    pub(crate) login: String,
    pub(crate) spid: u16,
    pub(crate) options: SessionOptions,
    pub(crate) temp_tables: Vec<Arc<Table>>,
    pub(crate) tran_count: i32,
    pub(crate) undo: Vec<Undo>,
    /// The last identity value this session inserted (`@@IDENTITY`, SCOPE_IDENTITY()).
    pub(crate) last_identity: Option<i128>,
    pub(crate) last_rowcount: u64,
    pub(crate) last_error: u32,
    /// Variables of the current batch, by lower-case name with the `@`.
    pub(crate) variables: Variables,
    /// The table with IDENTITY_INSERT ON: (database id, object id, name for messages).
    pub(crate) identity_insert: Option<(i32, i32, String)>,
}

/// SQL Server rolls back what a session leaves open when it disconnects.
impl Drop for Session {
    fn drop(&mut self) {
        if self.tran_count > 0 {
            self.rollback();
        }
    }
}

impl Session {
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The session id (`@@SPID`).
    pub fn spid(&self) -> u16 {
        self.spid
    }

    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// Runs a SQL batch: one outcome per statement, in order.
    pub fn execute_batch(&mut self, sql: &str) -> Vec<StatementOutcome> {
        if trace_enabled() {
            eprintln!("pgmig-tds-server: spid {} batch: {sql}", self.spid);
        }
        self.run_batch(sql, HashMap::new())
    }

    /// Runs an RPC, e.g. `sp_executesql` with @stmt, @params and the parameter values.
    pub fn execute_rpc(&mut self, proc_name: &str, params: Vec<RpcParam>) -> Vec<StatementOutcome> {
        if trace_enabled() {
            let shown: Vec<String> = params
                .iter()
                .map(|p| {
                    let v = match &p.value {
                        Value::Str(s) if s.len() > 200 => format!("<{} bytes of text>", s.len()),
                        Value::Bytes(b) if b.len() > 64 => format!("<{} bytes>", b.len()),
                        other => format!("{other:?}"),
                    };
                    format!("{}={v}", p.name)
                })
                .collect();
            eprintln!(
                "pgmig-tds-server: spid {} rpc {proc_name}({})",
                self.spid,
                shown.join(", ")
            );
        }
        self.run_rpc(proc_name, params)
    }
}

/// `PGMIG_TDS_TRACE=1`: print every batch and RPC the server receives (to see what a client
/// such as tds_fdw sends).
fn trace_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("PGMIG_TDS_TRACE").is_some_and(|v| !v.is_empty() && v != "0")
    })
}

#[cfg(test)]
mod tests;
