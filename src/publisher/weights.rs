//! The room rule of a weighted stream: events carry a weight (a byte chunk its length),
//! and the bound is on the weight published and not yet read by the slowest `Block`
//! cursor, rather than on the count of events. Publisher-only bookkeeping, no atomics:
//! the rule turns into the same `need` position the count rule gives, so the scan and the
//! wait protocol are the core's own (see `Reclaimer::scan`).

use std::collections::VecDeque;

/// The cumulative weights of the events the publisher may still be asked about.
///
/// # Invariants
///
/// - `cum[i]` is `W(base + i)`, the total weight of the events before `base + i`, for
///   every published event from `base` on; `total` is `W(next)`, `next = base +
///   cum.len()` the publisher's next sequence number.
/// - Every weight is at least 1, so the weight bound also bounds the count of unread
///   events (by `max`), and the node list stays bounded.
/// - `base` is at most every attached cursor's position and the retention window's
///   oldest event: entries are trimmed only below both.
pub(crate) struct Weights<T> {
    weigh: fn(&T) -> u64,
    /// The bound on unread weight.
    max: u64,
    /// The weight kept for late subscribers.
    retain: u64,
    base: u64,
    cum: VecDeque<u64>,
    total: u64,
    /// The weight of the event being published (set by [`stage`](Weights::stage)).
    staged: u64,
}

impl<T> Weights<T> {
    pub(crate) fn new(weigh: fn(&T) -> u64, max: u64, retain: u64) -> Self {
        Self {
            weigh,
            max,
            retain,
            base: 0,
            cum: VecDeque::new(),
            total: 0,
            staged: 1,
        }
    }

    /// Weighs the event about to be published.
    #[inline]
    pub(crate) fn stage(&mut self, value: &T) {
        self.staged = (self.weigh)(value).max(1);
    }

    /// The staged event was written.
    #[inline]
    pub(crate) fn push(&mut self) {
        self.cum.push_back(self.total);
        self.total += self.staged;
    }

    /// The weight published so far.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The weight of the staged event.
    pub(crate) fn staged(&self) -> u64 {
        self.staged
    }

    fn next(&self) -> u64 {
        self.base + self.cum.len() as u64
    }

    /// `W(seq)`: for a position before `base` (never an attached cursor's), 0, a lower
    /// bound, which keeps the room cache conservative.
    pub(crate) fn at(&self, seq: u64) -> u64 {
        match seq.checked_sub(self.base) {
            None => 0,
            Some(i) => self.cum.get(i as usize).copied().unwrap_or(self.total),
        }
    }

    /// The first position `p` from which the unread weight plus `w` fits the bound:
    /// `W(next) - W(p) + w <= max`. At most `next` (every cursor caught up), also for an
    /// event heavier than the bound, which then waits for exactly that.
    pub(crate) fn need(&self, w: u64) -> u64 {
        let floor = (self.total + w).saturating_sub(self.max);
        if floor == 0 {
            return 0;
        }
        self.base + self.cum.partition_point(|&c| c < floor) as u64
    }

    /// The oldest event of the retention window: the first position from which the
    /// published weight is at most `retain` (`next` when nothing is retained).
    pub(crate) fn oldest(&self) -> u64 {
        let floor = self.total.saturating_sub(self.retain);
        if self.cum.front().is_none_or(|&c| c >= floor) {
            // Everything we still know of is in the window.
            return self.base.min(self.next());
        }
        self.base + self.cum.partition_point(|&c| c < floor) as u64
    }

    /// Forgets the weights of the events before `below` (no cursor is there and none is
    /// retained).
    pub(crate) fn trim(&mut self, below: u64) {
        while self.base < below && !self.cum.is_empty() {
            self.cum.pop_front();
            self.base += 1;
        }
    }

    /// The room cache for a weighted stream: writes whose weight ends at or below this
    /// need no scan while the slowest cursor is at `lowest` or later.
    pub(crate) fn room_until(&self, lowest: u64) -> u64 {
        self.at(lowest).saturating_add(self.max)
    }
}

impl<T> std::fmt::Debug for Weights<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field("max", &self.max)
            .field("retain", &self.retain)
            .field("base", &self.base)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::Weights;

    fn w(n: &u64) -> u64 {
        *n
    }

    #[test]
    fn need_is_the_first_position_that_fits() {
        let mut ws = Weights::new(w, 10, 0);
        for weight in [3u64, 4, 2, 5] {
            ws.stage(&weight);
            ws.push();
        }
        // W = 0, 3, 7, 9 | total 14.
        assert_eq!(ws.need(0), 2); // unread from 1: 11 > 10; from 2: 7 fits
        assert_eq!(ws.need(4), 3); // from 2: 7 + 4 > 10; from 3: 5 + 4 fits
        assert_eq!(ws.need(100), 4); // heavier than the bound: everyone caught up
        assert_eq!(ws.room_until(2), 17);
        ws.trim(2);
        assert_eq!(ws.at(1), 0, "trimmed: a conservative lower bound");
        assert_eq!(ws.at(3), 9);
        assert_eq!(ws.at(4), 14);
    }

    #[test]
    fn oldest_keeps_the_retained_weight() {
        let mut ws = Weights::new(w, 100, 6);
        assert_eq!(ws.oldest(), 0);
        for weight in [3u64, 4, 2, 5] {
            ws.stage(&weight);
            ws.push();
        }
        // The last 6 units: events 3 (5) fit, event 2 (2) too would make 7.
        assert_eq!(ws.oldest(), 3);
        let mut none = Weights::<u64>::new(w, 100, 0);
        assert_eq!(none.oldest(), 0);
        none.stage(&3);
        none.push();
        assert_eq!(none.oldest(), 1, "nothing retained: the live end");
    }

    #[test]
    fn weights_are_at_least_one() {
        let mut ws = Weights::new(w, 4, 0);
        ws.stage(&0);
        assert_eq!(ws.staged(), 1);
    }
}
