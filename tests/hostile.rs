//! Every shared word is untrusted input. A worker can write every byte of
//! its pool's shared memory; between the master's calls, this test writes
//! random values into the header's live words and every slot (as such a
//! worker could), while a host runs real child processes for the pool. The
//! master must never panic, never name a process it did not start, never
//! run more processes than it has slots, and once the writes stop, every
//! worker must still be recycled or killed by its limits.

mod support;

use proptest::prelude::*;
use std::collections::HashMap;
use std::time::Duration;
use support::{fork_child, temp_path, wait};
use workerlife::{ActionKind, Key, Policy, Pool, SLOT_BYTES};

const SLOTS: u32 = 4;
const POLICY: &str =
    "max_requests=3,max_lifetime=5s,drain_timeout=2s,ready_timeout=2s,max_surge=1,max_rss=1GiB";

/// The host: a real process (a forked child sleeping until killed) for
/// every spawn the pool asks for; SIGKILL and a reaped exit reported for
/// every recycle or kill. Every child is killed on drop, even when the test
/// fails.
struct Host {
    pool: Pool,
    live: HashMap<u32, u32>,
    path: std::path::PathBuf,
    ended: u32,
}

impl Host {
    fn new(case: u32) -> Host {
        let path = temp_path(&format!("hostile-{case}"));
        let _ = std::fs::remove_file(&path);
        let pool = Pool::builder(&Policy::parse(POLICY).unwrap())
            .slots(SLOTS)
            .manual_clock(true)
            .named(&path)
            .build()
            .unwrap();
        Host {
            pool,
            live: HashMap::new(),
            path,
            ended: 0,
        }
    }

    fn start(&mut self, slot: u32) {
        let pid = fork_child(|| loop {
            std::thread::sleep(Duration::from_secs(60));
        });
        match self.pool.spawned(slot, pid) {
            Ok(()) => {
                self.live.insert(pid, slot);
            }
            Err(_) => {
                // SAFETY: our own child.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                wait(pid);
            }
        }
    }

    fn end(&mut self, pid: u32) {
        // SAFETY: our own child (checked by the caller).
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let status = wait(pid);
        self.live.remove(&pid);
        self.ended += 1;
        let _ = self.pool.exited(pid, status);
    }

    /// One supervision round: tick, carry out what it says, check it.
    fn round(&mut self) -> Result<(), TestCaseError> {
        for a in self.pool.tick() {
            match a.kind {
                ActionKind::Spawn => self.start(a.slot),
                ActionKind::Recycle | ActionKind::Kill => {
                    prop_assert!(
                        self.live.contains_key(&a.pid),
                        "{:?} names pid {}, which the host never started (live: {:?})",
                        a.kind,
                        a.pid,
                        self.live
                    );
                    self.end(a.pid);
                }
            }
            prop_assert!(
                self.live.len() <= SLOTS as usize,
                "{} processes for {} slots",
                self.live.len(),
                SLOTS
            );
        }
        Ok(())
    }

    /// A request in each slot that holds one of the host's processes (the
    /// worker's own calls).
    fn serve(&self) {
        let st = self.pool.stats();
        for s in &st.per_slot {
            if s.state != "vacant" && self.live.contains_key(&s.pid) {
                if let Ok(w) = self.pool.worker(s.slot) {
                    w.begin();
                    w.end();
                }
            }
        }
    }

    /// Writes `value` into the live shared words at `index` (8-byte words
    /// after the header's fixed part and the manual clock, a test facility).
    fn scribble(&self, index: usize, value: u64) {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .unwrap();
        // SAFETY: a shared mapping of the pool file; the pool's own fields
        // are atomics, and these writes are what a hostile worker does.
        let mut map = unsafe { memmap2::MmapMut::map_mut(&file).unwrap() };
        let fixed = unwritten();
        let words = (map.len() - fixed) / 8;
        let at = fixed + (index % words) * 8;
        map[at..at + 8].copy_from_slice(&value.to_ne_bytes());
    }
}

/// The bytes at the start of a pool a scribble leaves alone: the header's
/// fixed part (64 bytes and the policy; layout 9), its checksum (padded to
/// 8) and the manual clock, a test facility. A write there is refused at
/// attach (the checksum) or is no pool of a real server's (the clock).
fn unwritten() -> usize {
    64 + 8 * Key::ALL.len() + 8 + 8
}

impl Drop for Host {
    fn drop(&mut self) {
        for &pid in self.live.keys() {
            // SAFETY: our own children.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            wait(pid);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Scribble(usize, u64),
    Serve,
    Health(u32, u64),
    Tick,
    Advance(u64),
}

fn word() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        0u64..16,
        // A slot state word: generation | flags | reason | state.
        (any::<u16>(), any::<u8>(), 0u8..4).prop_map(|(f, r, s)| {
            (7u64 << 32) | (u64::from(f) << 16) | (u64::from(r) << 8) | u64::from(s)
        }),
        any::<u64>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), word()).prop_map(|(i, v)| Op::Scribble(i, v)),
        2 => Just(Op::Serve),
        1 => (0..SLOTS, any::<u64>()).prop_map(|(s, v)| Op::Health(s, v)),
        2 => Just(Op::Tick),
        1 => (1u64..3_000).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn nothing_a_worker_writes_breaks_the_master(ops in proptest::collection::vec(op(), 1..60)) {
        static CASE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut host = Host::new(case);
        host.round()?;
        for op in ops {
            match op {
                Op::Scribble(i, v) => host.scribble(i, v),
                Op::Serve => host.serve(),
                Op::Health(slot, rss) => {
                    // A worker reports for itself: only a slot one of the
                    // host's processes holds.
                    let pid = host.pool.stats().per_slot[slot as usize].pid;
                    if !host.live.contains_key(&pid) {
                        continue;
                    }
                    if let Ok(w) = host.pool.worker(slot) {
                        w.report_health(workerlife::Health { rss: Some(rss), ..Default::default() });
                    }
                }
                Op::Tick => host.round()?,
                Op::Advance(ms) => host.pool.advance(Duration::from_millis(ms)).unwrap(),
            }
        }
        // The writes stop. Every process alive now is still ended by the
        // pool's limits (max_requests, and max_lifetime, which the master
        // measures itself), whatever the slots were left holding.
        let survivors: Vec<u32> = host.live.keys().copied().collect();
        for _ in 0..60 {
            host.serve();
            host.round()?;
            if survivors.iter().all(|p| !host.live.contains_key(p)) {
                break;
            }
            host.pool.advance(Duration::from_millis(500)).unwrap();
        }
        let left: Vec<u32> = survivors.into_iter().filter(|p| host.live.contains_key(p)).collect();
        prop_assert!(left.is_empty(), "never recycled or killed after 30 s: {:?}\n{}", left, host.pool.stats_json());
    }
}

#[test]
fn the_forged_words_of_the_issue_change_nothing_that_matters() {
    // The five writes named in the report, each on a fresh pool.
    let mut host = Host::new(10_000);
    host.round().unwrap();
    assert_eq!(host.live.len(), 3, "three positions started");
    let header = {
        let len = std::fs::metadata(&host.path).unwrap().len() as usize;
        len - SLOTS as usize * SLOT_BYTES
    };
    let words_before_slots = (header - unwritten()) / 8;
    // A permit count of 65535 in the budget word (the header's first live word
    // after the clock), a point count of 7 in slot 0's growth fit, EXITING on
    // slot 1, and slot 2 "waiting for a replacement".
    host.scribble(0, 0xFFFF << 48);
    let slot_word = |slot: usize, word: usize| words_before_slots + slot * SLOT_BYTES / 8 + word;
    // Slot words: gen_state 0, pid and failures 1, busy 2, requests 3, ...,
    // the growth fit 20 (its point count in bits 16..24).
    host.scribble(slot_word(0, 20), 7 << 16);
    let st = host.pool.stats();
    let gen = |slot: usize| u64::from(st.per_slot[slot].generation);
    host.scribble(slot_word(1, 0), (gen(1) << 32) | (4 << 16) | 1);
    host.scribble(
        slot_word(2, 0),
        (gen(2) << 32) | ((16 | 2) << 16) | (9 << 8) | 1,
    );
    for _ in 0..40 {
        host.serve();
        host.pool
            .worker(0)
            .unwrap()
            .report_health(workerlife::Health {
                rss: Some(1 << 20),
                ..Default::default()
            });
        host.round().unwrap();
        host.pool.advance(Duration::from_millis(500)).unwrap();
    }
    assert!(
        host.ended >= 6,
        "the pool kept recycling every worker: {} ended\n{}",
        host.ended,
        host.pool.stats_json()
    );
    assert!(host.live.len() <= SLOTS as usize);
}

#[test]
fn a_worker_over_max_rss_by_the_masters_reading_cannot_exempt_itself() {
    // A real worker holding 64 MiB under max_rss=32MiB marks its own slot
    // "on the way out" (EXITING, which decisions skip) and stays. The master
    // samples it itself: it is killed once it has not left within
    // drain_timeout, by the master's own reading and record.
    let pool = Pool::builder(
        &Policy::parse("max_rss=32MiB,drain_timeout=1s,sample_interval=50ms").unwrap(),
    )
    .slots(1)
    .shared()
    .build()
    .unwrap();
    let (ready_r, ready_w) = {
        let mut fds = [0; 2];
        // SAFETY: a pipe for the child to say it is set.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        (fds[0], fds[1])
    };
    let pool_ref = &pool;
    let pid = fork_child(move || {
        let held = vec![7u8; 64 << 20];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // Wait for the master's record, then exempt itself.
        while pool_ref.stats().per_slot[0].pid != std::process::id()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        pool_ref.worker(0).unwrap().exiting();
        // SAFETY: our end of the pipe.
        unsafe { libc::write(ready_w, [1u8].as_ptr().cast(), 1) };
        loop {
            std::hint::black_box(&held);
            std::thread::sleep(Duration::from_secs(60));
        }
    });
    pool.spawned(0, pid).unwrap();
    let mut byte = [0u8];
    // SAFETY: our end of the pipe.
    assert_eq!(
        unsafe { libc::read(ready_r, byte.as_mut_ptr().cast(), 1) },
        1
    );
    // SAFETY: our ends of the pipe, no longer used.
    unsafe {
        libc::close(ready_r);
        libc::close(ready_w);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut killed = None;
    while killed.is_none() && std::time::Instant::now() < deadline {
        killed = pool
            .tick()
            .into_iter()
            .find(|a| a.kind == ActionKind::Kill && a.pid == pid);
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: our own child, ended either way.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait(pid);
    let killed = killed.expect("the worker over max_rss that claimed to be leaving was killed");
    assert_eq!(killed.reason, Some(workerlife::Reason::DrainTimeout));
    assert!(pool.stats().per_slot[0].rss.is_some_and(|r| r >= 64 << 20));
}
