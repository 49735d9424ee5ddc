//! `pgmig.ping` against the TDS test server, as a user calls it: login, each encryption level,
//! and a refused login that must not show the password.

use pgmig_e2e::{all_text, expect_error, TestDb};
use pgmig_tds_server::{RunningServer, Server, ServerConfig};
use postgres::error::SqlState;

const USER: &str = "loader";
const PASSWORD: &str = "Sup3r-secret-pw";

fn start_server() -> RunningServer {
    Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        user: USER.into(),
        password: PASSWORD.into(),
        ..ServerConfig::default()
    })
    .expect("start the TDS test server")
}

fn create_server(
    db: &mut TestDb,
    name: &str,
    server: &RunningServer,
    options: &str,
    password: &str,
) {
    db.client
        .batch_execute(&format!(
            "CREATE SERVER {name} FOREIGN DATA WRAPPER pgmig
                 OPTIONS (host '127.0.0.1', port '{}' {options});
             CREATE USER MAPPING FOR CURRENT_USER SERVER {name}
                 OPTIONS (user '{USER}', password '{password}');",
            server.addr().port()
        ))
        .unwrap();
}

#[test]
fn ping_returns_the_version_at_every_encryption_level() {
    let tds = start_server();
    let mut db = TestDb::new("ping_levels");
    for (name, options) in [
        (
            "enc_off",
            ", encrypt 'off', trust_server_certificate 'true'",
        ),
        ("enc_on", ", encrypt 'on', trust_server_certificate 'true'"),
        (
            "enc_required",
            ", encrypt 'required', trust_server_certificate 'true'",
        ),
        (
            "enc_strict",
            ", encrypt 'strict', trust_server_certificate 'true'",
        ),
    ] {
        create_server(&mut db, name, &tds, options, PASSWORD);
        let version: String = db
            .client
            .query_one("SELECT pgmig.ping($1)", &[&name])
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
            .get(0);
        assert!(
            version.starts_with("Microsoft SQL Server 2022"),
            "{name}: {version}"
        );
    }
}

#[test]
fn untrusted_self_signed_certificate_is_refused_with_08001() {
    let tds = start_server();
    let mut db = TestDb::new("ping_untrusted");
    // The default: encrypt 'on' and the certificate is checked; the test server's is self-signed.
    create_server(&mut db, "checked", &tds, "", PASSWORD);
    let refused = expect_error(
        &mut db.client,
        "SELECT pgmig.ping('checked')",
        &SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
    );
    assert_eq!(
        refused.message(),
        format!(
            "could not establish TLS with SQL Server at 127.0.0.1:{}",
            tds.addr().port()
        )
    );
}

#[test]
fn wrong_password_is_28p01_with_18456_in_detail_and_no_password() {
    let tds = start_server();
    let mut db = TestDb::new("ping_login");
    let wrong = "Wr0ng-but-secret";
    create_server(
        &mut db,
        "badlogin",
        &tds,
        ", encrypt 'off', trust_server_certificate 'true'",
        wrong,
    );
    let refused = expect_error(
        &mut db.client,
        "SELECT pgmig.ping('badlogin')",
        &SqlState::INVALID_PASSWORD,
    );
    assert_eq!(
        refused.message(),
        format!(
            "SQL Server at 127.0.0.1:{} refused the login of user \"{USER}\"",
            tds.addr().port()
        )
    );
    let detail = refused.detail().unwrap();
    assert!(
        detail.starts_with("SQL Server error 18456, severity 14, state 1"),
        "{detail}"
    );
    assert!(
        detail.ends_with("Login failed for user 'loader'."),
        "{detail}"
    );
    let text = all_text(&refused);
    assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
}
