//! Smoke tests of the core semantics (sequence, Skip lag count, Disconnect eviction).
use tailcast::*;

#[test]
fn sequence_and_close() {
    let (mut tx, mut rx) = Builder::new()
        .capacity(8)
        .chunk_len(2)
        .build::<u64>()
        .unwrap();
    let mut rx2 = rx.clone();
    let h = std::thread::spawn(move || {
        let mut v = Vec::new();
        while let Ok(x) = rx2.recv() {
            v.push(x)
        }
        v
    });
    let h1 = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(x) = rx.recv() {
            got.push(x)
        }
        got
    });
    let n = if cfg!(miri) { 100 } else { 1000 };
    for i in 0..n {
        tx.publish(i)
    }
    drop(tx);
    assert_eq!(h1.join().unwrap(), (0..n).collect::<Vec<_>>());
    assert_eq!(h.join().unwrap(), (0..n).collect::<Vec<_>>());
}

#[test]
fn skip_lag() {
    let (mut tx, rx) = Builder::new()
        .capacity(4)
        .chunk_len(2)
        .lag_policy(LagPolicy::Skip)
        .build::<u64>()
        .unwrap();
    let mut rx = rx;
    for i in 0..10 {
        tx.publish(i)
    }
    assert_eq!(rx.recv(), Err(RecvError::Lagged(6)));
    assert_eq!(rx.recv(), Ok(6));
}

#[test]
fn disconnect() {
    let (mut tx, mut rx) = Builder::new()
        .capacity(4)
        .chunk_len(2)
        .lag_policy(LagPolicy::Disconnect)
        .build::<u64>()
        .unwrap();
    for i in 0..10 {
        tx.publish(i)
    }
    assert_eq!(tx.subscriber_count(), 0);
    assert_eq!(rx.recv(), Err(RecvError::Evicted));
    assert_eq!(rx.recv(), Err(RecvError::Closed));
}
