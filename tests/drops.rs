//! Every published value is dropped exactly once — read, unread, skipped, evicted, or in
//! flight at shutdown — whatever the order in which the handles go, and a panicking
//! `Clone` loses no event and leaves the stream usable.
// Under panic = "abort" (ci/panic-abort.sh), the tests that need unwinding are gated off;
// the helpers of the gated panicking-clone tests are then unused.
#![cfg_attr(panic = "abort", allow(dead_code, unused_imports))]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

use common::{scaled, stream, Ledger, Rng, Tracked};
use tailcast::{LagPolicy, Publisher, RecvError, Subscriber, TryRecvError};

/// Every permutation of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

/// Publishes ids `next..n` until `Full`; returns the value handed back, if any.
fn publish_until_full(
    tx: &mut Publisher<Tracked>,
    ledger: &Arc<Ledger>,
    next: &mut u64,
    n: u64,
) -> Option<Tracked> {
    while *next < n {
        match tx.try_publish(ledger.make(*next)) {
            Ok(()) => *next += 1,
            Err(full) => return Some(full.into_inner()),
        }
    }
    None
}

#[test]
fn dropped_once_in_every_drop_order() {
    // Handles: the publisher, a Block subscriber that read some, its clone, a Skip
    // subscriber that was lagged, a Disconnect subscriber that was evicted.
    let orders = permutations(5);
    let configs: &[(usize, usize)] = if cfg!(miri) {
        &[(4, 2)]
    } else {
        &[(4, 2), (3, 1), (6, 3)]
    };
    for &(cap, len) in configs {
        for (o, order) in orders.iter().enumerate() {
            // Under miri, a sample of the orders (every first handle is still covered).
            if cfg!(miri) && o % 10 != 0 {
                continue;
            }
            let n = 3 * cap as u64;
            let ledger = Ledger::new(n as usize + 1);
            let (mut tx, mut block) = stream(cap, len, LagPolicy::Block);
            let skip = tx.subscribe_with(LagPolicy::Skip);
            let evict = tx.subscribe_with(LagPolicy::Disconnect);
            // Fill until Full (the stalled Block subscriber holds the cap); the value
            // handed back is ours, dropped once by us.
            let mut next = 0;
            let handed_back = publish_until_full(&mut tx, &ledger, &mut next, n);
            let handed_back = handed_back.expect("Full at the cap");
            assert_eq!(handed_back.id, cap as u64);
            // Read some (clones), clone the subscriber, publish more.
            let v = block.try_recv().expect("an event");
            assert_eq!((v.id, v.is_original()), (0, false));
            drop(v);
            for _ in 0..len {
                let _ = block.try_recv();
            }
            let twin = block.clone();
            assert!(tx.try_publish(handed_back).is_ok());
            next += 1;
            let extra = publish_until_full(&mut tx, &ledger, &mut next, n);
            let published = next;
            drop(extra);
            // The handles, to be dropped in `order`.
            let mut handles: Vec<Option<Box<dyn std::any::Any>>> = vec![
                Some(Box::new(tx)),
                Some(Box::new(block)),
                Some(Box::new(twin)),
                Some(Box::new(skip)),
                Some(Box::new(evict)),
            ];
            for &i in order {
                drop(handles[i].take());
            }
            // Everything published, and the value handed back last (if any), was
            // dropped exactly once.
            let made = published + u64::from(published < n);
            for id in 0..=n {
                assert_eq!(
                    ledger.original_drops(id),
                    u32::from(id < made),
                    "cap {cap} len {len} order {order:?} id {id}"
                );
            }
            assert_eq!(ledger.live(), 0, "cap {cap} len {len} order {order:?}");
        }
    }
}
#[test]
fn read_values_are_clones_and_originals_drop_with_the_stream() {
    let n = scaled(12, 200);
    let ledger = Ledger::new(n as usize);
    let (mut tx, mut rx) = stream(n as usize, 4, LagPolicy::Block);
    let mut twin = rx.clone();
    for id in 0..n {
        tx.publish(ledger.make(id));
    }
    let mut kept = Vec::new();
    for id in 0..n {
        let v = rx.try_recv().unwrap();
        assert_eq!((v.id, v.is_original()), (id, false));
        kept.push(v);
    }
    // Reading clones: no original dropped while a subscriber still needs them.
    assert_eq!(ledger.dropped_in(0..n), 0);
    assert_eq!(ledger.clones(), n);
    assert_eq!(ledger.live() as u64, 2 * n);
    // recv_ref and recv_batch do not clone.
    for id in 0..n / 2 {
        assert_eq!(twin.recv_ref().unwrap().id, id);
    }
    while let Ok(batch) = twin.try_recv_batch(usize::MAX) {
        assert!(batch.iter().all(Tracked::is_original));
    }
    assert_eq!(ledger.clones(), n);
    drop(kept);
    drop((tx, rx, twin));
    ledger.assert_all_dropped_once(n);
}

#[test]
fn values_passed_by_every_subscriber_are_dropped_before_shutdown() {
    // Values no cursor can reach any more are dropped while the stream runs (recycling
    // a node drops its values), not only at shutdown.
    let n = scaled(40, 2_000);
    let (cap, len) = (8usize, 2usize);
    let ledger = Ledger::new(n as usize);
    let (mut tx, mut rx) = stream(cap, len, LagPolicy::Block);
    for id in 0..n {
        tx.publish(ledger.make(id));
        let v = rx.try_recv().unwrap();
        assert_eq!(v.id, id);
        drop(v);
        // Live originals: the retained nodes' contents, bounded by the cap plus a node.
        assert!(
            ledger.live() <= cap + len,
            "{} values alive after {} events",
            ledger.live(),
            id + 1
        );
    }
    drop((tx, rx));
    ledger.assert_all_dropped_once(n);
}

#[test]
fn skipped_and_evicted_values_are_dropped_once() {
    let n = scaled(40, 3_000);
    for policy in [LagPolicy::Skip, LagPolicy::Disconnect] {
        let configs: &[(usize, usize)] = if cfg!(miri) {
            &[(1, 1), (5, 3)]
        } else {
            &[(1, 1), (4, 2), (5, 3)]
        };
        for &(cap, len) in configs {
            let ledger = Ledger::new(n as usize);
            let (mut tx, mut rx) = stream(cap, len, policy);
            let mut rng = Rng::new(n ^ cap as u64);
            let mut id = 0;
            while id < n {
                for _ in 0..rng.below(3 * cap as u64) {
                    if id < n {
                        tx.publish(ledger.make(id));
                        id += 1;
                    }
                }
                for _ in 0..rng.below(2 * cap as u64) {
                    match rx.try_recv() {
                        Ok(v) => assert!(v.id < id),
                        Err(TryRecvError::Lagged(k)) => assert!(k > 0),
                        Err(TryRecvError::Evicted | TryRecvError::Closed) => {
                            assert_eq!(policy, LagPolicy::Disconnect)
                        }
                        Err(TryRecvError::Empty) => {}
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                // Skipped values are not kept around: at most the cap plus the nodes
                // a cursor may hold, and a deferred one or two.
                assert!(
                    ledger.live() <= cap + 4 * len,
                    "{policy:?} cap {cap}: {} alive after {id} events",
                    ledger.live()
                );
            }
            if rng.below(2) == 0 {
                drop(tx);
                drop(rx);
            } else {
                drop(rx);
                drop(tx);
            }
            ledger.assert_all_dropped_once(n);
        }
    }
}

#[test]
fn in_flight_at_shutdown_from_many_threads() {
    // Subscribers on threads read with every method and stop at random points; the
    // publisher drops mid-stream. Everything published is dropped exactly once.
    let rounds = scaled(2, 30);
    let n = scaled(30, 3_000);
    for round in 0..rounds {
        let ledger = Ledger::new(n as usize);
        let (mut tx, rx) = stream::<Tracked>(3, 2, LagPolicy::Block);
        let mut rng = Rng::new(round);
        let mut readers = Vec::new();
        for r in 0..3u64 {
            let mut rx = if r == 0 {
                rx.clone()
            } else {
                tx.subscribe_with(if r == 1 {
                    LagPolicy::Skip
                } else {
                    LagPolicy::Block
                })
            };
            let stop_after = rng.below(n + n / 2);
            readers.push(thread::spawn(move || {
                let mut read = 0;
                while read < stop_after {
                    let more = match read % 3 {
                        0 => rx.recv().map(drop),
                        1 => rx.recv_ref().map(|r| assert!(r.is_original())),
                        _ => rx.recv_batch(4).map(|b| assert!(!b.is_empty())),
                    };
                    match more {
                        Ok(()) | Err(RecvError::Lagged(_)) => read += 1,
                        Err(RecvError::Closed) => break,
                        Err(e) => unreachable!("{e:?}"),
                    }
                }
                // Dropped here, maybe while the publisher still runs.
            }));
        }
        drop(rx);
        let stop_at = n / 2 + rng.below(n / 2);
        let mut published = 0;
        while published < stop_at {
            // Never wait forever: every reader may already be gone, then there is room.
            tx.publish(ledger.make(published));
            published += 1;
        }
        drop(tx);
        for h in readers {
            h.join().unwrap();
        }
        ledger.assert_all_dropped_once(published);
    }
}

#[test]
fn subscribers_dropped_from_other_threads_while_publishing() {
    let n = scaled(30, 3_000);
    let ledger = Ledger::new(n as usize);
    let (mut tx, rx) = stream(2, 1, LagPolicy::Block);
    let mut handles = Vec::new();
    for k in 0..3u64 {
        let mut rx = rx.clone();
        handles.push(thread::spawn(move || {
            for _ in 0..(k + 1) * n / 4 {
                if rx.recv().is_err() {
                    break;
                }
            }
        }));
    }
    drop(rx);
    for id in 0..n {
        tx.publish(ledger.make(id));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(tx.subscriber_count(), 0);
    // With nobody left, the values still stored are dropped with the publisher.
    drop(tx);
    ledger.assert_all_dropped_once(n);
}

// ---------------------------------------------------------------------------------------
// Panicking Clone
// ---------------------------------------------------------------------------------------

/// Runs `f`, expecting the planned clone panic.
fn expect_clone_panic<R>(f: impl FnOnce() -> R) {
    let err = catch_unwind(AssertUnwindSafe(f))
        .err()
        .expect("the planned clone panic");
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(msg.contains("planned panic"), "unexpected panic: {msg}");
}

/// The receive methods that clone.
#[derive(Debug, Clone, Copy)]
enum Method {
    TryRecv,
    Recv,
    RecvTimeout,
}

fn read(rx: &mut Subscriber<Tracked>, m: Method) -> u64 {
    let v = match m {
        Method::TryRecv => rx.try_recv().expect("an event"),
        Method::Recv => rx.recv().expect("an event"),
        Method::RecvTimeout => rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("an event"),
    };
    assert!(!v.is_original());
    v.id
}

#[test]
#[cfg(panic = "unwind")] // catch_unwind around the panicking clone
fn panicking_clone_redelivers_the_event() {
    let len = 3usize;
    let n = 4 * len as u64;
    // Every method × every position within two nodes (including a node's last slot) ×
    // every policy; a panic costs seconds under miri, so there one case per method.
    let mut cases = Vec::new();
    for method in [Method::TryRecv, Method::Recv, Method::RecvTimeout] {
        for nth in 1..=(2 * len as u64 + 1) {
            for policy in [LagPolicy::Block, LagPolicy::Skip, LagPolicy::Disconnect] {
                cases.push((method, nth, policy));
            }
        }
    }
    if cfg!(miri) {
        cases = vec![
            (Method::TryRecv, len as u64, LagPolicy::Block),
            (Method::RecvTimeout, len as u64 + 1, LagPolicy::Skip),
        ];
    }
    for (method, nth, policy) in cases {
        let ctx = format!("{method:?} nth {nth} {policy:?}");
        let ledger = Ledger::new(n as usize + 1);
        let (mut tx, mut rx) = stream(2 * n as usize, len, policy);
        let mut other = tx.subscribe();
        for id in 0..n {
            tx.publish(ledger.make(id));
        }
        ledger.panic_on_nth_clone(nth);
        let mut got: Vec<u64> = (1..nth).map(|_| read(&mut rx, method)).collect();
        let before = rx.position();
        expect_clone_panic(|| read(&mut rx, method));
        assert_eq!(rx.position(), before, "{ctx}");
        assert_eq!(ledger.clones(), nth - 1, "{ctx}");
        assert_eq!(ledger.live() as u64, n, "{ctx}: only the originals live");
        // The stream keeps working: publish one more, read the rest.
        tx.publish(ledger.make(n));
        while let Ok(v) = rx.try_recv() {
            got.push(v.id);
        }
        assert_eq!(got, (0..=n).collect::<Vec<_>>(), "{ctx}");
        // Another subscriber is unaffected.
        let others: Vec<u64> = (0..=n).map(|_| other.try_recv().unwrap().id).collect();
        assert_eq!(others, (0..=n).collect::<Vec<_>>(), "{ctx}");
        assert_eq!(tx.subscriber_count(), 2, "{ctx}");
        drop((tx, rx, other));
        ledger.assert_all_dropped_once(n + 1);
    }
}

#[test]
#[cfg(panic = "unwind")] // joins a thread that panicked
fn panicking_clone_in_a_subscriber_thread_is_contained() {
    // The reader thread panics in `Clone`; the publisher keeps publishing and the
    // subscriber (moved back out of the thread) continues from the failed event.
    let ledger = Ledger::new(8);
    let (mut tx, rx) = stream(8, 2, LagPolicy::Block);
    for id in 0..4 {
        tx.publish(ledger.make(id));
    }
    ledger.panic_on_nth_clone(2);
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let shared = Arc::clone(&rx);
    let joined = thread::spawn(move || {
        let mut rx = shared.lock().unwrap();
        let first = rx.recv().unwrap().id;
        assert_eq!(first, 0);
        rx.recv().unwrap().id // panics
    })
    .join();
    assert!(joined.is_err());
    // The mutex is poisoned by the panic; the subscriber inside is intact.
    let mut rx = match Arc::try_unwrap(rx).unwrap().into_inner() {
        Ok(rx) => rx,
        Err(poisoned) => poisoned.into_inner(),
    };
    for id in 4..8 {
        tx.publish(ledger.make(id));
    }
    drop(tx);
    let rest: Vec<u64> = std::iter::from_fn(|| rx.recv().ok().map(|v| v.id)).collect();
    assert_eq!(rest, (1..8).collect::<Vec<_>>());
    drop(rx);
    ledger.assert_all_dropped_once(8);
}

/// The last subscriber leaving drops the unread payloads at once (tokio does too), not when
/// the publisher next fills a node: across node boundaries, with a few read first, with a
/// retention window (kept), and with a second subscriber (then nothing is dropped until it
/// leaves too). The publisher then goes on and every value is still dropped exactly once.
#[test]
fn last_subscriber_leaving_drops_unread_payloads_at_once() {
    for (cap, len, published, read) in [(8, 8, 5, 0), (8, 8, 5, 2), (8, 2, 7, 3), (6, 3, 6, 6)] {
        let ledger = Ledger::new(100);
        let (mut tx, mut rx) = stream::<Tracked>(cap, len, LagPolicy::Block);
        for id in 0..published {
            tx.publish(ledger.make(id));
        }
        for _ in 0..read {
            drop(rx.recv().unwrap());
        }
        assert_eq!(ledger.live(), published as usize);
        drop(rx);
        // Nodes the cursor had already passed are the publisher's to retire (at its next
        // node); everything from the cursor's node on, read or not, goes now.
        let passed = (read / len as u64) * len as u64;
        assert_eq!(
            ledger.live() as u64,
            passed,
            "cap {cap} len {len}: payloads outlived the last subscriber"
        );
        // Later events, with nobody subscribed, are kept no longer than before.
        let mut late = tx.subscribe();
        tx.publish(ledger.make(published));
        assert_eq!(late.recv().unwrap().id, published);
        drop(late);
        drop(tx);
        ledger.assert_all_dropped_once(published + 1);
    }

    // A second subscriber keeps everything it has not read.
    let ledger = Ledger::new(16);
    let (mut tx, rx) = stream::<Tracked>(8, 4, LagPolicy::Block);
    let mut other = tx.subscribe();
    for id in 0..6 {
        tx.publish(ledger.make(id));
    }
    drop(other.recv().unwrap());
    drop(rx);
    assert_eq!(ledger.live(), 6, "a subscriber still needs events 1..6");
    drop(other);
    assert_eq!(ledger.live(), 0);
    drop(tx);
    ledger.assert_all_dropped_once(6);

    // The retention window is kept for late subscribers.
    let ledger = Ledger::new(16);
    let (mut tx, rx) = tailcast::Builder::new()
        .capacity(8)
        .chunk_len(2)
        .retain(3)
        .build::<Tracked>()
        .unwrap();
    for id in 0..7 {
        tx.publish(ledger.make(id));
    }
    drop(rx);
    assert_eq!(ledger.live(), 3, "the last 3 events are retained");
    let mut replay = tx.subscribe_at(tailcast::Position::Oldest).unwrap();
    let ids: Vec<u64> = (0..3).map(|_| replay.recv().unwrap().id).collect();
    assert_eq!(ids, vec![4, 5, 6]);
    drop(replay);
    drop(tx);
    ledger.assert_all_dropped_once(7);
}

/// A payload whose `Drop` panics while the last subscriber drains: the subscriber still
/// leaves (the publisher does not wait for it), and every other value is dropped once.
#[test]
#[cfg(panic = "unwind")]
fn panicking_drop_in_the_last_subscribers_drain_still_leaves() {
    struct Bomb(bool, Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Bomb {
        fn drop(&mut self) {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.0 {
                panic!("planned panic in Bomb::drop");
            }
        }
    }
    common::silence_panics_containing("planned panic");
    let drops = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (mut tx, rx) = stream::<Bomb>(4, 4, LagPolicy::Block);
    for i in 0..4 {
        tx.publish(Bomb(i == 1, drops.clone()));
    }
    let caught = catch_unwind(AssertUnwindSafe(move || drop(rx)));
    assert!(
        caught.is_err(),
        "the planned panic escapes the subscriber's drop"
    );
    assert_eq!(
        drops.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "dropped up to the bomb"
    );
    assert_eq!(
        tx.subscriber_count(),
        0,
        "the subscriber left despite the panic"
    );
    assert!(tx.try_publish(Bomb(false, drops.clone())).is_ok());
    drop(tx);
    assert_eq!(
        drops.load(std::sync::atomic::Ordering::SeqCst),
        5,
        "each value dropped once"
    );
}
