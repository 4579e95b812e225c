#![cfg(loom)]
//! Protocol 14, the range window: a `RangeWriter` write that ends more than `max_bytes`
//! past the published prefix registers a listener on the writer's `room` event, re-checks
//! the prefix under the state lock, and waits; the write that moves the prefix notifies
//! `room`. A prefix move without the notify, or a waiter that does not re-check after
//! registering, leaves the far write waiting forever: a loom deadlock.
//!
//! Covers: F1 (lost wake-up), F3 (the bytes in order).

use std::io::Read;

use loom::thread;
use loom_tests::model;
use tailcast::bytes;

/// `max_bytes` 4: one thread writes `[4, 6)` (it must wait for the prefix), another
/// writes `[0, 4)`; the reader reads all 6 bytes in order.
#[test]
fn ranges_far_write_waits_for_the_prefix() {
    model("ranges_far_write_waits_for_the_prefix", "F1,F3", 3, || {
        let (writer, mut reader) = bytes::channel(4);
        let ranges = writer.into_ranges();
        let (far, near) = (ranges.clone(), ranges.clone());
        let far = thread::spawn(move || far.write_at(4, b"ef").unwrap());
        let near = thread::spawn(move || near.write_at(0, b"abcd").unwrap());
        let mut six = [0; 6];
        reader.read_exact(&mut six).unwrap();
        assert_eq!(&six, b"abcdef");
        far.join().unwrap();
        near.join().unwrap();
        ranges.finish(6).unwrap();
        assert_eq!(reader.read(&mut six).unwrap(), 0);
    });
}

/// `max_bytes` 2, full with `ab`: a write at 2 completes the prefix but its chunk must
/// wait for room, which it does with the state lock released (staged in the writer, its
/// wait registered through the `RangeWriter`'s waker, which notifies `room`). The
/// reader's read of `ab` makes the room: its wake-up must reach the waiting write (the
/// waker notifies `room`; the write tries again after registering its listener), which
/// then publishes `cd`; meanwhile `published` answers without waiting.
#[test]
fn ranges_prefix_waits_for_room_unlocked() {
    model("ranges_prefix_waits_for_room_unlocked", "F1,F3", 2, || {
        let (writer, mut reader) = bytes::channel(2);
        let ranges = writer.into_ranges();
        ranges.write_at(0, b"ab").unwrap();
        let waiting = {
            let ranges = ranges.clone();
            thread::spawn(move || ranges.write_at(2, b"cd").unwrap())
        };
        assert!(ranges.published() >= 2);
        let mut four = [0; 4];
        reader.read_exact(&mut four).unwrap();
        assert_eq!(&four, b"abcd");
        waiting.join().unwrap();
        ranges.finish(4).unwrap();
        assert_eq!(reader.read(&mut four).unwrap(), 0);
    });
}
