//! `RangeWriter`: writes at any offset, in any order, from any thread; readers get the
//! contiguous prefix, in order, as soon as it is complete.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use ::bytes::Bytes;
use event_listener::{listener, Event, Listener};

use super::intervals::Intervals;
use super::{ByteReader, ByteWriter};
use crate::raw::sync::{lock, Mutex, MutexGuard};

/// The writer of a byte stream written out of order, as parallel range downloads do
/// (made by [`ByteWriter::into_ranges`]). `Clone + Send + Sync`: one clone per thread.
///
/// [`write_at`](RangeWriter::write_at) accepts writes in any order; the contiguous prefix
/// is published as soon as it is complete. Bytes written ahead of the prefix count against
/// `max_bytes`: a write ending more than `max_bytes` past the prefix waits until the prefix
/// catches up (a write at the prefix always fits). A `write_at` returns once the prefix is
/// in the stream: while a chunk of it waits for room (the slowest `Block` reader), the
/// writes wait with it, and that chunk (at most `max_bytes`) comes on top of the bytes
/// buffered ahead, so memory is at most `max_bytes` in the stream, plus that chunk, plus
/// `max_bytes` ahead. [`abort`](RangeWriter::abort), [`finish`](RangeWriter::finish),
/// [`reader`](RangeWriter::reader) and [`published`](RangeWriter::published) never wait.
/// Writing the same bytes twice is fine; a write that disagrees with bytes already
/// buffered is `InvalidData` (bytes already published are not compared).
///
/// ```
/// use std::io::Read;
///
/// let (writer, mut reader) = tailcast::bytes::channel(1 << 20);
/// let ranges = writer.into_ranges();
/// // Two downloads of the halves, the second one first.
/// std::thread::scope(|s| {
///     for (offset, part) in [(6, &b"world"[..]), (0, &b"hello "[..])] {
///         let ranges = ranges.clone();
///         s.spawn(move || ranges.write_at(offset, part).unwrap());
///     }
/// });
/// ranges.finish(11)?;
/// let mut all = String::new();
/// reader.read_to_string(&mut all)?;
/// assert_eq!(all, "hello world");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Invariants
///
/// - `pieces` are disjoint and start at or after `prefix`; `intervals` is their coverage,
///   canonical. `prefix` bytes were handed to `writer` in order: published, or the last
///   of them staged in it while the stream is full.
/// - The state lock is never held across a wait: a write whose prefix waits for room
///   waits with it unlocked (woken through `Shared::waker`), so `abort`, `finish`,
///   `reader` and `published` never wait behind a slow reader (the other writes do, in
///   `drive`, until nothing is staged).
/// - A chunk is staged only while a `write_at` call is in `RangeWriter::drive`,
///   which returns once nothing is staged (or the stream ended); the stream ends clean
///   only with nothing staged.
/// - `writer` is `None` once the stream ended (finished or aborted); `end_reader` is then
///   a reader at its end, for [`reader`](RangeWriter::reader).
#[derive(Clone)]
pub struct RangeWriter {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Notified whenever the prefix moves, the stream ends, or a staged chunk may fit.
    room: Arc<Event>,
    /// The waker a staged chunk's wait for room registers: it notifies `room`.
    waker: Waker,
    max_bytes: u64,
}

/// Wakes the writes waiting in `RangeWriter::drive` when the stream has room.
struct NotifyRoom(Arc<Event>);

impl Wake for NotifyRoom {
    fn wake(self: Arc<Self>) {
        self.0.notify(usize::MAX);
    }
}

struct State {
    writer: Option<ByteWriter>,
    end_reader: Option<ByteReader>,
    pieces: BTreeMap<u64, Bytes>,
    intervals: Intervals,
    prefix: u64,
    finish_len: Option<u64>,
    /// Ended cleanly, complete (not aborted).
    finished: bool,
}

impl ByteWriter {
    /// Turns this writer into a [`RangeWriter`] (bytes buffered are published first; the
    /// ranges continue from [`written`](ByteWriter::written)). A writer already shut
    /// down (an async `shutdown`/`close`) gives a `RangeWriter` of a finished stream.
    pub fn into_ranges(mut self) -> RangeWriter {
        use std::io::Write;
        let _ = self.flush();
        let max_bytes = self.max_bytes() as u64;
        let prefix = self.written();
        let room = Arc::new(Event::new());
        let waker = Waker::from(Arc::new(NotifyRoom(Arc::clone(&room))));
        // Shut down: the stream is closed and finished at `prefix`; nothing is published
        // after the close.
        let shut = self.is_shut_down();
        let (writer, end_reader) = if shut {
            (None, Some(self.reader()))
        } else {
            (Some(self), None)
        };
        RangeWriter {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    writer,
                    end_reader,
                    pieces: BTreeMap::new(),
                    intervals: Intervals::default(),
                    prefix,
                    finish_len: shut.then_some(prefix),
                    finished: shut,
                }),
                room,
                waker,
                max_bytes,
            }),
        }
    }
}

impl RangeWriter {
    /// Writes `data` at `offset`. Waits while the write would end more than `max_bytes`
    /// past the published prefix (a write larger than `max_bytes` goes in pieces).
    ///
    /// # Errors
    ///
    /// `InvalidData` if it disagrees with bytes buffered for the same offsets;
    /// `InvalidInput` past the length given to [`finish`](RangeWriter::finish);
    /// `BrokenPipe` once the stream was aborted or its writers dropped. Once it ended
    /// complete, a write within `[0, len)` is accepted and ignored (a retried range that
    /// lost the race), as a write of bytes already published always is.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let max = self.shared.max_bytes as usize;
        for (i, piece) in data.chunks(max.max(1)).enumerate() {
            self.write_piece(offset + (i * max) as u64, piece)?;
        }
        Ok(())
    }

    fn write_piece(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset + data.len() as u64;
        loop {
            let mut state = lock(&self.shared.state);
            state.check(offset, end)?;
            if end <= state.prefix + self.shared.max_bytes {
                state.insert(offset, data)?;
                return self.drive(state);
            }
            drop(state);
            // Registered before the re-check: a prefix move in between is not missed.
            listener!(self.shared.room => moved);
            let state = lock(&self.shared.state);
            state.check(offset, end)?;
            if end <= state.prefix + self.shared.max_bytes {
                continue;
            }
            drop(state);
            moved.wait();
        }
    }

    /// Hands the pieces that continue the prefix to the writer, in order; while the
    /// stream is full, waits for room with the state unlocked and tries again, until
    /// nothing is staged. `BrokenPipe` if the stream was aborted meanwhile.
    fn drive<'a>(&'a self, mut state: MutexGuard<'a, State>) -> io::Result<()> {
        let mut cx = Context::from_waker(&self.shared.waker);
        loop {
            if state.publish_prefix(&self.shared.room, &mut cx).is_ready() {
                return state.check(0, 0);
            }
            drop(state);
            // Registered before the second try: room made in between is not missed.
            listener!(self.shared.room => room);
            state = lock(&self.shared.state);
            if state.publish_prefix(&self.shared.room, &mut cx).is_ready() {
                return state.check(0, 0);
            }
            drop(state);
            room.wait();
            state = lock(&self.shared.state);
        }
    }

    /// Ends the stream cleanly once `[0, len)` is complete (at once if it is), and
    /// rejects writes past `len` from now on.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if bytes past `len` were already written; `BrokenPipe` once the
    /// stream has ended.
    pub fn finish(&self, len: u64) -> io::Result<()> {
        let mut state = lock(&self.shared.state);
        if state.writer.is_none() {
            return Err(ended());
        }
        if state.prefix > len || state.intervals.any_from(len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("tailcast::bytes: finish({len}): bytes past {len} were written"),
            ));
        }
        state.finish_len = Some(len);
        state.end_if_complete();
        drop(state);
        self.shared.room.notify(usize::MAX);
        Ok(())
    }

    /// Ends the stream with `error` (see [`ByteWriter::abort`]); buffered ranges are
    /// discarded. Harmless once the stream has ended.
    pub fn abort(&self, error: io::Error) {
        let mut state = lock(&self.shared.state);
        if let Some(writer) = state.writer.take() {
            state.end_reader = Some(writer.reader());
            writer.abort(error);
        }
        state.pieces.clear();
        drop(state);
        self.shared.room.notify(usize::MAX);
    }

    /// A reader at the end of what the stream holds (see [`ByteWriter::reader`]): before
    /// a chunk of the prefix that still waits for room, which it will read.
    pub fn reader(&self) -> ByteReader {
        self.reader_with(ByteWriter::reader)
    }

    /// A reader at the oldest byte retained (see [`ByteWriter::reader_from_oldest`]); once
    /// the stream has ended, at its end.
    pub fn reader_from_oldest(&self) -> ByteReader {
        self.reader_with(ByteWriter::reader_from_oldest)
    }

    fn reader_with(&self, make: impl FnOnce(&ByteWriter) -> ByteReader) -> ByteReader {
        let state = lock(&self.shared.state);
        match (&state.writer, &state.end_reader) {
            (Some(writer), _) => make(writer),
            (None, Some(reader)) => reader.clone(),
            (None, None) => unreachable!("an ended stream keeps a reader at its end"),
        }
    }

    /// The bytes of the complete prefix handed to the stream so far, in order (the last
    /// chunk of them may still wait for room in the stream, inside the `write_at` call
    /// that completed it).
    pub fn published(&self) -> u64 {
        lock(&self.shared.state).prefix
    }
}

impl State {
    fn check(&self, offset: u64, end: u64) -> io::Result<()> {
        // A stream that ended complete still takes a late copy of its bytes (a retried or
        // hedged range request that lost the race), uncompared like any published byte.
        if self.writer.is_none() && !self.finished {
            return Err(ended());
        }
        if let Some(len) = self.finish_len {
            if end > len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("tailcast::bytes: write_at({offset}..{end}) is past the finished length {len}"),
                ));
            }
        }
        Ok(())
    }

    /// Buffers `data` at `offset` (checked against what is buffered); the caller hands
    /// the prefix it completes to the writer (`RangeWriter::drive`).
    fn insert(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset + data.len() as u64;
        if end <= self.prefix {
            return Ok(());
        }
        let (offset, data) = if offset < self.prefix {
            (self.prefix, &data[(self.prefix - offset) as usize..])
        } else {
            (offset, data)
        };
        // Compare with every buffered piece it overlaps; keep the uncovered parts.
        let mut uncovered = Vec::new();
        let mut at = offset;
        let overlapping: Vec<(u64, Bytes)> = self
            .pieces
            .range(..end)
            .rev()
            .take_while(|(s, p)| **s + p.len() as u64 > offset)
            .map(|(s, p)| (*s, p.clone()))
            .collect();
        for (s, piece) in overlapping.into_iter().rev() {
            let (from, to) = (s.max(offset), (s + piece.len() as u64).min(end));
            let ours = &data[(from - offset) as usize..(to - offset) as usize];
            let theirs = &piece[(from - s) as usize..(to - s) as usize];
            if ours != theirs {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tailcast::bytes: write_at: bytes {from}..{to} differ from those written before"),
                ));
            }
            if from > at {
                uncovered.push((at, from));
            }
            at = at.max(to);
        }
        if at < end {
            uncovered.push((at, end));
        }
        for (from, to) in uncovered {
            let bytes =
                Bytes::copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
            self.pieces.insert(from, bytes);
        }
        self.intervals.insert(offset, end);
        Ok(())
    }

    /// Hands the pieces that continue the prefix to the writer, in order, without
    /// waiting: `Pending` (with `cx` registered for room) while a chunk is staged.
    /// Ends the stream once the finished length is published.
    fn publish_prefix(&mut self, room: &Event, cx: &mut Context<'_>) -> Poll<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Poll::Ready(());
        };
        let before = self.prefix;
        let mut outcome = Poll::Ready(());
        if writer.has_staged() && writer.poll_staged(cx).is_pending() {
            outcome = Poll::Pending;
        }
        while outcome.is_ready() {
            let Some(piece) = self.pieces.remove(&self.prefix) else {
                break;
            };
            self.prefix += piece.len() as u64;
            // Staged if the stream is full: the slowest Block reader makes the room.
            outcome = writer.stage_bytes(piece, cx);
        }
        if self.prefix > before {
            self.intervals.trim_below(self.prefix);
            room.notify(usize::MAX);
        }
        if outcome.is_ready() {
            self.end_if_complete();
        }
        outcome
    }

    /// Ends the stream cleanly if `[0, finish_len)` was handed over and nothing waits
    /// staged (else the write staging it ends it, in `RangeWriter::drive`).
    fn end_if_complete(&mut self) {
        let staged = self.writer.as_ref().is_some_and(ByteWriter::has_staged);
        if self.finish_len == Some(self.prefix) && !staged {
            if let Some(writer) = self.writer.take() {
                self.end_reader = Some(writer.reader());
                let _ = writer.finish();
                self.finished = true;
            }
        }
    }
}

fn ended() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "tailcast::bytes: the stream has ended (finished or aborted)",
    )
}

impl std::fmt::Debug for RangeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("RangeWriter")
            .field("published", &state.prefix)
            .field("buffered", &state.intervals)
            .field("finish_len", &state.finish_len)
            .finish_non_exhaustive()
    }
}
