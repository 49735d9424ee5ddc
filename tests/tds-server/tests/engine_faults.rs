//! Faults injected with `EXEC pgmig_test.inject` (the engine's control procedure) reach a
//! client as SQL Server's would: an error in the middle of a result, a dropped connection.

mod wire_support;

use futures::TryStreamExt;
use tiberius::QueryItem;
use wire_support::*;

const DB: &str = "StackOverflow2010";

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
fn engine_faults_injected_by_sql_reach_the_client() {
    let server = start_engine(None, Some("votes=100000"));
    runtime().block_on(async {
        let mut control = connect_db(server.addr(), DB).await;
        // An error in the middle of a result.
        control
            .simple_query("EXEC pgmig_test.inject @fault = 'error_after_rows', @value = 700, @number = 1205, @message = N'Transaction (Process ID 51) was deadlocked'")
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
        let mut stream = control.simple_query("SELECT * FROM dbo.Votes").await.unwrap();
        let mut rows = 0;
        let error = loop {
            match stream.try_next().await {
                Ok(Some(QueryItem::Row(_))) => rows += 1,
                Ok(Some(_)) => {}
                Ok(None) => panic!("the result ended without the injected error"),
                Err(e) => break e,
            }
        };
        drop(stream);
        assert_eq!(rows, 700);
        match error {
            tiberius::error::Error::Server(t) => assert_eq!(t.code(), 1205),
            other => panic!("{other:?}"),
        }

        // The connection dropped after N rows.
        let mut victim = connect_db(server.addr(), DB).await;
        control
            .simple_query("EXEC pgmig_test.inject @fault = 'drop_after_rows', @value = 1000")
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
        let mut stream = victim.simple_query("SELECT * FROM dbo.Votes").await.unwrap();
        let mut rows = 0;
        let failed = loop {
            match stream.try_next().await {
                Ok(Some(QueryItem::Row(_))) => rows += 1,
                Ok(Some(_)) => {}
                Ok(None) => break false,
                Err(_) => break true,
            }
        };
        assert!(failed, "the connection must drop");
        assert_eq!(rows, 1000);

        // Cleared: a fresh connection reads everything.
        control
            .simple_query("EXEC pgmig_test.inject @fault = 'delay_packets', @value = 1; EXEC pgmig_test.inject @fault = 'clear'")
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
        let mut client = connect_db(server.addr(), DB).await;
        assert_eq!(count_rows(&mut client, "SELECT * FROM dbo.Votes").await.unwrap(), 100_000);
        // An unknown fault is an error, not silence.
        let e = match control.simple_query("EXEC pgmig_test.inject @fault = 'nonsense'").await {
            Ok(stream) => stream.into_results().await.unwrap_err(),
            Err(e) => e,
        };
        assert!(matches!(e, tiberius::error::Error::Server(ref t) if t.code() == 50000), "{e:?}");
    });
}
