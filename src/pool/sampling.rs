//! Master-side sampling: every worker's memory and FDs from kept-open
//! `/proc` files, fed to the decisions.

use super::supervisor::Supervisor;
use super::Pool;
use crate::error::Error;
use crate::os::process::{self, ProcHandle};
use crate::policy::Key;
use crate::table::layout::{state, GenState};
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::Duration;

/// How long sampling leaves the slot of the master's own child that is gone
/// and already reaped for its host to report the exit with its wait status
/// (so the exit is told a crash or not by the status, not by a guess).
pub(super) const EXIT_REPORT_WAIT: Duration = Duration::from_secs(2);

/// What one round of master-side sampling found.
#[derive(Debug, Default)]
pub struct SampleReport {
    /// Workers whose readings were updated.
    pub sampled: u32,
    /// Slots whose process was gone; they were retired as by `reap_dead`.
    pub gone: Vec<u32>,
    /// Slots whose process could not be read (for instance out of file
    /// descriptors), and why; their readings stay as they were.
    pub errors: Vec<(u32, Error)>,
}

impl Pool {
    /// Samples every worker's memory and FDs from `/proc` now (USS and PSS
    /// too when the policy limits them) and feeds the readings to the
    /// decisions; workers whose process is gone are retired. `tick()` does
    /// this itself every `sample_interval` (except with a manual clock).
    pub fn sample(&self) -> SampleReport {
        let now = self.core.now();
        let mut sup = self.sup();
        sup.last_sample = Some(now);
        self.sample_locked(&mut sup, now)
    }

    pub(super) fn sample_locked(&self, sup: &mut Supervisor, now: u64) -> SampleReport {
        let p = &self.core.policy;
        let uss = p.raw(Key::MaxUss) > 0 || p.raw(Key::MaxPss) > 0;
        let mut report = SampleReport::default();
        for (i, s) in self.core.slots().iter().enumerate() {
            let held = &mut sup.handles[i];
            let pid = s.pid.load(Relaxed);
            if GenState::unpack(s.gen_state.load(Acquire)).state == state::VACANT || pid == 0 {
                *held = None;
                continue;
            }
            let identity = s.identity.load(Relaxed);
            let current =
                |h: &ProcHandle| h.pid() == pid && (identity == 0 || h.start_time() == identity);
            if !held.as_ref().is_some_and(current) {
                *held = match ProcHandle::open(pid) {
                    Ok(h) => Some(h),
                    Err(Error::NoSuchProcess(_)) => None,
                    Err(e) => {
                        report.errors.push((i as u32, e));
                        continue;
                    }
                };
            }
            let sample = match held.as_mut().filter(|h| current(h)) {
                Some(h) => h.sample(uss),
                None => Err(Error::NoSuchProcess(pid)),
            };
            match sample {
                Ok(sample) => {
                    let health = sample.health();
                    crate::worker::store_health(&self.core, s, health);
                    // The master's own record of its child, which no write
                    // to the slot changes (see `master_decision`).
                    let ss = &mut sup.slots[i];
                    if ss.child.is_some_and(|c| c.pid == pid) {
                        ss.measured = health;
                        let over = crate::worker::over_limits(&self.core.limits, health);
                        for (over, since) in over.into_iter().zip(&mut ss.over_since) {
                            match over {
                                Some(true) => {
                                    since.get_or_insert(now);
                                }
                                Some(false) => *since = None,
                                None => {}
                            }
                        }
                        let sustain = self.core.limits.memory_sustain;
                        ss.measured_due = ss
                            .over_since
                            .iter()
                            .flatten()
                            .map(|t| t.saturating_add(sustain))
                            .min();
                    }
                    report.sampled += 1;
                }
                Err(Error::NoSuchProcess(_)) => {
                    sup.handles[i] = None;
                    // Our own child's exit is reported by the host with its
                    // status once it reaps it (a zombie until then), and
                    // soon after if it has just reaped it (a host that
                    // samples on another thread, as the gunicorn hook does,
                    // sees the gap); anyone else's is retired now.
                    if process::identity::unreaped_child(pid) {
                        continue;
                    }
                    let ss = &mut sup.slots[i];
                    if ss.child.is_some_and(|c| c.pid == pid) {
                        let since = *ss.reaped_since.get_or_insert(now);
                        if now.saturating_sub(since) < EXIT_REPORT_WAIT.as_micros() as u64 {
                            continue;
                        }
                    }
                    self.on_exit(sup, i as u32, None, now);
                    report.gone.push(i as u32);
                }
                Err(e) => report.errors.push((i as u32, e)),
            }
        }
        report
    }
}
