//! `Subscriber::peek` / `try_peek` / `advance`: the next event without moving the cursor,
//! committed by `advance`; an uncommitted event counts against the capacity.

use tailcast::{Builder, Full, LagPolicy, RecvError, TryRecvError};

#[test]
fn peek_returns_the_same_event_until_advance() {
    let (mut tx, mut rx) = tailcast::channel(8);
    tx.publish_batch([10, 11, 12]);
    assert_eq!(*rx.peek().unwrap(), 10);
    assert_eq!(*rx.try_peek().unwrap(), 10);
    assert_eq!(rx.position(), 0);
    rx.advance();
    assert_eq!(rx.position(), 1);
    assert_eq!(*rx.peek().unwrap(), 11);
    rx.advance();
    assert_eq!(rx.recv(), Ok(12));
    assert_eq!(rx.try_peek().map(|r| *r), Err(TryRecvError::Empty));
}

#[test]
fn advance_without_a_peek_does_nothing() {
    let (mut tx, mut rx) = tailcast::channel(8);
    tx.publish_batch([1, 2]);
    rx.advance();
    assert_eq!(rx.position(), 0);
    // A receive after a peek consumes the event; the stale peek commits nothing.
    assert_eq!(*rx.peek().unwrap(), 1);
    assert_eq!(rx.recv(), Ok(1));
    rx.advance();
    assert_eq!(rx.recv(), Ok(2));
}

#[test]
fn an_uncommitted_event_counts_against_the_capacity() {
    let (mut tx, mut rx) = Builder::new().capacity(2).chunk_len(1).build().unwrap();
    tx.publish_batch([0, 1]);
    assert_eq!(*rx.peek().unwrap(), 0);
    assert_eq!(tx.try_publish(2), Err(Full(2)));
    rx.advance();
    assert_eq!(tx.try_publish(2), Ok(()));
    assert_eq!(tx.try_publish(3), Err(Full(3)));
}

#[test]
fn a_lag_between_peek_and_advance_is_reported_by_the_next_receive() {
    let (mut tx, mut rx) = Builder::new()
        .capacity(2)
        .chunk_len(1)
        .lag_policy(LagPolicy::Skip)
        .build()
        .unwrap();
    tx.publish(0);
    assert_eq!(*rx.peek().unwrap(), 0);
    tx.publish_batch(1..6);
    rx.advance(); // moved on meanwhile: nothing to commit
    assert_eq!(rx.recv(), Err(RecvError::Lagged(4)));
    assert_eq!(rx.recv(), Ok(4));
}

#[test]
fn peek_waits_and_ends_at_close() {
    let (mut tx, mut rx) = tailcast::channel::<u32>(4);
    let t = std::thread::spawn(move || {
        let first = *rx.peek().unwrap();
        rx.advance();
        (first, rx.peek().map(|r| *r))
    });
    tx.publish(9);
    drop(tx);
    assert_eq!(t.join().unwrap(), (9, Err(RecvError::Closed)));
}
