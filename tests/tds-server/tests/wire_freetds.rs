//! FreeTDS (`tsql`, from Debian's freetds-bin) logs in and runs a SELECT.

mod wire_support;

use std::io::Write;
use std::process::{Command, Stdio};

use pgmig_tds_server::types::{SqlType, Value};
use wire_support::*;

fn tsql_available() -> bool {
    let found = Command::new("tsql").arg("-C").output().is_ok();
    if !found {
        eprintln!(
            "\n\n!!!!!!!! SKIPPED: `tsql` (Debian package freetds-bin) is not installed; \
             FreeTDS compatibility is NOT tested !!!!!!!!\n\n"
        );
    }
    found
}

/// Runs `sql` through tsql with `encryption` (freetds.conf setting) and returns stdout.
fn tsql(
    addr: std::net::SocketAddr,
    password: &str,
    encryption: &str,
    sql: &str,
) -> (String, String) {
    let dir = std::env::temp_dir().join(format!(
        "pgmig-tsql-{}-{}-{encryption}",
        std::process::id(),
        addr.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("freetds.conf");
    std::fs::write(
        &conf,
        format!(
            "[pgmig]\n\thost = {}\n\tport = {}\n\ttds version = 7.4\n\tencryption = {encryption}\n",
            addr.ip(),
            addr.port()
        ),
    )
    .unwrap();
    let mut child = Command::new("tsql")
        .args(["-S", "pgmig", "-U", USER, "-P", password])
        .env("FREETDSCONF", &conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{sql}\ngo\nexit\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn handler(
    sql: &str,
    _p: &[pgmig_tds_server::types::RpcParam],
) -> Vec<pgmig_tds_server::types::StatementOutcome> {
    if !sql.contains("FROM dbo.Posts") {
        return vec![pgmig_tds_server::types::StatementOutcome::Done {
            rows_affected: None,
        }];
    }
    vec![rows(
        vec![
            column("Id", SqlType::Int, false),
            column(
                "Title",
                SqlType::NVarChar {
                    len: Some(100),
                    collation: CI_AS,
                },
                true,
            ),
            column(
                "Score",
                SqlType::Decimal {
                    precision: 10,
                    scale: 2,
                    numeric: false,
                },
                true,
            ),
            column(
                "Note",
                SqlType::VarChar {
                    len: Some(20),
                    collation: CI_AS,
                },
                true,
            ),
        ],
        vec![
            vec![
                Value::Int(7),
                Value::Str("héllo wörld".into()),
                Value::Decimal {
                    value: -1234,
                    scale: 2,
                },
                Value::Str("café".into()),
            ],
            vec![Value::Int(8), Value::Null, Value::Null, Value::Null],
        ],
    )]
}

#[test]
fn wire_freetds_tsql_login_and_select() {
    if !tsql_available() {
        return;
    }
    let (server, _) = start(handler);
    // "off" = login-only TLS; "request"/"require" = full TLS.
    for encryption in ["off", "request", "require"] {
        let (out, err) = tsql(
            server.addr(),
            PASSWORD,
            encryption,
            "SELECT Id, Title, Score, Note FROM dbo.Posts",
        );
        assert!(
            out.contains("héllo wörld"),
            "encryption={encryption}\nstdout:\n{out}\nstderr:\n{err}"
        );
        assert!(out.contains("-12.34"), "{out}");
        assert!(out.contains("café"), "{out}");
        assert!(out.contains("(2 rows affected)"), "{out}");
    }
}

#[test]
fn wire_freetds_tsql_bad_password() {
    if !tsql_available() {
        return;
    }
    let (server, _) = start(handler);
    let (out, err) = tsql(server.addr(), "nope", "off", "SELECT 1");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("18456") || all.contains("Login failed"),
        "{all}"
    );
    assert!(!out.contains("rows affected"), "{all}");
}
