//! A worker started with `exec`: attaches a named pool by path, claims a
//! slot by its pid and serves requests. The multi-process tests use it.
//!
//! usage: attach_worker POOL_PATH REQUESTS [hang]
//! With `hang`, it begins one more request, prints "ready" and waits to be
//! killed, as a worker stuck in a request would.

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: attach_worker POOL_PATH REQUESTS [hang]");
        std::process::exit(2);
    }
    let pool = match workerlife::Pool::attach(&args[1]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("attach_worker: {e}");
            std::process::exit(3);
        }
    };
    let worker = pool.claim(std::process::id()).unwrap_or_else(|e| {
        eprintln!("attach_worker: {e}");
        std::process::exit(4)
    });
    let n: u64 = args[2].parse().expect("REQUESTS is a number");
    let mut told_to_exit = false;
    for _ in 0..n {
        worker.begin();
        told_to_exit |= worker.end();
    }
    if args.get(3).map(String::as_str) == Some("hang") {
        worker.begin();
        println!("ready");
        std::io::stdout().flush().unwrap();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    println!(
        "slot={} requests={} exit={}",
        worker.index(),
        worker.requests(),
        told_to_exit
    );
}
