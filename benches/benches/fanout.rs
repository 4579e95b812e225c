//! 1 publisher → N subscribers on OS threads, `u64` events, every subscriber verifying
//! count and an order-sensitive checksum. Peers join in the performance issue.

use std::thread;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const EVENTS: u64 = 100_000;

fn checksum(acc: u64, v: u64) -> u64 {
    acc.wrapping_mul(31).wrapping_add(v)
}

fn tailcast_fanout(subscribers: usize) {
    let (mut tx, rx) = tailcast::channel::<u64>(1024);
    let expected = (0..EVENTS).fold(0, checksum);
    let handles: Vec<_> = (0..subscribers)
        .map(|_| {
            let mut rx = rx.clone();
            thread::spawn(move || {
                let mut acc = 0;
                let mut n = 0;
                while let Ok(v) = rx.recv() {
                    acc = checksum(acc, v);
                    n += 1;
                }
                assert_eq!(
                    (n, acc),
                    (EVENTS, expected),
                    "lost, duplicated or reordered"
                );
            })
        })
        .collect();
    drop(rx);
    for i in 0..EVENTS {
        tx.publish(i);
    }
    drop(tx);
    for h in handles {
        h.join().unwrap();
    }
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    group.sample_size(10);
    for n in [1usize, 2, 4, 8] {
        group.throughput(Throughput::Elements(EVENTS * n as u64));
        group.bench_with_input(BenchmarkId::new("tailcast/recv", n), &n, |b, &n| {
            b.iter(|| tailcast_fanout(n))
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
