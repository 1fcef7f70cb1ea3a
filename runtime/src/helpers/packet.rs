//! Packet and forwarding helpers: adjust head/meta/tail, buffer length, load/store bytes,
//! redirect, redirect_map and tail calls. Semantics and errors follow the
//! kernel's `net/core/filter.c`, for linear and multi-buffer (fragmented) packets.

use std::sync::Arc;

use uxdp_maps::MapType;

use super::env::{self, ENV, Redirect, err};
use crate::xdp::action;
use crate::xdp::ctx::XdpBuff;
use crate::xdp::packet::{FRAG_SIZE, Frag};

/// Bytes at the start of the headroom the kernel keeps for its `struct xdp_frame`:
/// `bpf_xdp_adjust_head` and `_meta` never move data or metadata into them.
pub const XDP_FRAME_SIZE: u64 = 40;
/// The least a packet may shrink to (`ETH_HLEN`).
const ETH_HLEN: u64 = 14;
/// Largest metadata (`skb_shared_info.meta_len` is a `u8`).
const META_MAX: u64 = 255;
/// `MAX_TAIL_CALL_CNT`.
pub const MAX_TAIL_CALLS: u32 = 33;

/// `BPF_F_BROADCAST`.
pub(crate) const F_BROADCAST: u64 = 1 << 3;
/// `BPF_F_EXCLUDE_INGRESS`.
pub(crate) const F_EXCLUDE_INGRESS: u64 = 1 << 4;

fn with_buff(ctx: u64, f: impl FnOnce(&mut XdpBuff) -> u64) -> u64 {
    match env::buff(ctx) {
        // SAFETY: `buff` returns the current run's context, alive and not otherwise
        // borrowed while a helper runs (the program reads it only through loads).
        Some(b) => f(unsafe { &mut *b }),
        None => err(libc::EINVAL),
    }
}

/// `bpf_xdp_adjust_head(ctx, delta)`.
pub(crate) unsafe extern "C" fn adjust_head(ctx: u64, delta: u64, _: u64, _: u64, _: u64) -> u64 {
    with_buff(ctx, |b| adjust_head_in(b, delta))
}

/// `bpf_xdp_adjust_head` on the packet of `b`.
pub(crate) fn adjust_head_in(b: &mut XdpBuff, delta: u64) -> u64 {
    let delta = i64::from(delta as i32);
    let metalen = b.data - b.data_meta;
    let data = b.data.wrapping_add_signed(delta);
    let lowest = b.data_hard_start + XDP_FRAME_SIZE + metalen;
    if data < lowest || data > b.data_end - ETH_HLEN {
        return err(libc::EINVAL);
    }
    if metalen > 0 {
        // SAFETY: both ranges lie in the frame: the new metadata starts at or after
        // `data_hard_start + XDP_FRAME_SIZE` and ends before `data_end`.
        unsafe {
            std::ptr::copy(
                b.data_meta as *const u8,
                b.data_meta.wrapping_add_signed(delta) as *mut u8,
                metalen as usize,
            );
        }
    }
    b.data_meta = b.data_meta.wrapping_add_signed(delta);
    b.data = data;
    0
}

/// `bpf_xdp_adjust_meta(ctx, delta)`.
pub(crate) unsafe extern "C" fn adjust_meta(ctx: u64, delta: u64, _: u64, _: u64, _: u64) -> u64 {
    with_buff(ctx, |b| adjust_meta_in(b, delta))
}

/// `bpf_xdp_adjust_meta` on the packet of `b`.
pub(crate) fn adjust_meta_in(b: &mut XdpBuff, delta: u64) -> u64 {
    let meta = b.data_meta.wrapping_add_signed(i64::from(delta as i32));
    if meta < b.data_hard_start + XDP_FRAME_SIZE || meta > b.data {
        return err(libc::EINVAL);
    }
    let metalen = b.data - meta;
    if !metalen.is_multiple_of(4) || metalen > META_MAX {
        return err(libc::EACCES);
    }
    b.data_meta = meta;
    0
}

/// The current packet's fragments (an empty list outside a run).
fn with_frags<R>(f: impl FnOnce(&mut Vec<Frag>) -> R) -> R {
    // SAFETY: used only inside one helper call, never twice at once.
    match unsafe { env::frags() } {
        Some(frags) => f(frags),
        None => f(&mut Vec::new()),
    }
}

fn frags_len(frags: &[Frag]) -> u64 {
    frags.iter().map(|f| f.len as u64).sum()
}

/// `bpf_xdp_adjust_tail(ctx, delta)`: grown bytes are zeroed. A multi-buffer packet grows
/// its last fragment (within its page) and shrinks from the last fragment backwards,
/// freeing emptied fragments, then the linear part.
pub(crate) unsafe extern "C" fn adjust_tail(ctx: u64, delta: u64, _: u64, _: u64, _: u64) -> u64 {
    with_buff(ctx, |b| {
        let delta = i64::from(delta as i32);
        with_frags(|frags| {
            if frags.is_empty() {
                return adjust_linear_tail(b, delta);
            }
            if delta >= 0 {
                let last = frags.last_mut().expect("non-empty");
                if delta as usize > FRAG_SIZE - last.len {
                    return err(libc::EINVAL);
                }
                last.page[last.len..last.len + delta as usize].fill(0);
                last.len += delta as usize;
                return 0;
            }
            let mut shrink = delta.unsigned_abs();
            let total = b.data_end - b.data + frags_len(frags);
            if shrink > total.saturating_sub(ETH_HLEN) {
                return err(libc::EINVAL);
            }
            while let Some(last) = frags.last_mut() {
                if shrink == 0 {
                    break;
                }
                let cut = shrink.min(last.len as u64);
                last.len -= cut as usize;
                shrink -= cut;
                if last.len == 0 {
                    frags.pop();
                }
            }
            b.data_end -= shrink;
            0
        })
    })
}

fn adjust_linear_tail(b: &mut XdpBuff, delta: i64) -> u64 {
    let end = b.data_end.wrapping_add_signed(delta);
    if end > b.data_hard_end || end < b.data + ETH_HLEN {
        return err(libc::EINVAL);
    }
    if delta > 0 {
        // SAFETY: `data_end..end` lies inside the frame (end <= data_hard_end).
        unsafe { std::ptr::write_bytes(b.data_end as *mut u8, 0, delta as usize) };
    }
    b.data_end = end;
    0
}

/// `bpf_xdp_get_buff_len(ctx)`: the linear part and every fragment.
pub(crate) unsafe extern "C" fn get_buff_len(ctx: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    with_buff(ctx, |b| b.data_end - b.data + with_frags(|f| frags_len(f)))
}

/// Copies `len` bytes between packet offset `offset` (counted across the linear part and
/// the fragments) and program memory `buf`: into the packet when `store`, out of it
/// otherwise.
fn copy_packet(ctx: u64, offset: u64, buf: u64, len: u64, store: bool) -> u64 {
    with_buff(ctx, |b| {
        with_frags(|frags| {
            let (offset, len) = (u64::from(offset as u32), u64::from(len as u32));
            if offset > 0xffff || len > 0xffff {
                return err(libc::EFAULT);
            }
            let linear = b.data_end - b.data;
            if offset + len > linear + frags_len(frags) {
                return err(libc::EINVAL);
            }
            let Some(other) = env::mem(buf, len, !store) else {
                return err(libc::EFAULT);
            };
            // The packet as segments: the linear part, then each fragment.
            let segments = std::iter::once((b.data as *mut u8, linear)).chain(
                frags
                    .iter_mut()
                    .map(|f| (f.page.as_mut_ptr(), f.len as u64)),
            );
            let (mut at, mut done) = (offset, 0u64);
            for (base, seg_len) in segments {
                if done == len {
                    break;
                }
                if at >= seg_len {
                    at -= seg_len;
                    continue;
                }
                let n = (seg_len - at).min(len - done);
                // SAFETY: `at + n` lies within this segment (the linear packet in the
                // frame, or a fragment's filled bytes); `other + done .. + n` within the
                // `len` bytes checked above; the two may overlap, hence `copy`.
                unsafe {
                    let packet = base.add(at as usize);
                    let mem = other.add(done as usize);
                    if store {
                        std::ptr::copy(mem, packet, n as usize);
                    } else {
                        std::ptr::copy(packet, mem, n as usize);
                    }
                }
                done += n;
                at = 0;
            }
            0
        })
    })
}

/// `bpf_xdp_load_bytes(ctx, offset, buf, len)`.
pub(crate) unsafe extern "C" fn load_bytes(
    ctx: u64,
    offset: u64,
    buf: u64,
    len: u64,
    _: u64,
) -> u64 {
    copy_packet(ctx, offset, buf, len, false)
}

/// `bpf_xdp_store_bytes(ctx, offset, buf, len)`.
pub(crate) unsafe extern "C" fn store_bytes(
    ctx: u64,
    offset: u64,
    buf: u64,
    len: u64,
    _: u64,
) -> u64 {
    copy_packet(ctx, offset, buf, len, true)
}

/// `bpf_redirect(ifindex, flags)`.
pub(crate) unsafe extern "C" fn redirect(ifindex: u64, flags: u64, _: u64, _: u64, _: u64) -> u64 {
    if flags != 0 {
        return u64::from(action::ABORTED);
    }
    ENV.with(|e| e.redirect.set(Some(Redirect::Ifindex(ifindex as u32))));
    u64::from(action::REDIRECT)
}

/// `bpf_redirect_map(map, key, flags)`: the low two bits of `flags` are the action when
/// the key is absent.
pub(crate) unsafe extern "C" fn redirect_map(
    map: u64,
    key: u64,
    flags: u64,
    _: u64,
    _: u64,
) -> u64 {
    let Some(m) = env::map(map) else {
        return u64::from(action::ABORTED);
    };
    let actions = 3u64;
    let allowed = match m.def().map_type {
        MapType::Devmap | MapType::DevmapHash => F_BROADCAST | F_EXCLUDE_INGRESS,
        MapType::Cpumap | MapType::Xskmap => 0,
        _ => return u64::from(action::ABORTED),
    };
    if flags & !(actions | allowed) != 0 {
        return u64::from(action::ABORTED);
    }
    let key = key as u32;
    let cpu = ENV.with(|e| e.cpu.get());
    let k = key.to_ne_bytes();
    let found = m.lookup_ptr(&k[..m.def().key_size as usize], cpu).is_some();
    if !found && flags & F_BROADCAST == 0 {
        ENV.with(|e| e.redirect.set(None));
        return flags & actions;
    }
    let broadcast = flags & (F_BROADCAST | F_EXCLUDE_INGRESS);
    ENV.with(|e| {
        e.redirect.set(Some(Redirect::Map {
            map_id: m.id(),
            key,
            flags: if flags & F_BROADCAST != 0 {
                broadcast
            } else {
                0
            },
        }));
    });
    u64::from(action::REDIRECT)
}

/// `bpf_tail_call(ctx, prog_array, index)`: runs the program in slot `index` in place of
/// the caller, which then ends with its result; falls through when the slot is empty, the
/// index out of range or 33 tail calls were already taken.
pub(crate) unsafe extern "C" fn tail_call(ctx: u64, map: u64, index: u64, _: u64, _: u64) -> u64 {
    let Some(buff) = env::buff(ctx) else {
        return err(libc::EINVAL);
    };
    let Some(m) = env::map(map) else {
        return err(libc::EINVAL);
    };
    if m.def().map_type != MapType::ProgArray {
        return err(libc::EINVAL);
    }
    let index = index as u32;
    if index >= m.def().max_entries {
        return err(libc::E2BIG);
    }
    let count = ENV.with(|e| e.tail_calls.get());
    if count >= MAX_TAIL_CALLS {
        return err(libc::E2BIG);
    }
    // The kernel counts the attempt before it looks at the slot.
    ENV.with(|e| e.tail_calls.set(count + 1));
    let mut id = [0u8; 4];
    if m.lookup(&index.to_ne_bytes(), &mut id, 0).is_err() {
        return err(libc::ENOENT);
    }
    // A program from the store (a control plane's, through the shim) names programs by
    // store id; one loaded from an object by the registry's own ids.
    let id = u32::from_ne_bytes(id);
    let Some((registry, stored)) =
        env::current_prog(|p| (Arc::clone(p.registry()), p.stored_id().is_some()))
    else {
        return err(libc::ENOENT);
    };
    let target = if stored {
        registry.stored_program(id).ok()
    } else {
        registry.program(id)
    };
    let Some(target) = target else {
        return err(libc::ENOENT);
    };
    uxdp_jit::interp::end_function(target.run_tail(buff));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-byte packet after the 256 bytes of headroom a kernel test run gives.
    fn buff() -> XdpBuff {
        let start = 0x1_0000;
        XdpBuff {
            data_hard_start: start,
            data_meta: start + 256,
            data: start + 256,
            data_end: start + 320,
            data_hard_end: start + 4096,
            ..XdpBuff::default()
        }
    }

    /// `delta` as a program passes it (an `int` in a 64-bit register).
    fn delta(d: i32) -> u64 {
        i64::from(d) as u64
    }

    /// The kernel's rules (net/core/filter.c): the metadata stays between the frame
    /// header and the packet (`EINVAL`), in whole 4-byte words (`EACCES`); a refusal
    /// changes nothing. Checked here without the kernel, which some kernels refuse the
    /// helper to (the corpus compares it with the kernel where it can).
    #[test]
    fn metadata_grows_in_words_within_the_headroom() {
        let mut b = buff();
        assert_eq!(adjust_meta_in(&mut b, delta(-8)), 0);
        assert_eq!(b.data - b.data_meta, 8);
        assert_eq!(adjust_meta_in(&mut b, delta(-300)), err(libc::EINVAL));
        assert_eq!(adjust_meta_in(&mut b, delta(-2)), err(libc::EACCES));
        assert_eq!(
            adjust_meta_in(&mut b, delta(12)),
            err(libc::EINVAL),
            "past data"
        );
        assert_eq!(b.data - b.data_meta, 8, "refusals leave it");
        // As far as the frame header allows: 256 - 40 bytes, a whole number of words.
        assert_eq!(adjust_meta_in(&mut b, delta(-208)), 0);
        assert_eq!(b.data - b.data_meta, 216);
        assert_eq!(b.data_meta, b.data_hard_start + XDP_FRAME_SIZE);
        assert_eq!(adjust_meta_in(&mut b, delta(-4)), err(libc::EINVAL));
        assert_eq!(adjust_meta_in(&mut b, delta(216)), 0, "and back to none");
        assert_eq!(b.data_meta, b.data);
    }
}
