//! Expressions: names bound to columns of a [`Scope`], types worked out as SQL Server does
//! (precedence, decimal precision/scale, implicit conversions), and evaluation over a row.
//!
//! Binding happens once per statement, before any row is read, so that a bad name or type is
//! reported before a result starts, as SQL Server compiles a statement before running it.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use super::ast::{BinOp, Expr, Select};
use super::convert::{self, err, is_string, is_unicode, precedence, type_name};
use super::{Engine, Session};
use crate::types::{Collation, Column, SqlError, SqlType, Value};

const CO: Collation = Collation::SQL_LATIN1_GENERAL_CP1_CI_AS;

// ---------------------------------------------------------------------------------------
// Scopes

/// One table (or view, derived table) visible to a statement.
#[derive(Debug, Clone)]
pub struct ScopeTable {
    pub database: Option<String>,
    pub schema: Option<String>,
    pub name: String,
    pub alias: Option<String>,
    pub columns: Vec<Column>,
    /// Position of the first column in the combined row.
    pub offset: usize,
}

/// The tables of a FROM clause; a row is their columns side by side.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub tables: Vec<ScopeTable>,
    pub width: usize,
}

impl Scope {
    pub fn push(&mut self, mut table: ScopeTable) {
        table.offset = self.width;
        self.width += table.columns.len();
        self.tables.push(table);
    }

    pub fn column(&self, index: usize) -> Option<&Column> {
        self.tables
            .iter()
            .find_map(|t| index.checked_sub(t.offset).and_then(|i| t.columns.get(i)))
    }

    /// Tables a qualifier (`t`, `s.t`, `db.s.t`) names.
    fn tables_named<'a>(&'a self, qualifier: &'a [String]) -> impl Iterator<Item = &'a ScopeTable> {
        self.tables.iter().filter(move |t| {
            let Some((last, rest)) = qualifier.split_last() else {
                return false;
            };
            if let Some(alias) = &t.alias {
                return rest.is_empty() && alias.eq_ignore_ascii_case(last);
            }
            if !t.name.eq_ignore_ascii_case(last) {
                return false;
            }
            let schema_ok = match (rest.last(), &t.schema) {
                (None, _) => true,
                (Some(s), Some(ts)) => s.eq_ignore_ascii_case(ts) || s.is_empty(),
                (Some(s), None) => s.is_empty(),
            };
            let db_ok = match (rest.len(), &t.database) {
                (0 | 1, _) => true,
                (_, Some(d)) => rest[0].eq_ignore_ascii_case(d) || rest[0].is_empty(),
                (_, None) => false,
            };
            schema_ok && db_ok
        })
    }

    /// Resolves a column reference: `Ok(None)` when nothing of that name is visible.
    pub fn resolve(&self, parts: &[String]) -> Result<Option<usize>, SqlError> {
        let Some((name, qualifier)) = parts.split_last() else {
            return Ok(None);
        };
        if qualifier.is_empty() {
            let mut found = None;
            for t in &self.tables {
                if let Some(i) = t
                    .columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(name))
                {
                    if found.is_some() {
                        return Err(err(209, 16, format!("Ambiguous column name '{name}'.")));
                    }
                    found = Some(t.offset + i);
                }
            }
            return Ok(found);
        }
        let mut tables = self.tables_named(qualifier).peekable();
        if tables.peek().is_none() {
            return Ok(None);
        }
        for t in tables {
            if let Some(i) = t
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(name))
            {
                return Ok(Some(t.offset + i));
            }
        }
        Err(invalid_column(name))
    }

    /// Whether a qualifier names a table in scope.
    pub fn has_table(&self, qualifier: &[String]) -> bool {
        self.tables_named(qualifier).next().is_some()
    }
}

/// Error 8120 for column `index` of the scope, named as SQL Server names it (the table's
/// alias, or schema and table, then the column).
pub fn not_grouped(scope: &Scope, index: usize) -> SqlError {
    let shown = scope
        .tables
        .iter()
        .find(|t| index >= t.offset && index < t.offset + t.columns.len())
        .map(|t| {
            let column = &t.columns[index - t.offset].name;
            match (&t.alias, &t.schema) {
                (Some(a), _) => format!("{a}.{column}"),
                (None, Some(s)) => format!("{s}.{}.{column}", t.name),
                (None, None) => format!("{}.{column}", t.name),
            }
        })
        .unwrap_or_default();
    err(
        8120,
        16,
        format!("Column '{shown}' is invalid in the select list because it is not contained in either an aggregate function or the GROUP BY clause."),
    )
}

pub fn invalid_column(name: &str) -> SqlError {
    err(207, 16, format!("Invalid column name '{name}'."))
}

pub fn not_bound(parts: &[String]) -> SqlError {
    err(
        4104,
        16,
        format!(
            "The multi-part identifier \"{}\" could not be bound.",
            parts.join(".")
        ),
    )
}

/// Error 40517: valid T-SQL this engine does not implement.
pub fn unsupported(what: &str) -> SqlError {
    err(
        40517,
        16,
        format!(
            "Keyword or statement option '{what}' is not supported in this version of SQL Server."
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Bound expressions

/// Scalar functions evaluated per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    IsNull,
    Coalesce,
    NullIf,
    Len,
    DataLength,
    Upper,
    Lower,
    LTrim,
    RTrim,
    Trim,
    Substring,
    Left,
    Right,
    Replace,
    CharIndex,
    Concat,
    Replicate,
    /// NCHAR(n): the UTF-16 code unit n as nchar(1).
    NChar,
    /// CHAR(n): byte n of the collation's code page (1252) as char(1).
    Char,
    Reverse,
    Abs,
    Floor,
    Ceiling,
    Sign,
    Round,
    Power,
    Sqrt,
    Year,
    Month,
    Day,
    DateAdd(DatePart),
    DateDiff(DatePart),
    DatePartOf(DatePart),
    IsNumeric,
    NewId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    Year,
    Quarter,
    Month,
    DayOfYear,
    Day,
    Week,
    WeekDay,
    Hour,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    Nanosecond,
}

/// Functions that read the catalog; evaluated per row (e.g. OBJECT_NAME(o.object_id)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysFunc {
    ObjectId,
    ObjectName,
    ObjectSchemaName,
    SchemaName,
    SchemaId,
    DbName,
    DbId,
    TypeName,
}

/// What catalog functions need: the engine and the session's database.
pub struct SysCtx {
    pub engine: Engine,
    pub database: String,
}

impl std::fmt::Debug for SysCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SysCtx({})", self.database)
    }
}

#[derive(Debug, Clone)]
pub enum BExpr {
    Const(Value),
    Col(usize),
    Neg(Box<BExpr>),
    BitNot(Box<BExpr>),
    /// Arithmetic in result type `ty` (operands of any numeric type).
    Arith(BinOp, Box<BExpr>, Box<BExpr>, SqlType),
    Concat(Box<BExpr>, Box<BExpr>),
    /// datetime/smalldatetime plus or minus a number of days.
    DateArith(bool, Box<BExpr>, Box<BExpr>, SqlType),
    /// A comparison of operands brought to comparable types; `bool` = binary collation.
    Cmp(BinOp, Box<BExpr>, Box<BExpr>, bool),
    And(Box<BExpr>, Box<BExpr>),
    Or(Box<BExpr>, Box<BExpr>),
    Not(Box<BExpr>),
    IsNull(Box<BExpr>, bool),
    InList(Box<BExpr>, Vec<BExpr>, bool, bool),
    Like(Box<BExpr>, Box<BExpr>, bool),
    Convert {
        e: Box<BExpr>,
        from: SqlType,
        to: SqlType,
        style: Option<i64>,
        try_: bool,
    },
    /// Searched CASE (a simple CASE is rewritten to one).
    Case(Vec<(BExpr, BExpr)>, Option<Box<BExpr>>),
    Func(Func, Vec<BExpr>, SqlType),
    Sys(SysFunc, Vec<BExpr>, Arc<SysCtx>),
    /// `x IN (SELECT ..)` against the subquery's values, computed before the statement ran.
    InValues(Box<BExpr>, Arc<Vec<Value>>, bool, bool),
}

/// A bound expression with its SQL Server type.
#[derive(Debug, Clone)]
pub struct Typed {
    pub e: BExpr,
    pub ty: SqlType,
    pub nullable: bool,
}

impl Typed {
    pub fn constant(v: Value, ty: SqlType) -> Typed {
        let nullable = matches!(v, Value::Null);
        Typed {
            e: BExpr::Const(v),
            ty,
            nullable,
        }
    }
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    CountBig,
    Min,
    Max,
    Sum,
    Avg,
}

/// One aggregate of a grouped query; its argument is bound against the source rows.
#[derive(Debug, Clone)]
pub struct AggSpec {
    pub func: AggFunc,
    /// None = `COUNT(*)`.
    pub arg: Option<Typed>,
    pub distinct: bool,
    pub ty: SqlType,
}

pub fn agg_func(name: &str) -> Option<AggFunc> {
    Some(match name {
        "COUNT" => AggFunc::Count,
        "COUNT_BIG" => AggFunc::CountBig,
        "MIN" => AggFunc::Min,
        "MAX" => AggFunc::Max,
        "SUM" => AggFunc::Sum,
        "AVG" => AggFunc::Avg,
        _ => return None,
    })
}

/// Whether an expression contains an aggregate (outside subqueries).
pub fn has_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Func { name, args, .. } => agg_func(name).is_some() || args.iter().any(has_aggregate),
        Expr::Neg(a) | Expr::BitNot(a) | Expr::Not(a) | Expr::IsNull(a, _) => has_aggregate(a),
        Expr::Cast(a, _) => has_aggregate(a),
        Expr::Convert { expr, .. } => has_aggregate(expr),
        Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) | Expr::Like(a, b, _) => {
            has_aggregate(a) || has_aggregate(b)
        }
        Expr::InList(a, list, _) => has_aggregate(a) || list.iter().any(has_aggregate),
        Expr::Between(a, b, c, _) => has_aggregate(a) || has_aggregate(b) || has_aggregate(c),
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            operand.as_deref().is_some_and(has_aggregate)
                || whens
                    .iter()
                    .any(|(w, t)| has_aggregate(w) || has_aggregate(t))
                || otherwise.as_deref().is_some_and(has_aggregate)
        }
        Expr::InSelect(a, _, _) => has_aggregate(a),
        _ => false,
    }
}

/// Post-aggregation binding: group expressions and the aggregates found so far.
pub struct AggCtx {
    pub groups: Vec<Expr>,
    pub group_types: Vec<(SqlType, bool)>,
    pub aggs: Vec<AggSpec>,
}

pub struct Binder<'a> {
    pub sess: &'a Session,
    pub scope: &'a Scope,
    /// The enclosing query's scope, only to recognise correlated subqueries.
    pub outer: Option<&'a Scope>,
    /// Set while binding the select list, HAVING and ORDER BY of a grouped query: the row
    /// is then [group values..., aggregate values...].
    pub agg: Option<AggCtx>,
}

fn op_name(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "add",
        BinOp::Sub => "subtract",
        BinOp::Mul => "multiply",
        BinOp::Div => "divide",
        BinOp::Mod => "modulo",
        BinOp::BitAnd => "boolean AND",
        BinOp::BitOr => "boolean OR",
        BinOp::BitXor => "boolean XOR",
        BinOp::Eq => "equal to",
        BinOp::Ne => "not equal to",
        BinOp::Lt => "less than",
        BinOp::Le => "less than or equal to",
        BinOp::Gt => "greater than",
        BinOp::Ge => "greater than or equal to",
    }
}

fn incompatible(l: &SqlType, r: &SqlType, op: &str) -> SqlError {
    err(
        402,
        16,
        format!(
            "The data types {} and {} are incompatible in the {op} operator.",
            type_name(l),
            type_name(r)
        ),
    )
}

fn invalid_operand(t: &SqlType, op: &str) -> SqlError {
    err(
        8117,
        16,
        format!(
            "Operand data type {} is invalid for {op} operator.",
            type_name(t)
        ),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Number,
    Text,
    Temporal,
    Binary,
    Guid,
    Other,
}

fn family(t: &SqlType) -> Family {
    if convert::is_numeric(t) {
        Family::Number
    } else if is_string(t) && !matches!(t, SqlType::Xml) {
        Family::Text
    } else if matches!(
        t,
        SqlType::Date
            | SqlType::Time { .. }
            | SqlType::DateTime
            | SqlType::SmallDateTime
            | SqlType::DateTime2 { .. }
            | SqlType::DateTimeOffset { .. }
    ) {
        Family::Temporal
    } else if convert::is_binary(t) {
        Family::Binary
    } else if *t == SqlType::UniqueIdentifier {
        Family::Guid
    } else {
        Family::Other
    }
}

pub fn is_clr(t: &SqlType) -> bool {
    matches!(t, SqlType::Clr(_))
}

/// 40517 for an operation on a CLR type (hierarchyid, geometry, geography) the engine does
/// not implement: comparisons, ordering, grouping, arithmetic, functions, methods.
pub fn clr_unsupported(t: &SqlType, what: &str) -> SqlError {
    unsupported(&format!("{what} on {} values", type_name(t)))
}

fn is_lob(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::Text { .. } | SqlType::NText { .. } | SqlType::Image | SqlType::Xml
    )
}

/// Whether SQL Server converts `from` to `to` implicitly; the error it gives when not.
pub fn implicit_check(from: &SqlType, to: &SqlType) -> Result<(), SqlError> {
    use Family::*;
    if from == to {
        return Ok(());
    }
    if is_clr(from) || is_clr(to) {
        return convert::clr_conversion(from, to, false);
    }
    let clash = || convert::operand_type_clash(from, to);
    let ok = match (family(from), family(to)) {
        (_, Other) if *to == SqlType::SqlVariant => true,
        (Text, Binary) => {
            return Err(SqlError::new(
                257,
                3,
                16,
                format!(
                    "Implicit conversion from data type {} to {} is not allowed. Use the CONVERT function to run this query.",
                    type_name(from),
                    type_name(to)
                ),
            ))
        }
        (Text, _) => !matches!(to, SqlType::RowVersion),
        (Other, Text) if *from == SqlType::Xml => false,
        (_, Text) => !is_lob(to) || is_string(from),
        (Number, Number) => true,
        (Number, Temporal) => {
            matches!(to, SqlType::DateTime | SqlType::SmallDateTime)
                && !matches!(from, SqlType::Real | SqlType::Float)
                || matches!(from, SqlType::Float | SqlType::Real)
                    && matches!(to, SqlType::DateTime | SqlType::SmallDateTime)
        }
        (Number, Binary) => !matches!(from, SqlType::Real | SqlType::Float),
        (Temporal, Temporal) => {
            !(matches!(from, SqlType::Date) && matches!(to, SqlType::Time { .. })
                || matches!(from, SqlType::Time { .. }) && matches!(to, SqlType::Date))
        }
        (Temporal, Number) => matches!(from, SqlType::DateTime | SqlType::SmallDateTime),
        (Binary, Binary) => true,
        (Binary, Number) => !matches!(to, SqlType::Real | SqlType::Float),
        (Binary, Temporal) => matches!(to, SqlType::DateTime | SqlType::SmallDateTime),
        (Binary, Guid) | (Guid, Binary) => true,
        (Binary, Other) => *to == SqlType::Xml,
        (Guid, Guid) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(clash())
    }
}

/// Exact numeric types as (precision, scale).
fn exact_shape(t: &SqlType) -> Option<(u8, u8)> {
    Some(match t {
        SqlType::Bit => (1, 0),
        SqlType::TinyInt => (3, 0),
        SqlType::SmallInt => (5, 0),
        SqlType::Int => (10, 0),
        SqlType::BigInt => (19, 0),
        SqlType::Decimal {
            precision, scale, ..
        } => (*precision, *scale),
        SqlType::Money => (19, 4),
        SqlType::SmallMoney => (10, 4),
        _ => return None,
    })
}

/// SQL Server's result precision and scale of decimal arithmetic, capped at 38.
fn decimal_result(op: BinOp, (p1, s1): (u8, u8), (p2, s2): (u8, u8)) -> (u8, u8) {
    let (p1, s1, p2, s2) = (p1 as i32, s1 as i32, p2 as i32, s2 as i32);
    let (p, s) = match op {
        BinOp::Add | BinOp::Sub => {
            let s = s1.max(s2);
            (s + (p1 - s1).max(p2 - s2) + 1, s)
        }
        BinOp::Mul => (p1 + p2 + 1, s1 + s2),
        BinOp::Div => {
            let s = 6.max(s1 + p2 + 1);
            (p1 - s1 + s2 + s, s)
        }
        _ => {
            let s = s1.max(s2);
            ((p1 - s1).min(p2 - s2) + s, s)
        }
    };
    if p <= 38 {
        return (p.max(1) as u8, s as u8);
    }
    let int = p - s;
    let s = if 38 - int >= s {
        s
    } else {
        (38 - int).max(s.min(6))
    };
    (38, s.clamp(0, 38) as u8)
}

/// The type of `l op r` for arithmetic operators.
fn arith_type(op: BinOp, l: &SqlType, r: &SqlType) -> Result<SqlType, SqlError> {
    let name = op_name(op);
    for t in [l, r] {
        if is_clr(t) {
            return Err(clr_unsupported(t, &format!("the {name} operator")));
        }
    }
    if matches!(op, BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor) {
        let ok = |t: &SqlType| convert::is_integer(t) || convert::is_binary(t);
        if !ok(l) || !ok(r) || convert::is_binary(l) && convert::is_binary(r) {
            return Err(incompatible(l, r, name));
        }
        return Ok(if precedence(l) >= precedence(r) {
            l.clone()
        } else {
            r.clone()
        });
    }
    for t in [l, r] {
        if is_lob(t) || *t == SqlType::UniqueIdentifier || *t == SqlType::SqlVariant {
            return Err(invalid_operand(t, name));
        }
    }
    let (fl, fr) = (family(l), family(r));
    if fl == Family::Text && fr == Family::Text {
        if op != BinOp::Add {
            return Err(invalid_operand(l, name));
        }
        return Ok(concat_type(l, r));
    }
    if fl == Family::Temporal || fr == Family::Temporal {
        let (d, n) = if fl == Family::Temporal {
            (l, r)
        } else {
            (r, l)
        };
        let date_ok = matches!(d, SqlType::DateTime | SqlType::SmallDateTime)
            && matches!(op, BinOp::Add | BinOp::Sub)
            && (family(n) == Family::Number || family(n) == Family::Temporal && n == d);
        if date_ok && !(fl != Family::Temporal && op == BinOp::Sub) {
            return Ok(d.clone());
        }
        return Err(invalid_operand(d, name));
    }
    let num = |t: &SqlType| family(t) == Family::Number || family(t) == Family::Text;
    if !num(l) || !num(r) {
        return Err(incompatible(l, r, name));
    }
    // A string operand takes the other operand's numeric type.
    let l = if fl == Family::Text { r } else { l };
    let r = if fr == Family::Text { l } else { r };
    if *l == SqlType::Bit && *r == SqlType::Bit {
        return Err(invalid_operand(l, name));
    }
    let hi = if precedence(l) >= precedence(r) { l } else { r };
    Ok(match hi {
        SqlType::Float | SqlType::Real => hi.clone(),
        SqlType::Decimal { .. } => {
            let (p, s) = decimal_result(
                op,
                exact_shape(l).unwrap_or((38, 0)),
                exact_shape(r).unwrap_or((38, 0)),
            );
            SqlType::Decimal {
                precision: p,
                scale: s,
                numeric: matches!(hi, SqlType::Decimal { numeric: true, .. }),
            }
        }
        SqlType::Bit => SqlType::Int,
        other => other.clone(),
    })
}

fn concat_type(l: &SqlType, r: &SqlType) -> SqlType {
    let unicode = is_unicode(l) || is_unicode(r);
    let len = |t: &SqlType| -> Option<u32> {
        match t {
            SqlType::Char { len, .. } | SqlType::NChar { len, .. } => Some(*len as u32),
            SqlType::VarChar { len, .. } | SqlType::NVarChar { len, .. } => len.map(|l| l as u32),
            _ => None,
        }
    };
    let total = match (len(l), len(r)) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    };
    let cap = if unicode { 4000 } else { 8000 };
    let len = total.filter(|t| *t <= cap).map(|t| t.max(1) as u16);
    if unicode {
        SqlType::NVarChar { len, collation: CO }
    } else {
        SqlType::VarChar { len, collation: CO }
    }
}

fn binary_collation(t: &SqlType) -> bool {
    convert::collation_of(t).is_some_and(|c| c.name.to_ascii_uppercase().contains("_BIN"))
}

/// Converts an expression to `to` (implicitly): folded when constant.
pub fn coerce(t: Typed, to: &SqlType) -> Result<Typed, SqlError> {
    if t.ty == *to {
        return Ok(t);
    }
    if is_null_const(&t) {
        return Ok(Typed {
            ty: to.clone(),
            ..t
        });
    }
    implicit_check(&t.ty, to)?;
    Ok(convert_expr(t, to.clone(), None, false))
}

/// Wraps an expression in a conversion (CAST/CONVERT or implicit), folding constants.
pub fn convert_expr(t: Typed, to: SqlType, style: Option<i64>, try_: bool) -> Typed {
    if let BExpr::Const(v) = &t.e {
        if let Ok(folded) = convert::convert(v, &t.ty, &to, style) {
            let nullable = matches!(folded, Value::Null);
            return Typed {
                e: BExpr::Const(folded),
                ty: to,
                nullable,
            };
        }
    }
    Typed {
        e: BExpr::Convert {
            e: Box::new(t.e),
            from: t.ty,
            to: to.clone(),
            style,
            try_,
        },
        ty: to,
        nullable: t.nullable || try_,
    }
}

/// Brings two operands to types that compare directly; the flag is a binary collation.
pub fn comparable(l: Typed, r: Typed, op: &str) -> Result<(Typed, Typed, bool), SqlError> {
    for t in [&l.ty, &r.ty] {
        if is_clr(t) {
            return Err(clr_unsupported(t, &format!("the {op} operator")));
        }
    }
    // A NULL constant has no type of its own: nothing to convert.
    if is_null_const(&l) || is_null_const(&r) {
        let binary = binary_collation(&l.ty) || binary_collation(&r.ty);
        return Ok((l, r, binary));
    }
    if is_lob(&l.ty) || is_lob(&r.ty) {
        return Err(incompatible(&l.ty, &r.ty, op));
    }
    let (fl, fr) = (family(&l.ty), family(&r.ty));
    let binary = binary_collation(&l.ty) || binary_collation(&r.ty);
    if fl == fr && fl != Family::Other {
        if fl == Family::Temporal {
            let time = |t: &SqlType| matches!(t, SqlType::Time { .. });
            if time(&l.ty) != time(&r.ty) {
                return Err(convert::operand_type_clash(&l.ty, &r.ty));
            }
        }
        return Ok((l, r, binary));
    }
    if precedence(&l.ty) >= precedence(&r.ty) {
        let to = l.ty.clone();
        let r = coerce(r, &to)?;
        Ok((l, r, binary))
    } else {
        let to = r.ty.clone();
        let l = coerce(l, &to)?;
        Ok((l, r, binary))
    }
}

/// A NULL constant (the literal NULL, or a NULL variable): typeless for typing decisions.
pub fn is_null_const(t: &Typed) -> bool {
    matches!(t.e, BExpr::Const(Value::Null))
}

/// The common type of expressions, NULL constants left out.
fn common_of_typed(ts: &[&Typed]) -> SqlType {
    let typed: Vec<SqlType> = ts
        .iter()
        .filter(|t| !is_null_const(t))
        .map(|t| t.ty.clone())
        .collect();
    if typed.is_empty() {
        return ts.first().map(|t| t.ty.clone()).unwrap_or(SqlType::Int);
    }
    common_of(&typed)
}

/// The common type of CASE branches, COALESCE arguments and UNION columns.
pub fn common_of(types: &[SqlType]) -> SqlType {
    let mut best = types.first().cloned().unwrap_or(SqlType::Int);
    for t in &types[1.min(types.len())..] {
        if precedence(t) > precedence(&best) {
            best = t.clone();
        } else if precedence(t) == precedence(&best) {
            best = widen(&best, t);
        }
    }
    best
}

/// The wider of two types of the same kind (varchar(10) and varchar(20): varchar(20)).
fn widen(a: &SqlType, b: &SqlType) -> SqlType {
    match (a, b) {
        (SqlType::VarChar { len: x, collation }, SqlType::VarChar { len: y, .. }) => {
            SqlType::VarChar {
                len: x.zip(*y).map(|(x, y)| x.max(y)),
                collation: *collation,
            }
        }
        (SqlType::NVarChar { len: x, collation }, SqlType::NVarChar { len: y, .. }) => {
            SqlType::NVarChar {
                len: x.zip(*y).map(|(x, y)| x.max(y)),
                collation: *collation,
            }
        }
        (SqlType::VarBinary { len: x }, SqlType::VarBinary { len: y }) => SqlType::VarBinary {
            len: x.zip(*y).map(|(x, y)| x.max(y)),
        },
        (
            SqlType::Decimal {
                precision: p1,
                scale: s1,
                numeric,
            },
            SqlType::Decimal {
                precision: p2,
                scale: s2,
                ..
            },
        ) => {
            let s = (*s1).max(*s2);
            let int = (p1 - s1).max(p2 - s2);
            SqlType::Decimal {
                precision: (int + s).min(38),
                scale: s,
                numeric: *numeric,
            }
        }
        (SqlType::Char { len: x, collation }, SqlType::Char { len: y, .. }) => SqlType::Char {
            len: (*x).max(*y),
            collation: *collation,
        },
        (SqlType::NChar { len: x, collation }, SqlType::NChar { len: y, .. }) => SqlType::NChar {
            len: (*x).max(*y),
            collation: *collation,
        },
        _ => a.clone(),
    }
}

fn nvarchar(len: Option<u16>) -> SqlType {
    SqlType::NVarChar { len, collation: CO }
}

fn varchar(len: Option<u16>) -> SqlType {
    SqlType::VarChar { len, collation: CO }
}

/// The string type of the same kind and length as `t` (for UPPER, LTRIM, ...).
fn string_result(t: &SqlType) -> SqlType {
    match t {
        SqlType::Char { len, collation } => SqlType::VarChar {
            len: Some(*len),
            collation: *collation,
        },
        SqlType::NChar { len, collation } => SqlType::NVarChar {
            len: Some(*len),
            collation: *collation,
        },
        SqlType::Text { collation } => SqlType::VarChar {
            len: None,
            collation: *collation,
        },
        SqlType::NText { collation } => SqlType::NVarChar {
            len: None,
            collation: *collation,
        },
        t if is_string(t) => t.clone(),
        _ => varchar(Some(30)),
    }
}

fn date_part(name: &str) -> Option<DatePart> {
    Some(match name.to_ascii_lowercase().as_str() {
        "year" | "yy" | "yyyy" => DatePart::Year,
        "quarter" | "qq" | "q" => DatePart::Quarter,
        "month" | "mm" | "m" => DatePart::Month,
        "dayofyear" | "dy" | "y" => DatePart::DayOfYear,
        "day" | "dd" | "d" => DatePart::Day,
        "week" | "wk" | "ww" => DatePart::Week,
        "weekday" | "dw" | "w" => DatePart::WeekDay,
        "hour" | "hh" => DatePart::Hour,
        "minute" | "mi" | "n" => DatePart::Minute,
        "second" | "ss" | "s" => DatePart::Second,
        "millisecond" | "ms" => DatePart::Millisecond,
        "microsecond" | "mcs" => DatePart::Microsecond,
        "nanosecond" | "ns" => DatePart::Nanosecond,
        _ => return None,
    })
}

fn argument_count(name: &str, n: usize) -> SqlError {
    err(
        174,
        15,
        format!(
            "The {} function requires {n} argument(s).",
            name.to_ascii_lowercase()
        ),
    )
}

/// Days and 100 ns ticks of "now" (UTC; the test server has no time zone).
pub fn now_parts() -> (i64, u64) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ticks = since_epoch.as_nanos() / 100;
    let day_ticks = convert::TICKS_PER_DAY as u128;
    let days = (ticks / day_ticks) as i64 + convert::days_from_civil(1970, 1, 1);
    (days, (ticks % day_ticks) as u64)
}

/// Now as a datetime value (create_date of tables).
pub fn now_datetime() -> Value {
    let (days, ticks) = now_parts();
    convert::make_datetime(days, ticks, None, &SqlType::DateTime, || {
        err(242, 16, "now is out of range")
    })
    .unwrap_or(Value::DateTime {
        days: 0,
        ticks_300: 0,
    })
}

impl Binder<'_> {
    fn var(&self, name: &str) -> Result<Typed, SqlError> {
        match self.sess.variables.get(&name.to_ascii_lowercase()) {
            Some((ty, v)) => Ok(Typed {
                e: BExpr::Const(v.clone()),
                ty: ty.clone(),
                nullable: true,
            }),
            None => Err(SqlError::new(
                137,
                2,
                15,
                format!("Must declare the scalar variable \"{name}\"."),
            )),
        }
    }

    fn global(&self, name: &str) -> Result<Typed, SqlError> {
        let s = self.sess;
        let int = |v: i64| Typed::constant(Value::Int(v as i32), SqlType::Int);
        let text =
            |v: &str, len: u16| Typed::constant(Value::Str(Arc::from(v)), nvarchar(Some(len)));
        Ok(match name.to_ascii_uppercase().as_str() {
            "@@VERSION" => text(super::VERSION, 300),
            "@@SPID" => Typed::constant(Value::SmallInt(s.spid as i16), SqlType::SmallInt),
            "@@SERVERNAME" => text(super::SERVER_NAME, 128),
            "@@SERVICENAME" => text("MSSQLSERVER", 128),
            "@@LANGUAGE" => text(&s.options.language, 128),
            "@@TRANCOUNT" => int(s.tran_count as i64),
            "@@ROWCOUNT" => int(s.last_rowcount as i64),
            "@@ERROR" => int(s.last_error as i64),
            "@@TEXTSIZE" => int(s.options.textsize),
            "@@LOCK_TIMEOUT" => int(s.options.lock_timeout),
            "@@DATEFIRST" => {
                Typed::constant(Value::TinyInt(s.options.datefirst as u8), SqlType::TinyInt)
            }
            "@@MAX_PRECISION" => Typed::constant(Value::TinyInt(38), SqlType::TinyInt),
            "@@NESTLEVEL" | "@@PROCID" => int(0),
            "@@MAX_CONNECTIONS" => int(32767),
            "@@MICROSOFTVERSION" => int((16 << 24) + 1000),
            "@@OPTIONS" => int(session_options_bits(s)),
            "@@IDENTITY" => Typed {
                e: BExpr::Const(match s.last_identity {
                    Some(v) => Value::Decimal { value: v, scale: 0 },
                    None => Value::Null,
                }),
                ty: SqlType::Decimal {
                    precision: 38,
                    scale: 0,
                    numeric: true,
                },
                nullable: true,
            },
            "@@DBTS" => Typed::constant(
                Value::Bytes(Arc::from(
                    s.engine
                        .state
                        .rowversion
                        .load(AtomicOrdering::SeqCst)
                        .to_be_bytes()
                        .as_slice(),
                )),
                SqlType::VarBinary { len: Some(8) },
            ),
            _ => {
                return Err(SqlError::new(
                    137,
                    2,
                    15,
                    format!("Must declare the scalar variable \"{name}\"."),
                ))
            }
        })
    }

    /// Binds an expression.
    pub fn bind(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        if self.agg.is_some() {
            if let Some(t) = self.post_agg(e)? {
                return Ok(t);
            }
        }
        match e {
            Expr::Lit(v, ty) => Ok(Typed::constant(v.clone(), ty.clone())),
            Expr::Column(parts) => self.column(parts),
            Expr::Var(v) => self.var(v),
            Expr::Global(g) => self.global(g),
            Expr::Neg(_) => self.bind_neg(e),
            Expr::BitNot(_) => self.bind_bitnot(e),
            Expr::Not(_) => self.bind_not(e),
            Expr::And(..) | Expr::Or(..) => self.bind_logic(e),
            Expr::Binary(..) => self.bind_binop(e),
            Expr::IsNull(..) => self.bind_isnull(e),
            Expr::Between(..) => self.bind_between(e),
            Expr::InList(..) => self.bind_inlist(e),
            Expr::Like(..) => self.bind_like(e),
            Expr::Cast(..) => self.bind_cast(e),
            Expr::Convert { .. } => self.bind_convert(e),
            Expr::Case { .. } => self.bind_case_arm(e),
            Expr::Func { .. } => self.bind_func_arm(e),
            Expr::Subquery(_) => self.bind_subquery(e),
            Expr::Exists(_) => self.bind_exists(e),
            Expr::InSelect(..) => self.bind_inselect(e),
        }
    }

    #[inline(never)]
    fn bind_neg(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Neg(a) => {
                let a = self.bind(a)?;
                if !convert::is_numeric(&a.ty) || a.ty == SqlType::Bit {
                    return Err(invalid_operand(&a.ty, "minus"));
                }
                let ty = if matches!(a.ty, SqlType::TinyInt) {
                    SqlType::SmallInt
                } else {
                    a.ty.clone()
                };
                Ok(fold(Typed {
                    e: BExpr::Neg(Box::new(a.e)),
                    ty,
                    nullable: a.nullable,
                }))
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_bitnot(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::BitNot(a) => {
                let a = self.bind(a)?;
                if !convert::is_integer(&a.ty) {
                    return Err(invalid_operand(&a.ty, "~"));
                }
                Ok(fold(Typed {
                    e: BExpr::BitNot(Box::new(a.e)),
                    ty: a.ty,
                    nullable: a.nullable,
                }))
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_not(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Not(a) => {
                let a = self.bind(a)?;
                Ok(Typed {
                    e: BExpr::Not(Box::new(a.e)),
                    ty: SqlType::Bit,
                    nullable: a.nullable,
                })
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_logic(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let (a, b) = (self.bind(a)?, self.bind(b)?);
                let e = if matches!(e, Expr::And(..)) {
                    BExpr::And(Box::new(a.e), Box::new(b.e))
                } else {
                    BExpr::Or(Box::new(a.e), Box::new(b.e))
                };
                Ok(Typed {
                    e,
                    ty: SqlType::Bit,
                    nullable: a.nullable || b.nullable,
                })
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_binop(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.bind(a)?, self.bind(b)?);
                self.binary(*op, a, b)
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_isnull(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::IsNull(a, not) => {
                let a = self.bind(a)?;
                Ok(Typed {
                    e: BExpr::IsNull(Box::new(a.e), *not),
                    ty: SqlType::Bit,
                    nullable: false,
                })
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_between(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Between(a, lo, hi, not) => {
                let ge = Expr::Binary(BinOp::Ge, a.clone(), lo.clone());
                let le = Expr::Binary(BinOp::Le, a.clone(), hi.clone());
                let both = Expr::And(Box::new(ge), Box::new(le));
                if *not {
                    self.bind(&Expr::Not(Box::new(both)))
                } else {
                    self.bind(&both)
                }
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_inlist(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::InList(a, list, not) => {
                let a = self.bind(a)?;
                let mut items = Vec::with_capacity(list.len());
                let mut binary = false;
                let mut left = a.clone();
                for item in list {
                    let item = self.bind(item)?;
                    let (l, r, bin) = comparable(a.clone(), item, "equal to")?;
                    binary |= bin;
                    if l.ty != a.ty {
                        left = l;
                    }
                    items.push(r.e);
                }
                Ok(Typed {
                    e: BExpr::InList(Box::new(left.e), items, *not, binary),
                    ty: SqlType::Bit,
                    nullable: true,
                })
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_like(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Like(a, p, not) => {
                let a = self.bind(a)?;
                let p = self.bind(p)?;
                let to_text = |t: Typed| -> Result<Typed, SqlError> {
                    if is_string(&t.ty) {
                        Ok(t)
                    } else {
                        coerce(t, &varchar(Some(8000)))
                    }
                };
                let (a, p) = (to_text(a)?, to_text(p)?);
                Ok(Typed {
                    e: BExpr::Like(Box::new(a.e), Box::new(p.e), *not),
                    ty: SqlType::Bit,
                    nullable: true,
                })
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_cast(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Cast(a, ty) => {
                let a = self.bind(a)?;
                explicit_check(&a.ty, ty)?;
                Ok(convert_expr(a, ty.clone(), None, false))
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_convert(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Convert {
                ty,
                expr,
                style,
                try_,
            } => {
                let a = self.bind(expr)?;
                explicit_check(&a.ty, ty)?;
                Ok(convert_expr(a, ty.clone(), *style, *try_))
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_case_arm(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => self.case(operand.as_deref(), whens, otherwise.as_deref()),
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_func_arm(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Func {
                name,
                args,
                star,
                distinct,
            } => self.func(name, args, *star, *distinct),
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_subquery(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Subquery(q) => {
                let values = self.subquery_values(q)?;
                if values.1.len() > 1 {
                    // SQL Server reports this when the statement runs; binding is our run.
                    return Err(err(
                        512,
                        16,
                        "Subquery returned more than 1 value. This is not permitted when the subquery follows =, !=, <, <= , >, >= or when the subquery is used as an expression.",
                    ));
                }
                let v = values.1.into_iter().next().unwrap_or(Value::Null);
                Ok(Typed {
                    e: BExpr::Const(v),
                    ty: values.0,
                    nullable: true,
                })
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_exists(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::Exists(q) => {
                let values = self.subquery_rows(q)?;
                Ok(Typed::constant(Value::Bit(values > 0), SqlType::Bit))
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    #[inline(never)]
    fn bind_inselect(&mut self, e: &Expr) -> Result<Typed, SqlError> {
        match e {
            Expr::InSelect(a, q, not) => {
                let a = self.bind(a)?;
                let (ty, values) = self.subquery_values(q)?;
                let probe = Typed::constant(Value::Null, ty.clone());
                let (l, r, binary) = comparable(a, probe, "equal to")?;
                let values = if r.ty != ty {
                    values
                        .iter()
                        .map(|v| convert::convert(v, &ty, &r.ty, None))
                        .collect::<Result<Vec<_>, _>>()?
                } else {
                    values
                };
                Ok(Typed {
                    e: BExpr::InValues(Box::new(l.e), Arc::new(values), *not, binary),
                    ty: SqlType::Bit,
                    nullable: true,
                })
            }
            _ => Err(err(50000, 16, "internal: expression kind mismatch")),
        }
    }

    /// A post-aggregation expression: a GROUP BY expression, or an aggregate.
    #[inline(never)]
    fn post_agg(&mut self, e: &Expr) -> Result<Option<Typed>, SqlError> {
        let Some(ctx) = self.agg.as_ref() else {
            return Ok(None);
        };
        if let Some(i) = ctx.groups.iter().position(|g| same_expr(g, e)) {
            let (ty, nullable) = ctx.group_types[i].clone();
            return Ok(Some(Typed {
                e: BExpr::Col(i),
                ty,
                nullable,
            }));
        }
        if let Expr::Func {
            name,
            args,
            star,
            distinct,
        } = e
        {
            if let Some(func) = agg_func(name) {
                let group_count = ctx.groups.len();
                // The argument is bound against the source rows.
                let saved = self.agg.take();
                let bound = self.aggregate(func, name, args, *star, *distinct);
                self.agg = saved;
                let spec = bound?;
                let nullable = !matches!(func, AggFunc::Count | AggFunc::CountBig);
                let ty = spec.ty.clone();
                let Some(ctx) = self.agg.as_mut() else {
                    return Ok(None);
                };
                ctx.aggs.push(spec);
                return Ok(Some(Typed {
                    e: BExpr::Col(group_count + ctx.aggs.len() - 1),
                    ty,
                    nullable,
                }));
            }
        }
        if let Expr::Column(parts) = e {
            // A column neither grouped nor aggregated.
            if let Some(i) = self.scope.resolve(parts)? {
                return Err(not_grouped(self.scope, i));
            }
        }
        Ok(None)
    }

    fn aggregate(
        &mut self,
        func: AggFunc,
        name: &str,
        args: &[Expr],
        star: bool,
        distinct: bool,
    ) -> Result<AggSpec, SqlError> {
        if star {
            if !matches!(func, AggFunc::Count | AggFunc::CountBig) {
                return Err(err(102, 15, "Incorrect syntax near '*'."));
            }
            let ty = if func == AggFunc::Count {
                SqlType::Int
            } else {
                SqlType::BigInt
            };
            return Ok(AggSpec {
                func,
                arg: None,
                distinct: false,
                ty,
            });
        }
        if args.len() != 1 {
            return Err(argument_count(name, 1));
        }
        if has_aggregate(&args[0]) {
            return Err(err(
                130,
                16,
                "Cannot perform an aggregate function on an expression containing an aggregate or a subquery.",
            ));
        }
        let arg = self.bind(&args[0])?;
        let op = name.to_ascii_lowercase();
        if is_clr(&arg.ty) && (distinct || !matches!(func, AggFunc::Count | AggFunc::CountBig)) {
            return Err(clr_unsupported(&arg.ty, &name.to_ascii_uppercase()));
        }
        let ty = match func {
            AggFunc::Count => SqlType::Int,
            AggFunc::CountBig => SqlType::BigInt,
            AggFunc::Min | AggFunc::Max => {
                if matches!(arg.ty, SqlType::Bit) || is_lob(&arg.ty) {
                    return Err(invalid_operand(&arg.ty, &op));
                }
                arg.ty.clone()
            }
            AggFunc::Sum | AggFunc::Avg => match &arg.ty {
                SqlType::TinyInt | SqlType::SmallInt | SqlType::Int => SqlType::Int,
                SqlType::BigInt => SqlType::BigInt,
                SqlType::Money | SqlType::SmallMoney => SqlType::Money,
                SqlType::Real | SqlType::Float => SqlType::Float,
                SqlType::Decimal { scale, numeric, .. } => SqlType::Decimal {
                    precision: 38,
                    scale: if func == AggFunc::Avg {
                        (*scale).max(6)
                    } else {
                        *scale
                    },
                    numeric: *numeric,
                },
                other => return Err(invalid_operand(other, &op)),
            },
        };
        Ok(AggSpec {
            func,
            arg: Some(arg),
            distinct,
            ty,
        })
    }

    fn column(&mut self, parts: &[String]) -> Result<Typed, SqlError> {
        if let Some(i) = self.scope.resolve(parts)? {
            let c = self
                .scope
                .column(i)
                .ok_or_else(|| invalid_column(parts.last().map(String::as_str).unwrap_or("")))?;
            return Ok(Typed {
                e: BExpr::Col(i),
                ty: c.sql_type.clone(),
                nullable: c.nullable,
            });
        }
        // Niladic functions written without parentheses.
        if parts.len() == 1 {
            let niladic = match parts[0].to_ascii_uppercase().as_str() {
                "CURRENT_TIMESTAMP" => Some("GETDATE"),
                "CURRENT_USER" | "SESSION_USER" | "USER" => Some("USER_NAME"),
                "SYSTEM_USER" => Some("SUSER_SNAME"),
                _ => None,
            };
            if let Some(f) = niladic {
                return self.func(f, &[], false, false);
            }
        }
        if let Some(outer) = self.outer {
            if outer.resolve(parts).ok().flatten().is_some() {
                return Err(unsupported("correlated subquery"));
            }
        }
        if parts.len() > 1 && !self.scope.has_table(&parts[..parts.len() - 1]) {
            return Err(not_bound(parts));
        }
        Err(invalid_column(
            parts.last().map(String::as_str).unwrap_or(""),
        ))
    }

    #[inline(never)]
    fn binary(&mut self, op: BinOp, mut a: Typed, mut b: Typed) -> Result<Typed, SqlError> {
        if !op.is_comparison() {
            // NULL + x: NULL of x's type.
            if is_null_const(&a) && !is_null_const(&b) {
                a.ty = b.ty.clone();
            } else if is_null_const(&b) && !is_null_const(&a) {
                b.ty = a.ty.clone();
            }
        }
        if op.is_comparison() {
            let (a, b, binary) = comparable(a, b, op_name(op))?;
            let nullable = a.nullable || b.nullable;
            return Ok(fold(Typed {
                e: BExpr::Cmp(op, Box::new(a.e), Box::new(b.e), binary),
                ty: SqlType::Bit,
                nullable,
            }));
        }
        let ty = arith_type(op, &a.ty, &b.ty)?;
        let nullable = a.nullable || b.nullable;
        if is_string(&ty) {
            let a = coerce_to_string(a, &ty)?;
            let b = coerce_to_string(b, &ty)?;
            return Ok(fold(Typed {
                e: BExpr::Concat(Box::new(a.e), Box::new(b.e)),
                ty,
                nullable,
            }));
        }
        if family(&ty) == Family::Temporal {
            let (date_first, d, n) = if family(&a.ty) == Family::Temporal {
                (true, a, b)
            } else {
                (false, b, a)
            };
            let n = if family(&n.ty) == Family::Temporal {
                coerce(n, &SqlType::Float)?
            } else {
                n
            };
            let (first, second) = if date_first { (d, n) } else { (n, d) };
            return Ok(fold(Typed {
                e: BExpr::DateArith(
                    op == BinOp::Add,
                    Box::new(first.e),
                    Box::new(second.e),
                    ty.clone(),
                ),
                ty,
                nullable,
            }));
        }
        // Strings in arithmetic take the numeric type.
        let num = |t: Typed, to: &SqlType| -> Result<Typed, SqlError> {
            if is_string(&t.ty) {
                coerce(t, to)
            } else {
                Ok(t)
            }
        };
        let a = num(a, &ty)?;
        let b = num(b, &ty)?;
        Ok(fold(Typed {
            e: BExpr::Arith(op, Box::new(a.e), Box::new(b.e), ty.clone()),
            ty,
            nullable,
        }))
    }

    fn case(
        &mut self,
        operand: Option<&Expr>,
        whens: &[(Expr, Expr)],
        otherwise: Option<&Expr>,
    ) -> Result<Typed, SqlError> {
        let operand = operand.map(|o| self.bind(o)).transpose()?;
        let mut conds = Vec::new();
        let mut results = Vec::new();
        for (w, t) in whens {
            let w = self.bind(w)?;
            let cond = match &operand {
                Some(o) => self.binary(BinOp::Eq, o.clone(), w)?,
                None => w,
            };
            conds.push(cond.e);
            results.push(self.bind(t)?);
        }
        let other = otherwise.map(|o| self.bind(o)).transpose()?;
        let mut all: Vec<&Typed> = results.iter().collect();
        if let Some(o) = &other {
            all.push(o);
        }
        let ty = common_of_typed(&all);
        let nullable = other.is_none()
            || results.iter().any(|r| r.nullable)
            || other.as_ref().is_some_and(|o| o.nullable);
        let mut arms = Vec::new();
        for (c, r) in conds.into_iter().zip(results) {
            arms.push((c, coerce(r, &ty)?.e));
        }
        let other = match other {
            Some(o) => Some(Box::new(coerce(o, &ty)?.e)),
            None => None,
        };
        Ok(Typed {
            e: BExpr::Case(arms, other),
            ty,
            nullable,
        })
    }

    fn subquery_rows(&mut self, q: &Select) -> Result<usize, SqlError> {
        let out = self.sess.select_with_outer(q, Some(self.scope))?;
        let mut n = 0;
        for row in out.into_values()? {
            row?;
            n += 1;
        }
        Ok(n)
    }

    fn subquery_values(&mut self, q: &Select) -> Result<(SqlType, Vec<Value>), SqlError> {
        let out = self.sess.select_with_outer(q, Some(self.scope))?;
        if out.columns.len() != 1 {
            return Err(err(
                116,
                16,
                "Only one expression can be specified in the select list when the subquery is not introduced with EXISTS.",
            ));
        }
        let ty = out.columns[0].sql_type.clone();
        let mut values = Vec::new();
        for row in out.into_values()? {
            let mut row = row?;
            values.push(row.pop().unwrap_or(Value::Null));
        }
        Ok((ty, values))
    }

    fn sys_ctx(&self) -> Arc<SysCtx> {
        Arc::new(SysCtx {
            engine: self.sess.engine.clone(),
            database: self.sess.database.clone(),
        })
    }

    fn func(
        &mut self,
        name: &str,
        args: &[Expr],
        star: bool,
        distinct: bool,
    ) -> Result<Typed, SqlError> {
        let upper = name.to_ascii_uppercase();
        if agg_func(&upper).is_some() {
            // An aggregate outside a grouped context (WHERE, ON, ...).
            return Err(err(
                147,
                15,
                "An aggregate may not appear in the WHERE clause unless it is in a subquery contained in a HAVING clause or a select list, and the column being aggregated is an outer reference.",
            ));
        }
        if star || distinct {
            return Err(err(102, 15, format!("Incorrect syntax near '{name}'.")));
        }
        let n = args.len();
        let want = |range: std::ops::RangeInclusive<usize>| -> Result<(), SqlError> {
            if range.contains(&n) {
                Ok(())
            } else {
                Err(argument_count(&upper, *range.start()))
            }
        };
        // Functions whose first argument is a date part keyword.
        if matches!(
            upper.as_str(),
            "DATEADD" | "DATEDIFF" | "DATEPART" | "DATENAME"
        ) {
            want(if upper == "DATEPART" || upper == "DATENAME" {
                2..=2
            } else {
                3..=3
            })?;
            let part = match &args[0] {
                Expr::Column(p) if p.len() == 1 => date_part(&p[0]),
                _ => None,
            }
            .ok_or_else(|| {
                err(
                    155,
                    15,
                    format!(
                        "'{}' is not a recognized {} option.",
                        expr_text(&args[0]),
                        upper.to_ascii_lowercase()
                    ),
                )
            })?;
            let rest: Vec<Typed> = args[1..]
                .iter()
                .map(|a| self.bind(a))
                .collect::<Result<_, _>>()?;
            return self.date_func(&upper, part, rest);
        }
        let bound: Vec<Typed> = args
            .iter()
            .map(|a| self.bind(a))
            .collect::<Result<_, _>>()?;
        // No function is implemented for CLR types (not even DATALENGTH, whose result type
        // for them is not established here).
        if let Some(t) = bound.iter().find(|b| is_clr(&b.ty)) {
            return Err(clr_unsupported(&t.ty, &upper));
        }
        let nullable = bound.iter().any(|b| b.nullable);
        let first_ty = bound.first().map(|b| b.ty.clone()).unwrap_or(SqlType::Int);
        let make = |f: Func, args: Vec<Typed>, ty: SqlType, nullable: bool| -> Typed {
            fold(Typed {
                e: BExpr::Func(f, args.into_iter().map(|a| a.e).collect(), ty.clone()),
                ty,
                nullable,
            })
        };
        let konst = |v: Value, ty: SqlType| Typed::constant(v, ty);
        let s = self.sess;
        let out = match upper.as_str() {
            "ISNULL" => {
                want(2..=2)?;
                let mut it = bound.into_iter();
                let (a, b) = match (it.next(), it.next()) {
                    (Some(a), Some(b)) => (a, b),
                    _ => return Err(argument_count(&upper, 2)),
                };
                let ty = a.ty.clone();
                let b_nullable = b.nullable;
                let b = coerce(b, &ty)?;
                let nullable = a.nullable && b_nullable;
                make(Func::IsNull, vec![a, b], ty, nullable)
            }
            "COALESCE" => {
                if n < 2 {
                    return Err(err(
                        189,
                        15,
                        "The coalesce function requires 2 to 254 arguments.",
                    ));
                }
                let ty = common_of_typed(&bound.iter().collect::<Vec<_>>());
                let nullable = bound.iter().all(|b| b.nullable);
                let args = bound
                    .into_iter()
                    .map(|b| coerce(b, &ty))
                    .collect::<Result<Vec<_>, _>>()?;
                make(Func::Coalesce, args, ty, nullable)
            }
            "NULLIF" => {
                want(2..=2)?;
                make(Func::NullIf, bound, first_ty, true)
            }
            "IIF" => {
                want(3..=3)?;
                return self.case(None, &[(args[0].clone(), args[1].clone())], Some(&args[2]));
            }
            "LEN" => {
                want(1..=1)?;
                let ty = if convert::char_limit(&first_ty).is_none() && is_string(&first_ty) {
                    SqlType::BigInt
                } else {
                    SqlType::Int
                };
                make(Func::Len, bound, ty, nullable)
            }
            "DATALENGTH" => {
                want(1..=1)?;
                let ty = if convert::max_length(&first_ty) == -1 || is_lob(&first_ty) {
                    SqlType::BigInt
                } else {
                    SqlType::Int
                };
                let arg_ty = first_ty.clone();
                make(Func::DataLength, bound, arg_ty, nullable).with_type(ty)
            }
            "UPPER" | "LOWER" | "LTRIM" | "RTRIM" | "TRIM" | "REVERSE" => {
                want(1..=1)?;
                let f = match upper.as_str() {
                    "UPPER" => Func::Upper,
                    "LOWER" => Func::Lower,
                    "LTRIM" => Func::LTrim,
                    "RTRIM" => Func::RTrim,
                    "REVERSE" => Func::Reverse,
                    _ => Func::Trim,
                };
                let ty = string_result(&first_ty);
                let args = bound
                    .into_iter()
                    .map(to_string_arg)
                    .collect::<Result<Vec<_>, _>>()?;
                make(f, args, ty, nullable)
            }
            "SUBSTRING" => {
                want(3..=3)?;
                let ty = string_result(&first_ty);
                let mut it = bound.into_iter();
                let s = to_string_arg(it.next().ok_or_else(|| argument_count(&upper, 3))?)?;
                let rest: Vec<Typed> = it
                    .map(|b| coerce(b, &SqlType::BigInt))
                    .collect::<Result<_, _>>()?;
                let mut args = vec![s];
                args.extend(rest);
                make(Func::Substring, args, ty, nullable)
            }
            "LEFT" | "RIGHT" => {
                want(2..=2)?;
                let ty = string_result(&first_ty);
                let mut it = bound.into_iter();
                let s = to_string_arg(it.next().ok_or_else(|| argument_count(&upper, 2))?)?;
                let count = coerce(
                    it.next().ok_or_else(|| argument_count(&upper, 2))?,
                    &SqlType::BigInt,
                )?;
                let f = if upper == "LEFT" {
                    Func::Left
                } else {
                    Func::Right
                };
                make(f, vec![s, count], ty, nullable)
            }
            "REPLACE" => {
                want(3..=3)?;
                let unicode = bound.iter().any(|b| is_unicode(&b.ty));
                let max = bound.iter().any(|b| convert::max_length(&b.ty) == -1);
                let ty = match (unicode, max) {
                    (true, true) => nvarchar(None),
                    (true, false) => nvarchar(Some(4000)),
                    (false, true) => varchar(None),
                    (false, false) => varchar(Some(8000)),
                };
                let args = bound
                    .into_iter()
                    .map(to_string_arg)
                    .collect::<Result<Vec<_>, _>>()?;
                make(Func::Replace, args, ty, nullable)
            }
            "CHARINDEX" => {
                want(2..=3)?;
                let mut it = bound.into_iter();
                let mut args = Vec::new();
                for _ in 0..2 {
                    args.push(to_string_arg(
                        it.next().ok_or_else(|| argument_count(&upper, 2))?,
                    )?);
                }
                for b in it {
                    args.push(coerce(b, &SqlType::BigInt)?);
                }
                make(Func::CharIndex, args, SqlType::Int, nullable)
            }
            "CONCAT" => {
                if n < 2 {
                    return Err(err(
                        189,
                        15,
                        "The concat function requires 2 to 254 arguments.",
                    ));
                }
                let unicode = bound.iter().any(|b| is_unicode(&b.ty));
                let ty = if unicode {
                    nvarchar(Some(4000))
                } else {
                    varchar(Some(8000))
                };
                make(Func::Concat, bound, ty, false)
            }
            "REPLICATE" => {
                want(2..=2)?;
                let max = convert::max_length(&first_ty) == -1;
                let ty = match (is_unicode(&first_ty), max) {
                    (true, true) => nvarchar(None),
                    (true, false) => nvarchar(Some(4000)),
                    (false, true) => varchar(None),
                    (false, false) => varchar(Some(8000)),
                };
                let mut it = bound.into_iter();
                let s = to_string_arg(it.next().ok_or_else(|| argument_count(&upper, 2))?)?;
                let count = coerce(
                    it.next().ok_or_else(|| argument_count(&upper, 2))?,
                    &SqlType::BigInt,
                )?;
                make(Func::Replicate, vec![s, count], ty, nullable)
            }
            "NCHAR" | "CHAR" => {
                want(1..=1)?;
                let (f, ty) = if upper == "NCHAR" {
                    (
                        Func::NChar,
                        SqlType::NChar {
                            len: 1,
                            collation: CO,
                        },
                    )
                } else {
                    (
                        Func::Char,
                        SqlType::Char {
                            len: 1,
                            collation: CO,
                        },
                    )
                };
                let args = bound
                    .into_iter()
                    .map(|b| coerce(b, &SqlType::Int))
                    .collect::<Result<Vec<_>, _>>()?;
                // Out-of-range arguments give NULL, so the result is always nullable.
                make(f, args, ty, true)
            }
            "ABS" | "FLOOR" | "CEILING" | "SIGN" => {
                want(1..=1)?;
                if !convert::is_numeric(&first_ty) && !is_string(&first_ty) {
                    return Err(invalid_operand(&first_ty, &upper.to_ascii_lowercase()));
                }
                let ty = match (&first_ty, upper.as_str()) {
                    (t, _) if is_string(t) => SqlType::Float,
                    (SqlType::Bit | SqlType::TinyInt | SqlType::SmallInt, _) => SqlType::Int,
                    (
                        SqlType::Decimal {
                            precision, numeric, ..
                        },
                        "FLOOR" | "CEILING",
                    ) => SqlType::Decimal {
                        precision: *precision,
                        scale: 0,
                        numeric: *numeric,
                    },
                    (t, _) => t.clone(),
                };
                let f = match upper.as_str() {
                    "ABS" => Func::Abs,
                    "FLOOR" => Func::Floor,
                    "CEILING" => Func::Ceiling,
                    _ => Func::Sign,
                };
                let args = bound
                    .into_iter()
                    .map(|b| {
                        if is_string(&b.ty) {
                            coerce(b, &SqlType::Float)
                        } else {
                            Ok(b)
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                make(f, args, ty, nullable)
            }
            "ROUND" => {
                want(2..=3)?;
                let ty = match &first_ty {
                    SqlType::Bit | SqlType::TinyInt | SqlType::SmallInt => SqlType::Int,
                    t if is_string(t) => SqlType::Float,
                    t => t.clone(),
                };
                let mut it = bound.into_iter();
                let mut args = vec![it.next().ok_or_else(|| argument_count(&upper, 2))?];
                for b in it {
                    args.push(coerce(b, &SqlType::Int)?);
                }
                if is_string(&args[0].ty) {
                    let a = args.remove(0);
                    args.insert(0, coerce(a, &SqlType::Float)?);
                }
                make(Func::Round, args, ty, nullable)
            }
            "POWER" | "SQRT" => {
                let f = if upper == "POWER" {
                    want(2..=2)?;
                    Func::Power
                } else {
                    want(1..=1)?;
                    Func::Sqrt
                };
                let args = bound
                    .into_iter()
                    .map(|b| coerce(b, &SqlType::Float))
                    .collect::<Result<Vec<_>, _>>()?;
                make(f, args, SqlType::Float, nullable)
            }
            "YEAR" | "MONTH" | "DAY" => {
                want(1..=1)?;
                let f = match upper.as_str() {
                    "YEAR" => Func::Year,
                    "MONTH" => Func::Month,
                    _ => Func::Day,
                };
                let args = bound
                    .into_iter()
                    .map(to_temporal_arg)
                    .collect::<Result<Vec<_>, _>>()?;
                make(f, args, SqlType::Int, nullable)
            }
            "ISNUMERIC" => {
                want(1..=1)?;
                make(Func::IsNumeric, bound, SqlType::Int, false)
            }
            // The lowest rowversion an open transaction holds, else the next one (@@DBTS + 1):
            // every rowversion below it is committed.
            "MIN_ACTIVE_ROWVERSION" => {
                want(0..=0)?;
                let open = super::exec::lock_open_rowversions(&s.engine)
                    .values()
                    .min()
                    .copied();
                let next = s.engine.state.rowversion.load(AtomicOrdering::SeqCst) + 1;
                Typed::constant(
                    Value::Bytes(Arc::from(open.unwrap_or(next).to_be_bytes().as_slice())),
                    SqlType::Binary { len: 8 },
                )
            }
            "NEWID" => {
                want(0..=0)?;
                Typed {
                    e: BExpr::Func(Func::NewId, vec![], SqlType::UniqueIdentifier),
                    ty: SqlType::UniqueIdentifier,
                    nullable: false,
                }
            }
            "GETDATE" | "CURRENT_TIMESTAMP" | "GETUTCDATE" | "SYSDATETIME" | "SYSUTCDATETIME"
            | "SYSDATETIMEOFFSET" => {
                want(0..=0)?;
                let (days, ticks) = now_parts();
                let ty = match upper.as_str() {
                    "SYSDATETIME" | "SYSUTCDATETIME" => SqlType::DateTime2 { scale: 7 },
                    "SYSDATETIMEOFFSET" => SqlType::DateTimeOffset { scale: 7 },
                    _ => SqlType::DateTime,
                };
                let v = convert::make_datetime(days, ticks, Some(0), &ty, || {
                    err(242, 16, "The clock is out of range.")
                })?;
                let mut t = konst(v, ty);
                t.nullable = false;
                t
            }
            "SCOPE_IDENTITY" | "IDENT_CURRENT" => {
                let v = match s.last_identity {
                    Some(v) if upper == "SCOPE_IDENTITY" => Value::Decimal { value: v, scale: 0 },
                    _ => Value::Null,
                };
                konst(
                    v,
                    SqlType::Decimal {
                        precision: 38,
                        scale: 0,
                        numeric: true,
                    },
                )
            }
            "USER_NAME" | "CURRENT_USER" | "SUSER_SNAME" | "SUSER_NAME" | "ORIGINAL_LOGIN"
            | "HOST_NAME" | "APP_NAME" => {
                let v = match upper.as_str() {
                    "USER_NAME" | "CURRENT_USER" => "dbo".to_string(),
                    "HOST_NAME" => "localhost".to_string(),
                    "APP_NAME" => String::new(),
                    _ => s.login.clone(),
                };
                konst(Value::Str(Arc::from(v.as_str())), nvarchar(Some(128)))
            }
            "SERVERPROPERTY" => {
                want(1..=1)?;
                let prop = match &bound[0].e {
                    BExpr::Const(Value::Str(p)) => p.to_ascii_lowercase(),
                    _ => String::new(),
                };
                let text = |v: &str| Value::Str(Arc::from(v));
                let v = match prop.as_str() {
                    "productversion" => text(super::PRODUCT_VERSION),
                    "productmajorversion" => text("16"),
                    "productminorversion" => text("0"),
                    "productbuild" => text("1000"),
                    "productlevel" => text("RTM"),
                    "edition" => text(super::EDITION),
                    "engineedition" => Value::Int(super::ENGINE_EDITION),
                    "editionid" => Value::BigInt(-2_117_995_310),
                    "servername" | "machinename" | "computernamephysicalnetbios" => {
                        text(super::SERVER_NAME)
                    }
                    "instancename" => Value::Null,
                    "collation" => text(CO.name),
                    "isintegratedsecurityonly"
                    | "isclustered"
                    | "isfulltextinstalled"
                    | "ishadrenabled"
                    | "issingleuser" => Value::Int(0),
                    "lcid" => Value::Int(1033),
                    "sqlcharset" => Value::TinyInt(1),
                    "sqlsortorder" => Value::TinyInt(52),
                    _ => Value::Null,
                };
                konst(v, SqlType::SqlVariant)
            }
            "DATABASEPROPERTYEX" => {
                want(2..=2)?;
                let prop = match &bound[1].e {
                    BExpr::Const(Value::Str(p)) => p.to_ascii_lowercase(),
                    _ => String::new(),
                };
                let v = match prop.as_str() {
                    "collation" => Value::Str(Arc::from(CO.name)),
                    "status" => Value::Str(Arc::from("ONLINE")),
                    "updateability" => Value::Str(Arc::from("READ_WRITE")),
                    "recovery" => Value::Str(Arc::from("SIMPLE")),
                    "version" => Value::Int(957),
                    _ => Value::Null,
                };
                konst(v, SqlType::SqlVariant)
            }
            "OBJECT_ID" | "OBJECT_NAME" | "OBJECT_SCHEMA_NAME" | "SCHEMA_NAME" | "SCHEMA_ID"
            | "DB_NAME" | "DB_ID" | "TYPE_NAME" => {
                let (f, range, ty) = match upper.as_str() {
                    "OBJECT_ID" => (SysFunc::ObjectId, 1..=2, SqlType::Int),
                    "OBJECT_NAME" => (SysFunc::ObjectName, 1..=2, nvarchar(Some(128))),
                    "OBJECT_SCHEMA_NAME" => (SysFunc::ObjectSchemaName, 1..=2, nvarchar(Some(128))),
                    "SCHEMA_NAME" => (SysFunc::SchemaName, 0..=1, nvarchar(Some(128))),
                    "SCHEMA_ID" => (SysFunc::SchemaId, 0..=1, SqlType::Int),
                    "DB_NAME" => (SysFunc::DbName, 0..=1, nvarchar(Some(128))),
                    "DB_ID" => (SysFunc::DbId, 0..=1, SqlType::SmallInt),
                    _ => (SysFunc::TypeName, 1..=1, nvarchar(Some(128))),
                };
                want(range)?;
                let ctx = self.sys_ctx();
                let args: Vec<BExpr> = bound.into_iter().map(|b| b.e).collect();
                let t = Typed {
                    e: BExpr::Sys(f, args, ctx),
                    ty,
                    nullable: true,
                };
                fold(t)
            }
            _ => {
                return Err(SqlError::new(
                    195,
                    10,
                    15,
                    format!("'{name}' is not a recognized built-in function name."),
                ))
            }
        };
        Ok(out)
    }

    fn date_func(
        &mut self,
        name: &str,
        part: DatePart,
        args: Vec<Typed>,
    ) -> Result<Typed, SqlError> {
        let nullable = args.iter().any(|a| a.nullable);
        let mut it = args.into_iter();
        match name {
            "DATEADD" => {
                let n = coerce(
                    it.next().ok_or_else(|| argument_count(name, 3))?,
                    &SqlType::BigInt,
                )?;
                let d = to_temporal_arg(it.next().ok_or_else(|| argument_count(name, 3))?)?;
                let ty = d.ty.clone();
                Ok(fold(Typed {
                    e: BExpr::Func(Func::DateAdd(part), vec![n.e, d.e], ty.clone()),
                    ty,
                    nullable,
                }))
            }
            "DATEDIFF" => {
                let a = to_temporal_arg(it.next().ok_or_else(|| argument_count(name, 3))?)?;
                let b = to_temporal_arg(it.next().ok_or_else(|| argument_count(name, 3))?)?;
                Ok(fold(Typed {
                    e: BExpr::Func(Func::DateDiff(part), vec![a.e, b.e], SqlType::Int),
                    ty: SqlType::Int,
                    nullable,
                }))
            }
            _ => {
                let d = to_temporal_arg(it.next().ok_or_else(|| argument_count(name, 2))?)?;
                let ty = if name == "DATENAME" {
                    nvarchar(Some(30))
                } else {
                    SqlType::Int
                };
                Ok(fold(Typed {
                    e: BExpr::Func(Func::DatePartOf(part), vec![d.e], ty.clone()),
                    ty,
                    nullable,
                }))
            }
        }
    }
}

impl Typed {
    /// DATALENGTH keeps its argument's type in the node; the result is an integer.
    fn with_type(mut self, ty: SqlType) -> Typed {
        self.ty = ty;
        self
    }
}

fn to_string_arg(t: Typed) -> Result<Typed, SqlError> {
    if is_string(&t.ty) {
        Ok(t)
    } else if is_unicode(&t.ty) {
        coerce(t, &nvarchar(Some(4000)))
    } else {
        coerce(t, &varchar(Some(8000)))
    }
}

fn coerce_to_string(t: Typed, to: &SqlType) -> Result<Typed, SqlError> {
    if is_string(&t.ty) {
        Ok(t)
    } else {
        coerce(t, to)
    }
}

fn to_temporal_arg(t: Typed) -> Result<Typed, SqlError> {
    if family(&t.ty) == Family::Temporal {
        Ok(t)
    } else if is_string(&t.ty) {
        coerce(t, &SqlType::DateTime2 { scale: 7 })
    } else {
        coerce(t, &SqlType::DateTime)
    }
}

/// CAST/CONVERT between types SQL Server never converts (error 529).
fn explicit_check(from: &SqlType, to: &SqlType) -> Result<(), SqlError> {
    if is_clr(from) || is_clr(to) {
        return convert::clr_conversion(from, to, true);
    }
    let bad = match (family(from), family(to)) {
        (Family::Temporal, Family::Number) => {
            !matches!(from, SqlType::DateTime | SqlType::SmallDateTime)
        }
        (Family::Number, Family::Temporal) => {
            !matches!(to, SqlType::DateTime | SqlType::SmallDateTime)
        }
        (Family::Guid, Family::Number) | (Family::Number, Family::Guid) => true,
        (Family::Guid, Family::Temporal) | (Family::Temporal, Family::Guid) => true,
        (Family::Temporal, Family::Binary) | (Family::Binary, Family::Temporal) => !matches!(
            (from, to),
            (SqlType::DateTime | SqlType::SmallDateTime, _)
                | (_, SqlType::DateTime | SqlType::SmallDateTime)
        ),
        _ => false,
    };
    if bad
        || *from == SqlType::Xml && !is_string(to) && *to != SqlType::Xml && !convert::is_binary(to)
    {
        return Err(err(
            529,
            16,
            format!(
                "Explicit conversion from data type {} to {} is not allowed.",
                type_name(from),
                type_name(to)
            ),
        ));
    }
    Ok(())
}

fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Column(p) => p.join("."),
        Expr::Lit(Value::Str(s), _) => s.to_string(),
        _ => String::new(),
    }
}

/// Structural equality of two expressions, ignoring the case of names (GROUP BY matching).
pub fn same_expr(a: &Expr, b: &Expr) -> bool {
    match (a, b) {
        (Expr::Column(x), Expr::Column(y)) => {
            // `t.a` and `a` name the same column when unambiguous; compare the last parts
            // and the qualifiers both have.
            x.last()
                .zip(y.last())
                .is_some_and(|(p, q)| p.eq_ignore_ascii_case(q))
                && x.iter()
                    .rev()
                    .zip(y.iter().rev())
                    .all(|(p, q)| p.eq_ignore_ascii_case(q))
        }
        (
            Expr::Func {
                name: n1,
                args: a1,
                star: s1,
                distinct: d1,
            },
            Expr::Func {
                name: n2,
                args: a2,
                star: s2,
                distinct: d2,
            },
        ) => {
            n1.eq_ignore_ascii_case(n2)
                && s1 == s2
                && d1 == d2
                && a1.len() == a2.len()
                && a1.iter().zip(a2).all(|(x, y)| same_expr(x, y))
        }
        (Expr::Binary(o1, l1, r1), Expr::Binary(o2, l2, r2)) => {
            o1 == o2 && same_expr(l1, l2) && same_expr(r1, r2)
        }
        (Expr::Cast(e1, t1), Expr::Cast(e2, t2)) => t1 == t2 && same_expr(e1, e2),
        (
            Expr::Convert {
                ty: t1,
                expr: e1,
                style: s1,
                try_: y1,
            },
            Expr::Convert {
                ty: t2,
                expr: e2,
                style: s2,
                try_: y2,
            },
        ) => t1 == t2 && s1 == s2 && y1 == y2 && same_expr(e1, e2),
        (Expr::Neg(x), Expr::Neg(y)) => same_expr(x, y),
        _ => a == b && !matches!(a, Expr::Column(_)),
    }
}

/// Folds an expression whose operands are all constants (deterministic functions only).
fn fold(t: Typed) -> Typed {
    let all_const = match &t.e {
        BExpr::Neg(a) | BExpr::BitNot(a) => matches!(**a, BExpr::Const(_)),
        BExpr::Arith(_, a, b, _)
        | BExpr::Concat(a, b)
        | BExpr::Cmp(_, a, b, _)
        | BExpr::DateArith(_, a, b, _) => {
            matches!(**a, BExpr::Const(_)) && matches!(**b, BExpr::Const(_))
        }
        BExpr::Func(f, args, _) => {
            *f != Func::NewId && args.iter().all(|a| matches!(a, BExpr::Const(_)))
        }
        BExpr::Sys(_, args, _) => args.iter().all(|a| matches!(a, BExpr::Const(_))),
        _ => false,
    };
    if !all_const {
        return t;
    }
    match t.e.eval(&[]) {
        Ok(v) => Typed {
            nullable: matches!(v, Value::Null),
            e: BExpr::Const(v),
            ty: t.ty,
        },
        // The error is SQL Server's to report when the statement runs.
        Err(_) => t,
    }
}

fn session_options_bits(s: &Session) -> i64 {
    let flag = |name: &str, default: bool| *s.options.flags.get(name).unwrap_or(&default);
    let mut bits = 0;
    for (bit, name, default) in [
        (8, "ANSI_WARNINGS", true),
        (16, "ANSI_PADDING", true),
        (32, "ANSI_NULLS", true),
        (64, "ARITHABORT", true),
        (256, "QUOTED_IDENTIFIER", true),
        (1024, "ANSI_NULL_DFLT_ON", true),
        (4096, "CONCAT_NULL_YIELDS_NULL", true),
    ] {
        if flag(name, default) {
            bits |= bit;
        }
    }
    if s.options.nocount {
        bits |= 512;
    }
    if s.options.xact_abort {
        bits |= 16384;
    }
    bits
}

// ---------------------------------------------------------------------------------------
// Evaluation

fn divide_by_zero() -> SqlError {
    err(8134, 16, "Divide by zero error encountered.")
}

fn overflow(ty: &SqlType) -> SqlError {
    err(
        8115,
        16,
        format!(
            "Arithmetic overflow error converting expression to data type {}.",
            type_name(ty)
        ),
    )
}

/// A pseudo-random u64 (NEWID); not cryptographic.
fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut s = STATE.load(AtomicOrdering::Relaxed);
    if s == 0 {
        s = now_parts().1 | 1;
    }
    let next = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    STATE.store(next, AtomicOrdering::Relaxed);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn text_of(v: &Value) -> Option<Arc<str>> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(Arc::from(
            convert::to_text(other, &convert::value_type(other), None).as_str(),
        )),
    }
}

fn int_of(v: &Value) -> Option<i64> {
    convert::int_value(v).or_else(|| match v {
        Value::Decimal { value, scale } => {
            i64::try_from(value / convert::pow10(*scale).unwrap_or(i128::MAX)).ok()
        }
        Value::Float(f) => Some(*f as i64),
        _ => None,
    })
}

/// Applies `f` to a string keeping NULL.
fn map_str(v: &Value, f: impl FnOnce(&str) -> String) -> Value {
    match text_of(v) {
        Some(s) => Value::Str(Arc::from(f(&s).as_str())),
        None => Value::Null,
    }
}

/// Finds `needle` in `hay` at or after byte `from`, under the CI_AS collation (case
/// ignored, accents not): the byte range of the match in `hay`.
fn find_ci(hay: &str, needle: &str, from: usize) -> Option<(usize, usize)> {
    if needle.is_empty() {
        return None;
    }
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return (from..=h.len().checked_sub(n.len())?)
            .find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
            .map(|i| (i, i + n.len()));
    }
    let wanted: Vec<(char, u8)> = needle.chars().map(convert::collation_key).collect();
    for (start, _) in hay.char_indices().filter(|(i, _)| *i >= from) {
        let mut end = start;
        let mut matched = 0;
        for (c, w) in hay[start..].chars().zip(&wanted) {
            if convert::collation_key(c) != *w {
                break;
            }
            matched += 1;
            end += c.len_utf8();
        }
        if matched == wanted.len() {
            return Some((start, end));
        }
    }
    None
}

impl BExpr {
    /// Three-valued truth of a predicate: None = UNKNOWN.
    pub fn pred(&self, row: &[Value]) -> Result<Option<bool>, SqlError> {
        Ok(match self {
            BExpr::And(a, b) => match a.pred(row)? {
                Some(false) => Some(false),
                x => match (x, b.pred(row)?) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
            },
            BExpr::Or(a, b) => match a.pred(row)? {
                Some(true) => Some(true),
                x => match (x, b.pred(row)?) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
            },
            BExpr::Not(a) => a.pred(row)?.map(|b| !b),
            BExpr::Cmp(..) => self.pred_cmp(row)?,
            BExpr::IsNull(a, not) => Some(matches!(a.eval(row)?, Value::Null) != *not),
            BExpr::InList(..) => self.pred_inlist(row)?,
            BExpr::InValues(..) => self.pred_invalues(row)?,
            BExpr::Like(..) => self.pred_like(row)?,
            other => match other.eval(row)? {
                Value::Null => None,
                Value::Bit(b) => Some(b),
                v => Some(int_of(&v).unwrap_or(0) != 0),
            },
        })
    }

    #[inline(never)]
    fn pred_cmp(&self, row: &[Value]) -> Result<Option<bool>, SqlError> {
        Ok(match self {
            BExpr::Cmp(op, a, b, binary) => {
                let (x, y) = (a.eval(row)?, b.eval(row)?);
                if matches!(x, Value::Null) || matches!(y, Value::Null) {
                    return Ok(None);
                }
                let ord = convert::compare(&x, &y, *binary);
                ord.map(|o| match op {
                    BinOp::Eq => o == Ordering::Equal,
                    BinOp::Ne => o != Ordering::Equal,
                    BinOp::Lt => o == Ordering::Less,
                    BinOp::Le => o != Ordering::Greater,
                    BinOp::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                })
            }
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }

    #[inline(never)]
    fn pred_inlist(&self, row: &[Value]) -> Result<Option<bool>, SqlError> {
        Ok(match self {
            BExpr::InList(a, list, not, binary) => {
                let x = a.eval(row)?;
                if matches!(x, Value::Null) {
                    return Ok(None);
                }
                let mut unknown = false;
                for item in list {
                    let y = item.eval(row)?;
                    if matches!(y, Value::Null) {
                        unknown = true;
                    } else if convert::compare(&x, &y, *binary) == Some(Ordering::Equal) {
                        return Ok(Some(!*not));
                    }
                }
                if unknown {
                    None
                } else {
                    Some(*not)
                }
            }
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }

    #[inline(never)]
    fn pred_invalues(&self, row: &[Value]) -> Result<Option<bool>, SqlError> {
        Ok(match self {
            BExpr::InValues(a, values, not, binary) => {
                let x = a.eval(row)?;
                if matches!(x, Value::Null) {
                    return Ok(None);
                }
                let mut unknown = false;
                for y in values.iter() {
                    if matches!(y, Value::Null) {
                        unknown = true;
                    } else if convert::compare(&x, y, *binary) == Some(Ordering::Equal) {
                        return Ok(Some(!*not));
                    }
                }
                if unknown {
                    None
                } else {
                    Some(*not)
                }
            }
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }

    #[inline(never)]
    fn pred_like(&self, row: &[Value]) -> Result<Option<bool>, SqlError> {
        Ok(match self {
            BExpr::Like(a, p, not) => {
                let (x, y) = (a.eval(row)?, p.eval(row)?);
                match (text_of(&x), text_of(&y)) {
                    (Some(x), Some(y)) => Some(convert::like(&x, &y) != *not),
                    _ => None,
                }
            }
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }

    pub fn eval(&self, row: &[Value]) -> Result<Value, SqlError> {
        Ok(match self {
            BExpr::Const(v) => v.clone(),
            BExpr::Col(i) => row.get(*i).cloned().unwrap_or(Value::Null),
            BExpr::Neg(..) => self.eval_neg(row)?,
            BExpr::BitNot(..) => self.eval_bitnot(row)?,
            BExpr::Arith(op, a, b, ty) => arith(*op, &a.eval(row)?, &b.eval(row)?, ty)?,
            BExpr::Concat(..) => self.eval_concat(row)?,
            BExpr::DateArith(..) => self.eval_datearith(row)?,
            BExpr::Convert { .. } => self.eval_convert(row)?,
            BExpr::Case(..) => self.eval_case(row)?,
            BExpr::Func(f, args, ty) => eval_func(*f, args, ty, row)?,
            BExpr::Sys(..) => self.eval_sys(row)?,
            pred => match pred.pred(row)? {
                Some(b) => Value::Bit(b),
                None => Value::Null,
            },
        })
    }

    #[inline(never)]
    fn eval_neg(&self, row: &[Value]) -> Result<Value, SqlError> {
        Ok(match self {
            BExpr::Neg(a) => match a.eval(row)? {
                Value::Null => Value::Null,
                Value::TinyInt(x) => Value::SmallInt(-(x as i16)),
                Value::SmallInt(x) => x
                    .checked_neg()
                    .map(Value::SmallInt)
                    .ok_or_else(|| overflow(&SqlType::SmallInt))?,
                Value::Int(x) => x
                    .checked_neg()
                    .map(Value::Int)
                    .ok_or_else(|| overflow(&SqlType::Int))?,
                Value::BigInt(x) => x
                    .checked_neg()
                    .map(Value::BigInt)
                    .ok_or_else(|| overflow(&SqlType::BigInt))?,
                Value::Decimal { value, scale } => Value::Decimal {
                    value: -value,
                    scale,
                },
                Value::Money(m) => Value::Money(-m),
                Value::Real(f) => Value::Real(-f),
                Value::Float(f) => Value::Float(-f),
                other => other,
            },
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }

    #[inline(never)]
    fn eval_bitnot(&self, row: &[Value]) -> Result<Value, SqlError> {
        Ok(match self {
            BExpr::BitNot(a) => match a.eval(row)? {
                Value::Bit(b) => Value::Bit(!b),
                Value::TinyInt(x) => Value::TinyInt(!x),
                Value::SmallInt(x) => Value::SmallInt(!x),
                Value::Int(x) => Value::Int(!x),
                Value::BigInt(x) => Value::BigInt(!x),
                other => other,
            },
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }

    #[inline(never)]
    fn eval_concat(&self, row: &[Value]) -> Result<Value, SqlError> {
        Ok(match self {
            BExpr::Concat(a, b) => match (a.eval(row)?, b.eval(row)?) {
                (Value::Null, _) | (_, Value::Null) => Value::Null,
                (x, y) => {
                    let (x, y) = (
                        text_of(&x).unwrap_or_default(),
                        text_of(&y).unwrap_or_default(),
                    );
                    let mut s = String::with_capacity(x.len() + y.len());
                    s.push_str(&x);
                    s.push_str(&y);
                    Value::Str(Arc::from(s.as_str()))
                }
            },
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }

    #[inline(never)]
    fn eval_datearith(&self, row: &[Value]) -> Result<Value, SqlError> {
        Ok(match self {
            BExpr::DateArith(add, a, b, ty) => {
                let (x, y) = (a.eval(row)?, b.eval(row)?);
                if matches!(x, Value::Null) || matches!(y, Value::Null) {
                    return Ok(Value::Null);
                }
                let (date, n) = if convert::date_time_parts(&x).is_some() {
                    (x, y)
                } else {
                    (y, x)
                };
                let days = convert::float_value(&n).unwrap_or(0.0) * if *add { 1.0 } else { -1.0 };
                let (d, t, _) = convert::date_time_parts(&date).unwrap_or((0, 0, None));
                let total = d as f64 * convert::TICKS_PER_DAY as f64
                    + t as f64
                    + days * convert::TICKS_PER_DAY as f64;
                let nd = (total / convert::TICKS_PER_DAY as f64).floor();
                let nt = (total - nd * convert::TICKS_PER_DAY as f64).round() as u64;
                convert::make_datetime(nd as i64, nt, None, ty, || {
                    err(
                        517,
                        16,
                        "Adding a value to a 'datetime' column caused an overflow.",
                    )
                })?
            }
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }

    #[inline(never)]
    fn eval_convert(&self, row: &[Value]) -> Result<Value, SqlError> {
        Ok(match self {
            BExpr::Convert {
                e,
                from,
                to,
                style,
                try_,
            } => {
                let v = e.eval(row)?;
                match convert::convert(&v, from, to, *style) {
                    Ok(v) => v,
                    Err(_) if *try_ => Value::Null,
                    Err(e) => return Err(e),
                }
            }
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }

    #[inline(never)]
    fn eval_case(&self, row: &[Value]) -> Result<Value, SqlError> {
        Ok(match self {
            BExpr::Case(arms, other) => {
                for (c, r) in arms {
                    if c.pred(row)? == Some(true) {
                        return r.eval(row);
                    }
                }
                match other {
                    Some(o) => o.eval(row)?,
                    None => Value::Null,
                }
            }
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }

    #[inline(never)]
    fn eval_sys(&self, row: &[Value]) -> Result<Value, SqlError> {
        Ok(match self {
            BExpr::Sys(f, args, ctx) => {
                let vals: Vec<Value> =
                    args.iter().map(|a| a.eval(row)).collect::<Result<_, _>>()?;
                eval_sys(*f, &vals, ctx)
            }
            _ => return Err(err(50000, 16, "internal: expression kind mismatch")),
        })
    }
}

fn arith(op: BinOp, a: &Value, b: &Value, ty: &SqlType) -> Result<Value, SqlError> {
    if matches!(a, Value::Null) || matches!(b, Value::Null) {
        return Ok(Value::Null);
    }
    match ty {
        SqlType::Float | SqlType::Real => {
            let (x, y) = (
                convert::float_value(a).unwrap_or(0.0),
                convert::float_value(b).unwrap_or(0.0),
            );
            let r = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => {
                    if y == 0.0 {
                        return Err(divide_by_zero());
                    }
                    x / y
                }
                BinOp::Mod => {
                    if y == 0.0 {
                        return Err(divide_by_zero());
                    }
                    x % y
                }
                _ => return Err(invalid_operand(ty, op_name(op))),
            };
            if !r.is_finite() {
                return Err(overflow(ty));
            }
            Ok(if *ty == SqlType::Real {
                Value::Real(r as f32)
            } else {
                Value::Float(r)
            })
        }
        SqlType::Bit | SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
            let (x, y) = (
                int_of(a).ok_or_else(|| overflow(ty))?,
                int_of(b).ok_or_else(|| overflow(ty))?,
            );
            let r = match op {
                BinOp::Add => x.checked_add(y),
                BinOp::Sub => x.checked_sub(y),
                BinOp::Mul => x.checked_mul(y),
                BinOp::Div => {
                    if y == 0 {
                        return Err(divide_by_zero());
                    }
                    x.checked_div(y)
                }
                BinOp::Mod => {
                    if y == 0 {
                        return Err(divide_by_zero());
                    }
                    x.checked_rem(y)
                }
                BinOp::BitAnd => Some(x & y),
                BinOp::BitOr => Some(x | y),
                BinOp::BitXor => Some(x ^ y),
                _ => None,
            }
            .ok_or_else(|| overflow(ty))?;
            Ok(match ty {
                SqlType::TinyInt => Value::TinyInt(u8::try_from(r).map_err(|_| overflow(ty))?),
                SqlType::SmallInt => Value::SmallInt(i16::try_from(r).map_err(|_| overflow(ty))?),
                SqlType::Int => Value::Int(i32::try_from(r).map_err(|_| overflow(ty))?),
                SqlType::Bit => Value::Bit(r != 0),
                _ => Value::BigInt(r),
            })
        }
        SqlType::Decimal {
            precision, scale, ..
        } => {
            let v = decimal_arith(op, a, b, *scale)?;
            if convert::pow10(*precision)
                .is_none_or(|limit| v.unsigned_abs() >= limit.unsigned_abs())
            {
                return Err(overflow(ty));
            }
            Ok(Value::Decimal {
                value: v,
                scale: *scale,
            })
        }
        SqlType::Money | SqlType::SmallMoney => {
            let v = decimal_arith(op, a, b, 4)?;
            let m = i64::try_from(v).map_err(|_| overflow(ty))?;
            if *ty == SqlType::SmallMoney && i32::try_from(m).is_err() {
                return Err(overflow(ty));
            }
            Ok(Value::Money(m))
        }
        _ => Err(invalid_operand(ty, op_name(op))),
    }
}

/// Exact decimal arithmetic at result scale `rs`.
fn decimal_arith(op: BinOp, a: &Value, b: &Value, rs: u8) -> Result<i128, SqlError> {
    let ov = || {
        overflow(&SqlType::Decimal {
            precision: 38,
            scale: rs,
            numeric: false,
        })
    };
    let (Some((x, sx)), Some((y, sy))) = (convert::decimal_value(a), convert::decimal_value(b))
    else {
        // A float slipped in: compute in floating point.
        let (x, y) = (
            convert::float_value(a).unwrap_or(0.0),
            convert::float_value(b).unwrap_or(0.0),
        );
        let r = match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div if y != 0.0 => x / y,
            _ => return Err(divide_by_zero()),
        };
        return Ok((r * 10f64.powi(rs as i32)).round() as i128);
    };
    match op {
        BinOp::Add | BinOp::Sub | BinOp::Mod => {
            let s = sx.max(sy);
            let x = convert::rescale(x, sx, s).ok_or_else(ov)?;
            let y = convert::rescale(y, sy, s).ok_or_else(ov)?;
            let r = match op {
                BinOp::Add => x.checked_add(y),
                BinOp::Sub => x.checked_sub(y),
                _ => {
                    if y == 0 {
                        return Err(divide_by_zero());
                    }
                    x.checked_rem(y)
                }
            }
            .ok_or_else(ov)?;
            convert::rescale(r, s, rs).ok_or_else(ov)
        }
        BinOp::Mul => {
            let r = x.checked_mul(y).ok_or_else(ov)?;
            convert::rescale(r, sx + sy, rs).ok_or_else(ov)
        }
        BinOp::Div => {
            if y == 0 {
                return Err(divide_by_zero());
            }
            // x/10^sx / (y/10^sy) * 10^rs = x * 10^(rs + sy - sx) / y, rounded.
            let e = rs as i32 + sy as i32 - sx as i32;
            let (num, den) = if e >= 0 {
                (
                    x.checked_mul(10i128.checked_pow(e as u32).ok_or_else(ov)?),
                    Some(y),
                )
            } else {
                (
                    Some(x),
                    y.checked_mul(10i128.checked_pow((-e) as u32).ok_or_else(ov)?),
                )
            };
            match (num, den) {
                (Some(n), Some(d)) => {
                    let q = n / d;
                    let r = n % d;
                    Ok(if r.unsigned_abs() * 2 >= d.unsigned_abs() {
                        q + if (n < 0) != (d < 0) { -1 } else { 1 }
                    } else {
                        q
                    })
                }
                _ => {
                    let f = (x as f64 / 10f64.powi(sx as i32)) / (y as f64 / 10f64.powi(sy as i32));
                    let scaled = f * 10f64.powi(rs as i32);
                    if scaled.abs() >= 1e38 {
                        return Err(ov());
                    }
                    Ok(scaled.round() as i128)
                }
            }
        }
        _ => Err(ov()),
    }
}

fn date_parts_of(v: &Value) -> Option<(i64, u64)> {
    convert::date_time_parts(v).map(|(d, t, _)| (d, t))
}

fn eval_func(f: Func, args: &[BExpr], ty: &SqlType, row: &[Value]) -> Result<Value, SqlError> {
    let arg = |i: usize| -> Result<Value, SqlError> {
        match args.get(i) {
            Some(a) => a.eval(row),
            None => Ok(Value::Null),
        }
    };
    Ok(match f {
        Func::IsNull => match arg(0)? {
            Value::Null => arg(1)?,
            v => v,
        },
        Func::Coalesce => {
            for a in args {
                let v = a.eval(row)?;
                if !matches!(v, Value::Null) {
                    return Ok(v);
                }
            }
            Value::Null
        }
        Func::NullIf => {
            let (a, b) = (arg(0)?, arg(1)?);
            if !matches!(b, Value::Null) && convert::compare(&a, &b, false) == Some(Ordering::Equal)
            {
                Value::Null
            } else {
                a
            }
        }
        Func::Len => match text_of(&arg(0)?) {
            Some(s) => {
                let t = s.trim_end_matches(' ');
                let n = t.encode_utf16().count() as i64;
                if *ty == SqlType::BigInt {
                    Value::BigInt(n)
                } else {
                    Value::Int(n as i32)
                }
            }
            None => Value::Null,
        },
        Func::DataLength => {
            let v = arg(0)?;
            let n: i64 = match &v {
                Value::Null => return Ok(Value::Null),
                Value::Str(s) => {
                    if is_unicode(ty) {
                        s.encode_utf16().count() as i64 * 2
                    } else {
                        s.chars().count() as i64
                    }
                }
                Value::Bytes(b) => b.len() as i64,
                other => convert::max_length(&convert::value_type(other)).max(0) as i64,
            };
            if convert::max_length(ty) == -1 {
                Value::BigInt(n)
            } else {
                Value::Int(n as i32)
            }
        }
        Func::Upper => map_str(&arg(0)?, |s| s.to_uppercase()),
        Func::Lower => map_str(&arg(0)?, |s| s.to_lowercase()),
        Func::LTrim => map_str(&arg(0)?, |s| s.trim_start_matches(' ').to_string()),
        Func::RTrim => map_str(&arg(0)?, |s| s.trim_end_matches(' ').to_string()),
        Func::Trim => map_str(&arg(0)?, |s| s.trim_matches(' ').to_string()),
        Func::Reverse => map_str(&arg(0)?, |s| s.chars().rev().collect()),
        Func::Substring => {
            let (s, start, len) = (arg(0)?, arg(1)?, arg(2)?);
            let (Some(s), Some(start), Some(len)) = (text_of(&s), int_of(&start), int_of(&len))
            else {
                return Ok(Value::Null);
            };
            if len < 0 {
                return Err(err(
                    537,
                    16,
                    "Invalid length parameter passed to the substring function.",
                ));
            }
            let from = start.max(1);
            let to = start.saturating_add(len);
            let taken: String = if to <= from {
                String::new()
            } else {
                s.chars()
                    .skip((from - 1) as usize)
                    .take((to - from) as usize)
                    .collect()
            };
            Value::Str(Arc::from(taken.as_str()))
        }
        Func::Left | Func::Right => {
            let (s, n) = (arg(0)?, arg(1)?);
            let (Some(s), Some(n)) = (text_of(&s), int_of(&n)) else {
                return Ok(Value::Null);
            };
            if n < 0 {
                let name = if f == Func::Left { "left" } else { "right" };
                return Err(err(
                    536,
                    16,
                    format!("Invalid length parameter passed to the {name} function."),
                ));
            }
            let count = s.chars().count();
            let n = (n as usize).min(count);
            let out: String = if f == Func::Left {
                s.chars().take(n).collect()
            } else {
                s.chars().skip(count - n).collect()
            };
            Value::Str(Arc::from(out.as_str()))
        }
        Func::Replace => {
            let (s, find, repl) = (arg(0)?, arg(1)?, arg(2)?);
            let (Some(s), Some(find), Some(repl)) = (text_of(&s), text_of(&find), text_of(&repl))
            else {
                return Ok(Value::Null);
            };
            let mut out = String::with_capacity(s.len());
            let mut pos = 0;
            while let Some((i, end)) = find_ci(&s, &find, pos) {
                out.push_str(&s[pos..i]);
                out.push_str(&repl);
                pos = end;
            }
            out.push_str(&s[pos..]);
            Value::Str(Arc::from(out.as_str()))
        }
        Func::CharIndex => {
            let (find, s) = (arg(0)?, arg(1)?);
            let (Some(find), Some(s)) = (text_of(&find), text_of(&s)) else {
                return Ok(Value::Null);
            };
            let start = match args.get(2) {
                Some(a) => int_of(&a.eval(row)?).unwrap_or(1).max(1) as usize,
                None => 1,
            };
            let byte_start = s
                .char_indices()
                .nth(start - 1)
                .map(|(i, _)| i)
                .unwrap_or(s.len());
            match find_ci(&s, &find, byte_start) {
                Some((i, _)) => Value::Int(s[..i].chars().count() as i32 + 1),
                None => Value::Int(0),
            }
        }
        Func::Concat => {
            let mut out = String::new();
            for a in args {
                if let Some(s) = text_of(&a.eval(row)?) {
                    out.push_str(&s);
                }
            }
            Value::Str(Arc::from(out.as_str()))
        }
        Func::Replicate => {
            let (s, n) = (arg(0)?, arg(1)?);
            let (Some(s), Some(n)) = (text_of(&s), int_of(&n)) else {
                return Ok(Value::Null);
            };
            if n < 0 {
                return Ok(Value::Null);
            }
            let limit = convert::char_limit(ty).unwrap_or(usize::MAX);
            // At most 2 GB of text, SQL Server's own limit for a max type.
            let count = (n as usize)
                .min(limit.max(1))
                .min((1 << 31) / s.len().max(1));
            let out: String = s.repeat(count).chars().take(limit).collect();
            Value::Str(Arc::from(out.as_str()))
        }
        Func::NChar => match int_of(&arg(0)?) {
            // Non-supplementary collations: one UTF-16 code unit, NULL past 65535.
            Some(n @ 0..=0xFFFF) => match char::from_u32(n as u32) {
                Some(c) => Value::Str(Arc::from(c.to_string().as_str())),
                // A lone surrogate is a valid nchar(1) in SQL Server; this server keeps text
                // as UTF-8 and cannot hold it.
                None => return Err(unsupported("NCHAR of a surrogate code unit")),
            },
            _ => Value::Null,
        },
        Func::Char => match int_of(&arg(0)?) {
            Some(n @ 0..=255) => {
                let byte = [n as u8];
                let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&byte);
                Value::Str(Arc::from(text.as_ref()))
            }
            _ => Value::Null,
        },
        Func::Abs | Func::Floor | Func::Ceiling | Func::Sign => {
            let v = arg(0)?;
            numeric_unary(f, &v, ty)?
        }
        Func::Round => {
            let (v, d) = (arg(0)?, arg(1)?);
            let truncate = match args.get(2) {
                Some(a) => int_of(&a.eval(row)?).unwrap_or(0) != 0,
                None => false,
            };
            let Some(d) = int_of(&d) else {
                return Ok(Value::Null);
            };
            round_value(&v, d, truncate, ty)?
        }
        Func::Power => {
            let (a, b) = (arg(0)?, arg(1)?);
            match (convert::float_value(&a), convert::float_value(&b)) {
                (Some(x), Some(y)) => Value::Float(x.powf(y)),
                _ => Value::Null,
            }
        }
        Func::Sqrt => match convert::float_value(&arg(0)?) {
            Some(x) if x < 0.0 => {
                return Err(err(
                    3623,
                    16,
                    "An invalid floating point operation occurred.",
                ))
            }
            Some(x) => Value::Float(x.sqrt()),
            None => Value::Null,
        },
        Func::Year | Func::Month | Func::Day => match date_parts_of(&arg(0)?) {
            Some((d, _)) => {
                let (y, m, dd) = convert::civil_from_days(d);
                Value::Int(match f {
                    Func::Year => y as i32,
                    Func::Month => m as i32,
                    _ => dd as i32,
                })
            }
            None => Value::Null,
        },
        Func::DatePartOf(part) => {
            let v = arg(0)?;
            match date_part_value(part, &v) {
                Some(n) => {
                    if is_string(ty) {
                        Value::Str(Arc::from(n.to_string().as_str()))
                    } else {
                        Value::Int(n as i32)
                    }
                }
                None => Value::Null,
            }
        }
        Func::DateAdd(part) => {
            let (n, d) = (arg(0)?, arg(1)?);
            let (Some(n), Some((days, ticks))) = (int_of(&n), date_parts_of(&d)) else {
                return Ok(Value::Null);
            };
            let offset = match &d {
                Value::DateTimeOffset { offset_minutes, .. } => Some(*offset_minutes),
                _ => None,
            };
            let (nd, nt) = date_add(part, n, days, ticks)?;
            convert::make_datetime(nd, nt, offset, ty, || {
                err(
                    517,
                    16,
                    format!(
                        "Adding a value to a '{}' column caused an overflow.",
                        type_name(ty)
                    ),
                )
            })?
        }
        Func::DateDiff(part) => {
            let (a, b) = (arg(0)?, arg(1)?);
            let (Some((d1, t1)), Some((d2, t2))) = (utc_parts(&a), utc_parts(&b)) else {
                return Ok(Value::Null);
            };
            let n = date_diff(part, d1, t1, d2, t2);
            Value::Int(i32::try_from(n).map_err(|_| {
                err(535, 16, "The datediff function resulted in an overflow. The number of dateparts separating two date/time instances is too large. Try to use datediff with a less precise datepart.")
            })?)
        }
        Func::IsNumeric => match arg(0)? {
            Value::Null => Value::Int(0),
            Value::Str(s) => {
                let t = s.trim();
                let ok = !t.is_empty()
                    && (convert::parse_decimal_text(t.trim_start_matches(['$', '+', '-']))
                        .is_some()
                        || t.parse::<f64>().is_ok());
                Value::Int(ok as i32)
            }
            v if convert::is_numeric(&convert::value_type(&v)) => Value::Int(1),
            _ => Value::Int(0),
        },
        Func::NewId => {
            let mut g = [0u8; 16];
            g[..8].copy_from_slice(&random_u64().to_be_bytes());
            g[8..].copy_from_slice(&random_u64().to_be_bytes());
            g[6] = (g[6] & 0x0F) | 0x40;
            g[8] = (g[8] & 0x3F) | 0x80;
            Value::Guid(g)
        }
    })
}

/// The UTC instant of a date/time value (datetimeoffset compares by UTC).
fn utc_parts(v: &Value) -> Option<(i64, u64)> {
    match v {
        Value::DateTimeOffset {
            days, ticks_100ns, ..
        } => Some((*days as i64, *ticks_100ns)),
        other => date_parts_of(other),
    }
}

fn date_part_value(part: DatePart, v: &Value) -> Option<i64> {
    let (d, t) = date_parts_of(v)?;
    let (y, m, dd) = convert::civil_from_days(d);
    Some(match part {
        DatePart::Year => y,
        DatePart::Quarter => (m as i64 - 1) / 3 + 1,
        DatePart::Month => m as i64,
        DatePart::DayOfYear => d - convert::days_from_civil(y, 1, 1) + 1,
        DatePart::Day => dd as i64,
        DatePart::Week => {
            let jan1 = convert::days_from_civil(y, 1, 1);
            // 0001-01-01 was a Monday; with DATEFIRST 7 weeks start on Sunday.
            let jan1_dow = (jan1 + 1) % 7;
            (d - jan1 + jan1_dow) / 7 + 1
        }
        DatePart::WeekDay => (d + 1) % 7 + 1,
        DatePart::Hour => (t / 36_000_000_000) as i64,
        DatePart::Minute => (t / 600_000_000 % 60) as i64,
        DatePart::Second => (t / 10_000_000 % 60) as i64,
        DatePart::Millisecond => (t / 10_000 % 1000) as i64,
        DatePart::Microsecond => (t / 10 % 1_000_000) as i64,
        DatePart::Nanosecond => (t % 10_000_000 * 100) as i64,
    })
}

fn date_add(part: DatePart, n: i64, days: i64, ticks: u64) -> Result<(i64, u64), SqlError> {
    let ov = || {
        err(
            517,
            16,
            "Adding a value to a 'datetime2' column caused an overflow.",
        )
    };
    let months = |k: i64| -> Result<(i64, u64), SqlError> {
        let (y, m, d) = convert::civil_from_days(days);
        let total = y * 12 + (m as i64 - 1) + k;
        let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
        if !(1..=9999).contains(&ny) {
            return Err(ov());
        }
        let nd = d.min(convert::days_in_month(ny, nm));
        Ok((convert::days_from_civil(ny, nm, nd), ticks))
    };
    let tick_unit: i128 = match part {
        DatePart::Year => return months(n.checked_mul(12).ok_or_else(ov)?),
        DatePart::Quarter => return months(n.checked_mul(3).ok_or_else(ov)?),
        DatePart::Month => return months(n),
        DatePart::Day | DatePart::DayOfYear | DatePart::WeekDay => convert::TICKS_PER_DAY as i128,
        DatePart::Week => 7 * convert::TICKS_PER_DAY as i128,
        DatePart::Hour => 36_000_000_000,
        DatePart::Minute => 600_000_000,
        DatePart::Second => 10_000_000,
        DatePart::Millisecond => 10_000,
        DatePart::Microsecond => 10,
        DatePart::Nanosecond => {
            let total =
                days as i128 * convert::TICKS_PER_DAY as i128 + ticks as i128 + (n as i128) / 100;
            return split_ticks(total).ok_or_else(ov);
        }
    };
    let total =
        days as i128 * convert::TICKS_PER_DAY as i128 + ticks as i128 + n as i128 * tick_unit;
    split_ticks(total).ok_or_else(ov)
}

fn split_ticks(total: i128) -> Option<(i64, u64)> {
    let per = convert::TICKS_PER_DAY as i128;
    let d = total.div_euclid(per);
    if !(0..=convert::MAX_DAYS as i128).contains(&d) {
        return None;
    }
    Some((d as i64, total.rem_euclid(per) as u64))
}

fn date_diff(part: DatePart, d1: i64, t1: u64, d2: i64, t2: u64) -> i64 {
    let total = |d: i64, t: u64| d as i128 * convert::TICKS_PER_DAY as i128 + t as i128;
    let boundaries =
        |unit: i128| (total(d2, t2).div_euclid(unit) - total(d1, t1).div_euclid(unit)) as i64;
    let (y1, m1, _) = convert::civil_from_days(d1);
    let (y2, m2, _) = convert::civil_from_days(d2);
    match part {
        DatePart::Year => y2 - y1,
        DatePart::Quarter => (y2 * 4 + (m2 as i64 - 1) / 3) - (y1 * 4 + (m1 as i64 - 1) / 3),
        DatePart::Month => (y2 * 12 + m2 as i64) - (y1 * 12 + m1 as i64),
        DatePart::Day | DatePart::DayOfYear | DatePart::WeekDay => d2 - d1,
        // Weeks start on Sunday: 0001-01-07 was the first Sunday.
        DatePart::Week => (d2 + 1).div_euclid(7) - (d1 + 1).div_euclid(7),
        DatePart::Hour => boundaries(36_000_000_000),
        DatePart::Minute => boundaries(600_000_000),
        DatePart::Second => boundaries(10_000_000),
        DatePart::Millisecond => boundaries(10_000),
        DatePart::Microsecond => boundaries(10),
        DatePart::Nanosecond => ((total(d2, t2) - total(d1, t1)) * 100) as i64,
    }
}

fn numeric_unary(f: Func, v: &Value, ty: &SqlType) -> Result<Value, SqlError> {
    if matches!(v, Value::Null) {
        return Ok(Value::Null);
    }
    if let Some(x) = convert::int_value(v) {
        let r = match f {
            Func::Abs => x.checked_abs().ok_or_else(|| overflow(ty))?,
            Func::Sign => x.signum(),
            _ => x,
        };
        return convert::convert(&Value::BigInt(r), &SqlType::BigInt, ty, None);
    }
    let exact = match v {
        Value::Money(m) => Some((*m as i128, 4u8)),
        Value::Decimal { value, scale } => Some((*value, *scale)),
        _ => None,
    };
    match exact {
        Some((value, scale)) => {
            let unit = convert::pow10(scale).ok_or_else(|| overflow(ty))?;
            let r = match f {
                Func::Abs => value.abs(),
                Func::Sign => value.signum() * unit,
                Func::Floor => value.div_euclid(unit) * unit,
                _ => -((-value).div_euclid(unit)) * unit,
            };
            convert::convert(
                &Value::Decimal { value: r, scale },
                &convert::value_type(v),
                ty,
                None,
            )
        }
        _ => {
            let x = convert::float_value(v).unwrap_or(0.0);
            let r = match f {
                Func::Abs => x.abs(),
                Func::Sign => x.signum() * (x != 0.0) as i32 as f64,
                Func::Floor => x.floor(),
                _ => x.ceil(),
            };
            Ok(if *ty == SqlType::Real {
                Value::Real(r as f32)
            } else {
                Value::Float(r)
            })
        }
    }
}

fn round_value(v: &Value, d: i64, truncate: bool, ty: &SqlType) -> Result<Value, SqlError> {
    if matches!(v, Value::Null) {
        return Ok(Value::Null);
    }
    if let Some((value, scale)) = convert::decimal_value(v) {
        let drop = scale as i64 - d;
        if drop <= 0 {
            return Ok(v.clone());
        }
        if drop > 38 {
            return convert::convert(
                &Value::Decimal { value: 0, scale },
                &convert::value_type(v),
                ty,
                None,
            );
        }
        let unit = convert::pow10(drop as u8).ok_or_else(|| overflow(ty))?;
        let q = value / unit;
        let r = value % unit;
        let q = if !truncate && r.unsigned_abs() * 2 >= unit.unsigned_abs() {
            q + value.signum()
        } else {
            q
        };
        let rounded = q.checked_mul(unit).ok_or_else(|| overflow(ty))?;
        let out = Value::Decimal {
            value: rounded,
            scale,
        };
        return match v {
            Value::Decimal { .. } => Ok(out),
            _ => convert::convert(&out, &convert::value_type(&out), ty, None),
        };
    }
    let x = convert::float_value(v).unwrap_or(0.0);
    let f = 10f64.powi(d as i32);
    let r = if truncate {
        (x * f).trunc() / f
    } else {
        (x * f).round() / f
    };
    Ok(if *ty == SqlType::Real {
        Value::Real(r as f32)
    } else {
        Value::Float(r)
    })
}

fn eval_sys(f: SysFunc, args: &[Value], ctx: &SysCtx) -> Value {
    let text = |s: &str| Value::Str(Arc::from(s));
    let arg_text = |i: usize| args.get(i).and_then(text_of);
    let arg_int = |i: usize| args.get(i).and_then(int_of);
    let db = |id: Option<i64>| match id {
        Some(id) => ctx.engine.database_by_id(id as i32),
        None => ctx.engine.database(&ctx.database),
    };
    match f {
        SysFunc::ObjectId => {
            let Some(name) = arg_text(0) else {
                return Value::Null;
            };
            match ctx.engine.object_id(&ctx.database, &name) {
                Some(id) => Value::Int(id),
                None => Value::Null,
            }
        }
        SysFunc::ObjectName | SysFunc::ObjectSchemaName => {
            let Some(id) = arg_int(0) else {
                return Value::Null;
            };
            let Some(db) = db(arg_int(1)) else {
                return Value::Null;
            };
            match db.object_name(id as i32) {
                Some((schema, name)) => text(if f == SysFunc::ObjectName {
                    &name
                } else {
                    &schema
                }),
                None => Value::Null,
            }
        }
        SysFunc::SchemaName => {
            let id = arg_int(0).unwrap_or(1);
            let Some(db) = db(None) else {
                return Value::Null;
            };
            let st = db.read();
            match st.schemas.iter().find(|s| s.id as i64 == id) {
                Some(s) => text(&s.name),
                None => Value::Null,
            }
        }
        SysFunc::SchemaId => {
            let Some(db) = db(None) else {
                return Value::Null;
            };
            let name = arg_text(0)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "dbo".into());
            let st = db.read();
            match st.schema(&name) {
                Some(s) => Value::Int(s.id),
                None => Value::Null,
            }
        }
        SysFunc::DbName => match args.first() {
            None => text(&ctx.database),
            Some(v) => match int_of(v).and_then(|id| ctx.engine.database_by_id(id as i32)) {
                Some(d) => text(&d.name),
                None => Value::Null,
            },
        },
        SysFunc::DbId => {
            let d = match arg_text(0) {
                Some(name) => ctx.engine.database(&name),
                None if args.is_empty() => ctx.engine.database(&ctx.database),
                None => None,
            };
            match d {
                Some(d) => Value::SmallInt(d.id as i16),
                None => Value::Null,
            }
        }
        SysFunc::TypeName => {
            match arg_int(0).and_then(|id| super::catalog::type_name_by_id(id as i32)) {
                Some(n) => text(n),
                None => Value::Null,
            }
        }
    }
}
