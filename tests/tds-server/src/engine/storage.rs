//! In-memory databases, schemas and tables.
//!
//! A table's rows live in an `Arc<Vec<Row>>`: a SELECT streams from a snapshot (an Arc
//! clone) while writers copy-on-write (`Arc::make_mut` copies row pointers, not values).
//! Tables with a clustered key keep their rows in key order, as SQL Server's clustered index
//! does, so key ranges are found by binary search and ORDER BY key needs no sort.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::ast::Expr;
use super::generate::GenKind;
use crate::types::{Column, SqlType, Value};

/// Object ids of `#temp` tables: negative, as SQL Server gives them in tempdb.
pub fn temp_object_id() -> i32 {
    static NEXT: AtomicI32 = AtomicI32::new(-1_000_000_000);
    NEXT.fetch_add(7919, Ordering::SeqCst)
}

pub type Row = Arc<[Value]>;

#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    pub sql_type: SqlType,
    pub nullable: bool,
    pub identity: Option<(i64, i64)>,
    /// Expression and its definition text, as sys.computed_columns shows it.
    pub computed: Option<(Expr, String)>,
    pub persisted: bool,
    /// Expression, definition text, constraint name, constraint object id.
    pub default: Option<(Expr, String, String, i32)>,
}

#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub name: String,
    pub object_id: i32,
    pub primary: bool,
    pub clustered: bool,
    /// Column indexes and descending flags.
    pub columns: Vec<(usize, bool)>,
    pub index_id: i32,
    pub system_named: bool,
}

#[derive(Debug)]
pub struct TableDef {
    pub object_id: i32,
    pub schema_id: i32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    pub keys: Vec<KeyInfo>,
    /// days since 1900 and 1/300 s ticks (create_date/modify_date).
    pub created: Value,
}

impl TableDef {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    pub fn clustered_key(&self) -> Option<&KeyInfo> {
        self.keys.iter().find(|k| k.clustered)
    }

    pub fn identity_column(&self) -> Option<usize> {
        self.columns.iter().position(|c| c.identity.is_some())
    }

    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The columns as a result set describes them.
    pub fn result_columns(&self) -> Vec<Column> {
        self.columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                sql_type: c.sql_type.clone(),
                nullable: c.nullable,
                identity: c.identity.is_some(),
                computed: c.computed.is_some(),
            })
            .collect()
    }
}

#[derive(Clone)]
pub enum TableData {
    Rows {
        rows: Arc<Vec<Row>>,
        /// Last identity value handed out (None = none yet).
        identity_last: Option<i64>,
    },
    Generated {
        kind: GenKind,
        rows: u64,
    },
}

impl TableData {
    pub fn empty() -> TableData {
        TableData::Rows {
            rows: Arc::new(Vec::new()),
            identity_last: None,
        }
    }

    pub fn row_count(&self) -> u64 {
        match self {
            TableData::Rows { rows, .. } => rows.len() as u64,
            TableData::Generated { rows, .. } => *rows,
        }
    }
}

pub struct Table {
    pub def: Arc<TableDef>,
    pub data: Mutex<TableData>,
}

impl Table {
    pub fn new(def: TableDef, data: TableData) -> Table {
        Table {
            def: Arc::new(def),
            data: Mutex::new(data),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, TableData> {
        // The data stays consistent even if a holder panicked: every write is one assignment.
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub id: i32,
    pub name: String,
}

pub struct DbState {
    pub schemas: Vec<Schema>,
    pub tables: Vec<Arc<Table>>,
    pub next_object_id: i32,
}

pub struct Database {
    pub name: String,
    pub id: i32,
    pub state: RwLock<DbState>,
}

/// Object ids start here, in the range SQL Server uses for user objects.
const FIRST_OBJECT_ID: i32 = 901_578_250;
/// Spacing between object ids, so they look like SQL Server's (which are not sequential).
const OBJECT_ID_STEP: i32 = 16_000_057;

impl Database {
    pub fn new(name: &str, id: i32) -> Database {
        let schemas = vec![
            Schema {
                id: 1,
                name: "dbo".into(),
            },
            Schema {
                id: 2,
                name: "guest".into(),
            },
            Schema {
                id: 3,
                name: "INFORMATION_SCHEMA".into(),
            },
            Schema {
                id: 4,
                name: "sys".into(),
            },
        ];
        Database {
            name: name.to_string(),
            id,
            state: RwLock::new(DbState {
                schemas,
                tables: Vec::new(),
                next_object_id: FIRST_OBJECT_ID,
            }),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, DbState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, DbState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Schema and name of a table or constraint by object id.
    pub fn object_name(&self, id: i32) -> Option<(String, String)> {
        let st = self.read();
        for t in &st.tables {
            if t.def.object_id == id {
                return Some((t.def.schema.clone(), t.def.name.clone()));
            }
            if let Some(k) = t.def.keys.iter().find(|k| k.object_id == id) {
                return Some((t.def.schema.clone(), k.name.clone()));
            }
            for c in &t.def.columns {
                if let Some((_, _, name, did)) = &c.default {
                    if *did == id {
                        return Some((t.def.schema.clone(), name.clone()));
                    }
                }
            }
        }
        None
    }

    /// Object id of a table or constraint in a schema.
    pub fn object_id(&self, schema: &str, name: &str) -> Option<i32> {
        let st = self.read();
        for t in st
            .tables
            .iter()
            .filter(|t| t.def.schema.eq_ignore_ascii_case(schema))
        {
            if t.def.name.eq_ignore_ascii_case(name) {
                return Some(t.def.object_id);
            }
            if let Some(k) = t
                .def
                .keys
                .iter()
                .find(|k| k.name.eq_ignore_ascii_case(name))
            {
                return Some(k.object_id);
            }
            for c in &t.def.columns {
                if let Some((_, _, dname, did)) = &c.default {
                    if dname.eq_ignore_ascii_case(name) {
                        return Some(*did);
                    }
                }
            }
        }
        None
    }
}

impl DbState {
    pub fn schema(&self, name: &str) -> Option<&Schema> {
        self.schemas
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<Arc<Table>> {
        self.tables
            .iter()
            .find(|t| {
                t.def.schema.eq_ignore_ascii_case(schema) && t.def.name.eq_ignore_ascii_case(name)
            })
            .cloned()
    }

    pub fn allocate_object_id(&mut self) -> i32 {
        let id = self.next_object_id;
        self.next_object_id = self.next_object_id.wrapping_add(OBJECT_ID_STEP);
        if self.next_object_id < FIRST_OBJECT_ID {
            self.next_object_id = FIRST_OBJECT_ID + 1;
        }
        id
    }

    /// Any object (table or constraint) with this name in the schema.
    pub fn object_name_taken(&self, schema: &str, name: &str) -> bool {
        self.tables.iter().any(|t| {
            t.def.schema.eq_ignore_ascii_case(schema)
                && (t.def.name.eq_ignore_ascii_case(name)
                    || t.def.keys.iter().any(|k| k.name.eq_ignore_ascii_case(name))
                    || t.def.columns.iter().any(|c| {
                        c.default
                            .as_ref()
                            .is_some_and(|d| d.2.eq_ignore_ascii_case(name))
                    }))
        })
    }
}
