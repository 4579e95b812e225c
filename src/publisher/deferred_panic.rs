//! The publisher's panic contract: a panic from an older payload's `Drop`, raised while
//! the publisher reclaims nodes, is held and resumed at the end of the publishing call,
//! after the call did everything it would have done.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// std's also under loom: it is never locked (only `get_mut`), so there is nothing for
/// loom to model.
use std::sync::Mutex;

/// A caught panic, to be resumed by the public call that caught it.
///
/// # Invariants
///
/// - Holds at most one payload: the first panic of a call (a second one in the same call
///   is dropped; the first says what went wrong).
/// - Empty whenever no public publishing call is running: each one ends with
///   [`resume`](DeferredPanic::resume).
///
/// A `Mutex` only so that `Publisher` stays `Sync` (a payload is `Send`, not `Sync`); it is
/// only ever reached through `&mut`, so it is never locked.
#[derive(Debug, Default)]
pub(crate) struct DeferredPanic(Mutex<Option<Box<dyn Any + Send + 'static>>>);

impl DeferredPanic {
    /// Runs `f`, keeping a panic from it for [`resume`](DeferredPanic::resume). The
    /// reclamation `f` runs is panic-safe by construction (F10: a panicking value leaks
    /// the rest of its node, nothing is dropped twice, the lists stay consistent), which is
    /// what makes asserting unwind safety here sound.
    #[inline]
    pub(crate) fn catch(&mut self, f: impl FnOnce()) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
            let slot = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(payload);
            }
        }
    }

    /// Resumes the held panic, if any.
    #[inline]
    pub(crate) fn resume(&mut self) {
        let slot = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(payload) = slot.take() {
            resume_unwind(payload);
        }
    }
}
