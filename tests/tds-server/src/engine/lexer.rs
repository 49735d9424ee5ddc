//! T-SQL tokens: identifiers (plain, `[bracketed]`, `"quoted"`), string literals (`'..'`,
//! `N'..'`), numbers, `0x..` binary literals, `@var`, `@@global`, operators and comments.

use crate::types::SqlError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An unquoted word: a keyword or a name (`#temp` included).
    Word(String),
    /// A `[bracketed]` or `"double-quoted"` identifier, never a keyword.
    Quoted(String),
    Str(String),
    NStr(String),
    /// Digits only.
    Int(String),
    /// Digits with a decimal point.
    Dec(String),
    /// With an exponent.
    Float(String),
    Bin(Vec<u8>),
    /// `@name` (the `@` kept).
    Var(String),
    /// `@@name` (the `@@` kept).
    Global(String),
    Op(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    /// The source text, for "Incorrect syntax near '...'".
    pub text: String,
    pub line: u32,
}

/// Words SQL Server reports as "the keyword 'X'" in syntax errors (a subset of the reserved list).
const RESERVED: &[&str] = &[
    "ADD",
    "ALL",
    "ALTER",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASE",
    "CHECK",
    "CLUSTERED",
    "COLUMN",
    "COMMIT",
    "CONSTRAINT",
    "CONVERT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "DATABASE",
    "DECLARE",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXEC",
    "EXECUTE",
    "EXISTS",
    "FETCH",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "GO",
    "GROUP",
    "HAVING",
    "IDENTITY",
    "IDENTITY_INSERT",
    "IF",
    "IN",
    "INDEX",
    "INNER",
    "INSERT",
    "INTO",
    "IS",
    "JOIN",
    "KEY",
    "LEFT",
    "LIKE",
    "MERGE",
    "NONCLUSTERED",
    "NOT",
    "NULL",
    "OF",
    "OFF",
    "OFFSETS",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "PERCENT",
    "PRIMARY",
    "PRINT",
    "PROC",
    "PROCEDURE",
    "REFERENCES",
    "RIGHT",
    "ROLLBACK",
    "SCHEMA",
    "SELECT",
    "SET",
    "TABLE",
    "THEN",
    "TOP",
    "TRAN",
    "TRANSACTION",
    "TRUNCATE",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USE",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WHILE",
    "WITH",
];

pub fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Error 102, or 156 when the token is a reserved keyword, as SQL Server words them.
pub fn syntax_error_near(token: &Token) -> SqlError {
    let mut e = match &token.tok {
        Tok::Word(w) if is_reserved(w) => SqlError::new(
            156,
            1,
            15,
            format!("Incorrect syntax near the keyword '{w}'."),
        ),
        _ => SqlError::new(
            102,
            1,
            15,
            format!("Incorrect syntax near '{}'.", token.text),
        ),
    };
    e.line = token.line;
    e
}

pub fn tokenize(sql: &str) -> Result<Vec<Token>, SqlError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            // T-SQL block comments nest.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
            if depth != 0 {
                let mut e = SqlError::new(113, 1, 15, "Missing end comment mark '*/'.");
                e.line = line;
                return Err(e);
            }
            continue;
        }
        let tok_line = line;
        let tok = if (c == 'N' || c == 'n') && chars.get(i + 1) == Some(&'\'') {
            i += 1;
            let s = quoted(&chars, &mut i, '\'', '\'', &mut line)?;
            Tok::NStr(s)
        } else if c == '\'' {
            Tok::Str(quoted(&chars, &mut i, '\'', '\'', &mut line)?)
        } else if c == '[' {
            Tok::Quoted(quoted(&chars, &mut i, '[', ']', &mut line)?)
        } else if c == '"' {
            Tok::Quoted(quoted(&chars, &mut i, '"', '"', &mut line)?)
        } else if c == '0' && matches!(chars.get(i + 1), Some('x') | Some('X')) {
            i += 2;
            let from = i;
            while i < chars.len() && chars[i].is_ascii_hexdigit() {
                i += 1;
            }
            let hex: String = chars[from..i].iter().collect();
            Tok::Bin(hex_bytes(&hex))
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let mut has_dot = false;
            let mut has_exp = false;
            while i < chars.len() {
                let d = chars[i];
                if d.is_ascii_digit() {
                    i += 1;
                } else if d == '.' && !has_dot && !has_exp {
                    has_dot = true;
                    i += 1;
                } else if (d == 'e' || d == 'E') && !has_exp {
                    has_exp = true;
                    i += 1;
                    if matches!(chars.get(i), Some('+') | Some('-')) {
                        i += 1;
                    }
                } else {
                    break;
                }
            }
            let text: String = chars[start..i].iter().collect();
            if has_exp {
                Tok::Float(text)
            } else if has_dot {
                Tok::Dec(text)
            } else {
                Tok::Int(text)
            }
        } else if c == '@' {
            let global = chars.get(i + 1) == Some(&'@');
            i += if global { 2 } else { 1 };
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            if global {
                Tok::Global(text)
            } else {
                Tok::Var(text)
            }
        } else if c.is_alphabetic() || c == '_' || c == '#' {
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            Tok::Word(chars[start..i].iter().collect())
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = ["<>", "!=", "<=", ">=", "!<", "!>", "+=", "-=", "*=", "/="]
                .into_iter()
                .find(|o| *o == two);
            match op {
                Some(o) => {
                    i += 2;
                    Tok::Op(o)
                }
                None => {
                    i += 1;
                    match c {
                        '(' => Tok::Op("("),
                        ')' => Tok::Op(")"),
                        ',' => Tok::Op(","),
                        ';' => Tok::Op(";"),
                        '.' => Tok::Op("."),
                        '=' => Tok::Op("="),
                        '<' => Tok::Op("<"),
                        '>' => Tok::Op(">"),
                        '+' => Tok::Op("+"),
                        '-' => Tok::Op("-"),
                        '*' => Tok::Op("*"),
                        '/' => Tok::Op("/"),
                        '%' => Tok::Op("%"),
                        '&' => Tok::Op("&"),
                        '|' => Tok::Op("|"),
                        '^' => Tok::Op("^"),
                        '~' => Tok::Op("~"),
                        ':' => Tok::Op(":"),
                        _ => {
                            let mut e =
                                SqlError::new(102, 1, 15, format!("Incorrect syntax near '{c}'."));
                            e.line = line;
                            return Err(e);
                        }
                    }
                }
            }
        };
        let text: String = chars[start..i].iter().collect();
        out.push(Token {
            tok,
            text,
            line: tok_line,
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        text: String::new(),
        line,
    });
    Ok(out)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '#' || c == '@' || c == '$'
}

/// Reads a quoted token starting at `chars[*i] == open`; a doubled `close` is an escaped one.
fn quoted(
    chars: &[char],
    i: &mut usize,
    open: char,
    close: char,
    line: &mut u32,
) -> Result<String, SqlError> {
    debug_assert_eq!(chars[*i], open);
    *i += 1;
    let mut s = String::new();
    loop {
        match chars.get(*i) {
            None => {
                let mut e = SqlError::new(
                    105,
                    1,
                    15,
                    format!("Unclosed quotation mark after the character string '{s}'."),
                );
                e.line = *line;
                return Err(e);
            }
            Some(&c) if c == close => {
                if chars.get(*i + 1) == Some(&close) {
                    s.push(close);
                    *i += 2;
                } else {
                    *i += 1;
                    return Ok(s);
                }
            }
            Some(&c) => {
                if c == '\n' {
                    *line += 1;
                }
                s.push(c);
                *i += 1;
            }
        }
    }
}

/// `0xABC` is 0x0ABC: an odd digit count gets a leading zero, as SQL Server does.
fn hex_bytes(hex: &str) -> Vec<u8> {
    let padded = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex.to_string()
    };
    padded
        .as_bytes()
        .chunks(2)
        .map(|p| {
            let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            digit(p[0]) * 16 + digit(p[1])
        })
        .collect()
}

/// Splits a script into batches at lines holding only `GO` (case-insensitive), as sqlcmd does.
pub fn split_batches(script: &str) -> Vec<String> {
    let mut batches = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if line.trim().eq_ignore_ascii_case("go") {
            if !current.trim().is_empty() {
                batches.push(std::mem::take(&mut current));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_t_sql_literals() {
        let t =
            tokenize("SELECT [a b], N'x''y', 0x0aF, 1.5, 2e3, @p, @@SPID -- c\n/* x /* y */ */ #t")
                .unwrap();
        let kinds: Vec<Tok> = t.into_iter().map(|t| t.tok).collect();
        assert_eq!(
            kinds,
            vec![
                Tok::Word("SELECT".into()),
                Tok::Quoted("a b".into()),
                Tok::Op(","),
                Tok::NStr("x'y".into()),
                Tok::Op(","),
                Tok::Bin(vec![0x00, 0xaf]),
                Tok::Op(","),
                Tok::Dec("1.5".into()),
                Tok::Op(","),
                Tok::Float("2e3".into()),
                Tok::Op(","),
                Tok::Var("@p".into()),
                Tok::Op(","),
                Tok::Global("@@SPID".into()),
                Tok::Word("#t".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn unclosed_string_is_error_105() {
        let e = tokenize("SELECT 'abc").unwrap_err();
        assert_eq!(e.number, 105);
        assert_eq!(
            e.message,
            "Unclosed quotation mark after the character string 'abc'."
        );
    }

    #[test]
    fn go_splits_batches() {
        let b = split_batches("CREATE TABLE t (a int)\nGO\n  go  \nINSERT t VALUES (1)\nGO\n");
        assert_eq!(b.len(), 2);
        assert!(b[1].contains("INSERT"));
    }
}
