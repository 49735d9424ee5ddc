//! ATTENTION (query cancel) and every fault switch, as a client sees them.

mod wire_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use pgmig_tds_server::types::{ResultSet, RowSource, SqlType, StatementOutcome, Value};
use pgmig_tds_server::Fault;
use tiberius::{EncryptionLevel, QueryItem};
use wire_support::*;

/// Counts rows until the stream ends or fails; returns (rows, error).
async fn count_rows(client: &mut TClient, sql: &str) -> (u64, Option<tiberius::error::Error>) {
    let mut stream = match client.simple_query(sql).await {
        Ok(s) => s,
        Err(e) => return (0, Some(e)),
    };
    let mut n = 0;
    loop {
        match stream.try_next().await {
            Ok(Some(QueryItem::Row(_))) => n += 1,
            Ok(Some(QueryItem::Metadata(_))) => {}
            Ok(None) => return (n, None),
            Err(e) => return (n, Some(e)),
        }
    }
}

#[test]
fn wire_attention_cancels_a_streaming_select() {
    const TOTAL: u64 = 50_000_000;
    let produced = Arc::new(AtomicU64::new(0));
    let counter = produced.clone();
    let (server, _) = start(move |sql, _| {
        if sql.contains("small") {
            return vec![narrow(3)];
        }
        let counter = counter.clone();
        vec![StatementOutcome::Rows(ResultSet {
            columns: vec![column("id", SqlType::BigInt, false)],
            rows: RowSource::Values(Box::new((0..TOTAL).map(move |i| {
                counter.fetch_add(1, Ordering::Relaxed);
                vec![Value::BigInt(i as i64)]
            }))),
        })]
    });
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        {
            let mut stream = client.simple_query("SELECT id FROM huge").await.unwrap();
            let mut seen = 0;
            while seen < 1000 {
                if let Some(QueryItem::Row(_)) = stream.try_next().await.unwrap() {
                    seen += 1;
                }
            }
        }
        client.cancel_query().await.unwrap();
        let after_cancel = produced.load(Ordering::Relaxed);
        assert!(
            after_cancel < TOTAL / 10,
            "server kept streaming: {after_cancel}"
        );
        // The connection is clean and usable.
        let (n, err) = count_rows(&mut client, "SELECT small").await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(n, 3);
        // Nothing more was produced for the cancelled result.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(produced.load(Ordering::Relaxed), after_cancel);
    });
}

#[test]
fn wire_attention_after_the_response_is_still_acknowledged() {
    let (server, _) = start(|_, _| vec![narrow(2)]);
    let (mut sock, _) = raw_login(server.addr(), 4096);
    send(&mut sock, 0x01, &batch("SELECT 2 rows"));
    let (resp, _) = receive(&mut sock);
    assert_eq!(resp[resp.len() - 13], 0xFD);
    send(&mut sock, 0x06, &[]);
    let (ack, _) = receive(&mut sock);
    // DONE with status DONE_ATTN (0x0020).
    assert_eq!(ack, vec![0xFD, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn wire_fault_drop_after_rows() {
    let (server, _) = start(|_, _| vec![narrow(10_000)]);
    server.faults().set(Fault::DropAfterRows { rows: 100 });
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let (n, err) = count_rows(&mut client, "SELECT * FROM t").await;
        assert_eq!(n, 100);
        assert!(err.is_some(), "the connection must drop");
        // One-shot: a new connection gets the whole result.
        let mut client = connect(server.addr()).await;
        let (n, err) = count_rows(&mut client, "SELECT * FROM t").await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(n, 10_000);
    });
}

#[test]
fn wire_fault_drop_after_bytes() {
    let (server, _) = start(|_, _| vec![narrow(100_000)]);
    server.faults().set(Fault::DropAfterBytes { bytes: 50_000 });
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let (n, err) = count_rows(&mut client, "SELECT * FROM t").await;
        assert!(err.is_some(), "the connection must drop");
        assert!(n > 0 && n < 100_000, "{n} rows before the cut");
    });
}

#[test]
fn wire_fault_error_after_rows() {
    let (server, _) = start(|_, _| vec![narrow(1000)]);
    server.faults().set(Fault::ErrorAfterRows {
        rows: 10,
        number: 50001,
        message: "injected failure".into(),
    });
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let (n, err) = count_rows(&mut client, "SELECT * FROM t").await;
        assert_eq!(n, 10);
        let err = err.expect("an error after 10 rows");
        assert_eq!(err.code(), Some(50001), "{err}");
        assert!(err.to_string().contains("injected failure"));
        // The connection survives a statement error.
        let (n, err) = count_rows(&mut client, "SELECT * FROM t").await;
        assert!(err.is_none());
        assert_eq!(n, 1000);
    });
}

#[test]
fn wire_fault_delay_packets() {
    let (server, _) = start(|_, _| vec![narrow(5)]);
    let faults = server.faults();
    faults.set(Fault::DelayPackets { millis: 150 });
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let started = Instant::now();
        let (n, err) = count_rows(&mut client, "SELECT * FROM t").await;
        assert!(err.is_none());
        assert_eq!(n, 5);
        // A lower bound only: the server slept before the response packet.
        assert!(started.elapsed() >= Duration::from_millis(150));
        faults.clear();
        assert_eq!(faults.packet_delay(), None);
    });
}

#[test]
fn wire_fault_refuse_logins_and_clear() {
    let (server, _) = start(|_, _| vec![narrow(1)]);
    let faults = server.faults();
    faults.set(Fault::RefuseLogins);
    runtime().block_on(async {
        let Err(err) =
            connect_with(config(server.addr(), EncryptionLevel::Required, PASSWORD)).await
        else {
            panic!("logins are refused")
        };
        assert_eq!(err.code(), Some(18456));
        faults.clear();
        let mut client = connect(server.addr()).await;
        assert_eq!(count_rows(&mut client, "SELECT 1").await.0, 1);
    });
}

#[test]
fn wire_fault_applies_to_encoded_rows_too() {
    // Pre-encoded ROW tokens (generated tables) go through the same fault checks.
    let (server, _) = start(|_, _| {
        let rows = (0..500i32).map(|i| {
            let mut token = vec![0xD1];
            token.extend_from_slice(&i.to_le_bytes());
            std::sync::Arc::<[u8]>::from(token)
        });
        vec![StatementOutcome::Rows(ResultSet {
            columns: vec![column("id", SqlType::Int, false)],
            rows: RowSource::Encoded(Box::new(rows)),
        })]
    });
    server.faults().set(Fault::ErrorAfterRows {
        rows: 7,
        number: 1205,
        message: "deadlock".into(),
    });
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let (n, err) = count_rows(&mut client, "SELECT id FROM gen").await;
        assert_eq!(n, 7);
        assert_eq!(err.and_then(|e| e.code()), Some(1205));
        let (n, err) = count_rows(&mut client, "SELECT id FROM gen").await;
        assert!(err.is_none());
        assert_eq!(n, 500);
    });
}
