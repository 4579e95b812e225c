//! `copy_to_all`: one source copied to several sinks at once, one thread per sink.

use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use ::bytes::BytesMut;

use super::Builder;

/// The bound of [`copy_to_all`]'s stream: 8 MiB, the byte layer's default `max_bytes`.
const MAX_BYTES: usize = 8 << 20;
/// The size of each read from the source.
const READ_CHUNK: usize = 64 << 10;

/// Copies `source` to every sink at once, each sink written by its own scoped thread from
/// its own reader of one byte stream, with memory bounded by 8 MiB (the slowest sink sets
/// the pace). Returns the bytes copied once every sink has them all and was flushed.
///
/// Fails with the first error, of the source or of any sink; the other sinks are then
/// stopped (their readers see the error and their threads end) and nothing is left
/// running. A sink that failed may have received part of the data.
///
/// ```
/// let source: &[u8] = b"one upload, replicated to three stores";
/// let mut stores = vec![Vec::new(), Vec::new(), Vec::new()];
/// let n = tailcast::bytes::copy_to_all(source, stores.iter_mut().collect())?;
/// assert_eq!(n, source.len() as u64);
/// assert!(stores.iter().all(|s| s == source));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn copy_to_all<W: Write + Send>(mut source: impl Read, sinks: Vec<W>) -> io::Result<u64> {
    let (mut writer, first) = Builder::new()
        .max_bytes(MAX_BYTES)
        .build()
        .expect("the default settings are valid");
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<io::Error>> = Mutex::new(None);
    let fail = |e: io::Error| {
        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        failed.store(true, Ordering::Release);
    };
    let copied = std::thread::scope(|scope| {
        for mut sink in sinks {
            let mut reader = first.clone();
            let fail = &fail;
            scope.spawn(move || {
                let result = (|| -> io::Result<()> {
                    loop {
                        let chunk = reader.fill_buf()?;
                        if chunk.is_empty() {
                            return sink.flush();
                        }
                        let n = chunk.len();
                        sink.write_all(chunk)?;
                        reader.consume(n);
                    }
                })();
                // The reader goes first: a failed sink holds the writer back no longer.
                drop(reader);
                if let Err(e) = result {
                    fail(e);
                }
            });
        }
        drop(first);
        let mut total = 0u64;
        let mut buf = BytesMut::zeroed(READ_CHUNK);
        loop {
            if failed.load(Ordering::Acquire) {
                writer.abort(io::Error::other("copy_to_all: another sink failed"));
                return None;
            }
            match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let chunk = if n == READ_CHUNK {
                        let full = buf.split().freeze();
                        buf = BytesMut::zeroed(READ_CHUNK);
                        full
                    } else {
                        ::bytes::Bytes::copy_from_slice(&buf[..n])
                    };
                    total += n as u64;
                    writer.write_bytes(chunk).ok()?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    writer.abort(io::Error::new(e.kind(), e.to_string()));
                    fail(e);
                    return None;
                }
            }
        }
        writer.finish().ok()?;
        Some(total)
    });
    match (
        copied,
        first_error.into_inner().unwrap_or_else(|p| p.into_inner()),
    ) {
        (_, Some(e)) => Err(e),
        (Some(total), None) => Ok(total),
        (None, None) => Err(io::Error::other("copy_to_all: stopped")),
    }
}
