//! The kernel half of AF_XDP: an XSKMAP holding one socket per receive queue, and a
//! five-instruction XDP program that redirects every frame to the socket of the queue it
//! arrived on (`bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)`: a queue without a
//! socket passes its frames to the host stack, as if nothing were attached).

use std::os::fd::{AsRawFd, BorrowedFd};

use uxdp_kbpf::{MapFd, ProgFd, ProgLoad, map_type, prog_type, slot as insn, xdp_action};

use crate::Error;

pub use uxdp_kbpf::REDIRECT_PROG_NAME;

/// `bpf_redirect_map`'s helper number.
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
/// `BPF_PSEUDO_MAP_FD`: an `lddw` source naming a map by fd.
const PSEUDO_MAP_FD: u8 = 1;
/// `struct xdp_md`'s `rx_queue_index`.
const RX_QUEUE_INDEX: i16 = 16;

/// The redirect program for the XSKMAP with fd `map`.
fn program(map: i32) -> Vec<u8> {
    [
        // r2 = ctx->rx_queue_index
        insn(0x61, 2, 1, RX_QUEUE_INDEX, 0),
        // r1 = the XSKMAP (lddw, two slots)
        insn(0x18, 1, PSEUDO_MAP_FD, 0, map),
        insn(0, 0, 0, 0, 0),
        // r3 = XDP_PASS: the verdict when the queue has no socket
        insn(0xb7, 3, 0, 0, xdp_action::PASS as i32),
        // r0 = bpf_redirect_map(r1, r2, r3)
        insn(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        insn(0x95, 0, 0, 0, 0),
    ]
    .concat()
}

/// An XSKMAP and the program redirecting into it, for one interface.
#[derive(Debug)]
pub struct XskRedirect {
    map: MapFd,
    prog: ProgFd,
    queues: u32,
}

impl XskRedirect {
    /// Loads the map (one slot per queue) and the program, for interface `iface`.
    pub fn load(iface: &str, queues: u32) -> Result<XskRedirect, Error> {
        let map = MapFd::create(map_type::XSKMAP, 4, 4, queues.max(1), 0, 0).map_err(|e| {
            Error::os(
                format!("{iface}: creating the XSKMAP (bpf BPF_MAP_CREATE)"),
                e.raw(),
            )
        })?;
        let insns = program(map.as_raw_fd());
        let prog = ProgFd::load_with(&ProgLoad {
            prog_type: prog_type::XDP,
            insns: &insns,
            license: "GPL",
            log: false,
            flags: 0,
            expected_attach_type: 0,
            name: REDIRECT_PROG_NAME,
            btf: None,
            func_info: &[],
        })
        .map_err(|e| {
            Error::os(
                format!("{iface}: loading the XSKMAP redirect program (bpf BPF_PROG_LOAD)"),
                e.errno.raw(),
            )
        })?;
        Ok(XskRedirect {
            map,
            prog,
            queues: queues.max(1),
        })
    }

    /// Puts the XDP socket `socket` in queue `queue`'s slot.
    pub fn insert(&self, queue: u32, socket: BorrowedFd<'_>) -> Result<(), Error> {
        if queue >= self.queues {
            return Err(Error::Refused(format!(
                "queue {queue}: the XSKMAP has {} slots",
                self.queues
            )));
        }
        let fd = socket.as_raw_fd() as u32;
        self.map
            .update(&queue.to_ne_bytes(), &fd.to_ne_bytes(), 0)
            .map_err(|e| {
                Error::os(
                    format!("adding queue {queue}'s socket to the XSKMAP"),
                    e.raw(),
                )
            })
    }

    /// The program, to attach.
    pub fn prog(&self) -> &ProgFd {
        &self.prog
    }

    /// The program's kernel id.
    pub fn prog_id(&self) -> u32 {
        self.prog.id().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn an_empty_slot_passes_the_frame() {
        let r = XskRedirect::load("test", 4).unwrap();
        assert_eq!(r.prog.info().unwrap().name, REDIRECT_PROG_NAME);
        // Queue 0 (the test run's) holds no socket: the default verdict.
        let run = r.prog.test_run(&[0u8; 64], 1).unwrap();
        assert_eq!(run.retval, xdp_action::PASS);
        let stdin = std::io::stdin();
        let e = r.insert(4, stdin.as_fd()).unwrap_err().to_string();
        assert!(e.contains("4 slots"), "{e}");
    }
}
