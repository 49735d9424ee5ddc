//! Identifiers on both sides: parsing the qualified names users type (`Posts`, `dbo.Posts`,
//! `[dbo].[My Table]`, `"public"."posts"`), quoting for T-SQL and PostgreSQL, and the policy
//! that turns SQL Server names into PostgreSQL names (`pgmig.identifier_case`).

use std::collections::BTreeMap;
use std::fmt;

/// PostgreSQL keeps at most `NAMEDATALEN - 1` bytes of a name and silently truncates the rest,
/// which could make two columns collide; pgmig refuses longer names instead.
pub const PG_MAX_IDENTIFIER_BYTES: usize = 63;

/// A one- or two-part name as typed. Quoted parts keep their exact text; unquoted parts are
/// kept as typed too, and `*_quoted` says which was which (a caller applies the identifier
/// policy to unquoted PostgreSQL names only, as PostgreSQL folds unquoted names itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
    pub schema_quoted: bool,
    pub name_quoted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentError {
    /// Nothing but white space.
    Empty,
    /// An empty part: `.Posts`, `dbo.`, `a..b`, `[]`. `part` counts from 1.
    EmptyPart { part: usize },
    /// A `[` or `"` without its closing partner.
    Unterminated { quote: char },
    /// Text after a closing quote that is not a `.` (`[a]b`).
    UnexpectedAfterQuote { found: char },
    /// A quote character inside an unquoted part (`a]b`, `a"b`).
    UnexpectedQuote { found: char },
    /// `db.dbo.T` and longer.
    TooManyParts { parts: usize },
    /// U+0000 in a name: neither side can hold it.
    NulInName,
    /// A PostgreSQL name over [`PG_MAX_IDENTIFIER_BYTES`].
    TooLong { name: String, bytes: usize },
    /// The identifier policy left nothing of a name (`snake` of `"#"`).
    EmptyAfterPolicy { source: String },
    /// Several source names map to the same PostgreSQL name: (PostgreSQL name, sources).
    Collisions {
        collisions: Vec<(String, Vec<String>)>,
    },
}

impl fmt::Display for IdentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentError::Empty => write!(f, "empty name"),
            IdentError::EmptyPart { part } => write!(f, "part {part} of the name is empty"),
            IdentError::Unterminated { quote } => {
                write!(f, "name has an unterminated {quote} quote")
            }
            IdentError::UnexpectedAfterQuote { found } => write!(
                f,
                "unexpected {found:?} after a quoted part of the name (parts are separated by \".\")"
            ),
            IdentError::UnexpectedQuote { found } => write!(
                f,
                "unexpected {found:?} in an unquoted part of the name; quote the whole part"
            ),
            IdentError::TooManyParts { parts } => write!(
                f,
                "name has {parts} parts; give schema.table (a database part is not supported: the \
                 server's database option chooses the database)"
            ),
            IdentError::NulInName => write!(f, "name contains a NUL character"),
            IdentError::TooLong { name, bytes } => write!(
                f,
                "PostgreSQL name {name:?} is {bytes} bytes long; PostgreSQL would truncate it to \
                 {PG_MAX_IDENTIFIER_BYTES} bytes"
            ),
            IdentError::EmptyAfterPolicy { source } => write!(
                f,
                "name {source:?} has no letters or digits left after the identifier policy"
            ),
            IdentError::Collisions { collisions } => {
                write!(f, "different source names map to the same PostgreSQL name:")?;
                for (target, sources) in collisions {
                    let sources: Vec<String> = sources.iter().map(|s| format!("{s:?}")).collect();
                    write!(f, " {} -> {target:?};", sources.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for IdentError {}

/// Parses `Posts`, `dbo.Posts`, `[dbo].[My Table]`, `[x]]y]`, `"public"."posts"`, `"x""y"`,
/// with white space allowed around parts and dots. Unquoted parts keep inner spaces
/// (`My Table`) but may not contain quote characters.
pub fn parse_qualified_name(input: &str) -> Result<QualifiedName, IdentError> {
    if input.trim().is_empty() {
        return Err(IdentError::Empty);
    }
    if input.contains('\0') {
        return Err(IdentError::NulInName);
    }
    let mut parts: Vec<(String, bool)> = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let part_number = parts.len() + 1;
        let (text, quoted) = match chars.peek() {
            Some(&open @ ('[' | '"')) => {
                chars.next();
                let close = if open == '[' { ']' } else { '"' };
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err(IdentError::Unterminated { quote: open }),
                        Some(c) if c == close => {
                            // A doubled closing quote stands for itself.
                            if chars.next_if_eq(&close).is_some() {
                                text.push(close);
                            } else {
                                break;
                            }
                        }
                        Some(c) => text.push(c),
                    }
                }
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                if let Some(&found) = chars.peek() {
                    if found != '.' {
                        return Err(IdentError::UnexpectedAfterQuote { found });
                    }
                }
                (text, true)
            }
            _ => {
                let mut text = String::new();
                while let Some(c) = chars.next_if(|&c| c != '.') {
                    if matches!(c, '[' | ']' | '"') {
                        return Err(IdentError::UnexpectedQuote { found: c });
                    }
                    text.push(c);
                }
                (text.trim_end().to_string(), false)
            }
        };
        if text.is_empty() {
            return Err(IdentError::EmptyPart { part: part_number });
        }
        parts.push((text, quoted));
        if chars.next().is_none() {
            break;
        }
        // The '.' was consumed; a part must follow.
    }
    match parts.len() {
        1 => {
            let (name, name_quoted) = parts.remove(0);
            Ok(QualifiedName {
                schema: None,
                name,
                schema_quoted: false,
                name_quoted,
            })
        }
        2 => {
            let (name, name_quoted) = parts.remove(1);
            let (schema, schema_quoted) = parts.remove(0);
            Ok(QualifiedName {
                schema: Some(schema),
                name,
                schema_quoted,
                name_quoted,
            })
        }
        parts => Err(IdentError::TooManyParts { parts }),
    }
}

/// `name` quoted for T-SQL: `[x]]y]`.
pub fn quote_tsql(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

/// `[schema].[name]`.
pub fn quote_tsql_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_tsql(schema), quote_tsql(name))
}

/// `schema.name` as shown to users and kept as a watermark's source: bare parts, except that
/// a part holding `.`, `[` or `]` is bracket-quoted, so that `[a.b].[c]` and `[a].[b.c]` (or a
/// name that merely looks quoted) never read the same.
pub fn tsql_display_name(schema: &str, name: &str) -> String {
    let part = |part: &str| {
        if part.contains(['.', '[', ']']) {
            quote_tsql(part)
        } else {
            part.to_string()
        }
    };
    format!("{}.{}", part(schema), part(name))
}

/// `name` quoted for PostgreSQL: `"x""y"`. Always quoted: exact case, no keyword surprises.
pub fn quote_pg(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL name as `quote_ident` shows it: bare when it is a plain lower-case
/// identifier, quoted otherwise. For messages and summaries; SQL text always quotes.
pub fn display_pg(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        quote_pg(name)
    }
}

/// `schema.name` for messages, each part as [`display_pg`] shows it.
pub fn display_pg_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", display_pg(schema), display_pg(name))
}

/// `"schema"."name"`.
pub fn quote_pg_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_pg(schema), quote_pg(name))
}

/// `pgmig.identifier_case`: how SQL Server names become PostgreSQL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentifierCase {
    /// `PostTypeId` -> `posttypeid`: what PostgreSQL does to unquoted names, so the tables
    /// can be queried without quotes. Unicode lower case.
    #[default]
    Lower,
    /// `LastEditDate` -> `last_edit_date`, `HTMLBody` -> `html_body`, `My Table` -> `my_table`.
    Snake,
    /// The name as SQL Server has it (then it needs quotes in PostgreSQL).
    Preserve,
}

impl IdentifierCase {
    pub const NAMES: &'static str = "lower, snake, preserve";

    pub fn parse(value: &str) -> Option<IdentifierCase> {
        match value.trim().to_ascii_lowercase().as_str() {
            "lower" => Some(IdentifierCase::Lower),
            "snake" => Some(IdentifierCase::Snake),
            "preserve" => Some(IdentifierCase::Preserve),
            _ => None,
        }
    }

    /// `source` under this policy, without checks (see [`pg_name`]).
    pub fn apply(self, source: &str) -> String {
        match self {
            IdentifierCase::Lower => source.to_lowercase(),
            IdentifierCase::Snake => snake_case(source),
            IdentifierCase::Preserve => source.to_string(),
        }
    }
}

/// Lower snake case. Words break at a lower-case letter or digit followed by an upper-case
/// letter (`lastEdit`, `X509Cert`), before the last capital of an acronym that starts a word
/// (`HTMLBody` -> `html_body`, `PostID` -> `post_id`), and at any run of characters that are
/// not letters or digits (spaces, `-`, `_`, `.`), which becomes one `_`; such runs at the
/// start or end are dropped. Digits stay with what precedes them (`Address2` -> `address2`).
fn snake_case(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len() + 4);
    let mut separator_pending = false;
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            separator_pending = !out.is_empty();
            continue;
        }
        if !out.is_empty() && !separator_pending && i > 0 && c.is_uppercase() {
            let previous = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            separator_pending = previous.is_lowercase()
                || previous.is_numeric()
                || (previous.is_uppercase() && next_is_lower);
        }
        if separator_pending {
            out.push('_');
            separator_pending = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The PostgreSQL name for SQL Server name `source` under `case`, refused when empty, holding
/// a NUL, or over [`PG_MAX_IDENTIFIER_BYTES`].
pub fn pg_name(source: &str, case: IdentifierCase) -> Result<String, IdentError> {
    let name = case.apply(source);
    if name.is_empty() {
        return Err(IdentError::EmptyAfterPolicy {
            source: source.to_string(),
        });
    }
    if name.contains('\0') {
        return Err(IdentError::NulInName);
    }
    if name.len() > PG_MAX_IDENTIFIER_BYTES {
        return Err(IdentError::TooLong {
            bytes: name.len(),
            name,
        });
    }
    Ok(name)
}

/// PostgreSQL names for a table's columns, in order; refused if any is invalid or if two
/// sources map to one name (all collisions are listed).
pub fn pg_column_names<S: AsRef<str>>(
    sources: &[S],
    case: IdentifierCase,
) -> Result<Vec<String>, IdentError> {
    let names = sources
        .iter()
        .map(|source| pg_name(source.as_ref(), case))
        .collect::<Result<Vec<_>, _>>()?;
    let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, source) in names.iter().zip(sources) {
        by_name
            .entry(name)
            .or_default()
            .push(source.as_ref().to_string());
    }
    let collisions: Vec<(String, Vec<String>)> = by_name
        .into_iter()
        .filter(|(_, sources)| sources.len() > 1)
        .map(|(name, sources)| (name.to_string(), sources))
        .collect();
    if collisions.is_empty() {
        Ok(names)
    } else {
        Err(IdentError::Collisions { collisions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_needs_it() {
        assert_eq!(display_pg_qualified("public", "posts_2"), "public.posts_2");
        assert_eq!(
            display_pg_qualified("Stage", "my posts"),
            "\"Stage\".\"my posts\""
        );
        assert_eq!(display_pg("1st"), "\"1st\"");
    }

    fn parsed(input: &str) -> (Option<String>, String) {
        let name = parse_qualified_name(input).unwrap();
        (name.schema, name.name)
    }

    fn two(schema: &str, name: &str) -> (Option<String>, String) {
        (Some(schema.to_string()), name.to_string())
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parsed("Posts"), (None, "Posts".to_string()));
        assert_eq!(parsed("dbo.Posts"), two("dbo", "Posts"));
        assert_eq!(parsed("[dbo].[My Table]"), two("dbo", "My Table"));
        assert_eq!(parsed("\"public\".\"posts\""), two("public", "posts"));
        assert_eq!(parsed("  dbo . Posts  "), two("dbo", "Posts"));
        assert_eq!(parsed("[dbo] . \"Mixed\""), two("dbo", "Mixed"));
        assert_eq!(parsed("My Table"), (None, "My Table".to_string()));
    }

    #[test]
    fn quotes_are_unescaped_and_may_hold_dots_and_other_quotes() {
        assert_eq!(parsed("[x]]y]"), (None, "x]y".to_string()));
        assert_eq!(parsed("\"x\"\"y\""), (None, "x\"y".to_string()));
        assert_eq!(parsed("[a.b].[c\"d]"), two("a.b", "c\"d"));
        assert_eq!(parsed("\"[a]\".\" \""), two("[a]", " "));
        assert_eq!(parsed("[Ünïcødé 表]"), (None, "Ünïcødé 表".to_string()));
        assert_eq!(parsed("[]]]"), (None, "]".to_string()));
    }

    #[test]
    fn remembers_which_parts_were_quoted() {
        let name = parse_qualified_name("dbo.\"Posts\"").unwrap();
        assert!(!name.schema_quoted && name.name_quoted);
        let name = parse_qualified_name("[dbo].posts").unwrap();
        assert!(name.schema_quoted && !name.name_quoted);
    }

    #[test]
    fn malformed_names_are_refused() {
        let error = |input: &str| parse_qualified_name(input).unwrap_err();
        assert_eq!(error(""), IdentError::Empty);
        assert_eq!(error("   "), IdentError::Empty);
        assert_eq!(error(".Posts"), IdentError::EmptyPart { part: 1 });
        assert_eq!(error("dbo."), IdentError::EmptyPart { part: 2 });
        assert_eq!(error("a..b"), IdentError::EmptyPart { part: 2 });
        assert_eq!(error("[]"), IdentError::EmptyPart { part: 1 });
        assert_eq!(error("[dbo"), IdentError::Unterminated { quote: '[' });
        assert_eq!(error("\"x\"\""), IdentError::Unterminated { quote: '"' });
        assert_eq!(
            error("[a]b"),
            IdentError::UnexpectedAfterQuote { found: 'b' }
        );
        assert_eq!(error("a]b"), IdentError::UnexpectedQuote { found: ']' });
        assert_eq!(error("db.dbo.T"), IdentError::TooManyParts { parts: 3 });
        assert_eq!(error("a\0b"), IdentError::NulInName);
        assert!(error("db.dbo.T").to_string().contains("database"));
    }

    #[test]
    fn quoting_escapes_the_quote_character_only() {
        assert_eq!(quote_tsql("x]y"), "[x]]y]");
        assert_eq!(quote_tsql("a[b\"c"), "[a[b\"c]");
        assert_eq!(quote_tsql_qualified("dbo", "My Table"), "[dbo].[My Table]");
        assert_eq!(quote_pg("x\"y"), "\"x\"\"y\"");
        assert_eq!(quote_pg("Table]"), "\"Table]\"");
        assert_eq!(
            quote_pg_qualified("public", "posts"),
            "\"public\".\"posts\""
        );
    }

    #[test]
    fn quoting_round_trips_through_parsing() {
        for name in ["x]y", "x\"y", "a.b", " spaced ", "[[]]", "表", "\"\""] {
            let tsql = quote_tsql_qualified(name, name);
            assert_eq!(parsed(&tsql), two(name, name), "{tsql}");
            let pg = quote_pg_qualified(name, name);
            assert_eq!(parsed(&pg), two(name, name), "{pg}");
        }
    }

    #[test]
    fn lower_policy() {
        assert_eq!(IdentifierCase::Lower.apply("PostTypeId"), "posttypeid");
        assert_eq!(IdentifierCase::Lower.apply("ÄRGER"), "ärger");
        assert_eq!(IdentifierCase::Lower.apply("My Table"), "my table");
    }

    #[test]
    fn snake_policy() {
        let cases = [
            ("LastEditDate", "last_edit_date"),
            ("PostID", "post_id"),
            ("HTMLBody", "html_body"),
            ("Id", "id"),
            ("ID", "id"),
            ("My Table", "my_table"),
            ("PostTypeId", "post_type_id"),
            ("already_snake", "already_snake"),
            ("Post__Id", "post_id"),
            ("__private", "private"),
            ("Address2", "address2"),
            ("Address2Line", "address2_line"),
            ("X509Cert", "x509_cert"),
            ("userID2", "user_id2"),
            ("2FA", "2_fa"),
            ("ÄrgerÜber", "ärger_über"),
            ("Some-Name.With Spaces", "some_name_with_spaces"),
            ("lowercase", "lowercase"),
            ("表名", "表名"),
        ];
        for (source, expected) in cases {
            assert_eq!(IdentifierCase::Snake.apply(source), expected, "{source}");
        }
    }

    #[test]
    fn preserve_policy_and_parsing_the_setting() {
        assert_eq!(IdentifierCase::Preserve.apply("My Table"), "My Table");
        assert_eq!(
            IdentifierCase::parse(" Snake "),
            Some(IdentifierCase::Snake)
        );
        assert_eq!(IdentifierCase::parse("upper"), None);
        assert_eq!(IdentifierCase::default(), IdentifierCase::Lower);
    }

    #[test]
    fn over_long_and_empty_names_are_refused() {
        let long = "a".repeat(64);
        assert_eq!(
            pg_name(&long, IdentifierCase::Preserve),
            Err(IdentError::TooLong {
                name: long.clone(),
                bytes: 64
            })
        );
        assert!(pg_name(&"a".repeat(63), IdentifierCase::Preserve).is_ok());
        // 32 two-byte characters: 64 bytes although only 32 characters.
        assert!(pg_name(&"é".repeat(32), IdentifierCase::Lower).is_err());
        // Snake case can make a name longer.
        let camel = "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGhIjKlMnOpQr"; // 44 bytes
        assert!(pg_name(camel, IdentifierCase::Lower).is_ok());
        assert!(matches!(
            pg_name(camel, IdentifierCase::Snake),
            Err(IdentError::TooLong { bytes: 65, .. })
        ));
        assert_eq!(
            pg_name("#", IdentifierCase::Snake),
            Err(IdentError::EmptyAfterPolicy {
                source: "#".to_string()
            })
        );
    }

    #[test]
    fn collisions_after_the_policy_are_all_listed() {
        let sources = ["Id", "ID", "PostId", "Post_Id", "Body"];
        assert_eq!(
            pg_column_names(&sources, IdentifierCase::Preserve).unwrap(),
            sources.to_vec()
        );
        let error = pg_column_names(&sources, IdentifierCase::Snake).unwrap_err();
        assert_eq!(
            error,
            IdentError::Collisions {
                collisions: vec![
                    ("id".to_string(), vec!["Id".to_string(), "ID".to_string()]),
                    (
                        "post_id".to_string(),
                        vec!["PostId".to_string(), "Post_Id".to_string()]
                    ),
                ]
            }
        );
        assert!(error
            .to_string()
            .contains("\"PostId\", \"Post_Id\" -> \"post_id\""));
        assert_eq!(
            pg_column_names(&["PostId", "Post_Id"], IdentifierCase::Lower).unwrap(),
            ["postid", "post_id"]
        );
    }

    #[test]
    fn display_names_are_bare_unless_a_part_could_be_misread() {
        assert_eq!(tsql_display_name("dbo", "Posts"), "dbo.Posts");
        assert_eq!(tsql_display_name("dbo", "Order Lines"), "dbo.Order Lines");
        assert_eq!(tsql_display_name("a.b", "c"), "[a.b].c");
        assert_eq!(tsql_display_name("a", "b.c"), "a.[b.c]");
        assert_eq!(tsql_display_name("[x]", "y]"), "[[x]]].[y]]]");
    }
}
