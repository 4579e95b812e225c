//! Several producers into one stream: P producer threads (P = 2, 4, 8) publish E events of
//! `u64` in all (E / P each) into a stream of capacity 1024, and R = 2 reader threads each
//! receive every event. Prints a markdown table of deliveries per second (E × R / wall
//! time), tailcast's `SharedPublisher` side by side with tokio's broadcast `Sender` (the
//! peer with a `Clone` sender whose `send` takes `&self`).
//!
//! ```text
//! cargo bench -p tailcast-benches --bench producers
//! cargo bench -p tailcast-benches --bench producers -- --events 1000000 --rounds 3
//! ```
//!
//! Options (after `--`): `--events N` (default 2_000_000), `--rounds R` (default 3).
//! Without cargo's `--bench` flag and without `--events` (as under `cargo test --benches`)
//! it is a smoke run: 20_000 events, 1 round.
//!
//! # Systems
//!
//! - `tailcast-shared`: `tailcast::Builder::new().capacity(1024).build::<u64>()`, the two
//!   subscribers made first, then `Publisher::into_shared`; each producer `publish`es on
//!   its own clone (blocking while the stream is full: backpressure, nothing is lost) and
//!   the stream closes when the last clone is dropped. Readers `recv` until `Closed`.
//! - `tokio-bcast`: `tokio::sync::broadcast::channel(1024)`, each producer `send`s on its
//!   own clone. It has no backpressure, so each producer is paced on the ring's length
//!   (`tailcast_benches::Pacer`, as in the `fanout` and `bytes_fanout` benches) with a
//!   budget of 1024 / P slots: each may fill at most its share of the room it saw, so
//!   together they never overrun the ring. Readers `blocking_recv`; a `Lagged(n)` would
//!   be counted as lost and the row marked `LOSSY`.
//!
//! # Measurement
//!
//! Every event is `(p << 48) | i` (producer p, its sequence i). Each reader checks that each
//! producer's events arrive in that producer's order (a per-producer next-expected array)
//! and that received + lost = E; a lossless reader must have seen every event. Any failure
//! panics the bench. The readers are spawned first; the producers wait on a barrier and the
//! clock runs from its release until the last reader has seen the stream close. Each round
//! runs every (P, system) once, the systems' order alternating from round to round; a cell
//! is the median M deliveries/s over the rounds, with the min–max in parentheses.
//!
//! This machine has 2 cores, so P producers + 2 readers are more threads than cores: the
//! producers contend for the stream and for the CPU, and that contended case is what this
//! measures (not a parallel speed-up).

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use tailcast_benches::Pacer;

const CAPACITY: usize = 1024;
const READERS: usize = 2;
const PRODUCERS: [usize; 3] = [2, 4, 8];
const SYSTEMS: [&str; 2] = ["tailcast-shared", "tokio-bcast"];
const SEQ_BITS: u32 = 48;

/// One run: wall seconds and the events lost by all readers together.
struct Sample {
    secs: f64,
    lost: u64,
}

/// A reader's per-producer order check. `lost` counts events a `Lagged(n)` reported missed.
struct Check {
    next: Vec<u64>,
    received: u64,
    lost: u64,
    gaps: u64,
}

impl Check {
    fn new(producers: usize) -> Self {
        Self {
            next: vec![0; producers],
            received: 0,
            lost: 0,
            gaps: 0,
        }
    }

    #[inline]
    fn event(&mut self, v: u64) {
        let (p, i) = ((v >> SEQ_BITS) as usize, v & ((1 << SEQ_BITS) - 1));
        let next = &mut self.next[p];
        assert!(
            i >= *next,
            "producer {p}: event {i} after {next} (reordered)"
        );
        self.gaps += i - *next;
        *next = i + 1;
        self.received += 1;
    }

    /// Panics unless every event was received or reported lost, in each producer's order.
    fn verify(&self, system: &str, per_producer: u64) -> u64 {
        let total = per_producer * self.next.len() as u64;
        assert_eq!(
            self.received + self.lost,
            total,
            "{system}: received + lost != published"
        );
        assert_eq!(self.gaps, self.lost, "{system}: events missing unreported");
        if self.lost == 0 {
            assert!(
                self.next.iter().all(|&n| n == per_producer),
                "{system}: a producer's events incomplete"
            );
        }
        self.lost
    }
}

/// Spawns the readers, then the producers behind a barrier; times from the barrier to the
/// last reader's end and verifies every reader.
fn timed<R, P>(system: &str, per_producer: u64, readers: Vec<R>, producers: Vec<P>) -> Sample
where
    R: FnOnce() -> Check + Send + 'static,
    P: FnOnce() + Send + 'static,
{
    let readers: Vec<_> = readers.into_iter().map(thread::spawn).collect();
    let start = Arc::new(Barrier::new(producers.len() + 1));
    let producers: Vec<_> = producers
        .into_iter()
        .map(|f| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                f();
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    let checks: Vec<Check> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let secs = t0.elapsed().as_secs_f64();
    producers.into_iter().for_each(|p| p.join().unwrap());
    let lost = checks.iter().map(|c| c.verify(system, per_producer)).sum();
    Sample { secs, lost }
}

/// `READERS` reader closures over `first` and clones of it made before any event, each
/// calling `step` (which returns `true` at the end) until the end.
fn readers<S: Send + 'static>(
    first: S,
    another: impl Fn(&S) -> S,
    p: usize,
    step: fn(&mut S, &mut Check) -> bool,
) -> Vec<impl FnOnce() -> Check + Send + 'static> {
    let mut subs = Vec::with_capacity(READERS);
    while subs.len() + 1 < READERS {
        subs.push(another(&first));
    }
    subs.push(first);
    subs.into_iter()
        .map(|mut rx| {
            move || {
                let mut check = Check::new(p);
                while !step(&mut rx, &mut check) {}
                check
            }
        })
        .collect()
}

fn tailcast_shared(p: usize, per_producer: u64) -> Sample {
    let (tx, first) = tailcast::Builder::new()
        .capacity(CAPACITY)
        .build::<u64>()
        .expect("valid configuration");
    // A clone is an independent cursor at the same place: event 0, before any publish.
    let readers = readers(first, Clone::clone, p, |rx, check| {
        match rx.recv() {
            Ok(v) => check.event(v),
            Err(tailcast::RecvError::Closed) => return true,
            Err(e) => panic!("tailcast-shared: {e}"),
        }
        false
    });
    let tx = tx.into_shared();
    let producers = (0..p as u64)
        .map(|id| {
            let tx = tx.clone();
            move || (0..per_producer).for_each(|i| tx.publish((id << SEQ_BITS) | i))
        })
        .collect();
    drop(tx); // The producers' clones are the last: the stream closes when they finish.
    timed("tailcast-shared", per_producer, readers, producers)
}

fn tokio_bcast(p: usize, per_producer: u64) -> Sample {
    use tokio::sync::broadcast::error::RecvError;

    let (tx, first) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
    let readers = readers(
        first,
        |rx| rx.resubscribe(),
        p,
        |rx, check| {
            match rx.blocking_recv() {
                Ok(v) => check.event(v),
                Err(RecvError::Lagged(n)) => check.lost += n,
                Err(RecvError::Closed) => return true,
            }
            false
        },
    );
    let producers = (0..p as u64)
        .map(|id| {
            let tx = tx.clone();
            move || {
                // Each producer's share of the ring (see the module docs).
                let mut pacer = Pacer::new(CAPACITY / p);
                for i in 0..per_producer {
                    while !pacer.try_take(|| tx.len()) {
                        thread::yield_now();
                    }
                    tx.send((id << SEQ_BITS) | i).unwrap();
                }
            }
        })
        .collect();
    drop(tx);
    timed("tokio-bcast", per_producer, readers, producers)
}

/// Median, min and max (the samples are never empty).
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    };
    (median, v[0], v[v.len() - 1])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut events, mut rounds) = (2_000_000u64, 3usize);
    let (mut events_given, mut rounds_given) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--events" => {
                events = value()
                    .replace('_', "")
                    .parse()
                    .expect("--events: a number");
                events_given = true;
            }
            "--rounds" => {
                rounds = value().parse().expect("--rounds: a number");
                rounds_given = true;
            }
            other => eprintln!("producers: ignoring argument {other:?}"),
        }
    }
    let smoke = !args.iter().any(|a| a == "--bench") && !events_given;
    if smoke {
        // `cargo test --benches`, or a bare run: a quick smoke run.
        events = 20_000;
        if !rounds_given {
            rounds = 1;
        }
    }
    assert!(rounds > 0, "--rounds must be > 0");
    assert!(
        (8..1 << SEQ_BITS).contains(&events),
        "--events: from 8 to 2^{SEQ_BITS}"
    );

    // rates[p][system]: M deliveries/s per round; lost[p][system]: events lost, all rounds.
    let mut rates = vec![vec![Vec::new(); SYSTEMS.len()]; PRODUCERS.len()];
    let mut lost = vec![vec![0u64; SYSTEMS.len()]; PRODUCERS.len()];
    let started = Instant::now();
    for round in 0..rounds {
        for (k, &p) in PRODUCERS.iter().enumerate() {
            let per_producer = events / p as u64;
            let deliveries = (per_producer * p as u64 * READERS as u64) as f64;
            for j in 0..SYSTEMS.len() {
                let s = (j + round) % SYSTEMS.len();
                let sample = match s {
                    0 => tailcast_shared(p, per_producer),
                    _ => tokio_bcast(p, per_producer),
                };
                let rate = deliveries / sample.secs / 1e6;
                eprintln!(
                    "round {}/{rounds} P={p} {}: {:.3} s, {rate:.2} M deliveries/s, lost {}",
                    round + 1,
                    SYSTEMS[s],
                    sample.secs,
                    sample.lost
                );
                rates[k][s].push(rate);
                lost[k][s] += sample.lost;
            }
        }
    }

    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "## producers: P producers -> {READERS} readers, {events} events of u64, capacity \
         {CAPACITY}, {rounds} round(s); {cores} cores{}",
        if smoke { " (SMOKE RUN)" } else { "" }
    );
    println!();
    println!("M deliveries/s (events × readers / wall time), median (min–max)");
    println!();
    let header: Vec<String> = PRODUCERS.iter().map(|p| format!("P = {p}")).collect();
    println!("| system | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(PRODUCERS.len()));
    let medians: Vec<Vec<f64>> = (0..PRODUCERS.len())
        .map(|k| {
            (0..SYSTEMS.len())
                .map(|s| stats(rates[k][s].clone()).0)
                .collect()
        })
        .collect();
    for (s, name) in SYSTEMS.iter().enumerate() {
        let cells: Vec<String> = (0..PRODUCERS.len())
            .map(|k| {
                let (med, min, max) = stats(rates[k][s].clone());
                let loss = match lost[k][s] {
                    0 => String::new(),
                    n => format!(" LOSSY (lost {n})"),
                };
                format!("{med:.2} ({min:.2}–{max:.2}){loss}")
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    let ratios: Vec<String> = medians
        .iter()
        .map(|m| format!("{:.2}", m[0] / m[1]))
        .collect();
    println!("| tailcast / tokio | {} |", ratios.join(" | "));
    println!();
    println!(
        "total run time {:.0} s; 1-minute load average {}",
        started.elapsed().as_secs_f64(),
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "?".to_owned())
    );
}
