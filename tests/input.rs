//! Untrusted input: every public entry point that takes a size or a duration, at the
//! extremes (0, 1, `u32::MAX + 1`, `usize::MAX`, non-powers of two; `Duration::ZERO`,
//! `Duration::MAX`, `Duration::from_secs(u64::MAX)`, and a deadline that is representable
//! but far away), and every receive after the stream closed, whichever way it closed.
//! Nothing panics or overflows; each call returns exactly what its documentation says.
//!
//! `subscribe_with` cannot be called after a close: `close` consumes the publisher (and
//! dropping it is the only other way to close). Its counterparts here: `subscribe_with`
//! on a stream whose subscribers have all gone or been evicted, and `Clone` of each policy's
//! subscriber after the close.
// Under panic = "abort" (ci/panic-abort.sh) the tests that need unwinding are gated off.
#![cfg_attr(panic = "abort", allow(dead_code, unused_imports))]

mod common;

use std::panic::catch_unwind;
use std::thread;
use std::time::Duration;

use common::{block_on, stream, wait_until_asleep};
use tailcast::{
    channel, Builder, ConfigError, Full, LagPolicy, RecvError, RecvTimeoutError, Subscriber,
    TryRecvError, MAX_CAPACITY, MAX_CHUNK_LEN,
};

fn config_error(b: Builder) -> ConfigError {
    b.build::<u8>().map(|_| ()).unwrap_err()
}

/// Durations that must not overflow a deadline computation. The last two are far beyond
/// what `Instant` can represent; `FAR` is representable (about 146 billion years).
const FAR: Duration = Duration::from_secs(u64::MAX / 4);
const HUGE: [Duration; 3] = [FAR, Duration::MAX, Duration::from_secs(u64::MAX)];

// ---------------------------------------------------------------------------------------
// Builder and channel
// ---------------------------------------------------------------------------------------

#[test]
fn capacity_extremes_are_rejected_with_field_and_range() {
    let cases = [
        (0usize, "invalid capacity: 0 (allowed: 1..=4294967296)"),
        (
            MAX_CAPACITY + 1,
            "invalid capacity: 4294967297 (allowed: 1..=4294967296)",
        ),
        (
            usize::MAX,
            "invalid capacity: 18446744073709551615 (allowed: 1..=4294967296)",
        ),
    ];
    for (cap, message) in cases {
        // With the default chunk length, with a valid one and with an invalid one: the
        // capacity is reported first.
        for len in [None, Some(1), Some(0), Some(usize::MAX)] {
            let mut b = Builder::new().capacity(cap);
            if let Some(len) = len {
                b = b.chunk_len(len);
            }
            let e = config_error(b);
            assert_eq!(e.to_string(), message, "capacity {cap} chunk_len {len:?}");
            assert_eq!((e.field(), e.value()), ("capacity", cap));
        }
    }
}

#[test]
fn chunk_len_extremes_are_rejected_with_field_and_range() {
    let u32_max_plus_1 = u32::MAX as usize + 1;
    let cases = [
        (
            1usize,
            0usize,
            "invalid chunk_len: 0 (allowed: 1..=1, at most capacity)",
        ),
        (
            1,
            2,
            "invalid chunk_len: 2 (allowed: 1..=1, at most capacity)",
        ),
        (
            5,
            6,
            "invalid chunk_len: 6 (allowed: 1..=5, at most capacity)",
        ),
        (
            1000,
            1001,
            "invalid chunk_len: 1001 (allowed: 1..=1000, at most capacity)",
        ),
        (
            MAX_CAPACITY,
            MAX_CHUNK_LEN + 1,
            "invalid chunk_len: 65537 (allowed: 1..=65536, at most capacity)",
        ),
        (
            MAX_CAPACITY,
            u32_max_plus_1,
            "invalid chunk_len: 4294967296 (allowed: 1..=65536, at most capacity)",
        ),
        (
            MAX_CAPACITY,
            usize::MAX,
            "invalid chunk_len: 18446744073709551615 (allowed: 1..=65536, at most capacity)",
        ),
        (
            u32_max_plus_1 - 1,
            0,
            "invalid chunk_len: 0 (allowed: 1..=65536, at most capacity)",
        ),
    ];
    for (cap, len, message) in cases {
        let e = config_error(Builder::new().capacity(cap).chunk_len(len));
        assert_eq!(e.to_string(), message, "capacity {cap} chunk_len {len}");
        assert_eq!((e.field(), e.value()), ("chunk_len", len));
    }
}

#[test]
fn largest_capacities_are_accepted_and_work() {
    // `u32::MAX + 1` is `MAX_CAPACITY` itself: accepted, as is `u32::MAX`.
    assert_eq!(MAX_CAPACITY, u32::MAX as usize + 1);
    let big_chunk = if cfg!(miri) { 64 } else { MAX_CHUNK_LEN };
    for (cap, len) in [
        (MAX_CAPACITY, None),
        (MAX_CAPACITY, Some(1)),
        (MAX_CAPACITY, Some(big_chunk)),
        (u32::MAX as usize, None),
        (u32::MAX as usize, Some(3)),
    ] {
        let mut b = Builder::new().capacity(cap);
        if let Some(len) = len {
            b = b.chunk_len(len);
        }
        let (mut tx, mut rx) = b.build::<u64>().unwrap();
        // A stalled Block subscriber does not stop the publisher this side of the cap.
        let stalled = tx.subscribe();
        for i in 0..10 {
            assert_eq!(
                tx.try_publish(i),
                Ok(()),
                "capacity {cap} chunk_len {len:?}"
            );
        }
        assert_eq!(common::drain_values(&mut rx), (0..10).collect::<Vec<_>>());
        drop((tx, stalled));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn odd_capacities_and_chunk_lens_block_exactly_at_the_cap() {
    // Non-powers of two, `chunk_len` not dividing `capacity`, `chunk_len == capacity`,
    // and the default chunk length: a never-reading Block subscriber stops the publisher
    // after exactly `capacity` events; a reading one receives all of them.
    // Under miri a smaller last case: 23 is no multiple of 7 either.
    let big = if cfg!(miri) { 23 } else { 100 };
    let cases: &[(usize, Option<usize>)] = &[
        (1, None),
        (1, Some(1)),
        (2, Some(2)),
        (3, Some(2)),
        (7, None),
        (10, Some(3)),
        (10, Some(10)),
        (13, Some(5)),
        (big, Some(7)),
    ];
    for &(cap, len) in cases {
        let mut b = Builder::new().capacity(cap);
        if let Some(len) = len {
            b = b.chunk_len(len);
        }
        let (mut tx, mut stalled) = b.build::<u64>().unwrap();
        let mut reader = tx.subscribe();
        let mut published = 0;
        while tx.try_publish(published).is_ok() {
            assert_eq!(reader.try_recv(), Ok(published));
            published += 1;
            assert!(published <= cap as u64, "capacity {cap} chunk_len {len:?}");
        }
        assert_eq!(published, cap as u64, "capacity {cap} chunk_len {len:?}");
        assert_eq!(tx.try_publish(7), Err(Full(7)));
        assert_eq!(
            tx.publish_timeout(8, Duration::ZERO),
            Err(Full(8)),
            "capacity {cap} chunk_len {len:?}"
        );
        // The staller still has every event.
        drop(tx);
        assert_eq!(
            common::drain_values(&mut stalled),
            (0..cap as u64).collect::<Vec<_>>()
        );
        assert_eq!(stalled.try_recv(), Err(TryRecvError::Closed));
    }
}

/// Keeps the expected panics of `channel` quiet.
fn silence_expected_panics() {
    common::silence_panics_containing("tailcast::channel: invalid capacity");
}

#[test]
#[cfg(panic = "unwind")] // catch_unwind around channel()
fn channel_panics_naming_the_capacity() {
    let caps: &[(usize, &str)] = if cfg!(miri) {
        // A panic costs seconds under miri; the other values take the same path.
        &[(usize::MAX, "18446744073709551615")]
    } else {
        &[
            (0, "0"),
            (MAX_CAPACITY + 1, "4294967297"),
            (usize::MAX, "18446744073709551615"),
        ]
    };
    silence_expected_panics();
    for &(cap, shown) in caps {
        let Err(err) = catch_unwind(|| channel::<u8>(cap)) else {
            panic!("channel({cap}) did not panic");
        };
        let msg = err
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        assert_eq!(
            msg,
            format!("tailcast::channel: invalid capacity: {shown} (allowed: 1..=4294967296)")
        );
    }
    // The boundaries work.
    let (mut tx, mut rx) = channel::<u8>(1);
    tx.publish(1);
    assert_eq!(rx.try_recv(), Ok(1));
    let (mut tx, mut rx) = channel::<u8>(MAX_CAPACITY);
    tx.publish(2);
    assert_eq!(rx.try_recv(), Ok(2));
}

// ---------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------

#[test]
fn publish_timeout_with_room_never_waits_whatever_the_duration() {
    let (mut tx, mut rx) = stream(4, 2, LagPolicy::Block);
    let all = [Duration::ZERO, Duration::from_nanos(1)]
        .into_iter()
        .chain(HUGE);
    for (i, d) in all.enumerate() {
        assert_eq!(tx.publish_timeout(i as u64, d), Ok(()), "{d:?}");
        assert_eq!(rx.try_recv(), Ok(i as u64));
    }
}

#[test]
fn publish_timeout_when_full_short_durations_hand_the_value_back() {
    let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
    tx.publish(0);
    tx.publish(1);
    for d in [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_millis(1),
    ] {
        assert_eq!(tx.publish_timeout(9, d), Err(Full(9)), "{d:?}");
    }
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(tx.publish_timeout(2, Duration::ZERO), Ok(()));
    assert_eq!(common::drain_values(&mut rx), vec![1, 2]);
}

#[test]
fn publish_timeout_when_full_huge_durations_wait_for_room() {
    // Each huge timeout waits (without a deadline, or with one far away) until the stalled
    // subscriber reads; nothing overflows.
    for (k, d) in HUGE.into_iter().enumerate() {
        let (mut tx, mut rx) = stream(2, 1, LagPolicy::Block);
        tx.publish(0);
        tx.publish(1);
        let name = format!("tc-input-pub{k}");
        let publisher = thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let r = tx.publish_timeout(2, d);
                (r, tx)
            })
            .unwrap();
        // Outside miri, read only once the publisher sleeps in its wait.
        wait_until_asleep(&name);
        assert_eq!(rx.recv(), Ok(0), "{d:?}");
        let (r, tx) = publisher.join().unwrap();
        assert_eq!(r, Ok(()), "{d:?}");
        drop(tx);
        assert_eq!(common::drain_values(&mut rx), vec![1, 2], "{d:?}");
    }
}

#[test]
fn recv_timeout_extreme_durations() {
    let (mut tx, mut rx) = stream(8, 2, LagPolicy::Block);
    // Empty and open: short durations time out at once.
    for d in [Duration::ZERO, Duration::from_nanos(1)] {
        assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout), "{d:?}");
    }
    // An event available: every duration returns it without waiting.
    let all = [Duration::ZERO, Duration::from_nanos(1)]
        .into_iter()
        .chain(HUGE);
    for (i, d) in all.enumerate() {
        tx.publish(i as u64);
        assert_eq!(rx.recv_timeout(d), Ok(i as u64), "{d:?}");
    }
    // Empty and open: huge durations wait until an event comes.
    for (k, d) in HUGE.into_iter().enumerate() {
        let next = 5 + k as u64;
        let name = format!("tc-input-sub{k}");
        let subscriber = thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let r = rx.recv_timeout(d);
                (r, rx)
            })
            .unwrap();
        wait_until_asleep(&name);
        tx.publish(next);
        let (r, back) = subscriber.join().unwrap();
        assert_eq!(r, Ok(next), "{d:?}");
        rx = back;
    }
    // ... or until the stream closes.
    let name = "tc-input-close";
    let subscriber = thread::Builder::new()
        .name(name.into())
        .spawn(move || rx.recv_timeout(Duration::MAX))
        .unwrap();
    wait_until_asleep(name);
    drop(tx);
    assert_eq!(subscriber.join().unwrap(), Err(RecvTimeoutError::Closed));
}

// ---------------------------------------------------------------------------------------
// Batch sizes
// ---------------------------------------------------------------------------------------

#[test]
fn recv_batch_zero_and_usize_max() {
    for policy in [LagPolicy::Block, LagPolicy::Skip, LagPolicy::Disconnect] {
        let (mut tx, mut rx) = stream(16, 4, policy);
        // 0 on an empty open stream: an empty batch at once, nothing consumed.
        assert!(rx.recv_batch(0).unwrap().is_empty());
        assert!(rx.try_recv_batch(0).unwrap().is_empty());
        tx.publish_batch(0..6);
        assert!(rx.recv_batch(0).unwrap().is_empty());
        assert!(rx.try_recv_batch(0).unwrap().is_empty());
        assert_eq!(rx.position(), 0);
        // usize::MAX: everything available in the node, no overflow.
        assert_eq!(&*rx.recv_batch(usize::MAX).unwrap(), &[0, 1, 2, 3]);
        assert_eq!(&*rx.try_recv_batch(usize::MAX).unwrap(), &[4, 5]);
        assert_eq!(
            rx.try_recv_batch(usize::MAX).map(|b| b.len()),
            Err(TryRecvError::Empty)
        );
        // From the middle of a node, usize::MAX again.
        tx.publish_batch(6..10);
        assert_eq!(&*rx.recv_batch(1).unwrap(), &[6]);
        assert_eq!(&*rx.recv_batch(usize::MAX).unwrap(), &[7]);
        assert_eq!(&*rx.recv_batch(usize::MAX).unwrap(), &[8, 9]);
        assert_eq!(rx.position(), 10);
        drop(tx);
        // Closed: a positive size reports it; 0 still returns an empty batch (documented:
        // "`max == 0` returns an empty batch at once").
        assert_eq!(
            rx.recv_batch(usize::MAX).map(|b| b.len()),
            Err(RecvError::Closed)
        );
        assert!(rx.recv_batch(0).unwrap().is_empty());
        assert_eq!(
            rx.try_recv_batch(usize::MAX).map(|b| b.len()),
            Err(TryRecvError::Closed)
        );
    }
}

#[test]
fn recv_batch_zero_does_not_swallow_a_lag_or_an_eviction() {
    for policy in [LagPolicy::Skip, LagPolicy::Disconnect] {
        let (mut tx, mut rx) = stream(4, 2, policy);
        tx.publish_batch(0..10);
        assert!(rx.recv_batch(0).unwrap().is_empty(), "{policy:?}");
        let expected = match policy {
            LagPolicy::Skip => Err(RecvError::Lagged(6)),
            _ => Err(RecvError::Evicted),
        };
        assert_eq!(
            rx.recv_batch(usize::MAX).map(|b| b.to_vec()),
            expected,
            "{policy:?}"
        );
        if policy == LagPolicy::Skip {
            assert_eq!(&*rx.recv_batch(usize::MAX).unwrap(), &[6, 7]);
        } else {
            assert_eq!(
                rx.recv_batch(usize::MAX).map(|b| b.len()),
                Err(RecvError::Closed)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// After close
// ---------------------------------------------------------------------------------------

/// Every receive flavour on a subscriber that has received everything of a closed
/// stream: `Closed`, repeatedly.
fn assert_closed_everywhere(rx: &mut Subscriber<u64>, ctx: &str) {
    for _ in 0..2 {
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "{ctx}");
        assert_eq!(rx.recv(), Err(RecvError::Closed), "{ctx}");
        for d in [Duration::ZERO, Duration::MAX] {
            assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Closed), "{ctx}");
        }
        assert_eq!(rx.recv_ref().map(|r| *r), Err(RecvError::Closed), "{ctx}");
        assert_eq!(
            rx.try_recv_ref().map(|r| *r),
            Err(TryRecvError::Closed),
            "{ctx}"
        );
        assert_eq!(
            rx.recv_batch(1).map(|b| b.len()),
            Err(RecvError::Closed),
            "{ctx}"
        );
        assert_eq!(
            rx.try_recv_batch(usize::MAX).map(|b| b.len()),
            Err(TryRecvError::Closed),
            "{ctx}"
        );
        assert_eq!(block_on(rx.recv_async()), Err(RecvError::Closed), "{ctx}");
    }
}

#[test]
fn every_receive_after_close_or_publisher_drop() {
    for by_close in [true, false] {
        for policy in [LagPolicy::Block, LagPolicy::Skip, LagPolicy::Disconnect] {
            // Under miri, half of the six combinations: each policy once, and both ways of
            // closing.
            if cfg!(miri) && (policy == LagPolicy::Skip) == by_close {
                continue;
            }
            let ctx = format!("{policy:?} by_close {by_close}");
            let (mut tx, mut rx) = stream(8, 3, policy);
            let mut late = tx.subscribe_with(policy);
            tx.publish_batch(0..5);
            let mut before = rx.clone();
            if by_close {
                tx.close();
            } else {
                drop(tx);
            }
            // A clone made after the close sees the same events, then `Closed`.
            let mut after = rx.clone();
            for s in [&mut rx, &mut before, &mut after, &mut late] {
                assert_eq!(common::drain_values(s), (0..5).collect::<Vec<_>>(), "{ctx}");
                assert_closed_everywhere(s, &ctx);
                // Cloning a drained, closed subscriber: `Closed` too.
                assert_closed_everywhere(&mut s.clone(), &ctx);
            }
        }
    }
}

#[test]
fn lagged_and_evicted_subscribers_after_close() {
    for by_close in [true, false] {
        let (mut tx, block) = stream(4, 2, LagPolicy::Block);
        drop(block);
        let mut skip = tx.subscribe_with(LagPolicy::Skip);
        let mut evicted = tx.subscribe_with(LagPolicy::Disconnect);
        tx.publish_batch(0..10);
        if by_close {
            tx.close();
        } else {
            drop(tx);
        }
        // Skip: the exact lag, then the newest events, then `Closed`.
        let mut skip_clone = skip.clone();
        for s in [&mut skip, &mut skip_clone] {
            assert_eq!(s.try_recv(), Err(TryRecvError::Lagged(6)));
            assert_eq!(common::drain_values(s), vec![6, 7, 8, 9]);
            assert_closed_everywhere(s, "skip");
        }
        // Disconnect: `Evicted` once, then `Closed`, also for a clone made after.
        let mut unreported = evicted.clone();
        assert_eq!(evicted.recv(), Err(RecvError::Evicted));
        let mut reported = evicted.clone();
        assert_closed_everywhere(&mut evicted, "evicted");
        assert_closed_everywhere(&mut reported, "clone after Evicted");
        assert_eq!(
            unreported.recv_timeout(Duration::MAX),
            Err(RecvTimeoutError::Evicted)
        );
        assert_closed_everywhere(&mut unreported, "clone before Evicted");
    }
}

#[test]
fn subscribe_with_each_policy_after_every_subscriber_left_or_was_evicted() {
    let (mut tx, rx) = stream(2, 1, LagPolicy::Block);
    let mut gone = tx.subscribe_with(LagPolicy::Disconnect);
    drop(rx);
    tx.publish_batch(0..5);
    assert_eq!(tx.subscriber_count(), 0);
    assert_eq!(gone.try_recv(), Err(TryRecvError::Evicted));
    let mut subs: Vec<Subscriber<u64>> = [LagPolicy::Block, LagPolicy::Skip, LagPolicy::Disconnect]
        .into_iter()
        .map(|p| tx.subscribe_with(p))
        .collect();
    assert_eq!(tx.subscriber_count(), 3);
    tx.publish_batch(5..7);
    drop(tx);
    for s in &mut subs {
        assert_eq!(common::drain_values(s), vec![5, 6], "{:?}", s.lag_policy());
        assert_closed_everywhere(s, "joined late");
    }
    assert_closed_everywhere(&mut gone, "evicted before the close");
}

#[test]
fn publish_after_every_subscriber_is_gone_never_waits_whatever_the_duration() {
    let (mut tx, rx) = stream(1, 1, LagPolicy::Block);
    drop(rx);
    let all = [Duration::ZERO, Duration::from_nanos(1)]
        .into_iter()
        .chain(HUGE);
    for (i, d) in all.enumerate() {
        assert_eq!(tx.publish_timeout(i as u64, d), Ok(()), "{d:?}");
        assert_eq!(tx.try_publish(i as u64), Ok(()));
    }
    block_on(tx.publish_async(99));
    assert_eq!(tx.published(), 11);
}
