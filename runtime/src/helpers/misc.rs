//! Helpers that compute: `bpf_csum_diff`, `bpf_loop`, `bpf_trace_printk`, the coarse clock,
//! jiffies and the NUMA node, and the ring buffer helpers.

use super::base::clock_ns;
use super::env::{self, ENV, bytes, err};

/// `BPF_MAX_LOOPS`.
const MAX_LOOPS: u64 = 1 << 23;
/// Ticks per second of `bpf_jiffies64`: Debian's kernels are built with `CONFIG_HZ=250`.
const HZ: u64 = 250;
/// The kernel's jiffies start 5 minutes before wrapping a 32-bit counter
/// (`INITIAL_JIFFIES`), so uptime 0 is this value.
const INITIAL_JIFFIES: u64 = (-300i64 * HZ as i64) as u32 as u64;

/// One's-complement addition with the end-around carry, 64 bits.
fn add64(a: u64, b: u64) -> u64 {
    let (s, c) = a.overflowing_add(b);
    s + u64::from(c)
}

/// One's-complement addition, 32 bits.
fn add32(a: u32, b: u32) -> u32 {
    let (s, c) = a.overflowing_add(b);
    s + u32::from(c)
}

/// The kernel's `csum_partial` on x86-64: the one's-complement sum of `buf` in 64-bit
/// little-endian words (a trailing 1 to 7 bytes zero-extended to one word), seeded with
/// `seed`, folded to 32 bits.
pub fn csum_partial(buf: &[u8], seed: u32) -> u32 {
    let mut sum = u64::from(seed);
    let mut chunks = buf.chunks_exact(8);
    for c in &mut chunks {
        sum = add64(sum, u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        sum = add64(sum, u64::from_le_bytes(word));
    }
    add32((sum >> 32) as u32, sum as u32)
}

/// Folds a 32-bit checksum to 16 bits with the end-around carry (`csum_from32to16`).
fn from32to16(x: u32) -> u32 {
    let x = (x & 0xffff) + (x >> 16);
    (x & 0xffff) + (x >> 16)
}

/// `bpf_csum_diff(from, from_size, to, to_size, seed)` as in kernels since 6.12: the sum
/// of `to` minus the sum of `from`, seeded, folded to 16 bits.
pub fn csum_diff(from: &[u8], to: &[u8], seed: u32) -> u32 {
    let ret = match (from.is_empty(), to.is_empty()) {
        (false, false) => add32(csum_partial(to, seed), !csum_partial(from, 0)),
        (true, false) => csum_partial(to, seed),
        (false, true) => !csum_partial(from, !seed),
        (true, true) => seed,
    };
    from32to16(ret)
}

/// The `bpf_csum_diff` helper.
pub(crate) unsafe extern "C" fn csum_diff_helper(
    from: u64,
    from_size: u64,
    to: u64,
    to_size: u64,
    seed: u64,
) -> u64 {
    // Sizes need not be multiples of 4 since the kernel dropped its scratch buffer (6.12).
    let (from_size, to_size) = (u64::from(from_size as u32), u64::from(to_size as u32));
    // SAFETY: program memory read as bytes.
    let (Some(f), Some(t)) = (unsafe { bytes(from, from_size) }, unsafe {
        bytes(to, to_size)
    }) else {
        return err(libc::EFAULT);
    };
    u64::from(csum_diff(f, t, seed as u32))
}

/// `bpf_loop(nr_loops, callback, ctx, flags)`.
pub(crate) unsafe extern "C" fn bpf_loop(
    nr_loops: u64,
    callback: u64,
    ctx: u64,
    flags: u64,
    _: u64,
) -> u64 {
    if flags != 0 {
        return err(libc::EINVAL);
    }
    let n = u64::from(nr_loops as u32);
    if n > MAX_LOOPS {
        return err(libc::E2BIG);
    }
    for i in 0..n {
        match env::call_back(callback, [i, ctx, 0, 0, 0]) {
            Some(0) => {}
            Some(_) => return i + 1,
            None => return err(libc::EINVAL),
        }
    }
    n
}

/// `bpf_ktime_get_coarse_ns`.
pub(crate) unsafe extern "C" fn ktime_get_coarse_ns(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC_COARSE)
}

/// `bpf_jiffies64`: ticks of `HZ` since boot, from the kernel's starting value.
pub(crate) unsafe extern "C" fn jiffies64(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    INITIAL_JIFFIES.wrapping_add(clock_ns(libc::CLOCK_BOOTTIME) / (1_000_000_000 / HZ))
}

/// `bpf_get_numa_node_id`: the NUMA node of the CPU the thread runs on.
pub(crate) unsafe extern "C" fn get_numa_node_id(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    let (mut cpu, mut node) = (0u32, 0u32);
    // SAFETY: getcpu writes two u32s through valid pointers.
    let rc = unsafe { libc::syscall(libc::SYS_getcpu, &mut cpu, &mut node, 0usize) };
    if rc == 0 { u64::from(node) } else { 0 }
}

/// `bpf_trace_printk(fmt, fmt_size, arg1, arg2, arg3)`: formats like the kernel and keeps
/// the line in the run's trace (printed by `uxdp test-run`, logged by workers); returns
/// the formatted length.
pub(crate) unsafe extern "C" fn trace_printk(
    fmt: u64,
    fmt_size: u64,
    a1: u64,
    a2: u64,
    a3: u64,
) -> u64 {
    // SAFETY: program memory read as bytes.
    let Some(f) = (unsafe { bytes(fmt, u64::from(fmt_size as u32)) }) else {
        return err(libc::EFAULT);
    };
    let Some(nul) = f.iter().position(|&b| b == 0) else {
        return err(libc::EINVAL);
    };
    match format(&f[..nul], [a1, a2, a3]) {
        Ok(line) => {
            let len = line.len() as u64;
            ENV.with(|e| e.trace.borrow_mut().push(line));
            len
        }
        Err(()) => err(libc::EINVAL),
    }
}

/// The kernel's `bpf_bprintf_prepare` + `bstr_printf` for the conversions BPF programs may
/// use: `%d %i %u %x %X %c %s %p %%` with flags `-+ 0#`, a width, and `l`/`ll`/`h`/`hh`.
fn format(fmt: &[u8], args: [u64; 3]) -> Result<String, ()> {
    let mut out = String::new();
    let mut next = args.into_iter();
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            out.push(char::from(c));
            continue;
        }
        if fmt.get(i) == Some(&b'%') {
            out.push('%');
            i += 1;
            continue;
        }
        let mut left = false;
        let mut zero = false;
        let mut plus = false;
        let mut space = false;
        let mut alt = false;
        while let Some(&f) = fmt.get(i) {
            match f {
                b'-' => left = true,
                b'0' => zero = true,
                b'+' => plus = true,
                b' ' => space = true,
                b'#' => alt = true,
                _ => break,
            }
            i += 1;
        }
        let mut width = 0usize;
        while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
            width = width * 10 + usize::from(d - b'0');
            i += 1;
        }
        let mut bits = 32;
        while let Some(&m) = fmt.get(i) {
            match m {
                b'l' => bits = 64,
                b'h' => bits = if bits == 16 { 8 } else { 16 },
                _ => break,
            }
            i += 1;
        }
        let conv = *fmt.get(i).ok_or(())?;
        i += 1;
        let arg = next.next().ok_or(())?;
        let truncated = match bits {
            8 => arg & 0xff,
            16 => arg & 0xffff,
            32 => arg & 0xffff_ffff,
            _ => arg,
        };
        let signed = || match bits {
            8 => i64::from(arg as i8),
            16 => i64::from(arg as i16),
            32 => i64::from(arg as i32),
            _ => arg as i64,
        };
        let (sign, body) = match conv {
            b'd' | b'i' => {
                let v = signed();
                let sign = if v < 0 {
                    "-"
                } else if plus {
                    "+"
                } else if space {
                    " "
                } else {
                    ""
                };
                (sign, v.unsigned_abs().to_string())
            }
            b'u' => ("", truncated.to_string()),
            b'x' => (
                if alt && truncated != 0 { "0x" } else { "" },
                format!("{truncated:x}"),
            ),
            b'X' => (
                if alt && truncated != 0 { "0X" } else { "" },
                format!("{truncated:X}"),
            ),
            b'c' => ("", char::from(arg as u8).to_string()),
            b'p' => ("", format!("0x{arg:x}")),
            b's' => ("", read_str(arg)),
            _ => return Err(()),
        };
        let len = sign.len() + body.len();
        let pad = width.saturating_sub(len);
        if left {
            out.push_str(sign);
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', pad));
        } else if zero && !matches!(conv, b's' | b'c') {
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', pad));
            out.push_str(&body);
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(sign);
            out.push_str(&body);
        }
    }
    Ok(out)
}

/// A NUL-terminated string the program may read, up to 64 bytes (`%s`).
fn read_str(addr: u64) -> String {
    let mut s = Vec::new();
    for i in 0..64 {
        // SAFETY: one byte of program memory, checked.
        match unsafe { bytes(addr.wrapping_add(i), 1) } {
            Some(&[0]) | None => break,
            Some(b) => s.push(b[0]),
        }
    }
    String::from_utf8_lossy(&s).into_owned()
}

/// `BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP`: the only flags ring buffer output and submit
/// take (wakeups mean nothing to a polling consumer).
const RB_FLAGS: u64 = 3;

/// `bpf_ringbuf_output(map, data, size, flags)`.
pub(crate) unsafe extern "C" fn ringbuf_output(
    map: u64,
    data: u64,
    size: u64,
    flags: u64,
    _: u64,
) -> u64 {
    if flags & !RB_FLAGS != 0 {
        return err(libc::EINVAL);
    }
    let Some(m) = env::map(map) else {
        return err(libc::EINVAL);
    };
    // SAFETY: program memory read as bytes.
    let Some(d) = (unsafe { bytes(data, size) }) else {
        return err(libc::EFAULT);
    };
    match m.ringbuf_output(d) {
        Ok(()) => 0,
        Err(_) => err(libc::EAGAIN),
    }
}

/// `bpf_ringbuf_reserve(map, size, flags)`: a record's data, or 0.
pub(crate) unsafe extern "C" fn ringbuf_reserve(
    map: u64,
    size: u64,
    flags: u64,
    _: u64,
    _: u64,
) -> u64 {
    if flags != 0 {
        return 0;
    }
    let Some(m) = env::map(map) else { return 0 };
    let Some(p) = m.ringbuf_reserve(size) else {
        return 0;
    };
    let addr = p.as_ptr() as u64;
    ENV.with(|e| e.reservations.borrow_mut().push((addr, m)));
    addr
}

fn commit(sample: u64, discard: bool) -> u64 {
    let found = ENV.with(|e| {
        let mut r = e.reservations.borrow_mut();
        let i = r.iter().position(|(a, _)| *a == sample)?;
        Some(r.swap_remove(i))
    });
    if let Some((addr, map)) = found
        && let Some(p) = std::ptr::NonNull::new(addr as *mut u8)
    {
        // SAFETY: `addr` came from `ringbuf_reserve` on `map` and is committed once: it
        // was just removed from the run's outstanding reservations.
        unsafe { map.ringbuf_commit(p, discard) };
    }
    0
}

/// `bpf_ringbuf_submit(data, flags)`.
pub(crate) unsafe extern "C" fn ringbuf_submit(
    data: u64,
    _flags: u64,
    _: u64,
    _: u64,
    _: u64,
) -> u64 {
    commit(data, false)
}

/// `bpf_ringbuf_discard(data, flags)`.
pub(crate) unsafe extern "C" fn ringbuf_discard(
    data: u64,
    _flags: u64,
    _: u64,
    _: u64,
    _: u64,
) -> u64 {
    commit(data, true)
}

/// `bpf_ringbuf_query(map, flags)`.
pub(crate) unsafe extern "C" fn ringbuf_query(map: u64, flags: u64, _: u64, _: u64, _: u64) -> u64 {
    env::map(map).map_or(0, |m| m.ringbuf_query(flags))
}

/// `BPF_F_INDEX_MASK`, which is also `BPF_F_CURRENT_CPU`.
const F_INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CTXLEN_MASK`: packet bytes to append to the sample.
const F_CTXLEN_MASK: u64 = 0xf_ffff << 32;

/// `bpf_perf_event_output(ctx, map, flags, data, size)`. A perf event array slot holds a
/// perf event that a reader opened in its own process: the event's buffer is the
/// kernel's, where uxdp cannot write a sample. So an empty slot is `-ENOENT`, as in the
/// kernel, and a filled one `-EOPNOTSUPP` (the kernel's answer for an event it cannot
/// write to); programs whose events matter use a ring buffer, which uxdp delivers.
pub(crate) unsafe extern "C" fn perf_event_output(
    ctx: u64,
    map: u64,
    flags: u64,
    data: u64,
    size: u64,
) -> u64 {
    if flags & !(F_INDEX_MASK | F_CTXLEN_MASK) != 0 {
        return err(libc::EINVAL);
    }
    let Some(b) = env::buff(ctx) else {
        return err(libc::EINVAL);
    };
    let Some(m) = env::map(map) else {
        return err(libc::EINVAL);
    };
    // SAFETY: the run's context.
    let packet_len = unsafe { (*b).data_end - (*b).data };
    // SAFETY: program memory, only checked here.
    if unsafe { bytes(data, size) }.is_none() || (flags & F_CTXLEN_MASK) >> 32 > packet_len {
        return err(libc::EFAULT);
    }
    let mut index = flags & F_INDEX_MASK;
    if index == F_INDEX_MASK {
        index = u64::from(ENV.with(|e| e.cpu.get()));
    }
    if index >= u64::from(m.def().max_entries) {
        return err(libc::E2BIG);
    }
    let key = (index as u32).to_ne_bytes();
    let cpu = ENV.with(|e| e.cpu.get());
    if m.lookup_ptr(&key, cpu).is_some() {
        return err(libc::EOPNOTSUPP);
    }
    err(libc::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csum_diff_matches_the_kernel_selftest_figure() {
        // Pushing 0xdeadbeefdeadbeef with seed 0 gives 0x3b3b in the kernel's own test.
        let to = 0xdead_beef_dead_beefu64.to_le_bytes();
        assert_eq!(csum_diff(&[], &to, 0), 0x3b3b);
        // Diffing equal data gives negative zero.
        assert_eq!(csum_diff(&to, &to, 0), 0xffff);
        // Odd sizes: 3 bytes of 10.0.0.2 out, 192.168.0.1 in, as the 6.18 kernel answers.
        assert_eq!(csum_diff(&[10, 0, 0], &[192, 168, 0, 1], 0), 0xa9b6);
    }

    #[test]
    fn printk_formats_like_the_kernel() {
        let f = |s: &str, a: [u64; 3]| format(s.as_bytes(), a).unwrap();
        assert_eq!(
            f("n=%d u=%u x=%x", [(-5i64) as u64, 7, 255]),
            "n=-5 u=7 x=ff"
        );
        assert_eq!(f("%5d|%-4u|%08x", [42, 1, 0xbeef]), "   42|1   |0000beef");
        assert_eq!(
            f("%lld %llx %%", [u64::MAX, 1 << 40, 0]),
            "-1 10000000000 %"
        );
        assert_eq!(f("%d", [0xffff_ffff, 0, 0]), "-1");
        assert!(format(b"%d %d %d %d", [0; 3]).is_err(), "four arguments");
        assert!(format(b"%q", [0; 3]).is_err());
    }

    #[test]
    fn jiffies_start_where_the_kernels_do() {
        assert_eq!(INITIAL_JIFFIES, 0xfffe_db08);
    }
}
