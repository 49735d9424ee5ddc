//! Streaming a large result: every row arrives, the server never buffers the result, and
//! the rate is printed (measure with `cargo test --release -p pgmig-tds-server --test
//! wire_streaming -- --nocapture`; no timing is asserted).

mod wire_support;

use std::io::Read;
use std::time::Instant;

use pgmig_tds_server::types::{ResultSet, RowSource, SqlType, StatementOutcome, Value};
use wire_support::*;

const ROWS: u64 = 1_000_000;

/// Reads one response message, keeping only the last 13 bytes (the final DONE).
fn drain(sock: &mut std::net::TcpStream) -> (u64, [u8; 13]) {
    let mut buf = vec![0u8; 32767];
    let mut bytes = 0u64;
    let mut tail = Vec::with_capacity(64);
    loop {
        let mut h = [0u8; 8];
        sock.read_exact(&mut h).unwrap();
        let len = u16::from_be_bytes([h[2], h[3]]) as usize - 8;
        sock.read_exact(&mut buf[..len]).unwrap();
        bytes += len as u64 + 8;
        tail.extend_from_slice(&buf[..len]);
        if tail.len() > 13 {
            tail.drain(..tail.len() - 13);
        }
        if h[1] & 1 == 1 {
            let mut done = [0u8; 13];
            done.copy_from_slice(&tail);
            return (bytes, done);
        }
    }
}

fn narrow_lazy() -> StatementOutcome {
    StatementOutcome::Rows(ResultSet {
        columns: vec![
            column("Id", SqlType::Int, false),
            column("PostId", SqlType::Int, false),
            column("VoteTypeId", SqlType::TinyInt, false),
            column("CreationDate", SqlType::DateTime, true),
        ],
        rows: RowSource::Values(Box::new((0..ROWS).map(|i| {
            vec![
                Value::Int(i as i32),
                Value::Int((i / 3) as i32),
                Value::TinyInt((i % 16) as u8),
                Value::DateTime {
                    days: 40_000 + (i / 100_000) as i32,
                    ticks_300: 0,
                },
            ]
        }))),
    })
}

#[test]
fn wire_streaming_one_million_narrow_rows() {
    let (server, _) = start(|_, _| vec![narrow_lazy()]);
    for packet_size in [4096u32, 32767] {
        let (mut sock, _) = raw_login(server.addr(), packet_size);
        let started = Instant::now();
        send(&mut sock, 0x01, &batch("SELECT * FROM dbo.Votes"));
        let (bytes, done) = drain(&mut sock);
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(done[0], 0xFD);
        assert_eq!(u64::from_le_bytes(done[5..13].try_into().unwrap()), ROWS);
        println!(
            "packet size {packet_size}: {ROWS} narrow rows, {:.1} MB in {secs:.3} s = {:.0} rows/s",
            bytes as f64 / 1e6,
            ROWS as f64 / secs
        );
    }
}

#[test]
fn wire_streaming_pre_encoded_rows() {
    let (server, _) = start(|_, _| {
        let token: std::sync::Arc<[u8]> = std::sync::Arc::from(&[0xD1, 1, 0, 0, 0, 2, 0, 0, 0][..]);
        vec![StatementOutcome::Rows(ResultSet {
            columns: vec![
                column("a", SqlType::Int, false),
                column("b", SqlType::Int, false),
            ],
            rows: RowSource::Encoded(Box::new(std::iter::repeat_n(token, ROWS as usize))),
        })]
    });
    let (mut sock, _) = raw_login(server.addr(), 32767);
    let started = Instant::now();
    send(&mut sock, 0x01, &batch("SELECT * FROM gen"));
    let (_, done) = drain(&mut sock);
    assert_eq!(u64::from_le_bytes(done[5..13].try_into().unwrap()), ROWS);
    println!(
        "pre-encoded: {ROWS} rows = {:.0} rows/s",
        ROWS as f64 / started.elapsed().as_secs_f64()
    );
}
