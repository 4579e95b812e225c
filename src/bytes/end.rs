//! How a byte stream ended, set by the writer before it closes the event stream.

use std::io;
use std::sync::OnceLock;

/// The end of a byte stream, shared by the writer and its readers.
///
/// # Invariants
///
/// Set at most once, by the writer, before it drops its publisher: a reader that sees
/// the event stream closed (an `Acquire` load pairing with the close's `Release`) sees it
/// set.
#[derive(Debug, Default)]
pub(crate) struct End(OnceLock<State>);

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

impl End {
    pub(crate) fn finish(&self, at: u64) {
        let _ = self.0.set(State {
            how: How::Finished,
            at,
        });
    }

    pub(crate) fn abort(&self, error: &io::Error, at: u64) {
        let _ = self.0.set(State {
            how: How::Aborted(error.kind(), error.to_string()),
            at,
        });
    }

    pub(crate) fn drop_unfinished(&self, at: u64) {
        let _ = self.0.set(State {
            how: How::Dropped,
            at,
        });
    }

    /// The offset a cleanly finished stream ended at.
    pub(crate) fn finished_at(&self) -> Option<u64> {
        self.0
            .get()
            .filter(|state| matches!(state.how, How::Finished))
            .map(|state| state.at)
    }

    /// The offset the stream ended at, once it has.
    pub(crate) fn offset(&self) -> Option<u64> {
        self.0.get().map(|state| state.at)
    }

    /// What a read returns once every published byte was read: `Ok(())` for a clean end
    /// (the read returns `Ok(0)`), the abort's error, or `UnexpectedEof`.
    pub(crate) fn outcome(&self) -> io::Result<()> {
        match self.0.get().map(|state| &state.how) {
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
