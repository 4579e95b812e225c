#![cfg(loom)]
//! Protocol 12, room in bytes (a weighted stream, the byte layer's): a chunk weighs its
//! length and the bound is on the weight published and not yet read by the slowest
//! `Block` cursor. The publisher turns the bound into the same `need` position the count
//! rule gives (`Weights::need`), so the wait is protocol 8's (store the position, fence,
//! check `publisher_parked`) with a need that depends on the next chunk's weight. A
//! reader takes a chunk at its first read of it. A need that ignores the next chunk's
//! weight lets the writer run past `max_bytes` (the check in the reader fails); a read
//! that does not wake the writer shows as a loom deadlock.
//!
//! Covers: F1 (lost wake-up of the writer), F6 (the bound, in bytes).

use std::io::{Read, Write};

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_tests::model;
use tailcast::bytes::{self, Bytes};

/// `max_bytes` 4, full with one 4-byte chunk; a reader on another thread reads it in two
/// reads of 2 and stops. The writer's next chunk (4 bytes) fits only once the reader has
/// taken the first (its first read), which must wake it; then the stream is exactly full
/// again.
#[test]
fn bytes_room_partial_reads_then_commit() {
    model("bytes_room_partial_reads_then_commit", "F1,F6", 2, || {
        let (mut writer, mut reader) = bytes::Builder::new()
            .max_bytes(4)
            .chunk_size(4)
            .build()
            .unwrap();
        writer.write_bytes(Bytes::from_static(b"abcd")).unwrap();
        let second_written = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&second_written);
        let reading = thread::spawn(move || {
            // Nothing taken yet: the next 4-byte chunk cannot have gone out.
            assert!(
                !seen.load(Ordering::SeqCst),
                "the writer ran past max_bytes"
            );
            let mut two = [0; 2];
            reader.read_exact(&mut two).unwrap();
            assert_eq!(&two, b"ab");
            reader.read_exact(&mut two).unwrap();
            assert_eq!(&two, b"cd");
            reader
        });
        writer.write_bytes(Bytes::from_static(b"efgh")).unwrap();
        second_written.store(true, Ordering::SeqCst);
        let mut reader = reading.join().unwrap();
        assert_eq!(writer.written(), 8);
        writer.finish().unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"efgh");
    });
}

/// Two readers, `max_bytes` 2, one 2-byte chunk: the writer's third byte waits for both
/// readers to take the chunk; either's read may be the one that makes room.
#[test]
fn bytes_room_two_readers() {
    model("bytes_room_two_readers", "F1,F6", 3, || {
        let (mut writer, first) = bytes::Builder::new()
            .max_bytes(2)
            .chunk_size(2)
            .build()
            .unwrap();
        let second = first.clone();
        writer.write_bytes(Bytes::from_static(b"ab")).unwrap();
        let readers: Vec<_> = [first, second]
            .into_iter()
            .map(|mut r| {
                thread::spawn(move || {
                    let mut one = [0; 1];
                    r.read_exact(&mut one).unwrap();
                    assert_eq!(&one, b"a");
                    r
                })
            })
            .collect();
        writer.write_bytes(Bytes::from_static(b"c")).unwrap();
        writer.finish().unwrap();
        for r in readers {
            let mut r = r.join().unwrap();
            let mut rest = Vec::new();
            r.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, b"bc");
        }
    });
}
