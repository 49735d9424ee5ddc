//! Upsert by comparison: before writing, an upsert reads the target's rows for the keys of a
//! window of source rows and writes only the source rows that are new or differ. A re-sync in
//! which nothing changed then writes nothing at all: no staging table, no ON CONFLICT, no WAL.
//! Rows it cannot prove unchanged are written through the usual merge, which decides again
//! with SQL, so a row wrongly taken for changed costs time, never correctness.
//!
//! This module holds the part that needs no PostgreSQL: which keys qualify, the window's keys in
//! order, the query that reads the target's rows, and the merge of the window with them.
//!
//! Keys of integer columns qualify: the source reads rows `ORDER BY` the key, and for integers
//! SQL Server's order and PostgreSQL's agree, so a window's rows usually form one short key
//! range. A key of one uniqueidentifier column qualifies too: SQL Server orders it by its own
//! byte order, so a window's keys are scattered over PostgreSQL's order and are looked up one by
//! one (`= ANY`). Text keys do not (collations order and compare them differently), nor
//! composite keys with a uuid column.

use crate::copy_rows::{FieldSpan, RowIndex};
use crate::plan::FieldEncoding;

/// A window closes once it holds this many bytes of source rows: one chunk of the network
/// thread's (the check runs per chunk), well under what its channel holds (4 chunks), so that
/// it reads ahead while a window is compared. Larger windows made the two threads take turns.
/// Nothing changed in 1M rows (release build, 2 cores): posts 11.0 s with 4 MB windows, 6.9 s
/// with 1 MB, 5.1-5.8 s with 256 KB; votes 0.8 s -> 0.44-0.55 s. The per-window query costs
/// ~0.1 ms (1M posts: ~4600 windows).
pub const WINDOW_MAX_BYTES: usize = 256 << 10;

/// A window's target rows are read as one key range only while the range spans at most this
/// many key values per source row; sparser windows (an incremental sync's few changed rows, a
/// `filter`) look up their keys one by one instead. A range query over a sparse window read
/// (and held in memory) every target row between the window's first and last key: the whole
/// table, for a watermark run whose changed rows lie far apart.
pub const RANGE_SPAN_PER_ROW: u64 = 4;

/// Slack on top of a window's row limit, so that a window of a few rows that lies among
/// rows only the target holds (deleted on the source) is still compared in full.
const LIMIT_SLACK_ROWS: usize = 16;

/// How one query reads the target's rows for a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetLookup {
    /// The integer keys from `low` to `high` inclusive (one value per key column each).
    Range { low: Vec<i64>, high: Vec<i64> },
    /// These values of a one-column integer key, ascending (a value the window holds twice is
    /// here twice).
    Integers(Vec<i64>),
    /// These values of a one-column uuid key (RFC 4122 bytes, as PostgreSQL stores them),
    /// ascending.
    Uuids(Vec<[u8; 16]>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    I16,
    I32,
    I64,
    Uuid,
}

/// The key of a pull that can be compared (see the module doc), read from binary COPY fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareKey {
    /// Field index and kind of each key column, in key order.
    columns: Vec<(usize, KeyKind)>,
}

/// A key column's value as a number that orders as PostgreSQL orders the column: an integer
/// with its sign bit flipped (i64 order as unsigned order), a uuid as its 16 bytes big-endian
/// (uuid's btree order is memcmp).
pub type KeyValue = u128;

const SIGN_FLIP: u64 = 1 << 63;

/// An integer key column's [`KeyValue`].
pub fn integer_key_value(value: i64) -> KeyValue {
    KeyValue::from((value as u64) ^ SIGN_FLIP)
}

/// The integer of an integer key column's [`KeyValue`].
fn integer_of(value: KeyValue) -> i64 {
    ((value as u64) ^ SIGN_FLIP) as i64
}

/// A uuid key column's [`KeyValue`].
pub fn uuid_key_value(bytes: [u8; 16]) -> KeyValue {
    KeyValue::from_be_bytes(bytes)
}

impl CompareKey {
    /// `None` unless every key field (an index into `encodings`) is an integer, or the key is
    /// one uuid field.
    pub fn new(encodings: &[FieldEncoding], key: &[usize]) -> Option<CompareKey> {
        let columns = key
            .iter()
            .map(|&field| {
                let kind = match encodings.get(field)? {
                    FieldEncoding::Int16 => KeyKind::I16,
                    FieldEncoding::Int32 => KeyKind::I32,
                    FieldEncoding::Int64 => KeyKind::I64,
                    FieldEncoding::Uuid => KeyKind::Uuid,
                    _ => return None,
                };
                Some((field, kind))
            })
            .collect::<Option<Vec<_>>>()?;
        let uuids = columns
            .iter()
            .filter(|(_, kind)| *kind == KeyKind::Uuid)
            .count();
        match (columns.len(), uuids) {
            (0, _) => None,
            (1, _) | (_, 0) => Some(CompareKey { columns }),
            _ => None,
        }
    }

    /// Number of key columns.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// Whether the key is one uuid column.
    fn is_uuid(&self) -> bool {
        matches!(self.columns.as_slice(), [(_, KeyKind::Uuid)])
    }

    /// The field index of each key column.
    pub fn fields(&self) -> impl Iterator<Item = usize> + '_ {
        self.columns.iter().map(|&(field, _)| field)
    }

    /// Appends one row's key to `out`; false (and nothing appended) when a key field is NULL or
    /// not of its width.
    fn decode(&self, buf: &[u8], fields: &[FieldSpan], out: &mut Vec<KeyValue>) -> bool {
        let before = out.len();
        for &(field, kind) in &self.columns {
            let value = fields
                .get(field)
                .and_then(|span| span.value(buf))
                .and_then(|bytes| match kind {
                    KeyKind::I16 => bytes
                        .try_into()
                        .ok()
                        .map(|b| integer_key_value(i16::from_be_bytes(b).into())),
                    KeyKind::I32 => bytes
                        .try_into()
                        .ok()
                        .map(|b| integer_key_value(i32::from_be_bytes(b).into())),
                    KeyKind::I64 => bytes
                        .try_into()
                        .ok()
                        .map(|b| integer_key_value(i64::from_be_bytes(b))),
                    KeyKind::Uuid => bytes.try_into().ok().map(uuid_key_value),
                });
            match value {
                Some(value) => out.push(value),
                None => {
                    out.truncate(before);
                    return false;
                }
            }
        }
        true
    }
}

/// The keys of one window of source rows, and the rows that have one in ascending key order.
#[derive(Debug, Default)]
pub struct WindowKeys {
    width: usize,
    uuid: bool,
    /// `width` values per row of `keyed`, in `keyed`'s order.
    keys: Vec<KeyValue>,
    /// Rows with a whole key, sorted by key (stable: equal keys keep the stream's order).
    keyed: Vec<usize>,
}

impl WindowKeys {
    pub fn build(key: &CompareKey, buf: &[u8], index: &RowIndex) -> WindowKeys {
        let width = key.width();
        let mut keys = Vec::with_capacity(index.len() * width);
        let mut rows = Vec::with_capacity(index.len());
        for row in 0..index.len() {
            if key.decode(buf, index.fields(row), &mut keys) {
                rows.push(row);
            }
        }
        let key_of = |i: usize| &keys[i * width..(i + 1) * width];
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&a, &b| key_of(a).cmp(key_of(b)));
        let sorted_keys: Vec<KeyValue> = order.iter().flat_map(|&i| key_of(i)).copied().collect();
        let keyed = order.iter().map(|&i| rows[i]).collect();
        WindowKeys {
            width,
            uuid: key.is_uuid(),
            keys: sorted_keys,
            keyed,
        }
    }

    /// The smallest and largest key, `None` when no row has a whole key.
    fn range(&self) -> Option<(&[KeyValue], &[KeyValue])> {
        if self.keyed.is_empty() {
            return None;
        }
        let last = self.keyed.len() - 1;
        Some((self.key(0), self.key(last)))
    }

    /// The query that reads the target's rows for this window, and the most rows it may
    /// return (its `LIMIT`); `None` when no row has a whole key. Memory stays bounded by the
    /// window's size whatever the target holds: a one-column key is looked up by its keys (at
    /// most one target row each, the key being unique there) when it is a uuid or its range
    /// spans more than [`RANGE_SPAN_PER_ROW`] values per row; a range holds at most that many
    /// rows per source row (and a composite key's range, whose span is unknown, is cut by the
    /// limit: see [`rows_to_write`]).
    pub fn lookup(&self) -> Option<(TargetLookup, usize)> {
        let (low, high) = self.range()?;
        let rows = self.keyed.len();
        let keys_limit = rows.saturating_add(LIMIT_SLACK_ROWS);
        if self.uuid {
            let uuids = self.keys.iter().map(|value| value.to_be_bytes()).collect();
            return Some((TargetLookup::Uuids(uuids), keys_limit));
        }
        let integers = |values: &[KeyValue]| values.iter().map(|&v| integer_of(v)).collect();
        // As unsigned key values, the span of i64::MIN..=i64::MAX fits.
        if let ([low_value], [high_value]) = (low, high) {
            let span = high_value - low_value + 1;
            if span > (rows as u128).saturating_mul(u128::from(RANGE_SPAN_PER_ROW)) {
                return Some((TargetLookup::Integers(integers(&self.keys)), keys_limit));
            }
        }
        let range_limit = rows
            .saturating_mul(RANGE_SPAN_PER_ROW as usize)
            .saturating_add(LIMIT_SLACK_ROWS);
        Some((
            TargetLookup::Range {
                low: integers(low),
                high: integers(high),
            },
            range_limit,
        ))
    }

    fn key(&self, i: usize) -> &[KeyValue] {
        &self.keys[i * self.width..(i + 1) * self.width]
    }
}

/// For each of the window's `rows` source rows: must it be written? `target_keys` holds the
/// keys (`width` values each) of the target's rows the window's [`WindowKeys::lookup`] read,
/// ascending; `complete` is false when that query stopped at its row limit, so that target rows
/// past the last one read are unknown; `same(source_row, target_row)` compares the fields
/// outside the key.
///
/// A row is left out only when exactly one target row has its key and `same` holds: what the
/// merge's prefilter does in SQL without the comparison (`NOT EXISTS` an identical target row),
/// so a key the source holds twice fails or not in the merge as it does there. Rows without a
/// whole key, rows with no target row, and (when not `complete`) rows whose key is not below
/// the last target key read are written.
pub fn rows_to_write(
    rows: usize,
    keys: &WindowKeys,
    target_keys: &[KeyValue],
    complete: bool,
    mut same: impl FnMut(usize, usize) -> bool,
) -> Vec<bool> {
    let mut write = vec![true; rows];
    let width = keys.width.max(1);
    let target_rows = target_keys.len() / width;
    let target_key = |t: usize| &target_keys[t * width..(t + 1) * width];
    // Keys from here on may have target rows the query did not return (a second row of the
    // last key read, too, would make its match look single).
    let known_below = match (complete, target_rows) {
        (true, _) => None,
        (false, 0) => return write,
        (false, _) => Some(target_key(target_rows - 1)),
    };
    let mut t = 0;
    for (i, &row) in keys.keyed.iter().enumerate() {
        let key = keys.key(i);
        if known_below.is_some_and(|limit| key >= limit) {
            break;
        }
        while t < target_rows && target_key(t) < key {
            t += 1;
        }
        let single_match = t < target_rows
            && target_key(t) == key
            && (t + 1 == target_rows || target_key(t + 1) != key);
        if single_match && same(row, t) {
            write[row] = false;
        }
    }
    write
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy_binary::{CopyEncoder, NulPolicy, COPY_HEADER_LEN};

    /// Rows of (key a: int, key b: bigint or NULL, value text).
    fn window(rows: &[(i32, Option<i64>, &str)]) -> (Vec<u8>, RowIndex) {
        let mut encoder = CopyEncoder::new(3).unwrap();
        encoder.write_header();
        for &(a, b, value) in rows {
            encoder.begin_row();
            encoder.put_i32(a);
            match b {
                Some(b) => encoder.put_i64(b),
                None => encoder.put_null(),
            }
            encoder.put_text_str(value, NulPolicy::Error).unwrap();
            encoder.end_row().unwrap();
        }
        let body = encoder.bytes()[COPY_HEADER_LEN..].to_vec();
        let mut index = RowIndex::new(3);
        index.split(&body).unwrap();
        (body, index)
    }

    /// Integer key values, as the comparison keeps them.
    fn ints(values: &[i64]) -> Vec<KeyValue> {
        values.iter().map(|&v| integer_key_value(v)).collect()
    }

    const ENCODINGS: [FieldEncoding; 3] = [
        FieldEncoding::Int32,
        FieldEncoding::Int64,
        FieldEncoding::Text,
    ];

    #[test]
    fn integer_keys_and_one_uuid_qualify() {
        assert!(CompareKey::new(&ENCODINGS, &[0, 1]).is_some());
        assert_eq!(CompareKey::new(&ENCODINGS, &[1]).unwrap().width(), 1);
        assert!(CompareKey::new(&ENCODINGS, &[0, 2]).is_none());
        assert!(CompareKey::new(&ENCODINGS, &[]).is_none());
        assert!(CompareKey::new(&ENCODINGS, &[7]).is_none());
        assert!(CompareKey::new(&[FieldEncoding::Int16], &[0]).is_some());
        let uuid = [
            FieldEncoding::Uuid,
            FieldEncoding::Int32,
            FieldEncoding::Uuid,
        ];
        assert!(CompareKey::new(&uuid, &[0]).unwrap().is_uuid());
        // With another column SQL Server's uuid order scatters the composite key's range.
        assert!(CompareKey::new(&uuid, &[0, 1]).is_none());
        assert!(CompareKey::new(&uuid, &[0, 2]).is_none());
    }

    #[test]
    fn key_values_order_as_postgresql_orders_the_columns() {
        let mut values = [i64::MAX, -1, 0, i64::MIN, 1, -300];
        let mut keys: Vec<KeyValue> = values.iter().map(|&v| integer_key_value(v)).collect();
        values.sort();
        keys.sort();
        assert_eq!(keys, ints(&values));
        assert!(values
            .iter()
            .all(|&v| integer_of(integer_key_value(v)) == v));
        // uuid: memcmp of the 16 bytes.
        let low = uuid_key_value([0x7f; 16]);
        let high = uuid_key_value([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(low < high);
    }

    #[test]
    fn keys_sort_as_postgresql_orders_them() {
        let (body, index) = window(&[
            (2, Some(1), "c"),
            (-5, Some(9), "a"),
            (2, Some(-1), "b"),
            (1, None, "no key"),
            (2, Some(i64::MAX), "d"),
        ]);
        let key = CompareKey::new(&ENCODINGS, &[0, 1]).unwrap();
        let keys = WindowKeys::build(&key, &body, &index);
        assert_eq!(keys.keyed, [1, 2, 0, 4]);
        assert_eq!(
            keys.range(),
            Some((&ints(&[-5, 9])[..], &ints(&[2, i64::MAX])[..]))
        );
        let (body, index) = window(&[(1, None, "x")]);
        assert_eq!(WindowKeys::build(&key, &body, &index).range(), None);
    }

    #[test]
    fn writes_what_is_new_changed_or_unkeyed() {
        let (body, index) = window(&[
            (4, Some(0), "same"),
            (1, Some(0), "changed"),
            (3, Some(0), "new"),
            (9, None, "no key"),
            (7, Some(0), "dup"),
            (7, Some(0), "dup changed"),
            (8, Some(0), "same"),
        ]);
        let key = CompareKey::new(&ENCODINGS, &[0, 1]).unwrap();
        let keys = WindowKeys::build(&key, &body, &index);
        // The target's rows in [1, 8]: 2 and 5 exist only there.
        let target_keys = ints(&[1, 0, 2, 0, 4, 0, 5, 0, 7, 0, 8, 0]);
        let target_values = ["old", "x", "same", "x", "dup", "same"];
        let mut compared = Vec::new();
        let write = rows_to_write(index.len(), &keys, &target_keys, true, |row, t| {
            compared.push((row, t));
            index.fields(row)[2].value(&body) == Some(target_values[t].as_bytes())
        });
        // A key twice: each row is compared with the target's row of that key, as the merge's
        // prefilter would.
        assert_eq!(write, [false, true, true, true, false, true, false]);
        // Each source row compared at most once, with the target row of its key.
        assert_eq!(compared, [(1, 0), (0, 2), (4, 4), (5, 4), (6, 5)]);
    }

    #[test]
    fn a_target_key_twice_or_out_of_order_is_never_taken_for_unchanged() {
        let (body, index) = window(&[(1, Some(0), "a"), (2, Some(0), "b")]);
        let key = CompareKey::new(&ENCODINGS, &[0, 1]).unwrap();
        let keys = WindowKeys::build(&key, &body, &index);
        let all_same = |_: usize, _: usize| true;
        assert_eq!(
            rows_to_write(2, &keys, &ints(&[1, 0, 1, 0, 2, 0]), true, all_same),
            [true, false]
        );
        // Descending target keys: the merge misses matches, so it writes; it never skips.
        assert_eq!(
            rows_to_write(2, &keys, &ints(&[2, 0, 1, 0]), true, all_same),
            [true, false]
        );
        assert_eq!(rows_to_write(2, &keys, &[], true, all_same), [true, true]);
    }
    #[test]
    fn sparse_windows_look_up_their_keys_and_dense_ones_read_a_range() {
        let key = CompareKey::new(&ENCODINGS, &[0]).unwrap();
        // 4 rows over keys 1..=16: the range spans 4 values a row, the most a range may.
        let (body, index) = window(&[(16, None, ""), (1, None, ""), (9, None, ""), (5, None, "")]);
        let keys = WindowKeys::build(&key, &body, &index);
        assert_eq!(
            keys.lookup(),
            Some((
                TargetLookup::Range {
                    low: vec![1],
                    high: vec![16]
                },
                4 * 4 + 16
            ))
        );
        // One value further apart: looked up by key, one target row each at most.
        let (body, index) = window(&[(17, None, ""), (1, None, ""), (9, None, ""), (5, None, "")]);
        let keys = WindowKeys::build(&key, &body, &index);
        assert_eq!(
            keys.lookup(),
            Some((TargetLookup::Integers(vec![1, 5, 9, 17]), 4 + 16))
        );
        // The widest span there is does not overflow.
        let wide = CompareKey::new(&ENCODINGS, &[1]).unwrap();
        let (body, index) = window(&[(0, Some(i64::MAX), ""), (0, Some(i64::MIN), "")]);
        let keys = WindowKeys::build(&wide, &body, &index);
        assert_eq!(
            keys.lookup(),
            Some((TargetLookup::Integers(vec![i64::MIN, i64::MAX]), 2 + 16))
        );
        // A composite key reads its range, cut by the limit.
        let pair = CompareKey::new(&ENCODINGS, &[0, 1]).unwrap();
        let (body, index) = window(&[(1, Some(7), ""), (900, Some(-7), ""), (5, None, "")]);
        let keys = WindowKeys::build(&pair, &body, &index);
        assert_eq!(
            keys.lookup(),
            Some((
                TargetLookup::Range {
                    low: vec![1, 7],
                    high: vec![900, -7]
                },
                2 * 4 + 16
            ))
        );
        let (body, index) = window(&[(5, None, "")]);
        assert_eq!(WindowKeys::build(&pair, &body, &index).lookup(), None);
    }

    #[test]
    fn a_read_cut_by_its_limit_writes_the_rows_from_its_last_key_on() {
        let (body, index) = window(&[
            (1, Some(0), "a"),
            (3, Some(0), "b"),
            (4, Some(0), "c"),
            (8, Some(0), "d"),
        ]);
        let key = CompareKey::new(&ENCODINGS, &[0, 1]).unwrap();
        let keys = WindowKeys::build(&key, &body, &index);
        let mut compared = Vec::new();
        // The query stopped after target keys 1..=4: key 4 may have a second row past the
        // limit, and 8 was not reached.
        let write = rows_to_write(
            4,
            &keys,
            &ints(&[1, 0, 2, 0, 3, 0, 4, 0]),
            false,
            |row, t| {
                compared.push((row, t));
                true
            },
        );
        assert_eq!(write, [false, false, true, true]);
        assert_eq!(compared, [(0, 0), (1, 2)]);
        // Complete, the same rows are all compared.
        let write = rows_to_write(4, &keys, &ints(&[1, 0, 2, 0, 3, 0, 4, 0]), true, |_, _| {
            true
        });
        assert_eq!(write, [false, false, false, true]);
        // Cut with nothing read (cannot happen with a limit above zero): everything written.
        assert_eq!(rows_to_write(4, &keys, &[], false, |_, _| true), [true; 4]);
    }

    #[test]
    fn a_uuid_key_is_looked_up_by_its_values_in_postgresql_order() {
        // (uuid key, value): SQL Server's order is not PostgreSQL's; the window sorts them.
        let uuids = [[0xff; 16], [0x00; 16], [0x80; 16]];
        let mut encoder = CopyEncoder::new(2).unwrap();
        encoder.write_header();
        for (i, uuid) in uuids.iter().enumerate() {
            encoder.begin_row();
            encoder.put_uuid(uuid);
            encoder.put_i32(i as i32);
            encoder.end_row().unwrap();
        }
        encoder.begin_row();
        encoder.put_null();
        encoder.put_i32(9);
        encoder.end_row().unwrap();
        let body = encoder.bytes()[COPY_HEADER_LEN..].to_vec();
        let mut index = RowIndex::new(2);
        index.split(&body).unwrap();
        let key = CompareKey::new(&[FieldEncoding::Uuid, FieldEncoding::Int32], &[0]).unwrap();
        let keys = WindowKeys::build(&key, &body, &index);
        assert_eq!(keys.keyed, [1, 2, 0]);
        assert_eq!(
            keys.lookup(),
            Some((
                TargetLookup::Uuids(vec![[0x00; 16], [0x80; 16], [0xff; 16]]),
                3 + 16
            ))
        );
        // The target has the first and the last; the NULL key is written.
        let target_keys = [uuid_key_value([0x00; 16]), uuid_key_value([0xff; 16])];
        let mut compared = Vec::new();
        let write = rows_to_write(4, &keys, &target_keys, true, |row, t| {
            compared.push((row, t));
            true
        });
        assert_eq!(write, [false, false, true, true]);
        assert_eq!(compared, [(1, 0), (0, 1)]);
    }
}
