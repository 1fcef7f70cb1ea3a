//! `BPF_PROG_TEST_RUN` for XDP programs: the stored program made runnable in this process
//! (compiled once), run on the caller's packet as the kernel's test run does, with the
//! kernel's context (`struct xdp_md`) in and out.
//!
//! Attributes: prog_fd 0, retval 4 (out), data_size_in 8, data_size_out 12 (in: room;
//! out: bytes), data_in 16, data_out 24, repeat 32, duration 36 (out), ctx_size_in 40,
//! ctx_size_out 44, ctx_in 48, ctx_out 56, flags 64, cpu 68.

use std::sync::{Arc, OnceLock};

use uxdp::xdp::packet::Packet;
use uxdp::xdp::{Registry, RxInfo, XdpProgram};

use crate::attr::{Attr, Errno, copy_in, copy_out};
use crate::commands::store;
use crate::fds::{self, Object};
use crate::refusal::{refuse, store_error};

const PROG_TYPE_XDP: u32 = 6;
/// Bytes of `struct xdp_md`: data, data_end, data_meta, ingress_ifindex,
/// rx_queue_index, egress_ifindex.
const XDP_MD: usize = 24;
/// Most metadata a test run takes in front of the packet (`skb_shared_info.meta_len`
/// is a byte; 4-byte aligned).
const MAX_META: u32 = 252;

/// Program `id` made runnable in this process (compiled once, as are the programs it
/// tail-calls).
fn runnable(id: u32) -> Result<Arc<XdpProgram>, Errno> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    let registry =
        REGISTRY.get_or_init(|| Registry::new(Arc::clone(store().expect("opened before"))));
    registry
        .stored_program(id)
        .map_err(|e| refuse(libc::EINVAL, || e))
}

/// The caller's `struct xdp_md` (`ctx_in`, `ctx_size_in`), zeros when none was given;
/// bytes past the structure must be zero (`E2BIG` otherwise), as `bpf_ctx_init` says.
fn context_in(a: &Attr) -> Result<Option<[u32; 6]>, Errno> {
    let (size, at) = (a.u32(40) as usize, a.u64(48));
    if at == 0 {
        return if size == 0 {
            Ok((a.u64(56) != 0).then_some([0; 6]))
        } else {
            Err(libc::EINVAL)
        };
    }
    let bytes = copy_in(at, size.clamp(XDP_MD, 4096))?;
    if bytes[XDP_MD.min(size)..].iter().any(|&b| b != 0) && size > XDP_MD {
        return Err(refuse(libc::E2BIG, || {
            "non-zero bytes past struct xdp_md".into()
        }));
    }
    let mut md = [0u32; 6];
    for (i, w) in md.iter_mut().enumerate() {
        let off = i * 4;
        if off + 4 <= size {
            *w = u32::from_ne_bytes(bytes[off..off + 4].try_into().expect("4 bytes"));
        }
    }
    Ok(Some(md))
}

/// The receive side a context names, with the kernel's checks (`xdp_convert_md_to_buff`):
/// no egress device, a queue only with a device, an existing device and queue.
fn receive_side(md: &[u32; 6]) -> Result<RxInfo, Errno> {
    let [_, _, _, ingress, queue, egress] = *md;
    if egress != 0 || (ingress == 0 && queue != 0) {
        return Err(refuse(libc::EINVAL, || {
            "the context names an egress device, or a queue without a device".into()
        }));
    }
    if ingress == 0 {
        return Ok(RxInfo {
            ifindex: 1,
            ..RxInfo::default()
        });
    }
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: a name buffer of IF_NAMESIZE bytes, as if_indextoname requires.
    if unsafe { libc::if_indextoname(ingress, name.as_mut_ptr()) }.is_null() {
        return Err(libc::ENODEV);
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_string_lossy();
    if queue >= rx_queues(&name) {
        return Err(libc::EINVAL);
    }
    Ok(RxInfo {
        ifindex: ingress,
        rx_queue: queue,
        ..RxInfo::default()
    })
}

/// The receive queues interface `name` has (`real_num_rx_queues`), as sysfs lists them.
fn rx_queues(name: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1)
}

/// `BPF_PROG_TEST_RUN`. The output is the metadata and then the packet, as the kernel's.
pub(crate) fn test_run(a: &Attr) -> Result<i64, Errno> {
    let Object::Prog(id) = fds::object(a.u32(0) as i32)? else {
        return Err(refuse(libc::EINVAL, || {
            format!("fd {} is not a program", a.u32(0))
        }));
    };
    let store = store()?;
    let record = store.program(id).map_err(store_error)?;
    if record.prog_type != PROG_TYPE_XDP {
        return Err(refuse(libc::EINVAL, || {
            format!("uxdp test-runs XDP programs, not type {}", record.prog_type)
        }));
    }
    if a.u32(64) != 0 {
        return Err(refuse(libc::EINVAL, || {
            format!(
                "test run flags {:#x} (live frames, CPU) are not supported",
                a.u32(64)
            )
        }));
    }
    let data = copy_in(a.u64(16), a.u32(8) as usize)?;
    let md = context_in(a)?;
    // Without a context: the whole input is the packet. With one: no bytes before the
    // metadata, the metadata up to `data`, the linear part up to `data_end`, the rest
    // in fragments.
    let (meta, end, rx) = match &md {
        None => (0, data.len(), receive_side(&[0; 6])?),
        Some(md) => {
            let [data_off, end, data_meta, ..] = *md;
            if data_meta != 0
                || end as usize > data.len()
                || data_off > end
                || data_off > MAX_META
                || data_off % 4 != 0
            {
                return Err(libc::EINVAL);
            }
            (data_off as usize, end as usize, receive_side(md)?)
        }
    };
    // The run is on the caller's CPU, as the kernel's is (per-CPU maps, and
    // bpf_get_smp_processor_id, see that CPU's slot).
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = u32::try_from(unsafe { libc::sched_getcpu() }).unwrap_or(0);
    let rx = RxInfo {
        cpu: if cpu < store.n_cpus() { cpu } else { 0 },
        ..rx
    };
    let prog = runnable(id)?;
    let mut packet = Packet::from_test_input(&data, meta, end).map_err(|_| libc::EINVAL)?;
    let repeat = a.u32(32).max(1);
    let start = std::time::Instant::now();
    let mut retval = 0;
    for _ in 0..repeat {
        retval = prog.run(&mut packet, rx).action;
    }
    let total = start.elapsed().as_nanos();
    // Test runs count in the run statistics, as the kernel's do.
    if store.stats_enabled() {
        store.add_program_stats(id, u64::from(repeat), total as u64);
    }
    let mut out = packet.meta().to_vec();
    out.extend(packet.contents());
    let room = a.u32(12) as usize;
    let dst = a.u64(24);
    if dst != 0 {
        copy_out(
            dst,
            &out[..out.len().min(if room == 0 { out.len() } else { room })],
        )?;
    }
    a.write_u32(4, retval)?;
    a.write_u32(12, out.len() as u32)?;
    let per_run = total / u128::from(repeat);
    a.write_u32(36, u32::try_from(per_run).unwrap_or(u32::MAX))?;
    if dst != 0 && room != 0 && out.len() > room {
        return Err(refuse(libc::ENOSPC, || {
            format!("{} output bytes, data_size_out {room}", out.len())
        }));
    }
    if let Some(mut md) = md {
        // The context after the run: where the packet is, relative to its metadata.
        md[0] = packet.meta().len() as u32;
        md[1] = md[0] + packet.data().len() as u32;
        let (room, at) = (a.u32(44) as usize, a.u64(56));
        if at != 0 {
            let bytes: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
            copy_out(at, &bytes[..room.min(XDP_MD)])?;
            a.write_u32(44, XDP_MD as u32)?;
            if room < XDP_MD {
                return Err(refuse(libc::ENOSPC, || {
                    format!("ctx_size_out {room}, struct xdp_md is {XDP_MD} bytes")
                }));
            }
        }
    }
    Ok(0)
}
