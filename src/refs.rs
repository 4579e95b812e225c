//! Zero-copy views into the stream: `Ref` (one event) and `Batch` (a run of events).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use crossbeam_epoch::Guard;

/// One event borrowed from the stream, returned by
/// [`Subscriber::recv_ref`](crate::Subscriber::recv_ref).
///
/// It borrows the subscriber mutably, so the cursor cannot move (and the node cannot be
/// reclaimed) while it lives. For `Skip` and `Disconnect` subscribers it also holds an
/// epoch pin, which makes it `!Send`.
pub struct Ref<'a, T> {
    value: &'a T,
    _pin: Option<Guard>,
    _cursor: PhantomData<&'a mut ()>,
}

impl<'a, T> Ref<'a, T> {
    pub(crate) fn new(value: &'a T, pin: Option<Guard>) -> Self {
        Self {
            value,
            _pin: pin,
            _cursor: PhantomData,
        }
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value, f)
    }
}

/// A run of consecutive events borrowed from one node of the stream, returned by
/// [`Subscriber::recv_batch`](crate::Subscriber::recv_batch). Dereferences to `[T]`.
pub struct Batch<'a, T> {
    values: &'a [T],
    _pin: Option<Guard>,
    _cursor: PhantomData<&'a mut ()>,
}

impl<'a, T> Batch<'a, T> {
    pub(crate) fn new(values: &'a [T], pin: Option<Guard>) -> Self {
        Self {
            values,
            _pin: pin,
            _cursor: PhantomData,
        }
    }
}

impl<T> Deref for Batch<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.values
    }
}

impl<T: fmt::Debug> fmt::Debug for Batch<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.values, f)
    }
}
