//! Links the system DPDK (pkg-config `libdpdk`), generates bindings for the functions and
//! types uxdp uses with bindgen (passing DPDK's own cflags, which `-include rte_config.h`),
//! and compiles the C shim for the static-inline fast path.

use std::path::PathBuf;

fn main() {
    let dpdk = pkg_config::Config::new()
        .atleast_version("21.11")
        .probe("libdpdk")
        .expect("DPDK development files (Debian: libdpdk-dev; scripts/setup.sh installs them)");
    // Every flag pkg-config gives, includes and `-include rte_config.h` among them.
    let cflags: Vec<String> = {
        let out = std::process::Command::new("pkg-config")
            .args(["--cflags", "libdpdk"])
            .output()
            .expect("pkg-config");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };

    let mut shim = cc::Build::new();
    shim.file("csrc/shim.c").warnings(false).opt_level(3);
    for p in &dpdk.include_paths {
        shim.include(p);
    }
    for f in &cflags {
        if !f.starts_with("-I") {
            shim.flag(f);
        }
    }
    shim.compile("uxdp_dpdk_shim");

    let bindings = bindgen::Builder::default()
        .header("csrc/shim.h")
        .clang_args(&cflags)
        .allowlist_function("uxdp_.*")
        .allowlist_function("rte_eal_init|rte_eal_cleanup|rte_strerror")
        .allowlist_function(
            "rte_eth_dev_count_avail|rte_eth_dev_get_port_by_name|rte_eth_dev_is_valid_port",
        )
        .allowlist_function("rte_eth_find_next",
        )
        .allowlist_function("rte_eth_dev_get_name_by_port|rte_eth_dev_info_get")
        .allowlist_function("rte_eth_dev_configure|rte_eth_rx_queue_setup|rte_eth_tx_queue_setup")
        .allowlist_function("rte_eth_dev_start|rte_eth_dev_stop|rte_eth_dev_close")
        .allowlist_function("rte_eth_dev_socket_id|rte_eth_promiscuous_enable")
        .allowlist_function("rte_eth_stats_get|rte_eth_stats_reset|rte_eth_macaddr_get")
        .allowlist_function("rte_pktmbuf_pool_create|rte_mempool_free|rte_mempool_avail_count")
        .allowlist_function("rte_mempool_in_use_count|rte_socket_id|rte_lcore_count")
        .allowlist_function("rte_get_next_lcore|rte_eal_remote_launch|rte_eal_wait_lcore")
        .allowlist_function("rte_get_main_lcore|rte_lcore_to_cpu_id")
        .allowlist_type("rte_eth_conf|rte_eth_dev_info|rte_eth_stats|rte_ether_addr")
        .allowlist_var(
            "RTE_ETH_.*|RTE_MBUF_DEFAULT_BUF_SIZE|RTE_PKTMBUF_HEADROOM|RTE_MAX_ETHPORTS|RTE_MAX_LCORE",
        )
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .expect("bindgen over the DPDK headers");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("dpdk.rs");
    bindings.write_to_file(out).expect("writing the bindings");
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-changed=csrc/shim.h");
}
