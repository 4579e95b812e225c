//! The publisher's state for its `Sink` impl (feature `futures`, in `wait::stream`): the
//! wait of the last `poll_ready` that returned `Pending`, and whether `poll_close` closed
//! the stream. Without the feature, only the check the publish paths make remains, and it
//! is `false`.

use super::Publisher;
#[cfg(feature = "futures")]
use crate::wait::RoomWait;

/// # Invariants
///
/// - `wait` holds the only room registration of the publisher while it is parked: every
///   other wait for room (`publish`, `publish_async`, ...) cancels it first
///   ([`Publisher::before_wait_closed`]), since the stream's `publisher_parked` announces
///   one waiter.
/// - Once `closed`, the stream is closed and `room_until` is 0, so every publish takes the
///   cold path, where `before_wait_closed` turns it away: nothing is written after the
///   close that ended the subscribers.
#[cfg(feature = "futures")]
#[derive(Debug, Default)]
pub(super) struct SinkState {
    wait: Option<Box<RoomWait>>,
    closed: bool,
}

impl<T> Publisher<T> {
    /// Called by every publish path that found no cached room, before it scans or waits:
    /// drops the `Sink`'s pending registration, and says whether `poll_close` closed the
    /// stream (then the event is not written).
    #[inline]
    pub(crate) fn before_wait_closed(&mut self) -> bool {
        #[cfg(feature = "futures")]
        {
            self.cancel_sink_wait();
            self.sink.closed
        }
        #[cfg(not(feature = "futures"))]
        false
    }
}

#[cfg(feature = "futures")]
impl<T> Publisher<T> {
    /// Whether `Sink::poll_close` closed the stream.
    pub(crate) fn is_sink_closed(&self) -> bool {
        self.sink.closed
    }

    /// The `Sink`'s wait slot.
    pub(crate) fn sink_wait(&mut self) -> &mut Option<Box<RoomWait>> {
        &mut self.sink.wait
    }

    /// Drops the `Sink`'s pending registration, if any.
    pub(super) fn cancel_sink_wait(&mut self) {
        if let Some(mut wait) = self.sink.wait.take() {
            wait.cancel(self);
            self.sink.wait = Some(wait);
        }
    }

    /// `Sink::poll_close`: closes the stream once; later publishes write nothing.
    pub(crate) fn close_sink(&mut self) {
        self.cancel_sink_wait();
        if !self.sink.closed {
            self.sink.closed = true;
            self.flush();
            self.close_in_place();
            self.room_until.set(0);
        }
    }
}
