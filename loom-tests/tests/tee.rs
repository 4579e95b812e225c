#![cfg(loom)]
//! Protocol 13, tee leadership: a tee has no pump thread; a reader that finds the stream
//! empty takes the source's lock (`try_lock`), reads one chunk, publishes it, releases
//! the lock and notifies the tee's event; a reader that finds the lock taken registers a
//! listener on that event, re-checks the stream and the lock, then waits. A leader that
//! does not notify after releasing, or a waiter that does not re-check after registering,
//! leaves a reader waiting for a chunk nobody will read: a loom deadlock.
//!
//! Covers: F1 (lost wake-up), F3 (every byte delivered to every reader, in order).

use std::io::Read;

use loom::thread;
use loom_tests::{model, model_bounded};
use tailcast::bytes;

/// Two readers of a 3-byte source read in 2-byte chunks (`max_bytes` 2): each reads the
/// whole source; either may lead for either chunk, and the end.
#[test]
fn tee_two_readers_share_the_source() {
    model("tee_two_readers_share_the_source", "F1,F3", 2, || {
        let tee = bytes::tee(&b"abc"[..], 2);
        let (mut first, mut second) = (tee.reader(), tee.reader());
        let other = thread::spawn(move || {
            let mut all = Vec::new();
            second.read_to_end(&mut all).unwrap();
            all
        });
        let mut all = Vec::new();
        first.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abc");
        assert_eq!(other.join().unwrap(), b"abc");
    });
}

/// The same, with the second reader stopping after the first chunk (dropped): the first
/// must lead the rest itself. A waiter that does not try the election again after
/// registering can sleep forever here, once the second reader's brief leadership (it found
/// a chunk already published and released at once, publishing nothing) ended before the
/// waiter registered: three preemptions (the election lost, the release, the
/// registration), so this model runs at 3.
#[test]
fn tee_reader_stops_after_one_chunk() {
    model_bounded("tee_reader_stops_after_one_chunk", "F1,F3", 2, 3, || {
        let tee = bytes::tee(&b"abc"[..], 2);
        let (mut first, mut second) = (tee.reader(), tee.reader());
        let other = thread::spawn(move || {
            let mut two = [0; 2];
            second.read_exact(&mut two).unwrap();
            two
        });
        let mut all = Vec::new();
        first.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abc");
        assert_eq!(&other.join().unwrap(), b"ab");
    });
}
