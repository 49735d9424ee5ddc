//! Upsert by comparison: before writing, an upsert reads the target's rows for the key range
//! of a window of source rows and writes only the source rows that are new or differ. A re-sync
//! in which nothing changed then writes nothing at all: no staging table, no ON CONFLICT, no
//! WAL. Rows it cannot prove unchanged are written through the usual merge, which decides again
//! with SQL, so a row wrongly taken for changed costs time, never correctness.
//!
//! This module holds the part that needs no PostgreSQL: which keys qualify, the window's keys in
//! order, and the merge of the window with the target's rows.
//!
//! Only keys of integer columns qualify: the source reads rows `ORDER BY` the key, and only for
//! integers do SQL Server's order and PostgreSQL's agree, so only for them does each window's
//! key range hold few rows of other windows. (Text orders by collation, uniqueidentifier by
//! SQL Server's own byte order.)

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetLookup<'a> {
    /// The keys from `low` to `high` inclusive (one value per key column each).
    Range { low: &'a [i64], high: &'a [i64] },
    /// These values of a one-column key, ascending (a value the window holds twice is here
    /// twice).
    Keys(&'a [i64]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntegerWidth {
    I16,
    I32,
    I64,
}

/// The key of a pull whose key columns are all integers, read from binary COPY fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegerKey {
    /// Field index and width of each key column, in key order.
    columns: Vec<(usize, IntegerWidth)>,
}

impl IntegerKey {
    /// `None` unless every key field (an index into `encodings`) is an integer.
    pub fn new(encodings: &[FieldEncoding], key: &[usize]) -> Option<IntegerKey> {
        if key.is_empty() {
            return None;
        }
        let columns = key
            .iter()
            .map(|&field| {
                let width = match encodings.get(field)? {
                    FieldEncoding::Int16 => IntegerWidth::I16,
                    FieldEncoding::Int32 => IntegerWidth::I32,
                    FieldEncoding::Int64 => IntegerWidth::I64,
                    _ => return None,
                };
                Some((field, width))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(IntegerKey { columns })
    }

    /// Number of key columns.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// The field index of each key column.
    pub fn fields(&self) -> impl Iterator<Item = usize> + '_ {
        self.columns.iter().map(|&(field, _)| field)
    }

    /// Appends one row's key to `out`; false (and nothing appended) when a key field is NULL or
    /// not of its width.
    fn decode(&self, buf: &[u8], fields: &[FieldSpan], out: &mut Vec<i64>) -> bool {
        let before = out.len();
        for &(field, width) in &self.columns {
            let value = fields
                .get(field)
                .and_then(|span| span.value(buf))
                .and_then(|bytes| match width {
                    IntegerWidth::I16 => {
                        bytes.try_into().ok().map(|b| i16::from_be_bytes(b).into())
                    }
                    IntegerWidth::I32 => {
                        bytes.try_into().ok().map(|b| i32::from_be_bytes(b).into())
                    }
                    IntegerWidth::I64 => bytes.try_into().ok().map(i64::from_be_bytes),
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
    /// `width` values per row of `keyed`, in `keyed`'s order.
    keys: Vec<i64>,
    /// Rows with a whole key, sorted by key (stable: equal keys keep the stream's order).
    keyed: Vec<usize>,
}

impl WindowKeys {
    pub fn build(key: &IntegerKey, buf: &[u8], index: &RowIndex) -> WindowKeys {
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
        let sorted_keys: Vec<i64> = order.iter().flat_map(|&i| key_of(i)).copied().collect();
        let keyed = order.iter().map(|&i| rows[i]).collect();
        WindowKeys {
            width,
            keys: sorted_keys,
            keyed,
        }
    }

    /// The smallest and largest key, `None` when no row has a whole key.
    pub fn range(&self) -> Option<(&[i64], &[i64])> {
        if self.keyed.is_empty() {
            return None;
        }
        let last = self.keyed.len() - 1;
        Some((self.key(0), self.key(last)))
    }

    /// The query that reads the target's rows for this window, and the most rows it may
    /// return (its `LIMIT`); `None` when no row has a whole key. Memory stays bounded by the
    /// window's size whatever the target holds: a one-column key whose range spans more than
    /// [`RANGE_SPAN_PER_ROW`] values per row is looked up by its keys (at most one target row
    /// each, the key being unique there); a range holds at most that many rows per source row
    /// (and a composite key's range, whose span is unknown, is cut by the limit: see
    /// [`rows_to_write`]).
    pub fn lookup(&self) -> Option<(TargetLookup<'_>, usize)> {
        let (low, high) = self.range()?;
        let rows = self.keyed.len();
        let range_limit = rows
            .saturating_mul(RANGE_SPAN_PER_ROW as usize)
            .saturating_add(LIMIT_SLACK_ROWS);
        if let ([low_value], [high_value]) = (low, high) {
            // i128: the span of i64::MIN..=i64::MAX does not fit an i64.
            let span = i128::from(*high_value) - i128::from(*low_value) + 1;
            if span > (rows as i128).saturating_mul(i128::from(RANGE_SPAN_PER_ROW)) {
                return Some((
                    TargetLookup::Keys(&self.keys),
                    rows.saturating_add(LIMIT_SLACK_ROWS),
                ));
            }
        }
        Some((TargetLookup::Range { low, high }, range_limit))
    }

    fn key(&self, i: usize) -> &[i64] {
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
    target_keys: &[i64],
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

    const ENCODINGS: [FieldEncoding; 3] = [
        FieldEncoding::Int32,
        FieldEncoding::Int64,
        FieldEncoding::Text,
    ];

    #[test]
    fn only_integer_keys_qualify() {
        assert!(IntegerKey::new(&ENCODINGS, &[0, 1]).is_some());
        assert_eq!(IntegerKey::new(&ENCODINGS, &[1]).unwrap().width(), 1);
        assert!(IntegerKey::new(&ENCODINGS, &[0, 2]).is_none());
        assert!(IntegerKey::new(&ENCODINGS, &[]).is_none());
        assert!(IntegerKey::new(&ENCODINGS, &[7]).is_none());
        assert!(IntegerKey::new(&[FieldEncoding::Uuid], &[0]).is_none());
        assert!(IntegerKey::new(&[FieldEncoding::Int16], &[0]).is_some());
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
        let key = IntegerKey::new(&ENCODINGS, &[0, 1]).unwrap();
        let keys = WindowKeys::build(&key, &body, &index);
        assert_eq!(keys.keyed, [1, 2, 0, 4]);
        assert_eq!(keys.range(), Some((&[-5i64, 9][..], &[2i64, i64::MAX][..])));
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
        let key = IntegerKey::new(&ENCODINGS, &[0, 1]).unwrap();
        let keys = WindowKeys::build(&key, &body, &index);
        // The target's rows in [1, 8]: 2 and 5 exist only there.
        let target_keys = [1, 0, 2, 0, 4, 0, 5, 0, 7, 0, 8, 0];
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
        let key = IntegerKey::new(&ENCODINGS, &[0, 1]).unwrap();
        let keys = WindowKeys::build(&key, &body, &index);
        let all_same = |_: usize, _: usize| true;
        assert_eq!(
            rows_to_write(2, &keys, &[1, 0, 1, 0, 2, 0], true, all_same),
            [true, false]
        );
        // Descending target keys: the merge misses matches, so it writes; it never skips.
        assert_eq!(
            rows_to_write(2, &keys, &[2, 0, 1, 0], true, all_same),
            [true, false]
        );
        assert_eq!(rows_to_write(2, &keys, &[], true, all_same), [true, true]);
    }
    #[test]
    fn sparse_windows_look_up_their_keys_and_dense_ones_read_a_range() {
        let key = IntegerKey::new(&ENCODINGS, &[0]).unwrap();
        // 4 rows over keys 1..=16: the range spans 4 values a row, the most a range may.
        let (body, index) = window(&[(16, None, ""), (1, None, ""), (9, None, ""), (5, None, "")]);
        let keys = WindowKeys::build(&key, &body, &index);
        assert_eq!(
            keys.lookup(),
            Some((
                TargetLookup::Range {
                    low: &[1][..],
                    high: &[16][..]
                },
                4 * 4 + 16
            ))
        );
        // One value further apart: looked up by key, one target row each at most.
        let (body, index) = window(&[(17, None, ""), (1, None, ""), (9, None, ""), (5, None, "")]);
        let keys = WindowKeys::build(&key, &body, &index);
        assert_eq!(
            keys.lookup(),
            Some((TargetLookup::Keys(&[1, 5, 9, 17][..]), 4 + 16))
        );
        // The widest span there is does not overflow.
        let wide = IntegerKey::new(&ENCODINGS, &[1]).unwrap();
        let (body, index) = window(&[(0, Some(i64::MAX), ""), (0, Some(i64::MIN), "")]);
        let keys = WindowKeys::build(&wide, &body, &index);
        assert_eq!(
            keys.lookup(),
            Some((TargetLookup::Keys(&[i64::MIN, i64::MAX][..]), 2 + 16))
        );
        // A composite key reads its range, cut by the limit.
        let pair = IntegerKey::new(&ENCODINGS, &[0, 1]).unwrap();
        let (body, index) = window(&[(1, Some(7), ""), (900, Some(-7), ""), (5, None, "")]);
        let keys = WindowKeys::build(&pair, &body, &index);
        assert_eq!(
            keys.lookup(),
            Some((
                TargetLookup::Range {
                    low: &[1, 7][..],
                    high: &[900, -7][..]
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
        let key = IntegerKey::new(&ENCODINGS, &[0, 1]).unwrap();
        let keys = WindowKeys::build(&key, &body, &index);
        let mut compared = Vec::new();
        // The query stopped after target keys 1..=4: key 4 may have a second row past the
        // limit, and 8 was not reached.
        let write = rows_to_write(4, &keys, &[1, 0, 2, 0, 3, 0, 4, 0], false, |row, t| {
            compared.push((row, t));
            true
        });
        assert_eq!(write, [false, false, true, true]);
        assert_eq!(compared, [(0, 0), (1, 2)]);
        // Complete, the same rows are all compared.
        let write = rows_to_write(4, &keys, &[1, 0, 2, 0, 3, 0, 4, 0], true, |_, _| true);
        assert_eq!(write, [false, false, false, true]);
        // Cut with nothing read (cannot happen with a limit above zero): everything written.
        assert_eq!(rows_to_write(4, &keys, &[], false, |_, _| true), [true; 4]);
    }
}
