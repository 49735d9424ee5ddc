//! Faults the test server injects on command, switchable at run time without a restart.
//!
//! The same `Faults` value is shared by every connection, by the in-process API
//! (`RunningServer::faults()`) and by the engine, which turns
//! `EXEC pgmig_test.inject @fault = N'name', @n = ...` into [`Fault::from_control`] +
//! [`Faults::set`].
//!
//! One-shot faults (drop/error after N rows or bytes) apply to the next result set that any
//! connection streams *and that reaches them*: a shorter result (a catalog query before the
//! data) leaves them armed. Standing faults (packet delay, refused logins) stay until cleared.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// One fault to switch on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection after `rows` rows of the next result set.
    DropAfterRows { rows: u64 },
    /// Close the connection after `bytes` bytes (TDS packet bytes) of the next result set.
    DropAfterBytes { bytes: u64 },
    /// Sleep this long before each packet the server sends (standing).
    DelayPackets { millis: u64 },
    /// Send an ERROR token after `rows` rows of the next result set, ending that result.
    ErrorAfterRows {
        rows: u64,
        number: u32,
        message: String,
    },
    /// Answer every login with error 18456 (standing).
    RefuseLogins,
    /// The engine raises deadlock error 1205 on the `nth` MERGE statement from now on
    /// (1 = the next one), once.
    DeadlockOnMerge { nth: u32 },
}

impl Fault {
    /// Builds a fault from the control statement's arguments
    /// (`EXEC pgmig_test.inject @fault = N'name', @n = N, @number = N, @message = N'...'`).
    /// Names: `drop_after_rows`, `drop_after_bytes`, `delay_packets` (@n = ms),
    /// `error_after_rows` (@n, @number default 50000, @message), `refuse_logins`,
    /// `deadlock_on_merge` (@n = which MERGE, default 1).
    pub fn from_control(
        name: &str,
        n: Option<i64>,
        number: Option<i64>,
        message: Option<&str>,
    ) -> Result<Fault, String> {
        let count = |what: &str| -> Result<u64, String> {
            match n {
                Some(v) if v >= 0 => Ok(v as u64),
                Some(v) => Err(format!("fault {what}: @n must be >= 0, got {v}")),
                None => Err(format!("fault {what} needs @n")),
            }
        };
        match name.to_ascii_lowercase().as_str() {
            "drop_after_rows" => Ok(Fault::DropAfterRows { rows: count(name)? }),
            "drop_after_bytes" => Ok(Fault::DropAfterBytes {
                bytes: count(name)?,
            }),
            "delay_packets" => Ok(Fault::DelayPackets {
                millis: count(name)?,
            }),
            "error_after_rows" => Ok(Fault::ErrorAfterRows {
                rows: count(name)?,
                // 50000 is the number RAISERROR uses for ad-hoc messages.
                number: match number {
                    None => 50000,
                    Some(v) => u32::try_from(v).map_err(|_| format!("bad @number {v}"))?,
                },
                message: message.unwrap_or("injected error").to_string(),
            }),
            "refuse_logins" => Ok(Fault::RefuseLogins),
            "deadlock_on_merge" => {
                let nth = n.unwrap_or(1);
                let nth = u32::try_from(nth)
                    .ok()
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| format!("deadlock_on_merge: @n must be >= 1, got {nth}"))?;
                Ok(Fault::DeadlockOnMerge { nth })
            }
            other => Err(format!("unknown fault '{other}'")),
        }
    }
}

/// What the wire side does while streaming one result set; taken once per result set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultFaults {
    pub drop_after_rows: Option<u64>,
    pub drop_after_bytes: Option<u64>,
    pub error_after_rows: Option<(u64, u32, String)>,
}

impl ResultFaults {
    pub fn is_empty(&self) -> bool {
        self.drop_after_rows.is_none()
            && self.drop_after_bytes.is_none()
            && self.error_after_rows.is_none()
    }
}

/// The fault switchboard. Cheap to consult on the hot path: an atomic says whether any
/// one-shot fault is armed, so a result set without faults takes no lock.
#[derive(Debug, Default)]
pub struct Faults {
    one_shot_armed: AtomicBool,
    one_shot: Mutex<ResultFaults>,
    delay_millis: AtomicU64,
    refuse_logins: AtomicBool,
    /// MERGEs still to go before the deadlock; 0 = not armed.
    merges_until_deadlock: AtomicU32,
}

impl Faults {
    pub fn new() -> Faults {
        Faults::default()
    }

    /// Switches one fault on (replacing an earlier fault of the same kind).
    pub fn set(&self, fault: Fault) {
        match fault {
            Fault::DelayPackets { millis } => self.delay_millis.store(millis, Ordering::SeqCst),
            Fault::RefuseLogins => self.refuse_logins.store(true, Ordering::SeqCst),
            Fault::DeadlockOnMerge { nth } => {
                self.merges_until_deadlock.store(nth, Ordering::SeqCst)
            }
            one_shot => {
                let mut armed = self.lock_one_shot();
                match one_shot {
                    Fault::DropAfterRows { rows } => armed.drop_after_rows = Some(rows),
                    Fault::DropAfterBytes { bytes } => armed.drop_after_bytes = Some(bytes),
                    Fault::ErrorAfterRows {
                        rows,
                        number,
                        message,
                    } => armed.error_after_rows = Some((rows, number, message)),
                    _ => {}
                }
                self.one_shot_armed
                    .store(!armed.is_empty(), Ordering::SeqCst);
            }
        }
    }

    /// Switches every fault off.
    pub fn clear(&self) {
        let mut armed = self.lock_one_shot();
        *armed = ResultFaults::default();
        self.one_shot_armed.store(false, Ordering::SeqCst);
        self.delay_millis.store(0, Ordering::SeqCst);
        self.refuse_logins.store(false, Ordering::SeqCst);
        self.merges_until_deadlock.store(0, Ordering::SeqCst);
    }

    /// Called by the wire side when a result set starts: hands over (and disarms) the
    /// one-shot faults for it.
    pub fn take_for_result(&self) -> ResultFaults {
        if !self.one_shot_armed.load(Ordering::Acquire) {
            return ResultFaults::default();
        }
        let mut armed = self.lock_one_shot();
        self.one_shot_armed.store(false, Ordering::SeqCst);
        std::mem::take(&mut *armed)
    }

    /// Called by the wire side when a result set ended before its one-shot faults fired:
    /// arms them again for the next result set (unless another fault was set meanwhile).
    pub fn rearm_unfired(&self, unfired: ResultFaults) {
        if unfired.is_empty() {
            return;
        }
        let mut armed = self.lock_one_shot();
        if armed.is_empty() {
            *armed = unfired;
            self.one_shot_armed.store(true, Ordering::SeqCst);
        }
    }

    /// Delay before each packet, if any.
    pub fn packet_delay(&self) -> Option<Duration> {
        match self.delay_millis.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub fn logins_refused(&self) -> bool {
        self.refuse_logins.load(Ordering::SeqCst)
    }

    /// Called by the engine for every MERGE it runs: true when this one must fail with
    /// deadlock error 1205.
    pub fn merge_should_deadlock(&self) -> bool {
        let mut current = self.merges_until_deadlock.load(Ordering::SeqCst);
        while current > 0 {
            match self.merges_until_deadlock.compare_exchange(
                current,
                current - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return current == 1,
                Err(actual) => current = actual,
            }
        }
        false
    }

    fn lock_one_shot(&self) -> std::sync::MutexGuard<'_, ResultFaults> {
        // A panic while holding this lock cannot leave the plain-data state invalid.
        self.one_shot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfired_faults_wait_for_the_next_result() {
        let faults = Faults::new();
        faults.set(Fault::DropAfterRows { rows: 5 });
        // A 3-row catalog query ends before row 5: the fault stays armed for the data query.
        let short = faults.take_for_result();
        faults.rearm_unfired(short);
        assert_eq!(faults.take_for_result().drop_after_rows, Some(5));
        // A fault set meanwhile is not overwritten.
        faults.set(Fault::DropAfterRows { rows: 9 });
        faults.rearm_unfired(ResultFaults {
            drop_after_rows: Some(5),
            ..ResultFaults::default()
        });
        assert_eq!(faults.take_for_result().drop_after_rows, Some(9));
    }

    #[test]
    fn one_shot_faults_apply_to_one_result_only() {
        let faults = Faults::new();
        faults.set(Fault::DropAfterRows { rows: 5 });
        faults.set(Fault::DelayPackets { millis: 3 });
        let first = faults.take_for_result();
        assert_eq!(first.drop_after_rows, Some(5));
        assert!(faults.take_for_result().is_empty());
        assert_eq!(faults.packet_delay(), Some(Duration::from_millis(3)));
        faults.clear();
        assert_eq!(faults.packet_delay(), None);
    }

    #[test]
    fn deadlock_hits_the_nth_merge_once() {
        let faults = Faults::new();
        faults.set(Fault::from_control("deadlock_on_merge", Some(2), None, None).unwrap());
        assert!(!faults.merge_should_deadlock());
        assert!(faults.merge_should_deadlock());
        assert!(!faults.merge_should_deadlock());
    }

    #[test]
    fn control_statement_arguments_are_checked() {
        assert_eq!(
            Fault::from_control("ERROR_AFTER_ROWS", Some(3), Some(1205), Some("x")).unwrap(),
            Fault::ErrorAfterRows {
                rows: 3,
                number: 1205,
                message: "x".into()
            }
        );
        assert!(Fault::from_control("drop_after_rows", None, None, None).is_err());
        assert!(Fault::from_control("drop_after_rows", Some(-1), None, None).is_err());
        assert!(Fault::from_control("nonsense", Some(1), None, None).is_err());
    }
}
