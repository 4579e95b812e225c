//! The wait path of a byte reader: the next chunk by a blocking or a poll-driven receive,
//! and for a tee's reader, the election of the one reader that reads the source when the
//! stream is empty.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use event_listener::{EventListener, Listener};

use super::ByteReader;
use crate::bytes::Chunk;
use crate::error::{RecvError, TryRecvError};
use crate::raw::relay::{DeferWakes, RelaySlot};
use crate::raw::sync::full_fence;
use crate::subscriber::Subscriber;

/// A source that readers pull from: the one that finds the stream empty reads the next
/// chunk and publishes it for all (see `tee`).
pub(crate) trait Pull: Send + Sync {
    /// Becomes the one reader reading the source; `false` if another one is. The caller
    /// then sees every chunk earlier leaders published (the election is an `Acquire`
    /// pairing with their release).
    fn try_acquire(&self) -> bool;

    /// As the leader: reads one chunk from the source and publishes it (or ends the
    /// stream), then releases the source. Blocks the thread until then.
    fn lead(&self);

    /// As the leader, poll-driven: as [`lead`](Pull::lead) when `Ready`; `Pending` keeps
    /// the leadership (the caller polls again, or releases it when it gives up).
    fn poll_lead(&self, cx: &mut Context<'_>) -> Poll<()>;

    /// As the leader: releases the source without reading it.
    fn release(&self);

    /// Notified after every publish and every release of the source.
    fn event(&self) -> &event_listener::Event;

    /// A reader at the current end of what was read from the source.
    fn reader(&self) -> ByteReader;
}

/// What an attempt to lead a tee's source came to.
enum Lead {
    /// Another reader leads: wait.
    Other,
    /// We led (published a chunk or ended the stream): look again.
    Again,
    /// A chunk (or the end) was there after all.
    Done(Result<Chunk, RecvError>),
}

/// A poll-driven wait on a tee's `event`: the listener and the relay standing in for the
/// caller's waker (as in the core's futures).
///
/// # Invariants
///
/// `listener` is `Some` between a `Pending` and the next poll or [`cancel`](PullWait::cancel).
#[derive(Debug, Default)]
pub(super) struct PullWait {
    listener: Option<EventListener>,
    relay: RelaySlot,
}

impl PullWait {
    /// `Ready` once notified (the listener is gone then), `Pending` with `cx`'s waker
    /// registered. `Ready` at once if nothing listens.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(listener) = self.listener.as_mut() else {
            return Poll::Ready(());
        };
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
        Poll::Ready(())
    }

    /// Stops waiting: drops the listener and releases the caller's waker (after it).
    pub(super) fn cancel(&mut self) {
        let waker = self.relay.clear();
        self.drop_listener();
        drop(waker);
    }

    fn drop_listener(&mut self) {
        // A dropped listener may pass its notification on to another relay.
        let _defer = DeferWakes::enter();
        self.listener = None;
    }
}

impl ByteReader {
    /// The next chunk: a blocking receive, or for a tee's reader, a receive that reads the
    /// source itself when nobody else is.
    pub(super) fn next_event(&mut self) -> Result<Chunk, RecvError> {
        // A poll-driven wait left by an async read: released before the cursor moves.
        self.cancel_waits();
        let Some(pull) = self.pull.clone() else {
            return self.subscriber.recv();
        };
        let pull = &*pull;
        if self.leading {
            // An async read that led left off: finish its chunk, blocking.
            self.leading = false;
            pull.lead();
        }
        loop {
            match self.attempt(pull, None) {
                Lead::Done(done) => return done,
                Lead::Again => continue,
                Lead::Other => {}
            }
            // Another reader is reading the source: wait for its publish or its release.
            // Registered before the re-checks, so neither can be missed.
            event_listener::listener!(pull.event() => listener);
            // Store-load barrier: pairs with the fence in the leader's `notify`. Without
            // it our re-check can read the stream from before the leader's publish while
            // the leader's `notify` reads the listener list from before our registration.
            full_fence();
            match self.attempt(pull, None) {
                Lead::Done(done) => return done,
                Lead::Again => continue,
                Lead::Other => listener.wait(),
            }
        }
    }

    /// The next chunk, poll-driven: `Pending` with `cx`'s waker registered on the cursor's
    /// node (or, for a tee's reader, on the source's event or in the source).
    pub(super) fn poll_next_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Chunk, RecvError>> {
        let Some(pull) = self.pull.clone() else {
            return self
                .wait
                .poll(&mut self.subscriber, cx, Subscriber::try_recv)
                .map(|r| r.map_err(RecvError::from));
        };
        let pull = &*pull;
        loop {
            if self.pull_wait.poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.leading {
                if pull.poll_lead(cx).is_pending() {
                    return Poll::Pending;
                }
                self.leading = false;
                continue;
            }
            match self.attempt(pull, Some(cx)) {
                Lead::Done(done) => return Poll::Ready(done),
                Lead::Again => continue,
                Lead::Other if self.leading => return Poll::Pending,
                Lead::Other => {}
            }
            // As in `next_event`: listen, fence, re-check.
            self.pull_wait.listener = Some(pull.event().listen());
            full_fence();
            match self.attempt(pull, Some(cx)) {
                Lead::Done(done) => {
                    self.pull_wait.cancel();
                    return Poll::Ready(done);
                }
                Lead::Again => self.pull_wait.cancel(),
                Lead::Other if self.leading => {
                    self.pull_wait.cancel();
                    return Poll::Pending;
                }
                // Polls the listener at the top of the loop.
                Lead::Other => {}
            }
        }
    }

    /// Releases what a poll-driven wait holds (the node registration, the listener on the
    /// source's event): before the cursor moves by another path.
    pub(super) fn cancel_waits(&mut self) {
        // Checked here: the blocking receive of every chunk passes through.
        if self.wait.is_parked() {
            self.wait.cancel(&self.subscriber);
        }
        if self.pull_wait.listener.is_some() {
            self.pull_wait.cancel();
        }
    }

    /// Takes the next chunk if there is one, or else tries to lead the source (blocking
    /// without `cx`; with it, `Lead::Other` with `self.leading` set means our lead is
    /// pending).
    fn attempt(&mut self, pull: &dyn Pull, cx: Option<&mut Context<'_>>) -> Lead {
        match self.subscriber.try_recv() {
            Err(TryRecvError::Empty) => self.lead_or_take(pull, cx),
            other => Lead::Done(other.map_err(RecvError::from)),
        }
    }

    /// Tries to become the leader; as the leader, takes a chunk an earlier leader
    /// published (our `Empty` may have been read before we saw it: a leader that is not
    /// caught up would wait for room only it can make, which loom's
    /// `tee_two_readers_share_the_source` found), or else reads the source.
    fn lead_or_take(&mut self, pull: &dyn Pull, cx: Option<&mut Context<'_>>) -> Lead {
        if !pull.try_acquire() {
            return Lead::Other;
        }
        match self.subscriber.try_recv() {
            Err(TryRecvError::Empty) => match cx {
                None => {
                    pull.lead();
                    Lead::Again
                }
                Some(cx) => {
                    if pull.poll_lead(cx).is_pending() {
                        self.leading = true;
                        return Lead::Other;
                    }
                    Lead::Again
                }
            },
            other => {
                pull.release();
                Lead::Done(other.map_err(RecvError::from))
            }
        }
    }

    /// Gives up what this reader holds of the source: the leadership of a pending
    /// poll-driven lead (its chunk, if read, stays staged for the next leader).
    pub(super) fn release_lead(&mut self) {
        if self.leading {
            self.leading = false;
            if let Some(pull) = &self.pull {
                pull.release();
            }
        }
    }
}
