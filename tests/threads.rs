//! Plain threads: many subscribers at tiny capacities and chunk lengths each see the exact
//! sequence; subscribers join (clone, subscribe) and leave during the run; a publisher
//! blocked on the cap wakes when the slow subscriber is dropped; closing wakes parked
//! subscribers of every receive method.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{scaled, stream, Rng};
use tailcast::{
    Builder, Full, LagPolicy, Publisher, RecvError, RecvTimeoutError, Subscriber, TryRecvError,
    MAX_YIELD_BEFORE_PARK,
};

const LONG: Duration = Duration::from_secs(120);

/// Receives until `Closed` with the method picked by `method` (rotating when `None`),
/// asserting that the values are exactly `from, from + 1, ...`; returns the count.
fn verify_sequence(rx: &mut Subscriber<u64>, from: u64, method: Option<u64>) -> u64 {
    let mut next = from;
    let mut k = 0u64;
    loop {
        let m = method.unwrap_or(k % 4);
        k += 1;
        let got: Result<Vec<u64>, RecvError> = match m {
            0 => rx.recv().map(|v| vec![v]),
            1 => rx.recv_ref().map(|r| vec![*r]),
            2 => rx.recv_batch(3).map(|b| b.to_vec()),
            _ => match rx.recv_timeout(LONG) {
                Ok(v) => Ok(vec![v]),
                Err(RecvTimeoutError::Closed) => Err(RecvError::Closed),
                Err(e) => panic!("{e:?} at {next}"),
            },
        };
        match got {
            Ok(values) => {
                assert!(!values.is_empty());
                for v in values {
                    assert_eq!(v, next, "out of sequence");
                    next += 1;
                }
            }
            Err(RecvError::Closed) => return next - from,
            Err(e) => panic!("{e:?} at {next}"),
        }
    }
}

/// Publishes `0..n` to `readers` threads, each receiving with one method, and one more
/// rotating through all of them; closes; asserts that each saw exactly the sequence.
fn fan_out_and_verify(
    mut tx: Publisher<u64>,
    rx: Subscriber<u64>,
    readers: u64,
    n: u64,
    ctx: &str,
) {
    let handles: Vec<_> = (0..readers)
        .map(|r| {
            let mut rx = rx.clone();
            thread::spawn(move || verify_sequence(&mut rx, 0, Some(r % 4)))
        })
        .collect();
    let mut rotating = rx;
    let rotating = thread::spawn(move || verify_sequence(&mut rotating, 0, None));
    for i in 0..n {
        tx.publish(i);
    }
    drop(tx);
    for h in handles {
        assert_eq!(h.join().unwrap(), n, "{ctx}");
    }
    assert_eq!(rotating.join().unwrap(), n, "{ctx}");
}

#[test]
fn many_block_subscribers_tiny_capacities() {
    let n = scaled(16, 20_000);
    let readers = if cfg!(miri) { 2 } else { 4 };
    for cap in 1..=3usize {
        for len in 1..=cap {
            if cfg!(miri) && ![(1, 1), (2, 2), (3, 2)].contains(&(cap, len)) {
                continue;
            }
            let (tx, rx) = stream(cap, len, LagPolicy::Block);
            fan_out_and_verify(tx, rx, readers, n, &format!("cap {cap} chunk_len {len}"));
        }
    }
}

#[test]
fn publish_batch_to_many_threads() {
    let n = scaled(20, 20_000);
    let configs: &[(usize, usize)] = if cfg!(miri) {
        &[(1, 1), (8, 3)]
    } else {
        &[(1, 1), (3, 2), (8, 3)]
    };
    for &(cap, len) in configs {
        let (mut tx, rx) = stream(cap, len, LagPolicy::Block);
        let handles: Vec<_> = (0..3)
            .map(|r| {
                let mut rx = rx.clone();
                thread::spawn(move || verify_sequence(&mut rx, 0, Some(r)))
            })
            .collect();
        drop(rx);
        let mut i = 0;
        let mut rng = Rng::new(cap as u64);
        while i < n {
            let k = (rng.below(2 * cap as u64 + 2)).min(n - i);
            tx.publish_batch(i..i + k);
            i += k;
        }
        drop(tx);
        for h in handles {
            assert_eq!(h.join().unwrap(), n);
        }
    }
}

#[test]
fn subscribers_join_and_leave_during_the_run() {
    // Readers clone themselves at random points (the clone continues on a new thread
    // from the same position), some leave early, and the publisher subscribes new ones.
    let n = scaled(24, 20_000);
    let configs: &[(usize, usize)] = if cfg!(miri) {
        &[(1, 1), (3, 2)]
    } else {
        &[(1, 1), (2, 1), (3, 2), (3, 3)]
    };
    for &(cap, len) in configs {
        let (mut tx, rx) = stream(cap, len, LagPolicy::Block);
        let spawned = Arc::new(std::sync::Mutex::new(Vec::new()));

        fn reader(
            mut rx: Subscriber<u64>,
            seed: u64,
            n: u64,
            depth: u32,
            spawned: Arc<std::sync::Mutex<Vec<thread::JoinHandle<()>>>>,
        ) {
            let mut rng = Rng::new(seed);
            let mut next = rx.position();
            let leave_at = if rng.below(3) == 0 {
                next + rng.below(n)
            } else {
                u64::MAX
            };
            // At most one clone per reader, at most two generations deep.
            let mut clone_at = if depth < 2 {
                next + rng.below(n / 2 + 1)
            } else {
                u64::MAX
            };
            loop {
                if next >= leave_at {
                    return; // leaves early: dropping must not stall the publisher
                }
                if next >= clone_at {
                    clone_at = u64::MAX;
                    let twin = rx.clone();
                    assert_eq!(twin.position(), next);
                    let s = Arc::clone(&spawned);
                    let seed = rng.next_u64();
                    let h = thread::spawn(move || reader(twin, seed, n, depth + 1, s));
                    spawned.lock().unwrap().push(h);
                }
                match rx.recv() {
                    Ok(v) => {
                        assert_eq!(v, next);
                        next += 1;
                    }
                    Err(RecvError::Closed) => {
                        assert_eq!(next, n, "closed early");
                        return;
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        }

        for r in 0..3u64 {
            let rx = rx.clone();
            let s = Arc::clone(&spawned);
            let h = thread::spawn(move || reader(rx, r, n, 0, s));
            spawned.lock().unwrap().push(h);
        }
        drop(rx);
        let mut rng = Rng::new(99);
        for i in 0..n {
            if i % (n / 4) == n / 8 {
                let late = tx.subscribe();
                assert_eq!(late.position(), i);
                let s = Arc::clone(&spawned);
                let seed = rng.next_u64();
                let h = thread::spawn(move || reader(late, seed, n, 2, s));
                spawned.lock().unwrap().push(h);
            }
            tx.publish(i);
        }
        drop(tx);
        // Join every reader, including those spawned while joining.
        loop {
            let h = spawned.lock().unwrap().pop();
            match h {
                Some(h) => h.join().unwrap(),
                None => break,
            }
        }
    }
}

#[test]
fn subscriber_moves_between_threads() {
    let n = scaled(20, 5_000);
    let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
    let writer = thread::spawn(move || {
        for i in 0..n {
            tx.publish(i);
        }
    });
    let mut next = 0;
    while next < n {
        // Each hop reads a few events on a fresh thread, then hands the cursor back.
        let (r, got) = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..3 {
                match rx.recv() {
                    Ok(v) => got.push(v),
                    Err(_) => break,
                }
            }
            (rx, got)
        })
        .join()
        .unwrap();
        rx = r;
        for v in got {
            assert_eq!(v, next);
            next += 1;
        }
    }
    writer.join().unwrap();
    assert_eq!(rx.recv(), Err(RecvError::Closed));
}

/// A stream whose blocking waiters yield for up to `budget` before they park.
fn yielding(cap: usize, len: usize, budget: Duration) -> (Publisher<u64>, Subscriber<u64>) {
    Builder::new()
        .capacity(cap)
        .chunk_len(len)
        .yield_before_park(budget)
        .build()
        .expect("valid configuration")
}

#[test]
fn yielding_waiters_see_the_exact_sequence() {
    let n = scaled(16, 20_000);
    // A budget shorter than most waits (they yield, then park) and one longer than the
    // run (nobody parks); at capacity 1 the publisher waits for room as often as the
    // readers wait for events.
    for budget in [Duration::from_micros(1), MAX_YIELD_BEFORE_PARK] {
        for (cap, len) in [(1usize, 1usize), (4, 2)] {
            let (tx, rx) = yielding(cap, len, budget);
            let ctx = format!("{budget:?} cap {cap} chunk_len {len}");
            fan_out_and_verify(tx, rx, 2, n, &ctx);
        }
    }
}

#[test]
fn a_yield_budget_never_outlasts_a_timeout() {
    let (mut tx, mut rx) = yielding(1, 1, MAX_YIELD_BEFORE_PARK);
    let start = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
    tx.publish(0);
    assert_eq!(
        tx.publish_timeout(1, Duration::from_millis(5)),
        Err(Full(1))
    );
    // Each wait ended at its own deadline; had it yielded out its budget first, the two
    // would have taken two seconds.
    assert!(
        start.elapsed() < MAX_YIELD_BEFORE_PARK,
        "{:?}",
        start.elapsed()
    );
    assert_eq!(rx.recv(), Ok(0));
    assert_eq!(tx.publish_timeout(1, Duration::from_millis(5)), Ok(()));
}

#[test]
fn blocked_publisher_wakes_when_the_slow_subscriber_is_dropped() {
    let rounds = scaled(4, 200);
    for round in 0..rounds {
        for (cap, len) in [(1usize, 1usize), (2, 2), (3, 1)] {
            let (mut tx, slow) = stream(cap, len, LagPolicy::Block);
            let mut fast = tx.subscribe();
            for i in 0..cap as u64 {
                tx.publish(i);
                assert_eq!(fast.try_recv(), Ok(i));
            }
            assert_eq!(tx.try_publish(99), Err(Full(99)));
            let barrier = Arc::new(Barrier::new(2));
            let b = Arc::clone(&barrier);
            let dropper = thread::spawn(move || {
                b.wait();
                // Give the publisher a chance to park first in most rounds (no timing
                // is asserted: the publish below must complete either way).
                if round % 2 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
                drop(slow);
            });
            barrier.wait();
            // Blocks on `slow` until it is dropped.
            tx.publish(cap as u64);
            dropper.join().unwrap();
            assert_eq!(tx.subscriber_count(), 1);
            assert_eq!(fast.try_recv(), Ok(cap as u64));
        }
    }
}

#[test]
fn blocked_publisher_wakes_when_the_slow_subscriber_advances_or_is_evicted() {
    let rounds = scaled(3, 100);
    for _ in 0..rounds {
        // Advance: the slow reader reads one event at a time.
        let (mut tx, mut slow) = stream(1, 1, LagPolicy::Block);
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(v) = slow.recv() {
                got.push(v);
            }
            got
        });
        for i in 0..10 {
            tx.publish(i);
        }
        drop(tx);
        assert_eq!(reader.join().unwrap(), (0..10).collect::<Vec<_>>());

        // Publish timeout: a publisher waiting with a deadline also wakes.
        let (mut tx, mut slow) = stream(2, 1, LagPolicy::Block);
        tx.publish(0);
        tx.publish(1);
        let reader = thread::spawn(move || {
            assert_eq!(slow.recv(), Ok(0));
            slow
        });
        assert_eq!(tx.publish_timeout(2, LONG), Ok(()));
        let mut slow = reader.join().unwrap();
        assert_eq!(slow.recv(), Ok(1));
        assert_eq!(slow.recv(), Ok(2));
    }
}

/// Spawns a subscriber thread that parks in the receive method `m` on an empty stream and
/// returns what it got.
fn park_in(mut rx: Subscriber<u64>, m: u8, ready: Arc<Barrier>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        ready.wait();
        match m {
            0 => format!("{:?}", rx.recv()),
            1 => format!("{:?}", rx.recv_ref().map(|r| *r)),
            2 => format!("{:?}", rx.recv_batch(4).map(|b| b.to_vec())),
            _ => format!(
                "{:?}",
                rx.recv_timeout(LONG).map_err(|e| match e {
                    RecvTimeoutError::Closed => RecvError::Closed,
                    e => panic!("{e:?}"),
                })
            ),
        }
    })
}

#[test]
fn close_wakes_parked_subscribers() {
    let rounds = scaled(2, 50);
    for round in 0..rounds {
        // `pre`: events published and consumed before parking, so that subscribers park
        // mid-node, at a node boundary, or on the first node.
        for pre in [0u64, 1, 2] {
            let (mut tx, rx) = stream(4, 2, LagPolicy::Block);
            let ready = Arc::new(Barrier::new(5));
            for i in 0..pre {
                tx.publish(i);
            }
            let parked: Vec<_> = (0..4u8)
                .map(|m| {
                    let mut s = rx.clone();
                    for i in 0..pre {
                        assert_eq!(s.try_recv(), Ok(i));
                    }
                    assert_eq!(s.try_recv(), Err(TryRecvError::Empty));
                    park_in(s, m, Arc::clone(&ready))
                })
                .collect();
            drop(rx);
            ready.wait();
            if round % 2 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
            drop(tx);
            for h in parked {
                assert_eq!(h.join().unwrap(), "Err(Closed)");
            }
        }
    }
}

#[test]
fn parked_subscribers_wake_at_slot_and_node_boundary() {
    let rounds = scaled(3, 100);
    for round in 0..rounds {
        let (mut tx, rx) = stream(8, 2, LagPolicy::Block);
        let ready = Arc::new(Barrier::new(5));
        let parked: Vec<_> = (0..4u8)
            .map(|m| {
                let mut s = rx.clone();
                let r = Arc::clone(&ready);
                thread::spawn(move || {
                    r.wait();
                    let mut got = Vec::new();
                    for _ in 0..4 {
                        match m {
                            0 => got.push(s.recv().unwrap()),
                            1 => got.push(*s.recv_ref().unwrap()),
                            2 => got.extend(s.recv_batch(1).unwrap().iter()),
                            _ => got.push(s.recv_timeout(LONG).unwrap()),
                        }
                    }
                    got
                })
            })
            .collect();
        drop(rx);
        ready.wait();
        for i in 0..4 {
            if round % 2 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
            tx.publish(i);
        }
        for h in parked {
            assert_eq!(h.join().unwrap(), vec![0, 1, 2, 3]);
        }
    }
}

#[test]
fn skip_subscribers_on_threads_account_for_every_event() {
    // Each Skip reader's values are increasing; every gap is exactly the preceding
    // Lagged(n); and they end at the last event.
    let n = scaled(24, 50_000);
    let configs: &[(usize, usize)] = if cfg!(miri) {
        &[(1, 1), (3, 2)]
    } else {
        &[(1, 1), (2, 1), (3, 2), (3, 3)]
    };
    for &(cap, len) in configs {
        let (mut tx, rx) = stream(cap, len, LagPolicy::Skip);
        let handles: Vec<_> = (0..3)
            .map(|r| {
                let mut rx = rx.clone();
                thread::spawn(move || {
                    let (mut next, mut got, mut lagged) = (0u64, 0u64, 0u64);
                    loop {
                        let res = if r == 0 {
                            rx.recv()
                        } else {
                            rx.recv_ref().map(|v| *v)
                        };
                        match res {
                            Ok(v) => {
                                assert_eq!(v, next, "a gap without Lagged");
                                next += 1;
                                got += 1;
                            }
                            Err(RecvError::Lagged(k)) => {
                                assert!(k > 0);
                                next += k;
                                lagged += k;
                                assert_eq!(rx.position(), next);
                            }
                            Err(RecvError::Closed) => return (next, got, lagged),
                            Err(e) => panic!("Skip is never evicted: {e:?}"),
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        for i in 0..n {
            assert_eq!(tx.try_publish(i), Ok(()), "Skip never blocks");
        }
        drop(tx);
        for h in handles {
            let (end, got, lagged) = h.join().unwrap();
            assert_eq!(end, n, "cap {cap} chunk_len {len}");
            assert_eq!(got + lagged, n);
        }
    }
}

#[test]
#[cfg(panic = "unwind")] // catch_unwind around publish_batch
fn publish_batch_with_panicking_iterator_still_wakes_parked_subscribers() {
    let (mut tx, mut rx) = stream(16, 8, LagPolicy::Block);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let reader = thread::spawn(move || {
        let _ = done_tx.send(rx.recv());
        rx
    });
    // Most of the time the reader is parked by now (not required for correctness).
    thread::sleep(Duration::from_millis(20));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tx.publish_batch((0..3).map(|i| if i == 2 { panic!("iterator fails") } else { i }));
    }));
    assert!(caught.is_err());
    // The two events written before the panic are published; the parked reader must be
    // woken for them now, not at the next publish or close. (The timeout only bounds a
    // hang; it is far beyond any scheduling delay.)
    let got = done_rx.recv_timeout(Duration::from_secs(30));
    drop(tx);
    let mut rx = reader.join().unwrap();
    assert_eq!(got, Ok(Ok(0)), "lost wake-up after a panicking batch");
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx.recv(), Err(RecvError::Closed));
}

#[test]
fn parked_disconnect_subscriber_is_never_left_asleep() {
    // A Disconnect reader parked on the tail while the publisher races ahead: it either
    // keeps up or is evicted, and it always finishes (Evicted then Closed, or Closed).
    let rounds = scaled(3, 200);
    for round in 0..rounds {
        let (mut tx, rx) = stream(2, 1, LagPolicy::Disconnect);
        let ready = Arc::new(Barrier::new(2));
        let r = Arc::clone(&ready);
        let mut rx = rx;
        let reader = thread::spawn(move || {
            r.wait();
            let mut next = 0;
            loop {
                match rx.recv() {
                    Ok(v) => {
                        assert_eq!(v, next);
                        next += 1;
                    }
                    Err(RecvError::Evicted) => {
                        assert_eq!(rx.recv(), Err(RecvError::Closed));
                        return (next, true);
                    }
                    Err(RecvError::Closed) => return (next, false),
                    Err(e) => panic!("{e:?}"),
                }
            }
        });
        ready.wait();
        if round % 2 == 0 {
            thread::sleep(Duration::from_millis(1));
        }
        let n = 20;
        for i in 0..n {
            tx.publish(i);
        }
        let evicted_now = tx.subscriber_count() == 0;
        drop(tx);
        let (read, evicted) = reader.join().unwrap();
        assert!(evicted || read == n, "read {read} of {n} without eviction");
        if evicted_now {
            assert!(evicted);
        }
    }
}
