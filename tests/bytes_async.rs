//! The byte layer's async traits (features `tokio`, `futures-io`, `futures`): exact bytes
//! through `AsyncWrite` and `AsyncRead`, the wait for room, shutdown, the `Stream` of
//! chunks, and `tee_async`.
#![cfg(all(feature = "tokio", feature = "futures"))]

use std::io;

use tailcast::bytes::{self, Bytes};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A task reading `reader` to its end.
fn spawn_read_to_end(
    mut reader: bytes::ByteReader,
) -> tokio::task::JoinHandle<io::Result<Vec<u8>>> {
    tokio::spawn(async move {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).await.map(|_| all)
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// Bytes written with `AsyncWrite` under a bound of two chunks reach two async readers
/// exactly; `poll_shutdown` ends the stream and readers see `Ok(0)`.
#[test]
fn async_write_to_async_readers() {
    let len = if cfg!(miri) { 3_000 } else { 1 << 20 };
    let data = pattern(len);
    runtime().block_on(async {
        let (mut writer, first) = bytes::Builder::new()
            .max_bytes(512)
            .chunk_size(256)
            .build()
            .unwrap();
        let second = first.clone();
        let readers: Vec<_> = [first, second].into_iter().map(spawn_read_to_end).collect();
        for piece in data.chunks(100) {
            writer.write_all(piece).await.unwrap();
        }
        writer.shutdown().await.unwrap();
        assert_eq!(writer.written(), len as u64);
        let err = writer.write_all(b"late").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        for reader in readers {
            assert_eq!(reader.await.unwrap().unwrap(), data);
        }
    });
}

/// A write that does not fit stays pending until a read makes room, then completes.
#[test]
fn poll_write_waits_for_room() {
    runtime().block_on(async {
        let (mut writer, mut reader) = bytes::Builder::new()
            .max_bytes(4)
            .chunk_size(4)
            .build()
            .unwrap();
        writer.write_all(b"abcd").await.unwrap(); // staged and published: 4 of 4
        writer.write_all(b"efgh").await.unwrap(); // accepted, staged: waits for room
        let flush = tokio::time::timeout(std::time::Duration::from_millis(50), writer.flush());
        assert!(flush.await.is_err(), "the flush waits for the reader");
        let mut buf = [0; 4];
        reader.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abcd");
        writer.flush().await.unwrap();
        reader.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"efgh");
        writer.shutdown().await.unwrap();
        assert_eq!(reader.read(&mut buf).await.unwrap(), 0);
        assert_eq!(reader.read(&mut buf).await.unwrap(), 0);
    });
}

/// `AsyncBufRead` hands out the chunk itself; `consume` commits.
#[test]
fn async_buf_read_lines() {
    runtime().block_on(async {
        let (mut writer, reader) = bytes::Builder::new().chunk_size(5).build().unwrap();
        writer
            .write_bytes(Bytes::from_static(b"one\ntwo\nthree\n"))
            .unwrap();
        writer.finish().unwrap();
        let mut lines = reader.lines();
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            got.push(line);
        }
        assert_eq!(got, ["one", "two", "three"]);
    });
}

/// The `Stream` of chunks: the chunks in order, then the abort's error once, then `None`.
#[test]
fn stream_of_chunks_ends_after_the_error() {
    use futures_core::Stream;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    let (mut writer, mut reader) = bytes::channel(1024);
    writer.write_bytes(Bytes::from_static(b"ab")).unwrap();
    writer.write_bytes(Bytes::from_static(b"cd")).unwrap();
    writer.abort(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "upstream reset",
    ));
    let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut items = Vec::new();
    loop {
        match Pin::new(&mut reader).poll_next(&mut cx) {
            Poll::Ready(Some(item)) => items.push(item.map_err(|e| (e.kind(), e.to_string()))),
            Poll::Ready(None) => break,
            Poll::Pending => panic!("everything is published"),
        }
    }
    assert_eq!(
        items,
        [
            Ok(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"cd")),
            Err((io::ErrorKind::ConnectionReset, "upstream reset".to_string())),
        ]
    );
    assert!(futures_core::FusedStream::is_terminated(&reader));
    assert!(matches!(
        Pin::new(&mut reader).poll_next(&mut cx),
        Poll::Ready(None)
    ));
}

/// A pending read is woken by the publish, not by polling.
#[test]
fn pending_read_is_woken_by_the_write() {
    runtime().block_on(async {
        let (mut writer, mut reader) = bytes::channel(1024);
        let reading = tokio::spawn(async move {
            let mut buf = [0; 8];
            let n = reader.read(&mut buf).await.unwrap();
            buf[..n].to_vec()
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        writer.write_bytes(Bytes::from_static(b"wake")).unwrap();
        assert_eq!(reading.await.unwrap(), b"wake");
    });
}

/// `tee_async`: four async readers of one async source read it all, in order, with the
/// bound at one chunk; a source error reaches each after the data.
#[test]
fn tee_async_fans_out_an_async_source() {
    let len = if cfg!(miri) { 2_000 } else { 1 << 20 };
    let data = pattern(len);
    runtime().block_on(async {
        let tee = bytes::tee_async(io::Cursor::new(data.clone()), 4096);
        // All made before the first read: each sees everything.
        let readers: Vec<_> = (0..4).map(|_| tee.reader()).collect();
        let readers: Vec<_> = readers.into_iter().map(spawn_read_to_end).collect();
        for reader in readers {
            let got = reader.await.unwrap().unwrap();
            assert_eq!(got.len(), data.len());
            let first_diff = got.iter().zip(&data).position(|(a, b)| a != b);
            assert_eq!(first_diff, None, "the bytes differ");
        }
        let failing =
            tokio::io::AsyncReadExt::chain(&b"head"[..], Failing(io::ErrorKind::TimedOut));
        let tee = bytes::tee_async(failing, 4096);
        let mut reader = tee.reader();
        let mut all = Vec::new();
        let err = reader.read_to_end(&mut all).await.unwrap_err();
        assert_eq!(all, b"head");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    });
}

/// A tee_async reader read with the blocking traits polls the source on its thread.
#[test]
fn tee_async_read_blocking() {
    let data = pattern(10_000);
    let tee = bytes::tee_async(io::Cursor::new(data.clone()), 1024);
    let (mut a, mut b) = (tee.reader(), tee.reader());
    let other = std::thread::spawn(move || {
        let mut all = Vec::new();
        io::Read::read_to_end(&mut b, &mut all).map(|_| all)
    });
    let mut all = Vec::new();
    io::Read::read_to_end(&mut a, &mut all).unwrap();
    assert_eq!(all, data);
    assert_eq!(other.join().unwrap().unwrap(), data);
}

struct Noop;
impl std::task::Wake for Noop {
    fn wake(self: std::sync::Arc<Self>) {}
}

struct Failing(io::ErrorKind);
impl tokio::io::AsyncRead for Failing {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Err(io::Error::new(self.0, "source failed")))
    }
}

/// A writer shut down by the async `shutdown` and then turned into a `RangeWriter` gives
/// one of a finished stream: nothing is published after the close (a write past the end
/// is refused, a late copy of its bytes accepted), and readers still end with `Ok(0)`.
#[test]
fn ranges_of_a_shut_down_writer_are_finished() {
    let (mut writer, mut reader) = tailcast::bytes::channel(16);
    runtime().block_on(async {
        writer.write_all(b"abc").await.unwrap();
        writer.shutdown().await.unwrap();
    });
    let ranges = writer.into_ranges();
    assert_eq!(ranges.published(), 3);
    let err = ranges.write_at(3, b"d").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    ranges.write_at(0, b"ab").unwrap();
    let mut all = Vec::new();
    io::Read::read_to_end(&mut reader, &mut all).unwrap();
    assert_eq!(all, b"abc");
    assert_eq!(
        io::Read::read(&mut ranges.reader(), &mut [0; 4]).unwrap(),
        0
    );
}
