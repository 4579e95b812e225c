//! Parallel range downloads through [`tailcast::bytes::RangeWriter`]: `--writers` threads
//! write the ranges of a file in random order (each range in pieces of random sizes,
//! themselves in random order, some written twice as a retry would), while `--readers`
//! threads stream the in-order result as it completes. Every reader checks each byte
//! against the source and its SHA-256 against the source's.
//!
//! ```text
//! cargo run --release --example ranges -- [--size SIZE] [--range SIZE] [--writers N]
//!     [--readers N] [--max-bytes SIZE] [--seed N]
//! ```
//!
//! Memory is bounded by about three times `--max-bytes` (the stream, a chunk of the prefix
//! waiting for room, the bytes buffered ahead; plus the source, kept for the check): a
//! range that starts too far ahead of the complete prefix waits until the prefix catches
//! up, so `--range` may not exceed `--max-bytes`. The ranges are handed out in random order
//! within windows of `--max-bytes`, as a downloader with that much buffer would, so every
//! range taken fits once the ranges before it are in.

use std::io::{self, BufRead};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use sha2::{Digest, Sha256};
mod common;
use common::parse_size;

use tailcast::bytes::{self, ByteReader, RangeWriter};

struct Args {
    size: usize,
    range: usize,
    writers: usize,
    readers: usize,
    max_bytes: usize,
    seed: u64,
}

const USAGE: &str = "usage: ranges [--size SIZE] [--range SIZE] [--writers N] [--readers N] \
    [--max-bytes SIZE] [--seed N]\nSIZE: bytes, or with a suffix KiB, MiB, GiB";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        size: 64 << 20,
        range: 1 << 20,
        writers: 4,
        readers: 2,
        max_bytes: 16 << 20,
        seed: 0x5eed,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--size" => args.size = parse_size(&value()?)?,
            "--range" => args.range = parse_size(&value()?)?,
            "--writers" => args.writers = parse_size(&value()?)?,
            "--readers" => args.readers = parse_size(&value()?)?,
            "--max-bytes" => args.max_bytes = parse_size(&value()?)?,
            "--seed" => args.seed = parse_size(&value()?)? as u64,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.range == 0 || args.writers == 0 || args.readers == 0 {
        return Err("--range, --writers and --readers must be at least 1".into());
    }
    if args.max_bytes == 0 || args.max_bytes > 1 << 32 {
        return Err("--max-bytes must be 1 to 4GiB".into());
    }
    if args.range > args.max_bytes {
        // A range's own pieces, in random order, would wait for a prefix only the thread
        // writing them can move.
        return Err("--range must not exceed --max-bytes".into());
    }
    Ok(args)
}

/// xorshift64*: the source bytes and every random choice, reproducible from `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The ranges `[start, end)` of the file, shuffled within windows of `max_bytes`.
fn download_order(args: &Args, rng: &mut Rng) -> Vec<(usize, usize)> {
    let ranges: Vec<(usize, usize)> = (0..args.size)
        .step_by(args.range)
        .map(|start| (start, (start + args.range).min(args.size)))
        .collect();
    let window = (args.max_bytes / args.range).max(1);
    let mut order = Vec::with_capacity(ranges.len());
    for group in ranges.chunks(window) {
        let mut group = group.to_vec();
        rng.shuffle(&mut group);
        order.extend(group);
    }
    order
}

/// One download: the range in pieces of 1 B to 64 KiB, in random order, one in 16
/// written a second time.
fn download(ranges: &RangeWriter, source: &[u8], (start, end): (usize, usize), rng: &mut Rng) {
    let mut pieces = Vec::new();
    let mut at = start;
    while at < end {
        let len = (1 + rng.below(64 << 10)).min(end - at);
        pieces.push((at, at + len));
        at += len;
    }
    rng.shuffle(&mut pieces);
    for (from, to) in pieces {
        let data = &source[from..to];
        ranges.write_at(from as u64, data).expect("write_at");
        if rng.below(16) == 0 {
            ranges
                .write_at(from as u64, data)
                .expect("a retry of the same bytes");
        }
    }
}

/// Streams the in-order result, checking every byte; returns its SHA-256.
fn stream(mut reader: ByteReader, source: &[u8]) -> io::Result<[u8; 32]> {
    let mut hash = Sha256::new();
    loop {
        let at = reader.position() as usize;
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        if source.get(at..at + n) != Some(chunk) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bytes at {at}..{} differ from the source", at + n),
            ));
        }
        hash.update(chunk);
        reader.consume(n);
    }
    if reader.position() as usize != source.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("ended at {} of {}", reader.position(), source.len()),
        ));
    }
    Ok(hash.finalize().into())
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let mut rng = Rng(args.seed | 1);
    let mut source = vec![0u8; args.size];
    for word in source.chunks_mut(8) {
        let bytes = rng.next().to_le_bytes();
        word.copy_from_slice(&bytes[..word.len()]);
    }
    let expected: [u8; 32] = Sha256::digest(&source).into();
    let order = download_order(&args, &mut rng);

    let (writer, first) = bytes::Builder::new()
        .max_bytes(args.max_bytes)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("ranges: {e}");
            std::process::exit(2)
        });
    let ranges = writer.into_ranges();
    // The length is known up front (a Content-Length): writes past it are rejected, and
    // the stream ends by itself once [0, size) is complete.
    ranges
        .finish(args.size as u64)
        .expect("nothing written yet");

    // One clone per writer thread, and none left here: if a writer panics, the last clone
    // dropped ends the stream (readers get UnexpectedEof) instead of leaving them waiting.
    let clones: Vec<RangeWriter> = (0..args.writers).map(|_| ranges.clone()).collect();
    drop(ranges);
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let digests: Vec<io::Result<[u8; 32]>> = thread::scope(|s| {
        let readers: Vec<_> = (0..args.readers)
            .map(|_| {
                let reader = first.clone();
                let source = &source;
                s.spawn(move || stream(reader, source))
            })
            .collect();
        drop(first);
        for (w, ranges) in clones.into_iter().enumerate() {
            let (next, order, source) = (&next, &order, &source);
            let mut rng = Rng((args.seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
            s.spawn(move || {
                while let Some(&range) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    download(&ranges, source, range, &mut rng);
                }
            });
        }
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();

    let mib = args.size as f64 / (1 << 20) as f64;
    println!(
        "ranges: {mib:.1} MiB in {} ranges of {} KiB, written by {} threads in random order \
         (max_bytes {} KiB), streamed in order to {} readers in {elapsed:.2} s ({:.0} MiB/s)",
        order.len(),
        args.range >> 10,
        args.writers,
        args.max_bytes >> 10,
        args.readers,
        mib / elapsed.max(1e-9),
    );
    println!("ranges: source sha256 {}", hex(&expected));
    let mut failed = 0;
    for (i, digest) in digests.iter().enumerate() {
        match digest {
            Ok(d) if *d == expected => println!("ranges: reader {i}: sha256 matches"),
            Ok(d) => {
                failed += 1;
                println!("ranges: reader {i}: sha256 {} DIFFERS", hex(d));
            }
            Err(e) => {
                failed += 1;
                println!("ranges: reader {i}: {e}");
            }
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
