//! Route netlink sockets: XDP attach requests answered by uxdp, link dumps patched (see
//! [`crate::netlink`]); and libc's `if_nameindex`, whose list, read over libc's own
//! netlink socket, leaves out uxdp's host ports as the dumps do. Sockets of other families
//! and protocols never reach it.

use std::ffi::{c_int, c_void};
use std::sync::atomic::AtomicPtr;

use super::{next, set_errno};
use crate::attr::{copy_in, copy_out};
use crate::netlink;

type RecvfromFn = unsafe extern "C" fn(
    c_int,
    *mut c_void,
    usize,
    c_int,
    *mut libc::sockaddr,
    *mut libc::socklen_t,
) -> isize;

/// `socket`: a `NETLINK_ROUTE` socket is followed.
///
/// # Safety
///
/// As libc's `socket`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    type SocketFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
    let f = next!(c"socket", SocketFn);
    // SAFETY: libc's socket with the caller's arguments.
    let fd = unsafe { f(domain, ty, protocol) };
    if fd >= 0 && domain == libc::AF_NETLINK && protocol == libc::NETLINK_ROUTE {
        netlink::track(fd);
    }
    fd
}

/// The bytes of `iov`, one datagram (`EFAULT` as the kernel says it).
fn gather(iov: *const libc::iovec, n: usize) -> Result<Vec<u8>, i32> {
    let vecs = copy_in(iov as u64, n * size_of::<libc::iovec>())?;
    let mut out = Vec::new();
    for v in vecs.chunks_exact(size_of::<libc::iovec>()) {
        let base = u64::from_ne_bytes(v[..8].try_into().expect("8 bytes"));
        let len = u64::from_ne_bytes(v[8..].try_into().expect("8 bytes"));
        out.extend_from_slice(&copy_in(base, len as usize)?);
    }
    Ok(out)
}

/// uxdp's handling of a datagram sent on `fd`: `Some(result)` when answered here.
fn sent(fd: c_int, bytes: Result<Vec<u8>, i32>) -> Option<isize> {
    if !netlink::tracked(fd) {
        return None;
    }
    match bytes {
        Ok(b) => netlink::on_send(fd, &b),
        Err(e) => {
            set_errno(e);
            Some(-1)
        }
    }
}

/// `send` on a followed socket.
///
/// # Safety
///
/// As libc's `send`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize {
    if netlink::tracked(fd)
        && let Some(r) = sent(fd, copy_in(buf as u64, len))
    {
        return r;
    }
    type SendFn = unsafe extern "C" fn(c_int, *const c_void, usize, c_int) -> isize;
    let f = next!(c"send", SendFn);
    // SAFETY: libc's send with the caller's arguments.
    unsafe { f(fd, buf, len, flags) }
}

/// `sendto` on a followed socket (the destination is the kernel either way).
///
/// # Safety
///
/// As libc's `sendto`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
    addr: *const libc::sockaddr,
    alen: libc::socklen_t,
) -> isize {
    if netlink::tracked(fd)
        && let Some(r) = sent(fd, copy_in(buf as u64, len))
    {
        return r;
    }
    type SendtoFn = unsafe extern "C" fn(
        c_int,
        *const c_void,
        usize,
        c_int,
        *const libc::sockaddr,
        libc::socklen_t,
    ) -> isize;
    let f = next!(c"sendto", SendtoFn);
    // SAFETY: libc's sendto with the caller's arguments.
    unsafe { f(fd, buf, len, flags, addr, alen) }
}

/// `sendmsg` on a followed socket.
///
/// # Safety
///
/// As libc's `sendmsg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> isize {
    if netlink::tracked(fd) {
        let bytes = copy_in(msg as u64, size_of::<libc::msghdr>()).and_then(|_| {
            // SAFETY: the header was just shown readable.
            let m = unsafe { &*msg };
            gather(m.msg_iov, m.msg_iovlen)
        });
        if let Some(r) = sent(fd, bytes) {
            return r;
        }
    }
    type SendmsgFn = unsafe extern "C" fn(c_int, *const libc::msghdr, c_int) -> isize;
    let f = next!(c"sendmsg", SendmsgFn);
    // SAFETY: libc's sendmsg with the caller's arguments.
    unsafe { f(fd, msg, flags) }
}

/// The next datagram for a receive on `fd` with `flags`, if uxdp answers it.
fn datagram(fd: c_int, flags: c_int) -> Option<Result<Vec<u8>, i32>> {
    if !netlink::tracked(fd) {
        return None;
    }
    let real = next!(c"recvfrom", RecvfromFn);
    let recv = |buf: &mut [u8], fl: c_int| {
        // SAFETY: libc's recvfrom into our own buffer of buf.len() bytes.
        unsafe {
            real(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                fl,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        }
    };
    netlink::next_datagram(
        fd,
        flags & libc::MSG_PEEK != 0,
        flags & libc::MSG_DONTWAIT != 0,
        &recv,
    )
}

/// Writes the kernel's address (port 0) to a receive's `addr`/`alen`, if given.
fn kernel_address(addr: *mut libc::sockaddr, alen: *mut libc::socklen_t) -> Result<(), i32> {
    if addr.is_null() || alen.is_null() {
        return Ok(());
    }
    let room = copy_in(alen as u64, 4)?;
    let room = u32::from_ne_bytes(room.try_into().expect("4 bytes")) as usize;
    // SAFETY: sockaddr_nl is plain old data.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: a plain struct viewed as its bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts((&raw const sa).cast::<u8>(), size_of::<libc::sockaddr_nl>())
    };
    copy_out(addr as u64, &bytes[..room.min(bytes.len())])?;
    copy_out(alen as u64, &(bytes.len() as u32).to_ne_bytes())
}

/// Hands `d` out into `bufs` as the kernel would: truncated to the room there is, and
/// its whole length returned under `MSG_TRUNC`. Returns the result and whether it was
/// truncated.
fn deliver(d: &[u8], bufs: &[(u64, usize)], flags: c_int) -> Result<(isize, bool), i32> {
    let mut at = 0;
    for &(base, len) in bufs {
        let n = len.min(d.len() - at);
        copy_out(base, &d[at..at + n])?;
        at += n;
    }
    let truncated = at < d.len();
    let r = if flags & libc::MSG_TRUNC != 0 {
        d.len()
    } else {
        at
    };
    Ok((r as isize, truncated))
}

fn failed(e: i32) -> isize {
    set_errno(e);
    -1
}

/// `recv` on a followed socket.
///
/// # Safety
///
/// As libc's `recv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize {
    // SAFETY: the caller's arguments, as `recv` is `recvfrom` without an address.
    unsafe {
        recvfrom(
            fd,
            buf,
            len,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `recvfrom` on a followed socket.
///
/// # Safety
///
/// As libc's `recvfrom`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    addr: *mut libc::sockaddr,
    alen: *mut libc::socklen_t,
) -> isize {
    match datagram(fd, flags) {
        None => {
            let f = next!(c"recvfrom", RecvfromFn);
            // SAFETY: libc's recvfrom with the caller's arguments.
            unsafe { f(fd, buf, len, flags, addr, alen) }
        }
        Some(Err(e)) => failed(e),
        Some(Ok(d)) => match deliver(&d, &[(buf as u64, len)], flags)
            .and_then(|(r, _)| kernel_address(addr, alen).map(|()| r))
        {
            Ok(r) => r,
            Err(e) => failed(e),
        },
    }
}

/// `recvmsg` on a followed socket.
///
/// # Safety
///
/// As libc's `recvmsg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> isize {
    match datagram(fd, flags) {
        None => {
            type RecvmsgFn = unsafe extern "C" fn(c_int, *mut libc::msghdr, c_int) -> isize;
            let f = next!(c"recvmsg", RecvmsgFn);
            // SAFETY: libc's recvmsg with the caller's arguments.
            unsafe { f(fd, msg, flags) }
        }
        Some(Err(e)) => failed(e),
        Some(Ok(d)) => {
            let header = copy_in(msg as u64, size_of::<libc::msghdr>()).map(|_| {
                // SAFETY: the header was just shown readable.
                unsafe { &mut *msg }
            });
            let m = match header {
                Ok(m) => m,
                Err(e) => return failed(e),
            };
            let bufs = if m.msg_iov.is_null() {
                Ok(Vec::new())
            } else {
                copy_in(m.msg_iov as u64, m.msg_iovlen * size_of::<libc::iovec>()).map(|v| {
                    v.chunks_exact(size_of::<libc::iovec>())
                        .map(|c| {
                            let base = u64::from_ne_bytes(c[..8].try_into().expect("8 bytes"));
                            let len = u64::from_ne_bytes(c[8..].try_into().expect("8 bytes"));
                            (base, len as usize)
                        })
                        .collect()
                })
            };
            let namelen = &raw mut m.msg_namelen;
            match bufs
                .and_then(|b| deliver(&d, &b, flags))
                .and_then(|r| kernel_address(m.msg_name.cast(), namelen).map(|()| r))
            {
                Ok((r, truncated)) => {
                    m.msg_flags = if truncated { libc::MSG_TRUNC } else { 0 };
                    m.msg_controllen = 0;
                    r
                }
                Err(e) => failed(e),
            }
        }
    }
}

/// `if_nameindex`: libc's list, uxdp's host ports left out (libc reads the list over a
/// netlink socket of its own, which the shim does not see), as link dumps leave them.
///
/// # Safety
///
/// As libc's `if_nameindex`; the list is freed with libc's `if_freenameindex`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn if_nameindex() -> *mut libc::if_nameindex {
    type IfNameindexFn = unsafe extern "C" fn() -> *mut libc::if_nameindex;
    let f = next!(c"if_nameindex", IfNameindexFn);
    // SAFETY: libc's if_nameindex, no arguments.
    let list = unsafe { f() };
    if !list.is_null() {
        // SAFETY: libc's list, ended by an entry with index 0 and no name.
        unsafe { drop_host_ports(list) };
    }
    list
}

/// Removes the entries naming host ports from `list` in place, freeing their names as
/// `if_freenameindex` would.
///
/// # Safety
///
/// `list` is a list `if_nameindex` returned, not freed.
unsafe fn drop_host_ports(list: *mut libc::if_nameindex) {
    let prefix = uxdp_kbpf::HOST_PORT_PREFIX.as_bytes();
    let (mut read, mut write) = (0usize, 0usize);
    loop {
        // SAFETY: `read` stays within the list, up to and including its end entry.
        let e = unsafe { *list.add(read) };
        if e.if_index == 0 && e.if_name.is_null() {
            // SAFETY: `write <= read`: the end entry moves down within the list.
            unsafe { *list.add(write) = e };
            return;
        }
        // SAFETY: libc's entries carry NUL-terminated names.
        let host_port = !e.if_name.is_null()
            && unsafe { std::ffi::CStr::from_ptr(e.if_name) }
                .to_bytes()
                .starts_with(prefix);
        if host_port {
            // SAFETY: libc allocated the name with malloc, and the entry is dropped.
            unsafe { libc::free(e.if_name.cast()) };
        } else {
            // SAFETY: `write <= read`, within the list.
            unsafe { *list.add(write) = e };
            write += 1;
        }
        read += 1;
    }
}
