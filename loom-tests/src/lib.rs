//! Shared harness for the loom models in `tests/`: a model runner that counts and prints
//! executions, and an event payload that detects leaks, double drops and reads of freed or
//! half-written values.
//!
//! Everything here is compiled only with `--cfg loom` (see `run.sh`); in a normal build the
//! crate is empty.

#[cfg(loom)]
mod harness;

#[cfg(loom)]
pub use harness::*;
