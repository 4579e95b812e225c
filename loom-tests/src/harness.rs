//! The model runner and the checked payload.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc as StdArc, Mutex as StdMutex};
use std::time::Instant;

use tailcast::{Builder, LagPolicy, Publisher, RecvError, Subscriber, TryRecvError};

/// Runs `f` under loom with a preemption bound chosen by thread count, and prints one
/// summary line:
///
/// `MODEL <name> covers=<F-numbers> threads=<n> preemptions=<p> executions=<n> seconds=<s>
/// cpu=<s>` (wall-clock and CPU seconds of the model)
///
/// The bound is `LOOM_MAX_PREEMPTIONS` if set; otherwise 2 for 2-thread models and 1 for
/// models with 3 or more threads (RELIABILITY.md §2.1), plus `TAILCAST_LOOM_EXTRA` (default
/// 0) for the extended run. `LOOM_MAX_BRANCHES` defaults to 10 000 here (as in tokio),
/// because the waits add many branch points per execution. With `LOOM_MAX_DURATION`
/// (seconds) loom stops exploring when the time is up; the line then ends in
/// `capped=<s>s`: the executions counted passed, but the search was not exhaustive.
pub fn model<F>(name: &str, covers: &str, threads: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    model_bounded(name, covers, threads, if threads <= 2 { 2 } else { 1 }, f);
}

/// [`model`] with an explicit default preemption bound, for a small model that needs a
/// deeper search than its thread count suggests (the environment overrides it the same
/// way).
pub fn model_bounded<F>(name: &str, covers: &str, threads: usize, bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    let preemptions = match std::env::var("LOOM_MAX_PREEMPTIONS") {
        Ok(v) => v.parse().expect("LOOM_MAX_PREEMPTIONS is a number"),
        Err(_) => {
            let extra: usize = std::env::var("TAILCAST_LOOM_EXTRA")
                .map(|v| v.parse().expect("TAILCAST_LOOM_EXTRA is a number"))
                .unwrap_or(0);
            bound + extra
        }
    };
    builder.preemption_bound = Some(preemptions);
    if std::env::var("LOOM_MAX_BRANCHES").is_err() {
        builder.max_branches = 10_000;
    }
    let max_duration = builder.max_duration;
    if max_duration.is_some() && std::env::var("LOOM_CHECKPOINT_INTERVAL").is_err() {
        // Loom looks at the clock only every `checkpoint_interval` executions (20 000 by
        // default, minutes on a loaded machine): look every 500, so the cap holds.
        builder.checkpoint_interval = 500;
    }

    NOTES.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let executions = StdArc::new(AtomicUsize::new(0));
    let counter = StdArc::clone(&executions);
    let started = Instant::now();
    let cpu_at_start = cpu_seconds();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        builder.check(move || {
            counter.fetch_add(1, SeqCst);
            f();
        })
    }));
    if let Err(panic) = outcome {
        println!(
            "MODEL {name} FAILED in execution {} after {:.2} s (preemptions={preemptions})",
            executions.load(SeqCst),
            started.elapsed().as_secs_f64()
        );
        std::panic::resume_unwind(panic);
    }
    // `LOOM_MAX_DURATION` (seconds) makes loom stop exploring, without failing, once the
    // time is up: say so, since the search was then not exhaustive.
    let elapsed = started.elapsed();
    let capped = match max_duration {
        Some(cap) if elapsed >= cap => format!(" capped={}s", cap.as_secs()),
        _ => String::new(),
    };
    let cpu = match (cpu_seconds(), cpu_at_start) {
        (Some(end), Some(start)) => format!(" cpu={:.2}", end - start),
        _ => String::new(),
    };
    println!(
        "MODEL {name} covers={covers} threads={threads} preemptions={preemptions} \
         executions={} seconds={:.2}{cpu}{capped}",
        executions.load(SeqCst),
        elapsed.as_secs_f64()
    );
    let notes = NOTES.lock().unwrap_or_else(|e| e.into_inner());
    if !notes.is_empty() {
        let list: Vec<String> = notes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  outcomes: {}", list.join(" "));
    }
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat` (Linux; `None`
/// elsewhere). Printed as `cpu=` next to the wall-clock `seconds=`, because on a shared
/// machine the wall time of a model says more about the other load than about the model.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces):
    // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second on
    // Linux, `USER_HZ`).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Outcome counters of the running model (see [`note`]). A plain std static: test
/// binaries run one model at a time (`--test-threads=1`).
static NOTES: StdMutex<BTreeMap<&'static str, usize>> = StdMutex::new(BTreeMap::new());

/// Counts an outcome of one execution (e.g. "lagged", "evicted"); the totals are printed
/// after the model, showing that each interesting branch was reached.
pub fn note(outcome: &'static str) {
    *NOTES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(outcome)
        .or_insert(0) += 1;
}

/// Per-execution bookkeeping of [`Ev`] values. Plain std atomics: loom does not see them,
/// so they add no branch points (loom runs every model thread on one OS thread, so the
/// counts are exact at every point of an execution).
#[derive(Debug, Default)]
pub struct Counts {
    /// Values created: published originals plus every clone.
    made: AtomicUsize,
    /// Values dropped (originals and clones).
    dropped: AtomicUsize,
    /// Originals created (what the publisher handed to the stream).
    published: AtomicUsize,
    /// Originals dropped: by the stream when it recycles or frees a node.
    stored_dropped: AtomicUsize,
    /// The next this many `Clone`s panic (F10), before creating anything.
    panic_clones: AtomicUsize,
}

impl Counts {
    pub fn new() -> StdArc<Counts> {
        StdArc::new(Counts::default())
    }

    /// A new original value with sequence number `seq`, to be published.
    pub fn ev(self: &StdArc<Self>, seq: u64) -> Ev {
        self.made.fetch_add(1, SeqCst);
        self.published.fetch_add(1, SeqCst);
        Ev {
            seq,
            check: !seq,
            original: true,
            counts: StdArc::clone(self),
        }
    }

    /// Makes the next `n` clones of any value of this execution panic with
    /// [`PLANTED_PANIC`] (F10: a panicking `Clone` inside a receive). See
    /// [`silence_planted_panics`].
    pub fn panic_next_clones(&self, n: usize) {
        self.panic_clones.store(n, SeqCst);
    }

    /// Originals the stream still holds (published, not yet dropped by the stream).
    pub fn stored_live(&self) -> usize {
        self.published.load(SeqCst) - self.stored_dropped.load(SeqCst)
    }

    /// Every value ever created was dropped exactly once (a double drop panics in
    /// `Ev::drop` already; this catches leaks). Call after every handle is gone.
    pub fn assert_all_dropped(&self) {
        let made = self.made.load(SeqCst);
        let dropped = self.dropped.load(SeqCst);
        assert_eq!(
            made, dropped,
            "values leaked: made {made}, dropped {dropped}"
        );
        assert_eq!(self.stored_live(), 0, "stream still holds values");
    }
}

/// A stream of [`Ev`] with the given `capacity` and `chunk_len`; the first subscriber has
/// `policy`. Every model builds its stream here, so all of them use the same checked
/// configuration path.
pub fn stream(
    capacity: usize,
    chunk_len: usize,
    policy: LagPolicy,
) -> (Publisher<Ev>, Subscriber<Ev>) {
    Builder::new()
        .capacity(capacity)
        .chunk_len(chunk_len)
        .lag_policy(policy)
        .build::<Ev>()
        .expect("a valid model configuration")
}

/// The event payload. `check` is `!seq` while the value is alive and is poisoned on drop,
/// so reading a value that was dropped (a node freed or recycled under a reader), reading
/// a half-written one, or dropping one twice fails an assertion.
#[derive(Debug)]
pub struct Ev {
    seq: u64,
    check: u64,
    original: bool,
    counts: StdArc<Counts>,
}

const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;

impl Ev {
    /// The sequence number; asserts the value is intact.
    pub fn seq(&self) -> u64 {
        // SAFETY: plain reads of our own fields; volatile so a use after free is not
        // optimized into a cached value.
        let (seq, check) = unsafe {
            (
                ptr::read_volatile(&self.seq),
                ptr::read_volatile(&self.check),
            )
        };
        assert_eq!(
            check, !seq,
            "read a dropped or torn value (seq field {seq:#x})"
        );
        seq
    }
}

impl Clone for Ev {
    fn clone(&self) -> Self {
        let seq = self.seq();
        let planted = self
            .counts
            .panic_clones
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        if planted.is_ok() {
            panic!("{PLANTED_PANIC} (Clone of event {seq})");
        }
        self.counts.made.fetch_add(1, SeqCst);
        Ev {
            seq,
            check: !seq,
            original: false,
            counts: StdArc::clone(&self.counts),
        }
    }
}

impl Drop for Ev {
    fn drop(&mut self) {
        let seq = self.seq();
        // SAFETY: writes to our own fields; volatile so the stores before deallocation are
        // not elided.
        unsafe {
            ptr::write_volatile(&mut self.seq, POISON);
            ptr::write_volatile(&mut self.check, POISON);
        }
        let _ = seq;
        self.counts.dropped.fetch_add(1, SeqCst);
        if self.original {
            self.counts.stored_dropped.fetch_add(1, SeqCst);
        }
    }
}

/// The message of every panic a model plants on purpose (see
/// [`Counts::panic_next_clones`]).
pub const PLANTED_PANIC: &str = "planted panic";

/// Keeps the panic hook quiet about [`PLANTED_PANIC`]s (one per execution would flood the
/// output); every other panic is still reported by the previous hook.
pub fn silence_planted_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.starts_with(PLANTED_PANIC) {
                previous(info);
            }
        }));
    });
}

/// The sequence number of a received value.
pub fn seq(r: Result<Ev, RecvError>) -> Result<u64, RecvError> {
    r.map(|ev| ev.seq())
}

/// The sequence number of a value received without waiting.
pub fn try_seq(r: Result<Ev, TryRecvError>) -> Result<u64, TryRecvError> {
    r.map(|ev| ev.seq())
}

/// What one subscriber observed, checked against the stream's contract as it goes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The sequence number the next value must carry.
    pub next: u64,
    /// Values received.
    pub values: u64,
    /// Sum of every `Lagged(n)`.
    pub lagged: u64,
    /// Number of `Lagged` reports.
    pub lag_reports: u64,
    /// `Evicted` was reported.
    pub evicted: bool,
    /// `Closed` was reported.
    pub closed: bool,
}

impl Tally {
    /// A tally for a cursor whose first value will be `next`.
    pub fn from(next: u64) -> Self {
        Tally {
            next,
            ..Tally::default()
        }
    }

    /// Records one receive result; `false` once the stream is done for this cursor
    /// (`Closed`). Asserts: values in order without gaps except exactly the reported lag;
    /// `Lagged(n)` has `n > 0`; nothing but `Closed` after `Evicted` or `Closed`.
    pub fn observe(&mut self, r: Result<u64, RecvError>) -> bool {
        assert!(!self.closed, "received {r:?} after Closed");
        if self.evicted {
            assert_eq!(r, Err(RecvError::Closed), "after Evicted only Closed");
        }
        match r {
            Ok(v) => {
                assert_eq!(v, self.next, "out of order or lost value: {self:?}");
                self.next += 1;
                self.values += 1;
                true
            }
            Err(RecvError::Lagged(n)) => {
                assert!(n > 0, "Lagged(0)");
                self.next += n;
                self.lagged += n;
                self.lag_reports += 1;
                true
            }
            Err(RecvError::Evicted) => {
                self.evicted = true;
                true
            }
            Err(RecvError::Closed) => {
                self.closed = true;
                false
            }
            Err(other) => panic!("unknown receive error {other:?}"),
        }
    }

    /// Records a non-blocking receive; `Empty` records nothing.
    pub fn observe_try(&mut self, r: Result<u64, TryRecvError>) -> bool {
        match r {
            Err(TryRecvError::Empty) => !self.closed,
            other => self.observe(other.map_err(RecvError::from)),
        }
    }

    /// After `Closed`: every one of `total` events was received or reported as lagged
    /// (unless the cursor was evicted, which loses the rest by design).
    pub fn assert_complete(&self, total: u64) {
        assert!(self.closed, "not closed: {self:?}");
        if !self.evicted {
            assert_eq!(self.next, total, "events lost: {self:?}");
        }
    }

    /// Records this cursor's outcome class with [`note`].
    pub fn note(&self) {
        note(match (self.evicted, self.lag_reports) {
            (true, _) => "evicted",
            (false, 0) => "no_lag",
            (false, 1) => "lagged_once",
            (false, _) => "lagged_more",
        });
    }
}

/// Receives (blocking) until `Closed`, checking every result; returns the tally.
pub fn drain(rx: &mut Subscriber<Ev>, first: u64) -> Tally {
    let mut tally = Tally::from(first);
    while tally.observe(seq(rx.recv())) {}
    tally
}

/// Receives with `recv_async` under `loom::future::block_on` until `Closed`.
pub fn drain_async(rx: &mut Subscriber<Ev>, first: u64) -> Tally {
    let mut tally = Tally::from(first);
    while tally.observe(seq(loom::future::block_on(rx.recv_async()))) {}
    tally
}

/// The global allocator of every loom test binary: the system allocator, except that a
/// freed small block (nodes, slot arrays, entries, payloads) is overwritten with `0xA5` and
/// kept in a quarantine of the last [`QUARANTINE`] frees before it is really freed. A node
/// freed under a reader then neither holds a valid loom object handle nor is reused for
/// the next node (which would make a stale read look plausible), so a use after free
/// panics (loom's object lookup goes out of bounds, or `Ev::seq` fails) instead of
/// silently reading stale or recycled data. This is the "quarantining allocator" of
/// RELIABILITY.md F3.
pub struct PoisonOnFree;

/// Largest block poisoned and quarantined; loom's own large buffers are freed directly.
const POISON_MAX: usize = 1024;
/// Frees delayed before the memory can be reused.
const QUARANTINE: usize = 512;

struct Quarantine {
    slots: [(usize, usize, usize); QUARANTINE],
    next: usize,
}

static QUARANTINED: StdMutex<Quarantine> = StdMutex::new(Quarantine {
    slots: [(0, 0, 0); QUARANTINE],
    next: 0,
});

// SAFETY: forwards to `System`; a block handed to `dealloc` is written (within its size)
// and freed later with its original layout, exactly once.
unsafe impl GlobalAlloc for PoisonOnFree {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() > POISON_MAX {
            // SAFETY: the caller's contract, forwarded.
            return unsafe { System.dealloc(ptr, layout) };
        }
        // SAFETY: `ptr` is a live block of `layout.size()` bytes the caller hands over.
        unsafe { ptr::write_bytes(ptr, 0xA5, layout.size()) };
        // `std::sync::Mutex` does not allocate, so taking it here cannot recurse.
        let mut q = QUARANTINED.lock().unwrap_or_else(|e| e.into_inner());
        let i = q.next;
        q.next = (i + 1) % QUARANTINE;
        let (old, size, align) = std::mem::replace(
            &mut q.slots[i],
            (ptr as usize, layout.size(), layout.align()),
        );
        drop(q);
        if old != 0 {
            // SAFETY: quarantined by an earlier `dealloc` with this layout, freed once.
            unsafe {
                System.dealloc(
                    old as *mut u8,
                    Layout::from_size_align_unchecked(size, align),
                )
            };
        }
    }
}

#[global_allocator]
static ALLOCATOR: PoisonOnFree = PoisonOnFree;
