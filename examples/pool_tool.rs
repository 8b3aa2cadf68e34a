//! One of four pool tools (Rust, C, Python, Perl) that speak the same lines,
//! so that a test can make a pool file in one language and use it from each
//! of the others: `pool_tool create PATH POLICY SLOTS` or `pool_tool attach
//! PATH`, then commands on stdin, one reply line each:
//!
//! - `work SLOT N`: N requests (begin, end) on slot SLOT; `ok`
//! - `decision SLOT`: `ACTION REASON` (`-` for none)
//! - `stats`: the pool's stats JSON on one line
//!
//! A failure prints `error MESSAGE`. The pool (and a file it created) lives
//! until stdin ends.

use std::io::{BufRead, Write};
use workerlife::{Policy, Pool};

fn open(args: &[String]) -> Result<Pool, String> {
    match args {
        [cmd, path, policy, slots] if cmd == "create" => {
            let policy = Policy::parse(policy).map_err(|e| e.to_string())?;
            let slots = slots
                .parse()
                .map_err(|_| format!("bad slot count {slots:?}"))?;
            Pool::create(path, &policy, slots).map_err(|e| e.to_string())
        }
        [cmd, path] if cmd == "attach" => Pool::attach(path).map_err(|e| e.to_string()),
        _ => Err("usage: pool_tool create PATH POLICY SLOTS | pool_tool attach PATH".into()),
    }
}

fn command(pool: &Pool, line: &str) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let num = |s: &str| s.parse::<u32>().map_err(|_| format!("bad number {s:?}"));
    match words.as_slice() {
        ["work", slot, n] => {
            let w = pool.worker(num(slot)?).map_err(|e| e.to_string())?;
            for _ in 0..num(n)? {
                w.begin();
                w.end();
            }
            Ok("ok".into())
        }
        ["decision", slot] => {
            let d = pool.decision(num(slot)?).map_err(|e| e.to_string())?;
            Ok(format!(
                "{} {}",
                d.action,
                d.reason.map_or("-", |r| r.as_str())
            ))
        }
        ["stats"] => Ok(pool.stats_json()),
        _ => Err(format!("unknown command {line:?}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout().lock();
    let pool = match open(&args) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(out, "error {e}");
            std::process::exit(1);
        }
    };
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let reply = command(&pool, &line).unwrap_or_else(|e| format!("error {e}"));
        let _ = writeln!(out, "{reply}");
        let _ = out.flush();
    }
}
