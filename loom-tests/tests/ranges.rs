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
