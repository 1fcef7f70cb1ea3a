//! A packet in a frame with head- and tailroom, laid out as the kernel's
//! `BPF_PROG_TEST_RUN` lays out an XDP frame: one 4 KiB page, 256 bytes of headroom
//! (`XDP_PACKET_HEADROOM`) before the data and the room of a `struct skb_shared_info`
//! reserved at the end, so `bpf_xdp_adjust_head`, `_meta` and `_tail` work in place and
//! fail exactly where the kernel's do.

use super::ctx::XdpBuff;

/// Bytes of headroom in front of a received packet (`XDP_PACKET_HEADROOM`).
pub const HEADROOM: usize = 256;
/// Bytes of a frame (`PAGE_SIZE`).
pub const FRAME_SIZE: usize = 4096;
/// Bytes reserved at the end of a frame (`SKB_DATA_ALIGN(sizeof(struct skb_shared_info))`
/// on x86-64).
pub const TAILROOM: usize = 320;
/// Largest packet a frame holds.
pub const MAX_DATA: usize = FRAME_SIZE - HEADROOM - TAILROOM;
/// Smallest packet an XDP program may be given (an Ethernet header).
pub const MIN_DATA: usize = 14;
/// Most fragments after the linear part (`MAX_SKB_FRAGS`).
pub const MAX_FRAGS: usize = 17;
/// Bytes of a fragment's page (`PAGE_SIZE`; the kernel's test run sets the queue's
/// `frag_size` to it, which bounds how far `bpf_xdp_adjust_tail` grows the last fragment).
pub const FRAG_SIZE: usize = 4096;
/// Largest packet: a full linear part and every fragment full.
pub const MAX_PACKET: usize = MAX_DATA + MAX_FRAGS * FRAG_SIZE;

/// A fragment of a multi-buffer packet: a page holding `len` bytes from its start (the
/// kernel's test run fills fragments at page offset 0).
#[derive(Debug, Clone)]
pub struct Frag {
    pub(crate) page: Box<[u8]>,
    pub(crate) len: usize,
}

/// Why bytes cannot be made into a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than an Ethernet header.
    #[error("a packet of {0} bytes is shorter than an Ethernet header (14 bytes)")]
    TooShort(usize),
    /// Longer than a frame and all its fragments hold.
    #[error(
        "a packet of {0} bytes does not fit a frame and {MAX_FRAGS} fragments (at most {MAX_PACKET} bytes)"
    )]
    TooLong(usize),
}

/// `bytes` in page-sized fragments, as the kernel's test run puts what does not fit the
/// frame.
fn fragments(bytes: &[u8]) -> Vec<Frag> {
    bytes
        .chunks(FRAG_SIZE)
        .map(|c| {
            let mut page = vec![0u8; FRAG_SIZE].into_boxed_slice();
            page[..c.len()].copy_from_slice(c);
            Frag { page, len: c.len() }
        })
        .collect()
}

/// A packet and the frame around it.
#[derive(Debug, Clone)]
pub struct Packet {
    frame: Box<[u8]>,
    /// Offsets into `frame`.
    meta: usize,
    data: usize,
    end: usize,
    /// What does not fit the frame: multi-buffer fragments, reached through helpers only.
    pub(crate) frags: Vec<Frag>,
}

impl Packet {
    /// A frame holding `bytes` after the headroom, with no metadata. What does not fit
    /// the frame goes to fragments of a page each, as the kernel's test run does.
    pub fn new(bytes: &[u8]) -> Result<Packet, PacketError> {
        if bytes.len() < MIN_DATA {
            return Err(PacketError::TooShort(bytes.len()));
        }
        if bytes.len() > MAX_PACKET {
            return Err(PacketError::TooLong(bytes.len()));
        }
        let (linear, rest) = bytes.split_at(bytes.len().min(MAX_DATA));
        let mut frame = vec![0u8; FRAME_SIZE].into_boxed_slice();
        frame[HEADROOM..HEADROOM + linear.len()].copy_from_slice(linear);
        let frags = fragments(rest);
        Ok(Packet {
            frame,
            meta: HEADROOM,
            data: HEADROOM,
            end: HEADROOM + linear.len(),
            frags,
        })
    }

    /// A test run's input with a context (`struct xdp_md`), laid out as the kernel lays
    /// it: `bytes[..meta]` is metadata in front of the packet, `bytes[meta..end]` the
    /// linear part (at most [`MAX_DATA`]; it may be shorter than an Ethernet header),
    /// the rest fragments. The caller checks `meta <= end <= bytes.len()` and that the
    /// metadata fits the headroom.
    pub fn from_test_input(bytes: &[u8], meta: usize, end: usize) -> Result<Packet, PacketError> {
        assert!(
            meta <= end && end <= bytes.len() && meta < HEADROOM,
            "test input layout"
        );
        if bytes.len() < MIN_DATA {
            return Err(PacketError::TooShort(bytes.len()));
        }
        if bytes.len() - meta > MAX_PACKET {
            return Err(PacketError::TooLong(bytes.len()));
        }
        let end = end.min(meta + MAX_DATA);
        if (bytes.len() - end).div_ceil(FRAG_SIZE) > MAX_FRAGS {
            return Err(PacketError::TooLong(bytes.len()));
        }
        let mut frame = vec![0u8; FRAME_SIZE].into_boxed_slice();
        frame[HEADROOM - meta..HEADROOM + end - meta].copy_from_slice(&bytes[..end]);
        let frags = fragments(&bytes[end..]);
        Ok(Packet {
            frame,
            meta: HEADROOM - meta,
            data: HEADROOM,
            end: HEADROOM + end - meta,
            frags,
        })
    }

    /// The whole packet: the linear part, then every fragment.
    pub fn contents(&self) -> Vec<u8> {
        let mut out = self.data().to_vec();
        for f in &self.frags {
            out.extend_from_slice(&f.page[..f.len]);
        }
        out
    }

    /// The packet's linear bytes (all of it unless it has fragments).
    pub fn data(&self) -> &[u8] {
        &self.frame[self.data..self.end]
    }

    /// The metadata in front of the packet (`bpf_xdp_adjust_meta`).
    pub fn meta(&self) -> &[u8] {
        &self.frame[self.meta..self.data]
    }

    /// The packet as a [`FrameView`] for a run; its bounds come back with
    /// [`Packet::take_bounds`].
    pub fn view(&mut self) -> FrameView<'_> {
        FrameView {
            frame: &mut self.frame,
            meta: self.meta,
            data: self.data,
            end: self.end,
            hard_end: FRAME_SIZE - TAILROOM,
            frags: &mut self.frags,
        }
    }

    /// Takes the bounds a run left in `view` (made by [`Packet::view`]).
    fn take_bounds(&mut self, (meta, data, end): (usize, usize, usize)) {
        (self.meta, self.data, self.end) = (meta, data, end);
    }

    /// Runs `f` on the packet's view and keeps the bounds it leaves.
    pub(crate) fn with_view<R>(&mut self, f: impl FnOnce(&mut FrameView<'_>) -> R) -> R {
        let mut view = self.view();
        let r = f(&mut view);
        let bounds = view.offsets();
        self.take_bounds(bounds);
        r
    }
}

/// A packet in a frame someone else owns, as a run sees it: uxdp's own [`Packet`], or a
/// driver's buffer (a DPDK mbuf, an AF_XDP frame) used in place, without a copy. The packet
/// may grow into the frame's headroom (`bpf_xdp_adjust_head`, `_meta`) and up to
/// `hard_end` (`bpf_xdp_adjust_tail`).
#[derive(Debug)]
pub struct FrameView<'a> {
    frame: &'a mut [u8],
    meta: usize,
    data: usize,
    end: usize,
    hard_end: usize,
    pub(crate) frags: &'a mut Vec<Frag>,
}

impl<'a> FrameView<'a> {
    /// `len` bytes at offset `data` of `frame`, no metadata, growable to the frame's end;
    /// `frags` holds fragments beyond the frame (usually none). `None` when the packet
    /// does not lie inside the frame or is shorter than an Ethernet header.
    pub fn new(
        frame: &'a mut [u8],
        data: usize,
        len: usize,
        frags: &'a mut Vec<Frag>,
    ) -> Option<FrameView<'a>> {
        let end = data.checked_add(len)?;
        if end > frame.len() || len < MIN_DATA {
            return None;
        }
        Some(FrameView {
            hard_end: frame.len(),
            frame,
            meta: data,
            data,
            end,
            frags,
        })
    }

    /// Where the packet is now: (offset of the data in the frame, its length).
    pub fn bounds(&self) -> (usize, usize) {
        (self.data, self.end - self.data)
    }

    /// The packet's linear bytes.
    pub fn data(&self) -> &[u8] {
        &self.frame[self.data..self.end]
    }

    /// (metadata, data, end) offsets.
    fn offsets(&self) -> (usize, usize, usize) {
        (self.meta, self.data, self.end)
    }

    /// The whole frame: what a program may touch through the packet pointers.
    pub(crate) fn frame_mut(&mut self) -> &mut [u8] {
        self.frame
    }

    /// The context for this packet, pointing into the frame.
    pub(crate) fn xdp_buff(&mut self, ingress_ifindex: u32, rx_queue_index: u32) -> XdpBuff {
        let base = self.frame.as_mut_ptr() as u64;
        XdpBuff {
            data: base + self.data as u64,
            data_end: base + self.end as u64,
            data_meta: base + self.meta as u64,
            ingress_ifindex,
            rx_queue_index,
            egress_ifindex: 0,
            pad: 0,
            data_hard_start: base,
            data_hard_end: base + self.hard_end as u64,
        }
    }

    /// Takes the packet bounds back from a context the helpers may have moved.
    pub(crate) fn update_from(&mut self, buff: &XdpBuff) {
        let base = self.frame.as_ptr() as u64;
        let size = self.frame.len();
        let off = |p: u64| (p.wrapping_sub(base) as usize).min(size);
        self.meta = off(buff.data_meta);
        self.data = off(buff.data).max(self.meta);
        self.end = off(buff.data_end).max(self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_hold_what_the_kernel_test_run_holds() {
        assert_eq!(MAX_DATA, 3520);
        assert!(matches!(
            Packet::new(&[0; 13]),
            Err(PacketError::TooShort(13))
        ));
        let big = Packet::new(&[0; 3521]).unwrap();
        assert_eq!(
            (big.data().len(), big.frags.len(), big.frags[0].len),
            (3520, 1, 1)
        );
        assert_eq!(big.contents().len(), 3521);
        assert_eq!(
            Packet::new(&[0; MAX_PACKET]).unwrap().frags.len(),
            MAX_FRAGS
        );
        assert!(matches!(
            Packet::new(&[0; MAX_PACKET + 1]),
            Err(PacketError::TooLong(_))
        ));
        let mut p = Packet::new(&[7; 60]).unwrap();
        let mut v = p.view();
        let b = v.xdp_buff(1, 0);
        assert_eq!(b.data - b.data_hard_start, 256);
        assert_eq!(b.data_end - b.data, 60);
        assert_eq!(b.data_meta, b.data);
        assert_eq!(b.data_hard_end - b.data_hard_start, 3776);
        let moved = XdpBuff {
            data: b.data - 14,
            data_meta: b.data - 18,
            ..b
        };
        v.update_from(&moved);
        let bounds = v.offsets();
        p.take_bounds(bounds);
        assert_eq!(p.data().len(), 74);
        assert_eq!(p.meta().len(), 4);
        assert_eq!(&p.data()[14..], &[7; 60]);
    }
}
