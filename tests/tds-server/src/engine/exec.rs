//! Statements: batches and RPCs, DDL, DML, SET, transactions, fault injection.
//!
//! A batch is parsed whole first (a syntax error runs nothing, as in SQL Server), then run
//! statement by statement. Errors SQL Server treats as batch-aborting (name resolution,
//! conversion) stop the batch; others (constraint violations, DROP of a missing table) end
//! only their statement. SELECT results are lazy: later statements of the batch run before
//! the rows are sent, which is invisible to clients because a SELECT reads a snapshot.

use std::collections::HashMap;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;

use super::ast::{
    ColumnDef, Expr, InsertSource, KeyConstraint, ObjName, Select, SelectItem, SetOption, Stmt,
};
use super::convert::{self, err, type_name};
use super::expr::{implicit_check, unsupported, Binder, Scope, ScopeTable};
use super::parser;
use super::query::{order_cmp, Rows};
use super::storage::{ColumnInfo, Database, KeyInfo, Row, Table, TableData, TableDef};
use super::{Session, Undo};
use crate::faults::Fault;
use crate::types::{
    Column, ResultSet, RowSource, RpcParam, SqlError, SqlType, StatementOutcome, Value,
};

/// A statement's failure and whether it ends the batch.
struct Failure {
    error: SqlError,
    abort_batch: bool,
}

impl From<SqlError> for Failure {
    fn from(error: SqlError) -> Failure {
        // Name resolution and conversion errors end the batch in SQL Server; the others end
        // only their statement.
        let abort_batch = matches!(
            error.number,
            207 | 208
                | 209
                | 4104
                | 245
                | 241
                | 242
                | 8114
                | 137
                | 195
                | 40517
                | 205
                | 8120
                | 1013
                | 116
                | 206
                | 257
                | 402
                | 529
                | 8117
                | 4121
                | 155
                | 174
                | 189
                | 145
                | 104
                | 108
                | 111
                | 2715
                | 2716
                | 10741
                | 1014
        );
        Failure { error, abort_batch }
    }
}

type Outcomes = Vec<StatementOutcome>;

fn done(rows: Option<u64>) -> StatementOutcome {
    StatementOutcome::Done {
        rows_affected: rows,
    }
}

impl Session {
    /// Runs a batch with the given variables (sp_executesql parameters) in scope.
    pub(crate) fn run_batch(&mut self, sql: &str, variables: super::Variables) -> Outcomes {
        let statements = match parser::parse_batch(sql) {
            Ok(s) => s,
            Err(e) => {
                self.last_error = e.number;
                return vec![StatementOutcome::Error(e)];
            }
        };
        let saved = std::mem::replace(&mut self.variables, variables);
        let mut out = Vec::new();
        for (i, (stmt, line)) in statements.iter().enumerate() {
            if matches!(stmt, Stmt::CreateSchema(_)) && i > 0 {
                let mut e = err(
                    111,
                    15,
                    "'CREATE SCHEMA' must be the first statement in a query batch.",
                );
                e.line = *line;
                out.push(StatementOutcome::Error(e));
                break;
            }
            match self.execute(stmt) {
                Ok(mut outcomes) => {
                    self.last_error = 0;
                    out.append(&mut outcomes);
                }
                Err(Failure {
                    mut error,
                    abort_batch,
                }) => {
                    if error.line <= 1 {
                        error.line = *line;
                    }
                    self.last_error = error.number;
                    out.push(StatementOutcome::Error(error));
                    if self.options.xact_abort && self.tran_count > 0 {
                        self.rollback();
                        break;
                    }
                    if abort_batch || self.options.xact_abort {
                        break;
                    }
                }
            }
        }
        self.variables = saved;
        out
    }

    pub(crate) fn run_rpc(&mut self, proc_name: &str, params: Vec<RpcParam>) -> Outcomes {
        let name = parser::parse_object_name(proc_name).unwrap_or(ObjName {
            database: None,
            schema: None,
            name: proc_name.to_string(),
        });
        let result = if name.name.eq_ignore_ascii_case("sp_executesql") {
            return self.sp_executesql(params);
        } else if is_inject(&name) {
            let args: Vec<(Option<String>, Value)> = params
                .into_iter()
                .map(|p| ((!p.name.is_empty()).then_some(p.name), p.value))
                .collect();
            self.inject(&args)
        } else {
            Err(Failure::from(unknown_procedure(&name)))
        };
        match result {
            Ok(o) => o,
            Err(f) => vec![StatementOutcome::Error(f.error)],
        }
    }

    fn sp_executesql(&mut self, params: Vec<RpcParam>) -> Outcomes {
        match self.executesql_args(params) {
            Ok((sql, vars)) => self.run_batch(&sql, vars),
            Err(e) => vec![StatementOutcome::Error(e)],
        }
    }

    /// The statement and its typed parameters from sp_executesql's arguments.
    fn executesql_args(
        &self,
        params: Vec<RpcParam>,
    ) -> Result<(String, super::Variables), SqlError> {
        let mut it = params.into_iter();
        let stmt = it.next();
        let sql = match stmt.as_ref().map(|p| &p.value) {
            Some(Value::Str(s)) => s.to_string(),
            _ => {
                return Err(SqlError::new(
                    214,
                    2,
                    16,
                    "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'.",
                ))
            }
        };
        let rest: Vec<RpcParam> = it.collect();
        let (decls, values): (Vec<(String, SqlType)>, &[RpcParam]) = match rest.first() {
            Some(p)
                if p.name.is_empty()
                    || ["params", "parameters"]
                        .iter()
                        .any(|n| p.name.trim_start_matches('@').eq_ignore_ascii_case(n)) =>
            {
                match &p.value {
                    Value::Str(d) => (parser::parse_param_decls(d)?, &rest[1..]),
                    Value::Null => (Vec::new(), &rest[1..]),
                    _ => return Err(SqlError::new(
                        214,
                        3,
                        16,
                        "Procedure expects parameter '@parameters' of type 'ntext/nchar/nvarchar'.",
                    )),
                }
            }
            _ => (Vec::new(), &rest[..]),
        };
        let mut vars = HashMap::new();
        let mut positional = 0;
        for p in values {
            let decl = if p.name.is_empty() {
                positional += 1;
                decls.get(positional - 1)
            } else {
                let wanted = p.name.trim_start_matches('@');
                decls
                    .iter()
                    .find(|(n, _)| n.trim_start_matches('@').eq_ignore_ascii_case(wanted))
            };
            let Some((name, ty)) = decl else {
                let shown = if p.name.is_empty() { "@?" } else { &p.name };
                return Err(SqlError::new(
                    8145,
                    2,
                    16,
                    format!("{shown} is not a parameter for procedure sp_executesql."),
                ));
            };
            implicit_check(&p.sql_type, ty)?;
            let v = convert::convert(&p.value, &p.sql_type, ty, None)?;
            vars.insert(name.to_ascii_lowercase(), (ty.clone(), v));
        }
        for (name, ty) in &decls {
            if !vars.contains_key(&name.to_ascii_lowercase()) {
                let text: Vec<String> = decls
                    .iter()
                    .map(|(n, t)| format!("{n} {}", type_name(t)))
                    .collect();
                let _ = ty;
                return Err(SqlError::new(
                    8178,
                    1,
                    16,
                    format!(
                        "The parameterized query '({}){}' expects the parameter '{name}', which was not supplied.",
                        text.join(","),
                        sql.chars().take(100).collect::<String>()
                    ),
                ));
            }
        }
        Ok((sql, vars))
    }

    fn execute(&mut self, stmt: &Stmt) -> Result<Outcomes, Failure> {
        match stmt {
            Stmt::Select(sel) => self.exec_select(sel),
            Stmt::Insert {
                table,
                columns,
                source,
            } => self.insert(table, columns.as_deref(), source),
            Stmt::Update {
                table,
                sets,
                where_,
            } => self.update(table, sets, where_.as_ref()),
            Stmt::Delete { table, where_ } => self.delete(table, where_.as_ref()),
            Stmt::CreateTable {
                name,
                columns,
                keys,
            } => {
                self.create_table(name, columns, keys)?;
                Ok(vec![done(None)])
            }
            Stmt::DropTable { names, if_exists } => {
                for name in names {
                    self.drop_table(name, *if_exists)?;
                }
                Ok(vec![done(None)])
            }
            Stmt::Truncate(name) => {
                self.truncate(name)?;
                Ok(vec![done(None)])
            }
            Stmt::CreateDatabase(name) => {
                self.engine.create_database(name)?;
                Ok(vec![done(None)])
            }
            Stmt::DropDatabase { name, if_exists } => {
                if self.database.eq_ignore_ascii_case(name) {
                    return Err(SqlError::new(
                        3702,
                        4,
                        16,
                        format!("Cannot drop database \"{name}\" because it is currently in use."),
                    )
                    .into());
                }
                if self.engine.database(name).is_some_and(|d| d.id < 5) {
                    return Err(SqlError::new(
                        3708,
                        1,
                        16,
                        format!(
                            "Cannot drop the database '{name}' because it is a system database."
                        ),
                    )
                    .into());
                }
                if !self.engine.drop_database(name) && !if_exists {
                    return Err(SqlError::new(
                        3701,
                        1,
                        11,
                        format!("Cannot drop the database '{name}', because it does not exist or you do not have permission."),
                    )
                    .into());
                }
                Ok(vec![done(None)])
            }
            Stmt::CreateSchema(name) => {
                let db = self.current_db()?;
                let mut st = db.write();
                if st.schema(name).is_some() {
                    return Err(SqlError::new(
                        2714,
                        6,
                        16,
                        format!("There is already an object named '{name}' in the database."),
                    )
                    .into());
                }
                let id = st.schemas.iter().map(|s| s.id).max().unwrap_or(4).max(4) + 1;
                st.schemas.push(super::storage::Schema {
                    id,
                    name: name.clone(),
                });
                Ok(vec![done(None)])
            }
            Stmt::Use(name) => {
                let db = self.engine.database(name).ok_or_else(|| {
                    err(
                        911,
                        16,
                        format!("Database '{name}' does not exist. Make sure that the name is entered correctly."),
                    )
                })?;
                let old = std::mem::replace(&mut self.database, db.name.clone());
                Ok(vec![
                    StatementOutcome::DatabaseChanged {
                        old,
                        new: db.name.clone(),
                    },
                    StatementOutcome::Info {
                        number: 5701,
                        message: format!("Changed database context to '{}'.", db.name),
                    },
                    done(None),
                ])
            }
            Stmt::Set(opt) => {
                self.set(opt)?;
                Ok(Vec::new())
            }
            Stmt::Declare(vars) => {
                for (name, ty, init) in vars {
                    let key = name.to_ascii_lowercase();
                    if self.variables.contains_key(&key) {
                        return Err(err(
                            134,
                            15,
                            format!("The variable name '{name}' has already been declared. Variable names must be unique within a query batch or stored procedure."),
                        )
                        .into());
                    }
                    let v = match init {
                        Some(e) => self.scalar_as(e, ty)?,
                        None => Value::Null,
                    };
                    self.variables.insert(key, (ty.clone(), v));
                }
                Ok(Vec::new())
            }
            Stmt::Exec { proc, args } => self.exec_proc(proc, args),
            Stmt::BeginTran => {
                self.tran_count += 1;
                Ok(vec![done(None)])
            }
            Stmt::Commit => {
                if self.tran_count == 0 {
                    return Err(err(
                        3902,
                        16,
                        "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.",
                    )
                    .into());
                }
                self.tran_count -= 1;
                if self.tran_count == 0 {
                    self.undo.clear();
                    self.transaction_ended();
                }
                Ok(vec![done(None)])
            }
            Stmt::Rollback => {
                if self.tran_count == 0 {
                    return Err(err(
                        3903,
                        16,
                        "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.",
                    )
                    .into());
                }
                self.rollback();
                Ok(vec![done(None)])
            }
            Stmt::Print(e) => {
                let v = self.scalar(e)?;
                let text = match &v {
                    Value::Null => String::new(),
                    other => convert::to_text(other, &convert::value_type(other), None),
                };
                Ok(vec![StatementOutcome::Info {
                    number: 0,
                    message: text,
                }])
            }
        }
    }

    pub(crate) fn rollback(&mut self) {
        while let Some(step) = self.undo.pop() {
            match step {
                Undo::Data(table, data) => *table.lock() = data,
                Undo::Created(db, table) => match db {
                    Some(db) => db.write().tables.retain(|t| !Arc::ptr_eq(t, &table)),
                    None => self.temp_tables.retain(|t| !Arc::ptr_eq(t, &table)),
                },
                Undo::Dropped(db, table) => match db {
                    Some(db) => db.write().tables.push(table),
                    None => self.temp_tables.push(table),
                },
            }
        }
        self.tran_count = 0;
        self.transaction_ended();
    }

    /// The next rowversion of the database; inside a transaction the first one is remembered
    /// until it ends (MIN_ACTIVE_ROWVERSION()).
    pub(crate) fn next_rowversion(&mut self) -> u64 {
        let v = self
            .engine
            .state
            .rowversion
            .fetch_add(1, AtomicOrdering::SeqCst)
            + 1;
        if self.tran_count > 0 {
            lock_open_rowversions(&self.engine)
                .entry(self.spid)
                .or_insert(v);
        }
        v
    }

    fn transaction_ended(&mut self) {
        lock_open_rowversions(&self.engine).remove(&self.spid);
    }

    /// Remembers a table's contents before the open transaction first changes them.
    fn before_change(&mut self, table: &Arc<Table>, data: &TableData) {
        if self.tran_count == 0 {
            return;
        }
        let seen = self
            .undo
            .iter()
            .any(|u| matches!(u, Undo::Data(t, _) if Arc::ptr_eq(t, table)));
        if !seen {
            self.undo.push(Undo::Data(table.clone(), data.clone()));
        }
    }

    fn current_db(&self) -> Result<Arc<Database>, SqlError> {
        self.engine.database(&self.database).ok_or_else(|| {
            err(
                911,
                16,
                format!(
                    "Database '{}' does not exist. Make sure that the name is entered correctly.",
                    self.database
                ),
            )
        })
    }

    /// Evaluates a scalar expression outside any table.
    pub(crate) fn scalar(&self, e: &Expr) -> Result<Value, SqlError> {
        Ok(self.scalar_typed(e)?.1)
    }

    fn scalar_typed(&self, e: &Expr) -> Result<(SqlType, Value), SqlError> {
        let scope = Scope::default();
        let mut b = Binder {
            sess: self,
            scope: &scope,
            outer: None,
            agg: None,
        };
        let t = b.bind(e)?;
        let v = t.e.eval(&[])?;
        Ok((t.ty, v))
    }

    fn scalar_as(&self, e: &Expr, ty: &SqlType) -> Result<Value, SqlError> {
        let (from, v) = self.scalar_typed(e)?;
        implicit_check(&from, ty)?;
        convert::convert(&v, &from, ty, None)
    }

    fn exec_select(&mut self, sel: &Select) -> Result<Outcomes, Failure> {
        let assigns = sel
            .items
            .iter()
            .filter(|i| matches!(i, SelectItem::Assign { .. }))
            .count();
        if assigns > 0 {
            if assigns != sel.items.len() {
                return Err(err(
                    141,
                    15,
                    "A SELECT statement that assigns a value to a variable must not be combined with data-retrieval operations.",
                )
                .into());
            }
            return self.assign_select(sel);
        }
        if let Some(into) = &sel.into {
            let mut inner = sel.clone();
            inner.into = None;
            return self.select_into(into, &inner);
        }
        let out = self.select(sel)?;
        // CLR columns go out as TDS UDTTYPE, which is not implemented: CAST them to varbinary.
        if let Some(c) = out
            .columns
            .iter()
            .find(|c| matches!(c.sql_type, SqlType::Clr(_)))
        {
            return Err(unsupported(&format!(
                "{} column in a result set (TDS UDTTYPE); CAST it to varbinary(max)",
                type_name(&c.sql_type)
            ))
            .into());
        }
        let rows = match out.rows {
            Rows::Values(it) => RowSource::Fallible(it),
            Rows::Encoded(it) => RowSource::Encoded(it),
        };
        Ok(vec![StatementOutcome::Rows(ResultSet {
            columns: out.columns,
            rows,
        })])
    }

    fn assign_select(&mut self, sel: &Select) -> Result<Outcomes, Failure> {
        let mut plain = sel.clone();
        let mut targets = Vec::new();
        plain.items = sel
            .items
            .iter()
            .map(|i| match i {
                SelectItem::Assign { var, expr } => {
                    targets.push(var.clone());
                    SelectItem::Expr {
                        expr: expr.clone(),
                        alias: None,
                    }
                }
                other => other.clone(),
            })
            .collect();
        for t in &targets {
            if !self.variables.contains_key(&t.to_ascii_lowercase()) {
                return Err(SqlError::new(
                    137,
                    2,
                    15,
                    format!("Must declare the scalar variable \"{t}\"."),
                )
                .into());
            }
        }
        let out = self.select_with_outer(&plain, None)?;
        let types: Vec<SqlType> = out.columns.iter().map(|c| c.sql_type.clone()).collect();
        let mut count = 0u64;
        for row in out.into_values()? {
            let row = row?;
            count += 1;
            for ((t, v), from) in targets.iter().zip(row).zip(&types) {
                let key = t.to_ascii_lowercase();
                let to = match self.variables.get(&key) {
                    Some((ty, _)) => ty.clone(),
                    None => continue,
                };
                implicit_check(from, &to)?;
                let v = convert::convert(&v, from, &to, None)?;
                self.variables.insert(key, (to, v));
            }
        }
        self.last_rowcount = count;
        Ok(vec![done(self.count(count))])
    }

    fn count(&self, n: u64) -> Option<u64> {
        (!self.options.nocount).then_some(n)
    }

    // ----- DDL -----

    /// Where a new table goes: its database (None = `#temp`) and schema.
    fn table_home(&self, name: &ObjName) -> Result<(Option<Arc<Database>>, String, i32), SqlError> {
        if name.name.starts_with('#') {
            return Ok((None, "dbo".into(), 1));
        }
        let db = match &name.database {
            Some(d) => self
                .engine
                .database(d)
                .ok_or_else(|| err(2702, 16, format!("Database '{d}' does not exist.")))?,
            None => self.current_db()?,
        };
        let schema_name = name.schema.clone().unwrap_or_else(|| "dbo".into());
        let (schema, id) = {
            let st = db.read();
            let s = st
                .schema(&schema_name)
                .filter(|s| !s.name.eq_ignore_ascii_case("sys") && !s.name.eq_ignore_ascii_case("INFORMATION_SCHEMA"))
                .ok_or_else(|| {
                    err(
                        2760,
                        16,
                        format!("The specified schema name \"{schema_name}\" either does not exist or you do not have permission to use it."),
                    )
                })?;
            (s.name.clone(), s.id)
        };
        Ok((Some(db), schema, id))
    }

    fn create_table(
        &mut self,
        name: &ObjName,
        defs: &[ColumnDef],
        constraints: &[KeyConstraint],
    ) -> Result<Arc<Table>, SqlError> {
        let (db, schema, schema_id) = self.table_home(name)?;
        let taken = match &db {
            Some(db) => db.read().object_name_taken(&schema, &name.name),
            None => self
                .temp_tables
                .iter()
                .any(|t| t.def.name.eq_ignore_ascii_case(&name.name)),
        };
        if taken {
            return Err(SqlError::new(
                2714,
                6,
                16,
                format!(
                    "There is already an object named '{}' in the database.",
                    name.name
                ),
            ));
        }
        let table_name = &name.name;
        let mut columns: Vec<ColumnInfo> = Vec::new();
        let mut keys: Vec<KeyConstraint> = constraints.to_vec();
        for d in defs {
            if columns.iter().any(|c| c.name.eq_ignore_ascii_case(&d.name)) {
                return Err(SqlError::new(
                    2705,
                    3,
                    16,
                    format!("Column names in each table must be unique. Column name '{}' in table '{table_name}' is specified more than once.", d.name),
                ));
            }
            if let Some((cname, clustered)) = &d.primary_key {
                keys.push(KeyConstraint {
                    name: cname.clone(),
                    primary: true,
                    clustered: *clustered,
                    columns: vec![(d.name.clone(), false)],
                });
            }
            if let Some((cname, clustered)) = &d.unique {
                keys.push(KeyConstraint {
                    name: cname.clone(),
                    primary: false,
                    clustered: *clustered,
                    columns: vec![(d.name.clone(), false)],
                });
            }
            let sql_type = d.sql_type.clone().unwrap_or(SqlType::Int);
            if let Some(_ident) = d.identity {
                let ok = matches!(
                    sql_type,
                    SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt
                ) || matches!(sql_type, SqlType::Decimal { scale: 0, .. });
                if !ok || d.computed.is_some() {
                    return Err(SqlError::new(
                        2749,
                        2,
                        16,
                        format!("Identity column '{}' must be of data type int, bigint, smallint, tinyint, or decimal or numeric with a scale of 0, and constrained to be nonnullable.", d.name),
                    ));
                }
                if d.nullable == Some(true) {
                    return Err(SqlError::new(
                        8147,
                        1,
                        16,
                        format!("Could not create IDENTITY attribute on nullable column '{}', table '{table_name}'.", d.name),
                    ));
                }
                if columns.iter().any(|c| c.identity.is_some()) {
                    return Err(SqlError::new(
                        2744,
                        2,
                        16,
                        format!("Multiple identity columns specified for table '{table_name}'. Only one identity column per table is allowed."),
                    ));
                }
            }
            if sql_type == SqlType::RowVersion
                && columns.iter().any(|c| c.sql_type == SqlType::RowVersion)
            {
                return Err(SqlError::new(
                    2738,
                    2,
                    16,
                    format!("A table can only have one timestamp column. Because table '{table_name}' already has one, the column '{}' cannot be added.", d.name),
                ));
            }
            let nullable = match d.nullable {
                Some(n) => n,
                None => d.identity.is_none() && sql_type != SqlType::RowVersion,
            };
            columns.push(ColumnInfo {
                name: d.name.clone(),
                sql_type,
                nullable,
                identity: d.identity,
                computed: d.computed.clone(),
                persisted: d.persisted,
                default: None,
            });
        }
        // Computed columns: typed from their expression over the other columns.
        let base_scope = scope_of_columns(&columns, table_name);
        for (i, d) in defs.iter().enumerate() {
            if let Some((e, _)) = &d.computed {
                if let Expr::Column(_) = e {}
                let mut b = Binder {
                    sess: self,
                    scope: &base_scope,
                    outer: None,
                    agg: None,
                };
                let t = b.bind(e)?;
                if contains_computed_ref(e, &columns) {
                    return Err(SqlError::new(
                        1759,
                        0,
                        16,
                        format!("Computed column '{}' in table '{table_name}' is not allowed to be used in another computed-column definition.", d.name),
                    ));
                }
                columns[i].sql_type = t.ty;
                columns[i].nullable = t.nullable || d.nullable.unwrap_or(true);
            }
        }
        // Primary key and unique constraints.
        let mut db_state = db.as_ref().map(|d| d.write());
        let next_id =
            |st: &mut Option<std::sync::RwLockWriteGuard<'_, super::storage::DbState>>| -> i32 {
                match st {
                    Some(s) => s.allocate_object_id(),
                    None => super::storage::temp_object_id(),
                }
            };
        let object_id = next_id(&mut db_state);
        if keys.iter().filter(|k| k.primary).count() > 1 {
            return Err(SqlError::new(
                8110,
                0,
                16,
                format!("Cannot add multiple PRIMARY KEY constraints to table '{table_name}'."),
            ));
        }
        let mut key_infos: Vec<KeyInfo> = Vec::new();
        let clustered_taken = keys.iter().any(|k| k.clustered == Some(true));
        let mut next_index = 2;
        for k in &keys {
            let mut cols = Vec::new();
            for (cname, desc) in &k.columns {
                let idx = columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(cname))
                    .ok_or_else(|| {
                        SqlError::new(
                            1911,
                            1,
                            16,
                            format!(
                                "Column name '{cname}' does not exist in the target table or view."
                            ),
                        )
                    })?;
                let c = &columns[idx];
                if matches!(
                    c.sql_type,
                    SqlType::Text { .. } | SqlType::NText { .. } | SqlType::Image | SqlType::Xml
                ) || convert::max_length(&c.sql_type) == -1
                {
                    return Err(SqlError::new(
                        1919,
                        1,
                        16,
                        format!("Column '{}' in table '{table_name}' is of a type that is invalid for use as a key column in an index.", c.name),
                    ));
                }
                if let SqlType::Clr(_) = c.sql_type {
                    // A hierarchyid key is valid in SQL Server; its ordering is not implemented.
                    return Err(super::expr::clr_unsupported(&c.sql_type, "a key"));
                }
                if cols.iter().any(|(i, _)| *i == idx) {
                    return Err(SqlError::new(1909, 1, 16, format!("Cannot use duplicate column names in index. Column name '{}' listed more than once.", c.name)));
                }
                cols.push((idx, *desc));
            }
            if k.primary {
                for (idx, _) in &cols {
                    if defs.get(*idx).and_then(|d| d.nullable) == Some(true) {
                        return Err(SqlError::new(
                            8111,
                            1,
                            16,
                            format!("Cannot define PRIMARY KEY constraint on nullable column in table '{table_name}'."),
                        ));
                    }
                    columns[*idx].nullable = false;
                }
            }
            let clustered = match k.clustered {
                Some(c) => c,
                None => k.primary && !clustered_taken && !key_infos.iter().any(|x| x.clustered),
            };
            if clustered && key_infos.iter().any(|x| x.clustered) {
                return Err(SqlError::new(
                    1902,
                    3,
                    16,
                    format!("Cannot create more than one clustered index on table '{table_name}'. Drop the existing clustered index before creating another."),
                ));
            }
            let id = next_id(&mut db_state);
            let (system_named, kname) = match &k.name {
                Some(n) => (false, n.clone()),
                None => (
                    true,
                    format!(
                        "{}__{}__{:016X}",
                        if k.primary { "PK" } else { "UQ" },
                        table_name.chars().take(8).collect::<String>(),
                        (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ object_id as u64
                    ),
                ),
            };
            let taken = key_infos
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&kname))
                || db_state
                    .as_ref()
                    .is_some_and(|st| st.object_name_taken(&schema, &kname));
            if taken {
                return Err(SqlError::new(
                    2714,
                    5,
                    16,
                    format!("There is already an object named '{kname}' in the database."),
                ));
            }
            let index_id = if clustered {
                1
            } else {
                next_index += 1;
                next_index - 1
            };
            key_infos.push(KeyInfo {
                name: kname,
                object_id: id,
                primary: k.primary,
                clustered,
                columns: cols,
                index_id,
                system_named,
            });
        }
        // Defaults (named, or system-named like SQL Server's DF__table__col__hex).
        for (i, d) in defs.iter().enumerate() {
            if let Some((e, text)) = &d.default {
                let id = next_id(&mut db_state);
                let dname = d.default_name.clone().unwrap_or_else(|| {
                    format!(
                        "DF__{}__{}__{:08X}",
                        table_name.chars().take(9).collect::<String>(),
                        d.name.chars().take(5).collect::<String>(),
                        (id as u32).wrapping_mul(0x9E37_79B9)
                    )
                });
                columns[i].default = Some((e.clone(), text.clone(), dname, id));
            }
        }
        let def = TableDef {
            object_id,
            schema_id,
            schema,
            name: table_name.clone(),
            columns,
            keys: key_infos,
            created: super::expr::now_datetime(),
        };
        let table = Arc::new(Table::new(def, TableData::empty()));
        match db_state.as_mut() {
            Some(st) => st.tables.push(table.clone()),
            None => self.temp_tables.push(table.clone()),
        }
        drop(db_state);
        if self.tran_count > 0 {
            self.undo.push(Undo::Created(db, table.clone()));
        }
        Ok(table)
    }

    fn drop_table(&mut self, name: &ObjName, if_exists: bool) -> Result<(), SqlError> {
        let found = self.find_table(name)?;
        let Some((db, table)) = found else {
            if if_exists {
                return Ok(());
            }
            return Err(SqlError::new(
                3701,
                5,
                11,
                format!("Cannot drop the table '{}', because it does not exist or you do not have permission.", name.display()),
            ));
        };
        match &db {
            Some(d) => d.write().tables.retain(|t| !Arc::ptr_eq(t, &table)),
            None => self.temp_tables.retain(|t| !Arc::ptr_eq(t, &table)),
        }
        if let Some((dbid, oid, _)) = &self.identity_insert {
            if db.as_ref().map(|d| d.id).unwrap_or(2) == *dbid && *oid == table.def.object_id {
                self.identity_insert = None;
            }
        }
        if self.tran_count > 0 {
            self.undo.push(Undo::Dropped(db, table));
        }
        Ok(())
    }

    fn writable(&self, name: &ObjName) -> Result<(Option<Arc<Database>>, Arc<Table>), SqlError> {
        if name.schema.as_deref().is_some_and(|s| {
            s.eq_ignore_ascii_case("sys") || s.eq_ignore_ascii_case("INFORMATION_SCHEMA")
        }) {
            return Err(err(
                259,
                16,
                "Ad hoc updates to system catalogs are not allowed.",
            ));
        }
        let found = self
            .find_table(name)?
            .ok_or_else(|| Session::invalid_object(name))?;
        if matches!(&*found.1.lock(), TableData::Generated { .. }) {
            return Err(unsupported("INSERT, UPDATE or DELETE on a generated table"));
        }
        Ok(found)
    }

    fn truncate(&mut self, name: &ObjName) -> Result<(), SqlError> {
        if name
            .schema
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("sys"))
        {
            return Err(err(
                259,
                16,
                "Ad hoc updates to system catalogs are not allowed.",
            ));
        }
        let (_, table) = self.find_table(name)?.ok_or_else(|| {
            SqlError::new(
                4701,
                1,
                16,
                format!("Cannot find the object \"{}\" because it does not exist or you do not have permissions.", name.name),
            )
        })?;
        let mut data = table.lock();
        let before = data.clone();
        self.before_change(&table, &before);
        *data = TableData::empty();
        Ok(())
    }

    fn select_into(&mut self, target: &ObjName, sel: &Select) -> Result<Outcomes, Failure> {
        let out = self.select_with_outer(sel, None)?;
        let (columns, rows) = out.collect()?;
        for (i, c) in columns.iter().enumerate() {
            if c.name.is_empty() {
                return Err(SqlError::new(
                    1038,
                    5,
                    15,
                    format!("An object or column name is missing or empty. For SELECT INTO statements, verify each column has a name. For other statements, look for empty alias names. Aliases defined as \"\" or [] are not allowed. Change the alias to a valid name. (column {})", i + 1),
                )
                .into());
            }
        }
        let defs: Vec<ColumnDef> = columns
            .iter()
            .map(|c| ColumnDef {
                name: c.name.clone(),
                sql_type: Some(c.sql_type.clone()),
                nullable: Some(c.nullable),
                identity: c.identity.then_some((1, 1)),
                computed: None,
                persisted: false,
                default: None,
                default_name: None,
                primary_key: None,
                unique: None,
            })
            .collect();
        let table = self.create_table(target, &defs, &[])?;
        let n = rows.len() as u64;
        let last_identity = table.def.identity_column().and_then(|i| {
            rows.iter()
                .filter_map(|r| convert::decimal_value(&r[i]).map(|(v, _)| v as i64))
                .max()
        });
        {
            let mut data = table.lock();
            if let TableData::Rows {
                rows: stored,
                identity_last,
            } = &mut *data
            {
                *stored = Arc::new(rows.into_iter().map(Row::from).collect());
                *identity_last = last_identity;
            }
        }
        self.last_rowcount = n;
        Ok(vec![done(self.count(n))])
    }

    // ----- DML -----

    fn insert(
        &mut self,
        name: &ObjName,
        columns: Option<&[String]>,
        source: &InsertSource,
    ) -> Result<Outcomes, Failure> {
        let (db, table) = self.writable(name)?;
        let def = table.def.clone();
        let shown = qualified_name(db.as_deref(), &def);
        let identity_col = def.identity_column();
        let identity_insert = self.identity_insert.as_ref().is_some_and(|(d, o, _)| {
            *o == def.object_id && db.as_ref().map(|x| x.id).unwrap_or(2) == *d
        });
        // The target columns.
        let targets: Vec<usize> = match columns {
            Some(list) => {
                let mut t = Vec::new();
                for c in list {
                    let i = def
                        .column_index(c)
                        .ok_or_else(|| super::expr::invalid_column(c))?;
                    if t.contains(&i) {
                        return Err(err(
                            264,
                            16,
                            format!("The column name '{}' is specified more than once in the SET clause or column list of an INSERT. A column cannot be assigned more than one value in the same clause. Modify the clause to make sure that a column is updated only once. If this statement updates or inserts columns into a view, column aliasing can conceal the duplication in your code.", def.columns[i].name),
                        )
                        .into());
                    }
                    if def.columns[i].computed.is_some() {
                        return Err(err(
                            271,
                            16,
                            format!("The column \"{}\" cannot be modified because it is either a computed column or is the result of a UNION operator.", def.columns[i].name),
                        )
                        .into());
                    }
                    t.push(i);
                }
                t
            }
            None => (0..def.columns.len())
                // Without a column list SQL Server skips identity and computed columns but not
                // the rowversion column: its value must be DEFAULT (error 273 says so).
                .filter(|&i| {
                    let c = &def.columns[i];
                    c.computed.is_none() && c.identity.is_none()
                })
                .collect(),
        };
        if let Some(ic) = identity_col {
            let listed = targets.contains(&ic);
            if columns.is_none() && identity_insert {
                return Err(err(
                    8101,
                    16,
                    format!("An explicit value for the identity column in table '{}' can only be specified when a column list is used and IDENTITY_INSERT is ON.", name.display()),
                )
                .into());
            }
            if listed && !identity_insert {
                return Err(err(
                    544,
                    16,
                    format!("Cannot insert explicit value for identity column in table '{}' when IDENTITY_INSERT is set to OFF.", def.name),
                )
                .into());
            }
            if !listed && identity_insert {
                return Err(err(
                    545,
                    16,
                    format!("Explicit value must be specified for identity column in table '{}' either when IDENTITY_INSERT is set to ON or when a replication user is inserting into a NOT FOR REPLICATION identity column.", def.name),
                )
                .into());
            }
        }
        // The values, as (type, value) per target column; None = DEFAULT.
        type Supplied = Vec<Option<(SqlType, Value)>>;
        let supplied: Vec<Supplied> = match source {
            InsertSource::DefaultValues => vec![Vec::new()],
            InsertSource::Values(rows) => {
                if rows.len() > 1000 {
                    return Err(err(10738, 15, "The number of row value expressions in the INSERT statement exceeds the maximum allowed number of 1000 row values.").into());
                }
                let width = rows.first().map(|r| r.len()).unwrap_or(0);
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    if r.len() != width {
                        return Err(err(10709, 15, "The number of columns for each row in a table value constructor must be the same.").into());
                    }
                    if r.len() != targets.len() && columns.is_none() {
                        return Err(err(213, 16, "Column name or number of supplied values does not match table definition.").into());
                    }
                    if r.len() > targets.len() {
                        return Err(err(110, 15, "There are fewer columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.").into());
                    }
                    if r.len() < targets.len() {
                        return Err(err(109, 15, "There are more columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.").into());
                    }
                    let mut vals = Vec::with_capacity(r.len());
                    for (e, &ti) in r.iter().zip(&targets) {
                        if is_default(e) {
                            vals.push(None);
                            continue;
                        }
                        if def.columns[ti].sql_type == SqlType::RowVersion {
                            return Err(err(273, 16, "Cannot insert an explicit value into a timestamp column. Use INSERT with a column list to exclude the timestamp column, or insert a DEFAULT into the timestamp column.").into());
                        }
                        vals.push(Some(self.scalar_typed(e)?));
                    }
                    out.push(vals);
                }
                out
            }
            InsertSource::Select(q) => {
                let out = self.select_with_outer(q, None)?;
                if out.columns.len() != targets.len() {
                    let e = if out.columns.len() < targets.len() {
                        err(120, 15, "The select list for the INSERT statement contains fewer items than the insert list. The number of SELECT values must match the number of INSERT columns.")
                    } else {
                        err(121, 15, "The select list for the INSERT statement contains more items than the insert list. The number of SELECT values must match the number of INSERT columns.")
                    };
                    return Err(e.into());
                }
                if targets
                    .iter()
                    .any(|&ti| def.columns[ti].sql_type == SqlType::RowVersion)
                {
                    return Err(err(273, 16, "Cannot insert an explicit value into a timestamp column. Use INSERT with a column list to exclude the timestamp column, or insert a DEFAULT into the timestamp column.").into());
                }
                let types: Vec<SqlType> = out.columns.iter().map(|c| c.sql_type.clone()).collect();
                let mut rows = Vec::new();
                for row in out.into_values()? {
                    let row = row?;
                    rows.push(
                        row.into_iter()
                            .zip(&types)
                            .map(|(v, t)| Some((t.clone(), v)))
                            .collect(),
                    );
                }
                rows
            }
        };
        // Full rows.
        let mut identity_next = {
            let data = table.lock();
            match &*data {
                TableData::Rows { identity_last, .. } => *identity_last,
                TableData::Generated { .. } => None,
            }
        };
        let (seed, inc) = identity_col
            .and_then(|i| def.columns[i].identity)
            .unwrap_or((1, 1));
        let mut new_rows: Vec<Vec<Value>> = Vec::with_capacity(supplied.len());
        let mut last_identity = None;
        for vals in supplied {
            let mut row = vec![Value::Null; def.columns.len()];
            let mut given = vec![false; def.columns.len()];
            for (slot, &ti) in vals
                .into_iter()
                .chain(std::iter::repeat(None))
                .zip(&targets)
            {
                if let Some((from, v)) = slot {
                    row[ti] = assign_value(&v, &from, &def.columns[ti], &shown)?;
                    given[ti] = true;
                }
            }
            for (i, c) in def.columns.iter().enumerate() {
                if given[i] {
                    if Some(i) == identity_col {
                        if let Some((v, _)) = convert::decimal_value(&row[i]) {
                            let v = v as i64;
                            let beyond = match identity_next {
                                None => true,
                                Some(last) => {
                                    if inc > 0 {
                                        v > last
                                    } else {
                                        v < last
                                    }
                                }
                            };
                            if beyond {
                                identity_next = Some(v);
                            }
                            last_identity = Some(v);
                        }
                    }
                    continue;
                }
                if Some(i) == identity_col {
                    let next = match identity_next {
                        None => seed,
                        Some(last) => last
                            .checked_add(inc)
                            .ok_or_else(|| overflow_identity(&c.sql_type))?,
                    };
                    row[i] =
                        convert::convert(&Value::BigInt(next), &SqlType::BigInt, &c.sql_type, None)
                            .map_err(|_| overflow_identity(&c.sql_type))?;
                    identity_next = Some(next);
                    last_identity = Some(next);
                } else if c.sql_type == SqlType::RowVersion {
                    let v = self.next_rowversion();
                    row[i] = Value::Bytes(Arc::from(v.to_be_bytes().as_slice()));
                } else if let Some((e, ..)) = &c.default {
                    let (from, v) = self.scalar_typed(e)?;
                    row[i] = assign_value(&v, &from, c, &shown)?;
                }
            }
            self.compute_columns(&def, &mut row)?;
            for (i, c) in def.columns.iter().enumerate() {
                if !c.nullable && matches!(row[i], Value::Null) {
                    return Err(SqlError::new(
                        515,
                        2,
                        16,
                        format!("Cannot insert the value NULL into column '{}', table '{shown}'; column does not allow nulls. INSERT fails.", c.name),
                    )
                    .into());
                }
            }
            new_rows.push(row);
        }
        let n = new_rows.len() as u64;
        {
            let mut data = table.lock();
            let before = data.clone();
            let TableData::Rows {
                rows,
                identity_last,
            } = &mut *data
            else {
                return Err(unsupported("INSERT on a generated table").into());
            };
            let mut merged: Vec<Row> = (**rows).clone();
            for r in new_rows {
                insert_sorted(&def, &mut merged, Row::from(r), &shown)?;
            }
            drop(before.clone());
            let changed_identity = identity_next;
            *rows = Arc::new(merged);
            *identity_last = changed_identity;
            drop(data);
            self.before_change(&table, &before);
        }
        if last_identity.is_some() {
            self.last_identity = last_identity.map(|v| v as i128);
        }
        self.last_rowcount = n;
        Ok(vec![done(self.count(n))])
    }

    /// Evaluates computed columns over the other columns of a row.
    fn compute_columns(&self, def: &TableDef, row: &mut [Value]) -> Result<(), SqlError> {
        if def.columns.iter().all(|c| c.computed.is_none()) {
            return Ok(());
        }
        let scope = scope_of_columns(&def.columns, &def.name);
        for (i, c) in def.columns.iter().enumerate() {
            if let Some((e, _)) = &c.computed {
                let mut b = Binder {
                    sess: self,
                    scope: &scope,
                    outer: None,
                    agg: None,
                };
                let t = b.bind(e)?;
                let v = t.e.eval(row)?;
                row[i] = if t.ty == c.sql_type {
                    v
                } else {
                    convert::convert(&v, &t.ty, &c.sql_type, None)?
                };
            }
        }
        Ok(())
    }

    fn update(
        &mut self,
        name: &ObjName,
        sets: &[super::ast::Assignment],
        where_: Option<&Expr>,
    ) -> Result<Outcomes, Failure> {
        let (db, table) = self.writable(name)?;
        let def = table.def.clone();
        let shown = qualified_name(db.as_deref(), &def);
        let mut scope = Scope::default();
        scope.push(ScopeTable {
            database: name.database.clone(),
            schema: Some(def.schema.clone()),
            name: def.name.clone(),
            alias: None,
            columns: def.result_columns(),
            offset: 0,
        });
        let mut b = Binder {
            sess: self,
            scope: &scope,
            outer: None,
            agg: None,
        };
        let filter = where_.map(|w| b.bind(w)).transpose()?.map(|t| t.e);
        let mut assignments = Vec::new();
        for s in sets {
            let i = def
                .column_index(&s.column)
                .ok_or_else(|| super::expr::invalid_column(&s.column))?;
            let c = &def.columns[i];
            if c.identity.is_some() {
                return Err(err(
                    8102,
                    16,
                    format!("Cannot update identity column '{}'.", c.name),
                )
                .into());
            }
            if c.computed.is_some() {
                return Err(err(271, 16, format!("The column \"{}\" cannot be modified because it is either a computed column or is the result of a UNION operator.", c.name)).into());
            }
            if c.sql_type == SqlType::RowVersion {
                return Err(err(272, 16, "Cannot update a timestamp column.").into());
            }
            let value = if is_default(&s.value) {
                None
            } else {
                Some(b.bind(&s.value)?)
            };
            assignments.push((i, value));
        }
        let rv_col = def
            .columns
            .iter()
            .position(|c| c.sql_type == SqlType::RowVersion);
        let mut data = table.lock();
        let before = data.clone();
        let TableData::Rows { rows, .. } = &*data else {
            return Err(unsupported("UPDATE on a generated table").into());
        };
        let mut out: Vec<Row> = Vec::with_capacity(rows.len());
        let mut changed = 0u64;
        let mut key_changed = false;
        let key_cols: Vec<usize> = def
            .keys
            .iter()
            .flat_map(|k| k.columns.iter().map(|(c, _)| *c))
            .collect();
        for row in rows.iter() {
            let hit = match &filter {
                Some(f) => f.pred(row)? == Some(true),
                None => true,
            };
            if !hit {
                out.push(row.clone());
                continue;
            }
            let mut new: Vec<Value> = row.to_vec();
            for (i, value) in &assignments {
                let c = &def.columns[*i];
                new[*i] = match value {
                    Some(t) => {
                        let v = t.e.eval(row)?;
                        assign_value(&v, &t.ty, c, &shown)?
                    }
                    None => match &c.default {
                        Some((e, ..)) => {
                            let (from, v) = self.scalar_typed(e)?;
                            assign_value(&v, &from, c, &shown)?
                        }
                        None => Value::Null,
                    },
                };
                if !c.nullable && matches!(new[*i], Value::Null) {
                    return Err(SqlError::new(
                        515,
                        2,
                        16,
                        format!("Cannot insert the value NULL into column '{}', table '{shown}'; column does not allow nulls. UPDATE fails.", c.name),
                    )
                    .into());
                }
                if key_cols.contains(i)
                    && order_cmp(&new[*i], &row[*i]) != std::cmp::Ordering::Equal
                {
                    key_changed = true;
                }
            }
            if let Some(rv) = rv_col {
                let v = self.next_rowversion();
                new[rv] = Value::Bytes(Arc::from(v.to_be_bytes().as_slice()));
            }
            self.compute_columns(&def, &mut new)?;
            out.push(Row::from(new));
            changed += 1;
        }
        if key_changed {
            let mut rebuilt = Vec::with_capacity(out.len());
            for r in out {
                insert_sorted(&def, &mut rebuilt, r, &shown)?;
            }
            out = rebuilt;
        }
        if let TableData::Rows { rows, .. } = &mut *data {
            *rows = Arc::new(out);
        }
        drop(data);
        self.before_change(&table, &before);
        self.last_rowcount = changed;
        Ok(vec![done(self.count(changed))])
    }

    fn delete(&mut self, name: &ObjName, where_: Option<&Expr>) -> Result<Outcomes, Failure> {
        let (_, table) = self.writable(name)?;
        let def = table.def.clone();
        let mut scope = Scope::default();
        scope.push(ScopeTable {
            database: name.database.clone(),
            schema: Some(def.schema.clone()),
            name: def.name.clone(),
            alias: None,
            columns: def.result_columns(),
            offset: 0,
        });
        let mut b = Binder {
            sess: self,
            scope: &scope,
            outer: None,
            agg: None,
        };
        let filter = where_.map(|w| b.bind(w)).transpose()?.map(|t| t.e);
        let mut data = table.lock();
        let before = data.clone();
        let TableData::Rows { rows, .. } = &*data else {
            return Err(unsupported("DELETE on a generated table").into());
        };
        let mut kept = Vec::with_capacity(rows.len());
        let mut removed = 0u64;
        for row in rows.iter() {
            let hit = match &filter {
                Some(f) => f.pred(row)? == Some(true),
                None => true,
            };
            if hit {
                removed += 1;
            } else {
                kept.push(row.clone());
            }
        }
        if let TableData::Rows { rows, .. } = &mut *data {
            *rows = Arc::new(kept);
        }
        drop(data);
        self.before_change(&table, &before);
        self.last_rowcount = removed;
        Ok(vec![done(self.count(removed))])
    }

    // ----- SET -----

    fn set(&mut self, opt: &SetOption) -> Result<(), Failure> {
        match opt {
            SetOption::Flags(names, on) => {
                for n in names {
                    match n.as_str() {
                        "NOCOUNT" => self.options.nocount = *on,
                        "XACT_ABORT" => self.options.xact_abort = *on,
                        "ANSI_DEFAULTS" => {
                            for f in [
                                "ANSI_NULLS",
                                "ANSI_NULL_DFLT_ON",
                                "ANSI_PADDING",
                                "ANSI_WARNINGS",
                                "CURSOR_CLOSE_ON_COMMIT",
                                "IMPLICIT_TRANSACTIONS",
                                "QUOTED_IDENTIFIER",
                            ] {
                                self.options.flags.insert(f.into(), *on);
                            }
                        }
                        "IMPLICIT_TRANSACTIONS"
                        | "FMTONLY"
                        | "NOEXEC"
                        | "PARSEONLY"
                        | "SHOWPLAN_ALL"
                        | "SHOWPLAN_TEXT"
                        | "SHOWPLAN_XML"
                        | "STATISTICS XML"
                        | "STATISTICS PROFILE"
                            if *on =>
                        {
                            return Err(unsupported(&format!("SET {n} ON")).into());
                        }
                        _ => {}
                    }
                    self.options.flags.insert(n.clone(), *on);
                }
            }
            SetOption::IdentityInsert(name, on) => {
                let (db, table) = self
                    .find_table(name)?
                    .ok_or_else(|| Session::invalid_object(name))?;
                let dbid = db.as_ref().map(|d| d.id).unwrap_or(2);
                if table.def.identity_column().is_none() {
                    return Err(err(8106, 16, format!("Table '{}' does not have the identity property. Cannot perform SET operation.", name.display())).into());
                }
                let shown = qualified_name(db.as_deref(), &table.def);
                if *on {
                    if let Some((d, o, other)) = &self.identity_insert {
                        if *d != dbid || *o != table.def.object_id {
                            return Err(err(
                                8107,
                                16,
                                format!("IDENTITY_INSERT is already ON for table '{other}'. Cannot perform SET operation for table '{}'.", name.display()),
                            )
                            .into());
                        }
                    }
                    self.identity_insert = Some((dbid, table.def.object_id, shown));
                } else if self
                    .identity_insert
                    .as_ref()
                    .is_some_and(|(d, o, _)| *d == dbid && *o == table.def.object_id)
                {
                    self.identity_insert = None;
                }
            }
            SetOption::Value(name, e) => {
                let v = self.scalar(e)?;
                let n = convert::float_value(&v).map(|f| f as i64);
                match name.as_str() {
                    "TEXTSIZE" => {
                        let n = n.unwrap_or(0);
                        self.options.textsize = if n <= 0 { 4096 } else { n };
                    }
                    "LOCK_TIMEOUT" => self.options.lock_timeout = n.unwrap_or(-1),
                    "ROWCOUNT" => self.options.rowcount = n.unwrap_or(0).max(0),
                    "DEADLOCK_PRIORITY" => self.options.deadlock_priority = n.unwrap_or(0),
                    "DATEFIRST" => {
                        let d = n.unwrap_or(7);
                        if !(1..=7).contains(&d) {
                            return Err(err(
                                1005,
                                15,
                                format!("Line 1: Invalid number for DATEFIRST: {d}."),
                            )
                            .into());
                        }
                        self.options.datefirst = d;
                    }
                    "DATEFORMAT" | "LANGUAGE" => {
                        let text = match &v {
                            Value::Str(s) => s.to_string(),
                            _ => String::new(),
                        };
                        self.set_word(name, &text)?;
                    }
                    _ => {}
                }
            }
            SetOption::Word(name, value) => self.set_word(name, value)?,
            SetOption::IsolationLevel(level) => self.options.isolation = level.clone(),
            SetOption::Variable(var, e) => {
                let key = var.to_ascii_lowercase();
                let ty = match self.variables.get(&key) {
                    Some((ty, _)) => ty.clone(),
                    None => {
                        return Err(SqlError::new(
                            137,
                            2,
                            15,
                            format!("Must declare the scalar variable \"{var}\"."),
                        )
                        .into())
                    }
                };
                let v = self.scalar_as(e, &ty)?;
                self.variables.insert(key, (ty, v));
            }
        }
        Ok(())
    }

    fn set_word(&mut self, name: &str, value: &str) -> Result<(), SqlError> {
        if name == "DATEFORMAT" {
            let f = value.to_ascii_lowercase();
            if !["mdy", "dmy", "ymd", "ydm", "myd", "dym"].contains(&f.as_str()) {
                return Err(err(
                    2741,
                    16,
                    format!("SET DATEFORMAT date order '{value}' is invalid."),
                ));
            }
            self.options.dateformat = f;
        } else {
            let known = ["us_english", "english", "british"];
            if !known.iter().any(|k| k.eq_ignore_ascii_case(value)) {
                return Err(err(2732, 16, format!("Error number 2732: the language '{value}' is not supported by the test server.")));
            }
            self.options.language = if value.eq_ignore_ascii_case("english") {
                "us_english".into()
            } else {
                value.to_ascii_lowercase()
            };
        }
        Ok(())
    }

    // ----- EXEC -----

    fn exec_proc(
        &mut self,
        proc: &ObjName,
        args: &[(Option<String>, Expr)],
    ) -> Result<Outcomes, Failure> {
        let mut values = Vec::with_capacity(args.len());
        for (name, e) in args {
            values.push((
                name.clone(),
                if is_default(e) {
                    Value::Null
                } else {
                    self.scalar(e)?
                },
            ));
        }
        if is_inject(proc) {
            return self.inject(&values);
        }
        if proc.name.eq_ignore_ascii_case("sp_executesql") {
            let mut params = Vec::new();
            for ((name, e), (_, v)) in args.iter().zip(values) {
                let (ty, _) = self.scalar_typed(e)?;
                params.push(RpcParam {
                    name: name.clone().unwrap_or_default(),
                    value: v,
                    sql_type: ty,
                    output: false,
                });
            }
            let (sql, vars) = self.executesql_args(params)?;
            let saved = std::mem::take(&mut self.variables);
            let out = self.run_batch(&sql, vars);
            self.variables = saved;
            return Ok(out);
        }
        Err(unknown_procedure(proc).into())
    }

    /// `EXEC pgmig_test.inject @fault = '...', @value = N, @number = N, @message = '...'`.
    fn inject(&mut self, args: &[(Option<String>, Value)]) -> Result<Outcomes, Failure> {
        let mut fault = None;
        let mut n = None;
        let mut number = None;
        let mut message = None;
        for (i, (name, v)) in args.iter().enumerate() {
            let slot = match name.as_deref().map(|s| s.to_ascii_lowercase()) {
                Some(s) => match s.as_str() {
                    "@fault" => 0,
                    "@value" | "@n" => 1,
                    "@number" => 2,
                    "@message" => 3,
                    _ => {
                        return Err(SqlError::new(
                            8145,
                            2,
                            16,
                            format!(
                                "{} is not a parameter for procedure inject.",
                                name.as_deref().unwrap_or("")
                            ),
                        )
                        .into())
                    }
                },
                None => i,
            };
            let text = || match v {
                Value::Null => None,
                other => Some(convert::to_text(other, &convert::value_type(other), None)),
            };
            let int = || -> Result<Option<i64>, SqlError> {
                match v {
                    Value::Null => Ok(None),
                    Value::Str(s) => s.trim().parse().map(Some).map_err(|_| {
                        err(8114, 16, "Error converting data type varchar to bigint.")
                    }),
                    other => Ok(convert::float_value(other).map(|f| f as i64)),
                }
            };
            match slot {
                0 => fault = text(),
                1 => n = int()?,
                2 => number = int()?,
                3 => message = text(),
                _ => {
                    return Err(SqlError::new(
                        8144,
                        2,
                        16,
                        "Procedure or function inject has too many arguments specified.",
                    )
                    .into())
                }
            }
        }
        let Some(fault) = fault else {
            return Err(SqlError::new(
                201,
                4,
                16,
                "Procedure or function 'inject' expects parameter '@fault', which was not supplied.",
            )
            .into());
        };
        if fault.eq_ignore_ascii_case("clear") {
            self.engine.state.faults.clear();
        } else {
            let f = Fault::from_control(&fault, n, number, message.as_deref())
                .map_err(|m| SqlError::new(50000, 1, 16, format!("pgmig_test.inject: {m}")))?;
            self.engine.state.faults.set(f);
        }
        Ok(vec![done(None)])
    }
}

fn is_inject(name: &ObjName) -> bool {
    name.name.eq_ignore_ascii_case("inject")
        && name
            .schema
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("pgmig_test"))
}

fn unknown_procedure(name: &ObjName) -> SqlError {
    let lower = name.name.to_ascii_lowercase();
    if lower.starts_with("sp_") || lower.starts_with("xp_") {
        return unsupported(&name.name);
    }
    SqlError::new(
        2812,
        62,
        16,
        format!("Could not find stored procedure '{}'.", name.display()),
    )
}

fn overflow_identity(t: &SqlType) -> SqlError {
    err(
        8115,
        16,
        format!(
            "Arithmetic overflow error converting IDENTITY to data type {}.",
            type_name(t)
        ),
    )
}

fn is_default(e: &Expr) -> bool {
    matches!(e, Expr::Func { name, args, .. } if name == "DEFAULT" && args.is_empty())
}

/// `db.schema.table` as SQL Server names a table in 515/2628 messages.
fn qualified_name(db: Option<&Database>, def: &TableDef) -> String {
    let db = db.map(|d| d.name.as_str()).unwrap_or("tempdb");
    format!("{db}.{}.{}", def.schema, def.name)
}

fn scope_of_columns(columns: &[ColumnInfo], table: &str) -> Scope {
    let mut scope = Scope::default();
    scope.push(ScopeTable {
        database: None,
        schema: None,
        name: table.to_string(),
        alias: None,
        columns: columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                sql_type: c.sql_type.clone(),
                nullable: c.nullable,
                identity: c.identity.is_some(),
                computed: c.computed.is_some(),
            })
            .collect(),
        offset: 0,
    });
    scope
}

fn contains_computed_ref(e: &Expr, columns: &[ColumnInfo]) -> bool {
    let mut found = false;
    walk(e, &mut |x| {
        if let Expr::Column(p) = x {
            if let Some(name) = p.last() {
                if columns
                    .iter()
                    .any(|c| c.computed.is_some() && c.name.eq_ignore_ascii_case(name))
                {
                    found = true;
                }
            }
        }
    });
    found
}

fn walk(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Neg(a) | Expr::BitNot(a) | Expr::Not(a) | Expr::IsNull(a, _) | Expr::Cast(a, _) => {
            walk(a, f)
        }
        Expr::Convert { expr, .. } => walk(expr, f),
        Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) | Expr::Like(a, b, _) => {
            walk(a, f);
            walk(b, f);
        }
        Expr::Between(a, b, c, _) => {
            walk(a, f);
            walk(b, f);
            walk(c, f);
        }
        Expr::InList(a, l, _) => {
            walk(a, f);
            for x in l {
                walk(x, f);
            }
        }
        Expr::Func { args, .. } => {
            for x in args {
                walk(x, f);
            }
        }
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            if let Some(o) = operand {
                walk(o, f);
            }
            for (w, t) in whens {
                walk(w, f);
                walk(t, f);
            }
            if let Some(o) = otherwise {
                walk(o, f);
            }
        }
        _ => {}
    }
}

/// A value for a column: implicit conversion, and error 2628 when text or binary data would
/// be cut (trailing blanks of text may go silently, as in SQL Server).
fn assign_value(
    v: &Value,
    from: &SqlType,
    column: &ColumnInfo,
    table: &str,
) -> Result<Value, SqlError> {
    let to = &column.sql_type;
    if matches!(v, Value::Null) {
        return Ok(Value::Null);
    }
    if from != to {
        implicit_check(from, to)?;
    }
    if let Some(limit) = convert::char_limit(to) {
        let truncated = match v {
            Value::Str(s) if convert::is_string(to) => {
                let unicode = convert::is_unicode(to);
                let units = if unicode {
                    convert::string_units(s, true)
                } else {
                    convert::single_byte_len(s, to)
                };
                units > limit && {
                    let kept = convert::truncate_chars(s, limit, unicode);
                    !s[kept.len()..].chars().all(|c| c == ' ')
                }
            }
            Value::Bytes(b) if convert::is_binary(to) => b.len() > limit,
            _ => false,
        };
        if truncated {
            let shown = match v {
                Value::Str(s) => convert::truncate_chars(s, limit, convert::is_unicode(to)),
                Value::Bytes(b) => b.iter().take(limit).map(|x| *x as char).collect(),
                _ => String::new(),
            };
            return Err(err(
                2628,
                16,
                format!("String or binary data would be truncated in table '{table}', column '{}'. Truncated value: '{shown}'.", column.name),
            ));
        }
    }
    convert::convert(v, from, to, None)
}

/// Inserts a row at its clustered-key position, refusing duplicates of any unique key.
fn insert_sorted(
    def: &TableDef,
    rows: &mut Vec<Row>,
    row: Row,
    table: &str,
) -> Result<(), SqlError> {
    for k in &def.keys {
        let clash = if k.clustered {
            let pos = position(rows, &row, &k.columns);
            pos.1
        } else {
            rows.iter().any(|r| same_key(r, &row, &k.columns))
        };
        if clash {
            let values: Vec<String> = k
                .columns
                .iter()
                .map(|(c, _)| match &row[*c] {
                    Value::Null => "<NULL>".to_string(),
                    v => convert::to_text(v, &def.columns[*c].sql_type, None),
                })
                .collect();
            let kind = if k.primary {
                "PRIMARY KEY"
            } else {
                "UNIQUE KEY"
            };
            let object = table.split_once('.').map(|(_, rest)| rest).unwrap_or(table);
            return Err(SqlError::new(
                2627,
                1,
                14,
                format!(
                    "Violation of {kind} constraint '{}'. Cannot insert duplicate key in object '{object}'. The duplicate key value is ({}).",
                    k.name,
                    values.join(", ")
                ),
            ));
        }
    }
    match def.clustered_key() {
        Some(k) => {
            let (at, _) = position(rows, &row, &k.columns);
            rows.insert(at, row);
        }
        None => rows.push(row),
    }
    Ok(())
}

fn key_cmp(a: &[Value], b: &[Value], key: &[(usize, bool)]) -> std::cmp::Ordering {
    for (c, desc) in key {
        let o = order_cmp(&a[*c], &b[*c]);
        let o = if *desc { o.reverse() } else { o };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

fn same_key(a: &[Value], b: &[Value], key: &[(usize, bool)]) -> bool {
    key_cmp(a, b, key) == std::cmp::Ordering::Equal
}

/// Insert position of `row` in key-ordered `rows`, and whether an equal key is there.
fn position(rows: &[Row], row: &[Value], key: &[(usize, bool)]) -> (usize, bool) {
    // Appending in key order is the common case (identity keys).
    if let Some(last) = rows.last() {
        if key_cmp(last, row, key) == std::cmp::Ordering::Less {
            return (rows.len(), false);
        }
    }
    let at = rows.partition_point(|r| key_cmp(r, row, key) == std::cmp::Ordering::Less);
    let equal = rows.get(at).is_some_and(|r| same_key(r, row, key));
    (at, equal)
}

/// The open transactions' first rowversions (a poisoned lock still holds a usable map).
pub(crate) fn lock_open_rowversions(
    engine: &super::Engine,
) -> std::sync::MutexGuard<'_, std::collections::HashMap<u16, u64>> {
    engine
        .state
        .open_rowversions
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
