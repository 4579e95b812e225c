//! `tee`: one `io::Read` source fanned out to any number of readers, pulled by the
//! readers themselves (no pump thread).

use std::io::{self, Read};
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::bytes::Bytes;
use event_listener::Event;

use super::pool::Pool;
use super::reader::Pull;
use super::{Builder, ByteReader, ByteWriter};
// The shim's mutex, so the loom models see the source lock (`Arc` stays std's: it only
// counts references, and loom's cannot hold a `dyn Pull`).
use crate::raw::relay::DeferWakes;
use crate::raw::sync::{lock, AtomicBool, Mutex, Ordering};

/// The default chunk a tee reads from its source at a time: 64 KiB (or `max_bytes`).
const READ_CHUNK: usize = 64 << 10;

/// A source fanned out to readers made with [`reader`](Tee::reader).
///
/// Pull-driven, with no pump thread: a reader that needs bytes past what was read so far
/// reads the next chunk from the source itself (one reader at a time) and publishes it for
/// all. A source error reaches every reader after the data, with its kind and message; the
/// source's end is every reader's `Ok(0)`. Memory is bounded by `max_bytes` as for
/// [`ByteWriter`]: the reader reading the source waits, like a writer, for the slowest
/// `Block` reader.
///
/// ```
/// use std::io::Read;
///
/// let source: &[u8] = b"one download, hashed and saved at once";
/// let tee = tailcast::bytes::tee(source, 1 << 20);
/// let (mut hash_side, mut save_side) = (tee.reader(), tee.reader());
/// let saving = std::thread::spawn(move || {
///     let mut saved = Vec::new();
///     save_side.read_to_end(&mut saved).map(|_| saved)
/// });
/// let mut hashed = Vec::new();
/// hash_side.read_to_end(&mut hashed)?;
/// assert_eq!(saving.join().unwrap()?, hashed);
/// assert_eq!(hashed, source);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Tee<R> {
    pull: Arc<dyn Pull>,
    chunk: usize,
    /// The source lives in `pull`; `Tee` is `Send + Sync` for any `R: Send`.
    _source: PhantomData<fn(R)>,
}

/// Creates a [`Tee`] of `source` bounded by `max_bytes`.
///
/// # Panics
///
/// If `max_bytes` is 0 or above 2^32, like [`channel`](super::channel).
pub fn tee<R: Read + Send + 'static>(source: R, max_bytes: usize) -> Tee<R> {
    Tee::new::<Blocking>(source, max_bytes)
}

/// Creates a [`Tee`] of an async source ([`tokio::io::AsyncRead`]) bounded by
/// `max_bytes` (feature `tokio`).
///
/// Its readers are read as any reader: with the async traits (a reader that finds the
/// stream empty polls the source itself, in its own task, and keeps the source while
/// that read is pending), or with the blocking ones (the source is then polled on the
/// reading thread, parked until it is ready: a source that needs a runtime's reactor must
/// be read from inside that runtime's tasks).
///
/// # Panics
///
/// If `max_bytes` is 0 or above 2^32, like [`channel`](super::channel).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use tokio::io::AsyncReadExt;
///
/// let source: &[u8] = b"one download, hashed and saved at once";
/// let tee = tailcast::bytes::tee_async(source, 1 << 20);
/// let (mut hash_side, mut save_side) = (tee.reader(), tee.reader());
/// let saving = tokio::spawn(async move {
///     let mut saved = Vec::new();
///     save_side.read_to_end(&mut saved).await.map(|_| saved)
/// });
/// let mut hashed = Vec::new();
/// hash_side.read_to_end(&mut hashed).await?;
/// assert_eq!(saving.await.unwrap()?, hashed);
/// assert_eq!(hashed, source);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[cfg(feature = "tokio")]
pub fn tee_async<R>(source: R, max_bytes: usize) -> Tee<R>
where
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
{
    Tee::new::<Polled>(source, max_bytes)
}

impl<R> Tee<R> {
    fn new<K: 'static>(source: R, max_bytes: usize) -> Self
    where
        R: Send + 'static,
        Shared<R, K>: Pull,
    {
        let writer = match Builder::new().max_bytes(max_bytes).build_writer() {
            Ok(writer) => writer,
            Err(e) => panic!("tailcast::bytes::tee: {e}"),
        };
        let chunk = READ_CHUNK.min(max_bytes);
        let shared = Shared::<R, K> {
            leading: AtomicBool::new(false),
            source: Mutex::new(Some(Source {
                source,
                writer,
                buf: Box::default(),
            })),
            event: Event::new(),
            chunk,
            pool: Pool::new(chunk, max_bytes),
            handle: Mutex::new(None),
            _kind: PhantomData,
        };
        Tee {
            pull: Arc::new(shared),
            chunk,
            _source: PhantomData,
        }
    }

    /// A reader at the current end of what was read from the source: made before the
    /// first read, it sees everything.
    ///
    /// Waits while another reader is reading the source with a blocking read, and so
    /// while that reader waits for room: do not call it from a thread whose own reader is
    /// the slowest.
    pub fn reader(&self) -> ByteReader {
        self.pull.reader().pulling(Arc::clone(&self.pull))
    }
}

/// A source read with [`io::Read`].
struct Blocking;

/// A source read with `tokio::io::AsyncRead`.
#[cfg(feature = "tokio")]
struct Polled;

/// The state shared by a tee's readers.
///
/// # Invariants
///
/// - `leading` is set by the one reader reading the source (the leader); only the leader
///   and [`Tee::reader`] lock `source`, and neither holds the lock across a `Pending`.
///   (A flag rather than `Mutex::try_lock`: loom models a contended `try_lock` as
///   blocking.) A blocking lead releases it when it ends, a panic in the source's `read`
///   included (`ReleaseLead`): the next reader then leads.
/// - `source` is `Some` until the source ended (its end or error was published and the
///   writer dropped). A chunk read and not yet published (an async lead that waits for
///   room) is staged in its writer, and the next lead publishes it before reading more.
/// - `event` is notified after every publish and every release of `leading`.
struct Shared<R, K> {
    leading: AtomicBool,
    source: Mutex<Option<Source<R>>>,
    event: Event,
    chunk: usize,
    /// Where the buffers of full reads come back to (see `pool.rs`).
    pool: Arc<Pool>,
    /// A reader at the end of the stream, kept once the source ended, to make the readers
    /// asked for after that.
    handle: Mutex<Option<ByteReader>>,
    _kind: PhantomData<K>,
}

struct Source<R> {
    source: R,
    writer: ByteWriter,
    /// The read buffer, `chunk` bytes from the pool (empty between a full read and the
    /// next read): handed out whole when a read fills it, copied from otherwise (so a
    /// short read never pins a whole buffer with a few bytes).
    buf: Box<[u8]>,
}

/// How a tee's leader reads its kind of source (`Blocking` or `Polled`): the one part of
/// [`Pull`] that differs between them.
trait ReadSource<R>: Sized + 'static {
    /// [`Pull::lead`].
    fn lead(shared: &Shared<R, Self>);
    /// [`Pull::poll_lead`].
    fn poll_lead(shared: &Shared<R, Self>, cx: &mut Context<'_>) -> Poll<()>;
}

impl<R: Send + 'static, K: ReadSource<R>> Pull for Shared<R, K>
where
    Shared<R, K>: Send + Sync,
{
    fn try_acquire(&self) -> bool {
        // Acquire: pairs with the last leader's Release, so the new leader sees every
        // chunk published before it (see `ByteReader::lead_or_take`).
        self.leading
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn release(&self) {
        // Ends after the notify: a dropped listener's relay wakes run outside its lock.
        let _defer = DeferWakes::enter();
        // Release: pairs with the next leader's Acquire.
        self.leading.store(false, Ordering::Release);
        self.event.notify(usize::MAX);
    }

    fn lead(&self) {
        K::lead(self);
    }

    fn poll_lead(&self, cx: &mut Context<'_>) -> Poll<()> {
        K::poll_lead(self, cx)
    }

    fn event(&self) -> &Event {
        &self.event
    }

    fn reader(&self) -> ByteReader {
        let guard = lock(&self.source);
        match guard.as_ref() {
            Some(source) => source.writer.reader(),
            // Ended: a reader of what is left (nothing, then the outcome).
            None => lock(&self.handle)
                .as_ref()
                .expect("kept when the source ends")
                .clone(),
        }
    }
}

impl<R, K> Shared<R, K> {
    /// The read buffer, from the pool if the last read handed it out.
    fn read_buf<'a>(&self, buf: &'a mut Box<[u8]>) -> &'a mut [u8] {
        if buf.is_empty() {
            *buf = self.pool.take();
        }
        buf
    }

    /// The chunk of a read of `n` bytes into `buf`.
    fn chunk_of(&self, buf: &mut Box<[u8]>, n: usize) -> Bytes {
        if n == self.chunk {
            self.pool.chunk(std::mem::take(buf))
        } else {
            Bytes::copy_from_slice(&buf[..n.min(self.chunk)])
        }
    }

    /// Ends the stream after the source's end (`Ok`) or error, keeping a reader of what
    /// is left for the readers asked for later.
    fn end(&self, source: &mut Option<Source<R>>, outcome: io::Result<()>) {
        let Source { writer, .. } = source.take().expect("ended once");
        *lock(&self.handle) = Some(writer.reader());
        match outcome {
            Ok(()) => {
                let _ = writer.finish();
            }
            Err(e) => writer.abort(e),
        }
    }
}

/// Releases the lead when dropped: at the end of a blocking lead, and if the source's
/// `read` panics (the other readers then lead in turn, instead of waiting forever).
struct ReleaseLead<'a, R: Send + 'static, K: ReadSource<R>>(&'a Shared<R, K>)
where
    Shared<R, K>: Send + Sync;

impl<R: Send + 'static, K: ReadSource<R>> Drop for ReleaseLead<'_, R, K>
where
    Shared<R, K>: Send + Sync,
{
    fn drop(&mut self) {
        self.0.release();
    }
}

impl<R: Read + Send + 'static> ReadSource<R> for Blocking {
    fn lead(shared: &Shared<R, Self>) {
        // Declared first, dropped last: the source's lock is released before the lead.
        let _release = ReleaseLead(shared);
        let mut guard = lock(&shared.source);
        let Some(source) = guard.as_mut() else {
            // Ended: the stream is closed, the caller's next receive says how.
            return;
        };
        let read = loop {
            match source.source.read(shared.read_buf(&mut source.buf)) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Ok(0) => shared.end(&mut guard, Ok(())),
            Ok(n) => {
                let chunk = shared.chunk_of(&mut source.buf, n);
                // Waits for room like any writer: the slowest Block reader is behind us.
                let _ = source.writer.write_bytes(chunk);
            }
            Err(e) => shared.end(&mut guard, Err(e)),
        }
    }

    /// A blocking source is read as in [`lead`](Pull::lead), on the polling thread.
    fn poll_lead(shared: &Shared<R, Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Self::lead(shared);
        Poll::Ready(())
    }
}

#[cfg(feature = "tokio")]
impl<R> ReadSource<R> for Polled
where
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
{
    /// Polls the source on this thread, parked until it is ready.
    fn lead(shared: &Shared<R, Self>) {
        super::async_io::block_on(|cx| Self::poll_lead(shared, cx));
    }

    fn poll_lead(shared: &Shared<R, Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut guard = lock(&shared.source);
        let Some(source) = guard.as_mut() else {
            drop(guard);
            shared.release();
            return Poll::Ready(());
        };
        if source.writer.has_staged() {
            // The chunk an earlier lead read: published before anything more is read.
            if source.writer.poll_staged(cx).is_pending() {
                return Poll::Pending;
            }
        } else {
            let mut read_buf = tokio::io::ReadBuf::new(shared.read_buf(&mut source.buf));
            let read = match std::pin::Pin::new(&mut source.source).poll_read(cx, &mut read_buf) {
                // The leadership is kept: the caller polls again.
                Poll::Pending => return Poll::Pending,
                Poll::Ready(read) => read.map(|()| read_buf.filled().len()),
            };
            match read {
                // An interrupted read is retried by the caller's next poll.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Ok(0) => shared.end(&mut guard, Ok(())),
                Ok(n) => {
                    let chunk = shared.chunk_of(&mut source.buf, n);
                    if source.writer.stage_bytes(chunk, cx).is_pending() {
                        // Waits for room, staged: this or the next leader publishes it.
                        return Poll::Pending;
                    }
                }
                Err(e) => shared.end(&mut guard, Err(e)),
            }
        }
        drop(guard);
        shared.release();
        Poll::Ready(())
    }
}

impl<R> std::fmt::Debug for Tee<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tee")
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}
