//! The statements and expressions of the T-SQL subset the engine runs.

use crate::types::{SqlType, Value};

/// A possibly qualified name `[db.][schema.]name`; parts as written (unquoted).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjName {
    pub database: Option<String>,
    pub schema: Option<String>,
    pub name: String,
}

impl ObjName {
    /// As SQL Server echoes it in messages: the parts as written, joined by dots.
    pub fn display(&self) -> String {
        let mut s = String::new();
        if let Some(d) = &self.database {
            s.push_str(d);
            s.push('.');
            if self.schema.is_none() {
                s.push('.');
            }
        }
        if let Some(sc) = &self.schema {
            s.push_str(sc);
            s.push('.');
        }
        s.push_str(&self.name);
        s
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value, SqlType),
    /// `a`, `t.a`, `s.t.a`: parts as written.
    Column(Vec<String>),
    Var(String),
    Global(String),
    Neg(Box<Expr>),
    BitNot(Box<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    IsNull(Box<Expr>, bool),
    InList(Box<Expr>, Vec<Expr>, bool),
    Between(Box<Expr>, Box<Expr>, Box<Expr>, bool),
    Like(Box<Expr>, Box<Expr>, bool),
    Func {
        name: String,
        args: Vec<Expr>,
        star: bool,
        distinct: bool,
    },
    Cast(Box<Expr>, SqlType),
    /// CONVERT(type, expr [, style]) and TRY_CONVERT/TRY_CAST (`try_` = true).
    Convert {
        ty: SqlType,
        expr: Box<Expr>,
        style: Option<i64>,
        try_: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    /// A scalar subquery, `EXISTS (...)` or `x IN (SELECT ...)`.
    Subquery(Box<Select>),
    Exists(Box<Select>),
    InSelect(Box<Expr>, Box<Select>, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*` or `alias.*`.
    Wildcard(Option<String>),
    Expr {
        expr: Expr,
        alias: Option<String>,
    },
    /// `@var = expr` (assignment SELECT).
    Assign {
        var: String,
        expr: Expr,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum TableSource {
    Named {
        name: ObjName,
        alias: Option<String>,
    },
    Derived {
        select: Box<Select>,
        alias: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Cross,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub kind: JoinKind,
    pub source: TableSource,
    pub on: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FromItem {
    pub source: TableSource,
    pub joins: Vec<Join>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub expr: Expr,
    pub desc: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Select {
    pub distinct: bool,
    pub top: Option<Expr>,
    pub top_percent: bool,
    pub items: Vec<SelectItem>,
    pub into: Option<ObjName>,
    pub from: Vec<FromItem>,
    pub where_: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub order_by: Vec<OrderItem>,
    pub offset: Option<Expr>,
    pub fetch: Option<Expr>,
    /// `UNION [ALL]` continuations.
    pub unions: Vec<(bool, Select)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    /// `None` for a computed column.
    pub sql_type: Option<SqlType>,
    pub nullable: Option<bool>,
    pub identity: Option<(i64, i64)>,
    pub computed: Option<(Expr, String)>,
    pub persisted: bool,
    pub default: Option<(Expr, String)>,
    /// `CONSTRAINT name DEFAULT ...`: the default constraint's name.
    pub default_name: Option<String>,
    /// Inline PRIMARY KEY / UNIQUE (constraint name, clustered).
    pub primary_key: Option<(Option<String>, Option<bool>)>,
    pub unique: Option<(Option<String>, Option<bool>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyConstraint {
    pub name: Option<String>,
    pub primary: bool,
    /// None = the default (clustered for PRIMARY KEY, nonclustered for UNIQUE).
    pub clustered: Option<bool>,
    pub columns: Vec<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InsertSource {
    Values(Vec<Vec<Expr>>),
    Select(Box<Select>),
    DefaultValues,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SetOption {
    /// ON/OFF options (NOCOUNT, ANSI_NULLS, XACT_ABORT, ...), possibly several names at once.
    Flags(Vec<String>, bool),
    IdentityInsert(ObjName, bool),
    /// TEXTSIZE, LOCK_TIMEOUT, ROWCOUNT, DEADLOCK_PRIORITY, DATEFIRST, ... with a value.
    Value(String, Expr),
    /// DATEFORMAT, LANGUAGE: a word.
    Word(String, String),
    IsolationLevel(String),
    Variable(String, Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub column: String,
    pub value: Expr,
}

/// One statement. (Sizes differ a lot between variants; statements are few and short-lived.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Select(Select),
    Insert {
        table: ObjName,
        columns: Option<Vec<String>>,
        source: InsertSource,
    },
    Update {
        table: ObjName,
        sets: Vec<Assignment>,
        where_: Option<Expr>,
    },
    Delete {
        table: ObjName,
        where_: Option<Expr>,
    },
    CreateTable {
        name: ObjName,
        columns: Vec<ColumnDef>,
        keys: Vec<KeyConstraint>,
    },
    DropTable {
        names: Vec<ObjName>,
        if_exists: bool,
    },
    Truncate(ObjName),
    CreateDatabase(String),
    DropDatabase {
        name: String,
        if_exists: bool,
    },
    CreateSchema(String),
    Use(String),
    Set(SetOption),
    Declare(Vec<(String, SqlType, Option<Expr>)>),
    Exec {
        proc: ObjName,
        args: Vec<(Option<String>, Expr)>,
    },
    BeginTran,
    Commit,
    Rollback,
    Print(Expr),
}
