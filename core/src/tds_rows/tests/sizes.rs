//! PLP values too large for PostgreSQL are refused from their length, before the rest of the
//! row is waited for (and buffered).

use super::encoder::{self, Col, Plp, SQL_LATIN1, V};
use super::*;
use crate::copy_binary::{EncodeError, MAX_FIELD_BYTES};

/// COLMETADATA, then a ROW cut after its PLP column's first chunk: `id`, then the PLP value's
/// stated `total` and a chunk of `chunk_len` bytes holding `data` (all of it or a start).
fn cut_row(columns: &[(Col, &str)], id: i64, total: u64, chunk_len: u32, data: &[u8]) -> Vec<u8> {
    let mut input = encoder::colmetadata(columns);
    input.push(encoder::ROW);
    input.extend(encoder::value(&Col::int(), &V::Int(id), &Plp::one_chunk()));
    input.extend_from_slice(&total.to_le_bytes());
    input.extend_from_slice(&chunk_len.to_le_bytes());
    input.extend_from_slice(data);
    input
}

fn too_large(column: usize, row_key: Option<&str>, bytes: u64) -> End {
    End::Failed(DecodeError::Value {
        column,
        row_key: row_key.map(str::to_string),
        error: ValueError::Encode(EncodeError::TooLarge {
            bytes: bytes as usize,
        }),
    })
}

const PLP_UNKNOWN: u64 = u64::MAX - 1;
/// The limit as u64.
const MAX: u64 = MAX_FIELD_BYTES as u64;

#[test]
fn a_plp_total_of_a_terabyte_is_refused_not_waited_for() {
    let columns = [(Col::int(), "Id"), (Col::varbinary_max(), "Blob")];
    let targets = [FieldEncoding::Int32, FieldEncoding::Bytea];
    let input = cut_row(&columns, 42, 1 << 40, 4, &[1, 2, 3, 4]);
    let (run, copy) = decode(&targets, &[0], NulPolicy::Error, &input);
    assert_eq!(run.end, too_large(1, Some("Id = 42"), 1 << 40));
    assert!(copy.is_empty());
    // The message is the one a value over 1 GB gets once it has arrived.
    let End::Failed(error) = run.end else {
        unreachable!()
    };
    assert!(error
        .to_string()
        .starts_with("row (Id = 42), result column 2: value of 1099511627776 bytes exceeds"));
}

#[test]
fn the_row_is_named_only_by_key_values_that_came_before_the_value() {
    let columns = [(Col::int(), "Id"), (Col::varbinary_max(), "Blob")];
    let targets = [FieldEncoding::Int32, FieldEncoding::Bytea];
    let input = cut_row(&columns, 42, 1 << 40, 4, &[1, 2, 3, 4]);
    // A key column after the value has not arrived: no key rather than half of one.
    let columns3 = [
        (Col::int(), "Id"),
        (Col::varbinary_max(), "Blob"),
        (Col::int(), "Site"),
    ];
    let mut input3 = encoder::colmetadata(&columns3);
    input3.extend_from_slice(&input[encoder::colmetadata(&columns).len()..]);
    let targets3 = [
        FieldEncoding::Int32,
        FieldEncoding::Bytea,
        FieldEncoding::Int32,
    ];
    let (run, _) = decode(&targets3, &[0, 2], NulPolicy::Error, &input3);
    assert_eq!(run.end, too_large(1, None, 1 << 40));
    // Without a key, none.
    let (run, _) = decode(&targets, &[], NulPolicy::Error, &input);
    assert_eq!(run.end, too_large(1, None, 1 << 40));
}

#[test]
fn the_bound_is_the_least_size_the_value_can_become() {
    let bytea = [(Col::int(), "Id"), (Col::varbinary_max(), "b")];
    let bytea_targets = [FieldEncoding::Int32, FieldEncoding::Bytea];
    // bytea: byte for byte. At the limit the value is waited for; one byte more is refused.
    let (run, _) = decode(
        &bytea_targets,
        &[],
        NulPolicy::Error,
        &cut_row(&bytea, 1, MAX, 4, &[0; 4]),
    );
    assert!(matches!(run.end, End::NeedMore(_)), "{:?}", run.end);
    let (run, _) = decode(
        &bytea_targets,
        &[],
        NulPolicy::Error,
        &cut_row(&bytea, 1, MAX + 1, 4, &[0; 4]),
    );
    assert_eq!(run.end, too_large(1, None, MAX + 1));

    // UTF-16 into text (nvarchar(max), or one read as varbinary(max)), xml, and code-page
    // text: a value becomes at least half its bytes in UTF-8, whatever it holds (it can
    // also become 1.5 times as many, which only the conversion can tell).
    let text = [(Col::int(), "Id"), (Col::nvarchar_max(), "t")];
    let utf16_as_binary = [(Col::int(), "Id"), (Col::varbinary_max(), "t")];
    let xml = [(Col::int(), "Id"), (Col::Xml(false), "x")];
    let varchar = [
        (Col::int(), "Id"),
        (Col::varchar(encoder::MAX, SQL_LATIN1), "v"),
    ];
    let cases: [(&[(Col, &str)], FieldEncoding); 5] = [
        (&text, FieldEncoding::Text),
        (&utf16_as_binary, FieldEncoding::TextFromUtf16),
        (&xml, FieldEncoding::Xml),
        (&xml, FieldEncoding::Text),
        (&varchar, FieldEncoding::Text),
    ];
    for (columns, target) in cases {
        let targets = [FieldEncoding::Int32, target];
        let fits = cut_row(columns, 1, 2 * MAX + 1, 4, &[b'a', 0, b'b', 0]);
        let (run, _) = decode(&targets, &[], NulPolicy::Error, &fits);
        assert!(
            matches!(run.end, End::NeedMore(_)),
            "{target:?}: {:?}",
            run.end
        );
        let over = cut_row(columns, 1, 2 * MAX + 2, 4, &[b'a', 0, b'b', 0]);
        let (run, _) = decode(&targets, &[], NulPolicy::Error, &over);
        assert_eq!(run.end, too_large(1, None, MAX + 1), "{target:?}");
    }
}

#[test]
fn an_unknown_length_is_bounded_by_the_chunk_lengths_seen() {
    let columns = [(Col::int(), "Id"), (Col::varbinary_max(), "Blob")];
    let targets = [FieldEncoding::Int32, FieldEncoding::Bytea];
    // A chunk that fits is waited for; one of 2^31 bytes is refused once its length is seen.
    let input = cut_row(&columns, 7, PLP_UNKNOWN, 1000, &[0; 10]);
    let (run, _) = decode(&targets, &[0], NulPolicy::Error, &input);
    assert!(matches!(run.end, End::NeedMore(_)), "{:?}", run.end);
    let input = cut_row(&columns, 7, PLP_UNKNOWN, 1 << 31, &[0; 10]);
    let (run, _) = decode(&targets, &[0], NulPolicy::Error, &input);
    assert_eq!(run.end, too_large(1, Some("Id = 7"), 1 << 31));
    // Several chunks count together: 600 MB has been announced, then another 600 MB.
    let mut input = cut_row(&columns, 7, PLP_UNKNOWN, 4, &[0; 4]);
    input.extend_from_slice(&(600u32 << 20).to_le_bytes());
    let (run, _) = decode(&targets, &[0], NulPolicy::Error, &input);
    assert!(matches!(run.end, End::NeedMore(_)), "{:?}", run.end);
    input.truncate(input.len() - 4);
    input.extend_from_slice(&(1100u32 << 20).to_le_bytes());
    let (run, _) = decode(&targets, &[0], NulPolicy::Error, &input);
    assert_eq!(run.end, too_large(1, Some("Id = 7"), 4 + (1100 << 20)));
}
