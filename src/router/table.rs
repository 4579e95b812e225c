//! A route (its match, its sink behind a mutex, its counts) and the immutable route table
//! the router loads once per event.

use std::collections::HashMap;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_sink::Sink;

use super::{BoxError, RouteId, RouteStats, Slow};
use crate::raw::sync::{lock, Arc, Mutex};

pub(super) type ErasedSink<T> = Box<dyn Sink<T, Error = BoxError> + Send + Unpin>;
pub(super) type Filter<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;
/// A sink with its error boxed.
pub(super) struct Erased<S>(pub(super) S);

impl<T, S> Sink<T> for Erased<S>
where
    S: Sink<T> + Unpin,
    S::Error: Into<BoxError>,
{
    type Error = BoxError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Pin::new(&mut self.0).poll_ready(cx).map_err(Into::into)
    }

    fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), BoxError> {
        Pin::new(&mut self.0).start_send(item).map_err(Into::into)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Pin::new(&mut self.0).poll_flush(cx).map_err(Into::into)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Pin::new(&mut self.0).poll_close(cx).map_err(Into::into)
    }
}

/// A route: its match, its sink and its counts.
///
/// # Invariants
///
/// The sink's mutex is held only inside one poll of the sink (never across an `.await`),
/// so routers on several sources can share a route.
pub(super) struct Route<T> {
    pub(super) id: RouteId,
    /// `None` for a keyed route (the table's key finds it).
    pub(super) filter: Option<Filter<T>>,
    pub(super) slow: Slow,
    pub(super) sink: Mutex<ErasedSink<T>>,
    /// Sent to since its last flush.
    pub(super) unflushed: AtomicBool,
    pub(super) delivered: AtomicU64,
    pub(super) dropped: AtomicU64,
}

impl<T> Route<T> {
    pub(super) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Pin::new(&mut *lock(&self.sink)).poll_ready(cx)
    }

    pub(super) fn start_send(&self, event: T) -> Result<(), BoxError> {
        Pin::new(&mut *lock(&self.sink)).start_send(event)
    }

    pub(super) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Pin::new(&mut *lock(&self.sink)).poll_flush(cx)
    }

    pub(super) fn stats(&self) -> RouteStats {
        RouteStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The route table: an immutable snapshot, replaced whole on every change.
pub(super) struct Table<K, T> {
    pub(super) by_key: HashMap<K, Vec<Arc<Route<T>>>>,
    pub(super) filters: Vec<Arc<Route<T>>>,
}

impl<K: Clone + Eq + Hash, T> Table<K, T> {
    pub(super) fn routes(&self) -> impl Iterator<Item = &Arc<Route<T>>> {
        self.by_key.values().flatten().chain(&self.filters)
    }

    pub(super) fn len(&self) -> usize {
        self.by_key.values().map(Vec::len).sum::<usize>() + self.filters.len()
    }

    pub(super) fn without(&self, id: RouteId) -> Option<Self> {
        let mut by_key = HashMap::with_capacity(self.by_key.len());
        let mut found = false;
        for (key, routes) in &self.by_key {
            let kept: Vec<_> = routes.iter().filter(|r| r.id != id).cloned().collect();
            found |= kept.len() != routes.len();
            if !kept.is_empty() {
                by_key.insert(key.clone(), kept);
            }
        }
        let filters: Vec<_> = self
            .filters
            .iter()
            .filter(|r| r.id != id)
            .cloned()
            .collect();
        found |= filters.len() != self.filters.len();
        found.then_some(Self { by_key, filters })
    }
}
