//! The verifier: what the kernel's verifier promises, given by uxdp itself before any
//! engine runs a program. A refused program never runs.
//!
//! Built in layers: [`cfg`] (control flow: functions, jumps, reachability, call depth),
//! [`tnum`], [`scalar`] and [`branch`] (known bits and ranges of scalars, and what
//! conditional jumps decide and teach), [`proto`] (helper prototypes and the license
//! rule), [`value`] and [`state`] (what registers and stack slots hold, and when one
//! state covers another), [`env`] (the maps around the program), and [`check`] (every
//! path walked, every instruction checked), which records its [`facts`] for the engines.

pub mod branch;
pub mod cfg;
pub mod check;
pub mod env;
pub mod error;
pub mod facts;
pub mod proto;
pub mod scalar;
pub mod state;
pub mod tnum;
pub mod value;

pub use cfg::Cfg;
pub use check::{Options, Stats, Verified, verify};
pub use env::{Env, LddwRef, MapInfo};
pub use error::{Reason, VerifyError};
pub use scalar::Scalar;
pub use tnum::Tnum;

use crate::instruction::{CallTarget, Instruction};
use crate::program::Program;

/// The kernel's license rule: a program whose license is not GPL-compatible may not call
/// a GPL-only helper.
pub fn check_license(prog: &Program, license: &str) -> Result<(), VerifyError> {
    if proto::gpl_compatible(license) {
        return Ok(());
    }
    for (pc, ins) in prog.instructions() {
        if let Instruction::Call(CallTarget::Helper(id)) = ins
            && proto::xdp_proto(id).is_some_and(|p| p.gpl_only)
        {
            return Err(VerifyError::at(pc, ins, Reason::GplOnly));
        }
    }
    Ok(())
}
