//! `ByteReader`: one reader of a byte stream, with its own offset.

use std::fmt;
use std::io;
use std::sync::Arc;

use std::task::{Context, Poll};

use ::bytes::{Buf, Bytes};

use super::end::End;
use super::Chunk;
use crate::error::RecvError;
use crate::subscriber::Subscriber;
use crate::wait::RecvWait;

mod pull;

pub(crate) use pull::Pull;
use pull::PullWait;

/// A reader of a byte stream: [`io::Read`] and [`io::BufRead`] (zero-copy through
/// [`fill_buf`](io::BufRead::fill_buf) and [`next_chunk`](ByteReader::next_chunk)), at
/// its own pace.
///
/// `Clone` gives an independent reader at the same offset. Dropping a reader frees what
/// only it held at once, and wakes a writer waiting on it.
///
/// A read returns bytes of one chunk at most. After the last byte, a read returns
/// `Ok(0)` if the writer finished, the writer's error if it aborted, and an
/// [`io::ErrorKind::UnexpectedEof`] error if it was dropped unfinished; the same on every
/// later call.
///
/// # Invariants
///
/// - `position` is the offset of the next byte taken from `current`; `skip_to >=` is
///   where a forward seek asked the next read to start ([`position`](ByteReader::position)
///   reports the larger).
/// - `held` is the whole chunk this reader took last, starting at `held_offset`, and
///   `current` its unread rest: the cursor is past that chunk (its room is freed when the
///   reader takes it, so a reader in the middle of a chunk never holds the writer back),
///   and `position + current.len() = held_offset + held.len()`.
/// - `evicted` is sticky: every read after an eviction reports it.
/// - `lagging` is set between a lag and the chunk (or end) it resumes at, which a
///   poll-driven read may wait for.
/// - The poll-driven waits (`wait`, `pull_wait`, a pending lead: `leading`) are released
///   before the cursor moves by a blocking path, and on drop.
pub struct ByteReader {
    subscriber: Subscriber<Chunk>,
    current: Bytes,
    position: u64,
    held: Bytes,
    held_offset: u64,
    skip_to: u64,
    end: Arc<End>,
    evicted: bool,
    /// The source a reader of a [`tee`](super::tee) pulls from when it finds the stream
    /// empty; `None` for a stream with a writer.
    pull: Option<Arc<dyn Pull>>,
    /// A poll-driven receive's registration on the cursor's node.
    wait: RecvWait<Chunk>,
    /// A tee reader's poll-driven wait for another reader's lead.
    pull_wait: PullWait,
    /// Whether this (tee) reader leads the source with a poll-driven read pending.
    leading: bool,
    lagging: bool,
    /// The end was yielded as a `Stream` item (`None` from then on).
    #[cfg_attr(not(feature = "futures"), allow(dead_code))]
    pub(super) terminated: bool,
}

/// The inner error of a read that lost bytes under [`LagPolicy::Skip`]: `bytes` were
/// overwritten before this reader read them; it reads on from the oldest byte retained.
///
/// [`LagPolicy::Skip`]: crate::LagPolicy::Skip
///
/// ```
/// use std::io::Read;
/// use tailcast::{bytes, LagPolicy};
///
/// let (mut writer, mut reader) = bytes::Builder::new()
///     .max_bytes(4)
///     .chunk_size(2)
///     .lag_policy(LagPolicy::Skip)
///     .build()?;
/// writer.write_bytes(bytes::Bytes::from_static(b"abcdefgh"))?; // never waits: Skip
/// writer.finish()?;
/// let mut buf = [0; 8];
/// let err = reader.read(&mut buf).unwrap_err();
/// let lagged = err.get_ref().unwrap().downcast_ref::<bytes::Lagged>().unwrap();
/// assert_eq!(lagged.bytes, 4);
/// let mut rest = Vec::new();
/// reader.read_to_end(&mut rest)?;
/// assert_eq!(rest, b"efgh");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lagged {
    /// How many bytes were lost.
    pub bytes: u64,
}

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "byte reader lagged: {} bytes were overwritten",
            self.bytes
        )
    }
}

impl std::error::Error for Lagged {}

/// The inner error of every read after a reader was evicted under
/// [`LagPolicy::Disconnect`](crate::LagPolicy::Disconnect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evicted;

impl fmt::Display for Evicted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("byte reader evicted: it fell max_bytes behind the writer")
    }
}

impl std::error::Error for Evicted {}

impl ByteReader {
    pub(crate) fn new(subscriber: Subscriber<Chunk>, position: u64, end: Arc<End>) -> Self {
        Self {
            subscriber,
            current: Bytes::new(),
            position,
            held: Bytes::new(),
            held_offset: position,
            skip_to: position,
            end,
            evicted: false,
            pull: None,
            wait: RecvWait::new(),
            pull_wait: PullWait::default(),
            leading: false,
            lagging: false,
            terminated: false,
        }
    }

    /// A reader that pulls from `pull` when the stream is empty.
    pub(crate) fn pulling(mut self, pull: Arc<dyn Pull>) -> Self {
        self.pull = Some(pull);
        self
    }

    /// The absolute offset of the next byte this reader returns.
    pub fn position(&self) -> u64 {
        self.position.max(self.skip_to)
    }

    /// The next chunk (or the unread rest of the current one), without copying; `None`
    /// at the clean end of the stream.
    ///
    /// ```
    /// use tailcast::bytes::{self, Bytes};
    ///
    /// let (mut writer, mut reader) = bytes::channel(1024);
    /// writer.write_bytes(Bytes::from_static(b"zero-copy"))?;
    /// writer.finish()?;
    /// assert_eq!(reader.next_chunk()?.as_deref(), Some(&b"zero-copy"[..]));
    /// assert_eq!(reader.next_chunk()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        self.fill()?;
        Ok(self.take_current())
    }

    /// Makes `current` non-empty (starting at `skip_to`), or returns the end (`Ok` with
    /// `current` empty) or an error: a blocking receive.
    fn fill(&mut self) -> io::Result<()> {
        match self.fill_with(|reader| Poll::Ready(reader.next_event())) {
            Poll::Ready(done) => done,
            Poll::Pending => unreachable!("a blocking receive is always ready"),
        }
    }

    /// As [`fill`](ByteReader::fill), poll-driven: `Pending` with `cx`'s waker registered.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.fill_with(|reader| reader.poll_next_event(cx))
    }

    /// `fill_buf`, poll-driven.
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(super) fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        match self.poll_fill(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(&self.current)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// [`next_chunk`](ByteReader::next_chunk), poll-driven, for an executor of your own
    /// (the async traits behind the `tokio`, `futures-io` and `futures` features are built
    /// on it): `Pending` with `cx`'s waker registered on the stream, woken by the next
    /// publish (or the end).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::task::{Context, Poll, Wake, Waker};
    /// use tailcast::bytes::{self, Bytes};
    ///
    /// struct Noop;
    /// impl Wake for Noop {
    ///     fn wake(self: Arc<Self>) {}
    /// }
    /// let waker = Waker::from(Arc::new(Noop));
    /// let mut cx = Context::from_waker(&waker);
    /// let (mut writer, mut reader) = bytes::channel(1024);
    /// assert!(reader.poll_next_chunk(&mut cx).is_pending());
    /// writer.write_bytes(Bytes::from_static(b"now"))?;
    /// let Poll::Ready(chunk) = reader.poll_next_chunk(&mut cx) else { unreachable!() };
    /// assert_eq!(chunk?.as_deref(), Some(&b"now"[..]));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn poll_next_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        match self.poll_fill(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(self.take_current())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The rest of the current chunk, consumed; `None` if it is empty (the end).
    fn take_current(&mut self) -> Option<Bytes> {
        if self.current.is_empty() {
            return None;
        }
        let chunk = std::mem::take(&mut self.current);
        self.position += chunk.len() as u64;
        self.skip_to = self.skip_to.max(self.position);
        Some(chunk)
    }

    /// The body of `fill` and `poll_fill`, with `next` for the next event.
    fn fill_with(
        &mut self,
        mut next: impl FnMut(&mut Self) -> Poll<Result<Chunk, RecvError>>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.current.is_empty() {
                if self.position < self.skip_to {
                    let n = (self.skip_to - self.position).min(self.current.len() as u64);
                    self.current.advance(n as usize);
                    self.position += n;
                    continue;
                }
                return Poll::Ready(Ok(()));
            }
            if self.evicted {
                return Poll::Ready(Err(evicted()));
            }
            let event = match next(self) {
                Poll::Ready(event) => event,
                Poll::Pending => return Poll::Pending,
            };
            if self.lagging {
                self.lagging = false;
                return Poll::Ready(Err(self.lagged(event)));
            }
            match event {
                Ok(chunk) => self.take(chunk),
                Err(RecvError::Closed) => return Poll::Ready(self.end.outcome()),
                // Where it reads on is the next event: waited for as this one was.
                Err(RecvError::Lagged(_)) => self.lagging = true,
                Err(RecvError::Evicted) => {
                    self.evicted = true;
                    return Poll::Ready(Err(evicted()));
                }
            }
        }
    }

    /// Takes `chunk` as the current one.
    fn take(&mut self, chunk: Chunk) {
        debug_assert!(chunk.offset >= self.position, "chunks follow each other");
        self.position = chunk.offset;
        self.held_offset = chunk.offset;
        self.held = chunk.data.clone();
        self.current = chunk.data;
    }

    /// Reads bytes at `offset` into `buf` without moving this reader (std's `FileExt`
    /// argument order): waits until `[offset, offset + buf.len())` is written or the
    /// stream ends (then a partial read, or `Ok(0)` at or past a finished end). A
    /// zero-length read never waits.
    ///
    /// Works from the start of the chunk this reader is in on (a reader at position `p`
    /// keeps everything from `p` on alive); before that, an `InvalidInput` error naming
    /// the window.
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// let (mut writer, mut reader) = tailcast::bytes::Builder::new().chunk_size(4).build()?;
    /// writer.write_all(b"0123456789")?;
    /// writer.finish()?;
    /// let mut two = [0; 2];
    /// reader.read_exact(&mut two)?; // "01"
    /// let mut buf = [0; 6];
    /// assert_eq!(reader.read_at(&mut buf, 3)?, 6);
    /// assert_eq!(&buf, b"345678");
    /// assert_eq!(reader.read_at(&mut buf, 8)?, 2); // the end: partial
    /// assert_eq!(reader.read_at(&mut buf, 10)?, 0);
    /// assert_eq!(reader.position(), 2); // not moved
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if offset < self.held_offset {
            return Err(self.before_window(offset));
        }
        let held_end = self.held_offset + self.held.len() as u64;
        let mut filled = 0;
        if offset < held_end {
            let from = (offset - self.held_offset) as usize;
            let n = (self.held.len() - from).min(buf.len());
            buf[..n].copy_from_slice(&self.held[from..from + n]);
            filled = n;
        }
        if filled == buf.len() {
            return Ok(filled);
        }
        // Further on: an independent reader from the end of the held chunk, which keeps
        // what it reads alive while it reads.
        let mut ahead = self.clone_at(held_end);
        ahead.skip_to = offset + filled as u64;
        while filled < buf.len() {
            match ahead.fill() {
                Ok(()) if ahead.current.is_empty() => break,
                Ok(()) => {
                    let n = ahead.current.len().min(buf.len() - filled);
                    buf[filled..filled + n].copy_from_slice(&ahead.current[..n]);
                    io::BufRead::consume(&mut ahead, n);
                    filled += n;
                }
                Err(_) if filled > 0 => break,
                Err(e) if e.get_ref().is_some_and(|e| e.is::<Lagged>()) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("tailcast::bytes: the range at {offset} was reclaimed ({e})"),
                    ))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }

    /// Reads exactly `buf.len()` bytes at `offset` (see [`read_at`](ByteReader::read_at));
    /// `UnexpectedEof` if the stream ends first.
    pub fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset)? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "tailcast::bytes: the stream ended before the range",
                    ))
                }
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    /// An independent reader whose cursor is where this one's is, holding nothing, at
    /// `offset` (the end of the held chunk).
    fn clone_at(&self, offset: u64) -> ByteReader {
        ByteReader {
            subscriber: self.subscriber.clone(),
            current: Bytes::new(),
            position: offset,
            held: Bytes::new(),
            held_offset: offset,
            skip_to: offset,
            end: Arc::clone(&self.end),
            evicted: self.evicted,
            pull: self.pull.clone(),
            wait: RecvWait::new(),
            pull_wait: PullWait::default(),
            leading: false,
            lagging: self.lagging,
            terminated: false,
        }
    }

    fn before_window(&self, offset: u64) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "tailcast::bytes: offset {offset} is before this reader's window, which starts at {}",
                self.held_offset
            ),
        )
    }

    /// After the cursor was lagged, given the event after the lag: where it reads on
    /// (the oldest chunk retained, or the end of the stream), and the bytes skipped to get
    /// there.
    #[cold]
    fn lagged(&mut self, event: Result<Chunk, RecvError>) -> io::Error {
        let resume = match event {
            Ok(chunk) => {
                let offset = chunk.offset;
                let from = self.position;
                self.take(chunk);
                self.position = from;
                offset
            }
            Err(RecvError::Evicted) => {
                self.evicted = true;
                return evicted();
            }
            // Closed right after the lag: the stream ends where the writer stopped. A
            // second lag cannot come before a chunk is published.
            Err(_) => self.end.offset().unwrap_or(self.position),
        };
        let bytes = resume.saturating_sub(self.position);
        self.position = self.position.max(resume);
        lagged(bytes)
    }
}

fn lagged(bytes: u64) -> io::Error {
    io::Error::other(Lagged { bytes })
}

fn evicted() -> io::Error {
    io::Error::other(Evicted)
}

impl io::Read for ByteReader {
    /// Reads bytes of one chunk at most; `Ok(0)` at the clean end.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let available = io::BufRead::fill_buf(self)?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl io::BufRead for ByteReader {
    /// The unread rest of the current chunk, itself (no copy); empty at the clean end.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill()?;
        Ok(&self.current)
    }

    /// Commits `amt` bytes of what [`fill_buf`](io::BufRead::fill_buf) returned.
    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.current.len());
        self.current.advance(amt);
        self.position += amt as u64;
        self.skip_to = self.skip_to.max(self.position);
    }
}

impl io::Seek for ByteReader {
    /// Forward: later reads skip to the offset (nothing waits now). Back: within the
    /// chunk this reader is in; before it, `InvalidInput` naming the window.
    /// `SeekFrom::End` only once the stream finished.
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let target = match to {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::Current(d) => self.position().checked_add_signed(d),
            io::SeekFrom::End(d) => match self.end.finished_at() {
                Some(end) => end.checked_add_signed(d),
                None => {
                    return Err(invalid(
                        "tailcast::bytes: SeekFrom::End before the stream finished".into(),
                    ))
                }
            },
        };
        let Some(target) = target else {
            return Err(invalid(format!(
                "tailcast::bytes: {to:?} from {} is out of range",
                self.position()
            )));
        };
        if target >= self.position {
            self.skip_to = target;
        } else if target >= self.held_offset {
            self.current = self.held.slice((target - self.held_offset) as usize..);
            self.position = target;
            self.skip_to = target;
        } else {
            return Err(self.before_window(target));
        }
        Ok(target)
    }
}

impl Clone for ByteReader {
    /// An independent reader at the same offset (the rest of the current chunk shared,
    /// not copied).
    fn clone(&self) -> Self {
        Self {
            subscriber: self.subscriber.clone(),
            current: self.current.clone(),
            position: self.position,
            held: self.held.clone(),
            held_offset: self.held_offset,
            skip_to: self.skip_to,
            end: Arc::clone(&self.end),
            evicted: self.evicted,
            pull: self.pull.clone(),
            wait: RecvWait::new(),
            pull_wait: PullWait::default(),
            leading: false,
            lagging: self.lagging,
            terminated: false,
        }
    }
}

impl Drop for ByteReader {
    fn drop(&mut self) {
        self.cancel_waits();
        self.release_lead();
    }
}

impl fmt::Debug for ByteReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteReader")
            .field("position", &self.position)
            .field("buffered", &self.current.len())
            .field("evicted", &self.evicted)
            .finish_non_exhaustive()
    }
}
