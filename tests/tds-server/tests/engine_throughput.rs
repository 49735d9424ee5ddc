//! How fast the server sends generated tables, measured with a raw TDS client that only
//! counts bytes (so the client is not what is measured). Prints rows/s; asserts only that
//! every row arrived. Measure with
//! `cargo test --release -p pgmig-tds-server --test engine_throughput -- --nocapture`.

mod wire_support;

use std::io::Read;
use std::time::Instant;

use wire_support::*;

/// Reads one response message; returns its bytes and the row count of its last DONE.
fn drain(sock: &mut std::net::TcpStream) -> (u64, u64) {
    let mut buf = vec![0u8; 32767];
    let mut bytes = 0u64;
    let mut tail: Vec<u8> = Vec::with_capacity(64);
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
            assert_eq!(tail[0], 0xFD, "the response ends with DONE");
            let rows = u64::from_le_bytes(tail[5..13].try_into().unwrap());
            return (bytes, rows);
        }
    }
}

#[test]
fn engine_throughput_of_generated_tables() {
    // Full size in release builds (where the numbers mean something), small in debug.
    let scale = if cfg!(debug_assertions) { 10 } else { 1 };
    let (votes, posts) = (2_000_000 / scale, 200_000 / scale);
    let server = start_engine(None, Some(&format!("votes={votes},posts={posts}")));
    let (mut sock, _) = raw_login(server.addr(), 32767);
    send(&mut sock, 0x01, &batch("USE StackOverflow2010"));
    drain(&mut sock);
    let half = votes / 2;
    for (sql, want) in [
        ("SELECT * FROM dbo.Votes".to_string(), votes),
        (
            format!("SELECT [Id], [PostId], [VoteTypeId], [CreationDate] FROM [dbo].[Votes] WHERE [Id] >= 1 AND [Id] < {} ORDER BY [Id]", half + 1),
            half,
        ),
        ("SELECT * FROM dbo.Posts".to_string(), posts),
        // The value path (a condition that is not a key range), for comparison.
        ("SELECT * FROM dbo.Votes WHERE VoteTypeId > 0".to_string(), votes),
    ] {
        let started = Instant::now();
        send(&mut sock, 0x01, &batch(&sql));
        let (bytes, rows) = drain(&mut sock);
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(rows, want as u64, "{sql}");
        println!(
            "{rows} rows, {:.1} MB in {secs:.2} s = {:.0} rows/s, {:.0} MB/s: {sql}",
            bytes as f64 / 1e6,
            rows as f64 / secs,
            bytes as f64 / 1e6 / secs
        );
    }
}
