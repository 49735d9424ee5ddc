//! SELECT: sources, joins, filters, grouping, ordering and row limits.
//!
//! A query over one table streams: its rows come from a snapshot of the table (an `Arc` of
//! the row vector, or the generator of a generated table) through filter and projection
//! iterators, so the server never holds a result in memory. Conditions on the leading
//! clustered-key column narrow the scan to a key range found by binary search, and ORDER BY
//! the clustered key needs no sort. A sort, DISTINCT, GROUP BY, UNION or RIGHT JOIN
//! collects the rows it needs. Generated tables whose SELECT is a plain column list with at
//! most a key range and key order are served as pre-encoded rows.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use super::ast::{
    BinOp, Expr, FromItem, JoinKind, ObjName, OrderItem, Select, SelectItem, TableSource,
};
use super::catalog;
use super::convert::{self, err};
use super::expr::{
    agg_func, clr_unsupported, common_of, has_aggregate, is_clr, AggCtx, AggFunc, AggSpec, BExpr,
    Binder, Scope, ScopeTable, Typed,
};
use super::generate::GenKind;
use super::storage::{Database, Row, Table, TableData};
use super::Session;
use crate::types::{Column, SqlError, SqlType, Value};

/// A table found by name: its database (None = a `#temp` table) and the table.
pub type TableRef = (Option<Arc<Database>>, Arc<Table>);

pub type RowIter = Box<dyn Iterator<Item = Result<Vec<Value>, SqlError>> + Send>;
type SrcIter = Box<dyn Iterator<Item = Result<Row, SqlError>> + Send>;

/// A query's result: its columns and its rows, produced lazily.
pub struct QueryOut {
    pub columns: Vec<Column>,
    pub rows: Rows,
}

pub enum Rows {
    Values(RowIter),
    /// Pre-encoded ROW/NBCROW tokens (generated tables).
    Encoded(Box<dyn Iterator<Item = Arc<[u8]>> + Send>),
}

impl QueryOut {
    pub fn into_values(self) -> Result<RowIter, SqlError> {
        match self.rows {
            Rows::Values(it) => Ok(it),
            Rows::Encoded(_) => Err(err(
                50000,
                16,
                "internal: encoded rows where values were needed",
            )),
        }
    }

    /// All rows, for statements that need them at once (INSERT .. SELECT, SELECT INTO).
    pub fn collect(self) -> Result<(Vec<Column>, Vec<Vec<Value>>), SqlError> {
        let columns = self.columns.clone();
        let rows = self.into_values()?.collect::<Result<Vec<_>, _>>()?;
        Ok((columns, rows))
    }
}

/// Where a source's rows come from.
#[derive(Clone)]
pub enum SourceRows {
    /// Rows in clustered-key order (`key`, column index and descending flag), or insertion
    /// order for a heap (`key` empty).
    Stored {
        rows: Arc<Vec<Row>>,
        key: Vec<(usize, bool)>,
    },
    Generated {
        kind: GenKind,
        count: u64,
    },
}

impl SourceRows {
    fn len(&self) -> usize {
        match self {
            SourceRows::Stored { rows, .. } => rows.len(),
            SourceRows::Generated { count, .. } => *count as usize,
        }
    }

    /// The leading key column when it is ascending (what a key range can use).
    fn leading_key(&self) -> Option<usize> {
        match self {
            SourceRows::Stored { key, .. } => {
                key.first().filter(|(_, desc)| !desc).map(|(c, _)| *c)
            }
            SourceRows::Generated { .. } => Some(0),
        }
    }

    fn key_columns(&self) -> Vec<(usize, bool)> {
        match self {
            SourceRows::Stored { key, .. } => key.clone(),
            SourceRows::Generated { .. } => vec![(0, false)],
        }
    }

    /// The leading key value of row `i`.
    fn key_at(&self, i: usize, column: usize) -> Value {
        match self {
            SourceRows::Stored { rows, .. } => rows
                .get(i)
                .and_then(|r| r.get(column).cloned())
                .unwrap_or(Value::Null),
            SourceRows::Generated { .. } => Value::Int(i as i32 + 1),
        }
    }

    /// Rows `lo..hi`, forwards or backwards.
    fn scan(&self, lo: usize, hi: usize, reverse: bool) -> SrcIter {
        match self {
            SourceRows::Stored { rows, .. } => {
                let rows = rows.clone();
                if reverse {
                    Box::new((lo..hi).rev().map(move |i| Ok(rows[i].clone())))
                } else {
                    Box::new((lo..hi).map(move |i| Ok(rows[i].clone())))
                }
            }
            SourceRows::Generated { kind, .. } => {
                let kind = kind.clone();
                let make = move |i: usize| Ok(Row::from(kind.row(i as u64)));
                if reverse {
                    Box::new((lo..hi).rev().map(make))
                } else {
                    Box::new((lo..hi).map(make))
                }
            }
        }
    }

    fn all_rows(&self) -> Arc<Vec<Row>> {
        match self {
            SourceRows::Stored { rows, .. } => rows.clone(),
            SourceRows::Generated { kind, count } => {
                Arc::new((0..*count).map(|i| Row::from(kind.row(i))).collect())
            }
        }
    }
}

pub struct Source {
    pub table: ScopeTable,
    pub rows: SourceRows,
}

/// A bound ORDER BY key: an output column or an expression over the source row.
enum SortKey {
    Out(usize),
    Src(BExpr),
}

/// Bounds of a key range on the leading key column.
#[derive(Default)]
struct KeyRange {
    lo: Option<(Value, bool)>,
    hi: Option<(Value, bool)>,
    /// Every WHERE conjunct is a bound of the range (the filter can be skipped).
    complete: bool,
}

fn conjuncts(e: &BExpr) -> Vec<&BExpr> {
    match e {
        BExpr::And(a, b) => {
            let mut v = conjuncts(a);
            v.extend(conjuncts(b));
            v
        }
        other => vec![other],
    }
}

fn key_range(filter: Option<&BExpr>, key: usize) -> KeyRange {
    let mut range = KeyRange {
        complete: true,
        ..KeyRange::default()
    };
    let Some(filter) = filter else {
        return range;
    };
    let tighter_lo = |cur: &Option<(Value, bool)>, v: &Value, incl: bool| match cur {
        None => true,
        Some((c, ci)) => match convert::compare(v, c, false) {
            Some(Ordering::Greater) => true,
            Some(Ordering::Equal) => *ci && !incl,
            _ => false,
        },
    };
    let tighter_hi = |cur: &Option<(Value, bool)>, v: &Value, incl: bool| match cur {
        None => true,
        Some((c, ci)) => match convert::compare(v, c, false) {
            Some(Ordering::Less) => true,
            Some(Ordering::Equal) => *ci && !incl,
            _ => false,
        },
    };
    for c in conjuncts(filter) {
        let bound = match c {
            BExpr::Cmp(op, a, b, _) => match (&**a, &**b) {
                (BExpr::Col(i), BExpr::Const(v)) if *i == key && !matches!(v, Value::Null) => {
                    Some((*op, v.clone()))
                }
                (BExpr::Const(v), BExpr::Col(i)) if *i == key && !matches!(v, Value::Null) => {
                    let flipped = match op {
                        BinOp::Lt => BinOp::Gt,
                        BinOp::Le => BinOp::Ge,
                        BinOp::Gt => BinOp::Lt,
                        BinOp::Ge => BinOp::Le,
                        other => *other,
                    };
                    Some((flipped, v.clone()))
                }
                _ => None,
            },
            _ => None,
        };
        match bound {
            Some((BinOp::Eq, v)) => {
                if tighter_lo(&range.lo, &v, true) {
                    range.lo = Some((v.clone(), true));
                }
                if tighter_hi(&range.hi, &v, true) {
                    range.hi = Some((v, true));
                }
            }
            Some((op @ (BinOp::Gt | BinOp::Ge), v)) => {
                let incl = op == BinOp::Ge;
                if tighter_lo(&range.lo, &v, incl) {
                    range.lo = Some((v, incl));
                }
            }
            Some((op @ (BinOp::Lt | BinOp::Le), v)) => {
                let incl = op == BinOp::Le;
                if tighter_hi(&range.hi, &v, incl) {
                    range.hi = Some((v, incl));
                }
            }
            _ => range.complete = false,
        }
    }
    range
}

/// First index in 0..n whose key is not before the bound (binary search).
fn partition(n: usize, mut before: impl FnMut(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn range_indices(src: &SourceRows, key: usize, range: &KeyRange) -> (usize, usize) {
    let n = src.len();
    let lo = match &range.lo {
        None => 0,
        Some((v, incl)) => partition(n, |i| {
            let k = src.key_at(i, key);
            match convert::compare(&k, v, false) {
                Some(Ordering::Less) => true,
                Some(Ordering::Equal) => !incl,
                _ => false,
            }
        }),
    };
    let hi = match &range.hi {
        None => n,
        Some((v, incl)) => partition(n, |i| {
            let k = src.key_at(i, key);
            match convert::compare(&k, v, false) {
                Some(Ordering::Less) => true,
                Some(Ordering::Equal) => *incl,
                _ => false,
            }
        }),
    };
    (lo, hi.max(lo))
}

/// Canonical bytes of a value for grouping and DISTINCT (case-insensitive text, numbers by
/// value).
pub fn key_bytes(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0),
        Value::Str(s) => {
            out.push(1);
            out.extend_from_slice(s.trim_end_matches(' ').to_lowercase().as_bytes());
            out.push(0xFF);
        }
        Value::Real(_) | Value::Float(_) => {
            out.push(3);
            let f = convert::float_value(v).unwrap_or(0.0);
            out.extend_from_slice(&(if f == 0.0 { 0.0f64 } else { f }).to_bits().to_le_bytes());
        }
        Value::Bytes(b) => {
            out.push(4);
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
        Value::Guid(g) => {
            out.push(5);
            out.extend_from_slice(g);
        }
        other => {
            if let Some((mut value, mut scale)) = convert::decimal_value(other) {
                while scale > 0 && value % 10 == 0 {
                    value /= 10;
                    scale -= 1;
                }
                out.push(2);
                out.extend_from_slice(&value.to_le_bytes());
                out.push(scale);
            } else if let Some((d, t, _)) = convert::date_time_parts(other) {
                let (d, t) = match other {
                    Value::DateTimeOffset {
                        days, ticks_100ns, ..
                    } => (*days as i64, *ticks_100ns),
                    _ => (d, t),
                };
                out.push(6);
                out.extend_from_slice(&d.to_le_bytes());
                out.extend_from_slice(&t.to_le_bytes());
            } else {
                out.push(7);
            }
        }
    }
}

fn row_key(values: &[Value]) -> Vec<u8> {
    let mut k = Vec::new();
    for v in values {
        key_bytes(v, &mut k);
    }
    k
}

/// ORDER BY comparison: NULLs first, text by the CI collation.
pub fn order_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => convert::compare(a, b, false).unwrap_or(Ordering::Equal),
    }
}

fn compare_keys(a: &[Value], b: &[Value], desc: &[bool]) -> Ordering {
    for ((x, y), d) in a.iter().zip(b).zip(desc) {
        let o = order_cmp(x, y);
        let o = if *d { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Stops an iterator after its first error.
fn fuse_errors<T: Send + 'static>(
    it: impl Iterator<Item = Result<T, SqlError>> + Send + 'static,
) -> Box<dyn Iterator<Item = Result<T, SqlError>> + Send> {
    let mut failed = false;
    Box::new(it.take_while(move |r| {
        if failed {
            return false;
        }
        failed = r.is_err();
        true
    }))
}

/// The numeric value of TOP/OFFSET/FETCH.
fn count_value(t: &Typed, what: &str) -> Result<f64, SqlError> {
    let v = match &t.e {
        BExpr::Const(v) => v.clone(),
        _ => {
            return Err(err(
                1015,
                15,
                format!("An aggregate cannot appear in an ON clause unless it is in a subquery contained in a HAVING clause or select list, and the column being aggregated is an outer reference. ({what})"),
            ))
        }
    };
    convert::float_value(&v).ok_or_else(|| {
        err(
            1014,
            15,
            format!("The number of rows provided for a {what} clause must be an integer."),
        )
    })
}

impl Session {
    /// Finds a table by name: a `#temp` table of this session, or a table of a database.
    pub(crate) fn find_table(&self, name: &ObjName) -> Result<Option<TableRef>, SqlError> {
        if name.name.starts_with('#') {
            return Ok(self
                .temp_tables
                .iter()
                .find(|t| t.def.name.eq_ignore_ascii_case(&name.name))
                .map(|t| (None, t.clone())));
        }
        let db_name = name
            .database
            .clone()
            .unwrap_or_else(|| self.database.clone());
        let Some(db) = self.engine.database(&db_name) else {
            return Ok(None);
        };
        let schema = name.schema.clone().unwrap_or_else(|| "dbo".into());
        let table = db.read().table(&schema, &name.name);
        Ok(table.map(|t| (Some(db), t)))
    }

    pub(crate) fn invalid_object(name: &ObjName) -> SqlError {
        err(
            208,
            16,
            format!("Invalid object name '{}'.", name.display()),
        )
    }

    fn source(&self, ts: &TableSource, outer: Option<&Scope>) -> Result<Source, SqlError> {
        match ts {
            TableSource::Named { name, alias } => {
                let is_catalog = name.schema.as_deref().is_some_and(|s| {
                    s.eq_ignore_ascii_case("sys") || s.eq_ignore_ascii_case("INFORMATION_SCHEMA")
                });
                if is_catalog {
                    let db_name = name
                        .database
                        .clone()
                        .unwrap_or_else(|| self.database.clone());
                    let db = self
                        .engine
                        .database(&db_name)
                        .ok_or_else(|| Self::invalid_object(name))?;
                    let view = catalog::view(
                        &db,
                        &self.engine.database_list(),
                        name.schema.as_deref().unwrap_or("sys"),
                        &name.name,
                    )
                    .ok_or_else(|| Self::invalid_object(name))?;
                    let rows: Vec<Row> = view.rows.into_iter().map(Row::from).collect();
                    return Ok(Source {
                        table: ScopeTable {
                            database: name.database.clone(),
                            schema: name.schema.clone(),
                            name: name.name.clone(),
                            alias: alias.clone(),
                            columns: view.columns,
                            offset: 0,
                        },
                        rows: SourceRows::Stored {
                            rows: Arc::new(rows),
                            key: Vec::new(),
                        },
                    });
                }
                let (_, table) = self
                    .find_table(name)?
                    .ok_or_else(|| Self::invalid_object(name))?;
                let def = table.def.clone();
                let rows = match &*table.lock() {
                    TableData::Rows { rows, .. } => SourceRows::Stored {
                        rows: rows.clone(),
                        key: def
                            .clustered_key()
                            .map(|k| k.columns.clone())
                            .unwrap_or_default(),
                    },
                    TableData::Generated { kind, rows } => SourceRows::Generated {
                        kind: kind.clone(),
                        count: *rows,
                    },
                };
                Ok(Source {
                    table: ScopeTable {
                        database: name.database.clone(),
                        schema: Some(def.schema.clone()),
                        name: def.name.clone(),
                        alias: alias.clone(),
                        columns: def.result_columns(),
                        offset: 0,
                    },
                    rows,
                })
            }
            TableSource::Derived { select, alias } => {
                let out = self.select_inner(select, outer, false)?;
                for (i, c) in out.columns.iter().enumerate() {
                    if c.name.is_empty() {
                        return Err(SqlError::new(
                            8155,
                            2,
                            16,
                            format!(
                                "No column name was specified for column {} of '{alias}'.",
                                i + 1
                            ),
                        ));
                    }
                }
                let (columns, rows) = out.collect()?;
                Ok(Source {
                    table: ScopeTable {
                        database: None,
                        schema: None,
                        name: alias.clone(),
                        alias: Some(alias.clone()),
                        columns,
                        offset: 0,
                    },
                    rows: SourceRows::Stored {
                        rows: Arc::new(rows.into_iter().map(Row::from).collect()),
                        key: Vec::new(),
                    },
                })
            }
        }
    }

    /// Runs a query as a client would see it (generated tables may come pre-encoded).
    pub(crate) fn select(&self, sel: &Select) -> Result<QueryOut, SqlError> {
        self.select_inner(sel, None, true)
    }

    /// Runs a subquery; `outer` is the enclosing scope (to refuse correlation clearly).
    pub(crate) fn select_with_outer(
        &self,
        sel: &Select,
        outer: Option<&Scope>,
    ) -> Result<QueryOut, SqlError> {
        self.select_inner(sel, outer, false)
    }

    fn select_inner(
        &self,
        sel: &Select,
        outer: Option<&Scope>,
        allow_encoded: bool,
    ) -> Result<QueryOut, SqlError> {
        if !sel.unions.is_empty() {
            return self.union(sel, outer);
        }
        self.select_core(sel, outer, allow_encoded)
    }

    fn union(&self, sel: &Select, outer: Option<&Scope>) -> Result<QueryOut, SqlError> {
        let mut head = sel.clone();
        head.unions.clear();
        head.order_by.clear();
        head.offset = None;
        head.fetch = None;
        let mut parts = vec![(true, head)];
        parts.extend(sel.unions.iter().cloned());
        let mut outs = Vec::new();
        for (all, part) in &parts {
            if !part.order_by.is_empty() {
                return Err(err(156, 15, "Incorrect syntax near the keyword 'ORDER'."));
            }
            outs.push((*all, self.select_core(part, outer, false)?));
        }
        let width = outs[0].1.columns.len();
        if outs.iter().any(|(_, o)| o.columns.len() != width) {
            return Err(err(
                205,
                16,
                "All queries combined using a UNION, INTERSECT or EXCEPT operator must have an equal number of expressions in their target lists.",
            ));
        }
        let mut columns = outs[0].1.columns.clone();
        for (i, c) in columns.iter_mut().enumerate() {
            let types: Vec<SqlType> = outs
                .iter()
                .map(|(_, o)| o.columns[i].sql_type.clone())
                .collect();
            c.sql_type = common_of(&types);
            // UNION (not ALL) compares rows; UNION ALL of CLR columns keeps them as they are.
            if let Some(t) = types.iter().find(|t| is_clr(t)) {
                if outs.iter().skip(1).any(|(all, _)| !all) || types.iter().any(|x| x != t) {
                    return Err(clr_unsupported(t, "UNION"));
                }
            }
            c.nullable = outs.iter().any(|(_, o)| o.columns[i].nullable);
            c.identity = false;
            c.computed = false;
        }
        // Left to right: UNION ALL appends, UNION removes duplicates of everything so far.
        let mut acc: Vec<Vec<Value>> = Vec::new();
        for (all, out) in outs {
            let from: Vec<SqlType> = out.columns.iter().map(|c| c.sql_type.clone()).collect();
            for row in out.into_values()? {
                let row = row?;
                let mut converted = Vec::with_capacity(row.len());
                for ((v, f), c) in row.iter().zip(&from).zip(&columns) {
                    converted.push(if *f == c.sql_type {
                        v.clone()
                    } else {
                        convert::convert(v, f, &c.sql_type, None)?
                    });
                }
                acc.push(converted);
            }
            if !all {
                let mut seen = std::collections::HashSet::new();
                acc.retain(|r| seen.insert(row_key(r)));
            }
        }
        // ORDER BY of a UNION names output columns only.
        let mut keys = Vec::new();
        for item in &sel.order_by {
            let idx = match &item.expr {
                Expr::Lit(Value::Int(n), _) => (*n as usize).checked_sub(1).filter(|i| *i < width),
                Expr::Column(p) => p.last().and_then(|name| {
                    columns.iter().position(|c| c.name.eq_ignore_ascii_case(name))
                }),
                _ => None,
            }
            .ok_or_else(|| {
                err(
                    104,
                    16,
                    "ORDER BY items must appear in the select list if the statement contains a UNION, INTERSECT or EXCEPT operator.",
                )
            })?;
            keys.push((idx, item.desc));
        }
        if !keys.is_empty() {
            acc.sort_by(|a, b| {
                for (i, desc) in &keys {
                    let o = order_cmp(&a[*i], &b[*i]);
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        let (skip, take) = self.offset_fetch(sel, &Scope::default())?;
        let rows = acc
            .into_iter()
            .skip(skip)
            .take(take.unwrap_or(usize::MAX))
            .map(Ok);
        Ok(QueryOut {
            columns,
            rows: Rows::Values(Box::new(rows)),
        })
    }

    fn offset_fetch(
        &self,
        sel: &Select,
        scope: &Scope,
    ) -> Result<(usize, Option<usize>), SqlError> {
        let mut b = Binder {
            sess: self,
            scope,
            outer: None,
            agg: None,
        };
        let skip = match &sel.offset {
            Some(e) => {
                let n = count_value(&b.bind(e)?, "OFFSET")?;
                if n < 0.0 {
                    return Err(err(
                        10742,
                        15,
                        "The offset specified in a OFFSET clause may not be negative.",
                    ));
                }
                n as usize
            }
            None => 0,
        };
        let take = match &sel.fetch {
            Some(e) => {
                let n = count_value(&b.bind(e)?, "FETCH")?;
                if n < 1.0 {
                    return Err(err(
                        10744,
                        15,
                        "The number of rows provided for a FETCH clause must be greater then zero.",
                    ));
                }
                Some(n as usize)
            }
            None => None,
        };
        Ok((skip, take))
    }

    fn select_core(
        &self,
        sel: &Select,
        outer: Option<&Scope>,
        allow_encoded: bool,
    ) -> Result<QueryOut, SqlError> {
        if sel.top.is_some() && sel.offset.is_some() {
            return Err(err(
                10741,
                15,
                "A TOP can not be used in the same query or sub-query as a OFFSET.",
            ));
        }
        // Sources and joins, left to right.
        let mut plan: Vec<(JoinKind, Source, Option<Expr>)> = Vec::new();
        for FromItem { source, joins } in &sel.from {
            let kind = if plan.is_empty() {
                JoinKind::Inner
            } else {
                JoinKind::Cross
            };
            plan.push((kind, self.source(source, outer)?, None));
            for j in joins {
                plan.push((j.kind, self.source(&j.source, outer)?, j.on.clone()));
            }
        }
        for (i, (_, a, _)) in plan.iter().enumerate() {
            let exposed = |s: &Source| {
                s.table
                    .alias
                    .clone()
                    .unwrap_or_else(|| s.table.name.clone())
                    .to_ascii_lowercase()
            };
            if plan[..i].iter().any(|(_, b, _)| {
                exposed(a) == exposed(b)
                    && (a.table.alias.is_some()
                        || b.table.alias.is_some()
                        || a.table.schema == b.table.schema)
            }) {
                return Err(err(
                    1013,
                    16,
                    format!(
                        "The objects \"{}\" and \"{}\" in the FROM clause have the same exposed names. Use correlation names to distinguish them.",
                        exposed(a),
                        exposed(a)
                    ),
                ));
            }
        }
        let mut scope = Scope::default();
        let mut joins_bound: Vec<Option<BExpr>> = Vec::new();
        for (kind, src, on) in &plan {
            let mut table = src.table.clone();
            // The outer side of an outer join can be all NULLs.
            if *kind == JoinKind::Left {
                for c in &mut table.columns {
                    c.nullable = true;
                }
            }
            if *kind == JoinKind::Right {
                for t in &mut scope.tables {
                    for c in &mut t.columns {
                        c.nullable = true;
                    }
                }
            }
            scope.push(table);
            let bound = match on {
                Some(on) => {
                    if has_aggregate(on) {
                        return Err(err(
                            147,
                            15,
                            "An aggregate may not appear in the ON clause unless it is in a subquery contained in a HAVING clause or select list, and the column being aggregated is an outer reference.",
                        ));
                    }
                    let mut b = Binder {
                        sess: self,
                        scope: &scope,
                        outer,
                        agg: None,
                    };
                    Some(b.bind(on)?.e)
                }
                None => None,
            };
            joins_bound.push(bound);
        }
        let mut b = Binder {
            sess: self,
            scope: &scope,
            outer,
            agg: None,
        };
        let filter = match &sel.where_ {
            Some(w) => {
                if has_aggregate(w) {
                    return Err(err(
                        147,
                        15,
                        "An aggregate may not appear in the WHERE clause unless it is in a subquery contained in a HAVING clause or a select list, and the column being aggregated is an outer reference.",
                    ));
                }
                Some(b.bind(w)?.e)
            }
            None => None,
        };
        let top = match &sel.top {
            Some(t) => {
                let n = count_value(&b.bind(t)?, "TOP")?;
                if n < 0.0 || sel.top_percent && n > 100.0 {
                    return Err(err(
                        1014,
                        15,
                        if sel.top_percent {
                            "Percent values must be between 0 and 100."
                        } else {
                            "A TOP or FETCH clause contains an invalid value."
                        },
                    ));
                }
                Some(n)
            }
            None => None,
        };
        let (skip, fetch) = self.offset_fetch(sel, &scope)?;

        // The select list, with * expanded.
        enum Item<'e> {
            Expr(&'e Expr, Option<String>),
            Col(usize),
        }
        let mut items: Vec<Item> = Vec::new();
        for item in &sel.items {
            match item {
                SelectItem::Wildcard(None) => {
                    if scope.tables.is_empty() {
                        return Err(err(263, 16, "Must specify table to select from."));
                    }
                    items.extend((0..scope.width).map(Item::Col));
                }
                SelectItem::Wildcard(Some(q)) => {
                    let qualifier = vec![q.clone()];
                    let t = scope
                        .tables
                        .iter()
                        .find(|t| {
                            t.alias
                                .as_deref()
                                .unwrap_or(&t.name)
                                .eq_ignore_ascii_case(q)
                        })
                        .ok_or_else(|| super::expr::not_bound(&qualifier))?;
                    items.extend((t.offset..t.offset + t.columns.len()).map(Item::Col));
                }
                SelectItem::Expr { expr, alias } => items.push(Item::Expr(expr, alias.clone())),
                SelectItem::Assign { expr, .. } => items.push(Item::Expr(expr, None)),
            }
        }
        let grouped = !sel.group_by.is_empty()
            || sel.having.is_some()
            || sel.items.iter().any(|i| match i {
                SelectItem::Expr { expr, .. } | SelectItem::Assign { expr, .. } => {
                    has_aggregate(expr)
                }
                _ => false,
            });

        // Output columns and the expressions that compute them.
        let mut columns = Vec::with_capacity(items.len());
        let mut project: Vec<BExpr> = Vec::with_capacity(items.len());
        let mut group_exprs: Vec<BExpr> = Vec::new();
        let mut aggs: Vec<AggSpec> = Vec::new();
        let mut having = None;
        let keys: Vec<(SortKey, bool)>;
        if grouped {
            let mut group_types = Vec::new();
            for g in &sel.group_by {
                if has_aggregate(g) {
                    return Err(err(144, 15, "Cannot use an aggregate or a subquery in an expression used for the group by list of a GROUP BY clause."));
                }
                let t = b.bind(g)?;
                if is_clr(&t.ty) {
                    return Err(clr_unsupported(&t.ty, "GROUP BY"));
                }
                group_types.push((t.ty.clone(), t.nullable));
                group_exprs.push(t.e);
            }
            let mut pb = Binder {
                sess: self,
                scope: &scope,
                outer,
                agg: Some(AggCtx {
                    groups: sel.group_by.clone(),
                    group_types,
                    aggs: Vec::new(),
                }),
            };
            for item in &items {
                match item {
                    Item::Col(i) => return Err(super::expr::not_grouped(&scope, *i)),
                    Item::Expr(e, alias) => {
                        let t = pb.bind(e)?;
                        columns.push(output_column(e, alias.as_deref(), &t, None));
                        project.push(t.e);
                    }
                }
            }
            if let Some(h) = &sel.having {
                having = Some(pb.bind(h)?.e);
            }
            keys = order_keys(&sel.order_by, &columns, |e| pb.bind(e))?;
            aggs = pb.agg.take().map(|c| c.aggs).unwrap_or_default();
        } else {
            for item in &items {
                match item {
                    Item::Col(i) => {
                        let c = scope
                            .column(*i)
                            .cloned()
                            .ok_or_else(|| err(207, 16, "Invalid column name ''."))?;
                        columns.push(c);
                        project.push(BExpr::Col(*i));
                    }
                    Item::Expr(e, alias) => {
                        let t = b.bind(e)?;
                        let source = match &t.e {
                            BExpr::Col(i) => scope.column(*i),
                            _ => None,
                        };
                        columns.push(output_column(e, alias.as_deref(), &t, source));
                        project.push(t.e);
                    }
                }
            }
            keys = order_keys(&sel.order_by, &columns, |e| b.bind(e))?;
        }
        if sel.distinct {
            if let Some(c) = columns.iter().find(|c| is_clr(&c.sql_type)) {
                return Err(clr_unsupported(&c.sql_type, "DISTINCT"));
            }
            for (k, _) in &keys {
                if let SortKey::Src(_) = k {
                    return Err(err(145, 15, "ORDER BY items must appear in the select list if SELECT DISTINCT is specified."));
                }
            }
        }
        let rowcount = (self.options.rowcount > 0).then_some(self.options.rowcount as usize);

        // The single-source scan, narrowed to a key range.
        let single = plan.len() == 1;
        let (range, lo, hi) = match plan.first() {
            Some((_, src, _)) if single => match src.rows.leading_key() {
                Some(k) => {
                    let range = key_range(filter.as_ref(), k);
                    let (lo, hi) = range_indices(&src.rows, k, &range);
                    (Some(range), lo, hi)
                }
                None => (None, 0, src.rows.len()),
            },
            Some((_, src, _)) => (None, 0, src.rows.len()),
            None => (None, 0, 1),
        };
        let range_complete = range.as_ref().is_some_and(|r| r.complete) || filter.is_none();

        // Natural order: ORDER BY a prefix of the clustered key, all in its direction or all
        // against it.
        let mut reverse = false;
        let natural = if keys.is_empty() {
            true
        } else if single && !grouped && !sel.distinct {
            let key_cols = plan[0].1.rows.key_columns();
            let mut dir = None;
            keys.len() <= key_cols.len()
                && keys.iter().zip(&key_cols).all(|((k, desc), (col, kdesc))| {
                    let c = match k {
                        SortKey::Out(i) => match project.get(*i) {
                            Some(BExpr::Col(c)) => Some(*c),
                            _ => None,
                        },
                        SortKey::Src(BExpr::Col(c)) => Some(*c),
                        _ => None,
                    };
                    let against = desc != kdesc;
                    let same_dir = *dir.get_or_insert(against) == against;
                    c == Some(*col) && same_dir
                })
                && {
                    reverse = dir.unwrap_or(false);
                    true
                }
        } else {
            false
        };

        // Pre-encoded rows for a plain read of a generated table.
        if allow_encoded
            && single
            && !grouped
            && !sel.distinct
            && natural
            && range_complete
            && !sel.top_percent
        {
            if let Some((_, src, _)) = plan.first() {
                if let SourceRows::Generated { kind, .. } = &src.rows {
                    // Columns, or a column converted from nvarchar to varbinary(max), which
                    // cannot fail (pgmig reads unicode text that way).
                    let cols: Option<Vec<(usize, Option<BExpr>)>> = project
                        .iter()
                        .map(|p| match p {
                            BExpr::Col(c) => Some((*c, None)),
                            BExpr::Convert {
                                e,
                                from: SqlType::NVarChar { .. },
                                to: SqlType::VarBinary { len: None },
                                style: None,
                                try_: false,
                            } => match **e {
                                BExpr::Col(c) => Some((c, Some(p.clone()))),
                                _ => None,
                            },
                            _ => None,
                        })
                        .collect();
                    if let Some(cols) = cols {
                        let mut n = hi - lo;
                        n = n.saturating_sub(skip);
                        if let Some(t) = top {
                            n = n.min(t as usize);
                        }
                        if let Some(f) = fetch {
                            n = n.min(f);
                        }
                        if let Some(r) = rowcount {
                            n = n.min(r);
                        }
                        let (a, z) = if reverse {
                            let z = hi.saturating_sub(skip);
                            (z.saturating_sub(n), z)
                        } else {
                            (lo + skip.min(hi - lo), lo + skip.min(hi - lo) + n)
                        };
                        let rows = kind.encoded_rows(&cols, &columns, a as u64, z as u64, reverse);
                        return Ok(QueryOut {
                            columns,
                            rows: Rows::Encoded(rows),
                        });
                    }
                }
            }
        }

        // Rows: scan, joins, filter.
        let mut rows: SrcIter = match plan.first() {
            Some((_, src, _)) => {
                if single {
                    src.rows.scan(lo, hi, reverse && natural)
                } else {
                    src.rows.scan(0, src.rows.len(), false)
                }
            }
            None => Box::new(std::iter::once(Ok(Row::from(Vec::new())))),
        };
        let mut width = plan
            .first()
            .map(|(_, s, _)| s.table.columns.len())
            .unwrap_or(0);
        for ((kind, src, _), on) in plan.iter().zip(joins_bound).skip(1) {
            let right = src.rows.all_rows();
            let right_width = src.table.columns.len();
            rows = join(rows, right, *kind, on, width, right_width)?;
            width += right_width;
        }
        if let Some(f) = filter.filter(|_| !(single && range_complete)) {
            rows = Box::new(rows.filter_map(move |r| match r {
                Ok(row) => match f.pred(&row) {
                    Ok(Some(true)) => Some(Ok(row)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                },
                Err(e) => Some(Err(e)),
            }));
        }

        let limit = |n: usize| -> usize {
            let mut n = n;
            if let Some(t) = top {
                n = n.min(t as usize);
            }
            if let Some(f) = fetch {
                n = n.min(f);
            }
            if let Some(r) = rowcount {
                n = n.min(r);
            }
            n
        };

        if grouped {
            let post = if let Some(fast) =
                self.fast_aggregate(&plan, &aggs, &group_exprs, lo, hi, range_complete)
            {
                vec![fast]
            } else {
                aggregate_rows(rows, &group_exprs, &aggs)?
            };
            let mut out: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
            for prow in post {
                if let Some(h) = &having {
                    if h.pred(&prow)? != Some(true) {
                        continue;
                    }
                }
                let values = project
                    .iter()
                    .map(|p| p.eval(&prow))
                    .collect::<Result<Vec<_>, _>>()?;
                let sort = keys
                    .iter()
                    .map(|(k, _)| match k {
                        SortKey::Out(i) => Ok(values.get(*i).cloned().unwrap_or(Value::Null)),
                        SortKey::Src(e) => e.eval(&prow),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                out.push((values, sort));
            }
            return Ok(finish_collected(
                columns,
                out,
                &keys,
                sel.distinct,
                top,
                sel.top_percent,
                skip,
                limit,
            ));
        }

        if natural && !sel.distinct && !sel.top_percent {
            let n = limit(usize::MAX);
            let projected = rows
                .map(move |r| {
                    r.and_then(|row| {
                        project
                            .iter()
                            .map(|p| p.eval(&row))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .skip(skip)
                .take(n);
            return Ok(QueryOut {
                columns,
                rows: Rows::Values(fuse_errors(projected)),
            });
        }
        let mut out: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
        for r in rows {
            let row = r?;
            let values = project
                .iter()
                .map(|p| p.eval(&row))
                .collect::<Result<Vec<_>, _>>()?;
            let sort = keys
                .iter()
                .map(|(k, _)| match k {
                    SortKey::Out(i) => Ok(values.get(*i).cloned().unwrap_or(Value::Null)),
                    SortKey::Src(e) => e.eval(&row),
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.push((values, sort));
        }
        Ok(finish_collected(
            columns,
            out,
            &keys,
            sel.distinct,
            top,
            sel.top_percent,
            skip,
            limit,
        ))
    }

    /// COUNT(*)/COUNT_BIG(*) and COUNT/MIN/MAX of the leading key over a key range, without
    /// reading the rows (what pgmig asks before a pull of a large table).
    fn fast_aggregate(
        &self,
        plan: &[(JoinKind, Source, Option<Expr>)],
        aggs: &[AggSpec],
        group_exprs: &[BExpr],
        lo: usize,
        hi: usize,
        range_complete: bool,
    ) -> Option<Vec<Value>> {
        if plan.len() != 1 || !group_exprs.is_empty() || !range_complete || aggs.is_empty() {
            return None;
        }
        let src = &plan[0].1.rows;
        let key = src.leading_key()?;
        let n = hi.saturating_sub(lo);
        let mut out = Vec::new();
        for a in aggs {
            let on_key = match &a.arg {
                None => true,
                Some(t) => matches!(t.e, BExpr::Col(c) if c == key),
            };
            if !on_key || a.distinct && a.func != AggFunc::Min && a.func != AggFunc::Max {
                return None;
            }
            out.push(match a.func {
                AggFunc::Count => Value::Int(i32::try_from(n).ok()?),
                AggFunc::CountBig => Value::BigInt(n as i64),
                AggFunc::Min if n > 0 => src.key_at(lo, key),
                AggFunc::Max if n > 0 => src.key_at(hi - 1, key),
                AggFunc::Min | AggFunc::Max => Value::Null,
                _ => return None,
            });
        }
        Some(out)
    }
}

/// Sorting, DISTINCT and row limits over collected rows.
#[allow(clippy::too_many_arguments)]
fn finish_collected(
    columns: Vec<Column>,
    mut out: Vec<(Vec<Value>, Vec<Value>)>,
    keys: &[(SortKey, bool)],
    distinct: bool,
    top: Option<f64>,
    top_percent: bool,
    skip: usize,
    limit: impl Fn(usize) -> usize,
) -> QueryOut {
    if distinct {
        let mut seen = std::collections::HashSet::new();
        out.retain(|(v, _)| seen.insert(row_key(v)));
    }
    if !keys.is_empty() {
        let desc: Vec<bool> = keys.iter().map(|(_, d)| *d).collect();
        out.sort_by(|a, b| compare_keys(&a.1, &b.1, &desc));
    }
    let n = if top_percent {
        let pct = top.unwrap_or(100.0);
        ((out.len() as f64) * pct / 100.0).ceil() as usize
    } else {
        limit(usize::MAX)
    };
    let rows: Vec<Vec<Value>> = out.into_iter().skip(skip).take(n).map(|(v, _)| v).collect();
    QueryOut {
        columns,
        rows: Rows::Values(Box::new(rows.into_iter().map(Ok))),
    }
}

/// ORDER BY naming an output column: by position or by alias.
fn order_by_output(e: &Expr, columns: &[Column]) -> Result<Option<usize>, SqlError> {
    match e {
        Expr::Lit(Value::Int(n), _) => {
            let i = (*n as usize)
                .checked_sub(1)
                .filter(|i| *i < columns.len() && *n > 0);
            match i {
                Some(i) => Ok(Some(i)),
                None => Err(err(
                    108,
                    15,
                    format!("The ORDER BY position number {n} is out of range of the number of items in the select list."),
                )),
            }
        }
        Expr::Lit(..) => Err(err(
            408,
            16,
            "A constant expression was encountered in the ORDER BY list, position 1.",
        )),
        Expr::Column(p) if p.len() == 1 => {
            let matches: Vec<usize> = columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.name.eq_ignore_ascii_case(&p[0]))
                .map(|(i, _)| i)
                .collect();
            Ok(matches.first().copied())
        }
        _ => Ok(None),
    }
}

/// The result column of a select item.
fn output_column(e: &Expr, alias: Option<&str>, t: &Typed, source: Option<&Column>) -> Column {
    let name = match (alias, e, source) {
        (Some(a), _, _) => a.to_string(),
        (None, Expr::Column(p), _) => p.last().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    Column {
        name,
        sql_type: t.ty.clone(),
        nullable: t.nullable,
        identity: alias.is_none() && source.is_some_and(|c| c.identity),
        computed: source.is_some_and(|c| c.computed),
    }
}

fn join(
    left: SrcIter,
    right: Arc<Vec<Row>>,
    kind: JoinKind,
    on: Option<BExpr>,
    left_width: usize,
    right_width: usize,
) -> Result<SrcIter, SqlError> {
    let combine = move |l: &[Value], r: Option<&[Value]>| -> Row {
        let mut v = Vec::with_capacity(left_width + right_width);
        v.extend_from_slice(l);
        match r {
            Some(r) => v.extend_from_slice(r),
            None => v.extend(std::iter::repeat_n(Value::Null, right_width)),
        }
        Row::from(v)
    };
    let matches = move |on: &Option<BExpr>, row: &Row| -> Result<bool, SqlError> {
        match on {
            Some(on) => Ok(on.pred(row)? == Some(true)),
            None => Ok(true),
        }
    };
    if kind == JoinKind::Right {
        let left: Vec<Row> = left.collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for r in right.iter() {
            let mut any = false;
            for l in &left {
                let c = combine(l, Some(r));
                if matches(&on, &c)? {
                    any = true;
                    out.push(c);
                }
            }
            if !any {
                let mut v: Vec<Value> = std::iter::repeat_n(Value::Null, left_width).collect();
                v.extend_from_slice(r);
                out.push(Row::from(v));
            }
        }
        return Ok(Box::new(out.into_iter().map(Ok)));
    }
    Ok(fuse_errors(left.flat_map(move |l| {
        let l = match l {
            Ok(l) => l,
            Err(e) => return vec![Err(e)],
        };
        let mut out = Vec::new();
        for r in right.iter() {
            let c = combine(&l, Some(r));
            match matches(&on, &c) {
                Ok(true) => out.push(Ok(c)),
                Ok(false) => {}
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
        if out.is_empty() && kind == JoinKind::Left {
            out.push(Ok(combine(&l, None)));
        }
        out
    })))
}

/// Aggregate state of one aggregate in one group.
enum AggState {
    Count(i64),
    Extreme(Option<Value>),
    Sum(Option<Value>),
    Avg { sum: Option<Value>, n: i64 },
}

fn aggregate_rows(
    rows: SrcIter,
    group_exprs: &[BExpr],
    aggs: &[AggSpec],
) -> Result<Vec<Vec<Value>>, SqlError> {
    let new_states = || -> Vec<(AggState, Option<std::collections::HashSet<Vec<u8>>>)> {
        aggs.iter()
            .map(|a| {
                let s = match a.func {
                    AggFunc::Count | AggFunc::CountBig => AggState::Count(0),
                    AggFunc::Min | AggFunc::Max => AggState::Extreme(None),
                    AggFunc::Sum => AggState::Sum(None),
                    AggFunc::Avg => AggState::Avg { sum: None, n: 0 },
                };
                (s, a.distinct.then(std::collections::HashSet::new))
            })
            .collect()
    };
    type Group = (
        Vec<Value>,
        Vec<(AggState, Option<std::collections::HashSet<Vec<u8>>>)>,
    );
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    for r in rows {
        let row = r?;
        let gvals = group_exprs
            .iter()
            .map(|g| g.eval(&row))
            .collect::<Result<Vec<_>, _>>()?;
        let key = row_key(&gvals);
        let gi = match index.get(&key) {
            Some(i) => *i,
            None => {
                groups.push((gvals, new_states()));
                index.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        for (spec, (state, seen)) in aggs.iter().zip(groups[gi].1.iter_mut()) {
            let v = match &spec.arg {
                None => Value::Int(1),
                Some(a) => a.e.eval(&row)?,
            };
            if matches!(v, Value::Null) {
                continue;
            }
            if let Some(seen) = seen {
                let mut k = Vec::new();
                key_bytes(&v, &mut k);
                if !seen.insert(k) {
                    continue;
                }
            }
            match state {
                AggState::Count(n) => *n += 1,
                AggState::Extreme(cur) => {
                    let replace = match cur {
                        None => true,
                        Some(c) => {
                            let o = order_cmp(&v, c);
                            if spec.func == AggFunc::Min {
                                o == Ordering::Less
                            } else {
                                o == Ordering::Greater
                            }
                        }
                    };
                    if replace {
                        *cur = Some(v);
                    }
                }
                AggState::Sum(acc) => {
                    let from = convert::value_type(&v);
                    let v = convert::convert(&v, &from, &spec.ty, None)?;
                    *acc = Some(match acc.take() {
                        None => v,
                        Some(a) => add_values(&a, &v, &spec.ty)?,
                    });
                }
                AggState::Avg { sum, n } => {
                    let wide = avg_accumulator(&spec.ty);
                    let from = convert::value_type(&v);
                    let v = convert::convert(&v, &from, &wide, None)?;
                    *sum = Some(match sum.take() {
                        None => v,
                        Some(a) => add_values(&a, &v, &wide)?,
                    });
                    *n += 1;
                }
            }
        }
    }
    if groups.is_empty() && group_exprs.is_empty() {
        groups.push((Vec::new(), new_states()));
    }
    let mut out = Vec::with_capacity(groups.len());
    for (gvals, states) in groups {
        let mut row = gvals;
        for (spec, (state, _)) in aggs.iter().zip(states) {
            row.push(match state {
                AggState::Count(n) => {
                    if spec.func == AggFunc::CountBig {
                        Value::BigInt(n)
                    } else {
                        Value::Int(i32::try_from(n).map_err(|_| {
                            err(
                                8115,
                                16,
                                "Arithmetic overflow error converting expression to data type int.",
                            )
                        })?)
                    }
                }
                AggState::Extreme(v) | AggState::Sum(v) => v.unwrap_or(Value::Null),
                AggState::Avg { sum, n } => match sum {
                    None => Value::Null,
                    Some(s) => average(&s, n, &spec.ty)?,
                },
            });
        }
        out.push(row);
    }
    Ok(out)
}

fn avg_accumulator(ty: &SqlType) -> SqlType {
    match ty {
        SqlType::Int | SqlType::BigInt => SqlType::Decimal {
            precision: 38,
            scale: 0,
            numeric: false,
        },
        SqlType::Money => SqlType::Decimal {
            precision: 38,
            scale: 4,
            numeric: false,
        },
        other => other.clone(),
    }
}

fn add_values(a: &Value, b: &Value, ty: &SqlType) -> Result<Value, SqlError> {
    let e = BExpr::Arith(
        BinOp::Add,
        Box::new(BExpr::Const(a.clone())),
        Box::new(BExpr::Const(b.clone())),
        ty.clone(),
    );
    e.eval(&[])
}

fn average(sum: &Value, n: i64, ty: &SqlType) -> Result<Value, SqlError> {
    if n == 0 {
        return Ok(Value::Null);
    }
    match ty {
        SqlType::Float | SqlType::Real => Ok(Value::Float(
            convert::float_value(sum).unwrap_or(0.0) / n as f64,
        )),
        _ => {
            let (v, s) = convert::decimal_value(sum).unwrap_or((0, 0));
            let (target_scale, integer) = match ty {
                SqlType::Decimal { scale, .. } => (*scale, false),
                SqlType::Money => (4, false),
                _ => (0, true),
            };
            let scaled = convert::rescale(v, s, target_scale).ok_or_else(|| {
                err(
                    8115,
                    16,
                    "Arithmetic overflow error converting expression to data type numeric.",
                )
            })?;
            let q = if integer {
                scaled / n as i128
            } else {
                let q = scaled / n as i128;
                let r = scaled % n as i128;
                if r.unsigned_abs() * 2 >= n.unsigned_abs() as u128 {
                    q + scaled.signum()
                } else {
                    q
                }
            };
            let dec = Value::Decimal {
                value: q,
                scale: target_scale,
            };
            convert::convert(&dec, &convert::value_type(&dec), ty, None)
        }
    }
}

/// Whether a select list's items are aggregates only (for callers that need to know).
pub fn is_aggregate_name(name: &str) -> bool {
    agg_func(&name.to_ascii_uppercase()).is_some()
}

/// The sort keys of an ORDER BY: an output column (by position, name or alias) or an expression
/// bound by `bind` (the grouped query's binder sees only grouped columns and aggregates).
fn order_keys(
    order_by: &[OrderItem],
    columns: &[Column],
    mut bind: impl FnMut(&Expr) -> Result<Typed, SqlError>,
) -> Result<Vec<(SortKey, bool)>, SqlError> {
    order_by
        .iter()
        .map(|OrderItem { expr, desc }| {
            let key = match order_by_output(expr, columns)? {
                Some(i) => {
                    clr_order_check(&columns[i].sql_type)?;
                    SortKey::Out(i)
                }
                None => {
                    let t = bind(expr)?;
                    clr_order_check(&t.ty)?;
                    SortKey::Src(t.e)
                }
            };
            Ok((key, *desc))
        })
        .collect()
}

/// ORDER BY on a CLR type is not implemented.
fn clr_order_check(t: &SqlType) -> Result<(), SqlError> {
    if is_clr(t) {
        return Err(clr_unsupported(t, "ORDER BY"));
    }
    Ok(())
}
