//! `RangeWriter` against a simple model: writes at random offsets (overlapping, repeated,
//! sometimes disagreeing with bytes already buffered), each checked for its outcome
//! (`Ok`, or `InvalidData` exactly when it disagrees with a buffered byte) and for the
//! published prefix; then the gaps are filled, `finish` ends the stream, and a reader of
//! the retained window must read exactly the reference bytes.
//!
//! Single-threaded, so a write that would wait for the window (ending more than
//! `max_bytes` past the prefix) is not made; the writer has no reader until the end (the
//! retention window keeps everything), so publishing never waits.
#![no_main]

use std::io::{ErrorKind, Read};

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use tailcast::bytes;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(len) = u.int_in_range(1..=2048usize) else {
        return;
    };
    let Ok(max) = u.int_in_range(1..=len) else {
        return;
    };
    let truth: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(151) ^ 0x5a)
        .collect();
    let writer = bytes::Builder::new()
        .max_bytes(max)
        .chunk_size(max.min(64))
        .retain_bytes(len)
        .build_writer()
        .unwrap();
    let ranges = writer.into_ranges();
    let mut buffered = vec![false; len];
    let mut prefix = 0usize;
    for _ in 0..u.int_in_range(0..=64u32).unwrap_or(0) {
        let (Ok(at), Ok(n), Ok(flip)) = (
            u.int_in_range(0..=len - 1),
            u.int_in_range(1..=max),
            u.int_in_range(0..=3u8),
        ) else {
            break;
        };
        let end = (at + n).min(len);
        if end > prefix + max {
            continue; // would wait for the window
        }
        let mut chunk = truth[at..end].to_vec();
        // Sometimes disagree with a byte that is buffered (written, not yet published).
        let conflict = (flip == 0)
            .then(|| (at.max(prefix)..end).find(|&p| buffered[p]))
            .flatten();
        if let Some(p) = conflict {
            chunk[p - at] ^= 0xff;
        }
        let result = ranges.write_at(at as u64, &chunk);
        if conflict.is_some() {
            assert_eq!(result.unwrap_err().kind(), ErrorKind::InvalidData);
            continue;
        }
        result.unwrap();
        for b in &mut buffered[at.max(prefix).min(end)..end] {
            *b = true;
        }
        while prefix < len && buffered[prefix] {
            buffered[prefix] = false;
            prefix += 1;
        }
        assert_eq!(ranges.published(), prefix as u64);
    }
    // Fill the gaps in order, then finish.
    let mut at = prefix;
    while at < len {
        let end = (at + max).min(len);
        ranges.write_at(at as u64, &truth[at..end]).unwrap();
        at = end;
    }
    assert_eq!(ranges.published(), len as u64);
    let mut live = ranges.reader();
    let mut oldest = ranges.reader_from_oldest();
    ranges.finish(len as u64).unwrap();
    assert_eq!(
        live.read(&mut [0; 8]).unwrap(),
        0,
        "the live end after finish"
    );
    // The retained window holds everything: read it back.
    let mut all = Vec::new();
    oldest.read_to_end(&mut all).unwrap();
    assert!(all == truth, "the stream differs from the reference");
    // Complete: a late copy of its bytes is taken and ignored; past the end is refused.
    ranges.write_at(0, &truth[..1]).unwrap();
    let err = ranges.write_at(len as u64 - 1, &[0, 0]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    ranges.abort(std::io::Error::other("after the end: harmless"));
    ranges.write_at(0, &truth[..1]).unwrap();
});
