//! A process that holds known resources, for the process-toolkit tests and
//! for trying `workerlife::process::sample` by hand.
//!
//! usage: hold_resources [--mib N] [--fds N] [--port P] [--fork]
//!                       [--ignore-term] [--orphan LEDGER]
//!
//! It allocates and touches N MiB, opens N extra descriptors on /dev/null,
//! listens on 127.0.0.1:P (0: any free port), then prints one line
//! `ready pid=.. port=.. child=..` and serves stdin commands: `grow N` (touch
//! N more MiB), `fds N` (open N more), each answered `ok`. It exits at EOF.
//! `--fork` forks a child after allocating, which shares those pages, and
//! reports its pid as `child=`; the child lives until its parent exits.
//! `--ignore-term` ignores SIGTERM. `--orphan LEDGER` starts a copy of
//! itself (same flags, minus `--orphan`) that outlives this process, records
//! it in the ledger, prints `orphan=PID` and exits at once, as a crashed
//! master would (`--stay`, given to the orphan, makes it ignore stdin and
//! live until signalled).

use std::io::{BufRead, Write};

fn touch(mib: usize) -> Vec<u8> {
    let mut v = vec![0u8; mib << 20];
    // Write every page so it is resident, with values the allocator cannot
    // share.
    for (i, page) in v.chunks_mut(4096).enumerate() {
        page[0] = (i % 251) as u8 + 1;
    }
    v
}

fn open_fds(n: usize) -> Vec<std::fs::File> {
    (0..n)
        .map(|_| std::fs::File::open("/dev/null").expect("open /dev/null"))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let flag = |name: &str| args.iter().any(|a| a == name);
    let mib: usize = value("--mib").map_or(0, |v| v.parse().expect("--mib N"));
    let nfds: usize = value("--fds").map_or(0, |v| v.parse().expect("--fds N"));

    if let Some(ledger) = value("--orphan") {
        let mut rest = Vec::new();
        let mut skip = false;
        for a in &args {
            if skip {
                skip = false;
            } else if a == "--orphan" {
                skip = true;
            } else {
                rest.push(a.clone());
            }
        }
        let ledger = workerlife::process::Ledger::open(&ledger).expect("open ledger");
        rest.push("--stay".into());
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(&rest)
            .stdin(std::process::Stdio::null())
            // Nothing of this process's may stay open in the orphan: whoever
            // reads this process's output would wait for the orphan too.
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn orphan");
        // Wait until the orphan is set up, then leave it behind.
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.as_mut().unwrap());
        out.read_line(&mut line).unwrap();
        ledger.record(child.id()).expect("record orphan");
        println!("orphan={}", child.id());
        std::process::exit(0);
    }

    if flag("--ignore-term") {
        // SAFETY: installing SIG_IGN has no preconditions.
        unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    }
    let mut memory = vec![touch(mib)];
    let mut files = open_fds(nfds);
    let listener = value("--port").map(|p| {
        std::net::TcpListener::bind(("127.0.0.1", p.parse::<u16>().expect("--port P")))
            .expect("listen")
    });
    let port = listener
        .as_ref()
        .map_or(0, |l| l.local_addr().unwrap().port());
    let mut child = 0;
    if flag("--fork") {
        // The parent's pid is taken before the fork: read in the child, it
        // could already be its new parent's (init), had the parent died
        // first, and the child would wait for ever. The kernel's death
        // signal ends it too, with no polling to miss.
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the child only sleeps until its parent is gone.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: prctl, getppid and usleep are async-signal-safe.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                while libc::getppid() == parent {
                    libc::usleep(20_000);
                }
                libc::_exit(0);
            }
        }
        child = pid;
    }
    println!("ready pid={} port={port} child={child}", std::process::id());
    if flag("--stay") {
        // An orphan: nobody talks to it; it lives until it is signalled.
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        match (words.next(), words.next().and_then(|n| n.parse().ok())) {
            (Some("grow"), Some(n)) => memory.push(touch(n)),
            (Some("fds"), Some(n)) => files.extend(open_fds(n)),
            _ => {
                println!("unknown command: {line}");
                continue;
            }
        }
        println!("ok");
        std::io::stdout().flush().unwrap();
    }
    drop((memory, files, listener));
}
