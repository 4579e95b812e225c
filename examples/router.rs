//! The router of the stream-multiplexing post: one stream of numbers keyed even/odd,
//! routed to sinks that come and go while it runs, each sink a tailcast stream read by its
//! own thread. Prints what each route received and checks it.
//!
//! ```text
//! cargo run --release --features futures --example router -- [--events N]
//! ```
//!
//! The publisher thread is the "supervisor" too, so the changes land at known points of
//! the source while the router runs on its own thread:
//! - from the start, a route for key 0 (the even numbers);
//! - after N/4 events, a route for key 1 (the odd numbers);
//! - after N/2, a filter route for the multiples of 1000 (beside the keyed ones);
//! - after 3N/4, the even route is removed.
//!
//! A route gets every match the router takes after it is added and none it takes after
//! it is removed; the router may be a little behind the publisher, so the exact switch
//! points are the router's. Each reader checks that what it got is one unbroken run of
//! its matches.

use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use tailcast::router::{Router, Slow};
use tailcast::{Builder, Publisher, Subscriber};

mod common;
use common::parse_size;

/// What a route's reader got: count, first, last, and whether it was one unbroken run.
type Got = (u64, u64, u64, bool);

/// A route's sink: a tailcast stream (`Publisher` is a `Sink`) and its reader thread.
fn route_sink(step: u64) -> (Publisher<u64>, thread::JoinHandle<Got>) {
    let (tx, mut rx): (Publisher<u64>, Subscriber<u64>) =
        Builder::new().capacity(1024).build().expect("valid");
    let reader = thread::spawn(move || {
        let (mut count, mut first, mut last, mut unbroken) = (0, 0, 0, true);
        while let Ok(v) = rx.recv() {
            if count == 0 {
                first = v;
            } else {
                unbroken &= v == last + step;
            }
            last = v;
            count += 1;
        }
        (count, first, last, unbroken)
    });
    (tx, reader)
}

fn main() -> ExitCode {
    let mut events: u64 = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--events", Some(n)) => match parse_size(&n) {
                Ok(n) if n >= 4000 => events = n as u64,
                _ => {
                    eprintln!("--events takes a number of at least 4000, not {n}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("usage: router [--events N]");
                return ExitCode::from(2);
            }
        }
    }

    let (mut source, rx) = Builder::new().capacity(1024).build::<u64>().expect("valid");
    let router = Arc::new(Router::keyed(|n: &u64| n % 2));
    router.on_error(|id, e| eprintln!("route {id:?} removed: {e}"));

    let (even_tx, even) = route_sink(2);
    let even_id = router.add_key(0, even_tx, Slow::Wait);
    let (odd_tx, odd) = route_sink(2);
    let (thousands_tx, thousands) = route_sink(1000);

    let started = Instant::now();
    let running = {
        let router = Arc::clone(&router);
        thread::spawn(move || futures::executor::block_on(router.run_subscriber(rx)))
    };
    let routes = router.routes();
    let mut odd_tx = Some(odd_tx);
    let mut thousands_tx = Some(thousands_tx);
    for i in 0..events {
        if i == events / 4 {
            routes.add_key(1, odd_tx.take().expect("once"), Slow::Wait);
        }
        if i == events / 2 {
            let sink = thousands_tx.take().expect("once");
            routes.add_filter(|n| n % 1000 == 0, sink, Slow::Wait);
        }
        if i == 3 * events / 4 {
            routes.remove(even_id);
        }
        source.publish(i);
    }
    drop(source);
    running.join().expect("the router thread");
    let elapsed = started.elapsed();
    let stats = router.stats();
    drop((router, routes)); // the routes' publishers go: their readers end

    println!(
        "routed {events} events in {:.1} ms ({:.2} M events/s): {} deliveries, {} unrouted, \
         {} routes left",
        elapsed.as_secs_f64() * 1e3,
        events as f64 / elapsed.as_secs_f64() / 1e6,
        stats.delivered,
        stats.unrouted,
        stats.routes,
    );
    let mut ok = true;
    let mut delivered = 0;
    for (name, reader, starts_at_zero, ends_at_last) in [
        ("even (removed at 3/4)", even, true, false),
        ("odd (added at 1/4)", odd, false, true),
        ("multiples of 1000 (added at 1/2)", thousands, false, true),
    ] {
        let (count, first, last, unbroken) = reader.join().expect("a reader");
        delivered += count;
        let last_match = if name.starts_with("odd") {
            let last = events - 1;
            last - (last % 2 == 0) as u64 // the last odd number below `events`
        } else {
            (events - 1) / 1000 * 1000
        };
        let good = count > 0
            && unbroken
            && (!starts_at_zero || first == 0)
            && (!ends_at_last || last == last_match);
        ok &= good;
        println!(
            "  {name:<34} {count:>9} events, {first}..={last}{}",
            if good { "" } else { "  WRONG" }
        );
    }
    if delivered != stats.delivered {
        println!(
            "  the readers got {delivered} events, the router delivered {}",
            stats.delivered
        );
        ok = false;
    }
    if ok {
        println!("every route got one unbroken run of its matches");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
