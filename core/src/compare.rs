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

    fn key(&self, i: usize) -> &[i64] {
        &self.keys[i * self.width..(i + 1) * self.width]
    }
}

/// For each of the window's `rows` source rows: must it be written? `target_keys` holds the
/// keys (`width` values each) of the target's rows in the window's key range, ascending;
/// `same(source_row, target_row)` compares the fields outside the key.
///
/// A row is left out only when exactly one target row has its key and `same` holds: what the
/// merge's prefilter does in SQL without the comparison (`NOT EXISTS` an identical target row),
/// so a key the source holds twice fails or not in the merge as it does there. Rows without a
/// whole key and rows with no target row are written.
pub fn rows_to_write(
    rows: usize,
    keys: &WindowKeys,
    target_keys: &[i64],
    mut same: impl FnMut(usize, usize) -> bool,
) -> Vec<bool> {
    let mut write = vec![true; rows];
    let width = keys.width.max(1);
    let target_rows = target_keys.len() / width;
    let target_key = |t: usize| &target_keys[t * width..(t + 1) * width];
    let mut t = 0;
    for (i, &row) in keys.keyed.iter().enumerate() {
        let key = keys.key(i);
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
        let write = rows_to_write(index.len(), &keys, &target_keys, |row, t| {
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
            rows_to_write(2, &keys, &[1, 0, 1, 0, 2, 0], all_same),
            [true, false]
        );
        // Descending target keys: the merge misses matches, so it writes; it never skips.
        assert_eq!(
            rows_to_write(2, &keys, &[2, 0, 1, 0], all_same),
            [true, false]
        );
        assert_eq!(rows_to_write(2, &keys, &[], all_same), [true, true]);
    }
}
