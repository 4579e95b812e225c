//! The publisher's side of the wait path: parking on the stream's `space` event until a
//! `Block` cursor's receive makes room (a stack listener for `publish`, a heap one for the
//! `Publish` future).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use event_listener::{listener, EventListener, Listener};

use super::{wait_until, Backoff, Park};
use crate::publisher::Publisher;
use crate::raw::relay::{DeferWakes, RelaySlot};

impl<T> Publisher<T> {
    /// Waits until the next event may be written. `false` if `deadline` passed first.
    #[cold]
    pub(crate) fn wait_for_room(&mut self, deadline: Option<Instant>) -> bool {
        // Subscribers may be parked on events not yet announced (a batch): flushed before
        // every yield and park. While every thread has a core, the subscribers are
        // running, so room usually comes within a few yields, without a futex round trip.
        wait_until(self, deadline, |p| {
            if p.make_room() {
                Some(())
            } else {
                p.flush();
                None
            }
        })
        .is_some()
    }
}

impl<T> Publisher<T> {
    /// Publishes the value in `slot` once it fits, poll-driven: `Ready` with `slot`
    /// emptied (at once if it was empty), or `Pending` with the value left in `slot` and
    /// `cx`'s waker registered in `wait`, to be woken by the receive that makes room.
    ///
    /// A panic caught while reclaiming is resumed before this returns: after a `Ready`
    /// the event is published; after a `Pending` it stays in `slot` (see the type's
    /// *Panics*).
    pub(crate) fn poll_publish_from(
        &mut self,
        wait: &mut RoomWait,
        cx: &mut Context<'_>,
        slot: &mut Option<T>,
    ) -> Poll<()> {
        let Some(value) = slot.as_ref() else {
            return Poll::Ready(());
        };
        // Weighed at every poll: the same value, and the room rule reads the staged weight.
        self.stage(value);
        if self.needs_room() && self.before_wait_closed() {
            // `Sink::poll_close` closed the stream: published to nobody.
            *slot = None;
            return Poll::Ready(());
        }
        if wait.poll_room(self, cx).is_pending() {
            self.resume_panic();
            return Poll::Pending;
        }
        if let Some(value) = slot.take() {
            self.write(value, true);
        }
        self.resume_panic();
        Poll::Ready(())
    }
}

impl<T> Park for Publisher<T> {
    fn snooze(&self, backoff: &mut Backoff, deadline: Option<Instant>) -> bool {
        backoff.snooze(self.shared(), deadline)
    }

    /// The listener lives on this stack frame, as in a subscriber's blocking park: a
    /// blocking publisher allocates nothing to wait.
    fn park(&mut self, deadline: Option<Instant>) -> bool {
        // The stack listener borrows the stream's event while `make_room` borrows `self`.
        let shared = self.shared_handle();
        // Ends after the listener: a dropped listener may pass its notification on.
        let _defer = DeferWakes::enter();
        listener!(shared.space() => listener);
        shared.announce_publisher_parked(self.room_need());
        if self.make_room() {
            shared.publisher_unpark();
            return true;
        }
        let notified = match deadline {
            None => {
                listener.wait();
                true
            }
            Some(deadline) => listener.wait_deadline(deadline).is_some(),
        };
        shared.publisher_unpark();
        notified
    }
}

/// The future of [`Publisher::publish_async`].
#[must_use = "futures do nothing unless polled"]
pub struct Publish<'a, T> {
    publisher: &'a mut Publisher<T>,
    value: Option<T>,
    wait: RoomWait,
}

impl<'a, T> Publish<'a, T> {
    pub(crate) fn new(publisher: &'a mut Publisher<T>, value: T) -> Self {
        Self {
            publisher,
            value: Some(value),
            wait: RoomWait::new(),
        }
    }
}

// `T` is never pinned: the value is only moved out by `poll`.
impl<T> Unpin for Publish<'_, T> {}

impl<T> Future for Publish<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.publisher
            .poll_publish_from(&mut this.wait, cx, &mut this.value)
    }
}

impl<T> Drop for Publish<'_, T> {
    fn drop(&mut self) {
        self.wait.cancel(self.publisher);
    }
}

/// A poll-driven wait of the publisher for room, kept by whoever polls (the [`Publish`]
/// future, or a type with a `poll_*` method such as the byte layer's async writer): the
/// listener on the stream's `space` event and the relay standing in for the caller's
/// waker (see `relay`).
///
/// # Invariants
///
/// - `listener` is `Some` exactly while the publisher is announced parked
///   (`publisher_parked`): the two are set and cleared together, so a wake-up for room is
///   asked for only while someone listens.
/// - The owner polls it with the publisher it registered for, with the next event staged
///   ([`Publisher::stage`]) on a weighted stream.
#[derive(Debug)]
pub(crate) struct RoomWait {
    listener: Option<EventListener>,
    /// Stands in for the caller's waker in the listener (see `relay`).
    relay: RelaySlot,
}

impl RoomWait {
    pub(crate) fn new() -> Self {
        Self {
            listener: None,
            relay: RelaySlot::new(),
        }
    }

    /// `Ready` once the next (staged) event fits, `Pending` with `cx`'s waker registered
    /// to be woken by the receive that makes room. Does not resume a panic caught while
    /// reclaiming: the caller does, when it suits it.
    pub(crate) fn poll_room<T>(
        &mut self,
        publisher: &mut Publisher<T>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        loop {
            if let Some(listener) = self.listener.as_mut() {
                let (relay, replaced) = self.relay.register(cx);
                // No lock is held: the replaced waker may run any code as it drops.
                drop(replaced);
                if Pin::new(listener)
                    .poll(&mut Context::from_waker(&relay))
                    .is_pending()
                {
                    return Poll::Pending;
                }
                self.drop_listener();
                publisher.shared().publisher_unpark();
            }
            if !publisher.needs_room() || publisher.make_room() {
                return Poll::Ready(());
            }
            publisher.flush();
            let need = publisher.room_need();
            self.listener = Some(publisher.shared().publisher_park(need));
            if publisher.make_room() {
                self.drop_listener();
                publisher.shared().publisher_unpark();
            }
        }
    }

    /// Stops waiting: drops the listener (if any), unannounces the park, and releases the
    /// caller's waker.
    pub(crate) fn cancel<T>(&mut self, publisher: &Publisher<T>) {
        // The caller's waker leaves the relay first and drops last, after the listener.
        let waker = self.relay.clear();
        if self.listener.is_some() {
            self.drop_listener();
            publisher.shared().publisher_unpark();
        }
        drop(waker);
    }

    /// Drops the listener inside a [`DeferWakes`] scope (it may pass a notification on).
    fn drop_listener(&mut self) {
        let _defer = DeferWakes::enter();
        self.listener = None;
    }
}

impl<T> std::fmt::Debug for Publish<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("done", &self.value.is_none())
            .finish_non_exhaustive()
    }
}
