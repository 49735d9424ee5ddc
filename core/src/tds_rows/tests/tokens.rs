//! The tokens around the rows, including byte layouts taken from the project's TDS test
//! server (tests/tds-server/src/wire/tokens.rs).

use super::encoder;
use super::*;
use crate::tds_rows::{
    check_result_set_end, check_tds_version, done_status, DoneKind, EnvChange, MessageKind,
    ServerMessage, MIN_TDS_VERSION,
};

fn one(input: &[u8]) -> Token {
    let (run, copy) = decode(&[], &[], NulPolicy::Error, input);
    assert_eq!(run.end, End::Finished, "{input:02X?}");
    assert!(copy.is_empty());
    assert_eq!(run.tokens.len(), 1);
    run.tokens.into_iter().next().unwrap()
}

#[test]
fn done_tokens_carry_status_and_count() {
    // The test server's `done_layout`: DONE, COUNT | MORE, SELECT, 3 rows.
    let bytes = [0xFD, 0x11, 0x00, 0xC1, 0x00, 3, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        one(&bytes),
        Token::Done {
            status: done_status::COUNT | done_status::MORE,
            row_count: Some(3),
            kind: DoneKind::Done
        }
    );
    // Without the COUNT bit the count is not reported.
    assert_eq!(
        one(&encoder::done(encoder::DONEPROC, done_status::ERROR, 9)),
        Token::Done {
            status: done_status::ERROR,
            row_count: None,
            kind: DoneKind::Proc
        }
    );
    assert_eq!(
        one(&encoder::done(
            encoder::DONEINPROC,
            done_status::COUNT | done_status::ATTENTION | done_status::SERVER_ERROR,
            u64::MAX
        )),
        Token::Done {
            status: 0x0130,
            row_count: Some(u64::MAX),
            kind: DoneKind::InProc
        }
    );
    // 13 bytes; 12 are not enough.
    let (run, _) = decode(&[], &[], NulPolicy::Error, &bytes[..12]);
    assert_eq!(run.end, End::NeedMore(13));
}

#[test]
fn error_and_info_messages_are_read_whole() {
    // The test server's `error_layout`: number 18456, state 1, class 14, "x", no procedure.
    let mut bytes = vec![0xAA];
    let body_len = 4 + 1 + 1 + 2 + 2 + 1 + 2 * 9 + 1 + 4;
    bytes.extend_from_slice(&(body_len as u16).to_le_bytes());
    bytes.extend_from_slice(&18456u32.to_le_bytes());
    bytes.extend_from_slice(&[1, 14, 1, 0, b'x', 0, 9]);
    for c in "PGMIG-TDS".bytes() {
        bytes.extend_from_slice(&[c, 0]);
    }
    bytes.push(0);
    bytes.extend_from_slice(&1u32.to_le_bytes());
    let Token::Message(message) = one(&bytes) else {
        panic!("not a message")
    };
    assert_eq!(
        message,
        ServerMessage {
            kind: MessageKind::Error,
            number: 18456,
            state: 1,
            class: 14,
            message: "x".into(),
            server: "PGMIG-TDS".into(),
            procedure: String::new(),
            line: 1,
        }
    );
    assert!(message.is_error());
    let info = encoder::message(
        encoder::INFO,
        5701,
        2,
        0,
        "Changed database context to 'ü'.",
        "proc",
        7,
    );
    let Token::Message(message) = one(&info) else {
        panic!("not a message")
    };
    assert!(!message.is_error());
    assert_eq!(message.message, "Changed database context to 'ü'.");
    assert_eq!(message.procedure, "proc");
    assert_eq!((message.number, message.state, message.line), (5701, 2, 7));
    // Split anywhere, the whole token is waited for.
    for split in 1..info.len() {
        let (run, _) = decode(&[], &[], NulPolicy::Error, &info[..split]);
        let expected = if split < 3 { 3 } else { info.len() };
        assert_eq!(run.end, End::NeedMore(expected), "split {split}");
    }
}

#[test]
fn env_changes_report_packet_size_and_database() {
    assert_eq!(
        one(&encoder::env_change(4, "8000", "4096")),
        Token::EnvChange(EnvChange::PacketSize(8000))
    );
    assert_eq!(
        one(&encoder::env_change(1, "Sales", "master")),
        Token::EnvChange(EnvChange::Database("Sales".into()))
    );
    // SQL collation (type 7): binary values, only stepped over.
    let collation = encoder::with_length(encoder::ENVCHANGE, &[7, 5, 9, 4, 0xD0, 0, 52, 0]);
    assert_eq!(one(&collation), Token::EnvChange(EnvChange::Other(7)));
}

#[test]
fn login_ack_reads_the_version_big_endian() {
    // The test server's `login_ack_reports_tds_7_4_and_sql_server_2022` prefix.
    let bytes = encoder::login_ack(0x7400_0004, "Microsoft SQL Server");
    assert_eq!(
        &bytes[..8],
        &[0xAD, 0x32, 0x00, 0x01, 0x74, 0x00, 0x00, 0x04]
    );
    assert_eq!(
        one(&bytes),
        Token::LoginAck {
            tds_version: 0x7400_0004,
            program: "Microsoft SQL Server".into()
        }
    );
}

#[test]
fn feature_ext_ack_return_status_and_skipped_tokens() {
    // UTF8_SUPPORT (0x0A) acknowledged with one byte, then the terminator.
    let ack = [0xAE, 0x0A, 1, 0, 0, 0, 1, 0xFF];
    assert_eq!(one(&ack), Token::FeatureExtAck);
    for split in 1..ack.len() {
        let (run, _) = decode(&[], &[], NulPolicy::Error, &ack[..split]);
        assert!(matches!(run.end, End::NeedMore(n) if n > split && n <= ack.len()));
    }
    assert_eq!(one(&[0xAE, 0xFF]), Token::FeatureExtAck);
    // A length no feature has (here 4 GB - 1) fails at once instead of waiting for the data.
    let (run, _) = decode(
        &[],
        &[],
        NulPolicy::Error,
        &[0xAE, 0x0A, 0xFF, 0xFF, 0xFF, 0xFF],
    );
    assert!(
        matches!(&run.end, End::Failed(DecodeError::Protocol(m)) if m.contains("4294967295")),
        "{:?}",
        run.end
    );
    assert_eq!(
        one(&[0x79, 0xFE, 0xFF, 0xFF, 0xFF]),
        Token::ReturnStatus(-2)
    );
    // ORDER, COLINFO, TABNAME, SSPI: u16 length, stepped over.
    for kind in [0xA9, 0xA5, 0xA4, 0xED] {
        let token = encoder::with_length(kind, &[1, 2, 3, 4]);
        assert_eq!(one(&token), Token::Skipped, "0x{kind:02X}");
        let (run, _) = decode(&[], &[], NulPolicy::Error, &token[..5]);
        assert_eq!(run.end, End::NeedMore(7));
    }
}

#[test]
fn column_names_come_from_colmetadata() {
    let input = encoder::colmetadata(&[
        (encoder::Col::int(), "Id"),
        (encoder::Col::nvarchar(5), "Näme"),
    ]);
    let mut decoder = RowDecoder::new(
        vec![FieldEncoding::Int32, FieldEncoding::Text],
        vec![],
        NulPolicy::Error,
    );
    assert_eq!(decoder.column_names().count(), 0);
    let mut encoder = CopyEncoder::new(2).unwrap();
    assert_eq!(run(&mut decoder, &mut encoder, &input).end, End::Finished);
    assert_eq!(decoder.column_names().collect::<Vec<_>>(), ["Id", "Näme"]);
}

/// A pull's verdict on the response to its batch (`[SET ...;] SELECT`), as `src/tds/pull.rs`
/// reaches it: an ERROR token fails it with SQL Server's message; the first DONE after
/// COLMETADATA ends the result set and is checked with its row count against the rows decoded,
/// later ones (statements after the SELECT) without it. `Ok`: the rows decoded.
fn pull_verdict(stream: &[u8]) -> Result<u64, String> {
    let (run, _) = decode(&[FieldEncoding::Int32], &[], NulPolicy::Error, stream);
    assert_eq!(run.end, End::Finished);
    let mut rows = 0;
    let mut columns = false;
    let mut result_set_ended = false;
    for token in run.tokens {
        match token {
            Token::Columns => columns = true,
            Token::Row => rows += 1,
            Token::Message(message) if message.is_error() => {
                return Err(format!("SQL Server: {}", message.message))
            }
            Token::Done {
                status, row_count, ..
            } if columns => {
                let row_count = if result_set_ended { None } else { row_count };
                check_result_set_end(status, row_count, rows)?;
                result_set_ended = true;
            }
            _ => {}
        }
    }
    Ok(rows)
}

/// A response: `before` (tokens of statements before the SELECT), COLMETADATA of one int
/// column, `rows` rows, then `end`.
fn response(before: &[u8], rows: i64, end: &[u8]) -> Vec<u8> {
    let column = encoder::Col::int();
    let mut out = before.to_vec();
    out.extend(encoder::colmetadata(&[(column.clone(), "Id")]));
    for id in 1..=rows {
        out.extend(encoder::row(
            std::slice::from_ref(&column),
            &[encoder::V::Int(id)],
            false,
            &encoder::Plp::one_chunk(),
        ));
    }
    out.extend_from_slice(end);
    out
}

#[test]
fn the_result_sets_done_must_count_the_rows_decoded() {
    use done_status::*;
    let done = |status, count| encoder::done(encoder::DONE, status, count);
    // SQL Server ends a SELECT of a batch with DONE_COUNT and its row count.
    assert_eq!(pull_verdict(&response(&[], 2, &done(COUNT, 2))), Ok(2));
    assert_eq!(pull_verdict(&response(&[], 0, &done(COUNT, 0))), Ok(0));
    let error = pull_verdict(&response(&[], 2, &done(COUNT, 3))).unwrap_err();
    assert_eq!(
        error,
        "SQL Server reports 3 rows in the result set, pgmig decoded 2"
    );
    // Without DONE_COUNT the count field means nothing, and nothing is required of it.
    assert_eq!(pull_verdict(&response(&[], 2, &done(0, 7))), Ok(2));
}

#[test]
fn error_and_attention_bits_fail_the_result_set() {
    use done_status::*;
    let done = |status, count| encoder::done(encoder::DONE, status, count);
    let error = pull_verdict(&response(&[], 1, &done(ERROR | COUNT, 1))).unwrap_err();
    assert_eq!(
        error,
        "SQL Server ended the result set with an error (DONE status 0x0012) and sent no error \
         message"
    );
    let error = pull_verdict(&response(&[], 1, &done(SERVER_ERROR, 0))).unwrap_err();
    assert!(
        error.contains("severe error (DONE status 0x0100)"),
        "{error}"
    );
    let error = pull_verdict(&response(&[], 1, &done(ATTENTION, 0))).unwrap_err();
    assert!(error.contains("attention acknowledgement"), "{error}");
    // After an ERROR token the server's own message is what the pull reports.
    let mut end = encoder::message(encoder::ERROR, 8115, 2, 16, "Arithmetic overflow", "", 1);
    end.extend(done(ERROR | COUNT, 1));
    assert_eq!(
        pull_verdict(&response(&[], 1, &end)),
        Err("SQL Server: Arithmetic overflow".into())
    );
}

#[test]
fn only_the_selects_own_done_carries_the_result_sets_count() {
    use done_status::*;
    let done = |status, count| encoder::done(encoder::DONE, status, count);
    // Statements before the SELECT (SET ..., an assignment that counts a row) end with
    // DONE_MORE before the result set starts.
    let mut before = done(MORE, 0);
    before.extend(done(MORE | COUNT, 1));
    assert_eq!(pull_verdict(&response(&before, 3, &done(COUNT, 3))), Ok(3));
    // A statement after the SELECT: the SELECT's DONE has DONE_MORE and its count; the last
    // DONE counts its own rows.
    let mut end = done(MORE | COUNT, 3);
    end.extend(done(COUNT, 10));
    assert_eq!(pull_verdict(&response(&[], 3, &end)), Ok(3));
    let mut end = done(MORE | COUNT, 3);
    end.extend(done(ERROR, 0));
    assert!(pull_verdict(&response(&[], 3, &end)).is_err());
    let mut end = done(MORE | COUNT, 4);
    end.extend(done(0, 0));
    assert!(pull_verdict(&response(&[], 3, &end)).is_err());
}

#[test]
fn servers_older_than_tds_7_2_are_refused() {
    for supported in [
        MIN_TDS_VERSION,
        0x730A_0003,
        0x730B_0003,
        0x7400_0004,
        0x0800_0000,
    ] {
        assert_eq!(check_tds_version(supported), Ok(()), "{supported:08X}");
    }
    let Token::LoginAck { tds_version, .. } =
        one(&encoder::login_ack(0x7100_0001, "Microsoft SQL Server"))
    else {
        panic!("not a LOGINACK")
    };
    assert_eq!(
        check_tds_version(tds_version),
        Err(
            "SQL Server reports TDS version 7.1 revision 1 (0x71000001); pgmig needs 7.2 \
             (SQL Server 2005) or later"
                .into()
        )
    );
    assert!(check_tds_version(0x0701_0000)
        .unwrap_err()
        .contains("version 7.1 (0x07010000)"));
    assert!(check_tds_version(0x0700_0000)
        .unwrap_err()
        .contains("version 7.0 (0x07000000)"));
    assert!(check_tds_version(0x7209_0001)
        .unwrap_err()
        .contains("version 0x72090001;"));
}
