//! Incremental sync: `pull_table(..., mode => 'upsert', watermark => 'col')` against the TDS test
//! server, as a pg_cron job runs it: the first run reads everything, later runs only what
//! changed on the source, the stored value moves with the pull's commit and never past a
//! transaction still open on the source, and the rights on the watermark follow the target's.

use pgmig_e2e::{
    add_server, all_text, count, expect_error, session_with_notices, start_tds, texts, TestDb,
};
use pgmig_tds_server::engine::Session;
use pgmig_tds_server::types::StatementOutcome;
use pgmig_tds_server::RunningServer;
use postgres::error::SqlState;
use postgres::Client;
use std::sync::Mutex;

const SEED: &str = "
CREATE DATABASE shop
GO
USE shop
GO
CREATE TABLE dbo.Items (
    Id int NOT NULL PRIMARY KEY,
    Name nvarchar(50) NOT NULL,
    Price decimal(10,2) NULL,
    Edited datetime NOT NULL,
    Stamp datetime2(7) NOT NULL,
    Rv rowversion
)
GO
INSERT INTO dbo.Items (Id, Name, Price, Edited, Stamp) VALUES
    (1, N'one', 1.50, '2024-01-01T10:00:00.003', '2024-01-01T10:00:00.1234567'),
    (2, N'two', NULL, '2024-01-01T10:00:00.007', '2024-01-01T10:00:00.1234568'),
    (3, N'three', 3.00, '2024-01-01T09:00:00', '2024-01-01T09:00:00')
GO
";

fn setup(test: &str) -> (TestDb, RunningServer) {
    let tds = start_tds(SEED, None);
    let mut db = TestDb::new(test);
    add_server(&mut db.client, "src", &tds, "shop");
    db.client
        .batch_execute("SET pgmig.progress_interval = 0")
        .unwrap();
    (db, tds)
}

/// A session on the source database, as another SQL Server client.
fn source_session(tds: &RunningServer) -> Session {
    tds.engine()
        .open_session("sa", Some("shop"))
        .expect("open a session on the test server")
}

/// Runs T-SQL on `session`; panics on an error.
fn tsql(session: &mut Session, sql: &str) {
    for outcome in session.execute_batch(sql) {
        if let StatementOutcome::Error(error) = outcome {
            panic!("{sql}: {error:?}");
        }
    }
}

/// rows_read, rows_written of a pull, and the NOTICEs it raised.
fn pull(client: &mut Client, args: &str) -> (i64, i64) {
    let row = client
        .query_one(
            &format!("SELECT rows_read, rows_written FROM pgmig.pull_table({args})"),
            &[],
        )
        .unwrap_or_else(|e| panic!("pull_table({args}): {e:?}"));
    (row.get(0), row.get(1))
}

fn stored_value(client: &mut Client, target: &str) -> String {
    let values = texts(
        client,
        &format!("SELECT value FROM pgmig.watermarks WHERE target = '{target}'"),
    );
    assert_eq!(values.len(), 1, "{values:?}");
    values[0].clone()
}

fn items(client: &mut Client, table: &str) -> Vec<String> {
    texts(
        client,
        &format!(
            "SELECT concat_ws(':', id, name, coalesce(price::text, '-')) FROM {table} ORDER BY id"
        ),
    )
}

/// Panics unless one of the NOTICEs collected so far contains `text`.
fn assert_noticed(notices: &Mutex<Vec<String>>, text: &str) {
    let notices = notices.lock().unwrap();
    assert!(
        notices.iter().any(|n| n.contains(text)),
        "{text:?} not in {notices:?}"
    );
}

const RV: &str = "'dbo.Items', mode => 'upsert', watermark => 'Rv'";

#[test]
fn rowversion_watermark_moves_changed_rows_only_and_advances_with_the_commit() {
    let (db, tds) = setup("wm_rowversion");
    let (mut client, notices) = session_with_notices(&db);
    client
        .batch_execute("SET pgmig.progress_interval = 0")
        .unwrap();
    let mut source = source_session(&tds);

    // First run: everything, and the high mark stored.
    assert_eq!(pull(&mut client, RV), (3, 3));
    assert_noticed(
        &notices,
        "watermark Rv: reading the whole table (first run: no watermark is stored)",
    );
    let first = stored_value(&mut client, "public.items");
    let max_rv = texts(
        &mut client,
        "SELECT '0x' || upper(encode(rv, 'hex')) FROM items ORDER BY rv DESC LIMIT 1",
    );
    assert_eq!(first, max_rv[0]);
    assert_eq!(
        texts(
            &mut client,
            "SELECT concat_ws(' ', server, source, watermark_column, source_type, (role = current_user)::text)
             FROM pgmig.watermarks"
        ),
        ["src dbo.Items Rv rowversion true"]
    );

    // Nothing changed: nothing read.
    notices.lock().unwrap().clear();
    assert_eq!(pull(&mut client, RV), (0, 0));
    assert!(notices
        .lock()
        .unwrap()
        .iter()
        .any(|n| n.contains(&format!("watermark Rv: rows after {first} up to {first}"))));

    // One update and one insert on the source: exactly those two rows.
    tsql(
        &mut source,
        "UPDATE dbo.Items SET Price = 9.99 WHERE Id = 2",
    );
    tsql(
        &mut source,
        "INSERT INTO dbo.Items (Id, Name, Edited, Stamp) VALUES (4, N'four', '2024-02-01', '2024-02-01')",
    );
    assert_eq!(pull(&mut client, RV), (2, 2));
    assert_eq!(
        items(&mut client, "items"),
        ["1:one:1.50", "2:two:9.99", "3:three:3.00", "4:four:-"]
    );
    let second = stored_value(&mut client, "public.items");
    assert!(second > first, "{second} > {first}");

    // A pull whose transaction rolls back leaves the watermark where it was: the next run moves
    // the same row again.
    tsql(
        &mut source,
        "UPDATE dbo.Items SET Name = N'uno' WHERE Id = 1",
    );
    client
        .batch_execute(&format!(
            "BEGIN; SELECT * FROM pgmig.pull_table({RV}); ROLLBACK;"
        ))
        .unwrap();
    assert_eq!(stored_value(&mut client, "public.items"), second);
    assert_eq!(pull(&mut client, RV), (1, 1));
    assert_eq!(items(&mut client, "items")[0], "1:uno:1.50");

    // A transaction open on the source holds the high mark below its rows, even below a row
    // committed after it took its rowversion; once it commits, the next run moves both.
    let mut open = source_session(&tds);
    tsql(
        &mut open,
        "BEGIN TRAN; UPDATE dbo.Items SET Price = 7.00 WHERE Id = 3",
    );
    tsql(
        &mut source,
        "UPDATE dbo.Items SET Price = 4.00 WHERE Id = 4",
    );
    let before = stored_value(&mut client, "public.items");
    assert_eq!(pull(&mut client, RV), (0, 0));
    assert_eq!(stored_value(&mut client, "public.items"), before);
    tsql(&mut open, "COMMIT");
    assert_eq!(pull(&mut client, RV), (2, 2));
    assert_eq!(
        items(&mut client, "items"),
        ["1:uno:1.50", "2:two:9.99", "3:three:7.00", "4:four:4.00"]
    );

    // reset_watermark: the next run reads everything again (and changes nothing).
    assert_eq!(
        count(&mut client, "SELECT pgmig.reset_watermark('items')::bigint"),
        1
    );
    assert_eq!(pull(&mut client, RV), (4, 0));
}

#[test]
fn datetime_watermarks_are_exact_to_the_tick_and_a_recreated_target_reads_everything() {
    let (mut db, tds) = setup("wm_datetime");
    let mut source = source_session(&tds);
    let edited = "'dbo.Items', target => 'by_edit', mode => 'upsert', watermark => 'edited'";
    let stamp = "'dbo.Items', target => 'by_stamp', mode => 'upsert', watermark => 'Stamp', \
                 columns => ARRAY['Id', 'Name', 'Price']";
    assert_eq!(pull(&mut db.client, edited), (3, 3));
    assert_eq!(pull(&mut db.client, stamp), (3, 3));
    // SQL Server's own text: datetime to the millisecond it shows, datetime2(7) to 100 ns.
    assert_eq!(
        stored_value(&mut db.client, "public.by_edit"),
        "2024-01-01T10:00:00.007"
    );
    assert_eq!(
        stored_value(&mut db.client, "public.by_stamp"),
        "2024-01-01T10:00:00.1234568"
    );
    assert_eq!(pull(&mut db.client, edited), (0, 0));
    assert_eq!(pull(&mut db.client, stamp), (0, 0));

    // One tick (1/300 s) and 100 ns past the stored values.
    tsql(
        &mut source,
        "UPDATE dbo.Items SET Name = N'one+', Edited = '2024-01-01T10:00:00.010', \
         Stamp = '2024-01-01T10:00:00.1234569' WHERE Id = 1",
    );
    assert_eq!(pull(&mut db.client, edited), (1, 1));
    assert_eq!(pull(&mut db.client, stamp), (1, 1));
    assert_eq!(items(&mut db.client, "by_stamp")[0], "1:one+:1.50");

    // A value at or below the stored one is not read: a timestamp watermark trusts the writer.
    tsql(
        &mut source,
        "UPDATE dbo.Items SET Name = N'late', Edited = '2024-01-01T10:00:00.010' WHERE Id = 3",
    );
    assert_eq!(pull(&mut db.client, edited), (0, 0));

    // The target dropped and created again (here: by the pull) starts from scratch.
    db.client.batch_execute("DROP TABLE by_edit").unwrap();
    let (mut client, notices) = session_with_notices(&db);
    assert_eq!(pull(&mut client, edited), (3, 3));
    assert_noticed(&notices, "the target table was created again");
    assert_eq!(items(&mut client, "by_edit")[2], "3:late:3.00");

    // Another filter is another sync: read everything once.
    notices.lock().unwrap().clear();
    assert_eq!(
        pull(&mut client, &format!("{edited}, filter => 'Id < 3'")),
        (2, 0)
    );
    assert_noticed(&notices, "the filter differs");
    assert_eq!(
        pull(&mut client, &format!("{edited}, filter => 'Id < 3'")),
        (0, 0)
    );

    // A column added to the pull is read for every row, not only for rows that change later.
    notices.lock().unwrap().clear();
    client
        .batch_execute("ALTER TABLE by_stamp ADD COLUMN edited timestamp(3)")
        .unwrap();
    let stamp_edited = stamp.replace("'Price']", "'Price', 'Edited']");
    assert_eq!(pull(&mut client, &stamp_edited), (3, 3));
    assert_noticed(&notices, "the columns read differ");
    assert_eq!(count(&mut client, "SELECT count(edited) FROM by_stamp"), 3);
    assert_eq!(pull(&mut client, &stamp_edited), (0, 0));

    // A truncated target keeps its oid, but the rows the watermark stands for are gone.
    notices.lock().unwrap().clear();
    client.batch_execute("TRUNCATE by_stamp").unwrap();
    assert_eq!(pull(&mut client, &stamp_edited), (3, 3));
    assert_noticed(&notices, "the target is empty");
    assert_eq!(pull(&mut client, &stamp_edited), (0, 0));
}

#[test]
fn watermark_mistakes_fail_before_any_row_moves() {
    let (mut db, _tds) = setup("wm_errors");
    let cases: [(&str, &SqlState, &str); 4] = [
        (
            "'dbo.Items', watermark => 'Rv'",
            &SqlState::INVALID_PARAMETER_VALUE,
            "watermark \"Rv\" needs mode => 'upsert', not 'append'",
        ),
        (
            "'dbo.Items', mode => 'replace', watermark => 'Rv'",
            &SqlState::INVALID_PARAMETER_VALUE,
            "needs mode => 'upsert'",
        ),
        (
            "'dbo.Items', mode => 'upsert', watermark => 'Changed'",
            &SqlState::UNDEFINED_COLUMN,
            "watermark column \"Changed\" not found in the source table",
        ),
        (
            "'dbo.Items', mode => 'upsert', watermark => 'Name'",
            &SqlState::DATATYPE_MISMATCH,
            "watermark column \"Name\" is nvarchar(50), which cannot be a watermark",
        ),
    ];
    for (args, state, message) in cases {
        let error = expect_error(
            &mut db.client,
            &format!("SELECT * FROM pgmig.pull_table({args})"),
            state,
        );
        assert!(all_text(&error).contains(message), "{}", all_text(&error));
    }
    let error = expect_error(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Items', mode => 'upsert', watermark => 'Price')",
        &SqlState::DATATYPE_MISMATCH,
    );
    assert!(all_text(&error).contains("rowversion is the safe choice"));
    assert_eq!(
        count(
            &mut db.client,
            "SELECT count(*) FROM pg_class WHERE relname = 'items'"
        ),
        0
    );
    assert_eq!(
        count(&mut db.client, "SELECT count(*) FROM pgmig.watermarks"),
        0
    );
}

#[test]
fn watermark_rights_follow_the_target_table() {
    let (mut db, _tds) = setup("wm_rights");
    db.client
        .batch_execute(
            "DROP ROLE IF EXISTS pgmig_e2e_wm_loader; DROP ROLE IF EXISTS pgmig_e2e_wm_reader;
             DROP ROLE IF EXISTS pgmig_e2e_wm_none;
             CREATE ROLE pgmig_e2e_wm_loader LOGIN;
             CREATE ROLE pgmig_e2e_wm_reader LOGIN;
             CREATE ROLE pgmig_e2e_wm_none LOGIN;
             GRANT CREATE ON SCHEMA public TO pgmig_e2e_wm_loader;
             GRANT USAGE ON FOREIGN SERVER src TO pgmig_e2e_wm_loader;
             CREATE USER MAPPING FOR pgmig_e2e_wm_loader SERVER src
                 OPTIONS (user 'loader', password 'Sup3r-secret-pw');",
        )
        .unwrap();
    // An ordinary role runs the incremental sync: row-level security lets it store and read
    // the watermark of the table it writes.
    let mut loader = db.session(Some("pgmig_e2e_wm_loader"));
    loader
        .batch_execute("SET pgmig.progress_interval = 0")
        .unwrap();
    assert_eq!(pull(&mut loader, RV), (3, 3));
    assert_eq!(pull(&mut loader, RV), (0, 0));
    loader
        .batch_execute("GRANT SELECT ON items TO pgmig_e2e_wm_reader")
        .unwrap();
    // The same sync into a schema of the loader's that no other role may use: its watermark
    // row must neither show to them nor break their reads, pulls and resets (a policy that
    // looked the name up with to_regclass raised "permission denied for schema" on it).
    db.client
        .batch_execute(&format!(
            "GRANT CREATE ON DATABASE \"{}\" TO pgmig_e2e_wm_loader",
            db.name
        ))
        .unwrap();
    loader
        .batch_execute("CREATE SCHEMA wm_private; REVOKE ALL ON SCHEMA wm_private FROM PUBLIC")
        .unwrap();
    let private = "'dbo.Items', target => 'wm_private.items', mode => 'upsert', watermark => 'Rv'";
    assert_eq!(pull(&mut loader, private), (3, 3));
    assert_eq!(
        count(&mut loader, "SELECT count(*) FROM pgmig.watermarks"),
        2
    );

    // Reading the target shows its watermark; it does not move or forget it.
    let mut reader = db.session(Some("pgmig_e2e_wm_reader"));
    let value = stored_value(&mut reader, "public.items");
    assert_eq!(
        count(&mut reader, "SELECT pgmig.reset_watermark('items')::bigint"),
        0
    );
    reader
        .batch_execute("UPDATE pgmig.watermarks SET value = '0x0000000000000001'")
        .unwrap();
    assert_eq!(stored_value(&mut reader, "public.items"), value);
    expect_error(
        &mut reader,
        "INSERT INTO pgmig.watermarks (server, source, target, target_relid, watermark_column,
             source_type, value)
         VALUES ('other', 'dbo.Items', 'public.items', 'items'::regclass, 'Rv', 'rowversion', '0x00')",
        &SqlState::INSUFFICIENT_PRIVILEGE,
    );
    assert_eq!(
        count(&mut reader, "SELECT count(*) FROM pgmig.watermarks"),
        1
    );
    // A row whose oid now belongs to another table (a restore, an oid wraparound) follows its
    // name, not the oid: the reader of `items` does not see it.
    db.client
        .batch_execute(
            "INSERT INTO pgmig.watermarks (server, source, target, target_relid,
                 watermark_column, source_type, value)
             VALUES ('src', 'dbo.Old', 'public.gone', 'items'::regclass, 'Rv', 'rowversion',
                 '0x01')",
        )
        .unwrap();
    assert_eq!(
        count(&mut reader, "SELECT count(*) FROM pgmig.watermarks"),
        1
    );
    // Without rights on the target, nothing shows.
    let mut none = db.session(Some("pgmig_e2e_wm_none"));
    assert_eq!(count(&mut none, "SELECT count(*) FROM pgmig.watermarks"), 0);
    // A stale row (its table dropped) shows to nobody and blocks nobody.
    loader.batch_execute("DROP TABLE wm_private.items").unwrap();
    assert_eq!(count(&mut none, "SELECT count(*) FROM pgmig.watermarks"), 0);
    assert_eq!(
        count(&mut loader, "SELECT count(*) FROM pgmig.watermarks"),
        1
    );
    // The loader may forget it.
    assert_eq!(
        count(
            &mut loader,
            "SELECT pgmig.reset_watermark('items', 'src')::bigint"
        ),
        1
    );
    drop((loader, reader, none));
    db.client
        .batch_execute(
            "DROP USER MAPPING FOR pgmig_e2e_wm_loader SERVER src;
             DROP OWNED BY pgmig_e2e_wm_loader; DROP OWNED BY pgmig_e2e_wm_reader;
             DROP ROLE pgmig_e2e_wm_loader; DROP ROLE pgmig_e2e_wm_reader;
             DROP ROLE pgmig_e2e_wm_none;",
        )
        .ok();
}

#[test]
fn a_second_run_of_the_same_sync_waits_for_the_first_and_starts_from_its_commit() {
    let (mut db, tds) = setup("wm_overlap");
    let mut source = source_session(&tds);
    assert_eq!(pull(&mut db.client, RV), (3, 3));
    tsql(
        &mut source,
        "UPDATE dbo.Items SET Name = N'three+' WHERE Id = 3",
    );

    // Run A moves the changed row and keeps its transaction open.
    let mut first = db.session(None);
    first
        .batch_execute("SET pgmig.progress_interval = 0; BEGIN")
        .unwrap();
    assert_eq!(pull(&mut first, RV), (1, 1));

    // Run B of the same sync waits for A's transaction, with a NOTICE naming A's backend.
    let first_pid = count(&mut first, "SELECT pg_backend_pid()::bigint");
    let (mut second, notices) = session_with_notices(&db);
    second
        .batch_execute("SET pgmig.progress_interval = 0")
        .unwrap();
    let second_pid = count(&mut second, "SELECT pg_backend_pid()::bigint");
    let waiting = std::thread::spawn(move || pull(&mut second, RV));
    wait_until_waiting_for_a_sync(&mut db.client, second_pid);
    assert_noticed(
        &notices,
        &format!("waiting for another upsert of dbo.Items into public.items (backend {first_pid})"),
    );
    // Meanwhile an upsert of the same target with another filter is another sync: it runs.
    assert_eq!(
        pull(
            &mut db.client,
            "'dbo.Items', mode => 'upsert', filter => 'Id < 3'"
        ),
        (2, 0)
    );
    // And a run that may not wait that long gives up with PostgreSQL's lock timeout.
    db.client
        .batch_execute("SET lock_timeout = '100ms'")
        .unwrap();
    expect_error(
        &mut db.client,
        &format!("SELECT * FROM pgmig.pull_table({RV})"),
        &SqlState::LOCK_NOT_AVAILABLE,
    );
    db.client.batch_execute("RESET lock_timeout").unwrap();

    // Once A commits, B starts from A's watermark: nothing left to move. (Without the wait, B
    // read the watermark before A's commit and moved the row again.)
    first.batch_execute("COMMIT").unwrap();
    assert_eq!(waiting.join().expect("run B"), (0, 0));
    assert_eq!(items(&mut db.client, "items")[2], "3:three+:3.00");

    // Under REPEATABLE READ a run that had to wait fails as PostgreSQL fails an update of a
    // row changed since the snapshot: its snapshot cannot see what the other run committed.
    first.batch_execute("BEGIN").unwrap();
    assert_eq!(pull(&mut first, RV), (0, 0));
    let mut third = db.session(None);
    let third_pid = count(&mut third, "SELECT pg_backend_pid()::bigint");
    let failing = std::thread::spawn(move || {
        third
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            .unwrap();
        third
            .batch_execute(&format!("SELECT * FROM pgmig.pull_table({RV})"))
            .map_err(|e| e.code().cloned())
    });
    wait_until_waiting_for_a_sync(&mut db.client, third_pid);
    first.batch_execute("COMMIT").unwrap();
    assert_eq!(
        failing.join().expect("run C"),
        Err(Some(SqlState::T_R_SERIALIZATION_FAILURE))
    );
}

/// Polls until backend `pid` waits on an advisory lock (another upsert's sync lock).
fn wait_until_waiting_for_a_sync(client: &mut Client, pid: i64) {
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity
         WHERE pid = {pid} AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count(client, &waiting) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "backend {pid} never waited for the other run"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
