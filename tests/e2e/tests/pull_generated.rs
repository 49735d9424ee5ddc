//! Pulls of large, generated tables: progress NOTICEs, `pg_stat_progress_copy`, and memory
//! that does not grow with the table.

use pgmig_e2e::{
    add_server, count, peak_private_rss_kb, rows_differing, session_with_notices, start_tds,
    upsert, upsert_reading, TestDb, Upserted,
};
use pgmig_tds_server::faults::Fault;
use pgmig_tds_server::RunningServer;
use std::time::{Duration, Instant};

const GENERATED_DATABASE: &str = "StackOverflow2010";

/// A test database `name` with server `so` on a TDS test server of generated tables
/// (`posts=N,votes=M`), progress NOTICEs off, after `setup` (SQL) ran.
fn generated(name: &str, tables: &str, setup: &str) -> (TestDb, RunningServer) {
    let tds = start_tds("", Some(tables));
    let mut db = TestDb::new(name);
    add_server(&mut db.client, "so", &tds, GENERATED_DATABASE);
    db.client
        .batch_execute(&format!("SET pgmig.progress_interval = 0; {setup}"))
        .unwrap_or_else(|e| panic!("{setup}: {e:?}"));
    (db, tds)
}

#[test]
fn progress_notices_and_pg_stat_progress_copy() {
    let tds = start_tds("", Some("posts=4000,votes=10"));
    let mut db = TestDb::new("gen_progress");
    add_server(&mut db.client, "so", &tds, GENERATED_DATABASE);
    // Slow packets so that the pull takes a few seconds (~140 packets of 32 KB, 30 ms each).
    tds.faults().set(Fault::DelayPackets { millis: 30 });
    let (mut puller, notices) = session_with_notices(&db);
    let pulling = std::thread::spawn(move || {
        puller
            .batch_execute(
                "SET pgmig.progress_interval = 1;
                 SET pgmig.batch_rows = 100000;
                 SELECT * FROM pgmig.pull_table('dbo.Posts');",
            )
            .map_err(|e| e.to_string())
    });
    // The in-process COPY is visible to other sessions while it runs (its table, created in
    // the pull's transaction, is not yet: match by database).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = false;
    while Instant::now() < deadline && !pulling.is_finished() {
        let copies = count(
            &mut db.client,
            "SELECT count(*) FROM pg_stat_progress_copy
             WHERE command = 'COPY FROM' AND datname = current_database()",
        );
        if copies > 0 {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen, "pg_stat_progress_copy never showed the pull");
    pulling.join().unwrap().unwrap();
    tds.faults().clear();
    assert_eq!(count(&mut db.client, "SELECT count(*) FROM posts"), 4000);
    let notices = notices.lock().unwrap().clone();
    assert!(
        notices
            .iter()
            .any(|n| n.starts_with("pgmig: dbo.Posts -> public.posts: ") && n.contains("rows/s")),
        "{notices:?}"
    );
}

#[test]
fn memory_stays_flat_from_100k_to_1m_rows() {
    let tds = start_tds("", Some("posts=10,votes=1000000"));
    let mut db = TestDb::new("gen_memory");
    add_server(&mut db.client, "so", &tds, GENERATED_DATABASE);
    let mut peaks = Vec::new();
    for (target, filter) in [
        ("votes_small", "Id <= 100000"),
        ("votes_large", "Id <= 1000000"),
    ] {
        let mut session = db.session(None);
        session
            .batch_execute("SET pgmig.progress_interval = 0")
            .unwrap();
        peaks.push(peak_private_rss_kb(
            &mut session,
            &format!(
                "SELECT * FROM pgmig.pull_table('dbo.Votes', target => '{target}', filter => '{filter}')"
            ),
        ));
    }
    assert_eq!(
        count(&mut db.client, "SELECT count(*) FROM votes_small"),
        100_000
    );
    assert_eq!(
        count(&mut db.client, "SELECT count(*) FROM votes_large"),
        1_000_000
    );
    let (small, large) = (peaks[0], peaks[1]);
    // Ten times the rows; the backend's private memory may differ by noise (allocator,
    // caches), not by the table: within 10% plus 4 MB. (Its total RSS also counts the shared
    // buffers it touches, which grow with the table whatever loads it.)
    assert!(
        large <= small + small / 10 + 4 * 1024,
        "backend private RSS grew from {small} kB (100K rows) to {large} kB (1M rows)"
    );
    eprintln!("backend private RSS peak: {small} kB at 100K rows, {large} kB at 1M rows");
}

#[test]
fn upsert_compares_window_by_window_across_batches() {
    // 20K posts of ~1.2 KB: batches of 7000 rows (~8 MB) hold two or three comparison windows
    // of 4 MB each, and windows end at batch ends.
    let (mut db, _tds) = generated(
        "gen_upsert_compare",
        "posts=20000,votes=10",
        "SELECT * FROM pgmig.pull_table('dbo.Posts', target => 'posts_ref')",
    );
    let args = "'dbo.Posts', mode => 'upsert', batch_rows => 7000";
    let upserted = |written, staged| Upserted::of(20_000, written, staged);
    assert_eq!(upsert(&mut db, args), upserted(20_000, 0));
    assert_eq!(upsert(&mut db, args), upserted(0, 0));
    // Changes at both ends of the table, at batch borders, inside windows; deleted rows; a
    // target-only row before the first window's range.
    db.client
        .batch_execute(
            "UPDATE posts SET score = score + 1 WHERE id IN (1, 6999, 7000, 7001, 13500, 20000);
             UPDATE posts SET body = body || 'x' WHERE id = 9876;
             UPDATE posts SET title = CASE WHEN title IS NULL THEN 'set' END WHERE id = 14001;
             DELETE FROM posts WHERE id IN (17, 19999);
             CREATE TEMP TABLE extra AS SELECT * FROM posts_ref WHERE id = 5;
             UPDATE extra SET id = -5;
             INSERT INTO posts SELECT * FROM extra;",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(upsert(&mut db, args), upserted(10, 10));
    assert_eq!(
        rows_differing(
            &mut db.client,
            "SELECT * FROM posts WHERE id > 0",
            "posts_ref"
        ),
        0
    );
    assert_eq!(
        count(&mut db.client, "SELECT count(*) FROM posts WHERE id < 0"),
        1
    );
}

#[test]
fn upsert_compares_sparse_windows_without_reading_the_range_between_their_keys() {
    // A window whose rows lie far apart (an incremental sync's changed rows, a filter) used to
    // read, and hold in memory, every target row between its first and last key.
    let (mut db, _tds) = generated(
        "gen_upsert_sparse",
        "posts=10,votes=20000",
        "SELECT * FROM pgmig.pull_table('dbo.Votes'); ANALYZE votes;",
    );
    let sparse = "'dbo.Votes', mode => 'upsert', filter => 'Id IN (1, 4000, 9000, 15000, 20000)'";
    let (upserted, reads) = upsert_reading(&mut db, sparse, Some("votes"));
    assert_eq!(
        upserted,
        Upserted {
            read: 5,
            written: 0,
            unchanged: 5,
            staged: 0
        }
    );
    assert!(reads <= 5, "the sparse window read {reads} target rows");
    db.client
        .batch_execute(
            "UPDATE votes SET bountyamount = coalesce(bountyamount, 0) + 1 WHERE id = 9000",
        )
        .unwrap();
    let (upserted, _) = upsert_reading(&mut db, sparse, Some("votes"));
    assert_eq!(
        upserted,
        Upserted {
            read: 5,
            written: 1,
            unchanged: 4,
            staged: 1
        }
    );

    // A dense window still reads its range.
    let dense = "'dbo.Votes', mode => 'upsert', filter => 'Id BETWEEN 100 AND 299 AND Id <> 200'";
    let (upserted, reads) = upsert_reading(&mut db, dense, Some("votes"));
    assert_eq!(
        upserted,
        Upserted {
            read: 199,
            written: 0,
            unchanged: 199,
            staged: 0
        }
    );
    // The range's 200 rows (one the source lacks), and a fetch or two of the plan's.
    assert!(
        (200..=210).contains(&reads),
        "the dense window read {reads} target rows"
    );

    // A composite key's range has no span to judge it by: the read stops at its limit (4 rows
    // per window row, plus 16), and the rows past the last key it read are staged and merged
    // (where ON CONFLICT finds them unchanged), not compared.
    db.client
        .batch_execute("CREATE UNIQUE INDEX votes_id_postid ON votes (id, postid)")
        .unwrap();
    let composite = format!("{sparse}, key => ARRAY['Id', 'PostId']");
    let (upserted, reads) = upsert_reading(&mut db, &composite, Some("votes"));
    assert_eq!(
        upserted,
        Upserted {
            read: 5,
            written: 0,
            unchanged: 5,
            staged: 4
        }
    );
    // 36 for the window, and the merge's lookups of the 4 staged rows.
    assert!(
        reads <= 36 + 8,
        "the composite window read {reads} target rows"
    );
}
