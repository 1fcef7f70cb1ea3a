//! Helper prototypes as the kernel declares them for XDP programs (`struct
//! bpf_func_proto`): what each argument must be, what comes back, and whether only
//! GPL-compatible programs may call it.

/// What an argument must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// Unused.
    Unused,
    /// Any initialised value.
    Anything,
    /// The program's context.
    Ctx,
    /// A map (`lddw` of a map).
    MapPtr,
    /// Memory holding a key of the map in the first argument.
    MapKey,
    /// Memory holding a value of that map.
    MapValue,
    /// Memory the helper fills with a value of that map.
    UninitMapValue,
    /// Readable memory of the size the next argument gives (`RDONLY`).
    Mem,
    /// Readable memory or NULL, of the size the next argument gives.
    MemOrNull,
    /// Memory the helper writes, of the size the next argument gives.
    WritableMem,
    /// Memory the helper fills, possibly uninitialised before.
    UninitMem,
    /// The size of the memory before it, known and above zero.
    ConstSize,
    /// The size of the memory before it, known, possibly zero.
    ConstSizeOrZero,
    /// An allocation size, known, possibly zero.
    ConstAllocSizeOrZero,
    /// A `bpf_spin_lock` inside a map value.
    SpinLock,
    /// Ring buffer memory from `bpf_ringbuf_reserve`, released by the call.
    RingbufMem,
    /// A function of the program (a callback).
    Func,
    /// A stack pointer or NULL (a callback's context).
    StackOrNull,
}

/// What a helper returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// A scalar.
    Integer,
    /// Nothing usable (r0 is clobbered).
    Void,
    /// A map value of the first argument's map, or NULL.
    MapValueOrNull,
    /// Ring buffer memory of the size of the second argument, or NULL.
    RingbufMemOrNull,
}

/// A helper's prototype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proto {
    /// The kernel's name.
    pub name: &'static str,
    /// Arguments r1..r5.
    pub args: [Arg; 5],
    /// The result in r0.
    pub ret: Ret,
    /// Only GPL-compatible programs may call it.
    pub gpl_only: bool,
}

const fn p(name: &'static str, args: &[Arg], ret: Ret, gpl_only: bool) -> Proto {
    let mut a = [Arg::Unused; 5];
    let mut i = 0;
    while i < args.len() {
        a[i] = args[i];
        i += 1;
    }
    Proto {
        name,
        args: a,
        ret,
        gpl_only,
    }
}

/// The prototype of helper `id` as the kernel gives it to XDP programs, for the helpers
/// uxdp provides.
pub fn xdp_proto(id: i32) -> Option<Proto> {
    use Arg::*;
    use Ret::*;
    Some(match id {
        1 => p(
            "bpf_map_lookup_elem",
            &[MapPtr, MapKey],
            MapValueOrNull,
            false,
        ),
        2 => p(
            "bpf_map_update_elem",
            &[MapPtr, MapKey, MapValue, Anything],
            Integer,
            false,
        ),
        3 => p("bpf_map_delete_elem", &[MapPtr, MapKey], Integer, false),
        5 => p("bpf_ktime_get_ns", &[], Integer, false),
        6 => p("bpf_trace_printk", &[Mem, ConstSize], Integer, true),
        7 => p("bpf_get_prandom_u32", &[], Integer, false),
        8 => p("bpf_get_smp_processor_id", &[], Integer, false),
        12 => p("bpf_tail_call", &[Ctx, MapPtr, Anything], Void, false),
        23 => p("bpf_redirect", &[Anything, Anything], Integer, false),
        25 => p(
            "bpf_perf_event_output",
            &[Ctx, MapPtr, Anything, Mem, ConstSizeOrZero],
            Integer,
            true,
        ),
        28 => p(
            "bpf_csum_diff",
            &[
                MemOrNull,
                ConstSizeOrZero,
                MemOrNull,
                ConstSizeOrZero,
                Anything,
            ],
            Integer,
            false,
        ),
        42 => p("bpf_get_numa_node_id", &[], Integer, false),
        44 => p("bpf_xdp_adjust_head", &[Ctx, Anything], Integer, false),
        51 => p(
            "bpf_redirect_map",
            &[MapPtr, Anything, Anything],
            Integer,
            false,
        ),
        54 => p("bpf_xdp_adjust_meta", &[Ctx, Anything], Integer, false),
        65 => p("bpf_xdp_adjust_tail", &[Ctx, Anything], Integer, false),
        69 => p(
            "bpf_fib_lookup",
            &[Ctx, WritableMem, ConstSize, Anything],
            Integer,
            true,
        ),
        87 => p(
            "bpf_map_push_elem",
            &[MapPtr, MapValue, Anything],
            Integer,
            false,
        ),
        88 => p(
            "bpf_map_pop_elem",
            &[MapPtr, UninitMapValue],
            Integer,
            false,
        ),
        89 => p(
            "bpf_map_peek_elem",
            &[MapPtr, UninitMapValue],
            Integer,
            false,
        ),
        93 => p("bpf_spin_lock", &[SpinLock], Void, false),
        94 => p("bpf_spin_unlock", &[SpinLock], Void, false),
        118 => p("bpf_jiffies64", &[], Integer, false),
        125 => p("bpf_ktime_get_boot_ns", &[], Integer, false),
        130 => p(
            "bpf_ringbuf_output",
            &[MapPtr, Mem, ConstSizeOrZero, Anything],
            Integer,
            false,
        ),
        131 => p(
            "bpf_ringbuf_reserve",
            &[MapPtr, ConstAllocSizeOrZero, Anything],
            RingbufMemOrNull,
            false,
        ),
        132 => p("bpf_ringbuf_submit", &[RingbufMem, Anything], Void, false),
        133 => p("bpf_ringbuf_discard", &[RingbufMem, Anything], Void, false),
        134 => p("bpf_ringbuf_query", &[MapPtr, Anything], Integer, false),
        160 => p("bpf_ktime_get_coarse_ns", &[], Integer, false),
        164 => p(
            "bpf_for_each_map_elem",
            &[MapPtr, Func, StackOrNull, Anything],
            Integer,
            false,
        ),
        181 => p(
            "bpf_loop",
            &[Anything, Func, StackOrNull, Anything],
            Integer,
            false,
        ),
        188 => p("bpf_xdp_get_buff_len", &[Ctx], Integer, false),
        189 => p(
            "bpf_xdp_load_bytes",
            &[Ctx, Anything, UninitMem, ConstSize],
            Integer,
            false,
        ),
        190 => p(
            "bpf_xdp_store_bytes",
            &[Ctx, Anything, Mem, ConstSize],
            Integer,
            false,
        ),
        _ => return None,
    })
}

/// The kernel's `license_is_gpl_compatible`.
pub fn gpl_compatible(license: &str) -> bool {
    matches!(
        license,
        "GPL"
            | "GPL v2"
            | "GPL and additional rights"
            | "Dual BSD/GPL"
            | "Dual MIT/GPL"
            | "Dual MPL/GPL"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prototypes_pair_sizes_with_memory() {
        for id in 0..200 {
            let Some(p) = xdp_proto(id) else { continue };
            for (i, a) in p.args.iter().enumerate() {
                let sized = matches!(
                    a,
                    Arg::Mem | Arg::MemOrNull | Arg::WritableMem | Arg::UninitMem
                );
                if sized {
                    assert!(
                        matches!(p.args[i + 1], Arg::ConstSize | Arg::ConstSizeOrZero),
                        "{}: argument {} needs a size after it",
                        p.name,
                        i + 1
                    );
                }
            }
        }
        assert!(gpl_compatible("Dual BSD/GPL") && !gpl_compatible("MIT"));
    }
}
