//! A lock-free, append-only, in-process event stream: one publisher appends, any number of
//! subscribers each see every event, in order, at their own pace.
//!
//! ```
//! let (mut tx, mut rx) = tailcast::channel(1024);
//! let mut rx2 = tx.subscribe();
//!
//! let t = std::thread::spawn(move || {
//!     let mut sum = 0u64;
//!     while let Ok(v) = rx2.recv() {
//!         sum += v;
//!     }
//!     sum
//! });
//! for i in 1..=100u64 {
//!     tx.publish(i);
//! }
//! drop(tx); // closes the stream: subscribers drain what was published, then `Closed`
//!
//! assert_eq!(t.join().unwrap(), 5050);
//! assert_eq!(rx.recv(), Ok(1));
//! ```
//!
//! # Shape
//!
//! The stream is an immutable singly linked list of *nodes*, each holding `chunk_len`
//! write-once slots. The single [`Publisher`] owns the tail and publishes a slot with one
//! release store: no CAS loop, no lock. Each [`Subscriber`] is a cursor (node, index).
//! Waiting — blocking, with a timeout, or async — parks on the current node's
//! [`event_listener::Event`], and the publisher only touches that event when someone is
//! parked. Nodes every cursor has passed are recycled or freed; a node a lagging cursor was
//! moved off is reclaimed through this stream's own crossbeam-epoch collector.
//!
//! # Capacity and lag
//!
//! `capacity` caps the events between the slowest cursor and the tail, counted exactly: a
//! subscriber is `k` behind when `k` published events are not yet received by it, and
//! with the slowest `Block` subscriber `k` behind, exactly `capacity - k` more events are
//! accepted without waiting. Each event received makes room for one more at once, and the
//! receive that makes the room a waiting publisher needs wakes it. What happens at the cap
//! is the subscriber's [`LagPolicy`]: `Block` (default) makes the publisher wait, `Skip`
//! makes the subscriber skip ahead with an exact [`RecvError::Lagged`] count, and
//! `Disconnect` evicts it ([`RecvError::Evicted`]); a lossy subscriber is moved only by
//! the event that would put it `capacity + 1` behind. The policy is per subscriber
//! ([`Publisher::subscribe_with`]). Each cursor stores its position after every receive
//! with one plain store on its own cache line (a *gating sequence*); the publisher reads
//! the positions only when its cached view of the room runs out.
//!
//! ```
//! let (mut tx, mut rx) = tailcast::Builder::new().capacity(8).chunk_len(4).build::<u32>()?;
//! tx.publish_batch(0..8);            // 8 behind: full
//! assert!(tx.try_publish(8).is_err());
//! rx.recv()?;                        // 7 behind: exactly one more fits
//! assert!(tx.try_publish(8).is_ok());
//! assert!(tx.try_publish(9).is_err());
//! assert_eq!(tx.stats().slowest_lag, 8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Builder::retain`] keeps the last `n` events for late subscribers
//! ([`Publisher::subscribe_at`] with a [`Position`]); [`Subscriber::lag`] and
//! [`Publisher::stats`] report how far behind subscribers are.
//!
//! With no subscribers the publisher never waits and nothing accumulates
//! ([`Builder::build_publisher`] makes a stream without one). A subscriber kept alive and
//! never read is not "no subscriber": `let (tx, _rx) = tailcast::channel(n)` holds a
//! `Block` cursor at event 0 and stops the publisher after `n` events (see [`channel`]).
//! When the last `Block` subscriber drops, the events it had not read are dropped at once
//! (the [`retain`](Builder::retain) window aside); events in nodes it had already passed go
//! when the publisher fills its next node.
//!
//! # Choosing a lag policy
//!
//! - `Block` (the default) when every event must reach every reader: an upload
//!   replicated to several stores, a pipeline stage. The slowest reader sets the pace;
//!   memory stays at `capacity` events.
//! - `Skip` when a reader wants the freshest data and can tolerate gaps it is told about:
//!   a dashboard, a price feed. It never slows the publisher; a receive returns
//!   `Lagged(n)` with the exact number missed, then goes on.
//! - `Disconnect` when a reader that falls behind should be dropped and told: a network
//!   client that stopped reading. Its nodes are freed at once and it receives `Evicted`.
//!
//! The policy is per subscriber, so one stream can feed a `Block` archiver and `Skip`
//! viewers at once ([`Publisher::subscribe_with`]).
//!
//! # Waiting
//!
//! A blocking wait (a subscriber with nothing to read, a `Block` publisher at the cap)
//! first yields its time slice a few times, only while every thread of the stream can
//! have a core, then parks until the other side makes progress and wakes it. Nothing spins
//! without bound, and an idle stream costs no CPU. [`Builder::yield_before_park`] extends
//! the yielding phase for a fixed time: less wake-up latency, more CPU while waiting.
//!
//! # Async, several producers, routing
//!
//! [`Subscriber::recv_async`] and [`Publisher::publish_async`] work on any executor. With
//! the `futures` feature a `Subscriber<T>` is a `Stream<Item = Result<T, RecvError>>`
//! (loss is an item, `None` at the close) and a `Publisher<T>` a `Sink<T>` (its
//! `poll_ready` waits for room); `tailcast::router` routes a stream to sinks by key or
//! predicate, with routes added and removed while it runs. [`Publisher::into_shared`]
//! makes a [`SharedPublisher`] for many producer threads or tasks:
//!
//! ```
//! let (tx, mut rx) = tailcast::channel::<u64>(16);
//! let tx = tx.into_shared();
//! let threads: Vec<_> = (0..3)
//!     .map(|p| {
//!         let tx = tx.clone();
//!         std::thread::spawn(move || (0..10).for_each(|i| tx.publish(p * 10 + i)))
//!     })
//!     .collect();
//! drop(tx); // the stream closes when the last clone is gone
//! let mut got: Vec<u64> = rx.iter().map(Result::unwrap).collect();
//! got.sort_unstable();
//! assert_eq!(got, (0..30).collect::<Vec<_>>());
//! # threads.into_iter().for_each(|t| t.join().unwrap());
//! ```
//!
//! # Bytes
//!
//! [`bytes`] is the byte layer: one [`bytes::ByteWriter`] (`io::Write`), any number of
//! [`bytes::ByteReader`]s (`io::Read`, `BufRead`, `read_at`), memory bounded in bytes by
//! what the slowest reader has not read; [`bytes::tee`] fans an `io::Read` out with no pump
//! thread, [`bytes::copy_to_all`] copies one source to many sinks, and
//! [`bytes::ByteWriter::into_ranges`] takes out-of-order range writes:
//!
//! ```
//! use std::io::{Read, Write};
//! let (mut writer, mut reader) = tailcast::bytes::channel(1 << 20);
//! let mut copy = writer.reader_from_oldest();
//! writer.write_all(b"one upload, two stores")?;
//! writer.finish()?;
//! let (mut a, mut b) = (String::new(), String::new());
//! reader.read_to_string(&mut a)?;
//! copy.read_to_string(&mut b)?;
//! assert_eq!((a.as_str(), b.as_str()), ("one upload, two stores", "one upload, two stores"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Memory
//!
//! This is the one statement of the bound (ARCHITECTURE.md argues it); the rest of the
//! documentation links here. At most `max(capacity, retain) + chunk_len` events are held (the node the slowest
//! cursor reads keeps the events it already read there until it leaves it), in at most
//! `ceil(max(capacity, retain) / chunk_len) + 2` nodes. Nodes
//! every cursor has passed go to a pool for reuse, and a node is allocated only when the
//! pool is empty, so retained plus pooled nodes stay within the same bound and steady
//! state allocates nothing, also with readers on other threads. A dropped, lagged or
//! evicted subscriber releases its nodes at once (freed, not pooled),
//! except a node it may still have been reading, which is freed within a few nodes of
//! further publishing (or when the stream ends).
//! When the publisher and every subscriber are gone, nothing of the stream stays allocated.
//!
//! # Thread safety
//!
//! `Publisher<T>` and `Subscriber<T>` are `Send` and `Sync` when `T: Send + Sync`:
//! subscribers on several threads read the same `&T` (and clone it).
//!
//! `Sync` is required, not only `Send`, because every subscriber reads the one stored
//! value: two threads cloning a `Cell` (or any `!Sync` value) through `&T` at once would be
//! a data race (tokio's RUSTSEC-2025-0023 was this bug). A `!Sync` payload is therefore
//! rejected wherever a handle or a borrowed event could reach a second thread. Each
//! of the following fails to compile with `T = Cell<u32>`, and compiles with `T = u32`:
//!
//! ```compile_fail,E0277
//! // A subscriber moved to another thread, the other one kept here.
//! let (_tx, mut rx) = tailcast::channel::<std::cell::Cell<u32>>(8);
//! let mut other = rx.clone();
//! std::thread::spawn(move || other.try_recv());
//! let _ = rx.try_recv();
//! ```
//!
//! ```compile_fail,E0277
//! // The publisher moved away: it could subscribe there while a subscriber stays here.
//! let (tx, _rx) = tailcast::channel::<std::cell::Cell<u32>>(8);
//! std::thread::spawn(move || drop(tx.subscribe()));
//! ```
//!
//! ```compile_fail,E0277
//! // A subscriber shared by reference (`Subscriber: Sync`), cloned on another thread.
//! let (_tx, rx) = tailcast::channel::<std::cell::Cell<u32>>(8);
//! std::thread::scope(|s| {
//!     s.spawn(|| drop(rx.clone()));
//! });
//! ```
//!
//! ```compile_fail,E0277
//! // A borrowed event (`&Cell<u32>` inside) sent to another thread.
//! let (mut tx, mut rx) = tailcast::channel::<std::cell::Cell<u32>>(8);
//! tx.publish(std::cell::Cell::new(1));
//! let event = rx.recv_ref().unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(move || event.get());
//! });
//! ```
//!
//! ```compile_fail,E0277
//! // A borrowed batch sent to another thread.
//! let (mut tx, mut rx) = tailcast::channel::<std::cell::Cell<u32>>(8);
//! tx.publish(std::cell::Cell::new(1));
//! let batch = rx.recv_batch(8).unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(move || batch[0].get());
//! });
//! ```
//!
//! The same five with a `Send + Sync` payload compile and run, and a `!Sync` payload is
//! fine on one thread:
//!
//! ```
//! use std::cell::Cell;
//!
//! let (tx, rx) = tailcast::channel::<u32>(8);
//! let mut other = rx.clone();
//! std::thread::spawn(move || other.try_recv()).join().unwrap().unwrap_err();
//! std::thread::spawn(move || drop(tx.subscribe())).join().unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(|| drop(rx.clone()));
//! });
//! let (mut tx, mut rx) = tailcast::channel::<u32>(8);
//! tx.publish(1);
//! let event = rx.recv_ref().unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(move || assert_eq!(*event, 1));
//! });
//! tx.publish(2);
//! let batch = rx.recv_batch(8).unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(move || assert_eq!(batch[0], 2));
//! });
//!
//! let (mut tx, mut rx) = tailcast::channel::<Cell<u32>>(8);
//! tx.publish(Cell::new(3));
//! assert_eq!(rx.recv().unwrap().get(), 3);
//! ```
//!
//! # What is verified, and how
//!
//! Every atomic protocol (publish and observe, park and notify, exact room, lag and
//! eviction, reclamation, the byte layer's tee, range window and end, the futures traits,
//! several producers, the router's table) has loom models in `loom-tests/`, each checked
//! to fail when its protocol is broken on purpose (a catalogue of planted mutants,
//! ARCHITECTURE.md). The unit and integration tests also run under miri (Tree Borrows,
//! leak check) and the sanitizers (ASan, TSan); fuzz targets drive the configuration, the
//! operations and the range writer; a release stress test pushes 10^7 events. How to run
//! each, and the latest figures, are in RELIABILITY.md.
//!
//! # Progress
//!
//! `publish` is wait-free when no `Block` subscriber is `capacity` behind, apart from one
//! node allocation per `chunk_len` events (recycled in steady state). `try_recv` is
//! wait-free. Joining and leaving take a short internal lock, never taken on the hot path.

#![doc(test(attr(deny(warnings))))]
#![deny(unsafe_op_in_unsafe_fn)]
// Every `unsafe` of the crate is in `raw` (ARCHITECTURE.md); everything else is safe code
// over it, and the compiler holds it to that.
#![deny(unsafe_code)]

pub mod bytes;
mod config;
mod error;
mod position;
mod publisher;
#[allow(unsafe_code)]
mod raw;
mod refs;
#[cfg(feature = "futures")]
pub mod router;
mod subscriber;
mod wait;

pub use config::{Builder, LagPolicy, MAX_CAPACITY, MAX_CHUNK_LEN, MAX_YIELD_BEFORE_PARK};
pub use error::{ConfigError, Full, RecvError, RecvTimeoutError, SendError, TryRecvError};
pub use position::{Position, PositionError, Stats};
pub use publisher::{Publisher, SharedPublish, SharedPublisher};
pub use refs::{Batch, Ref};
pub use subscriber::{IntoIter, Iter, Subscriber, TryIter};
pub use wait::{Publish, Recv};

/// Creates a stream holding at most `capacity` outstanding events, with the default chunk
/// length and [`LagPolicy::Block`]; returns the publisher and a first subscriber.
///
/// # The first subscriber is a real reader
///
/// The returned [`Subscriber`] is a `Block` cursor at event 0. The tokio idiom
/// `let (mut tx, _rx) = tailcast::channel(n);` keeps it alive unread, so **the `n + 1`-th
/// `publish` waits forever** (`try_publish` returns [`Full`]). Pick by what you need:
///
/// - a reader from the first event on: `channel(n)` and read the subscriber;
/// - subscribers made later (per connection, per task): [`Builder::build_publisher`],
///   then [`Publisher::subscribe`] for each; or drop the first one (`let (tx, _) = ...`
///   drops it at once);
/// - a non-blocking first reader: [`Builder::lag_policy`] with [`LagPolicy::Skip`].
///
/// # Panics
///
/// If `capacity` is 0 or above [`MAX_CAPACITY`]. [`Builder::build`] reports the same as a
/// [`ConfigError`] instead.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = tailcast::channel::<&str>(16);
/// tx.publish("event");
/// assert_eq!(rx.recv(), Ok("event"));
/// ```
pub fn channel<T>(capacity: usize) -> (Publisher<T>, Subscriber<T>) {
    match Builder::new().capacity(capacity).build() {
        Ok(pair) => pair,
        Err(e) => panic!("tailcast::channel: {e}"),
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
