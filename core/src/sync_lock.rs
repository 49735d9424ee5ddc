//! Which upserts wait for each other. Two runs of the same sync (a pg_cron job slower than its
//! schedule, a manual run while the job runs) would otherwise read the source at different
//! moments and commit in any order: the one that read first could commit last and put older
//! rows over newer ones, and an incremental run would read again what the other was about to
//! store a watermark for. So an upsert takes a transaction-level advisory lock on
//! (target, sync) before it reads anything, and the second run starts once the first's
//! transaction has ended, from what it committed.
//!
//! The sync is the target with the server and the filter; not the source's name, which the
//! caller may spell in another case than the last run did (SQL Server's names are usually
//! case-insensitive), and which is only known for sure once SQL Server has been asked: the lock
//! is taken before pgmig connects. Upserts of the same target with other filters (a table
//! loaded in slices by parallel sessions) do not wait for each other.

/// The advisory lock's two keys, as `pg_advisory_xact_lock(int4, int4)` takes them:
/// `pg_locks` shows them as `classid` (the target's oid) and `objid`, with `objsubid` 2.
pub fn sync_lock_keys(target_relid: u32, server: &str, filter: Option<&str>) -> (i32, i32) {
    // FNV-1a (32 bits): stable across builds and platforms, unlike std's hasher, so that two
    // backends of different pgmig builds during an upgrade still meet on the same key. A
    // collision only makes two unrelated syncs of one target take turns.
    const FNV_OFFSET: u32 = 0x811c_9dc5;
    const FNV_PRIME: u32 = 0x0100_0193;
    let mut hash = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for &byte in bytes {
            hash = (hash ^ u32::from(byte)).wrapping_mul(FNV_PRIME);
        }
    };
    // Each part ends with a byte no text holds, so ("ab", "c") and ("a", "bc") differ; a
    // filter's absence differs from an empty filter.
    for part in [Some(server), filter] {
        match part {
            Some(text) => {
                feed(text.as_bytes());
                feed(&[0]);
            }
            None => feed(&[0xff]),
        }
    }
    (target_relid as i32, hash as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sync_one_key_and_its_parts_never_run_together() {
        let key = |server, filter| sync_lock_keys(16384, server, filter).1;
        assert_eq!(
            sync_lock_keys(16384, "src", None),
            sync_lock_keys(16384, "src", None)
        );
        assert_eq!(sync_lock_keys(16384, "src", None).0, 16384);
        // An oid above i32::MAX keeps its bits: pg_locks shows it as the oid.
        assert_eq!(sync_lock_keys(u32::MAX, "s", None).0, -1);
        let keys = [
            key("src", None),
            key("src", Some("")),
            key("src", Some("Score > 1")),
            key("sr", Some("c")),
            key("other", None),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b, "{keys:?}");
            }
        }
    }
}
