//! The backpressure scan: where every cursor stands, which Block cursor holds the
//! publisher back, which lossy cursor is lagged or evicted, and which nodes are still
//! needed. Runs on the publisher's thread, as part of its [`Reclaimer`].

use std::ptr::NonNull;

use super::Reclaimer;
use crate::config::LagPolicy;
use crate::raw::node::{Node, NodePtr};
use crate::raw::registry::{Entry, State};
use crate::raw::shared::Shared;
use crate::raw::sync::full_fence;

/// The outcome of scanning the cursors for a write that needs every cursor at or past
/// position `need`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scan {
    /// The smallest node start any attached cursor holds (`u64::MAX` if none): nodes
    /// before it may be retired.
    pub(crate) floor: u64,
    /// The smallest position (next event to read) of any attached cursor after the scan's
    /// moves (`u64::MAX` if none): the publisher's room cache starts from it.
    pub(crate) lowest: u64,
    /// A Block cursor is before `need`: the write must wait.
    pub(crate) blocked: bool,
    /// The slowest attached cursor's policy (the one at `lowest`).
    pub(crate) slowest: Option<LagPolicy>,
}

/// What the publisher can tell of one attached cursor without following its pointer.
#[derive(Debug, Clone, Copy)]
struct View {
    /// A lower bound of the start of every node the cursor may still read.
    start: u64,
    /// The cursor's position for the room rule: `max(pos, start)`.
    pos: u64,
}

impl<T> Reclaimer<T> {
    /// Scans every cursor for a write that needs each of them at or past position
    /// `need` (`need <=` the next sequence number): reports whether a Block cursor is
    /// behind it (then the write waits and nobody is forced), and otherwise lags Skip
    /// cursors and evicts Disconnect cursors that are.
    ///
    /// The publisher computes `need` from its room rule: `t + 1 - capacity` for event `t`
    /// by count, or the first position from which the unread weight plus the next event's
    /// fits a weighted stream's bound. "Behind" is exact, from each cursor's position (its
    /// gating sequence): a cursor that has read everything holds back nothing, whichever
    /// node it is on.
    pub(crate) fn scan(&mut self, shared: &Shared<T>, need: u64) -> Scan {
        // A heuristic (a leave and a join between two scans cancel out): it only decides
        // whether retired nodes are pooled or freed.
        let attached = shared.registry.attached();
        self.trim |= attached < self.attached;
        self.attached = attached;
        let mut joins = shared.registry.joins();
        let mut entries = shared.registry.load();
        loop {
            // A write that waits overwrites nothing: a lossy cursor loses nothing to it.
            // Block cursors only move forward, so one that is not behind now stays so.
            let blocked = entries.iter().any(|entry| {
                entry.policy() == LagPolicy::Block
                    && self
                        .view(entry, entry.load(), need)
                        .is_some_and(|v| v.pos < need)
            });
            let mut scan = Scan {
                floor: u64::MAX,
                lowest: u64::MAX,
                blocked,
                slowest: None,
            };
            for entry in entries.iter() {
                let mut state = entry.load();
                while let Some(view) = self.view(entry, state, need) {
                    if blocked || view.pos >= need || entry.policy() == LagPolicy::Block {
                        scan.floor = scan.floor.min(view.start);
                        if view.pos < scan.lowest {
                            scan.lowest = view.pos;
                            scan.slowest = Some(entry.policy());
                        }
                        break;
                    }
                    let target = self.lag_target(need);
                    let moved = match entry.policy() {
                        LagPolicy::Skip => State::lagged_to(target.0),
                        _ => State::detached(),
                    };
                    match entry.cas(state, moved) {
                        Ok(()) => {
                            self.trim = true;
                            // The cursor may still be reading the node it was on (under
                            // its pin): retire that node through the epoch. A pointer
                            // that is not retained (a clone's stale copy) needs nothing.
                            let retained =
                                state.node().and_then(|n| self.retained(n, entry.start()));
                            if let Some(node) = retained {
                                // SAFETY: retained nodes are allocated.
                                unsafe { node.as_ref() }.taint();
                            }
                            if moved.is_detached() {
                                shared.registry.detached_one();
                            } else {
                                // SAFETY: a lag target is retained.
                                let target_start = unsafe { target.as_ref() }.start();
                                entry.raise_start(target_start);
                                scan.floor = scan.floor.min(target_start);
                                if target_start < scan.lowest {
                                    scan.lowest = target_start;
                                    scan.slowest = Some(entry.policy());
                                }
                            }
                            break;
                        }
                        Err(now) => state = now,
                    }
                }
            }
            // Store-load barrier: pairs with the fence in `Subscriber::clone` between its
            // join and its re-read of the source. Either the clone sees our forced move of
            // its source, or the re-load below sees the clone.
            full_fence();
            // A cursor cloned during the scan may be missing from `entries` while its
            // source was seen past the clone's node: rescan while cursors join. Leaves
            // never lower the floor, so they cause no rescan (churn of drops on other
            // threads cannot keep the publisher scanning).
            let now = shared.registry.joins();
            if now == joins {
                return scan;
            }
            joins = now;
            entries = shared.registry.load();
        }
    }

    /// What the publisher can tell of an attached cursor (in `state`) without following
    /// its pointer; `None` if it is detached.
    ///
    /// The entry's `start` word trails a move the cursor just committed, so when the
    /// cursor looks behind `need`, `start` is refined with the start of the node `state`
    /// names, if that node is ours (found by address in our list, never dereferenced
    /// through the entry).
    fn view(&self, entry: &Entry<T>, state: State<T>, need: u64) -> Option<View> {
        if state.is_detached() {
            return None;
        }
        let mut start = entry.start();
        let mut pos = entry.pos().max(start);
        if pos < need {
            if let Some(node) = state.node().and_then(|n| self.retained(n, start)) {
                // SAFETY: retained nodes are allocated.
                start = start.max(unsafe { node.as_ref() }.start());
                pos = pos.max(start);
            }
        }
        Some(View { start, pos })
    }

    /// An attached cursor's position for [`Publisher::stats`](crate::Publisher::stats):
    /// `max(pos, start)`, refined with the start of the node its state names, as the scan
    /// does (a cursor stores its position after moving to the next node, so for a moment
    /// only its state shows it there). `None` if detached.
    pub(crate) fn position_of(&self, entry: &Entry<T>) -> Option<u64> {
        // `need = u64::MAX`: every cursor looks behind, so `view` refines.
        self.view(entry, entry.load(), u64::MAX).map(|v| v.pos)
    }

    /// `node` if it is one of the retained nodes (compared by address; never dereferenced).
    /// The search starts at the node that would hold sequence `hint` (the entry's `start`
    /// word, which trails its state, so the node is usually found at once) and wraps
    /// around, so it finds `node` wherever it is.
    fn retained(&self, node: NonNull<Node<T>>, hint: u64) -> Option<NodePtr<T>> {
        let first = self.nodes.front()?;
        // SAFETY: retained nodes are allocated; only this reclaimer frees them.
        let front = unsafe { first.as_ref() }.start();
        let at = usize::try_from(hint.saturating_sub(front) / self.chunk_len as u64)
            .unwrap_or(usize::MAX)
            .min(self.nodes.len() - 1);
        self.nodes
            .range(at..)
            .chain(self.nodes.range(..at))
            .copied()
            .find(|n| n.0 == node)
    }

    /// The oldest node a lagged cursor continues from: the first node starting at or
    /// after `need`, or the newest node if none does yet (by count `need <= t + 1 - cap`
    /// and `chunk_len <= cap`, so the node exists; a weighted `need` can fall inside the
    /// newest node, which a lagged cursor then continues from).
    fn lag_target(&self, need: u64) -> NodePtr<T> {
        let l = self.chunk_len as u64;
        let newest = *self.nodes.back().expect("the tail is retained");
        // SAFETY: retained nodes are allocated; only this reclaimer frees them.
        let newest_start = unsafe { newest.as_ref() }.start();
        self.node_at((need.div_ceil(l) * l).min(newest_start))
    }
}
