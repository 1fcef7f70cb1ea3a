//! Kernel helpers that need neither maps nor a packet, under their kernel ids.

use std::cell::Cell;

use uxdp_jit::interp::HelperTable;

use super::ids::*;

/// The time of `clock` in nanoseconds.
pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used are always present.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Monotonic time in nanoseconds, not counting suspend (the kernel's `ktime_get_mono_fast_ns`).
pub(crate) unsafe extern "C" fn ktime_get_ns(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Monotonic time in nanoseconds, counting suspend.
pub(crate) unsafe extern "C" fn ktime_get_boot_ns(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

thread_local! {
    static PRANDOM: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut s = [0u8; 8];
    // SAFETY: `s` is valid for 8 writable bytes.
    let n = unsafe { libc::getrandom(s.as_mut_ptr().cast(), s.len(), 0) };
    let s = u64::from_ne_bytes(s);
    // Xorshift needs a non-zero state; fall back to the clock if getrandom failed.
    if n == 8 && s != 0 {
        s
    } else {
        clock_ns(libc::CLOCK_MONOTONIC) | 1
    }
}

/// A per-thread pseudo-random 32-bit number (per-CPU in the kernel; a worker is a CPU here).
pub(crate) unsafe extern "C" fn get_prandom_u32(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    PRANDOM.with(|state| {
        // xorshift64*
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32
    })
}

/// The CPU the calling thread runs on.
unsafe extern "C" fn get_smp_processor_id(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    u64::try_from(cpu).unwrap_or(0)
}

/// A table of the helpers in this module.
pub fn base_helpers() -> HelperTable {
    let mut t = HelperTable::new();
    // SAFETY: none of these helpers dereferences its arguments.
    unsafe {
        t.register(KTIME_GET_NS, "bpf_ktime_get_ns", ktime_get_ns);
        t.register(GET_PRANDOM_U32, "bpf_get_prandom_u32", get_prandom_u32);
        t.register(
            GET_SMP_PROCESSOR_ID,
            "bpf_get_smp_processor_id",
            get_smp_processor_id,
        );
        t.register(
            KTIME_GET_BOOT_NS,
            "bpf_ktime_get_boot_ns",
            ktime_get_boot_ns,
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: u32) -> u64 {
        let t = base_helpers();
        let h = t.get(id).unwrap();
        // SAFETY: these helpers ignore their arguments.
        unsafe { (h.func)(0, 0, 0, 0, 0) }
    }

    #[test]
    fn time_is_monotonic_and_boot_time_not_behind() {
        let a = call(KTIME_GET_NS);
        let b = call(KTIME_GET_NS);
        assert!(b >= a && a > 0);
        assert!(call(KTIME_GET_BOOT_NS) >= a);
    }

    #[test]
    fn prandom_is_32_bit_and_varies() {
        let v: Vec<u64> = (0..64).map(|_| call(GET_PRANDOM_U32)).collect();
        assert!(v.iter().all(|&x| x <= u64::from(u32::MAX)));
        let distinct: std::collections::HashSet<_> = v.iter().collect();
        assert!(distinct.len() > 60, "{distinct:?}");
    }

    #[test]
    fn processor_id_is_a_cpu_of_this_machine() {
        // SAFETY: sysconf has no preconditions.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) } as u64;
        assert!(call(GET_SMP_PROCESSOR_ID) < cpus);
    }

    #[test]
    fn names_are_the_kernels() {
        let names: Vec<_> = base_helpers().iter().map(|(id, h)| (id, h.name)).collect();
        assert_eq!(
            names,
            [
                (5, "bpf_ktime_get_ns"),
                (7, "bpf_get_prandom_u32"),
                (8, "bpf_get_smp_processor_id"),
                (125, "bpf_ktime_get_boot_ns")
            ]
        );
    }
}
