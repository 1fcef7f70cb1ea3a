//! The control-flow half of verification, as the kernel's `check_subprogs` and
//! `check_cfg` do it before looking at any value: where the subprograms are, that every
//! jump stays inside its own subprogram, that no subprogram runs off its end, that every
//! instruction is reachable, that calls never recurse, and how deep calls nest.

use crate::instruction::{CallTarget, Imm64, Instruction};
use crate::program::Program;

use super::error::{Reason, VerifyError};

/// Most call frames alive at once (`MAX_CALL_FRAMES`).
pub const MAX_CALL_FRAMES: usize = 8;

/// A function of the program: the main program (index 0) or a subprogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subprog {
    /// First slot.
    pub start: usize,
    /// One past the last slot.
    pub end: usize,
    /// Called with `call local` (as opposed to only taken as a callback address).
    pub called: bool,
    /// Its address is taken by `lddw` (`BPF_PSEUDO_FUNC`): a callback.
    pub callback: bool,
    /// Its `call local` instructions: (slot, callee index).
    pub calls: Vec<(usize, usize)>,
}

/// The program's control-flow facts.
#[derive(Debug, Clone)]
pub struct Cfg {
    /// Functions in slot order; the main program first.
    pub subprogs: Vec<Subprog>,
    /// Slots that start an instruction (not the second half of an `lddw`).
    pub insn_start: Vec<bool>,
    /// Slots a back-edge jumps to: loop heads, where states are kept for pruning and for
    /// detecting loops that make no progress.
    pub loop_heads: Vec<bool>,
    /// Slots that are the target of a jump or follow a conditional jump or a call:
    /// where the verifier compares states to prune.
    pub prune_points: Vec<bool>,
    /// The deepest chain of nested calls, in frames (the main program counts one).
    pub max_depth: usize,
}

impl Cfg {
    /// The subprogram holding slot `pc`.
    pub fn subprog_of(&self, pc: usize) -> usize {
        self.subprogs.partition_point(|s| s.start <= pc) - 1
    }

    /// The subprogram starting at `pc`, if one does.
    pub fn subprog_at(&self, pc: usize) -> Option<usize> {
        self.subprogs.iter().position(|s| s.start == pc)
    }

    /// Analyses `prog`.
    pub fn analyze(prog: &Program) -> Result<Cfg, VerifyError> {
        let len = prog.len();
        let insns: Vec<(usize, Instruction)> = prog.instructions().collect();
        let mut insn_start = vec![false; len];
        let mut decoded = vec![None; len];
        for &(pc, ins) in &insns {
            insn_start[pc] = true;
            decoded[pc] = Some(ins);
        }
        let target = |pc: usize, ins: &Instruction| {
            ins.branch_offset()
                .map(|off| (pc as i64 + 1 + off) as usize)
        };

        // Subprogram starts: the program, every local call's target, every callback.
        let mut starts = vec![0usize];
        let mut callbacks = Vec::new();
        let mut called = Vec::new();
        for &(pc, ins) in &insns {
            match ins {
                Instruction::Call(CallTarget::Local(_)) => {
                    let t = target(pc, &ins).expect("local calls branch");
                    starts.push(t);
                    called.push(t);
                }
                Instruction::Lddw {
                    imm: Imm64::Func(_),
                    ..
                } => {
                    let t = target(pc, &ins).expect("function addresses branch");
                    starts.push(t);
                    callbacks.push(t);
                }
                _ => {}
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut subprogs: Vec<Subprog> = starts
            .iter()
            .enumerate()
            .map(|(i, &start)| Subprog {
                start,
                end: starts.get(i + 1).copied().unwrap_or(len),
                called: called.contains(&start),
                callback: callbacks.contains(&start),
                calls: Vec::new(),
            })
            .collect();
        let subprog_of = |pc: usize| starts.partition_point(|&s| s <= pc) - 1;

        // Jumps stay in their function; every function ends in exit or a jump.
        for &(pc, ins) in &insns {
            if let Instruction::Ja { .. } | Instruction::Jump { .. } = ins {
                let t = target(pc, &ins).expect("jumps branch");
                if subprog_of(t) != subprog_of(pc) {
                    return Err(VerifyError::at(
                        pc,
                        ins,
                        Reason::JumpOutOfRange { from: pc, to: t },
                    ));
                }
            }
            if let Instruction::Call(CallTarget::Local(_)) = ins {
                let callee = subprog_of(target(pc, &ins).expect("calls branch"));
                subprogs[subprog_of(pc)].calls.push((pc, callee));
            }
        }
        for s in &subprogs {
            let last = (s.start..s.end)
                .rev()
                .find(|&pc| insn_start[pc])
                .expect("a function has an instruction");
            let ins = decoded[last].expect("instruction start");
            if !matches!(ins, Instruction::Exit | Instruction::Ja { .. }) {
                return Err(VerifyError::at(last, ins, Reason::FallsOffEnd));
            }
        }

        // Depth-first walk: reachability, loop heads and prune points.
        let mut cfg = Cfg {
            subprogs,
            insn_start,
            loop_heads: vec![false; len],
            prune_points: vec![false; len],
            max_depth: 1,
        };
        let reached = cfg.walk(&decoded);
        for &(pc, ins) in &insns {
            if !reached[pc] {
                return Err(VerifyError::at(pc, ins, Reason::Unreachable(pc)));
            }
        }
        // The main program is frame 0; the kernel refuses frame 8, which recursion always
        // reaches.
        cfg.max_depth = cfg.check_depth(|pc| decoded[pc].expect("calls are instructions"))?;
        Ok(cfg)
    }

    /// Walks every edge from slot 0 depth first; marks loop heads (targets of back-edges)
    /// and prune points; returns which slots were reached.
    fn walk(&mut self, decoded: &[Option<Instruction>]) -> Vec<bool> {
        const NEW: u8 = 0;
        const ON_PATH: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![NEW; decoded.len()];
        // (slot, its successors, next successor to visit)
        let mut stack: Vec<(usize, Vec<usize>, usize)> = Vec::new();
        let successors = |pc: usize| -> Vec<usize> {
            let ins = decoded[pc].expect("walked slots start instructions");
            let next = pc + ins.slots();
            let to = ins
                .branch_offset()
                .map(|off| (pc as i64 + 1 + off) as usize);
            match ins {
                Instruction::Exit => vec![],
                Instruction::Ja { .. } => vec![to.expect("jumps branch")],
                Instruction::Jump { .. } => vec![next, to.expect("jumps branch")],
                Instruction::Call(CallTarget::Local(_))
                | Instruction::Lddw {
                    imm: Imm64::Func(_),
                    ..
                } => {
                    vec![next, to.expect("calls branch")]
                }
                _ => vec![next],
            }
        };
        state[0] = ON_PATH;
        stack.push((0, successors(0), 0));
        while let Some(top) = stack.last_mut() {
            let (pc, succ, i) = (top.0, &top.1, top.2);
            if i == succ.len() {
                state[pc] = DONE;
                stack.pop();
                continue;
            }
            let w = succ[i];
            let branches = succ.len() > 1;
            top.2 += 1;
            if branches {
                self.prune_points[w] = true;
            }
            match state[w] {
                NEW => {
                    state[w] = ON_PATH;
                    let s = successors(w);
                    stack.push((w, s, 0));
                }
                ON_PATH => self.loop_heads[w] = true,
                _ => {}
            }
        }
        state.iter().map(|&s| s == DONE).collect()
    }

    /// The frames each function needs, itself and its deepest chain of calls; or the
    /// call that closes a recursion.
    fn heights(&self) -> Result<Vec<usize>, usize> {
        const ON_PATH: usize = usize::MAX;
        fn visit(cfg: &Cfg, f: usize, h: &mut Vec<usize>) -> Result<usize, usize> {
            h[f] = ON_PATH;
            let mut most = 0;
            for &(pc, c) in &cfg.subprogs[f].calls {
                let hc = match h[c] {
                    ON_PATH => return Err(pc),
                    0 => visit(cfg, c, h)?,
                    known => known,
                };
                most = most.max(hc);
            }
            h[f] = most + 1;
            Ok(most + 1)
        }
        let mut h = vec![0; self.subprogs.len()];
        for f in 0..self.subprogs.len() {
            if h[f] == 0 {
                visit(self, f, &mut h)?;
            }
        }
        Ok(h)
    }

    /// Checks nesting against [`MAX_CALL_FRAMES`]; the frames the deepest chain needs.
    fn check_depth(&self, at: impl Fn(usize) -> Instruction) -> Result<usize, VerifyError> {
        let too_deep = |pc: usize| {
            VerifyError::at(
                pc,
                at(pc),
                Reason::CallStackTooDeep {
                    frames: MAX_CALL_FRAMES + 1,
                },
            )
        };
        let h = self.heights().map_err(too_deep)?;
        if h[0] <= MAX_CALL_FRAMES {
            return Ok(h[0]);
        }
        // Follow the deepest chain to the call that opens one frame too many.
        let (mut f, mut frames) = (0, 1);
        loop {
            let &(pc, c) = self.subprogs[f]
                .calls
                .iter()
                .max_by_key(|&&(_, c)| h[c])
                .expect("a chain deeper than one frame has a call");
            if frames == MAX_CALL_FRAMES {
                return Err(too_deep(pc));
            }
            (f, frames) = (c, frames + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;

    fn cfg(src: &str) -> Result<Cfg, VerifyError> {
        Cfg::analyze(&Program::new(assemble(src).unwrap()).unwrap())
    }

    fn reason(src: &str) -> (usize, Reason) {
        let e = cfg(src).unwrap_err();
        (e.pc, e.reason)
    }

    #[test]
    fn functions_are_found_from_calls() {
        let c = cfg("call local f\nexit\nf:\nmov %r0, 1\nexit").unwrap();
        assert_eq!(c.subprogs.len(), 2);
        assert_eq!((c.subprogs[1].start, c.subprogs[1].end), (2, 4));
        assert_eq!(c.subprogs[0].calls, vec![(0, 1)]);
        assert_eq!(c.max_depth, 2);
        assert_eq!(c.subprog_of(3), 1);
        assert!(c.prune_points[1], "after a call");
    }

    #[test]
    fn loops_are_marked_not_refused() {
        let c = cfg("mov %r1, 0\nloop:\nadd %r1, 1\njlt %r1, 10, loop\nexit").unwrap();
        assert!(c.loop_heads[1]);
        assert!(c.prune_points[1] && c.prune_points[3]);
    }

    #[test]
    fn control_flow_defects_are_refused_where_they_are() {
        assert_eq!(
            reason("call local f\nja +1\nexit\nf:\nexit"),
            (1, Reason::JumpOutOfRange { from: 1, to: 3 })
        );
        assert_eq!(
            reason("exit\nmov %r0, 1\nexit"),
            (1, Reason::Unreachable(1))
        );
        assert_eq!(
            reason("call local f\ncall local g\nexit\nf:\nmov %r0, 1\ng:\nmov %r0, 2\nexit"),
            (3, Reason::FallsOffEnd)
        );
        assert_eq!(
            reason("call local f\nexit\nf:\ncall local f\nexit"),
            (2, Reason::CallStackTooDeep { frames: 9 })
        );
        let e = cfg("exit\nmov %r0, 1\nexit").unwrap_err();
        assert_eq!(e.to_string(), "1: (mov %r0, 1) unreachable insn 1");
    }

    /// A chain of `n` nested calls below the main program.
    fn chain(n: usize) -> String {
        let mut s = String::from("call local f1\nexit\n");
        for i in 1..=n {
            if i < n {
                s += &format!("f{i}:\ncall local f{}\nexit\n", i + 1);
            } else {
                s += &format!("f{i}:\nmov %r0, 0\nexit\n");
            }
        }
        s
    }

    #[test]
    fn eight_frames_pass_and_nine_do_not() {
        assert_eq!(cfg(&chain(7)).unwrap().max_depth, 8);
        let (pc, r) = reason(&chain(8));
        assert_eq!(r, Reason::CallStackTooDeep { frames: 9 });
        assert_eq!(pc, 2 + 2 * 6, "the call from the eighth frame");
    }
}
