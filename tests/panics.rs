//! F10 (RELIABILITY.md §3): a payload whose `Drop` panics. (A panicking `Clone` is covered
//! in `tests/drops.rs`.) Values are dropped by the stream in three places: when the
//! publisher recycles or frees a node every cursor passed, when a node a lagging cursor
//! was moved off is freed through the epoch collector, and when the last handle goes.
//! In each, the panic reaches the caller that triggered it (`publish`, or the drop of the
//! last handle); afterwards the stream keeps working (every event still delivered, in
//! order), no value is dropped twice, every value the panic did not interrupt is dropped
//! exactly once, and no memory stays allocated once every handle is gone. The values after
//! the panicking one in its node are leaked, not dropped (documented in ARCHITECTURE.md:
//! "a panicking `Drop` leaks the rest rather than dropping anything twice"); the payload
//! here owns no heap memory, so a leaked value costs nothing once its node is freed.
// Under panic = "abort" (ci/panic-abort.sh) the tests that need unwinding are gated off.
#![cfg_attr(panic = "abort", allow(dead_code, unused_imports))]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use common::{serial, stream, track_this_thread, tracked_live};
use tailcast::{LagPolicy, TryRecvError};

#[global_allocator]
static ALLOCATOR: common::TrackingAlloc = common::TrackingAlloc;

const IDS: usize = 256;

/// Drops of each original value, by id.
static DROPS: [AtomicU32; IDS] = [const { AtomicU32::new(0) }; IDS];
/// `id + 1` of the original whose drop panics (once); 0: none.
static ARMED: AtomicU64 = AtomicU64::new(0);

/// A payload whose original (not its clones) panics when dropped if armed.
#[derive(Debug)]
struct Bomb {
    id: u64,
    original: bool,
}

impl Bomb {
    fn new(id: u64) -> Self {
        assert!((id as usize) < IDS);
        Self { id, original: true }
    }
}

impl Clone for Bomb {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            original: false,
        }
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if !self.original {
            return;
        }
        DROPS[self.id as usize].fetch_add(1, Ordering::SeqCst);
        if ARMED
            .compare_exchange(self.id + 1, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            panic!("Bomb::drop: planned panic (id {})", self.id);
        }
    }
}

fn reset(armed: Option<u64>) {
    for d in &DROPS {
        d.store(0, Ordering::SeqCst);
    }
    ARMED.store(armed.map_or(0, |id| id + 1), Ordering::SeqCst);
}

fn drops(id: u64) -> u32 {
    DROPS[id as usize].load(Ordering::SeqCst)
}

/// Runs `f`; `true` if it panicked with the planned drop panic (any other panic fails).
fn planned_panic(f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .map(String::as_str)
                .unwrap_or_default();
            assert!(msg.contains("planned panic"), "unexpected panic: {msg}");
            true
        }
    }
}

/// Checks the drop counts once every handle is gone: the ids in `leaked` (the values after
/// the panicking one in its node) were never dropped, every other id below `published`
/// exactly once, nothing else ever.
fn assert_drops(published: u64, leaked: &[u64], ctx: &str) {
    for id in 0..IDS as u64 {
        let expected = u32::from(id < published && !leaked.contains(&id));
        assert_eq!(drops(id), expected, "{ctx}: id {id}");
    }
    assert_eq!(
        ARMED.load(Ordering::SeqCst),
        0,
        "{ctx}: the bomb never went off"
    );
}

/// Warms up lazily allocated per-process state (see `tests/stalled.rs`), and silences the
/// planned panics: the default hook would capture a backtrace (`RUST_BACKTRACE`), whose
/// symbol caches stay allocated and would count as this test's memory.
fn warm_up() {
    common::silence_panics_containing("planned panic");
    reset(None);
    let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
    let mut lossy = tx.subscribe_with(LagPolicy::Skip);
    for i in 0..16 {
        tx.publish(Bomb::new(i));
        let _ = rx.try_recv();
    }
    let _ = lossy.try_recv();
}

#[test]
#[cfg(panic = "unwind")] // catch_unwind around the panicking Drop
fn panicking_drop_when_the_publisher_recycles_a_node() {
    let _serial = serial();
    let _track = track_this_thread();
    warm_up();
    let (cap, len) = (4usize, 2u64);
    let n = if cfg!(miri) { 16 } else { 40 };
    // The panicking value at each slot of a node; under miri (a panic costs seconds) one.
    let targets: &[u64] = if cfg!(miri) { &[6] } else { &[6, 7, 9, 10] };
    for &x in targets {
        let ctx = format!("panic in drop of {x}");
        reset(Some(x));
        let base = tracked_live();
        let (mut tx, mut rx) = stream(cap, len as usize, LagPolicy::Block);
        let mut got = Vec::new();
        let mut panics = 0;
        for i in 0..n {
            if planned_panic(|| tx.publish(Bomb::new(i))) {
                panics += 1;
                // Here the event was written before the recycling that panicked.
                assert_eq!(tx.published(), i + 1, "{ctx}");
            }
            match rx.try_recv() {
                Ok(v) => got.push(v.id),
                Err(e) => panic!("{ctx}: event {i}: {e:?}"),
            }
        }
        assert_eq!(panics, 1, "{ctx}");
        assert_eq!(
            got,
            (0..n).collect::<Vec<_>>(),
            "{ctx}: every event, in order"
        );
        // No lock poisoned: joining and leaving still work, and so does the stream.
        let mut late = tx.subscribe();
        assert_eq!(tx.subscriber_count(), 2);
        tx.publish(Bomb::new(n));
        assert_eq!(late.try_recv().map(|v| v.id), Ok(n));
        assert_eq!(rx.try_recv().map(|v| v.id), Ok(n));
        drop((tx, rx, late, got));
        let after = tracked_live();
        // The rest of the panicking value's node is leaked, not dropped.
        let leaked: Vec<u64> = (x + 1..(x / len + 1) * len).collect();
        assert_drops(n + 1, &leaked, &ctx);
        assert_eq!(after, base, "{ctx}: bytes left after drop");
    }
}

#[test]
#[cfg(panic = "unwind")] // catch_unwind around the panicking Drop
fn panicking_drop_when_the_last_handle_goes() {
    let _serial = serial();
    let _track = track_this_thread();
    warm_up();
    let len = 3u64;
    let n = 10u64;
    // The publisher or the subscriber is the last handle; the panicking value is at the
    // start, middle or end of a node; the subscriber has read `read` events first. The
    // nodes it passed are freed with the stream (a panic there leaks the rest of that
    // node); from its node on, the subscriber drops the unread values in place as it
    // leaves, one slot at a time, and the node's free drops the rest: nothing leaks.
    let cases: &[(bool, u64, u64)] = if cfg!(miri) {
        &[(true, 4, 0), (false, 1, 6)]
    } else {
        &[
            (true, 0, 0),
            (true, 4, 0),
            (true, 5, 0),
            (false, 4, 0),
            (false, 9, 0),
            (true, 1, 6),
            (false, 4, 6),
            (true, 7, 6),
        ]
    };
    for &(subscriber_last, x, read) in cases {
        let ctx = format!("panic in drop of {x}, subscriber last {subscriber_last}, read {read}");
        reset(Some(x));
        let base = tracked_live();
        let (mut tx, mut rx) = stream(16, len as usize, LagPolicy::Block);
        for i in 0..n {
            tx.publish(Bomb::new(i));
        }
        for _ in 0..read {
            drop(rx.recv().unwrap());
        }
        let panicked = planned_panic(move || {
            if subscriber_last {
                drop(tx);
                drop(rx);
            } else {
                drop(rx);
                drop(tx);
            }
        });
        assert!(panicked, "{ctx}");
        let after = tracked_live();
        let passed = read / len * len;
        let leaked: Vec<u64> = if x < passed {
            (x + 1..((x / len + 1) * len).min(n)).collect()
        } else {
            Vec::new()
        };
        assert_drops(n, &leaked, &ctx);
        assert_eq!(after, base, "{ctx}: bytes left after drop");
    }
}

#[test]
#[cfg(panic = "unwind")] // catch_unwind around the panicking Drop
fn panicking_drop_of_a_node_freed_through_the_epoch() {
    // A Skip subscriber that never reads is moved off its node again and again; those
    // nodes are freed through the stream's epoch collector, from inside a later `publish`.
    let _serial = serial();
    let _track = track_this_thread();
    warm_up();
    let (cap, len) = (4usize, 2u64);
    let n = if cfg!(miri) { 24 } else { 60 };
    let x = 9;
    let ctx = format!("panic in drop of {x} (deferred)");
    reset(Some(x));
    let base = tracked_live();
    let (mut tx, mut reader) = stream(cap, len as usize, LagPolicy::Block);
    let mut lossy = tx.subscribe_with(LagPolicy::Skip);
    let mut got = Vec::new();
    let mut written = Vec::new();
    let mut panics = 0;
    for i in 0..n {
        if planned_panic(|| tx.publish(Bomb::new(i))) {
            panics += 1;
        }
        // The contract: a panic from an older value's `Drop` comes after the write, so the
        // event is published whether or not `publish` panicked.
        assert_eq!(tx.published(), i + 1, "{ctx}: event {i} not published");
        written.push(i);
        if let Ok(v) = reader.try_recv() {
            got.push(v.id);
        }
        if i == 5 {
            // Once lagged, the lossy cursor reads once, so it is on a node of its own
            // choosing (pinned reads), then stalls again.
            assert!(matches!(lossy.try_recv(), Err(TryRecvError::Lagged(_))));
        }
    }
    assert_eq!(panics, 1, "{ctx}");
    assert_eq!(got, written, "{ctx}: every event written, in order");
    assert!(written.len() as u64 >= n - 1, "{ctx}: {written:?}");
    // The lossy cursor still works: it lags, then reads the newest events in order.
    assert!(
        matches!(lossy.try_recv(), Err(TryRecvError::Lagged(_))),
        "{ctx}"
    );
    let first = lossy.try_recv().map(|v| v.id).unwrap();
    let rest: Vec<u64> = std::iter::from_fn(|| lossy.try_recv().ok().map(|v| v.id)).collect();
    assert_eq!(rest, (first + 1..n).collect::<Vec<_>>(), "{ctx}");
    assert_eq!(tx.published(), written.len() as u64, "{ctx}");
    drop((tx, reader, lossy, got, written, rest));
    let after = tracked_live();
    let leaked: Vec<u64> = (x + 1..(x / len + 1) * len).collect();
    assert_drops(n, &leaked, &ctx);
    assert_eq!(after, base, "{ctx}: bytes left after drop");
}

/// A payload whose originals panic when dropped (clones do not).
#[derive(Debug)]
struct Grenade(bool);

impl Clone for Grenade {
    fn clone(&self) -> Self {
        Grenade(false)
    }
}

impl Drop for Grenade {
    fn drop(&mut self) {
        if self.0 && !std::thread::panicking() {
            panic!("planned panic: grenade");
        }
    }
}

/// The panic contract (see `Publisher`): a panic from an older payload's `Drop` comes out
/// of the publishing call *after* its event was published, and never out of a receive.
/// A lossy reader on its own thread receives (and pins) constantly while the publisher,
/// lagging it again and again, retires nodes through the epoch with panicking payloads in
/// them: every panic surfaces in a publish (or the publisher's drop), none in `try_recv`,
/// and every publish, panicking or not, published its event.
#[test]
#[cfg(panic = "unwind")]
fn drop_panics_surface_in_publish_after_the_write_never_in_a_receive() {
    let _serial = serial();
    common::silence_panics_containing("planned panic");
    let n: u64 = if cfg!(miri) { 300 } else { 20_000 };
    let mut tx = tailcast::Builder::new()
        .capacity(4)
        .chunk_len(2)
        .build_publisher::<Grenade>()
        .unwrap();
    let mut lossy = tx.subscribe_with(LagPolicy::Skip);
    let reader = std::thread::spawn(move || {
        let mut panics = 0u64;
        loop {
            match catch_unwind(AssertUnwindSafe(|| lossy.try_recv())) {
                Err(_) => panics += 1,
                // The stream's last handle may be this one: dropped by the test, which
                // expects the panics of the final free.
                Ok(Err(TryRecvError::Closed)) => return (panics, lossy),
                Ok(_) => {}
            }
        }
    });
    let mut publish_panics = 0u64;
    for i in 0..n {
        if planned_grenade(|| tx.publish(Grenade(i % 5 == 0))) {
            publish_panics += 1;
        }
        assert_eq!(tx.published(), i + 1, "event {i} not published");
    }
    let close_panicked = planned_grenade(move || drop(tx));
    let (receive_panics, lossy) = reader.join().unwrap();
    let last_panicked = planned_grenade(move || drop(lossy));
    assert_eq!(
        receive_panics, 0,
        "a receive surfaced another value's Drop panic"
    );
    assert!(
        publish_panics > 0 || close_panicked || last_panicked,
        "no planted panic went off at all (the test exercised nothing)"
    );
}

/// Like `planned_panic`, for the grenade's message.
fn planned_grenade(f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(e) => {
            let msg = e.downcast_ref::<&str>().copied().unwrap_or_default();
            assert_eq!(msg, "planned panic: grenade", "unexpected panic");
            true
        }
    }
}
