//! The parent's reading, for memory limits relative to it (`max_uss=3x`):
//! the master's own record of the process its workers are forked from,
//! put back into the header's words before every round it decides in, so
//! that no worker's write moves a limit the master holds it to.

use crate::error::Result;
use crate::os::process::{self, Health};
use crate::rules::core::Core;

/// One reading of the parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Reading {
    pub pid: u32,
    pub health: Health,
    /// Pool time of the reading (µs).
    pub at: u64,
}

/// The master's record.
#[derive(Default)]
pub(super) struct Parent {
    reading: Option<Reading>,
}

impl Parent {
    /// The master reads its own process now (the host says its app has
    /// booted, or its first round comes and none was read). `forked`: it
    /// has workers already, whose pages it shares, so its USS and PSS no
    /// longer say how big the app is (a 59 MiB app's master: 3 MiB of USS
    /// after the fork): only RSS is kept, and `max_uss`/`max_pss`
    /// multiples wait for a reading the host asks for before it forks.
    pub(super) fn read_self(&mut self, core: &Core, now: u64, forked: bool) -> Result<Health> {
        let pid = std::process::id();
        let mut health = process::sample_self(!forked)?.health();
        if forked {
            health = Health {
                rss: health.rss,
                ..Health::default()
            };
        }
        self.note(
            core,
            Reading {
                pid,
                health,
                at: now,
            },
        );
        Ok(health)
    }

    /// A reading the host gives (a parent that is not this process, or a
    /// test's figures).
    pub(super) fn note(&mut self, core: &Core, reading: Reading) {
        self.reading = Some(reading);
        core.header()
            .parent
            .store(reading.pid, reading.health, reading.at);
    }

    /// Phase "parent" of a round: with a relative limit, the master's own
    /// process is read once if nobody said when (a manual-clock pool reads
    /// nothing on its own, as it samples nothing); the record is put back
    /// into the header's words.
    /// `forked`: the master has workers already, so its USS and PSS are
    /// shared with them and only its RSS is kept (see `read_self`).
    pub(super) fn phase(&mut self, core: &Core, now: u64, forked: bool) {
        if !core.limits.wants_parent() {
            return;
        }
        match self.reading {
            Some(r) => core.header().parent.store(r.pid, r.health, r.at),
            None if !core.manual_clock() => {
                // An unreadable /proc leaves the limits waiting; tried again
                // next round.
                let _ = self.read_self(core, now, forked);
            }
            None => {}
        }
    }

    /// A forked child is not the master: the reading is the parent's.
    pub(super) fn forget(&mut self) {
        self.reading = None;
    }
}
