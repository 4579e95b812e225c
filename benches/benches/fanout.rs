//! 1 publisher → N subscribers on OS threads, `u64` events, capacity 1024, side by side
//! with peers. Every subscriber verifies the count and an order-sensitive checksum; a lost,
//! duplicated or reordered event fails the bench loudly.
//!
//! `cargo bench -p tailcast-benches --bench fanout`

use std::thread;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const EVENTS: u64 = 100_000;
const CAPACITY: usize = 1024;

fn checksum(acc: u64, v: u64) -> u64 {
    acc.wrapping_mul(31).wrapping_add(v)
}

fn expected() -> (u64, u64) {
    (EVENTS, (0..EVENTS).fold(0, checksum))
}

/// Makes `subscribers` readers from `source`, drops `source` (so an unread original
/// subscriber cannot hold the publisher back), runs the readers on threads, then
/// `publish` (which must drop its sender to close the stream), and checks every reader's
/// (count, checksum).
fn run<S, R: FnOnce() -> (u64, u64) + Send + 'static>(
    subscribers: usize,
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
        assert_eq!(
            r.join().unwrap(),
            expected(),
            "lost, duplicated or reordered"
        );
    }
}

fn tailcast_recv(n: usize) {
    let (mut tx, rx) = tailcast::channel::<u64>(CAPACITY);
    run(
        n,
        rx,
        |rx| {
            let mut rx = rx.clone();
            move || {
                let (mut count, mut acc) = (0, 0);
                while let Ok(v) = rx.recv() {
                    acc = checksum(acc, v);
                    count += 1;
                }
                (count, acc)
            }
        },
        move || {
            for i in 0..EVENTS {
                tx.publish(i);
            }
        },
    );
}

fn tailcast_batch(n: usize) {
    let (mut tx, rx) = tailcast::channel::<u64>(CAPACITY);
    run(
        n,
        rx,
        |rx| {
            let mut rx = rx.clone();
            move || {
                let (mut count, mut acc) = (0, 0);
                while let Ok(batch) = rx.recv_batch(usize::MAX) {
                    for &v in batch.iter() {
                        acc = checksum(acc, v);
                        count += 1;
                    }
                }
                (count, acc)
            }
        },
        move || {
            for i in 0..EVENTS {
                tx.publish(i);
            }
        },
    );
}

fn tokio_broadcast(n: usize) {
    let (tx, rx) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
    run(
        n,
        rx,
        |rx| {
            let mut rx = rx.resubscribe();
            move || {
                let (mut count, mut acc) = (0, 0);
                while let Ok(v) = rx.blocking_recv() {
                    acc = checksum(acc, v);
                    count += 1;
                }
                (count, acc)
            }
        },
        move || {
            // tokio's broadcast has no backpressure: the publisher must not overrun the
            // ring, or receivers lag. Pace it on the receivers' progress.
            for i in 0..EVENTS {
                while tx.len() >= CAPACITY {
                    thread::yield_now();
                }
                tx.send(i).unwrap();
            }
        },
    );
}

fn crossbeam_fanout(n: usize) {
    let channels: Vec<_> = (0..n)
        .map(|_| crossbeam_channel::bounded::<u64>(CAPACITY))
        .collect();
    let mut receivers: Vec<_> = channels.iter().map(|(_, r)| r.clone()).collect();
    let senders: Vec<_> = channels.into_iter().map(|(s, _)| s).collect();
    run(
        n,
        (),
        |_| {
            let rx = receivers.pop().unwrap();
            move || {
                let (mut count, mut acc) = (0, 0);
                while let Ok(v) = rx.recv() {
                    acc = checksum(acc, v);
                    count += 1;
                }
                (count, acc)
            }
        },
        move || {
            for i in 0..EVENTS {
                for s in &senders {
                    s.send(i).unwrap();
                }
            }
        },
    );
}

fn bus_fanout(n: usize) {
    let mut bus = bus::Bus::<u64>::new(CAPACITY);
    let mut readers: Vec<_> = (0..n).map(|_| bus.add_rx()).collect();
    run(
        n,
        (),
        |_| {
            let mut rx = readers.pop().unwrap();
            move || {
                let (mut count, mut acc) = (0, 0);
                while let Ok(v) = rx.recv() {
                    acc = checksum(acc, v);
                    count += 1;
                }
                (count, acc)
            }
        },
        move || {
            for i in 0..EVENTS {
                bus.broadcast(i);
            }
        },
    );
}

fn async_broadcast_blocking(n: usize) {
    let (tx, rx) = async_broadcast::broadcast::<u64>(CAPACITY);
    run(
        n,
        rx,
        |rx| {
            let mut rx = rx.clone();
            move || {
                let (mut count, mut acc) = (0, 0);
                while let Ok(v) = rx.recv_blocking() {
                    acc = checksum(acc, v);
                    count += 1;
                }
                (count, acc)
            }
        },
        move || {
            for i in 0..EVENTS {
                tx.broadcast_blocking(i).unwrap();
            }
        },
    );
}

/// One system's run with N subscribers.
type Run = fn(usize);

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    group.sample_size(10);
    let systems: [(&str, Run); 6] = [
        ("tailcast/recv", tailcast_recv),
        ("tailcast/recv_batch", tailcast_batch),
        ("tokio-broadcast/blocking_recv", tokio_broadcast),
        ("async-broadcast/recv_blocking", async_broadcast_blocking),
        ("bus/recv", bus_fanout),
        ("crossbeam-channel/per-subscriber", crossbeam_fanout),
    ];
    for n in [1usize, 2, 4, 8] {
        group.throughput(Throughput::Elements(EVENTS * n as u64));
        for (name, f) in systems {
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| b.iter(|| f(n)));
        }
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
