//! The router (feature `futures`): keyed and filter routes, routes added and removed while
//! events flow, closed and failing sinks removed with the error reported, the slow-route
//! policies, unrouted events counted and not kept, and a tailcast stream on either side.
#![cfg(feature = "futures")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::channel::mpsc;
use futures::executor::block_on;
use futures::{Sink, StreamExt};
use tailcast::router::{RouteError, RouteId, Router, Slow};
use tailcast::{Builder, LagPolicy};

/// Counts the bytes this thread allocated and did not free, and their peak, for the
/// memory test (per thread: the other tests run beside it).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: the thread's counters may be gone while it exits.
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + delta);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn events(large: u64) -> u64 {
    if cfg!(miri) {
        large.min(200)
    } else {
        large
    }
}

/// A sink that is never ready.
struct Stuck;

impl Sink<u64> for Stuck {
    type Error = std::io::Error;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Pending
    }
    fn start_send(self: Pin<&mut Self>, _: u64) -> Result<(), Self::Error> {
        unreachable!("never ready")
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

/// A sink that records what it gets and fails `start_send` on one value.
struct FailOn(u64, Arc<Mutex<Vec<u64>>>);

impl Sink<u64> for FailOn {
    type Error = String;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), String>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(self: Pin<&mut Self>, item: u64) -> Result<(), String> {
        if item == self.0 {
            return Err(format!("refused {item}"));
        }
        self.1.lock().unwrap().push(item);
        Ok(())
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), String>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), String>> {
        Poll::Ready(Ok(()))
    }
}

/// Records the error callback's calls.
fn record_errors<T: Clone + Send + 'static, K>(router: &Router<T, K>) -> Arc<Mutex<Vec<String>>>
where
    K: Clone + Eq + std::hash::Hash + Send + Sync + 'static,
{
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    router.on_error(move |id: RouteId, e: &RouteError| {
        s.lock().unwrap().push(format!("{id:?}: {e}"))
    });
    seen
}

#[test]
fn even_and_odd_keys_go_to_their_routes() {
    let router = Router::keyed(|n: &u64| n % 2);
    let (even_tx, even_rx) = mpsc::unbounded();
    let (odd_tx, odd_rx) = mpsc::unbounded();
    let even = router.add_key(0, even_tx, Slow::Wait);
    let odd = router.add_key(1, odd_tx, Slow::Wait);
    block_on(router.run(futures::stream::iter(0..100)));
    assert_eq!(router.route_stats(even).unwrap().delivered, 50);
    assert_eq!(router.route_stats(odd).unwrap().delivered, 50);
    let stats = router.stats();
    assert_eq!(
        (stats.events, stats.delivered, stats.unrouted, stats.routes),
        (100, 100, 0, 2)
    );
    drop(router);
    assert_eq!(
        block_on(even_rx.collect::<Vec<_>>()),
        (0..100).step_by(2).collect::<Vec<_>>()
    );
    assert_eq!(
        block_on(odd_rx.collect::<Vec<_>>()),
        (1..100).step_by(2).collect::<Vec<_>>()
    );
}

#[test]
fn filter_and_key_routes_each_get_their_matches() {
    let router = Router::keyed(|n: &u64| n % 3);
    let (key_tx, key_rx) = mpsc::unbounded();
    let (big_tx, big_rx) = mpsc::unbounded();
    router.add_key(0, key_tx, Slow::Wait);
    router.add_filter(|n| *n >= 25, big_tx, Slow::Wait);
    block_on(router.run(futures::stream::iter(0..30)));
    let stats = router.stats();
    drop(router);
    let by_key: Vec<u64> = block_on(key_rx.collect());
    let big: Vec<u64> = block_on(big_rx.collect());
    assert_eq!(by_key, (0..30).filter(|n| n % 3 == 0).collect::<Vec<_>>());
    assert_eq!(big, (25..30).collect::<Vec<_>>());
    let neither = (0..30).filter(|n| n % 3 != 0 && *n < 25).count() as u64;
    assert_eq!(stats.unrouted, neither);
    assert_eq!(stats.delivered, (by_key.len() + big.len()) as u64);
}

#[test]
fn a_route_added_mid_stream_gets_every_later_match_and_none_before() {
    let router = Router::keyed(|n: &u64| n % 2);
    let routes = router.routes();
    let (tx, rx) = mpsc::unbounded();
    let mut tx = Some(tx);
    // The source adds the route as it produces event 51: the table the router loads for
    // 51 has it, the one for 50 did not.
    let source = futures::stream::iter(0..100u64).inspect(move |&n| {
        if n == 51 {
            routes.add_key(1, tx.take().unwrap(), Slow::Wait);
        }
    });
    block_on(router.run(source));
    assert_eq!(
        router.stats().unrouted,
        50 + 25,
        "evens, and odds before 51"
    );
    drop(router);
    assert_eq!(
        block_on(rx.collect::<Vec<_>>()),
        (51..100).step_by(2).collect::<Vec<_>>()
    );
}

#[test]
fn a_route_added_from_another_thread_during_a_burst_gets_a_complete_suffix() {
    let n = events(100_000);
    let (mut tx, rx) = Builder::new().capacity(256).build::<u64>().unwrap();
    let router = Arc::new(Router::keyed(|v: &u64| v % 2));
    let running = {
        let router = router.clone();
        std::thread::spawn(move || block_on(router.run_subscriber(rx)))
    };
    let (route_tx, route_rx) = mpsc::unbounded();
    let routes = router.routes();
    let publisher = std::thread::spawn(move || {
        for i in 0..n {
            tx.publish(i);
            if i == n / 2 {
                routes.add_key(1, route_tx.clone(), Slow::Wait);
            }
        }
    });
    publisher.join().unwrap();
    running.join().unwrap();
    drop(router);
    let got: Vec<u64> = block_on(route_rx.collect());
    // The router may be behind the publisher when the route comes: "later" is the
    // router's order. What it must get is every match from its first one on.
    let first = *got
        .first()
        .expect("the route got the matches after it was added");
    assert_eq!(first % 2, 1);
    assert_eq!(
        got,
        (first..n).step_by(2).collect::<Vec<_>>(),
        "every later match"
    );
}

#[test]
fn a_removed_route_gets_nothing_taken_after_the_removal() {
    let router = Router::keyed(|n: &u64| n % 2);
    let (tx, rx) = mpsc::unbounded();
    let id = router.add_key(0, tx, Slow::Wait);
    let routes = router.routes();
    let source = futures::stream::iter(0..20u64).inspect(move |&n| {
        if n == 10 {
            assert!(routes.remove(id));
            assert!(!routes.remove(id), "removing twice is false");
        }
    });
    block_on(router.run(source));
    assert_eq!(router.stats().routes, 0);
    assert_eq!(router.route_stats(id), None);
    drop(router);
    assert_eq!(block_on(rx.collect::<Vec<_>>()), [0, 2, 4, 6, 8]);
}

#[test]
fn a_closed_sink_is_removed_and_reported_and_routing_goes_on() {
    let router = Router::keyed(|n: &u64| n % 2);
    let errors = record_errors(&router);
    let (closed_tx, closed_rx) = mpsc::unbounded();
    let (open_tx, open_rx) = mpsc::unbounded();
    let closed = router.add_key(0, closed_tx, Slow::Wait);
    router.add_key(1, open_tx, Slow::Wait);
    drop(closed_rx);
    block_on(router.run(futures::stream::iter(0..10)));
    let stats = router.stats();
    assert_eq!((stats.removed, stats.routes), (1, 1));
    assert_eq!(stats.unrouted, 4, "the evens after the first have no route");
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "reported once: {errors:?}");
    assert!(
        errors[0].starts_with(&format!("{closed:?}: route sink failed")),
        "{errors:?}"
    );
    drop(router);
    assert_eq!(block_on(open_rx.collect::<Vec<_>>()), [1, 3, 5, 7, 9]);
}

#[test]
fn a_sink_error_is_reported_and_the_other_routes_go_on() {
    let router = Router::new();
    let errors = record_errors(&router);
    let failing = Arc::new(Mutex::new(Vec::new()));
    let (all_tx, all_rx) = mpsc::unbounded();
    let fails = router.add_filter(|_| true, FailOn(3, failing.clone()), Slow::Wait);
    router.add_filter(|_| true, all_tx, Slow::Wait);
    block_on(router.run(futures::stream::iter(0..6u64)));
    assert_eq!(*failing.lock().unwrap(), [0, 1, 2]);
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors, [format!("{fails:?}: route sink failed: refused 3")]);
    drop(router);
    assert_eq!(block_on(all_rx.collect::<Vec<_>>()), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_slow_drop_event_route_drops_and_counts_without_stalling_the_others() {
    let router = Router::new();
    let (fast_tx, fast_rx) = mpsc::unbounded();
    let stuck = router.add_filter(|_| true, Stuck, Slow::DropEvent);
    router.add_filter(|_| true, fast_tx, Slow::Wait);
    block_on(router.run(futures::stream::iter(0..50u64)));
    assert_eq!(
        router.route_stats(stuck).map(|s| (s.delivered, s.dropped)),
        Some((0, 50))
    );
    assert_eq!(router.stats().dropped, 50);
    drop(router);
    assert_eq!(
        block_on(fast_rx.collect::<Vec<_>>()),
        (0..50).collect::<Vec<_>>()
    );
}

#[test]
fn a_slow_drop_route_is_removed_and_reported() {
    let router = Router::new();
    let errors = record_errors(&router);
    let (fast_tx, fast_rx) = mpsc::unbounded();
    let slow = router.add_filter(|_| true, Stuck, Slow::DropRoute);
    router.add_filter(|_| true, fast_tx, Slow::Wait);
    block_on(router.run(futures::stream::iter(0..5u64)));
    assert_eq!((router.stats().removed, router.stats().routes), (1, 1));
    assert_eq!(
        *errors.lock().unwrap(),
        [format!(
            "{slow:?}: route sink had no room and its policy drops it"
        )]
    );
    drop(router);
    assert_eq!(block_on(fast_rx.collect::<Vec<_>>()), [0, 1, 2, 3, 4]);
}

#[test]
fn a_wait_route_applies_backpressure_and_loses_nothing() {
    let n = events(20_000);
    let router = Router::new();
    let (tx, rx) = mpsc::channel(4); // a small window, read by a slower thread
    router.add_filter(|_| true, tx, Slow::Wait);
    let reader = std::thread::spawn(move || block_on(rx.collect::<Vec<u64>>()));
    block_on(router.run(futures::stream::iter(0..n)));
    drop(router);
    assert_eq!(reader.join().unwrap(), (0..n).collect::<Vec<_>>());
}

#[test]
fn unrouted_events_are_counted_and_memory_stays_flat() {
    let n = events(1_000_000);
    let router = Router::keyed(|v: &u64| *v);
    let (tx, _rx) = mpsc::unbounded();
    router.add_key(u64::MAX, tx, Slow::Wait); // a route nothing matches
    let before = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    block_on(router.run(futures::stream::iter(0..n)));
    let peak = PEAK.with(Cell::get);
    assert_eq!(router.stats().unrouted, n);
    assert!(
        peak - before < 64 * 1024,
        "{n} unrouted events grew the heap by {} bytes at peak",
        peak - before
    );
}

#[test]
fn a_tailcast_stream_in_and_a_tailcast_publisher_out() {
    let n = events(10_000);
    let (mut source_tx, source_rx) = Builder::new().capacity(64).build::<u64>().unwrap();
    let (out_tx, mut out_rx) = Builder::new().capacity(8).build::<u64>().unwrap();
    let router = Router::keyed(|v: &u64| v % 2 == 0);
    router.add_key(true, out_tx, Slow::Wait); // the evens, with backpressure from `out_rx`
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(v) = out_rx.recv() {
            got.push(v);
        }
        got
    });
    let producer = std::thread::spawn(move || (0..n).for_each(|i| source_tx.publish(i)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let router = runtime.block_on(async move {
        // Spawned: the run's future is `Send`.
        tokio::spawn(async move {
            router.run_subscriber(source_rx).await;
            router
        })
        .await
        .unwrap()
    });
    producer.join().unwrap();
    assert_eq!(router.stats().unrouted, n / 2);
    drop(router); // drops the route's publisher: the out stream closes
    assert_eq!(
        reader.join().unwrap(),
        (0..n).step_by(2).collect::<Vec<_>>()
    );
}

#[test]
fn a_lagging_subscriber_source_counts_what_it_missed() {
    let (mut tx, keep) = Builder::new()
        .capacity(4)
        .chunk_len(2)
        .build::<u64>()
        .unwrap();
    let source = tx.subscribe_with(LagPolicy::Skip);
    drop(keep);
    tx.publish_batch(0..10); // the source misses 6
    drop(tx);
    let router = Router::new();
    let (all_tx, all_rx) = mpsc::unbounded();
    router.add_filter(|_| true, all_tx, Slow::Wait);
    block_on(router.run_subscriber(source));
    assert_eq!(router.stats().source_lagged, 6);
    drop(router);
    assert_eq!(block_on(all_rx.collect::<Vec<_>>()), [6, 7, 8, 9]);
}
