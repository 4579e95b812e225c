//! How a byte stream ended, set by the writer before it closes the event stream.

use std::fmt;
use std::io;

// The shim's mutex, not a std `OnceLock`: loom sees the set and the reads, so the models
// check that the end is recorded before the close (mutant `shutdown-closes-before-end`).
use crate::raw::sync::{lock, Mutex};

/// The end of a byte stream, shared by the writer and its readers.
///
/// # Invariants
///
/// Set at most once (the first set wins), by the writer, before it closes the event
/// stream (drops its publisher, or closes it in place): a reader that sees the event
/// stream closed (an `Acquire` load pairing with the close's `Release`) sees it set.
pub(crate) struct End(Mutex<Option<State>>);

/// How the stream ended, and at which offset (the bytes published).
#[derive(Debug)]
struct State {
    how: How,
    at: u64,
}

#[derive(Debug)]
enum How {
    Finished,
    Aborted(io::ErrorKind, String),
    Dropped,
}

impl Default for End {
    fn default() -> Self {
        End(Mutex::new(None))
    }
}

impl End {
    /// Records `how` unless an end was recorded before.
    fn set(&self, how: How, at: u64) {
        let mut state = lock(&self.0);
        if state.is_none() {
            *state = Some(State { how, at });
        }
    }

    pub(crate) fn finish(&self, at: u64) {
        self.set(How::Finished, at);
    }

    pub(crate) fn abort(&self, error: &io::Error, at: u64) {
        self.set(How::Aborted(error.kind(), error.to_string()), at);
    }

    pub(crate) fn drop_unfinished(&self, at: u64) {
        self.set(How::Dropped, at);
    }

    /// The offset a cleanly finished stream ended at.
    pub(crate) fn finished_at(&self) -> Option<u64> {
        lock(&self.0)
            .as_ref()
            .filter(|state| matches!(state.how, How::Finished))
            .map(|state| state.at)
    }

    /// The offset the stream ended at, once it has.
    pub(crate) fn offset(&self) -> Option<u64> {
        lock(&self.0).as_ref().map(|state| state.at)
    }

    /// What a read returns once every published byte was read: `Ok(())` for a clean end
    /// (the read returns `Ok(0)`), the abort's error, or `UnexpectedEof`.
    pub(crate) fn outcome(&self) -> io::Result<()> {
        match lock(&self.0).as_ref().map(|state| &state.how) {
            Some(How::Finished) => Ok(()),
            Some(How::Aborted(kind, message)) => Err(io::Error::new(*kind, message.clone())),
            Some(How::Dropped) | None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tailcast::bytes: the writer was dropped without `finish`; the stream is \
                 truncated",
            )),
        }
    }
}

impl fmt::Debug for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("End").field(&*lock(&self.0)).finish()
    }
}
