//! Direct forms of the helpers that need nothing of the run but their arguments: the JIT
//! calls them without preparing the per-thread run state the other helpers find in
//! [`env`](super::env) ([`DirectHelper`]), which spares a packet whose path calls only these
//! the whole set-up.
//!
//! Only a verified program gets them, so the checks the table's forms make on their
//! arguments were made at load time: map helpers' keys and values are readable for the
//! map's sizes, the packet helpers' first argument is the run's context. Each does exactly
//! what its table form does after those checks (they share the code).

use uxdp_jit::interp::{HelperFn, HelperTable};
use uxdp_jit::native::{DirectFn, DirectHelper};
use uxdp_maps::Map;

use super::ids::{
    KTIME_GET_NS, MAP_DELETE_ELEM, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, XDP_ADJUST_HEAD,
    XDP_ADJUST_META,
};
use super::{base, env, maps, packet};
use crate::xdp::ctx::XdpBuff;
use crate::xdp::{MAP_BASE, Registry};

/// The direct forms of the helpers `table` holds in their uxdp form, for programs of
/// `registry` (which must outlive them).
pub(crate) fn direct_helpers(table: &HelperTable, registry: &Registry) -> Vec<DirectHelper> {
    let env = std::ptr::from_ref(registry) as u64;
    let forms: [(u32, HelperFn, DirectFn); 6] = [
        (MAP_LOOKUP_ELEM, maps::lookup, lookup),
        (MAP_UPDATE_ELEM, maps::update, update),
        (MAP_DELETE_ELEM, maps::delete, delete),
        (XDP_ADJUST_HEAD, packet::adjust_head, adjust_head),
        (XDP_ADJUST_META, packet::adjust_meta, adjust_meta),
        (KTIME_GET_NS, base::ktime_get_ns, ktime_get_ns),
    ];
    forms
        .into_iter()
        .filter(|&(id, form, _)| {
            table
                .get(id)
                .is_some_and(|h| std::ptr::fn_addr_eq(h.func, form))
        })
        .map(|(id, _, func)| DirectHelper { id, func, env })
        .collect()
}

/// The map a program value names (`MAP_BASE + id`).
///
/// # Safety
///
/// `registry` is a live [`Registry`]'s address.
unsafe fn map_named<'a>(registry: u64, value: u64) -> Option<&'a Map> {
    let id = u32::try_from(value.checked_sub(MAP_BASE)?).ok()?;
    // SAFETY: the caller's contract.
    let registry = unsafe { &*(registry as *const Registry) };
    registry.map_ref(id)
}

/// `len` bytes of program memory at `addr`.
///
/// # Safety
///
/// The verifier proved `len` bytes at `addr` readable at the call site; other CPUs may
/// write them concurrently (map values), as in the kernel, and they are read as bytes.
unsafe fn proven<'a>(addr: u64, len: u32) -> &'a [u8] {
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len as usize) }
}

/// `bpf_map_lookup_elem` on a map the call site does not pin (an inner map, or one of
/// several).
unsafe extern "C" fn lookup(registry: u64, map: u64, key: u64, _: u64, _: u64, cpu: u64) -> u64 {
    // SAFETY: `registry` is the one `direct_helpers` was given, alive with the program.
    let Some(m) = (unsafe { map_named(registry, map) }) else {
        return 0;
    };
    // SAFETY: the verifier proved the key readable for this map's key size.
    let k = unsafe { proven(key, m.def().key_size) };
    maps::lookup_in(m, k, cpu as u32)
}

/// `bpf_map_update_elem` on a map the call site does not pin.
unsafe extern "C" fn update(
    registry: u64,
    map: u64,
    key: u64,
    value: u64,
    flags: u64,
    cpu: u64,
) -> u64 {
    // SAFETY: as in `lookup`.
    let Some(m) = (unsafe { map_named(registry, map) }) else {
        return env::err(libc::EINVAL);
    };
    let def = m.def();
    // SAFETY: the verifier proved key and value readable for this map's sizes.
    let (k, v) = unsafe { (proven(key, def.key_size), proven(value, def.value_size)) };
    maps::update_in(m, k, v, flags, cpu as u32)
}

/// `bpf_map_delete_elem` on a map the call site does not pin.
unsafe extern "C" fn delete(registry: u64, map: u64, key: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: as in `lookup`.
    let Some(m) = (unsafe { map_named(registry, map) }) else {
        return env::err(libc::EINVAL);
    };
    // SAFETY: the verifier proved the key readable for this map's key size.
    let k = unsafe { proven(key, m.def().key_size) };
    maps::delete_in(m, k)
}

/// The run's context.
///
/// # Safety
///
/// `ctx` is the context pointer of the running program (the verifier proved the argument
/// is), alive and not otherwise borrowed during the call.
unsafe fn buff<'a>(ctx: u64) -> &'a mut XdpBuff {
    // SAFETY: the caller's contract.
    unsafe { &mut *(ctx as *mut XdpBuff) }
}

/// `bpf_xdp_adjust_head(ctx, delta)`.
unsafe extern "C" fn adjust_head(_: u64, ctx: u64, delta: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the verifier proved `ctx` is the context.
    packet::adjust_head_in(unsafe { buff(ctx) }, delta)
}

/// `bpf_xdp_adjust_meta(ctx, delta)`.
unsafe extern "C" fn adjust_meta(_: u64, ctx: u64, delta: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the verifier proved `ctx` is the context.
    packet::adjust_meta_in(unsafe { buff(ctx) }, delta)
}

/// `bpf_ktime_get_ns()`.
unsafe extern "C" fn ktime_get_ns(_: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    base::clock_ns(libc::CLOCK_MONOTONIC)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use uxdp_maps::{Store, StoreOptions};

    use super::*;
    use crate::helpers::{base_helpers, xdp_helpers};

    fn ids(table: &HelperTable) -> Vec<u32> {
        let path = format!("/dev/shm/uxdp-direct-test-{}", std::process::id());
        let store = Store::create(std::path::Path::new(&path), &StoreOptions::default()).unwrap();
        let _ = std::fs::remove_file(&path);
        let registry = Registry::new(Arc::clone(&store));
        let mut ids: Vec<u32> = direct_helpers(table, &registry)
            .iter()
            .map(|d| d.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// A helper gets its direct form only where the table holds uxdp's own form of it:
    /// a table with other functions under those ids keeps its own.
    #[test]
    fn direct_forms_replace_only_uxdps_own_helpers() {
        assert_eq!(ids(&xdp_helpers()), vec![1, 2, 3, 5, 44, 54]);
        assert_eq!(ids(&base_helpers()), vec![5]);
        let mut other = xdp_helpers();
        // SAFETY: the table is only inspected, never called.
        unsafe { other.register(MAP_LOOKUP_ELEM, "bpf_map_lookup_elem", base::ktime_get_ns) };
        assert_eq!(ids(&other), vec![2, 3, 5, 44, 54]);
    }
}
