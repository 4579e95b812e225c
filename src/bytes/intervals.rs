//! A canonical set of half-open byte intervals: sorted, disjoint, and never adjacent
//! (a union merges on both sides).

use std::collections::BTreeMap;

/// Disjoint, non-adjacent `[start, end)` intervals, by start.
///
/// # Invariants
///
/// For consecutive entries `(s1, e1)`, `(s2, e2)`: `s1 < e1 < s2 < e2`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Intervals(BTreeMap<u64, u64>);

impl Intervals {
    /// Adds `[start, end)`, merging every interval it overlaps or touches.
    pub(crate) fn insert(&mut self, mut start: u64, mut end: u64) {
        if start >= end {
            return;
        }
        // The interval starting at or before `start`, if it reaches it, is absorbed.
        if let Some((&s, &e)) = self.0.range(..=start).next_back() {
            if e >= start {
                start = s;
                end = end.max(e);
            }
        }
        // Every interval starting in `[start, end]` is absorbed.
        let absorbed: Vec<u64> = self.0.range(start..=end).map(|(&s, _)| s).collect();
        for s in absorbed {
            if let Some(e) = self.0.remove(&s) {
                end = end.max(e);
            }
        }
        self.0.insert(start, end);
    }

    /// Removes everything before `at`.
    pub(crate) fn trim_below(&mut self, at: u64) {
        let below: Vec<u64> = self.0.range(..at).map(|(&s, _)| s).collect();
        for s in below {
            if let Some(e) = self.0.remove(&s) {
                if e > at {
                    self.0.insert(at, e);
                }
            }
        }
    }

    /// The intervals, in order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|(&s, &e)| (s, e))
    }

    /// Whether any byte at or after `at` is in the set.
    pub(crate) fn any_from(&self, at: u64) -> bool {
        self.0.range(..).next_back().is_some_and(|(_, &e)| e > at)
    }
}

#[cfg(test)]
mod tests {
    use super::Intervals;

    fn set(spans: &[(u64, u64)]) -> Intervals {
        let mut s = Intervals::default();
        for &(a, b) in spans {
            s.insert(a, b);
        }
        s
    }

    fn spans(s: &Intervals) -> Vec<(u64, u64)> {
        s.iter().collect()
    }

    #[test]
    fn disjoint_stay_apart_and_touching_merge() {
        assert_eq!(spans(&set(&[(0, 5), (10, 15)])), [(0, 5), (10, 15)]);
        assert_eq!(spans(&set(&[(0, 5), (5, 10)])), [(0, 10)]);
        assert_eq!(spans(&set(&[(5, 10), (0, 5)])), [(0, 10)]);
        assert_eq!(spans(&set(&[(0, 5), (2, 3)])), [(0, 5)]);
        assert_eq!(spans(&set(&[(2, 3), (0, 5)])), [(0, 5)]);
        assert_eq!(spans(&set(&[(0, 5), (3, 8)])), [(0, 8)]);
        assert_eq!(spans(&set(&[(3, 8), (0, 5)])), [(0, 8)]);
        assert_eq!(spans(&set(&[(4, 4)])), []);
    }

    #[test]
    fn a_union_merges_on_both_sides() {
        // The case patchwork's own set gets wrong.
        let s = set(&[(0, 5), (10, 15), (20, 25), (4, 21)]);
        assert_eq!(spans(&s), [(0, 25)]);
        let s = set(&[(0, 5), (10, 15), (20, 25), (5, 20)]);
        assert_eq!(spans(&s), [(0, 25)]);
        let s = set(&[(0, 5), (10, 15), (20, 25), (6, 9)]);
        assert_eq!(spans(&s), [(0, 5), (6, 9), (10, 15), (20, 25)]);
    }

    #[test]
    fn trim_and_any_from() {
        let mut s = set(&[(0, 5), (8, 12)]);
        s.trim_below(10);
        assert_eq!(spans(&s), [(10, 12)]);
        assert!(s.any_from(11));
        assert!(!s.any_from(12));
    }
}
