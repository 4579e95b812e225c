//! `tee` with bounded memory: copies stdin (or `--in FILE`) to several files and child
//! processes at once, through one [`tailcast::bytes::tee`] of the source. Each sink has
//! its own reader and thread; whichever sink needs bytes first reads the next 64 KiB of
//! the source for all of them, so there is no pump thread, and memory stays bounded by
//! `--max-bytes` however large the input is (the slowest sink sets the pace).
//!
//! ```text
//! cargo run --release --example tee -- [--in FILE] [--max-bytes SIZE] [--exec CMD]... [FILE]...
//! ```
//!
//! For example, a download hashed twice and saved, in one pass:
//!
//! ```text
//! curl -s https://example.org/big.iso | cargo run --release --example tee -- \
//!     --exec sha256sum --exec 'md5sum' big.iso
//! ```
//!
//! A progress line on stderr while it runs (bytes, throughput, the slowest sink); at the
//! end: bytes, throughput and the process's peak resident memory (`VmHWM`, Linux). A sink
//! that fails (a full disk, a child that exits early) is reported and dropped, which frees
//! its share of the memory; the others go on, and the exit status is 1.

use std::fs::File;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::parse_size;

use tailcast::bytes::{self, ByteReader};

struct Args {
    input: Option<String>,
    max_bytes: usize,
    execs: Vec<String>,
    files: Vec<String>,
}

const USAGE: &str = "usage: tee [--in FILE] [--max-bytes SIZE] [--exec CMD]... [FILE]...\n\
    SIZE: a number of bytes, or with a suffix KiB, MiB, GiB (default 8MiB)";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        input: None,
        max_bytes: 8 << 20,
        execs: Vec::new(),
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--in" => args.input = Some(value()?),
            "--max-bytes" => args.max_bytes = parse_size(&value()?)?,
            "--exec" => args.execs.push(value()?),
            "-h" | "--help" => return Err(USAGE.into()),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}\n{USAGE}")),
            file => args.files.push(file.to_owned()),
        }
    }
    if args.execs.is_empty() && args.files.is_empty() {
        return Err(format!("no sink: name a FILE or an --exec CMD\n{USAGE}"));
    }
    if args.max_bytes == 0 || args.max_bytes > 1 << 32 {
        return Err(format!(
            "--max-bytes must be 1 to 4GiB, not {}",
            args.max_bytes
        ));
    }
    Ok(args)
}

/// Where one reader's bytes go.
enum Sink {
    File(File),
    Exec(Child),
}

impl Sink {
    fn open_file(path: &str) -> io::Result<Sink> {
        File::create(path).map(Sink::File)
    }

    fn spawn(cmd: &str) -> io::Result<Sink> {
        let mut command = Command::new("sh");
        command.args(["-c", cmd]).stdin(Stdio::piped());
        // Its own process group, so that `abandon` stops the whole command line.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command.spawn().map(Sink::Exec)
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Sink::File(file) => file.write_all(data),
            Sink::Exec(child) => child.stdin.as_mut().expect("piped").write_all(data),
        }
    }

    /// After a source error: a child is killed (so it does not treat the truncated input
    /// as complete); a file is left as far as it got.
    fn abandon(self) {
        if let Sink::Exec(mut child) = self {
            // The group: `sh -c 'a; b'` runs `a` in a process of its own.
            #[cfg(unix)]
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Flushes a file; closes a child's stdin and waits for it to exit successfully.
    fn close(self) -> io::Result<()> {
        match self {
            Sink::File(mut file) => file.flush(),
            Sink::Exec(mut child) => {
                drop(child.stdin.take());
                let status = child.wait()?;
                if status.success() {
                    Ok(())
                } else {
                    Err(io::Error::other(format!("exited with {status}")))
                }
            }
        }
    }
}

/// Why a sink stopped early.
enum Failure {
    /// Reading the source failed (every sink sees it).
    Source(io::Error),
    /// This sink failed.
    Sink(io::Error),
}

/// Copies one reader into its sink, publishing its position in `done` as it goes.
fn drain(mut reader: ByteReader, mut sink: Sink, done: &AtomicU64) -> Result<(), Failure> {
    let copied = (|| loop {
        let chunk = reader.fill_buf().map_err(Failure::Source)?;
        if chunk.is_empty() {
            return Ok(());
        }
        let n = chunk.len();
        sink.write_all(chunk).map_err(Failure::Sink)?;
        reader.consume(n);
        done.store(reader.position(), Ordering::Relaxed);
    })();
    // Dropping the reader first lets the other sinks go on at once if this one failed.
    drop(reader);
    match copied {
        Ok(()) => sink.close().map_err(Failure::Sink),
        // A truncated input must not look complete: a child is killed, not given an EOF.
        Err(source @ Failure::Source(_)) => {
            sink.abandon();
            Err(source)
        }
        Err(Failure::Sink(e)) => Err(Failure::Sink(match sink.close() {
            Ok(()) => e,
            // A child that exited early: its exit status says more than the broken pipe.
            Err(status) => io::Error::new(e.kind(), format!("{e} ({status})")),
        })),
    }
}

/// The process's peak resident set size (`VmHWM` in /proc/self/status), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let source: Box<dyn Read + Send> = match &args.input {
        Some(path) => match File::open(path) {
            Ok(file) => Box::new(file),
            Err(e) => {
                eprintln!("tee: {path}: {e}");
                std::process::exit(1);
            }
        },
        None => Box::new(io::stdin()),
    };
    let baseline = peak_rss();

    // Open every sink first: a sink that cannot be opened ends the run before any byte.
    let mut sinks = Vec::new();
    for path in &args.files {
        match Sink::open_file(path) {
            Ok(sink) => sinks.push((path.clone(), sink)),
            Err(e) => fail_early(path, e),
        }
    }
    for cmd in &args.execs {
        match Sink::spawn(cmd) {
            Ok(sink) => sinks.push((format!("`{cmd}`"), sink)),
            Err(e) => fail_early(cmd, e),
        }
    }

    let tee = bytes::tee(source, args.max_bytes);
    let progress: Vec<(String, Arc<AtomicU64>)> = sinks
        .iter()
        .map(|(name, _)| (name.clone(), Arc::new(AtomicU64::new(0))))
        .collect();
    let (ended, ends) = mpsc::channel::<(usize, Result<(), Failure>)>();
    // All readers first: a reader made once another has started reading begins at what
    // was read by then.
    let readers: Vec<ByteReader> = sinks.iter().map(|_| tee.reader()).collect();
    drop(tee);
    let started = Instant::now();
    for (i, ((_, sink), reader)) in sinks.into_iter().zip(readers).enumerate() {
        let done = Arc::clone(&progress[i].1);
        let ended = ended.clone();
        thread::spawn(move || {
            let result = drain(reader, sink, &done);
            let _ = ended.send((i, result));
        });
    }
    drop(ended);

    let mut results: Vec<Option<Result<(), Failure>>> = progress.iter().map(|_| None).collect();
    let mut source_failed = false;
    let terminal = io::stderr().is_terminal();
    let interval = if terminal {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1)
    };
    let mut open = results.len();
    while open > 0 {
        match ends.recv_timeout(interval) {
            Ok((i, result)) => {
                let newline = if terminal { "\n" } else { "" };
                match &result {
                    Err(Failure::Sink(e)) => eprintln!("{newline}tee: {}: {e}", progress[i].0),
                    Err(Failure::Source(e)) if !source_failed => {
                        source_failed = true;
                        eprintln!(
                            "{newline}tee: reading the source: {e}; every output is \
                             incomplete (children killed)"
                        );
                    }
                    _ => {}
                }
                results[i] = Some(result);
                open -= 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                print_progress(&progress, &results, started, terminal)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if terminal {
        eprintln!();
    }

    let elapsed = started.elapsed().as_secs_f64();
    let copied = progress
        .iter()
        .map(|(_, done)| done.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    // Sinks that failed themselves (a source error is reported once, above).
    let failed = results
        .iter()
        .filter(|r| !matches!(r, Some(Ok(())) | Some(Err(Failure::Source(_)))))
        .count();
    eprintln!(
        "tee: {copied} bytes ({:.1} MiB) to {} sinks in {elapsed:.2} s: {:.0} MiB/s per sink, \
         {failed} failed",
        mib(copied),
        results.len(),
        mib(copied) / elapsed.max(1e-9),
    );
    match (peak_rss(), baseline) {
        (Some(peak), Some(base)) => eprintln!(
            "tee: peak RSS {:.1} MiB (at start {:.1} MiB; --max-bytes {:.1} MiB)",
            mib(peak),
            mib(base),
            mib(args.max_bytes as u64)
        ),
        _ => eprintln!("tee: peak RSS not available on this system"),
    }
    std::process::exit(if failed == 0 && !source_failed { 0 } else { 1 });
}

fn fail_early(name: &str, e: io::Error) -> ! {
    eprintln!("tee: {name}: {e}");
    std::process::exit(1);
}

/// One line: bytes copied by the fastest sink, throughput, the slowest open sink.
fn print_progress(
    progress: &[(String, Arc<AtomicU64>)],
    results: &[Option<Result<(), Failure>>],
    started: Instant,
    terminal: bool,
) {
    let positions: Vec<u64> = progress
        .iter()
        .map(|(_, done)| done.load(Ordering::Relaxed))
        .collect();
    let fastest = positions.iter().copied().max().unwrap_or(0);
    let slowest = (0..progress.len())
        .filter(|&i| results[i].is_none())
        .min_by_key(|&i| positions[i]);
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mut line = format!(
        "tee: {:.1} MiB, {:.0} MiB/s",
        mib(fastest),
        mib(fastest) / secs
    );
    if let Some(i) = slowest {
        line += &format!(
            ", slowest {} at {:.1} MiB ({:.1} MiB behind)",
            progress[i].0,
            mib(positions[i]),
            mib(fastest - positions[i])
        );
    }
    if terminal {
        eprint!("\r{line:<100}");
    } else {
        eprintln!("{line}");
    }
}
