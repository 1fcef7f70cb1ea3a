//! Control planes that pin and attach, under the shim, in a network namespace of the
//! test's own: a libbpf C client (pins, gets by path, `bpf_xdp_attach`/`query`/`detach`
//! over netlink) answers exactly as the same client does against the kernel; Debian's
//! bpftool (`prog load ... pinmaps`, `prog show`/`prog run`/`map update`/`map lookup` by
//! pin, `net attach`/`show`/`detach`), iproute2's `ip link` and xdp-tools' `xdp-loader`
//! (`load`/`status`/`unload`) see uxdp's pins and attachments; the kernel gets no program,
//! map or XDP attachment. Needs root; it does not skip.

mod common;

use std::path::{Path, PathBuf};

use common::{Netns, Scratch, kernel_map_names, kernel_prog_names, shim, text};
use uxdp_maps::Store;
use uxdp_maps::store::Pinned;

/// Held by each test for its whole run: some load the test program into the kernel for
/// comparison while others check the kernel has none of it.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The test program, built into `dir`.
fn count_verdict(dir: &Path) -> PathBuf {
    common::program("count_verdict", dir)
}

/// The shim's environment for a store at `store`.
fn shim_env(store: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![("LD_PRELOAD", shim()), ("UXDP_STORE", store.to_path_buf())]
}

fn env_refs<'a>(env: &'a [(&'static str, PathBuf)]) -> Vec<(&'static str, &'a Path)> {
    env.iter().map(|(k, v)| (*k, v.as_path())).collect()
}

/// Neither the kernel's program list nor its map list has the test program's objects,
/// and the kernel reports no XDP program on `dev`.
fn kernel_untouched(ns: &Netns, dev: &str) {
    assert!(!kernel_prog_names().iter().any(|n| n == "count_verdict"));
    let maps = kernel_map_names();
    assert!(
        !maps.iter().any(|n| n == "hits" || n == "verdict"),
        "{maps:?}"
    );
    let link = ns.ip(&["link", "show", "dev", dev]);
    assert!(
        !link.contains("xdp"),
        "the kernel has an XDP program: {link}"
    );
}

/// Runs C client `name` (built against each libbpf) with the test program, pin path `pin`
/// and a veth of a namespace of its own, under the shim and then against the kernel (with a bpffs of its own in
/// `ip netns exec`'s private mounts); checks the kernel got nothing from the shim's run,
/// that the kernel's transcript has `steps`, and that the two transcripts are equal.
fn client_as_with_the_kernel(name: &str, pin: &str, steps: &[&str]) {
    for libbpf in common::Libbpf::ALL {
        client_with_the_kernel(name, pin, steps, libbpf);
    }
}

/// As [`client_as_with_the_kernel`], for the client built against `libbpf`.
fn client_with_the_kernel(name: &str, pin: &str, steps: &[&str], libbpf: common::Libbpf) {
    let scratch = Scratch::new(&format!("attach-{name}-{}", libbpf.tag()));
    let dir = &scratch.0;
    let obj = count_verdict(dir);
    let exe = common::client_with(name, dir, libbpf);
    let (dev, peer) = (format!("ux{name}0"), format!("ux{name}1"));
    let ns = Netns::with_veth(name, &dev, &peer);
    let env = shim_env(&dir.join("store"));
    let args = [obj.to_str().unwrap(), pin, dev.as_str()];
    let ours = ns.run(&env_refs(&env), &exe, &args);
    assert!(ours.status.success(), "{}", text(&ours));
    kernel_untouched(&ns, &dev);
    let script = format!(
        "mount -t bpf bpf /sys/fs/bpf && exec {} {}",
        exe.display(),
        args.join(" ")
    );
    let kernel = ns.run(&[], Path::new("sh"), &["-c", &script]);
    assert!(kernel.status.success(), "{}", text(&kernel));
    let (ours, kernel) = (
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&kernel.stdout),
    );
    for step in steps {
        assert!(kernel.contains(step), "{step} missing from {kernel}");
    }
    assert_eq!(
        ours, kernel,
        "{libbpf:?}: shim answers (left) differ from the kernel's"
    );
}

#[test]
fn a_libbpf_client_attaches_over_netlink_as_with_the_kernel() {
    common::require_root("a network namespace and the kernel comparison");
    let _serial = one_at_a_time();
    client_as_with_the_kernel(
        "attach",
        "/sys/fs/bpf/uxdp_attach_test",
        &[
            "attach 0",
            "attached_is_ours 1",
            "attach_again -16",
            "detach 0",
        ],
    );
}

#[test]
fn xdp_links_behave_as_the_kernel_s() {
    common::require_root("a network namespace and the kernel comparison");
    let _serial = one_at_a_time();
    client_as_with_the_kernel(
        "link",
        "/sys/fs/bpf/uxdp_link_test",
        &[
            "attach_by_link 0",
            "netlink_beside_link -16",
            "kept_by_pin 1",
            "update_defunct -67",
        ],
    );
}

#[test]
fn bpftool_pins_runs_and_attaches_in_uxdp() {
    common::require_root("a network namespace and the kernel check");
    let _serial = one_at_a_time();
    let scratch = Scratch::new("attach-bpftool");
    let dir = &scratch.0;
    let obj = count_verdict(dir);
    let ns = Netns::with_veth("bpftool", "uxb0", "uxb1");
    let store_path = dir.join("store");
    let env = shim_env(&store_path);
    let env = env_refs(&env);
    let bpftool = |args: &[&str]| ns.run(&env, Path::new("bpftool"), args);
    let ok = |args: &[&str]| {
        let o = bpftool(args);
        assert!(o.status.success(), "bpftool {args:?}: {}", text(&o));
        text(&o)
    };
    let pin = "/sys/fs/bpf/cv";
    ok(&[
        "prog",
        "load",
        obj.to_str().unwrap(),
        pin,
        "pinmaps",
        "/sys/fs/bpf/cv_maps",
    ]);
    let shown = ok(&["prog", "show", "pinned", pin]);
    assert!(shown.contains("xdp  name count_verdict"), "{shown}");
    let id: u32 = shown.split(':').next().unwrap().trim().parse().unwrap();

    // The store holds the pins, and the program by them.
    let store = Store::open(&store_path).unwrap();
    assert!(matches!(store.pinned(pin), Some(Pinned::Object(_))));
    assert_eq!(store.pinned("/sys/fs/bpf/cv_maps"), Some(Pinned::Dir));
    assert_eq!(store.program_ids(), [id]);

    // prog run by pin, the verdict changed by a map update by pin, the count read back.
    let packet = dir.join("packet");
    std::fs::write(&packet, [0x11u8; 64]).unwrap();
    let out = dir.join("out");
    let run = |want: &str| {
        let o = ok(&[
            "prog",
            "run",
            "pinned",
            pin,
            "data_in",
            packet.to_str().unwrap(),
            "data_out",
            out.to_str().unwrap(),
        ]);
        assert!(o.contains(&format!("Return value: {want}")), "{o}");
    };
    run("2");
    let verdict = "/sys/fs/bpf/cv_maps/verdict";
    ok(&[
        "map", "update", "pinned", verdict, "key", "0", "0", "0", "0", "value", "1", "0", "0", "0",
    ]);
    run("1");
    assert_eq!(std::fs::read(&out).unwrap(), [0x11u8; 64]);
    let hits = ok(&[
        "-j",
        "map",
        "lookup",
        "pinned",
        "/sys/fs/bpf/cv_maps/hits",
        "key",
        "0",
        "0",
        "0",
        "0",
    ]);
    assert!(
        hits.contains("\"formatted\":{\"key\":0,\"value\":2}"),
        "{hits}"
    );

    // net attach / show / a refused second attach / detach, also seen by ip link.
    ok(&["net", "attach", "xdpgeneric", "pinned", pin, "dev", "uxb0"]);
    let net = ok(&["net", "show", "dev", "uxb0"]);
    assert!(
        net.contains("uxb0(") && net.contains(&format!("generic id {id}")),
        "{net}"
    );
    let ip = ns.run(&env, Path::new("ip"), &["link", "show", "dev", "uxb0"]);
    assert!(
        text(&ip).contains(&format!("prog/xdp id {id} name count_verdict")),
        "{}",
        text(&ip)
    );
    let again = bpftool(&["net", "attach", "xdpgeneric", "pinned", pin, "dev", "uxb0"]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("XDP program already attached"),
        "{}",
        text(&again)
    );
    let attached = store.xdp_attachments();
    assert_eq!(attached.len(), 1);
    assert_eq!(attached[0].prog_id, id);
    kernel_untouched(&ns, "uxb0");
    ok(&["net", "detach", "xdpgeneric", "dev", "uxb0"]);
    assert!(!ok(&["net", "show", "dev", "uxb0"]).contains("generic id"));
    assert!(store.xdp_attachments().is_empty());

    // map create pins a new map in uxdp; it is dumped empty and the kernel has none.
    let created = "/sys/fs/bpf/created";
    ok(&[
        "map", "create", created, "type", "hash", "key", "4", "value", "8", "entries", "16",
        "name", "created",
    ]);
    let shown = ok(&["map", "show", "pinned", created]);
    assert!(
        shown.contains("hash  name created") && shown.contains("max_entries 16"),
        "{shown}"
    );
    let key = ["key", "1", "0", "0", "0"];
    let value = ["value", "5", "0", "0", "0", "0", "0", "0", "0"];
    ok(&[&["map", "update", "pinned", created][..], &key, &value].concat());
    let dump = ok(&["map", "dump", "pinned", created]);
    assert!(
        dump.contains("key: 01 00 00 00  value: 05 00 00 00 00 00 00 00"),
        "{dump}"
    );
    ok(&[&["map", "delete", "pinned", created][..], &key].concat());
    assert_eq!(ok(&["-j", "map", "dump", "pinned", created]).trim(), "[]");
    assert!(!kernel_map_names().iter().any(|n| n == "created"));
    let rm = ns.run(&env, Path::new("rm"), &[created]);
    assert!(rm.status.success(), "{}", text(&rm));

    // rm and rmdir of the pins (coreutils, under the shim) let the objects go.
    let maps = ["/sys/fs/bpf/cv_maps/hits", verdict];
    let rm = ns.run(&env, Path::new("rm"), &[&[pin][..], &maps[..]].concat());
    assert!(rm.status.success(), "{}", text(&rm));
    let rmdir = ns.run(&env, Path::new("rmdir"), &["/sys/fs/bpf/cv_maps"]);
    assert!(rmdir.status.success(), "{}", text(&rmdir));
    assert_eq!(store.pinned("/sys/fs/bpf/cv_maps"), None);
    assert!(store.program_ids().is_empty(), "{:?}", store.program_ids());
    assert!(store.map_ids().is_empty(), "{:?}", store.map_ids());
}

#[test]
fn xdp_loader_loads_shows_and_unloads_in_uxdp() {
    common::require_root("a network namespace and the kernel check");
    let _serial = one_at_a_time();
    let scratch = Scratch::new("attach-xdp-loader");
    let dir = &scratch.0;
    let obj = count_verdict(dir);
    let ns = Netns::with_veth("loader", "uxl0", "uxl1");
    let store_path = dir.join("store");
    let env = shim_env(&store_path);
    let env = env_refs(&env);
    let loader = |args: &[&str]| {
        let o = ns.run(&env, Path::new("xdp-loader"), args);
        (o.status.success(), text(&o))
    };
    let (ok, out) = loader(&["load", "-m", "skb", "uxl0", obj.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, status) = loader(&["status", "uxl0"]);
    assert!(ok, "{status}");
    let line = status
        .lines()
        .find(|l| l.contains("count_verdict"))
        .unwrap_or_else(|| panic!("no count_verdict in {status}"));
    assert!(line.contains("skb"), "{line}");
    let store = Store::open(&store_path).unwrap();
    let attached = store.xdp_attachments();
    assert_eq!(
        attached.len(),
        1,
        "the attachment holds the program after xdp-loader exits"
    );
    assert!(
        line.contains(&format!(" {} ", attached[0].prog_id)),
        "{line}"
    );
    kernel_untouched(&ns, "uxl0");
    let (ok, out) = loader(&["unload", "uxl0", "--all"]);
    assert!(ok, "{out}");
    let (_, status) = loader(&["status", "uxl0"]);
    assert!(!status.contains("count_verdict"), "{status}");
    assert!(store.xdp_attachments().is_empty());
    assert!(
        store.program_ids().is_empty(),
        "the program went with its attachment"
    );
}

/// An attachment ends with its namespace: after a namespace with an attached interface is
/// deleted, a new namespace with the same interfaces (the same ifindexes, and here
/// likely the same nsfs inode number) shows no program under the shim, as the kernel's
/// would not.
#[test]
fn an_attachment_does_not_outlive_its_namespace() {
    common::require_root("network namespaces");
    let _serial = one_at_a_time();
    let scratch = Scratch::new("attach-netns-gone");
    let dir = &scratch.0;
    let obj = count_verdict(dir);
    let env = shim_env(&dir.join("store"));
    let env = env_refs(&env);
    let shown = |ns: &Netns| {
        let o = ns.run(&env, Path::new("ip"), &["link", "show", "dev", "uxg0"]);
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let first = Netns::with_veth("gone", "uxg0", "uxg1");
    let pin = "/sys/fs/bpf/uxdp_gone";
    for args in [
        &["prog", "load", obj.to_str().unwrap(), pin][..],
        &["net", "attach", "xdp", "pinned", pin, "dev", "uxg0"][..],
    ] {
        let o = first.run(&env, Path::new("bpftool"), args);
        assert!(o.status.success(), "bpftool {args:?}: {}", text(&o));
    }
    assert!(shown(&first).contains("prog/xdp"), "{}", shown(&first));
    drop(first);
    let second = Netns::with_veth("gone", "uxg0", "uxg1");
    let now = shown(&second);
    assert!(!now.contains("prog/xdp"), "a stale attachment shows: {now}");
}

#[test]
fn an_attachment_ends_with_its_interface() {
    common::require_root("network namespaces");
    let _serial = one_at_a_time();
    let scratch = Scratch::new("attach-iface-gone");
    let dir = &scratch.0;
    let obj = count_verdict(dir);
    let store = dir.join("store");
    let env = shim_env(&store);
    let env = env_refs(&env);
    let shown = |ns: &Netns| {
        let o = ns.run(&env, Path::new("ip"), &["link", "show", "dev", "uxi0"]);
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let ns = Netns::with_veth("ifgone", "uxi0", "uxi1");
    let pin = "/sys/fs/bpf/uxdp_ifgone";
    for args in [
        &["prog", "load", obj.to_str().unwrap(), pin][..],
        &["net", "attach", "xdp", "pinned", pin, "dev", "uxi0"][..],
    ] {
        let o = ns.run(&env, Path::new("bpftool"), args);
        assert!(o.status.success(), "bpftool {args:?}: {}", text(&o));
    }
    assert!(shown(&ns).contains("prog/xdp"), "{}", shown(&ns));
    let index = ns
        .ip(&["-o", "link", "show", "dev", "uxi0"])
        .split(':')
        .next()
        .unwrap()
        .trim()
        .to_string();
    // The interface deleted, and another made with the same name and the same ifindex:
    // the kernel's attachment went with the first, and so does uxdp's.
    ns.ip(&["link", "del", "uxi0"]);
    ns.ip(&[
        "link", "add", "uxi0", "index", &index, "type", "veth", "peer", "name", "uxi1",
    ]);
    let now = shown(&ns);
    assert!(!now.contains("prog/xdp"), "a stale attachment shows: {now}");
    let o = ns.run(&env, Path::new("bpftool"), &["net", "show"]);
    assert!(!text(&o).contains("uxi0"), "{}", text(&o));
    // The store lets go of the program's hold: only the pin keeps it.
    let o = ns.run(
        &env,
        Path::new("bpftool"),
        &["net", "attach", "xdp", "pinned", pin, "dev", "uxi0"],
    );
    assert!(
        o.status.success(),
        "attaching again to the new interface: {}",
        text(&o)
    );
    assert!(shown(&ns).contains("prog/xdp"));
}
