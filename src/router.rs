//! Routing one stream to many sinks by key or predicate (feature `futures`).
//!
//! A [`Router`] pulls events from a source (any `Stream`, or a tailcast [`Subscriber`]
//! through [`Router::run_subscriber`]) and pushes each to the `Sink`s of the routes it
//! matches: the routes registered for its key, and the filter routes whose predicate it
//! passes. Routes are added and removed at any time, from any thread, through the router
//! or a [`Routes`] handle, without stopping the flow: the route table is an immutable
//! snapshot replaced on each change (arc-swap), and the router loads it once per event, so
//! a route added while events flow gets every later match and none before.
//!
//! - An event that matches no route is dropped and counted (`unrouted`): the source never
//!   stalls for lack of a route, and nothing is queued.
//! - A route whose sink fails (`poll_ready`, `start_send` or `poll_flush` returns an
//!   error: a closed channel, a disconnected socket) is reported to the error callback
//!   ([`Router::on_error`]) and removed before the next event; routing goes on.
//! - A slow route follows its own [`Slow`] policy: `Wait` (the default) waits for the sink
//!   and so holds back the source and every other route, as backpressure; `DropEvent`
//!   drops the events the sink has no room for, counted; `DropRoute` removes the route.
//!   Only `Wait` routes can stall the others.
//! - Sinks are flushed when the source has nothing ready (as `StreamExt::forward` does)
//!   and when it ends, so a burst is written with one flush per route.
//!
//! Cost model: one snapshot load (an `Arc` clone), one key computation and one hash lookup
//! per event, one predicate call per filter route, and one clone of the event per route
//! it is delivered to. A table change copies the table (routes are shared `Arc`s).
//!
//! ```
//! use futures::channel::mpsc;
//! use futures::StreamExt;
//! use tailcast::router::{Router, Slow};
//!
//! # futures::executor::block_on(async {
//! // Even numbers to one sink, odd to another, keyed by `n % 2`.
//! let router = Router::keyed(|n: &u32| n % 2);
//! let (even_tx, even_rx) = mpsc::unbounded();
//! let (odd_tx, odd_rx) = mpsc::unbounded();
//! router.add_key(0, even_tx, Slow::Wait);
//! let odd = router.add_key(1, odd_tx, Slow::Wait);
//! router.run(futures::stream::iter(0..10)).await;
//! assert!(router.remove(odd));
//! router.run(futures::stream::iter(10..14)).await; // odd ones: no route now
//! drop(router); // drops the routes and so the senders: the receivers end
//!
//! assert_eq!(even_rx.collect::<Vec<_>>().await, [0, 2, 4, 6, 8, 10, 12]);
//! assert_eq!(odd_rx.collect::<Vec<_>>().await, [1, 3, 5, 7, 9]);
//! # });
//! ```
#![deny(unsafe_code)]

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::future::poll_fn;
use std::hash::Hash;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;

use futures_core::Stream;
use futures_sink::Sink;

use crate::error::RecvError;
use crate::raw::sync::{lock, Arc, Mutex, Snapshot};
use crate::subscriber::Subscriber;

/// A sink's error, type-erased.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Names a route, to remove it or read its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId(u64);

/// What a route does when its sink has no room for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Slow {
    /// Wait for the sink: the router, and with it the source and every other route, waits
    /// (backpressure end to end).
    #[default]
    Wait,
    /// Drop the event for this route and count it ([`RouteStats::dropped`]).
    DropEvent,
    /// Remove the route (reported to the error callback as [`RouteError::Slow`]).
    DropRoute,
}

/// Why a route was removed by the router, as the error callback is told.
#[derive(Debug)]
#[non_exhaustive]
pub enum RouteError {
    /// Its sink returned this error.
    Sink(BoxError),
    /// Its sink had no room, and its policy is [`Slow::DropRoute`].
    Slow,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::Sink(e) => write!(f, "route sink failed: {e}"),
            RouteError::Slow => f.write_str("route sink had no room and its policy drops it"),
        }
    }
}

impl Error for RouteError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RouteError::Sink(e) => Some(&**e),
            RouteError::Slow => None,
        }
    }
}

/// A router's counts, since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RouterStats {
    /// Events taken from the sources.
    pub events: u64,
    /// Deliveries to sinks (an event matched by three routes counts three).
    pub delivered: u64,
    /// Events that matched no route, dropped.
    pub unrouted: u64,
    /// Events dropped by `DropEvent` routes that had no room.
    pub dropped: u64,
    /// Routes the router removed (sink errors and `DropRoute`).
    pub removed: u64,
    /// Events a `Skip` subscriber source missed (its `Lagged(n)`s, summed).
    pub source_lagged: u64,
    /// Routes in the table now.
    pub routes: usize,
}

/// One route's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RouteStats {
    /// Events delivered to its sink.
    pub delivered: u64,
    /// Events dropped for it under [`Slow::DropEvent`].
    pub dropped: u64,
}

// std's `Arc` for the two closures (loom's cannot hold a `dyn`; neither is a protocol).
type ErrorHandler = std::sync::Arc<dyn Fn(RouteId, &RouteError) + Send + Sync>;
type KeyFn<T, K> = std::sync::Arc<dyn Fn(&T) -> K + Send + Sync>;

mod table;

use table::{Erased, Filter, Route, Table};

struct Shared<K, T> {
    table: Snapshot<Table<K, T>>,
    /// Serialises table changes (each copies the current table and stores the copy).
    edit: Mutex<()>,
    next_id: AtomicU64,
    on_error: Mutex<Option<ErrorHandler>>,
    events: AtomicU64,
    delivered: AtomicU64,
    unrouted: AtomicU64,
    dropped: AtomicU64,
    removed: AtomicU64,
    source_lagged: AtomicU64,
}

/// Routes each event of a source to the sinks registered for its key or predicate (see
/// the [module docs](self)). `K` is the routing key, computed by the key function given
/// to [`keyed`](Router::keyed); a router made by [`new`](Router::new) routes by predicate
/// only.
///
/// Dropping the router (and every [`Routes`] handle) drops the routes' sinks.
///
/// A `Router` derefs to its [`Routes`]: [`add_key`](Routes::add_key),
/// [`add_filter`](Routes::add_filter), [`remove`](Routes::remove),
/// [`stats`](Routes::stats) and [`route_stats`](Routes::route_stats) are called on it
/// directly; [`routes`](Router::routes) hands a clone of that handle to other threads.
pub struct Router<T, K = ()> {
    routes: Routes<T, K>,
    key: KeyFn<T, K>,
}

impl<T, K> std::ops::Deref for Router<T, K> {
    type Target = Routes<T, K>;

    fn deref(&self) -> &Routes<T, K> {
        &self.routes
    }
}

/// A handle to add and remove a router's routes from anywhere (`Clone + Send + Sync`), made
/// by [`Router::routes`].
pub struct Routes<T, K = ()> {
    shared: Arc<Shared<K, T>>,
}

impl<T: Clone + Send + 'static> Router<T> {
    /// A router for filter routes only ([`add_filter`](Routes::add_filter)).
    pub fn new() -> Self {
        Self::keyed(|_| ())
    }
}

impl<T: Clone + Send + 'static> Default for Router<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, K> Router<T, K>
where
    T: Clone + Send + 'static,
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    /// A router whose events are routed by `key(&event)` to the routes added for that key
    /// ([`add_key`](Routes::add_key)), and to every filter route they pass.
    pub fn keyed(key: impl Fn(&T) -> K + Send + Sync + 'static) -> Self {
        Self {
            routes: Routes {
                shared: Arc::new(Shared {
                    table: Snapshot::new(Table {
                        by_key: HashMap::new(),
                        filters: Vec::new(),
                    }),
                    edit: Mutex::new(()),
                    next_id: AtomicU64::new(0),
                    on_error: Mutex::new(None),
                    events: AtomicU64::new(0),
                    delivered: AtomicU64::new(0),
                    unrouted: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                    removed: AtomicU64::new(0),
                    source_lagged: AtomicU64::new(0),
                }),
            },
            key: std::sync::Arc::new(key),
        }
    }

    /// Calls `handler` with the route and the reason each time the router removes a route
    /// (its sink failed, or it was slow under [`Slow::DropRoute`]). Routing goes on. Replaces
    /// an earlier handler; without one, removals are only counted.
    pub fn on_error(&self, handler: impl Fn(RouteId, &RouteError) + Send + Sync + 'static) {
        *lock(&self.routes.shared.on_error) = Some(std::sync::Arc::new(handler));
    }

    /// A handle to change the routes from another thread or task.
    pub fn routes(&self) -> Routes<T, K> {
        self.routes.clone()
    }

    /// Routes every event of `source` until it ends, then flushes the sinks it sent to.
    /// Several sources may be routed at once (each `run` on its own task); each event is
    /// routed with the table as it is when the event is taken.
    pub async fn run<S: Stream<Item = T>>(&self, source: S) {
        self.run_items(source, Some).await;
    }

    /// Routes the events of a tailcast subscriber until its stream ends. A `Skip`
    /// subscriber's losses are counted in [`RouterStats::source_lagged`] and routing goes
    /// on; a `Disconnect` subscriber's eviction ends the run like the close does.
    pub async fn run_subscriber(&self, source: Subscriber<T>) {
        let shared = &self.routes.shared;
        self.run_items(source, |item| match item {
            Ok(event) => Some(event),
            Err(RecvError::Lagged(n)) => {
                shared.source_lagged.fetch_add(n, Ordering::Relaxed);
                None
            }
            Err(_) => None,
        })
        .await;
    }

    async fn run_items<S: Stream>(&self, source: S, mut event: impl FnMut(S::Item) -> Option<T>) {
        let mut source = pin!(source);
        let mut unflushed = Vec::new();
        loop {
            // Taken at once if ready; otherwise the sinks are flushed before waiting.
            let item = match poll_fn(|cx| Poll::Ready(source.as_mut().poll_next(cx))).await {
                Poll::Ready(item) => item,
                Poll::Pending => {
                    self.flush(&mut unflushed).await;
                    poll_fn(|cx| source.as_mut().poll_next(cx)).await
                }
            };
            let Some(item) = item else { break };
            if let Some(event) = event(item) {
                self.route(event, &mut unflushed).await;
            }
        }
        self.flush(&mut unflushed).await;
    }

    /// Delivers one event to every route it matches.
    async fn route(&self, event: T, unflushed: &mut Vec<Arc<Route<T>>>) {
        let shared = &*self.routes.shared;
        shared.events.fetch_add(1, Ordering::Relaxed);
        let table = shared.table.load();
        let keyed = table.by_key.get(&(self.key)(&event));
        let mut matched = false;
        for route in keyed.into_iter().flatten().chain(
            table
                .filters
                .iter()
                .filter(|r| r.filter.as_ref().is_some_and(|f| f(&event))),
        ) {
            matched = true;
            self.deliver(route, event.clone(), unflushed).await;
        }
        if !matched {
            shared.unrouted.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn deliver(&self, route: &Arc<Route<T>>, event: T, unflushed: &mut Vec<Arc<Route<T>>>) {
        let ready = match route.slow {
            Slow::Wait => poll_fn(|cx| route.poll_ready(cx).map(Some)).await,
            Slow::DropEvent | Slow::DropRoute => {
                match poll_fn(|cx| Poll::Ready(route.poll_ready(cx))).await {
                    Poll::Ready(r) => Some(r),
                    Poll::Pending => None,
                }
            }
        };
        let sent = match ready {
            Some(Ok(())) => route.start_send(event),
            Some(Err(e)) => Err(e),
            None if route.slow == Slow::DropEvent => {
                route.dropped.fetch_add(1, Ordering::Relaxed);
                self.routes.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            None => {
                self.routes.shared.fail(route.id, RouteError::Slow);
                return;
            }
        };
        match sent {
            Ok(()) => {
                route.delivered.fetch_add(1, Ordering::Relaxed);
                self.routes.shared.delivered.fetch_add(1, Ordering::Relaxed);
                if !route.unflushed.swap(true, Ordering::Relaxed) {
                    unflushed.push(Arc::clone(route));
                }
            }
            Err(e) => self.routes.shared.fail(route.id, RouteError::Sink(e)),
        }
    }

    /// Flushes the routes sent to since the last flush. A `Wait` route's flush is waited
    /// for; the others get one poll (a flush still in progress is finished by their next
    /// `poll_ready` or flush), so they cannot stall the router here either.
    async fn flush(&self, unflushed: &mut Vec<Arc<Route<T>>>) {
        for route in std::mem::take(unflushed) {
            route.unflushed.store(false, Ordering::Relaxed);
            let flushed = match route.slow {
                Slow::Wait => poll_fn(|cx| route.poll_flush(cx)).await,
                _ => match poll_fn(|cx| Poll::Ready(route.poll_flush(cx))).await {
                    Poll::Ready(r) => r,
                    Poll::Pending => Ok(()),
                },
            };
            if let Err(e) = flushed {
                self.routes.shared.fail(route.id, RouteError::Sink(e));
            }
        }
    }
}

impl<K, T> Shared<K, T>
where
    T: Send + 'static,
    K: Clone + Eq + Hash,
{
    fn add<S>(&self, key: Option<K>, filter: Option<Filter<T>>, sink: S, slow: Slow) -> RouteId
    where
        S: Sink<T> + Send + Unpin + 'static,
        S::Error: Into<BoxError>,
    {
        let id = RouteId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let route = Arc::new(Route {
            id,
            filter,
            slow,
            sink: Mutex::new(Box::new(Erased(sink))),
            unflushed: AtomicBool::new(false),
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let _edit = lock(&self.edit);
        let now = self.table.load();
        let mut by_key = now.by_key.clone();
        let mut filters = now.filters.clone();
        match key {
            Some(key) => by_key.entry(key).or_default().push(route),
            None => filters.push(route),
        }
        self.table.store(Arc::new(Table { by_key, filters }));
        id
    }

    fn remove(&self, id: RouteId) -> bool {
        let _edit = lock(&self.edit);
        match self.table.load().without(id) {
            Some(table) => {
                self.table.store(Arc::new(table));
                true
            }
            None => false,
        }
    }

    /// Removes a route the router gave up on, and tells the error handler why.
    fn fail(&self, id: RouteId, why: RouteError) {
        if self.remove(id) {
            self.removed.fetch_add(1, Ordering::Relaxed);
            let handler = lock(&self.on_error).clone();
            if let Some(handler) = handler {
                handler(id, &why);
            }
        }
    }

    fn stats(&self) -> RouterStats {
        RouterStats {
            events: self.events.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            unrouted: self.unrouted.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            removed: self.removed.load(Ordering::Relaxed),
            source_lagged: self.source_lagged.load(Ordering::Relaxed),
            routes: self.table.load().len(),
        }
    }

    fn route_stats(&self, id: RouteId) -> Option<RouteStats> {
        self.table
            .load()
            .routes()
            .find(|r| r.id == id)
            .map(|r| r.stats())
    }
}

impl<T, K> Routes<T, K>
where
    T: Clone + Send + 'static,
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    /// Adds a route for the events whose key is `key`; several routes may share a key.
    /// Takes effect from the next event the router takes.
    pub fn add_key<S>(&self, key: K, sink: S, slow: Slow) -> RouteId
    where
        S: Sink<T> + Send + Unpin + 'static,
        S::Error: Into<BoxError>,
    {
        self.shared.add(Some(key), None, sink, slow)
    }

    /// Adds a route for the events that pass `filter`. Takes effect from the next event the
    /// router takes.
    pub fn add_filter<S>(
        &self,
        filter: impl Fn(&T) -> bool + Send + Sync + 'static,
        sink: S,
        slow: Slow,
    ) -> RouteId
    where
        S: Sink<T> + Send + Unpin + 'static,
        S::Error: Into<BoxError>,
    {
        self.shared.add(None, Some(Box::new(filter)), sink, slow)
    }

    /// Removes a route; `false` if it was not there. An event the router is delivering
    /// meanwhile may still reach it; none taken after this returns does.
    pub fn remove(&self, id: RouteId) -> bool {
        self.shared.remove(id)
    }

    /// The router's counts so far.
    pub fn stats(&self) -> RouterStats {
        self.shared.stats()
    }

    /// A route's counts, while it is in the table.
    pub fn route_stats(&self, id: RouteId) -> Option<RouteStats> {
        self.shared.route_stats(id)
    }
}

impl<T, K> Clone for Routes<T, K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, K> fmt::Debug for Router<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router").finish_non_exhaustive()
    }
}

impl<T, K> fmt::Debug for Routes<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes").finish_non_exhaustive()
    }
}
