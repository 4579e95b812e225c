//! The public API contract, single-threaded where possible: sequence semantics, close
//! semantics of every receive method, `try_publish`/`publish_timeout`, counts and
//! positions, batches and references, `Builder` validation and the zero-subscriber case.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{drain_values, scaled, Ledger};
use tailcast::{
    channel, Builder, ConfigError, Full, LagPolicy, Publisher, RecvError, RecvTimeoutError,
    Subscriber, TryRecvError, MAX_CAPACITY, MAX_CHUNK_LEN, MAX_YIELD_BEFORE_PARK,
};

/// A generous timeout for waits that must succeed (never reached in a passing run).
const LONG: Duration = Duration::from_secs(60);
/// A short timeout for waits that must time out.
const SHORT: Duration = Duration::from_millis(10);

/// A `Block` stream of `u64`.
fn stream(capacity: usize, chunk_len: usize) -> (Publisher<u64>, Subscriber<u64>) {
    common::stream(capacity, chunk_len, LagPolicy::Block)
}

// ---------------------------------------------------------------------------------------
// Sequence semantics
// ---------------------------------------------------------------------------------------

#[test]
fn every_event_in_order_across_many_nodes() {
    let n = scaled(20, 5_000);
    for (cap, len) in [(1, 1), (2, 1), (2, 2), (3, 2), (5, 3), (8, 8), (16, 4)] {
        let (mut tx, mut rx) = stream(cap, len);
        let mut got = Vec::new();
        let mut next = 0;
        while next < n {
            // Fill up to the cap, then drain.
            while next < n && tx.try_publish(next).is_ok() {
                next += 1;
            }
            got.extend(drain_values(&mut rx));
        }
        assert_eq!(tx.published(), n);
        drop(tx);
        got.extend(drain_values(&mut rx));
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "cap {cap} chunk_len {len}");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn late_subscriber_sees_only_later_events() {
    for offset in 0..6u64 {
        let (mut tx, mut early) = stream(16, 4);
        for i in 0..offset {
            tx.publish(i);
        }
        let mut late = tx.subscribe();
        assert_eq!(late.position(), offset);
        assert_eq!(late.try_recv(), Err(TryRecvError::Empty));
        for i in offset..12 {
            tx.publish(i);
        }
        drop(tx);
        assert_eq!(drain_values(&mut late), (offset..12).collect::<Vec<_>>());
        assert_eq!(drain_values(&mut early), (0..12).collect::<Vec<_>>());
        assert_eq!(late.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn subscribe_with_no_events_then_close_is_closed() {
    let (tx, rx) = stream(4, 2);
    let mut late = tx.subscribe();
    drop(rx);
    tx.close();
    assert_eq!(late.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(late.recv(), Err(RecvError::Closed));
}

#[test]
fn clone_starts_at_same_position_and_is_independent() {
    for read_before in 0..7u64 {
        let (mut tx, mut rx) = stream(16, 3);
        for i in 0..10 {
            tx.publish(i);
        }
        for i in 0..read_before {
            assert_eq!(rx.try_recv(), Ok(i));
        }
        let mut twin = rx.clone();
        assert_eq!(twin.position(), read_before);
        assert_eq!(twin.lag_policy(), rx.lag_policy());
        // The original moves on; the clone is unaffected, and vice versa.
        assert_eq!(rx.try_recv(), Ok(read_before));
        assert_eq!(rx.try_recv(), Ok(read_before + 1));
        assert_eq!(twin.position(), read_before);
        assert_eq!(
            drain_values(&mut twin),
            (read_before..10).collect::<Vec<_>>()
        );
        assert_eq!(rx.position(), read_before + 2);
        tx.publish(10);
        assert_eq!(twin.try_recv(), Ok(10));
        assert_eq!(
            drain_values(&mut rx),
            (read_before + 2..11).collect::<Vec<_>>()
        );
        // Dropping the clone does not affect the source.
        drop(twin);
        tx.publish(11);
        assert_eq!(rx.try_recv(), Ok(11));
    }
}

#[test]
fn clone_of_subscriber_at_node_end() {
    // A subscriber that consumed a whole node with `recv_batch` has not moved its cursor
    // yet; its clone must continue with the next node, not repeat or skip.
    let (mut tx, mut rx) = stream(8, 4);
    tx.publish_batch(0..6);
    assert_eq!(&*rx.recv_batch(10).unwrap(), &[0, 1, 2, 3]);
    let mut twin = rx.clone();
    assert_eq!(twin.position(), 4);
    assert_eq!(drain_values(&mut twin), vec![4, 5]);
    assert_eq!(drain_values(&mut rx), vec![4, 5]);
}

// ---------------------------------------------------------------------------------------
// Close semantics: every event, then `Closed`, for every receive method
// ---------------------------------------------------------------------------------------

/// A stream of `n` events (crossing several nodes) whose publisher is gone.
fn closed_stream(n: u64, by_close: bool) -> Subscriber<u64> {
    let (mut tx, rx) = stream(64, 3);
    tx.publish_batch(0..n);
    if by_close {
        tx.close();
    } else {
        drop(tx);
    }
    rx
}

#[test]
fn close_try_recv() {
    for by_close in [false, true] {
        let mut rx = closed_stream(10, by_close);
        for i in 0..10 {
            assert_eq!(rx.try_recv(), Ok(i));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn close_recv() {
    for by_close in [false, true] {
        let mut rx = closed_stream(10, by_close);
        for i in 0..10 {
            assert_eq!(rx.recv(), Ok(i));
        }
        assert_eq!(rx.recv(), Err(RecvError::Closed));
        assert_eq!(rx.recv(), Err(RecvError::Closed));
    }
}

#[test]
fn close_recv_timeout() {
    for by_close in [false, true] {
        let mut rx = closed_stream(10, by_close);
        for i in 0..10 {
            assert_eq!(rx.recv_timeout(LONG), Ok(i));
        }
        assert_eq!(rx.recv_timeout(LONG), Err(RecvTimeoutError::Closed));
        assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Closed));
    }
}

#[test]
fn close_recv_ref() {
    for by_close in [false, true] {
        let mut rx = closed_stream(10, by_close);
        for i in 0..10 {
            assert_eq!(*rx.recv_ref().unwrap(), i);
        }
        assert_eq!(rx.recv_ref().map(|r| *r), Err(RecvError::Closed));
        assert_eq!(rx.try_recv_ref().map(|r| *r), Err(TryRecvError::Closed));
    }
}

#[test]
fn close_recv_batch() {
    for by_close in [false, true] {
        let mut rx = closed_stream(10, by_close);
        let mut got = Vec::new();
        loop {
            match rx.recv_batch(usize::MAX) {
                Ok(batch) => {
                    assert!(!batch.is_empty() && batch.len() <= 3, "{batch:?}");
                    got.extend_from_slice(&batch);
                }
                Err(e) => {
                    assert_eq!(e, RecvError::Closed);
                    break;
                }
            }
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert_eq!(rx.recv_batch(1).map(|b| b.len()), Err(RecvError::Closed));
        assert_eq!(
            rx.try_recv_batch(1).map(|b| b.len()),
            Err(TryRecvError::Closed)
        );
    }
}

#[test]
fn close_with_nothing_published() {
    let (tx, mut rx) = stream(4, 2);
    let mut twin = rx.clone();
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(rx.recv(), Err(RecvError::Closed));
    assert_eq!(twin.recv_timeout(SHORT), Err(RecvTimeoutError::Closed));
    assert_eq!(twin.recv_ref().map(|r| *r), Err(RecvError::Closed));
}

#[test]
fn close_at_exact_node_boundary() {
    // The last event fills its node, so a fresh (empty) node is linked after it.
    for n in [2u64, 4, 6] {
        let (mut tx, mut rx) = stream(8, 2);
        tx.publish_batch(0..n);
        drop(tx);
        assert_eq!(drain_values(&mut rx), (0..n).collect::<Vec<_>>());
        assert_eq!(rx.recv(), Err(RecvError::Closed));
    }
}

// ---------------------------------------------------------------------------------------
// Publishing: try_publish, publish_timeout, publish_batch
// ---------------------------------------------------------------------------------------

#[test]
fn try_publish_full_hands_the_value_back() {
    let (mut tx, mut rx) = Builder::new()
        .capacity(2)
        .chunk_len(1)
        .build::<String>()
        .unwrap();
    assert_eq!(tx.try_publish("a".to_string()), Ok(()));
    assert_eq!(tx.try_publish("b".to_string()), Ok(()));
    let err = tx.try_publish("c".to_string()).unwrap_err();
    assert_eq!(err, Full("c".to_string()));
    assert_eq!(format!("{err:?}"), "Full(..)");
    assert_eq!(
        err.to_string(),
        "stream is full: a blocking subscriber is `capacity` events behind"
    );
    assert_eq!(err.into_inner(), "c");
    assert_eq!(tx.published(), 2);
    // Full again until the subscriber moves.
    assert_eq!(tx.try_publish("d".to_string()), Err(Full("d".to_string())));
    assert_eq!(rx.try_recv().as_deref(), Ok("a"));
    assert_eq!(tx.try_publish("c".to_string()), Ok(()));
    assert_eq!(rx.try_recv().as_deref(), Ok("b"));
    assert_eq!(rx.try_recv().as_deref(), Ok("c"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn publish_timeout_times_out_and_hands_the_value_back() {
    let (mut tx, mut rx) = stream(1, 1);
    assert_eq!(tx.publish_timeout(0, SHORT), Ok(()));
    assert_eq!(tx.publish_timeout(1, SHORT), Err(Full(1)));
    assert_eq!(tx.publish_timeout(2, Duration::ZERO), Err(Full(2)));
    assert_eq!(tx.published(), 1);
    assert_eq!(rx.try_recv(), Ok(0));
    // Room now: succeeds at once, even with a zero or an unrepresentable timeout.
    assert_eq!(tx.publish_timeout(1, Duration::ZERO), Ok(()));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(tx.publish_timeout(2, Duration::MAX), Ok(()));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn publish_timeout_succeeds_when_room_is_made_during_the_wait() {
    let (mut tx, mut rx) = stream(2, 1);
    tx.publish(0);
    tx.publish(1);
    assert_eq!(tx.try_publish(2), Err(Full(2)));
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv() {
            got.push(v);
        }
        got
    });
    for i in 2..20 {
        assert_eq!(tx.publish_timeout(i, LONG), Ok(()));
    }
    drop(tx);
    assert_eq!(reader.join().unwrap(), (0..20).collect::<Vec<_>>());
}

#[test]
fn publish_batch_in_order_with_backpressure() {
    let n = scaled(40, 2_000);
    let (mut tx, mut rx) = stream(3, 2);
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv() {
            got.push(v);
        }
        got
    });
    tx.publish_batch(0..n / 2);
    tx.publish_batch(std::iter::empty());
    tx.publish_batch(n / 2..n);
    assert_eq!(tx.published(), n);
    drop(tx);
    assert_eq!(reader.join().unwrap(), (0..n).collect::<Vec<_>>());
}

#[test]
fn publish_batch_wakes_a_parked_subscriber() {
    // Fewer events than a node: the batch's single wake-up must still reach the reader.
    let (mut tx, mut rx) = stream(64, 16);
    let reader = thread::spawn(move || (rx.recv(), rx.recv(), rx.recv()));
    tx.publish_batch([7, 8, 9]);
    assert_eq!(reader.join().unwrap(), (Ok(7), Ok(8), Ok(9)));
}

// ---------------------------------------------------------------------------------------
// Counts, positions, policies
// ---------------------------------------------------------------------------------------

#[test]
fn subscriber_count_tracks_joins_and_leaves() {
    let (tx, rx) = stream(4, 2);
    assert_eq!(tx.subscriber_count(), 1);
    let a = tx.subscribe();
    assert_eq!(tx.subscriber_count(), 2);
    let b = a.clone();
    assert_eq!(tx.subscriber_count(), 3);
    let c = tx.subscribe_with(LagPolicy::Skip);
    let d = tx.subscribe_with(LagPolicy::Disconnect);
    assert_eq!(tx.subscriber_count(), 5);
    drop(a);
    assert_eq!(tx.subscriber_count(), 4);
    drop(rx);
    drop(c);
    assert_eq!(tx.subscriber_count(), 2);
    drop((b, d));
    assert_eq!(tx.subscriber_count(), 0);
    let _e = tx.subscribe();
    assert_eq!(tx.subscriber_count(), 1);
}

#[test]
fn subscriber_count_after_eviction_and_lag() {
    let (mut tx, rx) = stream(2, 1);
    drop(rx);
    let mut skip = tx.subscribe_with(LagPolicy::Skip);
    let mut evict = tx.subscribe_with(LagPolicy::Disconnect);
    let evict_twin = evict.clone();
    assert_eq!(tx.subscriber_count(), 3);
    for i in 0..5 {
        tx.publish(i);
    }
    // Both Disconnect subscribers were evicted; the Skip one is still attached.
    assert_eq!(tx.subscriber_count(), 1);
    assert_eq!(evict.try_recv(), Err(TryRecvError::Evicted));
    assert_eq!(skip.try_recv(), Err(TryRecvError::Lagged(3)));
    drop(evict);
    drop(evict_twin);
    assert_eq!(tx.subscriber_count(), 1);
    drop(skip);
    assert_eq!(tx.subscriber_count(), 0);
}

#[test]
fn position_counts_received_events() {
    let (mut tx, mut rx) = stream(16, 3);
    assert_eq!(rx.position(), 0);
    tx.publish_batch(0..10);
    assert_eq!(rx.position(), 0);
    for i in 0..4 {
        assert_eq!(rx.try_recv(), Ok(i));
        assert_eq!(rx.position(), i + 1);
    }
    let batch_len = rx.recv_batch(10).unwrap().len() as u64;
    assert_eq!(batch_len, 2, "the rest of the node [3, 6)");
    assert_eq!(rx.position(), 6);
    let _ = rx.recv_ref().unwrap();
    assert_eq!(rx.position(), 7);
    assert_eq!(rx.try_recv_batch(0).unwrap().len(), 0);
    assert_eq!(rx.position(), 7);
    assert_eq!(tx.subscribe().position(), 10);
    assert_eq!(tx.published(), 10);
}

#[test]
fn lag_policy_of_subscribers() {
    let (tx, rx) = Builder::new()
        .capacity(4)
        .lag_policy(LagPolicy::Skip)
        .build::<u8>()
        .unwrap();
    assert_eq!(rx.lag_policy(), LagPolicy::Skip);
    assert_eq!(tx.subscribe().lag_policy(), LagPolicy::Skip);
    let d = tx.subscribe_with(LagPolicy::Disconnect);
    assert_eq!(d.lag_policy(), LagPolicy::Disconnect);
    assert_eq!(d.clone().lag_policy(), LagPolicy::Disconnect);
    assert_eq!(
        tx.subscribe_with(LagPolicy::Block).lag_policy(),
        LagPolicy::Block
    );
    let (_tx, rx) = channel::<u8>(4);
    assert_eq!(rx.lag_policy(), LagPolicy::Block);
    assert_eq!(LagPolicy::default(), LagPolicy::Block);
}

// ---------------------------------------------------------------------------------------
// recv_batch and recv_ref
// ---------------------------------------------------------------------------------------

#[test]
fn recv_batch_returns_at_most_one_node_and_respects_max() {
    let (mut tx, mut rx) = stream(32, 4);
    tx.publish_batch(0..10);
    assert_eq!(&*rx.recv_batch(0).unwrap(), &[] as &[u64]);
    assert_eq!(&*rx.recv_batch(3).unwrap(), &[0, 1, 2]);
    assert_eq!(&*rx.recv_batch(3).unwrap(), &[3]);
    assert_eq!(&*rx.recv_batch(usize::MAX).unwrap(), &[4, 5, 6, 7]);
    assert_eq!(&*rx.recv_batch(1).unwrap(), &[8]);
    assert_eq!(&*rx.recv_batch(100).unwrap(), &[9]);
    assert_eq!(
        rx.try_recv_batch(100).map(|b| b.len()),
        Err(TryRecvError::Empty)
    );
    // max 0 returns at once even with nothing available.
    assert_eq!(rx.recv_batch(0).unwrap().len(), 0);
    assert_eq!(rx.try_recv_batch(0).unwrap().len(), 0);
    assert_eq!(rx.position(), 10);
}

#[test]
fn recv_batch_returns_everything_available_in_the_node() {
    // Events published into the current node after an earlier partial batch must be part
    // of the next batch ("every event already available in the current node, up to max").
    let (mut tx, mut rx) = stream(32, 8);
    tx.publish_batch(0..3);
    assert_eq!(&*rx.recv_batch(1).unwrap(), &[0]);
    tx.publish_batch(3..6);
    assert_eq!(&*rx.recv_batch(100).unwrap(), &[1, 2, 3, 4, 5]);
}

#[test]
fn recv_batch_waits_for_an_event() {
    let (mut tx, mut rx) = stream(8, 4);
    let reader = thread::spawn(move || {
        let first = rx.recv_batch(8).unwrap().to_vec();
        (first, rx)
    });
    tx.publish(42);
    let (first, _rx) = reader.join().unwrap();
    assert_eq!(first, vec![42]);
}

#[test]
fn default_chunk_len_bounds_a_batch() {
    // Default chunk_len: capacity / 4 but at least min(capacity, 8), at most 64 (2 under
    // miri): a small stream's batch is the whole stream, not one event.
    let expected_for = if cfg!(miri) {
        [
            (1usize, 1usize),
            (4, 2),
            (7, 2),
            (8, 2),
            (100, 2),
            (1024, 2),
        ]
    } else {
        [(1, 1), (4, 4), (7, 7), (8, 8), (100, 25), (1024, 64)]
    };
    for (cap, expected) in expected_for {
        let (mut tx, mut rx) = channel::<u32>(cap);
        let n = cap.min(200);
        tx.publish_batch(0..n as u32);
        let batch = rx.recv_batch(usize::MAX).unwrap();
        assert_eq!(batch.len(), expected.min(n), "capacity {cap}");
        assert_eq!(batch[0], 0);
    }
}

/// A payload that is neither `Clone` nor `Copy`.
#[derive(Debug, PartialEq)]
struct NoClone(u64);

#[test]
fn recv_ref_needs_no_clone() {
    let (mut tx, mut rx) = Builder::new()
        .capacity(8)
        .chunk_len(3)
        .build::<NoClone>()
        .unwrap();
    for i in 0..7 {
        tx.publish(NoClone(i));
    }
    for i in 0..4 {
        let r = rx.recv_ref().unwrap();
        assert_eq!(*r, NoClone(i));
        assert_eq!(format!("{r:?}"), format!("NoClone({i})"));
    }
    assert_eq!(rx.try_recv_ref().unwrap().0, 4);
    assert_eq!(
        rx.recv_batch(10)
            .unwrap()
            .iter()
            .map(|v| v.0)
            .collect::<Vec<_>>(),
        vec![5]
    );
    assert_eq!(rx.recv_ref().unwrap().0, 6);
    assert_eq!(rx.try_recv_ref().map(|r| r.0), Err(TryRecvError::Empty));
    drop(tx);
    assert_eq!(rx.recv_ref().map(|r| r.0), Err(RecvError::Closed));
}

#[test]
fn recv_timeout_times_out_on_an_open_stream() {
    let (mut tx, mut rx) = stream(4, 2);
    assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Timeout)
    );
    tx.publish(5);
    assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(5));
    assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));
    let writer = thread::spawn(move || {
        tx.publish(6);
        tx
    });
    assert_eq!(rx.recv_timeout(LONG), Ok(6));
    drop(writer.join().unwrap());
    assert_eq!(
        rx.recv_timeout(Duration::MAX),
        Err(RecvTimeoutError::Closed)
    );
}

// ---------------------------------------------------------------------------------------
// Builder and channel validation
// ---------------------------------------------------------------------------------------

fn config_error(b: Builder) -> ConfigError {
    b.build::<u8>().map(|_| ()).unwrap_err()
}

#[test]
fn builder_rejects_invalid_capacity() {
    let e = config_error(Builder::new().capacity(0));
    assert_eq!(
        e.to_string(),
        "invalid capacity: 0 (allowed: 1..=4294967296)"
    );
    assert_eq!((e.field(), e.value()), ("capacity", 0));

    let too_big = (1usize << 32) + 1;
    let e = config_error(Builder::new().capacity(too_big));
    assert_eq!(
        e.to_string(),
        "invalid capacity: 4294967297 (allowed: 1..=4294967296)"
    );
    assert_eq!((e.field(), e.value()), ("capacity", too_big));

    let e = config_error(Builder::new().capacity(usize::MAX).chunk_len(1));
    assert_eq!(e.field(), "capacity");
}

#[test]
fn builder_rejects_invalid_chunk_len() {
    let e = config_error(Builder::new().capacity(8).chunk_len(0));
    assert_eq!(
        e.to_string(),
        "invalid chunk_len: 0 (allowed: 1..=8, at most capacity)"
    );
    assert_eq!((e.field(), e.value()), ("chunk_len", 0));

    let e = config_error(Builder::new().capacity(8).chunk_len(9));
    assert_eq!(
        e.to_string(),
        "invalid chunk_len: 9 (allowed: 1..=8, at most capacity)"
    );
    assert_eq!((e.field(), e.value()), ("chunk_len", 9));

    let e = config_error(
        Builder::new()
            .capacity(1 << 20)
            .chunk_len(MAX_CHUNK_LEN + 1),
    );
    assert_eq!(
        e.to_string(),
        "invalid chunk_len: 65537 (allowed: 1..=65536, at most capacity)"
    );
    assert_eq!((e.field(), e.value()), ("chunk_len", MAX_CHUNK_LEN + 1));

    // An invalid capacity is reported first, whatever the chunk length.
    let e = config_error(Builder::new().capacity(0).chunk_len(0));
    assert_eq!(e.field(), "capacity");
    // The chunk length is checked against the capacity set last, in any call order.
    let e = config_error(Builder::new().chunk_len(16).capacity(8));
    assert_eq!(e.field(), "chunk_len");
}

#[test]
fn builder_rejects_a_yield_budget_over_one_second() {
    let over = MAX_YIELD_BEFORE_PARK + Duration::from_nanos(1);
    let e = config_error(Builder::new().yield_before_park(over));
    assert_eq!(
        e.to_string(),
        "invalid yield_before_park: 1000001 (allowed: 0..=1000000 microseconds)"
    );
    assert_eq!((e.field(), e.value()), ("yield_before_park", 1_000_001));
    let e = config_error(Builder::new().yield_before_park(Duration::MAX));
    assert_eq!((e.field(), e.value()), ("yield_before_park", usize::MAX));
    // Capacity and chunk length are reported first.
    let e = config_error(Builder::new().capacity(0).yield_before_park(over));
    assert_eq!(e.field(), "capacity");
    // The boundaries are accepted.
    for budget in [
        Duration::ZERO,
        Duration::from_nanos(1),
        MAX_YIELD_BEFORE_PARK,
    ] {
        assert!(Builder::new()
            .yield_before_park(budget)
            .build::<u8>()
            .is_ok());
    }
}

#[test]
fn builder_accepts_the_boundaries() {
    assert_eq!(MAX_CAPACITY, 1 << 32);
    assert_eq!(MAX_CHUNK_LEN, 1 << 16);
    let cases: &[(usize, Option<usize>)] = &[
        (1, None),
        (1, Some(1)),
        (MAX_CAPACITY, None),
        (MAX_CAPACITY, Some(1)),
        (8, Some(8)),
        (
            1 << 20,
            Some(if cfg!(miri) { 1 << 10 } else { MAX_CHUNK_LEN }),
        ),
        (
            MAX_CHUNK_LEN,
            Some(if cfg!(miri) { 1 } else { MAX_CHUNK_LEN }),
        ),
    ];
    for &(cap, len) in cases {
        let mut b = Builder::new().capacity(cap);
        if let Some(len) = len {
            b = b.chunk_len(len);
        }
        let (mut tx, mut rx) = b
            .build::<u8>()
            .unwrap_or_else(|e| panic!("capacity {cap} chunk_len {len:?}: {e}"));
        tx.publish(1);
        assert_eq!(rx.try_recv(), Ok(1));
    }
    // Builder::default() is Builder::new(): capacity 1024.
    let (mut tx, _rx) = Builder::default().chunk_len(1024).build::<u8>().unwrap();
    assert!(tx.try_publish(0).is_ok());
    assert!(Builder::default().chunk_len(1025).build::<u8>().is_err());
}

#[test]
#[should_panic(expected = "invalid capacity: 0")]
fn channel_with_capacity_zero_panics() {
    let _ = channel::<u8>(0);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "the capacity 0 case covers this path; a panic costs seconds under miri"
)]
#[should_panic(expected = "invalid capacity: 4294967297")]
fn channel_with_capacity_too_large_panics() {
    let _ = channel::<u8>(MAX_CAPACITY + 1);
}

// ---------------------------------------------------------------------------------------
// Zero subscribers
// ---------------------------------------------------------------------------------------

#[test]
fn zero_subscribers_publishing_never_waits() {
    let n = scaled(20, 10_000);
    let (mut tx, rx) = stream(1, 1);
    drop(rx);
    assert_eq!(tx.subscriber_count(), 0);
    for i in 0..n {
        assert_eq!(tx.try_publish(i), Ok(()), "event {i}");
    }
    // `publish` must not wait either (this would hang otherwise).
    for i in n..2 * n {
        tx.publish(i);
    }
    assert_eq!(tx.publish_timeout(2 * n, Duration::ZERO), Ok(()));
    // A subscriber joining now sees only what comes next.
    let mut rx = tx.subscribe();
    tx.publish(7);
    assert_eq!(rx.try_recv(), Ok(7));
}

#[test]
fn zero_subscribers_nothing_accumulates() {
    let n = scaled(30, 20_000);
    for (cap, len) in [(1usize, 1usize), (4, 2), (16, 4), (64, 64)] {
        let ledger = Ledger::new(n as usize);
        let (mut tx, rx) = Builder::new().capacity(cap).chunk_len(len).build().unwrap();
        drop(rx);
        for id in 0..n {
            tx.publish(ledger.make(id));
            // Values still held by the stream (no clones exist): never more than the cap.
            let held = ledger.live();
            assert!(
                held <= cap,
                "cap {cap} chunk_len {len}: {held} values held after {} events",
                id + 1
            );
        }
        assert_eq!(ledger.clones(), 0);
        assert_eq!(ledger.dropped_in(0..n) + ledger.live() as u64, n);
        drop(tx);
        ledger.assert_all_dropped_once(n);
    }
}

#[test]
fn subscribers_of_other_streams_are_independent() {
    let (mut tx1, mut rx1) = stream(2, 1);
    let (mut tx2, mut rx2) = stream(2, 1);
    tx1.publish(1);
    tx2.publish(2);
    tx1.publish(3);
    assert_eq!(tx1.try_publish(5), Err(Full(5)));
    assert_eq!(tx2.try_publish(4), Ok(()));
    assert_eq!(drain_values(&mut rx1), vec![1, 3]);
    assert_eq!(drain_values(&mut rx2), vec![2, 4]);
}

#[test]
fn error_types_display() {
    assert_eq!(RecvError::Closed.to_string(), "stream closed");
    assert_eq!(
        RecvError::Lagged(3).to_string(),
        "subscriber lagged and missed 3 events"
    );
    assert_eq!(
        RecvError::Evicted.to_string(),
        "subscriber lagged and was evicted"
    );
    assert_eq!(TryRecvError::Empty.to_string(), "no event available");
    assert_eq!(
        RecvTimeoutError::Timeout.to_string(),
        "timed out waiting for an event"
    );
    assert_eq!(
        TryRecvError::from(RecvError::Lagged(2)),
        TryRecvError::Lagged(2)
    );
    assert_eq!(
        RecvTimeoutError::from(RecvError::Evicted),
        RecvTimeoutError::Evicted
    );
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Full(Arc::new(1)));
    assert!(boxed.to_string().starts_with("stream is full"));
}

/// `build_publisher`: no cursor, so publishing far past the capacity never waits (with
/// `channel`'s unread `_rx` the same loop stops at `capacity`), and a later subscriber
/// joins at the live end; the retain window still works.
#[test]
fn build_publisher_has_no_subscriber_and_never_waits() {
    let mut tx = tailcast::Builder::new()
        .capacity(4)
        .chunk_len(2)
        .retain(3)
        .build_publisher::<u32>()
        .unwrap();
    assert_eq!(tx.subscriber_count(), 0);
    for i in 0..40 {
        assert!(
            tx.try_publish(i).is_ok(),
            "event {i} waited with no subscriber"
        );
    }
    let mut old = tx.subscribe_at(tailcast::Position::Oldest).unwrap();
    let mut live = tx.subscribe();
    tx.publish(40);
    assert_eq!(live.try_recv(), Ok(40));
    let got: Vec<u32> = std::iter::from_fn(|| old.try_recv().ok()).collect();
    assert_eq!(got, vec![37, 38, 39, 40]);

    // The trap it avoids: an unread first subscriber stops the publisher at capacity.
    let (mut tx, _rx) = tailcast::Builder::new().capacity(4).build::<u32>().unwrap();
    for i in 0..4 {
        assert!(tx.try_publish(i).is_ok());
    }
    assert_eq!(tx.try_publish(4).map_err(|f| f.into_inner()), Err(4));
}

#[test]
fn build_publisher_reports_bad_config() {
    let err = tailcast::Builder::new()
        .capacity(0)
        .build_publisher::<u8>()
        .unwrap_err();
    assert_eq!(err.field(), "capacity");
}

/// The iterators: loss is an item, the close ends the iteration, `try_iter` never waits.
#[test]
fn iterators_yield_loss_as_items_and_end_at_close() {
    let skip = || {
        let tx = Builder::new()
            .capacity(2)
            .chunk_len(1)
            .build_publisher::<u32>()
            .unwrap();
        let rx = tx.subscribe_with(LagPolicy::Skip);
        (tx, rx)
    };
    let (mut tx, mut rx) = skip();
    tx.publish_batch(0..5);
    drop(tx);
    let got: Vec<_> = rx.iter().collect();
    assert_eq!(got, vec![Err(RecvError::Lagged(3)), Ok(3), Ok(4)]);
    assert_eq!(rx.iter().next(), None, "fused after the close");

    let (mut tx, rx) = skip();
    tx.publish_batch(0..5);
    drop(tx);
    let got: Vec<_> = rx.into_iter().collect();
    assert_eq!(got, vec![Err(RecvError::Lagged(3)), Ok(3), Ok(4)]);

    let tx = Builder::new()
        .capacity(2)
        .chunk_len(1)
        .build_publisher::<u32>()
        .unwrap();
    let mut evicted = tx.subscribe_with(LagPolicy::Disconnect);
    let mut tx = tx;
    tx.publish_batch(0..5);
    // Open stream: the eviction is an item, then the iteration ends.
    let got: Vec<_> = (&mut evicted).into_iter().collect();
    assert_eq!(got, vec![Err(RecvError::Evicted)]);

    let (mut tx, mut rx) = channel::<u32>(8);
    tx.publish_batch([1, 2]);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![Ok(1), Ok(2)]);
    assert_eq!(
        rx.try_iter().next(),
        None,
        "open and empty: ends without waiting"
    );
    tx.publish_batch([3, 4]);
    drop(tx);
    let mut seen = Vec::new();
    for item in &mut rx {
        seen.push(item.unwrap());
    }
    assert_eq!(seen, vec![3, 4]);
    assert_eq!(rx.iter().next(), None);
}

#[test]
fn len_capacity_and_same_stream() {
    let (mut tx, mut rx) = channel::<u32>(16);
    assert_eq!((tx.capacity(), rx.capacity()), (16, 16));
    assert!(rx.is_empty());
    tx.publish_batch(0..5);
    assert_eq!(rx.len(), 5);
    rx.recv().unwrap();
    assert_eq!(rx.len(), 4);
    let other = tx.subscribe();
    assert_eq!(other.len(), 0);
    assert!(rx.same_stream(&other) && other.same_stream(&rx.clone()));
    let (_tx2, stranger) = channel::<u32>(16);
    assert!(!rx.same_stream(&stranger));
}

#[test]
fn error_conversions() {
    use tailcast::{RecvTimeoutError, TryRecvError};
    assert_eq!(RecvError::from(TryRecvError::Closed), RecvError::Closed);
    assert_eq!(
        RecvError::from(TryRecvError::Lagged(7)),
        RecvError::Lagged(7)
    );
    assert_eq!(RecvError::from(TryRecvError::Evicted), RecvError::Evicted);
    assert_eq!(RecvError::from(TryRecvError::Empty), RecvError::Lagged(0));
    assert_eq!(
        RecvTimeoutError::from(TryRecvError::Empty),
        RecvTimeoutError::Timeout
    );
    assert_eq!(
        RecvTimeoutError::from(TryRecvError::Lagged(2)),
        RecvTimeoutError::Lagged(2)
    );
    assert_eq!(
        RecvError::from(RecvTimeoutError::Evicted),
        RecvError::Evicted
    );
    assert_eq!(RecvError::from(RecvTimeoutError::Closed), RecvError::Closed);
    assert_eq!(
        RecvError::from(RecvTimeoutError::Timeout),
        RecvError::Lagged(0)
    );
    assert!(TryRecvError::Empty.is_empty() && !TryRecvError::Closed.is_empty());
    assert!(RecvTimeoutError::Timeout.is_timeout());
}
