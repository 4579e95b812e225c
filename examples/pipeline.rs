//! A multi-stage pipeline with backpressure end to end: a source of raw lines, a parse
//! stage, an enrich stage, and three consumers of different speeds on the enriched stream
//! (a fast counter, a checksum, and a slow one that sleeps every 1000 events). Every
//! stream is `Block`, so the slow consumer holds back enrich, enrich holds back parse, and
//! parse holds back the source: memory stays at the streams' capacities, whatever the
//! speeds. A progress line shows each stage's lag (events published and not yet read by
//! its slowest reader) a few times a second.
//!
//! ```text
//! cargo run --release --example pipeline -- [--events N]
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tailcast::{Builder, Publisher, RecvError, Subscriber};

mod common;
use common::parse_size;

const CAPACITY: usize = 1024;

/// One parsed record.
#[derive(Clone, Debug)]
struct Record {
    id: u64,
    value: u64,
}

/// A record with what the enrich stage adds.
#[derive(Clone, Debug)]
struct Enriched {
    record: Record,
    bucket: &'static str,
}

fn stream<T>() -> (Publisher<T>, Subscriber<T>) {
    Builder::new().capacity(CAPACITY).build().expect("valid")
}

/// The lag of each stage's subscriber, for the progress line: stored by the stage every
/// 256 events (`Subscriber::lag`: published and not yet read by it).
type Lag = Arc<AtomicU64>;

/// Runs `stage` on `state` and every event of `rx` until the stream closes; returns the
/// state.
fn consume<T: Clone + Send + Sync + 'static, S: Send + 'static>(
    mut rx: Subscriber<T>,
    lag: &Lag,
    mut state: S,
    mut stage: impl FnMut(&mut S, T) + Send + 'static,
) -> thread::JoinHandle<S> {
    let lag = Arc::clone(lag);
    thread::spawn(move || {
        let mut n = 0u64;
        loop {
            match rx.recv() {
                Ok(v) => stage(&mut state, v),
                Err(RecvError::Closed) => break,
                Err(e) => panic!("a Block subscriber lost events: {e}"),
            }
            n += 1;
            if n % 256 == 0 {
                lag.store(rx.lag(), Ordering::Relaxed);
            }
        }
        lag.store(0, Ordering::Relaxed);
        state
    })
}

fn main() -> ExitCode {
    let mut events: u64 = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().map(|n| parse_size(&n))) {
            ("--events", Some(Ok(n))) if n > 0 => events = n as u64,
            _ => {
                eprintln!("usage: pipeline [--events N] (N at least 1)");
                return ExitCode::from(2);
            }
        }
    }

    let (mut raw_tx, raw_rx) = stream::<String>();
    let (parsed_tx, parsed_rx) = stream::<Record>();
    let (enriched_tx, enriched_rx) = stream::<Enriched>();
    // The consumers, subscribed before anything is published: each sees every event.
    let (checksum_rx, slow_rx) = (enriched_rx.clone(), enriched_rx.clone());

    let lags: [Lag; 5] = Default::default();
    let names = ["parse", "enrich", "counter", "checksum", "slow"];
    let parse = consume(raw_rx, &lags[0], parsed_tx, |parsed_tx, line: String| {
        let (id, value) = line.split_once(',').expect("id,value");
        parsed_tx.publish(Record {
            id: id.parse().expect("a number"),
            value: value.parse().expect("a number"),
        });
    });
    let enrich = consume(
        parsed_rx,
        &lags[1],
        enriched_tx,
        |enriched_tx, record: Record| {
            let bucket = match record.value % 3 {
                0 => "fizz",
                1 => "buzz",
                _ => "plain",
            };
            enriched_tx.publish(Enriched { record, bucket });
        },
    );
    let counter = consume(enriched_rx, &lags[2], 0u64, |count, _: Enriched| {
        *count += 1
    });
    let checksum = consume(checksum_rx, &lags[3], (0u64, 0u64), |sum, e: Enriched| {
        sum.0 = sum.0.wrapping_add(e.record.value);
        sum.1 += u64::from(e.bucket == "fizz");
    });
    let slow = consume(slow_rx, &lags[4], 0u64, |seen, e: Enriched| {
        assert_eq!(e.record.id, *seen, "in order, none lost");
        *seen += 1;
        if *seen % 1000 == 0 {
            thread::sleep(Duration::from_micros(200));
        }
    });

    // The source, with a progress line of each stage's lag.
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut expected_sum = 0u64;
    for id in 0..events {
        let value = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        expected_sum = expected_sum.wrapping_add(value);
        raw_tx.publish(format!("{id},{value}"));
        if last_report.elapsed() >= Duration::from_millis(250) {
            last_report = Instant::now();
            let stages: Vec<String> = names
                .iter()
                .zip(&lags)
                .map(|(name, lag)| format!("{name} {:>4}", lag.load(Ordering::Relaxed)))
                .collect();
            println!(
                "  {:>9} in; lag (of {CAPACITY}): {}",
                raw_tx.published(),
                stages.join(", ")
            );
        }
    }
    drop(raw_tx);
    drop(parse.join().expect("parse")); // its publisher: closes the parsed stream
    drop(enrich.join().expect("enrich"));
    let counted = counter.join().expect("counter");
    let (sum, fizz) = checksum.join().expect("checksum");
    let slow_seen = slow.join().expect("slow");
    let elapsed = started.elapsed();

    let fizz_expected = (0..events)
        .filter(|id| (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 3 == 0)
        .count() as u64;
    println!(
        "{events} lines through parse -> enrich -> 3 consumers in {:.1} ms ({:.2} M lines/s, \
         held back by the slow consumer)",
        elapsed.as_secs_f64() * 1e3,
        events as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!("  counter {counted}, checksum {sum:#x} ({fizz} fizz), slow consumer {slow_seen}");
    let ok =
        counted == events && slow_seen == events && sum == expected_sum && fizz == fizz_expected;
    if ok {
        println!("every consumer got every record, in order; nothing was dropped");
        ExitCode::SUCCESS
    } else {
        println!("MISMATCH: expected {events} records, checksum {expected_sum:#x}");
        ExitCode::FAILURE
    }
}
