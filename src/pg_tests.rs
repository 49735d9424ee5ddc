//! `#[pg_test]`s: code that needs a backend (catalog lookups, the validator through real DDL,
//! the network side driven from a backend's main thread).

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::error::PgmigError;
    use crate::{pg, tds};
    use pgrx::prelude::*;
    use pgrx::PgSqlErrorCode;

    fn run(sql: &str) {
        Spi::run(sql).unwrap();
    }

    #[pg_test(error = "invalid option \"hots\" for a pgmig server")]
    fn validator_refuses_unknown_server_option() {
        run("CREATE SERVER typo FOREIGN DATA WRAPPER pgmig OPTIONS (hots 'x')");
    }

    #[pg_test(error = "a pgmig server needs the option \"host\"")]
    fn validator_refuses_server_without_host() {
        run("CREATE SERVER nohost FOREIGN DATA WRAPPER pgmig OPTIONS (port '1433')");
    }

    #[pg_test(error = "invalid value for option \"port\": \"99999\" (an integer from 1 to 65535)")]
    fn validator_refuses_malformed_port() {
        run("CREATE SERVER badport FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h', port '99999')");
    }

    #[pg_test(error = "a pgmig server needs the option \"host\"")]
    fn validator_checks_alter_server_too() {
        run("CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h', port '1433')");
        run("ALTER SERVER s OPTIONS (DROP host)");
    }

    #[pg_test(error = "a pgmig user mapping needs the option \"user\"")]
    fn validator_refuses_user_mapping_without_user() {
        run("CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h')");
        run("CREATE USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (password 'hunter2')");
    }

    #[pg_test(error = "invalid option \"host\" for a pgmig foreign-data wrapper")]
    fn validator_refuses_wrapper_options() {
        run("ALTER FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h')");
    }

    #[pg_test]
    fn valid_server_and_mapping_resolve_to_connect_params() {
        run(
            "CREATE SERVER src FOREIGN DATA WRAPPER pgmig OPTIONS (host '10.0.0.5', port '14330', \
             database 'StackOverflow2010', encrypt 'off', connect_timeout '7')",
        );
        run("CREATE USER MAPPING FOR CURRENT_USER SERVER src OPTIONS (user 'loader', password 'pw')");
        let params = pg::server::connect_params("src").unwrap();
        assert_eq!(params.address(), "10.0.0.5:14330");
        assert_eq!(params.server.database.as_deref(), Some("StackOverflow2010"));
        assert_eq!(params.login.user, "loader");
        assert_eq!(params.login.password, "pw");
        assert_eq!(params.connect_timeout, std::time::Duration::from_secs(7));
        assert_eq!(params.application_name, "pgmig");
    }

    #[pg_test]
    fn public_user_mapping_is_used_when_the_role_has_none() {
        run("CREATE SERVER src FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h')");
        run("CREATE USER MAPPING FOR PUBLIC SERVER src OPTIONS (user 'shared')");
        assert_eq!(
            pg::server::connect_params("src").unwrap().login.user,
            "shared"
        );
    }

    #[pg_test]
    fn unknown_server_and_missing_mapping_are_named() {
        let unknown = pg::server::connect_params("nope").unwrap_err();
        assert_eq!(
            unknown,
            PgmigError::UnknownServer {
                server: "nope".into()
            }
        );
        assert_eq!(unknown.sqlstate(), PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT);

        run("CREATE SERVER lonely FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h')");
        match pg::server::connect_params("lonely").unwrap_err() {
            PgmigError::NoUserMapping { server, .. } => assert_eq!(server, "lonely"),
            other => panic!("expected NoUserMapping, got {other:?}"),
        }
    }

    #[pg_test]
    fn server_of_another_wrapper_is_refused() {
        run("CREATE FOREIGN DATA WRAPPER other_fdw");
        run("CREATE SERVER elsewhere FOREIGN DATA WRAPPER other_fdw");
        assert_eq!(
            pg::server::connect_params("elsewhere").unwrap_err(),
            PgmigError::NotPgmigServer {
                server: "elsewhere".into(),
                wrapper: "other_fdw".into()
            }
        );
    }

    #[pg_test]
    fn role_without_usage_on_the_server_is_refused() {
        run("CREATE SERVER guarded FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h')");
        run("CREATE USER MAPPING FOR PUBLIC SERVER guarded OPTIONS (user 'u')");
        run("CREATE ROLE pgmig_no_usage NOLOGIN");
        run("SET ROLE pgmig_no_usage");
        let refused = pg::server::connect_params("guarded").unwrap_err();
        run("RESET ROLE");
        assert_eq!(
            refused,
            PgmigError::NoServerUsage {
                server: "guarded".into()
            }
        );
        assert_eq!(
            refused.sqlstate(),
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE
        );
    }

    #[pg_test]
    fn ping_of_a_closed_port_is_08001_with_the_address() {
        // Bind and drop: the port is free and nothing listens on it, so the connect is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        run(&format!(
            "CREATE SERVER closed FOREIGN DATA WRAPPER pgmig OPTIONS (host '127.0.0.1', port '{port}')"
        ));
        run("CREATE USER MAPPING FOR CURRENT_USER SERVER closed OPTIONS (user 'u', password 'hunter2')");
        let params = pg::server::connect_params("closed").unwrap();
        let error = tds::ping(params, &mut pg::check_interrupts).unwrap_err();
        assert_eq!(
            error.sqlstate(),
            PgSqlErrorCode::ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION
        );
        assert_eq!(
            error.to_string(),
            format!("could not connect to SQL Server at 127.0.0.1:{port}")
        );
        assert!(!format!("{error:?}").contains("hunter2"));
        // Any connect attempt installs ring as the process's TLS crypto provider (tiberius's
        // fallback, aws-lc-rs, costs ~55 ms of entropy collection in every new backend).
        let provider = rustls::crypto::CryptoProvider::get_default().expect("a crypto provider");
        assert_eq!(format!("{:?}", provider.key_provider), "Ring");
    }

    #[pg_test]
    fn ping_of_a_silent_listener_times_out_with_08001() {
        // Accepted by the kernel's backlog, never answered: the PRELOGIN reply never comes.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        run(&format!(
            "CREATE SERVER silent FOREIGN DATA WRAPPER pgmig \
             OPTIONS (host '127.0.0.1', port '{port}', connect_timeout '1')"
        ));
        run("CREATE USER MAPPING FOR CURRENT_USER SERVER silent OPTIONS (user 'u')");
        let params = pg::server::connect_params("silent").unwrap();
        let error = tds::ping(params, &mut pg::check_interrupts).unwrap_err();
        assert_eq!(
            error,
            PgmigError::ConnectTimeout {
                address: format!("127.0.0.1:{port}"),
                seconds: 1
            }
        );
        drop(listener);
    }

    /// Binary COPY bytes for rows of (int, text), built by hand from PostgreSQL's documented
    /// format so the test does not depend on the encoder it will later check.
    fn binary_rows(rows: &[(i32, Option<&str>)]) -> Vec<u8> {
        let mut out = b"PGCOPY\n\xff\r\n\0".to_vec();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        for (id, text) in rows {
            out.extend_from_slice(&2i16.to_be_bytes());
            out.extend_from_slice(&4i32.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            match text {
                Some(text) => {
                    out.extend_from_slice(&(text.len() as i32).to_be_bytes());
                    out.extend_from_slice(text.as_bytes());
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    /// Hands out its bytes a few at a time, to exercise COPY's refills across field borders.
    struct Chunked {
        data: Vec<u8>,
        position: usize,
        step: usize,
    }

    impl pg::copy::CopySource for Chunked {
        fn read(&mut self, out: &mut [u8]) -> usize {
            let n = self
                .step
                .min(out.len())
                .min(self.data.len() - self.position);
            out[..n].copy_from_slice(&self.data[self.position..self.position + n]);
            self.position += n;
            n
        }
    }

    fn relid(name: &str) -> pg_sys::Oid {
        Spi::get_one::<pg_sys::Oid>(&format!("SELECT '{name}'::regclass::oid"))
            .unwrap()
            .unwrap()
    }

    fn copy(
        table: &str,
        columns: &[String],
        freeze: bool,
        data: Vec<u8>,
    ) -> crate::error::Result<u64> {
        let target = pg::copy::CopyInto {
            relid: relid(table),
            columns,
            freeze,
        };
        pg::copy::copy_from(
            &target,
            &mut Chunked {
                data,
                position: 0,
                step: 3,
            },
        )
    }

    #[pg_test]
    fn in_process_copy_loads_binary_rows_in_small_chunks() {
        run("CREATE TABLE copied (id int PRIMARY KEY, body text, loaded_at timestamptz DEFAULT now())");
        let data = binary_rows(&[(1, Some("één")), (2, None), (3, Some("x"))]);
        let columns = vec!["id".to_string(), "body".to_string()];
        assert_eq!(copy("copied", &columns, false, data).unwrap(), 3);
        let summary = Spi::get_one::<String>(
            "SELECT string_agg(id || ':' || coalesce(body, 'NULL'), ',' ORDER BY id) \
             FROM copied WHERE loaded_at IS NOT NULL",
        );
        assert_eq!(summary.unwrap().as_deref(), Some("1:één,2:NULL,3:x"));
    }

    #[pg_test]
    fn in_process_copy_with_freeze_into_a_table_created_in_this_transaction() {
        run("CREATE TABLE frozen (id int, body text)");
        assert_eq!(
            copy("frozen", &[], true, binary_rows(&[(7, Some("a"))])).unwrap(),
            1
        );
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM frozen").unwrap(),
            Some(1)
        );
    }

    #[pg_test(error = "permission denied for table guarded_copy")]
    fn in_process_copy_checks_insert_privilege_like_copy() {
        run("CREATE TABLE guarded_copy (id int, body text)");
        run("CREATE ROLE pgmig_reader NOLOGIN");
        run("GRANT SELECT ON guarded_copy TO pgmig_reader");
        run("SET ROLE pgmig_reader");
        let _ = copy("guarded_copy", &[], false, binary_rows(&[(1, None)]));
    }

    #[pg_test]
    fn in_process_copy_refuses_row_level_security_like_copy() {
        run("CREATE TABLE secured (id int, body text)");
        run("ALTER TABLE secured ENABLE ROW LEVEL SECURITY");
        // Superusers and owners bypass row-level security: load as an ordinary role.
        run("CREATE ROLE pgmig_rls_writer NOLOGIN");
        run("GRANT INSERT ON secured TO pgmig_rls_writer");
        let relid = relid("secured");
        run("SET ROLE pgmig_rls_writer");
        let target = pg::copy::CopyInto {
            relid,
            columns: &[],
            freeze: false,
        };
        let mut source = Chunked {
            data: binary_rows(&[(1, None)]),
            position: 0,
            step: 3,
        };
        let refused = pg::copy::copy_from(&target, &mut source);
        run("RESET ROLE");
        match refused {
            Err(PgmigError::Unsupported { what, .. }) => {
                assert!(what.contains("row-level security"))
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// A network thread that sends `chunks` of COPY data, then `last` (if any).
    fn streaming_task(
        chunks: Vec<Vec<u8>>,
        last: Option<tds::StreamMessage>,
    ) -> tds::NetworkTask<tds::StreamMessage> {
        tds::NetworkTask::spawn("test stream", 2, move |tx| async move {
            for chunk in chunks {
                tx.send(tds::StreamMessage::Data { chunk, rows: 0 })
                    .unwrap();
            }
            if let Some(last) = last {
                tx.send(last).unwrap();
            }
        })
        .unwrap()
    }

    fn copy_from_task(table: &str, task: &mut tds::NetworkTask<tds::StreamMessage>) -> u64 {
        let target = pg::copy::CopyInto {
            relid: relid(table),
            columns: &[],
            freeze: false,
        };
        let mut source = pg::copy::ChannelSource::new(task);
        let rows = pg::copy::copy_from(&target, &mut source).unwrap();
        source.finish(rows).unwrap();
        rows
    }

    #[pg_test]
    fn channel_source_streams_chunks_from_a_network_thread() {
        run("CREATE TABLE streamed (id int, body text)");
        let data = binary_rows(&(0..1000).map(|i| (i, Some("row"))).collect::<Vec<_>>());
        let chunks = data.chunks(1000).map(<[u8]>::to_vec).collect();
        let mut task = streaming_task(
            chunks,
            Some(tds::StreamMessage::End {
                rows: 1000,
                last: true,
            }),
        );
        assert_eq!(copy_from_task("streamed", &mut task), 1000);
        assert_eq!(
            Spi::get_one::<i64>("SELECT sum(id) FROM streamed").unwrap(),
            Some(499_500)
        );
    }

    #[pg_test(
        error = "pgmig internal error: the network thread ended without finishing the stream"
    )]
    fn channel_source_refuses_a_stream_cut_at_a_row_border() {
        run("CREATE TABLE cut (id int, body text)");
        let data = binary_rows(&[(1, None), (2, None)]);
        // Header and the first tuple only: valid binary COPY up to a row border, no trailer.
        let cut_at = 19 + 2 + 4 + 4 + 4;
        let mut task = streaming_task(vec![data[..cut_at].to_vec()], None);
        copy_from_task("cut", &mut task);
    }

    #[pg_test(error = "connection to SQL Server at h:1433 was lost")]
    fn channel_source_raises_the_network_error() {
        run("CREATE TABLE failed (id int, body text)");
        let data = binary_rows(&[(1, None)]);
        let error = PgmigError::ConnectionLost {
            address: "h:1433".into(),
            reason: "reset".into(),
        };
        let mut task = streaming_task(
            vec![data[..25].to_vec()],
            Some(tds::StreamMessage::Failed(error)),
        );
        copy_from_task("failed", &mut task);
    }

    #[pg_test]
    fn channel_source_checks_the_row_count() {
        run("CREATE TABLE counted (id int, body text)");
        let data = binary_rows(&[(1, None), (2, None)]);
        let mut task = streaming_task(
            vec![data],
            Some(tds::StreamMessage::End {
                rows: 3,
                last: true,
            }),
        );
        let target = pg::copy::CopyInto {
            relid: relid("counted"),
            columns: &[],
            freeze: false,
        };
        let mut source = pg::copy::ChannelSource::new(&mut task);
        let rows = pg::copy::copy_from(&target, &mut source).unwrap();
        assert_eq!(rows, 2);
        assert!(source.finish(rows).is_err());
    }

    #[pg_test]
    fn the_default_server_is_the_argument_the_setting_or_the_only_one() {
        use pg::pull::resolve_server;
        match resolve_server(None) {
            Err(PgmigError::NoDefaultServer { candidates }) => assert!(candidates.is_empty()),
            other => panic!("expected NoDefaultServer, got {other:?}"),
        }
        run("CREATE SERVER only_one FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h')");
        assert_eq!(resolve_server(None).unwrap(), "only_one");
        run("CREATE SERVER b_second FOREIGN DATA WRAPPER pgmig OPTIONS (host 'h')");
        match resolve_server(None) {
            Err(error @ PgmigError::NoDefaultServer { .. }) => {
                assert_eq!(error.sqlstate(), PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT);
                assert!(error.hint().unwrap().contains("b_second, only_one"));
            }
            other => panic!("expected NoDefaultServer, got {other:?}"),
        }
        run("SET pgmig.server = 'b_second'");
        assert_eq!(resolve_server(None).unwrap(), "b_second");
        assert_eq!(resolve_server(Some("given")).unwrap(), "given");
        run("RESET pgmig.server");
    }

    #[pg_test]
    fn target_names_follow_postgres_folding_and_the_identifier_policy() {
        use pg::pull::target_name;
        let name = |given: Option<&str>, source: &str| {
            let t = target_name(given, source).unwrap();
            format!("{}.{}", t.schema, t.table)
        };
        assert_eq!(name(None, "LastEditLog"), "public.lasteditlog");
        assert_eq!(name(Some("Stage.Posts"), "x"), "stage.posts");
        assert_eq!(name(Some("\"Stage\".\"My Posts\""), "x"), "Stage.My Posts");
        assert_eq!(name(Some("posts"), "x"), "public.posts");
        run("SET pgmig.identifier_case = 'snake'");
        run("SET pgmig.target_schema = 'landing'");
        assert_eq!(name(None, "LastEditLog"), "landing.last_edit_log");
        run("SET pgmig.identifier_case = 'preserve'");
        assert_eq!(name(None, "LastEditLog"), "landing.LastEditLog");
        run("RESET pgmig.identifier_case");
        run("RESET pgmig.target_schema");
        assert!(target_name(Some("a.b.c.d"), "x").is_err());
    }

    #[pg_test(error = "invalid value for parameter \"pgmig.identifier_case\": \"camel\"")]
    fn identifier_case_refuses_unknown_policies() {
        run("SET pgmig.identifier_case = 'camel'");
    }
}
