//! Lag policies against an executable model of the documented rules.
//!
//! The rules (crate docs, `LagPolicy`): a cursor's position `p` is the sequence number of
//! the next event it receives, counted exactly (a cursor that has received everything is
//! 0 behind, whichever node it is on); a cursor the publisher moved counts from the start
//! `s` of the node it was moved to until it reports the move. With `e = max(p, s)`, when
//! the publisher writes event `t`:
//!
//! - a `Block` cursor with `t - e >= capacity` makes the write wait (`try_publish`: `Full`);
//! - a `Skip` cursor with `t - e >= capacity` is moved to the node starting at
//!   `ceil((t + 1 - capacity) / chunk_len) * chunk_len`; its next receive reports
//!   `Lagged(new_s - position)` (if positive) and continues from `new_s`;
//! - a `Disconnect` cursor with `t - e >= capacity` is evicted: its next receive returns
//!   `Evicted`, every later one `Closed`.

mod common;

use std::thread;

use common::{drain_values, scaled, stream, Rng};
use tailcast::{Full, LagPolicy, RecvError, Subscriber, TryRecvError};

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct ModelSub {
    policy: LagPolicy,
    /// Next sequence number to receive.
    p: u64,
    /// Start of the node the publisher sees this cursor on.
    s: u64,
    /// Moved by the publisher, not yet reported.
    lagged: bool,
    /// Evicted by the publisher, not yet reported.
    evicted: bool,
    /// Reported `Evicted`: every receive is `Closed`.
    detached: bool,
}

#[derive(Debug)]
struct Model {
    cap: u64,
    len: u64,
    published: u64,
    closed: bool,
    subs: Vec<ModelSub>,
}

impl Model {
    fn new(cap: usize, len: usize) -> Self {
        Self {
            cap: cap as u64,
            len: len as u64,
            published: 0,
            closed: false,
            subs: Vec::new(),
        }
    }

    fn subscribe(&mut self, policy: LagPolicy) {
        self.subs.push(ModelSub {
            policy,
            p: self.published,
            s: self.published - self.published % self.len,
            lagged: false,
            evicted: false,
            detached: false,
        });
    }

    /// Whether some attached `Block` cursor makes writing the next event wait.
    fn blocked(&self) -> bool {
        let t = self.published;
        self.subs
            .iter()
            .any(|m| m.policy == LagPolicy::Block && t - m.p.max(m.s) >= self.cap)
    }

    /// Writes the next event if not blocked; returns whether it was written.
    fn publish(&mut self) -> bool {
        if self.blocked() {
            return false;
        }
        let t = self.published;
        let (cap, len) = (self.cap, self.len);
        for m in &mut self.subs {
            if m.evicted || m.detached || t - m.p.max(m.s) < cap {
                continue;
            }
            match m.policy {
                LagPolicy::Block => unreachable!("checked by `blocked`"),
                LagPolicy::Skip => {
                    m.s = (t + 1 - cap).div_ceil(len) * len;
                    m.lagged = true;
                }
                LagPolicy::Disconnect => m.evicted = true,
                other => unreachable!("no model for {other:?}"),
            }
        }
        self.published += 1;
        true
    }

    /// One receive by subscriber `i` (`try_recv` or `try_recv_ref` with the `Ref` dropped
    /// at once: both move off a finished node before returning).
    fn recv(&mut self, i: usize, _eager: bool) -> Result<u64, TryRecvError> {
        let (len, published, closed) = (self.len, self.published, self.closed);
        let m = &mut self.subs[i];
        if m.detached {
            return Err(TryRecvError::Closed);
        }
        if m.evicted {
            m.detached = true;
            return Err(TryRecvError::Evicted);
        }
        if m.lagged {
            m.lagged = false;
            let missed = m.s - m.p;
            m.p = m.s;
            if missed > 0 {
                return Err(TryRecvError::Lagged(missed));
            }
        }
        if m.p == m.s + len {
            m.s += len;
        }
        if m.p < published {
            let v = m.p;
            m.p += 1;
            if m.p == m.s + len {
                m.s = m.p;
            }
            Ok(v)
        } else if closed {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    fn attached(&self) -> usize {
        self.subs
            .iter()
            .filter(|m| !m.evicted && !m.detached)
            .count()
    }
}

fn recv_real(rx: &mut Subscriber<u64>, eager: bool) -> Result<u64, TryRecvError> {
    if eager {
        rx.try_recv()
    } else {
        rx.try_recv_ref().map(|r| *r)
    }
}

/// Every `(capacity, chunk_len)` pair with `chunk_len <= capacity <= max_cap`; under miri
/// a representative few (one slot per node, a node as large as the cap, a chunk length
/// that does not divide the cap).
fn configs(max_cap: usize) -> Vec<(usize, usize)> {
    (1..=max_cap)
        .flat_map(|cap| (1..=cap).map(move |len| (cap, len)))
        .filter(|c| !cfg!(miri) || [(1, 1), (2, 1), (2, 2), (3, 2)].contains(c))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Skip: publish k, then read
// ---------------------------------------------------------------------------------------

#[test]
fn skip_lagged_count_publish_then_read() {
    let max_cap = if cfg!(miri) { 3 } else { 9 };
    for (cap, len) in configs(max_cap) {
        for k in 0..=(3 * cap + len) as u64 {
            // `offset`: the subscriber joins after `offset` events.
            for offset in [0, 1, len as u64] {
                let interesting = [0, cap - 1, cap, cap + 1, cap + len, 3 * cap + len];
                if cfg!(miri) && (offset == 1 || !interesting.contains(&(k as usize))) {
                    continue;
                }
                let (mut tx, rx) = stream(cap, len, LagPolicy::Skip);
                drop(rx);
                for i in 0..offset {
                    tx.publish(i);
                }
                let mut rx = tx.subscribe();
                let mut model = Model::new(cap, len);
                model.published = offset;
                model.subscribe(LagPolicy::Skip);
                for i in offset..offset + k {
                    assert_eq!(tx.try_publish(i), Ok(()), "Skip never blocks");
                    assert!(model.publish());
                }
                let ctx = format!("cap {cap} chunk_len {len} offset {offset} k {k}");
                loop {
                    let want = model.recv(0, true);
                    assert_eq!(rx.try_recv(), want, "{ctx}");
                    if want == Err(TryRecvError::Empty) {
                        break;
                    }
                }
                assert_eq!(rx.position(), offset + k, "{ctx}");
            }
        }
    }
}

#[test]
fn skip_lagged_matches_closed_form() {
    // The same rule, stated without the step-by-step model: after k events with the
    // subscriber at 0, it is moved only if k > cap, to
    // s = ceil((k - cap) / len) * len, and reports Lagged(s) then s..k.
    let max_cap = if cfg!(miri) { 3 } else { 8 };
    for (cap, len) in configs(max_cap) {
        for k in 0..=(4 * cap) as u64 {
            if cfg!(miri) && k % 2 == 1 && k != 4 * cap as u64 - 1 {
                continue;
            }
            let (mut tx, mut rx) = stream(cap, len, LagPolicy::Skip);
            tx.publish_batch(0..k);
            let (cap64, len64) = (cap as u64, len as u64);
            let mut expected = Vec::new();
            let s = if k > cap64 {
                (k - cap64).div_ceil(len64) * len64
            } else {
                0
            };
            if s > 0 {
                expected.push(Err(TryRecvError::Lagged(s)));
            }
            expected.extend((s..k).map(Ok));
            expected.push(Err(TryRecvError::Empty));
            let got: Vec<_> = (0..expected.len()).map(|_| rx.try_recv()).collect();
            assert_eq!(got, expected, "cap {cap} chunk_len {len} k {k}");
            // Never more than `cap` events are kept, and at least `cap - len + 1`.
            let kept = k - s;
            assert!(
                kept <= cap64 && (k < cap64 || kept > cap64 - len64),
                "kept {kept}"
            );
        }
    }
}

#[test]
fn skip_lagged_via_every_receive_method() {
    // cap 4, chunk_len 2, 10 events: kept [6, 10), Lagged(6).
    let setup = || {
        let (mut tx, rx) = stream(4, 2, LagPolicy::Skip);
        tx.publish_batch(0..10);
        (tx, rx)
    };
    let (_tx, mut rx) = setup();
    assert_eq!(rx.recv(), Err(RecvError::Lagged(6)));
    assert_eq!(rx.position(), 6);
    assert_eq!(rx.recv(), Ok(6));

    let (_tx, mut rx) = setup();
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(60)),
        Err(tailcast::RecvTimeoutError::Lagged(6))
    );
    assert_eq!(rx.try_recv(), Ok(6));

    let (_tx, mut rx) = setup();
    assert_eq!(rx.recv_ref().map(|r| *r), Err(RecvError::Lagged(6)));
    assert_eq!(rx.recv_ref().map(|r| *r), Ok(6));

    let (_tx, mut rx) = setup();
    assert_eq!(
        rx.recv_batch(8).map(|b| b.to_vec()),
        Err(RecvError::Lagged(6))
    );
    assert_eq!(rx.recv_batch(8).map(|b| b.to_vec()), Ok(vec![6, 7]));
    assert_eq!(rx.recv_batch(8).map(|b| b.to_vec()), Ok(vec![8, 9]));

    // A clone of a lagged, unacknowledged subscriber reports the same lag.
    let (_tx, mut rx) = setup();
    let mut twin = rx.clone();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(6)));
    assert_eq!(twin.try_recv(), Err(TryRecvError::Lagged(6)));
    assert_eq!(drain_values(&mut twin), vec![6, 7, 8, 9]);
    assert_eq!(drain_values(&mut rx), vec![6, 7, 8, 9]);
}

#[test]
fn skip_lag_target_at_the_address_of_a_freed_node() {
    // Regression (bug B5): the node a lagged cursor was moved off is freed, and the
    // allocator may hand its address to a later node, the lag target. The cursor must
    // still move (and reset its index) rather than mistake the target for its old node.
    for (cap, len) in configs(if cfg!(miri) { 3 } else { 6 }) {
        for read_first in 0..len as u64 {
            let (mut tx, rx) = stream(cap, len, LagPolicy::Skip);
            drop(rx);
            let mut rx = tx.subscribe();
            let mut model = Model::new(cap, len);
            model.subscribe(LagPolicy::Skip);
            for i in 0..8 * cap as u64 {
                tx.publish(i);
                assert!(model.publish());
                if i < read_first {
                    assert_eq!(rx.try_recv(), Ok(i));
                    assert_eq!(model.recv(0, true), Ok(i));
                }
            }
            let ctx = format!("cap {cap} chunk_len {len} read_first {read_first}");
            loop {
                let want = model.recv(0, true);
                assert_eq!(rx.try_recv(), want, "{ctx}");
                assert_eq!(rx.position(), model.subs[0].p, "{ctx}");
                if want == Err(TryRecvError::Empty) {
                    break;
                }
            }
        }
    }
}

#[test]
fn skip_lagged_then_closed() {
    let (mut tx, mut rx) = stream(3, 1, LagPolicy::Skip);
    tx.publish_batch(0..7);
    drop(tx);
    assert_eq!(rx.recv(), Err(RecvError::Lagged(4)));
    assert_eq!(rx.recv(), Ok(4));
    assert_eq!(rx.recv(), Ok(5));
    assert_eq!(rx.recv(), Ok(6));
    assert_eq!(rx.recv(), Err(RecvError::Closed));
}

// ---------------------------------------------------------------------------------------
// Random interleavings against the model
// ---------------------------------------------------------------------------------------

/// Runs a random schedule of publishes, receives, clones, joins and leaves, comparing
/// every observation with the model. `policies`: the policies new subscribers pick from.
/// With `Block` among them the publisher only writes when the model says there is room,
/// and checks that `try_publish` then succeeds.
fn run_model(cap: usize, len: usize, seed: u64, steps: usize, policies: &[LagPolicy]) {
    let mut rng = Rng::new(seed ^ ((cap as u64) << 32) ^ ((len as u64) << 16));
    let (mut tx, first) = stream(cap, len, policies[0]);
    let mut model = Model::new(cap, len);
    model.subscribe(policies[0]);
    let mut subs = vec![first];
    let ctx = |step: usize| format!("cap {cap} chunk_len {len} seed {seed} step {step}");

    for step in 0..steps {
        match rng.below(10) {
            // Publish a run of events.
            0..=3 => {
                for _ in 0..=rng.below(2 * cap as u64 + 1) {
                    let v = model.published;
                    if model.blocked() {
                        // Only Block subscribers can block; checked exactly in the
                        // Block-only model, see `model_block_full_is_exact`.
                        break;
                    }
                    assert_eq!(tx.try_publish(v), Ok(()), "{}", ctx(step));
                    assert!(model.publish());
                }
            }
            // One subscriber reads a few events.
            4..=7 if !subs.is_empty() => {
                let i = rng.below(subs.len() as u64) as usize;
                let eager = rng.below(3) != 0;
                for _ in 0..=rng.below(len as u64 + 2) {
                    let want = model.recv(i, eager);
                    let got = recv_real(&mut subs[i], eager);
                    assert_eq!(got, want, "{} sub {i} eager {eager}", ctx(step));
                    let m = &model.subs[i];
                    if !m.detached && !m.evicted {
                        assert_eq!(subs[i].position(), m.p, "{}", ctx(step));
                    }
                }
            }
            // Clone a subscriber.
            8 if !subs.is_empty() && subs.len() < 6 => {
                let i = rng.below(subs.len() as u64) as usize;
                subs.push(subs[i].clone());
                let m = model.subs[i].clone();
                model.subs.push(m);
            }
            // A new subscriber, or one leaves.
            _ => {
                if subs.len() < 4 || (rng.below(2) == 0 && subs.len() < 6) {
                    let policy = policies[rng.below(policies.len() as u64) as usize];
                    subs.push(tx.subscribe_with(policy));
                    model.subscribe(policy);
                } else {
                    let i = rng.below(subs.len() as u64) as usize;
                    drop(subs.swap_remove(i));
                    model.subs.swap_remove(i);
                }
            }
        }
        assert_eq!(tx.subscriber_count(), model.attached(), "{}", ctx(step));
        assert_eq!(tx.published(), model.published);
    }

    // Close, then every subscriber drains to `Closed` exactly as the model says.
    drop(tx);
    model.closed = true;
    for (i, rx) in subs.iter_mut().enumerate() {
        loop {
            let want = model.recv(i, true);
            assert_eq!(rx.try_recv(), want, "{} drain sub {i}", ctx(steps));
            if want == Err(TryRecvError::Closed) {
                break;
            }
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn model_skip_random() {
    let (max_cap, seeds, steps) = if cfg!(miri) { (3, 1, 25) } else { (7, 6, 400) };
    for (cap, len) in configs(max_cap) {
        for seed in 0..seeds {
            run_model(cap, len, seed, steps, &[LagPolicy::Skip]);
        }
    }
}

#[test]
fn model_skip_and_disconnect_random() {
    let (max_cap, seeds, steps) = if cfg!(miri) { (3, 1, 25) } else { (7, 6, 400) };
    for (cap, len) in configs(max_cap) {
        for seed in 0..seeds {
            run_model(
                cap,
                len,
                100 + seed,
                steps,
                &[LagPolicy::Disconnect, LagPolicy::Skip],
            );
        }
    }
}

#[test]
fn model_all_policies_random() {
    let (max_cap, seeds, steps) = if cfg!(miri) { (3, 1, 30) } else { (6, 6, 400) };
    for (cap, len) in configs(max_cap) {
        for seed in 0..seeds {
            run_model(
                cap,
                len,
                200 + seed,
                steps,
                &[
                    LagPolicy::Block,
                    LagPolicy::Skip,
                    LagPolicy::Disconnect,
                    LagPolicy::Block,
                ],
            );
        }
    }
}

#[test]
fn model_block_full_is_exact() {
    // Block subscribers only: `try_publish` is `Full` exactly when the model says a Block
    // cursor's node starts `capacity` or more events behind the next event.
    let (max_cap, seeds, steps) = if cfg!(miri) { (3, 1, 60) } else { (7, 4, 400) };
    for (cap, len) in configs(max_cap) {
        for seed in 0..seeds {
            let mut rng = Rng::new(300 + seed);
            let (mut tx, a) = stream(cap, len, LagPolicy::Block);
            let mut subs = [a.clone(), a];
            let mut model = Model::new(cap, len);
            model.subscribe(LagPolicy::Block);
            model.subscribe(LagPolicy::Block);
            for step in 0..steps {
                if rng.below(2) == 0 {
                    let v = model.published;
                    let blocked = model.blocked();
                    let got = tx.try_publish(v);
                    if blocked {
                        assert_eq!(got, Err(Full(v)), "cap {cap} len {len} step {step}");
                    } else {
                        assert_eq!(got, Ok(()), "cap {cap} len {len} step {step}");
                        assert!(model.publish());
                    }
                } else {
                    let i = rng.below(2) as usize;
                    let eager = rng.below(3) != 0;
                    let want = model.recv(i, eager);
                    assert_eq!(recv_real(&mut subs[i], eager), want, "step {step}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Documented bounds that the model above does not cover
// ---------------------------------------------------------------------------------------

#[test]
fn failed_try_publish_does_not_lag_or_evict_lossy_subscribers() {
    // A stalled Block subscriber holds every event; `try_publish` fails, so nothing is
    // written and nothing is overwritten: the Skip subscriber has missed nothing.
    let (mut tx, _block) = stream(2, 1, LagPolicy::Block);
    let mut skip = tx.subscribe_with(LagPolicy::Skip);
    let mut disc = tx.subscribe_with(LagPolicy::Disconnect);
    tx.publish(0);
    tx.publish(1);
    assert_eq!(tx.try_publish(2), Err(Full(2)));
    assert_eq!(
        tx.publish_timeout(2, std::time::Duration::from_millis(1)),
        Err(Full(2))
    );
    // Neither lossy subscriber was affected by the publishes that did not happen.
    assert_eq!(tx.subscriber_count(), 3);
    for rx in [&mut skip, &mut disc] {
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn block_capacity_is_exact_for_every_receive_method() {
    // `capacity` counts events exactly: `try_publish` fails only when the exact lag
    // `published - position` is `capacity`, whatever node the reader is on.
    for (cap, len) in configs(if cfg!(miri) { 3 } else { 6 }) {
        for method in 0..3 {
            let (mut tx, mut rx) = stream(cap, len, LagPolicy::Block);
            let mut read = 0u64;
            for _ in 0..3 * cap {
                // Publish as much as the stream accepts.
                while tx.try_publish(tx.published()).is_ok() {}
                let lag = tx.published() - rx.position();
                assert_eq!(
                    lag, cap as u64,
                    "cap {cap} chunk_len {len} method {method}: Full with exact lag {lag}"
                );
                // Read exactly what was published with one method (no trailing call
                // that would find the stream empty).
                while read < tx.published() {
                    let n = match method {
                        0 => rx.try_recv().map(|_| 1),
                        1 => rx.try_recv_ref().map(|_| 1),
                        _ => rx.try_recv_batch(usize::MAX).map(|b| b.len()),
                    };
                    read += n.expect("published events are available") as u64;
                }
                assert_eq!(rx.position(), tx.published());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Disconnect
// ---------------------------------------------------------------------------------------

#[test]
fn disconnect_evicts_exactly_at_the_cap() {
    let max_cap = if cfg!(miri) { 3 } else { 8 };
    for (cap, len) in configs(max_cap) {
        for k in 0..=(2 * cap + 1) as u64 {
            // Under miri only the interesting counts: none, at the cap, just past it, most.
            if cfg!(miri) && ![0, cap as u64, cap as u64 + 1, 2 * cap as u64 + 1].contains(&k) {
                continue;
            }
            let (mut tx, mut rx) = stream(cap, len, LagPolicy::Disconnect);
            for i in 0..k {
                assert_eq!(tx.try_publish(i), Ok(()), "Disconnect never blocks");
            }
            let ctx = format!("cap {cap} chunk_len {len} k {k}");
            if k > cap as u64 {
                assert_eq!(tx.subscriber_count(), 0, "{ctx}");
                assert_eq!(rx.try_recv(), Err(TryRecvError::Evicted), "{ctx}");
                assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "{ctx}");
                assert_eq!(rx.recv(), Err(RecvError::Closed), "{ctx}");
                // A clone of an evicted subscriber is evicted (already reported: Closed).
                assert_eq!(rx.clone().try_recv(), Err(TryRecvError::Closed), "{ctx}");
            } else {
                assert_eq!(tx.subscriber_count(), 1, "{ctx}");
                assert_eq!(drain_values(&mut rx), (0..k).collect::<Vec<_>>(), "{ctx}");
                assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{ctx}");
            }
        }
    }
}

#[test]
fn disconnect_evicted_via_every_receive_method() {
    let setup = || {
        let (mut tx, rx) = stream(2, 1, LagPolicy::Disconnect);
        tx.publish_batch(0..5);
        (tx, rx)
    };
    let (_tx, mut rx) = setup();
    assert_eq!(rx.recv(), Err(RecvError::Evicted));
    assert_eq!(rx.recv(), Err(RecvError::Closed));
    let (_tx, mut rx) = setup();
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(60)),
        Err(tailcast::RecvTimeoutError::Evicted)
    );
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(60)),
        Err(tailcast::RecvTimeoutError::Closed)
    );
    let (_tx, mut rx) = setup();
    assert_eq!(rx.recv_ref().map(|r| *r), Err(RecvError::Evicted));
    assert_eq!(rx.recv_ref().map(|r| *r), Err(RecvError::Closed));
    let (_tx, mut rx) = setup();
    assert_eq!(rx.recv_batch(4).map(|b| b.len()), Err(RecvError::Evicted));
    assert_eq!(rx.recv_batch(4).map(|b| b.len()), Err(RecvError::Closed));
    // An evicted but unacknowledged subscriber's clone reports Evicted too.
    let (_tx, mut rx) = setup();
    let mut twin = rx.clone();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Evicted));
    assert_eq!(twin.try_recv(), Err(TryRecvError::Evicted));
    assert_eq!(twin.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn disconnect_reader_that_keeps_up_is_not_evicted() {
    let n = scaled(60, 5_000);
    let (mut tx, mut rx) = stream(2, 1, LagPolicy::Disconnect);
    for i in 0..n {
        tx.publish(i);
        assert_eq!(rx.try_recv(), Ok(i));
    }
    assert_eq!(tx.subscriber_count(), 1);
}

// ---------------------------------------------------------------------------------------
// Per-subscriber policies
// ---------------------------------------------------------------------------------------

#[test]
fn per_subscriber_policy_override() {
    // Channel default Skip, one Block and one Disconnect override. The Block subscriber
    // keeps up; the others never read.
    let (mut tx, mut skip) = stream(4, 2, LagPolicy::Skip);
    let mut block = tx.subscribe_with(LagPolicy::Block);
    let mut disc = tx.subscribe_with(LagPolicy::Disconnect);
    let mut default = tx.subscribe();
    assert_eq!(default.lag_policy(), LagPolicy::Skip);
    for i in 0..10 {
        assert_eq!(tx.try_publish(i), Ok(()));
        assert_eq!(block.try_recv(), Ok(i));
    }
    assert_eq!(
        tx.subscriber_count(),
        3,
        "only the Disconnect one was evicted"
    );
    assert_eq!(skip.try_recv(), Err(TryRecvError::Lagged(6)));
    assert_eq!(default.try_recv(), Err(TryRecvError::Lagged(6)));
    assert_eq!(disc.try_recv(), Err(TryRecvError::Evicted));
    assert_eq!(drain_values(&mut skip), vec![6, 7, 8, 9]);
    assert_eq!(drain_values(&mut default), vec![6, 7, 8, 9]);
    assert_eq!(disc.try_recv(), Err(TryRecvError::Closed));

    // A Block override on a Skip channel still blocks the publisher.
    let mut stalled = tx.subscribe_with(LagPolicy::Block);
    for i in 10..14 {
        assert_eq!(tx.try_publish(i), Ok(()));
        assert_eq!(block.try_recv(), Ok(i));
    }
    assert_eq!(tx.try_publish(14), Err(Full(14)));
    assert_eq!(drain_values(&mut stalled), vec![10, 11, 12, 13]);
    assert_eq!(tx.try_publish(14), Ok(()));
}

#[test]
fn block_subscriber_with_lossy_others_loses_nothing() {
    let n = scaled(30, 20_000);
    let configs: &[(usize, usize)] = if cfg!(miri) {
        &[(3, 2)]
    } else {
        &[(1, 1), (2, 1), (3, 2), (4, 4), (16, 4)]
    };
    for &(cap, len) in configs {
        let (mut tx, mut block) = stream(cap, len, LagPolicy::Block);
        let skips: Vec<_> = (0..2).map(|_| tx.subscribe_with(LagPolicy::Skip)).collect();
        let disc = tx.subscribe_with(LagPolicy::Disconnect);
        let reader = thread::spawn(move || {
            let mut got = Vec::with_capacity(n as usize);
            while let Ok(v) = block.recv() {
                got.push(v);
            }
            got
        });
        // Lossy readers on threads too, checking that their sequence is increasing and
        // that lag counts add up.
        let lossy: Vec<_> = skips
            .into_iter()
            .chain(std::iter::once(disc))
            .map(|mut rx| {
                thread::spawn(move || {
                    let mut next = 0u64;
                    let mut evicted = false;
                    loop {
                        match rx.recv() {
                            Ok(v) => {
                                assert_eq!(v, next, "gap without Lagged");
                                next += 1;
                            }
                            Err(RecvError::Lagged(k)) => {
                                assert!(k > 0);
                                next += k;
                                assert_eq!(rx.position(), next);
                            }
                            Err(RecvError::Evicted) => {
                                assert!(!evicted);
                                evicted = true;
                            }
                            Err(RecvError::Closed) => return next,
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                })
            })
            .collect();
        for i in 0..n {
            tx.publish(i);
        }
        drop(tx);
        assert_eq!(
            reader.join().unwrap(),
            (0..n).collect::<Vec<_>>(),
            "cap {cap}"
        );
        for h in lossy {
            let end = h.join().unwrap();
            assert!(end <= n);
        }
    }
}

#[test]
fn skip_subscriber_joining_late_and_lagging_counts_from_its_own_start() {
    let (mut tx, rx) = stream(4, 2, LagPolicy::Skip);
    drop(rx);
    tx.publish_batch(0..3);
    let mut late = tx.subscribe();
    assert_eq!(late.position(), 3);
    tx.publish_batch(3..12);
    // Its node starts at 2; lagged when writing t = 6 (6 - 2 >= 4) and onward;
    // the last move (t = 11) goes to ceil(8 / 2) * 2 = 8. Missed 3..8.
    assert_eq!(late.try_recv(), Err(TryRecvError::Lagged(5)));
    assert_eq!(drain_values(&mut late), vec![8, 9, 10, 11]);
}
