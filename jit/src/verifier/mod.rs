//! The verifier: what the kernel's verifier promises, given by uxdp itself before any
//! engine runs a program. A refused program never runs.
//!
//! Built in layers: [`cfg`] (control flow: functions, jumps, reachability, call depth),
//! [`tnum`] (the known-bits domain scalar tracking rests on).

pub mod branch;
pub mod cfg;
pub mod error;
pub mod scalar;
pub mod tnum;

pub use cfg::Cfg;
pub use error::{Reason, VerifyError};
pub use scalar::Scalar;
pub use tnum::Tnum;
