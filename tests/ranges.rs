//! `RangeWriter`: writes in any order from any thread, the in-order prefix published as it
//! completes, the window bound, conflicting overlaps, finish and abort.

mod common;

use std::io::{self, Read};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{scaled, Rng};
use tailcast::bytes;

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| (i * 31 + i / 97) as u8).collect()
}

#[test]
fn two_byte_writes_at_8_0_6_2_4_read_in_order() {
    let (writer, mut reader) = bytes::channel(64);
    let ranges = writer.into_ranges();
    let data = b"0123456789";
    for at in [8usize, 0, 6, 2, 4] {
        ranges.write_at(at as u64, &data[at..at + 2]).unwrap();
    }
    ranges.finish(10).unwrap();
    let mut all = Vec::new();
    reader.read_to_end(&mut all).unwrap();
    assert_eq!(all, data);
}

#[test]
fn the_prefix_is_published_as_soon_as_it_is_complete() {
    let (writer, mut reader) = bytes::channel(64);
    let ranges = writer.into_ranges();
    ranges.write_at(4, b"4567").unwrap();
    assert_eq!(ranges.published(), 0);
    ranges.write_at(0, b"0123").unwrap();
    assert_eq!(ranges.published(), 8);
    let mut eight = [0; 8];
    reader.read_exact(&mut eight).unwrap();
    assert_eq!(&eight, b"01234567");
}

#[test]
fn rewriting_the_same_bytes_is_fine_a_conflict_is_invalid_data() {
    let (writer, _reader) = bytes::channel(64);
    let ranges = writer.into_ranges();
    ranges.write_at(10, b"abcdef").unwrap();
    ranges.write_at(12, b"cd").unwrap();
    ranges.write_at(8, b"xxabc").unwrap(); // agrees on 10..13, adds 8..10
    let err = ranges.write_at(11, b"bX").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("11..13"), "{err}");
}

#[test]
fn a_write_past_the_window_waits_for_the_prefix() {
    let (writer, mut reader) = bytes::channel(8);
    let ranges = writer.into_ranges();
    let far = ranges.clone();
    let (tx, rx) = mpsc::channel();
    let waiting = thread::spawn(move || {
        far.write_at(8, b"89ab").unwrap(); // ends 12 > 0 + 8: waits
        tx.send(()).unwrap();
    });
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    ranges.write_at(0, b"01234567").unwrap();
    // The prefix is at 8 now: the far write fits. (The reader must take the first
    // chunk for the stream's own bound to let the second one out.)
    let mut eight = [0; 8];
    reader.read_exact(&mut eight).unwrap();
    rx.recv().unwrap();
    waiting.join().unwrap();
    ranges.finish(12).unwrap();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"89ab");
}

#[test]
fn finish_rejects_writes_past_len_and_ends_once_complete() {
    let (writer, mut reader) = bytes::channel(64);
    let ranges = writer.into_ranges();
    ranges.write_at(3, b"345").unwrap();
    let err = ranges.finish(4).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    ranges.finish(6).unwrap();
    let err = ranges.write_at(5, b"56").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    ranges.write_at(0, b"012").unwrap(); // completes [0, 6): the stream ends
    let mut all = Vec::new();
    reader.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"012345");
    // A late retry of published bytes is harmless once complete; past the end is not.
    ranges.write_at(0, b"0").unwrap();
    ranges.write_at(4, b"45").unwrap();
    let err = ranges.write_at(5, b"56").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let mut late = ranges.reader();
    assert_eq!(late.read(&mut [0; 4]).unwrap(), 0);
}

#[test]
fn abort_reaches_readers_and_is_harmless_twice() {
    let (writer, mut reader) = bytes::channel(64);
    let ranges = writer.into_ranges();
    ranges.write_at(0, b"ab").unwrap();
    ranges.write_at(5, b"zz").unwrap();
    ranges.abort(io::Error::new(
        io::ErrorKind::TimedOut,
        "range fetch timed out",
    ));
    ranges.abort(io::Error::other("again"));
    // Aborted: even a rewrite of published bytes is too late.
    let err = ranges.write_at(0, b"ab").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    let mut all = Vec::new();
    let err = reader.read_to_end(&mut all).unwrap_err();
    assert_eq!(all, b"ab");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(err.to_string(), "range fetch timed out");
}

#[test]
fn dropping_every_range_writer_unfinished_is_unexpected_eof() {
    let (writer, mut reader) = bytes::channel(64);
    let ranges = writer.into_ranges();
    ranges.write_at(0, b"abc").unwrap();
    drop(ranges);
    let mut all = Vec::new();
    let err = reader.read_to_end(&mut all).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(all, b"abc");
}

#[test]
fn threads_write_ranges_in_random_order_while_a_reader_streams() {
    let len = scaled(20_000, 4 << 20) as usize;
    let data = pattern(len);
    let (writer, mut reader) = bytes::Builder::new().max_bytes(64 << 10).build().unwrap();
    let ranges = writer.into_ranges();
    // Ranges of random sizes, dealt to 4 threads in a shuffled order, with overlaps.
    let mut rng = Rng::new(13);
    let mut cuts = Vec::new();
    let mut at = 0;
    while at < len {
        let n = (1 + rng.below(3000) as usize).min(len - at);
        let back = (rng.below(50) as usize).min(at); // overlap the previous range a bit
        cuts.push((at - back, at + n));
        at += n;
    }
    for i in (1..cuts.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        // Shuffle within a window, so no thread waits on a range another has not reached.
        if i - j < 16 {
            cuts.swap(i, j);
        }
    }
    let reading = thread::spawn(move || {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).map(|_| all)
    });
    thread::scope(|s| {
        for t in 0..4 {
            let (ranges, cuts, data) = (ranges.clone(), &cuts, &data);
            s.spawn(move || {
                for &(from, to) in cuts.iter().skip(t).step_by(4) {
                    ranges.write_at(from as u64, &data[from..to]).unwrap();
                }
            });
        }
    });
    ranges.finish(len as u64).unwrap();
    assert!(reading.join().unwrap().unwrap() == data);
}

#[test]
fn range_writers_cross_threads() {
    fn all<T: Clone + Send + Sync>() {}
    all::<bytes::RangeWriter>();
}

/// A write whose prefix waits for room (the only reader is not reading) holds nothing
/// else back: `published` and `reader` answer and `abort` returns while it waits (it used
/// to hold the state lock through the wait, so these waited for the reader); the waiting
/// write then fails with `BrokenPipe`, and the reader gets the data, then the abort.
#[test]
fn calls_do_not_wait_behind_a_write_waiting_for_room() {
    let (writer, mut reader) = bytes::channel(2);
    let ranges = writer.into_ranges();
    ranges.write_at(0, b"ab").unwrap(); // the stream is full
    let waiting = {
        let ranges = ranges.clone();
        thread::spawn(move || ranges.write_at(2, b"cd"))
    };
    let (done, aborted) = mpsc::channel();
    let aborter = thread::spawn(move || {
        // Handed over (its chunk waits for room): the prefix covers it.
        while ranges.published() < 4 {
            thread::yield_now();
        }
        let late = ranges.reader();
        ranges.abort(io::Error::new(io::ErrorKind::TimedOut, "gave up"));
        done.send(late.position()).unwrap();
    });
    // A failure here, not a hang: the reader that would free the room is this thread.
    let late_at = aborted
        .recv_timeout(Duration::from_secs(60))
        .expect("published, reader or abort waited for the reader");
    assert_eq!(late_at, 2, "a new reader starts at what was published");
    aborter.join().unwrap();
    let err = waiting.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    let mut all = Vec::new();
    let err = reader.read_to_end(&mut all).unwrap_err();
    assert_eq!(all, b"ab");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}
