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
    /// The NOTICE (and, when asked for, DEBUG) messages `client` received.
    pub notices: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
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
        let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = notices.clone();
        let mut client = config(&name, None)
            .notice_callback(move |notice| {
                if let Ok(mut list) = sink.lock() {
                    list.push(notice.message().to_string());
                }
            })
            .connect(NoTls)
            .expect("connect to the test database");
        client
            .batch_execute("CREATE EXTENSION pgmig")
            .expect("CREATE EXTENSION pgmig");
        TestDb {
            name,
            client,
            notices,
        }
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

/// The SQL Server login the test servers accept.
pub const TDS_USER: &str = "loader";
pub const TDS_PASSWORD: &str = "Sup3r-secret-pw";

/// Starts an in-process TDS test server seeded with `seed` (T-SQL, batches separated by GO)
/// and, optionally, generated tables (`"posts=1000,votes=10"`).
pub fn start_tds(seed: &str, generate: Option<&str>) -> pgmig_tds_server::RunningServer {
    pgmig_tds_server::Server::start(pgmig_tds_server::ServerConfig {
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        user: TDS_USER.into(),
        password: TDS_PASSWORD.into(),
        seed_sql: (!seed.trim().is_empty()).then(|| seed.to_string()),
        generate: generate.map(str::to_string),
        ..pgmig_tds_server::ServerConfig::default()
    })
    .expect("start the TDS test server")
}

/// `CREATE SERVER name` for `tds` (database `database`) and a user mapping for the current user.
pub fn add_server(
    client: &mut Client,
    name: &str,
    tds: &pgmig_tds_server::RunningServer,
    database: &str,
) {
    client
        .batch_execute(&format!(
            "CREATE SERVER {name} FOREIGN DATA WRAPPER pgmig
                 OPTIONS (host '127.0.0.1', port '{}', database '{database}',
                          encrypt 'off', trust_server_certificate 'true');
             CREATE USER MAPPING FOR CURRENT_USER SERVER {name}
                 OPTIONS (user '{TDS_USER}', password '{TDS_PASSWORD}');",
            tds.addr().port()
        ))
        .expect("create the pgmig server and user mapping");
}

/// The first column of every row of `sql`, as text (NULL as "NULL").
pub fn texts(client: &mut Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .unwrap_or_else(|e| match e.as_db_error() {
            Some(db) => panic!("{sql}: {}", db.message()),
            None => panic!("{sql}: {e}"),
        })
        .iter()
        .map(|row| {
            row.get::<_, Option<String>>(0)
                .unwrap_or_else(|| "NULL".into())
        })
        .collect()
}

/// One bigint of `sql`.
pub fn count(client: &mut Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get::<_, i64>(0)
}

/// What an upsert did: rows read, written and unchanged (its summary), and the rows it staged
/// for its merge (its DEBUG1 line): the rows it could not prove unchanged by comparing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upserted {
    pub read: i64,
    pub written: i64,
    pub unchanged: i64,
    pub staged: i64,
}

impl Upserted {
    /// An upsert of `read` rows that wrote `written` (the rest unchanged) and staged `staged`.
    pub fn of(read: i64, written: i64, staged: i64) -> Upserted {
        Upserted {
            read,
            written,
            unchanged: read - written,
            staged,
        }
    }
}

/// Rows in which `rows` (a query) and `reference` (a table) differ, counted both ways with
/// duplicates (`EXCEPT ALL`): 0 when they hold the same rows.
pub fn rows_differing(client: &mut Client, rows: &str, reference: &str) -> i64 {
    count(
        client,
        &format!(
            "SELECT count(*) FROM (
                 ({rows} EXCEPT ALL SELECT * FROM {reference})
                 UNION ALL (SELECT * FROM {reference} EXCEPT ALL {rows})) d"
        ),
    )
}

/// The DEBUG1 line of an upsert that merged: "pgmig: upsert: N of M rows staged ...".
const STAGED_PREFIX: &str = "pgmig: upsert: ";

/// Runs `pgmig.pull_table(args)` (an upsert) on `db.client` and reports it; `staged` is 0 when
/// the upsert loaded a table it created, which it does without merging.
pub fn upsert(db: &mut TestDb, args: &str) -> Upserted {
    upsert_reading(db, args, None).0
}

/// [`upsert`], and how many rows of the table `target` (a regclass literal) the statement
/// read: its sequential and index fetches, from `pg_stat_xact_user_tables` before the
/// transaction ends.
pub fn upsert_reading(db: &mut TestDb, args: &str, target: Option<&str>) -> (Upserted, i64) {
    if let Ok(mut notices) = db.notices.lock() {
        notices.clear();
    }
    let mut tx = db.client.transaction().expect("BEGIN");
    tx.batch_execute("SET LOCAL client_min_messages = debug1")
        .expect("SET LOCAL client_min_messages");
    let reads = |tx: &mut postgres::Transaction<'_>| -> i64 {
        target.map_or(0, |target| {
            tx.query_one(
                "SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0)::bigint \
                 FROM pg_stat_xact_user_tables WHERE relid = $1::text::regclass",
                &[&target],
            )
            .map(|row| row.get(0))
            .unwrap_or_else(|e| panic!("reads of {target}: {e:?}"))
        })
    };
    let reads_before = reads(&mut tx);
    let row = tx
        .query_one(
            &format!(
                "SELECT rows_read, rows_written, rows_unchanged FROM pgmig.pull_table({args})"
            ),
            &[],
        )
        .unwrap_or_else(|e| panic!("pull_table({args}): {e:?}"));
    let target_reads = reads(&mut tx) - reads_before;
    tx.commit().expect("COMMIT");
    let notices = db.notices.lock().map(|n| n.clone()).unwrap_or_default();
    let staged = notices
        .iter()
        .rev()
        .find_map(|n| n.strip_prefix(STAGED_PREFIX))
        .map_or(0, |rest| {
            rest.split(' ')
                .next()
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or_else(|| panic!("unexpected upsert line: {rest}"))
        });
    let upserted = Upserted {
        read: row.get(0),
        written: row.get(1),
        unchanged: row.get(2),
        staged,
    };
    (upserted, target_reads)
}

/// A session on `db` that collects the NOTICE messages it receives.
pub fn session_with_notices(
    db: &TestDb,
) -> (Client, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = notices.clone();
    let mut config = config(&db.name, None);
    config.notice_callback(move |notice| {
        if let Ok(mut list) = sink.lock() {
            list.push(notice.message().to_string());
        }
    });
    let client = config.connect(NoTls).expect("open a session");
    (client, notices)
}

/// The pid of the backend serving `client`.
pub fn backend_pid(client: &mut Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .expect("pg_backend_pid")
        .get(0)
}

/// A field (kB) of `/proc/<pid>/status` (the cluster runs on this machine), e.g. `RssAnon`.
pub fn proc_status_kb(pid: i32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Runs `sql` on `client` while sampling the backend's private resident memory (`RssAnon`:
/// heap and stacks, not the shared buffers it touches) every 10 ms; returns the peak in kB.
pub fn peak_private_rss_kb(client: &mut Client, sql: &str) -> u64 {
    let pid = backend_pid(client);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            peak = peak.max(proc_status_kb(pid, "RssAnon").unwrap_or(0));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        peak
    });
    let result = client.batch_execute(sql);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = sampler.join().expect("memory sampler");
    result.unwrap_or_else(|e| panic!("{sql}: {e}"));
    peak
}
