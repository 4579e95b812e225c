//! One subscriber never reads: what does each system do? Single-threaded and
//! deterministic: the publisher tries to publish up to 16 × capacity `u64` events without
//! ever waiting (`try_publish` and the like); a healthy subscriber is drained after every
//! accepted event (and checked to get them all, in order); a second, stalled subscriber is
//! never read until the end. Where the publisher would block, the run stops at the first
//! refusal ("accepted" then says how many got in before that). Prints a table:
//!
//! - publisher: what the publisher experiences (blocks, or never waits);
//! - accepted: events published before the first refusal (of 16 × capacity tried);
//! - stalled sub: what the stalled subscriber's next receive returns at the end;
//! - held: events kept in memory for the stalled subscriber at the end;
//! - allocs/ev: heap allocations during the publish loop per accepted event;
//! - heap: live heap bytes of the whole setup (stream, handles, held events) at the end,
//!   from a counting global allocator; "after drop": what stays once everything is dropped.
//!
//! ```text
//! cargo bench -p tailcast-benches --bench stalled
//! ```

use tailcast::{LagPolicy, TryRecvError};
use tailcast_benches::{AllocWindow, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const CAPACITY: usize = 1024;
const ATTEMPTS: u64 = 16 * CAPACITY as u64;

struct Row {
    system: &'static str,
    publisher: &'static str,
    accepted: u64,
    stalled: String,
    held: u64,
    heap: i64,
    /// Allocations made during the publish loop, per accepted event.
    allocs_per_event: f64,
    after_drop: i64,
}

/// Runs `scenario` inside an allocation window. The scenario returns its row (with `heap`
/// measured at its end through the window it is given) and drops everything it made.
fn measured(scenario: impl FnOnce(&AllocWindow) -> Row) -> Row {
    let window = AllocWindow::open();
    let mut row = scenario(&window);
    // The row's own text was allocated in the window too.
    row.after_drop = window.close().live_bytes() - row.stalled.capacity() as i64;
    row
}

fn tailcast(policy: LagPolicy, system: &'static str, publisher: &'static str) -> Row {
    measured(|w| {
        let (mut tx, mut healthy) = tailcast::channel::<u64>(CAPACITY);
        let mut stalled = tx.subscribe_with(policy);
        let mut accepted = 0;
        let loop_start = w.stats().allocs;
        for i in 0..ATTEMPTS {
            if tx.try_publish(i).is_err() {
                break;
            }
            accepted += 1;
            assert_eq!(healthy.try_recv(), Ok(i), "{system}: healthy subscriber");
        }
        let (heap, loop_allocs) = (w.stats().live_bytes(), w.stats().allocs - loop_start);
        let before = stalled.position();
        let next = stalled.try_recv();
        let held = match next {
            // Lagged: it moved to the oldest event still held for it.
            Err(TryRecvError::Lagged(_)) => tx.published() - stalled.position(),
            Err(TryRecvError::Evicted) => 0,
            _ => tx.published() - before,
        };
        Row {
            system,
            publisher,
            accepted,
            stalled: format!("{next:?}"),
            held,
            heap,
            allocs_per_event: loop_allocs as f64 / accepted as f64,
            after_drop: 0,
        }
    })
}

fn tokio_broadcast() -> Row {
    measured(|w| {
        let (tx, mut healthy) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
        let mut stalled = tx.subscribe();
        let loop_start = w.stats().allocs;
        for i in 0..ATTEMPTS {
            tx.send(i).unwrap();
            assert_eq!(healthy.try_recv(), Ok(i), "tokio: healthy receiver");
        }
        let (heap, loop_allocs) = (w.stats().live_bytes(), w.stats().allocs - loop_start);
        let held = tx.len() as u64;
        let next = stalled.try_recv();
        Row {
            system: "tokio-broadcast",
            publisher: "never waits (overwrites oldest)",
            accepted: ATTEMPTS,
            stalled: format!("{next:?}"),
            held,
            heap,
            allocs_per_event: loop_allocs as f64 / ATTEMPTS as f64,
            after_drop: 0,
        }
    })
}

fn async_broadcast(overflow: bool) -> Row {
    measured(|w| {
        let (mut tx, mut healthy) = async_broadcast::broadcast::<u64>(CAPACITY);
        tx.set_overflow(overflow);
        let mut stalled = healthy.clone();
        let mut accepted = 0;
        let loop_start = w.stats().allocs;
        for i in 0..ATTEMPTS {
            if tx.try_broadcast(i).is_err() {
                break;
            }
            accepted += 1;
            assert_eq!(
                healthy.try_recv(),
                Ok(i),
                "async-broadcast: healthy receiver"
            );
        }
        let (heap, loop_allocs) = (w.stats().live_bytes(), w.stats().allocs - loop_start);
        let held = tx.len() as u64;
        let next = stalled.try_recv();
        let (system, publisher) = if overflow {
            ("async-broadcast (overflow)", "never waits (pops oldest)")
        } else {
            ("async-broadcast", "blocks (try_broadcast: Full)")
        };
        Row {
            system,
            publisher,
            accepted,
            stalled: format!("{next:?}"),
            held,
            heap,
            allocs_per_event: loop_allocs as f64 / accepted as f64,
            after_drop: 0,
        }
    })
}

fn bus() -> Row {
    measured(|w| {
        let mut bus = bus::Bus::<u64>::new(CAPACITY);
        let mut healthy = bus.add_rx();
        let mut stalled = bus.add_rx();
        let mut accepted = 0;
        let loop_start = w.stats().allocs;
        for i in 0..ATTEMPTS {
            if bus.try_broadcast(i).is_err() {
                break;
            }
            accepted += 1;
            assert_eq!(healthy.try_recv(), Ok(i), "bus: healthy reader");
        }
        let (heap, loop_allocs) = (w.stats().live_bytes(), w.stats().allocs - loop_start);
        let next = stalled.try_recv();
        Row {
            system: "bus",
            publisher: "blocks (try_broadcast: Err)",
            accepted,
            stalled: format!("{next:?}"),
            held: accepted,
            heap,
            allocs_per_event: loop_allocs as f64 / accepted as f64,
            after_drop: 0,
        }
    })
}

fn crossbeam() -> Row {
    measured(|w| {
        let (healthy_tx, healthy) = crossbeam_channel::bounded::<u64>(CAPACITY);
        let (stalled_tx, stalled) = crossbeam_channel::bounded::<u64>(CAPACITY);
        let mut accepted = 0;
        let loop_start = w.stats().allocs;
        for i in 0..ATTEMPTS {
            // The stalled channel first: a fan-out `send` would block there.
            if stalled_tx.try_send(i).is_err() {
                break;
            }
            healthy_tx.try_send(i).unwrap();
            accepted += 1;
            assert_eq!(healthy.try_recv(), Ok(i), "crossbeam: healthy receiver");
        }
        let (heap, loop_allocs) = (w.stats().live_bytes(), w.stats().allocs - loop_start);
        let held = stalled.len() as u64;
        let next = stalled.try_recv();
        Row {
            system: "crossbeam-channel (per sub)",
            publisher: "blocks (try_send: Full)",
            accepted,
            stalled: format!("{next:?}"),
            held,
            heap,
            allocs_per_event: loop_allocs as f64 / accepted as f64,
            after_drop: 0,
        }
    })
}

fn disruptor() -> Row {
    use disruptor::{Polling, Producer as _};

    measured(|w| {
        let builder = disruptor::build_single_producer(CAPACITY, || 0u64, disruptor::BusySpin)
            .with_multi_consumer();
        // Pollers on this thread: the wait strategy is never used (nobody waits).
        let (mut healthy, builder) = builder.new_event_poller();
        let (mut stalled, builder) = builder.new_event_poller();
        let mut producer = builder.build();
        let mut accepted = 0;
        let loop_start = w.stats().allocs;
        for i in 0..ATTEMPTS {
            if producer.try_publish(|e| *e = i).is_err() {
                break;
            }
            accepted += 1;
            let mut got = healthy.poll().expect("disruptor: healthy poller");
            assert_eq!((&mut got).next(), Some(&i), "disruptor: healthy poller");
            assert_eq!((&mut got).next(), None, "disruptor: healthy poller");
        }
        let (heap, loop_allocs) = (w.stats().live_bytes(), w.stats().allocs - loop_start);
        let next = match stalled.poll() {
            Ok(mut events) => format!("Ok({} events)", (&mut events).count()),
            Err(Polling::NoEvents) => "NoEvents".to_owned(),
            Err(Polling::Shutdown) => "Shutdown".to_owned(),
        };
        drop(producer);
        Row {
            system: "disruptor",
            publisher: "blocks (try_publish: Full)",
            accepted,
            stalled: next,
            held: accepted,
            heap,
            allocs_per_event: loop_allocs as f64 / accepted as f64,
            after_drop: 0,
        }
    })
}

fn main() {
    // Warm-up: one-time lazy allocations of the process (thread-local destructor lists,
    // `thread::current()`, ...) would otherwise show as "after drop" bytes in the first
    // rows. Only the second run's rows are printed.
    let _ = rows();
    print(rows());
}

fn rows() -> [Row; 9] {
    [
        tailcast(
            LagPolicy::Block,
            "tailcast Block",
            "blocks (try_publish: Full)",
        ),
        tailcast(LagPolicy::Skip, "tailcast Skip", "never waits (lags it)"),
        tailcast(
            LagPolicy::Disconnect,
            "tailcast Disconnect",
            "never waits (evicts it)",
        ),
        tokio_broadcast(),
        async_broadcast(false),
        async_broadcast(true),
        bus(),
        crossbeam(),
        disruptor(),
    ]
}

fn print(rows: [Row; 9]) {
    println!(
        "one stalled subscriber + one healthy one drained inline; capacity {CAPACITY}, u64 \
         events, up to {ATTEMPTS} non-blocking publishes (stop at the first refusal)"
    );
    println!(
        "{:<28} {:<32} {:>9} {:<26} {:>6} {:>10} {:>10} {:>10}",
        "system",
        "publisher",
        "accepted",
        "stalled sub's next recv",
        "held",
        "allocs/ev",
        "heap B",
        "after drop"
    );
    for r in rows {
        println!(
            "{:<28} {:<32} {:>9} {:<26} {:>6} {:>10.4} {:>10} {:>10}",
            r.system,
            r.publisher,
            r.accepted,
            r.stalled,
            r.held,
            r.allocs_per_event,
            r.heap,
            r.after_drop
        );
    }
}
