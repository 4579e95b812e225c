#!/usr/bin/env bash
# Mutation check of the loom catalogue: plants one protocol bug at a time in a copy of the
# working tree, runs the loom models expected to catch it, and reports CAUGHT (a model
# failed) or MISSED (every listed model passed: the catalogue has a hole).
#
# Usage: bash loom-tests/mutations.sh [MUTANT_NAME...]   (no argument: every mutant)
# Needs python3 (to apply the edits). Exits non-zero if a mutant is missed or a planted
# edit no longer applies (the source moved on: update the table below).
#
# Not planted: a Relaxed `next` link is an equivalent mutant (a reader follows `next` only
# after an Acquire load of `len == chunk_len`, which the link precedes: edge 2).
# Not planted either: a `Drop` that records no end is equivalent (an unset end reads as
# `UnexpectedEof`).
#
# A models field starting with `+tokio ` builds those models with LOOM_FEATURES=tokio
# (tests/tee_async.rs, tests/bytes_end_async.rs: tailcast's `tokio` feature).
#
# Environment: MUTANT_DIR (scratch copy, default target/mutants/src), MUTANT_OUT (build
# dir and logs, default target/mutants), LOOM_MODEL_TIMEOUT (per model, default 300 s: a
# lost wake-up shows as a loom deadlock, not a hang).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out="${MUTANT_OUT:-$root/target/mutants}"
work="${MUTANT_DIR:-$out/src}"
mkdir -p "$out"
export LOOM_TARGET_DIR="$out/build"
unset LOOM_MAX_DURATION # a capped search would count as a pass
export LOOM_MODEL_TIMEOUT="${LOOM_MODEL_TIMEOUT:-300}"

# name ~ file ~ exact text to find ~ replacement ~ models expected to catch it
# (in the texts: \n is a newline, \& a literal &)
mutants=(
    "wake-no-fence~src/publisher.rs~full_fence();\n        if node.has_parked() {~if node.has_parked() {~wake_at_slot wake_at_boundary wake_async"
    "park-no-fence~src/raw/cursor/park.rs~full_fence();\n        if self.has_news(node) {\n            return true;~if self.has_news(node) {\n            return true;~wake_at_slot wake_at_boundary close_mid_node"
    "async-park-no-fence~src/raw/cursor/park.rs~full_fence();\n        if self.has_news(node) {\n            parked.release~if self.has_news(node) {\n            parked.release~wake_async close_async"
    "publish-relaxed~src/raw/node.rs~self.len.store(len, Ordering::Release);~self.len.store(len, Ordering::Relaxed);~observe_try_recv_chunk1 observe_ref_batch_chunk2"
    "leave-start-relaxed~src/raw/registry.rs~self.word.start.store(start, Ordering::Release);~self.word.start.store(start, Ordering::Relaxed);~leave_node_vs_retire drop_race_block block_cap1_chunk1"
    "position-no-wake~src/raw/cursor.rs~self.shared.wake_publisher_for(to - received as u64, to);~let _ = received;~room_one_read_mid_node room_batch_read_async_publish block_cap1_chunk1"
    "position-no-store~src/raw/cursor.rs~self.entry.set_pos(to);~let _ = to;~room_one_read_mid_node room_batch_read_async_publish"
    "position-store-after-wake~src/raw/cursor.rs~self.entry.set_pos(to);\n        if !self.is_lossy() {\n            self.shared.wake_publisher_for(to - received as u64, to);\n        }~if !self.is_lossy() {\n            self.shared.wake_publisher_for(to - received as u64, to);\n        }\n        self.entry.set_pos(to);~room_one_read_mid_node room_batch_read_async_publish"
    "room-from-node-start~src/raw/reclaim/scan.rs~let mut pos = entry.pos().max(start);~let mut pos = start;~room_one_read_mid_node room_batch_read_async_publish"
    "live-after-retire~src/publisher.rs~        *self.shared.live() = self.tail.ptr();\n        // Scanning for what is published now lags or evicts nobody who is within the\n        // bound now.\n        self.scan_for(self.published_need());~        self.scan_for(self.published_need());\n        *self.shared.live() = self.tail.ptr();~resubscribe_races_node_change"
    "drop-no-wake~src/raw/cursor/leave.rs~// We may have been the cursor the publisher waits for.\n        self.shared.wake_publisher();~// (mutant: no wake-up)~block_subscriber_drop_wakes_publisher block_subscriber_drop_wakes_publish_async"
    "publisher-park-no-fence~src/raw/shared.rs~full_fence();\n    }\n\n    pub(crate) fn publisher_unpark~}\n\n    pub(crate) fn publisher_unpark~block_cap1_chunk1 block_cap2_chunk2 block_two_subscribers_one_leaves"
    "close-no-fence~src/raw/shared.rs~full_fence();\n        if tail.has_parked() {~if tail.has_parked() {~close_empty close_mid_node close_async close_wakes_every_waiter"
    "free-tainted-now~src/raw/reclaim.rs~if node.is_tainted() {~if false \&\& node.is_tainted() {~skip_lag_exact_cap1 skip_ref_survives_lag drop_race_skip_lagged skip_lag_async"
    "ref-no-hold~src/raw/cursor/borrow.rs~let hold = pin.map(|pin| {~let hold = pin.filter(|_| false).map(|pin| {~skip_ref_survives_lag skip_held_ref_vs_retire"
    "retire-ignores-hold~src/raw/reclaim.rs~} else if !node.retire() {~} else if false {~skip_ref_survives_lag skip_held_ref_vs_retire observe_ref_batch_chunk2"
    "waiter-uncounted~src/raw/hold.rs~        unsafe { node.as_ref() }.add_waiter();~        let _ = node;~wake_at_slot wake_at_boundary close_mid_node"
    "scan-no-recheck~src/raw/reclaim/scan.rs~if now == joins {~if true || now == joins {~clone_skip_races_lag clone_disconnect_races_evict subscribe_races_leave"
    "join-uncounted~src/raw/registry.rs~        self.joins.fetch_add(1, Ordering::Release);~~clone_skip_races_lag clone_disconnect_races_evict subscribe_races_leave"
    "clone-no-follow~src/raw/cursor/join.rs~if source == ours {~if true || source == ours {~clone_skip_races_lag clone_disconnect_races_evict"
    "drain-ignores-taint~src/raw/cursor/leave.rs~if !n.is_tainted() \&\& !n.has_holds() {~if !n.has_holds() {~last_leaver_vs_evicted_reader"
    "drain-no-mark~src/raw/node.rs~let from = self.dropped.swap(0, Ordering::Relaxed).min(len);~let from = 0;~last_leaver_drains_vs_publish last_leaver_vs_evicted_reader"
    "drain-past-live-end~src/raw/cursor/leave.rs~let limit = tail.start() + tail.len() as u64;~let limit = u64::MAX;~last_leaver_vs_join_at_live_end last_leaver_vs_publisher_subscribe"
    "relay-bypass~src/wait/recv.rs~.poll(\&mut Context::from_waker(\&relay))\n                    .is_pending()\n                {\n                    return Poll::Pending;\n                }\n                if let Some(parked)~.poll(cx)\n                    .is_pending()\n                {\n                    return Poll::Pending;\n                }\n                if let Some(parked)~relay_waker_drop_publishes"
    "relay-keeps-old~src/raw/relay.rs~Some(current) if current.will_wake(cx.waker()) => None,~Some(_) => None,~relay_repoll_vs_publish"
    "need-ignores-staged~src/publisher/room.rs~            Some(ws) => ws.need(ws.staged()),~            Some(ws) => ws.need(0),~bytes_room_partial_reads_then_commit bytes_room_two_readers"
    "tee-no-notify~src/bytes/tee.rs~        self.leading.store(false, Ordering::Release);\n        self.event.notify(usize::MAX);~        self.leading.store(false, Ordering::Release);~tee_two_readers_share_the_source"
    "tee-no-recheck~src/bytes/reader/pull.rs~            full_fence();\n            match self.attempt(pull, None) {~            full_fence();\n            match match self.subscriber.try_recv() { Err(TryRecvError::Empty) => Lead::Other, other => Lead::Done(other.map_err(RecvError::from)) } {~tee_two_readers_share_the_source tee_reader_stops_after_one_chunk"
    "tee-leader-behind~src/bytes/reader/pull.rs~        match self.subscriber.try_recv() {\n            Err(TryRecvError::Empty) => match cx {\n                None => {\n                    pull.lead();~        match Err::<Chunk, _>(TryRecvError::Empty) {\n            Err(TryRecvError::Empty) => match cx {\n                None => {\n                    pull.lead();~tee_two_readers_share_the_source"
    "ranges-no-notify~src/bytes/ranges.rs~            self.intervals.trim_below(self.prefix);\n            room.notify(usize::MAX);~            self.intervals.trim_below(self.prefix);~ranges_far_write_waits_for_the_prefix"
    "ranges-room-waker-silent~src/bytes/ranges.rs~    fn wake(self: Arc<Self>) {\n        self.0.notify(usize::MAX);~    fn wake(self: Arc<Self>) {\n        let _ = self;~ranges_prefix_waits_for_room_unlocked"
    "ranges-drive-no-retry~src/bytes/ranges.rs~            state = lock(\&self.shared.state);\n            if state.publish_prefix(\&self.shared.room, \&mut cx).is_ready() {\n                return state.check(0, 0);\n            }\n            drop(state);\n            room.wait();~            state = lock(\&self.shared.state);\n            drop(state);\n            room.wait();~ranges_prefix_waits_for_room_unlocked"
    "ranges-no-recheck~src/bytes/ranges.rs~            if end <= state.prefix + self.shared.max_bytes {\n                continue;\n            }\n            drop(state);\n            moved.wait();~            drop(state);\n            moved.wait();~ranges_far_write_waits_for_the_prefix"
    "relay-wake-lost~src/raw/relay.rs~            defer(waker);~            drop(waker);~wake_async close_async block_publish_async relay_repoll_vs_publish"
    "end-close-no-wake~src/raw/shared.rs~        if tail.has_parked() {\n            tail.wake_all();\n        }~        let _ = tail;~end_finish_wakes_blocked_reader end_abort_wakes_blocked_reader end_drop_unfinished_wakes_blocked_reader end_abort_wakes_every_reader"
    "end-wakes-one~src/raw/node.rs~        self.event.notify(usize::MAX);~        self.event.notify(1);~end_abort_wakes_every_reader"
    "tee-error-dropped~src/bytes/tee.rs~            Err(e) => writer.abort(e),~            Err(_) => drop(writer),~end_tee_source_error_reaches_every_reader"
    "abort-end-unrecorded~src/bytes/writer.rs~self.end.abort(\&error, self.published);~drop(error);~end_abort_wakes_blocked_reader end_range_abort_wakes_far_writer"
    "byte-reader-drop-no-wake~src/raw/cursor/leave.rs~// We may have been the cursor the publisher waits for.\n        self.shared.wake_publisher();~// (mutant: no wake-up)~end_reader_drop_unblocks_writer"
    "ranges-abort-no-notify~src/bytes/ranges.rs~        state.pieces.clear();\n        drop(state);\n        self.shared.room.notify(usize::MAX);~        state.pieces.clear();\n        drop(state);~end_range_abort_wakes_far_writer"
    "ranges-finish-no-notify~src/bytes/ranges.rs~        state.end_if_complete();\n        drop(state);\n        self.shared.room.notify(usize::MAX);~        state.end_if_complete();\n        drop(state);~end_range_finish_wakes_far_writer"
    "tee-async-drop-keeps-lead~src/bytes/reader.rs~        self.cancel_waits();\n        self.release_lead();\n    }~        self.cancel_waits();\n    }~+tokio tee_async_lead_handoff"
    "tee-async-forgets-staged~src/bytes/tee.rs~        if source.writer.has_staged() {~        if false \&\& source.writer.has_staged() {~+tokio tee_async_lead_handoff tee_async_lead_across_pending"
    "shutdown-closes-before-end~src/bytes/writer.rs~        self.end.finish(self.published);\n        self.ended = true;\n        self.publisher.close_in_place();~        self.publisher.close_in_place();\n        self.end.finish(self.published);\n        self.ended = true;~+tokio end_shutdown_wakes_blocked_reader"
    "sink-no-cancel~src/publisher/sink.rs~            self.cancel_sink_wait();\n            self.sink.closed~            self.sink.closed~+tokio sink_pending_then_publish_async"
    "router-add-unstored~src/router.rs~        self.table.store(Arc::new(Table { by_key, filters }));~        let _ = Table { by_key, filters };~+tokio router_route_added_while_running"
    "router-remove-unstored~src/router.rs~            Some(table) => {\n                self.table.store(Arc::new(table));~            Some(table) => {\n                drop(table);~+tokio router_route_added_while_running"
    "turn-no-notify~src/publisher/shared.rs~        inner.turn.notify(usize::MAX);~        let _ = \&inner.turn;~shared_two_blocking_producers shared_async_and_blocking_producers"
    "turn-no-recheck~src/publisher/shared.rs~            let listener = self.inner.turn.listen();\n            // Re-checked after listening: a release in between notified nobody we hear.\n            if let Some(turn) = self.try_take_turn() {\n                return turn;\n            }~            let listener = self.inner.turn.listen();~shared_two_blocking_producers shared_async_and_blocking_producers"
)

selected() {
    [ "$#" -eq 1 ] && return 0
    local name=$1
    shift
    for f in "$@"; do [ "$name" = "$f" ] && return 0; done
    return 1
}

results=()
status=0
for m in "${mutants[@]}"; do
    IFS='~' read -r name file find replace models <<<"$m"
    selected "$name" "$@" || continue
    features=
    case "$models" in "+tokio "*)
        features=tokio
        models=${models#+tokio }
        ;;
    esac
    echo "=================== mutant $name ($file)"
    rm -rf "$work"
    mkdir -p "$work"
    tar -C "$root" --exclude=./target --exclude=./.git -cf - . | tar -C "$work" -xf -
    if ! python3 - "$work/$file" "$find" "$replace" <<'EOF'; then
import sys
path, find, replace = sys.argv[1], sys.argv[2], sys.argv[3]
find = find.replace("\\n", "\n").replace("\\&", "&")
replace = replace.replace("\\n", "\n").replace("\\&", "&")
src = open(path).read()
if src.count(find) != 1:
    sys.exit(f"edit does not apply: {find!r} occurs {src.count(find)} times in {path}")
open(path, "w").write(src.replace(find, replace))
EOF
        results+=("$(printf '%-18s STALE (edit no longer applies)' "$name")")
        status=1
        continue
    fi
    # shellcheck disable=SC2086
    if (cd "$work" && LOOM_FEATURES=$features bash loom-tests/run.sh $models) >"$out/$name.log" 2>&1; then
        results+=("$(printf '%-18s MISSED by: %s' "$name" "$models")")
        status=1
    elif ! grep -q '^== loom summary' "$out/$name.log"; then
        results+=("$(printf '%-18s BROKEN (did not build; see the log)' "$name")")
        status=1
    else
        caught=$(grep -o '^FAILED: .*' "$out/$name.log" | sed 's/^FAILED: //' | tr '\n' ' ')
        results+=("$(printf '%-18s CAUGHT by: %s' "$name" "$caught")")
    fi
    grep -E '^(ok|FAILED) ' "$out/$name.log" | sed 's/^/   /' || true
done
echo
echo "== mutation summary (logs in $out/)"
printf '%s\n' "${results[@]}"
exit "$status"
