//! The kernel helpers uxdp gives programs, under the kernel's ids and with the kernel's
//! semantics, argument checks and error values.
//!
//! Helpers are plain functions of five `u64`s (r1..r5); what they need of the run (the
//! packet, the program's maps, the engine for pointer checks and callbacks) they find in
//! the per-thread [`env`]. The same table serves the interpreter and, later, the JIT.

mod base;
mod direct;
pub(crate) mod env;
mod fib;
pub mod ids;
mod maps;
mod misc;
mod packet;

use uxdp_jit::interp::{HelperFn, HelperTable};

pub use base::base_helpers;
pub(crate) use base::clock_ns;
pub(crate) use direct::direct_helpers;
pub use env::Redirect;
pub(crate) use maps::lookup_in as map_lookup;
pub use misc::{csum_diff, csum_partial};
#[cfg(any(feature = "dpdk", feature = "afxdp"))]
pub(crate) use packet::{F_BROADCAST, F_EXCLUDE_INGRESS};
pub use packet::{MAX_TAIL_CALLS, XDP_FRAME_SIZE};

/// `bpf_get_smp_processor_id` inside a run: the run's CPU slot (a worker's index, or the
/// CPU `uxdp test-run` runs on), the slot per-CPU maps use.
unsafe extern "C" fn smp_processor_id(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    u64::from(env::ENV.with(|e| e.cpu.get()))
}

/// Every helper an XDP program may call in uxdp, by kernel id.
pub fn xdp_helpers() -> HelperTable {
    use ids::*;
    let table: [(u32, &'static str, HelperFn); 35] = [
        (MAP_LOOKUP_ELEM, "bpf_map_lookup_elem", maps::lookup),
        (MAP_UPDATE_ELEM, "bpf_map_update_elem", maps::update),
        (MAP_DELETE_ELEM, "bpf_map_delete_elem", maps::delete),
        (KTIME_GET_NS, "bpf_ktime_get_ns", base::ktime_get_ns),
        (TRACE_PRINTK, "bpf_trace_printk", misc::trace_printk),
        (
            GET_PRANDOM_U32,
            "bpf_get_prandom_u32",
            base::get_prandom_u32,
        ),
        (
            GET_SMP_PROCESSOR_ID,
            "bpf_get_smp_processor_id",
            smp_processor_id,
        ),
        (TAIL_CALL, "bpf_tail_call", packet::tail_call),
        (REDIRECT, "bpf_redirect", packet::redirect),
        (CSUM_DIFF, "bpf_csum_diff", misc::csum_diff_helper),
        (
            GET_NUMA_NODE_ID,
            "bpf_get_numa_node_id",
            misc::get_numa_node_id,
        ),
        (XDP_ADJUST_HEAD, "bpf_xdp_adjust_head", packet::adjust_head),
        (REDIRECT_MAP, "bpf_redirect_map", packet::redirect_map),
        (XDP_ADJUST_META, "bpf_xdp_adjust_meta", packet::adjust_meta),
        (XDP_ADJUST_TAIL, "bpf_xdp_adjust_tail", packet::adjust_tail),
        (FIB_LOOKUP, "bpf_fib_lookup", fib::fib_lookup_helper),
        (MAP_PUSH_ELEM, "bpf_map_push_elem", maps::push),
        (MAP_POP_ELEM, "bpf_map_pop_elem", maps::pop),
        (MAP_PEEK_ELEM, "bpf_map_peek_elem", maps::peek),
        (SPIN_LOCK, "bpf_spin_lock", maps::spin_lock),
        (SPIN_UNLOCK, "bpf_spin_unlock", maps::spin_unlock),
        (JIFFIES64, "bpf_jiffies64", misc::jiffies64),
        (
            KTIME_GET_BOOT_NS,
            "bpf_ktime_get_boot_ns",
            base::ktime_get_boot_ns,
        ),
        (RINGBUF_OUTPUT, "bpf_ringbuf_output", misc::ringbuf_output),
        (
            RINGBUF_RESERVE,
            "bpf_ringbuf_reserve",
            misc::ringbuf_reserve,
        ),
        (RINGBUF_SUBMIT, "bpf_ringbuf_submit", misc::ringbuf_submit),
        (
            RINGBUF_DISCARD,
            "bpf_ringbuf_discard",
            misc::ringbuf_discard,
        ),
        (RINGBUF_QUERY, "bpf_ringbuf_query", misc::ringbuf_query),
        (
            KTIME_GET_COARSE_NS,
            "bpf_ktime_get_coarse_ns",
            misc::ktime_get_coarse_ns,
        ),
        (FOR_EACH_MAP_ELEM, "bpf_for_each_map_elem", maps::for_each),
        (LOOP, "bpf_loop", misc::bpf_loop),
        (
            XDP_GET_BUFF_LEN,
            "bpf_xdp_get_buff_len",
            packet::get_buff_len,
        ),
        (XDP_LOAD_BYTES, "bpf_xdp_load_bytes", packet::load_bytes),
        (XDP_STORE_BYTES, "bpf_xdp_store_bytes", packet::store_bytes),
        (
            PERF_EVENT_OUTPUT,
            "bpf_perf_event_output",
            misc::perf_event_output,
        ),
    ];
    let mut t = HelperTable::new();
    for (id, name, func) in table {
        // SAFETY: every helper here checks each pointer argument against the memory the
        // running program may access (`env::mem`) before touching it, validates map and
        // context arguments against the run's own, and otherwise reads only its scalars.
        unsafe { t.register(id, name, func) };
    }
    t
}
