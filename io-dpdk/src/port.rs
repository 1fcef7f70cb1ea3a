//! Ethernet ports: configured with their queues, started, stopped and closed on drop.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::eal::Eal;
use crate::error::{DpdkError, check};
use crate::mbuf::Burst;
use crate::mempool::Mempool;
use crate::sys;

/// How to set a port up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// Receive queues (RSS spreads flows over them when more than one).
    pub rx_queues: u16,
    /// Transmit queues.
    pub tx_queues: u16,
    /// Descriptors per receive ring.
    pub rx_ring: u16,
    /// Descriptors per transmit ring.
    pub tx_ring: u16,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_ring: 1024,
            tx_ring: 1024,
        }
    }
}

/// Counters of a port (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the device dropped for lack of rx descriptors or buffers.
    pub rx_missed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
}

/// What a device is and can do, before it is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// DPDK's name for the port (`net_pcap0`, a PCI address).
    pub name: String,
    /// The driver (`net_pcap`, `net_tap`, ...).
    pub driver: String,
    /// Most receive queues it takes.
    pub max_rx_queues: u16,
    /// Most transmit queues it takes.
    pub max_tx_queues: u16,
    /// The kernel interface behind it, for drivers that have one (`net_tap`,
    /// `net_af_packet`, `net_af_xdp`); 0 otherwise.
    pub if_index: u32,
    /// Its MAC address.
    pub mac: [u8; 6],
}

/// A started port, stopped and closed on drop. Its queues are used through [`Queue`]
/// handles, one per queue index, so each queue has one user at a time.
#[derive(Debug)]
pub struct Port<'e> {
    id: u16,
    name: String,
    config: PortConfig,
    queues_taken: AtomicBool,
    _eal: std::marker::PhantomData<&'e Eal>,
}

/// Receive and transmit queue `index` of a port: the one handle that moves packets
/// through them (DPDK's queues are not safe to share between threads).
#[derive(Debug)]
pub struct Queue<'p> {
    port: u16,
    index: u16,
    rx: bool,
    tx: bool,
    _port: std::marker::PhantomData<&'p Port<'p>>,
}

impl<'e> Port<'e> {
    /// The id of the port DPDK calls `name` (a `--vdev` name such as `net_ring0`, or a PCI
    /// address).
    pub fn id_by_name(_eal: &Eal, name: &str) -> Result<u16, DpdkError> {
        let op = || format!("port `{name}`");
        let cname = CString::new(name).map_err(|_| DpdkError::new(op(), "name holds a NUL"))?;
        let mut id = 0u16;
        // SAFETY: the EAL is running; both pointers are valid for the call.
        let ret = unsafe { sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if ret < 0 {
            return Err(DpdkError::new(
                op(),
                "no such port (give it to the EAL with --vdev or a PCI allow-list)",
            ));
        }
        Ok(id)
    }

    /// What port `id` is, and what it can do.
    pub fn info(eal: &Eal, id: u16) -> Result<PortInfo, DpdkError> {
        let info = dev_info(eal, id)?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: DPDK's driver names are static NUL-terminated strings.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        let mut mac = sys::rte_ether_addr::default();
        // SAFETY: valid port; `mac` is writable. A device without an address leaves zeros.
        let _ = unsafe { sys::rte_eth_macaddr_get(id, &mut mac) };
        Ok(PortInfo {
            name: port_name(id),
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            if_index: info.if_index,
            mac: mac.addr_bytes,
        })
    }

    /// Configures port `id` with `config`, receive buffers from `pool`, and starts it in
    /// promiscuous mode.
    pub fn start(
        eal: &'e Eal,
        id: u16,
        config: PortConfig,
        pool: &Mempool<'e>,
    ) -> Result<Port<'e>, DpdkError> {
        let info = dev_info(eal, id)?;
        let name = port_name(id);
        if config.rx_queues == 0
            || config.tx_queues == 0
            || config.rx_queues > info.max_rx_queues
            || config.tx_queues > info.max_tx_queues
        {
            return Err(DpdkError::new(
                format!("port {id} ({name})"),
                format!(
                    "{} rx / {} tx queues asked, the device has 1..={} rx / 1..={} tx",
                    config.rx_queues, config.tx_queues, info.max_rx_queues, info.max_tx_queues
                ),
            ));
        }
        let mut conf = sys::rte_eth_conf::default();
        if config.rx_queues > 1 && info.flow_type_rss_offloads != 0 {
            conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads;
        }
        let at = |what: &str| format!("{what}(port {id} {name})");
        // SAFETY: valid port, valid configuration for the call.
        check(|| at("rte_eth_dev_configure"), unsafe {
            sys::rte_eth_dev_configure(id, config.rx_queues, config.tx_queues, &conf)
        })?;
        // SAFETY: valid port.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = u32::try_from(socket).unwrap_or(0);
        for q in 0..config.rx_queues {
            // SAFETY: configured port, queue in range, a live pool; NULL takes the
            // driver's default queue configuration.
            check(|| at("rte_eth_rx_queue_setup"), unsafe {
                sys::rte_eth_rx_queue_setup(
                    id,
                    q,
                    config.rx_ring,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            })?;
        }
        for q in 0..config.tx_queues {
            // SAFETY: as above.
            check(|| at("rte_eth_tx_queue_setup"), unsafe {
                sys::rte_eth_tx_queue_setup(id, q, config.tx_ring, socket, std::ptr::null())
            })?;
        }
        // SAFETY: configured port.
        check(|| at("rte_eth_dev_start"), unsafe {
            sys::rte_eth_dev_start(id)
        })?;
        // Not every virtual device supports promiscuous mode; it is only a convenience.
        // SAFETY: started port.
        let _ = unsafe { sys::rte_eth_promiscuous_enable(id) };
        Ok(Port {
            id,
            name,
            config,
            queues_taken: AtomicBool::new(false),
            _eal: std::marker::PhantomData,
        })
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// DPDK's name for the port.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration it runs with.
    pub fn config(&self) -> PortConfig {
        self.config
    }

    /// The handles of the port's queues, index by index (as many as the larger of the
    /// receive and transmit counts); given out once, empty after.
    pub fn take_queues(&self) -> Vec<Queue<'_>> {
        if self.queues_taken.swap(true, Ordering::SeqCst) {
            return Vec::new();
        }
        let c = self.config;
        (0..c.rx_queues.max(c.tx_queues))
            .map(|index| Queue {
                port: self.id,
                index,
                rx: index < c.rx_queues,
                tx: index < c.tx_queues,
                _port: std::marker::PhantomData,
            })
            .collect()
    }

    /// The port's counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: started port; `s` is writable.
        check(|| format!("rte_eth_stats_get(port {})", self.id), unsafe {
            sys::rte_eth_stats_get(self.id, &mut s)
        })?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
        })
    }
}

impl Queue<'_> {
    /// The queue's index.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Receives up to a burst into the empty `burst`; returns how many (0 when the port
    /// has no receive queue of this index).
    #[inline]
    pub fn rx(&mut self, burst: &mut Burst) -> usize {
        if !burst.is_empty() || !self.rx {
            return 0;
        }
        let (slots, n) = burst.rx_slots();
        // SAFETY: started port (the handle borrows it), a queue it has, used by this
        // handle alone; `slots` has room for `n` pointers.
        let got = unsafe { sys::uxdp_rx_burst(self.port, self.index, slots, n) };
        burst.set_received(usize::from(got));
        usize::from(got)
    }

    /// Sends what `burst` holds; what the device did not take stays in the burst, in
    /// order. Returns how many were sent (0 when the port has no transmit queue of this
    /// index).
    #[inline]
    pub fn tx(&mut self, burst: &mut Burst) -> usize {
        if burst.is_empty() || !self.tx {
            return 0;
        }
        let (slots, n) = burst.tx_slots();
        // SAFETY: as in `rx`; `slots` holds `n` mbufs we own, and the device takes
        // ownership of the first `sent`.
        let sent = unsafe { sys::uxdp_tx_burst(self.port, self.index, slots, n) };
        burst.sent(usize::from(sent));
        usize::from(sent)
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        // SAFETY: the port was started by this value; stopping and closing it releases
        // its queues (and a pcap port flushes its output file).
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
        }
    }
}

/// DPDK's description of port `id`, which must exist.
fn dev_info(eal: &Eal, id: u16) -> Result<sys::rte_eth_dev_info, DpdkError> {
    // SAFETY: the EAL is running; any id may be asked about.
    if unsafe { sys::rte_eth_dev_is_valid_port(id) } == 0 {
        return Err(DpdkError::new(
            format!("port {id}"),
            format!("no such port: DPDK has {} available", eal.port_count()),
        ));
    }
    let mut info = sys::rte_eth_dev_info::default();
    // SAFETY: `id` is a valid port; `info` is writable.
    check(|| format!("rte_eth_dev_info_get(port {id})"), unsafe {
        sys::rte_eth_dev_info_get(id, &mut info)
    })?;
    Ok(info)
}

/// DPDK's name for port `id`.
fn port_name(id: u16) -> String {
    let mut buf = [0 as std::ffi::c_char; 64];
    // SAFETY: `buf` is larger than RTE_ETH_NAME_MAX_LEN.
    let ret = unsafe { sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if ret < 0 {
        return format!("port{id}");
    }
    // SAFETY: DPDK wrote a NUL-terminated name into `buf`.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}
