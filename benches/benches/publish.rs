//! The cost of one publish, single-threaded: with no subscriber, and with 4 subscribers
//! that are attached but idle (never read, never wait), so the publisher never blocks.
//!
//! ```text
//! cargo bench -p tailcast-benches --bench publish
//! cargo bench -p tailcast-benches --bench publish -- --quick
//! ```
//!
//! - tailcast: `publish` with 0 subscribers; with 4 idle `LagPolicy::Skip` subscribers (the
//!   publisher moves them on every `capacity` events: that scan is part of the cost); the
//!   same through `publish_batch` (one wake-up check per node), per event.
//! - tokio broadcast: `send` with 4 idle receivers (it overwrites the oldest slot); with 0
//!   receivers `send` returns `Err` at once (measured anyway: it is what a publisher pays).
//! - async-broadcast: `try_broadcast` in overflow mode with 4 idle receivers (pops the
//!   oldest message when full); with 0 active receivers (an inactive one keeps the channel
//!   open) it returns `Err(Inactive)`.
//! - bus: `broadcast` with 0 readers (with idle readers it would block once full).
//!
//! Events are `u64`; capacity 1024 everywhere. Each iteration is one publish of one event;
//! the batch rows report per event.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tailcast::LagPolicy;

const CAPACITY: usize = 1024;
const IDLE: usize = 4;
const BATCH: u64 = 64;

fn tailcast_publish(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    for subs in [0, IDLE] {
        let (mut tx, rx) = tailcast::channel::<u64>(CAPACITY);
        drop(rx);
        let idle: Vec<_> = (0..subs)
            .map(|_| tx.subscribe_with(LagPolicy::Skip))
            .collect();
        let mut i = 0u64;
        c.throughput(Throughput::Elements(1));
        c.bench_function(BenchmarkId::new("tailcast/publish", subs), |b| {
            b.iter(|| {
                i += 1;
                tx.publish(black_box(i));
            })
        });
        c.throughput(Throughput::Elements(BATCH));
        c.bench_function(
            BenchmarkId::new(format!("tailcast/publish_batch({BATCH})"), subs),
            |b| {
                b.iter(|| {
                    i += BATCH;
                    tx.publish_batch(black_box(i - BATCH..i));
                })
            },
        );
        // Idle, but attached all along (and Skip, so they never held the publisher back).
        assert_eq!(tx.subscriber_count(), subs);
        drop(idle);
    }
}

fn tokio_send(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    c.throughput(Throughput::Elements(1));
    for subs in [0, IDLE] {
        let (tx, rx) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
        drop(rx);
        let idle: Vec<_> = (0..subs).map(|_| tx.subscribe()).collect();
        let mut i = 0u64;
        c.bench_function(BenchmarkId::new("tokio-broadcast/send", subs), |b| {
            b.iter(|| {
                i += 1;
                // Err(SendError) with no receivers; Ok(receiver count) otherwise.
                let _ = black_box(tx.send(black_box(i)));
            })
        });
        assert_eq!(tx.receiver_count(), subs);
        drop(idle);
    }
}

fn async_broadcast_try(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    c.throughput(Throughput::Elements(1));
    for subs in [0, IDLE] {
        let (mut tx, rx) = async_broadcast::broadcast::<u64>(CAPACITY);
        tx.set_overflow(true);
        // With no active receiver, an inactive one keeps the channel open.
        let _inactive = rx.clone().deactivate();
        drop(rx);
        let idle: Vec<_> = (0..subs).map(|_| tx.new_receiver()).collect();
        let mut i = 0u64;
        c.bench_function(
            BenchmarkId::new("async-broadcast/try_broadcast(overflow)", subs),
            |b| {
                b.iter(|| {
                    i += 1;
                    // Err(Inactive) with no active receiver; Ok(popped oldest) otherwise.
                    let _ = black_box(tx.try_broadcast(black_box(i)));
                })
            },
        );
        assert_eq!(tx.receiver_count(), subs);
        drop(idle);
    }
}

fn bus_broadcast(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    c.throughput(Throughput::Elements(1));
    let mut bus = bus::Bus::<u64>::new(CAPACITY);
    let mut i = 0u64;
    c.bench_function(BenchmarkId::new("bus/broadcast", 0), |b| {
        b.iter(|| {
            i += 1;
            bus.broadcast(black_box(i));
        })
    });
}

fn publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    tailcast_publish(&mut group);
    tokio_send(&mut group);
    async_broadcast_try(&mut group);
    bus_broadcast(&mut group);
    group.finish();
}

criterion_group!(benches, publish);
criterion_main!(benches);
