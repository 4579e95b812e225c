//! Builder settings, extreme ones included (0, 1, the limits and one past them,
//! `usize::MAX`), with per-subscriber lag policies.
//!
//! An invalid configuration must return the exact `ConfigError` (field, value, message)
//! and never panic; a valid one (also through `tailcast::channel` when the chunk length is
//! the default) is run through a short operation sequence checked against the model:
//! exact `Lagged(n)`, eviction and `Full`.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use tailcast::{LagPolicy, MAX_CAPACITY};
use tailcast_fuzz::decode;
use tailcast_fuzz::model::{Harness, Op};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(cap), Ok(policy)) = (decode::capacity(&mut u), decode::policy(&mut u)) else {
        return;
    };
    let Ok(len) = decode::chunk_len(&mut u, cap) else {
        return;
    };
    if len.is_none() && (1..=MAX_CAPACITY).contains(&cap) {
        let (tx, rx) = tailcast::channel::<u64>(cap);
        assert_eq!((tx.published(), tx.subscriber_count()), (0, 1));
        assert_eq!(rx.lag_policy(), LagPolicy::Block);
    }
    // Up to three more subscribers with their own policies, then a short sequence.
    let mut ops = Vec::new();
    for _ in 0..u.int_in_range(0..=3u8).unwrap_or(0) {
        ops.push(Op::SubscribeWith(
            decode::policy(&mut u).unwrap_or(LagPolicy::Block),
        ));
    }
    ops.extend(decode::ops(&mut u, cap as u64, 24));
    // `None`: invalid, and `Harness::new` checked the exact error.
    let _ = Harness::run(cap, len, policy, &ops);
});
