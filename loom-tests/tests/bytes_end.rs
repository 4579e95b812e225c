#![cfg(loom)]
//! Protocol 15, the end of a byte stream: the writer records how the stream ended
//! (`End`: finished, aborted with a kind and message, or dropped unfinished) and only then
//! closes the event stream (dropping its publisher: protocol 3's `closed` store, fence,
//! wake of the tail's waiters). A reader blocked on the empty stream is woken by that
//! close, reads every byte published, then the end's outcome, the same on every later
//! call. A reader dropped while the writer waits for room wakes it (the core's leave
//! wake-up); with no `Block` reader left the write goes through. A `RangeWriter`'s far
//! write waiting for the window is woken by `abort` or `finish` (the `room` event), and
//! gets `BrokenPipe` or `InvalidInput`; aborting after the end, or twice, changes nothing.
//! A close that wakes nobody, a reader drop that does not wake the writer, or an end that
//! does not notify `room` shows as a loom deadlock; an end recorded wrongly fails the
//! readers' checks.
//!
//! Covers: F1 (lost wake-up), F2 (close while waiting), F3 (every byte, in order, then
//! the end).

use std::io::{self, BufRead, ErrorKind, Read, Write};

use loom::thread;
use loom_tests::{model, model_bounded};
use tailcast::bytes::{self, Bytes};

/// A stream of `max_bytes` 2 in 2-byte chunks.
fn tiny() -> (bytes::ByteWriter, bytes::ByteReader) {
    bytes::Builder::new()
        .max_bytes(2)
        .chunk_size(2)
        .build()
        .unwrap()
}

/// Reads with `read` until `Ok(0)` or an error: the bytes, and how it stopped.
fn read_until_end(reader: &mut bytes::ByteReader) -> (Vec<u8>, io::Result<()>) {
    let mut all = Vec::new();
    let mut buf = [0; 4];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return (all, Ok(())),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) => return (all, Err(e)),
        }
    }
}

/// (a) A reader blocked in `read` on the empty stream (before the chunk, or after it)
/// while the writer finishes: the chunk, then `Ok(0)`, and `Ok(0)` again.
#[test]
fn end_finish_wakes_blocked_reader() {
    model("end_finish_wakes_blocked_reader", "F1,F2,F3", 2, || {
        let (mut writer, mut reader) = tiny();
        let reading = thread::spawn(move || {
            let (all, end) = read_until_end(&mut reader);
            end.unwrap();
            assert_eq!(all, b"ab");
            assert_eq!(reader.read(&mut [0; 2]).unwrap(), 0, "the end is sticky");
            assert_eq!(reader.next_chunk().unwrap(), None);
        });
        writer.write_all(b"ab").unwrap(); // a whole chunk: published now
        writer.finish().unwrap();
        reading.join().unwrap();
    });
}

/// (b) A reader blocked in `next_chunk` while the writer aborts: the chunk published,
/// then an error of the abort's kind and message on this call and the next; the byte
/// still buffered by `write` is discarded.
#[test]
fn end_abort_wakes_blocked_reader() {
    model("end_abort_wakes_blocked_reader", "F1,F2,F3", 2, || {
        let (mut writer, mut reader) = tiny();
        let reading = thread::spawn(move || {
            assert_eq!(reader.next_chunk().unwrap().as_deref(), Some(&b"ab"[..]));
            for _ in 0..2 {
                let e = reader.next_chunk().unwrap_err();
                assert_eq!(e.kind(), ErrorKind::ConnectionReset);
                assert_eq!(e.to_string(), "upstream reset");
            }
        });
        writer.write_bytes(Bytes::from_static(b"ab")).unwrap();
        writer.write_all(b"c").unwrap(); // buffered: half a chunk
        writer.abort(io::Error::new(ErrorKind::ConnectionReset, "upstream reset"));
        reading.join().unwrap();
    });
}

/// (c) The writer dropped without `finish` while the reader reads: its second chunk
/// waits for room (the reader's first read makes it), its buffered byte is discarded,
/// and the reader, blocked in `fill_buf` / `read`, gets the 4 bytes published, then
/// `UnexpectedEof`, and again on the next call.
#[test]
fn end_drop_unfinished_wakes_blocked_reader() {
    model(
        "end_drop_unfinished_wakes_blocked_reader",
        "F1,F2,F3",
        2,
        || {
            let (mut writer, mut reader) = tiny();
            let reading = thread::spawn(move || {
                assert_eq!(reader.fill_buf().unwrap(), b"ab");
                reader.consume(2);
                let (all, end) = read_until_end(&mut reader);
                assert_eq!(all, b"cd");
                assert_eq!(end.unwrap_err().kind(), ErrorKind::UnexpectedEof);
                let again = reader.fill_buf().map(|b| b.len()).unwrap_err();
                assert_eq!(again.kind(), ErrorKind::UnexpectedEof);
            });
            writer.write_all(b"abcde").unwrap(); // "cd" waits for the reader's first read
            assert_eq!(writer.written(), 5);
            drop(writer);
            reading.join().unwrap();
        },
    );
}

/// (d) The writer blocked for room (the stream full: `max_bytes` = one chunk, unread)
/// while the only reader is dropped on another thread: the drop wakes it and, with no
/// reader left to wait for, the write goes through (`ByteReader`: "dropping a reader
/// frees what only it held at once, and wakes a writer waiting on it"). A reader made
/// afterwards starts at the live end and sees only the end.
#[test]
fn end_reader_drop_unblocks_writer() {
    model("end_reader_drop_unblocks_writer", "F1", 2, || {
        let (mut writer, reader) = tiny();
        writer.write_bytes(Bytes::from_static(b"ab")).unwrap(); // full
        let dropping = thread::spawn(move || drop(reader));
        writer.write_bytes(Bytes::from_static(b"cd")).unwrap();
        assert_eq!(writer.written(), 4);
        dropping.join().unwrap();
        let mut late = writer.reader();
        writer.finish().unwrap();
        assert_eq!(late.position(), 4);
        assert_eq!(late.read(&mut [0; 2]).unwrap(), 0);
    });
}

/// (e) A `RangeWriter` write ending past the window (`[2, 4)` with nothing published,
/// `max_bytes` 2) waits on `room` while another thread aborts: the abort wakes it and it
/// returns `BrokenPipe`. A second abort and a `finish` after it change nothing; the
/// reader gets the first abort's error, twice.
#[test]
fn end_range_abort_wakes_far_writer() {
    model("end_range_abort_wakes_far_writer", "F1,F2", 2, || {
        let (writer, mut reader) = bytes::channel(2);
        let ranges = writer.into_ranges();
        let far = ranges.clone();
        let far = thread::spawn(move || far.write_at(2, b"cd"));
        ranges.abort(io::Error::new(ErrorKind::TimedOut, "part 1 timed out"));
        ranges.abort(io::Error::new(ErrorKind::Other, "second abort"));
        assert_eq!(
            far.join().unwrap().unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        assert_eq!(ranges.finish(4).unwrap_err().kind(), ErrorKind::BrokenPipe);
        for _ in 0..2 {
            let e = reader.read(&mut [0; 2]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TimedOut);
            assert_eq!(e.to_string(), "part 1 timed out");
        }
    });
}

/// (e) The same far write while another thread calls `finish(2)`: `finish` notifies
/// `room` (the only wake-up: nothing else moves the prefix before the far write
/// returns), and the far write, now past the finished length, is `InvalidInput`. Then
/// the prefix completes, which ends the stream cleanly; an abort after that is harmless.
#[test]
fn end_range_finish_wakes_far_writer() {
    model("end_range_finish_wakes_far_writer", "F1,F2,F3", 2, || {
        let (writer, mut reader) = bytes::channel(2);
        let ranges = writer.into_ranges();
        let far = ranges.clone();
        let far = thread::spawn(move || far.write_at(2, b"cd"));
        ranges.finish(2).unwrap();
        assert_eq!(
            far.join().unwrap().unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        ranges.write_at(0, b"ab").unwrap();
        ranges.abort(io::Error::new(ErrorKind::Other, "after the end"));
        let (all, end) = read_until_end(&mut reader);
        end.unwrap();
        assert_eq!(all, b"ab");
        assert_eq!(reader.read(&mut [0; 2]).unwrap(), 0);
    });
}

/// Two readers blocked on the empty stream (clones, one on each other thread) while the
/// writer aborts: the close wakes both at once; each reads the chunk, then the abort's
/// error. Three threads, at 2 preemptions: at the 3-thread default of 1, loom never
/// reached both readers parked before the close (a close that wakes one waiter only,
/// mutant `end-wakes-one`, passed there; at 2 it deadlocks in execution 327). The chunk
/// is published before the readers start.
#[test]
fn end_abort_wakes_every_reader() {
    model_bounded("end_abort_wakes_every_reader", "F1,F2,F3", 3, 2, || {
        let (mut writer, first) = tiny();
        let second = first.clone();
        writer.write_bytes(Bytes::from_static(b"ab")).unwrap();
        let readers: Vec<_> = [first, second]
            .into_iter()
            .map(|mut reader| {
                thread::spawn(move || {
                    let (all, end) = read_until_end(&mut reader);
                    assert_eq!(all, b"ab");
                    assert_eq!(end.unwrap_err().kind(), ErrorKind::BrokenPipe);
                })
            })
            .collect();
        writer.abort(io::Error::new(ErrorKind::BrokenPipe, "sink gone"));
        for reader in readers {
            reader.join().unwrap();
        }
    });
}

/// A tee's source that fails after its first chunk.
struct FailsAfter(&'static [u8]);

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::new(
                ErrorKind::ConnectionAborted,
                "source failed",
            ));
        }
        let n = self.0.len().min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// A tee's end is an abort too: two readers of a source that fails after 2 bytes, either
/// leading; the one that reads the error ends the stream with it (the tee's writer
/// aborts), which must wake the other if it waits, and both get the 2 bytes, then the
/// source's kind and message, twice.
#[test]
fn end_tee_source_error_reaches_every_reader() {
    model(
        "end_tee_source_error_reaches_every_reader",
        "F1,F2,F3",
        2,
        || {
            let tee = bytes::tee(FailsAfter(b"ab"), 2);
            let (first, second) = (tee.reader(), tee.reader());
            let check = |mut reader: bytes::ByteReader| {
                let (all, end) = read_until_end(&mut reader);
                assert_eq!(all, b"ab");
                for e in [end.unwrap_err(), reader.read(&mut [0; 2]).unwrap_err()] {
                    assert_eq!(e.kind(), ErrorKind::ConnectionAborted);
                    assert_eq!(e.to_string(), "source failed");
                }
            };
            let other = thread::spawn(move || check(second));
            check(first);
            other.join().unwrap();
        },
    );
}
