//! The foreign-data wrapper's validator and `pgmig.ping`'s error paths, as a user meets them.

use pgmig_e2e::{all_text, expect_error, TestDb};
use postgres::error::SqlState;
use std::time::{Duration, Instant};

#[test]
fn create_extension_makes_schema_wrapper_and_validator() {
    let mut db = TestDb::new("create_extension");
    let row = db
        .client
        .query_one(
            "SELECT fdwvalidator::regproc::text FROM pg_foreign_data_wrapper WHERE fdwname = 'pgmig'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "pgmig.pgmig_fdw_validator");
    let ping = db
        .client
        .query_one(
            "SELECT count(*) FROM pg_proc WHERE oid = 'pgmig.ping(text)'::regprocedure",
            &[],
        )
        .unwrap();
    assert_eq!(ping.get::<_, i64>(0), 1);
}

#[test]
fn validator_refuses_bad_server_options_at_create_and_alter() {
    let mut db = TestDb::new("validator_server");
    let unknown = expect_error(
        &mut db.client,
        "CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h', hots 'x')",
        &SqlState::FDW_INVALID_OPTION_NAME,
    );
    assert_eq!(
        unknown.message(),
        "invalid option \"hots\" for a pgmig server"
    );
    assert!(unknown
        .hint()
        .unwrap()
        .contains("host, port, database, encrypt"));

    expect_error(
        &mut db.client,
        "CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (port '1433')",
        &SqlState::FDW_OPTION_NAME_NOT_FOUND,
    );
    for bad in [
        "port '0'",
        "port 'abc'",
        "connect_timeout '-5'",
        "packet_size '100000'",
        "encrypt 'maybe'",
        "trust_server_certificate 'perhaps'",
    ] {
        let error = expect_error(
            &mut db.client,
            &format!("CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h', {bad})"),
            &SqlState::INVALID_PARAMETER_VALUE,
        );
        let option = bad.split(' ').next().unwrap();
        assert!(
            error.message().contains(&format!("\"{option}\"")),
            "{}",
            error.message()
        );
    }

    db.client
        .batch_execute(
            "CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h', port '1433', encrypt 'strict')",
        )
        .unwrap();
    expect_error(
        &mut db.client,
        "ALTER SERVER s OPTIONS (DROP host)",
        &SqlState::FDW_OPTION_NAME_NOT_FOUND,
    );
    expect_error(
        &mut db.client,
        "ALTER SERVER s OPTIONS (SET port 'x')",
        &SqlState::INVALID_PARAMETER_VALUE,
    );
    db.client
        .batch_execute("ALTER SERVER s OPTIONS (SET port '14330')")
        .unwrap();
}

#[test]
fn validator_refuses_bad_user_mappings_without_showing_the_password() {
    let mut db = TestDb::new("validator_mapping");
    db.client
        .batch_execute("CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h')")
        .unwrap();
    let unknown = expect_error(
        &mut db.client,
        "CREATE USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (user 'u', password 'hunter2', pasword 'hunter2')",
        &SqlState::FDW_INVALID_OPTION_NAME,
    );
    assert_eq!(
        unknown.hint(),
        Some("Valid options in this context are: user, password.")
    );
    assert!(!all_text(&unknown).contains("hunter2"));
    let missing = expect_error(
        &mut db.client,
        "CREATE USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (password 'hunter2')",
        &SqlState::FDW_OPTION_NAME_NOT_FOUND,
    );
    assert!(!all_text(&missing).contains("hunter2"));
}

#[test]
fn ping_names_unknown_server_and_missing_mapping() {
    let mut db = TestDb::new("ping_lookup");
    let unknown = expect_error(
        &mut db.client,
        "SELECT pgmig.ping('nope')",
        &SqlState::UNDEFINED_OBJECT,
    );
    assert_eq!(unknown.message(), "server \"nope\" does not exist");

    db.client
        .batch_execute("CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (host '127.0.0.1')")
        .unwrap();
    let no_mapping = expect_error(
        &mut db.client,
        "SELECT pgmig.ping('s')",
        &SqlState::UNDEFINED_OBJECT,
    );
    assert_eq!(
        no_mapping.message(),
        "no user mapping for role \"postgres\" (or PUBLIC) on server \"s\""
    );
    assert!(no_mapping
        .hint()
        .unwrap()
        .starts_with("CREATE USER MAPPING FOR CURRENT_USER SERVER s"));
}

#[test]
fn ping_needs_usage_on_the_server() {
    let mut db = TestDb::new("ping_usage");
    db.client
        .batch_execute(
            "DROP ROLE IF EXISTS e2e_no_usage; CREATE ROLE e2e_no_usage LOGIN;
             CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (host '127.0.0.1');
             CREATE USER MAPPING FOR PUBLIC SERVER s OPTIONS (user 'u', password 'hunter2');",
        )
        .unwrap();
    let mut alice = db.session(Some("e2e_no_usage"));
    let denied = expect_error(
        &mut alice,
        "SELECT pgmig.ping('s')",
        &SqlState::INSUFFICIENT_PRIVILEGE,
    );
    assert_eq!(denied.message(), "permission denied for foreign server s");
    drop(alice);
}

#[test]
fn ping_of_a_closed_port_is_08001_with_the_address() {
    let mut db = TestDb::new("ping_refused");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    db.client
        .batch_execute(&format!(
            "CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (host '127.0.0.1', port '{port}');
             CREATE USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (user 'u', password 'hunter2');"
        ))
        .unwrap();
    let refused = expect_error(
        &mut db.client,
        "SELECT pgmig.ping('s')",
        &SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
    );
    assert_eq!(
        refused.message(),
        format!("could not connect to SQL Server at 127.0.0.1:{port}")
    );
    assert!(
        refused.detail().unwrap().contains("refused"),
        "{:?}",
        refused.detail()
    );
    assert!(!all_text(&refused).contains("hunter2"));
}

/// A listener that accepts (through the kernel's backlog) and never answers: the connect
/// hangs until something stops it.
fn silent_server(db: &mut TestDb) -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    db.client
        .batch_execute(&format!(
            "CREATE SERVER silent FOREIGN DATA WRAPPER pgmig
                 OPTIONS (host '127.0.0.1', port '{port}', connect_timeout '600');
             CREATE USER MAPPING FOR CURRENT_USER SERVER silent OPTIONS (user 'u');"
        ))
        .unwrap();
    listener
}

/// The bound: a cancelled connect returns within 2 s. The connect timeout is 600 s,
/// so a cancel that does not work fails this by minutes, not milliseconds.
const CANCEL_BOUND: Duration = Duration::from_secs(2);

#[test]
fn statement_timeout_cancels_a_hanging_connect() {
    let mut db = TestDb::new("ping_timeout");
    let _listener = silent_server(&mut db);
    db.client
        .batch_execute("SET statement_timeout = '300ms'")
        .unwrap();
    let started = Instant::now();
    let cancelled = expect_error(
        &mut db.client,
        "SELECT pgmig.ping('silent')",
        &SqlState::QUERY_CANCELED,
    );
    assert!(
        started.elapsed() < CANCEL_BOUND,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        cancelled.message(),
        "canceling statement due to statement timeout"
    );
    // The session is usable afterwards: the network thread is gone, nothing is left locked.
    db.client.batch_execute("RESET statement_timeout").unwrap();
    assert_eq!(
        db.client
            .query_one("SELECT 1", &[])
            .unwrap()
            .get::<_, i32>(0),
        1
    );
}

#[test]
fn pg_cancel_backend_cancels_a_hanging_connect() {
    let mut db = TestDb::new("ping_cancel");
    let _listener = silent_server(&mut db);
    let pid: i32 = db
        .client
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let mut other = db.session(None);
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        other
            .query_one("SELECT pg_cancel_backend($1)", &[&pid])
            .unwrap();
        sent
    });
    let cancelled = expect_error(
        &mut db.client,
        "SELECT pgmig.ping('silent')",
        &SqlState::QUERY_CANCELED,
    );
    let returned = Instant::now();
    let sent = canceller.join().unwrap();
    assert!(
        returned.duration_since(sent) < CANCEL_BOUND,
        "took {:?}",
        returned.duration_since(sent)
    );
    assert_eq!(
        cancelled.message(),
        "canceling statement due to user request"
    );
    assert_eq!(
        db.client
            .query_one("SELECT 1", &[])
            .unwrap()
            .get::<_, i32>(0),
        1
    );
}
