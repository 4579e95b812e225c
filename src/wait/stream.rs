//! The futures traits (feature `futures`): `futures_core::Stream` for `Subscriber`,
//! `futures_sink::Sink` for `Publisher`. Both keep the wait of their last `Pending` in the
//! handle itself (boxed, made at the first `Pending`), on the same registrations as the
//! `Recv` and `Publish` futures.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use futures_sink::Sink;

use super::{RecvWait, RoomWait};
use crate::error::{RecvError, SendError, TryRecvError};
use crate::publisher::Publisher;
use crate::subscriber::Subscriber;

/// The `Stream` impl's state, kept in its subscriber.
///
/// # Invariants
///
/// - A registration of `wait` stays from a `Pending` to the next poll or the drop, also
///   when receives by another path (`try_recv`, `recv`, ...) come in between. It cannot
///   miss a wake-up that way: the cursor moves only past events published after the
///   registration, and publishing them notified the node it is registered on (they were
///   written to it, or it was full and the next node was linked to it: the loom model
///   `stream_poll_between_receives`), so the next poll finds the listener notified and
///   re-checks. It holds that one node until then.
/// - `ended` is set by the `None` that ends the stream, and stays.
pub(crate) struct StreamWait<T> {
    wait: RecvWait<T>,
    ended: bool,
}

impl<T> StreamWait<T> {
    fn new() -> Box<Self> {
        Box::new(Self {
            wait: RecvWait::new(),
            ended: false,
        })
    }

    /// Releases the registration, if any (before the subscriber drops).
    pub(crate) fn cancel(&mut self, subscriber: &Subscriber<T>) {
        self.wait.cancel(subscriber);
    }
}

/// Lag and eviction are items, the end of the stream (after the last event) is `None`.
///
/// Each item is a receive as [`Subscriber::recv`] makes it: `Ok(event)`,
/// `Err(RecvError::Lagged(n))` (a `Skip` subscriber skipped `n` events, then goes on),
/// `Err(RecvError::Evicted)` (a `Disconnect` subscriber was dropped by the publisher; the
/// stream ends after it). Nothing is skipped silently. Waiting for the next event is the
/// same registration as [`Subscriber::recv_async`]: the first `Pending` allocates it
/// once, and the subscriber keeps it; a receive by another method between polls is fine.
///
/// ```
/// use futures::StreamExt;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (mut tx, rx) = tailcast::channel(8);
/// let task = tokio::spawn(rx.map(Result::unwrap).collect::<Vec<u32>>());
/// for i in 0..5 {
///     tx.publish_async(i).await;
/// }
/// drop(tx);
/// assert_eq!(task.await.unwrap(), [0, 1, 2, 3, 4]);
/// # });
/// ```
impl<T: Clone> Stream for Subscriber<T> {
    type Item = Result<T, RecvError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut state = match this.stream_wait().take() {
            Some(state) => state,
            // The first poll, or one after an item: a registration is made only if needed.
            None => match this.try_recv() {
                Err(TryRecvError::Empty) => StreamWait::new(),
                other => return Poll::Ready(end_at_close(this, other, None)),
            },
        };
        if state.ended {
            *this.stream_wait() = Some(state);
            return Poll::Ready(None);
        }
        match state.wait.poll(this, cx, Subscriber::try_recv) {
            Poll::Pending => {
                *this.stream_wait() = Some(state);
                Poll::Pending
            }
            Poll::Ready(r) => Poll::Ready(end_at_close(this, r, Some(state))),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), None)
    }
}

/// The item for a receive's outcome; `Closed` ends the stream (`None`, and `ended` set).
fn end_at_close<T>(
    subscriber: &mut Subscriber<T>,
    r: Result<T, TryRecvError>,
    state: Option<Box<StreamWait<T>>>,
) -> Option<Result<T, RecvError>> {
    match r {
        Err(TryRecvError::Closed) => {
            let mut state = state.unwrap_or_else(StreamWait::new);
            state.ended = true;
            *subscriber.stream_wait() = Some(state);
            None
        }
        other => {
            *subscriber.stream_wait() = state;
            Some(other.map_err(RecvError::from))
        }
    }
}

/// `true` once the stream has returned `None`.
impl<T: Clone> FusedStream for Subscriber<T> {
    fn is_terminated(&self) -> bool {
        self.stream_ended()
    }
}

impl<T> Subscriber<T> {
    fn stream_ended(&self) -> bool {
        self.stream_wait_ref().as_ref().is_some_and(|s| s.ended)
    }
}

/// A `Sink` that publishes each event as [`Publisher::publish`] does.
///
/// - `poll_ready` is `Ready` once the next event fits: at once unless a `Block` subscriber
///   is `capacity` behind, and then when the receive that makes room wakes it (the
///   registration of [`Publisher::publish_async`]). `Skip` and `Disconnect` subscribers
///   never hold it back.
/// - `start_send` publishes; the subscribers parked on the stream are woken by the next
///   `poll_flush` (or `poll_close`, or a `poll_ready` that waits), so `send_all` and
///   `forward` wake them once per batch rather than once per event. A `start_send`
///   without a `Ready` from `poll_ready` on a full stream drops the event and returns
///   [`SendError::Full`].
/// - `poll_close` closes the stream: subscribers receive every event published so far,
///   then the end ([`RecvError::Closed`], or `None` from their `Stream`). After it the
///   sink returns [`SendError::Closed`], and the inherent methods publish to nobody:
///   `try_publish` and `publish_timeout` hand the value back in [`Full`](crate::Full),
///   `publish` and `publish_async` drop it, as with no subscribers.
///
/// ```
/// use futures::{SinkExt, StreamExt};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (mut tx, rx) = tailcast::channel::<u64>(4); // a 4-event window: the sink waits
/// let reader = tokio::spawn(rx.map(Result::unwrap).collect::<Vec<_>>());
/// let mut events = futures::stream::iter((0..100).map(Ok));
/// tx.send_all(&mut events).await?;
/// futures::SinkExt::close(&mut tx).await?; // `tx.close()` is the inherent `close(self)`
/// assert_eq!(reader.await.unwrap(), (0..100).collect::<Vec<_>>());
/// # Ok::<(), tailcast::SendError>(())
/// # }).unwrap();
/// ```
impl<T> Sink<T> for Publisher<T> {
    type Error = SendError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        let this = self.get_mut();
        if this.is_sink_closed() {
            return Poll::Ready(Err(SendError::Closed));
        }
        if !this.needs_room() {
            return Poll::Ready(Ok(()));
        }
        let mut wait = this
            .sink_wait()
            .take()
            .unwrap_or_else(|| Box::new(RoomWait::new()));
        let polled = wait.poll_room(this, cx);
        *this.sink_wait() = Some(wait);
        this.resume_panic();
        polled.map(Ok)
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), SendError> {
        let this = self.get_mut();
        if this.is_sink_closed() {
            return Err(SendError::Closed);
        }
        this.stage(&item);
        if this.needs_room() && !this.make_room() {
            this.resume_panic();
            return Err(SendError::Full);
        }
        this.write(item, false);
        this.resume_panic();
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        self.get_mut().flush();
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        self.get_mut().close_sink();
        Poll::Ready(Ok(()))
    }
}
