//! The reference model of a stream and a harness that applies one operation sequence to
//! `tailcast` and to the model, comparing every observation after every step.
//!
//! Shared by `tests/model_props.rs` (proptest) and `fuzz/` (both cargo-fuzz targets), which
//! include this file with `#[path]`; it depends on `tailcast` and `std` only. It lives
//! under `tests/` (not a test target: cargo only builds `tests/*.rs`) rather than under
//! `fuzz/`, because `fuzz/` has its own `Cargo.toml` and is left out of the crate's package.
//!
//! # The rules the model encodes (crate docs, `LagPolicy`, `tests/lag.rs`)
//!
//! A cursor's position `p` is the next sequence number it receives; every receive moves it
//! at once (a borrowing receive too, before its `Ref`/`Batch` is dropped). Its *node
//! start* `s` is the first sequence number of the node it reads (it moves to the next node
//! when the cursor passes the end of its node: at once in the cloning receives, when the
//! `Ref`/`Batch` is dropped for the borrowing ones); after a forced move it is the lag
//! target. Capacity is counted exactly from `e = max(p, s)`. When the publisher writes
//! event `t`:
//!
//! - a `Block` cursor with `t - e >= capacity` makes the write wait (`try_publish`: `Full`),
//!   and then nobody is lagged or evicted;
//! - otherwise a `Skip` cursor with `t - e >= capacity` moves to the node starting at
//!   `ceil((t + 1 - capacity) / chunk_len) * chunk_len`, and its next receive reports
//!   `Lagged(new_s - position)` (if positive), then continues from `new_s`;
//! - a `Disconnect` cursor with `t - e >= capacity` is evicted: its next receive returns
//!   `Evicted`, every later one `Closed`.
//!
//! Everything is single-threaded and deterministic: no operation of the harness can block
//! (blocking receives and publishes are only issued when the model says they return at
//! once; futures are polled once with a no-op waker).
#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::future::Future;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tailcast::{
    Batch, Builder, Full, LagPolicy, Publisher, RecvTimeoutError, Ref, Subscriber, TryRecvError,
    MAX_CAPACITY, MAX_CHUNK_LEN,
};

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// The documented default chunk length: `capacity / 4`, at least `min(capacity, 8)`, at
/// most 64.
pub fn default_chunk_len(capacity: usize) -> usize {
    (capacity / 4).max(capacity.min(8)).clamp(1, 64)
}

/// What `Builder::build` must return for these settings: the `(capacity, chunk_len)` in
/// force, or the rejected field, value and the exact `Display` of the error.
pub fn expected_config(
    capacity: usize,
    chunk_len: Option<usize>,
) -> Result<(u64, u64), (&'static str, usize, String)> {
    if !(1..=MAX_CAPACITY).contains(&capacity) {
        let msg = format!("invalid capacity: {capacity} (allowed: 1..={MAX_CAPACITY})");
        return Err(("capacity", capacity, msg));
    }
    let max_chunk = capacity.min(MAX_CHUNK_LEN);
    match chunk_len {
        None => Ok((capacity as u64, default_chunk_len(capacity) as u64)),
        Some(n) if (1..=max_chunk).contains(&n) => Ok((capacity as u64, n as u64)),
        Some(n) => {
            let msg =
                format!("invalid chunk_len: {n} (allowed: 1..={max_chunk}, at most capacity)");
            Err(("chunk_len", n, msg))
        }
    }
}

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

/// One cursor of the model.
#[derive(Debug, Clone)]
pub struct ModelSub {
    pub policy: LagPolicy,
    /// Next sequence number to receive.
    pub p: u64,
    /// Start of the node the publisher sees this cursor on.
    pub s: u64,
    /// Moved by the publisher, not yet reported.
    pub lagged: bool,
    /// Evicted by the publisher, not yet reported.
    pub evicted: bool,
    /// Reported `Evicted`: every receive is `Closed`.
    pub detached: bool,
}

/// The whole stream, as the documented rules describe it.
#[derive(Debug, Clone)]
pub struct Model {
    pub cap: u64,
    pub len: u64,
    pub published: u64,
    pub closed: bool,
    pub subs: Vec<ModelSub>,
}

impl Model {
    pub fn new(cap: u64, len: u64) -> Self {
        Self {
            cap,
            len,
            published: 0,
            closed: false,
            subs: Vec::new(),
        }
    }

    /// A new cursor at the tail: it starts at the next event, on the tail node.
    pub fn subscribe(&mut self, policy: LagPolicy) {
        self.subs.push(ModelSub {
            policy,
            p: self.published,
            s: self.published - self.published % self.len,
            lagged: false,
            evicted: false,
            detached: false,
        });
    }

    /// How many events can be written now before a `Block` cursor makes a write wait
    /// (`u64::MAX` without `Block` cursors). Exact for a whole run of writes: only the
    /// cursors move `Block` positions.
    pub fn room(&self) -> u64 {
        self.subs
            .iter()
            .filter(|m| m.policy == LagPolicy::Block)
            .map(|m| (m.p.max(m.s) + self.cap).saturating_sub(self.published))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Writes the next event if there is room; returns whether it was written.
    pub fn publish(&mut self) -> bool {
        if self.room() == 0 {
            return false;
        }
        let t = self.published;
        let (cap, len) = (self.cap, self.len);
        for m in &mut self.subs {
            if m.evicted || m.detached || t - m.p.max(m.s) < cap {
                continue;
            }
            match m.policy {
                LagPolicy::Block => unreachable!("excluded by `room`"),
                LagPolicy::Skip => {
                    m.s = (t + 1 - cap).div_ceil(len) * len;
                    m.lagged = true;
                }
                LagPolicy::Disconnect => m.evicted = true,
                other => unreachable!("no model for {other:?}"),
            }
        }
        self.published += 1;
        true
    }

    /// The first half of every receive: reports a pending eviction or lag, moves past a
    /// finished node, and tells whether event `p` is readable (`Ok(p)`).
    pub fn poll(&mut self, i: usize) -> Result<u64, TryRecvError> {
        let (len, published, closed) = (self.len, self.published, self.closed);
        let m = &mut self.subs[i];
        if m.detached {
            return Err(TryRecvError::Closed);
        }
        if m.evicted {
            m.detached = true;
            return Err(TryRecvError::Evicted);
        }
        if m.lagged {
            m.lagged = false;
            let missed = m.s - m.p;
            m.p = m.s;
            if missed > 0 {
                return Err(TryRecvError::Lagged(missed));
            }
        }
        if m.p == m.s + len {
            m.s += len;
        }
        if m.p < published {
            Ok(m.p)
        } else if closed {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// After a successful `poll`: consumes up to `max >= 1` events of the current node.
    pub fn consume(&mut self, i: usize, max: u64) -> Range<u64> {
        let (len, published) = (self.len, self.published);
        let m = &mut self.subs[i];
        let end = published.min(m.s + len).min(m.p.saturating_add(max));
        let taken = m.p..end;
        m.p = end;
        taken
    }

    /// The end of a receive (at once for the cloning receives, when the `Ref`/`Batch` is
    /// dropped for the borrowing ones): a cursor that took the last event of its node moves
    /// on, unless the publisher moved or evicted it meanwhile.
    pub fn finish(&mut self, i: usize) {
        let len = self.len;
        let m = &mut self.subs[i];
        if !m.detached && !m.lagged && !m.evicted && m.p == m.s + len {
            m.s = m.p;
        }
    }

    /// One whole receive of up to `max >= 1` events, finished at once.
    pub fn recv(&mut self, i: usize, max: u64) -> Result<Range<u64>, TryRecvError> {
        let got = self.poll(i).map(|_| self.consume(i, max));
        if got.is_ok() {
            self.finish(i);
        }
        got
    }

    /// Subscribers neither dropped nor evicted.
    pub fn attached(&self) -> usize {
        self.subs
            .iter()
            .filter(|m| !m.evicted && !m.detached)
            .count()
    }
}

// ---------------------------------------------------------------------------------------
// The payload: counts drops, can panic in `Clone`
// ---------------------------------------------------------------------------------------

/// The payload of a planned panic (a `Clone` or an iterator), told apart from real
/// failures by [`install_quiet_panic_hook`].
#[derive(Debug)]
pub struct PlantedPanic;

/// Lets planted panics unwind silently; every other panic goes to the previous hook
/// (under libFuzzer that hook aborts, which must not happen for a planted one).
pub fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<PlantedPanic>() {
                previous(info);
            }
        }));
    });
}

#[derive(Debug, Default)]
struct Ledger {
    /// Ids of the payloads alive now (originals and clones).
    live: HashSet<u64>,
    next_id: u64,
    clone_calls: u64,
    /// The `clone_calls` value whose call panics (0: none).
    panic_at: u64,
    /// Drops of an id that was not alive: a double drop.
    double_drops: u64,
}

/// The bookkeeping of one run's payloads.
#[derive(Debug, Default)]
pub struct Tracker(Mutex<Ledger>);

impl Tracker {
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A planted panic never happens under the lock, but stay usable regardless.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn make(self: &Arc<Self>, seq: u64) -> Ev {
        let mut l = self.ledger();
        let id = l.next_id;
        l.next_id += 1;
        l.live.insert(id);
        Ev {
            seq,
            id,
            tracker: Arc::clone(self),
        }
    }

    /// The `n`-th `clone` from now (1-based) panics; 0 disarms.
    pub fn panic_on_nth_clone(&self, n: u64) {
        let mut l = self.ledger();
        l.panic_at = if n == 0 { 0 } else { l.clone_calls + n };
    }

    pub fn is_live(&self, id: u64) -> bool {
        self.ledger().live.contains(&id)
    }

    pub fn live(&self) -> usize {
        self.ledger().live.len()
    }

    /// Every payload ever made was dropped exactly once.
    pub fn assert_all_dropped_once(&self) {
        let l = self.ledger();
        assert_eq!(l.double_drops, 0, "payloads dropped twice");
        let mut leaked: Vec<_> = l.live.iter().copied().collect();
        leaked.sort_unstable();
        leaked.truncate(16);
        assert!(
            l.live.is_empty(),
            "{} payloads never dropped (ids {leaked:?}...)",
            l.live.len()
        );
    }
}

/// An event: its sequence number, a unique id per instance (clones get fresh ids).
#[derive(Debug)]
pub struct Ev {
    pub seq: u64,
    pub id: u64,
    tracker: Arc<Tracker>,
}

impl Clone for Ev {
    fn clone(&self) -> Self {
        let planted = {
            let mut l = self.tracker.ledger();
            l.clone_calls += 1;
            l.clone_calls == l.panic_at
        };
        if planted {
            std::panic::panic_any(PlantedPanic);
        }
        self.tracker.make(self.seq)
    }
}

impl Drop for Ev {
    fn drop(&mut self) {
        let mut l = self.tracker.ledger();
        if !l.live.remove(&self.id) {
            l.double_drops += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------

/// A receive flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvKind {
    TryRecv,
    TryRecvRef,
    TryRecvBatch(usize),
    /// `recv`; `recv_timeout(0)` when the model says it would wait.
    Recv,
    /// `recv_timeout(0)`.
    RecvTimeout,
    /// `recv_async`, polled once with a no-op waker.
    RecvAsync,
    /// `recv_ref`; `try_recv_ref` when the model says it would wait.
    RecvRef,
    /// `recv_batch`; `try_recv_batch` when the model says it would wait.
    RecvBatch(usize),
}

/// How the receive in a [`Op::PanicClone`] is made (only the cloning receives clone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneRecv {
    TryRecv,
    Recv,
    RecvTimeout,
    RecvAsync,
}

/// One step. Subscriber indices are taken modulo the number of live subscribers; counts
/// are clamped by the harness (blocking publishes to the model's room).
#[derive(Debug, Clone)]
pub enum Op {
    /// `publish` up to `n` events while there is room, then one `try_publish` (`Full`).
    Publish(u32),
    /// `try_publish` `n` events (`Full` exactly when the model has no room).
    TryPublish(u32),
    /// `publish_timeout(_, 0)` `n` events.
    PublishTimeout(u32),
    /// `publish_batch` of up to `n` events (as many as there is room for).
    PublishBatch(u32),
    /// `publish_batch` of an iterator that yields up to `n` events, then panics.
    PublishBatchPanic(u32),
    /// `publish_async`, polled once: `Pending` (value dropped unpublished) when full.
    PublishAsync(u32),
    Subscribe,
    SubscribeWith(LagPolicy),
    Clone(usize),
    Drop(usize),
    /// `times` receives of one flavour by one subscriber.
    Recv {
        sub: usize,
        kind: RecvKind,
        times: u32,
    },
    /// Borrow with `try_recv_ref` (`batch == 0`) or `try_recv_batch(batch)`, and while
    /// the borrow lives: `try_publish` `publish` events, optionally subscribe, optionally
    /// let another subscriber receive once; then check the borrowed values and drop it.
    Hold {
        sub: usize,
        batch: usize,
        publish: u32,
        join: Option<LagPolicy>,
        other: Option<usize>,
    },
    /// The `nth` clone from now panics: up to `nth` receives with `kind`, under
    /// `catch_unwind`; the event whose clone panicked must be delivered by the next receive.
    PanicClone {
        sub: usize,
        nth: u32,
        kind: CloneRecv,
    },
    DropPublisher,
}

/// What a run observed (for reports and coverage).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub steps: u64,
    pub published: u64,
    pub received: u64,
    pub full: u64,
    pub lagged_reports: u64,
    pub lagged_events: u64,
    pub evictions: u64,
    pub closed: u64,
    pub planted_panics: u64,
    pub holds: u64,
    /// Borrows of a node's last event during which the publisher moved or evicted the
    /// cursor.
    pub moved_while_holding_last: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.steps += o.steps;
        self.published += o.published;
        self.received += o.received;
        self.full += o.full;
        self.lagged_reports += o.lagged_reports;
        self.lagged_events += o.lagged_events;
        self.evictions += o.evictions;
        self.closed += o.closed;
        self.planted_panics += o.planted_panics;
        self.holds += o.holds;
        self.moved_while_holding_last += o.moved_while_holding_last;
    }
}

/// The largest run of events one publishing operation may ask for.
pub const MAX_RUN: u32 = 4096;

// ---------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------

/// The largest number of live subscribers the harness keeps.
const MAX_SUBS: usize = 8;

/// A stream, its model and the payload ledger.
pub struct Harness {
    model: Model,
    tx: Option<Publisher<Ev>>,
    subs: Vec<Subscriber<Ev>>,
    tracker: Arc<Tracker>,
    /// The stream's policy (the builder's), given to `subscribe`.
    default_policy: LagPolicy,
    /// Only `Block` subscribers ever: the documented memory bound applies exactly.
    block_only: bool,
    step: usize,
    /// The operation being applied (`None`: building or finishing).
    op: Option<Op>,
    pub stats: Stats,
}

/// The context of an assertion.
#[derive(Debug, Clone)]
struct Ctx {
    cap: u64,
    len: u64,
    step: usize,
    op: Option<Op>,
}

impl std::fmt::Display for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cap {} chunk_len {} step {} op {:?}",
            self.cap, self.len, self.step, self.op
        )
    }
}

/// A receive result in one shape for every flavour: the sequence numbers received, or why
/// none (`Empty` also stands for a timeout or a pending future).
type Got = Result<Vec<u64>, TryRecvError>;

fn timeout_err(e: RecvTimeoutError) -> TryRecvError {
    match e {
        RecvTimeoutError::Timeout => TryRecvError::Empty,
        RecvTimeoutError::Closed => TryRecvError::Closed,
        RecvTimeoutError::Lagged(n) => TryRecvError::Lagged(n),
        RecvTimeoutError::Evicted => TryRecvError::Evicted,
        other => unreachable!("unknown error {other:?}"),
    }
}

fn noop_waker() -> Waker {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    Waker::from(Arc::new(Noop))
}

/// Polls a future once.
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    fut.as_mut().poll(&mut cx)
}

fn count_err(stats: &mut Stats, e: &TryRecvError) {
    match e {
        TryRecvError::Lagged(n) => {
            stats.lagged_reports += 1;
            stats.lagged_events += n;
        }
        TryRecvError::Evicted => stats.evictions += 1,
        TryRecvError::Closed => stats.closed += 1,
        TryRecvError::Empty => {}
        other => unreachable!("unknown error {other:?}"),
    }
}

fn seqs(values: &[Ev]) -> Vec<u64> {
    values.iter().map(|e| e.seq).collect()
}

/// A live borrow from a subscriber.
enum Borrow<'a> {
    One(Ref<'a, Ev>),
    Many(Batch<'a, Ev>),
}

impl Borrow<'_> {
    fn values(&self) -> Vec<(u64, u64)> {
        match self {
            Borrow::One(r) => vec![(r.seq, r.id)],
            Borrow::Many(b) => b.iter().map(|e| (e.seq, e.id)).collect(),
        }
    }
}

impl Harness {
    /// Builds the stream; `None` (after checking the exact error) if the settings are
    /// invalid.
    pub fn new(capacity: usize, chunk_len: Option<usize>, policy: LagPolicy) -> Option<Self> {
        install_quiet_panic_hook();
        let mut builder = Builder::new().capacity(capacity).lag_policy(policy);
        if let Some(n) = chunk_len {
            builder = builder.chunk_len(n);
        }
        let built = builder.build::<Ev>();
        match (expected_config(capacity, chunk_len), built) {
            (Ok((cap, len)), Ok((tx, rx))) => {
                let mut model = Model::new(cap, len);
                model.subscribe(policy);
                assert_eq!(rx.lag_policy(), policy);
                assert_eq!(tx.subscriber_count(), 1);
                assert_eq!(tx.published(), 0);
                Some(Self {
                    model,
                    tx: Some(tx),
                    subs: vec![rx],
                    tracker: Arc::default(),
                    default_policy: policy,
                    block_only: policy == LagPolicy::Block,
                    step: 0,
                    op: None,
                    stats: Stats::default(),
                })
            }
            (Err((field, value, msg)), Err(e)) => {
                assert_eq!((e.field(), e.value()), (field, value), "{msg}");
                assert_eq!(e.to_string(), msg);
                None
            }
            (want, got) => panic!(
                "capacity {capacity} chunk_len {chunk_len:?}: expected {want:?}, build gave {:?}",
                got.map(|_| ())
            ),
        }
    }

    /// Runs `ops`, then closes, drains and drops everything, checking drops.
    pub fn run(
        capacity: usize,
        chunk_len: Option<usize>,
        policy: LagPolicy,
        ops: &[Op],
    ) -> Option<Stats> {
        let mut h = Self::new(capacity, chunk_len, policy)?;
        for op in ops {
            h.apply(op);
        }
        Some(h.finish())
    }

    /// Where a failure happened; formatted only when an assertion fails.
    fn ctx(&self) -> Ctx {
        Ctx {
            cap: self.model.cap,
            len: self.model.len,
            step: self.step,
            op: self.op.clone(),
        }
    }

    fn sub_index(&self, i: usize) -> Option<usize> {
        (!self.subs.is_empty()).then(|| i % self.subs.len())
    }

    /// Applies one operation to both sides, then compares the observable state.
    pub fn apply(&mut self, op: &Op) {
        self.step += 1;
        self.stats.steps += 1;
        self.op = Some(op.clone());
        match *op {
            Op::Publish(n) => self.publish(n),
            Op::TryPublish(n) => self.try_publish(n, false),
            Op::PublishTimeout(n) => self.try_publish(n, true),
            Op::PublishBatch(n) => self.publish_batch(n, false),
            Op::PublishBatchPanic(n) => self.publish_batch(n, true),
            Op::PublishAsync(n) => self.publish_async(n),
            Op::Subscribe => self.subscribe(None),
            Op::SubscribeWith(p) => self.subscribe(Some(p)),
            Op::Clone(i) => {
                if let Some(i) = self.sub_index(i).filter(|_| self.subs.len() < MAX_SUBS) {
                    let twin = self.subs[i].clone();
                    self.subs.push(twin);
                    let m = self.model.subs[i].clone();
                    self.model.subs.push(m);
                }
            }
            Op::Drop(i) => {
                if let Some(i) = self.sub_index(i) {
                    drop(self.subs.swap_remove(i));
                    self.model.subs.swap_remove(i);
                }
            }
            Op::Recv { sub, kind, times } => {
                if let Some(i) = self.sub_index(sub) {
                    for _ in 0..times {
                        self.recv(i, kind);
                    }
                }
            }
            Op::Hold {
                sub,
                batch,
                publish,
                join,
                other,
            } => {
                if let Some(i) = self.sub_index(sub) {
                    self.hold(i, batch, publish, join, other);
                }
            }
            Op::PanicClone { sub, nth, kind } => {
                if let Some(i) = self.sub_index(sub) {
                    self.panic_clone(i, nth, kind);
                }
            }
            Op::DropPublisher => {
                if let Some(tx) = self.tx.take() {
                    tx.close();
                    self.model.closed = true;
                }
            }
        }
        self.check_state();
    }

    /// Compares counts and cursors, and the documented memory bound when it applies.
    fn check_state(&self) {
        let ctx = self.ctx();
        if let Some(tx) = &self.tx {
            assert_eq!(tx.published(), self.model.published, "published: {ctx}");
            assert_eq!(
                tx.subscriber_count(),
                self.model.attached(),
                "subscriber_count: {ctx}"
            );
        }
        assert_eq!(self.subs.len(), self.model.subs.len());
        for (i, (rx, m)) in self.subs.iter().zip(&self.model.subs).enumerate() {
            assert_eq!(rx.position(), m.p, "position of sub {i}: {ctx}");
            assert_eq!(rx.lag_policy(), m.policy, "policy of sub {i}: {ctx}");
        }
        if self.block_only {
            // Crate docs, "Memory": at most capacity / chunk_len + 2 nodes for the
            // attached cursors (the pool holds no values). Nothing is borrowed now.
            let (cap, len) = (self.model.cap, self.model.len);
            let bound = (cap / len + 2) * len;
            let live = self.tracker.live() as u64;
            assert!(live <= bound, "{live} payloads alive, bound {bound}: {ctx}");
        }
    }

    fn count_err(&mut self, e: &TryRecvError) {
        count_err(&mut self.stats, e);
    }

    fn next_event(&self) -> Ev {
        self.tracker.make(self.model.published)
    }

    fn publish(&mut self, n: u32) {
        if self.tx.is_none() {
            return;
        }
        let n = u64::from(n.min(MAX_RUN));
        let fits = n.min(self.model.room());
        for _ in 0..fits {
            let ev = self.next_event();
            self.tx.as_mut().unwrap().publish(ev);
            assert!(self.model.publish());
            self.stats.published += 1;
        }
        if fits < n {
            // The next `publish` would wait: `try_publish` must say so.
            self.try_publish(1, false);
        }
    }

    fn try_publish(&mut self, n: u32, timeout: bool) {
        for _ in 0..n.min(MAX_RUN) {
            let Some(tx) = self.tx.as_mut() else { return };
            let ev = self.tracker.make(self.model.published);
            let id = ev.id;
            let got = if timeout {
                tx.publish_timeout(ev, Duration::ZERO)
            } else {
                tx.try_publish(ev)
            };
            let room = self.model.publish();
            match got {
                Ok(()) => assert!(room, "published without room: {}", self.ctx()),
                Err(Full(ev)) => {
                    assert!(!room, "Full with room: {}", self.ctx());
                    assert_eq!((ev.seq, ev.id), (self.model.published, id));
                    self.stats.full += 1;
                }
            }
            self.stats.published += u64::from(room);
        }
    }

    fn publish_batch(&mut self, n: u32, panics: bool) {
        if self.tx.is_none() {
            return;
        }
        let fits = u64::from(n.min(MAX_RUN)).min(self.model.room());
        let tracker = Arc::clone(&self.tracker);
        let first = self.model.published;
        let values = (first..first + fits).map(move |seq| tracker.make(seq));
        let tx = self.tx.as_mut().unwrap();
        if panics {
            let values = values.chain(std::iter::from_fn(|| -> Option<Ev> {
                std::panic::panic_any(PlantedPanic)
            }));
            let caught = catch_unwind(AssertUnwindSafe(|| tx.publish_batch(values)));
            assert!(caught.is_err(), "the iterator panics: {}", self.ctx());
            self.stats.planted_panics += 1;
        } else {
            tx.publish_batch(values);
        }
        for _ in 0..fits {
            assert!(self.model.publish());
        }
        self.stats.published += fits;
    }

    fn publish_async(&mut self, n: u32) {
        for _ in 0..n.min(MAX_RUN) {
            let ev = self.next_event();
            let Some(tx) = self.tx.as_mut() else { return };
            let ready = poll_once(tx.publish_async(ev)).is_ready();
            let room = self.model.publish();
            assert_eq!(ready, room, "publish_async ready iff room: {}", self.ctx());
            self.stats.published += u64::from(room);
            self.stats.full += u64::from(!room);
        }
    }

    fn subscribe(&mut self, policy: Option<LagPolicy>) {
        let Some(tx) = self.tx.as_ref() else { return };
        if self.subs.len() >= MAX_SUBS {
            return;
        }
        let (rx, policy) = match policy {
            Some(p) => (tx.subscribe_with(p), p),
            // The stream's policy is the first subscriber's (the builder's).
            None => (tx.subscribe(), self.default_policy),
        };
        self.block_only &= policy == LagPolicy::Block;
        self.subs.push(rx);
        self.model.subscribe(policy);
    }

    /// One receive of flavour `kind` by subscriber `i`, compared with the model.
    fn recv(&mut self, i: usize, kind: RecvKind) {
        let max = match kind {
            RecvKind::TryRecvBatch(m) | RecvKind::RecvBatch(m) => m,
            _ => 1,
        };
        let rx = &mut self.subs[i];
        if max == 0 {
            // An empty batch at once, whatever the state; nothing moves.
            let empty = match kind {
                RecvKind::RecvBatch(_) => matches!(rx.recv_batch(0), Ok(b) if b.is_empty()),
                _ => matches!(rx.try_recv_batch(0), Ok(b) if b.is_empty()),
            };
            assert!(empty, "batch of 0: {}", self.ctx());
            return;
        }
        let want: Got = self
            .model
            .recv(i, max as u64)
            .map(|r| r.collect::<Vec<_>>());
        let waits = want == Err(TryRecvError::Empty);
        let got: Got = match kind {
            RecvKind::TryRecv => rx.try_recv().map(|e| vec![e.seq]),
            RecvKind::TryRecvRef => rx.try_recv_ref().map(|r| vec![r.seq]),
            RecvKind::TryRecvBatch(m) => rx.try_recv_batch(m).map(|b| seqs(&b)),
            RecvKind::Recv if !waits => rx.recv().map(|e| vec![e.seq]).map_err(Into::into),
            RecvKind::Recv | RecvKind::RecvTimeout => rx
                .recv_timeout(Duration::ZERO)
                .map(|e| vec![e.seq])
                .map_err(timeout_err),
            RecvKind::RecvAsync => match poll_once(rx.recv_async()) {
                Poll::Ready(r) => r.map(|e| vec![e.seq]).map_err(Into::into),
                Poll::Pending => Err(TryRecvError::Empty),
            },
            RecvKind::RecvRef if !waits => rx.recv_ref().map(|r| vec![r.seq]).map_err(Into::into),
            RecvKind::RecvRef => rx.try_recv_ref().map(|r| vec![r.seq]),
            RecvKind::RecvBatch(m) if !waits => {
                rx.recv_batch(m).map(|b| seqs(&b)).map_err(Into::into)
            }
            RecvKind::RecvBatch(m) => rx.try_recv_batch(m).map(|b| seqs(&b)),
        };
        assert_eq!(got, want, "sub {i} {kind:?}: {}", self.ctx());
        match &got {
            Ok(v) => self.stats.received += v.len() as u64,
            Err(e) => self.count_err(e),
        }
    }

    /// A borrow held across publishes, a join and another subscriber's receive.
    fn hold(
        &mut self,
        i: usize,
        batch: usize,
        publish: u32,
        join: Option<LagPolicy>,
        other: Option<usize>,
    ) {
        let max = if batch == 0 { 1 } else { batch as u64 };
        let want = self.model.poll(i).map(|_| self.model.consume(i, max));
        let ctx = self.ctx();
        let Harness {
            model,
            tx,
            subs,
            tracker,
            stats,
            block_only,
            ..
        } = self;
        // The other subscriber (if any, and not `i`) is borrowed alongside `i`.
        let other = other.map(|j| j % subs.len()).filter(|&j| j != i);
        let joined = {
            let (rx, mut rx2) = match other {
                Some(j) if j < i => {
                    let (a, b) = subs.split_at_mut(i);
                    (&mut b[0], Some((j, &mut a[j])))
                }
                Some(j) => {
                    let (a, b) = subs.split_at_mut(j);
                    (&mut a[i], Some((j, &mut b[0])))
                }
                None => (&mut subs[i], None),
            };
            let borrow = if batch == 0 {
                rx.try_recv_ref().map(Borrow::One)
            } else {
                rx.try_recv_batch(batch).map(Borrow::Many)
            };
            let got: Got = borrow
                .as_ref()
                .map(|b| b.values().iter().map(|v| v.0).collect())
                .map_err(|e| *e);
            let want: Got = want.map(|r| r.collect());
            assert_eq!(got, want, "hold sub {i} batch {batch}: {ctx}");
            let borrow = match borrow {
                Ok(borrow) => borrow,
                Err(e) => {
                    count_err(stats, &e);
                    return;
                }
            };
            stats.holds += 1;
            let held = borrow.values();
            let at_end = model.subs[i].p == model.subs[i].s + model.len;
            let mut joined = None;
            if let Some(tx) = tx.as_mut() {
                for _ in 0..publish.min(MAX_RUN) {
                    let ev = tracker.make(model.published);
                    let room = model.publish();
                    match tx.try_publish(ev) {
                        Ok(()) => assert!(room, "published without room, holding: {ctx}"),
                        Err(Full(_)) => assert!(!room, "Full with room, holding: {ctx}"),
                    }
                    stats.published += u64::from(room);
                }
                if let Some(policy) = join.filter(|_| model.subs.len() < MAX_SUBS) {
                    joined = Some(tx.subscribe_with(policy));
                    *block_only &= policy == LagPolicy::Block;
                    model.subscribe(policy);
                }
                assert_eq!(tx.subscriber_count(), model.attached(), "holding: {ctx}");
            }
            if let Some((j, rx2)) = rx2.as_mut() {
                let want: Got = model.recv(*j, 1).map(|r| r.collect());
                let got: Got = rx2.try_recv().map(|e| vec![e.seq]);
                assert_eq!(got, want, "sub {j} while sub {i} holds: {ctx}");
            }
            // The borrowed values are intact and alive, whatever happened meanwhile.
            assert_eq!(borrow.values(), held, "held values changed: {ctx}");
            for (_, id) in &held {
                assert!(tracker.is_live(*id), "held value {id} was dropped: {ctx}");
            }
            drop(borrow);
            let m = &model.subs[i];
            if at_end && (m.lagged || m.evicted) {
                stats.moved_while_holding_last += 1;
            }
            model.finish(i);
            stats.received += held.len() as u64;
            joined
        };
        if let Some(rx) = joined {
            subs.push(rx);
        }
    }

    /// Up to `nth` receives, the `nth` clone panicking; the event must be redelivered.
    fn panic_clone(&mut self, i: usize, nth: u32, kind: CloneRecv) {
        self.tracker.panic_on_nth_clone(u64::from(nth.max(1)));
        let mut clones = 0;
        for _ in 0..nth.max(1) {
            let polled = self.model.poll(i);
            let ctx = self.ctx();
            let rx = &mut self.subs[i];
            let Ok(seq) = polled else {
                // No clone happens: the error as the model says.
                let e = polled.unwrap_err();
                let got = match kind {
                    CloneRecv::RecvAsync => match poll_once(rx.recv_async()) {
                        Poll::Ready(r) => r.map(|_| ()).map_err(Into::into),
                        Poll::Pending => Err(TryRecvError::Empty),
                    },
                    CloneRecv::Recv | CloneRecv::RecvTimeout => rx
                        .recv_timeout(Duration::ZERO)
                        .map(|_| ())
                        .map_err(timeout_err),
                    CloneRecv::TryRecv => rx.try_recv().map(|_| ()),
                };
                assert_eq!(got, Err(e), "panic_clone sub {i}: {ctx}");
                self.count_err(&e);
                break;
            };
            clones += 1;
            let result = catch_unwind(AssertUnwindSafe(|| match kind {
                CloneRecv::TryRecv => rx.try_recv().map_err(|_| ()),
                CloneRecv::Recv => rx.recv().map_err(|_| ()),
                CloneRecv::RecvTimeout => rx.recv_timeout(Duration::ZERO).map_err(|_| ()),
                CloneRecv::RecvAsync => match poll_once(rx.recv_async()) {
                    Poll::Ready(r) => r.map_err(|_| ()),
                    Poll::Pending => Err(()),
                },
            }));
            if clones == nth.max(1) {
                assert!(result.is_err(), "the clone of {seq} panics: {ctx}");
                self.stats.planted_panics += 1;
                // Nothing consumed: the next receive delivers `seq` again.
                assert_eq!(rx.position(), seq, "after the panic: {ctx}");
            } else {
                let got = result.expect("no planted panic yet").map(|e| e.seq);
                assert_eq!(got, Ok(seq), "panic_clone sub {i}: {ctx}");
                self.model.consume(i, 1);
                self.model.finish(i);
                self.stats.received += 1;
            }
        }
        self.tracker.panic_on_nth_clone(0);
    }

    /// Closes, drains every subscriber to `Closed` as the model says, drops everything and
    /// checks that every payload was dropped exactly once.
    pub fn finish(mut self) -> Stats {
        self.step += 1;
        self.op = None;
        if let Some(tx) = self.tx.take() {
            drop(tx);
            self.model.closed = true;
        }
        for i in 0..self.subs.len() {
            loop {
                let want: Got = self.model.recv(i, 1).map(|r| r.collect());
                let got: Got = self.subs[i].try_recv().map(|e| vec![e.seq]);
                assert_eq!(got, want, "drain sub {i}: {}", self.ctx());
                if want == Err(TryRecvError::Closed) {
                    break;
                }
            }
            assert_eq!(
                self.subs[i].try_recv().map(|_| ()),
                Err(TryRecvError::Closed)
            );
        }
        self.check_state();
        self.subs.clear();
        self.tracker.assert_all_dropped_once();
        self.stats
    }
}
