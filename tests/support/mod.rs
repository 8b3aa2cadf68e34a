//! Helpers for tests that run real processes: building and starting the
//! example programs, temporary paths.
#![allow(dead_code)] // each test crate uses its own part

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The path of an example binary of this crate, built if missing.
pub fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let profile_dir = deps.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        // `cargo test` builds examples; `cargo test --test NAME` does not.
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--example",
            name,
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success(), "building example {name}");
    }
    path
}

/// A path in the temp directory unique to this test process.
pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("workerlife-test-{}-{name}", std::process::id()))
}

/// A running `hold_resources` example: a process holding known memory,
/// descriptors and ports. Killed and reaped on drop.
pub struct Holder {
    pub child: Child,
    pub pid: u32,
    pub port: u16,
    /// The pid of its forked child (`--fork`), else 0.
    pub forked: u32,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Holder {
    pub fn start(args: &[&str]) -> Holder {
        let mut child = Command::new(example("hold_resources"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start hold_resources");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let field = |name: &str| -> u64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        };
        Holder {
            pid: field("pid=") as u32,
            port: field("port=") as u16,
            forked: field("child=") as u32,
            stdin: child.stdin.take(),
            stdout,
            child,
        }
    }

    /// Sends a command (`grow N`, `fds N`) and waits for its `ok`.
    pub fn command(&mut self, cmd: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ok", "{cmd}");
    }

    /// Closes its stdin (it exits) and reaps it.
    pub fn finish(mut self) {
        self.stdin.take();
        self.child.wait().unwrap();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a `kB` line of `/proc/PID/status` in bytes.
pub fn status_kib(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// The number of open FDs of `pid`, counted by listing `/proc/PID/fd`.
pub fn fd_count(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64
}

/// Forks a child that runs `body` and exits with its code (101 on a panic).
pub fn fork_child(body: impl FnOnce() -> i32) -> u32 {
    // SAFETY: the child only runs `body` and _exits; glibc keeps malloc
    // usable after fork, and the library's own locks are fork-safe.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
        // SAFETY: leave without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    pid as u32
}

/// Waits for a child and returns its raw wait status.
pub fn wait(pid: u32) -> i32 {
    let mut status = 0;
    // SAFETY: pid is our child.
    let r = unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    assert_eq!(r, pid as i32);
    status
}

/// A process nobody reported to a pool: what an attacker would aim at.
/// Killed and reaped on drop.
pub struct Bystander(pub Child);

impl Bystander {
    pub fn start() -> Bystander {
        Bystander(Command::new("sleep").arg("60").spawn().unwrap())
    }
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
    /// Still running: no signal reached it.
    pub fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
