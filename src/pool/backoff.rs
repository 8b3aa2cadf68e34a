//! Crash backoff: when a slot whose worker keeps crashing may be respawned.
//! A pure type (times in, a delay out), so its rules are tested on their
//! own; the supervisor keeps one per slot and feeds it each exit.

use crate::policy::{Key, Policy};
use std::collections::VecDeque;

/// The policy's crash-loop keys, in pool time (µs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BackoffRules {
    /// A worker that lived this long ends any loop (`min_uptime`).
    pub min_uptime: u64,
    /// More crashes than this within `window` make a loop (`max_restarts`;
    /// 0: never).
    pub max_restarts: u64,
    /// How far back crashes count (`restart_window`; 0: for ever).
    pub window: u64,
    /// The first delay, doubled for each loop in a row (`backoff_initial`).
    pub initial: u64,
    /// The longest delay (`backoff_max`).
    pub max: u64,
}

impl BackoffRules {
    pub(super) fn of(p: &Policy) -> BackoffRules {
        BackoffRules {
            min_uptime: p.raw(Key::MinUptime),
            max_restarts: p.raw(Key::MaxRestarts),
            window: p.raw(Key::RestartWindow),
            initial: p.raw(Key::BackoffInitial),
            max: p.raw(Key::BackoffMax),
        }
    }
}

/// One slot's recent crashes and how many loops in a row it has made.
#[derive(Debug, Default)]
pub(super) struct CrashBackoff {
    crashes: VecDeque<u64>,
    level: u32,
}

impl CrashBackoff {
    /// A worker that had lived `uptime` left at `now`; `crashed` when nobody
    /// asked it to. Returns the delay before the slot may be respawned when
    /// this exit makes a crash loop: `initial` doubled per loop in a row,
    /// at most `max`. A worker that lived `min_uptime` clears the record
    /// first, asked to leave or not.
    pub(super) fn on_exit(
        &mut self,
        rules: &BackoffRules,
        now: u64,
        uptime: u64,
        crashed: bool,
    ) -> Option<u64> {
        if uptime >= rules.min_uptime {
            self.crashes.clear();
            self.level = 0;
        }
        if !crashed {
            return None;
        }
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|&t| rules.window > 0 && now.saturating_sub(t) >= rules.window)
        {
            self.crashes.pop_front();
        }
        if rules.max_restarts == 0 || self.crashes.len() as u64 <= rules.max_restarts {
            return None;
        }
        // 2^level saturates rather than wraps: after many loops the delay
        // stays at `max`, never a shifted-out small number.
        let factor = 1u64.checked_shl(self.level).unwrap_or(u64::MAX);
        let delay = rules.initial.saturating_mul(factor).min(rules.max);
        self.level = self.level.saturating_add(1).min(64);
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn rules() -> BackoffRules {
        BackoffRules {
            min_uptime: S,
            max_restarts: 2,
            window: 60 * S,
            initial: S,
            max: 8 * S,
        }
    }

    /// Crashes 100 ms apart, each after 100 ms of life: the delays returned.
    fn crash_run(b: &mut CrashBackoff, r: &BackoffRules, from: u64, n: u64) -> Vec<Option<u64>> {
        (0..n)
            .map(|i| b.on_exit(r, from + i * S / 10, S / 10, true))
            .collect()
    }

    #[test]
    fn a_loop_starts_after_max_restarts_and_doubles_to_max() {
        let mut b = CrashBackoff::default();
        let delays = crash_run(&mut b, &rules(), 0, 7);
        let s = |n| Some(n * S);
        assert_eq!(delays, [None, None, s(1), s(2), s(4), s(8), s(8)]);
    }

    #[test]
    fn crashes_older_than_the_window_do_not_count() {
        let r = BackoffRules {
            window: S,
            ..rules()
        };
        let mut b = CrashBackoff::default();
        // Two crashes, then one after the window: never more than 2 in it.
        assert_eq!(b.on_exit(&r, 0, 0, true), None);
        assert_eq!(b.on_exit(&r, S / 2, 0, true), None);
        assert_eq!(b.on_exit(&r, 2 * S, 0, true), None);
        assert_eq!(b.on_exit(&r, 2 * S + 1, 0, true), None);
        assert_eq!(b.on_exit(&r, 2 * S + 2, 0, true), Some(S));
    }

    #[test]
    fn a_window_of_zero_counts_every_crash() {
        let r = BackoffRules {
            window: 0,
            ..rules()
        };
        let mut b = CrashBackoff::default();
        let spread: Vec<_> = (0..3)
            .map(|i| b.on_exit(&r, i * 1000 * S, 0, true))
            .collect();
        assert_eq!(spread, [None, None, Some(S)]);
    }

    #[test]
    fn a_worker_that_lived_min_uptime_ends_the_loop() {
        let r = rules();
        let mut b = CrashBackoff::default();
        crash_run(&mut b, &r, 0, 5);
        // Asked to leave after a long life: no crash, and the record clears.
        assert_eq!(b.on_exit(&r, 10 * S, 2 * S, false), None);
        assert_eq!(crash_run(&mut b, &r, 11 * S, 3), [None, None, Some(S)]);
        // A crash after a long life counts as the first of a new run.
        crash_run(&mut b, &r, 20 * S, 4);
        assert_eq!(b.on_exit(&r, 21 * S, r.min_uptime, true), None);
    }

    #[test]
    fn asked_exits_are_no_crashes() {
        let r = rules();
        let mut b = CrashBackoff::default();
        for i in 0..10 {
            assert_eq!(b.on_exit(&r, i, 0, false), None);
        }
        assert_eq!(crash_run(&mut b, &r, 100, 3), [None, None, Some(S)]);
    }

    #[test]
    fn max_restarts_of_zero_never_backs_off() {
        let r = BackoffRules {
            max_restarts: 0,
            ..rules()
        };
        let mut b = CrashBackoff::default();
        assert!(crash_run(&mut b, &r, 0, 50).iter().all(Option::is_none));
    }

    #[test]
    fn delays_stay_at_max_however_long_the_loop() {
        // Past 2^44 × 1 s a shift would wrap; the delay must stay at max.
        let r = BackoffRules {
            max: u64::MAX / 2,
            ..rules()
        };
        let mut b = CrashBackoff::default();
        let delays = crash_run(&mut b, &r, 0, 200);
        let loops: Vec<u64> = delays.into_iter().flatten().collect();
        assert_eq!(loops.len(), 198);
        assert!(loops.windows(2).all(|w| w[1] >= w[0]), "{loops:?}");
        assert_eq!(*loops.last().unwrap(), r.max);
    }
}
