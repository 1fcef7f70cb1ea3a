//! One worker's XDP sockets: one per interface, all bound to the same queue index and
//! sharing one UMEM (each with its own fill and completion rings), so a frame received on
//! one interface is sent out of another by handing its descriptor over.
//!
//! A frame is identified by its UMEM address. A received frame belongs to the worker
//! until it is sent ([`SocketSet::send`]) or released ([`SocketSet::release`]); sent
//! frames come back through the completion rings, released ones at once, and both go back
//! to the fill rings at the next [`SocketSet::flush`].

use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use memmap2::MmapMut;
use xdpilone::xdp::XdpDesc;
use xdpilone::{
    CompletionQueue, FillQueue, IfInfo, RingRx, RingTx, Socket, SocketConfig, Umem, UmemConfig,
    User,
};

use crate::{CHUNK_SIZE, Error};

const SOL_XDP: i32 = 283;
const XDP_STATISTICS: i32 = 7;
const XDP_OPTIONS: i32 = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;
/// Times a send is pushed again while the ring stays full or the kernel lags, before the
/// rest is given up.
const TX_RETRIES: u32 = 16;

/// How sockets bind to their queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindMode {
    /// Zero-copy where the driver offers it, else copy.
    #[default]
    Auto,
    /// Copy mode: the kernel copies frames into and out of the UMEM.
    Copy,
    /// Zero-copy: the driver works in the UMEM directly; fails where unsupported.
    ZeroCopy,
}

/// Ring and UMEM sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XskConfig {
    /// How to bind.
    pub bind: BindMode,
    /// Descriptors in each ring (rx, tx, fill, completion); a power of two.
    pub ring_size: u32,
    /// UMEM chunks per socket.
    pub chunks_per_socket: u32,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            bind: BindMode::Auto,
            ring_size: 2048,
            chunks_per_socket: 4096,
        }
    }
}

/// A frame: where its packet starts in the UMEM, and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// UMEM address of the packet's first byte.
    pub addr: u64,
    /// Bytes of packet.
    pub len: u32,
}

/// The kernel's counters of one socket (`XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Frames dropped for other reasons than the two below.
    pub rx_dropped: u64,
    /// Invalid descriptors on the fill ring.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors on the tx ring.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the rx ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the tx ring was found empty.
    pub tx_ring_empty_descs: u64,
}

impl std::ops::AddAssign for SocketStats {
    fn add_assign(&mut self, o: SocketStats) {
        self.rx_dropped += o.rx_dropped;
        self.rx_invalid_descs += o.rx_invalid_descs;
        self.tx_invalid_descs += o.tx_invalid_descs;
        self.rx_ring_full += o.rx_ring_full;
        self.rx_fill_ring_empty_descs += o.rx_fill_ring_empty_descs;
        self.tx_ring_empty_descs += o.tx_ring_empty_descs;
    }
}

/// Reads the kernel's counters of the XDP socket `fd`.
pub(crate) fn socket_stats(fd: BorrowedFd<'_>) -> SocketStats {
    let mut raw = [0u64; 6];
    let mut len = size_of_val(&raw) as libc::socklen_t;
    // SAFETY: XDP_STATISTICS writes at most `len` bytes into `raw`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            SOL_XDP,
            XDP_STATISTICS,
            raw.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return SocketStats::default();
    }
    SocketStats {
        rx_dropped: raw[0],
        rx_invalid_descs: raw[1],
        tx_invalid_descs: raw[2],
        rx_ring_full: raw[3],
        rx_fill_ring_empty_descs: raw[4],
        tx_ring_empty_descs: raw[5],
    }
}

/// A socket's own descriptor, kept to read its counters from another thread.
#[derive(Debug)]
pub struct StatsHandle(OwnedFd);

impl StatsHandle {
    /// The kernel's counters now.
    pub fn read(&self) -> SocketStats {
        use std::os::fd::AsFd;
        socket_stats(self.0.as_fd())
    }
}

/// One XDP socket of a set.
struct Xsk {
    name: String,
    rx: RingRx,
    tx: RingTx,
    fill: FillQueue,
    comp: CompletionQueue,
    user: User,
    zero_copy: bool,
    /// Descriptors waiting to be put on the tx ring.
    pending: Vec<XdpDesc>,
}

/// The sockets of one queue index on each interface, sharing a UMEM.
pub struct SocketSet {
    // Sockets close before the UMEM area is unmapped.
    sockets: Vec<Xsk>,
    /// Free chunks, by base address.
    free: Vec<u64>,
    area: MmapMut,
    queue: u32,
    ring_size: u32,
}

impl std::fmt::Debug for SocketSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketSet")
            .field("queue", &self.queue)
            .field(
                "sockets",
                &self.sockets.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("free", &self.free.len())
            .finish()
    }
}

/// Whether the XDP socket `fd` was bound in zero-copy mode.
fn bound_zero_copy(fd: i32) -> bool {
    let mut opts = 0u32;
    let mut len = size_of::<u32>() as libc::socklen_t;
    // SAFETY: XDP_OPTIONS writes one u32.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            SOL_XDP,
            XDP_OPTIONS,
            std::ptr::from_mut(&mut opts).cast(),
            &mut len,
        )
    };
    rc == 0 && opts & XDP_OPTIONS_ZEROCOPY != 0
}

impl SocketSet {
    /// Opens and binds a socket on queue `queue` of each interface in `ifaces`
    /// (ifindex, name), over one UMEM, and fills their fill rings.
    pub fn open(
        ifaces: &[(u32, String)],
        queue: u32,
        config: &XskConfig,
    ) -> Result<SocketSet, Error> {
        assert!(!ifaces.is_empty(), "a socket set needs an interface");
        assert!(
            config.ring_size.is_power_of_two(),
            "ring sizes are powers of two"
        );
        let chunks = config.chunks_per_socket as usize * ifaces.len();
        let mut area = MmapMut::map_anon(chunks * CHUNK_SIZE)
            .map_err(|e| Error::os("mapping the UMEM", e.raw_os_error().unwrap_or(libc::ENOMEM)))?;
        let slice = NonNull::from(&mut area[..]);
        let umem_config = UmemConfig {
            fill_size: config.ring_size,
            complete_size: config.ring_size,
            frame_size: CHUNK_SIZE as u32,
            headroom: 0,
            flags: 0,
        };
        let xerr = |what: String| move |e: xdpilone::Errno| Error::os(what, e.get_raw().abs());
        // SAFETY: the area is page-aligned (a fresh mapping) and outlives every socket: it
        // is a field of the set, dropped after the sockets.
        let umem = unsafe { Umem::new(umem_config, slice) }
            .map_err(xerr("registering the UMEM".into()))?;
        let mut sockets = Vec::new();
        for (i, (ifindex, name)) in ifaces.iter().enumerate() {
            let at = format!("{name} queue {queue}");
            let mut info = IfInfo::invalid();
            info.from_ifindex(*ifindex)
                .map_err(xerr(format!("{at}: looking up the interface")))?;
            info.set_queue(queue);
            let sock = if i == 0 {
                Socket::with_shared(&info, &umem)
            } else {
                Socket::new(&info)
            }
            .map_err(xerr(format!("{at}: creating the XDP socket")))?;
            let device = umem.fq_cq(&sock).map_err(xerr(format!(
                "{at}: creating the fill and completion rings"
            )))?;
            // Sockets sharing the UMEM take the first one's mode and must not name one.
            let bind_flags = if i == 0 {
                SocketConfig::XDP_BIND_NEED_WAKEUP
                    | match config.bind {
                        BindMode::Auto => 0,
                        BindMode::Copy => SocketConfig::XDP_BIND_COPY,
                        BindMode::ZeroCopy => SocketConfig::XDP_BIND_ZEROCOPY,
                    }
            } else {
                0
            };
            let ring = NonZeroU32::new(config.ring_size);
            let user = umem
                .rx_tx(
                    &sock,
                    &SocketConfig {
                        rx_size: ring,
                        tx_size: ring,
                        bind_flags,
                    },
                )
                .map_err(xerr(format!("{at}: creating the rx and tx rings")))?;
            let rx = user
                .map_rx()
                .map_err(xerr(format!("{at}: mapping the rx ring")))?;
            let tx = user
                .map_tx()
                .map_err(xerr(format!("{at}: mapping the tx ring")))?;
            umem.bind(&user)
                .map_err(|e| bind_error(&at, e.get_raw().abs(), config.bind))?;
            let zero_copy = bound_zero_copy(user.as_raw_fd());
            let (fill, comp) = device.into_parts();
            sockets.push(Xsk {
                name: name.clone(),
                rx,
                tx,
                fill,
                comp,
                user,
                zero_copy,
                pending: Vec::new(),
            });
        }
        let mut set = SocketSet {
            sockets,
            free: (0..chunks as u64)
                .rev()
                .map(|c| c * CHUNK_SIZE as u64)
                .collect(),
            area,
            queue,
            ring_size: config.ring_size,
        };
        set.refill();
        Ok(set)
    }

    /// The queue index the sockets are bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// How many sockets (one per interface, in the order given).
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Whether the set has no socket (never: [`SocketSet::open`] needs one).
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Whether socket `s` works in zero-copy mode.
    pub fn zero_copy(&self, s: usize) -> bool {
        self.sockets[s].zero_copy
    }

    /// Socket `s`'s descriptor, to add to an XSKMAP.
    pub fn fd(&self, s: usize) -> BorrowedFd<'_> {
        // SAFETY: the descriptor is open for as long as the set, which the borrow ties
        // the result to.
        unsafe { BorrowedFd::borrow_raw(self.sockets[s].user.as_raw_fd()) }
    }

    /// A handle to read socket `s`'s kernel counters from elsewhere.
    pub fn stats_handle(&self, s: usize) -> Result<StatsHandle, Error> {
        self.fd(s)
            .try_clone_to_owned()
            .map(StatsHandle)
            .map_err(|e| {
                Error::os(
                    "duplicating a socket descriptor",
                    e.raw_os_error().unwrap_or(libc::EMFILE),
                )
            })
    }

    /// Takes up to `max` received frames from socket `s` into `out`; returns how many.
    pub fn receive(&mut self, s: usize, out: &mut Vec<Frame>, max: u32) -> usize {
        let mut reader = self.sockets[s].rx.receive(max);
        let mut n = 0;
        while let Some(d) = reader.read() {
            out.push(Frame {
                addr: d.addr,
                len: d.len,
            });
            n += 1;
        }
        reader.release();
        n
    }

    /// The chunk holding the frame at UMEM address `addr`, and `addr`'s offset in it;
    /// `None` for an address outside the UMEM. The chunk must be the caller's: a frame it
    /// received and has neither sent nor released, or one it allocated.
    pub fn chunk_mut(&mut self, addr: u64) -> Option<(&mut [u8], usize)> {
        let base = addr & !(CHUNK_SIZE as u64 - 1);
        let end = base.checked_add(CHUNK_SIZE as u64)?;
        if end > self.area.len() as u64 {
            return None;
        }
        // SAFETY: the chunk lies inside the mapping (checked). The ring protocol leaves it
        // to userspace: the kernel wrote it before handing its descriptor over and does
        // not touch it until the descriptor is given back (fill or tx ring), and `&mut
        // self` keeps any other slice of it from being alive.
        let chunk = unsafe {
            std::slice::from_raw_parts_mut(self.area.as_mut_ptr().add(base as usize), CHUNK_SIZE)
        };
        Some((chunk, (addr - base) as usize))
    }

    /// Queues the frame at `addr` (`len` bytes) to be sent on socket `s` at the next
    /// flush; the frame is the kernel's from then on.
    #[inline]
    pub fn send(&mut self, s: usize, addr: u64, len: u32) {
        self.sockets[s].pending.push(XdpDesc {
            addr,
            len,
            options: 0,
        });
    }

    /// Gives the frame at `addr` back, unsent (an address outside the UMEM is ignored).
    #[inline]
    pub fn release(&mut self, addr: u64) {
        let base = addr & !(CHUNK_SIZE as u64 - 1);
        if base < self.area.len() as u64 {
            self.free.push(base);
        }
    }

    /// A free chunk's base address, for a frame of the caller's own (a copy, a frame from
    /// the host); `None` when every chunk is in use.
    pub fn alloc(&mut self) -> Option<u64> {
        self.free.pop()
    }

    /// Sends what is queued (waking the kernel where it asks to be), takes back what was
    /// sent and refills the fill rings. Returns (frames sent, frames given up because the
    /// tx ring stayed full), per socket order summed.
    pub fn flush(&mut self) -> (u64, u64) {
        let (mut sent, mut failed) = (0, 0);
        for s in 0..self.sockets.len() {
            if self.sockets[s].pending.is_empty() {
                continue;
            }
            let mut done = 0;
            let mut idle = 0;
            let total = self.sockets[s].pending.len();
            while done < total && idle < TX_RETRIES {
                let n = {
                    let x = &mut self.sockets[s];
                    let mut writer = x.tx.transmit((total - done) as u32);
                    let room = writer.capacity() as usize;
                    let n = writer.insert(x.pending[done..done + room].iter().copied());
                    writer.commit();
                    n as usize
                };
                done += n;
                idle = if n == 0 { idle + 1 } else { 0 };
                self.kick(s);
                if done < total {
                    self.complete(s);
                }
            }
            sent += done as u64;
            failed += (total - done) as u64;
            let x = &mut self.sockets[s];
            for d in x.pending.drain(done..) {
                self.free.push(d.addr & !(CHUNK_SIZE as u64 - 1));
            }
            x.pending.clear();
        }
        for s in 0..self.sockets.len() {
            self.complete(s);
        }
        self.refill();
        (sent, failed)
    }

    /// Wakes the kernel to transmit socket `s`'s ring where it asks for that; in copy
    /// mode each wake sends a bounded batch, so it repeats while the ring drains.
    fn kick(&mut self, s: usize) {
        let tx = &mut self.sockets[s].tx;
        for _ in 0..TX_RETRIES * 4 {
            if !tx.needs_wakeup() || tx.pending() == 0 {
                return;
            }
            let before = tx.pending();
            tx.wake();
            if tx.pending() == before {
                return;
            }
        }
    }

    /// Takes socket `s`'s completed sends back as free chunks.
    fn complete(&mut self, s: usize) {
        let x = &mut self.sockets[s];
        let mut reader = x.comp.complete(self.ring_size);
        while let Some(addr) = reader.read() {
            self.free.push(addr & !(CHUNK_SIZE as u64 - 1));
        }
        reader.release();
    }

    /// Gives free chunks to every fill ring, as many as each takes.
    fn refill(&mut self) {
        for x in &mut self.sockets {
            if self.free.is_empty() {
                break;
            }
            let mut writer = x.fill.fill(self.free.len() as u32);
            let room = writer.capacity() as usize;
            let from = self.free.len() - room;
            let n = writer.insert(self.free[from..].iter().copied()) as usize;
            writer.commit();
            self.free.truncate(self.free.len() - n);
        }
    }

    /// Waits up to `timeout_ms` for a frame on any socket; wakes fill rings that ask for
    /// it.
    pub fn wait(&mut self, timeout_ms: i32) {
        let mut fds: Vec<libc::pollfd> = self
            .sockets
            .iter()
            .map(|x| x.user.as_raw_fd())
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: polls `fds.len()` valid pollfd entries.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    }

    /// Free chunks now (the rest are in rings or held by the caller).
    pub fn free_chunks(&self) -> usize {
        self.free.len()
    }
}

/// A bind failure, explained.
fn bind_error(at: &str, errno: i32, mode: BindMode) -> Error {
    match (errno, mode) {
        (libc::EOPNOTSUPP | libc::EPROTONOSUPPORT, BindMode::ZeroCopy) => Error::Refused(format!(
            "{at}: the driver does not support AF_XDP zero-copy (bind: {}); run without --zero-copy",
            std::io::Error::from_raw_os_error(errno)
        )),
        (libc::EBUSY, _) => Error::Refused(format!(
            "{at}: the queue already has an AF_XDP socket (another program uses it)"
        )),
        (libc::EINVAL, _) => Error::Os {
            what: format!("{at}: binding the XDP socket (does the queue exist?)"),
            error: std::io::Error::from_raw_os_error(errno),
        },
        _ => Error::os(format!("{at}: binding the XDP socket"), errno),
    }
}
