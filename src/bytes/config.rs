//! `bytes::Builder` and `bytes::channel`.

use super::end::End;
use super::{ByteReader, ByteWriter, Chunk};
use crate::config::{LagPolicy, MAX_CAPACITY};
use crate::error::ConfigError;
use std::sync::Arc;

/// The default [`Builder::max_bytes`]: 8 MiB.
const DEFAULT_MAX_BYTES: usize = 8 << 20;
/// The default [`Builder::chunk_size`]: 64 KiB (or `max_bytes`, if smaller).
const DEFAULT_CHUNK_SIZE: usize = 64 << 10;

/// Configures and builds a byte stream.
///
/// Every invalid setting is reported by [`build`](Builder::build) as a [`ConfigError`]
/// naming the field and the allowed range.
///
/// ```
/// use tailcast::{bytes, LagPolicy};
///
/// let (writer, reader) = bytes::Builder::new()
///     .max_bytes(1 << 20)
///     .chunk_size(16 << 10)
///     .lag_policy(LagPolicy::Block)
///     .build()?;
/// # drop((writer, reader));
/// let err = bytes::Builder::new().max_bytes(1024).chunk_size(4096).build().unwrap_err();
/// assert_eq!(err.field(), "chunk_size");
/// # Ok::<(), tailcast::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    max_bytes: usize,
    chunk_size: Option<usize>,
    policy: LagPolicy,
    retain_bytes: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// The defaults: `max_bytes` 8 MiB, `chunk_size` 64 KiB, [`LagPolicy::Block`],
    /// `retain_bytes` 0.
    pub fn new() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            chunk_size: None,
            policy: LagPolicy::Block,
            retain_bytes: 0,
        }
    }

    /// The most bytes published and not yet read by the slowest `Block` reader. Allowed:
    /// `1..=2^32`. Default: 8 MiB.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// The size of the chunks small writes are coalesced into (a full chunk is
    /// published). Allowed: `1..=max_bytes`. Default: 64 KiB, or `max_bytes` if smaller.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = Some(n);
        self
    }

    /// The readers' lag policy. Default: [`LagPolicy::Block`].
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Bytes kept for late readers ([`ByteWriter::reader_from_oldest`]) even when no
    /// reader holds them; they do not count against `max_bytes`. Allowed: `0..=2^32`.
    /// Default: 0.
    pub fn retain_bytes(mut self, n: usize) -> Self {
        self.retain_bytes = n;
        self
    }

    /// Builds the stream: its writer and a first reader at offset 0.
    ///
    /// The first reader is a real reader: under `Block`, a writer whose first reader is
    /// kept alive unread waits once `max_bytes` are written (as with
    /// [`tailcast::channel`](crate::channel)). Use [`build_writer`](Builder::build_writer)
    /// for readers made later.
    pub fn build(&self) -> Result<(ByteWriter, ByteReader), ConfigError> {
        let writer = self.build_writer()?;
        let reader = writer.reader();
        Ok((writer, reader))
    }

    /// Builds the stream with no reader yet: writes never wait until one is made.
    pub fn build_writer(&self) -> Result<ByteWriter, ConfigError> {
        if !(1..=MAX_CAPACITY).contains(&self.max_bytes) {
            return Err(ConfigError::new(
                "max_bytes",
                self.max_bytes,
                format!("1..={MAX_CAPACITY}"),
            ));
        }
        let chunk_size = match self.chunk_size {
            None => DEFAULT_CHUNK_SIZE.min(self.max_bytes),
            Some(n) if (1..=self.max_bytes).contains(&n) => n,
            Some(n) => {
                return Err(ConfigError::new(
                    "chunk_size",
                    n,
                    format!("1..={} (max_bytes)", self.max_bytes),
                ))
            }
        };
        if self.retain_bytes > MAX_CAPACITY {
            return Err(ConfigError::new(
                "retain_bytes",
                self.retain_bytes,
                format!("0..={MAX_CAPACITY}"),
            ));
        }
        // One chunk per node; a chunk weighs at least one byte, so `max_bytes` chunks
        // bound the count too.
        let config = crate::Builder::new()
            .capacity(self.max_bytes)
            .chunk_len(1)
            .lag_policy(self.policy)
            .retain(self.retain_bytes)
            .config()?;
        let publisher = crate::publisher::new_weighted_publisher(
            config,
            Chunk::weight,
            self.max_bytes as u64,
            self.retain_bytes as u64,
        );
        Ok(ByteWriter::new(
            publisher,
            chunk_size,
            self.max_bytes,
            Arc::new(End::default()),
        ))
    }
}

/// A byte stream bounded by `max_bytes`, with the defaults of [`Builder`]: its writer and
/// a first reader at offset 0.
///
/// # Panics
///
/// If `max_bytes` is 0 or above 2^32 ([`Builder::build`] reports it as a
/// [`ConfigError`] instead).
pub fn channel(max_bytes: usize) -> (ByteWriter, ByteReader) {
    match Builder::new().max_bytes(max_bytes).build() {
        Ok(pair) => pair,
        Err(e) => panic!("tailcast::bytes::channel: {e}"),
    }
}
