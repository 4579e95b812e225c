//! 1 publisher → N subscribers as *tasks* on a 2-worker tokio multi-thread runtime
//! (N = 1, 2, 4, 8), `u64` events, capacity 1024: tailcast `recv_async()` /
//! `publish_async()` vs tokio broadcast `recv().await` and async-broadcast. Every reader
//! verifies count + order-sensitive checksum; a mismatch panics the bench.
//!
//! ```text
//! cargo bench -p tailcast-benches --bench fanout_async
//! cargo bench -p tailcast-benches --bench fanout_async -- --quick
//! ```
//!
//! Throughput is published events per second (`Throughput::Elements(EVENTS)`); the runtime
//! is built once, each iteration spawns the publisher and the N readers as tasks and awaits
//! them.

use std::future::Future;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use tailcast_benches::{checksum, verify, Pacer};
use tokio::runtime::Runtime;

/// Events published per iteration.
const EVENTS: u64 = 100_000;
const CAPACITY: usize = 1024;
const SUBSCRIBERS: [usize; 4] = [1, 2, 4, 8];
const WORKERS: usize = 2;

/// Runs `publisher` and `readers` as tasks on `rt` and verifies every reader's tally.
fn run<P, R>(rt: &Runtime, system: &str, events: u64, publisher: P, readers: Vec<R>)
where
    P: Future<Output = ()> + Send + 'static,
    R: Future<Output = (u64, u64)> + Send + 'static,
{
    rt.block_on(async {
        let readers: Vec<_> = readers.into_iter().map(tokio::spawn).collect();
        tokio::spawn(publisher).await.unwrap();
        for r in readers {
            verify(system, r.await.unwrap(), events);
        }
    });
}

fn tailcast_async(rt: &Runtime, n: usize, events: u64) {
    let (mut tx, rx) = tailcast::channel::<u64>(CAPACITY);
    let readers = (0..n)
        .map(|_| {
            let mut rx = rx.clone();
            async move {
                let (mut count, mut acc) = (0, 0);
                while let Ok(v) = rx.recv_async().await {
                    acc = checksum(acc, v);
                    count += 1;
                }
                (count, acc)
            }
        })
        .collect();
    drop(rx);
    let publisher = async move {
        for i in 0..events {
            tx.publish_async(i).await;
        }
    };
    run(rt, "tailcast/recv_async", events, publisher, readers);
}

fn tokio_broadcast(rt: &Runtime, n: usize, events: u64) {
    let (tx, rx) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
    let readers = (0..n)
        .map(|_| {
            let mut rx = rx.resubscribe();
            async move {
                // A `Lagged` ends the loop early and fails the count check.
                let (mut count, mut acc) = (0, 0);
                while let Ok(v) = rx.recv().await {
                    acc = checksum(acc, v);
                    count += 1;
                }
                (count, acc)
            }
        })
        .collect();
    drop(rx);
    let publisher = async move {
        // No backpressure in tokio's broadcast: pace on the receivers' progress so they
        // never lag (see `Pacer`).
        let mut pacer = Pacer::new(CAPACITY);
        for i in 0..events {
            while !pacer.try_take(|| tx.len()) {
                tokio::task::yield_now().await;
            }
            tx.send(i).unwrap();
        }
    };
    run(rt, "tokio-broadcast/recv", events, publisher, readers);
}

fn async_broadcast(rt: &Runtime, n: usize, events: u64) {
    let (tx, rx) = async_broadcast::broadcast::<u64>(CAPACITY);
    let readers = (0..n)
        .map(|_| {
            let mut rx = rx.clone();
            async move {
                let (mut count, mut acc) = (0, 0);
                // `recv_direct`/`broadcast_direct`: the unboxed futures (`recv`/`broadcast`
                // box one per call).
                while let Ok(v) = rx.recv_direct().await {
                    acc = checksum(acc, v);
                    count += 1;
                }
                (count, acc)
            }
        })
        .collect();
    drop(rx);
    let publisher = async move {
        for i in 0..events {
            tx.broadcast_direct(i).await.unwrap();
        }
    };
    run(rt, "async-broadcast/recv", events, publisher, readers);
}

type Run = fn(&Runtime, usize, u64);

const SYSTEMS: [(&str, Run); 3] = [
    ("tailcast/recv_async", tailcast_async),
    ("tokio-broadcast/recv", tokio_broadcast),
    ("async-broadcast/recv", async_broadcast),
];

fn fanout_async(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("fanout_async");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(EVENTS));
    for n in SUBSCRIBERS {
        for (name, f) in SYSTEMS {
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter(|| f(&rt, n, EVENTS))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, fanout_async);
criterion_main!(benches);
