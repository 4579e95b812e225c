//! The raw layer of the core: the nodes and their slots, the cursor registry, the holds,
//! the node list and pool, the backpressure scan, reclamation (retire, recycle, the
//! epoch, the orphans), the waker relay, the shared stream state, and the sync shim that
//! swaps std for loom. Every atomic protocol of the crate lives here, and loom and miri
//! target it (ARCHITECTURE.md draws the layout and argues each protocol).

pub(crate) mod cursor;
pub(crate) mod hold;
pub(crate) mod node;
pub(crate) mod orphans;
pub(crate) mod reclaim;
pub(crate) mod registry;
pub(crate) mod relay;
pub(crate) mod shared;
pub(crate) mod sync;
pub(crate) mod tail;
