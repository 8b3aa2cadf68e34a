//! The worker-pool pattern: a Rust master that starts N workers with exec
//! (any language; `examples/python/pool_worker.py` here), each serving on its
//! own TCP port, hands them units of work one at a time, and recycles them
//! between units by a workerlife policy (lifetime, max tasks, memory read on
//! the worker process itself, failed health checks). What a test runner with
//! Python workers, or a pool of model servers, does by hand.
//!
//! ```sh
//! worker_pool --workers 2 --base-port 7100 --tasks 200 \
//!     --policy max_requests=50,max_rss=200MiB,max_health_failures=2 \
//!     --ledger /tmp/wp.ledger --pool /tmp/wp.pool -- python3 examples/python/pool_worker.py
//! ```
//!
//! Options: `--workers N` (2), `--base-port P` (slot i serves on P+i),
//! `--tasks N` (run N tasks, then stop; default: until `--seconds`),
//! `--seconds S`, `--leak-kib K` (each task keeps K KiB in the worker, 0),
//! `--task-ms M` (each task sleeps M ms, 5), `--policy SPEC`,
//! `--health-ms M` (a health check per idle worker every M ms, 200),
//! `--sick-after N` (after N tasks, tell slot 0's worker to fail its health
//! checks: the health-check recycle, shown), `--hold-port-ms M` (workers
//! keep their port M ms after they exit), `--ledger PATH`, `--pool PATH`.
//!
//! What happens, as JSON lines on stdout: every worker started (`started`, with its port and the run id),
//! every pool event (`recycle_requested`, `exited`, ... with reason, uptime,
//! requests, the last memory reading and the growth estimate), each signal
//! sent (`recycling`, `killing`, with the tasks in flight: always 0, units
//! are never cut), a respawn that had to wait for its port
//! (`respawn_delayed`, with how long), what the start found left by an
//! earlier run (`reaped`), and a final `done` with the task counts.
//!
//! Trust: whom to signal comes from the pool's actions (its record of the
//! children this master reported), through identity-checked signals; the
//! ledger records every spawn with its start time, so a later run ends what
//! a crashed master left, and never a process that merely reuses a pid.

use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use workerlife::process::{self, Ledger, ReapOutcome};
use workerlife::{ActionKind, Event, Policy, Pool, Worker};

struct Options {
    workers: u32,
    base_port: u16,
    tasks: Option<u64>,
    seconds: Option<f64>,
    leak_kib: u64,
    task_ms: u64,
    policy: String,
    health: Duration,
    sick_after: Option<u64>,
    hold_port_ms: u64,
    ledger: String,
    pool: String,
    command: Vec<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        workers: 2,
        base_port: 7100,
        tasks: None,
        seconds: None,
        leak_kib: 0,
        task_ms: 5,
        policy: String::new(),
        health: Duration::from_millis(200),
        sick_after: None,
        hold_port_ms: 0,
        ledger: "worker_pool.ledger".into(),
        pool: "worker_pool.pool".into(),
        command: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--" {
            o.command = args.by_ref().collect();
            break;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_: std::num::ParseIntError| format!("bad value {value:?} for {flag}");
        match flag.as_str() {
            "--workers" => o.workers = value.parse().map_err(bad)?,
            "--base-port" => o.base_port = value.parse().map_err(bad)?,
            "--tasks" => o.tasks = Some(value.parse().map_err(bad)?),
            "--seconds" => {
                o.seconds = Some(
                    value
                        .parse()
                        .map_err(|_| format!("bad value {value:?} for {flag}"))?,
                )
            }
            "--leak-kib" => o.leak_kib = value.parse().map_err(bad)?,
            "--task-ms" => o.task_ms = value.parse().map_err(bad)?,
            "--policy" => o.policy = value,
            "--health-ms" => o.health = Duration::from_millis(value.parse().map_err(bad)?),
            "--sick-after" => o.sick_after = Some(value.parse().map_err(bad)?),
            "--hold-port-ms" => o.hold_port_ms = value.parse().map_err(bad)?,
            "--ledger" => o.ledger = value,
            "--pool" => o.pool = value,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if o.command.is_empty() {
        return Err("no worker command (after --)".into());
    }
    if o.workers == 0 || u32::from(o.base_port) + o.workers > 65_536 {
        return Err("--workers and --base-port leave no valid port".into());
    }
    Ok(o)
}

/// A line of the log.
fn log(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn event_json(e: &Event) -> serde_json::Value {
    json!({
        "event": e.kind.as_str(), "slot": e.slot, "pid": e.pid, "generation": e.generation,
        "reason": e.reason.map(|r| r.as_str()),
        "uptime": e.uptime.as_secs_f64(), "requests": e.requests, "rss": e.rss,
        "status": e.status, "crash": e.crash,
        "growth_per_request": e.growth.and_then(|g| g.per_request),
        "growth_per_second": e.growth.map(|g| g.per_second),
        "why": e.decision.map(|d| d.to_string()),
    })
}

/// One worker process and the master's connection to it.
struct Running {
    child: Child,
    pid: u32,
    identity: u64,
    conn: Option<(TcpStream, BufReader<TcpStream>)>,
    /// Its slot's handle, taken once its generation started (`spawned`):
    /// where the master reports its health checks.
    handle: Worker,
    retiring: bool,
    last_check: Instant,
}

struct Master {
    o: Options,
    pool: Pool,
    ledger: Ledger,
    slots: Vec<Option<Running>>,
    /// The last pid of each slot, whose port a respawn waits for.
    last_pid: Vec<Option<u32>>,
    tasks_ok: u64,
    tasks_failed: u64,
    told_sick: bool,
}

impl Master {
    fn port(&self, slot: u32) -> u16 {
        self.o.base_port + slot as u16
    }

    fn spawn(&mut self, slot: u32) -> Result<(), String> {
        let port = self.port(slot);
        if let Some(prev) = self.last_pid[slot as usize] {
            // The old worker, and anything it left holding its port, must be
            // gone before a new one binds the same port.
            let started = Instant::now();
            process::wait_released(Some(prev), Some(port), Duration::from_secs(30))
                .map_err(|held| format!("slot {slot}: {held}"))?;
            let waited = started.elapsed();
            if waited > Duration::from_millis(50) {
                log(
                    json!({"event": "respawn_delayed", "slot": slot, "port": port,
                           "waited": waited.as_secs_f64(), "previous_pid": prev}),
                );
            }
        }
        let (program, args) = self.o.command.split_first().expect("checked");
        let child = Command::new(program)
            .args(args)
            .env("WORKERLIFE_POOL", &self.o.pool)
            .env("WORKERLIFE_SLOT", slot.to_string())
            .env("PORT", port.to_string())
            .env("HOLD_PORT_MS", self.o.hold_port_ms.to_string())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {program}: {e}"))?;
        let pid = child.id();
        let identity = process::identity(pid);
        // The ledger first: a master killed right after still leaves a
        // record for the next run to act on.
        if let Err(e) = self.ledger.record_with(pid, identity) {
            log(json!({"event": "ledger_error", "pid": pid, "error": e.to_string()}));
        }
        self.pool.spawned(slot, pid).map_err(|e| e.to_string())?;
        let handle = self.pool.worker(slot).map_err(|e| e.to_string())?;
        self.last_pid[slot as usize] = Some(pid);
        self.slots[slot as usize] = Some(Running {
            child,
            pid,
            identity,
            conn: None,
            handle,
            retiring: false,
            last_check: Instant::now(),
        });
        log(
            json!({"event": "started", "slot": slot, "pid": pid, "port": port, "run_id": self.ledger.run_id()}),
        );
        Ok(())
    }

    /// Signals the worker of `slot` (identity-checked): SIGTERM to recycle,
    /// SIGKILL to kill. Its connection is closed, so a worker waiting for
    /// the next line sees the end and leaves.
    fn signal(&mut self, slot: u32, pid: u32, identity: u64, sig: i32, reason: Option<&str>) {
        let in_flight = self.pool.stats().per_slot[slot as usize].in_flight;
        if let Some(r) = self.slots[slot as usize].as_mut().filter(|r| r.pid == pid) {
            r.retiring = true;
            r.conn = None;
        }
        let what = if sig == libc::SIGKILL {
            "killing"
        } else {
            "recycling"
        };
        match process::signal(pid, identity, sig) {
            Ok(()) => log(
                json!({"event": what, "slot": slot, "pid": pid, "reason": reason, "in_flight": in_flight}),
            ),
            Err(refused) => log(
                json!({"event": "not_signalled", "slot": slot, "pid": pid, "why": refused.to_string()}),
            ),
        }
    }

    fn reap_children(&mut self) {
        for slot in 0..self.slots.len() {
            let Some(r) = self.slots[slot].as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = r.child.try_wait() {
                let pid = r.pid;
                self.slots[slot] = None;
                let _ = self.pool.exited(pid, status.into_raw());
                let _ = self.ledger.forget(pid);
            }
        }
    }

    /// One request to the worker of `slot`, one reply line; None when it
    /// could not be had (not yet listening, gone).
    fn ask(&mut self, slot: u32, line: &str) -> Option<String> {
        let port = self.port(slot);
        let r = self.slots[slot as usize].as_mut()?;
        if r.conn.is_none() {
            let addr = ([127, 0, 0, 1], port).into();
            let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok()?;
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .ok()?;
            let reader = BufReader::new(stream.try_clone().ok()?);
            r.conn = Some((stream, reader));
        }
        let (stream, reader) = r.conn.as_mut()?;
        let mut reply = String::new();
        let ok = stream.write_all(format!("{line}\n").as_bytes()).is_ok()
            && reader.read_line(&mut reply).is_ok_and(|n| n > 0);
        if !ok {
            r.conn = None;
            return None;
        }
        Some(reply.trim_end().to_string())
    }

    fn tasks_left(&self, started: Instant) -> bool {
        let by_count = self.o.tasks.map_or(true, |n| self.tasks_ok < n);
        let by_time = self
            .o
            .seconds
            .map_or(true, |s| started.elapsed().as_secs_f64() < s);
        by_count && by_time
    }

    fn run(&mut self) {
        let started = Instant::now();
        let mut next_task = 0u64;
        while self.tasks_left(started) {
            let mut busy = false;
            for a in self.pool.tick() {
                match a.kind {
                    ActionKind::Spawn => {
                        if let Err(e) = self.spawn(a.slot) {
                            log(json!({"event": "spawn_failed", "slot": a.slot, "error": e}));
                        }
                    }
                    ActionKind::Recycle => {
                        let reason = a.reason.map(|r| r.as_str());
                        self.signal(a.slot, a.pid, a.identity, libc::SIGTERM, reason);
                    }
                    ActionKind::Kill => {
                        let reason = a.reason.map(|r| r.as_str());
                        self.signal(a.slot, a.pid, a.identity, libc::SIGKILL, reason);
                    }
                }
            }
            self.reap_children();
            for e in self.pool.events() {
                log(event_json(&e));
            }
            for slot in 0..self.o.workers {
                let serving = self.slots[slot as usize]
                    .as_ref()
                    .is_some_and(|r| !r.retiring);
                // A worker already granted its recycle takes no more work.
                if !serving || self.pool.decision(slot).is_ok_and(|d| d.must_exit()) {
                    continue;
                }
                if self.o.sick_after.is_some_and(|n| self.tasks_ok >= n)
                    && slot == 0
                    && !self.told_sick
                {
                    self.told_sick = self.ask(slot, "sick").is_some();
                }
                let due = self.slots[slot as usize]
                    .as_ref()
                    .is_some_and(|r| r.last_check.elapsed() >= self.o.health);
                if due {
                    let healthy = self.ask(slot, "ping").is_some_and(|r| r == "pong");
                    let current = self.pool.stats().per_slot[slot as usize].pid;
                    if let Some(r) = self.slots[slot as usize].as_mut() {
                        r.last_check = Instant::now();
                        // Not yet listening is no failed check; a worker the
                        // pool already retired gets none.
                        if r.conn.is_some() && current == r.pid {
                            r.handle.check(healthy);
                        }
                    }
                    continue;
                }
                if !self.tasks_left(started) {
                    break;
                }
                let line = format!("task {next_task} {} {}", self.o.leak_kib, self.o.task_ms);
                match self.ask(slot, &line) {
                    Some(reply)
                        if reply.contains("\"ok\": true") || reply.contains("\"ok\":true") =>
                    {
                        self.tasks_ok += 1;
                        next_task += 1;
                        busy = true;
                    }
                    Some(reply) => {
                        self.tasks_failed += 1;
                        log(
                            json!({"event": "task_failed", "slot": slot, "task": next_task, "reply": reply}),
                        );
                    }
                    None => {} // not listening yet, or gone: tried again
                }
            }
            if !busy {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.shutdown();
    }

    /// Ends every worker: SIGTERM, a grace of 5 s, SIGKILL.
    fn shutdown(&mut self) {
        for slot in 0..self.slots.len() {
            if let Some(r) = self.slots[slot].as_mut() {
                r.conn = None;
                // Our own request, not a crash (a worker still starting up
                // dies of the signal before it can say so itself).
                let _ = self.pool.exiting(r.pid);
                let _ = process::signal(r.pid, r.identity, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.slots.iter().any(Option::is_some) && Instant::now() < deadline {
            self.reap_children();
            std::thread::sleep(Duration::from_millis(10));
        }
        for slot in 0..self.slots.len() {
            if let Some(r) = self.slots[slot].as_mut() {
                let _ = process::signal(r.pid, r.identity, libc::SIGKILL);
                let _ = r.child.wait();
            }
        }
        self.reap_children();
        for e in self.pool.events() {
            log(event_json(&e));
        }
        let _ = self.pool.remove_if_last();
        log(json!({"event": "done", "tasks_ok": self.tasks_ok, "tasks_failed": self.tasks_failed}));
    }
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("worker_pool: {e}");
            std::process::exit(2);
        }
    };
    let fail = |what: &str, e: String| -> ! {
        eprintln!("worker_pool: {what}: {e}");
        std::process::exit(1);
    };
    let ledger = Ledger::open(&o.ledger).unwrap_or_else(|e| fail("ledger", e.to_string()));
    // What an earlier run left (its master crashed): TERM, 2 s, KILL, each
    // only to the process the ledger recorded (pid and start time).
    match ledger.reap(Duration::from_secs(2)) {
        Ok(reaped) => {
            for r in reaped {
                let outcome = match r.outcome {
                    ReapOutcome::Terminated => "terminated".to_string(),
                    ReapOutcome::Killed => "killed".to_string(),
                    ReapOutcome::AlreadyGone => "already_gone".to_string(),
                    ReapOutcome::PidReused { .. } => "pid_reused".to_string(),
                    ReapOutcome::Refused(errno) => format!("refused (errno {errno})"),
                    ReapOutcome::UnknownIdentity => "unknown_identity".to_string(),
                };
                log(
                    json!({"event": "reaped", "pid": r.entry.pid, "run_id": r.entry.run_id,
                           "master_pid": r.entry.master_pid, "outcome": outcome}),
                );
            }
        }
        Err(e) => log(json!({"event": "ledger_error", "error": e.to_string()})),
    }
    let policy = Policy::parse(&o.policy).unwrap_or_else(|e| fail("policy", e.to_string()));
    let pool =
        Pool::open(&o.pool, &policy, o.workers).unwrap_or_else(|e| fail("pool", e.to_string()));
    let n = o.workers as usize;
    let mut master = Master {
        o,
        pool,
        ledger,
        slots: (0..n).map(|_| None).collect(),
        last_pid: vec![None; n],
        tasks_ok: 0,
        tasks_failed: 0,
        told_sick: false,
    };
    master.run();
}
