//! Real DPDK poll-mode drivers, without hugepages or PCI devices: `net_ring` (what is sent
//! comes back), `net_null` (endless packets in, everything out is dropped) and `net_pcap`
//! (packets from a pcap file in, packets to another pcap file out). The EAL starts once per
//! process, so this file is one test.

use std::path::{Path, PathBuf};

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use uxdp_io_dpdk::{BURST, Burst, Eal, Mempool, Port, PortConfig};

/// A pcap file of `packets` (Ethernet link type).
fn write_pcap(path: &Path, packets: &[Vec<u8>]) {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for (i, p) in packets.iter().enumerate() {
        let ts = std::time::Duration::from_millis(i as u64);
        w.write_packet(&PcapPacket::new(ts, p.len() as u32, p))
            .unwrap();
    }
}

/// The packets of a pcap file.
fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let mut r = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}

fn packet(i: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|k| i.wrapping_mul(31).wrapping_add(k as u8))
        .collect()
}

/// A directory of the test's own, and DPDK's runtime directory for its file prefix, both
/// removed on drop.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ =
            std::fs::remove_dir_all(format!("/var/run/dpdk/uxdp-iotest-{}", std::process::id()));
    }
}

#[test]
fn ring_null_and_pcap_ports_move_real_packets() {
    let dir = Dir(std::env::temp_dir().join(format!("uxdp-io-dpdk-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let (pcap_in, pcap_out) = (dir.0.join("in.pcap"), dir.0.join("out.pcap"));
    let input: Vec<Vec<u8>> = (0..5)
        .map(|i| packet(i, 60 + usize::from(i) * 100))
        .collect();
    write_pcap(&pcap_in, &input);

    let eal = Eal::init(&[
        "--no-huge".to_string(),
        "--no-pci".to_string(),
        format!("--file-prefix=uxdp-iotest-{}", std::process::id()),
        "-m".to_string(),
        "256".to_string(),
        "-l".to_string(),
        "0-1".to_string(),
        "--log-level=error".to_string(),
        "--vdev".to_string(),
        "net_ring0".to_string(),
        "--vdev".to_string(),
        "net_null0".to_string(),
        "--vdev".to_string(),
        format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            pcap_in.display(),
            pcap_out.display()
        ),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(eal.port_count(), 3);
    let again = Eal::init(&["--no-huge"]).unwrap_err();
    assert!(again.reason.contains("already started"), "{again}");

    let pool = Mempool::new(&eal, "uxdp_test", 8191, 256, 64, 2176 + 128).unwrap();
    let baseline = pool.available();
    let small = PortConfig {
        rx_ring: 256,
        tx_ring: 256,
        ..PortConfig::default()
    };
    {
        // net_ring: a burst sent comes back, byte for byte, without a copy on our side.
        let ring = Port::start(
            &eal,
            Port::id_by_name(&eal, "net_ring0").unwrap(),
            small,
            &pool,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.name(), "net_ring0");
        let mut queues = ring.take_queues();
        assert!(ring.take_queues().is_empty(), "queues are handed out once");
        let q = &mut queues[0];
        let mut out = Burst::new();
        for i in 0..BURST as u8 {
            out.push(pool.alloc_with(&packet(i, 64)).unwrap()).unwrap();
        }
        assert_eq!(q.tx(&mut out), BURST);
        assert!(out.is_empty());
        let mut back = Burst::new();
        assert_eq!(q.rx(&mut back), BURST);
        for (i, mut m) in back.drain().enumerate() {
            assert_eq!(m.data(), &packet(i as u8, 64)[..]);
            // The frame is the mbuf's own buffer: headroom before, room after.
            let (buf, off, len) = m.buffer_mut();
            assert_eq!((off, len), (uxdp_io_dpdk::HEADROOM, 64));
            assert!(buf.len() >= off + len);
            // Growing the head into the headroom, as bpf_xdp_adjust_head does.
            assert!(m.set_bounds(off - 14, len + 14));
            assert_eq!(m.data().len(), 78);
            assert!(!m.set_bounds(off, 100_000));
            // The frame adds the pool's front room before the buffer's headroom; a
            // packet grown into it moves to the start of the buffer.
            let (frame, off, len) = m.frame_mut();
            assert_eq!((off, len), (64 + uxdp_io_dpdk::HEADROOM - 14, 78));
            frame[10..20].copy_from_slice(b"0123456789");
            assert!(m.set_frame_bounds(10, 30));
            assert_eq!(&m.data()[..10], b"0123456789");
            assert!(m.set_frame_bounds(64 + 5, 30));
            assert_eq!(m.buffer_mut().1, 5);
        }
        let s = ring.stats().unwrap();
        assert_eq!((s.tx_packets, s.rx_packets), (BURST as u64, BURST as u64));
    }
    {
        // net_null: every rx burst is full of fresh packets; tx frees them.
        let null = Port::start(
            &eal,
            Port::id_by_name(&eal, "net_null0").unwrap(),
            small,
            &pool,
        )
        .unwrap();
        let q = &mut null.take_queues()[0];
        let mut b = Burst::new();
        assert_eq!(q.rx(&mut b), BURST);
        assert_eq!(q.tx(&mut b), BURST);
        assert_eq!(q.rx(&mut b), BURST);
        b.clear();
        assert!(b.is_empty());
    }
    {
        // net_pcap: the file's packets in; what is sent lands in the output file when the
        // port closes.
        let pcap = Port::start(
            &eal,
            Port::id_by_name(&eal, "net_pcap0").unwrap(),
            small,
            &pool,
        )
        .unwrap();
        let q = &mut pcap.take_queues()[0];
        let mut got = Vec::new();
        for _ in 0..100 {
            let mut b = Burst::new();
            q.rx(&mut b);
            for m in b.drain() {
                got.push(m.data().to_vec());
                let mut t = Burst::new();
                t.push(m).unwrap();
                assert_eq!(q.tx(&mut t), 1);
            }
            if got.len() == input.len() {
                break;
            }
        }
        assert_eq!(got, input);
    }
    assert_eq!(read_pcap(&pcap_out), input);
    lcores_run_shares(&eal);
    assert_eq!(
        pool.available(),
        baseline,
        "every mbuf went back to the pool"
    );
    assert!(
        Port::id_by_name(&eal, "net_nothing9")
            .unwrap_err()
            .reason
            .contains("no such port")
    );
    let e = Port::start(&eal, 7, small, &pool).unwrap_err();
    assert!(e.reason.contains("no such port"), "{e}");
}

/// Work runs on the main lcore and the worker lcores, each share on its own pinned EAL
/// thread; a share that panics stops the others and is reported.
fn lcores_run_shares(eal: &Eal) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    let lcores = eal.lcores();
    assert_eq!(lcores.iter().map(|l| l.id).collect::<Vec<_>>(), [0, 1]);
    let seen = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    eal.run_on_lcores(2, &stop, &|i| {
        seen.lock()
            .unwrap()
            .push((i, uxdp_io_dpdk::current_lcore()));
    })
    .unwrap();
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, [(0, Some(0)), (1, Some(1))]);
    assert!(uxdp_io_dpdk::current_lcore().is_some());

    // Share 1 panics; share 0 runs until the stop flag says the job failed.
    let e = eal
        .run_on_lcores(2, &stop, &|i| {
            if i == 1 {
                panic!("share 1 fails");
            }
            while !stop.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
        })
        .unwrap_err();
    assert!(e.to_string().contains("worker 1"), "{e}");
    let e = eal.run_on_lcores(3, &stop, &|_| {}).unwrap_err();
    assert!(e.reason.contains("the EAL has 2"), "{e}");
}
