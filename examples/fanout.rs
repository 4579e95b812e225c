//! The main job: one publisher fans real data out to several subscriber threads, every
//! subscriber verifies what it received, and the run reports how fast it went.
//!
//! Three phases:
//! 1. **bytes**: the files under a directory (default: this repository's sources) cut into
//!    4 KiB chunks (`Arc<[u8]>`), streamed `--rounds` times; each subscriber reads every
//!    chunk zero-copy with `recv_ref` and checks the total byte count and an FNV-1a hash
//!    of the whole byte stream against the publisher's.
//! 2. **io**: the same bytes through the byte layer (`tailcast::bytes`): written with
//!    `io::Write` in 4 KiB calls (as `io::copy` makes them, coalesced into 64 KiB chunks),
//!    read by each reader thread with `io::Read` into its own buffer, memory bounded by
//!    `max_bytes` (1 MiB); each reader checks the byte count and hash.
//! 3. **events**: `--events` sequence numbers (`u64`); each subscriber checks count,
//!    order (every value is the previous + 1) and sum.
//!
//! ```text
//! cargo run --release --example fanout -- [--subscribers N] [--events N] [--rounds N] [--dir PATH]
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tailcast::{Builder, RecvError, Subscriber};

const CHUNK: usize = 4096;

struct Args {
    subscribers: usize,
    events: u64,
    rounds: usize,
    dir: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        subscribers: 4,
        events: 20_000_000,
        rounds: 500,
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--subscribers" => args.subscribers = num(&value()?)?,
            "--events" => args.events = num(&value()?)?,
            "--rounds" => args.rounds = num(&value()?)?,
            "--dir" => args.dir = PathBuf::from(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: fanout [--subscribers N] [--events N] [--rounds N] [--dir PATH]".into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.subscribers == 0 {
        return Err("--subscribers must be at least 1".into());
    }
    Ok(args)
}

fn num<N: std::str::FromStr>(s: &str) -> Result<N, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

/// Every regular file under `dir` (skipping build output and VCS data), sorted.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "target" || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

/// FNV-1a, 64-bit: order-sensitive, so a lost, duplicated or reordered chunk changes it.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn load_chunks(dir: &Path) -> Result<Vec<Arc<[u8]>>, String> {
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    let mut chunks = Vec::new();
    for file in &files {
        let data = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        chunks.extend(data.chunks(CHUNK).map(Arc::<[u8]>::from));
    }
    if chunks.is_empty() {
        return Err(format!("no readable files under {}", dir.display()));
    }
    println!(
        "input: {} files under {}, {} chunks of up to {CHUNK} bytes",
        files.len(),
        dir.display(),
        chunks.len()
    );
    Ok(chunks)
}

fn report(what: &str, events: u64, bytes: Option<u64>, subscribers: usize, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    let delivered = events * subscribers as u64;
    print!(
        "{what:>6}: {events} events to {subscribers} subscribers in {:.3} s: {:.1} M events/s published, {:.1} M events/s delivered",
        secs,
        events as f64 / secs / 1e6,
        delivered as f64 / secs / 1e6,
    );
    match bytes {
        Some(b) => println!(
            ", {:.0} MiB/s delivered",
            (b * subscribers as u64) as f64 / secs / (1 << 20) as f64
        ),
        None => println!(),
    }
}

fn bytes_phase(args: &Args, chunks: &[Arc<[u8]>]) -> Result<(), String> {
    let mut expected_hash = FNV_OFFSET;
    let mut expected_len = 0u64;
    for _ in 0..args.rounds {
        for c in chunks {
            expected_hash = fnv1a(expected_hash, c);
            expected_len += c.len() as u64;
        }
    }
    let (mut tx, rx) = Builder::new()
        .capacity(1024)
        .build::<Arc<[u8]>>()
        .map_err(|e| e.to_string())?;
    let readers: Vec<_> = (0..args.subscribers)
        .map(|_| {
            let mut rx: Subscriber<Arc<[u8]>> = rx.clone();
            thread::spawn(move || {
                let (mut hash, mut len) = (FNV_OFFSET, 0u64);
                loop {
                    match rx.recv_ref() {
                        Ok(chunk) => {
                            hash = fnv1a(hash, &chunk);
                            len += chunk.len() as u64;
                        }
                        Err(RecvError::Closed) => return Ok((hash, len)),
                        Err(e) => return Err(e),
                    }
                }
            })
        })
        .collect();
    drop(rx);
    let start = Instant::now();
    let mut published = 0u64;
    for _ in 0..args.rounds {
        for c in chunks {
            tx.publish(Arc::clone(c));
            published += 1;
        }
    }
    drop(tx);
    for (i, r) in readers.into_iter().enumerate() {
        let (hash, len) = r
            .join()
            .map_err(|_| format!("subscriber {i} panicked"))?
            .map_err(|e| format!("subscriber {i}: {e}"))?;
        if (hash, len) != (expected_hash, expected_len) {
            return Err(format!(
                "subscriber {i}: got {len} bytes hash {hash:016x}, expected {expected_len} bytes hash {expected_hash:016x}"
            ));
        }
    }
    report(
        "bytes",
        published,
        Some(expected_len),
        args.subscribers,
        start.elapsed(),
    );
    println!("        every subscriber verified {expected_len} bytes, FNV-1a {expected_hash:016x}");
    Ok(())
}

fn io_phase(args: &Args, chunks: &[Arc<[u8]>]) -> Result<(), String> {
    use std::io::{Read, Write};

    let max_bytes = 1 << 20;
    let (mut writer, first) = tailcast::bytes::Builder::new()
        .max_bytes(max_bytes)
        .build()
        .map_err(|e| e.to_string())?;
    let readers: Vec<_> = (0..args.subscribers)
        .map(|i| {
            let mut reader = first.clone();
            thread::spawn(move || -> std::io::Result<(u64, u64)> {
                // Each reader its own buffer size, as independent consumers would.
                let mut buf = vec![0u8; 8192 + i * 4096];
                let (mut hash, mut len) = (FNV_OFFSET, 0u64);
                loop {
                    match reader.read(&mut buf)? {
                        0 => return Ok((hash, len)),
                        n => {
                            hash = fnv1a(hash, &buf[..n]);
                            len += n as u64;
                        }
                    }
                }
            })
        })
        .collect();
    drop(first);
    let (mut expected_hash, mut expected_len) = (FNV_OFFSET, 0u64);
    let start = Instant::now();
    for _ in 0..args.rounds {
        for c in chunks {
            writer.write_all(c).map_err(|e| e.to_string())?;
            expected_hash = fnv1a(expected_hash, c);
            expected_len += c.len() as u64;
        }
    }
    writer.finish().map_err(|e| e.to_string())?;
    for (i, r) in readers.into_iter().enumerate() {
        let got = r
            .join()
            .map_err(|_| format!("reader {i} panicked"))?
            .map_err(|e| format!("reader {i}: {e}"))?;
        if got != (expected_hash, expected_len) {
            return Err(format!(
                "reader {i}: got {} bytes hash {:016x}, expected {expected_len} bytes hash {expected_hash:016x}",
                got.1, got.0
            ));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:>6}: {expected_len} bytes to {} io::Read readers in {secs:.3} s: {:.0} MiB/s written, {:.0} MiB/s delivered (max_bytes {} KiB)",
        "io",
        args.subscribers,
        expected_len as f64 / secs / (1 << 20) as f64,
        (expected_len * args.subscribers as u64) as f64 / secs / (1 << 20) as f64,
        max_bytes >> 10,
    );
    println!("        every reader verified {expected_len} bytes, FNV-1a {expected_hash:016x}");
    Ok(())
}

fn events_phase(args: &Args) -> Result<(), String> {
    let (mut tx, rx) = Builder::new()
        .capacity(1024)
        .build::<u64>()
        .map_err(|e| e.to_string())?;
    let n = args.events;
    let readers: Vec<_> = (0..args.subscribers)
        .map(|_| {
            let mut rx = rx.clone();
            thread::spawn(move || -> Result<(u64, u64), String> {
                let (mut count, mut sum) = (0u64, 0u64);
                loop {
                    match rx.recv_batch(usize::MAX) {
                        Ok(batch) => {
                            for &v in batch.iter() {
                                if v != count {
                                    return Err(format!("expected event {count}, got {v}"));
                                }
                                count += 1;
                                sum = sum.wrapping_add(v);
                            }
                        }
                        Err(RecvError::Closed) => return Ok((count, sum)),
                        Err(e) => return Err(e.to_string()),
                    }
                }
            })
        })
        .collect();
    drop(rx);
    let start = Instant::now();
    tx.publish_batch(0..n);
    drop(tx);
    let expected_sum = (0..n).fold(0u64, |a, v| a.wrapping_add(v));
    for (i, r) in readers.into_iter().enumerate() {
        let got = r
            .join()
            .map_err(|_| format!("subscriber {i} panicked"))?
            .map_err(|e| format!("subscriber {i}: {e}"))?;
        if got != (n, expected_sum) {
            return Err(format!(
                "subscriber {i}: got {got:?}, expected {:?}",
                (n, expected_sum)
            ));
        }
    }
    report("events", n, None, args.subscribers, start.elapsed());
    println!("        every subscriber verified {n} events in order, none lost or repeated");
    Ok(())
}

fn main() {
    let run = || -> Result<(), String> {
        let args = parse_args()?;
        println!(
            "tailcast fanout: 1 publisher -> {} subscriber threads, capacity 1024 ({} cores)",
            args.subscribers,
            thread::available_parallelism().map_or(1, |n| n.get())
        );
        let chunks = load_chunks(&args.dir)?;
        bytes_phase(&args, &chunks)?;
        io_phase(&args, &chunks)?;
        events_phase(&args)?;
        println!("ok");
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("fanout: {e}");
        std::process::exit(1);
    }
}
