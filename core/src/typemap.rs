//! SQL Server column types (as `sys.columns`/`sys.types` describe them) to PostgreSQL types,
//! the column DDL pgmig creates, and whether an existing PostgreSQL column can take a source
//! column's values exactly.
//!
//! The mapping is the product's promise (DESIGN §4): every value arrives exact, and where a
//! type cannot carry everything (time(7)'s 100 ns, datetimeoffset's offset) a note says so.

use std::fmt;

use crate::ident::quote_pg;

/// One column as the describe query returns it (see [`crate::sqlgen::TSQL_DESCRIBE_COLUMNS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceColumn {
    pub name: String,
    /// The declared type's name (`sys.types` by `user_type_id`): a user-defined alias type's
    /// own name, `hierarchyid`, `sysname`, ...
    pub type_name: String,
    /// The system type underneath (`sys.types` by `system_type_id`); `None` for CLR types
    /// (hierarchyid, geometry, geography), which share system type 240.
    pub base_type_name: Option<String>,
    /// Bytes; -1 for `max`.
    pub max_length: i16,
    pub precision: u8,
    pub scale: u8,
    pub is_nullable: bool,
    pub is_identity: bool,
    pub is_computed: bool,
    pub collation_name: Option<String>,
    /// Position in the primary key, from 1; `None` when not part of it.
    pub primary_key_ordinal: Option<u8>,
}

impl SourceColumn {
    /// The type as SQL Server writes it: `nvarchar(50)`, `varchar(max)`, `decimal(18,2)`,
    /// `datetime2(7)`; an alias type as `alias (base)`.
    pub fn sql_type_text(&self) -> String {
        let base = self.effective_type();
        let length = |bytes_per_char: i16| {
            if self.max_length == -1 {
                "max".to_string()
            } else {
                (self.max_length / bytes_per_char).to_string()
            }
        };
        let text = match base.as_str() {
            "char" | "varchar" | "binary" | "varbinary" => format!("{base}({})", length(1)),
            "nchar" | "nvarchar" => format!("{base}({})", length(2)),
            "decimal" | "numeric" => format!("{base}({},{})", self.precision, self.scale),
            "time" | "datetime2" | "datetimeoffset" => format!("{base}({})", self.scale),
            "float" if self.precision > 0 && self.precision != 53 => {
                format!("float({})", self.precision)
            }
            _ => base.clone(),
        };
        if self.type_name.eq_ignore_ascii_case(&base) {
            text
        } else {
            format!("{} ({text})", self.type_name)
        }
    }

    /// A nullable column of system type `type_name`, outside any key (tests only).
    #[cfg(test)]
    pub(crate) fn for_test(
        name: &str,
        type_name: &str,
        max_length: i16,
        precision: u8,
        scale: u8,
    ) -> SourceColumn {
        SourceColumn {
            name: name.into(),
            type_name: type_name.into(),
            base_type_name: Some(type_name.into()),
            max_length,
            precision,
            scale,
            is_nullable: true,
            is_identity: false,
            is_computed: false,
            collation_name: None,
            primary_key_ordinal: None,
        }
    }

    /// The type that decides the mapping: the base system type, or the declared one for CLR
    /// types. Lower case, as `sys.types` spells system types.
    pub fn effective_type(&self) -> String {
        self.base_type_name
            .as_deref()
            .unwrap_or(&self.type_name)
            .to_ascii_lowercase()
    }
}

/// A PostgreSQL column type. Types pgmig maps to carry their modifiers (`Some`); types parsed
/// from an existing column may lack them (`numeric`, `varchar`, `timestamp` without `(n)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgType {
    Boolean,
    SmallInt,
    Integer,
    BigInt,
    /// `(precision, scale)`; `None` is unconstrained `numeric`. PostgreSQL 15 allows a
    /// negative scale, hence `i32`.
    Numeric(Option<(u32, i32)>),
    Real,
    DoublePrecision,
    Date,
    /// Fractional digits; `None` means PostgreSQL's default, 6.
    Time(Option<u8>),
    Timestamp(Option<u8>),
    TimestampTz(Option<u8>),
    /// Length in characters; `None` is bare `bpchar` (any length).
    Char(Option<u32>),
    /// Length in characters; `None` is unbounded `varchar`.
    Varchar(Option<u32>),
    Text,
    Bytea,
    Uuid,
    Xml,
    /// Anything else an existing column may have (as `format_type` shows it).
    Other(String),
}

/// PostgreSQL's maximum fractional-second digits (`MAX_TIMESTAMP_PRECISION`).
const PG_MAX_TIME_PRECISION: u8 = 6;

impl PgType {
    /// Fractional digits of a time/timestamp type, the default filled in.
    fn time_precision(precision: Option<u8>) -> u8 {
        precision.unwrap_or(PG_MAX_TIME_PRECISION)
    }

    fn is_integer(&self) -> bool {
        matches!(self, PgType::SmallInt | PgType::Integer | PgType::BigInt)
    }

    /// Decimal digits needed for every value of an integer type.
    fn integer_digits(&self) -> Option<u32> {
        match self {
            PgType::SmallInt => Some(5),
            PgType::Integer => Some(10),
            PgType::BigInt => Some(19),
            _ => None,
        }
    }

    /// Parses the text of `format_type(atttypid, atttypmod)` (also accepting the common short
    /// spellings). Unknown types become [`PgType::Other`].
    pub fn parse_format_type(text: &str) -> PgType {
        let normalized = text.trim().to_ascii_lowercase();
        let (base, modifiers, suffix) = match (normalized.find('('), normalized.find(')')) {
            (Some(open), Some(close)) if open < close => (
                normalized[..open].trim().to_string(),
                Some(normalized[open + 1..close].to_string()),
                normalized[close + 1..].trim().to_string(),
            ),
            _ => (normalized.clone(), None, String::new()),
        };
        let full_base = if suffix.is_empty() {
            base.clone()
        } else {
            format!("{base} {suffix}")
        };
        let numbers: Option<Vec<i64>> = modifiers.as_deref().map(|m| {
            m.split(',')
                .map(|n| n.trim().parse::<i64>().unwrap_or(-1))
                .collect()
        });
        let one = |numbers: &Option<Vec<i64>>| -> Option<Option<u32>> {
            match numbers.as_deref() {
                None => Some(None),
                Some([n]) if *n >= 0 => u32::try_from(*n).ok().map(Some),
                _ => None,
            }
        };
        let precision = |numbers: &Option<Vec<i64>>| -> Option<Option<u8>> {
            match numbers.as_deref() {
                None => Some(None),
                Some([n]) if (0..=i64::from(PG_MAX_TIME_PRECISION)).contains(n) => {
                    Some(Some(*n as u8))
                }
                _ => None,
            }
        };
        let parsed = match full_base.as_str() {
            "boolean" | "bool" if numbers.is_none() => Some(PgType::Boolean),
            "smallint" | "int2" if numbers.is_none() => Some(PgType::SmallInt),
            "integer" | "int" | "int4" if numbers.is_none() => Some(PgType::Integer),
            "bigint" | "int8" if numbers.is_none() => Some(PgType::BigInt),
            "real" | "float4" if numbers.is_none() => Some(PgType::Real),
            "double precision" | "float8" if numbers.is_none() => Some(PgType::DoublePrecision),
            "date" if numbers.is_none() => Some(PgType::Date),
            "text" if numbers.is_none() => Some(PgType::Text),
            "bytea" if numbers.is_none() => Some(PgType::Bytea),
            "uuid" if numbers.is_none() => Some(PgType::Uuid),
            "xml" if numbers.is_none() => Some(PgType::Xml),
            "numeric" | "decimal" => match numbers.as_deref() {
                None => Some(PgType::Numeric(None)),
                Some([p]) if *p > 0 => Some(PgType::Numeric(Some((*p as u32, 0)))),
                Some([p, s]) if *p > 0 => Some(PgType::Numeric(Some((*p as u32, *s as i32)))),
                _ => None,
            },
            "time" | "time without time zone" => precision(&numbers).map(PgType::Time),
            "timestamp" | "timestamp without time zone" => {
                precision(&numbers).map(PgType::Timestamp)
            }
            "timestamptz" | "timestamp with time zone" => {
                precision(&numbers).map(PgType::TimestampTz)
            }
            "character" | "char" => one(&numbers).map(|n| PgType::Char(Some(n.unwrap_or(1)))),
            "bpchar" => one(&numbers).map(PgType::Char),
            "character varying" | "varchar" => one(&numbers).map(PgType::Varchar),
            _ => None,
        };
        parsed.unwrap_or_else(|| PgType::Other(text.trim().to_string()))
    }

    /// Why a column of this (target) type cannot take every value of `source` exactly, or
    /// `None` when it can. The encoder writes the target type's binary format, widening where
    /// needed (an int source into a bigint column is written as int8).
    pub fn cannot_accept(&self, source: &PgType) -> Option<String> {
        use PgType::*;
        if self == source {
            return None;
        }
        let refused = |why: &str| Some(why.to_string());
        match (self, source) {
            (Integer, SmallInt) | (BigInt, SmallInt | Integer) => None,
            (SmallInt | Integer | BigInt, SmallInt | Integer | BigInt) => {
                refused("the target integer type is narrower than the source")
            }
            (Numeric(None), Numeric(_) | SmallInt | Integer | BigInt) => None,
            (Numeric(Some((p, s))), Numeric(Some((sp, ss)))) => {
                let (int_digits, source_int_digits) = (*p as i64 - *s as i64, *sp as i64 - *ss as i64);
                if s < ss {
                    Some(format!(
                        "the target keeps {s} decimal places, the source has {ss}: values would be rounded"
                    ))
                } else if int_digits < source_int_digits {
                    Some(format!(
                        "the target holds {int_digits} digits before the point, the source up to {source_int_digits}"
                    ))
                } else {
                    None
                }
            }
            (Numeric(Some((p, s))), integer) if integer.is_integer() => {
                let needed = i64::from(integer.integer_digits().unwrap_or(19));
                if *s >= 0 && *p as i64 - *s as i64 >= needed {
                    None
                } else {
                    Some(format!(
                        "the target holds fewer than the {needed} digits the source integer can have"
                    ))
                }
            }
            (Numeric(Some(_)), Numeric(None)) => {
                refused("the source numeric is unconstrained; a constrained target could round")
            }
            (DoublePrecision, Real) => None,
            (Time(p), Time(sp)) | (Timestamp(p), Timestamp(sp)) | (TimestampTz(p), TimestampTz(sp)) => {
                let (p, sp) = (Self::time_precision(*p), Self::time_precision(*sp));
                if p >= sp {
                    None
                } else {
                    Some(format!(
                        "the target keeps {p} fractional-second digits, the source has {sp}: values would be rounded"
                    ))
                }
            }
            (Timestamp(_), TimestampTz(_)) => refused(
                "the source is an instant (timestamptz); a timestamp column would depend on the session time zone",
            ),
            (TimestampTz(_), Timestamp(_)) => refused(
                "the source is a local timestamp; a timestamptz column would depend on the session time zone",
            ),
            (Text | Varchar(None), Char(_) | Varchar(_) | Text) => None,
            (Text, Xml) => None,
            (Varchar(Some(n)), Char(Some(m)) | Varchar(Some(m))) => {
                if n >= m {
                    None
                } else {
                    Some(format!(
                        "the target holds {n} characters, the source up to {m}"
                    ))
                }
            }
            (Varchar(Some(n)), _) if matches!(source, Text | Varchar(None) | Char(None)) => {
                Some(format!("the target holds {n} characters, the source is unbounded"))
            }
            (Char(None), Char(_)) => None,
            (Char(Some(n)), Char(Some(m))) => {
                if n >= m {
                    None
                } else {
                    Some(format!(
                        "the target holds {n} characters, the source up to {m}"
                    ))
                }
            }
            (Char(_), Varchar(_) | Text) => refused(
                "char pads with spaces and ignores trailing spaces; variable-length text would change meaning",
            ),
            (Other(name), _) => Some(format!("pgmig cannot load into a column of type {name}")),
            _ => Some(format!("a {self} column cannot take {source} values exactly")),
        }
    }
}

impl fmt::Display for PgType {
    /// The type as pgmig writes it in DDL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with = |f: &mut fmt::Formatter<'_>, name: &str, n: Option<u32>| match n {
            Some(n) => write!(f, "{name}({n})"),
            None => f.write_str(name),
        };
        match self {
            PgType::Boolean => f.write_str("boolean"),
            PgType::SmallInt => f.write_str("smallint"),
            PgType::Integer => f.write_str("integer"),
            PgType::BigInt => f.write_str("bigint"),
            PgType::Numeric(Some((p, s))) => write!(f, "numeric({p},{s})"),
            PgType::Numeric(None) => f.write_str("numeric"),
            PgType::Real => f.write_str("real"),
            PgType::DoublePrecision => f.write_str("double precision"),
            PgType::Date => f.write_str("date"),
            PgType::Time(p) => with(f, "time", p.map(u32::from)),
            PgType::Timestamp(p) => with(f, "timestamp", p.map(u32::from)),
            PgType::TimestampTz(p) => with(f, "timestamptz", p.map(u32::from)),
            PgType::Char(n) => with(f, if n.is_some() { "char" } else { "bpchar" }, *n),
            PgType::Varchar(n) => with(f, "varchar", *n),
            PgType::Text => f.write_str("text"),
            PgType::Bytea => f.write_str("bytea"),
            PgType::Uuid => f.write_str("uuid"),
            PgType::Xml => f.write_str("xml"),
            PgType::Other(name) => f.write_str(name),
        }
    }
}

/// A source column's PostgreSQL type, and a note when the mapping is lossy or a choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedType {
    pub pg_type: PgType,
    /// Whether the PostgreSQL column is `GENERATED BY DEFAULT AS IDENTITY` (an identity on an
    /// integer type; PostgreSQL identity columns must be integers).
    pub identity: bool,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeMapError {
    /// A type pgmig has no exact mapping for (a user-defined CLR type, or something new).
    Unsupported { column: String, type_name: String },
}

impl fmt::Display for TypeMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeMapError::Unsupported { column, type_name } => write!(
                f,
                "column {column:?} has SQL Server type {type_name}, which pgmig cannot map; \
                 exclude the column or convert it in a view"
            ),
        }
    }
}

impl std::error::Error for TypeMapError {}

/// SQL Server's time/datetime2/datetimeoffset keep up to 7 fractional digits.
const ROUNDED_TIME_SCALE: u8 = 7;
/// float(n) with n <= 24 is a 4-byte real (SQL Server stores precision 24 for it).
const REAL_MAX_FLOAT_PRECISION: u8 = 24;

/// The PostgreSQL type for `column`.
pub fn map_type(column: &SourceColumn) -> Result<MappedType, TypeMapError> {
    let base = column.effective_type();
    let length_chars = |bytes_per_char: i16| -> Option<u32> {
        (column.max_length > 0).then(|| (column.max_length / bytes_per_char) as u32)
    };
    let time_precision = column.scale.min(PG_MAX_TIME_PRECISION);
    let seven_digit_note = |what: &str| -> Option<String> {
        (column.scale >= ROUNDED_TIME_SCALE).then(|| {
            format!(
                "{what}(7) has 100 ns steps, PostgreSQL keeps microseconds: rounded to the nearest \
                 microsecond (a tie as PostgreSQL's own text input rounds it), which can carry into \
                 the next second or day"
            )
        })
    };
    let (pg_type, note): (PgType, Option<String>) = match base.as_str() {
        "bit" => (PgType::Boolean, None),
        "tinyint" => (
            PgType::SmallInt,
            Some("tinyint (0 to 255) widened: PostgreSQL has no 1-byte integer".into()),
        ),
        "smallint" => (PgType::SmallInt, None),
        "int" => (PgType::Integer, None),
        "bigint" => (PgType::BigInt, None),
        "decimal" | "numeric" => (
            PgType::Numeric(Some((u32::from(column.precision), i32::from(column.scale)))),
            None,
        ),
        "money" => (
            PgType::Numeric(Some((19, 4))),
            Some("money as numeric(19,4): exact, and independent of lc_monetary unlike PostgreSQL's money".into()),
        ),
        "smallmoney" => (
            PgType::Numeric(Some((10, 4))),
            Some("smallmoney as numeric(10,4): exact".into()),
        ),
        "real" => (PgType::Real, None),
        "float" if column.precision <= REAL_MAX_FLOAT_PRECISION && column.precision > 0 => {
            (PgType::Real, None)
        }
        "float" => (PgType::DoublePrecision, None),
        "date" => (PgType::Date, None),
        "time" => (PgType::Time(Some(time_precision)), seven_digit_note("time").map(|n| {
            format!("{n}; 23:59:59.9999995 and later become 24:00:00, a valid PostgreSQL time")
        })),
        "smalldatetime" => (PgType::Timestamp(Some(0)), None),
        "datetime" => (
            PgType::Timestamp(Some(3)),
            Some(
                "datetime counts 1/300 s: each value becomes the millisecond SQL Server shows \
                 (.000, .003, .007) and CAST(x AS datetime2(3)) gives, which converts back to \
                 the same datetime"
                    .into(),
            ),
        ),
        "datetime2" => (PgType::Timestamp(Some(time_precision)), seven_digit_note("datetime2")),
        "datetimeoffset" => {
            let offset_note = "the instant is kept (stored as UTC); the original UTC offset is not";
            (
                PgType::TimestampTz(Some(time_precision)),
                Some(match seven_digit_note("datetimeoffset") {
                    Some(rounding) => format!("{offset_note}; {rounding}"),
                    None => offset_note.to_string(),
                }),
            )
        }
        "char" => (PgType::Char(length_chars(1)), None),
        "nchar" => (PgType::Char(length_chars(2)), None),
        "varchar" => match length_chars(1) {
            Some(n) => (PgType::Varchar(Some(n)), None),
            None => (PgType::Text, None),
        },
        "nvarchar" => match length_chars(2) {
            Some(n) => (PgType::Varchar(Some(n)), None),
            None => (PgType::Text, None),
        },
        "text" | "ntext" => (PgType::Text, None),
        "binary" | "varbinary" | "image" => (PgType::Bytea, None),
        "uniqueidentifier" => (PgType::Uuid, None),
        "xml" => (
            PgType::Xml,
            Some(
                "the XML declaration is not kept (SQL Server does not store it either); fragments \
                 load only with PostgreSQL's xmloption = content (the default)"
                    .into(),
            ),
        ),
        "timestamp" | "rowversion" => (
            PgType::Bytea,
            Some("rowversion as its 8 bytes; PostgreSQL does not maintain it".into()),
        ),
        "sql_variant" => (
            PgType::Text,
            Some("sql_variant as the text of each value; its base type is not kept".into()),
        ),
        "hierarchyid" | "geometry" | "geography" => (
            PgType::Bytea,
            Some(format!(
                "{base} as its raw CLR serialization bytes (exact, convertible back); no silent \
                 conversion to text"
            )),
        ),
        _ => {
            return Err(TypeMapError::Unsupported {
                column: column.name.clone(),
                type_name: column.type_name.clone(),
            })
        }
    };

    let mut notes: Vec<String> = note.into_iter().collect();
    if column.base_type_name.is_some() && !column.type_name.eq_ignore_ascii_case(&base) {
        notes.push(format!("alias type {} of {base}", column.type_name));
    }
    if column.is_computed {
        notes.push("computed column: its values are copied, not its expression".into());
    }
    let identity = column.is_identity && pg_type.is_integer();
    if column.is_identity && !identity {
        notes.push(format!(
            "identity on {base} kept as a plain column: PostgreSQL identity columns must be integers"
        ));
    }
    Ok(MappedType {
        pg_type,
        identity,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// `"name" type [NOT NULL] [GENERATED BY DEFAULT AS IDENTITY]` for `CREATE TABLE`. BY DEFAULT,
/// not ALWAYS: loads write the source's identity values.
pub fn column_ddl(name: &str, pg_type: &PgType, not_null: bool, identity: bool) -> String {
    let mut ddl = format!("{} {pg_type}", quote_pg(name));
    if not_null || identity {
        ddl.push_str(" NOT NULL");
    }
    if identity {
        ddl.push_str(" GENERATED BY DEFAULT AS IDENTITY");
    }
    ddl
}

/// A column of an existing target table that cannot take its source column exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMismatch {
    pub column: String,
    pub source_type: String,
    /// `None` when the target has no such column.
    pub target_type: Option<String>,
    pub reason: String,
}

impl fmt::Display for ColumnMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target_type {
            Some(target) => write!(
                f,
                "column {:?}: source {} into target {target}: {}",
                self.column, self.source_type, self.reason
            ),
            None => write!(f, "column {:?}: {}", self.column, self.reason),
        }
    }
}

/// Checks every source column (PostgreSQL name, mapped type) against the existing target
/// columns (name, `format_type` text); matching by exact name. Extra target columns are not
/// mismatches (they get their defaults).
pub fn check_target_columns(
    source: &[(String, PgType)],
    target: &[(String, String)],
) -> Vec<ColumnMismatch> {
    let mut mismatches = Vec::new();
    for (name, source_type) in source {
        let Some((_, target_text)) = target.iter().find(|(target_name, _)| target_name == name)
        else {
            mismatches.push(ColumnMismatch {
                column: name.clone(),
                source_type: source_type.to_string(),
                target_type: None,
                reason: "the target table has no such column".into(),
            });
            continue;
        };
        let target_type = PgType::parse_format_type(target_text);
        if let Some(reason) = target_type.cannot_accept(source_type) {
            mismatches.push(ColumnMismatch {
                column: name.clone(),
                source_type: source_type.to_string(),
                target_type: Some(target_text.clone()),
                reason,
            });
        }
    }
    mismatches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(type_name: &str, max_length: i16, precision: u8, scale: u8) -> SourceColumn {
        SourceColumn::for_test("c", type_name, max_length, precision, scale)
    }

    fn mapped(type_name: &str, max_length: i16, precision: u8, scale: u8) -> String {
        map_type(&column(type_name, max_length, precision, scale))
            .unwrap()
            .pg_type
            .to_string()
    }

    #[test]
    fn sql_type_text_as_sql_server_writes_it() {
        let text = |t: &str, len: i16, p: u8, s: u8| column(t, len, p, s).sql_type_text();
        assert_eq!(text("nvarchar", 100, 0, 0), "nvarchar(50)");
        assert_eq!(text("varbinary", -1, 0, 0), "varbinary(max)");
        assert_eq!(text("decimal", 17, 38, 38), "decimal(38,38)");
        assert_eq!(text("datetime2", 8, 27, 7), "datetime2(7)");
        assert_eq!(text("float", 8, 53, 0), "float");
        assert_eq!(text("int", 4, 10, 0), "int");
        let mut alias = column("Flag", 1, 1, 0);
        alias.base_type_name = Some("bit".into());
        assert_eq!(alias.sql_type_text(), "Flag (bit)");
    }

    #[test]
    fn maps_every_sql_server_type() {
        // (type, max_length, precision, scale) as sys.columns reports them.
        let cases: &[(&str, i16, u8, u8, &str)] = &[
            ("bit", 1, 1, 0, "boolean"),
            ("tinyint", 1, 3, 0, "smallint"),
            ("smallint", 2, 5, 0, "smallint"),
            ("int", 4, 10, 0, "integer"),
            ("bigint", 8, 19, 0, "bigint"),
            ("decimal", 17, 38, 38, "numeric(38,38)"),
            ("numeric", 9, 18, 2, "numeric(18,2)"),
            ("money", 8, 19, 4, "numeric(19,4)"),
            ("smallmoney", 4, 10, 4, "numeric(10,4)"),
            ("real", 4, 24, 0, "real"),
            ("float", 8, 53, 0, "double precision"),
            ("float", 4, 24, 0, "real"),
            ("date", 3, 10, 0, "date"),
            ("time", 5, 16, 7, "time(6)"),
            ("time", 3, 8, 0, "time(0)"),
            ("smalldatetime", 4, 16, 0, "timestamp(0)"),
            ("datetime", 8, 23, 3, "timestamp(3)"),
            ("datetime2", 8, 27, 7, "timestamp(6)"),
            ("datetime2", 7, 23, 3, "timestamp(3)"),
            ("datetimeoffset", 10, 34, 7, "timestamptz(6)"),
            ("char", 10, 0, 0, "char(10)"),
            ("nchar", 20, 0, 0, "char(10)"),
            ("varchar", 50, 0, 0, "varchar(50)"),
            ("nvarchar", 100, 0, 0, "varchar(50)"),
            ("varchar", -1, 0, 0, "text"),
            ("nvarchar", -1, 0, 0, "text"),
            ("text", 16, 0, 0, "text"),
            ("ntext", 16, 0, 0, "text"),
            ("binary", 16, 0, 0, "bytea"),
            ("varbinary", -1, 0, 0, "bytea"),
            ("image", 16, 0, 0, "bytea"),
            ("uniqueidentifier", 16, 0, 0, "uuid"),
            ("xml", -1, 0, 0, "xml"),
            ("timestamp", 8, 0, 0, "bytea"),
            ("sql_variant", 8016, 0, 0, "text"),
        ];
        for &(type_name, max_length, precision, scale, expected) in cases {
            assert_eq!(
                mapped(type_name, max_length, precision, scale),
                expected,
                "{type_name}({max_length}, {precision}, {scale})"
            );
        }
    }

    #[test]
    fn lossy_or_chosen_mappings_carry_a_note() {
        let note = |c: SourceColumn| map_type(&c).unwrap().note.unwrap_or_default();
        assert!(note(column("time", 5, 16, 7)).contains("24:00:00"));
        assert_eq!(map_type(&column("time", 4, 12, 3)).unwrap().note, None);
        assert!(note(column("datetime", 8, 23, 3)).contains("1/300"));
        let offset = note(column("datetimeoffset", 10, 34, 7));
        assert!(offset.contains("offset is not") && offset.contains("100 ns"));
        assert!(note(column("datetimeoffset", 8, 26, 0)).contains("offset is not"));
        assert!(note(column("tinyint", 1, 3, 0)).contains("widened"));
        assert!(note(column("xml", -1, 0, 0)).contains("declaration"));
        assert_eq!(map_type(&column("int", 4, 10, 0)).unwrap().note, None);
    }

    #[test]
    fn clr_types_are_raw_bytes() {
        for clr in ["hierarchyid", "geometry", "geography"] {
            let mut c = column(clr, 892, 0, 0);
            c.base_type_name = None;
            let mapped = map_type(&c).unwrap();
            assert_eq!(mapped.pg_type, PgType::Bytea);
            assert!(mapped.note.unwrap().contains("raw CLR"));
        }
        let mut custom = column("MyPointType", 100, 0, 0);
        custom.base_type_name = None;
        custom.name = "where".into();
        let error = map_type(&custom).unwrap_err();
        assert_eq!(
            error,
            TypeMapError::Unsupported {
                column: "where".into(),
                type_name: "MyPointType".into()
            }
        );
    }

    #[test]
    fn alias_types_map_as_their_base() {
        let mut c = column("PhoneNumber", 40, 0, 0);
        c.base_type_name = Some("nvarchar".into());
        let mapped = map_type(&c).unwrap();
        assert_eq!(mapped.pg_type, PgType::Varchar(Some(20)));
        assert!(mapped
            .note
            .unwrap()
            .contains("alias type PhoneNumber of nvarchar"));
        let mut sysname = column("sysname", 256, 0, 0);
        sysname.base_type_name = Some("nvarchar".into());
        assert_eq!(
            map_type(&sysname).unwrap().pg_type,
            PgType::Varchar(Some(128))
        );
    }

    #[test]
    fn identity_needs_an_integer_type() {
        let mut c = column("int", 4, 10, 0);
        c.is_identity = true;
        assert!(map_type(&c).unwrap().identity);
        let mut d = column("decimal", 9, 18, 0);
        d.is_identity = true;
        let mapped = map_type(&d).unwrap();
        assert!(!mapped.identity);
        assert!(mapped.note.unwrap().contains("identity"));
    }

    #[test]
    fn column_ddl_quotes_and_adds_constraints() {
        assert_eq!(
            column_ddl("Id", &PgType::Integer, true, true),
            "\"Id\" integer NOT NULL GENERATED BY DEFAULT AS IDENTITY"
        );
        assert_eq!(
            column_ddl("we\"ird name", &PgType::Varchar(Some(50)), false, false),
            "\"we\"\"ird name\" varchar(50)"
        );
        assert_eq!(
            column_ddl("t", &PgType::Timestamp(Some(3)), true, false),
            "\"t\" timestamp(3) NOT NULL"
        );
    }

    #[test]
    fn parses_format_type_output() {
        let cases: &[(&str, PgType)] = &[
            ("integer", PgType::Integer),
            ("bigint", PgType::BigInt),
            ("numeric", PgType::Numeric(None)),
            ("numeric(10,2)", PgType::Numeric(Some((10, 2)))),
            ("numeric(5,-2)", PgType::Numeric(Some((5, -2)))),
            ("character varying(50)", PgType::Varchar(Some(50))),
            ("character varying", PgType::Varchar(None)),
            ("character(10)", PgType::Char(Some(10))),
            ("bpchar", PgType::Char(None)),
            ("timestamp(3) without time zone", PgType::Timestamp(Some(3))),
            ("timestamp without time zone", PgType::Timestamp(None)),
            ("timestamp(0) with time zone", PgType::TimestampTz(Some(0))),
            ("time(6) without time zone", PgType::Time(Some(6))),
            ("double precision", PgType::DoublePrecision),
            ("xml", PgType::Xml),
            ("jsonb", PgType::Other("jsonb".into())),
            (
                "time with time zone",
                PgType::Other("time with time zone".into()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(&PgType::parse_format_type(text), expected, "{text}");
        }
        // What pgmig writes parses back to itself.
        for ty in [
            PgType::Numeric(Some((38, 38))),
            PgType::Timestamp(Some(3)),
            PgType::TimestampTz(Some(6)),
            PgType::Char(Some(10)),
            PgType::Varchar(Some(50)),
            PgType::Time(Some(0)),
        ] {
            assert_eq!(PgType::parse_format_type(&ty.to_string()), ty);
        }
    }

    #[test]
    fn compatible_targets_are_accepted() {
        let ok = |target: &str, source: PgType| {
            let reason = PgType::parse_format_type(target).cannot_accept(&source);
            assert_eq!(reason, None, "{target} <- {source}");
        };
        ok("bigint", PgType::Integer);
        ok("integer", PgType::SmallInt);
        ok("character varying(100)", PgType::Varchar(Some(50)));
        ok("text", PgType::Varchar(Some(50)));
        ok("character varying", PgType::Text);
        ok("numeric(12,2)", PgType::Numeric(Some((10, 2))));
        ok("numeric(12,3)", PgType::Numeric(Some((10, 2))));
        ok("numeric", PgType::Numeric(Some((38, 38))));
        ok("numeric(10,0)", PgType::Integer);
        ok("numeric(19,0)", PgType::BigInt);
        ok("double precision", PgType::Real);
        ok("timestamp without time zone", PgType::Timestamp(Some(3)));
        ok("timestamp(6) with time zone", PgType::TimestampTz(Some(6)));
        ok("character(12)", PgType::Char(Some(10)));
        ok("uuid", PgType::Uuid);
    }

    #[test]
    fn incompatible_targets_are_refused_with_reasons() {
        let refused = |target: &str, source: PgType| -> String {
            PgType::parse_format_type(target)
                .cannot_accept(&source)
                .unwrap_or_else(|| panic!("{target} <- {source} should be refused"))
        };
        assert!(refused("integer", PgType::BigInt).contains("narrower"));
        assert!(refused("numeric(10,1)", PgType::Numeric(Some((10, 2)))).contains("rounded"));
        assert!(
            refused("numeric(10,2)", PgType::Numeric(Some((12, 2)))).contains("before the point")
        );
        assert!(refused("numeric(9,0)", PgType::Integer).contains("10 digits"));
        assert!(refused("character varying(40)", PgType::Varchar(Some(50))).contains("40"));
        assert!(refused("character varying(40)", PgType::Text).contains("unbounded"));
        assert!(
            refused("timestamp(3) without time zone", PgType::Timestamp(Some(6)))
                .contains("rounded")
        );
        assert!(
            refused("timestamp with time zone", PgType::Timestamp(Some(6))).contains("time zone")
        );
        assert!(refused("character(10)", PgType::Varchar(Some(10))).contains("pads"));
        assert!(refused("jsonb", PgType::Text).contains("jsonb"));
        assert!(refused("integer", PgType::Text).contains("integer"));
        assert!(refused("real", PgType::DoublePrecision).contains("real"));
    }

    #[test]
    fn table_check_lists_every_mismatch() {
        let source = vec![
            ("id".to_string(), PgType::BigInt),
            ("title".to_string(), PgType::Varchar(Some(250))),
            ("score".to_string(), PgType::Integer),
            ("gone".to_string(), PgType::Date),
        ];
        let target = vec![
            ("id".to_string(), "integer".to_string()),
            ("title".to_string(), "text".to_string()),
            ("score".to_string(), "bigint".to_string()),
            ("extra".to_string(), "text".to_string()),
        ];
        let mismatches = check_target_columns(&source, &target);
        assert_eq!(mismatches.len(), 2);
        assert_eq!(mismatches[0].column, "id");
        assert_eq!(mismatches[0].target_type.as_deref(), Some("integer"));
        assert_eq!(mismatches[1].column, "gone");
        assert_eq!(mismatches[1].target_type, None);
        assert!(mismatches[1].to_string().contains("no such column"));
        assert!(mismatches[0]
            .to_string()
            .contains("source bigint into target integer"));
    }
}
