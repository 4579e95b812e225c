//! Byte streams: one writer's bytes fanned out to any number of readers, each an
//! [`io::Read`](std::io::Read) + [`io::BufRead`](std::io::BufRead) at its own pace, with
//! memory bounded in bytes by what the slowest reader has not read yet.
//!
//! Built on the event stream: each chunk is one event of a stream whose room rule is by
//! weight (a chunk weighs its length), so the [`Builder::max_bytes`] bound and the writer's
//! wait for room are the core's own, exact in bytes (see [*Room*](#room)).
//!
//! ```
//! use std::io::{Read, Write};
//!
//! let (mut writer, mut first) = tailcast::bytes::channel(1 << 20);
//! let mut second = first.clone();
//! let hasher = std::thread::spawn(move || {
//!     let mut all = Vec::new();
//!     second.read_to_end(&mut all).map(|_| all)
//! });
//! writer.write_all(b"one upload, ")?;
//! writer.write_all(b"several stores")?;
//! writer.finish()?;
//! let mut got = String::new();
//! first.read_to_string(&mut got)?;
//! assert_eq!(got, "one upload, several stores");
//! assert_eq!(hasher.join().unwrap()?, got.as_bytes());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Async, behind cargo features (no executor is spawned; the waits are the same
//! event-listener waits as the blocking ones): `tokio` gives `tokio::io::AsyncRead` and
//! `AsyncBufRead` for [`ByteReader`], `AsyncWrite` for [`ByteWriter`] (`poll_write` waits
//! for room, `poll_flush` publishes, `poll_shutdown` finishes) and `tee_async` for an
//! `AsyncRead` source; `futures-io` the same traits from `futures-io` (`poll_close`
//! finishes); `futures` a `futures_core::Stream<Item = io::Result<Bytes>>` of chunks for
//! [`ByteReader`]. Without a feature, [`ByteReader::poll_next_chunk`] is the poll-driven
//! read.
//!
//! Without a writer: [`tee`] fans an [`io::Read`](std::io::Read) source out to readers
//! that pull it themselves, and [`copy_to_all`] copies one source to several sinks at once.
//!
//! # How a stream ends
//!
//! - [`ByteWriter::finish`]: readers read everything written, then `Ok(0)` on every call.
//! - [`ByteWriter::abort`]: readers read everything published, then an error of the
//!   abort's kind and message on every call.
//! - **Dropping the writer without `finish`** (a panic mid-copy, an early `?`): readers
//!   read everything published, then an [`io::ErrorKind::UnexpectedEof`](std::io::ErrorKind::UnexpectedEof) error, so a
//!   truncated object never looks complete.
//!
//! # Room
//!
//! `max_bytes` bounds the bytes published and not yet taken by the slowest
//! [`LagPolicy::Block`](crate::LagPolicy::Block) reader, in bytes (a chunk weighs its
//! length); a write waits until its bytes fit, woken by the read that makes the room
//! (never by polling). A reader takes a whole chunk at its first read of it, which frees
//! the chunk's room at once, so a reader in the middle of a chunk never holds the writer
//! back: the unread rest of the chunk each reader is in (at most one chunk) comes on top
//! of `max_bytes`. Memory: `max_bytes + retain_bytes`, plus that chunk and the chunk the
//! writer is filling.
//!
//! # Lag policies
//!
//! As in the core. Under `Skip` a reader that falls `max_bytes` behind gets an
//! [`io::Error`](std::io::Error) of kind `Other` whose inner error is [`Lagged`] with the
//! exact count of bytes it missed, then reads on from the oldest byte still retained;
//! under `Disconnect` an error whose inner error is [`Evicted`], on every later call too.

#![deny(unsafe_code)]

mod async_io;
mod config;
mod copy;
mod end;
mod intervals;
mod pool;
mod ranges;
mod reader;
mod tee;
mod writer;

pub use ::bytes::Bytes;
pub use config::{channel, Builder};
pub use copy::copy_to_all;
pub use ranges::RangeWriter;
pub use reader::{ByteReader, Evicted, Lagged};
#[cfg(feature = "tokio")]
pub use tee::tee_async;
pub use tee::{tee, Tee};
pub use writer::ByteWriter;

/// One event of a byte stream: a chunk and the absolute offset of its first byte.
#[derive(Clone, Debug)]
pub(crate) struct Chunk {
    offset: u64,
    data: Bytes,
}

impl Chunk {
    /// A chunk's weight in the stream's room rule: its length.
    fn weight(&self) -> u64 {
        self.data.len() as u64
    }
}
