//! Support for the fuzz targets: the reference model and harness shared with
//! `tests/model_props.rs` (one file, `tests/model/mod.rs`), and the decoding of fuzzer
//! bytes into settings and operations.

// The model keeps its own no-op waker: the root crate's MSRV (1.84) predates `Waker::noop`.
#[allow(unknown_lints, clippy::manual_noop_waker)]
#[path = "../../tests/model/mod.rs"]
pub mod model;

pub mod decode;
