//! A recursive-descent parser for the T-SQL subset (see the choice in `engine/mod.rs`).
//! Syntax errors are SQL Server's 102 ("Incorrect syntax near 'X'.") and 156 (near a keyword).

use super::ast::*;
use super::convert::{collation_by_name, literal_decimal};
use super::expr::unsupported;
use super::lexer::{is_reserved, syntax_error_near, tokenize, Tok, Token};
use crate::types::{ClrType, Collation, SqlError, SqlType, Value};

/// Parses an object name given as text (`OBJECT_ID('dbo.T')`, an RPC procedure name).
pub fn parse_object_name(text: &str) -> Result<ObjName, SqlError> {
    let toks = tokenize(text)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let name = p.obj_name()?;
    if !p.at_eof() {
        return Err(p.error());
    }
    Ok(name)
}

pub fn parse_batch(sql: &str) -> Result<Vec<(Stmt, u32)>, SqlError> {
    let toks = tokenize(sql)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let mut out = Vec::new();
    let mut first = true;
    loop {
        while p.eat_op(";") {}
        if p.at_eof() {
            break;
        }
        let line = p.peek().line;
        let stmt = p.statement(first)?;
        out.push((stmt, line));
        first = false;
    }
    Ok(out)
}

/// Parses one expression (computed column definitions, defaults).
pub fn parse_expression(sql: &str) -> Result<Expr, SqlError> {
    let toks = tokenize(sql)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.expr()?;
    if !p.at_eof() {
        return Err(p.error());
    }
    Ok(e)
}

/// Parses a parameter declaration list of sp_executesql: `@P1 int, @P2 nvarchar(4000) OUTPUT`.
pub fn parse_param_decls(sql: &str) -> Result<Vec<(String, SqlType)>, SqlError> {
    let toks = tokenize(sql)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let mut out = Vec::new();
    while !p.at_eof() {
        let name = match &p.peek().tok {
            Tok::Var(v) => v.clone(),
            _ => return Err(p.error()),
        };
        p.pos += 1;
        p.eat_kw("AS");
        let ty = p.data_type(1, &name)?;
        if !p.eat_kw("OUTPUT") {
            p.eat_kw("OUT");
        }
        out.push((name, ty));
        if !p.eat_op(",") {
            break;
        }
    }
    if !p.at_eof() {
        return Err(p.error());
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// Nesting of the expression being parsed (parentheses, operators, subqueries).
    depth: usize,
}

/// How deeply parentheses, prefix operators and subqueries may nest (and how long a chain
/// of arithmetic operators may be) before error 191; keeps parsing, binding and evaluation,
/// which recurse, well inside a thread's stack. AND/OR lists of any length are built as
/// balanced trees and stay shallow.
const MAX_NESTING: usize = 100;
const MAX_CHAIN: usize = 1000;

fn too_deep() -> SqlError {
    SqlError::new(
        191,
        1,
        15,
        "Some part of your SQL statement is nested too deeply. Rewrite the query or break it up into smaller queries.",
    )
}

const TABLE_HINTS: &[&str] = &[
    "NOLOCK",
    "READUNCOMMITTED",
    "READCOMMITTED",
    "READCOMMITTEDLOCK",
    "READPAST",
    "REPEATABLEREAD",
    "SERIALIZABLE",
    "HOLDLOCK",
    "TABLOCK",
    "TABLOCKX",
    "UPDLOCK",
    "ROWLOCK",
    "PAGLOCK",
    "XLOCK",
    "NOWAIT",
    "SNAPSHOT",
    "FORCESEEK",
    "FORCESCAN",
    "NOEXPAND",
    "KEEPIDENTITY",
    "KEEPDEFAULTS",
    "IGNORE_CONSTRAINTS",
    "IGNORE_TRIGGERS",
];

/// ON/OFF options SQL Server accepts in `SET`.
const SET_FLAGS: &[&str] = &[
    "NOCOUNT",
    "ANSI_NULLS",
    "ANSI_PADDING",
    "ANSI_WARNINGS",
    "ANSI_NULL_DFLT_ON",
    "ANSI_NULL_DFLT_OFF",
    "ANSI_DEFAULTS",
    "ARITHABORT",
    "ARITHIGNORE",
    "CONCAT_NULL_YIELDS_NULL",
    "CURSOR_CLOSE_ON_COMMIT",
    "IMPLICIT_TRANSACTIONS",
    "NUMERIC_ROUNDABORT",
    "QUOTED_IDENTIFIER",
    "XACT_ABORT",
    "FMTONLY",
    "NOEXEC",
    "PARSEONLY",
    "SHOWPLAN_ALL",
    "SHOWPLAN_TEXT",
    "SHOWPLAN_XML",
    "FORCEPLAN",
    "NO_BROWSETABLE",
    "REMOTE_PROC_TRANSACTIONS",
];

/// Options that take a number (or a word for DEADLOCK_PRIORITY).
const SET_VALUES: &[&str] = &[
    "TEXTSIZE",
    "LOCK_TIMEOUT",
    "ROWCOUNT",
    "DEADLOCK_PRIORITY",
    "DATEFIRST",
    "QUERY_GOVERNOR_COST_LIMIT",
    "CONTEXT_INFO",
];

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn at_eof(&self) -> bool {
        matches!(self.peek().tok, Tok::Eof)
    }

    /// A syntax error at the current token; at the end of the batch SQL Server names the
    /// last token it saw.
    fn error(&self) -> SqlError {
        if self.at_eof() && self.pos > 0 {
            return syntax_error_near(&self.toks[self.pos - 1]);
        }
        syntax_error_near(self.peek())
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(&self.peek().tok, Tok::Op(o) if *o == op)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<(), SqlError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// A name: a non-reserved word or a quoted identifier.
    fn ident(&mut self) -> Result<String, SqlError> {
        match &self.peek().tok {
            Tok::Word(w) if !is_reserved(w) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            Tok::Quoted(q) => {
                let q = q.clone();
                self.pos += 1;
                Ok(q)
            }
            _ => Err(self.error()),
        }
    }

    fn is_ident(&self) -> bool {
        match &self.peek().tok {
            Tok::Word(w) => !is_reserved(w),
            Tok::Quoted(_) => true,
            _ => false,
        }
    }

    /// `[db.][schema.]name`, with `db..name` allowed.
    fn obj_name(&mut self) -> Result<ObjName, SqlError> {
        let mut parts: Vec<Option<String>> = vec![Some(self.ident()?)];
        while self.eat_op(".") {
            if self.is_op(".") {
                parts.push(None);
                continue;
            }
            parts.push(Some(self.ident()?));
        }
        let name = parts.pop().flatten().ok_or_else(|| self.error())?;
        match parts.len() {
            0 => Ok(ObjName {
                database: None,
                schema: None,
                name,
            }),
            1 => Ok(ObjName {
                database: None,
                schema: parts.pop().flatten(),
                name,
            }),
            2 => {
                let schema = parts.pop().flatten();
                Ok(ObjName {
                    database: parts.pop().flatten(),
                    schema,
                    name,
                })
            }
            // Four-part names (linked servers) are not served here.
            _ => Err(self.error()),
        }
    }

    fn statement(&mut self, first_in_batch: bool) -> Result<Stmt, SqlError> {
        let word = match &self.peek().tok {
            Tok::Word(w) => w.to_ascii_uppercase(),
            Tok::Op("(") => return Ok(Stmt::Select(self.query()?)),
            Tok::Quoted(_) if first_in_batch => String::new(),
            _ => return Err(self.error()),
        };
        match word.as_str() {
            "SELECT" => Ok(Stmt::Select(self.query()?)),
            "INSERT" => self.insert(),
            "UPDATE" => self.update(),
            "DELETE" => self.delete(),
            "CREATE" => self.create(),
            "DROP" => self.drop(),
            "TRUNCATE" => {
                self.pos += 1;
                self.expect_kw("TABLE")?;
                Ok(Stmt::Truncate(self.obj_name()?))
            }
            "USE" => {
                self.pos += 1;
                Ok(Stmt::Use(self.ident()?))
            }
            "SET" => self.set(),
            "DECLARE" => self.declare(),
            "EXEC" | "EXECUTE" => {
                self.pos += 1;
                self.exec_body()
            }
            "BEGIN" => {
                self.pos += 1;
                if self.is_kw("DISTRIBUTED") {
                    return Err(unsupported("BEGIN DISTRIBUTED TRANSACTION"));
                }
                if !self.is_kw("TRAN") && !self.is_kw("TRANSACTION") {
                    return Err(unsupported("BEGIN"));
                }
                if !self.eat_kw("TRAN") {
                    self.expect_kw("TRANSACTION")?;
                }
                if self.is_ident() {
                    self.pos += 1;
                }
                Ok(Stmt::BeginTran)
            }
            "COMMIT" | "ROLLBACK" => {
                self.pos += 1;
                if self.eat_kw("TRAN") || self.eat_kw("TRANSACTION") {
                    if self.is_ident() {
                        self.pos += 1;
                    }
                } else {
                    self.eat_kw("WORK");
                }
                Ok(if word == "COMMIT" {
                    Stmt::Commit
                } else {
                    Stmt::Rollback
                })
            }
            "PRINT" => {
                self.pos += 1;
                Ok(Stmt::Print(self.expr()?))
            }
            "IF" | "WHILE" | "ALTER" | "MERGE" | "RAISERROR" | "THROW" | "GRANT" | "REVOKE"
            | "DENY" | "DBCC" | "BULK" | "BACKUP" | "RESTORE" | "CHECKPOINT" | "WAITFOR"
            | "GOTO" | "RETURN" | "BREAK" | "CONTINUE" | "TRY" | "OPEN" | "CLOSE" | "FETCH"
            | "DEALLOCATE" | "KILL" | "RECONFIGURE" | "SHUTDOWN" | "READTEXT" | "WRITETEXT"
            | "UPDATETEXT" | "SAVE" | "ENABLE" | "DISABLE" | "REVERT" | "SETUSER" | "WITH" => {
                Err(unsupported(&word))
            }
            "END" if self.is_kw_at(1, "CONVERSATION") => Err(unsupported("END CONVERSATION")),
            _ if first_in_batch && self.is_ident() => {
                // The first statement of a batch may name a procedure without EXEC.
                self.exec_body()
            }
            _ => Err(self.error()),
        }
    }

    fn exec_body(&mut self) -> Result<Stmt, SqlError> {
        let proc = self.obj_name()?;
        let mut args = Vec::new();
        if !self.at_eof() && !self.is_op(";") && !self.is_statement_start() {
            loop {
                let name = match (&self.peek().tok, self.peek_at(1)) {
                    (Tok::Var(v), Tok::Op("=")) => {
                        let v = v.clone();
                        self.pos += 2;
                        Some(v)
                    }
                    _ => None,
                };
                let value = if self.eat_kw("DEFAULT") {
                    Expr::Func {
                        name: "DEFAULT".into(),
                        args: vec![],
                        star: false,
                        distinct: false,
                    }
                } else {
                    self.expr()?
                };
                if !self.eat_kw("OUTPUT") {
                    self.eat_kw("OUT");
                }
                args.push((name, value));
                if !self.eat_op(",") {
                    break;
                }
            }
        }
        Ok(Stmt::Exec { proc, args })
    }

    fn is_statement_start(&self) -> bool {
        const STARTS: &[&str] = &[
            "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "TRUNCATE", "USE", "SET",
            "DECLARE", "EXEC", "EXECUTE", "BEGIN", "COMMIT", "ROLLBACK", "PRINT",
        ];
        STARTS.iter().any(|k| self.is_kw(k))
    }

    // ----- SELECT -----

    /// A full query: SELECT ... [UNION [ALL] SELECT ...] [ORDER BY ...] [OFFSET/FETCH] [OPTION(..)].
    fn query(&mut self) -> Result<Select, SqlError> {
        self.enter()?;
        let depth = self.depth;
        let q = self.query_body();
        self.depth = depth - 1;
        q
    }

    /// One level deeper; error 191 beyond [`MAX_NESTING`].
    fn enter(&mut self) -> Result<(), SqlError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(too_deep());
        }
        Ok(())
    }

    fn query_body(&mut self) -> Result<Select, SqlError> {
        let mut sel = if self.eat_op("(") {
            let s = self.query()?;
            self.expect_op(")")?;
            s
        } else {
            self.select_core()?
        };
        while self.is_kw("UNION") {
            self.pos += 1;
            let all = self.eat_kw("ALL");
            let next = self.select_core()?;
            sel.unions.push((all, next));
        }
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let expr = self.expr()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                sel.order_by.push(OrderItem { expr, desc });
                if !self.eat_op(",") {
                    break;
                }
            }
            if self.eat_kw("OFFSET") {
                sel.offset = Some(self.expr()?);
                if !self.eat_kw("ROWS") {
                    self.expect_kw("ROW")?;
                }
                if self.eat_kw("FETCH") {
                    if !self.eat_kw("NEXT") {
                        self.expect_kw("FIRST")?;
                    }
                    sel.fetch = Some(self.expr()?);
                    if !self.eat_kw("ROWS") {
                        self.expect_kw("ROW")?;
                    }
                    self.expect_kw("ONLY")?;
                }
            }
        }
        if self.eat_kw("OPTION") {
            self.skip_parens()?;
        }
        Ok(sel)
    }

    fn skip_parens(&mut self) -> Result<(), SqlError> {
        self.expect_op("(")?;
        let mut depth = 1;
        while depth > 0 {
            match &self.peek().tok {
                Tok::Eof => return Err(self.error()),
                Tok::Op("(") => depth += 1,
                Tok::Op(")") => depth -= 1,
                _ => {}
            }
            self.pos += 1;
        }
        Ok(())
    }

    fn select_core(&mut self) -> Result<Select, SqlError> {
        self.expect_kw("SELECT")?;
        let mut sel = Select::default();
        if self.eat_kw("DISTINCT") {
            sel.distinct = true;
        } else {
            self.eat_kw("ALL");
        }
        if self.eat_kw("TOP") {
            let n = if self.eat_op("(") {
                let e = self.expr()?;
                self.expect_op(")")?;
                e
            } else {
                self.primary()?
            };
            sel.top = Some(n);
            sel.top_percent = self.eat_kw("PERCENT");
            if self.is_kw("WITH") && self.is_kw_at(1, "TIES") {
                return Err(unsupported("WITH TIES"));
            }
        }
        loop {
            sel.items.push(self.select_item()?);
            if !self.eat_op(",") {
                break;
            }
        }
        if self.eat_kw("INTO") {
            sel.into = Some(self.obj_name()?);
        }
        if self.eat_kw("FROM") {
            loop {
                sel.from.push(self.table_with_joins()?);
                if !self.eat_op(",") {
                    break;
                }
            }
        }
        if self.eat_kw("WHERE") {
            sel.where_ = Some(self.expr()?);
        }
        if self.eat_kw("GROUP") {
            self.expect_kw("BY")?;
            loop {
                sel.group_by.push(self.expr()?);
                if !self.eat_op(",") {
                    break;
                }
            }
        }
        if self.eat_kw("HAVING") {
            sel.having = Some(self.expr()?);
        }
        Ok(sel)
    }

    fn select_item(&mut self) -> Result<SelectItem, SqlError> {
        if self.eat_op("*") {
            return Ok(SelectItem::Wildcard(None));
        }
        // alias.*
        if self.is_ident()
            && matches!(self.peek_at(1), Tok::Op("."))
            && matches!(self.peek_at(2), Tok::Op("*"))
        {
            let q = self.ident()?;
            self.pos += 2;
            return Ok(SelectItem::Wildcard(Some(q)));
        }
        // alias = expr; @var = expr
        match (&self.peek().tok, self.peek_at(1)) {
            (Tok::Var(v), Tok::Op("=")) => {
                let var = v.clone();
                self.pos += 2;
                return Ok(SelectItem::Assign {
                    var,
                    expr: self.expr()?,
                });
            }
            (Tok::Word(w), Tok::Op("=")) if !is_reserved(w) => {
                let alias = w.clone();
                self.pos += 2;
                return Ok(SelectItem::Expr {
                    expr: self.expr()?,
                    alias: Some(alias),
                });
            }
            (Tok::Quoted(w) | Tok::Str(w), Tok::Op("=")) => {
                let alias = w.clone();
                self.pos += 2;
                return Ok(SelectItem::Expr {
                    expr: self.expr()?,
                    alias: Some(alias),
                });
            }
            _ => {}
        }
        let expr = self.expr()?;
        let alias = if self.eat_kw("AS") {
            match &self.peek().tok {
                Tok::Str(s) => {
                    let s = s.clone();
                    self.pos += 1;
                    Some(s)
                }
                _ => Some(self.ident()?),
            }
        } else if self.is_ident() {
            Some(self.ident()?)
        } else if let Tok::Str(s) = &self.peek().tok {
            let s = s.clone();
            self.pos += 1;
            Some(s)
        } else {
            None
        };
        Ok(SelectItem::Expr { expr, alias })
    }

    fn table_with_joins(&mut self) -> Result<FromItem, SqlError> {
        let source = self.table_source()?;
        let mut joins = Vec::new();
        loop {
            let kind = if self.eat_kw("JOIN") {
                JoinKind::Inner
            } else if self.is_kw("INNER") {
                self.pos += 1;
                self.expect_kw("JOIN")?;
                JoinKind::Inner
            } else if self.is_kw("LEFT") || self.is_kw("RIGHT") {
                let left = self.is_kw("LEFT");
                self.pos += 1;
                self.eat_kw("OUTER");
                self.expect_kw("JOIN")?;
                if left {
                    JoinKind::Left
                } else {
                    JoinKind::Right
                }
            } else if self.is_kw("CROSS") && self.is_kw_at(1, "APPLY")
                || self.is_kw("OUTER") && self.is_kw_at(1, "APPLY")
            {
                return Err(unsupported("APPLY"));
            } else if self.is_kw("FULL") {
                return Err(unsupported("FULL OUTER JOIN"));
            } else if self.is_kw("CROSS") {
                self.pos += 1;
                self.expect_kw("JOIN")?;
                JoinKind::Cross
            } else {
                break;
            };
            let source = self.table_source()?;
            let on = if kind == JoinKind::Cross {
                None
            } else {
                self.expect_kw("ON")?;
                Some(self.expr()?)
            };
            joins.push(Join { kind, source, on });
        }
        Ok(FromItem { source, joins })
    }

    fn table_source(&mut self) -> Result<TableSource, SqlError> {
        if self.eat_op("(") {
            let select = self.query()?;
            self.expect_op(")")?;
            self.eat_kw("AS");
            let alias = self.ident()?;
            return Ok(TableSource::Derived {
                select: Box::new(select),
                alias,
            });
        }
        let name = self.obj_name()?;
        let alias = if self.eat_kw("AS") || self.is_ident() && !self.is_join_word() {
            Some(self.ident()?)
        } else {
            None
        };
        if self.is_kw("WITH") && matches!(self.peek_at(1), Tok::Op("(")) {
            self.pos += 1;
            self.table_hints()?;
        } else if self.is_op("(")
            && matches!(self.peek_at(1), Tok::Word(w) if TABLE_HINTS.iter().any(|h| h.eq_ignore_ascii_case(w)))
        {
            self.table_hints()?;
        }
        Ok(TableSource::Named { name, alias })
    }

    fn is_join_word(&self) -> bool {
        [
            "JOIN", "INNER", "LEFT", "RIGHT", "CROSS", "OUTER", "FULL", "OPTION", "OFFSET",
            "FETCH", "ROWS",
        ]
        .iter()
        .any(|k| self.is_kw(k))
    }

    fn table_hints(&mut self) -> Result<(), SqlError> {
        self.expect_op("(")?;
        loop {
            let hint = match &self.peek().tok {
                Tok::Word(w) => w.clone(),
                _ => return Err(self.error()),
            };
            if hint.eq_ignore_ascii_case("INDEX") {
                self.pos += 1;
                if self.eat_op("=") {
                    self.pos += 1;
                } else {
                    self.skip_parens()?;
                }
            } else if TABLE_HINTS.iter().any(|h| h.eq_ignore_ascii_case(&hint)) {
                self.pos += 1;
            } else {
                return Err(SqlError::new(
                    321,
                    1,
                    15,
                    format!("\"{hint}\" is not a recognized table hints option. If it is intended as a parameter to a table-valued function or to the CHANGETABLE function, ensure that your database compatibility mode is set to 90."),
                ));
            }
            if !self.eat_op(",") {
                break;
            }
        }
        self.expect_op(")")
    }

    // ----- DML -----

    fn insert(&mut self) -> Result<Stmt, SqlError> {
        self.expect_kw("INSERT")?;
        self.eat_kw("INTO");
        let table = self.obj_name()?;
        if self.is_kw("WITH") && matches!(self.peek_at(1), Tok::Op("(")) {
            self.pos += 1;
            self.table_hints()?;
        }
        let mut columns = None;
        if self.is_op("(")
            && !matches!(self.peek_at(1), Tok::Word(w) if w.eq_ignore_ascii_case("SELECT"))
        {
            self.pos += 1;
            let mut cols = Vec::new();
            loop {
                cols.push(self.ident()?);
                if !self.eat_op(",") {
                    break;
                }
            }
            self.expect_op(")")?;
            columns = Some(cols);
        }
        let source = if self.eat_kw("VALUES") {
            let mut rows = Vec::new();
            loop {
                self.expect_op("(")?;
                let mut row = Vec::new();
                loop {
                    if self.eat_kw("DEFAULT") {
                        row.push(Expr::Func {
                            name: "DEFAULT".into(),
                            args: vec![],
                            star: false,
                            distinct: false,
                        });
                    } else {
                        row.push(self.expr()?);
                    }
                    if !self.eat_op(",") {
                        break;
                    }
                }
                self.expect_op(")")?;
                rows.push(row);
                if !self.eat_op(",") {
                    break;
                }
            }
            InsertSource::Values(rows)
        } else if self.is_kw("SELECT") || self.is_op("(") {
            InsertSource::Select(Box::new(self.query()?))
        } else if self.eat_kw("DEFAULT") {
            self.expect_kw("VALUES")?;
            InsertSource::DefaultValues
        } else {
            return Err(self.error());
        };
        Ok(Stmt::Insert {
            table,
            columns,
            source,
        })
    }

    fn update(&mut self) -> Result<Stmt, SqlError> {
        self.expect_kw("UPDATE")?;
        let table = self.obj_name()?;
        if self.is_kw("WITH") && matches!(self.peek_at(1), Tok::Op("(")) {
            self.pos += 1;
            self.table_hints()?;
        }
        self.expect_kw("SET")?;
        let mut sets = Vec::new();
        loop {
            let mut column = self.ident()?;
            // t.col = ...
            while self.eat_op(".") {
                column = self.ident()?;
            }
            self.expect_op("=")?;
            sets.push(Assignment {
                column,
                value: self.expr()?,
            });
            if !self.eat_op(",") {
                break;
            }
        }
        let where_ = if self.eat_kw("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        Ok(Stmt::Update {
            table,
            sets,
            where_,
        })
    }

    fn delete(&mut self) -> Result<Stmt, SqlError> {
        self.expect_kw("DELETE")?;
        self.eat_kw("FROM");
        let table = self.obj_name()?;
        let where_ = if self.eat_kw("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        Ok(Stmt::Delete { table, where_ })
    }

    // ----- DDL -----

    fn create(&mut self) -> Result<Stmt, SqlError> {
        self.expect_kw("CREATE")?;
        if self.eat_kw("DATABASE") {
            let name = self.ident()?;
            return Ok(Stmt::CreateDatabase(name));
        }
        if self.eat_kw("SCHEMA") {
            let name = self.ident()?;
            if self.eat_kw("AUTHORIZATION") {
                self.ident()?;
            }
            return Ok(Stmt::CreateSchema(name));
        }
        if !self.is_kw("TABLE") {
            if let Tok::Word(w) = &self.peek().tok {
                let w = w.to_ascii_uppercase();
                if [
                    "INDEX",
                    "UNIQUE",
                    "CLUSTERED",
                    "NONCLUSTERED",
                    "VIEW",
                    "PROCEDURE",
                    "PROC",
                    "FUNCTION",
                    "TRIGGER",
                    "TYPE",
                    "SEQUENCE",
                    "SYNONYM",
                    "LOGIN",
                    "USER",
                    "ROLE",
                    "STATISTICS",
                    "OR",
                ]
                .contains(&w.as_str())
                {
                    return Err(unsupported(&format!("CREATE {w}")));
                }
            }
        }
        self.expect_kw("TABLE")?;
        let name = self.obj_name()?;
        self.expect_op("(")?;
        let mut columns = Vec::new();
        let mut keys = Vec::new();
        loop {
            if self.is_kw("CONSTRAINT")
                || self.is_kw("PRIMARY")
                || self.is_kw("UNIQUE")
                || self.is_kw("CHECK")
                || self.is_kw("FOREIGN")
            {
                if let Some(k) = self.table_constraint()? {
                    keys.push(k);
                }
            } else {
                columns.push(self.column_def()?);
            }
            if !self.eat_op(",") {
                break;
            }
            // A trailing comma before ')' is accepted by SQL Server in CREATE TABLE.
            if self.is_op(")") {
                break;
            }
        }
        self.expect_op(")")?;
        self.storage_clauses()?;
        Ok(Stmt::CreateTable {
            name,
            columns,
            keys,
        })
    }

    /// `ON [PRIMARY]`, `TEXTIMAGE_ON [PRIMARY]`, `WITH (...)`: accepted and ignored.
    fn storage_clauses(&mut self) -> Result<(), SqlError> {
        loop {
            if self.eat_kw("ON") || self.eat_kw("TEXTIMAGE_ON") {
                if !self.eat_kw("PRIMARY") {
                    self.ident()?;
                }
            } else if self.is_kw("WITH") && matches!(self.peek_at(1), Tok::Op("(")) {
                self.pos += 1;
                self.skip_parens()?;
            } else {
                return Ok(());
            }
        }
    }

    fn clustered(&mut self) -> Option<bool> {
        if self.eat_kw("CLUSTERED") {
            Some(true)
        } else if self.eat_kw("NONCLUSTERED") {
            Some(false)
        } else {
            None
        }
    }

    fn table_constraint(&mut self) -> Result<Option<KeyConstraint>, SqlError> {
        let name = if self.eat_kw("CONSTRAINT") {
            Some(self.ident()?)
        } else {
            None
        };
        if self.eat_kw("CHECK") {
            // CHECK constraints are parsed and not enforced.
            self.skip_parens()?;
            return Ok(None);
        }
        if self.eat_kw("FOREIGN") {
            self.expect_kw("KEY")?;
            self.skip_parens()?;
            self.expect_kw("REFERENCES")?;
            self.obj_name()?;
            if self.is_op("(") {
                self.skip_parens()?;
            }
            while self.eat_kw("ON") {
                self.pos += 1;
                self.eat_kw("ACTION");
                self.eat_kw("NULL");
                self.eat_kw("DEFAULT");
            }
            return Ok(None);
        }
        let primary = if self.eat_kw("PRIMARY") {
            self.expect_kw("KEY")?;
            true
        } else {
            self.expect_kw("UNIQUE")?;
            false
        };
        let clustered = self.clustered();
        self.expect_op("(")?;
        let mut columns = Vec::new();
        loop {
            let c = self.ident()?;
            let desc = if self.eat_kw("DESC") {
                true
            } else {
                self.eat_kw("ASC");
                false
            };
            columns.push((c, desc));
            if !self.eat_op(",") {
                break;
            }
        }
        self.expect_op(")")?;
        self.storage_clauses()?;
        Ok(Some(KeyConstraint {
            name,
            primary,
            clustered,
            columns,
        }))
    }

    fn column_def(&mut self) -> Result<ColumnDef, SqlError> {
        let name = self.ident()?;
        let mut def = ColumnDef {
            name: name.clone(),
            sql_type: None,
            nullable: None,
            identity: None,
            computed: None,
            persisted: false,
            default: None,
            default_name: None,
            primary_key: None,
            unique: None,
        };
        if self.eat_kw("AS") {
            let e = self.expr()?;
            let text = format!("({})", definition(&e));
            def.computed = Some((e, text));
            if self.eat_kw("PERSISTED") {
                def.persisted = true;
            }
        } else {
            def.sql_type = Some(self.data_type(1, &name)?);
        }
        loop {
            if self.eat_kw("COLLATE") {
                let cname = self.ident()?;
                let collation = collation_by_name(&cname).ok_or_else(|| {
                    SqlError::new(448, 1, 16, format!("Invalid collation '{cname}'."))
                })?;
                if let Some(t) = def.sql_type.take() {
                    def.sql_type = Some(with_collation(t, collation));
                }
            } else if self.eat_kw("IDENTITY") {
                let mut seed_inc = (1, 1);
                if self.eat_op("(") {
                    let seed = self.signed_int()?;
                    self.expect_op(",")?;
                    let inc = self.signed_int()?;
                    self.expect_op(")")?;
                    seed_inc = (seed, inc);
                }
                def.identity = Some(seed_inc);
            } else if self.eat_kw("NULL") {
                def.nullable = Some(true);
            } else if self.is_kw("NOT") && self.is_kw_at(1, "NULL") {
                self.pos += 2;
                def.nullable = Some(false);
            } else if self.is_kw("NOT") && self.is_kw_at(1, "FOR") {
                // NOT FOR REPLICATION
                self.pos += 2;
                self.expect_kw("REPLICATION")?;
            } else if self.eat_kw("ROWGUIDCOL") || self.eat_kw("SPARSE") {
            } else if self.eat_kw("CONSTRAINT") {
                let cname = self.ident()?;
                if self.eat_kw("DEFAULT") {
                    let e = self.default_expr()?;
                    let text = format!("({})", definition(&e));
                    def.default = Some((e, text));
                    def.default_name = Some(cname);
                } else if self.eat_kw("PRIMARY") {
                    self.expect_kw("KEY")?;
                    def.primary_key = Some((Some(cname), self.clustered()));
                } else if self.eat_kw("UNIQUE") {
                    def.unique = Some((Some(cname), self.clustered()));
                } else if self.eat_kw("CHECK") {
                    self.skip_parens()?;
                } else {
                    return Err(self.error());
                }
            } else if self.eat_kw("DEFAULT") {
                let e = self.default_expr()?;
                let text = format!("({})", definition(&e));
                def.default = Some((e, text));
            } else if self.eat_kw("PRIMARY") {
                self.expect_kw("KEY")?;
                def.primary_key = Some((None, self.clustered()));
            } else if self.eat_kw("UNIQUE") {
                def.unique = Some((None, self.clustered()));
            } else if self.eat_kw("CHECK") {
                self.skip_parens()?;
            } else {
                break;
            }
        }
        Ok(def)
    }

    fn default_expr(&mut self) -> Result<Expr, SqlError> {
        self.unary()
    }

    fn signed_int(&mut self) -> Result<i64, SqlError> {
        let neg = self.eat_op("-");
        match &self.peek().tok {
            Tok::Int(d) => {
                let v: i64 = d.parse().map_err(|_| self.error())?;
                self.pos += 1;
                Ok(if neg { -v } else { v })
            }
            _ => Err(self.error()),
        }
    }

    /// A data type; `default_len` is the length of `char`/`varchar`/`binary` without one
    /// (1 in declarations, 30 in CAST/CONVERT).
    fn data_type(&mut self, default_len: u16, column: &str) -> Result<SqlType, SqlError> {
        let mut name = match &self.peek().tok {
            Tok::Word(w) | Tok::Quoted(w) => w.to_ascii_lowercase(),
            _ => return Err(self.error()),
        };
        self.pos += 1;
        // sys.int, dbo.sysname
        if self.eat_op(".") {
            name = match &self.peek().tok {
                Tok::Word(w) | Tok::Quoted(w) => w.to_ascii_lowercase(),
                _ => return Err(self.error()),
            };
            self.pos += 1;
        }
        if name == "double" {
            self.expect_kw("PRECISION")?;
            return Ok(SqlType::Float);
        }
        if (name == "char" || name == "character" || name == "nchar" || name == "national")
            && self.is_kw("VARYING")
        {
            self.pos += 1;
            name = if name == "char" || name == "character" {
                "varchar".into()
            } else {
                "nvarchar".into()
            };
        }
        // (n), (max), (p, s)
        let mut args: Vec<Option<u32>> = Vec::new();
        if self.is_op("(") {
            self.pos += 1;
            loop {
                match &self.peek().tok {
                    Tok::Int(d) => {
                        let v: u32 = d.parse().unwrap_or(u32::MAX);
                        args.push(Some(v));
                    }
                    Tok::Word(w) if w.eq_ignore_ascii_case("max") => args.push(None),
                    _ => return Err(self.error()),
                }
                self.pos += 1;
                if !self.eat_op(",") {
                    break;
                }
            }
            self.expect_op(")")?;
        }
        let c = Collation::SQL_LATIN1_GENERAL_CP1_CI_AS;
        let arg = |i: usize| args.get(i).copied();
        let too_big = |n: u32, max: u32| {
            SqlError::new(
                131,
                1,
                15,
                format!("The size ({n}) given to the column '{column}' exceeds the maximum allowed for any data type ({max})."),
            )
        };
        let len = |max: u32| -> Result<Option<u16>, SqlError> {
            match arg(0) {
                None => Ok(Some(default_len)),
                Some(None) => Ok(None),
                Some(Some(0)) => Err(SqlError::new(
                    1001,
                    1,
                    15,
                    "Line 1: Length or precision specification 0 is invalid.",
                )),
                Some(Some(n)) if n > max => Err(too_big(n, max)),
                Some(Some(n)) => Ok(Some(n as u16)),
            }
        };
        let fixed_len = |max: u32| -> Result<u16, SqlError> {
            match len(max)? {
                Some(n) => Ok(n),
                None => Err(SqlError::new(102, 1, 15, "Incorrect syntax near 'max'.")),
            }
        };
        let scale7 = || -> Result<u8, SqlError> {
            match arg(0) {
                None => Ok(7),
                Some(Some(n)) if n <= 7 => Ok(n as u8),
                Some(Some(n)) => Err(SqlError::new(
                    1002,
                    1,
                    15,
                    format!("Line 1: Specified scale {n} is invalid."),
                )),
                Some(None) => Err(SqlError::new(102, 1, 15, "Incorrect syntax near 'max'.")),
            }
        };
        let no_args = args.is_empty();
        let t = match name.as_str() {
            "bit" if no_args => SqlType::Bit,
            "tinyint" if no_args => SqlType::TinyInt,
            "smallint" if no_args => SqlType::SmallInt,
            "int" | "integer" if no_args => SqlType::Int,
            "bigint" if no_args => SqlType::BigInt,
            "decimal" | "dec" | "numeric" => {
                let p = match arg(0) {
                    None => 18,
                    Some(Some(p)) => p,
                    Some(None) => return Err(SqlError::new(102, 1, 15, "Incorrect syntax near 'max'.")),
                };
                let s = match arg(1) {
                    None => 0,
                    Some(Some(s)) => s,
                    Some(None) => return Err(SqlError::new(102, 1, 15, "Incorrect syntax near 'max'.")),
                };
                if p == 0 || p > 38 {
                    return Err(SqlError::new(
                        2750,
                        1,
                        16,
                        format!("Column or parameter #1: Specified column precision {p} is greater than the maximum precision of 38."),
                    ));
                }
                if s > p {
                    return Err(SqlError::new(
                        2751,
                        1,
                        16,
                        format!("Column or parameter #1: Specified column scale {s} is greater than the specified precision of {p}."),
                    ));
                }
                SqlType::Decimal {
                    precision: p as u8,
                    scale: s as u8,
                    numeric: name == "numeric",
                }
            }
            "money" if no_args => SqlType::Money,
            "smallmoney" if no_args => SqlType::SmallMoney,
            "real" if no_args => SqlType::Real,
            "float" => match arg(0) {
                None => SqlType::Float,
                Some(Some(n)) if (1..=24).contains(&n) => SqlType::Real,
                Some(Some(n)) if (25..=53).contains(&n) => SqlType::Float,
                _ => {
                    return Err(SqlError::new(
                        2750,
                        1,
                        16,
                        "Column or parameter #1: Specified column precision is greater than the maximum precision of 53.",
                    ))
                }
            },
            "date" if no_args => SqlType::Date,
            "time" => SqlType::Time { scale: scale7()? },
            "smalldatetime" if no_args => SqlType::SmallDateTime,
            "datetime" if no_args => SqlType::DateTime,
            "datetime2" => SqlType::DateTime2 { scale: scale7()? },
            "datetimeoffset" => SqlType::DateTimeOffset { scale: scale7()? },
            "char" | "character" => SqlType::Char {
                len: fixed_len(8000)?,
                collation: c,
            },
            "varchar" => SqlType::VarChar {
                len: len(8000)?,
                collation: c,
            },
            "text" if no_args => SqlType::Text { collation: c },
            "nchar" => SqlType::NChar {
                len: fixed_len(4000)?,
                collation: c,
            },
            "nvarchar" => SqlType::NVarChar {
                len: len(4000)?,
                collation: c,
            },
            "sysname" if no_args => SqlType::NVarChar {
                len: Some(128),
                collation: c,
            },
            "ntext" if no_args => SqlType::NText { collation: c },
            "binary" => SqlType::Binary {
                len: fixed_len(8000)?,
            },
            "varbinary" => SqlType::VarBinary { len: len(8000)? },
            "image" if no_args => SqlType::Image,
            "uniqueidentifier" if no_args => SqlType::UniqueIdentifier,
            "xml" if no_args => SqlType::Xml,
            "rowversion" | "timestamp" if no_args => SqlType::RowVersion,
            "sql_variant" if no_args => SqlType::SqlVariant,
            "hierarchyid" if no_args => SqlType::Clr(ClrType::HierarchyId),
            "geometry" if no_args => SqlType::Clr(ClrType::Geometry),
            "geography" if no_args => SqlType::Clr(ClrType::Geography),
            _ if !no_args
                && matches!(
                    name.as_str(),
                    "bit" | "tinyint" | "smallint" | "int" | "integer" | "bigint" | "money"
                        | "smallmoney" | "real" | "date" | "smalldatetime" | "datetime" | "text"
                        | "ntext" | "image" | "uniqueidentifier" | "xml" | "rowversion"
                        | "timestamp" | "sql_variant" | "sysname" | "hierarchyid" | "geometry"
                        | "geography"
                ) =>
            {
                return Err(SqlError::new(
                    2716,
                    1,
                    16,
                    format!("Column, parameter, or variable #1: Cannot specify a column width on data type {name}."),
                ))
            }
            _ => {
                return Err(SqlError::new(
                    2715,
                    6,
                    16,
                    format!("Column, parameter, or variable #1: Cannot find data type {name}."),
                ))
            }
        };
        Ok(t)
    }

    fn drop(&mut self) -> Result<Stmt, SqlError> {
        self.expect_kw("DROP")?;
        if self.eat_kw("DATABASE") {
            let if_exists = self.if_exists()?;
            return Ok(Stmt::DropDatabase {
                name: self.ident()?,
                if_exists,
            });
        }
        if !self.is_kw("TABLE") {
            if let Tok::Word(w) = &self.peek().tok {
                let w = w.to_ascii_uppercase();
                if [
                    "INDEX",
                    "VIEW",
                    "PROCEDURE",
                    "PROC",
                    "FUNCTION",
                    "TRIGGER",
                    "TYPE",
                    "SCHEMA",
                    "SEQUENCE",
                    "SYNONYM",
                    "LOGIN",
                    "USER",
                    "ROLE",
                    "STATISTICS",
                ]
                .contains(&w.as_str())
                {
                    return Err(unsupported(&format!("DROP {w}")));
                }
            }
        }
        self.expect_kw("TABLE")?;
        let if_exists = self.if_exists()?;
        let mut names = Vec::new();
        loop {
            names.push(self.obj_name()?);
            if !self.eat_op(",") {
                break;
            }
        }
        Ok(Stmt::DropTable { names, if_exists })
    }

    fn if_exists(&mut self) -> Result<bool, SqlError> {
        if self.is_kw("IF") && self.is_kw_at(1, "EXISTS") {
            self.pos += 2;
            return Ok(true);
        }
        Ok(false)
    }

    fn set(&mut self) -> Result<Stmt, SqlError> {
        self.expect_kw("SET")?;
        if let Tok::Var(v) = &self.peek().tok {
            let v = v.clone();
            self.pos += 1;
            self.expect_op("=")?;
            return Ok(Stmt::Set(SetOption::Variable(v, self.expr()?)));
        }
        let word = match &self.peek().tok {
            Tok::Word(w) => w.to_ascii_uppercase(),
            _ => return Err(self.error()),
        };
        let on_off = |p: &mut Parser| -> Result<bool, SqlError> {
            if p.eat_kw("ON") {
                Ok(true)
            } else if p.eat_kw("OFF") {
                Ok(false)
            } else {
                Err(p.error())
            }
        };
        if word == "IDENTITY_INSERT" {
            self.pos += 1;
            let name = self.obj_name()?;
            let on = on_off(self)?;
            return Ok(Stmt::Set(SetOption::IdentityInsert(name, on)));
        }
        if word == "TRANSACTION" {
            self.pos += 1;
            self.expect_kw("ISOLATION")?;
            self.expect_kw("LEVEL")?;
            let level = if self.eat_kw("READ") {
                if self.eat_kw("UNCOMMITTED") {
                    "READ UNCOMMITTED"
                } else {
                    self.expect_kw("COMMITTED")?;
                    "READ COMMITTED"
                }
            } else if self.eat_kw("REPEATABLE") {
                self.expect_kw("READ")?;
                "REPEATABLE READ"
            } else if self.eat_kw("SNAPSHOT") {
                "SNAPSHOT"
            } else {
                self.expect_kw("SERIALIZABLE")?;
                "SERIALIZABLE"
            };
            return Ok(Stmt::Set(SetOption::IsolationLevel(level.into())));
        }
        if word == "STATISTICS" {
            self.pos += 1;
            let mut names = Vec::new();
            loop {
                match &self.peek().tok {
                    Tok::Word(w)
                        if ["IO", "TIME", "XML", "PROFILE"]
                            .iter()
                            .any(|k| k.eq_ignore_ascii_case(w)) =>
                    {
                        names.push(format!("STATISTICS {}", w.to_ascii_uppercase()));
                        self.pos += 1;
                    }
                    _ => return Err(self.error()),
                }
                if !self.eat_op(",") {
                    break;
                }
            }
            let on = on_off(self)?;
            return Ok(Stmt::Set(SetOption::Flags(names, on)));
        }
        if word == "DATEFORMAT" || word == "LANGUAGE" {
            self.pos += 1;
            let value = match &self.peek().tok {
                Tok::Word(w) | Tok::Quoted(w) | Tok::Str(w) | Tok::NStr(w) => w.clone(),
                Tok::Var(_) => {
                    let e = self.expr()?;
                    return Ok(Stmt::Set(SetOption::Value(word, e)));
                }
                _ => return Err(self.error()),
            };
            self.pos += 1;
            return Ok(Stmt::Set(SetOption::Word(word, value)));
        }
        if SET_VALUES.contains(&word.as_str()) {
            self.pos += 1;
            let e = match &self.peek().tok {
                Tok::Word(w) if word == "DEADLOCK_PRIORITY" => {
                    let v = w.to_ascii_uppercase();
                    self.pos += 1;
                    let n = match v.as_str() {
                        "LOW" => -5,
                        "NORMAL" => 0,
                        "HIGH" => 5,
                        _ => return Err(self.error()),
                    };
                    Expr::Lit(Value::Int(n), SqlType::Int)
                }
                _ => self.expr()?,
            };
            return Ok(Stmt::Set(SetOption::Value(word, e)));
        }
        if SET_FLAGS.contains(&word.as_str()) {
            let mut names = Vec::new();
            loop {
                match &self.peek().tok {
                    Tok::Word(w) if SET_FLAGS.iter().any(|k| k.eq_ignore_ascii_case(w)) => {
                        names.push(w.to_ascii_uppercase());
                        self.pos += 1;
                    }
                    Tok::Word(w) => return Err(unknown_set_option(w)),
                    _ => return Err(self.error()),
                }
                if !self.eat_op(",") {
                    break;
                }
            }
            let on = on_off(self)?;
            return Ok(Stmt::Set(SetOption::Flags(names, on)));
        }
        Err(unknown_set_option(&word))
    }

    fn declare(&mut self) -> Result<Stmt, SqlError> {
        self.expect_kw("DECLARE")?;
        let mut vars = Vec::new();
        loop {
            let name = match &self.peek().tok {
                Tok::Var(v) => v.clone(),
                _ => return Err(self.error()),
            };
            self.pos += 1;
            self.eat_kw("AS");
            let ty = self.data_type(1, &name)?;
            let init = if self.eat_op("=") {
                Some(self.expr()?)
            } else {
                None
            };
            vars.push((name, ty, init));
            if !self.eat_op(",") {
                break;
            }
        }
        Ok(Stmt::Declare(vars))
    }

    // ----- expressions -----

    pub fn expr(&mut self) -> Result<Expr, SqlError> {
        self.enter()?;
        let depth = self.depth;
        let e = self.or_chain();
        // Operators and prefixes inside count until here.
        self.depth = depth - 1;
        e
    }

    fn or_chain(&mut self) -> Result<Expr, SqlError> {
        let mut terms = vec![self.and_expr()?];
        while self.eat_kw("OR") {
            terms.push(self.and_expr()?);
        }
        Ok(balanced(terms, &|a, b| Expr::Or(Box::new(a), Box::new(b))))
    }

    fn and_expr(&mut self) -> Result<Expr, SqlError> {
        let mut terms = vec![self.not_expr()?];
        while self.eat_kw("AND") {
            terms.push(self.not_expr()?);
        }
        Ok(balanced(terms, &|a, b| Expr::And(Box::new(a), Box::new(b))))
    }

    /// One more operator of an arithmetic chain; error 191 beyond [`MAX_CHAIN`].
    fn chain(&mut self, links: &mut usize) -> Result<(), SqlError> {
        *links += 1;
        if *links > MAX_CHAIN {
            return Err(too_deep());
        }
        Ok(())
    }

    fn not_expr(&mut self) -> Result<Expr, SqlError> {
        if self.eat_kw("NOT") {
            self.enter()?;
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, SqlError> {
        if self.is_kw("EXISTS") {
            return self.exists();
        }
        let left = self.additive()?;
        self.predicate_rest(left)
    }

    #[inline(never)]
    fn exists(&mut self) -> Result<Expr, SqlError> {
        self.pos += 1;
        self.expect_op("(")?;
        let q = self.query()?;
        self.expect_op(")")?;
        Ok(Expr::Exists(Box::new(q)))
    }

    /// A comparison, IS [NOT] NULL, BETWEEN, IN or LIKE after its left operand.
    #[inline(never)]
    fn predicate_rest(&mut self, left: Expr) -> Result<Expr, SqlError> {
        let op = match &self.peek().tok {
            Tok::Op("=") => Some(BinOp::Eq),
            Tok::Op("<>") | Tok::Op("!=") => Some(BinOp::Ne),
            Tok::Op("<") => Some(BinOp::Lt),
            Tok::Op("<=") | Tok::Op("!>") => Some(BinOp::Le),
            Tok::Op(">") => Some(BinOp::Gt),
            Tok::Op(">=") | Tok::Op("!<") => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            let right = self.additive()?;
            return Ok(Expr::Binary(op, Box::new(left), Box::new(right)));
        }
        if self.eat_kw("IS") {
            let not = self.eat_kw("NOT");
            self.expect_kw("NULL")?;
            return Ok(Expr::IsNull(Box::new(left), not));
        }
        let not = if self.is_kw("NOT")
            && (self.is_kw_at(1, "IN") || self.is_kw_at(1, "LIKE") || self.is_kw_at(1, "BETWEEN"))
        {
            self.pos += 1;
            true
        } else {
            false
        };
        if self.eat_kw("BETWEEN") {
            let lo = self.additive()?;
            self.expect_kw("AND")?;
            let hi = self.additive()?;
            return Ok(Expr::Between(
                Box::new(left),
                Box::new(lo),
                Box::new(hi),
                not,
            ));
        }
        if self.eat_kw("IN") {
            self.expect_op("(")?;
            if self.is_kw("SELECT") {
                let q = self.query()?;
                self.expect_op(")")?;
                return Ok(Expr::InSelect(Box::new(left), Box::new(q), not));
            }
            let mut list = Vec::new();
            loop {
                list.push(self.expr()?);
                if !self.eat_op(",") {
                    break;
                }
            }
            self.expect_op(")")?;
            return Ok(Expr::InList(Box::new(left), list, not));
        }
        if self.eat_kw("LIKE") {
            let pattern = self.additive()?;
            if self.is_kw("ESCAPE") {
                // Escape characters are not supported; refuse rather than match wrongly.
                return Err(unsupported("ESCAPE"));
            }
            return Ok(Expr::Like(Box::new(left), Box::new(pattern), not));
        }
        if not {
            return Err(self.error());
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, SqlError> {
        let mut left = self.multiplicative()?;
        let mut links = 0;
        loop {
            let op = match &self.peek().tok {
                Tok::Op("+") => BinOp::Add,
                Tok::Op("-") => BinOp::Sub,
                Tok::Op("&") => BinOp::BitAnd,
                Tok::Op("|") => BinOp::BitOr,
                Tok::Op("^") => BinOp::BitXor,
                _ => return Ok(left),
            };
            self.pos += 1;
            self.chain(&mut links)?;
            let right = self.multiplicative()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, SqlError> {
        let mut left = self.unary()?;
        let mut links = 0;
        loop {
            let op = match &self.peek().tok {
                Tok::Op("*") => BinOp::Mul,
                Tok::Op("/") => BinOp::Div,
                Tok::Op("%") => BinOp::Mod,
                _ => return Ok(left),
            };
            self.pos += 1;
            self.chain(&mut links)?;
            let right = self.unary()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, SqlError> {
        if self.is_op("-") || self.is_op("+") || self.is_op("~") {
            self.enter()?;
        }
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat_op("+") {
            return self.unary();
        }
        if self.eat_op("~") {
            return Ok(Expr::BitNot(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, SqlError> {
        match &self.peek().tok {
            Tok::Op("(") => self.primary_parenthesized(),
            Tok::Word(_) => self.primary_word(),
            _ => self.primary_other(),
        }
    }

    #[inline(never)]
    fn primary_parenthesized(&mut self) -> Result<Expr, SqlError> {
        self.pos += 1;
        if self.is_kw("SELECT") {
            let q = self.query()?;
            self.expect_op(")")?;
            return Ok(Expr::Subquery(Box::new(q)));
        }
        let e = self.expr()?;
        self.expect_op(")")?;
        Ok(e)
    }

    #[inline(never)]
    fn primary_word(&mut self) -> Result<Expr, SqlError> {
        let tok = self.peek().tok.clone();
        match tok {
            Tok::Word(w) => {
                let upper = w.to_ascii_uppercase();
                match upper.as_str() {
                    "NULL" => {
                        self.pos += 1;
                        Ok(Expr::Lit(Value::Null, SqlType::Int))
                    }
                    "CASE" => self.case_expr(),
                    // geometry::Point(...), hierarchyid::GetRoot(), ...: static CLR methods.
                    "HIERARCHYID" | "GEOMETRY" | "GEOGRAPHY"
                        if matches!(self.peek_at(1), Tok::Op(":"))
                            && matches!(self.peek_at(2), Tok::Op(":")) =>
                    {
                        Err(unsupported(&format!(
                            "{} static methods",
                            w.to_ascii_lowercase()
                        )))
                    }
                    "CAST" | "TRY_CAST" if matches!(self.peek_at(1), Tok::Op("(")) => {
                        self.pos += 2;
                        let e = self.expr()?;
                        self.expect_kw("AS")?;
                        let ty = self.data_type(30, "")?;
                        self.expect_op(")")?;
                        if upper == "TRY_CAST" {
                            Ok(Expr::Convert {
                                ty,
                                expr: Box::new(e),
                                style: None,
                                try_: true,
                            })
                        } else {
                            Ok(Expr::Cast(Box::new(e), ty))
                        }
                    }
                    "CONVERT" | "TRY_CONVERT" if matches!(self.peek_at(1), Tok::Op("(")) => {
                        self.pos += 2;
                        let ty = self.data_type(30, "")?;
                        self.expect_op(",")?;
                        let e = self.expr()?;
                        let style = if self.eat_op(",") {
                            Some(self.signed_int()?)
                        } else {
                            None
                        };
                        self.expect_op(")")?;
                        Ok(Expr::Convert {
                            ty,
                            expr: Box::new(e),
                            style,
                            try_: upper == "TRY_CONVERT",
                        })
                    }
                    _ if matches!(self.peek_at(1), Tok::Op("("))
                        && (!is_reserved(&w)
                            || matches!(
                                upper.as_str(),
                                "LEFT" | "RIGHT" | "COALESCE" | "NULLIF"
                            )) =>
                    {
                        self.function_call(upper)
                    }
                    _ if is_reserved(&w) => Err(self.error()),
                    _ => self.column_ref(),
                }
            }
            _ => Err(self.error()),
        }
    }

    #[inline(never)]
    fn primary_other(&mut self) -> Result<Expr, SqlError> {
        let tok = self.peek().tok.clone();
        match tok {
            Tok::Int(d) => {
                self.pos += 1;
                Ok(int_literal(&d))
            }
            Tok::Dec(d) => {
                self.pos += 1;
                let (value, precision, scale) = literal_decimal(&d).ok_or_else(|| self.error())?;
                Ok(Expr::Lit(
                    Value::Decimal { value, scale },
                    SqlType::Decimal {
                        precision,
                        scale,
                        numeric: true,
                    },
                ))
            }
            Tok::Float(d) => {
                self.pos += 1;
                let f: f64 = d.parse().map_err(|_| self.error())?;
                Ok(Expr::Lit(Value::Float(f), SqlType::Float))
            }
            Tok::Str(s) => {
                self.pos += 1;
                let len = s.len().clamp(1, 8000) as u16;
                let ty = if s.len() > 8000 {
                    SqlType::VarChar {
                        len: None,
                        collation: Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
                    }
                } else {
                    SqlType::VarChar {
                        len: Some(len),
                        collation: Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
                    }
                };
                Ok(Expr::Lit(Value::Str(s.into()), ty))
            }
            Tok::NStr(s) => {
                self.pos += 1;
                let units = s.encode_utf16().count();
                let ty = if units > 4000 {
                    SqlType::NVarChar {
                        len: None,
                        collation: Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
                    }
                } else {
                    SqlType::NVarChar {
                        len: Some(units.max(1) as u16),
                        collation: Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
                    }
                };
                Ok(Expr::Lit(Value::Str(s.into()), ty))
            }
            Tok::Bin(b) => {
                self.pos += 1;
                let ty = if b.len() > 8000 {
                    SqlType::VarBinary { len: None }
                } else {
                    SqlType::VarBinary {
                        len: Some(b.len().max(1) as u16),
                    }
                };
                Ok(Expr::Lit(Value::Bytes(b.into()), ty))
            }
            Tok::Var(v) => {
                self.pos += 1;
                Ok(Expr::Var(v))
            }
            Tok::Global(g) => {
                self.pos += 1;
                Ok(Expr::Global(g.to_ascii_uppercase()))
            }
            Tok::Quoted(_) => self.column_ref(),
            _ => Err(self.error()),
        }
    }

    fn column_ref(&mut self) -> Result<Expr, SqlError> {
        let mut parts = vec![self.ident()?];
        while self.is_op(".") {
            self.pos += 1;
            parts.push(self.ident()?);
        }
        if self.is_op("(") {
            // schema.function(...): user-defined functions do not exist here.
            let name = parts.join(".");
            return Err(SqlError::new(
                4121,
                1,
                16,
                format!("Cannot find either column \"{}\" or the user-defined function or aggregate \"{name}\", or the name is ambiguous.", parts[0]),
            ));
        }
        Ok(Expr::Column(parts))
    }

    fn function_call(&mut self, name: String) -> Result<Expr, SqlError> {
        self.pos += 2; // name (
        let mut args = Vec::new();
        let mut star = false;
        let mut distinct = false;
        if self.eat_op("*") {
            star = true;
        } else if !self.is_op(")") {
            if self.eat_kw("DISTINCT") {
                distinct = true;
            } else {
                self.eat_kw("ALL");
            }
            loop {
                args.push(self.expr()?);
                if !self.eat_op(",") {
                    break;
                }
            }
        }
        self.expect_op(")")?;
        if self.is_kw("OVER") {
            return Err(unsupported("OVER"));
        }
        Ok(Expr::Func {
            name,
            args,
            star,
            distinct,
        })
    }

    fn case_expr(&mut self) -> Result<Expr, SqlError> {
        self.expect_kw("CASE")?;
        let operand = if self.is_kw("WHEN") {
            None
        } else {
            Some(Box::new(self.expr()?))
        };
        let mut whens = Vec::new();
        while self.eat_kw("WHEN") {
            let w = self.expr()?;
            self.expect_kw("THEN")?;
            let t = self.expr()?;
            whens.push((w, t));
        }
        if whens.is_empty() {
            return Err(self.error());
        }
        let otherwise = if self.eat_kw("ELSE") {
            Some(Box::new(self.expr()?))
        } else {
            None
        };
        self.expect_kw("END")?;
        Ok(Expr::Case {
            operand,
            whens,
            otherwise,
        })
    }
}

/// An expression as SQL Server stores a computed column or default definition: names in
/// brackets, constants in parentheses, no blanks around operators (`[Amount]*(2)`).
pub fn definition(e: &Expr) -> String {
    fn prec(e: &Expr) -> u8 {
        match e {
            Expr::Or(..) => 1,
            Expr::And(..) => 2,
            Expr::Not(_) => 3,
            Expr::Binary(op, ..) if op.is_comparison() => 4,
            Expr::IsNull(..) | Expr::Like(..) | Expr::Between(..) | Expr::InList(..) => 4,
            Expr::Binary(
                BinOp::Add | BinOp::Sub | BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor,
                ..,
            ) => 5,
            Expr::Binary(..) => 6,
            _ => 9,
        }
    }
    fn child(c: &Expr, parent: u8) -> String {
        let t = definition(c);
        if prec(c) < parent {
            format!("({t})")
        } else {
            t
        }
    }
    fn lit(v: &Value, ty: &SqlType) -> String {
        match v {
            Value::Null => "NULL".into(),
            Value::Str(s) => {
                let q = s.replace('\'', "''");
                if matches!(ty, SqlType::NVarChar { .. }) {
                    format!("N'{q}'")
                } else {
                    format!("'{q}'")
                }
            }
            Value::Bytes(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
                format!("(0x{hex})")
            }
            Value::Int(x) => format!("({x})"),
            Value::Decimal { value, scale } => {
                format!("({})", super::convert::format_decimal(*value, *scale))
            }
            Value::Float(f) => format!("({f:E})"),
            other => format!("({other:?})"),
        }
    }
    fn type_text(t: &SqlType) -> String {
        let name = super::convert::type_name(t);
        match t {
            SqlType::Decimal {
                precision, scale, ..
            } => format!("[{name}]({precision},{scale})"),
            SqlType::Char { len, .. } | SqlType::NChar { len, .. } | SqlType::Binary { len } => {
                format!("[{name}]({len})")
            }
            SqlType::VarChar { len, .. }
            | SqlType::NVarChar { len, .. }
            | SqlType::VarBinary { len } => match len {
                Some(l) => format!("[{name}]({l})"),
                None => format!("[{name}](max)"),
            },
            SqlType::Time { scale }
            | SqlType::DateTime2 { scale }
            | SqlType::DateTimeOffset { scale } => {
                format!("[{name}]({scale})")
            }
            _ => format!("[{name}]"),
        }
    }
    let op_text = |op: &BinOp| match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::BitAnd => "&",
        BinOp::BitOr => "|",
        BinOp::BitXor => "^",
        BinOp::Eq => "=",
        BinOp::Ne => "<>",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
    };
    match e {
        Expr::Lit(v, ty) => lit(v, ty),
        Expr::Column(parts) => parts
            .iter()
            .map(|p| format!("[{p}]"))
            .collect::<Vec<_>>()
            .join("."),
        Expr::Var(v) | Expr::Global(v) => v.clone(),
        Expr::Neg(a) => match &**a {
            Expr::Lit(v, ty) => format!(
                "(-{})",
                lit(v, ty).trim_start_matches('(').trim_end_matches(')')
            ),
            other => format!("-{}", child(other, 7)),
        },
        Expr::BitNot(a) => format!("~{}", child(a, 7)),
        Expr::Not(a) => format!("NOT {}", child(a, 3)),
        Expr::Binary(op, a, b) => {
            let p = prec(e);
            format!("{}{}{}", child(a, p), op_text(op), child(b, p + 1))
        }
        Expr::And(a, b) => format!("{} AND {}", child(a, 2), child(b, 2)),
        Expr::Or(a, b) => format!("{} OR {}", child(a, 1), child(b, 1)),
        Expr::IsNull(a, not) => {
            format!("{} IS {}NULL", child(a, 5), if *not { "NOT " } else { "" })
        }
        Expr::InList(a, list, not) => format!(
            "{} {}IN ({})",
            child(a, 5),
            if *not { "NOT " } else { "" },
            list.iter().map(definition).collect::<Vec<_>>().join(",")
        ),
        Expr::Between(a, lo, hi, not) => format!(
            "{} {}BETWEEN {} AND {}",
            child(a, 5),
            if *not { "NOT " } else { "" },
            child(lo, 5),
            child(hi, 5)
        ),
        Expr::Like(a, p, not) => format!(
            "{} {}LIKE {}",
            child(a, 5),
            if *not { "NOT " } else { "" },
            child(p, 5)
        ),
        Expr::Func {
            name, args, star, ..
        } => {
            let inner = if *star {
                "*".to_string()
            } else {
                args.iter().map(definition).collect::<Vec<_>>().join(",")
            };
            format!("{}({inner})", name.to_ascii_lowercase())
        }
        Expr::Cast(a, ty) => format!("CONVERT({},{})", type_text(ty), definition(a)),
        Expr::Convert {
            ty, expr, style, ..
        } => match style {
            Some(st) => format!("CONVERT({},{},({st}))", type_text(ty), definition(expr)),
            None => format!("CONVERT({},{})", type_text(ty), definition(expr)),
        },
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            let mut t = String::from("case");
            if let Some(o) = operand {
                t.push(' ');
                t.push_str(&definition(o));
            }
            for (w, r) in whens {
                t.push_str(&format!(" when {} then {}", definition(w), definition(r)));
            }
            if let Some(o) = otherwise {
                t.push_str(&format!(" else {}", definition(o)));
            }
            t.push_str(" end");
            t
        }
        Expr::Subquery(_) | Expr::Exists(_) | Expr::InSelect(..) => "(subquery)".into(),
    }
}

/// `a AND b AND c ...` as a balanced tree (depth log n): AND and OR are associative.
fn balanced(mut terms: Vec<Expr>, join: &dyn Fn(Expr, Expr) -> Expr) -> Expr {
    if terms.len() <= 1 {
        return terms.pop().unwrap_or(Expr::Lit(Value::Null, SqlType::Int));
    }
    let right = terms.split_off(terms.len() / 2);
    join(balanced(terms, join), balanced(right, join))
}

fn unknown_set_option(word: &str) -> SqlError {
    SqlError::new(
        195,
        1,
        15,
        format!("'{word}' is not a recognized SET option."),
    )
}

/// Integer literals are `int` when they fit, else `numeric(p, 0)` (never bigint), as in SQL Server.
fn int_literal(digits: &str) -> Expr {
    let trimmed = digits.trim_start_matches('0');
    let digits_count = trimmed.len().max(1);
    if let Ok(v) = digits.parse::<i32>() {
        return Expr::Lit(Value::Int(v), SqlType::Int);
    }
    match digits.parse::<i128>() {
        Ok(v) if digits_count <= 38 => Expr::Lit(
            Value::Decimal { value: v, scale: 0 },
            SqlType::Decimal {
                precision: digits_count as u8,
                scale: 0,
                numeric: true,
            },
        ),
        _ => Expr::Lit(
            Value::Float(digits.parse::<f64>().unwrap_or(f64::INFINITY)),
            SqlType::Float,
        ),
    }
}

fn with_collation(t: SqlType, collation: Collation) -> SqlType {
    match t {
        SqlType::Char { len, .. } => SqlType::Char { len, collation },
        SqlType::VarChar { len, .. } => SqlType::VarChar { len, collation },
        SqlType::Text { .. } => SqlType::Text { collation },
        SqlType::NChar { len, .. } => SqlType::NChar { len, collation },
        SqlType::NVarChar { len, .. } => SqlType::NVarChar { len, collation },
        SqlType::NText { .. } => SqlType::NText { collation },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Stmt {
        let mut v = parse_batch(sql).unwrap();
        assert_eq!(v.len(), 1, "{sql}");
        v.remove(0).0
    }

    #[test]
    fn select_with_hints_top_brackets() {
        let Stmt::Select(s) = one("SELECT TOP (10) [Id], N'x' AS y FROM [dbo].[T] t WITH (NOLOCK) WHERE Id >= 5 AND Id < 9 ORDER BY Id DESC") else {
            panic!()
        };
        assert!(s.top.is_some());
        assert_eq!(s.items.len(), 2);
        assert_eq!(s.order_by.len(), 1);
        assert!(s.order_by[0].desc);
        let TableSource::Named { name, alias } = &s.from[0].source else {
            panic!()
        };
        assert_eq!(name.schema.as_deref(), Some("dbo"));
        assert_eq!(alias.as_deref(), Some("t"));
    }

    #[test]
    fn create_table_with_everything() {
        let Stmt::CreateTable { columns, keys, .. } = one(
            "CREATE TABLE dbo.T (Id int IDENTITY(1,1) NOT NULL, Name nvarchar(50) NULL DEFAULT N'x', \
             Total AS (Id * 2) PERSISTED, rv rowversion, CONSTRAINT PK_T PRIMARY KEY CLUSTERED (Id ASC)) ON [PRIMARY]",
        ) else {
            panic!()
        };
        assert_eq!(columns.len(), 4);
        assert_eq!(columns[0].identity, Some((1, 1)));
        assert!(columns[2].computed.is_some());
        assert_eq!(columns[2].computed.as_ref().unwrap().1, "([Id]*(2))");
        assert_eq!(keys[0].name.as_deref(), Some("PK_T"));
    }

    #[test]
    fn statements_without_semicolons() {
        let v = parse_batch("SET NOCOUNT ON SELECT 1 SELECT 2; USE [db]").unwrap();
        assert_eq!(v.len(), 4);
    }

    #[test]
    fn syntax_errors_name_the_token() {
        let e = parse_batch("SELECT * FORM t").unwrap_err();
        assert_eq!((e.number, e.class), (102, 15));
        assert_eq!(e.message, "Incorrect syntax near 'FORM'.");
        let e = parse_batch("SELECT FROM t").unwrap_err();
        assert_eq!(e.number, 156);
        assert_eq!(e.message, "Incorrect syntax near the keyword 'FROM'.");
        let e = parse_batch("SELECT a FROM t LIMIT 10").unwrap_err();
        assert_eq!(e.message, "Incorrect syntax near '10'.");
    }

    #[test]
    fn set_options() {
        assert!(
            matches!(one("SET TRANSACTION ISOLATION LEVEL SNAPSHOT"), Stmt::Set(SetOption::IsolationLevel(l)) if l == "SNAPSHOT")
        );
        assert!(matches!(
            one("SET IDENTITY_INSERT dbo.T ON"),
            Stmt::Set(SetOption::IdentityInsert(_, true))
        ));
        assert!(matches!(
            one("SET TEXTSIZE 2147483647"),
            Stmt::Set(SetOption::Value(..))
        ));
        let e = parse_batch("SET BOGUS ON").unwrap_err();
        assert_eq!(e.number, 195);
    }
}
