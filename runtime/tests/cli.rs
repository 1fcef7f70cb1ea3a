//! The `uxdp` command as a user runs it.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::Tmux;

fn uxdp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_uxdp"))
        .args(args)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("run uxdp")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

const EXAMPLE: &str = "examples/asm/udp_dst_port.data";

#[test]
fn exec_runs_the_shipped_example_and_checks_its_result() {
    let o = uxdp(&["exec", EXAMPLE]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "0x35");
}

#[test]
fn exec_with_other_memory_reports_without_checking() {
    // An ARP frame (EtherType 0x0806): not UDP, so 0.
    let arp = "ff ff ff ff ff ff 02 00 00 00 00 01 08 06 00 01 08 00 06 04 00 01 \
               02 00 00 00 00 01 c0 00 02 01 00 00 00 00 00 00 c0 00 02 02";
    let o = uxdp(&["exec", EXAMPLE, "--mem", arp]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "0x0");
}

#[test]
fn asm_and_disasm_round_trip_through_files() {
    let dir = std::env::temp_dir().join(format!("uxdp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("prog.bin");
    let o = uxdp(&["asm", EXAMPLE, "-o", bin.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(&bin).unwrap().len(), 17 * 8);
    let o = uxdp(&["disasm", bin.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listing = stdout(&o);
    assert!(
        listing.starts_with("mov %r0, 0\njlt %r2, 34, +14\n"),
        "{listing}"
    );
    assert!(listing.ends_with("be16 %r0\nexit"), "{listing}");
    // The listing assembles back to the same bytes.
    let src = dir.join("prog.s");
    std::fs::write(&src, format!("{listing}\n")).unwrap();
    let again = dir.join("again.bin");
    let o = uxdp(&["asm", src.to_str().unwrap(), "-o", again.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(&again).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("uxdp-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("bad.s");
    std::fs::write(&src, "mov %r0, 1\nldxw %r0, [%r1+4]\nfrob %r2\nexit\n").unwrap();
    let o = uxdp(&["exec", src.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).ends_with("line 3: unknown mnemonic `frob`"),
        "{}",
        stderr(&o)
    );

    // Reading past the end of the memory stops the run at that instruction.
    std::fs::write(&src, "mov %r0, 1\nldxw %r0, [%r1+4]\nexit\n").unwrap();
    let o = uxdp(&["exec", src.to_str().unwrap(), "--mem", "00 01 02 03"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("instruction 1: read of 4 bytes at"),
        "{}",
        stderr(&o)
    );

    // Not an object at all: said, with how objects are made.
    let o = uxdp(&["verify", src.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("bad.s: not a valid ELF file"), "{err}");
    assert!(
        err.contains("\n  hint: uxdp runs eBPF objects as clang builds them"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    let dir = std::env::temp_dir().join(format!("uxdp-cli-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 200,000 `exit`s: megabytes of disassembly, far beyond a pipe's buffer.
    let bin = dir.join("long.bin");
    std::fs::write(&bin, [0x95u8, 0, 0, 0, 0, 0, 0, 0].repeat(200_000)).unwrap();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} disasm {} | head -n 1",
            env!("CARGO_BIN_EXE_uxdp"),
            bin.display()
        ))
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    assert_eq!(stderr(&o), "", "no panic, no message");
}

#[test]
fn completions_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let o = uxdp(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for cmd in ["test-run", "map", "prog", "link", "store", "verify"] {
            assert!(script.contains(cmd), "{shell} completion lacks {cmd}");
        }
    }
}

/// A directory of the test's own with the object `count.o` and a 64-byte packet.
fn count_object(tag: &str) -> PathBuf {
    object_dir(tag, "count_and_push", "count.o")
}

/// A directory of the test's own with tests/programs/SRC.c built as `obj` and a 64-byte
/// packet `pkt.bin`.
fn object_dir(tag: &str, src: &str, obj: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("uxdp-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let obj = dir.join(obj);
    let clang = Command::new("clang-14")
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-I/usr/include/x86_64-linux-gnu",
            "-c",
        ])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/{src}.c")))
        .arg("-o")
        .arg(&obj)
        .output()
        .unwrap();
    assert!(
        clang.status.success(),
        "{}",
        String::from_utf8_lossy(&clang.stderr)
    );
    std::fs::write(dir.join("pkt.bin"), [0u8; 64]).unwrap();
    dir
}

#[test]
fn verbose_levels_add_log_lines() {
    let dir = count_object("verbose");
    let (obj, data) = (dir.join("count.o"), dir.join("pkt.bin"));
    let run = |v: &[&str]| {
        let mut args = vec![
            "test-run",
            obj.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ];
        args.extend(v);
        let o = uxdp(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let quiet = run(&[]);
    let info = run(&["-v"]);
    let debug = run(&["-vv"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!quiet.contains("INFO"), "{quiet}");
    assert!(
        info.contains("INFO") && info.contains("compiled in"),
        "{info}"
    );
    assert!(!info.contains("DEBUG"), "{info}");
    assert!(
        debug.contains("DEBUG") && debug.contains("entries"),
        "{debug}"
    );
}

#[test]
fn bench_draws_its_figures() {
    let dir = count_object("plot");
    let png = dir.join("bench.png");
    let o = uxdp(&[
        "bench",
        dir.join("count.o").to_str().unwrap(),
        "--data",
        dir.join("pkt.bin").to_str().unwrap(),
        "--no-kernel",
        "--repeat",
        "1000",
        "--plot",
        png.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&png).unwrap_or_default();
    // An IPv6 frame the program drops, unchanged, run after run.
    let mut v6 = [0u8; 64];
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    let v6_path = dir.join("v6.bin");
    std::fs::write(&v6_path, v6).unwrap();
    let dropped = uxdp(&[
        "bench",
        dir.join("count.o").to_str().unwrap(),
        "--data",
        v6_path.to_str().unwrap(),
        "--no-kernel",
        "--repeat",
        "1000",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{} bytes",
        bytes.len()
    );
    // The program pushes 4 bytes per run: once the headroom is used up, runs abort.
    // The figures are of that, and the output says so.
    assert!(
        stdout(&o).contains(
            "note: the first run on the packet returned XDP_PASS; each later run sees the packet"
        ) && stdout(&o).contains("these figures time XDP_ABORTED"),
        "{}",
        stdout(&o)
    );
    assert!(dropped.status.success(), "{}", stderr(&dropped));
    assert!(
        stdout(&dropped).contains("XDP_DROP") && !stdout(&dropped).contains("note:"),
        "{}",
        stdout(&dropped)
    );
}

#[test]
fn bench_shows_its_progress_on_a_terminal_only() {
    let dir = count_object("progress");
    let (obj, data) = (dir.join("count.o"), dir.join("pkt.bin"));
    // Piped: the figures, and nothing on stderr.
    let piped = uxdp(&[
        "bench",
        obj.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--no-kernel",
        "--repeat",
        "1000",
    ]);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(stderr(&piped), "");
    // On a terminal (tmux): a bar naming the engine being timed, gone at the end.
    let tmux = Tmux(format!("uxdp-progress-{}", std::process::id()));
    let cmd = format!(
        "{} bench {} --data {} --no-kernel --repeat 4000000",
        env!("CARGO_BIN_EXE_uxdp"),
        obj.display(),
        data.display()
    );
    tmux.cmd(&["new-session", "-d", "-x", "120", "-y", "30", &cmd]);
    tmux.cmd(&["set-option", "-w", "remain-on-exit", "on"]);
    let since = Instant::now();
    let mut seen = None;
    loop {
        let screen = tmux.cmd(&["capture-pane", "-p"]);
        if seen.is_none() && screen.contains("engines, 4000000 runs in") {
            seen = Some(screen.clone());
        }
        if tmux.cmd(&["display-message", "-p", "#{pane_dead}"]).trim() == "1" {
            let _ = std::fs::remove_dir_all(&dir);
            // The screen as the finished command left it (the capture above may predate
            // its last redraw).
            let screen = tmux.cmd(&["capture-pane", "-p"]);
            assert!(seen.is_some(), "no progress was drawn: {screen}");
            assert!(screen.contains("uxdp interpreter"), "{screen}");
            assert!(!screen.contains("engines,"), "the bar is cleared: {screen}");
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(120), "{screen}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_program_the_user_names_runs_as_xdp_whatever_its_section() {
    let dir = object_dir("legacy", "legacy_section", "legacy.o");
    let (obj, data) = (dir.join("legacy.o"), dir.join("pkt.bin"));
    let run = |prog: &[&str]| {
        let mut args = vec![
            "test-run",
            obj.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--json",
        ];
        args.extend(prog);
        uxdp(&args)
    };
    let unnamed = run(&[]);
    let named = run(&["--prog", "xdp_router_func"]);
    let by_section = run(&["--prog", "xdp_router"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!unnamed.status.success());
    assert!(
        stderr(&unnamed).contains("has no XDP program"),
        "{}",
        stderr(&unnamed)
    );
    for o in [&named, &by_section] {
        assert!(o.status.success(), "{}", stderr(o));
        assert!(
            stdout(o).contains("\"action\": \"XDP_DROP\""),
            "{}",
            stdout(o)
        );
        let note = "`xdp_router_func` is in section `xdp_router`, which names no program type; \
                    running it as XDP";
        assert_eq!(
            stderr(o).matches(note).count(),
            1,
            "said once: {}",
            stderr(o)
        );
    }
}

#[test]
fn a_test_run_stopped_by_a_signal_leaves_no_store() {
    let dir = count_object("signal");
    let (obj, data) = (dir.join("count.o"), dir.join("pkt.bin"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_uxdp"))
        .args([
            "test-run",
            obj.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .args(["--repeat", "2000000000", "--interpret"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let store = PathBuf::from(format!("/dev/shm/uxdp-test-run-{}", child.id()));
    // Long enough for the store to be made and the runs to start.
    std::thread::sleep(Duration::from_millis(500));
    let running = child.try_wait().unwrap().is_none();
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(running, "still running when the signal came");
    assert!(!status.success(), "ended by the signal");
    assert!(!store.exists(), "{} was left behind", store.display());
}
