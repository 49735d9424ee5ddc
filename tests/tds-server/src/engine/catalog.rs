//! Catalog views (sys.* and INFORMATION_SCHEMA.*), built from a database's tables when a
//! query names them. Column names, types and values follow SQL Server's documentation.

use std::sync::Arc;

use super::convert::{
    collation_of, is_binary, is_string, is_unicode, max_length, precision_scale, type_name,
};
use super::storage::{Database, Table, TableData, TableDef};
use crate::types::{ClrType, Collation, Column, SqlType, Value};

pub struct View {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

const CO: Collation = Collation::SQL_LATIN1_GENERAL_CP1_CI_AS;
/// Base of partition ids, the range SQL Server's partition/hobt ids live in.
const PARTITION_ID_BASE: i64 = 72_057_594_037_927_936;

fn sysname() -> SqlType {
    SqlType::NVarChar {
        len: Some(128),
        collation: CO,
    }
}
fn nvarchar(n: u16) -> SqlType {
    SqlType::NVarChar {
        len: Some(n),
        collation: CO,
    }
}
fn varchar(n: u16) -> SqlType {
    SqlType::VarChar {
        len: Some(n),
        collation: CO,
    }
}

fn col(name: &str, sql_type: SqlType, nullable: bool) -> Column {
    Column {
        name: name.into(),
        sql_type,
        nullable,
        identity: false,
        computed: false,
    }
}

fn s(v: &str) -> Value {
    Value::Str(Arc::from(v))
}
fn i(v: i32) -> Value {
    Value::Int(v)
}
fn b(v: bool) -> Value {
    Value::Bit(v)
}
fn ti(v: u8) -> Value {
    Value::TinyInt(v)
}
fn opt_s(v: Option<&str>) -> Value {
    v.map(s).unwrap_or(Value::Null)
}

/// (system_type_id, user_type_id) of a column type.
pub fn type_ids(t: &SqlType) -> (u8, i32) {
    let id: u8 = match t {
        SqlType::Clr(c) => {
            let user_id = match c {
                ClrType::HierarchyId => 128,
                ClrType::Geometry => 129,
                ClrType::Geography => 130,
            };
            return (240, user_id);
        }
        SqlType::Image => 34,
        SqlType::Text { .. } => 35,
        SqlType::UniqueIdentifier => 36,
        SqlType::Date => 40,
        SqlType::Time { .. } => 41,
        SqlType::DateTime2 { .. } => 42,
        SqlType::DateTimeOffset { .. } => 43,
        SqlType::TinyInt => 48,
        SqlType::SmallInt => 52,
        SqlType::Int => 56,
        SqlType::SmallDateTime => 58,
        SqlType::Real => 59,
        SqlType::Money => 60,
        SqlType::DateTime => 61,
        SqlType::Float => 62,
        SqlType::SqlVariant => 98,
        SqlType::NText { .. } => 99,
        SqlType::Bit => 104,
        SqlType::Decimal { numeric: false, .. } => 106,
        SqlType::Decimal { numeric: true, .. } => 108,
        SqlType::SmallMoney => 122,
        SqlType::BigInt => 127,
        SqlType::VarBinary { .. } => 165,
        SqlType::VarChar { .. } => 167,
        SqlType::Binary { .. } => 173,
        SqlType::Char { .. } => 175,
        SqlType::RowVersion => 189,
        SqlType::NVarChar { .. } => 231,
        SqlType::NChar { .. } => 239,
        SqlType::Xml => 241,
    };
    (id, id as i32)
}

/// sys.types rows: name, system_type_id, user_type_id, max_length, precision, scale, collation.
const SYSTEM_TYPES: &[(&str, u8, i32, i16, u8, u8, bool)] = &[
    ("image", 34, 34, 16, 0, 0, false),
    ("text", 35, 35, 16, 0, 0, true),
    ("uniqueidentifier", 36, 36, 16, 0, 0, false),
    ("date", 40, 40, 3, 10, 0, false),
    ("time", 41, 41, 5, 16, 7, false),
    ("datetime2", 42, 42, 8, 27, 7, false),
    ("datetimeoffset", 43, 43, 10, 34, 7, false),
    ("tinyint", 48, 48, 1, 3, 0, false),
    ("smallint", 52, 52, 2, 5, 0, false),
    ("int", 56, 56, 4, 10, 0, false),
    ("smalldatetime", 58, 58, 4, 16, 0, false),
    ("real", 59, 59, 4, 24, 0, false),
    ("money", 60, 60, 8, 19, 4, false),
    ("datetime", 61, 61, 8, 23, 3, false),
    ("float", 62, 62, 8, 53, 0, false),
    ("sql_variant", 98, 98, 8016, 0, 0, false),
    ("ntext", 99, 99, 16, 0, 0, true),
    ("bit", 104, 104, 1, 1, 0, false),
    ("decimal", 106, 106, 17, 38, 38, false),
    ("numeric", 108, 108, 17, 38, 38, false),
    ("smallmoney", 122, 122, 4, 10, 4, false),
    ("bigint", 127, 127, 8, 19, 0, false),
    ("hierarchyid", 240, 128, 892, 0, 0, false),
    ("geometry", 240, 129, -1, 0, 0, false),
    ("geography", 240, 130, -1, 0, 0, false),
    ("varbinary", 165, 165, 8000, 0, 0, false),
    ("varchar", 167, 167, 8000, 0, 0, true),
    ("binary", 173, 173, 8000, 0, 0, false),
    ("char", 175, 175, 8000, 0, 0, true),
    ("timestamp", 189, 189, 8, 0, 0, false),
    ("nvarchar", 231, 231, 8000, 0, 0, true),
    ("nchar", 239, 239, 8000, 0, 0, true),
    ("xml", 241, 241, -1, 0, 0, false),
    ("sysname", 231, 256, 256, 0, 0, true),
];

/// TYPE_NAME(id).
pub fn type_name_by_id(id: i32) -> Option<&'static str> {
    SYSTEM_TYPES.iter().find(|t| t.2 == id).map(|t| t.0)
}

fn object_columns() -> Vec<Column> {
    vec![
        col("name", sysname(), false),
        col("object_id", SqlType::Int, false),
        col("principal_id", SqlType::Int, true),
        col("schema_id", SqlType::Int, false),
        col("parent_object_id", SqlType::Int, false),
        col(
            "type",
            SqlType::Char {
                len: 2,
                collation: CO,
            },
            true,
        ),
        col("type_desc", nvarchar(60), true),
        col("create_date", SqlType::DateTime, false),
        col("modify_date", SqlType::DateTime, false),
        col("is_ms_shipped", SqlType::Bit, false),
        col("is_published", SqlType::Bit, false),
        col("is_schema_published", SqlType::Bit, false),
    ]
}

fn object_row(
    name: &str,
    object_id: i32,
    schema_id: i32,
    parent: i32,
    ty: &str,
    desc: &str,
    created: &Value,
) -> Vec<Value> {
    vec![
        s(name),
        i(object_id),
        Value::Null,
        i(schema_id),
        i(parent),
        s(ty),
        s(desc),
        created.clone(),
        created.clone(),
        b(false),
        b(false),
        b(false),
    ]
}

fn column_columns() -> Vec<Column> {
    vec![
        col("object_id", SqlType::Int, false),
        col("name", sysname(), true),
        col("column_id", SqlType::Int, false),
        col("system_type_id", SqlType::TinyInt, false),
        col("user_type_id", SqlType::Int, false),
        col("max_length", SqlType::SmallInt, false),
        col("precision", SqlType::TinyInt, false),
        col("scale", SqlType::TinyInt, false),
        col("collation_name", sysname(), true),
        col("is_nullable", SqlType::Bit, true),
        col("is_ansi_padded", SqlType::Bit, false),
        col("is_rowguidcol", SqlType::Bit, false),
        col("is_identity", SqlType::Bit, false),
        col("is_computed", SqlType::Bit, false),
        col("is_filestream", SqlType::Bit, false),
        col("is_replicated", SqlType::Bit, true),
        col("is_non_sql_subscribed", SqlType::Bit, true),
        col("is_merge_published", SqlType::Bit, true),
        col("is_dts_replicated", SqlType::Bit, true),
        col("is_xml_document", SqlType::Bit, false),
        col("xml_collection_id", SqlType::Int, false),
        col("default_object_id", SqlType::Int, false),
        col("rule_object_id", SqlType::Int, false),
        col("is_sparse", SqlType::Bit, true),
        col("is_column_set", SqlType::Bit, true),
        col("generated_always_type", SqlType::TinyInt, true),
        col("generated_always_type_desc", nvarchar(60), true),
        col("is_hidden", SqlType::Bit, true),
        col("is_masked", SqlType::Bit, false),
    ]
}

fn column_row(def: &TableDef, idx: usize) -> Vec<Value> {
    let c = &def.columns[idx];
    let (sys_id, user_id) = type_ids(&c.sql_type);
    let (p, sc) = precision_scale(&c.sql_type);
    let padded = is_string(&c.sql_type)
        && !matches!(
            c.sql_type,
            SqlType::Text { .. } | SqlType::NText { .. } | SqlType::Xml
        )
        || matches!(
            c.sql_type,
            SqlType::Binary { .. } | SqlType::VarBinary { .. }
        );
    vec![
        i(def.object_id),
        s(&c.name),
        i(idx as i32 + 1),
        ti(sys_id),
        i(user_id),
        Value::SmallInt(max_length(&c.sql_type)),
        ti(p),
        ti(sc),
        opt_s(collation_of(&c.sql_type).map(|c| c.name)),
        b(c.nullable),
        b(padded),
        b(false),
        b(c.identity.is_some()),
        b(c.computed.is_some()),
        b(false),
        b(false),
        b(false),
        b(false),
        b(false),
        b(false),
        i(0),
        i(c.default.as_ref().map(|d| d.3).unwrap_or(0)),
        i(0),
        b(false),
        b(false),
        ti(0),
        s("NOT_APPLICABLE"),
        b(false),
        b(false),
    ]
}

/// The view `schema.name` of `db`, or None when there is no such catalog view.
pub fn view(
    db: &Database,
    all_databases: &[(String, i32)],
    schema: &str,
    name: &str,
) -> Option<View> {
    let st = db.read();
    let tables: Vec<Arc<Table>> = st.tables.clone();
    let schemas = st.schemas.clone();
    drop(st);
    let schema = schema.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    let defs: Vec<Arc<TableDef>> = tables.iter().map(|t| t.def.clone()).collect();
    let mut rows = Vec::new();
    let columns = match (schema.as_str(), name.as_str()) {
        ("sys", "schemas") => {
            for sc in &schemas {
                rows.push(vec![s(&sc.name), i(sc.id), i(1)]);
            }
            vec![
                col("name", sysname(), false),
                col("schema_id", SqlType::Int, false),
                col("principal_id", SqlType::Int, true),
            ]
        }
        ("sys", "databases") => {
            for (n, id) in all_databases {
                rows.push(vec![
                    s(n),
                    i(*id),
                    Value::Null,
                    Value::DateTime {
                        days: 45_000,
                        ticks_300: 0,
                    },
                    ti(160),
                    s(CO.name),
                    ti(0),
                    s("ONLINE"),
                    b(false),
                    ti(1),
                    s("ON"),
                    b(false),
                    ti(3),
                    s("SIMPLE"),
                ]);
            }
            vec![
                col("name", sysname(), true),
                col("database_id", SqlType::Int, false),
                col("source_database_id", SqlType::Int, true),
                col("create_date", SqlType::DateTime, false),
                col("compatibility_level", SqlType::TinyInt, false),
                col("collation_name", sysname(), true),
                col("state", SqlType::TinyInt, true),
                col("state_desc", nvarchar(60), true),
                col("is_read_only", SqlType::Bit, true),
                col("snapshot_isolation_state", SqlType::TinyInt, true),
                col("snapshot_isolation_state_desc", nvarchar(60), true),
                col("is_read_committed_snapshot_on", SqlType::Bit, true),
                col("recovery_model", SqlType::TinyInt, true),
                col("recovery_model_desc", nvarchar(60), true),
            ]
        }
        ("sys", "types") => {
            for (n, sys_id, user_id, len, p, sc, collated) in SYSTEM_TYPES {
                rows.push(vec![
                    s(n),
                    ti(*sys_id),
                    i(*user_id),
                    i(4),
                    Value::Null,
                    Value::SmallInt(*len),
                    ti(*p),
                    ti(*sc),
                    if *collated { s(CO.name) } else { Value::Null },
                    b(*n != "sysname"),
                    b(*user_id == 128 || *user_id == 129 || *user_id == 130),
                    b(*user_id == 128 || *user_id == 129 || *user_id == 130),
                    i(0),
                    i(0),
                    b(false),
                ]);
            }
            vec![
                col("name", sysname(), false),
                col("system_type_id", SqlType::TinyInt, false),
                col("user_type_id", SqlType::Int, false),
                col("schema_id", SqlType::Int, false),
                col("principal_id", SqlType::Int, true),
                col("max_length", SqlType::SmallInt, false),
                col("precision", SqlType::TinyInt, false),
                col("scale", SqlType::TinyInt, false),
                col("collation_name", sysname(), true),
                col("is_nullable", SqlType::Bit, true),
                col("is_user_defined", SqlType::Bit, false),
                col("is_assembly_type", SqlType::Bit, false),
                col("default_object_id", SqlType::Int, false),
                col("rule_object_id", SqlType::Int, false),
                col("is_table_type", SqlType::Bit, false),
            ]
        }
        ("sys", "objects") | ("sys", "all_objects") => {
            for d in &defs {
                rows.push(object_row(
                    &d.name,
                    d.object_id,
                    d.schema_id,
                    0,
                    "U ",
                    "USER_TABLE",
                    &d.created,
                ));
                for k in &d.keys {
                    let (t, desc) = if k.primary {
                        ("PK", "PRIMARY_KEY_CONSTRAINT")
                    } else {
                        ("UQ", "UNIQUE_CONSTRAINT")
                    };
                    rows.push(object_row(
                        &k.name,
                        k.object_id,
                        d.schema_id,
                        d.object_id,
                        t,
                        desc,
                        &d.created,
                    ));
                }
                for c in &d.columns {
                    if let Some((_, _, dn, did)) = &c.default {
                        rows.push(object_row(
                            dn,
                            *did,
                            d.schema_id,
                            d.object_id,
                            "D ",
                            "DEFAULT_CONSTRAINT",
                            &d.created,
                        ));
                    }
                }
            }
            object_columns()
        }
        ("sys", "tables") => {
            for d in &defs {
                let mut r = object_row(
                    &d.name,
                    d.object_id,
                    d.schema_id,
                    0,
                    "U ",
                    "USER_TABLE",
                    &d.created,
                );
                r.extend([
                    i(
                        if d.columns.iter().any(|c| {
                            max_length(&c.sql_type) == -1
                                || matches!(
                                    c.sql_type,
                                    SqlType::Text { .. } | SqlType::NText { .. } | SqlType::Image
                                )
                        }) {
                            1
                        } else {
                            0
                        },
                    ),
                    i(d.columns.len() as i32),
                    b(false),
                    b(true),
                    b(false),
                    b(false),
                    b(false),
                    ti(0),
                    s("TABLE"),
                    b(false),
                    b(false),
                    ti(0),
                    s("NON_TEMPORAL_TABLE"),
                    b(false),
                ]);
                rows.push(r);
            }
            let mut c = object_columns();
            c.extend([
                col("lob_data_space_id", SqlType::Int, false),
                col("max_column_id_used", SqlType::Int, false),
                col("lock_on_bulk_load", SqlType::Bit, false),
                col("uses_ansi_nulls", SqlType::Bit, true),
                col("is_replicated", SqlType::Bit, true),
                col("has_replication_filter", SqlType::Bit, true),
                col("is_tracked_by_cdc", SqlType::Bit, true),
                col("lock_escalation", SqlType::TinyInt, true),
                col("lock_escalation_desc", nvarchar(60), true),
                col("is_filetable", SqlType::Bit, true),
                col("is_memory_optimized", SqlType::Bit, true),
                col("temporal_type", SqlType::TinyInt, true),
                col("temporal_type_desc", nvarchar(60), true),
                col("is_external", SqlType::Bit, false),
            ]);
            c
        }
        ("sys", "columns") | ("sys", "all_columns") => {
            for d in &defs {
                for idx in 0..d.columns.len() {
                    rows.push(column_row(d, idx));
                }
            }
            column_columns()
        }
        ("sys", "identity_columns") => {
            for (t, d) in tables.iter().zip(&defs) {
                let last = match &*t.lock() {
                    TableData::Rows { identity_last, .. } => *identity_last,
                    TableData::Generated { rows, .. } => (*rows > 0).then_some(*rows as i64),
                };
                for (idx, c) in d.columns.iter().enumerate() {
                    if let Some((seed, inc)) = c.identity {
                        let typed = |v: i64| typed_int(&c.sql_type, v);
                        let mut r = column_row(d, idx);
                        r.extend([
                            typed(seed),
                            typed(inc),
                            last.map(typed).unwrap_or(Value::Null),
                            b(false),
                        ]);
                        rows.push(r);
                    }
                }
            }
            let mut c = column_columns();
            c.extend([
                col("seed_value", SqlType::SqlVariant, true),
                col("increment_value", SqlType::SqlVariant, true),
                col("last_value", SqlType::SqlVariant, true),
                col("is_not_for_replication", SqlType::Bit, true),
            ]);
            c
        }
        ("sys", "computed_columns") => {
            for d in &defs {
                for (idx, c) in d.columns.iter().enumerate() {
                    if let Some((_, text)) = &c.computed {
                        let mut r = column_row(d, idx);
                        r.extend([s(text), b(false), b(c.persisted)]);
                        rows.push(r);
                    }
                }
            }
            let mut c = column_columns();
            c.extend([
                col(
                    "definition",
                    SqlType::NVarChar {
                        len: None,
                        collation: CO,
                    },
                    true,
                ),
                col("uses_database_collation", SqlType::Bit, true),
                col("is_persisted", SqlType::Bit, false),
            ]);
            c
        }
        ("sys", "default_constraints") => {
            for d in &defs {
                for (idx, c) in d.columns.iter().enumerate() {
                    if let Some((_, text, dn, did)) = &c.default {
                        let mut r = object_row(
                            dn,
                            *did,
                            d.schema_id,
                            d.object_id,
                            "D ",
                            "DEFAULT_CONSTRAINT",
                            &d.created,
                        );
                        r.extend([i(idx as i32 + 1), s(text), b(dn.starts_with("DF__"))]);
                        rows.push(r);
                    }
                }
            }
            let mut c = object_columns();
            c.extend([
                col("parent_column_id", SqlType::Int, false),
                col(
                    "definition",
                    SqlType::NVarChar {
                        len: None,
                        collation: CO,
                    },
                    true,
                ),
                col("is_system_named", SqlType::Bit, false),
            ]);
            c
        }
        ("sys", "indexes") => {
            for d in &defs {
                if d.clustered_key().is_none() {
                    rows.push(vec![
                        i(d.object_id),
                        Value::Null,
                        i(0),
                        ti(0),
                        s("HEAP"),
                        b(false),
                        i(1),
                        b(false),
                        b(false),
                        b(false),
                        ti(0),
                        b(false),
                        b(false),
                        b(false),
                        b(true),
                        b(true),
                        b(false),
                        Value::Null,
                    ]);
                }
                for k in &d.keys {
                    rows.push(vec![
                        i(d.object_id),
                        s(&k.name),
                        i(k.index_id),
                        ti(if k.clustered { 1 } else { 2 }),
                        s(if k.clustered {
                            "CLUSTERED"
                        } else {
                            "NONCLUSTERED"
                        }),
                        b(true),
                        i(1),
                        b(false),
                        b(k.primary),
                        b(!k.primary),
                        ti(0),
                        b(false),
                        b(false),
                        b(false),
                        b(true),
                        b(true),
                        b(false),
                        Value::Null,
                    ]);
                }
            }
            vec![
                col("object_id", SqlType::Int, false),
                col("name", sysname(), true),
                col("index_id", SqlType::Int, false),
                col("type", SqlType::TinyInt, false),
                col("type_desc", nvarchar(60), true),
                col("is_unique", SqlType::Bit, true),
                col("data_space_id", SqlType::Int, true),
                col("ignore_dup_key", SqlType::Bit, true),
                col("is_primary_key", SqlType::Bit, true),
                col("is_unique_constraint", SqlType::Bit, true),
                col("fill_factor", SqlType::TinyInt, false),
                col("is_padded", SqlType::Bit, true),
                col("is_disabled", SqlType::Bit, true),
                col("is_hypothetical", SqlType::Bit, true),
                col("allow_row_locks", SqlType::Bit, true),
                col("allow_page_locks", SqlType::Bit, true),
                col("has_filter", SqlType::Bit, true),
                col(
                    "filter_definition",
                    SqlType::NVarChar {
                        len: None,
                        collation: CO,
                    },
                    true,
                ),
            ]
        }
        ("sys", "index_columns") => {
            for d in &defs {
                for k in &d.keys {
                    for (n, (c, desc)) in k.columns.iter().enumerate() {
                        rows.push(vec![
                            i(d.object_id),
                            i(k.index_id),
                            i(n as i32 + 1),
                            i(*c as i32 + 1),
                            ti(n as u8 + 1),
                            ti(0),
                            b(*desc),
                            b(false),
                        ]);
                    }
                }
            }
            vec![
                col("object_id", SqlType::Int, false),
                col("index_id", SqlType::Int, false),
                col("index_column_id", SqlType::Int, false),
                col("column_id", SqlType::Int, false),
                col("key_ordinal", SqlType::TinyInt, false),
                col("partition_ordinal", SqlType::TinyInt, false),
                col("is_descending_key", SqlType::Bit, true),
                col("is_included_column", SqlType::Bit, true),
            ]
        }
        ("sys", "key_constraints") => {
            for d in &defs {
                for k in &d.keys {
                    let (t, desc) = if k.primary {
                        ("PK", "PRIMARY_KEY_CONSTRAINT")
                    } else {
                        ("UQ", "UNIQUE_CONSTRAINT")
                    };
                    let mut r = object_row(
                        &k.name,
                        k.object_id,
                        d.schema_id,
                        d.object_id,
                        t,
                        desc,
                        &d.created,
                    );
                    r.extend([i(k.index_id), b(k.system_named), b(true)]);
                    rows.push(r);
                }
            }
            let mut c = object_columns();
            c.extend([
                col("unique_index_id", SqlType::Int, true),
                col("is_system_named", SqlType::Bit, false),
                col("is_enforced", SqlType::Bit, true),
            ]);
            c
        }
        ("sys", "partitions") | ("sys", "dm_db_partition_stats") => {
            let stats = name == "dm_db_partition_stats";
            for (t, d) in tables.iter().zip(&defs) {
                let count = t.lock().row_count() as i64;
                let mut index_ids: Vec<i32> = d.keys.iter().map(|k| k.index_id).collect();
                if d.clustered_key().is_none() {
                    index_ids.insert(0, 0);
                }
                for ix in index_ids {
                    let pid = PARTITION_ID_BASE + (d.object_id as i64) * 256 + ix as i64;
                    if stats {
                        // 8 KB pages; an estimate good enough for size-based planning.
                        let pages = count / 50 + 1;
                        rows.push(vec![
                            Value::BigInt(pid),
                            i(d.object_id),
                            i(ix),
                            i(1),
                            Value::BigInt(pages),
                            Value::BigInt(pages),
                            Value::BigInt(pages + 1),
                            Value::BigInt(0),
                            Value::BigInt(0),
                            Value::BigInt(0),
                            Value::BigInt(0),
                            Value::BigInt(pages),
                            Value::BigInt(pages + 1),
                            Value::BigInt(count),
                        ]);
                    } else {
                        rows.push(vec![
                            Value::BigInt(pid),
                            i(d.object_id),
                            i(ix),
                            i(1),
                            Value::BigInt(pid),
                            Value::BigInt(count),
                            Value::SmallInt(0),
                            ti(0),
                            s("NONE"),
                        ]);
                    }
                }
            }
            if stats {
                [
                    ("partition_id", SqlType::BigInt),
                    ("object_id", SqlType::Int),
                    ("index_id", SqlType::Int),
                    ("partition_number", SqlType::Int),
                    ("in_row_data_page_count", SqlType::BigInt),
                    ("in_row_used_page_count", SqlType::BigInt),
                    ("in_row_reserved_page_count", SqlType::BigInt),
                    ("lob_used_page_count", SqlType::BigInt),
                    ("lob_reserved_page_count", SqlType::BigInt),
                    ("row_overflow_used_page_count", SqlType::BigInt),
                    ("row_overflow_reserved_page_count", SqlType::BigInt),
                    ("used_page_count", SqlType::BigInt),
                    ("reserved_page_count", SqlType::BigInt),
                    ("row_count", SqlType::BigInt),
                ]
                .into_iter()
                .map(|(n, t)| col(n, t, true))
                .collect()
            } else {
                vec![
                    col("partition_id", SqlType::BigInt, false),
                    col("object_id", SqlType::Int, false),
                    col("index_id", SqlType::Int, false),
                    col("partition_number", SqlType::Int, false),
                    col("hobt_id", SqlType::BigInt, false),
                    col("rows", SqlType::BigInt, true),
                    col("filestream_filegroup_id", SqlType::SmallInt, false),
                    col("data_compression", SqlType::TinyInt, false),
                    col("data_compression_desc", nvarchar(60), true),
                ]
            }
        }
        ("information_schema", "schemata") => {
            for sc in &schemas {
                rows.push(vec![
                    s(&db.name),
                    s(&sc.name),
                    s("dbo"),
                    Value::Null,
                    Value::Null,
                    s("iso_1"),
                ]);
            }
            vec![
                col("CATALOG_NAME", sysname(), true),
                col("SCHEMA_NAME", sysname(), false),
                col("SCHEMA_OWNER", sysname(), true),
                col("DEFAULT_CHARACTER_SET_CATALOG", varchar(6), true),
                col("DEFAULT_CHARACTER_SET_SCHEMA", varchar(3), true),
                col("DEFAULT_CHARACTER_SET_NAME", sysname(), true),
            ]
        }
        ("information_schema", "tables") => {
            for d in &defs {
                rows.push(vec![s(&db.name), s(&d.schema), s(&d.name), s("BASE TABLE")]);
            }
            vec![
                col("TABLE_CATALOG", sysname(), true),
                col("TABLE_SCHEMA", sysname(), true),
                col("TABLE_NAME", sysname(), false),
                col("TABLE_TYPE", varchar(10), true),
            ]
        }
        ("information_schema", "columns") => {
            for d in &defs {
                for (idx, c) in d.columns.iter().enumerate() {
                    let t = &c.sql_type;
                    let (p, sc) = precision_scale(t);
                    let char_len: Value = match t {
                        SqlType::Text { .. } => i(2_147_483_647),
                        SqlType::NText { .. } => i(1_073_741_823),
                        SqlType::Image => i(2_147_483_647),
                        SqlType::Xml => i(-1),
                        // CLR types report their sys.columns max_length (892 or -1).
                        SqlType::Clr(_) => i(max_length(t) as i32),
                        _ if is_string(t) || is_binary(t) && *t != SqlType::RowVersion => {
                            let bytes = max_length(t) as i32;
                            if bytes == -1 {
                                i(-1)
                            } else if is_unicode(t) {
                                i(bytes / 2)
                            } else {
                                i(bytes)
                            }
                        }
                        _ => Value::Null,
                    };
                    let octet: Value = match (&char_len, t) {
                        (Value::Int(n), _)
                            if is_unicode(t) && *n > 0 && !matches!(t, SqlType::NText { .. }) =>
                        {
                            i(n * 2)
                        }
                        (Value::Int(_), SqlType::NText { .. }) => i(2_147_483_646),
                        (v, _) => v.clone(),
                    };
                    let numeric = matches!(
                        t,
                        SqlType::TinyInt
                            | SqlType::SmallInt
                            | SqlType::Int
                            | SqlType::BigInt
                            | SqlType::Decimal { .. }
                            | SqlType::Money
                            | SqlType::SmallMoney
                            | SqlType::Real
                            | SqlType::Float
                    );
                    let datetime = matches!(
                        t,
                        SqlType::Date
                            | SqlType::Time { .. }
                            | SqlType::DateTime
                            | SqlType::SmallDateTime
                            | SqlType::DateTime2 { .. }
                            | SqlType::DateTimeOffset { .. }
                    );
                    let coll = collation_of(t);
                    rows.push(vec![
                        s(&db.name),
                        s(&d.schema),
                        s(&d.name),
                        s(&c.name),
                        i(idx as i32 + 1),
                        c.default.as_ref().map(|x| s(&x.1)).unwrap_or(Value::Null),
                        s(if c.nullable { "YES" } else { "NO" }),
                        s(type_name(t)),
                        char_len,
                        octet,
                        if numeric { ti(p) } else { Value::Null },
                        if numeric {
                            Value::SmallInt(if matches!(t, SqlType::Real | SqlType::Float) {
                                2
                            } else {
                                10
                            })
                        } else {
                            Value::Null
                        },
                        if numeric && !matches!(t, SqlType::Real | SqlType::Float) {
                            i(sc as i32)
                        } else {
                            Value::Null
                        },
                        if datetime {
                            Value::SmallInt(if matches!(t, SqlType::Date) {
                                0
                            } else {
                                sc as i16
                            })
                        } else {
                            Value::Null
                        },
                        Value::Null,
                        Value::Null,
                        if coll.is_some() {
                            s(if is_unicode(t) { "UNICODE" } else { "iso_1" })
                        } else {
                            Value::Null
                        },
                        Value::Null,
                        Value::Null,
                        opt_s(coll.map(|c| c.name)),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                    ]);
                }
            }
            vec![
                col("TABLE_CATALOG", sysname(), true),
                col("TABLE_SCHEMA", sysname(), true),
                col("TABLE_NAME", sysname(), false),
                col("COLUMN_NAME", sysname(), true),
                col("ORDINAL_POSITION", SqlType::Int, true),
                col("COLUMN_DEFAULT", nvarchar(4000), true),
                col("IS_NULLABLE", varchar(3), true),
                col("DATA_TYPE", sysname(), true),
                col("CHARACTER_MAXIMUM_LENGTH", SqlType::Int, true),
                col("CHARACTER_OCTET_LENGTH", SqlType::Int, true),
                col("NUMERIC_PRECISION", SqlType::TinyInt, true),
                col("NUMERIC_PRECISION_RADIX", SqlType::SmallInt, true),
                col("NUMERIC_SCALE", SqlType::Int, true),
                col("DATETIME_PRECISION", SqlType::SmallInt, true),
                col("CHARACTER_SET_CATALOG", sysname(), true),
                col("CHARACTER_SET_SCHEMA", sysname(), true),
                col("CHARACTER_SET_NAME", sysname(), true),
                col("COLLATION_CATALOG", sysname(), true),
                col("COLLATION_SCHEMA", sysname(), true),
                col("COLLATION_NAME", sysname(), true),
                col("DOMAIN_CATALOG", sysname(), true),
                col("DOMAIN_SCHEMA", sysname(), true),
                col("DOMAIN_NAME", sysname(), true),
            ]
        }
        ("information_schema", "table_constraints") => {
            for d in &defs {
                for k in &d.keys {
                    rows.push(vec![
                        s(&db.name),
                        s(&d.schema),
                        s(&k.name),
                        s(&db.name),
                        s(&d.schema),
                        s(&d.name),
                        s(if k.primary { "PRIMARY KEY" } else { "UNIQUE" }),
                        s("NO"),
                        s("NO"),
                    ]);
                }
            }
            vec![
                col("CONSTRAINT_CATALOG", sysname(), true),
                col("CONSTRAINT_SCHEMA", sysname(), true),
                col("CONSTRAINT_NAME", sysname(), false),
                col("TABLE_CATALOG", sysname(), true),
                col("TABLE_SCHEMA", sysname(), true),
                col("TABLE_NAME", sysname(), false),
                col("CONSTRAINT_TYPE", varchar(11), true),
                col("IS_DEFERRABLE", varchar(2), false),
                col("INITIALLY_DEFERRED", varchar(2), false),
            ]
        }
        ("information_schema", "key_column_usage") => {
            for d in &defs {
                for k in &d.keys {
                    for (n, (c, _)) in k.columns.iter().enumerate() {
                        rows.push(vec![
                            s(&db.name),
                            s(&d.schema),
                            s(&k.name),
                            s(&db.name),
                            s(&d.schema),
                            s(&d.name),
                            s(&d.columns[*c].name),
                            i(n as i32 + 1),
                        ]);
                    }
                }
            }
            vec![
                col("CONSTRAINT_CATALOG", sysname(), true),
                col("CONSTRAINT_SCHEMA", sysname(), true),
                col("CONSTRAINT_NAME", sysname(), false),
                col("TABLE_CATALOG", sysname(), true),
                col("TABLE_SCHEMA", sysname(), true),
                col("TABLE_NAME", sysname(), false),
                col("COLUMN_NAME", sysname(), true),
                col("ORDINAL_POSITION", SqlType::Int, false),
            ]
        }
        _ => return None,
    };
    Some(View { columns, rows })
}

/// An identity property (seed/increment/last) as a sql_variant of the column's own type.
fn typed_int(t: &SqlType, v: i64) -> Value {
    match t {
        SqlType::TinyInt => Value::TinyInt(v as u8),
        SqlType::SmallInt => Value::SmallInt(v as i16),
        SqlType::Int => Value::Int(v as i32),
        SqlType::Decimal { .. } => Value::Decimal {
            value: v as i128,
            scale: 0,
        },
        _ => Value::BigInt(v),
    }
}
