//! Generated tables through tiberius: a million rows stream without the server's memory
//! growing, and key ranges and counts answer as pgmig asks them. The rate is printed (run
//! with `--release -- --nocapture` to measure; no timing is asserted).
//!
//! The only test of this binary: VmRSS is the whole process's, so nothing else may run
//! beside it.

mod wire_support;

use futures::TryStreamExt;
use std::time::Instant;
use tiberius::QueryItem;
use wire_support::*;

const DB: &str = "StackOverflow2010";

/// Resident set size of this process (server and client run in it), in kB.
fn vm_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Reads a result to the end, keeping nothing; returns the row count.
async fn count_rows(client: &mut TClient, sql: &str) -> tiberius::Result<u64> {
    let mut stream = client.simple_query(sql).await?;
    let mut n = 0;
    while let Some(item) = stream.try_next().await? {
        if let QueryItem::Row(_) = item {
            n += 1;
        }
    }
    Ok(n)
}

#[test]
fn engine_streams_a_million_generated_rows_in_constant_memory() {
    let server = start_engine(None, Some("votes=1000000,posts=20000"));
    runtime().block_on(async {
        let mut client = connect_db(server.addr(), DB).await;
        // Warm up: buffers, the connection's packet writer, allocator pools.
        assert_eq!(count_rows(&mut client, "SELECT TOP (50000) * FROM dbo.Votes").await.unwrap(), 50_000);
        let before = vm_rss_kb();
        let started = Instant::now();
        let n = count_rows(&mut client, "SELECT * FROM dbo.Votes").await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        let after = vm_rss_kb();
        assert_eq!(n, 1_000_000);
        println!(
            "1,000,000 Votes rows through tiberius in {secs:.2} s ({:.0} rows/s); VmRSS {before} kB -> {after} kB",
            n as f64 / secs
        );
        assert!(before > 0, "VmRSS must be readable");
        assert!(
            after < before + 8 * 1024,
            "the server must stream, not collect: VmRSS grew from {before} kB to {after} kB"
        );
        // Wide rows (~1 KB bodies) through the value path too (a non-key filter).
        let before = vm_rss_kb();
        let n = count_rows(&mut client, "SELECT * FROM dbo.Posts WHERE Score > -100").await.unwrap();
        let after = vm_rss_kb();
        assert_eq!(n, 20_000);
        assert!(after < before + 8 * 1024, "VmRSS grew from {before} kB to {after} kB");

        // What pgmig asks of a table before and while pulling it.
        let row = client
            .simple_query("SELECT COUNT_BIG(*), MIN([Id]), MAX([Id]) FROM [dbo].[Votes]")
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<i64, _>(0), Some(1_000_000));
        assert_eq!((row.get::<i32, _>(1), row.get::<i32, _>(2)), (Some(1), Some(1_000_000)));
        let rows = client
            .simple_query("SELECT [Id], [PostId] FROM [dbo].[Votes] WHERE [Id] >= 500000 AND [Id] < 500100 AND (\nVoteTypeId <> 999\n) ORDER BY [Id]")
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        assert_eq!(rows.len(), 100);
        assert_eq!(rows[0].get::<i32, _>(0), Some(500_000));
        assert_eq!(rows[99].get::<i32, _>(0), Some(500_099));
        let rows = client
            .query(
                "SELECT [Id], [Title], [Body] FROM [dbo].[Posts] WHERE [Id] >= @P1 AND [Id] < @P2 ORDER BY [Id]",
                &[&10i32, &20i32],
            )
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        assert_eq!(rows.len(), 10);
        assert!(rows.iter().all(|r| r.get::<&str, _>(2).is_some_and(|b| b.starts_with("<p>"))));
    });
}
