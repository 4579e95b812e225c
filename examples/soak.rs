//! Soak: the multi-threaded stress run of `tests/stress.rs` (1 publisher, 8 subscribers
//! with mixed lag policies joining, cloning and leaving; exact sequence checks per policy)
//! repeated round after round, over several capacities and chunk lengths, for a given
//! time; prints what every round checked and the totals.
//!
//! ```text
//! cargo run --release --example soak -- [--minutes N] [--events-per-round N] [--seed N]
//! ```
//!
//! Exits non-zero (a panic naming the subscriber, the expected and the received sequence
//! number) at the first violation.

#[path = "../tests/stress/engine.rs"]
mod engine;

use std::time::{Duration, Instant};

use engine::{run, Report, Settings};

/// (capacity, chunk_len) per round, cycled: tiny nodes, nodes as large as the cap, a
/// chunk length that does not divide the cap, and roomier streams.
const CONFIGS: [(usize, usize); 6] = [(64, 8), (3, 1), (16, 16), (100, 7), (1024, 64), (2, 2)];

struct Args {
    minutes: f64,
    events: u64,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        minutes: 1.0,
        events: 2_000_000,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"));
        let bad = |e: String| format!("{flag}: {e}");
        match flag.as_str() {
            "--minutes" => args.minutes = value?.parse().map_err(|e| bad(format!("{e}")))?,
            "--events-per-round" => {
                args.events = value?.parse().map_err(|e| bad(format!("{e}")))?
            }
            "--seed" => args.seed = value?.parse().map_err(|e| bad(format!("{e}")))?,
            _ => {
                return Err(
                    "usage: soak [--minutes N] [--events-per-round N] [--seed N]".to_string(),
                )
            }
        }
    }
    if !(args.minutes >= 0.0 && args.minutes.is_finite()) || args.events == 0 {
        return Err("--minutes must be >= 0 and --events-per-round > 0".to_string());
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let budget = Duration::from_secs_f64(args.minutes * 60.0);
    let start = Instant::now();
    let mut total = Report::default();
    let mut rounds = 0u64;
    println!(
        "soak: {} min, {} events per round, 8 subscribers (Block x3, Skip x3, Disconnect x2)",
        args.minutes, args.events
    );
    // At least one round, then as many as fit in the budget.
    while rounds == 0 || start.elapsed() < budget {
        let (capacity, chunk_len) = CONFIGS[rounds as usize % CONFIGS.len()];
        let settings = Settings {
            events: args.events,
            capacity,
            chunk_len,
            seed: args.seed.wrapping_add(rounds),
        };
        let t = Instant::now();
        let report = run(settings);
        rounds += 1;
        println!(
            "round {rounds} (cap {capacity}, chunk_len {chunk_len}, {:.1} s): {report}",
            t.elapsed().as_secs_f64()
        );
        total.add(&report);
    }
    println!(
        "soak passed: {rounds} rounds in {:.1} s, every event checked",
        start.elapsed().as_secs_f64()
    );
    println!("  events published:          {}", total.published);
    println!("  events received, checked:  {}", total.received);
    println!(
        "  lags (Skip):               {} reports, {} events skipped, every gap == its Lagged(n)",
        total.lagged_reports, total.lagged_events
    );
    println!(
        "  evictions (Disconnect):    {} (each a gap-free prefix, then Evicted, then Closed)",
        total.evictions
    );
    println!(
        "  joins / leaves / clones:   {} / {} / {}",
        total.joins, total.leaves, total.clones
    );
    println!("  Full retries (publisher):  {}", total.full_retries);
    println!(
        "  witness (Block, never leaves): {} events, none lost, duplicated or reordered",
        total.witness_received
    );
}
