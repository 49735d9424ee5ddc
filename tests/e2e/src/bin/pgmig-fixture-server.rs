//! The TDS test server serving generated StackOverflow-like tables (dbo.Posts with ~1 KB
//! bodies, narrow dbo.Votes) through the fixture backend, for the demo until the SQL engine's
//! `--generate` lands.
//!
//! pgmig-fixture-server --listen 127.0.0.1:PORT --user NAME --password PW --posts N --votes M

use pgmig_e2e::fixture::{posts, votes, FixtureTable};
use pgmig_tds_server::{Server, ServerConfig};
use std::sync::Arc;

fn main() {
    let mut config = ServerConfig::default();
    let (mut posts_rows, mut votes_rows) = (1000, 1000);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--listen" => config.listen = value.parse().unwrap_or_else(|_| usage("bad --listen")),
            "--user" => config.user = value,
            "--password" => config.password = value,
            "--posts" => posts_rows = value.parse().unwrap_or_else(|_| usage("bad --posts")),
            "--votes" => votes_rows = value.parse().unwrap_or_else(|_| usage("bad --votes")),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    let tables: Vec<FixtureTable> = vec![posts(posts_rows), votes(votes_rows)];
    let server =
        Server::start_with_backend(config, Arc::new(pgmig_e2e::fixture::Fixture::new(tables)))
            .unwrap_or_else(|e| usage(&format!("cannot start: {e:?}")));
    println!("listening on {}", server.addr());
    loop {
        std::thread::park();
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: pgmig-fixture-server --listen ADDR --user NAME --password PW \
         [--posts N] [--votes M]"
    );
    std::process::exit(2)
}
