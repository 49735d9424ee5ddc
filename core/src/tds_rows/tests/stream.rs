//! Tokens split anywhere: a prefix of the stream decodes the whole tokens it holds, writes
//! only complete rows, asks for no more than the next token needs, and the rest then decodes
//! exactly as the whole stream at once would.

use super::encoder::{self, Col, Plp, SQL_LATIN1, V};
use super::*;
use crate::tds_rows::types::type_byte as ty;

/// A stream of every kind of token around rows of mixed types, NBCROW and ROW, with a
/// multi-chunk PLP value.
fn mixed_stream() -> (Vec<u8>, Vec<FieldEncoding>) {
    let columns = [
        (Col::int(), "Id"),
        (Col::nvarchar_max(), "Body"),
        (Col::varchar(20, SQL_LATIN1), "Tag"),
        (
            Col::Decimal {
                numeric: false,
                precision: 12,
                scale: 2,
            },
            "Price",
        ),
        (Col::Scaled(ty::DATETIME2N, 3), "At"),
        (Col::varbinary_max(), "Blob"),
        (Col::ByteLen(ty::BITN, 1), "Flag"),
        (Col::Date, "Day"),
        (Col::nvarchar(8), "Code"),
    ];
    let targets = vec![
        FieldEncoding::Int64,
        FieldEncoding::Text,
        FieldEncoding::Text,
        FieldEncoding::Numeric,
        FieldEncoding::Timestamp,
        FieldEncoding::TextFromUtf16,
        FieldEncoding::Bool,
        FieldEncoding::Date,
        FieldEncoding::Text,
    ];
    let cols: Vec<Col> = columns.iter().map(|(c, _)| c.clone()).collect();
    let row = |id: i64, nulls: bool| {
        let v = |value: V| if nulls { V::Null } else { value };
        vec![
            V::Int(id),
            v(V::Bytes(encoder::utf16(&format!("body {id} 😀 ü")))),
            v(V::Bytes(b"tag".to_vec())),
            v(V::Dec(-12_345)),
            v(V::DateTime2(730_119, 1_234)),
            v(V::Bytes(encoder::utf16("blob 𝄞"))),
            v(V::Bit(true)),
            v(V::Date(730_120)),
            v(V::Bytes(encoder::utf16("x"))),
        ]
    };
    let style = Plp {
        chunks: vec![5, 3],
        unknown_length: false,
    };
    let mut input = encoder::login_ack(0x7300_000B, "Microsoft SQL Server");
    input.extend(encoder::env_change(4, "8000", "4096"));
    input.extend(encoder::message(
        encoder::INFO,
        5701,
        2,
        0,
        "Changed database context",
        "",
        1,
    ));
    input.extend(encoder::colmetadata(&columns));
    input.extend(encoder::row(&cols, &row(1, false), false, &style));
    input.extend(encoder::row(&cols, &row(2, true), true, &style));
    input.extend(encoder::row(&cols, &row(3, false), true, &style));
    input.extend(encoder::done(encoder::DONEINPROC, 0x11, 3));
    input.extend(encoder::with_length(0xA9, &[1, 0])); // ORDER by column 1
    input.extend(encoder::row(&cols, &row(4, true), false, &style));
    input.extend(encoder::message(
        encoder::ERROR,
        8134,
        1,
        16,
        "Divide by zero",
        "p",
        7,
    ));
    input.extend(encoder::done(encoder::DONE, 0x12, 0));
    (input, targets)
}

/// The reference, all at once: the tokens, where each ends (from 0), the COPY length after
/// each (from 0), and the COPY bytes.
fn all_at_once(
    input: &[u8],
    targets: &[FieldEncoding],
) -> (Vec<Token>, Vec<usize>, Vec<usize>, Vec<u8>) {
    let mut decoder = RowDecoder::new(targets.to_vec(), vec![0], NulPolicy::Error);
    let mut encoder = CopyEncoder::new(targets.len()).unwrap();
    let mut tokens = Vec::new();
    let mut boundaries = vec![0];
    let mut copy_lengths = vec![0];
    let mut at = 0;
    while at < input.len() {
        match decoder.next(&input[at..], &mut encoder).unwrap() {
            Step::Token { consumed, token } => {
                at += consumed;
                tokens.push(token);
                boundaries.push(at);
                copy_lengths.push(encoder.len());
            }
            Step::NeedMore { .. } => panic!("whole stream short at {at}"),
        }
    }
    (tokens, boundaries, copy_lengths, encoder.bytes().to_vec())
}

#[test]
fn every_split_point_decodes_like_the_whole_stream() {
    let (input, targets) = mixed_stream();
    let (tokens, boundaries, copy_after, copy) = all_at_once(&input, &targets);
    assert_eq!(tokens.len(), 12);
    assert_eq!(tokens.iter().filter(|t| **t == Token::Row).count(), 4);
    for split in 0..=input.len() {
        let mut decoder = RowDecoder::new(targets.clone(), vec![0], NulPolicy::Error);
        let mut encoder = CopyEncoder::new(targets.len()).unwrap();
        let first = run(&mut decoder, &mut encoder, &input[..split]);
        // Whole tokens only, each where the reference found it.
        let whole = boundaries.iter().filter(|&&b| b > 0 && b <= split).count();
        assert_eq!(first.tokens, tokens[..whole], "split {split}");
        assert_eq!(first.consumed, boundaries[whole], "split {split}");
        // Only complete rows were written.
        assert_eq!(encoder.bytes(), &copy[..copy_after[whole]], "split {split}");
        match first.end {
            End::Finished => assert_eq!(split, boundaries[whole]),
            End::NeedMore(at_least) => {
                // A lower bound: the token at `consumed` is at least that long.
                let token_len = boundaries[whole + 1] - boundaries[whole];
                assert!(
                    at_least <= token_len,
                    "split {split}: {at_least} > {token_len}"
                );
            }
            End::Failed(error) => panic!("split {split}: {error}"),
        }
        let rest = run(&mut decoder, &mut encoder, &input[first.consumed..]);
        assert_eq!(rest.end, End::Finished, "split {split}");
        assert_eq!(
            [first.tokens, rest.tokens].concat(),
            tokens,
            "split {split}"
        );
        assert_eq!(encoder.bytes(), copy, "split {split}");
    }
}

/// The caller's loop: start with one packet, and on NeedMore grow the input to exactly what
/// the decoder asked for (the least a caller can do). Returns the retries before the row.
fn retries_for_one_row(input: &[u8], start: usize, targets: &[FieldEncoding]) -> usize {
    let mut decoder = RowDecoder::new(targets.to_vec(), vec![], NulPolicy::Error);
    let mut encoder = CopyEncoder::new(targets.len()).unwrap();
    let mut at = 0;
    let mut have = start.min(input.len());
    let mut retries = 0;
    loop {
        match decoder.next(&input[at..have], &mut encoder).unwrap() {
            Step::Token { consumed, token } => {
                at += consumed;
                if token == Token::Row {
                    return retries;
                }
            }
            Step::NeedMore { at_least } => {
                // Nothing of a value in several chunks is copied before all of it is there.
                assert_eq!(decoder.scratch.capacity(), 0, "gathered before complete");
                retries += 1;
                let wanted = at + at_least;
                assert!(wanted <= input.len(), "asked past the token's end");
                assert!(wanted > have);
                have = wanted;
            }
        }
    }
}

#[test]
fn a_large_plp_value_costs_few_retries() {
    // 10 MB of UTF-16 in 3000 chunks.
    let chunks = 3000;
    let text = "0123456789abcdef".repeat(10 * 1024 * 1024 / 32);
    let utf16 = encoder::utf16(&text);
    let chunk = utf16.len().div_ceil(chunks);
    for unknown_length in [false, true] {
        let style = Plp {
            chunks: vec![chunk],
            unknown_length,
        };
        let input = stream(
            &[(Col::nvarchar_max(), "c")],
            &[vec![V::Bytes(utf16.clone())]],
            false,
            &style,
        );
        let retries = retries_for_one_row(&input, 4096, &[FieldEncoding::Text]);
        if unknown_length {
            // Each retry sees at least one more chunk.
            assert!(retries <= chunks + 2, "unknown length: {retries} retries");
        } else {
            // The known total is waited for at once; then only the chunk lengths it did not
            // count are missing.
            assert!(retries <= 8, "known length: {retries} retries");
        }
    }
}

#[test]
fn short_input_never_writes_and_says_how_much_it_needs() {
    let columns = [(Col::int(), "Id"), (Col::nvarchar(10), "Name")];
    let mut input = encoder::colmetadata(&columns);
    let meta_len = input.len();
    let cols = [Col::int(), Col::nvarchar(10)];
    input.extend(encoder::row(
        &cols,
        &[V::Int(1), V::Bytes(encoder::utf16("abcd"))],
        false,
        &Plp::one_chunk(),
    ));
    let targets = [FieldEncoding::Int32, FieldEncoding::Text];
    let mut decoder = RowDecoder::new(targets.to_vec(), vec![], NulPolicy::Error);
    let mut encoder = CopyEncoder::new(2).unwrap();
    assert_eq!(
        decoder.next(&[], &mut encoder),
        Ok(Step::NeedMore { at_least: 1 })
    );
    assert_eq!(
        decoder.next(&input[..meta_len], &mut encoder),
        Ok(Step::Token {
            consumed: meta_len,
            token: Token::Columns
        })
    );
    let row = &input[meta_len..];
    // ROW, INTN length 4 + 4 bytes, u16 length 8 + 8 bytes: 1 + 5 + 2 + 8 = 16.
    assert_eq!(row.len(), 16);
    // Before the u16 length the row can only be seen to need up to it; after it, all of it.
    assert_eq!(
        decoder.next(&row[..6], &mut encoder),
        Ok(Step::NeedMore { at_least: 8 })
    );
    assert_eq!(
        decoder.next(&row[..8], &mut encoder),
        Ok(Step::NeedMore { at_least: 16 })
    );
    // The INTN value's bytes need not be there for the row's length to be known.
    assert_eq!(
        decoder.next(&row[..2], &mut encoder),
        Ok(Step::NeedMore { at_least: 8 })
    );
    assert!(encoder.is_empty());
    assert_eq!(
        decoder.next(row, &mut encoder),
        Ok(Step::Token {
            consumed: 16,
            token: Token::Row
        })
    );
    assert_eq!(encoder.rows_in_buffer(), 1);
}
