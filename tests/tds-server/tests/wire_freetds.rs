//! FreeTDS (`tsql`, from Debian's freetds-bin) logs in and runs a SELECT.

mod wire_support;

use pgmig_tds_server::types::{SqlType, Value};
use wire_support::*;

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
            None,
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
    let (out, err) = tsql(server.addr(), "nope", "off", None, "SELECT 1");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("18456") || all.contains("Login failed"),
        "{all}"
    );
    assert!(!out.contains("rows affected"), "{all}");
}
