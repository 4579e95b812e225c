//! Recycled chunk buffers: a full chunk a writer or a tee hands out goes back to its pool
//! when its last reader drops it, not to the allocator, and the next chunk is gathered or
//! read into it.
//!
//! Why: a fresh buffer per chunk, freed by whichever reader drops it last, costs the
//! allocator's work on both sides, and worse with glibc's malloc:
//! - a writer's freed chunks shrink its heap (trimmed once 128 KiB is free at the top),
//!   so the next chunk's pages fault in again: 54,000 page faults for 1 GiB to 16 readers
//!   in 4 KiB writes (`benches/benches/bytes_fanout.rs`), 2,500 once the trim is off;
//! - with a tee, whichever reader leads reads the next chunk, so the chunks are allocated
//!   by every reader's thread in turn, and each thread's arena keeps up to a stream's
//!   worth of freed chunks: measured with `examples/tee.rs` (4 sinks, `max_bytes` 64 MiB),
//!   peak RSS 92-110 MiB with fresh buffers, 67 MiB with one arena or this pool.

use std::mem;
use std::sync::{Arc, Mutex, PoisonError};

use ::bytes::Bytes;

/// A tee's spare read buffers.
///
/// # Invariants
///
/// - Every buffer in `free` is `len` bytes long, and `free` keeps at most `keep` of them
///   (a stream's worth, `max_bytes / len`, plus a few for the chunks readers are in the
///   middle of); a buffer coming back to a full pool is freed.
/// - A buffer is allocated only when `free` is empty, so the buffers alive (in chunks
///   plus in `free`) never exceed the most ever in flight at once plus the one being
///   read into (the stream's own bound, `max_bytes` plus the chunk each reader is in the
///   middle of, while no reader keeps chunks it has read), whatever the stream's length;
///   chunks a reader keeps come back at most `keep` to the pool. What `free` keeps goes
///   with the tee or writer and its last chunk.
///
/// `std`'s mutex, not the loom shim's: its critical sections make no loom operation (a
/// push or a pop), so they cannot interleave with one, and a model need not explore
/// them.
pub(super) struct Pool {
    free: Mutex<Vec<Box<[u8]>>>,
    len: usize,
    keep: usize,
}

/// The buffers a pool keeps beyond a stream's worth (`max_bytes / len`).
const SPARE: usize = 4;

/// A full read's buffer inside a [`Bytes`]: dropped, it goes back to its pool.
struct Recycled {
    buf: Box<[u8]>,
    pool: Arc<Pool>,
}

impl Pool {
    /// A pool of `len`-byte buffers for a stream bounded by `max_bytes`.
    pub(super) fn new(len: usize, max_bytes: usize) -> Arc<Pool> {
        Arc::new(Pool {
            free: Mutex::new(Vec::new()),
            len,
            keep: max_bytes / len.max(1) + SPARE,
        })
    }

    /// A buffer of `len` bytes: a recycled one (its old bytes are for the read to
    /// overwrite), or a new zeroed one.
    pub(super) fn take(&self) -> Box<[u8]> {
        let recycled = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        recycled.unwrap_or_else(|| vec![0; self.len].into_boxed_slice())
    }

    /// `buf`, filled by a read, as a chunk whose buffer comes back here once dropped.
    pub(super) fn chunk(self: &Arc<Self>, buf: Box<[u8]>) -> Bytes {
        debug_assert_eq!(buf.len(), self.len);
        Bytes::from_owner(Recycled {
            buf,
            pool: Arc::clone(self),
        })
    }

    /// The buffers kept for reuse.
    #[cfg(test)]
    fn spare(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Bytes gathered into a chunk of the pool's buffer length (a writer's `io::Write`).
///
/// # Invariants
///
/// - `buf` is empty (no buffer taken yet, or handed out) or one of `pool`'s buffers;
///   `len <= pool.len`, and `len > 0` only with a buffer.
pub(super) struct Gather {
    pool: Arc<Pool>,
    buf: Box<[u8]>,
    len: usize,
}

impl Gather {
    pub(super) fn new(chunk_size: usize, max_bytes: usize) -> Self {
        Gather {
            pool: Pool::new(chunk_size, max_bytes),
            buf: Box::default(),
            len: 0,
        }
    }

    /// The bytes gathered.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_full(&self) -> bool {
        self.len == self.pool.len
    }

    /// Appends what fits of `data` (all of it, or up to the chunk's end); returns how
    /// much.
    pub(super) fn extend(&mut self, data: &[u8]) -> usize {
        if self.buf.is_empty() {
            self.buf = self.pool.take();
        }
        let take = data.len().min(self.pool.len - self.len);
        self.buf[self.len..self.len + take].copy_from_slice(&data[..take]);
        self.len += take;
        take
    }

    /// The bytes gathered as a chunk (`None` if there are none): a full chunk is the
    /// buffer itself, back in the pool once dropped; a part (a flush) is a copy, so a
    /// few bytes never pin a whole buffer, and the buffer stays for the next bytes.
    pub(super) fn take_chunk(&mut self) -> Option<Bytes> {
        let len = mem::take(&mut self.len);
        match len {
            0 => None,
            _ if len == self.pool.len => Some(self.pool.chunk(mem::take(&mut self.buf))),
            _ => Some(Bytes::copy_from_slice(&self.buf[..len])),
        }
    }
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let buf = mem::take(&mut self.buf);
        let mut free = self
            .pool
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if free.len() < self.pool.keep {
            free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_chunk_comes_back_and_is_reused() {
        let pool = Pool::new(4, 4);
        let mut buf = pool.take();
        buf.copy_from_slice(b"abcd");
        let ptr = buf.as_ptr();
        let chunk = pool.chunk(buf);
        let copy = chunk.slice(1..3);
        assert_eq!(&chunk[..], b"abcd");
        drop(chunk);
        assert_eq!(pool.spare(), 0, "a slice still holds the buffer");
        assert_eq!(&copy[..], b"bc");
        drop(copy);
        assert_eq!(pool.spare(), 1);
        let again = pool.take();
        assert_eq!(again.as_ptr(), ptr, "the same buffer, not a new one");
        assert_eq!(pool.spare(), 0);
    }

    #[test]
    fn a_full_pool_frees_what_comes_back() {
        let pool = Pool::new(4, 8); // keeps 8 / 4 + SPARE
        let keep = 2 + SPARE;
        let chunks: Vec<Bytes> = (0..keep + 3).map(|_| pool.chunk(pool.take())).collect();
        drop(chunks);
        assert_eq!(pool.spare(), keep);
    }

    #[test]
    fn gather_hands_out_full_buffers_and_copies_parts() {
        let mut gather = Gather::new(4, 4);
        assert_eq!(gather.take_chunk(), None);
        assert_eq!(gather.extend(b"ab"), 2);
        assert_eq!(gather.take_chunk().as_deref(), Some(&b"ab"[..]), "a copy");
        assert_eq!(gather.extend(b"cdefg"), 4);
        assert!(gather.is_full());
        let full = gather.take_chunk().unwrap();
        assert_eq!(&full[..], b"cdef");
        assert_eq!(gather.len(), 0);
        drop(full);
        assert_eq!(gather.pool.spare(), 1, "the full chunk's buffer came back");
        assert_eq!(gather.extend(b"g"), 1);
        assert_eq!(gather.pool.spare(), 0, "and was taken for the next bytes");
        assert_eq!(gather.take_chunk().as_deref(), Some(&b"g"[..]));
    }
}
