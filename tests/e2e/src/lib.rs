//! Shared harness for the end-to-end tests: they connect to a PostgreSQL cluster that has
//! pgmig installed (DSN in `PGMIG_TEST_DSN`, set by `scripts/test.sh`) and call the SQL
//! functions exactly as a user would. Each test gets a database of its own, so tests run in
//! parallel without seeing each other's servers and tables.

use postgres::error::{DbError, SqlState};
use postgres::{Client, Config, NoTls};
use std::str::FromStr;

/// The cluster's DSN. Missing means the tests were started the wrong way: fail loudly rather
/// than pass without testing anything.
pub fn dsn() -> String {
    std::env::var("PGMIG_TEST_DSN").unwrap_or_else(|_| {
        panic!(
            "PGMIG_TEST_DSN is not set: run the end-to-end tests with `make test` \
             (scripts/test.sh installs pgmig, starts a cluster and sets it)"
        )
    })
}

fn config(database: &str, user: Option<&str>) -> Config {
    let mut config = Config::from_str(&dsn()).expect("PGMIG_TEST_DSN is not a valid DSN");
    config.dbname(database);
    if let Some(user) = user {
        config.user(user);
    }
    config
}

/// A database created for one test, with `CREATE EXTENSION pgmig` done; dropped afterwards.
pub struct TestDb {
    pub name: String,
    pub client: Client,
}

impl TestDb {
    pub fn new(test_name: &str) -> TestDb {
        let name = format!("e2e_{test_name}");
        let mut admin = config("postgres", None)
            .connect(NoTls)
            .expect("connect to the test cluster");
        // Two statements: DROP/CREATE DATABASE cannot share one implicit transaction.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .expect("drop a leftover test database");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        let mut client = config(&name, None)
            .connect(NoTls)
            .expect("connect to the test database");
        client
            .batch_execute("CREATE EXTENSION pgmig")
            .expect("CREATE EXTENSION pgmig");
        TestDb { name, client }
    }

    /// Another session on the same database, optionally as another role.
    pub fn session(&self, user: Option<&str>) -> Client {
        config(&self.name, user)
            .connect(NoTls)
            .expect("open another session")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = config("postgres", None).connect(NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The server-side error of a failed statement (panics if it was a client-side failure).
pub fn db_error(error: &postgres::Error) -> &DbError {
    error
        .as_db_error()
        .unwrap_or_else(|| panic!("expected a server error, got {error}"))
}

/// Runs `sql`, expecting it to fail with `state`; returns the error for further checks.
pub fn expect_error(client: &mut Client, sql: &str, state: &SqlState) -> DbError {
    match client.batch_execute(sql) {
        Ok(()) => panic!("expected {} from {sql}, it succeeded", state.code()),
        Err(error) => {
            let db = db_error(&error).clone();
            assert_eq!(
                db.code(),
                state,
                "{sql}: expected SQLSTATE {}, got {} ({})",
                state.code(),
                db.code().code(),
                db.message()
            );
            db
        }
    }
}

/// Every text of an error a user sees: message, detail, hint.
pub fn all_text(error: &DbError) -> String {
    format!(
        "{} | {} | {}",
        error.message(),
        error.detail().unwrap_or(""),
        error.hint().unwrap_or("")
    )
}
