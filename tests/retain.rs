//! The retention window (`Builder::retain`), `subscribe_at` with every `Position`,
//! `resubscribe`, and the metrics (`lag`, `is_closed`, `stats`, `Debug`).

mod common;

use std::thread;

use common::{stream, Ledger};
use tailcast::{
    Builder, ConfigError, LagPolicy, Position, PositionError, RecvError, Stats, TryRecvError,
};

fn retaining(cap: usize, len: usize, retain: usize) -> tailcast::Publisher<u64> {
    let (tx, rx) = Builder::new()
        .capacity(cap)
        .chunk_len(len)
        .retain(retain)
        .build::<u64>()
        .expect("valid");
    drop(rx);
    tx
}

/// Exactly the last `min(n, published)` events replay from `Position::Oldest`, for every
/// count published and every node alignment.
#[test]
fn oldest_replays_exactly_the_last_n_events() {
    let max: u64 = if cfg!(miri) { 12 } else { 40 };
    for (cap, len, n) in [(4, 2, 3), (8, 4, 8), (2, 2, 7), (16, 3, 5), (4, 4, 0)] {
        let mut tx = retaining(cap, len, n);
        for published in 0..max {
            let ctx = format!("cap {cap} len {len} retain {n} published {published}");
            let mut late = tx.subscribe_at(Position::Oldest).expect("oldest");
            let first = published.saturating_sub(n as u64);
            assert_eq!(late.position(), first, "{ctx}");
            assert_eq!(tx.stats().retained, published - first, "{ctx}");
            for want in first..published {
                assert_eq!(late.try_recv(), Ok(want), "{ctx}");
            }
            assert_eq!(late.try_recv(), Err(TryRecvError::Empty), "{ctx}");
            drop(late);
            // Memory: the window (or the cap) plus at most one node of events.
            let bound = (cap.max(n) as u64).div_ceil(len as u64) as usize + 2;
            assert!(tx.stats().nodes_live <= bound, "{ctx}: {:?}", tx.stats());
            tx.publish(published);
        }
    }
}

/// `Position::Seq` inside the window starts there; outside it is a `PositionError` naming
/// the window; `Live` is the next event.
#[test]
fn seq_positions_inside_and_outside_the_window() {
    let mut tx = retaining(16, 4, 6);
    tx.publish_batch(0..10);
    for seq in 4..=10 {
        let mut rx = tx.subscribe_at(Position::Seq(seq)).expect("inside");
        assert_eq!(rx.position(), seq);
        assert_eq!(rx.lag(), 10 - seq);
        let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got, (seq..10).collect::<Vec<_>>());
    }
    for seq in [0, 3, 11, u64::MAX] {
        let err = tx.subscribe_at(Position::Seq(seq)).unwrap_err();
        assert_eq!(err, PositionError::clone(&err));
        assert_eq!((err.requested(), err.first(), err.next()), (seq, 4, 10));
        assert_eq!(
            err.to_string(),
            format!("sequence {seq} is outside the retained window 4..=9 (next: 10)")
        );
    }
    let live = tx.subscribe_at(Position::Live).unwrap();
    assert_eq!(live.position(), 10);
    // No retention: the window is empty and Oldest is Live.
    let (mut tx, _rx) = stream::<u64>(4, 2, LagPolicy::Block);
    tx.publish(0);
    assert_eq!(tx.subscribe_at(Position::Oldest).unwrap().position(), 1);
    let err = tx.subscribe_at(Position::Seq(0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sequence 0 is outside the retained window, which is empty (next: 1)"
    );
}

/// A `Block` subscriber placed further back than the capacity holds the publisher until
/// it is back within the capacity (exact), and then loses nothing.
#[test]
fn a_block_replayer_behind_the_cap_holds_the_publisher_exactly() {
    let mut tx = retaining(4, 2, 10);
    tx.publish_batch(0..10);
    let mut rx = tx.subscribe_at(Position::Oldest).unwrap();
    assert_eq!(tx.stats().slowest_lag, 10);
    assert!(tx.try_publish(10).is_err(), "10 behind at capacity 4");
    for want in 0..6 {
        assert_eq!(rx.try_recv(), Ok(want));
        assert!(tx.try_publish(10).is_err(), "still {} behind", 9 - want);
    }
    assert_eq!(rx.try_recv(), Ok(6)); // 3 behind now: exactly one fits
    assert_eq!(tx.try_publish(10), Ok(()));
    assert!(tx.try_publish(11).is_err());
    let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(got, (7..=10).collect::<Vec<_>>());
}

/// A `Skip` replayer placed past the capacity is lagged by the next publish, with the
/// exact count; a `Disconnect` one is evicted.
#[test]
fn lossy_replayers_behind_the_cap_are_moved_at_the_next_publish() {
    let mut tx = retaining(4, 2, 10);
    tx.publish_batch(0..10);
    let mut skip = tx
        .subscribe_at_with(Position::Oldest, LagPolicy::Skip)
        .unwrap();
    let mut gone = tx
        .subscribe_at_with(Position::Seq(2), LagPolicy::Disconnect)
        .unwrap();
    tx.publish(10);
    // Writing event 10 keeps the newest 4 (7..=10), from the node at 8.
    assert_eq!(skip.try_recv(), Err(TryRecvError::Lagged(8)));
    assert_eq!(skip.try_recv(), Ok(8));
    assert_eq!(gone.recv(), Err(RecvError::Evicted));
    assert!(gone.is_closed());
    assert_eq!(gone.lag(), 0);
}

/// Retained events are dropped once they leave the window, with no subscriber: nothing
/// older than the window plus one node stays alive.
#[test]
fn values_leave_memory_as_they_leave_the_window() {
    let drops = Ledger::new(50);
    let (mut tx, rx) = Builder::new()
        .capacity(4)
        .chunk_len(2)
        .retain(5)
        .build()
        .unwrap();
    drop(rx);
    for i in 0..50u64 {
        tx.publish(drops.make(i));
        let alive = drops.live();
        // The window (5) plus at most one node (2) plus the tail's linked node (empty).
        assert!(alive <= 5 + 2, "published {}: {alive} alive", i + 1);
        assert!(alive >= (i + 1).min(5) as usize);
    }
    drop(tx);
    assert_eq!(drops.live(), 0);
    drops.assert_all_dropped_once(50);
}

/// `resubscribe` starts at the live end, with the source's policy, from any thread.
#[test]
fn resubscribe_starts_at_the_live_end() {
    for policy in [LagPolicy::Block, LagPolicy::Skip, LagPolicy::Disconnect] {
        for (cap, len) in [(4, 2), (4, 4), (8, 3), (1, 1)] {
            let (mut tx, mut rx) = stream::<u64>(cap, len, policy);
            for i in 0..(3 * len as u64) {
                tx.publish(i);
                let fresh = rx.resubscribe();
                assert_eq!(fresh.position(), i + 1);
                assert_eq!(fresh.lag_policy(), policy);
                assert_eq!(fresh.lag(), 0);
                drop(fresh);
                while rx.try_recv().is_ok() {}
            }
            let mut fresh = rx.resubscribe();
            tx.publish(100);
            assert_eq!(fresh.try_recv(), Ok(100));
            drop(tx);
            let mut after_close = rx.resubscribe();
            assert!(after_close.is_closed());
            assert_eq!(after_close.try_recv(), Err(TryRecvError::Closed));
        }
    }
}

/// `resubscribe` on another thread while the publisher fills and retires nodes: every
/// new cursor receives exactly the events after its own start, in order.
#[test]
fn resubscribe_races_the_publisher() {
    let events: u64 = if cfg!(miri) { 40 } else { 20_000 };
    let (mut tx, rx) = stream::<u64>(8, 2, LagPolicy::Skip);
    let joiner = thread::spawn(move || {
        let mut checked = 0;
        loop {
            let mut fresh = rx.resubscribe();
            let mut want = fresh.position();
            loop {
                match fresh.try_recv() {
                    Ok(v) => {
                        assert_eq!(v, want);
                        want += 1;
                        checked += 1;
                    }
                    Err(TryRecvError::Lagged(n)) => want += n,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return checked,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
    });
    for i in 0..events {
        tx.publish(i);
    }
    drop(tx);
    joiner.join().unwrap();
}

/// `stats`, `lag`, `is_closed` and `Debug` with several policies.
#[test]
fn stats_report_the_slowest_subscriber() {
    let (mut tx, mut block) = stream::<u64>(16, 4, LagPolicy::Block);
    let mut skip = tx.subscribe_with(LagPolicy::Skip);
    assert_eq!(
        tx.stats(),
        Stats {
            published: 0,
            subscribers: 2,
            slowest_lag: 0,
            slowest_policy: Some(LagPolicy::Block),
            nodes_live: 1,
            nodes_pooled: 0,
            retained: 0,
        }
    );
    tx.publish_batch(0..10);
    for _ in 0..7 {
        block.try_recv().unwrap();
    }
    for _ in 0..2 {
        skip.try_recv().unwrap();
    }
    let stats = tx.stats();
    assert_eq!(stats.published, 10);
    assert_eq!(stats.slowest_lag, 8);
    assert_eq!(stats.slowest_policy, Some(LagPolicy::Skip));
    assert_eq!((block.lag(), skip.lag()), (3, 8));
    let debug = format!("{tx:?}");
    assert!(
        debug.contains("published: 10") && debug.contains("slowest_lag: 8"),
        "{debug}"
    );
    let debug = format!("{block:?}");
    assert!(
        debug.contains("position: 7") && debug.contains("lag: 3"),
        "{debug}"
    );
    drop(skip);
    assert_eq!(tx.stats().slowest_lag, 3);
    assert_eq!(tx.stats().slowest_policy, Some(LagPolicy::Block));
    drop(block);
    let stats = tx.stats();
    assert_eq!((stats.subscribers, stats.slowest_lag), (0, 0));
    assert_eq!(stats.slowest_policy, None);
}

#[test]
fn retain_out_of_range_is_a_config_error() {
    let err: ConfigError = Builder::new()
        .retain(tailcast::MAX_CAPACITY + 1)
        .build::<u8>()
        .unwrap_err();
    assert_eq!(err.field(), "retain");
    assert!(err.to_string().starts_with("invalid retain: "), "{err}");
}
