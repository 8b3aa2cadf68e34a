//! Random sequences of C ABI calls with random arguments: NULLs, garbage and
//! non-UTF-8 strings, short buffers, freed and foreign handles, handles of
//! the wrong type. Every call must return a code; none may crash, panic
//! across the boundary, or trip a sanitizer. Calls that act on other
//! processes (signals, ledger reaping) are left out: random pids would hit
//! real processes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::c_char;
use std::ptr;
use workerlife_c::names::*;
use workerlife_c::policy::*;
use workerlife_c::pool::*;
use workerlife_c::process::*;
use workerlife_c::types::*;
use workerlife_c::worker::*;
use workerlife_c::*;

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
    /// A NUL-terminated string: a known spec, or raw bytes.
    fn string(&mut self) -> Vec<u8> {
        const KNOWN: [&str; 6] = [
            "max_requests=3",
            "max_rss=1MiB,max_fds=10,request_timeout=1s",
            "max_lifetime=1s,lifetime_jitter=500ms,max_concurrent_recycles=0",
            "backoff_initial=2m,backoff_max=1m",
            "max_rsss=1",
            "",
        ];
        let n = self.byte();
        let mut s: Vec<u8> = if n < 128 {
            KNOWN[n as usize % KNOWN.len()].as_bytes().to_vec()
        } else {
            let len = (n - 128) as usize % 24;
            (0..len).map(|_| self.byte().max(1)).collect()
        };
        s.push(0);
        s
    }
}

/// Live, freed and made-up handles, mixed on purpose.
struct Handles {
    policies: Vec<*mut wl_policy>,
    pools: Vec<*mut wl_pool>,
    workers: Vec<*mut wl_worker>,
}

fn pick<T>(v: &[*mut T], i: &mut Input) -> *mut T {
    let b = i.byte();
    match b % 8 {
        0 => ptr::null_mut(),
        1 => u64::from(i.u32()) as usize as *mut T,
        _ if v.is_empty() => ptr::null_mut(),
        _ => v[b as usize % v.len()],
    }
}

fuzz_target!(|data: &[u8]| {
    let mut i = Input(data);
    let mut h = Handles {
        policies: Vec::new(),
        pools: Vec::new(),
        workers: Vec::new(),
    };
    let mut buf = [0 as c_char; 256];
    for _ in 0..64 {
        if i.0.is_empty() {
            break;
        }
        let op = i.byte() % 32;
        let cap = i.byte() as usize % 260; // sometimes past the buffer: clamp
        let cap = cap.min(buf.len());
        let mut needed = 0usize;
        match op {
            0 => {
                let s = i.string();
                let mut out = ptr::null_mut();
                unsafe { wl_policy_parse(s.as_ptr().cast(), &mut out) };
                if !out.is_null() {
                    h.policies.push(out);
                }
            }
            1 => {
                let mut out = ptr::null_mut();
                unsafe { wl_policy_new(&mut out) };
                h.policies.push(out);
            }
            2 => {
                wl_policy_free(pick(&h.policies, &mut i));
            }
            3 => {
                let (k, v) = (i.string(), i.string());
                unsafe { wl_policy_set(
                    pick(&h.policies, &mut i),
                    k.as_ptr().cast(),
                    v.as_ptr().cast(),
                ) };
            }
            4 => {
                let (k, v) = (i.u32() % 30, i.u64());
                wl_policy_set_raw(pick(&h.policies, &mut i), k, v);
            }
            5 => {
                let mut raw = 0;
                unsafe { wl_policy_get_raw(pick(&h.policies, &mut i), i.u32() % 30, &mut raw) };
            }
            6 => {
                unsafe { wl_policy_to_string(
                    pick(&h.policies, &mut i),
                    buf.as_mut_ptr(),
                    cap,
                    &mut needed,
                ) };
            }
            7 => {
                let options = wl_pool_options {
                    slots: u32::from(i.byte() % 6),
                    sharing: u32::from(i.byte() % 3) % 2, // private or shared, no files
                    path: ptr::null(),
                    manual_clock: i.byte() % 2 == 0,
                    has_seed: true,
                    seed: i.u64(),
                };
                let mut out = ptr::null_mut();
                unsafe { wl_pool_build(pick(&h.policies, &mut i), &options, &mut out) };
                if !out.is_null() {
                    h.pools.push(out);
                }
            }
            8 => {
                wl_pool_free(pick(&h.pools, &mut i));
            }
            9 => {
                let mut out = ptr::null_mut();
                unsafe { wl_pool_worker(pick(&h.pools, &mut i), u32::from(i.byte() % 8), &mut out) };
                if !out.is_null() {
                    h.workers.push(out);
                }
            }
            10 => {
                let mut out = ptr::null_mut();
                let pid = if i.byte() % 2 == 0 {
                    std::process::id()
                } else {
                    i.u32()
                };
                unsafe { wl_pool_claim(pick(&h.pools, &mut i), pid, &mut out) };
                if !out.is_null() {
                    h.workers.push(out);
                }
            }
            11 => {
                wl_worker_begin(pick(&h.workers, &mut i));
            }
            12 => {
                let mut exit = false;
                let p = if i.byte() % 8 == 0 {
                    ptr::null_mut()
                } else {
                    &mut exit
                };
                unsafe { wl_worker_end(pick(&h.workers, &mut i), p) };
            }
            13 => {
                let health = wl_health {
                    rss: i.u64(),
                    uss: WL_NO_READING,
                    pss: i.u64(),
                    fds: u64::from(i.byte()),
                };
                unsafe { wl_worker_report_health(pick(&h.workers, &mut i), &health) };
            }
            14 => {
                wl_worker_check(pick(&h.workers, &mut i), i.byte() % 2 == 0);
                wl_worker_heartbeat(pick(&h.workers, &mut i));
            }
            15 => {
                let mut d = wl_decision::default();
                unsafe { wl_worker_decision(pick(&h.workers, &mut i), &mut d) };
                unsafe { wl_decision_text(&d, buf.as_mut_ptr(), cap, &mut needed) };
            }
            16 => {
                wl_worker_exiting(pick(&h.workers, &mut i));
            }
            17 => {
                wl_worker_free(pick(&h.workers, &mut i));
            }
            18 => {
                let pid = if i.byte() % 2 == 0 {
                    std::process::id()
                } else {
                    i.u32()
                };
                wl_pool_spawned(pick(&h.pools, &mut i), u32::from(i.byte() % 8), pid);
            }
            19 => {
                wl_pool_exited_slot(
                    pick(&h.pools, &mut i),
                    u32::from(i.byte() % 8),
                    i.u32() as i32,
                );
                unsafe { wl_pool_exited(pick(&h.pools, &mut i), i.u32(), 0, ptr::null_mut()) };
            }
            20 => {
                wl_pool_recycle(pick(&h.pools, &mut i), u32::from(i.byte() % 8));
            }
            21 => {
                let mut actions = [wl_pool_action::default(); 4];
                let mut n = 0;
                let c = (i.byte() % 5) as usize;
                unsafe { wl_pool_tick(
                    pick(&h.pools, &mut i),
                    actions.as_mut_ptr(),
                    c.min(4),
                    &mut n,
                ) };
            }
            22 => {
                let mut events = [wl_event::default(); 4];
                let mut n = 0;
                let c = (i.byte() % 5) as usize;
                unsafe { wl_pool_events(
                    pick(&h.pools, &mut i),
                    events.as_mut_ptr(),
                    c.min(4),
                    &mut n,
                ) };
            }
            23 => {
                unsafe { wl_pool_stats_json(pick(&h.pools, &mut i), buf.as_mut_ptr(), cap, &mut needed) };
                unsafe { wl_pool_prometheus(pick(&h.pools, &mut i), buf.as_mut_ptr(), cap, &mut needed) };
            }
            24 => {
                wl_pool_advance(pick(&h.pools, &mut i), i.u64() >> (i.byte() % 64));
            }
            25 => {
                let mut d = wl_decision::default();
                unsafe { wl_pool_decision(pick(&h.pools, &mut i), u32::from(i.byte() % 8), &mut d) };
                let garbage = wl_decision {
                    action: i.u32() % 4,
                    reason: i.u32() % 16,
                    value: i.u64(),
                    limit: i.u64(),
                };
                unsafe { wl_decision_text(&garbage, buf.as_mut_ptr(), cap, &mut needed) };
            }
            26 => {
                unsafe { wl_result_text(i.u32() % 1000, buf.as_mut_ptr(), cap, &mut needed) };
                unsafe { wl_last_error_message(buf.as_mut_ptr(), cap, &mut needed) };
                wl_key_name(i.u32() % 30);
                wl_key_unit(i.u32() % 30);
                wl_reason_name(i.u32() % 20);
            }
            27 => {
                let mut s = wl_sample::default();
                unsafe { wl_process_sample(std::process::id(), i.byte() % 2 == 0, &mut s) };
                unsafe { wl_process_sample(i.u32(), false, &mut s) };
            }
            28 => {
                let (mut due, mut us) = (false, 0);
                unsafe { wl_pool_next_spawn_in(pick(&h.pools, &mut i), &mut due, &mut us) };
                unsafe { wl_pool_now_us(pick(&h.pools, &mut i), &mut us) };
            }
            29 => {
                let mut slots = [0u32; 4];
                let mut n = 0;
                unsafe { wl_pool_reap_dead(pick(&h.pools, &mut i), slots.as_mut_ptr(), 4, &mut n) };
                unsafe { wl_pool_sample(pick(&h.pools, &mut i), ptr::null_mut(), slots.as_mut_ptr(), 4, &mut n) };
            }
            30 => {
                let mut out = ptr::null_mut();
                unsafe { wl_pool_policy(pick(&h.pools, &mut i), &mut out) };
                if !out.is_null() {
                    h.policies.push(out);
                }
            }
            _ => {
                let mut slots = 0;
                unsafe { wl_pool_slot_count(pick(&h.pools, &mut i), &mut slots) };
                unsafe { wl_worker_requests(pick(&h.workers, &mut i), ptr::null_mut()) };
            }
        }
    }
    // Free everything (twice: the second round must be refused, not crash).
    for _ in 0..2 {
        for &w in &h.workers {
            let _ = wl_worker_free(w);
        }
        for &p in &h.pools {
            let _ = wl_pool_free(p);
        }
        for &p in &h.policies {
            let _ = wl_policy_free(p);
        }
    }
});
