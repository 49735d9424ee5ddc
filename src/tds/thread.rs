//! A network thread: a current-thread tokio runtime in its own OS thread, with every signal
//! blocked (PostgreSQL's handlers must run on the backend's main thread), handing values to the
//! main thread over a bounded channel. The main thread waits in short slices and checks for
//! interrupts between them, so cancel and `statement_timeout` act within a fraction of a second.

use crate::error::{PgmigError, Result};
use std::future::Future;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long the main thread waits before it checks for interrupts again: short enough that a
/// cancel acts well within a second, long enough to cost nothing.
const INTERRUPT_POLL: Duration = Duration::from_millis(50);
/// After a cancel the thread's own work is dropped at once; this only bounds blocking helpers
/// (a DNS lookup) that tokio cannot interrupt.
const RUNTIME_SHUTDOWN_GRACE: Duration = Duration::from_millis(200);
/// How long dropping a task waits for its thread to end before leaving it to finish alone.
const JOIN_GRACE: Duration = Duration::from_secs(2);

pub struct NetworkTask<T> {
    receiver: Option<Receiver<T>>,
    cancel: Option<oneshot::Sender<()>>,
    finished: Option<Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> NetworkTask<T> {
    /// Starts `job` on a new network thread. `job` gets the sending half of a channel of
    /// `capacity` values; a full channel blocks the job (back-pressure), a dropped task makes
    /// its sends fail and cancels it.
    pub fn spawn<F, Fut>(name: &str, capacity: usize, job: F) -> Result<NetworkTask<T>>
    where
        F: FnOnce(SyncSender<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (sender, receiver) = mpsc::sync_channel(capacity);
        let (cancel, cancelled) = oneshot::channel::<()>();
        let (finished_sender, finished) = mpsc::sync_channel(1);
        let body = move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                // Dropping `sender` unanswered tells the main thread the task failed.
                Err(_) => return,
            };
            runtime.block_on(async move {
                tokio::select! {
                    _ = job(sender) => {}
                    // Fires on an explicit cancel and when the task is dropped.
                    _ = cancelled => {}
                }
            });
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN_GRACE);
            let _ = finished_sender.send(());
        };
        let thread = spawn_with_signals_blocked(name, body).map_err(|e| {
            PgmigError::Internal(format!("could not start the network thread: {e}"))
        })?;
        Ok(NetworkTask {
            receiver: Some(receiver),
            cancel: Some(cancel),
            finished: Some(finished),
            thread: Some(thread),
        })
    }

    /// The next value from the network thread, or `None` once it has ended and every value was
    /// taken. Calls `check_interrupts` between waits; if that raises (a cancel), the task is
    /// dropped during unwinding, which stops the thread.
    pub fn recv(&mut self, check_interrupts: &mut dyn FnMut()) -> Option<T> {
        let receiver = self.receiver.as_ref()?;
        loop {
            match receiver.recv_timeout(INTERRUPT_POLL) {
                Ok(value) => return Some(value),
                Err(RecvTimeoutError::Timeout) => check_interrupts(),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

impl<T> Drop for NetworkTask<T> {
    fn drop(&mut self) {
        // Order matters: a job blocked on a full channel wakes up when the receiver goes.
        drop(self.receiver.take());
        drop(self.cancel.take());
        if let (Some(finished), Some(thread)) = (self.finished.take(), self.thread.take()) {
            match finished.recv_timeout(JOIN_GRACE) {
                // The thread has ended (or is about to): joining cannot block for long.
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                    let _ = thread.join();
                }
                // Stuck in something tokio cannot interrupt: let it end on its own rather than
                // hang the backend. It owns nothing of PostgreSQL's.
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

/// Spawns a thread with every signal blocked. The mask is set on the spawning thread around
/// the spawn so the new thread inherits it from its first instruction.
fn spawn_with_signals_blocked<F>(name: &str, body: F) -> std::io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    // SAFETY: plain libc calls on stack-allocated sigset_t values.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        let spawned = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(body);
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        spawned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_arrive_in_order_and_end_with_none() {
        let mut task = NetworkTask::spawn("test", 2, |tx| async move {
            for i in 0..5 {
                tx.send(i).unwrap();
            }
        })
        .unwrap();
        let mut got = Vec::new();
        while let Some(v) = task.recv(&mut || {}) {
            got.push(v);
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn dropping_a_task_stops_a_job_that_never_ends() {
        let task = NetworkTask::<u8>::spawn("test", 1, |tx| async move {
            // Hold the sender: the channel stays open, only a cancel can end this job.
            let _open = tx;
            std::future::pending::<()>().await;
        })
        .unwrap();
        let started = std::time::Instant::now();
        drop(task);
        // Bound well above the expected few milliseconds; a broken cancel would hang forever.
        assert!(started.elapsed() < JOIN_GRACE);
    }

    #[test]
    fn interrupt_check_runs_while_waiting_and_can_abort() {
        let mut task = NetworkTask::<u8>::spawn("test", 1, |tx| async move {
            // Hold the sender: the channel stays open, only a cancel can end this job.
            let _open = tx;
            std::future::pending::<()>().await;
        })
        .unwrap();
        let mut checks = 0;
        let aborted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            task.recv(&mut || {
                checks += 1;
                if checks == 3 {
                    panic!("cancel");
                }
            })
        }));
        assert!(aborted.is_err());
        assert_eq!(checks, 3);
    }

    #[test]
    fn network_thread_has_signals_blocked() {
        let mut task = NetworkTask::spawn("test", 1, |tx| async move {
            // SAFETY: reading this thread's own mask.
            let blocked = unsafe {
                let mut current: libc::sigset_t = std::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut current);
                libc::sigismember(&current, libc::SIGINT) == 1
                    && libc::sigismember(&current, libc::SIGTERM) == 1
                    && libc::sigismember(&current, libc::SIGUSR1) == 1
            };
            tx.send(blocked).unwrap();
        })
        .unwrap();
        assert_eq!(task.recv(&mut || {}), Some(true));
    }
}
