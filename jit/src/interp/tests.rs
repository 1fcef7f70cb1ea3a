use super::*;
use crate::asm::assemble;

fn vm(src: &str) -> Interpreter {
    vm_with(src, HelperTable::new())
}

fn vm_with(src: &str, helpers: HelperTable) -> Interpreter {
    let program = Program::new(assemble(src).unwrap()).unwrap();
    Interpreter::new(program, helpers).unwrap()
}

fn run(src: &str) -> Result<u64, RunError> {
    vm(src).run_on_memory(&mut [])
}

fn r0(src: &str) -> u64 {
    run(src).unwrap()
}

#[test]
fn division_and_modulo_follow_the_kernel() {
    assert_eq!(r0("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit"), 0);
    assert_eq!(r0("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit"), 7);
    // 32-bit modulo by zero keeps the low half, zero-extended.
    assert_eq!(
        r0("mov %r0, -1\nmov %r1, 0\nmod32 %r0, %r1\nexit"),
        0xffff_ffff
    );
    assert_eq!(
        r0("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit"),
        1 << 63
    );
    assert_eq!(r0("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit"), 0);
    assert_eq!(r0("mov %r0, -7\nsmod %r0, 2\nexit"), (-1i64) as u64);
    assert_eq!(r0("mov32 %r0, -7\nsdiv32 %r0, 2\nexit"), 0xffff_fffd);
    // The 64-bit immediate divisor is sign-extended.
    assert_eq!(r0("mov %r0, -4\ndiv %r0, -2\nexit"), 0);
}

#[test]
fn shifts_mask_the_amount_and_alu32_zero_extends() {
    assert_eq!(r0("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit"), 2);
    assert_eq!(r0("mov %r0, 1\nlsh32 %r0, 33\nexit"), 2);
    assert_eq!(r0("mov %r0, -1\nadd32 %r0, 0\nexit"), 0xffff_ffff);
    assert_eq!(r0("mov %r0, -16\narsh32 %r0, 2\nexit"), 0xffff_fffc);
    assert_eq!(r0("mov %r0, -16\narsh %r0, 2\nexit"), (-4i64) as u64);
    assert_eq!(r0("mov32 %r0, 0x80000000\nneg32 %r0\nexit"), 0x8000_0000);
}

#[test]
fn sign_extension_and_byte_order() {
    assert_eq!(
        r0("mov %r1, 0x80\nmovsx864 %r0, %r1\nexit"),
        (-128i64) as u64
    );
    assert_eq!(r0("mov %r1, 0x8000\nmovsx1632 %r0, %r1\nexit"), 0xffff_8000);
    assert_eq!(r0("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit"), 0x8877);
    assert_eq!(
        r0("lddw %r0, 0x1122334455667788\nle32 %r0\nexit"),
        0x5566_7788
    );
    assert_eq!(
        r0("lddw %r0, 0x1122334455667788\nbswap64 %r0\nexit"),
        0x8877_6655_4433_2211
    );
}

#[test]
fn local_calls_save_callee_registers_and_frames() {
    let src = "mov %r6, 6\nstdw [%r10-8], 99\ncall local f\nadd %r0, %r6\nldxdw %r1, [%r10-8]\n\
               add %r0, %r1\nexit\nf:\nmov %r6, 100\nstdw [%r10-8], 1\nmov %r0, 1\nexit";
    // 1 from f, r6 restored to 6, caller's stack slot untouched by the callee's frame.
    assert_eq!(r0(src), 1 + 6 + 99);
}

#[test]
fn call_depth_is_limited_to_eight_frames() {
    let recurse = "call local f\nexit\nf:\ncall local f\nexit";
    let e = run(recurse).unwrap_err();
    assert_eq!(e.kind, RunErrorKind::CallDepth);
    // Seven nested calls (eight frames) are fine.
    let mut src = String::new();
    for k in 0..7 {
        src.push_str(&format!("call local f{k}\nexit\nf{k}:\n"));
    }
    src.push_str("mov %r0, 5\nexit");
    assert_eq!(r0(&src), 5);
}

#[test]
fn memory_outside_every_region_is_refused() {
    // Below the stack frame.
    let e = run("mov %r1, %r10\nldxdw %r0, [%r1-4100]\nexit").unwrap_err();
    assert_eq!(e.pc, 1);
    assert!(matches!(
        e.kind,
        RunErrorKind::OutOfBounds {
            len: 8,
            write: false,
            ..
        }
    ));
    // An arbitrary host address.
    let e = run("lddw %r1, 0x1000\nstw [%r1], 1\nexit").unwrap_err();
    assert_eq!(e.pc, 2);
    // One byte past the given memory.
    let v = vm("ldxw %r0, [%r1+1]\nexit");
    let e = v.run_on_memory(&mut [0u8; 4]).unwrap_err();
    assert!(matches!(e.kind, RunErrorKind::OutOfBounds { len: 4, .. }));
    assert_eq!(v.run_on_memory(&mut [1, 2, 3, 4, 5]).unwrap(), 0x0504_0302);
}

#[test]
fn read_only_regions_refuse_stores() {
    let data = [7u8; 8];
    let mut map = MemoryMap::new();
    let addr = map.add_readonly(&data);
    let v = vm("ldxb %r0, [%r1]\nstb [%r1], 1\nexit");
    let e = v.run(&[addr], &map).unwrap_err();
    assert_eq!(e.pc, 1);
    assert!(matches!(
        e.kind,
        RunErrorKind::OutOfBounds { write: true, .. }
    ));
    assert_eq!(data, [7u8; 8]);
}

#[test]
fn atomics_are_atomic_and_aligned() {
    let mut mem = [0u8; 16];
    mem[..8].copy_from_slice(&5u64.to_le_bytes());
    let v = vm("mov %r2, 3\nlock fetch add [%r1], %r2\nmov %r0, %r2\nexit");
    assert_eq!(v.run_on_memory(&mut mem).unwrap(), 5);
    assert_eq!(u64::from_le_bytes(mem[..8].try_into().unwrap()), 8);
    let v = vm("mov %r2, 3\nlock add [%r1+4], %r2\nexit");
    let e = v.run_on_memory(&mut mem).unwrap_err();
    assert!(matches!(e.kind, RunErrorKind::Misaligned { len: 8, .. }));
    let v = vm("mov %r2, 9\nstrelw [%r1+8], %r2\nldacqw %r0, [%r1+8]\nexit");
    assert_eq!(v.run_on_memory(&mut mem).unwrap(), 9);
}

#[test]
fn infinite_loops_exhaust_the_budget() {
    let mut v = vm("mov %r0, 0\nl:\nadd %r0, 1\nja l\nexit");
    v.set_budget(1000);
    let e = v.run_on_memory(&mut []).unwrap_err();
    assert_eq!(
        e,
        RunError {
            pc: 2,
            kind: RunErrorKind::BudgetExhausted(1000)
        }
    );
    let mut v = vm("l:\nja32 l\nexit");
    v.set_budget(10);
    assert!(matches!(
        v.run_on_memory(&mut []).unwrap_err().kind,
        RunErrorKind::BudgetExhausted(10)
    ));
}

unsafe extern "C" fn add5(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
    a + b + c + d + e
}

#[test]
fn helpers_get_r1_to_r5_and_callx_checks_the_id() {
    let mut h = HelperTable::new();
    // SAFETY: `add5` dereferences nothing.
    unsafe { h.register(3, "add5", add5) };
    let src = "mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 3\nexit";
    assert_eq!(vm_with(src, h.clone()).run_on_memory(&mut []).unwrap(), 15);
    let callx = "mov %r1, 1\nmov %r6, 3\ncall %r6\nmov %r6, 4\ncall %r6\nexit";
    let e = vm_with(callx, h).run_on_memory(&mut []).unwrap_err();
    assert_eq!(
        e,
        RunError {
            pc: 4,
            kind: RunErrorKind::UnknownHelper(4)
        }
    );
}

#[test]
fn unrunnable_programs_are_refused_at_load() {
    let load = |src: &str| {
        let p = Program::new(assemble(src).unwrap()).unwrap();
        Interpreter::new(p, HelperTable::new()).unwrap_err()
    };
    assert_eq!(
        load("mov %r0, 0\ncall 1\nexit"),
        LoadError {
            pc: 1,
            kind: LoadErrorKind::UnknownHelper(1)
        }
    );
    assert_eq!(
        load("lddw %r1, map_fd 3\nexit").kind,
        LoadErrorKind::Unrelocated(Imm64::MapFd(3))
    );
    assert_eq!(load("call runtime 77\nexit").kind, LoadErrorKind::Kfunc(77));
    assert_eq!(
        load("ldabsb 12\nexit").kind,
        LoadErrorKind::LegacyPacketLoad
    );
    assert_eq!(
        load("call runtime 77\nexit").to_string(),
        "instruction 0: kfunc call (BTF id 77) is not supported: uxdp runs no kernel functions"
    );
}

#[test]
fn registers_start_from_the_arguments() {
    let v = vm("mov %r0, %r5\nadd %r0, %r3\nexit");
    assert_eq!(v.run(&[1, 2, 30, 4, 500], &MemoryMap::new()).unwrap(), 530);
}

/// Helper 100: runs the program's function r1 with r1 = r2 and returns its r0 (or
/// u64::MAX when the engine refuses).
unsafe extern "C" fn call_back(func: u64, arg: u64, _: u64, _: u64, _: u64) -> u64 {
    with_caller(|c| c.call_function(func, [arg, 0, 0, 0, 0]))
        .and_then(Result::ok)
        .unwrap_or(u64::MAX)
}

/// Helper 101: ends the calling function with r0 = r1.
unsafe extern "C" fn end_with(r0: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    end_function(Ok(r0));
    0
}

/// Helper 102: whether the program may write r2 bytes at r1.
unsafe extern "C" fn may_write(addr: u64, len: u64, _: u64, _: u64, _: u64) -> u64 {
    u64::from(with_caller(|c| c.access_ok(addr, len, true)).unwrap_or(false))
}

pub(crate) fn nested_helpers() -> HelperTable {
    let mut t = HelperTable::new();
    // SAFETY: none of these helpers dereferences its arguments.
    unsafe {
        t.register(100, "call_back", call_back);
        t.register(101, "end_with", end_with);
        t.register(102, "may_write", may_write);
    }
    t
}

/// Programs using the nested-run helpers, with their results: every engine runs them.
pub(crate) const NESTED_CASES: [(&str, &str, u64); 5] = [
    (
        "a callback runs on a fresh frame",
        "
        stdw [%r10-8], 1000
        lddw %r1, func cb
        mov %r2, 41
        call 100
        ldxdw %r1, [%r10-8]
        add %r0, %r1
        exit
    cb:
        stdw [%r10-8], 5
        mov %r0, %r1
        add %r0, 1
        exit",
        1042,
    ),
    (
        "a moved function value is refused",
        "
        lddw %r1, func f
        add %r1, 1
        call 100
        exit
    f:
        mov %r0, 0
        exit",
        u64::MAX,
    ),
    (
        "a plain number is not a function",
        "mov %r1, 3\ncall 100\nexit\nf:\nlddw %r1, func f\nexit",
        u64::MAX,
    ),
    (
        "a helper ends the calling function",
        "
        call local sub
        add %r0, 1
        exit
    sub:
        mov %r1, 7
        call 101
        mov %r0, 99
        exit",
        8,
    ),
    (
        "helpers see what the program may access",
        "
        mov %r1, %r10
        add %r1, -8
        mov %r2, 8
        call 102
        mov %r6, %r0
        mov %r1, 0
        mov %r2, 1
        call 102
        lsh %r0, 1
        or %r0, %r6
        exit",
        1,
    ),
];

#[test]
fn nested_runs_callbacks_and_ends() {
    for (what, src, want) in NESTED_CASES {
        assert_eq!(
            vm_with(src, nested_helpers()).run_on_memory(&mut []),
            Ok(want),
            "{what}"
        );
    }
}
