//! Error types, one per operation.
//!
//! Every error that hands a value back (`Full<T>`) prints without `T: Debug`; every error is
//! `Clone`, `PartialEq` and `std::error::Error`.

use std::fmt;

/// The value could not be published because the stream is full: a [`LagPolicy::Block`]
/// subscriber is `capacity` events behind. The value is handed back.
///
/// Returned by [`Publisher::try_publish`] and [`Publisher::publish_timeout`].
///
/// [`LagPolicy::Block`]: crate::LagPolicy::Block
/// [`Publisher::try_publish`]: crate::Publisher::try_publish
/// [`Publisher::publish_timeout`]: crate::Publisher::publish_timeout
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> Full<T> {
    /// The value that was not published.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stream is full: a blocking subscriber is `capacity` events behind")
    }
}

impl<T> std::error::Error for Full<T> {}

/// Why a blocking or async receive returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// The publisher is gone and every event it published has been received.
    Closed,
    /// This [`Skip`](crate::LagPolicy::Skip) subscriber fell `capacity` events behind and
    /// missed exactly this many events; the next receive continues with the oldest event
    /// still held.
    Lagged(u64),
    /// This [`Disconnect`](crate::LagPolicy::Disconnect) subscriber fell `capacity` events
    /// behind and was evicted; every later receive returns [`RecvError::Closed`].
    Evicted,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => f.write_str("stream closed"),
            RecvError::Lagged(n) => write!(f, "subscriber lagged and missed {n} events"),
            RecvError::Evicted => f.write_str("subscriber lagged and was evicted"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why the [`Publisher`](crate::Publisher)'s `Sink` (feature `futures`) took no event.
///
/// ```
/// let err = tailcast::SendError::Closed;
/// assert_eq!(err.to_string(), "stream closed by the sink's poll_close");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// `poll_close` closed the stream; nothing more is published.
    Closed,
    /// `start_send` without a `Ready` from `poll_ready`, on a stream that had no room:
    /// the event was dropped, not published (the `Sink` contract asks for `poll_ready`
    /// first).
    Full,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("stream closed by the sink's poll_close"),
            SendError::Full => f.write_str("start_send on a full stream without poll_ready"),
        }
    }
}

impl std::error::Error for SendError {}

/// Why [`Subscriber::try_recv`](crate::Subscriber::try_recv) returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryRecvError {
    /// No event is available yet; the stream is open.
    Empty,
    /// See [`RecvError::Closed`].
    Closed,
    /// See [`RecvError::Lagged`].
    Lagged(u64),
    /// See [`RecvError::Evicted`].
    Evicted,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no event available"),
            TryRecvError::Closed => RecvError::Closed.fmt(f),
            TryRecvError::Lagged(n) => RecvError::Lagged(*n).fmt(f),
            TryRecvError::Evicted => RecvError::Evicted.fmt(f),
        }
    }
}

impl std::error::Error for TryRecvError {}

impl TryRecvError {
    /// Whether this is [`TryRecvError::Empty`]: nothing yet, try again later.
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }
}

/// Why [`Subscriber::recv_timeout`](crate::Subscriber::recv_timeout) returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// No event arrived before the timeout; the stream is open.
    Timeout,
    /// See [`RecvError::Closed`].
    Closed,
    /// See [`RecvError::Lagged`].
    Lagged(u64),
    /// See [`RecvError::Evicted`].
    Evicted,
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting for an event"),
            RecvTimeoutError::Closed => RecvError::Closed.fmt(f),
            RecvTimeoutError::Lagged(n) => RecvError::Lagged(*n).fmt(f),
            RecvTimeoutError::Evicted => RecvError::Evicted.fmt(f),
        }
    }
}

impl std::error::Error for RecvTimeoutError {}

impl RecvTimeoutError {
    /// Whether this is [`RecvTimeoutError::Timeout`]: nothing yet, try again later.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(e: RecvError) -> Self {
        match e {
            RecvError::Closed => TryRecvError::Closed,
            RecvError::Lagged(n) => TryRecvError::Lagged(n),
            RecvError::Evicted => TryRecvError::Evicted,
        }
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(e: RecvError) -> Self {
        match e {
            RecvError::Closed => RecvTimeoutError::Closed,
            RecvError::Lagged(n) => RecvTimeoutError::Lagged(n),
            RecvError::Evicted => RecvTimeoutError::Evicted,
        }
    }
}

/// `Empty` becomes [`Timeout`](RecvTimeoutError::Timeout) (nothing yet); the rest map to
/// the variant of the same name.
impl From<TryRecvError> for RecvTimeoutError {
    fn from(e: TryRecvError) -> Self {
        match e {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Closed => RecvTimeoutError::Closed,
            TryRecvError::Lagged(n) => RecvTimeoutError::Lagged(n),
            TryRecvError::Evicted => RecvTimeoutError::Evicted,
        }
    }
}

/// For code that has already handled [`Empty`](TryRecvError::Empty) (a blocking receive
/// never returns it). The other variants map to the variant of the same name. `Empty`
/// itself has no blocking counterpart; it converts to `Lagged(0)` ("nothing missed,
/// receive again"), so a conversion reached by mistake makes a receive loop try again,
/// never end early on a false [`Closed`](RecvError::Closed).
///
/// ```
/// use tailcast::{RecvError, TryRecvError};
/// assert_eq!(RecvError::from(TryRecvError::Lagged(3)), RecvError::Lagged(3));
/// assert_eq!(RecvError::from(TryRecvError::Closed), RecvError::Closed);
/// assert_eq!(RecvError::from(TryRecvError::Empty), RecvError::Lagged(0));
/// ```
impl From<TryRecvError> for RecvError {
    fn from(e: TryRecvError) -> Self {
        match e {
            TryRecvError::Empty => RecvError::Lagged(0),
            TryRecvError::Closed => RecvError::Closed,
            TryRecvError::Lagged(n) => RecvError::Lagged(n),
            TryRecvError::Evicted => RecvError::Evicted,
        }
    }
}

/// As for [`TryRecvError`]: `Timeout` converts to `Lagged(0)` ("receive again"), the rest
/// to the variant of the same name.
impl From<RecvTimeoutError> for RecvError {
    fn from(e: RecvTimeoutError) -> Self {
        match e {
            RecvTimeoutError::Timeout => RecvError::Lagged(0),
            RecvTimeoutError::Closed => RecvError::Closed,
            RecvTimeoutError::Lagged(n) => RecvError::Lagged(n),
            RecvTimeoutError::Evicted => RecvError::Evicted,
        }
    }
}

/// An invalid [`Builder`](crate::Builder) setting: names the field, the value given and the
/// allowed range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    value: usize,
    allowed: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, value: usize, allowed: String) -> Self {
        Self {
            field,
            value,
            allowed,
        }
    }

    /// The name of the offending setting (`"capacity"`, `"chunk_len"` or
    /// `"yield_before_park"`; the value of the last is in microseconds).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The value that was rejected.
    pub fn value(&self) -> usize {
        self.value
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}: {} (allowed: {})",
            self.field, self.value, self.allowed
        )
    }
}

impl std::error::Error for ConfigError {}
