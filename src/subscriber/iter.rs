//! Iterators over a subscriber, for blocking code: loss is an item, the end of the stream
//! ends the iteration.

use std::iter::FusedIterator;

use super::Subscriber;
use crate::error::{RecvError, TryRecvError};

/// Maps a receive to an iterator item: `Closed` ends the iteration; lag and eviction are
/// items (after `Evicted` every receive returns `Closed`, so the next call ends it).
fn item<T>(r: Result<T, RecvError>) -> Option<Result<T, RecvError>> {
    match r {
        Err(RecvError::Closed) => None,
        other => Some(other),
    }
}

/// The blocking iterator of [`Subscriber::iter`]: each `next` is a [`Subscriber::recv`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    subscriber: &'a mut Subscriber<T>,
}

impl<T: Clone> Iterator for Iter<'_, T> {
    type Item = Result<T, RecvError>;

    fn next(&mut self) -> Option<Self::Item> {
        item(self.subscriber.recv())
    }
}

impl<T: Clone> FusedIterator for Iter<'_, T> {}

/// The non-blocking iterator of [`Subscriber::try_iter`]: the events available now.
#[derive(Debug)]
pub struct TryIter<'a, T> {
    subscriber: &'a mut Subscriber<T>,
}

impl<T: Clone> Iterator for TryIter<'_, T> {
    type Item = Result<T, RecvError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.subscriber.try_recv() {
            Err(TryRecvError::Empty) => None,
            other => item(other.map_err(RecvError::from)),
        }
    }
}

/// The owning blocking iterator of `Subscriber`'s [`IntoIterator`].
#[derive(Debug)]
pub struct IntoIter<T> {
    subscriber: Subscriber<T>,
}

impl<T> IntoIter<T> {
    /// The subscriber back, at the position the iteration reached.
    pub fn into_inner(self) -> Subscriber<T> {
        self.subscriber
    }
}

impl<T: Clone> Iterator for IntoIter<T> {
    type Item = Result<T, RecvError>;

    fn next(&mut self) -> Option<Self::Item> {
        item(self.subscriber.recv())
    }
}

impl<T: Clone> FusedIterator for IntoIter<T> {}

impl<T> Subscriber<T> {
    /// A blocking iterator: every event, in order, until the stream is closed and drained.
    /// Loss is an item: `Err(Lagged(n))` (then the events after the gap), `Err(Evicted)`
    /// (then the end). Blocking: do not use it on an async executor's thread (use
    /// [`recv_async`](Subscriber::recv_async) there).
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(8);
    /// tx.publish_batch([1, 2, 3]);
    /// drop(tx);
    /// let got: Result<Vec<u32>, _> = rx.iter().collect();
    /// assert_eq!(got, Ok(vec![1, 2, 3]));
    /// ```
    pub fn iter(&mut self) -> Iter<'_, T> {
        Iter { subscriber: self }
    }

    /// The events available now, without waiting; ends when none is left (or at the end of
    /// the stream). Loss is an item, as in [`iter`](Subscriber::iter).
    ///
    /// ```
    /// let (mut tx, mut rx) = tailcast::channel(8);
    /// tx.publish_batch([1, 2]);
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![Ok(1), Ok(2)]);
    /// assert_eq!(rx.try_iter().count(), 0); // nothing more yet; the stream is open
    /// ```
    pub fn try_iter(&mut self) -> TryIter<'_, T> {
        TryIter { subscriber: self }
    }
}

impl<T: Clone> IntoIterator for Subscriber<T> {
    type Item = Result<T, RecvError>;
    type IntoIter = IntoIter<T>;

    /// A blocking iterator that owns the subscriber (see [`Subscriber::iter`]).
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { subscriber: self }
    }
}

impl<'a, T: Clone> IntoIterator for &'a mut Subscriber<T> {
    type Item = Result<T, RecvError>;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
