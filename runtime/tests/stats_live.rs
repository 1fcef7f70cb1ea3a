//! `uxdp stats` watching a running `uxdp run` (over DPDK's `net_null`, which receives as
//! fast as it is polled): JSON lines with rates when piped, and on a terminal — tmux, whose
//! screen the test reads — one report refreshed in place. Needs root, tmux and clang-14;
//! it does not skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Tmux, clang, require_root};
use serde_json::Value;

/// A `uxdp run` of the test's, stopped with SIGINT on drop.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        // SAFETY: signals a child this test started and has not reaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}

fn uxdp() -> &'static str {
    env!("CARGO_BIN_EXE_uxdp")
}

/// Starts `uxdp run` on `obj` over net_null and waits for its published counters.
fn start(obj: &Path, tag: &str) -> (Run, u32) {
    let child = Command::new(uxdp())
        .arg("run")
        .arg(obj)
        .args(["--dpdk", "--duration", "20", "--stats", "0", "--"])
        .args(["--no-huge", "--no-pci", "-m", "256", "-l", "0"])
        .arg(format!(
            "--file-prefix=uxdp-stats-{tag}-{}",
            std::process::id()
        ))
        .args(["--vdev", "net_null0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let run = Run(child);
    let published = PathBuf::from(format!("/run/uxdp/stats/{pid}.json"));
    let since = Instant::now();
    while !published.exists() {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "uxdp run published nothing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (run, pid)
}

fn object(tag: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("uxdp-stats-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let obj = dir.join("count.o");
    clang(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/count_and_push.c"),
        &obj,
        true,
    );
    (dir, obj)
}

#[test]
fn piped_stats_are_json_lines_with_rates() {
    require_root("DPDK");
    let (dir, obj) = object("json");
    let (run, pid) = start(&obj, "json");
    let o = Command::new(uxdp())
        .args(["stats", "--pid", &pid.to_string(), "--count", "2"])
        .args(["--interval", "0.3"])
        .output()
        .unwrap();
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let reports: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 2, "{text}");
    for r in &reports {
        assert_eq!(r["pid"], Value::from(pid));
        let w = &r["workers"][0];
        assert!(w["rx_pps"].as_f64().unwrap() > 1000.0, "{r}");
        assert_eq!(w["rx_pps"], w["actions_pps"]["XDP_PASS"], "{r}");
        assert!(r["ports"][0]["rx_pps"].as_f64().unwrap() > 1000.0, "{r}");
    }
    // Once the run is gone, it is said.
    let o = Command::new(uxdp())
        .args(["stats", "--pid", &pid.to_string()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("no uxdp data plane with pid {pid}"))
    );
}

#[test]
fn on_a_terminal_one_report_is_refreshed_in_place() {
    require_root("DPDK");
    let (dir, obj) = object("tty");
    let (run, pid) = start(&obj, "tty");
    let tmux = Tmux(format!("uxdp-stats-{}", std::process::id()));
    tmux.cmd(&[
        "new-session",
        "-d",
        "-x",
        "120",
        "-y",
        "30",
        &format!("{} stats --pid {pid} --interval 0.2", uxdp()),
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    let screen = tmux.cmd(&["capture-pane", "-p"]);
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
    // Several reports have been drawn by now, each over the last.
    assert_one_report(&screen);
}

#[test]
fn uxdp_run_stats_shows_the_same_view_in_place() {
    require_root("DPDK");
    let (dir, obj) = object("run");
    let tmux = Tmux(format!("uxdp-run-stats-{}", std::process::id()));
    let run = format!(
        "{} run {} --dpdk --stats 0.2 --duration 4 -- --no-huge --no-pci -m 256 -l 0 \
         --file-prefix=uxdp-stats-run-{} --vdev net_null0",
        uxdp(),
        obj.display(),
        std::process::id()
    );
    tmux.cmd(&["new-session", "-d", "-x", "120", "-y", "30", &run]);
    // Keep the pane after uxdp exits, so the run ends by itself (--duration), cleanly.
    tmux.cmd(&["set-option", "-w", "remain-on-exit", "on"]);
    std::thread::sleep(Duration::from_millis(2000));
    let screen = tmux.cmd(&["capture-pane", "-p"]);
    let since = Instant::now();
    while tmux.cmd(&["display-message", "-p", "#{pane_dead}"]).trim() != "1" {
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "uxdp run did not end"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_dir_all(&dir);
    // The set-up line, then `uxdp stats`'s report, drawn over itself each interval.
    assert!(
        screen
            .lines()
            .any(|l| l.starts_with("uxdp: count: program prog")),
        "{screen}"
    );
    assert_one_report(&screen);
}

/// `screen` shows one report of the run over net_null (its header once, as each report
/// was drawn over the last), with the worker, its action and the port.
fn assert_one_report(screen: &str) {
    let headers = screen
        .lines()
        .filter(|l| l.starts_with("uxdp prog ("))
        .count();
    assert_eq!(headers, 1, "{screen}");
    assert!(screen.contains("worker 0"), "{screen}");
    assert!(
        screen.contains("XDP_PASS") && screen.contains("Mpps"),
        "{screen}"
    );
    assert!(screen.contains("port net_null0"), "{screen}");
}
