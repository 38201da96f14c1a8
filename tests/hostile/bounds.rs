//! Time and heap bounds around one hostile case.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::HEAP;

pub const MIB: usize = 1 << 20;

/// One test at a time: the heap is counted for the whole process, so a test building its
/// input while another is measured would change the other's peak.
static TURN: Mutex<()> = Mutex::new(());

/// The right to measure: every test of this binary takes it first, for its whole run.
pub struct Turn(#[allow(dead_code, reason = "held for its Drop")] MutexGuard<'static, ()>);

pub fn turn() -> Turn {
    Turn(TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// Runs `f` on a thread with a tokio worker's stack (2 MiB, where the services run this code)
/// and fails if it runs longer than `secs` (a hang: the ceilings are generous, this is no
/// speed test) or if the heap grows more than `heap` bytes above where it was at the start.
pub fn bounded<T: Send + 'static>(
    _turn: &Turn,
    what: &str,
    secs: u64,
    heap: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let base = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let started = Instant::now();
    let (done, finished) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name(what.to_owned())
        .stack_size(2 * MIB)
        .spawn(move || {
            let out = f();
            let _ = done.send(());
            out
        })
        .expect("spawn");
    match finished.recv_timeout(Duration::from_secs(secs)) {
        // Disconnected: the case panicked; join below passes the panic on.
        Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
        Err(RecvTimeoutError::Timeout) => panic!("{what}: still running after {secs} s"),
    }
    let out = worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let took = started.elapsed();
    let peak = HEAP.peak_usage().saturating_sub(base);
    eprintln!("{what}: {:.2} s, heap peak +{:.1} MiB", took.as_secs_f64(), peak as f64 / MIB as f64);
    assert!(
        peak <= heap,
        "{what}: the heap grew by {:.1} MiB, the bound is {:.1} MiB",
        peak as f64 / MIB as f64,
        heap as f64 / MIB as f64
    );
    out
}

/// A runtime for one network case, on the bounded thread.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}
