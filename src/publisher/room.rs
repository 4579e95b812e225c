//! The room rule on the publisher's side: weighing the next event, the cached bound
//! (`room_until`), the `need` position a write asks of every cursor (by count or by
//! weight), the scan that decides it, and the retention window's oldest event.

use super::Publisher;

/// The publisher's cached `room_until`, lowered by [`Publisher::subscribe_at`] through
/// `&self`. A std atomic with `Relaxed` accesses, invisible to loom: `&self` and `&mut self`
/// borrows of the publisher never overlap, so it is never accessed concurrently; the
/// atomic only makes the write through `&self` sound. A `Relaxed` load is a plain load.
#[derive(Debug)]
pub(super) struct RoomUntil(pub(super) std::sync::atomic::AtomicU64);

impl RoomUntil {
    #[inline]
    pub(super) fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[inline]
    pub(super) fn set(&self, v: u64) {
        self.0.store(v, std::sync::atomic::Ordering::Relaxed);
    }
}

impl<T> Publisher<T> {
    /// Weighs the event about to be checked for room and written (weighted streams).
    #[inline]
    pub(crate) fn stage(&mut self, value: &T) {
        if let Some(ws) = &mut self.weights {
            ws.stage(value);
        }
    }

    /// Whether writing the next (staged) event may exceed the bound (then a scan decides).
    #[inline]
    pub(crate) fn needs_room(&self) -> bool {
        match &self.weights {
            None => self.next_seq >= self.room_until.get(),
            Some(ws) => ws.total() + ws.staged() > self.room_until.get(),
        }
    }

    /// The position every `Block` cursor must reach before the next (staged) event fits.
    pub(crate) fn room_need(&self) -> u64 {
        match &self.weights {
            None => (self.next_seq + 1).saturating_sub(self.shared.config.capacity),
            Some(ws) => ws.need(ws.staged()),
        }
    }

    /// The position every cursor must be at for what is published now to be within the
    /// bound: lagging or evicting by it forces nobody who is within the bound.
    pub(super) fn published_need(&self) -> u64 {
        match &self.weights {
            None => self.next_seq.saturating_sub(self.shared.config.capacity),
            Some(ws) => ws.need(0),
        }
    }

    /// Scans the cursors, lagging or evicting non-`Block` laggards, retires passed nodes,
    /// and tells whether the next event may be written now.
    #[cold]
    pub(crate) fn make_room(&mut self) -> bool {
        self.scan_for(self.room_need())
    }

    /// Scans for a write that needs every cursor at or past `need` (see
    /// [`Reclaimer::scan`]).
    pub(super) fn scan_for(&mut self, need: u64) -> bool {
        let scan = self.list.scan(&self.shared, need);
        let tail_start = self.tail.start();
        // Writes within the bound measured from `lowest` can go without asking again. With
        // no cursor, nobody can fall behind: a joiner starts at the live end (or
        // `subscribe_at` resets the cache), so measure from there.
        let lowest = scan.lowest.min(self.next_seq);
        let until = match &mut self.weights {
            None => lowest.saturating_add(self.shared.config.capacity),
            Some(ws) => {
                let until = ws.room_until(lowest);
                let oldest = ws.oldest();
                ws.trim(lowest.min(oldest));
                until
            }
        };
        self.room_until.set(until);
        // The retention window keeps the node holding its oldest event.
        let floor = scan.floor.min(tail_start).min(self.oldest_node_start());
        let (list, tail) = (&mut self.list, self.tail.ptr());
        self.panic.catch(|| list.retire_before(floor, tail));
        !scan.blocked
    }

    /// The sequence number of the oldest event of the retention window
    /// ([`Position::Oldest`](crate::Position::Oldest)).
    pub(crate) fn oldest(&self) -> u64 {
        match &self.weights {
            None => self.next_seq.saturating_sub(self.shared.config.retain),
            Some(ws) => ws.oldest(),
        }
    }

    /// The start of the node holding [`oldest`](Publisher::oldest) (or the tail's, if the
    /// window is empty).
    fn oldest_node_start(&self) -> u64 {
        let l = self.shared.config.chunk_len as u64;
        self.oldest() / l * l
    }
}
