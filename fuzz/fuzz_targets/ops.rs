//! Operation sequences on a small stream, against the reference model.
//!
//! The input decodes into a capacity (1..=8), a chunk length (1..=capacity, or the
//! default), the builder's lag policy, then up to 64 operations: every publish flavour
//! (blocking ones only while the model says there is room; `publish_async` polled once),
//! subscribe / subscribe_with, clone, drop of a subscriber or of the publisher, every
//! receive flavour (`try_recv_ref` and `try_recv_batch` included), borrows held across
//! publishes, and a payload whose `Clone` panics on its `n`-th call (the event must be
//! redelivered). After every step the stream and the model must agree; at the end every
//! payload must have been dropped exactly once.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use tailcast_fuzz::decode;
use tailcast_fuzz::model::Harness;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(cap) = u.int_in_range(1..=8usize) else {
        return;
    };
    let len = match u.int_in_range(0..=cap) {
        Ok(0) => None,
        Ok(n) => Some(n),
        Err(_) => return,
    };
    let Ok(policy) = decode::policy(&mut u) else {
        return;
    };
    let ops = decode::ops(&mut u, cap as u64, 64);
    Harness::run(cap, len, policy, &ops).expect("a valid configuration");
});
