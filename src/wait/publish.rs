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
    listener: Option<EventListener>,
    /// Stands in for the caller's waker in the listener (see `relay`).
    relay: RelaySlot,
}

impl<'a, T> Publish<'a, T> {
    pub(crate) fn new(publisher: &'a mut Publisher<T>, value: T) -> Self {
        publisher.stage(&value);
        Self {
            publisher,
            value: Some(value),
            listener: None,
            relay: RelaySlot::new(),
        }
    }
}

// `T` is never pinned: the value is only moved out by `poll`.
impl<T> Unpin for Publish<'_, T> {}

impl<T> Future for Publish<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if let Some(listener) = this.listener.as_mut() {
                let (relay, replaced) = this.relay.register(cx);
                // No lock is held: the replaced waker may run any code as it drops.
                drop(replaced);
                if Pin::new(listener)
                    .poll(&mut Context::from_waker(&relay))
                    .is_pending()
                {
                    // A panic caught by this poll's room checks: the value stays unpublished
                    // in the future (dropped with it).
                    this.publisher.resume_panic();
                    return Poll::Pending;
                }
                this.drop_listener();
                this.publisher.shared().publisher_unpark();
            }
            let Some(value) = this.value.take() else {
                return Poll::Ready(());
            };
            if !this.publisher.needs_room() || this.publisher.make_room() {
                this.publisher.write(value, true);
                // After the write: the event is published (see `Publisher`'s panics).
                this.publisher.resume_panic();
                return Poll::Ready(());
            }
            this.value = Some(value);
            this.publisher.flush();
            let need = this.publisher.room_need();
            this.listener = Some(this.publisher.shared().publisher_park(need));
            if this.publisher.make_room() {
                this.drop_listener();
                this.publisher.shared().publisher_unpark();
            }
        }
    }
}

impl<T> Publish<'_, T> {
    /// Drops the listener inside a [`DeferWakes`] scope (it may pass a notification on).
    fn drop_listener(&mut self) {
        let _defer = DeferWakes::enter();
        self.listener = None;
    }
}

impl<T> Drop for Publish<'_, T> {
    fn drop(&mut self) {
        // The caller's waker leaves the relay first and drops last, after the listener.
        let waker = self.relay.clear();
        if self.listener.is_some() {
            self.drop_listener();
            self.publisher.shared().publisher_unpark();
        }
        drop(waker);
    }
}

impl<T> std::fmt::Debug for Publish<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("done", &self.value.is_none())
            .finish_non_exhaustive()
    }
}
