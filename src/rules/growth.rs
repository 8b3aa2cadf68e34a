//! Growth estimates: how fast a worker's memory grows, per request and per
//! second, from the readings the pool already takes, and when it will reach
//! its limit.
//!
//! Each slot keeps up to `POINTS` readings of its generation spread evenly
//! over its life: when the points are full, every other one is dropped and
//! readings are kept half as often from then on, so the fit covers the whole
//! generation in fixed space (80 bytes of the slot). The estimate is the
//! Theil–Sen slope, the median of the slopes between every pair of points:
//! a warm-up step or a spike moves one point, which moves a minority of the
//! slopes and so barely the median, where first-minus-last or least squares
//! follow it.
//!
//! Writers are whoever samples the worker (its master, its watchdog, the
//! worker itself), possibly at once: a writer that finds the points being
//! written skips its reading (the next one is kept), so nobody waits.
//! Readers retry while the points change under them (a sequence lock).

use crate::rules::limits::{Limits, Memory};
use crate::table::layout::{fit_word, Slot, NONE, POINTS};
use std::fmt;
use std::sync::atomic::fence;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Duration;

/// The deepest halving kept: one reading in 2^31 (far beyond any life).
const MAX_LEVEL: u32 = 31;
/// Fewer points than this give no estimate: two would be first-minus-last.
const MIN_POINTS: usize = 3;

/// Which reading the growth fit follows: the first memory reading the
/// policy limits, in the decisions' order (RSS, USS, PSS); RSS when none is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Rss,
    Uss,
    Pss,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Rss => "rss",
            Metric::Uss => "uss",
            Metric::Pss => "pss",
        }
    }

    /// The metric and its limit (0: none) under these limits: the first
    /// memory limit set, whether or not a relative one is resolved yet (the
    /// fit keeps to one metric for the pool).
    pub(crate) fn of(l: &Limits, m: &Memory) -> (Metric, u64) {
        if l.max_rss > 0 {
            (Metric::Rss, m.rss)
        } else if l.max_uss > 0 {
            (Metric::Uss, m.uss)
        } else if l.max_pss > 0 {
            (Metric::Pss, m.pss)
        } else {
            (Metric::Rss, 0)
        }
    }

    pub(crate) fn latest(self, slot: &Slot) -> u64 {
        match self {
            Metric::Rss => slot.rss.load(Relaxed),
            Metric::Uss => slot.uss.load(Relaxed),
            Metric::Pss => slot.pss.load(Relaxed),
        }
    }
}

/// How fast one worker's memory grows, fitted over its generation so far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Growth {
    /// The reading fitted (`rss`, `uss` or `pss`).
    pub metric: Metric,
    /// Bytes per request; None when no request was served between readings.
    pub per_request: Option<f64>,
    /// Bytes per second.
    pub per_second: f64,
    /// Requests and seconds between the first and the last reading fitted.
    pub requests: u64,
    pub seconds: f64,
    /// Readings fitted.
    pub samples: u32,
    /// Predicted time until the reading reaches its limit, at the growth per
    /// request and the request rate between the last two readings (per
    /// second when no request came): zero when it is there already; None
    /// with no limit or no growth.
    pub to_limit: Option<Duration>,
    /// Predicted requests until then, likewise.
    pub requests_to_limit: Option<u64>,
}

/// `grew 6.4 KiB/request over 48000 requests`, or per second when no request
/// was served.
impl fmt::Display for Growth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per_request {
            Some(r) => write!(
                f,
                "grew {}/request over {} requests",
                human_rate(r),
                self.requests
            ),
            None => write!(
                f,
                "grew {}/s over {:.0}s",
                human_rate(self.per_second),
                self.seconds
            ),
        }
    }
}

/// A rate in bytes for people: `6.4 KiB`, `-512 B`, `1.2 MiB`.
pub(crate) fn human_rate(bytes: f64) -> String {
    let mut v = bytes;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if v.abs() < 1024.0 || unit == "GiB" {
            return if unit == "B" {
                format!("{v:.0} {unit}")
            } else {
                format!("{v:.1} {unit}")
            };
        }
        v /= 1024.0;
    }
    unreachable!()
}

/// Keeps a reading (in bytes) of `slot`'s fitted metric, taken at `now`.
pub(crate) fn record(slot: &Slot, now: u64, bytes: u64) {
    let w = slot.fit.load(Acquire);
    if fit_word::seq(w) & 1 == 1 {
        return; // another sampler is writing: this reading is skipped
    }
    let locked = fit_word::pack(
        fit_word::seen(w),
        fit_word::level(w),
        fit_word::count(w),
        fit_word::seq(w).wrapping_add(1),
    );
    if slot
        .fit
        .compare_exchange(w, locked, Acquire, Relaxed)
        .is_err()
    {
        return;
    }
    let (seen, mut level, mut count) = (fit_word::seen(w), fit_word::level(w), fit_word::count(w));
    if count > POINTS || level > MAX_LEVEL {
        // Not a word this code wrote (any worker can write the slot): the
        // fit starts over rather than index past its points.
        (level, count) = (0, 0);
    }
    let ms = now.saturating_sub(slot.spawned_at.load(Relaxed)) / 1_000;
    let keep = |level: u32| level < 32 && seen % (1u32 << level) == 0;
    let mut kept = keep(level);
    if kept && count == POINTS {
        // Full: keep every other point, and from now on every other reading.
        for i in 1..POINTS / 2 {
            for k in 0..3 {
                let v = slot.fit_points[2 * i][k].load(Relaxed);
                slot.fit_points[i][k].store(v, Relaxed);
            }
        }
        count = POINTS / 2;
        level = (level + 1).min(MAX_LEVEL);
        kept = keep(level);
    }
    if kept {
        let point = [
            ms.min(u64::from(u32::MAX)) as u32,
            slot.requests.load(Relaxed).min(u64::from(u32::MAX)) as u32,
            (bytes / 1024).min(u64::from(u32::MAX)) as u32,
        ];
        for (cell, v) in slot.fit_points[count].iter().zip(point) {
            cell.store(v, Relaxed);
        }
        count += 1;
    }
    slot.fit.store(
        fit_word::pack(
            seen.wrapping_add(1),
            level,
            count,
            fit_word::seq(w).wrapping_add(2),
        ),
        Release,
    );
}

/// A consistent copy of the kept points (and how many there are), or None
/// while a writer keeps changing them. No allocation: deciding who gets a
/// permit reads it.
fn snapshot(slot: &Slot) -> Option<([[u32; 3]; POINTS], usize)> {
    for _ in 0..8 {
        let before = slot.fit.load(Acquire);
        if fit_word::seq(before) & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let count = fit_word::count(before).min(POINTS);
        let mut points = [[0u32; 3]; POINTS];
        for (p, cells) in points.iter_mut().zip(&slot.fit_points[..count]) {
            *p = [
                cells[0].load(Relaxed),
                cells[1].load(Relaxed),
                cells[2].load(Relaxed),
            ];
        }
        fence(Acquire);
        if slot.fit.load(Relaxed) == before {
            return Some((points, count));
        }
    }
    None
}

/// The Theil–Sen slope of `y` over `x` (KiB per unit of x, in bytes): the
/// median of the slopes between pairs whose x differ. None without such
/// pairs.
fn theil_sen(points: &[[u32; 3]], x: usize) -> Option<f64> {
    let mut slopes = [0f64; POINTS * (POINTS - 1) / 2];
    let mut n = 0;
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            let dx = f64::from(b[x]) - f64::from(a[x]);
            if dx > 0.0 && n < slopes.len() {
                slopes[n] = (f64::from(b[2]) - f64::from(a[2])) * 1024.0 / dx;
                n += 1;
            }
        }
    }
    if n == 0 {
        return None;
    }
    let slopes = &mut slopes[..n];
    slopes.sort_unstable_by(f64::total_cmp);
    Some(if n % 2 == 1 {
        slopes[n / 2]
    } else {
        (slopes[n / 2 - 1] + slopes[n / 2]) / 2.0
    })
}

/// The growth estimate of `slot`'s current generation, once it has enough
/// readings.
pub(crate) fn estimate(limits: &Limits, m: &Memory, slot: &Slot) -> Option<Growth> {
    let (points, count) = snapshot(slot)?;
    let points = &points[..count];
    if count < MIN_POINTS {
        return None;
    }
    let (metric, limit) = Metric::of(limits, m);
    let per_second = theil_sen(points, 0)? * 1_000.0;
    let per_request = theil_sen(points, 1);
    let (first, last) = (points[0], points[points.len() - 1]);
    let latest = metric.latest(slot);
    let remaining = (limit > 0 && latest != NONE).then(|| limit.saturating_sub(latest) as f64);
    // How fast it grows now: growth per request at the request rate between
    // the last two readings (traffic changes faster than a leak does), or
    // per second when no request came between readings.
    let (before, newest) = (points[points.len() - 2], last);
    let span = f64::from(newest[0].saturating_sub(before[0])) / 1e3;
    let speed = match per_request {
        Some(r) if span > 0.0 => r * f64::from(newest[1].saturating_sub(before[1])) / span,
        _ => per_second,
    };
    let to_limit = remaining.and_then(|left| match left {
        0.0 => Some(Duration::ZERO),
        _ if speed > 0.0 => Duration::try_from_secs_f64(left / speed).ok(),
        _ => None,
    });
    let requests_to_limit = remaining.and_then(|left| match (left, per_request) {
        (0.0, _) => Some(0),
        (_, Some(r)) if r > 0.0 => Some((left / r).ceil().min(u64::MAX as f64) as u64),
        _ => None,
    });
    Some(Growth {
        metric,
        per_request,
        per_second,
        requests: u64::from(last[1].saturating_sub(first[1])),
        seconds: f64::from(last[0].saturating_sub(first[0])) / 1e3,
        samples: points.len() as u32,
        to_limit,
        requests_to_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theil_sen_ignores_one_outlier_that_least_squares_follows() {
        // 1 KiB per request, with a 50 MiB spike in the middle.
        let mut pts: Vec<[u32; 3]> = (0..6)
            .map(|i| [i * 1000, i * 100, 1000 + i * 100])
            .collect();
        pts[3][2] += 50 * 1024;
        let slope = theil_sen(&pts, 1).unwrap();
        assert!((slope - 1024.0).abs() < 1.0, "{slope}");
    }

    #[test]
    fn rates_read_for_people() {
        assert_eq!(human_rate(6.4 * 1024.0), "6.4 KiB");
        assert_eq!(human_rate(512.0), "512 B");
        assert_eq!(human_rate(-2048.0), "-2.0 KiB");
        assert_eq!(human_rate(3.0 * 1024.0 * 1024.0), "3.0 MiB");
    }
}
