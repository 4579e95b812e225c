//! `bytes::tee` (readers pull the source themselves, one at a time) and
//! `bytes::copy_to_all` (one thread per sink, the first error stops the rest).

mod common;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use common::{scaled, Rng};
use tailcast::bytes;

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// A source that hands out random-sized reads, counts the bytes read and checks that no
/// two readers read it at once.
struct Source {
    data: Vec<u8>,
    at: usize,
    rng: Rng,
    read: Arc<AtomicU64>,
    inside: Arc<AtomicUsize>,
    fail_at: Option<usize>,
}

impl Source {
    fn new(data: Vec<u8>) -> Self {
        Self {
            data,
            at: 0,
            rng: Rng::new(11),
            read: Arc::new(AtomicU64::new(0)),
            inside: Arc::new(AtomicUsize::new(0)),
            fail_at: None,
        }
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert_eq!(
            self.inside.fetch_add(1, Ordering::SeqCst),
            0,
            "two readers read the source at once"
        );
        thread::yield_now();
        let result = if self.fail_at.is_some_and(|f| self.at >= f) {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "source broke"))
        } else {
            let end = self.fail_at.unwrap_or(self.data.len());
            let n = (1 + self.rng.below(20_000) as usize)
                .min(buf.len())
                .min(end - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            self.read.fetch_add(n as u64, Ordering::SeqCst);
            Ok(n)
        };
        self.inside.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

#[test]
fn ten_readers_made_before_the_first_read_see_everything_read_once() {
    let len = scaled(20_000, 2 << 20) as usize;
    let expect = data(len, 1);
    let source = Source::new(expect.clone());
    let read = Arc::clone(&source.read);
    let tee = bytes::tee(source, 64 << 10);
    // Every reader made before any reads.
    let made: Vec<_> = (0..scaled(3, 10)).map(|_| tee.reader()).collect();
    let readers: Vec<_> = made
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            thread::spawn(move || {
                let mut buf = vec![0; 100 + i * 1000];
                let mut all = Vec::new();
                loop {
                    match r.read(&mut buf).unwrap() {
                        0 => return all,
                        n => all.extend_from_slice(&buf[..n]),
                    }
                }
            })
        })
        .collect();
    for r in readers {
        let got = r.join().unwrap();
        if got != expect {
            let first = got.iter().zip(&expect).position(|(a, b)| a != b);
            panic!(
                "got {} bytes, expected {}, first difference at {:?}",
                got.len(),
                expect.len(),
                first
            );
        }
    }
    assert_eq!(
        read.load(Ordering::SeqCst),
        len as u64,
        "every byte read from the source once"
    );
    let mut late = tee.reader();
    assert_eq!(
        late.read(&mut [0; 8]).unwrap(),
        0,
        "a reader after the end sees the end"
    );
}

#[test]
fn a_source_error_reaches_every_reader_after_the_data() {
    let mut source = Source::new(data(5000, 2));
    source.fail_at = Some(3000);
    let tee = bytes::tee(source, 1024);
    let (mut a, mut b) = (tee.reader(), tee.reader());
    let other = thread::spawn(move || {
        let mut all = Vec::new();
        let err = b.read_to_end(&mut all).unwrap_err();
        (all.len(), err.kind(), err.to_string())
    });
    let mut all = Vec::new();
    let err = a.read_to_end(&mut all).unwrap_err();
    assert_eq!(all, data(5000, 2)[..3000]);
    assert_eq!(
        (err.kind(), err.to_string().as_str()),
        (io::ErrorKind::BrokenPipe, "source broke")
    );
    assert_eq!(
        other.join().unwrap(),
        (3000, io::ErrorKind::BrokenPipe, "source broke".to_string())
    );
    // And on every later call.
    assert_eq!(
        a.read(&mut [0; 4]).unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
}

#[test]
fn the_source_is_read_no_further_than_max_bytes_past_the_slowest_reader() {
    let len = scaled(30_000, 1 << 20) as usize;
    let max_bytes = 8192;
    let source = Source::new(data(len, 3));
    let read = Arc::clone(&source.read);
    let tee = bytes::tee(source, max_bytes);
    let (mut fast, mut slow) = (tee.reader(), tee.reader());
    let fast = thread::spawn(move || {
        let mut sink = Vec::new();
        fast.read_to_end(&mut sink).unwrap()
    });
    let mut buf = [0; 100];
    let mut got = 0u64;
    loop {
        // The source is read at most `max_bytes` past what this reader took, plus the
        // rest of the chunk it is in and the chunk the leading reader has read but not
        // published yet (the tee reads chunks of at most `max_bytes` here).
        let ahead = read.load(Ordering::SeqCst) - got;
        assert!(ahead <= (3 * max_bytes) as u64, "{ahead} bytes read ahead");
        match slow.read(&mut buf).unwrap() {
            0 => break,
            n => got += n as u64,
        }
    }
    assert_eq!(got, len as u64);
    assert_eq!(fast.join().unwrap(), len);
}

struct FailingSink {
    after: usize,
    written: usize,
}

impl Write for FailingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written >= self.after {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "store is full"));
        }
        let n = buf.len().min(self.after - self.written);
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that is either a `Vec` or a failing one.
enum Sink {
    Store(Vec<u8>),
    Failing(FailingSink),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Store(v) => v.write(buf),
            Sink::Failing(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn copy_to_all_gives_every_sink_every_byte() {
    let len = scaled(50_000, 20 << 20) as usize;
    let source = data(len, 4);
    let mut sinks = vec![Vec::new(), Vec::new(), Vec::new()];
    let n = bytes::copy_to_all(&source[..], sinks.iter_mut().collect()).unwrap();
    assert_eq!(n, len as u64);
    for s in sinks {
        assert!(s == source);
    }
}

#[test]
fn copy_to_all_fails_with_the_first_sink_error_and_stops_the_rest() {
    // More than the stream's 8 MiB bound (outside miri): the writer would wait forever
    // on a failed sink that kept its reader.
    let len = scaled(50_000, 20 << 20) as usize;
    let source = data(len, 5);
    let sinks = vec![
        Sink::Store(Vec::new()),
        Sink::Failing(FailingSink {
            after: 1000,
            written: 0,
        }),
        Sink::Store(Vec::new()),
    ];
    let err = bytes::copy_to_all(&source[..], sinks).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    assert_eq!(err.to_string(), "store is full");
}

#[test]
fn copy_to_all_reports_a_source_error() {
    let mut source = Source::new(data(10_000, 6));
    source.fail_at = Some(4000);
    let mut sinks = vec![Vec::new(), Vec::new()];
    let err = bytes::copy_to_all(source, sinks.iter_mut().collect()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    for s in &sinks {
        assert!(s.len() <= 4000);
    }
}

/// A source whose `read` panics (once) does not leave the tee without a leader: the
/// panicking reader's thread unwinds, and the next reader leads and reads on.
#[cfg(panic = "unwind")]
#[test]
fn a_panicking_source_read_releases_the_lead() {
    struct PanicsOnce(u8);
    impl std::io::Read for PanicsOnce {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0 += 1;
            match self.0 {
                1 => panic!("the source failed mid-read"),
                2 => {
                    buf[..2].copy_from_slice(b"ok");
                    Ok(2)
                }
                _ => Ok(0),
            }
        }
    }
    let tee = tailcast::bytes::tee(PanicsOnce(0), 1 << 10);
    let (mut first, mut second) = (tee.reader(), tee.reader());
    let panicked = std::thread::spawn(move || {
        let _ = std::io::Read::read(&mut first, &mut [0; 4]);
    })
    .join();
    assert!(panicked.is_err(), "the first read panicked");
    let (done, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let result = std::io::Read::read_to_end(&mut second, &mut all).map(|_| all);
        done.send(result).unwrap();
    });
    // A failure here, not a hang: a lead left taken would keep the reader waiting.
    let all = got
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the second reader waited for a lead the panic left taken")
        .unwrap();
    assert_eq!(all, b"ok");
}
