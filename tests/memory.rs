//! Memory, measured with a counting global allocator (this binary's own): bounded by the
//! cap whatever the stream's length, with a stalled `Block` or `Skip` subscriber; an
//! evicted `Disconnect` subscriber's nodes freed; nothing of the stream left once every
//! handle is gone; no allocation per event in steady state.
//!
//! The allocator counts per thread, and every scenario runs on the test's own thread
//! (`try_publish` instead of blocking), so tests running in parallel do not disturb each
//! other's numbers.
//!
//! These run under miri too (each stream owns its epoch collector, so the collector's own
//! allocations are the stream's and are counted).

mod common;
use common::stream;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::scaled;
use tailcast::{Full, LagPolicy, Publisher, Subscriber, TryRecvError};

// ---------------------------------------------------------------------------------------
// The counting allocator
// ---------------------------------------------------------------------------------------

/// Per-thread allocation statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stats {
    /// Bytes allocated minus bytes freed by this thread.
    live: isize,
    /// Allocations (including reallocations) made by this thread.
    allocs: u64,
    /// Those of at least [`BIG`] bytes (a byte chunk's buffer).
    big: u64,
}

/// The size from which an allocation counts as `big`: a tee's 64 KiB read buffer.
const BIG: usize = 64 << 10;

thread_local! {
    static STATS: Cell<Stats> = const { Cell::new(Stats { live: 0, allocs: 0, big: 0 }) };
}

struct Counting;

fn record(delta: isize, alloc: Option<usize>) {
    // `try_with`: the thread-local may already be gone while the thread exits.
    let _ = STATS.try_with(|s| {
        let mut v = s.get();
        v.live += delta;
        v.allocs += u64::from(alloc.is_some());
        v.big += u64::from(alloc.is_some_and(|size| size >= BIG));
        s.set(v);
    });
}

// SAFETY: defers every operation to `System`; the bookkeeping allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            record(layout.size() as isize, Some(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            record(layout.size() as isize, Some(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        record(-(layout.size() as isize), None);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record(new_size as isize - layout.size() as isize, Some(new_size));
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn stats() -> Stats {
    STATS.with(Cell::get)
}

fn live() -> isize {
    stats().live
}

/// Runs one throw-away stream through every path used below, so that lazily allocated,
/// never freed per-thread state of the dependencies (arc-swap's debt node) exists before
/// a baseline is taken.
fn warm_up() {
    common::exercise_every_policy();
}

// ---------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------

/// A payload with no heap part, large enough that nodes dominate the stream's memory.
type Payload = [u64; 16];

fn payload(i: u64) -> Payload {
    [i; 16]
}

/// Generous per-node bookkeeping on top of the slots (the node header is well under this).
const NODE_OVERHEAD: usize = 256;
/// Epoch bookkeeping allowance: sealed bags of deferred frees waiting in the collector's
/// queue (a bag is ~2 KiB), and the event-listener and registry allocations.
const FIXED_SLACK: usize = 16 * 1024;

/// The documented bound in bytes, beyond the stream's fixed part:
/// `capacity / chunk_len + 2` retained and pooled nodes, plus 2 to spare, plus `extra_nodes` (cursor
/// positions, deferred nodes).
fn node_bound(cap: usize, len: usize, extra_nodes: usize) -> isize {
    let node = len * std::mem::size_of::<Payload>() + NODE_OVERHEAD;
    ((cap / len + 2 + 2 + extra_nodes) * node + FIXED_SLACK) as isize
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn stalled_block_subscriber_bounds_memory() {
    warm_up();
    for (cap, len) in [(8usize, 2usize), (64, 8), (256, 64), (1, 1)] {
        let base = live();
        let (mut tx, stalled) = stream::<Payload>(cap, len, LagPolicy::Block);
        let mut reader = tx.subscribe();
        let empty = live() - base;
        let bound = empty + node_bound(cap, len, 0);
        let mut max = 0;
        let n = scaled(2 * cap as u64, 20_000);
        let mut i = 0;
        while i < n {
            match tx.try_publish(payload(i)) {
                Ok(()) => i += 1,
                Err(Full(_)) => break,
            }
            let _ = reader.try_recv();
            max = max.max(live() - base);
        }
        // Full exactly at the cap: the stalled subscriber never moved.
        assert_eq!(tx.published(), cap as u64, "cap {cap} chunk_len {len}");
        // Retrying while full allocates nothing.
        let before = live();
        for j in 0..10 {
            assert!(tx.try_publish(payload(j)).is_err());
        }
        assert_eq!(live(), before);
        assert!(
            max <= bound,
            "cap {cap} chunk_len {len}: {max} bytes live, bound {bound}"
        );
        drop((tx, stalled, reader));
        assert_eq!(
            live(),
            base,
            "cap {cap} chunk_len {len}: bytes left after drop"
        );
    }
}

#[test]
fn slow_block_subscriber_memory_independent_of_length() {
    // The subscriber reads in bursts, always close to the cap behind: memory stays under
    // the same bound over the whole run, however long.
    warm_up();
    let (cap, len) = (32usize, 4usize);
    let n = scaled(8 * cap as u64, 100_000);
    let base = live();
    let (mut tx, mut rx) = stream::<Payload>(cap, len, LagPolicy::Block);
    let empty = live() - base;
    let bound = empty + node_bound(cap, len, 0);
    let (mut max_first, mut max_rest) = (0, 0);
    let mut next = 0;
    let mut expected = 0;
    while next < n {
        while next < n && tx.try_publish(payload(next)).is_ok() {
            next += 1;
        }
        let m = live() - base;
        if next < n / 2 {
            max_first = m.max(max_first);
        } else {
            max_rest = m.max(max_rest);
        }
        for _ in 0..cap / 2 {
            match rx.try_recv() {
                Ok(v) => {
                    assert_eq!(v[0], expected);
                    expected += 1;
                }
                Err(TryRecvError::Empty) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    assert!(max_rest <= bound, "{max_rest} bytes live, bound {bound}");
    assert!(
        max_rest <= max_first,
        "memory grew with the stream's length: {max_first} then {max_rest}"
    );
    drop((tx, rx));
    assert_eq!(live(), base);
}

#[test]
fn stalled_skip_subscriber_bounds_memory() {
    warm_up();
    let n = scaled(64, 100_000);
    let configs: &[(usize, usize)] = if cfg!(miri) {
        &[(8, 2)]
    } else {
        &[(8, 2), (64, 8), (4, 4), (1, 1)]
    };
    for &(cap, len) in configs {
        for with_reader in [false, true] {
            let ctx = format!("cap {cap} chunk_len {len} reader {with_reader}");
            let base = live();
            let (mut tx, mut stalled) = stream::<Payload>(cap, len, LagPolicy::Skip);
            let mut reader = with_reader.then(|| tx.subscribe_with(LagPolicy::Block));
            let empty = live() - base;
            // A stalled, lagged cursor holds one node beyond the retained window, and a
            // node it was moved off may wait for the epoch.
            let bound = empty + node_bound(cap, len, 4);
            let (mut max_first, mut max_rest) = (0, 0);
            for i in 0..n {
                assert_eq!(tx.try_publish(payload(i)), Ok(()), "Skip never blocks");
                if let Some(r) = reader.as_mut() {
                    assert_eq!(r.try_recv().map(|v| v[0]), Ok(i));
                }
                let m = live() - base;
                if i < n / 2 {
                    max_first = m.max(max_first);
                } else {
                    max_rest = m.max(max_rest);
                }
            }
            assert!(
                max_rest <= bound,
                "{ctx}: {max_rest} bytes live, bound {bound}"
            );
            assert!(
                max_rest <= max_first,
                "{ctx}: memory grew with the stream's length: {max_first} then {max_rest}"
            );
            // The stalled subscriber then reads the newest events.
            match stalled.try_recv() {
                Err(TryRecvError::Lagged(k)) => assert!(k >= n - cap as u64, "{ctx}: {k}"),
                other => panic!("{ctx}: {other:?}"),
            }
            let got = stalled.try_recv().map(|v| v[0]);
            assert_eq!(got, Ok(stalled.position() - 1), "{ctx}");
            drop((tx, stalled, reader.take()));
            assert_eq!(live(), base, "{ctx}: bytes left after drop");
        }
    }
}

#[test]
fn evicted_subscriber_nodes_are_freed() {
    warm_up();
    // Nodes large enough that the freed ones outweigh the collector's bookkeeping.
    for (cap, len) in [(128usize, 8usize), (128, 4), (256, 16)] {
        let base = live();
        let (mut tx, mut reader) = stream::<Payload>(cap, len, LagPolicy::Block);
        let mut evicted = tx.subscribe_with(LagPolicy::Disconnect);
        let empty = live() - base;
        // Fill to just below the eviction point: the Disconnect cursor holds every node.
        for i in 0..cap as u64 {
            tx.publish(payload(i));
            assert_eq!(reader.try_recv().map(|v| v[0]), Ok(i));
        }
        assert_eq!(tx.subscriber_count(), 2);
        let held = live() - base;
        let node = (len * std::mem::size_of::<Payload>()) as isize;
        assert!(
            held >= empty + (cap / len - 1) as isize * node,
            "cap {cap} chunk_len {len}: the laggard should hold its nodes ({held} bytes)"
        );
        // One more event evicts it; the nodes only it held are freed at once.
        tx.publish(payload(cap as u64));
        assert_eq!(tx.subscriber_count(), 1);
        let after = live() - base;
        // What stays: the reader's node, the tail and the linked node, a pool of 2.
        let bound = empty + (4 * (node as usize + NODE_OVERHEAD) + FIXED_SLACK / 4) as isize;
        assert!(
            bound < held,
            "test too small to tell: bound {bound}, held {held}"
        );
        assert!(
            after <= bound,
            "cap {cap} chunk_len {len}: {after} bytes live after eviction (held {held}, bound {bound})"
        );
        assert_eq!(evicted.try_recv(), Err(TryRecvError::Evicted));
        drop((tx, reader, evicted));
        assert_eq!(live(), base);
    }
}

#[test]
fn dropped_laggard_nodes_are_freed() {
    warm_up();
    let (cap, len) = (64usize, 8usize);
    let base = live();
    let (mut tx, mut reader) = stream::<Payload>(cap, len, LagPolicy::Block);
    let laggard = tx.subscribe();
    let empty = live() - base;
    for i in 0..cap as u64 {
        tx.publish(payload(i));
        assert_eq!(reader.try_recv().map(|v| v[0]), Ok(i));
    }
    assert_eq!(tx.try_publish(payload(0)), Err(Full(payload(0))));
    let held = live() - base;
    drop(laggard);
    // The publisher reclaims on its next publish.
    tx.publish(payload(cap as u64));
    let after = live() - base;
    let node = len * std::mem::size_of::<Payload>() + NODE_OVERHEAD;
    let bound = empty + (4 * node + FIXED_SLACK) as isize;
    assert!(
        after <= bound && after < held,
        "{after} bytes (held {held}, bound {bound})"
    );
    drop((tx, reader));
    assert_eq!(live(), base);
}

#[test]
fn nothing_left_after_all_handles_drop() {
    warm_up();
    // Scenarios: (policy of extra subscribers, events, who drops first).
    for policy in [LagPolicy::Block, LagPolicy::Skip, LagPolicy::Disconnect] {
        for publisher_first in [true, false] {
            let counts: &[u64] = if cfg!(miri) { &[13] } else { &[0, 1, 7, 40] };
            for &events in counts {
                let base = live();
                let (mut tx, mut rx) = stream::<Box<u64>>(8, 2, LagPolicy::Skip);
                let mut a = tx.subscribe_with(policy);
                let b = a.clone();
                for i in 0..events {
                    let _ = tx.try_publish(Box::new(i));
                    if i % 3 == 0 {
                        let _ = a.try_recv();
                    }
                }
                let _ = rx.try_recv();
                let c = rx.clone();
                if publisher_first {
                    drop(tx);
                    drop((rx, a, b, c));
                } else {
                    drop((rx, a, b, c));
                    drop(tx);
                }
                assert_eq!(
                    live(),
                    base,
                    "{policy:?} publisher_first {publisher_first} events {events}"
                );
            }
        }
    }
}

#[test]
fn steady_state_allocates_nothing_per_event() {
    warm_up();
    let configs: &[(usize, usize)] = if cfg!(miri) {
        &[(8, 2), (1, 1)]
    } else {
        &[(64, 8), (8, 2), (4, 4), (1, 1)]
    };
    for &(cap, len) in configs {
        for batched in [false, true] {
            // Batched with `cap < 2 * len` would deadlock on this single thread: a cursor
            // that finished a node with `recv_batch` stays on it until its next receive
            // (bug B3), so the next `publish_batch` waits for room.
            if batched && cap < 2 * len {
                continue;
            }
            let (mut tx, mut rx) = stream::<u64>(cap, len, LagPolicy::Block);
            let step = |tx: &mut Publisher<u64>, rx: &mut Subscriber<u64>, i: u64| {
                if batched {
                    // A node's worth at a time, read back as one batch.
                    tx.publish_batch(i * len as u64..(i + 1) * len as u64);
                    let b = rx.recv_batch(usize::MAX).unwrap();
                    assert_eq!((b.len(), b[0]), (len, i * len as u64));
                } else {
                    tx.publish(i);
                    assert_eq!(rx.try_recv(), Ok(i));
                }
            };
            // Warm-up: a few nodes, until the pool is filled.
            let warm = 4 * cap as u64 + 8;
            for i in 0..warm {
                step(&mut tx, &mut rx, i);
            }
            let n = scaled(40, 20_000);
            let before = stats().allocs;
            for i in warm..warm + n {
                step(&mut tx, &mut rx, i);
            }
            let allocs = stats().allocs - before;
            // Documented: at most one node allocation per chunk_len events, recycled in
            // steady state. A node is two allocations (header and slots).
            assert!(
                allocs <= 2,
                "cap {cap} chunk_len {len} batched {batched}: {allocs} allocations for {n} steps"
            );
        }
    }
}

#[test]
fn threaded_steady_state_allocates_a_constant_not_per_event() {
    // A reader on its own thread: the publisher blocks on the cap and retires several
    // nodes at once when it wakes late, the reader parks on fresh nodes. Whatever the
    // schedule, the stream allocates at most its high-water mark of nodes (each a header,
    // a slot array, and the event's listener list the first time someone parks on it),
    // plus the growth of its two pointer lists and a parker per thread: a constant.
    warm_up();
    let n = scaled(200, 1_000_000);
    for (cap, len) in [(64usize, 8usize), (1024, 64), (8, 1)] {
        let (mut tx, mut rx) = stream::<u64>(cap, len, LagPolicy::Block);
        let warm = 4 * cap as u64;
        let reader = std::thread::spawn(move || {
            let mut before = 0;
            for i in 0..warm + n {
                if i == warm {
                    before = stats().allocs;
                }
                assert_eq!(rx.recv(), Ok(i));
            }
            let allocs = stats().allocs - before;
            assert_eq!(rx.recv(), Err(tailcast::RecvError::Closed));
            allocs
        });
        for i in 0..warm {
            tx.publish(i);
        }
        let before = stats().allocs;
        for i in warm..warm + n {
            tx.publish(i);
        }
        let published = stats().allocs - before;
        drop(tx);
        let received = reader.join().unwrap();
        let nodes = (cap / len + 3) as u64;
        let bound = 3 * nodes + 2 * (u64::BITS - nodes.leading_zeros()) as u64 + 2;
        eprintln!(
            "cap {cap} chunk_len {len}: {published} + {received} allocations (bound {bound})"
        );
        assert!(
            published + received <= bound,
            "cap {cap} chunk_len {len}: {published} allocations publishing and {received} \
             receiving {n} events (bound {bound})"
        );
    }
}

#[test]
fn zero_subscribers_memory_does_not_grow() {
    warm_up();
    let (cap, len) = (16usize, 4usize);
    let base = live();
    let (mut tx, rx) = stream::<Payload>(cap, len, LagPolicy::Block);
    let empty = live() - base;
    drop(rx);
    let bound = empty + node_bound(cap, len, 0);
    let n = scaled(100, 50_000);
    for i in 0..n {
        assert_eq!(tx.try_publish(payload(i)), Ok(()));
        let m = live() - base;
        assert!(m <= bound, "{m} bytes after {i} events, bound {bound}");
    }
    drop(tx);
    assert_eq!(live(), base);
}

#[test]
fn dropped_lagged_subscriber_leaves_only_bounded_bookkeeping() {
    // A Skip subscriber that was lagged (its node retired through the epoch collector) and
    // then dropped: as the publisher goes on, its nodes are freed; what may stay until the
    // stream ends is the collector's bookkeeping for the departed cursor (its epoch record),
    // bounded, never the stream's nodes.
    warm_up();
    let (cap, len) = (64usize, 8usize);
    let base = live();
    let (mut tx, mut reader) = stream::<Payload>(cap, len, LagPolicy::Block);
    let mut step = |tx: &mut Publisher<Payload>, i: u64| {
        tx.publish(payload(i));
        assert_eq!(reader.try_recv().map(|v| v[0]), Ok(i));
    };
    for i in 0..4 * cap as u64 {
        step(&mut tx, i);
    }
    let steady = live() - base;
    let node = (len * std::mem::size_of::<Payload>() + NODE_OVERHEAD) as isize;
    let mut i = 4 * cap as u64;
    for round in 0..scaled(3, 50) {
        let mut lossy = tx.subscribe_with(LagPolicy::Skip);
        for _ in 0..3 * cap {
            step(&mut tx, i);
            i += 1;
        }
        assert!(matches!(lossy.try_recv(), Err(TryRecvError::Lagged(_))));
        drop(lossy);
        for _ in 0..4 * len {
            step(&mut tx, i);
            i += 1;
        }
        let now = live() - base;
        assert!(
            now <= steady + 2 * node + FIXED_SLACK as isize,
            "round {round}: {now} bytes live, steady state {steady}"
        );
    }
    drop((tx, reader));
    assert_eq!(live(), base);
}

/// The byte value of the 64 KiB chunk at offset `at` of the recycling tests' streams (its
/// index): a buffer handed out again while a reader still holds a chunk of it would change
/// what that reader sees. Whole chunks of one value keep the fills (`fill`, a memset) and
/// the checks (three samples) cheap under miri.
fn value_at(at: u64) -> u8 {
    ((at >> 16) as u8).wrapping_mul(31).wrapping_add(7)
}

/// A source of `total` bytes, `value_at` each, filling every read.
struct Pattern {
    at: u64,
    total: u64,
}

impl std::io::Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Never across a chunk boundary: the reads here are whole chunks or 4 KiB blocks.
        let n = buf.len().min((self.total - self.at) as usize);
        buf[..n].fill(value_at(self.at));
        self.at += n as u64;
        Ok(n)
    }
}

fn check_chunk(chunk: &[u8], offset: u64) {
    let v = value_at(offset);
    let samples = [0, chunk.len() / 2, chunk.len() - 1];
    assert!(
        samples.iter().all(|&k| chunk[k] == v),
        "the chunk at {offset} changed: its buffer was reused while it was held"
    );
}

/// A tee whose source fills every read hands its read buffers round: the 64 KiB buffers
/// allocated over a long stream are what can be in flight at once, not one per chunk (a
/// chunk's buffer comes back to the tee when its last reader drops it, so the next read,
/// on whichever reader's thread, reuses it instead of allocating), and never while a
/// reader holds it (each chunk is checked again after the next one was read).
#[test]
fn tee_full_reads_recycle_their_buffers() {
    let total = scaled(1 << 20, 16 << 20); // 16 or 256 chunks of 64 KiB
    let tee = tailcast::bytes::tee(Pattern { at: 0, total }, 256 << 10);
    let (mut a, mut b) = (tee.reader(), tee.reader());
    let before = stats().big;
    let mut read = 0;
    let mut held: Option<(tailcast::bytes::Bytes, u64)> = None;
    // Both readers on this thread, in step: `a` leads every read.
    loop {
        match (a.next_chunk().unwrap(), b.next_chunk().unwrap()) {
            (Some(x), Some(y)) => {
                assert_eq!(x.len(), 64 << 10, "every read fills the buffer");
                assert!(x == y);
                check_chunk(&x, read);
                if let Some((chunk, offset)) = held.take() {
                    check_chunk(&chunk, offset);
                }
                held = Some((x, read));
                read += y.len() as u64;
            }
            (None, None) => break,
            other => panic!("the readers disagree: {other:?}"),
        }
    }
    assert_eq!(read, total);
    let big = stats().big - before;
    assert!(
        big <= 4,
        "{big} buffers of 64 KiB allocated for {} chunks",
        total >> 16
    );
}

/// The same for a writer's `io::Write`: 4 KiB writes gathered into 64 KiB chunks reuse
/// the buffers their readers are done with, and only those.
#[test]
fn writer_chunks_recycle_their_buffers() {
    use std::io::Write;
    let total = scaled(1 << 20, 16 << 20);
    let (mut writer, mut reader) = tailcast::bytes::Builder::new()
        .max_bytes(256 << 10)
        .build()
        .unwrap();
    let mut source = Pattern { at: 0, total };
    let mut block = [0u8; 4096];
    let before = stats().big;
    let (mut written, mut read) = (0u64, 0u64);
    let mut held: Option<(tailcast::bytes::Bytes, u64)> = None;
    while written < total {
        // One chunk written (in 16 writes), then read: this thread never waits.
        for _ in 0..16 {
            std::io::Read::read_exact(&mut source, &mut block).unwrap();
            writer.write_all(&block).unwrap();
        }
        written += 16 * 4096;
        while read < written {
            let chunk = reader.next_chunk().unwrap().expect("written");
            check_chunk(&chunk, read);
            if let Some((old, offset)) = held.take() {
                check_chunk(&old, offset);
            }
            let n = chunk.len() as u64;
            held = Some((chunk, read));
            read += n;
        }
    }
    writer.finish().unwrap();
    assert_eq!(reader.next_chunk().unwrap(), None);
    let big = stats().big - before;
    assert!(
        big <= 4,
        "{big} buffers of 64 KiB allocated for {} chunks",
        total >> 16
    );
}
