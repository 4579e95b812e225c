#![cfg(all(loom, feature = "tokio"))]
//! Protocol 15 (the end of a byte stream) through the async writer: `poll_shutdown`
//! publishes what it accepted (waiting for room, poll-driven), records the clean end, and
//! only then closes the stream in place, keeping the writer; an `abort` after it changes
//! nothing ("after an async shutdown, the stream stays finished"). A close before the end
//! is recorded lets a woken reader see a closed stream with no end: `UnexpectedEof`
//! instead of `Ok(0)`.
//!
//! Built only with `LOOM_FEATURES=tokio` (see `tee_async.rs`).
//!
//! Covers: F1 (lost wake-up), F2 (close while waiting), F3 (every byte, then the end).

use std::future::poll_fn;
use std::io::{self, ErrorKind, Read};
use std::pin::Pin;

use loom::thread;
use loom_tests::model;
use tailcast::bytes;
use tokio::io::AsyncWrite;

/// A writer shut down with `poll_shutdown` while a reader on another thread reads with
/// blocking reads (`max_bytes` 2, 2-byte chunks): the shutdown's last byte waits for the
/// room the reader's first read makes; the reader gets `abc`, then `Ok(0)` twice, also
/// when the writer aborts after the shutdown; a write after it is `BrokenPipe`.
#[test]
fn end_shutdown_wakes_blocked_reader() {
    model("end_shutdown_wakes_blocked_reader", "F1,F2,F3", 2, || {
        let (mut writer, mut reader) = bytes::Builder::new()
            .max_bytes(2)
            .chunk_size(2)
            .build()
            .unwrap();
        let reading = thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0; 4];
            loop {
                match reader.read(&mut buf).unwrap() {
                    0 => break,
                    n => all.extend_from_slice(&buf[..n]),
                }
            }
            assert_eq!(all, b"abc");
            assert_eq!(reader.read(&mut buf).unwrap(), 0, "the end is sticky");
        });
        let mut at = 0;
        let data = b"abc";
        while at < data.len() {
            at += loom::future::block_on(poll_fn(|cx| {
                Pin::new(&mut writer).poll_write(cx, &data[at..])
            }))
            .unwrap();
        }
        loom::future::block_on(poll_fn(|cx| Pin::new(&mut writer).poll_shutdown(cx))).unwrap();
        let late = loom::future::block_on(poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, b"d")));
        assert_eq!(late.unwrap_err().kind(), ErrorKind::BrokenPipe);
        writer.abort(io::Error::new(ErrorKind::Other, "after the shutdown"));
        reading.join().unwrap();
    });
}
