//! The async traits of the byte layer, each behind its cargo feature: tokio's and
//! futures-io's `AsyncRead`, `AsyncBufRead` and `AsyncWrite`, and futures-core's `Stream`
//! of chunks. All of them wait with the core's event-listener waits (the reader on its
//! cursor's node, the writer on the stream's room); none spawns or needs an executor.

#[cfg(any(feature = "tokio", feature = "futures-io", feature = "futures"))]
use std::io;
#[cfg(any(feature = "tokio", feature = "futures-io", feature = "futures"))]
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(any(feature = "tokio", feature = "futures-io", feature = "futures"))]
use super::ByteReader;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
use super::ByteWriter;

/// Polls `poll` to completion on this thread, parking it between polls (a blocking read
/// of an async tee's source).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(super) fn block_on(mut poll: impl FnMut(&mut Context<'_>) -> Poll<()>) {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    while poll(&mut cx).is_pending() {
        // A spurious unpark only polls again.
        std::thread::park();
    }
}

#[cfg(any(feature = "tokio", feature = "futures-io"))]
impl ByteReader {
    /// `poll_read`: bytes of one chunk at most; `Ok(0)` at the clean end.
    fn poll_read_into(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let available = match self.poll_fill_buf(cx) {
            Poll::Ready(available) => available?,
            Poll::Pending => return Poll::Pending,
        };
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        io::BufRead::consume(self, n);
        Poll::Ready(Ok(n))
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for ByteReader {
    /// Reads bytes of one chunk at most (waiting for one without blocking the thread);
    /// nothing filled at the clean end.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = match this.poll_read_into(cx, buf.initialize_unfilled()) {
            Poll::Ready(n) => n?,
            Poll::Pending => return Poll::Pending,
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncBufRead for ByteReader {
    /// The unread rest of the current chunk, itself (no copy); empty at the clean end.
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        io::BufRead::consume(self.get_mut(), amt);
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncRead for ByteReader {
    /// Reads bytes of one chunk at most; `Ok(0)` at the clean end.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_into(cx, buf)
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncBufRead for ByteReader {
    /// The unread rest of the current chunk, itself (no copy); empty at the clean end.
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        io::BufRead::consume(self.get_mut(), amt);
    }
}

#[cfg(feature = "futures")]
impl futures_core::Stream for ByteReader {
    /// A chunk (or the unread rest of the current one), without copying; a reader's error
    /// as an item. Lag under `Skip` is an item and reading goes on; the end of the stream
    /// (after the error of an abort, or a writer dropped unfinished, or an eviction) is
    /// `None`, and stays.
    type Item = io::Result<::bytes::Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.terminated {
            return Poll::Ready(None);
        }
        match this.poll_next_chunk(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(chunk))) => Poll::Ready(Some(Ok(chunk))),
            Poll::Ready(Ok(None)) => {
                this.terminated = true;
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => {
                // Lagged is not an end: the reader reads on from the oldest byte retained.
                let lagged = e.get_ref().is_some_and(|e| e.is::<super::Lagged>());
                this.terminated = !lagged;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

#[cfg(feature = "futures")]
impl futures_core::FusedStream for ByteReader {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncWrite for ByteWriter {
    /// Accepts bytes into the current chunk once the chunk handed over before fits within
    /// `max_bytes`: `Pending` until a read makes the room (never by polling).
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_buf(cx, buf)
    }

    /// Publishes every byte accepted.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_all(cx)
    }

    /// Publishes every byte accepted, then ends the stream cleanly, as
    /// [`finish`](ByteWriter::finish): readers read it all, then `Ok(0)`. Later writes
    /// are `BrokenPipe` errors.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_finish(cx)
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncWrite for ByteWriter {
    /// As tokio's `poll_write`.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_buf(cx, buf)
    }

    /// Publishes every byte accepted.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_all(cx)
    }

    /// Publishes every byte accepted, then ends the stream cleanly (as `finish`).
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_finish(cx)
    }
}
