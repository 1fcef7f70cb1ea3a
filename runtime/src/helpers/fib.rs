//! `bpf_fib_lookup`: the kernel's forwarding lookup, answered from the host's routing
//! tables, neighbours and interfaces as read over rtnetlink ([`crate::fib`]).

use super::env::{self, bytes_mut, err};
use crate::fib::live::{settle, with_fib};
use crate::fib::lookup::{PARAMS_SIZE, fib_lookup, ret};

/// `bpf_fib_lookup(ctx, params, plen, flags)`.
pub(crate) unsafe extern "C" fn fib_lookup_helper(
    ctx: u64,
    params: u64,
    plen: u64,
    flags: u64,
    _: u64,
) -> u64 {
    if env::buff(ctx).is_none() {
        return err(libc::EINVAL);
    }
    // An `int` compared with a size: negative lengths pass as huge, as in C.
    let plen = plen as u32 as i32 as i64 as u64;
    if plen < PARAMS_SIZE as u64 {
        return err(libc::EINVAL);
    }
    // SAFETY: the program's memory, checked writable for the `plen` bytes it declared;
    // not kept past this call.
    let Some(mem) = (unsafe { bytes_mut(params, plen.min(u64::from(u32::MAX))) }) else {
        return err(libc::EFAULT);
    };
    let p: &mut [u8; PARAMS_SIZE] = (&mut mem[..PARAMS_SIZE]).try_into().expect("64 bytes");
    let asked = *p;
    let mut answer = with_fib(|fib| fib_lookup(fib, p, flags as u32));
    // No neighbour, while rtnetlink announces a change the view does not hold yet (the
    // kernel resolving it, most likely): asked again of the state with the change.
    if matches!(answer, Ok(ret::NO_NEIGH)) && settle() {
        *p = asked;
        answer = with_fib(|fib| fib_lookup(fib, p, flags as u32));
    }
    match answer {
        Ok(rc) => rc as u64,
        // The namespace's state could not be read at all (no rtnetlink).
        Err(_) => err(libc::ENODEV),
    }
}
