//! Login: encryption levels, bad passwords, unknown databases, packet size negotiation,
//! and the login response's tokens in SQL Server's order.

mod wire_support;

use pgmig_tds_server::types::{SqlType, StatementOutcome, Value};
use tiberius::EncryptionLevel;
use wire_support::*;

fn select_one(_sql: &str, _p: &[pgmig_tds_server::types::RpcParam]) -> Vec<StatementOutcome> {
    vec![rows(
        vec![column("one", SqlType::Int, false)],
        vec![vec![Value::Int(1)]],
    )]
}

async fn query_one(client: &mut TClient) -> i32 {
    let row = client
        .simple_query("SELECT 1 AS one")
        .await
        .unwrap()
        .into_row()
        .await
        .unwrap()
        .unwrap();
    row.get::<i32, _>(0).unwrap()
}

#[test]
fn wire_login_each_encryption_level_then_query() {
    let (server, _) = start(select_one);
    let rt = runtime();
    for level in [
        EncryptionLevel::Off,
        EncryptionLevel::On,
        EncryptionLevel::Required,
        EncryptionLevel::NotSupported,
    ] {
        rt.block_on(async {
            let mut client = connect_with(config(server.addr(), level, PASSWORD))
                .await
                .unwrap_or_else(|e| panic!("login with {level:?}: {e}"));
            assert_eq!(query_one(&mut client).await, 1, "{level:?}");
            // A second request on the same connection (plain after login-only TLS).
            assert_eq!(query_one(&mut client).await, 1, "{level:?}");
        });
    }
}

#[test]
fn wire_login_tds8_strict() {
    let (server, _) = start(select_one);
    runtime().block_on(async {
        let mut client = connect_with(config(server.addr(), EncryptionLevel::Strict, PASSWORD))
            .await
            .unwrap();
        assert_eq!(query_one(&mut client).await, 1);
    });
}

#[test]
fn wire_login_bad_password_is_18456() {
    let (server, _) = start(select_one);
    runtime().block_on(async {
        for level in [EncryptionLevel::Off, EncryptionLevel::Required] {
            let Err(err) = connect_with(config(server.addr(), level, "wrong")).await else {
                panic!("login must fail")
            };
            assert_eq!(err.code(), Some(18456), "{err}");
            assert!(
                err.to_string()
                    .contains(&format!("Login failed for user '{USER}'.")),
                "{err}"
            );
        }
    });
}

#[test]
fn wire_login_unknown_database_is_4060_then_18456() {
    let (server, _) = start(select_one);
    runtime().block_on(async {
        let mut cfg = config(server.addr(), EncryptionLevel::Off, PASSWORD);
        cfg.database("NoSuchDb");
        let Err(err) = connect_with(cfg).await else {
            panic!("login must fail")
        };
        // tiberius reports the first error of the login response.
        assert_eq!(err.code(), Some(4060), "{err}");
        assert!(err.to_string().contains("NoSuchDb"), "{err}");
    });
}

#[test]
fn wire_login_forced_encryption_refuses_clients_without_tls() {
    let (server, _) = start_with(select_one, true);
    runtime().block_on(async {
        let refused = connect_with(config(
            server.addr(),
            EncryptionLevel::NotSupported,
            PASSWORD,
        ))
        .await;
        assert!(refused.is_err(), "a client without TLS must not get in");
        // Off is upgraded to full encryption, and works.
        let mut client = connect_with(config(server.addr(), EncryptionLevel::Off, PASSWORD))
            .await
            .unwrap();
        assert_eq!(query_one(&mut client).await, 1);
    });
}

/// Walks a token stream of login response tokens, returning (token, ENVCHANGE type or
/// message number) pairs.
fn login_tokens(resp: &[u8]) -> Vec<(u8, u32)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < resp.len() {
        let t = resp[i];
        match t {
            0xE3 | 0xAA | 0xAB | 0xAD => {
                let len = u16::from_le_bytes([resp[i + 1], resp[i + 2]]) as usize;
                let detail = match t {
                    0xE3 => resp[i + 3] as u32,
                    0xAA | 0xAB => {
                        u32::from_le_bytes([resp[i + 3], resp[i + 4], resp[i + 5], resp[i + 6]])
                    }
                    _ => u32::from_be_bytes([resp[i + 4], resp[i + 5], resp[i + 6], resp[i + 7]]),
                };
                out.push((t, detail));
                i += 3 + len;
            }
            0xFD => {
                out.push((t, u16::from_le_bytes([resp[i + 1], resp[i + 2]]) as u32));
                i += 13;
            }
            other => panic!("unexpected token {other:#04x} at {i}"),
        }
    }
    out
}

#[test]
fn wire_login_response_order_and_packet_size_32767() {
    let (server, _) = start(|_, _| vec![narrow(20_000)]);
    let (mut sock, resp) = raw_login(server.addr(), 32767);
    assert_eq!(
        login_tokens(&resp),
        vec![
            (0xE3, 1),           // ENVCHANGE database
            (0xAB, 5701),        // Changed database context
            (0xE3, 7),           // ENVCHANGE collation
            (0xE3, 2),           // ENVCHANGE language
            (0xAB, 5703),        // Changed language setting
            (0xAD, 0x7400_0004), // LOGINACK TDS 7.4
            (0xE3, 4),           // ENVCHANGE packet size
            (0xFD, 0),           // DONE
        ]
    );
    // The packet size ENVCHANGE says 32767 ...
    let needle = utf16("32767");
    assert!(resp.windows(needle.len()).any(|w| w == needle.as_slice()));
    // ... and a large result then comes in 32767-byte packets.
    send(&mut sock, 0x01, &batch("SELECT * FROM t"));
    let (payload, lengths) = receive(&mut sock);
    assert!(lengths.len() > 2);
    assert!(
        lengths[..lengths.len() - 1].iter().all(|l| *l == 32767),
        "{lengths:?}"
    );
    // The response ends with DONE(COUNT) for 20000 rows.
    let done = &payload[payload.len() - 13..];
    assert_eq!(done[0], 0xFD);
    assert_eq!(u16::from_le_bytes([done[1], done[2]]), 0x0010);
    assert_eq!(u64::from_le_bytes(done[5..13].try_into().unwrap()), 20_000);
}

#[test]
fn wire_login_tiberius_negotiates_32767() {
    let (server, _) = start(|_, _| vec![narrow(50_000)]);
    runtime().block_on(async {
        let mut cfg = config(server.addr(), EncryptionLevel::Off, PASSWORD);
        cfg.packet_size(32767);
        let mut client = connect_with(cfg).await.unwrap();
        let rows = client
            .simple_query("SELECT id, name FROM t")
            .await
            .unwrap()
            .into_first_result()
            .await
            .unwrap();
        assert_eq!(rows.len(), 50_000);
        assert_eq!(rows[49_999].get::<&str, _>(1), Some("name-49999"));
    });
}
