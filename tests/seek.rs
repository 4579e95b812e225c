//! `ByteReader`'s `Seek`, `read_at` and `read_exact_at`.

mod common;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::thread;

use common::{scaled, Rng};
use tailcast::bytes::{self, Bytes};

fn pattern(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect()
}

#[test]
fn read_at_while_the_writer_appends_returns_exactly_the_written_bytes() {
    let total = scaled(7000, 200_000) as usize;
    let (mut writer, reader) = bytes::Builder::new()
        .max_bytes(1 << 20)
        .chunk_size(512)
        .build()
        .unwrap();
    // A reader at 0 that never reads keeps everything alive for `read_at`.
    let reader = Arc::new(reader);
    let ranges = [(0u64, 100usize), (100, 4900), (0, 6000), (6500, 400)];
    let lookups: Vec<_> = ranges
        .iter()
        .map(|&(at, len)| {
            let r = Arc::clone(&reader);
            thread::spawn(move || {
                let mut buf = vec![0; len];
                r.read_exact_at(&mut buf, at).unwrap();
                buf == pattern(at, len)
            })
        })
        .collect();
    let mut rng = Rng::new(9);
    let mut at = 0;
    while at < total {
        let n = (1 + rng.below(900) as usize).min(total - at);
        writer
            .write_bytes(Bytes::from(pattern(at as u64, n)))
            .unwrap();
        at += n;
    }
    writer.finish().unwrap();
    for l in lookups {
        assert!(l.join().unwrap());
    }
    assert_eq!(reader.position(), 0, "read_at does not move the reader");
}

#[test]
fn read_at_at_the_end_is_partial_then_zero_and_zero_length_never_waits() {
    let (mut writer, reader) = bytes::Builder::new().chunk_size(4).build().unwrap();
    assert_eq!(reader.read_at(&mut [], 1000).unwrap(), 0, "no wait");
    writer.write_all(&pattern(0, 10)).unwrap();
    writer.finish().unwrap();
    let mut buf = [0; 8];
    assert_eq!(reader.read_at(&mut buf, 6).unwrap(), 4);
    assert_eq!(&buf[..4], &pattern(6, 4)[..]);
    assert_eq!(reader.read_at(&mut buf, 10).unwrap(), 0);
    assert_eq!(reader.read_at(&mut buf, 99).unwrap(), 0);
    let err = reader.read_exact_at(&mut buf, 6).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn read_at_before_the_window_is_invalid_input_naming_it() {
    let (mut writer, mut reader) = bytes::Builder::new().chunk_size(4).build().unwrap();
    writer.write_all(&pattern(0, 12)).unwrap();
    writer.finish().unwrap();
    let mut five = [0; 5];
    reader.read_exact(&mut five).unwrap(); // into the second chunk [4, 8)
    let mut buf = [0; 2];
    assert_eq!(
        reader.read_at(&mut buf, 4).unwrap(),
        2,
        "the held chunk is still there"
    );
    let err = reader.read_at(&mut buf, 3).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("starts at 4"), "{err}");
}

#[test]
fn seek_forward_skips_back_within_the_chunk_and_end_once_finished() {
    let (mut writer, mut reader) = bytes::Builder::new().chunk_size(4).build().unwrap();
    writer.write_all(&pattern(0, 16)).unwrap();
    writer.flush().unwrap();
    let err = reader.seek(SeekFrom::End(0)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(reader.seek(SeekFrom::Start(6)).unwrap(), 6);
    assert_eq!(reader.position(), 6);
    let mut one = [0; 1];
    reader.read_exact(&mut one).unwrap();
    assert_eq!(one[0], pattern(6, 1)[0]);
    // Back within the chunk [4, 8).
    assert_eq!(reader.seek(SeekFrom::Current(-3)).unwrap(), 4);
    reader.read_exact(&mut one).unwrap();
    assert_eq!(one[0], pattern(4, 1)[0]);
    let err = reader.seek(SeekFrom::Start(3)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("starts at 4"), "{err}");
    writer.finish().unwrap();
    assert_eq!(reader.seek(SeekFrom::End(-2)).unwrap(), 14);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, pattern(14, 2));
    assert!(reader.seek(SeekFrom::Current(-100)).is_err());
}

#[test]
fn a_reader_is_sync_for_read_at() {
    fn sync<T: Sync>() {}
    sync::<bytes::ByteReader>();
}
