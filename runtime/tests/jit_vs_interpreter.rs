//! Random XDP programs the verifier accepts, run in the interpreter and in the JIT compiled
//! with the verifier's facts (unchecked proven accesses, inlined array lookups, direct hash
//! lookups): the same verdict, the same packet bytes and the same map contents afterwards.
//!
//! Each program checks that the packet has 64 bytes, then runs random groups of
//! instructions: arithmetic on r8/r9 (all of ALU and ALU64), packet and stack loads and
//! stores, atomics on the stack, forward jumps over whole groups, and map blocks (a lookup in
//! an array, a per-CPU array or a hash map with a computed key, then reads, writes and an
//! atomic add on the value when it is found; updates and deletes with computed keys and
//! flags, their results folded into the verdict). Programs the verifier refuses are skipped (a
//! few are: a lookup result used after a jump merged it, for instance); the test counts
//! how many ran.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use uxdp::engine::Engine;
use uxdp::helpers::xdp_helpers;
use uxdp::xdp::ctx::rewrite_ctx_loads;
use uxdp::xdp::{MAP_BASE, Packet, Registry, RxInfo, XdpProgram};
use uxdp_jit::codec::encode;
use uxdp_jit::instruction::{
    AluOp, AtomicOp, CallTarget, Imm64, Instruction, JmpCond, Size, Source, Width,
};
use uxdp_jit::verifier::{Env, LddwRef, MapInfo, Options, verify};
use uxdp_jit::{Insn, Program};
use uxdp_maps::{Map, MapDef, MapType, Store, StoreOptions};

/// The maps every program may use: (type, key size, value size, entries).
const MAPS: [(MapType, u32, u32, u32); 3] = [
    (MapType::Array, 4, 16, 8),
    (MapType::PercpuArray, 4, 16, 8),
    (MapType::Hash, 4, 16, 16),
];

/// Bytes of packet the prologue proves.
const PKT: i16 = 64;

/// One store with the test's maps, filled the same way every time.
struct Side {
    path: PathBuf,
    registry: Arc<Registry>,
    maps: Vec<Arc<Map>>,
}

impl Side {
    fn new(engine: Engine, tag: &str) -> Side {
        let path = PathBuf::from(format!(
            "/dev/shm/uxdp-jitdiff-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default()).unwrap();
        let registry = Registry::with_engine(Arc::clone(&store), engine);
        let maps: Vec<Arc<Map>> = MAPS
            .iter()
            .map(|&(t, k, v, n)| Arc::new(Map::create(&store, &MapDef::new(t, k, v, n)).unwrap()))
            .collect();
        // The hash map holds keys 0, 2, 4, 6: lookups of odd keys miss.
        for k in (0u32..8).step_by(2) {
            maps[2].update(&k.to_ne_bytes(), &[k as u8; 16], 0).unwrap();
        }
        Side {
            path,
            registry,
            maps,
        }
    }

    /// Every map's bytes, in key order.
    fn contents(&self) -> Vec<Vec<u8>> {
        self.maps
            .iter()
            .map(|m| {
                let mut out = Vec::new();
                for k in 0u32..16 {
                    let mut v = vec![0u8; m.syscall_value_size()];
                    if m.lookup(&k.to_ne_bytes(), &mut v, 0).is_ok() {
                        out.extend_from_slice(&k.to_ne_bytes());
                        out.extend_from_slice(&v);
                    }
                }
                out
            })
            .collect()
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A group of instructions; jumps skip whole groups.
#[derive(Debug, Clone)]
enum Group {
    Alu(Width, AluOp, u8, Source),
    Packet {
        load: bool,
        size: Size,
        reg: u8,
        off: i16,
    },
    Stack {
        load: bool,
        size: Size,
        reg: u8,
        off: i16,
    },
    StackAtomic {
        op: AtomicOp,
        fetch: bool,
        reg: u8,
        slot: i16,
    },
    Jump {
        cond: JmpCond,
        width: Width,
        reg: u8,
        imm: i32,
        skip: usize,
    },
    Lookup {
        map: usize,
        key_reg: u8,
        off: i16,
        reg: u8,
    },
    Update {
        map: usize,
        key_reg: u8,
        flags: i32,
    },
    Delete {
        map: usize,
        key_reg: u8,
    },
}

fn reg() -> impl Strategy<Value = u8> {
    prop_oneof![Just(8u8), Just(9u8)]
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W), Just(Size::DW)]
}

fn group() -> impl Strategy<Value = Group> {
    let alu_op = prop::sample::select(vec![
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ]);
    let width = prop_oneof![Just(Width::W32), Just(Width::W64)];
    let src = prop_oneof![
        reg().prop_map(Source::Reg),
        any::<i32>().prop_map(Source::Imm),
        (-3i32..70).prop_map(Source::Imm)
    ];
    prop_oneof![
        5 => (width.clone(), alu_op, reg(), src).prop_map(|(w, op, d, s)| Group::Alu(w, op, d, s)),
        3 => (any::<bool>(), size(), reg(), 0i16..PKT)
            .prop_map(|(load, size, reg, off)| {
                let off = off.min(PKT - i16::from(size.bytes()));
                Group::Packet { load, size, reg, off }
            }),
        2 => (any::<bool>(), size(), reg(), 1i16..=8)
            .prop_map(|(load, size, reg, slot)| Group::Stack { load, size, reg, off: -8 * slot }),
        1 => (prop::sample::select(vec![
                (AtomicOp::Add, false), (AtomicOp::Add, true), (AtomicOp::Or, true),
                (AtomicOp::Xor, false), (AtomicOp::Xchg, true), (AtomicOp::CmpXchg, true),
            ]), reg(), 1i16..=8)
            .prop_map(|((op, fetch), reg, slot)| Group::StackAtomic { op, fetch, reg, slot }),
        2 => (prop::sample::select(JmpCond::ALL.to_vec()), width, reg(), -4i32..300, 1usize..4)
            .prop_map(|(cond, width, reg, imm, skip)| Group::Jump { cond, width, reg, imm, skip }),
        2 => (0usize..MAPS.len(), reg(), 0i16..=8, reg())
            .prop_map(|(map, key_reg, off, reg)| Group::Lookup { map, key_reg, off, reg }),
        1 => (0usize..MAPS.len(), reg(), 0i32..=3)
            .prop_map(|(map, key_reg, flags)| Group::Update { map, key_reg, flags }),
        1 => (0usize..MAPS.len(), reg())
            .prop_map(|(map, key_reg)| Group::Delete { map, key_reg }),
    ]
}

/// A 64-bit ALU instruction.
fn alu(op: AluOp, dst: u8, src: Source) -> Instruction {
    Instruction::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    }
}

/// The start of a map helper call: the key `key_reg & mask` at fp - 72, r1 = the map,
/// r2 = the key's address.
fn map_call(map: u64, key_reg: u8, mask: i32) -> Vec<Instruction> {
    vec![
        alu(AluOp::Mov, 2, Source::Reg(key_reg)),
        alu(AluOp::And, 2, Source::Imm(mask)),
        Instruction::StoreReg {
            size: Size::W,
            dst: 10,
            src: 2,
            off: -72,
        },
        Instruction::Lddw {
            dst: 1,
            imm: Imm64::Value(map),
        },
        alu(AluOp::Mov, 2, Source::Reg(10)),
        alu(AluOp::Add, 2, Source::Imm(-72)),
    ]
}

/// Instructions of one group; `Jump` distances are filled in later (in groups).
fn lower(g: &Group, maps: &[u64]) -> Vec<Instruction> {
    use Instruction as I;
    match *g {
        Group::Alu(width, op, dst, src) => vec![I::Alu {
            width,
            op,
            dst,
            src,
        }],
        Group::Packet {
            load: true,
            size,
            reg,
            off,
        } => {
            vec![I::Load {
                size,
                dst: reg,
                src: 7,
                off,
                signed: false,
            }]
        }
        Group::Packet {
            load: false,
            size,
            reg,
            off,
        } => {
            vec![I::StoreReg {
                size,
                dst: 7,
                src: reg,
                off,
            }]
        }
        Group::Stack {
            load: true,
            size,
            reg,
            off,
        } => {
            vec![I::Load {
                size,
                dst: reg,
                src: 10,
                off,
                signed: false,
            }]
        }
        Group::Stack {
            load: false,
            size,
            reg,
            off,
        } => {
            vec![I::StoreReg {
                size,
                dst: 10,
                src: reg,
                off,
            }]
        }
        Group::StackAtomic {
            op,
            fetch,
            reg,
            slot,
        } => {
            let mut v = Vec::new();
            if op == AtomicOp::CmpXchg {
                v.push(I::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: 0,
                    src: Source::Reg(reg),
                });
            }
            v.push(I::Atomic {
                size: Size::DW,
                op,
                fetch,
                dst: 10,
                src: reg,
                off: -8 * slot,
            });
            v
        }
        Group::Jump {
            cond,
            width,
            reg,
            imm,
            ..
        } => {
            vec![I::Jump {
                width,
                cond,
                dst: reg,
                src: Source::Imm(imm),
                off: 0,
            }]
        }
        Group::Lookup {
            map,
            key_reg,
            off,
            reg,
        } => {
            let mut v = map_call(maps[map], key_reg, 7);
            v.extend([
                I::Call(CallTarget::Helper(1)),
                I::Jump {
                    width: Width::W64,
                    cond: JmpCond::Eq,
                    dst: 0,
                    src: Source::Imm(0),
                    off: 3,
                },
                I::Load {
                    size: Size::DW,
                    dst: reg,
                    src: 0,
                    off: off.min(8),
                    signed: false,
                },
                I::StoreReg {
                    size: Size::W,
                    dst: 0,
                    src: key_reg,
                    off: 12,
                },
                I::Atomic {
                    size: Size::DW,
                    op: AtomicOp::Add,
                    fetch: false,
                    dst: 0,
                    src: reg,
                    off: 0,
                },
                alu(AluOp::Mov, 0, Source::Imm(0)),
            ]);
            v
        }
        Group::Update {
            map,
            key_reg,
            flags,
        } => {
            // The value: r8, r9 at fp - 88.
            let mut v = vec![
                I::StoreReg {
                    size: Size::DW,
                    dst: 10,
                    src: 8,
                    off: -88,
                },
                I::StoreReg {
                    size: Size::DW,
                    dst: 10,
                    src: 9,
                    off: -80,
                },
            ];
            v.extend(map_call(maps[map], key_reg, 15));
            v.extend([
                alu(AluOp::Mov, 3, Source::Reg(10)),
                alu(AluOp::Add, 3, Source::Imm(-88)),
                alu(AluOp::Mov, 4, Source::Imm(flags)),
                I::Call(CallTarget::Helper(2)),
                // The result (0 or an errno) goes into the verdict's registers.
                alu(AluOp::Xor, 8, Source::Reg(0)),
                alu(AluOp::Mov, 0, Source::Imm(0)),
            ]);
            v
        }
        Group::Delete { map, key_reg } => {
            let mut v = map_call(maps[map], key_reg, 15);
            v.extend([
                I::Call(CallTarget::Helper(3)),
                alu(AluOp::Xor, 9, Source::Reg(0)),
                alu(AluOp::Mov, 0, Source::Imm(0)),
            ]);
            v
        }
    }
}

/// The whole program, and the slot of every map `lddw` (for the verifier's environment).
fn assemble(groups: &[Group], maps: &[u64]) -> (Vec<Insn>, Vec<(usize, usize)>) {
    use Instruction as I;
    let prologue = vec![
        I::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: 6,
            src: Source::Reg(1),
        },
        I::Load {
            size: Size::W,
            dst: 7,
            src: 6,
            off: 0,
            signed: false,
        },
        I::Load {
            size: Size::W,
            dst: 3,
            src: 6,
            off: 4,
            signed: false,
        },
        I::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: 4,
            src: Source::Reg(7),
        },
        I::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: 4,
            src: Source::Imm(PKT.into()),
        },
        // if r4 > r3 goto out (patched below)
        I::Jump {
            width: Width::W64,
            cond: JmpCond::Gt,
            dst: 4,
            src: Source::Reg(3),
            off: 0,
        },
        I::Load {
            size: Size::DW,
            dst: 8,
            src: 7,
            off: 0,
            signed: false,
        },
        I::Load {
            size: Size::DW,
            dst: 9,
            src: 7,
            off: 8,
            signed: false,
        },
    ];
    let mut init: Vec<Instruction> = (1..=9)
        .map(|slot| I::StoreReg {
            size: Size::DW,
            dst: 10,
            src: 8 + (slot % 2) as u8,
            off: -8 * slot,
        })
        .collect();
    init.push(I::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: 0,
        src: Source::Imm(0),
    });
    let bodies: Vec<Vec<Instruction>> = groups.iter().map(|g| lower(g, maps)).collect();
    let epilogue = vec![
        I::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: 0,
            src: Source::Reg(8),
        },
        I::Alu {
            width: Width::W64,
            op: AluOp::Xor,
            dst: 0,
            src: Source::Reg(9),
        },
        I::Alu {
            width: Width::W64,
            op: AluOp::And,
            dst: 0,
            src: Source::Imm(3),
        },
        I::Exit,
    ];
    let out = vec![
        I::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: 0,
            src: Source::Imm(2),
        },
        I::Exit,
    ];
    // Slot positions: prologue, init, each group, epilogue, out.
    let slots = |v: &[Instruction]| v.iter().map(Instruction::slots).sum::<usize>();
    let mut group_start = Vec::new();
    let mut at = slots(&prologue) + slots(&init);
    for b in &bodies {
        group_start.push(at);
        at += slots(b);
    }
    let epilogue_at = at;
    let out_at = epilogue_at + slots(&epilogue);

    let mut all = Vec::new();
    let mut lddw = Vec::new();
    let mut pc = 0usize;
    let emit = |ins: Instruction, all: &mut Vec<Insn>, pc: &mut usize| {
        all.extend_from_slice(encode(&ins).as_slice());
        *pc += ins.slots();
    };
    for mut ins in prologue {
        if let I::Jump { off, .. } = &mut ins {
            *off = (out_at - pc - 1) as i16;
        }
        emit(ins, &mut all, &mut pc);
    }
    for ins in init {
        emit(ins, &mut all, &mut pc);
    }
    for (gi, (g, body)) in groups.iter().zip(&bodies).enumerate() {
        for mut ins in body.clone() {
            if let (Group::Jump { skip, .. }, I::Jump { off, .. }) = (g, &mut ins) {
                let target = group_start
                    .get(gi + 1 + skip)
                    .copied()
                    .unwrap_or(epilogue_at);
                *off = (target - pc - 1) as i16;
            }
            if let (
                Group::Lookup { map, .. } | Group::Update { map, .. } | Group::Delete { map, .. },
                I::Lddw { .. },
            ) = (g, &ins)
            {
                lddw.push((pc, *map));
            }
            emit(ins, &mut all, &mut pc);
        }
    }
    for ins in epilogue.into_iter().chain(out) {
        emit(ins, &mut all, &mut pc);
    }
    (all, lddw)
}

static VERIFIED: AtomicUsize = AtomicUsize::new(0);
static TRIED: AtomicUsize = AtomicUsize::new(0);

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

/// Runs `groups` on `packet` in `side`; the verdict, the packet after, the maps after.
fn run(side: &Side, insns: &[Insn], env: &Env, packet: &[u8]) -> (u32, Vec<u8>, Vec<Vec<u8>>) {
    let program = Program::new(insns.to_vec()).unwrap();
    let verified = verify(&program, env, &Options::default()).unwrap();
    let rewritten = rewrite_ctx_loads(insns, false).unwrap();
    let env_maps: Vec<Option<Arc<Map>>> = side.maps.iter().cloned().map(Some).collect();
    let prog = XdpProgram::verified(
        &side.registry,
        "random",
        rewritten,
        side.maps.clone(),
        xdp_helpers(),
        &verified.facts,
        &env_maps,
    )
    .unwrap();
    let mut p = Packet::new(packet).unwrap();
    let v = prog.run(
        &mut p,
        RxInfo {
            ifindex: 1,
            rx_queue: 0,
            cpu: 1,
            ..RxInfo::default()
        },
    );
    assert!(
        v.fault.is_none(),
        "a verified program faulted: {:?}",
        v.fault
    );
    (v.action, p.contents(), side.contents())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Programs the verifier refuses are skipped; about a third are.
        max_global_rejects: cases().saturating_mul(2),
        ..ProptestConfig::default()
    })]

    // Called by the test below, which then checks how many programs were compared.
    fn verified_programs_agree(
        groups in prop::collection::vec(group(), 1..24),
        packet in prop::collection::vec(any::<u8>(), 64..96),
    ) {
        let interp = Side::new(Engine::Interpret, "i");
        let jit = Side::new(Engine::Jit, "j");
        let handles: Vec<u64> = interp.maps.iter().map(|m| MAP_BASE + u64::from(m.id())).collect();
        // Both stores number their maps alike, so one program serves both.
        prop_assert_eq!(&handles, &jit.maps.iter().map(|m| MAP_BASE + u64::from(m.id())).collect::<Vec<_>>());
        let (insns, lddw) = assemble(&groups, &handles);
        let env = Env {
            maps: MAPS.iter().enumerate().map(|(i, &(t, k, v, n))| MapInfo::new(&format!("m{i}"), t as u32, k, v, n)).collect(),
            lddw: lddw.into_iter().map(|(pc, m)| (pc, LddwRef::Map(m))).collect(),
            devmap: false,
        };
        TRIED.fetch_add(1, Ordering::Relaxed);
        let program = Program::new(insns.clone()).unwrap();
        prop_assume!(verify(&program, &env, &Options::default()).is_ok());
        VERIFIED.fetch_add(1, Ordering::Relaxed);
        let a = run(&interp, &insns, &env, &packet);
        let b = run(&jit, &insns, &env, &packet);
        let listing = uxdp_jit::disasm::disassemble(&insns).unwrap();
        prop_assert_eq!(a, b, "interpreter (left) and JIT (right) differ for\n{}", listing);
    }
}

#[test]
fn most_generated_programs_are_verified() {
    verified_programs_agree();
    let (tried, verified) = (
        TRIED.load(Ordering::Relaxed),
        VERIFIED.load(Ordering::Relaxed),
    );
    println!("JIT vs interpreter: {verified} of {tried} random programs verified and compared");
    assert!(
        verified * 2 >= tried,
        "only {verified} of {tried} programs passed the verifier"
    );
}
