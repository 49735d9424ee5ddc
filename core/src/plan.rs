//! Planning a pull before any row moves: which source columns are read and how, their
//! PostgreSQL names and types, the key, and how each value is written into the target's
//! binary COPY stream. Every refusal the user can cause by a wrong argument is found here.

use std::fmt;

use crate::ident::{pg_column_names, IdentError, IdentifierCase};
use crate::sqlgen::{PgColumn, SelectColumn};
use crate::typemap::{map_type, MappedType, PgType, SourceColumn, TypeMapError};

/// How a pull writes into the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Insert; create the target when missing.
    Append,
    /// Empty the target, then load, in one transaction.
    Truncate,
    /// Load a fresh table, then swap it in for the target.
    Replace,
    /// Insert new keys, update changed rows, leave identical rows alone.
    Upsert,
}

impl Mode {
    pub const NAMES: &'static str = "append, truncate, replace, upsert";

    pub fn parse(text: &str) -> Option<Mode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "append" => Some(Mode::Append),
            "truncate" => Some(Mode::Truncate),
            "replace" => Some(Mode::Replace),
            "upsert" => Some(Mode::Upsert),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Append => "append",
            Mode::Truncate => "truncate",
            Mode::Replace => "replace",
            Mode::Upsert => "upsert",
        }
    }
}

/// How one value is written into the target column's binary COPY field. Chosen by the
/// *target* column's type: a tinyint bound for an existing `bigint` column must be sent as 8
/// bytes, or COPY reads garbage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldEncoding {
    Bool,
    Int16,
    Int32,
    Int64,
    Numeric,
    Float32,
    Float64,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Text,
    Bytea,
    Uuid,
    Xml,
    /// Text from UTF-16LE bytes: an nchar/nvarchar column read as `varbinary(max)`
    /// (see [`PullPlan::wire`]).
    TextFromUtf16,
}

impl FieldEncoding {
    /// The encoding for a target column of type `target`; `None` for a type pgmig does not
    /// write (the target check refuses such columns before any row moves).
    pub fn for_target(target: &PgType) -> Option<FieldEncoding> {
        Some(match target {
            PgType::Boolean => FieldEncoding::Bool,
            PgType::SmallInt => FieldEncoding::Int16,
            PgType::Integer => FieldEncoding::Int32,
            PgType::BigInt => FieldEncoding::Int64,
            PgType::Numeric(_) => FieldEncoding::Numeric,
            PgType::Real => FieldEncoding::Float32,
            PgType::DoublePrecision => FieldEncoding::Float64,
            PgType::Date => FieldEncoding::Date,
            PgType::Time(_) => FieldEncoding::Time,
            PgType::Timestamp(_) => FieldEncoding::Timestamp,
            PgType::TimestampTz(_) => FieldEncoding::TimestampTz,
            PgType::Char(_) | PgType::Varchar(_) | PgType::Text => FieldEncoding::Text,
            PgType::Bytea => FieldEncoding::Bytea,
            PgType::Uuid => FieldEncoding::Uuid,
            PgType::Xml => FieldEncoding::Xml,
            PgType::Other(_) => return None,
        })
    }
}

/// One column a pull reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedColumn {
    pub source: SourceColumn,
    /// The PostgreSQL column name under the identifier policy.
    pub pg_name: String,
    pub mapped: MappedType,
    pub select: SelectColumn,
}

impl PlannedColumn {
    /// The column as pgmig would create it.
    pub fn pg_column(&self) -> PgColumn {
        PgColumn {
            name: self.pg_name.clone(),
            pg_type: self.mapped.pg_type.clone(),
            not_null: !self.source.is_nullable,
            identity: self.mapped.identity,
        }
    }
}

/// The columns and key of a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullPlan {
    pub columns: Vec<PlannedColumn>,
    /// Positions in `columns` of the key, in key order (empty: no key).
    pub key: Vec<usize>,
    /// Whether the key is the source's primary key (else it was given with `key =>`).
    pub key_is_primary: bool,
}

/// What nchar/nvarchar columns are read as when pgmig converts their UTF-16 itself.
pub const UTF16_BYTES_CAST: &str = "varbinary(max)";

impl PullPlan {
    pub fn select_columns(&self) -> Vec<SelectColumn> {
        self.columns.iter().map(|c| c.select.clone()).collect()
    }

    /// The SELECT items and the COPY field encodings for target columns encoded as `targets`
    /// (one per column). nchar/nvarchar columns bound for text are read as their UTF-16LE bytes
    /// (`CAST(... AS varbinary(max))`) and converted by core's converter, 8 ASCII units per
    /// step: tiberius decodes UTF-16 one char at a time into a `String`, which took 28% of the
    /// network thread on ~1 KB bodies. Key columns keep their type (they order the read and
    /// name rows in error messages).
    pub fn wire(&self, targets: &[FieldEncoding]) -> (Vec<SelectColumn>, Vec<FieldEncoding>) {
        let mut select = Vec::with_capacity(self.columns.len());
        let mut encodings = Vec::with_capacity(self.columns.len());
        for (i, (column, &target)) in self.columns.iter().zip(targets).enumerate() {
            let unicode = matches!(
                column.source.effective_type().as_str(),
                "nchar" | "nvarchar"
            );
            if unicode
                && column.select.cast_to.is_none()
                && target == FieldEncoding::Text
                && !self.key.contains(&i)
            {
                select.push(SelectColumn {
                    name: column.select.name.clone(),
                    cast_to: Some(UTF16_BYTES_CAST),
                });
                encodings.push(FieldEncoding::TextFromUtf16);
            } else {
                select.push(column.select.clone());
                encodings.push(target);
            }
        }
        (select, encodings)
    }

    pub fn pg_columns(&self) -> Vec<PgColumn> {
        self.columns.iter().map(PlannedColumn::pg_column).collect()
    }

    pub fn pg_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.pg_name.clone()).collect()
    }

    pub fn key_source_names(&self) -> Vec<String> {
        self.key
            .iter()
            .map(|&i| self.columns[i].source.name.clone())
            .collect()
    }

    pub fn key_pg_names(&self) -> Vec<String> {
        self.key
            .iter()
            .map(|&i| self.columns[i].pg_name.clone())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// Names in `columns =>` the source table does not have.
    UnknownColumns {
        names: Vec<String>,
        available: Vec<String>,
    },
    /// Names in `key =>` the source table does not have.
    UnknownKeyColumns {
        names: Vec<String>,
        available: Vec<String>,
    },
    /// Key columns left out by `columns =>`.
    KeyNotSelected {
        names: Vec<String>,
    },
    /// `columns =>` names a column twice (or two spellings of one).
    DuplicateColumn {
        name: String,
    },
    /// `columns => '{}'`.
    NoColumns,
    /// Upsert needs a key: the source has no primary key and none was given.
    UpsertWithoutKey,
    TypeMap(TypeMapError),
    Ident(IdentError),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::UnknownColumns { names, .. } => write!(
                f,
                "source table has no column {}",
                quoted_names(names).join(", ")
            ),
            PlanError::UnknownKeyColumns { names, .. } => write!(
                f,
                "key column {} not found in the source table",
                quoted_names(names).join(", ")
            ),
            PlanError::KeyNotSelected { names } => write!(
                f,
                "key column {} must be among the columns read",
                quoted_names(names).join(", ")
            ),
            PlanError::DuplicateColumn { name } => {
                write!(f, "column \"{name}\" is named twice in columns")
            }
            PlanError::NoColumns => write!(f, "columns is empty: nothing to read"),
            PlanError::UpsertWithoutKey => write!(
                f,
                "mode upsert needs a key, and the source table has no primary key"
            ),
            PlanError::TypeMap(error) => write!(f, "{error}"),
            PlanError::Ident(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for PlanError {}

impl PlanError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            PlanError::UnknownColumns { available, .. }
            | PlanError::UnknownKeyColumns { available, .. } => Some(format!(
                "The source table's columns are: {}.",
                available.join(", ")
            )),
            PlanError::KeyNotSelected { .. } => {
                Some("Add the key columns to columns, or leave columns out to read all.".into())
            }
            PlanError::UpsertWithoutKey => {
                Some("Name the key columns with key => ARRAY['Id'].".into())
            }
            _ => None,
        }
    }
}

fn quoted_names(names: &[String]) -> Vec<String> {
    names.iter().map(|n| format!("\"{n}\"")).collect()
}

/// The type SQL Server must convert a column to so that the client reads it exactly, if any.
/// money/smallmoney: tiberius decodes them into an f64, which cannot hold every money value;
/// a decimal of the same precision is exact. CLR types (hierarchyid, geometry, geography) are
/// read as their serialized bytes; sql_variant as text.
pub fn tsql_cast_for(source: &SourceColumn) -> Option<&'static str> {
    match source.effective_type().as_str() {
        "money" => Some("decimal(19,4)"),
        "smallmoney" => Some("decimal(10,4)"),
        "hierarchyid" | "geometry" | "geography" => Some("varbinary(max)"),
        "sql_variant" => Some("nvarchar(4000)"),
        _ => None,
    }
}

/// The column of `source` that `wanted` names: the exact spelling first, else the one column
/// equal ignoring case (SQL Server's default collations are case-insensitive).
pub fn find_column(source: &[SourceColumn], wanted: &str) -> Option<usize> {
    if let Some(i) = source.iter().position(|c| c.name == wanted) {
        return Some(i);
    }
    let mut matches = source
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name.to_lowercase() == wanted.to_lowercase());
    match (matches.next(), matches.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

/// Positions in `source` of `names`, in their order. Fails with a duplicate at once, or with
/// every unknown name (`Err(Err(names))`) for the caller to say which list they came from.
fn find_columns(
    source: &[SourceColumn],
    names: &[String],
) -> Result<Vec<usize>, Result<PlanError, Vec<String>>> {
    let mut positions = Vec::with_capacity(names.len());
    let mut unknown = Vec::new();
    for name in names {
        match find_column(source, name) {
            Some(i) if positions.contains(&i) => {
                return Err(Ok(PlanError::DuplicateColumn { name: name.clone() }))
            }
            Some(i) => positions.push(i),
            None => unknown.push(name.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(positions)
    } else {
        Err(Err(unknown))
    }
}

/// Plans a pull of `source` (the described columns, in table order).
pub fn plan_pull(
    source: &[SourceColumn],
    columns: Option<&[String]>,
    key: Option<&[String]>,
    mode: Mode,
    case: IdentifierCase,
) -> Result<PullPlan, PlanError> {
    let available = || source.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let chosen: Vec<usize> = match columns {
        None => (0..source.len()).collect(),
        Some([]) => return Err(PlanError::NoColumns),
        Some(wanted) => find_columns(source, wanted).map_err(|unknown| {
            unknown.unwrap_or_else(|names| PlanError::UnknownColumns {
                names,
                available: available(),
            })
        })?,
    };
    if chosen.is_empty() {
        return Err(PlanError::NoColumns);
    }

    // The key as positions in `source`.
    let (key_in_source, key_is_primary): (Vec<usize>, bool) = match key {
        Some(names) if !names.is_empty() => {
            let positions = find_columns(source, names).map_err(|unknown| {
                unknown.unwrap_or_else(|names| PlanError::UnknownKeyColumns {
                    names,
                    available: available(),
                })
            })?;
            (positions, false)
        }
        _ => {
            let mut primary: Vec<(u8, usize)> = source
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.primary_key_ordinal.map(|ordinal| (ordinal, i)))
                .collect();
            primary.sort();
            (primary.into_iter().map(|(_, i)| i).collect(), true)
        }
    };
    let missing: Vec<String> = key_in_source
        .iter()
        .filter(|i| !chosen.contains(i))
        .map(|&i| source[i].name.clone())
        .collect();
    if !missing.is_empty() {
        if key_is_primary && mode != Mode::Upsert {
            // The primary key only orders the read and shapes a created table; without its
            // columns the pull goes on unordered and without a key.
        } else {
            return Err(PlanError::KeyNotSelected { names: missing });
        }
    }
    let key_in_source: Vec<usize> = if missing.is_empty() {
        key_in_source
    } else {
        Vec::new()
    };
    if mode == Mode::Upsert && key_in_source.is_empty() {
        return Err(PlanError::UpsertWithoutKey);
    }

    let source_names: Vec<&str> = chosen.iter().map(|&i| source[i].name.as_str()).collect();
    let pg_names = pg_column_names(&source_names, case).map_err(PlanError::Ident)?;
    let mut planned = Vec::with_capacity(chosen.len());
    for (&i, pg_name) in chosen.iter().zip(pg_names) {
        let column = &source[i];
        let mapped = map_type(column).map_err(PlanError::TypeMap)?;
        planned.push(PlannedColumn {
            source: column.clone(),
            pg_name,
            mapped,
            select: SelectColumn {
                name: column.name.clone(),
                cast_to: tsql_cast_for(column),
            },
        });
    }
    let key = key_in_source
        .iter()
        .filter_map(|k| chosen.iter().position(|c| c == k))
        .collect();
    Ok(PullPlan {
        columns: planned,
        key,
        key_is_primary: key_is_primary && !key_in_source.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, type_name: &str, pk: Option<u8>) -> SourceColumn {
        SourceColumn {
            name: name.into(),
            type_name: type_name.into(),
            base_type_name: Some(type_name.into()),
            max_length: if type_name == "nvarchar" { -1 } else { 4 },
            precision: 10,
            scale: 0,
            is_nullable: pk.is_none(),
            is_identity: false,
            is_computed: false,
            collation_name: None,
            primary_key_ordinal: pk,
        }
    }

    fn posts() -> Vec<SourceColumn> {
        vec![
            column("Score", "int", None),
            column("Id", "int", Some(2)),
            column("Site", "int", Some(1)),
            column("Body", "nvarchar", None),
            column("Price", "money", None),
        ]
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn all_columns_with_the_primary_key_in_key_order() {
        let plan = plan_pull(&posts(), None, None, Mode::Append, IdentifierCase::Lower).unwrap();
        assert_eq!(plan.pg_names(), ["score", "id", "site", "body", "price"]);
        assert_eq!(plan.key_source_names(), ["Site", "Id"]);
        assert!(plan.key_is_primary);
        assert_eq!(
            plan.columns[4].select.to_tsql(),
            "CAST([Price] AS decimal(19,4)) AS [Price]"
        );
        assert_eq!(plan.columns[0].select.to_tsql(), "[Score]");
        assert!(plan.columns[1].pg_column().not_null);
    }

    #[test]
    fn columns_match_case_insensitively_and_keep_the_given_order() {
        let plan = plan_pull(
            &posts(),
            Some(&names(&["site", "ID", "Body"])),
            None,
            Mode::Upsert,
            IdentifierCase::Preserve,
        )
        .unwrap();
        assert_eq!(plan.pg_names(), ["Site", "Id", "Body"]);
        assert_eq!(plan.key, [0, 1]);
    }

    #[test]
    fn unknown_columns_are_all_listed_with_the_available_ones() {
        let error = plan_pull(
            &posts(),
            Some(&names(&["Id", "Nope", "Site", "Gone"])),
            None,
            Mode::Append,
            IdentifierCase::Lower,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "source table has no column \"Nope\", \"Gone\""
        );
        assert!(error
            .hint()
            .unwrap()
            .contains("Score, Id, Site, Body, Price"));
    }

    #[test]
    fn key_errors() {
        let error = plan_pull(
            &posts(),
            None,
            Some(&names(&["Nope"])),
            Mode::Upsert,
            IdentifierCase::Lower,
        )
        .unwrap_err();
        assert!(matches!(error, PlanError::UnknownKeyColumns { .. }));
        let error = plan_pull(
            &posts(),
            Some(&names(&["Score"])),
            Some(&names(&["Id"])),
            Mode::Append,
            IdentifierCase::Lower,
        )
        .unwrap_err();
        assert_eq!(
            error,
            PlanError::KeyNotSelected {
                names: names(&["Id"])
            }
        );
        let no_pk: Vec<SourceColumn> = vec![column("a", "int", None)];
        assert_eq!(
            plan_pull(&no_pk, None, None, Mode::Upsert, IdentifierCase::Lower).unwrap_err(),
            PlanError::UpsertWithoutKey
        );
        // An explicit key overrides the primary key.
        let plan = plan_pull(
            &posts(),
            None,
            Some(&names(&["score"])),
            Mode::Upsert,
            IdentifierCase::Lower,
        )
        .unwrap();
        assert_eq!(plan.key_source_names(), ["Score"]);
        assert!(!plan.key_is_primary);
    }

    #[test]
    fn primary_key_left_out_of_columns_drops_the_key_except_for_upsert() {
        let columns = names(&["Score", "Body"]);
        let plan = plan_pull(
            &posts(),
            Some(&columns),
            None,
            Mode::Append,
            IdentifierCase::Lower,
        )
        .unwrap();
        assert!(plan.key.is_empty());
        assert!(!plan.key_is_primary);
        let error = plan_pull(
            &posts(),
            Some(&columns),
            None,
            Mode::Upsert,
            IdentifierCase::Lower,
        )
        .unwrap_err();
        assert!(matches!(error, PlanError::KeyNotSelected { .. }));
    }

    #[test]
    fn duplicates_empty_lists_and_collisions() {
        assert_eq!(
            plan_pull(
                &posts(),
                Some(&[]),
                None,
                Mode::Append,
                IdentifierCase::Lower
            )
            .unwrap_err(),
            PlanError::NoColumns
        );
        assert!(matches!(
            plan_pull(
                &posts(),
                Some(&names(&["Id", "id"])),
                None,
                Mode::Append,
                IdentifierCase::Lower
            )
            .unwrap_err(),
            PlanError::DuplicateColumn { .. }
        ));
        let clash = vec![column("Name", "int", None), column("NAME", "int", None)];
        assert!(matches!(
            plan_pull(&clash, None, None, Mode::Append, IdentifierCase::Lower).unwrap_err(),
            PlanError::Ident(IdentError::Collisions { .. })
        ));
        // Exact spelling wins over a case-insensitive match.
        let plan = plan_pull(
            &clash,
            Some(&names(&["NAME"])),
            None,
            Mode::Append,
            IdentifierCase::Preserve,
        )
        .unwrap();
        assert_eq!(plan.pg_names(), ["NAME"]);
    }

    #[test]
    fn modes_parse() {
        assert_eq!(Mode::parse(" Upsert "), Some(Mode::Upsert));
        assert_eq!(Mode::parse("merge"), None);
        for name in Mode::NAMES.split(", ") {
            assert_eq!(Mode::parse(name).map(Mode::name), Some(name));
        }
    }

    #[test]
    fn unicode_columns_bound_for_text_are_read_as_utf16_bytes_except_keys() {
        let source = vec![
            column("Code", "nvarchar", Some(1)),
            column("Body", "nvarchar", None),
            column("Flag", "nchar", None),
            column("Note", "nvarchar", None),
            column("Plain", "varchar", None),
            column("Any", "sql_variant", None),
        ];
        let plan = plan_pull(&source, None, None, Mode::Append, IdentifierCase::Lower).unwrap();
        use FieldEncoding as E;
        // Note goes into an existing xml column: read as text, as before.
        let targets = [E::Text, E::Text, E::Text, E::Xml, E::Text, E::Text];
        let (select, encodings) = plan.wire(&targets);
        let sql: Vec<String> = select.iter().map(SelectColumn::to_tsql).collect();
        assert_eq!(
            sql,
            [
                "[Code]",
                "CAST([Body] AS varbinary(max)) AS [Body]",
                "CAST([Flag] AS varbinary(max)) AS [Flag]",
                "[Note]",
                "[Plain]",
                "CAST([Any] AS nvarchar(4000)) AS [Any]",
            ]
        );
        assert_eq!(
            encodings,
            [
                E::Text,
                E::TextFromUtf16,
                E::TextFromUtf16,
                E::Xml,
                E::Text,
                E::Text
            ]
        );
    }

    #[test]
    fn encodings_follow_the_target_type() {
        assert_eq!(
            FieldEncoding::for_target(&PgType::BigInt),
            Some(FieldEncoding::Int64)
        );
        assert_eq!(
            FieldEncoding::for_target(&PgType::Varchar(Some(3))),
            Some(FieldEncoding::Text)
        );
        assert_eq!(
            FieldEncoding::for_target(&PgType::Other("jsonb".into())),
            None
        );
    }
}
