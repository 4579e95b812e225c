//! A subscriber that stops reading (RELIABILITY.md §3: F6, F7, F9, F11).
//!
//! - F6/F9: one `Block` subscriber never reads. The publisher, on its own thread, publishes
//!   exactly `capacity` events and then blocks; memory meanwhile stays within
//!   `capacity / chunk_len` nodes ± 10 % and under the documented bound; dropping the
//!   staller wakes the publisher (the drop-to-wake latency must be under 100 ms), and
//!   nothing of the stream is left once the handles are gone.
//! - F7: a subscriber parked forever on one stream does not hold back reclamation on
//!   another: that stream's memory stays flat over 10^5 events of lagging and recycling.
//! - F11: a cursor stalled on the first of 10^6 nodes (the largest retention the
//!   configuration allows with one-slot nodes: `capacity` 10^6 <= `MAX_CAPACITY`), then
//!   released on a thread with a 64 KiB stack: no stack overflow, and the live bytes return
//!   to the baseline.
//!
//! Memory is measured with a process-wide counting allocator restricted to the threads the
//! tests start ([`common::TrackingAlloc`]), so the tests here run one at a time (and print
//! untracked: the harness frees the captured output later, on its own thread).
//! Under miri (whose threads' sleep and wall-clock latencies are not observable, so those
//! two checks are skipped): F11 with 64 nodes, F7 with 400 events, F6/F9 one round with
//! 64 two-slot nodes.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    scaled, serial, stream, track_this_thread, tracked_live, untracked, wait_until_asleep,
};
use tailcast::{Full, LagPolicy, Publisher, RecvError, Subscriber, TryRecvError};

#[global_allocator]
static ALLOCATOR: common::TrackingAlloc = common::TrackingAlloc;

/// A payload with no heap part, large enough that nodes dominate the stream's memory.
type Payload = [u64; 32];

fn payload(i: u64) -> Payload {
    [i; 32]
}

/// Runs a throw-away stream through the paths used below, on a tracked thread of its own
/// and on this one, so that lazily allocated per-process state of the dependencies
/// (arc-swap's debt nodes, the channel's thread context) exists before a baseline is taken.
fn warm_up() {
    let work = || {
        common::exercise_every_policy();
        let (s, r) = mpsc::channel::<u8>();
        s.send(1).unwrap();
        r.recv().unwrap();
    };
    work();
    thread::spawn(move || {
        let _track = track_this_thread();
        work();
    })
    .join()
    .unwrap();
}

/// The bytes one node of `len` payload slots costs, measured: a stream with a stalled
/// `Block` subscriber links exactly one new node per `len` events.
fn node_bytes(len: usize) -> isize {
    let (mut tx, _stalled) = stream::<Payload>(4 * len, len, LagPolicy::Block);
    // The first node was allocated with the stream; the growth of `VecDeque` of retained
    // nodes happens on the first links: measure the third node.
    for i in 0..2 * len as u64 {
        tx.try_publish(payload(i)).unwrap();
    }
    let before = tracked_live();
    for i in 0..len as u64 {
        tx.try_publish(payload(i)).unwrap();
    }
    let bytes = tracked_live() - before;
    let slots = (len * std::mem::size_of::<Payload>()) as isize;
    assert!(
        (slots..=slots + 256).contains(&bytes),
        "a node of {len} slots costs {bytes} bytes; its slots alone are {slots}"
    );
    bytes
}

/// What the publisher thread reports.
#[derive(Debug)]
enum Report {
    /// `try_publish` returned `Full` after `published` events; the largest live byte count
    /// seen after each publish until then.
    Full { published: u64, max_live: isize },
    /// About to call the blocking publish.
    Blocking,
    /// The blocking publish returned at this instant.
    Woke(Instant),
}

#[test]
fn f6_f9_stalled_block_subscriber_blocks_publisher_bounds_memory_and_drop_wakes_it() {
    let _serial = serial();
    let _track = track_this_thread();
    warm_up();
    // Under miri: fewer and smaller nodes (64 of them, still about 37 KB, so that they
    // dwarf the fixed part and the list of retained node pointers).
    let (cap, len) = if cfg!(miri) {
        (128usize, 2usize)
    } else {
        (1024, 16)
    };
    let node = node_bytes(len);
    let nodes = (cap / len) as isize;
    let rounds = scaled(1, 20);
    let mut latencies = Vec::new();
    let mut figures = String::new();
    for round in 0..rounds {
        let base = tracked_live();
        let (tx, staller) = stream::<Payload>(cap, len, LagPolicy::Block);
        let empty = tracked_live() - base;
        // The stream's fixed part: everything but its first node.
        let fixed = empty - node;
        // Documented: at most `capacity / chunk_len + 2` retained and pooled nodes (2 spare);
        // the publisher's list of retained node pointers (a `VecDeque`, at most twice the
        // capacity it needs) grows with them.
        let list = 2 * (nodes + 2) * std::mem::size_of::<usize>() as isize;
        let bound = fixed + (nodes + 2 + 2) * node + list;
        let ideal = nodes * node;

        // The test's own plumbing (the channels, the thread's spawn, its blocking
        // receive) is allocated untracked: only the stream is measured. Under miri, with a
        // stream of a few dozen kilobytes, it would be over 10 % of the figure.
        let (report, reports) = untracked(mpsc::channel::<Report>);
        let (go, go_rx) = untracked(mpsc::channel::<()>);
        let send = move |r: Report| untracked(|| report.send(r).unwrap());
        let name = "tc-stalled-pub";
        let spawn = |f| untracked(|| thread::Builder::new().name(name.into()).spawn(f));
        let publisher = spawn(move || {
            let _track = track_this_thread();
            let mut tx = tx;
            let mut max_live = 0;
            let mut i = 0u64;
            let value = loop {
                match tx.try_publish(payload(i)) {
                    Ok(()) => i += 1,
                    Err(Full(v)) => break v,
                }
                max_live = max_live.max(tracked_live() - base);
            };
            send(Report::Full {
                published: i,
                max_live,
            });
            untracked(|| go_rx.recv().unwrap());
            send(Report::Blocking);
            // Alternate the two blocking flavours; `Duration::MAX` waits without limit.
            if round % 2 == 0 {
                tx.publish(value);
            } else {
                assert_eq!(tx.publish_timeout(value, Duration::MAX), Ok(()));
            }
            send(Report::Woke(Instant::now()));
            // Nobody is subscribed any more: the publisher never waits again.
            for j in 1..=2 * cap as u64 {
                assert_eq!(tx.try_publish(payload(i + j)), Ok(()));
            }
            tx
        })
        .unwrap();

        // Exactly `capacity` events, then `Full`: the staller never moved.
        let Report::Full {
            published,
            max_live,
        } = untracked(|| reports.recv().unwrap())
        else {
            panic!("expected Full first")
        };
        assert_eq!(published, cap as u64, "round {round}");
        // The publisher waits for `go`: nothing of the stream changes while we measure.
        let stalled = tracked_live() - base;
        assert!(
            max_live <= bound && stalled <= bound,
            "round {round}: {max_live} bytes at most while filling, {stalled} at the cap; \
             documented bound {bound}"
        );
        // The nodes (everything but the fixed part) within 10 % of `capacity / chunk_len`
        // nodes; outside miri the whole stream too.
        let within = |bytes: isize| (bytes - ideal).abs() * 10 <= ideal;
        assert!(
            within(stalled - fixed),
            "round {round}: nodes take {} bytes, expected {ideal} ± 10 %",
            stalled - fixed
        );
        if !cfg!(miri) {
            assert!(
                within(stalled),
                "round {round}: the stream takes {stalled} bytes, expected {ideal} ± 10 %"
            );
        }

        // Let it block, and check that it does.
        untracked(|| go.send(()).unwrap());
        assert!(matches!(
            untracked(|| reports.recv().unwrap()),
            Report::Blocking
        ));
        let asleep = untracked(|| wait_until_asleep(name));
        assert!(
            matches!(reports.try_recv(), Err(mpsc::TryRecvError::Empty)),
            "round {round}: the publisher returned while the staller holds the cap"
        );
        let parked = tracked_live() - base;
        assert!(
            parked <= bound,
            "round {round}: {parked} bytes while parked"
        );

        // Dropping the staller wakes it (a publisher never woken fails the test after
        // 30 s, 5 min under miri, instead of hanging it).
        let dropped = Instant::now();
        drop(staller);
        let limit = Duration::from_secs(if cfg!(miri) { 300 } else { 30 });
        let woke = match untracked(|| reports.recv_timeout(limit)) {
            Ok(Report::Woke(woke)) => woke,
            Ok(other) => panic!("round {round}: expected Woke, got {other:?}"),
            Err(e) => panic!(
                "round {round}: dropping the staller did not wake the publisher within \
                 {limit:?} ({e:?})"
            ),
        };
        let latency = woke.saturating_duration_since(dropped);
        let tx = publisher.join().unwrap();
        assert_eq!(tx.published(), 3 * cap as u64 + 1, "round {round}");
        assert_eq!(tx.subscriber_count(), 0);
        drop((tx, reports, go));
        assert_eq!(tracked_live(), base, "round {round}: bytes left after drop");
        if asleep {
            latencies.push(latency);
        }
        if round == 0 {
            figures = format!(
                "capacity {cap}, chunk_len {len}, node {node} B: stalled {stalled} B \
                 (nodes {} B, ideal {ideal} B, documented bound {bound} B), parked {parked} B",
                stalled - fixed
            );
        }
    }
    latencies.sort();
    untracked(|| eprintln!("{figures}"));
    if let (Some(min), Some(max)) = (latencies.first(), latencies.last()) {
        untracked(|| {
            eprintln!(
                "drop-to-wake latency over {} rounds: min {min:?}, median {:?}, max {max:?}",
                latencies.len(),
                latencies[latencies.len() / 2]
            )
        });
        if !cfg!(miri) {
            assert!(
                *max < Duration::from_millis(100),
                "drop-to-wake latency {max:?} >= 100 ms"
            );
        }
    }
}

#[test]
fn f7_subscriber_parked_forever_on_one_stream_leaves_another_flat() {
    let _serial = serial();
    let _track = track_this_thread();
    warm_up();
    // Stream A: a lossy subscriber (it has an epoch registration) parked in `recv` for the
    // whole test.
    let (tx_a, mut rx_a) = stream::<u64>(8, 2, LagPolicy::Skip);
    let name = "tc-parked-a";
    // Spawned untracked: the thread frees parts of its spawn once it runs, which may be
    // after the baseline below (always under miri, where its sleep cannot be observed).
    let parked = untracked(|| {
        thread::Builder::new()
            .name(name.into())
            .spawn(move || rx_a.recv())
            .unwrap()
    });
    if !untracked(|| wait_until_asleep(name)) {
        // Miri: give it the chance to run into its park (its scheduler switches threads
        // at each yield).
        for _ in 0..64 {
            thread::yield_now();
        }
    }

    // Stream B: a Block reader keeps up; a Skip subscriber reads rarely, so it is lagged
    // over and over and the nodes it is moved off go through B's epoch collector.
    let (cap, len) = (64usize, 8usize);
    let n = scaled(400, 100_000);
    let base = tracked_live();
    let (mut tx, mut reader) = stream::<Payload>(cap, len, LagPolicy::Block);
    let mut lossy = tx.subscribe_with(LagPolicy::Skip);
    let empty = tracked_live() - base;
    let node = (len * std::mem::size_of::<Payload>() + 256) as isize;
    // The documented retention, plus the lossy cursor's node, a node waiting for the epoch
    // and the collector's bags.
    let bound = empty + (cap / len) as isize * node + 8 * node + 16 * 1024;
    let (mut max_first, mut max_rest) = (0, 0);
    let mut lags = 0;
    for i in 0..n {
        tx.publish(payload(i));
        assert_eq!(reader.try_recv().map(|v| v[0]), Ok(i));
        if i % (3 * cap as u64) == 0 {
            match lossy.try_recv() {
                Err(TryRecvError::Lagged(_)) => lags += 1,
                Ok(_) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        let m = tracked_live() - base;
        if i < n / 2 {
            max_first = max_first.max(m);
        } else {
            max_rest = max_rest.max(m);
        }
    }
    assert!(lags >= n / (3 * cap as u64) - 1, "only {lags} lags");
    assert!(max_rest <= bound, "{max_rest} bytes live, bound {bound}");
    // Flat: the second half peaks no higher than the first, give or take a couple of
    // nodes waiting for the epoch (a leak of one node per lag would be megabytes).
    assert!(
        max_rest <= max_first + 2 * node,
        "memory grew with the stream's length: {max_first} then {max_rest}"
    );
    drop((tx, reader, lossy));
    assert_eq!(tracked_live(), base, "bytes left after drop");
    untracked(|| {
        eprintln!("F7: stream B peaked at {max_first} / {max_rest} bytes (first / second half), bound {bound}")
    });

    // A is still parked; closing it wakes it with `Closed`.
    assert!(!parked.is_finished());
    drop(tx_a);
    // Bounded: a close that does not wake it fails the test instead of hanging it.
    let limit = Instant::now() + Duration::from_secs(if cfg!(miri) { 300 } else { 30 });
    while !parked.is_finished() {
        assert!(
            Instant::now() < limit,
            "closing stream A did not wake its parked subscriber"
        );
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(parked.join().unwrap(), Err(RecvError::Closed));
}

/// Fills a `Block` stream with one-slot nodes until a never-reading subscriber holds
/// `nodes` of them; returns the publisher, the staller and the bytes held.
fn stall_on_many_nodes(nodes: usize, base: isize) -> (Publisher<u64>, Subscriber<u64>, isize) {
    let (mut tx, staller) = stream::<u64>(nodes, 1, LagPolicy::Block);
    for i in 0..nodes as u64 {
        assert_eq!(tx.try_publish(i), Ok(()));
    }
    assert_eq!(tx.try_publish(0), Err(Full(0)));
    let held = tracked_live() - base;
    // Every node is a header (more than 7 words) and a slot: at least 64 bytes each.
    assert!(
        held >= nodes as isize * 64,
        "{held} bytes for {nodes} retained nodes"
    );
    (tx, staller, held)
}

/// Runs `f` on a thread with a 64 KiB stack (tracked).
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    thread::Builder::new()
        .name("tc-small-stack".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let _track = track_this_thread();
            f()
        })
        .unwrap()
        .join()
        .expect("the small-stack thread panicked")
}

fn f11_nodes() -> usize {
    if cfg!(miri) {
        64
    } else {
        1_000_000
    }
}

#[test]
fn f11_stalled_cursor_released_by_the_publisher_on_a_small_stack() {
    // The staller drops, then the publisher's next publish retires every node it held.
    let _serial = serial();
    let _track = track_this_thread();
    warm_up();
    let nodes = f11_nodes();
    let base = tracked_live();
    let (tx, staller, held) = stall_on_many_nodes(nodes, base);
    let started = Instant::now();
    let tx = on_small_stack(move || {
        let mut tx = tx;
        drop(staller);
        tx.publish(nodes as u64);
        assert_eq!(tx.subscriber_count(), 0);
        tx
    });
    let released = started.elapsed();
    // What is left: the tail, the node linked ahead and a pool of two, and the
    // publisher's list of retained node pointers, which keeps the capacity it grew to
    // during the stall (a `VecDeque` does not shrink: up to 16 bytes per node of the peak,
    // against well over 64 bytes per node freed).
    let after = tracked_live() - base;
    let list = 2 * nodes * std::mem::size_of::<usize>();
    assert!(
        after < (16 * 1024 + list) as isize,
        "{after} bytes live after releasing {nodes} nodes ({held} held)"
    );
    on_small_stack(move || drop(tx));
    assert_eq!(tracked_live(), base, "bytes left after drop");
    untracked(|| {
        eprintln!("F11 (publisher): {nodes} nodes, {held} bytes, released in {released:?}")
    });
}

#[test]
fn f11_stalled_cursor_is_the_last_handle_and_drops_on_a_small_stack() {
    // The publisher goes first; the staller is the last handle, and its drop frees the
    // whole chain.
    let _serial = serial();
    let _track = track_this_thread();
    warm_up();
    let nodes = f11_nodes();
    let base = tracked_live();
    let (tx, staller, held) = stall_on_many_nodes(nodes, base);
    drop(tx);
    let started = Instant::now();
    on_small_stack(move || {
        let mut staller = staller;
        // It still sees the first event before it goes.
        assert_eq!(staller.try_recv(), Ok(0));
        drop(staller);
    });
    let released = started.elapsed();
    assert_eq!(tracked_live(), base, "bytes left after drop");
    untracked(|| {
        eprintln!("F11 (last handle): {nodes} nodes, {held} bytes, released in {released:?}")
    });
}
