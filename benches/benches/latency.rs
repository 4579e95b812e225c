//! Delivery latency of a paced publisher: one event every 10 µs, 4 subscriber threads.
//! Each event carries its sequence number and its send time (nanoseconds since a shared
//! epoch, read just before the publish call); each subscriber records `now - sent` in an
//! HdrHistogram and checks that it sees every sequence number once, in order. Prints
//! p50 / p99 / p99.9 / max per system.
//!
//! ```text
//! cargo bench -p tailcast-benches --bench latency
//! ```
//!
//! A custom `main`, not criterion: the figure of interest is a distribution, not a mean.
//! Under `cargo test --benches` (no `--bench` flag) it runs a few thousand events only.
//!
//! Pacing: absolute deadlines (`start + i * PERIOD`, so a late send does not shift the
//! ones after it), waited for with a `yield_now` loop — a spin with a scheduler yield, fine
//! in a bench, never in library code. `thread::sleep` cannot pace 10 µs (timer slack is
//! ~50 µs); a pure `spin_loop` would take one of the 2 cores from the readers. Latency is
//! measured from the actual send, so a late send is not charged to the channel; the
//! "late" column counts sends that missed their deadline by more than one period (the
//! publisher could not keep the pace: compare rows with care).

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tailcast_benches::{Pacer, YieldWait};

const PERIOD: Duration = Duration::from_micros(10);
const SUBSCRIBERS: usize = 4;
const CAPACITY: usize = 1024;
/// Events per system under `cargo bench` (0.5 s at 10 µs each).
const EVENTS: u64 = 50_000;
/// Events per system under `cargo test --benches`.
const SMOKE_EVENTS: u64 = 2_000;

/// (sequence number, send time in ns since the epoch).
type Stamp = (u64, u64);

/// The clock every thread reads: nanoseconds since one shared `Instant`.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now(self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// A reader's record: the latencies of every event after warm-up, checked for order.
struct Recorder {
    clock: Clock,
    hist: Histogram<u64>,
    next: u64,
    warmup: u64,
}

impl Recorder {
    fn new(clock: Clock, warmup: u64) -> Self {
        Self {
            clock,
            // 1 ns ..= 60 s, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap(),
            next: 0,
            warmup,
        }
    }

    #[inline]
    fn record(&mut self, (seq, sent): Stamp) {
        let now = self.clock.now();
        assert_eq!(seq, self.next, "lost, duplicated or reordered event");
        self.next += 1;
        if seq >= self.warmup {
            self.hist.saturating_record(now.saturating_sub(sent).max(1));
        }
    }

    /// Checks the count and returns the histogram.
    fn finish(self, system: &str, events: u64) -> Histogram<u64> {
        assert_eq!(self.next, events, "{system}: wrong event count");
        self.hist
    }
}

/// Waits for the absolute deadline of event `i` and returns the send stamp; counts a
/// send as late if it misses its deadline by more than one period.
fn pace(clock: Clock, start: Instant, i: u64, late: &mut u64) -> Stamp {
    let deadline = start + PERIOD * u32::try_from(i).expect("events fit in u32");
    loop {
        let now = Instant::now();
        if now >= deadline {
            if now - deadline > PERIOD {
                *late += 1;
            }
            return (i, clock.now());
        }
        thread::yield_now();
    }
}

/// One system's run: (merged latency histogram, late sends).
struct Outcome {
    hist: Histogram<u64>,
    late: u64,
}

/// Spawns `readers`, calls `send` paced, drops it (which must close the stream), joins the
/// readers and merges their histograms.
fn run<R>(system: &str, events: u64, readers: Vec<R>, mut send: impl FnMut(Stamp)) -> Outcome
where
    R: FnOnce() -> Recorder + Send + 'static,
{
    let handles: Vec<_> = readers.into_iter().map(thread::spawn).collect();
    let clock = clock();
    // Let the readers start and park before the first event.
    thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    let mut late = 0;
    for i in 0..events {
        send(pace(clock, start, i, &mut late));
    }
    drop(send);
    let mut hist = Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    for h in handles {
        hist.add(h.join().unwrap().finish(system, events)).unwrap();
    }
    Outcome { hist, late }
}

/// The shared epoch (set on first use, in `main`).
fn clock() -> Clock {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    Clock(*EPOCH.get_or_init(Instant::now))
}

fn warmup(events: u64) -> u64 {
    events / 10
}

fn tailcast_recv(events: u64) -> Outcome {
    tailcast_with("tailcast/recv", tailcast::Builder::new(), events)
}

/// Waiters yield for up to 50 µs (five publish periods) before they park.
fn tailcast_recv_yielding(events: u64) -> Outcome {
    let builder = tailcast::Builder::new().yield_before_park(Duration::from_micros(50));
    tailcast_with("tailcast/recv_yielding", builder, events)
}

fn tailcast_with(system: &str, builder: tailcast::Builder, events: u64) -> Outcome {
    let (mut tx, rx) = builder
        .capacity(CAPACITY)
        .build::<Stamp>()
        .expect("valid configuration");
    let readers = (0..SUBSCRIBERS)
        .map(|_| {
            let mut rx = rx.clone();
            move || {
                let mut rec = Recorder::new(clock(), warmup(events));
                while let Ok(s) = rx.recv() {
                    rec.record(s);
                }
                rec
            }
        })
        .collect();
    drop(rx);
    run(system, events, readers, move |s| tx.publish(s))
}

fn tokio_broadcast(events: u64) -> Outcome {
    let (tx, rx) = tokio::sync::broadcast::channel::<Stamp>(CAPACITY);
    let readers = (0..SUBSCRIBERS)
        .map(|_| {
            let mut rx = rx.resubscribe();
            move || {
                let mut rec = Recorder::new(clock(), warmup(events));
                while let Ok(s) = rx.blocking_recv() {
                    rec.record(s);
                }
                rec
            }
        })
        .collect();
    drop(rx);
    let mut pacer = Pacer::new(CAPACITY);
    run("tokio-broadcast", events, readers, move |s| {
        // No backpressure: never overrun the ring (a lag would fail the order check).
        while !pacer.try_take(|| tx.len()) {
            thread::yield_now();
        }
        tx.send(s).unwrap();
    })
}

fn async_broadcast(events: u64) -> Outcome {
    let (tx, rx) = async_broadcast::broadcast::<Stamp>(CAPACITY);
    let readers = (0..SUBSCRIBERS)
        .map(|_| {
            let mut rx = rx.clone();
            move || {
                let mut rec = Recorder::new(clock(), warmup(events));
                while let Ok(s) = rx.recv_blocking() {
                    rec.record(s);
                }
                rec
            }
        })
        .collect();
    drop(rx);
    run("async-broadcast", events, readers, move |s| {
        tx.broadcast_blocking(s).unwrap();
    })
}

fn bus_fanout(events: u64) -> Outcome {
    let mut bus = bus::Bus::<Stamp>::new(CAPACITY);
    let readers = (0..SUBSCRIBERS)
        .map(|_| {
            let mut rx = bus.add_rx();
            move || {
                let mut rec = Recorder::new(clock(), warmup(events));
                while let Ok(s) = rx.recv() {
                    rec.record(s);
                }
                rec
            }
        })
        .collect();
    run("bus", events, readers, move |s| bus.broadcast(s))
}

fn crossbeam_fanout(events: u64) -> Outcome {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..SUBSCRIBERS)
        .map(|_| crossbeam_channel::bounded::<Stamp>(CAPACITY))
        .unzip();
    let readers = receivers
        .into_iter()
        .map(|rx| {
            move || {
                let mut rec = Recorder::new(clock(), warmup(events));
                while let Ok(s) = rx.recv() {
                    rec.record(s);
                }
                rec
            }
        })
        .collect();
    run("crossbeam-channel", events, readers, move |s| {
        for tx in &senders {
            tx.send(s).unwrap();
        }
    })
}

/// A disruptor consumer's recorder, sent back when its processor thread drops it.
struct Report {
    rec: Option<Recorder>,
    to: mpsc::Sender<Recorder>,
}

impl Drop for Report {
    fn drop(&mut self) {
        let _ = self.to.send(self.rec.take().unwrap());
    }
}

/// Disruptor with the yielding wait strategy ([`YieldWait`]): `BusySpin` is unusable with
/// more threads than cores (4 spinning consumers + the publisher on 2 cores).
fn disruptor_fanout(events: u64) -> Outcome {
    use disruptor::Producer as _;

    let (report, results) = mpsc::channel();
    let mut builder = disruptor::build_single_producer(CAPACITY, || (0u64, 0u64), YieldWait)
        .with_multi_consumer();
    for _ in 0..SUBSCRIBERS {
        let to = report.clone();
        builder = builder.handle_events_and_state_with(
            |r: &mut Report, e: &Stamp, _: disruptor::Sequence, _: bool| {
                r.rec.as_mut().unwrap().record(*e)
            },
            move || Report {
                rec: Some(Recorder::new(clock(), warmup(events))),
                to,
            },
        );
    }
    drop(report);
    let mut producer = builder.build();
    // The consumers are the disruptor's own threads: `run` gets no readers, and the
    // recorders come back through the channel once `run` drops (and so joins) the producer.
    let mut out = run::<fn() -> Recorder>("disruptor", events, Vec::new(), move |s| {
        while producer.try_publish(|e| *e = s).is_err() {
            thread::yield_now();
        }
    });
    let recorders: Vec<Recorder> = results.iter().collect();
    assert_eq!(
        recorders.len(),
        SUBSCRIBERS,
        "disruptor: a consumer did not report"
    );
    for r in recorders {
        out.hist.add(r.finish("disruptor", events)).unwrap();
    }
    out
}

type Run = fn(u64) -> Outcome;

const SYSTEMS: [(&str, Run); 7] = [
    ("tailcast/recv", tailcast_recv),
    ("tailcast/recv_yielding", tailcast_recv_yielding),
    ("tokio-broadcast/blocking_recv", tokio_broadcast),
    ("async-broadcast/recv_blocking", async_broadcast),
    ("bus/recv", bus_fanout),
    ("crossbeam-channel/per-subscriber", crossbeam_fanout),
    ("disruptor/yield", disruptor_fanout),
];

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let events = if bench { EVENTS } else { SMOKE_EVENTS };
    let _ = clock();
    println!(
        "delivery latency: 1 publisher, one event every {} µs, {SUBSCRIBERS} subscriber threads, \
         capacity {CAPACITY}, {events} events per system (first {} not recorded)",
        PERIOD.as_micros(),
        warmup(events)
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "system", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "samples", "late"
    );
    for (name, f) in SYSTEMS {
        let Outcome { hist, late } = f(events);
        println!(
            "{:<34} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9} {:>8}",
            name,
            us(hist.value_at_quantile(0.50)),
            us(hist.value_at_quantile(0.99)),
            us(hist.value_at_quantile(0.999)),
            us(hist.max()),
            hist.len(),
            late
        );
    }
}
