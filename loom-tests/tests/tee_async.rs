#![cfg(all(loom, feature = "tokio"))]
//! Protocol 13 (tee leadership), poll-driven (`tee_async`): a reader polled with a
//! `Context` runs the same election, and as the leader polls the source. `Pending` keeps
//! the leadership (`ByteReader::leading`): the other readers wait on the tee's event, which
//! the release at the end of the lead notifies. A chunk read while the stream is full is
//! staged in the tee's writer (`ByteWriter::staged`), the leader's waker registered for
//! room; a leader that gives up (its reader dropped: `release_lead`) leaves the chunk to
//! the next leader, which publishes it before reading more. A dropped leader that keeps
//! the leadership, or a lead that forgets the staged chunk, leaves a reader waiting
//! forever (a loom deadlock) or loses bytes (the readers' checks).
//!
//! Built only with `LOOM_FEATURES=tokio` (tailcast's `tokio` feature; tokio itself for
//! the `AsyncRead` trait, without default features).
//!
//! Covers: F1 (lost wake-up), F3 (every byte delivered to every reader, in order).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::thread;
use loom_tests::model;
use tailcast::bytes::{self, ByteReader, Bytes};
use tokio::io::{AsyncRead, ReadBuf};

/// An `AsyncRead` source that plays a script: `None` is one `Pending` (it wakes the
/// caller's waker at once, as a source whose data arrived right after it answered
/// would), `Some(bytes)` one read of those bytes; then the end (`Ok` with nothing read).
struct Script(VecDeque<Option<&'static [u8]>>);

impl Script {
    fn new(steps: &[Option<&'static [u8]>]) -> Self {
        Script(steps.iter().copied().collect())
    }
}

impl AsyncRead for Script {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.0.pop_front() {
            Some(None) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(Some(data)) => {
                assert!(data.len() <= buf.remaining(), "the script fits the reads");
                buf.put_slice(data);
                Poll::Ready(Ok(()))
            }
            None => Poll::Ready(Ok(())),
        }
    }
}

/// Reads `reader` to its end with poll-driven reads, parked by loom between polls.
fn read_all_async(reader: &mut ByteReader) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(chunk) =
        loom::future::block_on(poll_fn(|cx| reader.poll_next_chunk(cx))).unwrap()
    {
        all.extend_from_slice(&chunk);
    }
    all
}

/// One poll of `reader`'s next chunk, with a waker nobody waits on.
fn poll_once(reader: &mut ByteReader) -> Poll<io::Result<Option<Bytes>>> {
    reader.poll_next_chunk(&mut Context::from_waker(Waker::noop()))
}

/// Two readers, each read to the end by poll-driven reads on its own thread, of a source
/// that answers `Pending` before its first chunk (`max_bytes` 2, 2-byte chunks): either
/// may lead, a `Pending` lead keeps the leadership while the other reader waits, and the
/// leader of `cd` may find the stream full (the other reader has not taken `ab`), so
/// `cd` waits staged for the room the other's read makes.
#[test]
fn tee_async_lead_across_pending() {
    model("tee_async_lead_across_pending", "F1,F3", 2, || {
        let source = Script::new(&[None, Some(b"ab"), Some(b"cd")]);
        let tee = bytes::tee_async(source, 2);
        let (mut first, mut second) = (tee.reader(), tee.reader());
        let other = thread::spawn(move || read_all_async(&mut second));
        assert_eq!(read_all_async(&mut first), b"abcd");
        assert_eq!(other.join().unwrap(), b"abcd");
    });
}

/// The lead handed over: reader A, polled by hand, leads `ab` across a `Pending`, takes
/// it, then leads again and reads `cd`, which waits staged (B has not taken `ab`: the
/// stream is full), and A's poll is `Pending` with the leadership kept. Then A is dropped
/// on this thread while B, on another, reads to the end: B must win the election once A
/// releases (woken by the release's notify if it was already waiting), publish the staged
/// `cd` before reading more, and end cleanly.
#[test]
fn tee_async_lead_handoff() {
    model("tee_async_lead_handoff", "F1,F3", 2, || {
        let source = Script::new(&[None, Some(b"ab"), Some(b"cd"), Some(b"ef")]);
        let tee = bytes::tee_async(source, 2);
        let (mut a, mut b) = (tee.reader(), tee.reader());
        // The source's `Pending`: A leads, and keeps the lead.
        assert!(poll_once(&mut a).is_pending());
        let ab = poll_once(&mut a);
        assert!(matches!(&ab, Poll::Ready(Ok(Some(c))) if c[..] == b"ab"[..]));
        // `cd` is read and staged: B holds the stream full.
        assert!(poll_once(&mut a).is_pending());
        let reading = thread::spawn(move || read_all_async(&mut b));
        drop(a);
        assert_eq!(reading.join().unwrap(), b"abcdef");
    });
}
