//! `capacity` counted exactly in events, for every policy and every receive method: the
//! reproductions of the data-loss bug (a reader that keeps up was lagged, evicted or held
//! the publisher back), exact room, and a parked publisher woken by the one read that
//! makes room.

mod common;

use std::thread;
use std::time::Duration;

use common::{block_on, stream, wait_until_asleep};
use tailcast::{LagPolicy, Subscriber, TryRecvError};

/// Rounds of the reproduction: every burst size 1..=8 several times over (the bug showed
/// in round 5); fewer under miri.
const ROUNDS: u64 = if cfg!(miri) { 12 } else { 40 };

const POLICIES: [LagPolicy; 3] = [LagPolicy::Block, LagPolicy::Skip, LagPolicy::Disconnect];

/// Every way to receive, each taking exactly one call's worth of events (up to `want`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Method {
    Recv,
    TryRecv,
    RecvTimeout,
    RecvAsync,
    RecvRef,
    TryRecvRef,
    RecvBatch,
    TryRecvBatch,
}

const METHODS: [Method; 8] = [
    Method::Recv,
    Method::TryRecv,
    Method::RecvTimeout,
    Method::RecvAsync,
    Method::RecvRef,
    Method::TryRecvRef,
    Method::RecvBatch,
    Method::TryRecvBatch,
];

/// Receives up to `want` events with one call of `method`; the values, or the error shown.
fn receive(rx: &mut Subscriber<u64>, method: Method, want: usize) -> Result<Vec<u64>, String> {
    let long = Duration::from_secs(30);
    let one = |r: Result<u64, String>| r.map(|v| vec![v]);
    match method {
        Method::Recv => one(rx.recv().map_err(|e| format!("{e:?}"))),
        Method::TryRecv => one(rx.try_recv().map_err(|e| format!("{e:?}"))),
        Method::RecvTimeout => one(rx.recv_timeout(long).map_err(|e| format!("{e:?}"))),
        Method::RecvAsync => one(block_on(rx.recv_async()).map_err(|e| format!("{e:?}"))),
        Method::RecvRef => one(rx.recv_ref().map(|r| *r).map_err(|e| format!("{e:?}"))),
        Method::TryRecvRef => one(rx.try_recv_ref().map(|r| *r).map_err(|e| format!("{e:?}"))),
        Method::RecvBatch => rx
            .recv_batch(want)
            .map(|b| b.to_vec())
            .map_err(|e| format!("{e:?}")),
        Method::TryRecvBatch => rx
            .try_recv_batch(want)
            .map(|b| b.to_vec())
            .map_err(|e| format!("{e:?}")),
    }
}

/// Receives exactly the events `from..to` with `method`, asserting each value.
fn read_exactly(rx: &mut Subscriber<u64>, method: Method, from: u64, to: u64, ctx: &str) {
    let mut next = from;
    while next < to {
        let got = receive(rx, method, (to - next) as usize)
            .unwrap_or_else(|e| panic!("{ctx}: {method:?} at {next} returned {e}"));
        assert!(!got.is_empty(), "{ctx}: {method:?} returned nothing");
        for v in got {
            assert_eq!(v, next, "{ctx}: {method:?}");
            next += 1;
        }
    }
    assert_eq!(rx.position(), to, "{ctx}");
}

/// The reproduction: capacity 8, chunk_len 4, one subscriber on the publisher's
/// thread; round `r` publishes a burst of `1 + r % 8` events (never above the capacity)
/// with `try_publish`, then reads all of them. Before the fix, round 5 failed for every
/// policy: `Full` with 5 outstanding (Block), `Evicted` (Disconnect), `Lagged(1)` (Skip).
#[test]
fn a_reader_that_keeps_up_is_never_full_lagged_or_evicted() {
    for policy in POLICIES {
        for method in METHODS {
            let (mut tx, mut rx) = stream::<u64>(8, 4, policy);
            let mut published = 0u64;
            for round in 0..ROUNDS {
                let ctx = format!("{policy:?} {method:?} round {round}");
                let burst = 1 + round % 8;
                for _ in 0..burst {
                    assert_eq!(tx.try_publish(published), Ok(()), "{ctx}: Full");
                    published += 1;
                }
                read_exactly(&mut rx, method, published - burst, published, &ctx);
                assert_eq!(rx.lag(), 0, "{ctx}");
                assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{ctx}");
            }
        }
    }
}

/// The same rounds with `publish`, `publish_timeout` and `publish_async`, which waited (or
/// deadlocked on one thread) although room existed.
#[test]
fn waiting_publishes_never_wait_for_a_reader_that_keeps_up() {
    for variant in 0..3 {
        let (mut tx, mut rx) = stream::<u64>(8, 4, LagPolicy::Block);
        let mut published = 0u64;
        for round in 0..ROUNDS {
            for _ in 0..1 + round % 8 {
                match variant {
                    0 => tx.publish(published),
                    1 => tx
                        .publish_timeout(published, Duration::ZERO)
                        .unwrap_or_else(|_| panic!("variant 1 round {round}: Full")),
                    _ => block_on(tx.publish_async(published)),
                }
                published += 1;
            }
            while rx.position() < published {
                let want = rx.position();
                assert_eq!(rx.try_recv(), Ok(want));
            }
        }
    }
}

/// With the slowest `Block` subscriber `k` events behind, exactly `capacity - k` more
/// events are accepted without waiting, on every node boundary and for every method.
#[test]
fn exactly_capacity_minus_lag_events_are_accepted() {
    let configs: &[(usize, usize)] = if cfg!(miri) {
        &[(3, 2), (4, 4)]
    } else {
        &[(1, 1), (3, 2), (4, 4), (8, 3), (8, 4), (9, 2)]
    };
    for &(cap, len) in configs {
        for method in METHODS {
            for k in 0..=cap as u64 {
                // Start from every offset inside a node.
                for skew in 0..len as u64 {
                    let ctx = format!("cap {cap} len {len} {method:?} k {k} skew {skew}");
                    let (mut tx, mut rx) = stream::<u64>(cap, len, LagPolicy::Block);
                    tx.publish_batch(0..skew);
                    read_exactly(&mut rx, method, 0, skew, &ctx);
                    tx.publish_batch(skew..skew + cap as u64);
                    read_exactly(&mut rx, method, skew, skew + cap as u64 - k, &ctx);
                    assert_eq!(rx.lag(), k, "{ctx}");
                    assert_eq!(tx.stats().slowest_lag, k, "{ctx}");
                    let mut accepted = 0;
                    while tx.try_publish(0).is_ok() {
                        accepted += 1;
                    }
                    assert_eq!(accepted, cap as u64 - k, "{ctx}");
                    // Each event read frees exactly one slot.
                    receive(&mut rx, method, 1).unwrap();
                    assert!(tx.try_publish(0).is_ok(), "{ctx}: one read, one slot");
                    assert!(tx.try_publish(0).is_err(), "{ctx}: only one");
                    // Memory: at most capacity + chunk_len events, in the documented nodes.
                    let nodes = cap.div_ceil(len) + 2;
                    assert!(tx.stats().nodes_live <= nodes, "{ctx}: {:?}", tx.stats());
                }
            }
        }
    }
}

/// `Skip` and `Disconnect` subscribers are never moved while at most `capacity` behind,
/// and moved by the first event that would put them `capacity + 1` behind.
#[test]
fn lossy_subscribers_are_moved_exactly_past_the_cap() {
    for policy in [LagPolicy::Skip, LagPolicy::Disconnect] {
        for (cap, len) in [(4, 2), (8, 4), (6, 4), (5, 1)] {
            for skew in 0..len as u64 {
                let ctx = format!("{policy:?} cap {cap} len {len} skew {skew}");
                let (mut tx, mut rx) = stream::<u64>(cap, len, policy);
                tx.publish_batch(0..skew);
                read_exactly(&mut rx, Method::TryRecv, 0, skew, &ctx);
                // Exactly `cap` behind: untouched.
                tx.publish_batch(skew..skew + cap as u64);
                assert_eq!(rx.lag(), cap as u64, "{ctx}");
                assert_eq!(rx.try_recv(), Ok(skew), "{ctx}");
                // Back to `cap` behind, then one more.
                tx.publish(skew + cap as u64);
                tx.publish(skew + cap as u64 + 1);
                let t = skew + cap as u64 + 1;
                let got = rx.try_recv();
                match policy {
                    LagPolicy::Skip => {
                        // Continues at the first node start at or after t + 1 - cap.
                        let target = (t + 1 - cap as u64).div_ceil(len as u64) * len as u64;
                        assert_eq!(got, Err(TryRecvError::Lagged(target - skew - 1)), "{ctx}");
                        assert_eq!(rx.try_recv(), Ok(target), "{ctx}");
                    }
                    _ => assert_eq!(got, Err(TryRecvError::Evicted), "{ctx}"),
                }
            }
        }
    }
}

/// A parked `publish`, `publish_timeout` and `publish_async` is woken by the read of one
/// event (before the fix: only by passing a whole node).
#[test]
fn a_parked_publisher_is_woken_by_the_read_that_makes_room() {
    if cfg!(miri) {
        // Threads and sleeping are observed through /proc; the loom models cover the
        // handshake (backpressure.rs).
        return;
    }
    for variant in 0..3 {
        for method in METHODS {
            let (mut tx, mut rx) = stream::<u64>(8, 4, LagPolicy::Block);
            tx.publish_batch(0..8);
            // Leave the reader in the middle of a node, the publisher at the cap.
            read_exactly(&mut rx, Method::TryRecv, 0, 1, "setup");
            tx.publish(8);
            let publisher = thread::Builder::new()
                .name("cap-publisher".into())
                .spawn(move || {
                    match variant {
                        0 => tx.publish(9),
                        1 => tx
                            .publish_timeout(9, Duration::from_secs(60))
                            .unwrap_or_else(|_| panic!("timed out")),
                        _ => block_on(tx.publish_async(9)),
                    }
                    tx
                })
                .unwrap();
            wait_until_asleep("cap-publisher");
            // One event read (not a node's worth) makes room for the parked publish.
            read_exactly(&mut rx, method, 1, 2, &format!("variant {variant}"));
            let tx = publisher.join().unwrap();
            assert_eq!(tx.published(), 10);
            assert_eq!(tx.stats().slowest_lag, 8);
        }
    }
}

/// Threaded: a reader on another thread that reads in bursts; the publisher's `publish`
/// never finds more than `capacity` outstanding and the reader loses nothing.
#[test]
fn threaded_exact_capacity_with_every_method() {
    let events: u64 = if cfg!(miri) { 60 } else { 20_000 };
    for method in METHODS {
        let (mut tx, mut rx) = stream::<u64>(8, 4, LagPolicy::Block);
        let reader = thread::spawn(move || {
            let mut next = 0;
            while next < events {
                let got = match receive(&mut rx, method, 3) {
                    Err(e) if e == "Empty" => {
                        thread::yield_now();
                        continue;
                    }
                    other => other.unwrap(),
                };
                for v in got {
                    assert_eq!(v, next);
                    next += 1;
                }
            }
            rx
        });
        for i in 0..events {
            tx.publish(i);
            // The reader's position only grows, so this bound is safe to check here.
            assert!(tx.stats().slowest_lag <= 8, "{method:?}: {:?}", tx.stats());
        }
        let rx = reader.join().unwrap();
        assert_eq!(rx.position(), events);
    }
}

/// Threaded, lossy: the reader on another thread reads each burst (at most `capacity`)
/// before the publisher sends the next; a `Skip` or `Disconnect` reader that keeps up is
/// never lagged or evicted, whatever node boundaries the bursts cross.
#[test]
fn threaded_lossy_reader_that_keeps_up_loses_nothing() {
    let rounds: u64 = if cfg!(miri) { 12 } else { 400 };
    for policy in [LagPolicy::Skip, LagPolicy::Disconnect] {
        for method in METHODS {
            let (mut tx, mut rx) = stream::<u64>(8, 4, policy);
            let (done_tx, done_rx) = std::sync::mpsc::channel::<u64>();
            let (burst_tx, burst_rx) = std::sync::mpsc::channel::<u64>();
            let reader = thread::spawn(move || {
                let mut next = 0;
                while let Ok(to) = burst_rx.recv() {
                    let ctx = format!("{policy:?} {method:?}");
                    read_exactly(&mut rx, method, next, to, &ctx);
                    next = to;
                    done_tx.send(next).unwrap();
                }
            });
            let mut published = 0;
            for round in 0..rounds {
                for _ in 0..1 + round % 8 {
                    tx.publish(published);
                    published += 1;
                }
                burst_tx.send(published).unwrap();
                assert_eq!(done_rx.recv().unwrap(), published);
            }
            drop(burst_tx);
            reader.join().unwrap();
        }
    }
}
