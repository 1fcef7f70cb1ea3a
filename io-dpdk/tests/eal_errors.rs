//! The EAL refuses bad arguments with DPDK's reason, and nothing is left behind.

use uxdp_io_dpdk::Eal;

#[test]
fn bad_eal_arguments_are_refused_clearly() {
    let prefix = format!("--file-prefix=uxdp-ealerr-{}", std::process::id());
    let e = Eal::init(&["--no-huge", &prefix, "--definitely-not-an-eal-option"]).unwrap_err();
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/uxdp-ealerr-{}", std::process::id()));
    assert!(e.op.contains("rte_eal_init"), "{e}");
    assert!(e.op.contains("--definitely-not-an-eal-option"), "{e}");
}
