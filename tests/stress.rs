//! Multi-threaded stress: 1 publisher, 8 subscribers with mixed lag policies that join,
//! clone and leave during the run; every event is a sequence number. `Block` subscribers
//! lose, duplicate and reorder nothing; for `Skip` every gap equals the `Lagged(n)` just
//! before it; `Disconnect` sees a gap-free prefix, then `Evicted`, then `Closed`. See
//! `stress/engine.rs` for the exact checks; `examples/soak.rs` runs the same for minutes.
//!
//! Size: `TAILCAST_STRESS_EVENTS` events, by default 10^7 in release builds, 2 * 10^5 in
//! debug builds (a few seconds) and 300 under miri.

#[path = "stress/engine.rs"]
mod engine;

use engine::{run, Settings};

fn events() -> u64 {
    let default = if cfg!(miri) {
        300
    } else if cfg!(debug_assertions) {
        200_000
    } else {
        10_000_000
    };
    std::env::var("TAILCAST_STRESS_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Small capacities and nodes, so that node boundaries, lags and evictions are frequent.
fn settings(capacity: usize, chunk_len: usize, seed: u64) -> Settings {
    let (capacity, chunk_len) = if cfg!(miri) {
        (4, 2)
    } else {
        (capacity, chunk_len)
    };
    Settings {
        events: events(),
        capacity,
        chunk_len,
        seed,
    }
}

#[test]
fn stress_mixed_policies_join_clone_leave() {
    let report = run(settings(64, 8, 1));
    println!("cap 64 chunk_len 8: {report}");
}

#[test]
fn stress_tiny_nodes() {
    // One slot per node and a cap of 3: every event crosses a node boundary, and the
    // publisher waits for a Block subscriber every few events (a futex round trip each),
    // so a quarter of the events.
    let mut s = settings(3, 1, 2);
    s.events = (s.events / 4).max(1);
    let report = run(s);
    println!("cap 3 chunk_len 1: {report}");
}
