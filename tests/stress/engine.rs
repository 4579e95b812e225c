//! The multi-threaded stress run shared by `tests/stress.rs` and `examples/soak.rs`
//! (included with `#[path]`).
//!
//! One publisher publishes the sequence numbers `0..events` (every publish flavour: single,
//! batch, `try_publish` retried, `publish_timeout`, `publish_async`). Eight subscriber
//! slots with mixed lag policies read concurrently with every receive flavour; during the
//! run a slot's subscriber leaves (drops) and the slot joins again (the publisher hands it
//! a fresh subscriber), and a slot clones its subscriber onto a new thread that reads for a
//! while. What every reader checks:
//!
//! - `Block`: no event lost, duplicated or reordered: from the position it joined at, it
//!   receives exactly the next sequence number each time, and at `Closed` it has received
//!   everything up to `events`.
//! - `Skip`: every gap equals the `Lagged(n)` reported just before it (`n > 0`, and
//!   `position()` is then exactly past the gap); at `Closed` it has reached `events`.
//! - `Disconnect`: a gap-free prefix, then possibly `Evicted`, then `Closed` on the next
//!   receive; if never evicted it reaches `events`.
//!
//! Slot 0 is a `Block` witness that never leaves: it must receive all of `0..events`.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use tailcast::{
    Builder, LagPolicy, Publisher, RecvError, RecvTimeoutError, Subscriber, TryRecvError,
};

/// The policies of the eight slots (slot 0 is the witness).
pub const SLOTS: [LagPolicy; 8] = [
    LagPolicy::Block,
    LagPolicy::Block,
    LagPolicy::Skip,
    LagPolicy::Disconnect,
    LagPolicy::Skip,
    LagPolicy::Block,
    LagPolicy::Disconnect,
    LagPolicy::Skip,
];

/// One run's settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub events: u64,
    pub capacity: usize,
    pub chunk_len: usize,
    pub seed: u64,
}

/// What a run checked (all counters summed over every reader).
#[derive(Debug, Default)]
pub struct Counters {
    pub published: AtomicU64,
    pub received: AtomicU64,
    pub lagged_reports: AtomicU64,
    pub lagged_events: AtomicU64,
    pub evictions: AtomicU64,
    pub joins: AtomicU64,
    pub leaves: AtomicU64,
    pub clones: AtomicU64,
    pub full_retries: AtomicU64,
    pub witness_received: AtomicU64,
}

/// A plain copy of [`Counters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub published: u64,
    pub received: u64,
    pub lagged_reports: u64,
    pub lagged_events: u64,
    pub evictions: u64,
    pub joins: u64,
    pub leaves: u64,
    pub clones: u64,
    pub full_retries: u64,
    pub witness_received: u64,
}

impl Report {
    pub fn add(&mut self, o: &Report) {
        self.published += o.published;
        self.received += o.received;
        self.lagged_reports += o.lagged_reports;
        self.lagged_events += o.lagged_events;
        self.evictions += o.evictions;
        self.joins += o.joins;
        self.leaves += o.leaves;
        self.clones += o.clones;
        self.full_retries += o.full_retries;
        self.witness_received += o.witness_received;
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "published {} | received {} (witness {}) | lagged {} times, {} events skipped | \
             evicted {} | joins {} | leaves {} | clones {} | Full retries {}",
            self.published,
            self.received,
            self.witness_received,
            self.lagged_reports,
            self.lagged_events,
            self.evictions,
            self.joins,
            self.leaves,
            self.clones,
            self.full_retries
        )
    }
}

/// Adds to a statistic.
fn bump(field: &AtomicU64, n: u64) {
    // Relaxed: statistics, read after every thread was joined.
    field.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    fn report(&self) -> Report {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Report {
            published: r(&self.published),
            received: r(&self.received),
            lagged_reports: r(&self.lagged_reports),
            lagged_events: r(&self.lagged_events),
            evictions: r(&self.evictions),
            joins: r(&self.joins),
            leaves: r(&self.leaves),
            clones: r(&self.clones),
            full_retries: r(&self.full_retries),
            witness_received: r(&self.witness_received),
        }
    }
}

/// A xorshift64* generator for the threads' choices (the schedule is not deterministic,
/// the choices given a schedule are).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Runs a future to completion on this thread (parks until woken).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// A request from a slot for a fresh subscriber.
struct Join {
    policy: LagPolicy,
    reply: mpsc::SyncSender<Subscriber<u64>>,
}

/// How one stretch of reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Closed,
    Evicted,
    /// Read as many events as asked; the subscriber is still attached.
    Paused,
}

/// Events received by one receive: `len` consecutive sequence numbers from `first`.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: u64,
    len: u64,
}

impl Run {
    fn one(v: u64) -> Self {
        Self { first: v, len: 1 }
    }
}

fn from_try(e: TryRecvError) -> Option<RecvError> {
    (!e.is_empty()).then(|| RecvError::from(e))
}

/// One receive, with a flavour picked at random.
fn receive(rx: &mut Subscriber<u64>, rng: &mut Rng) -> Result<Run, RecvError> {
    match rng.below(16) {
        0..=5 => rx.recv().map(Run::one),
        6 | 7 => rx.recv_ref().map(|r| Run::one(*r)),
        8 | 9 => {
            let max = 1 + rng.below(40) as usize;
            rx.recv_batch(max).map(|b| {
                assert!(
                    !b.is_empty() && b.len() <= max,
                    "batch of {} (max {max})",
                    b.len()
                );
                for (k, v) in b.iter().enumerate() {
                    assert_eq!(*v, b[0] + k as u64, "a batch is not consecutive: {b:?}");
                }
                Run {
                    first: b[0],
                    len: b.len() as u64,
                }
            })
        }
        10 => loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(v) => return Ok(Run::one(v)),
                // No timing assertion: a loaded machine may time out; try again.
                Err(RecvTimeoutError::Timeout) => continue,
                Err(e) => return Err(RecvError::from(e)),
            }
        },
        11 => block_on(rx.recv_async()).map(Run::one),
        12 | 13 => loop {
            match rx.try_recv() {
                Ok(v) => return Ok(Run::one(v)),
                Err(e) => match from_try(e) {
                    Some(e) => return Err(e),
                    None => thread::yield_now(),
                },
            }
        },
        14 => loop {
            // Zero-copy without waiting; a batch of everything available.
            match rx.try_recv_batch(usize::MAX) {
                Ok(b) => {
                    return Ok(Run {
                        first: b[0],
                        len: b.len() as u64,
                    })
                }
                Err(e) => match from_try(e) {
                    Some(e) => return Err(e),
                    None => thread::yield_now(),
                },
            }
        },
        _ => {
            // A borrow held across a yield (the publisher may lap a lossy cursor
            // meanwhile): the value stays intact.
            let r = rx.recv_ref()?;
            let v = *r;
            thread::yield_now();
            assert_eq!(*r, v, "a held Ref changed");
            Ok(Run::one(v))
        }
    }
}

/// One subscriber's reader: what it must receive next, and what it saw.
struct Reader {
    name: String,
    policy: LagPolicy,
    next: u64,
    events: u64,
    received: u64,
    lagged_reports: u64,
    lagged_events: u64,
}

impl Reader {
    fn new(name: String, rx: &Subscriber<u64>, events: u64) -> Self {
        Self {
            name,
            policy: rx.lag_policy(),
            next: rx.position(),
            events,
            received: 0,
            lagged_reports: 0,
            lagged_events: 0,
        }
    }

    /// Reads until `Closed`, eviction, or `limit` receives; checks every observation
    /// against the policy's guarantee.
    fn run(&mut self, rx: &mut Subscriber<u64>, rng: &mut Rng, limit: Option<u64>) -> End {
        let mut receives = 0u64;
        loop {
            if limit.is_some_and(|n| receives >= n) {
                return End::Paused;
            }
            receives += 1;
            // Lossy readers sometimes stall, so that the publisher laps them.
            if self.policy != LagPolicy::Block && rng.below(1_000) == 0 {
                for _ in 0..rng.below(100) {
                    thread::yield_now();
                }
            }
            match receive(rx, rng) {
                Ok(run) => {
                    assert_eq!(
                        run.first, self.next,
                        "{}: got {}, expected {} (lost, duplicated or reordered)",
                        self.name, run.first, self.next
                    );
                    self.next += run.len;
                    self.received += run.len;
                    assert_eq!(rx.position(), self.next, "{}: position", self.name);
                }
                Err(RecvError::Lagged(n)) => {
                    assert_eq!(self.policy, LagPolicy::Skip, "{}: Lagged({n})", self.name);
                    assert!(n > 0, "{}: Lagged(0)", self.name);
                    // The next event received must be exactly past the gap.
                    self.next += n;
                    assert_eq!(rx.position(), self.next, "{}: Lagged({n})", self.name);
                    assert!(
                        self.next <= self.events,
                        "{}: lagged past the end",
                        self.name
                    );
                    self.lagged_reports += 1;
                    self.lagged_events += n;
                }
                Err(RecvError::Evicted) => {
                    assert_eq!(self.policy, LagPolicy::Disconnect, "{}: Evicted", self.name);
                    // Then only `Closed`, whatever the flavour.
                    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "{}", self.name);
                    assert_eq!(rx.recv(), Err(RecvError::Closed), "{}", self.name);
                    let again = rx.recv_ref().map(|r| *r);
                    assert_eq!(again, Err(RecvError::Closed), "{}", self.name);
                    return End::Evicted;
                }
                Err(RecvError::Closed) => {
                    assert_eq!(
                        self.next, self.events,
                        "{}: Closed before the last event",
                        self.name
                    );
                    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "{}", self.name);
                    return End::Closed;
                }
                Err(other) => panic!("{}: unknown error {other:?}", self.name),
            }
        }
    }

    fn report_to(&self, counters: &Counters) {
        bump(&counters.received, self.received);
        bump(&counters.lagged_reports, self.lagged_reports);
        bump(&counters.lagged_events, self.lagged_events);
    }
}

/// Runs one stress round; a violation panics in its thread and is re-raised here.
pub fn run(settings: Settings) -> Report {
    let Settings {
        events,
        capacity,
        chunk_len,
        seed,
    } = settings;
    let (mut tx, first) = Builder::new()
        .capacity(capacity)
        .chunk_len(chunk_len)
        .build::<u64>()
        .expect("valid stress configuration");
    let counters = Counters::default();
    let (join_tx, join_rx) = mpsc::channel::<Join>();
    // A slot pauses after 1..stretch receives (at least 80 times per run, more when it
    // receives batches or skips); a quarter of the pauses clone, a quarter leave and
    // join again.
    let stretch = (events / 40).max(4);

    thread::scope(|s| {
        let mut handles = Vec::new();
        let mut first = Some(first);
        for (slot, &policy) in SLOTS.iter().enumerate() {
            let rx = first.take().unwrap_or_else(|| tx.subscribe_with(policy));
            let joins = join_tx.clone();
            let counters = &counters;
            let ctx = Slot {
                slot,
                policy,
                joins,
                counters,
                events,
                stretch,
                seed,
            };
            handles.push(s.spawn(move || ctx.run(s, rx)));
        }
        drop(join_tx);

        publisher(&mut tx, &join_rx, &counters, events, seed);
        drop(tx);
        // Join requests from now on get no subscriber: their reply channels close.
        drop(join_rx);
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });

    let report = counters.report();
    assert_eq!(report.published, events);
    assert_eq!(report.witness_received, events, "the witness lost events");
    report
}

/// The publisher: every publish flavour, serving join requests between events.
fn publisher(
    tx: &mut Publisher<u64>,
    joins: &mpsc::Receiver<Join>,
    counters: &Counters,
    events: u64,
    seed: u64,
) {
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut seq = 0u64;
    let mut full_retries = 0;
    while seq < events {
        while let Ok(Join { policy, reply }) = joins.try_recv() {
            // The slot may have given up meanwhile; then the subscriber is dropped.
            let _ = reply.send(tx.subscribe_with(policy));
            bump(&counters.joins, 1);
        }
        let k = match rng.below(16) {
            0..=7 => {
                tx.publish(seq);
                1
            }
            8..=10 => {
                let k = (1 + rng.below(100)).min(events - seq);
                tx.publish_batch(seq..seq + k);
                k
            }
            11 | 12 => {
                let mut v = seq;
                while let Err(full) = tx.try_publish(v) {
                    v = full.into_inner();
                    full_retries += 1;
                    thread::yield_now();
                }
                1
            }
            13 | 14 => {
                let mut v = seq;
                while let Err(full) = tx.publish_timeout(v, Duration::from_millis(20)) {
                    v = full.into_inner();
                    full_retries += 1;
                }
                1
            }
            _ => {
                block_on(tx.publish_async(seq));
                1
            }
        };
        seq += k;
        assert_eq!(tx.published(), seq);
    }
    bump(&counters.full_retries, full_retries);
    bump(&counters.published, seq);
}

/// One subscriber slot: a succession of subscribers ("lives") with the slot's policy.
struct Slot<'a> {
    slot: usize,
    policy: LagPolicy,
    joins: mpsc::Sender<Join>,
    counters: &'a Counters,
    events: u64,
    stretch: u64,
    seed: u64,
}

impl<'a> Slot<'a> {
    fn run<'scope>(self, s: &'scope thread::Scope<'scope, '_>, mut rx: Subscriber<u64>)
    where
        'a: 'scope,
    {
        let Slot {
            slot,
            policy,
            counters,
            events,
            stretch,
            ..
        } = self;
        let mut rng = Rng::new(self.seed ^ ((slot as u64 + 1) << 20));
        let witness = slot == 0;
        let mut twin: Option<thread::ScopedJoinHandle<'scope, ()>> = None;
        let mut life = 0;
        loop {
            life += 1;
            let name = format!("slot {slot} ({policy:?}) life {life}");
            let mut reader = Reader::new(name, &rx, events);
            assert_eq!(reader.policy, policy);
            // Read in stretches; after each, maybe clone, maybe leave.
            let end = loop {
                let limit = 1 + rng.below(stretch);
                let end = reader.run(&mut rx, &mut rng, Some(limit));
                if end != End::Paused {
                    break end;
                }
                // At most one clone reader per slot at a time; never wait for one here
                // (a Block clone waiting for events could wait for this very slot).
                if rng.below(4) == 0 && twin.as_ref().is_none_or(|h| h.is_finished()) {
                    if let Some(h) = twin.take() {
                        h.join().expect("clone reader");
                    }
                    twin = Some(spawn_clone(
                        s,
                        &rx,
                        &reader.name,
                        counters,
                        (events, stretch),
                        &mut rng,
                    ));
                }
                if !witness && rng.below(4) == 0 {
                    break End::Paused;
                }
            };
            reader.report_to(counters);
            if witness {
                assert_eq!(end, End::Closed, "the witness never leaves");
                assert_eq!(reader.received, events, "the witness received everything");
                bump(&counters.witness_received, reader.received);
            }
            match end {
                End::Closed => break,
                End::Evicted => bump(&counters.evictions, 1),
                End::Paused => bump(&counters.leaves, 1),
            }
            // Leave (or, evicted, come back): drop, then ask the publisher for a new one.
            drop(rx);
            let (reply, fresh) = mpsc::sync_channel(1);
            if self.joins.send(Join { policy, reply }).is_err() {
                break;
            }
            match fresh.recv() {
                Ok(next) => rx = next,
                // The publisher is done: nothing to join.
                Err(_) => break,
            }
        }
        if let Some(h) = twin {
            h.join().expect("clone reader");
        }
    }
}

/// A clone of `rx`, read on its own thread from the same position, for a while or to the
/// end, with the same checks.
fn spawn_clone<'scope>(
    s: &'scope thread::Scope<'scope, '_>,
    rx: &Subscriber<u64>,
    name: &str,
    counters: &'scope Counters,
    (events, stretch): (u64, u64),
    rng: &mut Rng,
) -> thread::ScopedJoinHandle<'scope, ()> {
    let mut twin = rx.clone();
    let name = format!("clone of {name}");
    assert_eq!(twin.position(), rx.position(), "{name}: position");
    assert_eq!(twin.lag_policy(), rx.lag_policy(), "{name}: policy");
    bump(&counters.clones, 1);
    let mut rng = Rng::new(rng.below(u64::MAX));
    // Mostly a while; sometimes to the end (then no further clone of this slot).
    let limit = (rng.below(8) != 0).then(|| 1 + rng.below(2 * stretch));
    s.spawn(move || {
        let mut reader = Reader::new(name, &twin, events);
        if reader.run(&mut twin, &mut rng, limit) == End::Evicted {
            bump(&counters.evictions, 1);
        }
        reader.report_to(counters);
        drop(twin);
    })
}
