//! Map helpers: lookup, update, delete, push/pop/peek, `bpf_for_each_map_elem`, and the
//! spin lock of a map value.
//!
//! Every pointer argument is checked against what the running program may access before it
//! is read or written; a bad one gets `-EFAULT` (the kernel's verifier would not have let
//! the program load, so no correct program sees it). Map arguments are `MAP_BASE + id`.

use std::sync::atomic::AtomicU32;

use uxdp_maps::{Map, MapError, MapType};

use super::env::{self, ENV, SCRATCH, bytes, bytes_mut, err};
use crate::xdp::MAP_BASE;

fn errno(e: &MapError) -> u64 {
    err(e.errno())
}

/// The key of `map` at `key`, checked.
fn key<'a>(map: &Map, key: u64) -> Option<&'a [u8]> {
    // SAFETY: program memory read as bytes (see `env::bytes`).
    unsafe { bytes(key, u64::from(map.def().key_size)) }
}

/// `bpf_map_lookup_elem(map, key)`: a pointer to the value, or 0. For maps of maps the
/// "value" is the inner map (`MAP_BASE + id`).
pub(crate) unsafe extern "C" fn lookup(map: u64, key_ptr: u64, _: u64, _: u64, _: u64) -> u64 {
    let Some(m) = env::map(map) else { return 0 };
    let Some(k) = key(&m, key_ptr) else { return 0 };
    lookup_in(&m, k, ENV.with(|e| e.cpu.get()))
}

/// What `bpf_map_lookup_elem` returns for key `k` of `m` on CPU slot `cpu`.
pub(crate) fn lookup_in(m: &Map, k: &[u8], cpu: u32) -> u64 {
    let Some(p) = m.lookup_ptr(k, cpu) else {
        return 0;
    };
    match m.def().map_type {
        MapType::ArrayOfMaps | MapType::HashOfMaps => {
            // SAFETY: the value of a map of maps is a 4-byte inner map id, aligned.
            let id = unsafe {
                (*p.as_ptr().cast::<AtomicU32>()).load(std::sync::atomic::Ordering::Acquire)
            };
            if id == 0 { 0 } else { MAP_BASE + u64::from(id) }
        }
        _ => p.as_ptr() as u64,
    }
}

/// `bpf_map_update_elem(map, key, value, flags)`.
pub(crate) unsafe extern "C" fn update(
    map: u64,
    key_ptr: u64,
    value: u64,
    flags: u64,
    _: u64,
) -> u64 {
    let Some(m) = env::map(map) else {
        return err(libc::EINVAL);
    };
    let (Some(k), Some(v)) = (key(&m, key_ptr), {
        // SAFETY: program memory read as bytes.
        unsafe { bytes(value, u64::from(m.def().value_size)) }
    }) else {
        return err(libc::EFAULT);
    };
    update_in(&m, k, v, flags, ENV.with(|e| e.cpu.get()))
}

/// What `bpf_map_update_elem` returns for `k` and `v` of `m` on CPU slot `cpu`.
pub(crate) fn update_in(m: &Map, k: &[u8], v: &[u8], flags: u64, cpu: u32) -> u64 {
    match m.update_from_program(k, v, flags, cpu) {
        Ok(()) => 0,
        Err(e) => errno(&e),
    }
}

/// `bpf_map_delete_elem(map, key)`.
pub(crate) unsafe extern "C" fn delete(map: u64, key_ptr: u64, _: u64, _: u64, _: u64) -> u64 {
    let Some(m) = env::map(map) else {
        return err(libc::EINVAL);
    };
    let Some(k) = key(&m, key_ptr) else {
        return err(libc::EFAULT);
    };
    delete_in(&m, k)
}

/// What `bpf_map_delete_elem` returns for `k` of `m`.
pub(crate) fn delete_in(m: &Map, k: &[u8]) -> u64 {
    match m.delete_from_program(k) {
        Ok(()) => 0,
        Err(e) => errno(&e),
    }
}

/// `bpf_map_push_elem(map, value, flags)` (queues, stacks, bloom filters).
pub(crate) unsafe extern "C" fn push(map: u64, value: u64, flags: u64, _: u64, _: u64) -> u64 {
    let Some(m) = env::map(map) else {
        return err(libc::EINVAL);
    };
    // SAFETY: program memory read as bytes.
    let Some(v) = (unsafe { bytes(value, u64::from(m.def().value_size)) }) else {
        return err(libc::EFAULT);
    };
    match m.push(v, flags) {
        Ok(()) => 0,
        Err(e) => errno(&e),
    }
}

/// `bpf_map_pop_elem(map, value)` and `bpf_map_peek_elem(map, value)`; for a bloom filter
/// peek tests `value`.
fn take(map: u64, value: u64, pop: bool) -> u64 {
    let Some(m) = env::map(map) else {
        return err(libc::EINVAL);
    };
    let size = u64::from(m.def().value_size);
    let bloom = m.def().map_type == MapType::BloomFilter;
    // A bloom filter only reads the value it tests.
    let v = if bloom {
        // SAFETY: program memory; `peek` does not write a bloom filter's value.
        unsafe {
            bytes(value, size)
                .map(|b| std::slice::from_raw_parts_mut(b.as_ptr().cast_mut(), b.len()))
        }
    } else {
        // SAFETY: program memory written as bytes.
        unsafe { bytes_mut(value, size) }
    };
    let Some(v) = v else {
        return err(libc::EFAULT);
    };
    let r = if pop { m.pop(v) } else { m.peek(v) };
    match r {
        Ok(()) => 0,
        Err(e) => errno(&e),
    }
}

/// `bpf_map_pop_elem`.
pub(crate) unsafe extern "C" fn pop(map: u64, value: u64, _: u64, _: u64, _: u64) -> u64 {
    take(map, value, true)
}

/// `bpf_map_peek_elem`.
pub(crate) unsafe extern "C" fn peek(map: u64, value: u64, _: u64, _: u64, _: u64) -> u64 {
    take(map, value, false)
}

/// `bpf_for_each_map_elem(map, callback, ctx, flags)`: calls `callback(map, &key, &value,
/// ctx)` for each element of an array or hash map until it returns non-zero; returns how many
/// elements it was called for.
pub(crate) unsafe extern "C" fn for_each(
    map: u64,
    callback: u64,
    ctx: u64,
    flags: u64,
    _: u64,
) -> u64 {
    if flags != 0 {
        return err(libc::EINVAL);
    }
    let Some(m) = env::map(map) else {
        return err(libc::EINVAL);
    };
    let cpu = ENV.with(|e| e.cpu.get());
    let key_size = m.def().key_size as usize;
    if key_size > SCRATCH {
        return err(libc::E2BIG);
    }
    let scratch = ENV.with(|e| e.scratch.get()).cast::<u8>();
    let mut calls = 0u64;
    let mut call = |k: &[u8], key_addr: u64| -> Option<bool> {
        let value = m.lookup_ptr(k, cpu)?;
        calls += 1;
        let args = [map, key_addr, value.as_ptr() as u64, ctx, 0];
        Some(env::call_back(callback, args).is_none_or(|r0| r0 != 0))
    };
    match m.def().map_type {
        MapType::Array | MapType::PercpuArray => {
            for i in 0..m.def().max_entries {
                // SAFETY: the scratch area is this thread's, SCRATCH >= 4 bytes, and the
                // program only reads it.
                unsafe { scratch.cast::<u32>().write_unaligned(i) };
                if call(&i.to_ne_bytes(), scratch as u64) == Some(true) {
                    break;
                }
            }
        }
        MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
            let mut cur: Option<Vec<u8>> = None;
            let mut next = vec![0u8; key_size];
            while m.next_key(cur.as_deref(), &mut next).is_ok() {
                // SAFETY: as above; key_size <= SCRATCH was checked.
                unsafe { std::ptr::copy_nonoverlapping(next.as_ptr(), scratch, key_size) };
                if call(&next, scratch as u64) == Some(true) {
                    break;
                }
                cur = Some(next.clone());
            }
        }
        _ => return err(libc::EINVAL),
    }
    calls
}

/// The lock word at `lock`, if the program may write it and it is aligned.
fn lock_word<'a>(lock: u64) -> Option<&'a AtomicU32> {
    let p = env::mem(lock, 4, true)?;
    if !(p as usize).is_multiple_of(4) {
        return None;
    }
    // SAFETY: 4 writable, aligned bytes of program memory (a map value's lock field),
    // accessed only atomically by lock holders.
    Some(unsafe { AtomicU32::from_ptr(p.cast()) })
}

/// `bpf_spin_lock(lock)`.
pub(crate) unsafe extern "C" fn spin_lock(lock: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    if let Some(w) = lock_word(lock) {
        uxdp_maps::spin_lock(w);
    }
    0
}

/// `bpf_spin_unlock(lock)`.
pub(crate) unsafe extern "C" fn spin_unlock(lock: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    if let Some(w) = lock_word(lock) {
        uxdp_maps::spin_unlock(w);
    }
    0
}
