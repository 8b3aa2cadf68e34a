//! Runs the shared vectors through the C ABI: every step is an `extern "C"`
//! call with the handles, codes and structs a C host would use.

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::Driver;
use std::ffi::{c_char, CStr, CString};
use std::ptr;
use workerlife_c::names::wl_reason_name;
use workerlife_c::policy::*;
use workerlife_c::pool::*;
use workerlife_c::types::*;
use workerlife_c::worker::*;
use workerlife_c::*;

struct CDriver {
    pool: *mut wl_pool,
    workers: Vec<*mut wl_worker>,
}

fn last_error() -> String {
    let mut buf = [0 as c_char; 512];
    unsafe { wl_last_error_message(buf.as_mut_ptr(), buf.len(), ptr::null_mut()) };
    // SAFETY: written NUL-terminated by the call above.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn ok(r: wl_result) -> Result<(), String> {
    if r == wl_result::WL_OK {
        Ok(())
    } else {
        Err(format!("{r:?}: {}", last_error()))
    }
}

fn name(reason: u32) -> Option<String> {
    let p = wl_reason_name(reason);
    // SAFETY: NULL or a static NUL-terminated string.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string())
}

impl CDriver {
    fn worker(&mut self, slot: u32) -> Result<*const wl_worker, String> {
        let i = slot as usize;
        if self.workers.len() <= i {
            self.workers.resize(i + 1, ptr::null_mut());
        }
        if self.workers[i].is_null() {
            ok(unsafe { wl_pool_worker(self.pool, slot, &mut self.workers[i]) })?;
        }
        Ok(self.workers[i])
    }
}

impl Drop for CDriver {
    fn drop(&mut self) {
        for w in self.workers.drain(..) {
            assert_eq!(wl_worker_free(w), wl_result::WL_OK);
        }
        assert_eq!(wl_pool_free(self.pool), wl_result::WL_OK);
    }
}

impl Driver for CDriver {
    fn new_pool(&mut self, spec: &str, slots: u32, seed: u64) -> Result<(), String> {
        let spec = CString::new(spec).unwrap();
        let mut policy = ptr::null_mut();
        ok(unsafe { wl_policy_parse(spec.as_ptr(), &mut policy) })?;
        let options = wl_pool_options {
            slots,
            sharing: wl_sharing::WL_SHARING_PRIVATE as u32,
            path: ptr::null(),
            manual_clock: true,
            has_seed: true,
            seed,
        };
        let built = ok(unsafe { wl_pool_build(policy, &options, &mut self.pool) });
        ok(wl_policy_free(policy))?;
        built
    }
    fn begin(&mut self, slot: u32) -> Result<(), String> {
        let w = self.worker(slot)?;
        ok(wl_worker_begin(w))
    }
    fn end(&mut self, slot: u32) -> Result<bool, String> {
        let w = self.worker(slot)?;
        let mut exit = false;
        ok(unsafe { wl_worker_end(w, &mut exit) })?;
        Ok(exit)
    }
    fn begin_ticket(&mut self, slot: u32) -> Result<u64, String> {
        let w = self.worker(slot)?;
        let mut t = 0;
        ok(unsafe { wl_worker_begin_ticket(w, &mut t) })?;
        Ok(t)
    }
    fn end_ticket(&mut self, slot: u32, ticket: u64) -> Result<bool, String> {
        let w = self.worker(slot)?;
        let mut exit = false;
        ok(unsafe { wl_worker_end_ticket(w, ticket, &mut exit) })?;
        Ok(exit)
    }
    fn overdue(&mut self, slot: u32) -> Result<Vec<u64>, String> {
        let w = self.worker(slot)?;
        let mut out = [0u64; WL_TICKETS as usize];
        let mut n = 0usize;
        ok(unsafe { wl_worker_overdue(w, out.as_mut_ptr(), out.len(), &mut n) })?;
        Ok(out[..n.min(out.len())].to_vec())
    }
    fn advance_us(&mut self, us: u64) -> Result<(), String> {
        ok(wl_pool_advance(self.pool, us))
    }
    fn health(
        &mut self,
        slot: u32,
        rss: Option<u64>,
        uss: Option<u64>,
        pss: Option<u64>,
        fds: Option<u64>,
    ) -> Result<(), String> {
        let w = self.worker(slot)?;
        let h = wl_health {
            rss: rss.unwrap_or(WL_NO_READING),
            uss: uss.unwrap_or(WL_NO_READING),
            pss: pss.unwrap_or(WL_NO_READING),
            fds: fds.unwrap_or(WL_NO_READING),
        };
        ok(unsafe { wl_worker_report_health(w, &h) })
    }
    fn heartbeat(&mut self, slot: u32) -> Result<(), String> {
        let w = self.worker(slot)?;
        ok(wl_worker_heartbeat(w))
    }
    fn on_event_loop(&mut self, slot: u32) -> Result<(), String> {
        let w = self.worker(slot)?;
        ok(wl_worker_on_event_loop(w))
    }
    fn check(&mut self, slot: u32, good: bool) -> Result<(), String> {
        let w = self.worker(slot)?;
        ok(wl_worker_check(w, good))
    }
    fn recycle(&mut self, slot: u32) -> Result<(), String> {
        ok(wl_pool_recycle(self.pool, slot))
    }
    fn exiting(&mut self, slot: u32) -> Result<(), String> {
        let w = self.worker(slot)?;
        ok(wl_worker_exiting(w))
    }
    fn spawned(&mut self, slot: u32, pid: u32) -> Result<(), String> {
        ok(wl_pool_spawned(self.pool, slot, pid))
    }
    fn claim(&mut self, pid: u32) -> Result<u32, String> {
        let mut w = std::ptr::null_mut();
        ok(unsafe { wl_pool_claim(self.pool, pid, &mut w) })?;
        let mut slot = u32::MAX;
        let got = ok(unsafe { wl_worker_slot(w, &mut slot) });
        ok(wl_worker_free(w))?;
        got.map(|()| slot)
    }
    fn exited(&mut self, slot: u32, status: i32) -> Result<(), String> {
        ok(wl_pool_exited_slot(self.pool, slot, status))
    }
    fn decision(&mut self, slot: u32) -> Result<(String, Option<String>), String> {
        let mut d = wl_decision::default();
        ok(unsafe { wl_pool_decision(self.pool, slot, &mut d) })?;
        let action = match d.action {
            0 => "continue",
            1 => "recycle",
            2 => "kill",
            n => return Err(format!("action {n}")),
        };
        Ok((action.to_string(), name(d.reason)))
    }
    fn ready(&mut self, slot: u32) -> Result<(), String> {
        ok(wl_pool_ready(self.pool, slot))
    }
    fn tick(&mut self) -> Result<Vec<common::TickAction>, String> {
        // A small array on purpose: overflow must carry over, not be lost.
        let mut all = Vec::new();
        loop {
            let mut actions = [wl_pool_action::default(); 2];
            let mut n = 0;
            ok(unsafe { wl_pool_tick(self.pool, actions.as_mut_ptr(), actions.len(), &mut n) })?;
            for a in &actions[..n] {
                let kind = match a.kind {
                    1 => "recycle",
                    2 => "kill",
                    3 => "spawn",
                    k => return Err(format!("kind {k}")),
                };
                let replaces = (a.replaces != WL_NO_SLOT).then_some(a.replaces);
                all.push((kind.to_string(), a.slot, name(a.reason), replaces));
            }
            if n < actions.len() {
                return Ok(all);
            }
        }
    }
    fn stats_json(&mut self) -> Result<String, String> {
        let mut buf = vec![0u8; 1 << 16];
        let mut needed = 0usize;
        ok(unsafe {
            wl_pool_stats_json(self.pool, buf.as_mut_ptr().cast(), buf.len(), &mut needed)
        })?;
        buf.truncate(needed.min(buf.len()));
        let text = std::ffi::CStr::from_bytes_until_nul(&buf)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(&buf).into_owned());
        Ok(text)
    }
    fn container(&mut self, limit: Option<u64>, working_set: u64) -> Result<(), String> {
        let r = wl_container_reading {
            limit: limit.unwrap_or(WL_NO_READING),
            working_set,
            anon: WL_NO_READING,
            file: WL_NO_READING,
            oom_kills: WL_NO_READING,
            pressure_some_avg10: f64::NAN,
        };
        ok(unsafe { wl_pool_report_container(self.pool, &r) })
    }
    fn next_spawn_us(&mut self) -> Result<Option<u64>, String> {
        let (mut due, mut us) = (false, 0);
        ok(unsafe { wl_pool_next_spawn_in(self.pool, &mut due, &mut us) })?;
        Ok(due.then_some(us))
    }
}

#[test]
fn every_vector_passes_through_the_c_abi() {
    let n = common::run_all(&mut || {
        Box::new(CDriver {
            pool: ptr::null_mut(),
            workers: Vec::new(),
        })
    });
    assert!(n >= 40, "only {n} vector cases found");
}
