//! Where a subscriber starts ([`Position`], [`PositionError`]) and what the publisher can
//! report about the stream ([`Stats`]).

use std::fmt;

use crate::config::LagPolicy;

/// Where [`Publisher::subscribe_at`](crate::Publisher::subscribe_at) places a new
/// subscriber. Sequence numbers count every event published, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// The oldest event of the retention window ([`Builder::retain`](crate::Builder::retain)):
    /// the new subscriber replays the last `min(retain, published)` events. With no
    /// retention this is [`Live`](Position::Live).
    Oldest,
    /// The next event published: what [`Publisher::subscribe`](crate::Publisher::subscribe)
    /// does.
    Live,
    /// This sequence number, which must lie in the retention window (from its oldest
    /// event up to the next event published, inclusive); otherwise a [`PositionError`].
    Seq(u64),
}

/// A [`Position::Seq`] outside the retention window. The message names the window.
///
/// ```
/// use tailcast::Position;
///
/// let (mut tx, _rx) = tailcast::Builder::new().capacity(16).retain(4).build::<u32>()?;
/// tx.publish_batch(0..10);
/// let err = tx.subscribe_at(Position::Seq(2)).unwrap_err();
/// assert_eq!(err.to_string(), "sequence 2 is outside the retained window 6..=9 (next: 10)");
/// assert_eq!((err.first(), err.next()), (6, 10));
/// # Ok::<(), tailcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionError {
    requested: u64,
    first: u64,
    next: u64,
}

impl PositionError {
    pub(crate) fn new(requested: u64, first: u64, next: u64) -> Self {
        Self {
            requested,
            first,
            next,
        }
    }

    /// The sequence number asked for.
    pub fn requested(&self) -> u64 {
        self.requested
    }

    /// The oldest retained event's sequence number (equal to [`next`](Self::next) when
    /// nothing is retained).
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The sequence number of the next event published (one past the newest).
    pub fn next(&self) -> u64 {
        self.next
    }
}

impl fmt::Display for PositionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.next {
            write!(
                f,
                "sequence {} is outside the retained window, which is empty (next: {})",
                self.requested, self.next
            )
        } else {
            write!(
                f,
                "sequence {} is outside the retained window {}..={} (next: {})",
                self.requested,
                self.first,
                self.next - 1,
                self.next
            )
        }
    }
}

impl std::error::Error for PositionError {}

/// A snapshot of a stream, from [`Publisher::stats`](crate::Publisher::stats).
///
/// Cheap enough to take on every event: a read of each cursor's position, no lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Events published so far.
    pub published: u64,
    /// Attached subscribers (not dropped, not evicted).
    pub subscribers: usize,
    /// How many events the slowest attached subscriber is behind (published and not yet
    /// received by it); 0 with no subscriber.
    pub slowest_lag: u64,
    /// The slowest attached subscriber's policy; `None` with no subscriber.
    pub slowest_policy: Option<LagPolicy>,
    /// Nodes the publisher holds (the tail, the node linked ahead of it, and every node a
    /// cursor or the retention window still needs).
    pub nodes_live: usize,
    /// Emptied nodes kept for reuse.
    pub nodes_pooled: usize,
    /// The events [`Position::Oldest`] would replay.
    pub retained: u64,
}
