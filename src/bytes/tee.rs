//! `tee`: one `io::Read` source fanned out to any number of readers, pulled by the
//! readers themselves (no pump thread).

use std::io::{self, Read};
use std::sync::Arc;

use ::bytes::BytesMut;
use event_listener::Event;

use super::reader::Pull;
use super::{Builder, ByteReader, ByteWriter};
// The shim's mutex, so the loom models see the source lock (`Arc` stays std's: it only
// counts references, and loom's cannot hold a `dyn Pull`).
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
    shared: Arc<Shared<R>>,
}

/// Creates a [`Tee`] of `source` bounded by `max_bytes`.
///
/// # Panics
///
/// If `max_bytes` is 0 or above 2^32, like [`channel`](super::channel).
pub fn tee<R: Read + Send + 'static>(source: R, max_bytes: usize) -> Tee<R> {
    let writer = match Builder::new().max_bytes(max_bytes).build_writer() {
        Ok(writer) => writer,
        Err(e) => panic!("tailcast::bytes::tee: {e}"),
    };
    Tee {
        shared: Arc::new(Shared {
            leading: AtomicBool::new(false),
            source: Mutex::new(Some(Source {
                source,
                writer,
                buf: BytesMut::new(),
            })),
            event: Event::new(),
            chunk: READ_CHUNK.min(max_bytes),
            handle: Mutex::new(None),
        }),
    }
}

/// The state shared by a tee's readers.
///
/// # Invariants
///
/// - `leading` is set by the one reader reading the source (the leader); only the leader
///   and [`Tee::reader`] lock `source`. (A flag rather than `Mutex::try_lock`: loom models
///   a contended `try_lock` as blocking.)
/// - `source` is `Some` until the source ended (its end or error was published and the
///   writer dropped).
/// - `event` is notified after every publish and every release of `leading`.
struct Shared<R> {
    leading: AtomicBool,
    source: Mutex<Option<Source<R>>>,
    event: Event,
    chunk: usize,
    /// A reader at the end of the stream, kept once the source ended, to make the readers
    /// asked for after that.
    handle: Mutex<Option<ByteReader>>,
}

struct Source<R> {
    source: R,
    writer: ByteWriter,
    /// The read buffer: handed out whole when a read fills it, copied from otherwise (so a
    /// short read never pins a whole buffer with a few bytes).
    buf: BytesMut,
}

impl<R: Read + Send + 'static> Tee<R> {
    /// A reader at the current end of what was read from the source: made before the
    /// first read, it sees everything.
    ///
    /// Waits while another reader is reading the source, and so while that reader waits
    /// for room: do not call it from a thread whose own reader is the slowest.
    pub fn reader(&self) -> ByteReader {
        let pull: Arc<dyn Pull> = Arc::clone(&self.shared) as Arc<dyn Pull>;
        let guard = lock(&self.shared.source);
        let reader = match guard.as_ref() {
            Some(source) => source.writer.reader(),
            // Ended: a reader of what is left (nothing, then the outcome).
            None => lock(&self.shared.handle)
                .as_ref()
                .expect("kept when the source ends")
                .clone(),
        };
        drop(guard);
        reader.pulling(pull)
    }
}

impl<R: Read + Send + 'static> Pull for Shared<R> {
    fn try_acquire(&self) -> bool {
        // Acquire: pairs with the last leader's Release, so the new leader sees every
        // chunk published before it (see `ByteReader::lead_or_take`).
        self.leading
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn release(&self) {
        // Release: pairs with the next leader's Acquire.
        self.leading.store(false, Ordering::Release);
        self.event.notify(usize::MAX);
    }

    fn lead(&self) {
        let mut guard = lock(&self.source);
        let Some(source) = guard.as_mut() else {
            // Ended: the stream is closed, the caller's next receive says how.
            drop(guard);
            self.release();
            return;
        };
        if source.buf.len() != self.chunk {
            source.buf = BytesMut::zeroed(self.chunk);
        }
        let read = loop {
            match source.source.read(&mut source.buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Ok(0) => {
                let Source { writer, .. } = guard.take().expect("checked");
                *lock(&self.handle) = Some(writer.reader());
                let _ = writer.finish();
            }
            Ok(n) => {
                let chunk = if n == self.chunk {
                    source.buf.split().freeze()
                } else {
                    ::bytes::Bytes::copy_from_slice(&source.buf[..n.min(self.chunk)])
                };
                // Waits for room like any writer: the slowest Block reader is behind us.
                let _ = source.writer.write_bytes(chunk);
            }
            Err(e) => {
                let Source { writer, .. } = guard.take().expect("checked");
                *lock(&self.handle) = Some(writer.reader());
                writer.abort(e);
            }
        }
        drop(guard);
        self.release();
    }

    fn event(&self) -> &Event {
        &self.event
    }
}

impl<R> std::fmt::Debug for Tee<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tee")
            .field("chunk", &self.shared.chunk)
            .finish_non_exhaustive()
    }
}
