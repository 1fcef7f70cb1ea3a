//! The reference interpreter: kernel semantics, every memory access checked.
//!
//! It runs the raw slots of a [`Program`] with one `match` on the opcode byte. Semantics
//! follow the kernel's interpreter (`kernel/bpf/core.c`) after the verifier's fix-ups:
//! division by zero gives 0, modulo by zero leaves the dividend (zero-extended for 32-bit),
//! shift amounts are masked to the operand width, 32-bit results are zero-extended, signed
//! `INT_MIN / -1` is `INT_MIN` and `INT_MIN % -1` is 0.
//!
//! Every load, store and atomic is checked against the current stack and the caller's
//! [`MemoryMap`] before the host touches memory; a miss ends the run with a [`RunError`]
//! naming the instruction. Backward jumps and calls draw on a budget, so even a program no
//! verifier has seen cannot hang the host.

mod helpers;
mod memory;
pub mod nested;
mod opcodes;

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

pub use helpers::{Helper, HelperFn, HelperTable};
pub use memory::MemoryMap;
pub use nested::{Caller, FUNC_BASE, end_function, with_caller};

use crate::instruction::{CallTarget, Imm64, Instruction};
use crate::program::Program;
use opcodes::*;

/// Bytes of stack per call frame (the kernel's `MAX_BPF_STACK`).
pub const STACK_SIZE: usize = 512;
/// Deepest bpf-to-bpf call chain, the entry frame included (the kernel's `MAX_CALL_FRAMES`).
pub const MAX_CALL_FRAMES: usize = 8;
/// Default number of backward jumps and calls one run may take.
pub const DEFAULT_BUDGET: u64 = 1 << 26;

/// Why a program cannot be run by the interpreter as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instruction {pc}: {kind}")]
pub struct LoadError {
    /// Slot index.
    pub pc: usize,
    /// The reason.
    pub kind: LoadErrorKind,
}

/// Reasons a structurally valid program cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadErrorKind {
    /// An `lddw` that still names a map or symbol: the loader must relocate it first.
    #[error("lddw {0:?} was not relocated to an address")]
    Unrelocated(Imm64),
    /// A call to a helper the table does not have.
    #[error("unknown helper {0}")]
    UnknownHelper(i32),
    /// A kernel-function call: uxdp has no kernel functions.
    #[error("kfunc call (BTF id {0}) is not supported: uxdp runs no kernel functions")]
    Kfunc(i32),
    /// A legacy `ld_abs`/`ld_ind` packet load, which exists only for socket filters.
    #[error("legacy packet load is only valid in socket filters")]
    LegacyPacketLoad,
}

/// Why a run stopped before `exit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("instruction {pc}: {kind}")]
pub struct RunError {
    /// Slot index of the instruction that failed.
    pub pc: usize,
    /// The reason.
    pub kind: RunErrorKind,
}

/// Reasons a run ends in error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RunErrorKind {
    /// A load or store outside every region the run was given.
    #[error("{} of {len} bytes at {addr:#x} is outside the stack and every granted region", if *.write { "write" } else { "read" })]
    OutOfBounds {
        /// Program address.
        addr: u64,
        /// Access size in bytes.
        len: u8,
        /// Whether it was a store.
        write: bool,
    },
    /// An atomic access not aligned to its size.
    #[error("atomic access of {len} bytes at {addr:#x} is misaligned")]
    Misaligned {
        /// Program address.
        addr: u64,
        /// Access size in bytes.
        len: u8,
    },
    /// More than [`MAX_CALL_FRAMES`] nested calls.
    #[error("call depth exceeds {MAX_CALL_FRAMES} frames")]
    CallDepth,
    /// `callx` through a register that names no helper.
    #[error("callx to unknown helper {0}")]
    UnknownHelper(u64),
    /// A helper asked to run something that is not one of the program's functions.
    #[error("{0:#x} is not a function of the program")]
    NotAFunction(u64),
    /// The budget of backward jumps and calls ran out.
    #[error("budget of {0} backward jumps and calls exhausted")]
    BudgetExhausted(u64),
    /// Execution reached a slot that is not an instruction start (cannot happen for a
    /// validated program; kept so the interpreter never trusts that blindly).
    #[error("invalid instruction")]
    InvalidInstruction,
}

#[derive(Clone, Copy, Default)]
struct Frame {
    ret: usize,
    saved: [u64; 4],
    fp: u64,
}

/// Runs one program. Runs use the calling thread's stack (see [`nested`]), so one
/// interpreter may run on many threads at once.
pub struct Interpreter {
    program: Program,
    helpers: HelperTable,
    /// Instruction indices that `lddw rX, func` names: the functions a helper may call back.
    functions: Vec<usize>,
    budget: u64,
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("insns", &self.program.len())
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Interpreter {
    /// Prepares `program` to run with `helpers`, checking every call and `lddw` is runnable.
    pub fn new(program: Program, helpers: HelperTable) -> Result<Self, LoadError> {
        check_runnable(&program, &helpers, |_| false)?;
        let mut functions: Vec<usize> = program
            .instructions()
            .filter_map(|(pc, ins)| match ins {
                // In range: `Program` checked every function target.
                Instruction::Lddw {
                    imm: Imm64::Func(off),
                    ..
                } => Some(pc.wrapping_add_signed(off as isize + 1)),
                _ => None,
            })
            .collect();
        functions.sort_unstable();
        functions.dedup();
        Ok(Self {
            program,
            helpers,
            functions,
            budget: DEFAULT_BUDGET,
        })
    }

    /// Sets how many backward jumps and calls one run may take.
    pub fn set_budget(&mut self, budget: u64) {
        self.budget = budget;
    }

    /// The program being run.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Runs with `r1` pointing at `mem` (0 when empty) and `r2 = mem.len()`, the convention
    /// of the conformance suite. The program may read and write `mem` and its stack.
    pub fn run_on_memory(&self, mem: &mut [u8]) -> Result<u64, RunError> {
        let len = mem.len() as u64;
        let mut map = MemoryMap::new();
        let addr = if mem.is_empty() {
            0
        } else {
            map.add_writable(mem)
        };
        self.run(&[addr, len], &map)
    }

    /// Runs with r1..r5 set from `args` (missing ones zero) and access to `memory`.
    ///
    /// Called from inside a helper (a program running another), the run uses the frames
    /// above the calling function's.
    pub fn run(&self, args: &[u64], memory: &MemoryMap<'_>) -> Result<u64, RunError> {
        self.run_from(nested::start_frame(false), args, memory)
    }

    /// Runs in place of the function that called the current helper, reusing its frame:
    /// `bpf_tail_call`. The helper then ends that function with [`end_function`]. Outside
    /// a helper call this is [`Interpreter::run`].
    pub fn run_replacing(&self, args: &[u64], memory: &MemoryMap<'_>) -> Result<u64, RunError> {
        self.run_from(nested::start_frame(true), args, memory)
    }

    fn run_from(
        &self,
        frame: usize,
        args: &[u64],
        memory: &MemoryMap<'_>,
    ) -> Result<u64, RunError> {
        let stack_ptr = nested::stack_ptr();
        if frame == 0 {
            // A new run starts on a clean frame, whatever an earlier run on this thread
            // left there (frames above it are the verifier's concern: no program reads
            // stack it did not write).
            // SAFETY: frame 0 is the first STACK_SIZE bytes of this thread's stack, and no
            // run is active on this thread (frame 0 is handed out only then).
            unsafe { stack_ptr.write_bytes(0, STACK_SIZE) };
        }
        let vm = Vm {
            insns: self.program.insns(),
            helpers: &self.helpers,
            functions: &self.functions,
            memory,
            stack_ptr,
            stack_base: stack_ptr as u64,
            budget: Cell::new(self.budget),
            initial_budget: self.budget,
            helper_frame: Cell::new(frame),
            end: Cell::new(None),
        };
        let mut regs = [0u64; 5];
        for (r, a) in regs.iter_mut().zip(args) {
            *r = *a;
        }
        let _run = nested::enter(&vm);
        vm.execute(0, regs, frame)
    }
}

/// Refuses what no engine can run, wherever it is in the program: an `lddw` that still
/// names a map, a call to a helper neither the table has nor `built_in` says the engine
/// provides itself, a kfunc call, a legacy packet load.
pub(crate) fn check_runnable(
    program: &Program,
    helpers: &HelperTable,
    built_in: impl Fn(i32) -> bool,
) -> Result<(), LoadError> {
    for (pc, ins) in program.instructions() {
        let kind = match ins {
            Instruction::Lddw { imm, .. } if !matches!(imm, Imm64::Value(_) | Imm64::Func(_)) => {
                LoadErrorKind::Unrelocated(imm)
            }
            Instruction::Call(CallTarget::Helper(id))
                if u32::try_from(id)
                    .ok()
                    .and_then(|id| helpers.get(id))
                    .is_none()
                    && !built_in(id) =>
            {
                LoadErrorKind::UnknownHelper(id)
            }
            Instruction::Call(CallTarget::Kfunc { id, .. }) => LoadErrorKind::Kfunc(id),
            Instruction::LegacyLoad { .. } => LoadErrorKind::LegacyPacketLoad,
            _ => continue,
        };
        return Err(LoadError { pc, kind });
    }
    Ok(())
}

/// The state of one run.
struct Vm<'r, 'm> {
    insns: &'r [crate::insn::Insn],
    helpers: &'r HelperTable,
    functions: &'r [usize],
    memory: &'r MemoryMap<'m>,
    stack_ptr: *mut u8,
    stack_base: u64,
    budget: Cell<u64>,
    initial_budget: u64,
    /// Absolute frame of the function whose helper call is in progress.
    helper_frame: Cell<usize>,
    /// An [`end_function`] request of the helper call in progress.
    end: Cell<Option<Result<u64, RunError>>>,
}

impl Caller for Vm<'_, '_> {
    fn access_ok(&self, addr: u64, len: u64, write: bool) -> bool {
        let off = addr.wrapping_sub(self.stack_base);
        (len <= STACK_BYTES && off <= STACK_BYTES - len)
            || self.memory.translate(addr, len, write).is_some()
    }

    fn call_function(&self, func: u64, args: [u64; 5]) -> Result<u64, RunError> {
        let not_a_function = || RunError {
            pc: 0,
            kind: RunErrorKind::NotAFunction(func),
        };
        let pc = usize::try_from(func.wrapping_sub(FUNC_BASE)).map_err(|_| not_a_function())?;
        if self.functions.binary_search(&pc).is_err() {
            return Err(not_a_function());
        }
        let frame = self.helper_frame.get() + 1;
        if frame >= MAX_CALL_FRAMES {
            return Err(RunError {
                pc,
                kind: RunErrorKind::CallDepth,
            });
        }
        // The callback's own helper calls move the helper frame; the helper that called
        // back may call again.
        let result = self.execute(pc, args, frame);
        self.helper_frame.set(frame - 1);
        result
    }

    fn helper_frame(&self) -> usize {
        self.helper_frame.get()
    }

    fn end_function(&self, result: Result<u64, RunError>) {
        self.end.set(Some(result));
    }
}

const STACK_BYTES: u64 = (STACK_SIZE * MAX_CALL_FRAMES) as u64;

impl Vm<'_, '_> {
    /// Host pointer for an access of `len` bytes at `addr`, or an error for instruction `pc`.
    #[inline(always)]
    fn translate(&self, pc: usize, addr: u64, len: u8, write: bool) -> Result<*mut u8, RunError> {
        let off = addr.wrapping_sub(self.stack_base);
        if off <= STACK_BYTES - u64::from(len) {
            // In bounds of the stack allocation, just checked.
            return Ok(self.stack_ptr.wrapping_add(off as usize));
        }
        self.memory
            .translate(addr, len.into(), write)
            .ok_or(RunError {
                pc,
                kind: RunErrorKind::OutOfBounds { addr, len, write },
            })
    }

    #[inline(always)]
    fn load(&self, pc: usize, addr: u64, len: u8) -> Result<u64, RunError> {
        let p = self.translate(pc, addr, len, false)?;
        // SAFETY: `translate` returned a pointer to `len` readable bytes inside the stack or
        // a region the caller granted; unaligned reads are allowed.
        Ok(unsafe {
            match len {
                1 => u64::from(p.read()),
                2 => u64::from(p.cast::<u16>().read_unaligned()),
                4 => u64::from(p.cast::<u32>().read_unaligned()),
                _ => p.cast::<u64>().read_unaligned(),
            }
        })
    }

    #[inline(always)]
    fn store(&self, pc: usize, addr: u64, len: u8, value: u64) -> Result<(), RunError> {
        let p = self.translate(pc, addr, len, true)?;
        // SAFETY: `translate` returned a pointer to `len` writable bytes inside the stack or
        // a writable region the caller granted; unaligned writes are allowed.
        unsafe {
            match len {
                1 => p.write(value as u8),
                2 => p.cast::<u16>().write_unaligned(value as u16),
                4 => p.cast::<u32>().write_unaligned(value as u32),
                _ => p.cast::<u64>().write_unaligned(value),
            }
        }
        Ok(())
    }

    /// Checks an atomic access and returns its aligned host pointer.
    fn atomic_ptr(&self, pc: usize, addr: u64, len: u8, write: bool) -> Result<*mut u8, RunError> {
        let p = self.translate(pc, addr, len, write)?;
        if !(p as usize).is_multiple_of(usize::from(len)) {
            return Err(RunError {
                pc,
                kind: RunErrorKind::Misaligned { addr, len },
            });
        }
        Ok(p)
    }

    /// Executes `STX | ATOMIC` at `pc`.
    fn atomic(&self, pc: usize, i: crate::insn::Insn, reg: &mut [u64; 16]) -> Result<(), RunError> {
        use crate::insn::op;
        let dst = usize::from(i.dst & 0xf);
        let src = usize::from(i.src & 0xf);
        let len: u8 = match i.opcode {
            ATOMIC_B => 1,
            ATOMIC_H => 2,
            ATOMIC_W => 4,
            _ => 8,
        };
        let ord = Ordering::SeqCst;
        match i.imm {
            op::LOAD_ACQ => {
                let addr = reg[src].wrapping_add(i.off as u64);
                let p = self.atomic_ptr(pc, addr, len, false)?;
                // SAFETY: `p` is aligned and valid for `len` bytes (atomic_ptr); all
                // concurrent access to program-visible memory is atomic or racy by design.
                reg[dst] = unsafe {
                    match len {
                        1 => u64::from(AtomicU8::from_ptr(p).load(Ordering::Acquire)),
                        2 => u64::from(AtomicU16::from_ptr(p.cast()).load(Ordering::Acquire)),
                        4 => u64::from(AtomicU32::from_ptr(p.cast()).load(Ordering::Acquire)),
                        _ => AtomicU64::from_ptr(p.cast()).load(Ordering::Acquire),
                    }
                };
                return Ok(());
            }
            op::STORE_REL => {
                let addr = reg[dst].wrapping_add(i.off as u64);
                let p = self.atomic_ptr(pc, addr, len, true)?;
                let v = reg[src];
                // SAFETY: as above, and the region is writable.
                unsafe {
                    match len {
                        1 => AtomicU8::from_ptr(p).store(v as u8, Ordering::Release),
                        2 => AtomicU16::from_ptr(p.cast()).store(v as u16, Ordering::Release),
                        4 => AtomicU32::from_ptr(p.cast()).store(v as u32, Ordering::Release),
                        _ => AtomicU64::from_ptr(p.cast()).store(v, Ordering::Release),
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        let addr = reg[dst].wrapping_add(i.off as u64);
        let p = self.atomic_ptr(pc, addr, len, true)?;
        let fetch = i.imm & op::FETCH != 0;
        if len == 4 {
            // SAFETY: `p` is 4-aligned and valid for 4 writable bytes (atomic_ptr).
            let a = unsafe { AtomicU32::from_ptr(p.cast()) };
            let v = reg[src] as u32;
            let old = match i.imm {
                op::XCHG => a.swap(v, ord),
                op::CMPXCHG => {
                    let old = match a.compare_exchange(reg[0] as u32, v, ord, ord) {
                        Ok(o) | Err(o) => o,
                    };
                    reg[0] = u64::from(old);
                    return Ok(());
                }
                imm => match (imm & !op::FETCH) as u8 {
                    op::ADD => a.fetch_add(v, ord),
                    op::OR => a.fetch_or(v, ord),
                    op::AND => a.fetch_and(v, ord),
                    _ => a.fetch_xor(v, ord),
                },
            };
            if fetch {
                reg[src] = u64::from(old);
            }
        } else {
            // SAFETY: `p` is 8-aligned and valid for 8 writable bytes (atomic_ptr).
            let a = unsafe { AtomicU64::from_ptr(p.cast()) };
            let v = reg[src];
            let old = match i.imm {
                op::XCHG => a.swap(v, ord),
                op::CMPXCHG => {
                    reg[0] = match a.compare_exchange(reg[0], v, ord, ord) {
                        Ok(o) | Err(o) => o,
                    };
                    return Ok(());
                }
                imm => match (imm & !op::FETCH) as u8 {
                    op::ADD => a.fetch_add(v, ord),
                    op::OR => a.fetch_or(v, ord),
                    op::AND => a.fetch_and(v, ord),
                    _ => a.fetch_xor(v, ord),
                },
            };
            if fetch {
                reg[src] = old;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_lines)]
    /// Runs from instruction `entry` with r1..r5 = `args`, in absolute stack frame `base`
    /// (frames `base..MAX_CALL_FRAMES` are this run's).
    fn execute(&self, entry: usize, args: [u64; 5], base: usize) -> Result<u64, RunError> {
        // Sixteen slots so that a 4-bit register field can never index out of bounds.
        let mut reg = [0u64; 16];
        reg[1..=5].copy_from_slice(&args);
        let mut depth = 0usize;
        let mut frames = [Frame::default(); MAX_CALL_FRAMES];
        reg[10] = self.stack_base + ((base + 1) * STACK_SIZE) as u64;
        let insns = self.insns;
        let mut pc = entry;

        loop {
            let Some(&i) = insns.get(pc) else {
                return Err(RunError {
                    pc,
                    kind: RunErrorKind::InvalidInstruction,
                });
            };
            let at = pc;
            pc += 1;
            let dst = usize::from(i.dst & 0xf);
            let src = usize::from(i.src & 0xf);
            let imm = i.imm as i64 as u64; // sign-extended, as 64-bit operations use it
            let uimm = i.imm as u32; // as 32-bit operations use it

            // Takes a branch; backward ones draw on the budget.
            macro_rules! branch {
                ($off:expr) => {{
                    let off: isize = $off;
                    if off < 0 {
                        self.spend(at)?;
                    }
                    pc = pc.wrapping_add_signed(off);
                }};
            }
            // Returns from the current function with r0 = `$r0`.
            macro_rules! exit {
                ($r0:expr) => {{
                    reg[0] = $r0;
                    if depth == 0 {
                        return Ok(reg[0]);
                    }
                    depth -= 1;
                    let f = frames[depth];
                    reg[6..10].copy_from_slice(&f.saved);
                    reg[10] = f.fp;
                    pc = f.ret;
                }};
            }
            // Calls helper `$id` and handles a request to end the calling function.
            macro_rules! helper {
                ($id:expr) => {{
                    let r0 = self.call_helper(at, $id, &reg, base + depth)?;
                    match self.end.take() {
                        None => reg[0] = r0,
                        Some(Ok(r0)) => exit!(r0),
                        Some(Err(e)) => return Err(e),
                    }
                }};
            }
            macro_rules! jump_if {
                ($cond:expr) => {
                    if $cond {
                        branch!(isize::from(i.off))
                    }
                };
            }

            match i.opcode {
                // ALU64
                ADD64_K => reg[dst] = reg[dst].wrapping_add(imm),
                ADD64_X => reg[dst] = reg[dst].wrapping_add(reg[src]),
                SUB64_K => reg[dst] = reg[dst].wrapping_sub(imm),
                SUB64_X => reg[dst] = reg[dst].wrapping_sub(reg[src]),
                MUL64_K => reg[dst] = reg[dst].wrapping_mul(imm),
                MUL64_X => reg[dst] = reg[dst].wrapping_mul(reg[src]),
                DIV64_K => reg[dst] = div64(reg[dst], imm, i.off),
                DIV64_X => reg[dst] = div64(reg[dst], reg[src], i.off),
                MOD64_K => reg[dst] = mod64(reg[dst], imm, i.off),
                MOD64_X => reg[dst] = mod64(reg[dst], reg[src], i.off),
                OR64_K => reg[dst] |= imm,
                OR64_X => reg[dst] |= reg[src],
                AND64_K => reg[dst] &= imm,
                AND64_X => reg[dst] &= reg[src],
                XOR64_K => reg[dst] ^= imm,
                XOR64_X => reg[dst] ^= reg[src],
                LSH64_K => reg[dst] <<= imm & 63,
                LSH64_X => reg[dst] <<= reg[src] & 63,
                RSH64_K => reg[dst] >>= imm & 63,
                RSH64_X => reg[dst] >>= reg[src] & 63,
                ARSH64_K => reg[dst] = ((reg[dst] as i64) >> (imm & 63)) as u64,
                ARSH64_X => reg[dst] = ((reg[dst] as i64) >> (reg[src] & 63)) as u64,
                NEG64 => reg[dst] = reg[dst].wrapping_neg(),
                MOV64_K => reg[dst] = imm,
                MOV64_X => reg[dst] = sign_extend(reg[src], i.off),
                SWAP => reg[dst] = swap(reg[dst], i.imm),

                // ALU32: operate on the low halves, zero-extend the result.
                ADD32_K => reg[dst] = u64::from((reg[dst] as u32).wrapping_add(uimm)),
                ADD32_X => reg[dst] = u64::from((reg[dst] as u32).wrapping_add(reg[src] as u32)),
                SUB32_K => reg[dst] = u64::from((reg[dst] as u32).wrapping_sub(uimm)),
                SUB32_X => reg[dst] = u64::from((reg[dst] as u32).wrapping_sub(reg[src] as u32)),
                MUL32_K => reg[dst] = u64::from((reg[dst] as u32).wrapping_mul(uimm)),
                MUL32_X => reg[dst] = u64::from((reg[dst] as u32).wrapping_mul(reg[src] as u32)),
                DIV32_K => reg[dst] = u64::from(div32(reg[dst] as u32, uimm, i.off)),
                DIV32_X => reg[dst] = u64::from(div32(reg[dst] as u32, reg[src] as u32, i.off)),
                MOD32_K => reg[dst] = u64::from(mod32(reg[dst] as u32, uimm, i.off)),
                MOD32_X => reg[dst] = u64::from(mod32(reg[dst] as u32, reg[src] as u32, i.off)),
                OR32_K => reg[dst] = u64::from(reg[dst] as u32 | uimm),
                OR32_X => reg[dst] = u64::from(reg[dst] as u32 | reg[src] as u32),
                AND32_K => reg[dst] = u64::from(reg[dst] as u32 & uimm),
                AND32_X => reg[dst] = u64::from(reg[dst] as u32 & reg[src] as u32),
                XOR32_K => reg[dst] = u64::from(reg[dst] as u32 ^ uimm),
                XOR32_X => reg[dst] = u64::from(reg[dst] as u32 ^ reg[src] as u32),
                LSH32_K => reg[dst] = u64::from((reg[dst] as u32) << (uimm & 31)),
                LSH32_X => reg[dst] = u64::from((reg[dst] as u32) << (reg[src] as u32 & 31)),
                RSH32_K => reg[dst] = u64::from((reg[dst] as u32) >> (uimm & 31)),
                RSH32_X => reg[dst] = u64::from((reg[dst] as u32) >> (reg[src] as u32 & 31)),
                ARSH32_K => reg[dst] = u64::from(((reg[dst] as i32) >> (uimm & 31)) as u32),
                ARSH32_X => {
                    reg[dst] = u64::from(((reg[dst] as i32) >> (reg[src] as u32 & 31)) as u32);
                }
                NEG32 => reg[dst] = u64::from((reg[dst] as u32).wrapping_neg()),
                MOV32_K => reg[dst] = u64::from(uimm),
                MOV32_X => reg[dst] = u64::from(sign_extend(reg[src], i.off) as u32),
                END_LE => reg[dst] = truncate(reg[dst], i.imm),
                END_BE => reg[dst] = swap(reg[dst], i.imm),

                // Jumps.
                JA64 => jump_if!(true),
                JA32 => branch!(i.imm as isize),
                JEQ_K => jump_if!(reg[dst] == imm),
                JEQ_X => jump_if!(reg[dst] == reg[src]),
                JNE_K => jump_if!(reg[dst] != imm),
                JNE_X => jump_if!(reg[dst] != reg[src]),
                JGT_K => jump_if!(reg[dst] > imm),
                JGT_X => jump_if!(reg[dst] > reg[src]),
                JGE_K => jump_if!(reg[dst] >= imm),
                JGE_X => jump_if!(reg[dst] >= reg[src]),
                JLT_K => jump_if!(reg[dst] < imm),
                JLT_X => jump_if!(reg[dst] < reg[src]),
                JLE_K => jump_if!(reg[dst] <= imm),
                JLE_X => jump_if!(reg[dst] <= reg[src]),
                JSET_K => jump_if!(reg[dst] & imm != 0),
                JSET_X => jump_if!(reg[dst] & reg[src] != 0),
                JSGT_K => jump_if!((reg[dst] as i64) > imm as i64),
                JSGT_X => jump_if!((reg[dst] as i64) > reg[src] as i64),
                JSGE_K => jump_if!((reg[dst] as i64) >= imm as i64),
                JSGE_X => jump_if!((reg[dst] as i64) >= reg[src] as i64),
                JSLT_K => jump_if!((reg[dst] as i64) < imm as i64),
                JSLT_X => jump_if!((reg[dst] as i64) < reg[src] as i64),
                JSLE_K => jump_if!((reg[dst] as i64) <= imm as i64),
                JSLE_X => jump_if!((reg[dst] as i64) <= reg[src] as i64),
                JEQ32_K => jump_if!(reg[dst] as u32 == uimm),
                JEQ32_X => jump_if!(reg[dst] as u32 == reg[src] as u32),
                JNE32_K => jump_if!(reg[dst] as u32 != uimm),
                JNE32_X => jump_if!(reg[dst] as u32 != reg[src] as u32),
                JGT32_K => jump_if!(reg[dst] as u32 > uimm),
                JGT32_X => jump_if!(reg[dst] as u32 > reg[src] as u32),
                JGE32_K => jump_if!(reg[dst] as u32 >= uimm),
                JGE32_X => jump_if!(reg[dst] as u32 >= reg[src] as u32),
                JLT32_K => jump_if!((reg[dst] as u32) < uimm),
                JLT32_X => jump_if!((reg[dst] as u32) < reg[src] as u32),
                JLE32_K => jump_if!(reg[dst] as u32 <= uimm),
                JLE32_X => jump_if!(reg[dst] as u32 <= reg[src] as u32),
                JSET32_K => jump_if!(reg[dst] as u32 & uimm != 0),
                JSET32_X => jump_if!(reg[dst] as u32 & reg[src] as u32 != 0),
                JSGT32_K => jump_if!((reg[dst] as i32) > i.imm),
                JSGT32_X => jump_if!((reg[dst] as i32) > reg[src] as i32),
                JSGE32_K => jump_if!((reg[dst] as i32) >= i.imm),
                JSGE32_X => jump_if!((reg[dst] as i32) >= reg[src] as i32),
                JSLT32_K => jump_if!((reg[dst] as i32) < i.imm),
                JSLT32_X => jump_if!((reg[dst] as i32) < reg[src] as i32),
                JSLE32_K => jump_if!((reg[dst] as i32) <= i.imm),
                JSLE32_X => jump_if!((reg[dst] as i32) <= reg[src] as i32),

                // Calls and exit.
                CALL_K if i.src == crate::insn::op::PSEUDO_CALL => {
                    if base + depth + 1 >= MAX_CALL_FRAMES {
                        return Err(RunError {
                            pc: at,
                            kind: RunErrorKind::CallDepth,
                        });
                    }
                    self.spend(at)?;
                    frames[depth] = Frame {
                        ret: pc,
                        saved: [reg[6], reg[7], reg[8], reg[9]],
                        fp: reg[10],
                    };
                    depth += 1;
                    reg[10] = self.stack_base + ((base + depth + 1) * STACK_SIZE) as u64;
                    pc = pc.wrapping_add_signed(i.imm as isize);
                }
                CALL_K => helper!(u64::from(uimm)),
                CALL_X => helper!(reg[dst]),
                EXIT_ => exit!(reg[0]),

                LDDW_ if i.src == crate::insn::op::PSEUDO_FUNC => {
                    // In range: `Program` checked the target.
                    reg[dst] = FUNC_BASE + pc.wrapping_add_signed(i.imm as isize) as u64;
                    pc += 1;
                }
                LDDW_ => {
                    let hi = insns.get(pc).map_or(0, |n| n.imm as u32);
                    reg[dst] = u64::from(uimm) | (u64::from(hi) << 32);
                    pc += 1;
                }

                // Loads and stores.
                LDXB => reg[dst] = self.load(at, reg[src].wrapping_add(i.off as u64), 1)?,
                LDXH => reg[dst] = self.load(at, reg[src].wrapping_add(i.off as u64), 2)?,
                LDXW => reg[dst] = self.load(at, reg[src].wrapping_add(i.off as u64), 4)?,
                LDXDW => reg[dst] = self.load(at, reg[src].wrapping_add(i.off as u64), 8)?,
                LDXSB => {
                    let v = self.load(at, reg[src].wrapping_add(i.off as u64), 1)?;
                    reg[dst] = v as u8 as i8 as i64 as u64;
                }
                LDXSH => {
                    let v = self.load(at, reg[src].wrapping_add(i.off as u64), 2)?;
                    reg[dst] = v as u16 as i16 as i64 as u64;
                }
                LDXSW => {
                    let v = self.load(at, reg[src].wrapping_add(i.off as u64), 4)?;
                    reg[dst] = v as u32 as i32 as i64 as u64;
                }
                STB => self.store(at, reg[dst].wrapping_add(i.off as u64), 1, imm)?,
                STH => self.store(at, reg[dst].wrapping_add(i.off as u64), 2, imm)?,
                STW => self.store(at, reg[dst].wrapping_add(i.off as u64), 4, imm)?,
                STDW => self.store(at, reg[dst].wrapping_add(i.off as u64), 8, imm)?,
                STXB => self.store(at, reg[dst].wrapping_add(i.off as u64), 1, reg[src])?,
                STXH => self.store(at, reg[dst].wrapping_add(i.off as u64), 2, reg[src])?,
                STXW => self.store(at, reg[dst].wrapping_add(i.off as u64), 4, reg[src])?,
                STXDW => self.store(at, reg[dst].wrapping_add(i.off as u64), 8, reg[src])?,
                ATOMIC_B | ATOMIC_H | ATOMIC_W | ATOMIC_DW => self.atomic(at, i, &mut reg)?,

                _ => {
                    return Err(RunError {
                        pc: at,
                        kind: RunErrorKind::InvalidInstruction,
                    });
                }
            }
        }
    }

    /// Draws one backward jump or call from the budget.
    #[inline(always)]
    fn spend(&self, pc: usize) -> Result<(), RunError> {
        let left = self.budget.get();
        if left == 0 {
            return Err(RunError {
                pc,
                kind: RunErrorKind::BudgetExhausted(self.initial_budget),
            });
        }
        self.budget.set(left - 1);
        Ok(())
    }

    /// Calls helper `id` from the function in absolute frame `frame`.
    #[inline]
    fn call_helper(
        &self,
        pc: usize,
        id: u64,
        reg: &[u64; 16],
        frame: usize,
    ) -> Result<u64, RunError> {
        let helper = u32::try_from(id)
            .ok()
            .and_then(|id| self.helpers.get(id))
            .ok_or(RunError {
                pc,
                kind: RunErrorKind::UnknownHelper(id),
            })?;
        self.helper_frame.set(frame);
        // SAFETY: whoever registered the helper promised it is sound for any arguments a
        // checked program can pass (`HelperTable::register`).
        Ok(unsafe { (helper.func)(reg[1], reg[2], reg[3], reg[4], reg[5]) })
    }
}

/// `dst / src` for 64 bits; `signed` when `off == 1`. Division by zero gives 0.
#[inline]
fn div64(dst: u64, src: u64, off: i16) -> u64 {
    match (src, off) {
        (0, _) => 0,
        (_, 1) => (dst as i64).wrapping_div(src as i64) as u64,
        _ => dst / src,
    }
}

/// `dst % src` for 64 bits; `signed` when `off == 1`. Modulo by zero leaves `dst`.
#[inline]
fn mod64(dst: u64, src: u64, off: i16) -> u64 {
    match (src, off) {
        (0, _) => dst,
        (_, 1) => (dst as i64).wrapping_rem(src as i64) as u64,
        _ => dst % src,
    }
}

#[inline]
fn div32(dst: u32, src: u32, off: i16) -> u32 {
    match (src, off) {
        (0, _) => 0,
        (_, 1) => (dst as i32).wrapping_div(src as i32) as u32,
        _ => dst / src,
    }
}

#[inline]
fn mod32(dst: u32, src: u32, off: i16) -> u32 {
    match (src, off) {
        (0, _) => dst,
        (_, 1) => (dst as i32).wrapping_rem(src as i32) as u32,
        _ => dst % src,
    }
}

/// `movsx`: sign-extends the low `off` bits (8, 16, 32); `off == 0` is a plain move.
#[inline]
fn sign_extend(v: u64, off: i16) -> u64 {
    match off {
        8 => v as i8 as i64 as u64,
        16 => v as i16 as i64 as u64,
        32 => v as i32 as i64 as u64,
        _ => v,
    }
}

/// Byte swap of the low `bits`, zero-extended.
#[inline]
fn swap(v: u64, bits: i32) -> u64 {
    match bits {
        16 => u64::from((v as u16).swap_bytes()),
        32 => u64::from((v as u32).swap_bytes()),
        _ => v.swap_bytes(),
    }
}

/// Conversion to little endian on a little-endian host: truncation to `bits`.
#[inline]
fn truncate(v: u64, bits: i32) -> u64 {
    match bits {
        16 => u64::from(v as u16),
        32 => u64::from(v as u32),
        _ => v,
    }
}

#[cfg(test)]
pub(crate) mod tests;
