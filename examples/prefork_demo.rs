//! A real pre-fork HTTP server on 127.0.0.1 whose workers workerlife
//! recycles under load, printing every recycle with its reason.
//!
//! Worker slot 0 leaks 64 KiB a request and is recycled for memory; the
//! others reach max_requests (with jitter, and never more than one draining
//! at a time). A load-generating child process hammers the server meanwhile
//! and counts failed requests, which should stay at 0.
//!
//! usage: cargo run --release --example prefork_demo [SECONDS] [WORKERS]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use workerlife::{process, ActionKind, Caps, EventKind, Health, Host, Policy, Pool, Worker};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

const POLICY: &str = "max_requests=2000,max_requests_jitter=1000,max_rss=48MiB,drain_timeout=10s,max_concurrent_recycles=1,max_surge=1";

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    Some(pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64)
}

fn serve(listener: &TcpListener, worker: &Worker, leaks: bool) -> ! {
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe { libc::signal(libc::SIGTERM, on_term as *const () as usize) };
    let mut leaked: Vec<Vec<u8>> = Vec::new();
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    while !STOP.load(Ordering::SeqCst) {
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
            continue;
        }
        let Ok((mut conn, _)) = listener.accept() else {
            continue;
        };
        worker.begin();
        let _ = conn.set_nonblocking(false);
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf);
        if leaks {
            leaked.push(vec![1u8; 64 << 10]);
        }
        let body = format!("hello from pid {}\n", std::process::id());
        let _ = write!(
            conn,
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        drop(conn);
        worker.report_health(Health {
            rss: rss_bytes(),
            ..Health::default()
        });
        if worker.end() {
            break; // the response is out: leave gracefully
        }
    }
    worker.exiting();
    // SAFETY: leave the forked child without running the parent's handlers.
    unsafe { libc::_exit(0) }
}

fn load(port: u16, seconds: u64, ok: &AtomicU64, failed: &AtomicU64) {
    let until = Instant::now() + Duration::from_secs(seconds);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while Instant::now() < until {
                    let good = (|| -> std::io::Result<bool> {
                        let mut c = TcpStream::connect(("127.0.0.1", port))?;
                        c.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                        let mut out = String::new();
                        c.read_to_string(&mut out)?;
                        Ok(out.starts_with("HTTP/1.0 200"))
                    })()
                    .unwrap_or(false);
                    if good {
                        ok.fetch_add(1, Ordering::Relaxed)
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed)
                    };
                    // A steady, readable load rather than a flood.
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        }
    });
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(15);
    let workers = args.get(1).copied().unwrap_or(4) as u32;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let policy = Policy::parse(POLICY).unwrap();
    // What this master carries out: replacements (max_surge), kills of its
    // own children, workers started into the slots the pool names. Its pool
    // has room for the replacements (the last max_surge slots), and the
    // spawn actions name them, so the loop below needs nothing more.
    let host = Host::new(
        "Rust prefork demo",
        Caps::SURGE | Caps::MASTER_KILLS | Caps::NUMBERED,
    )
    .unwrap();
    let pool = Pool::shared(&policy, host.slots(workers, &policy)).unwrap();
    pool.set_host(host).unwrap();
    println!("{}", pool.startup_line());
    println!("workerlife prefork demo: {workers} workers on 127.0.0.1:{port} for {seconds}s\nslot 0 leaks 64 KiB per request\n");

    // Counters the load child fills in, in shared memory.
    // SAFETY: a fresh shared anonymous mapping of two u64s.
    let counters = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            16,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(counters, libc::MAP_FAILED);
    // SAFETY: two aligned u64s in the mapping, used atomically.
    let (ok, failed) = unsafe {
        (
            &*counters.cast::<AtomicU64>(),
            &*counters.cast::<AtomicU64>().add(1),
        )
    };
    // SAFETY: fork while single-threaded.
    let loader = unsafe { libc::fork() };
    if loader == 0 {
        std::thread::sleep(Duration::from_millis(300));
        load(port, seconds, ok, failed);
        // SAFETY: leave the child.
        unsafe { libc::_exit(0) };
    }

    let started = Instant::now();
    let mut peak_rss = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) + Duration::from_millis(500) {
        loop {
            let mut status = 0;
            // SAFETY: reaping any child without blocking.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            let _ = pool.exited(pid as u32, status);
        }
        for a in pool.tick() {
            match a.kind {
                ActionKind::Spawn => {
                    // SAFETY: the master is single-threaded.
                    let pid = unsafe { libc::fork() };
                    if pid == 0 {
                        let w = pool.worker(a.slot).unwrap();
                        serve(&listener, &w, a.slot == 0);
                    }
                    pool.spawned(a.slot, pid as u32).unwrap();
                }
                // The pid and identity come from the pool's own record of
                // the children spawned here, never from shared memory, and
                // the signal is refused if the pid now names another process.
                ActionKind::Recycle | ActionKind::Kill => {
                    let sig = if a.kind == ActionKind::Kill {
                        libc::SIGKILL
                    } else {
                        libc::SIGTERM
                    };
                    if let Err(why) = process::signal(a.pid, a.identity, sig) {
                        println!("not signalling pid {}: {why}", a.pid);
                    }
                }
            }
        }
        for e in pool.events() {
            match e.kind {
                // A recycled worker's exit carries the reason it was told.
                EventKind::Exited | EventKind::Killed if e.reason.is_some() => println!(
                    "{:6.2}s  {:<8} slot {} pid {:<7} {:<13} after {:>5} requests, {:5.2}s, rss {:>5.1} MiB",
                    e.at.as_secs_f64(),
                    if e.kind == EventKind::Killed { "KILL" } else { "recycled" },
                    e.slot,
                    e.pid,
                    e.reason.map_or("", |r| r.as_str()),
                    e.requests,
                    e.uptime.as_secs_f64(),
                    e.rss.unwrap_or(0) as f64 / 1048576.0
                ),
                EventKind::Exited if e.crash => println!("{:6.2}s  crash    slot {} pid {}", e.at.as_secs_f64(), e.slot, e.pid),
                _ => {}
            }
        }
        peak_rss = pool
            .stats()
            .per_slot
            .iter()
            .filter_map(|s| s.rss)
            .fold(peak_rss, u64::max);
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: waiting for our load child.
    unsafe { libc::waitpid(loader, std::ptr::null_mut(), 0) };
    let st = pool.stats();
    for s in &st.per_slot {
        // SAFETY: stopping our workers.
        unsafe { libc::kill(s.pid as i32, libc::SIGKILL) };
    }
    println!(
        "\nrequests: {} ok, {} failed",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    println!(
        "workers spawned: {}, peak worker RSS {:.1} MiB (limit 48 MiB)",
        st.spawns,
        peak_rss as f64 / 1048576.0
    );
    println!("recycles by reason:");
    for (r, n) in st.recycles.iter().filter(|(_, n)| *n > 0) {
        println!("  {:<14} {n}", r.as_str());
    }
}
