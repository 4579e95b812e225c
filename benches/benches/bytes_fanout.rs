//! Byte fan-out: 1 writer thread -> N reader threads (N = 1, 4, 16), TOTAL bytes (default
//! 1 GiB) through each system, every reader touching every byte. Prints markdown tables of
//! throughput per reader and peak RSS, side by side in the same run.
//!
//! ```text
//! cargo bench -p tailcast-benches --bench bytes_fanout
//! cargo bench -p tailcast-benches --bench bytes_fanout -- --bytes 4GiB --rounds 1 --systems tailcast-bytes
//! ```
//!
//! Options (after `--`): `--bytes N` (plain bytes or `64MiB`, `1GiB`, `4GiB`, ...; default
//! 1 GiB), `--rounds R` (default 3), `--systems a,b` (default all), `--readers 1,4,16`,
//! `--shapes chunk64k,write4k`. Without cargo's `--bench` flag and without `--bytes` (as
//! under `cargo test --benches`) it is a smoke run: 64 MiB, 1 round.
//!
//! # Systems
//!
//! - `tailcast-bytes`: the byte layer, `bytes::Builder` with `max_bytes` 8 MiB and
//!   `chunk_size` 64 KiB; readers `next_chunk` (zero-copy).
//! - `crossbeam`: one `crossbeam_channel::bounded::<Bytes>` per reader, capacity
//!   8 MiB / message size; the writer sends a clone to each channel in turn.
//! - `tokio-bcast`: `tokio::sync::broadcast::<Bytes>`, capacity 8 MiB / message size;
//!   readers `blocking_recv` on threads. It has no backpressure: the writer never waits and
//!   readers that fall a ring behind get `Lagged(n)`; the messages lost are counted and
//!   reported ("lagged"), and that reader's count and checksum then fail.
//! - `tokio-bcast-paced`: the same with the writer paced on the ring's length
//!   (`tailcast_benches::Pacer`, as the `fanout` bench does: `tx.len()` when the room seen
//!   last is used up, `yield_now` while full), so that nothing is lost.
//! - `tailcast-core`: tailcast's own event stream of `Bytes` (`tailcast::Builder`, capacity
//!   8 MiB / message size, default chunk length, `Block`); readers `recv_ref` (zero-copy).
//!
//! # Shapes
//!
//! - `chunk64k`: the source is cut into whole 64 KiB `Bytes` (zero-copy slices of one
//!   buffer): ours `write_bytes`, the peers one 64 KiB message each.
//! - `write4k`: 4 KiB `io::Write` calls, as a copy loop makes them: ours `write_all` of
//!   4 KiB slices of the source, coalesced (one copy) into 64 KiB chunks; the peers one
//!   4 KiB message per write, `Bytes::copy_from_slice` of the 4 KiB (what an `io::Write`
//!   adapter over them would do).
//!
//! The source is a 1 MiB buffer of xorshift bytes, reused until TOTAL bytes are written.
//! Every reader folds every byte into the same split-invariant checksum (a wrapping sum of
//! the eight u64 words of each 64-byte block, folded block by block with a rotate and xor,
//! so reordered blocks change it); the child checks each reader's byte count and checksum
//! against the writer's and the table says `FAIL` otherwise.
//!
//! # Measurement
//!
//! Each (system, shape, N) runs in a child process (the parent re-executes itself with
//! `--child SYSTEM SHAPE N BYTES`), so the peak RSS (`VmHWM` of `/proc/self/status`) is
//! that configuration's alone. The readers are spawned and wait on a barrier; the clock
//! starts at the writer's first write and stops when the last reader is done. GB/s per
//! reader = TOTAL / that wall time (1 GB = 1e9 bytes); "aggregate" is N times that.
//! Rounds run every configuration once, systems alternating; the tables give medians (and
//! the min–max of the rate).

use std::io::{self, Write};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use tailcast::bytes::{self, Bytes};
use tailcast_benches::Pacer;

/// Memory budget of every system: the byte layer's `max_bytes`, the peers' capacity in
/// messages times the message size.
const WINDOW: usize = 8 << 20;
/// The byte layer's chunk size and the message size of the `chunk64k` shape.
const CHUNK: usize = 64 << 10;
/// The write size of the `write4k` shape.
const WRITE: usize = 4 << 10;
/// The source buffer, reused.
const SOURCE_LEN: usize = 1 << 20;

const SYSTEMS: [&str; 5] = [
    "tailcast-bytes",
    "crossbeam",
    "tokio-bcast",
    "tokio-bcast-paced",
    "tailcast-core",
];
/// The systems the ratio compares ours against.
const PEERS: [&str; 3] = ["crossbeam", "tokio-bcast", "tokio-bcast-paced"];
const SHAPES: [&str; 2] = ["chunk64k", "write4k"];
const READERS: [usize; 3] = [1, 4, 16];

// ---------------------------------------------------------------------------------------
// Checksum
// ---------------------------------------------------------------------------------------

/// A checksum of a byte stream that does not depend on how the stream is split: 64-byte
/// blocks at stream offsets, each the wrapping sum of its eight little-endian u64 words,
/// folded in order with a rotate and xor; a final partial block is zero-padded.
#[derive(Clone, Copy)]
struct Checksum {
    acc: u64,
    len: u64,
    tail: [u8; 64],
    tail_len: usize,
}

impl Checksum {
    fn new() -> Self {
        Self {
            acc: 0,
            len: 0,
            tail: [0; 64],
            tail_len: 0,
        }
    }

    #[inline(always)]
    fn block(acc: u64, b: &[u8]) -> u64 {
        let mut s = 0u64;
        for w in b.chunks_exact(8) {
            s = s.wrapping_add(u64::from_le_bytes(w.try_into().unwrap()));
        }
        acc.rotate_left(7) ^ s
    }

    #[inline]
    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.tail_len > 0 {
            let take = data.len().min(64 - self.tail_len);
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < 64 {
                return;
            }
            self.acc = Self::block(self.acc, &self.tail);
            self.tail_len = 0;
        }
        let mut blocks = data.chunks_exact(64);
        let mut acc = self.acc;
        for b in &mut blocks {
            acc = Self::block(acc, b);
        }
        self.acc = acc;
        let rest = blocks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// (bytes, checksum).
    fn finish(mut self) -> (u64, u64) {
        if self.tail_len > 0 {
            self.tail[self.tail_len..].fill(0);
            self.acc = Self::block(self.acc, &self.tail);
        }
        (self.len, self.acc)
    }
}

/// What one reader ended with.
struct Tally {
    len: u64,
    sum: u64,
    /// Messages lost to `Lagged` (tokio-bcast only).
    lagged: u64,
    error: Option<String>,
}

impl Tally {
    fn of(sum: Checksum, lagged: u64, error: Option<String>) -> Self {
        let (len, sum) = sum.finish();
        Self {
            len,
            sum,
            lagged,
            error,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The source and the writer's pieces
// ---------------------------------------------------------------------------------------

fn source() -> Bytes {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v = Vec::with_capacity(SOURCE_LEN);
    while v.len() < SOURCE_LEN {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    Bytes::from(v)
}

/// Calls `f` with the ranges of the source the writer writes, in order: pieces of `piece`
/// bytes (dividing `SOURCE_LEN`), cycling the source, `total` bytes in all.
#[inline]
fn pieces(total: u64, piece: usize, mut f: impl FnMut(std::ops::Range<usize>)) {
    debug_assert_eq!(SOURCE_LEN % piece, 0);
    let mut left = total;
    let mut off = 0;
    while left > 0 {
        let len = piece.min(usize::try_from(left).unwrap_or(usize::MAX));
        f(off..off + len);
        left -= len as u64;
        off = (off + piece) % SOURCE_LEN;
    }
}

/// The writer's (bytes, checksum).
fn expected(src: &Bytes, total: u64) -> (u64, u64) {
    let mut sum = Checksum::new();
    pieces(total, CHUNK, |r| sum.update(&src[r]));
    sum.finish()
}

// ---------------------------------------------------------------------------------------
// The child: one configuration
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Whole 64 KiB `Bytes`.
    Chunk64k,
    /// 4 KiB writes.
    Write4k,
}

impl Shape {
    fn parse(s: &str) -> Shape {
        match s {
            "chunk64k" => Shape::Chunk64k,
            "write4k" => Shape::Write4k,
            _ => panic!("unknown shape {s:?} (chunk64k, write4k)"),
        }
    }

    /// The peers' message size.
    fn message(self) -> usize {
        match self {
            Shape::Chunk64k => CHUNK,
            Shape::Write4k => WRITE,
        }
    }
}

/// The writer's side: calls `send` with each message of the shape (a zero-copy slice or a
/// fresh copy).
#[inline]
fn each_message(src: &Bytes, shape: Shape, total: u64, mut send: impl FnMut(Bytes)) {
    match shape {
        Shape::Chunk64k => pieces(total, CHUNK, |r| send(src.slice(r))),
        Shape::Write4k => pieces(total, WRITE, |r| send(Bytes::copy_from_slice(&src[r]))),
    }
}

/// Spawns the readers (each waits on a barrier), then runs `write` timed from its first
/// write to the last reader's end. Returns (seconds, tallies).
fn timed<R>(readers: Vec<R>, write: impl FnOnce()) -> (f64, Vec<Tally>)
where
    R: FnOnce() -> Tally + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(readers.len() + 1));
    let handles: Vec<_> = readers
        .into_iter()
        .map(|r| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                r()
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    write();
    let tallies: Vec<Tally> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    (start.elapsed().as_secs_f64(), tallies)
}

fn run_tailcast_bytes(src: &Bytes, shape: Shape, n: usize, total: u64) -> (f64, Vec<Tally>) {
    let (mut writer, first) = bytes::Builder::new()
        .max_bytes(WINDOW)
        .chunk_size(CHUNK)
        .build()
        .unwrap();
    let mut all = vec![first];
    while all.len() < n {
        all.push(all[0].clone());
    }
    let readers: Vec<_> = all
        .into_iter()
        .map(|mut r| {
            move || {
                let mut sum = Checksum::new();
                loop {
                    match r.next_chunk() {
                        Ok(Some(chunk)) => sum.update(&chunk),
                        Ok(None) => return Tally::of(sum, 0, None),
                        Err(e) => return Tally::of(sum, 0, Some(e.to_string())),
                    }
                }
            }
        })
        .collect();
    let src = src.clone();
    timed(readers, move || {
        match shape {
            Shape::Chunk64k => pieces(total, CHUNK, |r| {
                writer.write_bytes(src.slice(r)).unwrap();
            }),
            Shape::Write4k => pieces(total, WRITE, |r| {
                writer.write_all(&src[r]).unwrap();
            }),
        }
        writer.finish().unwrap();
    })
}

fn run_crossbeam(src: &Bytes, shape: Shape, n: usize, total: u64) -> (f64, Vec<Tally>) {
    let capacity = WINDOW / shape.message();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| crossbeam_channel::bounded::<Bytes>(capacity))
        .unzip();
    let readers: Vec<_> = receivers
        .into_iter()
        .map(|rx| {
            move || {
                let mut sum = Checksum::new();
                while let Ok(b) = rx.recv() {
                    sum.update(&b);
                }
                Tally::of(sum, 0, None)
            }
        })
        .collect();
    let src = src.clone();
    timed(readers, move || {
        let (last, rest) = senders.split_last().unwrap();
        each_message(&src, shape, total, |b| {
            for s in rest {
                s.send(b.clone()).unwrap();
            }
            last.send(b).unwrap();
        });
        drop(senders);
    })
}

fn run_tokio(src: &Bytes, shape: Shape, n: usize, total: u64, paced: bool) -> (f64, Vec<Tally>) {
    let capacity = WINDOW / shape.message();
    let (tx, first) = tokio::sync::broadcast::channel::<Bytes>(capacity);
    let mut all = vec![first];
    while all.len() < n {
        all.push(tx.subscribe());
    }
    let readers: Vec<_> = all
        .into_iter()
        .map(|mut rx| {
            move || {
                use tokio::sync::broadcast::error::RecvError;
                let mut sum = Checksum::new();
                let mut lagged = 0;
                loop {
                    match rx.blocking_recv() {
                        Ok(b) => sum.update(&b),
                        Err(RecvError::Lagged(k)) => lagged += k,
                        Err(RecvError::Closed) => return Tally::of(sum, lagged, None),
                    }
                }
            }
        })
        .collect();
    let src = src.clone();
    timed(readers, move || {
        let mut pacer = Pacer::new(capacity);
        each_message(&src, shape, total, |b| {
            if paced {
                while !pacer.try_take(|| tx.len()) {
                    thread::yield_now();
                }
            }
            tx.send(b).unwrap();
        });
        drop(tx);
    })
}

fn run_tailcast_core(src: &Bytes, shape: Shape, n: usize, total: u64) -> (f64, Vec<Tally>) {
    let capacity = WINDOW / shape.message();
    let (mut tx, first) = tailcast::Builder::new()
        .capacity(capacity)
        .build::<Bytes>()
        .unwrap();
    let mut all = vec![first];
    while all.len() < n {
        all.push(tx.subscribe());
    }
    let readers: Vec<_> = all
        .into_iter()
        .map(|mut rx| {
            move || {
                let mut sum = Checksum::new();
                loop {
                    match rx.recv_ref() {
                        Ok(b) => sum.update(&b),
                        Err(tailcast::RecvError::Closed) => return Tally::of(sum, 0, None),
                        Err(e) => return Tally::of(sum, 0, Some(format!("{e:?}"))),
                    }
                }
            }
        })
        .collect();
    let src = src.clone();
    timed(readers, move || {
        each_message(&src, shape, total, |b| tx.publish(b));
        drop(tx);
    })
}

/// `VmHWM` and `VmRSS` of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// This process's (user, system) CPU seconds so far, from `/proc/self/stat` (clock ticks
/// of 1/100 s, Linux's `USER_HZ`).
fn cpu_times() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (in parentheses, may hold spaces): state is the
    // first, utime the 12th, stime the 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

/// The 1-minute load average.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Runs one configuration and prints one `RESULT` line: `RESULT system shape n bytes secs
/// failed_readers lagged_msgs hwm_kib base_kib user_s sys_s errors` (CPU seconds of the
/// timed part, every thread).
fn child(system: &str, shape: &str, n: usize, total: u64) {
    let shape_v = Shape::parse(shape);
    let src = source();
    let want = expected(&src, total);
    let (base, _) = memory();
    let cpu0 = cpu_times();
    let (secs, tallies) = match system {
        "tailcast-bytes" => run_tailcast_bytes(&src, shape_v, n, total),
        "crossbeam" => run_crossbeam(&src, shape_v, n, total),
        "tokio-bcast" => run_tokio(&src, shape_v, n, total, false),
        "tokio-bcast-paced" => run_tokio(&src, shape_v, n, total, true),
        "tailcast-core" => run_tailcast_core(&src, shape_v, n, total),
        _ => panic!("unknown system {system:?} ({})", SYSTEMS.join(", ")),
    };
    let cpu1 = cpu_times();
    let (user, sys) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let (hwm, _) = memory();
    assert_eq!(tallies.len(), n);
    let failed = tallies
        .iter()
        .filter(|t| (t.len, t.sum) != want || t.error.is_some())
        .count();
    let lagged: u64 = tallies.iter().map(|t| t.lagged).sum();
    let errors: Vec<_> = tallies.iter().filter_map(|t| t.error.clone()).collect();
    let errors = if errors.is_empty() {
        "-".to_owned()
    } else {
        errors.join(";").replace(' ', "_")
    };
    println!(
        "RESULT {system} {shape} {n} {total} {secs:.6} {failed} {lagged} {hwm} {base} {user:.2} {sys:.2} {errors}"
    );
}

// ---------------------------------------------------------------------------------------
// The parent: runs the children, prints the tables
// ---------------------------------------------------------------------------------------

/// Plain bytes, or a number with a suffix: K/KiB, M/MiB, G/GiB (binary), KB/MB/GB (decimal).
fn parse_size(s: &str) -> u64 {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .parse()
        .unwrap_or_else(|_| panic!("bad size {s:?} (e.g. 1073741824, 1GiB, 512MiB)"));
    let mul: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "k" | "K" | "KiB" => 1024.0,
        "m" | "M" | "MiB" => 1024.0 * 1024.0,
        "g" | "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        u => panic!("bad size unit {u:?} in {s:?}"),
    };
    (num * mul) as u64
}

fn human(bytes: u64) -> String {
    // `trailing_zeros`, not `is_multiple_of` (Rust 1.87; the workspace supports 1.84).
    if bytes.trailing_zeros() >= 30 {
        format!("{} GiB", bytes >> 30)
    } else if bytes.trailing_zeros() >= 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} B")
    }
}

struct Options {
    total: u64,
    rounds: usize,
    systems: Vec<String>,
    shapes: Vec<String>,
    readers: Vec<usize>,
    smoke: bool,
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn options(args: &[String]) -> Options {
    let bench = args.iter().any(|a| a == "--bench");
    let mut o = Options {
        total: 1 << 30,
        rounds: 3,
        systems: SYSTEMS.iter().map(|s| s.to_string()).collect(),
        shapes: SHAPES.iter().map(|s| s.to_string()).collect(),
        readers: READERS.to_vec(),
        smoke: false,
    };
    let mut bytes_given = false;
    let mut rounds_given = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| panic!("{a} needs a value"))
                .clone()
        };
        match a.as_str() {
            "--bench" => {}
            "--bytes" => {
                o.total = parse_size(&value());
                bytes_given = true;
            }
            "--rounds" => {
                o.rounds = value().parse().expect("--rounds: a number");
                rounds_given = true;
            }
            "--systems" => {
                o.systems = list(&value());
                for s in &o.systems {
                    assert!(
                        SYSTEMS.contains(&s.as_str()),
                        "unknown system {s:?} ({})",
                        SYSTEMS.join(", ")
                    );
                }
            }
            "--shapes" => {
                o.shapes = list(&value());
                for s in &o.shapes {
                    Shape::parse(s);
                }
            }
            "--readers" => {
                o.readers = list(&value())
                    .iter()
                    .map(|n| n.parse().expect("--readers: numbers"))
                    .collect();
            }
            other => eprintln!("bytes_fanout: ignoring argument {other:?}"),
        }
    }
    if !bench && !bytes_given {
        // `cargo test --benches`, or a bare run: a quick smoke run.
        o.smoke = true;
        o.total = 64 << 20;
        if !rounds_given {
            o.rounds = 1;
        }
    }
    assert!(
        o.total > 0 && o.rounds > 0,
        "--bytes and --rounds must be > 0"
    );
    o
}

/// One child's figures.
#[derive(Clone)]
struct Sample {
    secs: f64,
    failed: usize,
    lagged: u64,
    hwm_kib: u64,
    base_kib: u64,
    user: f64,
    sys: f64,
    errors: String,
}

fn spawn_child(system: &str, shape: &str, n: usize, total: u64) -> Result<Sample, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["--child", system, shape, &n.to_string(), &total.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "child exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("no RESULT line in {stdout:?}"))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let bad = || format!("bad RESULT line {line:?}");
    if f.len() != 12 {
        return Err(bad());
    }
    Ok(Sample {
        secs: f[4].parse().map_err(|_| bad())?,
        failed: f[5].parse().map_err(|_| bad())?,
        lagged: f[6].parse().map_err(|_| bad())?,
        hwm_kib: f[7].parse().map_err(|_| bad())?,
        base_kib: f[8].parse().map_err(|_| bad())?,
        user: f[9].parse().map_err(|_| bad())?,
        sys: f[10].parse().map_err(|_| bad())?,
        errors: f[11].to_owned(),
    })
}

/// The median (NaN if `v` is empty: every round of the configuration crashed).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// A configuration's summary over its rounds.
struct Summary {
    /// Median GB/s per reader, min, max.
    rate: (f64, f64, f64),
    /// Median peak RSS, MiB.
    hwm_mib: f64,
    /// Median RSS before the stream was built, MiB.
    base_mib: f64,
    /// Median user and system CPU seconds of the timed part.
    cpu: (f64, f64),
    /// Lossless and verified in every round.
    ok: bool,
    check: String,
}

fn summarize(samples: &[Result<Sample, String>], n: usize, total: u64) -> Summary {
    let good: Vec<&Sample> = samples.iter().filter_map(|s| s.as_ref().ok()).collect();
    let crashes = samples.len() - good.len();
    let rates: Vec<f64> = good.iter().map(|s| total as f64 / s.secs / 1e9).collect();
    let rate = if rates.is_empty() {
        (f64::NAN, f64::NAN, f64::NAN)
    } else {
        let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = rates.iter().cloned().fold(0.0, f64::max);
        (median(rates), min, max)
    };
    let mib = |k: u64| k as f64 / 1024.0;
    let hwm_mib = median(good.iter().map(|s| mib(s.hwm_kib)).collect());
    let base_mib = median(good.iter().map(|s| mib(s.base_kib)).collect());
    let cpu = (
        median(good.iter().map(|s| s.user).collect()),
        median(good.iter().map(|s| s.sys).collect()),
    );
    let failed: usize = good.iter().map(|s| s.failed).sum();
    let lagged: Vec<u64> = good.iter().map(|s| s.lagged).collect();
    let ok = crashes == 0 && failed == 0;
    let mut check = if ok {
        "ok".to_owned()
    } else {
        let runs = good.len() * n;
        format!("FAIL {failed}/{runs} readers")
    };
    if lagged.iter().any(|&l| l > 0) {
        let lagged: Vec<String> = lagged.iter().map(|l| l.to_string()).collect();
        check += &format!(", lagged {} msgs", lagged.join("/"));
    }
    if crashes > 0 {
        check += &format!(", {crashes} crashed");
    }
    let errors: Vec<&str> = good
        .iter()
        .map(|s| s.errors.as_str())
        .filter(|e| *e != "-")
        .collect();
    if !errors.is_empty() {
        check += &format!(", errors: {}", errors.join(" "));
    }
    Summary {
        rate,
        hwm_mib,
        base_mib,
        cpu,
        ok,
        check,
    }
}

fn parent(o: Options) {
    let configs: Vec<(String, usize)> = o
        .shapes
        .iter()
        .flat_map(|s| o.readers.iter().map(move |&n| (s.clone(), n)))
        .collect();
    // samples[config][system] over the rounds.
    let mut samples: Vec<Vec<Vec<Result<Sample, String>>>> =
        vec![vec![Vec::new(); o.systems.len()]; configs.len()];
    let started = Instant::now();
    let load_before = load();
    for round in 0..o.rounds {
        for (c, (shape, n)) in configs.iter().enumerate() {
            // Alternate the order of the systems from round to round.
            for k in 0..o.systems.len() {
                let s = (k + round) % o.systems.len();
                let system = &o.systems[s];
                let r = spawn_child(system, shape, *n, o.total);
                match &r {
                    Ok(x) => eprintln!(
                        "round {}/{} {shape} N={n} {system}: {:.3} s, {:.2} GB/s/reader, \
                         peak RSS {:.1} MiB{}",
                        round + 1,
                        o.rounds,
                        x.secs,
                        o.total as f64 / x.secs / 1e9,
                        x.hwm_kib as f64 / 1024.0,
                        if x.failed > 0 {
                            format!(", FAIL {} readers, lagged {}", x.failed, x.lagged)
                        } else {
                            String::new()
                        }
                    ),
                    Err(e) => eprintln!("round {} {shape} N={n} {system}: {e}", round + 1),
                }
                samples[c][s].push(r);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let load_after = load();

    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "## bytes_fanout: 1 writer -> N readers, {} per reader, window 8 MiB, {} round(s), \
         medians; {cores} cores{}",
        human(o.total),
        o.rounds,
        if o.smoke {
            " (SMOKE RUN: pass --bench or --bytes for the real one)"
        } else {
            ""
        }
    );
    println!();
    println!(
        "| shape | N | system | GB/s per reader | (min–max) | aggregate GB/s | peak RSS MiB | CPU user+sys s | check |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---|");
    let mut summaries: Vec<Vec<Summary>> = Vec::new();
    let mut bases = Vec::new();
    for (c, (shape, n)) in configs.iter().enumerate() {
        let row: Vec<Summary> = samples[c]
            .iter()
            .map(|s| summarize(s, *n, o.total))
            .collect();
        for (s, sum) in row.iter().enumerate() {
            bases.push(sum.base_mib);
            println!(
                "| {shape} | {n} | {} | {:.2} | {:.2}–{:.2} | {:.2} | {:.1} | {:.2}+{:.2} | {} |",
                o.systems[s],
                sum.rate.0,
                sum.rate.1,
                sum.rate.2,
                sum.rate.0 * *n as f64,
                sum.hwm_mib,
                sum.cpu.0,
                sum.cpu.1,
                sum.check
            );
        }
        summaries.push(row);
    }
    println!();
    println!(
        "peak RSS = VmHWM of the child process, which includes its baseline before the \
         stream is built (1 MiB source buffer, binary, thread stacks not yet): median {:.1} MiB.",
        median(bases.into_iter().filter(|b| b.is_finite()).collect())
    );

    let ours = o.systems.iter().position(|s| s == "tailcast-bytes");
    let core = o.systems.iter().position(|s| s == "tailcast-core");
    let peers: Vec<usize> = (0..o.systems.len())
        .filter(|&s| PEERS.contains(&o.systems[s].as_str()))
        .collect();
    if let Some(ours) = ours {
        if !peers.is_empty() || core.is_some() {
            println!();
            println!(
                "| shape | N | tailcast-bytes GB/s/reader | best lossless peer | its GB/s/reader | ours / best peer | ours / tailcast-core |"
            );
            println!("|---|---:|---:|---|---:|---:|---:|");
            for (c, (shape, n)) in configs.iter().enumerate() {
                let row = &summaries[c];
                let us = row[ours].rate.0;
                let best = peers
                    .iter()
                    .filter(|&&p| row[p].ok)
                    .max_by(|&&a, &&b| row[a].rate.0.total_cmp(&row[b].rate.0));
                let (name, rate, ratio) = match best {
                    Some(&p) => (
                        o.systems[p].as_str(),
                        format!("{:.2}", row[p].rate.0),
                        format!("{:.2}", us / row[p].rate.0),
                    ),
                    None => ("(none lossless)", "-".into(), "-".into()),
                };
                let vs_core = core.map_or("-".to_owned(), |k| format!("{:.2}", us / row[k].rate.0));
                println!(
                    "| {shape} | {n} | {us:.2} | {name} | {rate} | {ratio} | {vs_core} |{}",
                    if row[ours].ok { "" } else { " ours FAILED" }
                );
            }
        }
    }
    println!();
    println!(
        "total run time {elapsed:.0} s; 1-minute load average {load_before} before, \
         {load_after} after (other work on the machine shows here)"
    );
    io::stdout().flush().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let a = &args[i + 1..];
        assert!(a.len() >= 4, "--child SYSTEM SHAPE N BYTES");
        let n: usize = a[2].parse().expect("--child: N");
        let total: u64 = a[3].parse().expect("--child: BYTES");
        child(&a[0], &a[1], n, total);
        return;
    }
    parent(options(&args));
}
