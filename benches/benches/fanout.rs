//! 1 publisher → N subscribers on OS threads (N = 1, 2, 4, 8), `u64` events, capacity 1024,
//! side by side with peers. Every subscriber verifies the count and an order-sensitive
//! checksum; a lost, duplicated or reordered event panics the bench.
//!
//! ```text
//! cargo bench -p tailcast-benches --bench fanout                 # everything (< 5 min)
//! cargo bench -p tailcast-benches --bench fanout -- --quick      # a fast look
//! cargo bench -p tailcast-benches --bench fanout -- 'fanout/tailcast'   # a filter
//! ```
//!
//! Before criterion runs, the bench prints the heap allocations per event of each system in
//! steady state (a counting global allocator; see `report_allocations`).
//!
//! Throughput is reported as published events per second (`Throughput::Elements(EVENTS)`);
//! each of them is delivered N times. Every iteration includes spawning and joining the N
//! reader threads (the same for every system); the `limit` line measures exactly that plus
//! the checksum loop over a prefilled `Vec<u64>`, the ceiling no channel can beat.

use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, SamplingMode, Throughput};
use tailcast_benches::{checksum, verify, AllocWindow, CountingAlloc, Pacer, YieldWait};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Events published per iteration.
const EVENTS: u64 = 100_000;
const CAPACITY: usize = 1024;
/// The yield budget of the `*_yielding` tailcast systems.
const YIELD_BUDGET: std::time::Duration = std::time::Duration::from_micros(50);
const SUBSCRIBERS: [usize; 4] = [1, 2, 4, 8];
/// The longest run: `report_allocations` uses 2 × EVENTS.
const LIMIT_DATA: u64 = 2 * EVENTS;

/// A reader's result: (events received, checksum).
type Tally = (u64, u64);

/// Makes `subscribers` readers from `source`, drops `source` (so an unread original
/// subscriber cannot hold the publisher back), runs the readers on threads, then
/// `publish` (which must drop its sender to close the stream), and checks every reader's
/// (count, checksum).
fn run<S, R: FnOnce() -> Tally + Send + 'static>(
    system: &str,
    subscribers: usize,
    events: u64,
    source: S,
    mut make_reader: impl FnMut(&mut S) -> R,
    publish: impl FnOnce(),
) {
    let mut source = source;
    let readers: Vec<R> = (0..subscribers).map(|_| make_reader(&mut source)).collect();
    drop(source);
    let readers: Vec<_> = readers.into_iter().map(thread::spawn).collect();
    publish();
    for r in readers {
        verify(system, r.join().unwrap(), events);
    }
}

/// Folds a stream of values into a (count, checksum) tally.
#[inline]
fn tally(mut next: impl FnMut() -> Option<u64>) -> Tally {
    let (mut count, mut acc) = (0, 0);
    while let Some(v) = next() {
        acc = checksum(acc, v);
        count += 1;
    }
    (count, acc)
}

fn tailcast_publish(mut tx: tailcast::Publisher<u64>, events: u64) -> impl FnOnce() {
    move || {
        for i in 0..events {
            tx.publish(i);
        }
    }
}

fn tailcast_recv(n: usize, events: u64) {
    tailcast_recv_with("tailcast/recv", tailcast::Builder::new(), n, events);
}

/// `recv` on a stream whose waiters yield for up to [`YIELD_BUDGET`] before they park: the
/// opt-in CPU-for-latency trade (`Builder::yield_before_park`).
fn tailcast_recv_yielding(n: usize, events: u64) {
    let builder = tailcast::Builder::new().yield_before_park(YIELD_BUDGET);
    tailcast_recv_with("tailcast/recv_yielding", builder, n, events);
}

fn tailcast_recv_with(system: &str, builder: tailcast::Builder, n: usize, events: u64) {
    let (tx, rx) = builder
        .capacity(CAPACITY)
        .build::<u64>()
        .expect("valid configuration");
    run(
        system,
        n,
        events,
        rx,
        |rx| {
            let mut rx = rx.clone();
            move || tally(|| rx.recv().ok())
        },
        tailcast_publish(tx, events),
    );
}

fn tailcast_recv_ref(n: usize, events: u64) {
    let (tx, rx) = tailcast::channel::<u64>(CAPACITY);
    run(
        "tailcast/recv_ref",
        n,
        events,
        rx,
        |rx| {
            let mut rx = rx.clone();
            move || tally(|| rx.recv_ref().ok().map(|r| *r))
        },
        tailcast_publish(tx, events),
    );
}

fn tailcast_recv_batch(n: usize, events: u64) {
    let (tx, rx) = tailcast::channel::<u64>(CAPACITY);
    run(
        "tailcast/recv_batch",
        n,
        events,
        rx,
        |rx| {
            let mut rx = rx.clone();
            move || {
                let (mut count, mut acc) = (0, 0);
                while let Ok(batch) = rx.recv_batch(usize::MAX) {
                    for &v in batch.iter() {
                        acc = checksum(acc, v);
                    }
                    count += batch.len() as u64;
                }
                (count, acc)
            }
        },
        tailcast_publish(tx, events),
    );
}

fn tokio_broadcast(n: usize, events: u64) {
    let (tx, rx) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
    run(
        "tokio-broadcast",
        n,
        events,
        rx,
        |rx| {
            let mut rx = rx.resubscribe();
            // A `Lagged` ends the loop early and fails the count check.
            move || tally(|| rx.blocking_recv().ok())
        },
        move || {
            // tokio's broadcast has no backpressure: the publisher must not overrun the
            // ring, or receivers lag. Pace it on the receivers' progress (see `Pacer`).
            let mut pacer = Pacer::new(CAPACITY);
            for i in 0..events {
                while !pacer.try_take(|| tx.len()) {
                    thread::yield_now();
                }
                tx.send(i).unwrap();
            }
        },
    );
}

fn async_broadcast(n: usize, events: u64) {
    let (tx, rx) = async_broadcast::broadcast::<u64>(CAPACITY);
    run(
        "async-broadcast",
        n,
        events,
        rx,
        |rx| {
            let mut rx = rx.clone();
            move || tally(|| rx.recv_blocking().ok())
        },
        move || {
            // Not in overflow mode: `broadcast_blocking` waits while the queue is full.
            for i in 0..events {
                tx.broadcast_blocking(i).unwrap();
            }
        },
    );
}

fn bus_fanout(n: usize, events: u64) {
    let mut bus = bus::Bus::<u64>::new(CAPACITY);
    let mut readers: Vec<_> = (0..n).map(|_| bus.add_rx()).collect();
    run(
        "bus",
        n,
        events,
        (),
        |_| {
            let mut rx = readers.pop().unwrap();
            move || tally(|| rx.recv().ok())
        },
        move || {
            for i in 0..events {
                bus.broadcast(i);
            }
        },
    );
}

fn crossbeam_fanout(n: usize, events: u64) {
    let channels: Vec<_> = (0..n)
        .map(|_| crossbeam_channel::bounded::<u64>(CAPACITY))
        .collect();
    let mut receivers: Vec<_> = channels.iter().map(|(_, r)| r.clone()).collect();
    let senders: Vec<_> = channels.into_iter().map(|(s, _)| s).collect();
    run(
        "crossbeam-channel",
        n,
        events,
        (),
        |_| {
            let rx = receivers.pop().unwrap();
            move || tally(|| rx.recv().ok())
        },
        move || {
            for i in 0..events {
                for s in &senders {
                    s.send(i).unwrap();
                }
            }
        },
    );
}

/// A disruptor consumer's tally, reported when the processor thread drops it (after the
/// producer's drop told it the last sequence).
struct Report {
    count: u64,
    acc: u64,
    to: mpsc::Sender<Tally>,
}

impl Drop for Report {
    fn drop(&mut self) {
        let _ = self.to.send((self.count, self.acc));
    }
}

/// The disruptor (single producer, N independent consumers on the threads it spawns).
///
/// Wait strategy: [`YieldWait`] (yield between polls). Its `BusySpin` is unusable here:
/// with more threads than cores (8 consumers + 1 producer on 2 cores) a spinning consumer
/// holds a core the producer or the consumer it waits for needs, and throughput collapses.
/// For the same reason the producer uses `try_publish` + `yield_now` rather than `publish`,
/// whose wait for a full ring is an empty spin loop.
fn disruptor_fanout(n: usize, events: u64) {
    use disruptor::Producer as _;

    let (report, results) = mpsc::channel();
    let mut builder =
        disruptor::build_single_producer(CAPACITY, || 0u64, YieldWait).with_multi_consumer();
    for _ in 0..n {
        let to = report.clone();
        builder = builder.handle_events_and_state_with(
            |s: &mut Report, e: &u64, _seq: disruptor::Sequence, _end: bool| {
                s.acc = checksum(s.acc, *e);
                s.count += 1;
            },
            move || Report {
                count: 0,
                acc: 0,
                to,
            },
        );
    }
    drop(report);
    let mut producer = builder.build();
    for i in 0..events {
        while producer.try_publish(|e| *e = i).is_err() {
            thread::yield_now();
        }
    }
    // Dropping the producer shuts the disruptor down and joins its consumer threads.
    drop(producer);
    let results: Vec<Tally> = results.iter().collect();
    assert_eq!(results.len(), n, "disruptor: a consumer did not report");
    for r in results {
        verify("disruptor", r, events);
    }
}

/// The prefilled data of `limit` (built once, before anything is measured or counted).
fn limit_data() -> &'static Arc<Vec<u64>> {
    static DATA: OnceLock<Arc<Vec<u64>>> = OnceLock::new();
    DATA.get_or_init(|| Arc::new((0..LIMIT_DATA).collect()))
}

/// The ceiling: each reader thread folds a prefilled `Vec<u64>` (shared, built once).
fn limit(n: usize, events: u64) {
    let data = limit_data();
    assert!(events <= data.len() as u64);
    let len = events as usize;
    run(
        "limit",
        n,
        events,
        (),
        |_| {
            let data = Arc::clone(data);
            move || {
                let mut it = std::hint::black_box(&data[..len]).iter();
                tally(|| it.next().copied())
            }
        },
        || {},
    );
}

/// One system's run: N subscribers, `events` events, verified.
type Run = fn(usize, u64);

const SYSTEMS: [(&str, Run); 10] = [
    ("tailcast/recv", tailcast_recv),
    ("tailcast/recv_yielding", tailcast_recv_yielding),
    ("tailcast/recv_ref", tailcast_recv_ref),
    ("tailcast/recv_batch", tailcast_recv_batch),
    ("tokio-broadcast/blocking_recv", tokio_broadcast),
    ("async-broadcast/recv_blocking", async_broadcast),
    ("bus/recv", bus_fanout),
    ("crossbeam-channel/per-subscriber", crossbeam_fanout),
    ("disruptor/yield", disruptor_fanout),
    ("limit/prefilled-vec", limit),
];

/// Heap allocations per event in steady state, for each system with 1 and 4 subscribers.
///
/// Counts a run of 0 events (setup: stream, threads, first park, close, teardown) and a run
/// of `E` events with the same N; `(run of E - run of 0) / E` is what the events cost. That
/// includes allocations made to park or wake a reader (e.g. an `event-listener` 5
/// `EventListener` is a `Box`), which belong to the steady state of a blocking reader but
/// depend on how often it finds the stream empty: they vary run to run and with load.
fn report_allocations() {
    const E: u64 = 2 * EVENTS;
    println!(
        "heap allocations per event (counting allocator, all threads; (run of {E} events) - (run of 0 events), / {E})"
    );
    println!(
        "{:<34} {:>4} {:>12} {:>12} {:>13}",
        "system", "subs", "allocs/event", "bytes/event", "setup allocs"
    );
    for (name, f) in SYSTEMS {
        for n in [1, 4] {
            let count = |events| {
                let w = AllocWindow::open();
                f(n, events);
                w.close()
            };
            let setup = count(0);
            let run = count(E);
            let per_event = (run.allocs as f64 - setup.allocs as f64) / E as f64;
            let bytes = (run.alloc_bytes as f64 - setup.alloc_bytes as f64) / E as f64;
            println!(
                "{name:<34} {n:>4} {per_event:>12.4} {bytes:>12.2} {:>13}",
                setup.allocs
            );
        }
    }
    // The same stream with no thread ever parking: what is left is the stream's own cost.
    let (mut tx, mut rx) = tailcast::channel::<u64>(CAPACITY);
    for i in 0..E {
        tx.publish(i);
        rx.try_recv().unwrap();
    }
    let w = AllocWindow::open();
    for i in E..2 * E {
        tx.publish(i);
        assert_eq!(rx.try_recv(), Ok(i), "tailcast: same-thread reader");
    }
    let stats = w.close();
    println!(
        "{:<34} {:>4} {:>12.4} {:>12.2} {:>13}",
        "tailcast/try_recv (same thread)",
        1,
        stats.allocs as f64 / E as f64,
        stats.alloc_bytes as f64 / E as f64,
        "-"
    );
    println!();
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    // Kept short for a 2-core machine: 36 benchmarks in about 3 minutes. One iteration is
    // 10^5 events (0.2 to 100 ms), so `Flat` sampling with 10 samples.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(EVENTS));
    for n in SUBSCRIBERS {
        for (name, f) in SYSTEMS {
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter(|| f(n, EVENTS))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, fanout);

/// `FANOUT_PROFILE=<system>/<N>` (for example `tailcast/recv/2`): instead of criterion,
/// runs that one system `FANOUT_PROFILE_ITERS` times (default 100) and prints the events
/// delivered, so that `perf stat` over the process gives the CPU time, context switches
/// and system calls per event of that system alone (the `limit` line shows the harness's
/// own share). `benches/profile.py` drives it for the README's profile table.
fn profile(spec: &str) {
    let (name, n) = spec
        .rsplit_once('/')
        .and_then(|(name, n)| Some((name, n.parse::<usize>().ok()?)))
        .expect("FANOUT_PROFILE=<system>/<N>");
    let (_, f) = SYSTEMS
        .iter()
        .find(|(s, _)| *s == name)
        .unwrap_or_else(|| panic!("unknown system {name}"));
    let iters: u64 = std::env::var("FANOUT_PROFILE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let start = std::time::Instant::now();
    for _ in 0..iters {
        f(n, EVENTS);
    }
    let secs = start.elapsed().as_secs_f64();
    let events = iters * EVENTS;
    println!(
        "profile {name} N={n}: {events} events published, {} delivered, {secs:.3} s, {:.1} M events/s",
        events * n as u64,
        events as f64 / secs / 1e6
    );
}

fn main() {
    limit_data();
    if let Ok(spec) = std::env::var("FANOUT_PROFILE") {
        return profile(&spec);
    }
    // Only under `cargo bench` (criterion's own `--bench` flag), not `cargo test --benches`.
    if std::env::args().any(|a| a == "--bench") {
        report_allocations();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
