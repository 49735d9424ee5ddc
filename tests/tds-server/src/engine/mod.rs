//! The SQL engine, minimal for now: it knows the `master` and `tempdb` databases, answers
//! `SELECT @@VERSION` (what `pgmig.ping` sends) and refuses every other statement with SQL
//! Server's own error 102, so nothing is accepted that SQL Server would reject.
//!
//! The full engine (tables, catalog views, SELECT with WHERE/ORDER BY/TOP, DDL, INSERT,
//! seeding, generated tables) is work in progress under `tests/tds-server/wip/engine/`, outside
//! the build; it replaces this module when it compiles and passes its tests.

use crate::faults::Faults;
use crate::types::{
    Collation, Column, ResultSet, RowSource, RpcParam, SqlError, SqlType, StatementOutcome, Value,
};
use std::sync::Arc;

/// What `@@VERSION` returns: SQL Server 2022's first line, and what this server really is.
pub const VERSION: &str = "Microsoft SQL Server 2022 (RTM) - 16.0.1000.6 (X64)\n\
    \tpgmig TDS test server (a stand-in for SQL Server in pgmig's tests)";

/// Databases every SQL Server has and this engine knows.
const DATABASES: &[&str] = &["master", "tempdb"];

#[derive(Clone)]
pub struct Engine {
    _faults: Arc<Faults>,
}

impl Engine {
    pub fn new(faults: Arc<Faults>) -> Engine {
        Engine { _faults: faults }
    }

    /// Seeding needs the full engine: an empty script is fine, anything else is refused.
    pub fn run_script(&self, sql: &str) -> Result<(), SqlError> {
        if sql
            .lines()
            .all(|line| line.trim().is_empty() || line.trim().eq_ignore_ascii_case("GO"))
        {
            Ok(())
        } else {
            Err(syntax_error(sql))
        }
    }

    pub fn generate(&self, spec: &str) -> Result<(), String> {
        Err(format!(
            "generated tables ({spec}) need the full SQL engine, which is not in this build yet"
        ))
    }

    pub fn open_session(&self, _login: &str, database: Option<&str>) -> Result<Session, SqlError> {
        let requested = database.filter(|d| !d.is_empty()).unwrap_or("master");
        match DATABASES
            .iter()
            .find(|known| known.eq_ignore_ascii_case(requested))
        {
            Some(known) => Ok(Session {
                database: known.to_string(),
            }),
            None => Err(SqlError::new(
                4060,
                1,
                11,
                format!(
                    "Cannot open database \"{requested}\" requested by the login. The login failed."
                ),
            )),
        }
    }
}

pub struct Session {
    database: String,
}

impl Session {
    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn execute_batch(&mut self, sql: &str) -> Vec<StatementOutcome> {
        let statement: Vec<String> = sql
            .split_whitespace()
            .map(|word| word.trim_end_matches(';').to_ascii_uppercase())
            .collect();
        if statement == ["SELECT", "@@VERSION"] {
            vec![StatementOutcome::Rows(version_result())]
        } else {
            vec![StatementOutcome::Error(syntax_error(sql))]
        }
    }

    pub fn execute_rpc(&mut self, proc_name: &str, params: Vec<RpcParam>) -> Vec<StatementOutcome> {
        let is_executesql = proc_name.eq_ignore_ascii_case("sp_executesql") || proc_name == "10";
        match params.first() {
            Some(RpcParam {
                value: Value::Str(statement),
                ..
            }) if is_executesql => self.execute_batch(statement),
            _ => vec![StatementOutcome::Error(SqlError::new(
                2812,
                62,
                16,
                format!("Could not find stored procedure '{proc_name}'."),
            ))],
        }
    }
}

fn version_result() -> ResultSet {
    ResultSet {
        columns: vec![Column {
            name: String::new(),
            sql_type: SqlType::NVarChar {
                len: Some(300),
                collation: Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
            },
            nullable: true,
            identity: false,
            computed: false,
        }],
        rows: RowSource::Values(Box::new(std::iter::once(vec![Value::Str(Arc::from(
            VERSION,
        ))]))),
    }
}

/// SQL Server's answer to text it cannot parse: error 102 near the first word.
fn syntax_error(sql: &str) -> SqlError {
    let near = sql.split_whitespace().next().unwrap_or("");
    SqlError::new(102, 1, 15, format!("Incorrect syntax near '{near}'."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Engine::new(Arc::new(Faults::new()))
            .open_session("sa", None)
            .unwrap()
    }

    #[test]
    fn version_is_one_row() {
        let mut outcomes = session().execute_batch("select  @@version;");
        match outcomes.pop() {
            Some(StatementOutcome::Rows(ResultSet {
                rows: RowSource::Values(mut rows),
                ..
            })) => {
                assert_eq!(rows.next(), Some(vec![Value::Str(Arc::from(VERSION))]));
                assert_eq!(rows.next(), None);
            }
            _ => panic!("expected one result set"),
        }
    }

    #[test]
    fn anything_else_is_error_102() {
        match session().execute_batch("SELECT * FROM dbo.Posts").pop() {
            Some(StatementOutcome::Error(error)) => {
                assert_eq!((error.number, error.class), (102, 15));
                assert_eq!(error.message, "Incorrect syntax near 'SELECT'.");
            }
            _ => panic!("expected error 102"),
        }
    }

    #[test]
    fn unknown_database_is_4060() {
        let engine = Engine::new(Arc::new(Faults::new()));
        let Err(error) = engine.open_session("sa", Some("StackOverflow2010")) else {
            panic!("expected 4060");
        };
        assert_eq!(error.number, 4060);
        assert!(engine.open_session("sa", Some("TEMPDB")).is_ok());
    }
}
