//! `ByteWriter`: the single writer of a byte stream.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::bytes::Bytes;

use super::end::End;
use super::pool::Gather;
use super::{ByteReader, Chunk};
use crate::position::Position;
use crate::publisher::Publisher;
use crate::wait::RoomWait;

/// The writer of a byte stream: [`io::Write`] with small writes coalesced into chunks of
/// `chunk_size`, and [`write_bytes`](ByteWriter::write_bytes) for zero-copy chunks.
///
/// A write waits until its bytes fit within `max_bytes` of the slowest `Block` reader.
/// End the stream with [`finish`](ByteWriter::finish) (clean) or
/// [`abort`](ByteWriter::abort) (an error for every reader); **dropping it without
/// either ends the stream with [`io::ErrorKind::UnexpectedEof`]** after the data already
/// published, and discards the bytes still buffered.
///
/// # Invariants
///
/// - `published` is the offset of the next chunk (the bytes published so far); a chunk
///   an async write handed over and that waits for room (`staged`, at offset
///   `published`) and the buffered bytes `pending` follow it, so
///   `written = published + staged + pending`.
/// - `room` is registered only while `staged` waits; it is cancelled before any
///   blocking publish, and on drop.
/// - `end` is set before `publisher` is dropped (by `finish`, `abort` or `Drop`), or
///   before the stream is closed in place by an async shutdown. `ended` is set only by
///   the calls that end the stream: while the writer is borrowed, `ended` means it was
///   shut down that way, and nothing is published after it.
pub struct ByteWriter {
    // `publisher` is dropped after `Drop::drop` sets `end`.
    publisher: Publisher<Chunk>,
    pending: Gather,
    chunk_size: usize,
    max_bytes: usize,
    published: u64,
    end: Arc<End>,
    ended: bool,
    staged: Option<Chunk>,
    room: RoomWait,
}

impl ByteWriter {
    pub(crate) fn new(
        publisher: Publisher<Chunk>,
        chunk_size: usize,
        max_bytes: usize,
        end: Arc<End>,
    ) -> Self {
        Self {
            publisher,
            pending: Gather::new(chunk_size, max_bytes),
            chunk_size,
            max_bytes,
            published: 0,
            end,
            ended: false,
            staged: None,
            room: RoomWait::new(),
        }
    }

    /// Publishes `data` as it is, without copying (a chunk larger than `max_bytes` is
    /// split into pieces that fit). Bytes buffered by earlier `write` calls go first.
    ///
    /// ```
    /// use std::io::Read;
    /// use tailcast::bytes::{self, Bytes};
    ///
    /// let (mut writer, mut reader) = bytes::channel(4);
    /// let reading = std::thread::spawn(move || {
    ///     let mut all = Vec::new();
    ///     reader.read_to_end(&mut all).map(|_| all)
    /// });
    /// writer.write_bytes(Bytes::from_static(b"larger than max_bytes"))?;
    /// writer.finish()?;
    /// assert_eq!(reading.join().unwrap()?, b"larger than max_bytes");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_bytes(&mut self, mut data: Bytes) -> io::Result<()> {
        self.check_open()?;
        self.publish_pending();
        while !data.is_empty() {
            let piece = data.split_to(data.len().min(self.max_bytes));
            self.publish(piece);
        }
        Ok(())
    }

    /// Ends the stream cleanly: readers read everything written (buffered bytes are
    /// published first), then `Ok(0)` on every later read.
    pub fn finish(mut self) -> io::Result<()> {
        if !self.ended {
            self.publish_pending();
            self.end.finish(self.published);
        }
        self.ended = true;
        Ok(())
    }

    /// Ends the stream with `error`: readers read everything published (bytes still
    /// buffered by `write` are discarded), then an error of `error`'s kind and message on
    /// every later read. Never waits. After an async shutdown, the stream stays finished.
    pub fn abort(mut self, error: io::Error) {
        self.end.abort(&error, self.published);
        self.ended = true;
    }

    /// A reader at the live end: it reads the bytes published after this call (and the
    /// bytes buffered now, once they are published).
    pub fn reader(&self) -> ByteReader {
        ByteReader::new(
            self.publisher.subscribe(),
            self.published,
            Arc::clone(&self.end),
        )
    }

    /// A reader at the oldest byte still retained ([`Builder::retain_bytes`]), or at the
    /// live end if nothing is.
    ///
    /// [`Builder::retain_bytes`]: super::Builder::retain_bytes
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// let mut writer = tailcast::bytes::Builder::new()
    ///     .chunk_size(4)
    ///     .retain_bytes(8)
    ///     .build_writer()?;
    /// writer.write_all(b"0123456789abcdef")?;
    /// let mut late = writer.reader_from_oldest();
    /// assert_eq!(late.position(), 8);
    /// writer.finish()?;
    /// let mut rest = String::new();
    /// late.read_to_string(&mut rest)?;
    /// assert_eq!(rest, "89abcdef");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reader_from_oldest(&self) -> ByteReader {
        let mut subscriber = self
            .publisher
            .subscribe_at(Position::Oldest)
            .expect("the oldest position is always inside the window");
        // The writer is borrowed: nothing is published meanwhile, so the first chunk the
        // new cursor sees (if any) is the oldest retained one.
        let offset = match subscriber.try_peek() {
            Ok(chunk) => chunk.offset,
            Err(_) => self.published,
        };
        ByteReader::new(subscriber, offset, Arc::clone(&self.end))
    }

    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The bytes accepted so far (published or buffered).
    pub fn written(&self) -> u64 {
        self.published + self.staged_len() + self.pending.len() as u64
    }

    fn staged_len(&self) -> u64 {
        self.staged
            .as_ref()
            .map_or(0, |chunk| chunk.data.len() as u64)
    }

    /// Publishes `data`, waiting for room (after the staged chunk, if any).
    fn publish(&mut self, data: Bytes) {
        self.publish_staged();
        let offset = self.published;
        self.published += data.len() as u64;
        self.publisher.publish(Chunk { offset, data });
    }

    /// Publishes the staged chunk, blocking: the poll-driven wait for it is given up.
    fn publish_staged(&mut self) {
        if let Some(chunk) = self.staged.take() {
            self.room.cancel(&self.publisher);
            self.published += chunk.data.len() as u64;
            self.publisher.publish(chunk);
        }
    }

    /// Publishes the buffered bytes (the staged chunk first), blocking.
    fn publish_pending(&mut self) {
        self.publish_staged();
        if let Some(chunk) = self.pending.take_chunk() {
            self.publish(chunk);
        }
    }
}

/// The poll-driven side, for the async writer traits (`async_io`), an async tee and a
/// `RangeWriter` (which waits for room with its state unlocked).
#[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
impl ByteWriter {
    /// Whether an async shutdown ended the stream (the writer is still borrowed).
    pub(super) fn is_shut_down(&self) -> bool {
        self.ended
    }

    /// An error once the stream was shut down (or ended): nothing is accepted after it.
    fn check_open(&self) -> io::Result<()> {
        if self.ended {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "tailcast::bytes: write after the writer was shut down",
            ));
        }
        Ok(())
    }

    /// Whether a chunk waits for room, staged by a poll-driven write.
    pub(super) fn has_staged(&self) -> bool {
        self.staged.is_some()
    }

    /// Stages `data` (with nothing staged or buffered) and tries to publish it.
    pub(super) fn stage_bytes(&mut self, data: Bytes, cx: &mut Context<'_>) -> Poll<()> {
        debug_assert!(self.staged.is_none() && self.pending.len() == 0);
        self.staged = Some(Chunk {
            offset: self.published,
            data,
        });
        self.poll_staged(cx)
    }

    /// Publishes the staged chunk once it fits: `Pending` with `cx`'s waker registered.
    pub(super) fn poll_staged(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let len = self.staged_len();
        if self
            .publisher
            .poll_publish_from(&mut self.room, cx, &mut self.staged)
            .is_pending()
        {
            return Poll::Pending;
        }
        self.published += len;
        Poll::Ready(())
    }

    /// Hands the buffered bytes over as the staged chunk and tries to publish it.
    fn stage_pending(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        debug_assert!(self.staged.is_none(), "one chunk staged at a time");
        if let Some(data) = self.pending.take_chunk() {
            self.staged = Some(Chunk {
                offset: self.published,
                data,
            });
        }
        self.poll_staged(cx)
    }

    /// `poll_write`: accepts bytes of `buf` into the current chunk once the chunk handed
    /// over before fits; a full chunk is handed over (and published if it fits now).
    pub(super) fn poll_write_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check_open()?;
        if self.poll_staged(cx).is_pending() {
            return Poll::Pending;
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let take = self.pending.extend(buf);
        if self.pending.is_full() {
            // Accepted either way: a `Pending` here is waited for by the next call.
            let _ = self.stage_pending(cx);
        }
        Poll::Ready(Ok(take))
    }

    /// `poll_flush`: publishes everything accepted.
    pub(super) fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_staged(cx).is_pending() {
            return Poll::Pending;
        }
        if self.stage_pending(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    /// `poll_shutdown`: publishes everything accepted, then ends the stream cleanly (as
    /// [`finish`](ByteWriter::finish)); later writes are `BrokenPipe` errors.
    pub(super) fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ended {
            return Poll::Ready(Ok(()));
        }
        if self.poll_flush_all(cx)?.is_pending() {
            return Poll::Pending;
        }
        self.end.finish(self.published);
        self.ended = true;
        self.publisher.close_in_place();
        Poll::Ready(Ok(()))
    }
}

impl io::Write for ByteWriter {
    /// Buffers `buf` into the current chunk, publishing each chunk as it fills; waits for
    /// room as needed. Accepts all of `buf`.
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        self.check_open()?;
        let n = buf.len();
        while !buf.is_empty() {
            let take = self.pending.extend(buf);
            buf = &buf[take..];
            if self.pending.is_full() {
                self.publish_pending();
            }
        }
        Ok(n)
    }

    /// Publishes the bytes buffered (waiting for room as needed).
    fn flush(&mut self) -> io::Result<()> {
        self.check_open()?;
        self.publish_pending();
        Ok(())
    }
}

impl Drop for ByteWriter {
    fn drop(&mut self) {
        self.room.cancel(&self.publisher);
        if !self.ended {
            self.end.drop_unfinished(self.published);
        }
    }
}

impl std::fmt::Debug for ByteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteWriter")
            .field("written", &self.written())
            .field("published", &self.published)
            .field("chunk_size", &self.chunk_size)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}
