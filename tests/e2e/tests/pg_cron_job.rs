//! The nightly job: a pull scheduled with Debian's pg_cron runs in a background worker (no
//! client connection, no psql), loads the table and leaves its record in `pgmig.runs`.
//! pg_cron 1.4 schedules by the minute, so this test waits for the next minute boundary.

use pgmig_e2e::{add_server, count, dsn, start_tds, texts, TestDb};
use postgres::{Client, NoTls};
use std::time::{Duration, Instant};

const SEED: &str = "
CREATE DATABASE shop
GO
USE shop
GO
CREATE TABLE dbo.Posts (Id int NOT NULL PRIMARY KEY, Title nvarchar(100) NOT NULL)
GO
INSERT INTO dbo.Posts VALUES (1, N'first'), (2, N'zweite Straße'), (3, N'日本語')
GO
";

/// pg_cron's own database (`cron.database_name` in scripts/cluster.sh).
fn cron_database() -> Client {
    let mut config: postgres::Config = dsn().parse().expect("PGMIG_TEST_DSN");
    config.dbname("postgres");
    config
        .connect(NoTls)
        .expect("connect to pg_cron's database")
}

#[test]
fn a_pg_cron_job_pulls_in_a_background_worker() {
    let tds = start_tds(SEED, None);
    let mut db = TestDb::new("cron");
    add_server(&mut db.client, "src", &tds, "shop");
    let mut cron = cron_database();
    cron.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        .expect("CREATE EXTENSION pg_cron");
    let command = "SELECT * FROM pgmig.pull_table('dbo.Posts', target => 'public.cron_posts', \
                   mode => 'truncate')";
    let job: i64 = cron
        .query_one(
            "SELECT cron.schedule_in_database('pgmig-e2e-nightly', '* * * * *', $1, $2)",
            &[&command, &db.name],
        )
        .expect("schedule the job")
        .get(0);
    // The first run starts at the next minute boundary.
    let deadline = Instant::now() + Duration::from_secs(130);
    let mut outcome: Option<(String, String)> = None;
    while Instant::now() < deadline {
        let rows = cron
            .query(
                "SELECT status, coalesce(return_message, '') FROM cron.job_run_details
                 WHERE jobid = $1 AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1",
                &[&job],
            )
            .expect("read cron.job_run_details");
        if let Some(row) = rows.first() {
            outcome = Some((row.get(0), row.get(1)));
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    cron.execute("SELECT cron.unschedule($1::bigint)", &[&job])
        .expect("unschedule the job");
    let (status, message) = outcome.expect("the job did not finish within two minutes");
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("succeeded", "SELECT 1")
    );
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT string_agg(title, '|' ORDER BY id) FROM public.cron_posts"
        ),
        ["first|zweite Straße|日本語"]
    );
    assert_eq!(
        count(
            &mut db.client,
            "SELECT count(*) FROM pgmig.runs
             WHERE status = 'ok' AND role = 'postgres' AND server = 'src' AND rows_read = 3"
        ),
        1
    );
}
