//! `Builder`, `LagPolicy` and the validated `Config` they produce.

use std::time::Duration;

use crate::error::ConfigError;
use crate::{Publisher, Subscriber};

/// The largest accepted `capacity`: 2^32 events (`usize::MAX` on 32-bit targets).
pub const MAX_CAPACITY: usize = if usize::BITS > 32 {
    (1u64 << 32) as usize
} else {
    usize::MAX
};
/// The largest accepted `chunk_len`: 2^16 slots per node.
pub const MAX_CHUNK_LEN: usize = 1 << 16;

/// The longest accepted [`Builder::yield_before_park`]: one second.
pub const MAX_YIELD_BEFORE_PARK: Duration = Duration::from_secs(1);

/// The largest default chunk length: large enough to amortize a node's allocation and
/// link, small enough that a node stays within a few pages. Tiny under the checkers so
/// that node boundaries, linking and reclamation are reached in a few events.
#[cfg(not(any(loom, miri)))]
const DEFAULT_CHUNK_LEN: usize = 64;
#[cfg(any(loom, miri))]
const DEFAULT_CHUNK_LEN: usize = 2;

/// The default chunk length for `capacity`: a quarter of it (so the publisher can run
/// several nodes ahead of the slowest cursor), but at least `min(capacity, 8)` (so that a
/// batch of a small stream is not one event: a batch never spans nodes), and at most
/// `DEFAULT_CHUNK_LEN`.
fn default_chunk_len(capacity: usize) -> usize {
    (capacity / 4)
        .max(capacity.min(MIN_DEFAULT_CHUNK_LEN))
        .clamp(1, DEFAULT_CHUNK_LEN)
}

/// The smallest default chunk length of a stream that holds at least this many events.
const MIN_DEFAULT_CHUNK_LEN: usize = 8;

/// What happens when a subscriber falls `capacity` events behind the publisher.
///
/// Set for the whole channel with [`Builder::lag_policy`] and per subscriber with
/// [`Publisher::subscribe_with`]; a clone keeps its source's policy. Lag is counted
/// exactly, in events: a subscriber `k` events behind (published and not yet received by
/// it) lets the publisher write `capacity - k` more before its policy applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LagPolicy {
    /// Lossless (the default): the publisher waits while this subscriber is `capacity`
    /// events behind. Memory never exceeds the cap.
    #[default]
    Block,
    /// The publisher never waits for this subscriber. When it is `capacity` behind, its
    /// next receive returns [`Lagged(n)`](crate::RecvError::Lagged) with the exact number
    /// of events it missed, then it continues with the oldest event still held.
    Skip,
    /// The publisher never waits for this subscriber. When it is `capacity` behind, it is
    /// evicted: its next receive returns [`Evicted`](crate::RecvError::Evicted), every later
    /// one [`Closed`](crate::RecvError::Closed), and the nodes only it held are reclaimed.
    Disconnect,
}

/// Validated settings shared by every handle of one stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) capacity: u64,
    pub(crate) chunk_len: usize,
    pub(crate) policy: LagPolicy,
    pub(crate) yield_before_park: Duration,
    /// Events kept for late subscribers ([`Builder::retain`]).
    pub(crate) retain: u64,
}

impl Config {
    /// The most events any node still retained can hold back: the capacity for the
    /// slowest cursor, or the retention window if it is larger.
    pub(crate) fn span(&self) -> u64 {
        self.capacity.max(self.retain)
    }
}

/// Configures and builds a stream.
///
/// Every invalid setting is reported by [`build`](Builder::build) as a [`ConfigError`]
/// naming the field and the allowed range; nothing panics.
///
/// # Examples
///
/// ```
/// use tailcast::{Builder, LagPolicy};
///
/// let (mut tx, mut rx) = Builder::new()
///     .capacity(256)
///     .chunk_len(32)
///     .lag_policy(LagPolicy::Skip)
///     .build::<u64>()?;
/// tx.publish(7);
/// assert_eq!(rx.recv(), Ok(7));
///
/// let err = Builder::new().capacity(8).chunk_len(16).build::<u64>().unwrap_err();
/// assert_eq!(err.to_string(), "invalid chunk_len: 16 (allowed: 1..=8, at most capacity)");
/// # Ok::<(), tailcast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Builder {
    capacity: usize,
    chunk_len: Option<usize>,
    policy: LagPolicy,
    yield_before_park: Duration,
    retain: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder with capacity 1024, the default chunk length and [`LagPolicy::Block`].
    pub fn new() -> Self {
        Self {
            capacity: 1024,
            chunk_len: None,
            policy: LagPolicy::Block,
            yield_before_park: Duration::ZERO,
            retain: 0,
        }
    }

    /// The cap on outstanding events: how far the slowest subscriber may fall behind
    /// before its [`LagPolicy`] applies, counted exactly in events. With the slowest
    /// `Block` subscriber `k` events behind, exactly `capacity - k` more events are
    /// accepted without waiting, and each event it receives makes room for one more.
    /// Allowed: `1..=2^32`.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Events per node. Allowed: `1..=min(capacity, 2^16)`. Default: `capacity / 4`,
    /// but at least `min(capacity, 8)` (a batch never spans nodes) and at most 64. Larger
    /// nodes amortize allocation and cursor updates; smaller nodes free memory sooner (the
    /// bound is in the [crate documentation's *Memory*](crate#memory)). The capacity rule
    /// does not depend on it.
    pub fn chunk_len(mut self, chunk_len: usize) -> Self {
        self.chunk_len = Some(chunk_len);
        self
    }

    /// The policy of the first subscriber and of every [`Publisher::subscribe`].
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long a blocking wait ([`Subscriber::recv`], [`recv_ref`](Subscriber::recv_ref),
    /// [`recv_batch`](Subscriber::recv_batch), [`recv_timeout`](Subscriber::recv_timeout),
    /// [`Publisher::publish`] and [`publish_timeout`](Publisher::publish_timeout)) keeps
    /// yielding its time slice and re-checking before it parks. Allowed: up to
    /// [`MAX_YIELD_BEFORE_PARK`] (one second). Default: zero.
    ///
    /// With the default, a waiter yields at most 16 times, and only while the publisher and
    /// every subscriber can each have a core; then it parks, and whoever makes progress
    /// wakes it through the kernel (a futex call on each side, tens of microseconds on a
    /// busy or virtual machine). A budget trades CPU for latency: a waiter whose next event
    /// arrives within the budget is never parked, so neither side pays a wake-up, but it
    /// keeps its core busy (yielding) while it waits. It never spins without bound: once
    /// the budget is spent, it parks. Async waits do not yield; they return to their
    /// executor.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (mut tx, mut rx) = tailcast::Builder::new()
    ///     .yield_before_park(Duration::from_micros(50))
    ///     .build::<u64>()?;
    /// let reader = std::thread::spawn(move || rx.recv());
    /// tx.publish(1);
    /// assert_eq!(reader.join().unwrap(), Ok(1));
    ///
    /// let err = tailcast::Builder::new()
    ///     .yield_before_park(Duration::from_secs(2))
    ///     .build::<u64>()
    ///     .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid yield_before_park: 2000000 (allowed: 0..=1000000 microseconds)"
    /// );
    /// # Ok::<(), tailcast::ConfigError>(())
    /// ```
    pub fn yield_before_park(mut self, budget: Duration) -> Self {
        self.yield_before_park = budget;
        self
    }

    /// Keeps the last `n` published events even when no subscriber holds them, so that a
    /// late subscriber can replay them ([`Publisher::subscribe_at`] with
    /// [`Position::Oldest`](crate::Position::Oldest) or a
    /// [`Position::Seq`](crate::Position::Seq) inside the window). Allowed:
    /// `0..=2^32`. Default: 0 (nothing kept for late subscribers).
    ///
    /// Retained events do not count against `capacity`: the publisher never waits for
    /// the window; the memory bound grows to cover it (see [*Memory*](crate#memory)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tailcast::Position;
    ///
    /// let (mut tx, rx) = tailcast::Builder::new().capacity(8).retain(3).build::<u32>()?;
    /// drop(rx);
    /// tx.publish_batch(0..10); // no subscriber: nothing waits
    /// let mut late = tx.subscribe_at(Position::Oldest)?;
    /// assert_eq!(late.position(), 7);
    /// assert_eq!(late.try_recv(), Ok(7));
    /// assert_eq!(late.try_recv(), Ok(8));
    /// assert_eq!(late.try_recv(), Ok(9));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retain(mut self, n: usize) -> Self {
        self.retain = n;
        self
    }

    pub(crate) fn config(&self) -> Result<Config, ConfigError> {
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(ConfigError::new(
                "capacity",
                self.capacity,
                format!("1..={MAX_CAPACITY}"),
            ));
        }
        let max_chunk = self.capacity.min(MAX_CHUNK_LEN);
        let chunk_len = match self.chunk_len {
            None => default_chunk_len(self.capacity),
            Some(n) if (1..=max_chunk).contains(&n) => n,
            Some(n) => {
                return Err(ConfigError::new(
                    "chunk_len",
                    n,
                    format!("1..={max_chunk}, at most capacity"),
                ))
            }
        };
        if self.yield_before_park > MAX_YIELD_BEFORE_PARK {
            return Err(ConfigError::new(
                "yield_before_park",
                // Rounded up, so a value just over the limit does not print as the limit.
                usize::try_from(self.yield_before_park.as_nanos().div_ceil(1000))
                    .unwrap_or(usize::MAX),
                format!("0..={} microseconds", MAX_YIELD_BEFORE_PARK.as_micros()),
            ));
        }
        if self.retain > MAX_CAPACITY {
            return Err(ConfigError::new(
                "retain",
                self.retain,
                format!("0..={MAX_CAPACITY}"),
            ));
        }
        Ok(Config {
            retain: self.retain as u64,
            capacity: self.capacity as u64,
            chunk_len,
            policy: self.policy,
            yield_before_park: self.yield_before_park,
        })
    }

    /// Builds the stream: the publisher and a first subscriber that sees every event.
    ///
    /// The first subscriber is a cursor like any other: kept alive and not read, a
    /// [`LagPolicy::Block`] one stops the publisher after `capacity` events. If you only
    /// want to subscribe later (or per connection, per task), use
    /// [`build_publisher`](Builder::build_publisher) instead of binding it to `_rx`.
    pub fn build<T>(&self) -> Result<(Publisher<T>, Subscriber<T>), ConfigError> {
        let config = self.config()?;
        Ok(crate::publisher::new_stream(config))
    }

    /// Builds the stream with no subscriber: until [`Publisher::subscribe`] (or
    /// [`subscribe_at`](Publisher::subscribe_at)) is called, publishing never waits and
    /// nothing is kept but the [`retain`](Builder::retain) window.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut tx = tailcast::Builder::new().capacity(4).build_publisher::<u32>()?;
    /// for i in 0..100 {
    ///     tx.publish(i); // no subscriber: never waits
    /// }
    /// let mut rx = tx.subscribe(); // joins at the live end
    /// tx.publish(100);
    /// assert_eq!(rx.recv(), Ok(100));
    /// # Ok::<(), tailcast::ConfigError>(())
    /// ```
    pub fn build_publisher<T>(&self) -> Result<Publisher<T>, ConfigError> {
        let config = self.config()?;
        Ok(crate::publisher::new_publisher(config))
    }
}
