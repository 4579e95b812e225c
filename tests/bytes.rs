//! The byte layer: io::Read/BufRead fan-out of `Bytes` chunks, the room bound in bytes,
//! how a stream ends (finish, abort, a dropped writer), and the lag policies in bytes.
// Under panic = "abort" (ci/panic-abort.sh) the tests that need unwinding are gated off.

mod common;

use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{scaled, Rng};
use tailcast::bytes::{self, ByteReader, Bytes, Evicted, Lagged};
use tailcast::LagPolicy;

/// The byte at offset `i` of the test streams.
fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn pattern(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(byte_at).collect()
}

/// An order-sensitive checksum (FNV-1a).
fn fnv(data: &[u8], mut h: u64) -> u64 {
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

const FNV0: u64 = 0xcbf2_9ce4_8422_2325;

fn read_all_with(reader: &mut ByteReader, buf_len: usize) -> io::Result<(u64, u64)> {
    let mut buf = vec![0; buf_len];
    let (mut n, mut h) = (0u64, FNV0);
    loop {
        match reader.read(&mut buf)? {
            0 => return Ok((n, h)),
            k => {
                h = fnv(&buf[..k], h);
                n += k as u64;
            }
        }
    }
}

#[test]
fn a_read_returns_one_chunk_at_most_and_eof_stays() {
    let (mut writer, mut reader) = bytes::Builder::new().chunk_size(4).build().unwrap();
    writer.write_all(b"0123456789").unwrap();
    writer.finish().unwrap();
    let mut buf = [0; 64];
    let mut reads = Vec::new();
    loop {
        let n = reader.read(&mut buf).unwrap();
        reads.push(buf[..n].to_vec());
        if n == 0 {
            break;
        }
    }
    assert_eq!(reads, [&b"0123"[..], b"4567", b"89", b""]);
    for _ in 0..3 {
        assert_eq!(reader.read(&mut buf).unwrap(), 0, "EOF stays");
    }
    assert_eq!(reader.position(), 10);
}

#[test]
fn an_empty_stream_is_eof_at_once() {
    let (writer, mut reader) = bytes::channel(16);
    writer.finish().unwrap();
    assert_eq!(reader.read(&mut [0; 8]).unwrap(), 0);
    assert_eq!(reader.next_chunk().unwrap(), None);
}

#[test]
fn sixteen_readers_with_different_buffers_read_the_same_stream() {
    let total = scaled(8 << 10, 16 << 20) as usize;
    let expect = fnv(&pattern(0, total), FNV0);
    let readers_n = scaled(3, 16) as usize;
    for (max_bytes, chunk) in [(1 << 20, 64 << 10), (64 << 10, 64 << 10), (4096, 4096)] {
        let (mut writer, first) = bytes::Builder::new()
            .max_bytes(max_bytes)
            .chunk_size(chunk)
            .build()
            .unwrap();
        let mut readers: Vec<ByteReader> = (1..readers_n).map(|_| first.clone()).collect();
        readers.push(first);
        let handles: Vec<_> = readers
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| thread::spawn(move || read_all_with(&mut r, 1 + i * 997)))
            .collect();
        let mut rng = Rng::new(7);
        let mut at = 0;
        while at < total {
            let n = (1 + rng.below(20_000) as usize).min(total - at);
            writer.write_all(&pattern(at as u64, n)).unwrap();
            at += n;
        }
        writer.finish().unwrap();
        for h in handles {
            assert_eq!(h.join().unwrap().unwrap(), (total as u64, expect));
        }
    }
}

#[test]
fn unread_bytes_stay_within_max_bytes_and_one_chunk() {
    let max_bytes = 1000;
    let total = scaled(20_000, 400_000);
    let (mut writer, mut reader) = bytes::Builder::new()
        .max_bytes(max_bytes)
        .chunk_size(100)
        .build()
        .unwrap();
    let published = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&published);
    let checker = thread::spawn(move || {
        let mut rng = Rng::new(3);
        let mut buf = vec![0; 333];
        let mut worst = 0;
        loop {
            // Everything the writer reports published is at most `max_bytes` ahead of what
            // this reader took, plus the rest of the chunk it is in (chunks up to 700).
            let ahead = seen
                .load(Ordering::Acquire)
                .saturating_sub(reader.position());
            worst = worst.max(ahead);
            assert!(ahead < max_bytes as u64 + 700, "{ahead} bytes unread");
            let want = 1 + rng.below(buf.len() as u64) as usize;
            if reader.read(&mut buf[..want]).unwrap() == 0 {
                return worst;
            }
        }
    });
    let mut rng = Rng::new(5);
    let mut at = 0;
    while at < total {
        let n = (1 + rng.below(700)).min(total - at);
        writer
            .write_bytes(Bytes::from(pattern(at, n as usize)))
            .unwrap();
        at += n;
        published.store(at, Ordering::Release);
    }
    writer.finish().unwrap();
    let worst = checker.join().unwrap();
    assert!(worst > 0);
}

#[test]
fn a_write_waits_for_the_read_that_takes_a_chunk() {
    let (mut writer, mut reader) = bytes::Builder::new()
        .max_bytes(10)
        .chunk_size(10)
        .build()
        .unwrap();
    writer
        .write_bytes(Bytes::from_static(b"0123456789"))
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let blocked = thread::spawn(move || {
        writer.write_bytes(Bytes::from_static(b"x")).unwrap();
        tx.send(()).unwrap();
        writer.finish()
    });
    // Nothing taken: the stream is full.
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    let mut buf = [0; 4];
    assert_eq!(reader.read(&mut buf).unwrap(), 4);
    // The first read took the chunk: its room is free, the write goes through while six
    // of its bytes are still unread.
    rx.recv().unwrap();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"456789x");
    blocked.join().unwrap().unwrap();
}

#[test]
fn a_chunk_larger_than_max_bytes_is_split_not_a_hang() {
    let (mut writer, mut reader) = bytes::Builder::new().max_bytes(3).build().unwrap();
    let reading = thread::spawn(move || {
        let mut chunks = Vec::new();
        while let Some(c) = reader.next_chunk().unwrap() {
            chunks.push(c);
        }
        chunks
    });
    writer.write_bytes(Bytes::from_static(b"abcdefgh")).unwrap();
    writer.finish().unwrap();
    let chunks = reading.join().unwrap();
    assert_eq!(chunks, [&b"abc"[..], b"def", b"gh"]);
}

#[test]
fn next_chunk_is_zero_copy() {
    let (mut writer, mut reader) = bytes::channel(1 << 16);
    let data = Bytes::from(vec![7u8; 1000]);
    let ptr = data.as_ptr();
    writer.write_bytes(data).unwrap();
    let got = reader.next_chunk().unwrap().unwrap();
    assert_eq!(got.as_ptr(), ptr);
    assert_eq!(got.len(), 1000);
}

#[test]
fn fill_buf_hands_out_the_chunk_and_consume_commits() {
    let (mut writer, mut reader) = bytes::Builder::new().chunk_size(6).build().unwrap();
    writer.write_all(b"abcdefgh").unwrap();
    writer.finish().unwrap();
    assert_eq!(reader.fill_buf().unwrap(), b"abcdef");
    reader.consume(2);
    assert_eq!(reader.fill_buf().unwrap(), b"cdef");
    assert_eq!(reader.position(), 2);
    reader.consume(4);
    assert_eq!(reader.fill_buf().unwrap(), b"gh");
    reader.consume(2);
    assert_eq!(reader.fill_buf().unwrap(), b"");
}

#[test]
fn a_clone_reads_on_from_the_same_offset_mid_chunk() {
    let (mut writer, mut reader) = bytes::Builder::new().chunk_size(8).build().unwrap();
    writer.write_all(b"0123456789abcdef").unwrap();
    writer.finish().unwrap();
    let mut three = [0; 3];
    reader.read_exact(&mut three).unwrap();
    let mut clone = reader.clone();
    assert_eq!(clone.position(), 3);
    let (mut a, mut b) = (String::new(), String::new());
    reader.read_to_string(&mut a).unwrap();
    clone.read_to_string(&mut b).unwrap();
    assert_eq!(a, "3456789abcdef");
    assert_eq!(b, a);
}

#[test]
fn a_dropped_writer_ends_with_unexpected_eof_after_the_data() {
    let (mut writer, mut reader) = bytes::channel(64);
    writer.write_bytes(Bytes::from_static(b"part")).unwrap();
    writer.write_all(b"buffered, never published").unwrap();
    drop(writer);
    let mut got = [0; 16];
    assert_eq!(reader.read(&mut got).unwrap(), 4);
    for _ in 0..2 {
        let err = reader.read(&mut got).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}

#[test]
#[cfg(panic = "unwind")]
fn a_panic_mid_copy_does_not_look_complete() {
    let (writer, mut reader) = bytes::channel(64);
    let copying = thread::spawn(move || {
        let mut writer = writer;
        writer.write_bytes(Bytes::from_static(b"half")).unwrap();
        panic!("the copy failed");
    });
    assert!(copying.join().is_err());
    let mut all = Vec::new();
    let err = reader.read_to_end(&mut all).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(all, b"half");
}

#[test]
fn abort_reaches_every_reader_after_the_data_with_kind_and_message() {
    let (mut writer, mut first) = bytes::channel(64);
    let mut second = first.clone();
    writer.write_bytes(Bytes::from_static(b"data")).unwrap();
    writer.abort(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "peer went away",
    ));
    for reader in [&mut first, &mut second] {
        let mut all = Vec::new();
        let err = reader.read_to_end(&mut all).unwrap_err();
        assert_eq!(all, b"data");
        for e in [err, reader.read(&mut [0; 4]).unwrap_err()] {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
            assert_eq!(e.to_string(), "peer went away");
        }
    }
}

#[test]
fn finishing_or_dropping_wakes_blocked_readers() {
    for finish in [true, false] {
        let (writer, reader) = bytes::channel(64);
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let mut r = reader.clone();
                thread::spawn(move || r.read(&mut [0; 8]).map_err(|e| e.kind()))
            })
            .collect();
        drop(reader);
        thread::sleep(Duration::from_millis(20));
        if finish {
            writer.finish().unwrap();
        } else {
            drop(writer);
        }
        for w in waiting {
            let got = w.join().unwrap();
            if finish {
                assert_eq!(got, Ok(0));
            } else {
                assert_eq!(got, Err(io::ErrorKind::UnexpectedEof));
            }
        }
    }
}

#[test]
fn dropping_a_stalled_reader_lets_the_others_finish() {
    let total = scaled(10_000, 1 << 20);
    let (mut writer, reader) = bytes::Builder::new()
        .max_bytes(1024)
        .chunk_size(256)
        .build()
        .unwrap();
    let (stalled_tx, stalled_rx) = std::sync::mpsc::channel::<ByteReader>();
    stalled_tx.send(reader.clone()).unwrap();
    // Readers that stop early at different offsets, then drop.
    let early: Vec<_> = (1..4)
        .map(|i| {
            let mut r = reader.clone();
            thread::spawn(move || {
                let mut part = vec![0; 300 * i];
                r.read_exact(&mut part).unwrap();
                part == pattern(0, 300 * i)
            })
        })
        .collect();
    let mut full = reader;
    let whole = thread::spawn(move || read_all_with(&mut full, 4096));
    let writing = thread::spawn(move || {
        writer.write_all(&pattern(0, total as usize)).unwrap();
        writer.finish().unwrap();
    });
    for e in early {
        assert!(e.join().unwrap());
    }
    // The stalled reader (never read) holds the writer 1024 bytes in: only dropping it
    // lets the stream finish.
    thread::sleep(Duration::from_millis(20));
    assert!(
        !writing.is_finished(),
        "a stalled Block reader holds the writer"
    );
    drop(stalled_rx.recv().unwrap());
    writing.join().unwrap();
    assert_eq!(
        whole.join().unwrap().unwrap(),
        (total, fnv(&pattern(0, total as usize), FNV0))
    );
}

#[test]
fn skip_reports_the_exact_bytes_lost_then_reads_on() {
    let (mut writer, mut reader) = bytes::Builder::new()
        .max_bytes(10)
        .chunk_size(5)
        .lag_policy(LagPolicy::Skip)
        .build()
        .unwrap();
    writer.write_all(&pattern(0, 37)).unwrap();
    writer.finish().unwrap();
    let err = reader.read(&mut [0; 64]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    let lagged = err.get_ref().unwrap().downcast_ref::<Lagged>().unwrap();
    // 37 bytes in chunks of 5 (the last 2): the newest chunks within 10 bytes are
    // [30, 35) and [35, 37).
    assert_eq!(lagged.bytes, 30);
    assert_eq!(reader.position(), 30);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, pattern(30, 7));
}

#[test]
fn disconnect_evicts_on_every_later_call() {
    let (mut writer, mut reader) = bytes::Builder::new()
        .max_bytes(8)
        .chunk_size(4)
        .lag_policy(LagPolicy::Disconnect)
        .build()
        .unwrap();
    writer.write_all(&pattern(0, 20)).unwrap();
    writer.finish().unwrap();
    for _ in 0..3 {
        let err = reader.read(&mut [0; 8]).unwrap_err();
        assert!(err.get_ref().unwrap().is::<Evicted>(), "{err}");
    }
}

#[test]
fn reader_from_oldest_starts_at_the_retained_window() {
    let mut writer = bytes::Builder::new()
        .chunk_size(4)
        .retain_bytes(6)
        .build_writer()
        .unwrap();
    writer.write_all(&pattern(0, 20)).unwrap();
    writer.flush().unwrap();
    // Chunks of 4: the window of 6 bytes keeps the chunk [16, 20) only (with [12, 16) it
    // would be 8).
    let mut late = writer.reader_from_oldest();
    assert_eq!(late.position(), 16);
    let live = writer.reader();
    assert_eq!(live.position(), 20);
    writer.finish().unwrap();
    let mut rest = Vec::new();
    late.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, pattern(16, 4));
}

#[test]
fn bad_settings_are_config_errors_naming_the_field() {
    let err = bytes::Builder::new().max_bytes(0).build().unwrap_err();
    assert_eq!(err.field(), "max_bytes");
    let err = bytes::Builder::new().chunk_size(0).build().unwrap_err();
    assert_eq!(err.field(), "chunk_size");
    let err = bytes::Builder::new()
        .max_bytes(100)
        .chunk_size(101)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "chunk_size");
    assert!(err.to_string().contains("max_bytes"), "{err}");
    if usize::BITS > 32 {
        let err = bytes::Builder::new()
            .retain_bytes(usize::MAX)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "retain_bytes");
    }
}

#[test]
#[cfg(panic = "unwind")]
fn channel_panics_on_zero_like_the_core() {
    let panic = std::panic::catch_unwind(|| bytes::channel(0)).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("max_bytes"), "{message}");
}

#[test]
fn written_counts_buffered_bytes() {
    let (mut writer, _reader) = bytes::Builder::new().chunk_size(8).build().unwrap();
    writer.write_all(b"abc").unwrap();
    assert_eq!(writer.written(), 3);
    writer.write_bytes(Bytes::from_static(b"de")).unwrap();
    assert_eq!(writer.written(), 5);
}

#[test]
fn the_handles_cross_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<bytes::ByteWriter>();
    send::<ByteReader>();
    sync::<ByteReader>();
}
