//! Fuzzer bytes to settings and operations. Every decoder is total: once the input runs
//! out, `Unstructured` yields the smallest choices, so any byte string is a valid case.

use arbitrary::{Result, Unstructured};
use tailcast::{LagPolicy, MAX_CAPACITY, MAX_CHUNK_LEN};

use crate::model::{CloneRecv, Op, RecvKind, MAX_RUN};

pub fn policy(u: &mut Unstructured<'_>) -> Result<LagPolicy> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => LagPolicy::Block,
        1 => LagPolicy::Skip,
        _ => LagPolicy::Disconnect,
    })
}

fn recv_kind(u: &mut Unstructured<'_>) -> Result<RecvKind> {
    let max = |u: &mut Unstructured<'_>| -> Result<usize> {
        // Mostly small, sometimes "everything".
        Ok(match u.int_in_range(0..=7u8)? {
            7 => usize::MAX,
            n => usize::from(n),
        })
    };
    Ok(match u.int_in_range(0..=7u8)? {
        0 => RecvKind::TryRecv,
        1 => RecvKind::TryRecvRef,
        2 => RecvKind::TryRecvBatch(max(u)?),
        3 => RecvKind::Recv,
        4 => RecvKind::RecvTimeout,
        5 => RecvKind::RecvAsync,
        6 => RecvKind::RecvRef,
        _ => RecvKind::RecvBatch(max(u)?),
    })
}

fn clone_recv(u: &mut Unstructured<'_>) -> Result<CloneRecv> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => CloneRecv::TryRecv,
        1 => CloneRecv::Recv,
        2 => CloneRecv::RecvTimeout,
        _ => CloneRecv::RecvAsync,
    })
}

/// A run length for a publishing operation: up to a little past twice the capacity
/// (bounded by `MAX_RUN`), so that every lag rule can be reached in one step.
fn run(u: &mut Unstructured<'_>, cap: u64) -> Result<u32> {
    let top = cap
        .saturating_mul(2)
        .saturating_add(2)
        .min(u64::from(MAX_RUN)) as u32;
    u.int_in_range(0..=top)
}

/// One operation for a stream of capacity `cap`.
pub fn op(u: &mut Unstructured<'_>, cap: u64) -> Result<Op> {
    Ok(match u.int_in_range(0..=19u8)? {
        0 | 1 => Op::Publish(run(u, cap)?),
        2 | 3 => Op::TryPublish(run(u, cap)?),
        4 => Op::PublishTimeout(run(u, cap)?),
        5 => Op::PublishBatch(run(u, cap)?),
        6 => Op::PublishBatchPanic(run(u, cap)?),
        7 => Op::PublishAsync(u.int_in_range(0..=3)?),
        8 => Op::Subscribe,
        9 => Op::SubscribeWith(policy(u)?),
        10 => Op::Clone(u.arbitrary()?),
        11 => Op::Drop(u.arbitrary()?),
        12..=15 => Op::Recv {
            sub: u.arbitrary()?,
            kind: recv_kind(u)?,
            times: u.int_in_range(1..=4)?,
        },
        16 | 17 => Op::Hold {
            sub: u.arbitrary()?,
            batch: u.int_in_range(0..=4)?,
            publish: run(u, cap.saturating_add(cap / 2))?,
            join: if u.arbitrary()? {
                Some(policy(u)?)
            } else {
                None
            },
            other: u.arbitrary()?,
        },
        18 => Op::PanicClone {
            sub: u.arbitrary()?,
            nth: u.int_in_range(1..=4)?,
            kind: clone_recv(u)?,
        },
        _ => Op::DropPublisher,
    })
}

/// Operations until the input runs out or `max` are decoded.
pub fn ops(u: &mut Unstructured<'_>, cap: u64, max: usize) -> Vec<Op> {
    let mut ops = Vec::new();
    while ops.len() < max && !u.is_empty() {
        match op(u, cap) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// A capacity, extreme values included: 0, 1, the limits and just past them,
/// `usize::MAX`, and anything in between.
pub fn capacity(u: &mut Unstructured<'_>) -> Result<usize> {
    Ok(match u.int_in_range(0..=11u8)? {
        0 => 0,
        1 => 1,
        2 => MAX_CAPACITY,
        3 => MAX_CAPACITY.wrapping_add(1),
        4 => MAX_CAPACITY - 1,
        5 => usize::MAX,
        6 => MAX_CHUNK_LEN,
        7 => MAX_CHUNK_LEN + 1,
        8 => u.arbitrary()?,
        // Mostly moderate capacities, where a short sequence reaches the cap.
        _ => u.int_in_range(1..=300)?,
    })
}

/// A chunk length for `capacity`: the default (`None`), 0, 1, the capacity and one past
/// it, the limit and one past it, `usize::MAX`, any value, or one that fits.
pub fn chunk_len(u: &mut Unstructured<'_>, capacity: usize) -> Result<Option<usize>> {
    let fitting = capacity.clamp(1, MAX_CHUNK_LEN);
    Ok(Some(match u.int_in_range(0..=10u8)? {
        0 => return Ok(None),
        1 => 0,
        2 => 1,
        3 => capacity,
        4 => capacity.wrapping_add(1),
        5 => MAX_CHUNK_LEN,
        6 => MAX_CHUNK_LEN + 1,
        7 => usize::MAX,
        8 => u.arbitrary()?,
        _ => u.int_in_range(1..=fitting)?,
    }))
}
