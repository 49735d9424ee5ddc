//! RPC (sp_executesql) parameters as tiberius sends them, and large values both ways.

mod wire_support;

use pgmig_tds_server::types::{RpcParam, SqlType, StatementOutcome, Value};
use tiberius::numeric::Numeric;
use wire_support::*;

/// Echoes the statement's parameter values back as one row, typed as declared.
fn echo(_sql: &str, params: &[RpcParam]) -> Vec<StatementOutcome> {
    let values: Vec<&RpcParam> = params.iter().skip(2).collect();
    vec![rows(
        values
            .iter()
            .map(|p| column(p.name.trim_start_matches('@'), p.sql_type.clone(), true))
            .collect(),
        vec![values.iter().map(|p| p.value.clone()).collect()],
    )]
}

#[test]
fn wire_rpc_sp_executesql_typed_parameters() {
    let (server, log) = start(echo);
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let none: Option<i32> = None;
        let row = client
            .query(
                "SELECT @P1, @P2, @P3, @P4, @P5, @P6, @P7, @P8",
                &[
                    &42i32,
                    &"héllo",
                    &-7i64,
                    &2.5f64,
                    &true,
                    &vec![1u8, 2, 3],
                    &none,
                    &Numeric::new_with_scale(-12345, 2),
                ],
            )
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<i32, _>(0), Some(42));
        assert_eq!(row.get::<&str, _>(1), Some("héllo"));
        assert_eq!(row.get::<i64, _>(2), Some(-7));
        assert_eq!(row.get::<f64, _>(3), Some(2.5));
        assert_eq!(row.get::<bool, _>(4), Some(true));
        assert_eq!(row.get::<&[u8], _>(5), Some(&[1u8, 2, 3][..]));
        assert_eq!(row.get::<i32, _>(6), None);
        assert_eq!(
            row.get::<Numeric, _>(7),
            Some(Numeric::new_with_scale(-12345, 2))
        );
    });
    let log = log.lock().unwrap();
    let (proc_name, params) = &log[0];
    assert_eq!(proc_name, "sp_executesql");
    assert_eq!(
        params[0].value,
        Value::Str("SELECT @P1, @P2, @P3, @P4, @P5, @P6, @P7, @P8".into())
    );
    assert!(
        matches!(&params[1].value, Value::Str(s) if s.contains("@P1 int")),
        "{:?}",
        params[1]
    );
    assert_eq!(params[2].name, "@P1");
    assert_eq!(params[2].sql_type, SqlType::Int);
    assert_eq!(params[3].value, Value::Str("héllo".into()));
    assert!(matches!(
        params[3].sql_type,
        SqlType::NVarChar {
            len: Some(4000),
            ..
        }
    ));
    assert_eq!(params[4].value, Value::BigInt(-7));
    assert_eq!(params[8].value, Value::Null);
    assert_eq!(
        params[9].value,
        Value::Decimal {
            value: -12345,
            scale: 2
        }
    );
    assert!(params.iter().all(|p| !p.output));
}

#[test]
fn wire_rpc_10mb_nvarchar_max_and_varbinary_max_round_trip() {
    let (server, log) = start(echo);
    // 10 MB each; the text mixes BMP and astral characters so UTF-16 surrogates cross
    // packet and chunk boundaries.
    let text: String = "pgmig ✓ 😀 ".repeat(10 * 1024 * 1024 / 24);
    let bytes: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let row = client
            .query("SELECT @P1, @P2", &[&text.as_str(), &bytes.as_slice()])
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<&str, _>(0).map(|s| s.len()), Some(text.len()));
        assert!(row.get::<&str, _>(0) == Some(text.as_str()));
        assert!(row.get::<&[u8], _>(1) == Some(bytes.as_slice()));
    });
    let log = log.lock().unwrap();
    let params = &log[0].1;
    assert!(matches!(
        params[2].sql_type,
        SqlType::NVarChar { len: None, .. }
    ));
    assert!(matches!(
        params[3].sql_type,
        SqlType::VarBinary { len: None }
    ));
}

#[test]
fn wire_rpc_error_in_procedure_is_reported() {
    let (server, _) = start(|_, _| {
        vec![StatementOutcome::Error(
            pgmig_tds_server::types::SqlError::new(208, 1, 16, "Invalid object name 'dbo.Nope'."),
        )]
    });
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let Err(err) = client
            .query("SELECT * FROM dbo.Nope WHERE a = @P1", &[&1i32])
            .await
        else {
            panic!("must fail")
        };
        assert_eq!(err.code(), Some(208), "{err}");
        // Next request on the same connection works.
        let err2 = client
            .execute("SELECT 1 WHERE 1 = @P1", &[&1i32])
            .await
            .err();
        assert_eq!(err2.and_then(|e| e.code()), Some(208));
    });
}

#[test]
fn wire_rpc_execute_reports_rows_affected() {
    let (server, _) = start(|_, _| {
        vec![
            StatementOutcome::Done {
                rows_affected: Some(3),
            },
            StatementOutcome::Done {
                rows_affected: Some(4),
            },
        ]
    });
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        let result = client
            .execute("UPDATE t SET a = @P1; DELETE FROM u", &[&1i32])
            .await
            .unwrap();
        assert_eq!(result.rows_affected(), &[3, 4]);
        assert_eq!(result.total(), 7);
        // A plain batch (SQL_BATCH) reports counts the same way.
        let batch = client.simple_query("UPDATE t SET a = 1").await.unwrap();
        drop(batch);
    });
}

#[test]
fn wire_rpc_transaction_manager_begin_commit_rollback() {
    let (server, _) = start(|sql, _| {
        if sql.starts_with("BEGIN TRANSACTION")
            || sql.starts_with("COMMIT TRANSACTION")
            || sql.starts_with("ROLLBACK TRANSACTION")
        {
            vec![StatementOutcome::Done {
                rows_affected: None,
            }]
        } else {
            vec![narrow(2)]
        }
    });
    runtime().block_on(async {
        let mut client = connect(server.addr()).await;
        client.begin_transaction().await.unwrap();
        let rows = client
            .query("SELECT * FROM t WHERE id > @P1", &[&0i32])
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        client.commit_transaction().await.unwrap();
        client.begin_transaction().await.unwrap();
        client.rollback_transaction().await.unwrap();
    });
}
