//! Random operation sequences — publish (every flavour), subscribe, clone, every receive
//! flavour, borrows held across publishes, a `Clone` that panics on its `n`-th call, drops
//! of subscribers and of the publisher — applied to the stream and to the reference model
//! of `tests/model/mod.rs`, compared after every step; at the end every payload must have
//! been dropped exactly once. Single-threaded and deterministic: the seed is fixed
//! (override with `TAILCAST_PROPTEST_SEED`), and so is the case count (override with
//! `TAILCAST_PROPTEST_CASES`).
//!
//! Not built under miri: 10,000 cases of proptest's machinery are far too slow there;
//! `tests/lag.rs` runs the same model on a few configurations under miri.
#![cfg(not(miri))]
// Under panic = "abort" (ci/panic-abort.sh), the tests that need unwinding are gated off;
// the generators of the gated `operations_match_the_model` are then unused.
#![cfg_attr(panic = "abort", allow(dead_code, unused_imports))]

#[path = "model/mod.rs"]
mod model;

use std::cell::RefCell;

use model::{CloneRecv, Harness, Op, RecvKind, Stats};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
use tailcast::LagPolicy;

fn policy() -> impl Strategy<Value = LagPolicy> {
    prop_oneof![
        Just(LagPolicy::Block),
        Just(LagPolicy::Skip),
        Just(LagPolicy::Disconnect),
    ]
}

fn recv_kind() -> impl Strategy<Value = RecvKind> {
    prop_oneof![
        3 => Just(RecvKind::TryRecv),
        2 => Just(RecvKind::TryRecvRef),
        2 => (0usize..6).prop_map(RecvKind::TryRecvBatch),
        1 => Just(RecvKind::Recv),
        1 => Just(RecvKind::RecvTimeout),
        1 => Just(RecvKind::RecvAsync),
        1 => Just(RecvKind::RecvRef),
        1 => (0usize..6).prop_map(RecvKind::RecvBatch),
    ]
}

fn clone_recv() -> impl Strategy<Value = CloneRecv> {
    prop_oneof![
        Just(CloneRecv::TryRecv),
        Just(CloneRecv::Recv),
        Just(CloneRecv::RecvTimeout),
        Just(CloneRecv::RecvAsync),
    ]
}

/// One operation; publishing runs reach up to about twice the capacity.
fn op(cap: usize) -> impl Strategy<Value = Op> {
    let n = 0..=(2 * cap as u32 + 2);
    prop_oneof![
        3 => n.clone().prop_map(Op::Publish),
        3 => n.clone().prop_map(Op::TryPublish),
        1 => n.clone().prop_map(Op::PublishTimeout),
        2 => n.clone().prop_map(Op::PublishBatch),
        1 => n.clone().prop_map(Op::PublishBatchPanic),
        1 => (0u32..3).prop_map(Op::PublishAsync),
        1 => Just(Op::Subscribe),
        2 => policy().prop_map(Op::SubscribeWith),
        1 => any::<usize>().prop_map(Op::Clone),
        1 => any::<usize>().prop_map(Op::Drop),
        10 => (any::<usize>(), recv_kind(), 1u32..5)
            .prop_map(|(sub, kind, times)| Op::Recv { sub, kind, times }),
        4 => (
            any::<usize>(),
            0usize..4,
            0..=(3 * cap as u32 + 2),
            proptest::option::of(policy()),
            proptest::option::of(any::<usize>()),
        )
            .prop_map(|(sub, batch, publish, join, other)| Op::Hold {
                sub,
                batch,
                publish,
                join,
                other,
            }),
        1 => (any::<usize>(), 1u32..4, clone_recv())
            .prop_map(|(sub, nth, kind)| Op::PanicClone { sub, nth, kind }),
        1 => Just(Op::DropPublisher),
    ]
}

/// A case: capacity 1..=8, a chunk length up to the capacity or the default, the
/// builder's policy, and up to 40 operations.
fn case() -> impl Strategy<Value = (usize, Option<usize>, LagPolicy, Vec<Op>)> {
    (1usize..=8).prop_flat_map(|cap| {
        (
            Just(cap),
            proptest::option::weighted(0.85, 1..=cap),
            policy(),
            proptest::collection::vec(op(cap), 0..40),
        )
    })
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: env_u64("TAILCAST_PROPTEST_CASES", u64::from(cases)) as u32,
        rng_seed: RngSeed::Fixed(env_u64("TAILCAST_PROPTEST_SEED", 0x7a11_ca57)),
        failure_persistence: None,
        // ChaCha dominates the run time in a debug build; XorShift is plenty here.
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    })
}

#[test]
#[cfg(panic = "unwind")] // ops plant panics and catch_unwind them
fn operations_match_the_model() {
    let total = RefCell::new(Stats::default());
    let cases = RefCell::new(0u64);
    let mut runner = runner(10_000);
    let result = runner.run(&case(), |(cap, len, policy, ops)| {
        let stats = Harness::run(cap, len, policy, &ops).expect("a valid configuration");
        total.borrow_mut().add(&stats);
        *cases.borrow_mut() += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let total = total.into_inner();
    println!("{} cases: {total:?}", cases.into_inner());
    // The generator reaches every outcome the model distinguishes.
    assert!(total.lagged_reports > 0 && total.lagged_events > total.lagged_reports);
    assert!(total.evictions > 0 && total.full > 0 && total.planted_panics > 0);
    assert!(total.holds > 0 && total.closed > 0);
}

/// A Skip cursor borrows the last event of its node while the publisher laps it: the
/// borrow stays valid, and the lag is reported when it ends (cap 2, chunk_len 1: event 0
/// borrowed, 1..=5 published meanwhile; the cursor was moved to 4, so `Lagged(3)`, 4, 5).
#[test]
fn borrow_of_a_nodes_last_event_across_a_lag() {
    use model::Op::{Hold, Recv, TryPublish};
    for batch in [0, 1] {
        let ops = [
            TryPublish(1),
            Hold {
                sub: 0,
                batch,
                publish: 5,
                join: None,
                other: None,
            },
            Recv {
                sub: 0,
                kind: RecvKind::TryRecv,
                times: 4,
            },
        ];
        let stats = Harness::run(2, Some(1), LagPolicy::Skip, &ops).expect("valid");
        assert_eq!((stats.lagged_reports, stats.lagged_events), (1, 3));
        assert_eq!(stats.received, 3, "0 borrowed, then 4 and 5");
        assert_eq!(stats.moved_while_holding_last, 1);
    }
}
