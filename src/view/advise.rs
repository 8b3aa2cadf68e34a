//! `workerlife advise`: a policy from measured growth. A series of stats
//! documents (the JSON of `Pool::stats_json`, sampled from a live pool or
//! read from a saved file) is turned into what the workers' memory does
//! (start size, growth per request and per hour, whether it follows requests
//! or time) and, for a target, the limits that hold it. Pure functions over
//! the series: the `workerlife` binary and `python -m workerlife advise`
//! both watch, save and read series their own way and print what this
//! module writes, so they say the same thing.
//!
//! **Requests or time.** Each worker (a slot's generation) gives readings
//! of (uptime, requests served, memory). Two models are fitted to all
//! workers at once: memory = start of the worker + b × requests, and
//! memory = start of the worker + c × uptime, each with one slope shared by
//! every worker and a start of its own (least squares within each worker:
//! the "fixed effects" fit). When memory follows requests, workers that
//! serve at different rates, or that sit idle for a while, grow at different
//! speeds per second but at one speed per request: the per-request model
//! explains nearly all of the growth and the per-second model leaves much
//! of it unexplained; when memory follows time it is the other way round.
//! The share each model leaves unexplained is printed. When every worker
//! served at one steady rate both models fit alike and the two cannot be
//! told apart (it says so, and advises `max_requests`, which holds while
//! the load stays as it was).

use crate::policy::{Key, Policy};
use crate::rules::growth::human_rate;
use crate::units::human_size;
use crate::view::top::printable;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The exit status of `advise` when it cannot tell yet (too few samples,
/// one worker, no requests): distinct from 0 (advice printed), 1 (an error)
/// and 2 (a usage error).
pub const EXIT_NOT_YET: u8 = 3;

/// The fewest stats documents a series needs.
pub const MIN_SAMPLES: usize = 3;

/// The fewest memory readings a worker needs to be fitted.
pub const MIN_READINGS: usize = 3;

/// The fewest workers (each with `MIN_READINGS`) a series needs: growth in
/// one worker cannot be told apart between requests and time.
pub const MIN_WORKERS: usize = 2;

/// Less growth than this over the median worker's watched life is "no
/// steady growth seen": a few hundred KiB is what an allocator's arenas
/// move by themselves.
pub const MIN_GROWTH: f64 = 1024.0 * 1024.0;

/// A model "explains" the growth when it leaves at most this share of the
/// memory's variation (within each worker) unexplained.
pub const EXPLAINED: f64 = 0.5;

/// One model is preferred when it leaves at most half what the other
/// leaves unexplained, and at least this share less.
pub const CLEAR_MARGIN: f64 = 0.05;

/// The share of a container's limit kept free when a per-worker ceiling is
/// derived from it: `container_headroom`'s default (10%).
pub const CONTAINER_HEADROOM_PERCENT: u64 = 10;

/// The most readings a series holds (all workers): a larger file or a
/// longer watch is an error, not all of memory.
pub const MAX_READINGS: usize = 2_000_000;

/// The most workers (slot generations) a series tracks.
pub const MAX_WORKERS: usize = 100_000;

/// The most points of one worker the per-worker slopes look at (evenly
/// spaced): the pairs grow as the square.
const SPREAD_POINTS: usize = 128;

/// One reading of one worker.
#[derive(Clone, Copy, Debug)]
struct Reading {
    uptime: f64,
    requests: f64,
    rss: Option<u64>,
    uss: Option<u64>,
    pss: Option<u64>,
}

/// A worker: its slot, pid and generation.
type WorkerKey = (u32, u32, u32);

/// A series of stats documents, as readings per worker.
#[derive(Clone, Debug, Default)]
pub struct Series {
    samples: usize,
    readings: usize,
    workers: BTreeMap<WorkerKey, Vec<Reading>>,
    /// The parent's RSS in the latest document that has one.
    parent_rss: Option<u64>,
    /// Workers running in the latest document.
    running: u64,
}

/// What a document holds where it should not, as it is safe to print.
fn found(v: &Value) -> String {
    printable(&v.to_string())
}

fn whole(slot: &Value, i: usize, key: &str, max: u64) -> Result<u64, String> {
    let v = &slot[key];
    v.as_u64().filter(|&n| n <= max).ok_or_else(|| {
        format!(
            "per_slot[{i}].{key}: expected a whole number up to {max}, found {}",
            found(v)
        )
    })
}

fn bytes(slot: &Value, i: usize, key: &str) -> Result<Option<u64>, String> {
    let v = &slot[key];
    match v {
        Value::Null => Ok(None),
        _ => v.as_u64().map(Some).ok_or_else(|| {
            format!(
                "per_slot[{i}].{key}: expected bytes or null, found {}",
                found(v)
            )
        }),
    }
}

impl Series {
    pub fn new() -> Series {
        Series::default()
    }

    /// Stats documents taken in.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Adds one stats document given as JSON text. An error says what is
    /// wrong with it (the caller names the file and line, or the sample);
    /// a document in error adds nothing.
    pub fn push_json(&mut self, text: &str) -> Result<(), String> {
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| format!("not JSON ({e}): expected one stats document per line"))?;
        self.push(&doc)
    }

    /// Adds one stats document (see `push_json`).
    pub fn push(&mut self, doc: &Value) -> Result<(), String> {
        if !doc.is_object() {
            return Err("not a stats document: expected a JSON object".into());
        }
        let slots = doc["per_slot"]
            .as_array()
            .ok_or("not workerlife stats: no per_slot list")?;
        let mut new = Vec::new();
        for (i, s) in slots.iter().enumerate() {
            if !s.is_object() {
                return Err(format!(
                    "per_slot[{i}]: expected an object, found {}",
                    found(s)
                ));
            }
            let state = s["state"].as_str().ok_or_else(|| {
                format!(
                    "per_slot[{i}].state: expected a string, found {}",
                    found(&s["state"])
                )
            })?;
            if state == "vacant" {
                continue;
            }
            let key = (
                whole(s, i, "slot", u64::from(u32::MAX))? as u32,
                whole(s, i, "pid", u64::from(u32::MAX))? as u32,
                whole(s, i, "generation", u64::from(u32::MAX))? as u32,
            );
            let requests = whole(s, i, "requests", u64::MAX)?;
            let uptime = s["uptime"]
                .as_f64()
                .filter(|u| u.is_finite() && *u >= 0.0)
                .ok_or_else(|| {
                    format!(
                        "per_slot[{i}].uptime: expected seconds (a finite number >= 0), found {}",
                        found(&s["uptime"])
                    )
                })?;
            new.push((
                key,
                Reading {
                    uptime,
                    requests: requests as f64,
                    rss: bytes(s, i, "rss")?,
                    uss: bytes(s, i, "uss")?,
                    pss: bytes(s, i, "pss")?,
                },
            ));
        }
        if self.readings + new.len() > MAX_READINGS {
            return Err(format!(
                "the series is too large: more than {MAX_READINGS} worker readings"
            ));
        }
        for (key, r) in new {
            if !self.workers.contains_key(&key) && self.workers.len() >= MAX_WORKERS {
                return Err(format!(
                    "the series is too large: more than {MAX_WORKERS} workers"
                ));
            }
            self.workers.entry(key).or_default().push(r);
            self.readings += 1;
        }
        self.samples += 1;
        if let Some(rss) = doc["parent"]["rss_bytes"].as_u64() {
            self.parent_rss = Some(rss);
        }
        self.running = doc["workers"]["running"].as_u64().unwrap_or(0);
        Ok(())
    }
}

/// What the advice aims to hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// No target: findings only.
    None,
    /// Each worker's memory at most this (`--max-worker`).
    PerWorker(u64),
    /// The container's memory limit and the workers in it (`--container`,
    /// `--workers`; None: the workers running in the latest sample).
    Container { limit: u64, workers: Option<u32> },
}

/// A size as `--max-worker` and `--container` take it (the policy's sizes:
/// `512MiB`, `2GB`, a bare number of bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    match crate::units::parse_size(text.trim()) {
        Ok(0) => Err(format!("{text:?}: expected a size above 0")),
        Ok(n) => Ok(n),
        Err(why) => Err(format!("{text:?}: {why}")),
    }
}

/// A duration as `--for` and `--interval` take it (the policy's durations:
/// `60s`, `5m`, `1h30m`, a bare number of seconds), in seconds.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    match crate::units::parse_duration_us(text.trim()) {
        Ok(0) => Err(format!("{text:?}: expected a duration above 0")),
        Ok(us) => Ok(us as f64 / 1e6),
        Err(why) => Err(format!("{text:?}: {why}")),
    }
}

impl Target {
    /// The target the command line gives: `--max-worker`, or `--container`
    /// with an optional `--workers` (not both, and `--workers` only with
    /// `--container`).
    pub fn parse(
        max_worker: Option<&str>,
        container: Option<&str>,
        workers: Option<u32>,
    ) -> Result<Target, String> {
        let size = |flag: &str, v: Option<&str>| {
            v.map(|t| parse_size(t).map_err(|e| format!("{flag}: {e}")))
                .transpose()
        };
        Target::of(
            size("--max-worker", max_worker)?,
            size("--container", container)?,
            workers,
        )
    }

    /// `parse`, with the sizes already read (bytes).
    pub fn of(
        max_worker: Option<u64>,
        container: Option<u64>,
        workers: Option<u32>,
    ) -> Result<Target, String> {
        match (max_worker, container, workers) {
            (Some(_), Some(_), _) => {
                Err("give --max-worker or --container (with --workers), not both".into())
            }
            (_, None, Some(_)) => Err("--workers goes with --container".into()),
            (_, _, Some(0)) => Err("--workers: expected 1 or more".into()),
            (Some(0), ..) | (_, Some(0), _) => Err("a target of 0 bytes".into()),
            (Some(m), None, None) => Ok(Target::PerWorker(m)),
            (None, Some(limit), workers) => Ok(Target::Container { limit, workers }),
            (None, None, None) => Ok(Target::None),
        }
    }
}

/// The median and the range of a figure across workers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Workers it was measured in.
    pub workers: usize,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some(Spread {
            median: median_sorted(&values),
            min: values[0],
            max: values[values.len() - 1],
            workers: values.len(),
        })
    }
}

fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// What the growth follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// Memory grows with requests served.
    Requests,
    /// Memory grows with time, whatever the requests.
    Time,
    /// Both models fit alike (every worker served at one steady rate).
    Either,
    /// No steady growth seen.
    Flat,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Requests => "requests",
            Driver::Time => "time",
            Driver::Either => "either",
            Driver::Flat => "flat",
        }
    }
}

/// One model fitted to every worker: a slope shared by all, a start per
/// worker.
#[derive(Clone, Debug)]
struct Fit {
    /// Bytes per unit of x.
    slope: f64,
    /// The share of memory's variation within workers left unexplained.
    unexplained: f64,
    /// Each worker's memory at x = 0.
    starts: Vec<f64>,
    /// Each worker's growth over what it was watched for, by the slope.
    growths: Vec<f64>,
}

/// The fixed-effects least-squares fit of memory over `x` (see the module's
/// comment). None when x never changes within a worker.
fn pooled(workers: &[Vec<[f64; 3]>], x: usize) -> Option<Fit> {
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    let mut means = Vec::with_capacity(workers.len());
    for w in workers {
        let n = w.len() as f64;
        let mx = w.iter().map(|p| p[x]).sum::<f64>() / n;
        let my = w.iter().map(|p| p[2]).sum::<f64>() / n;
        for p in w {
            let (dx, dy) = (p[x] - mx, p[2] - my);
            sxx += dx * dx;
            sxy += dx * dy;
            syy += dy * dy;
        }
        means.push((mx, my));
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let unexplained = if syy > 0.0 {
        ((syy - slope * sxy) / syy).clamp(0.0, 1.0)
    } else {
        0.0
    };
    Some(Fit {
        slope,
        unexplained,
        starts: means.iter().map(|(mx, my)| my - slope * mx).collect(),
        growths: workers
            .iter()
            .map(|w| slope * (w[w.len() - 1][x] - w[0][x]))
            .collect(),
    })
}

/// The Theil–Sen slope of memory over `x` in one worker (the median of the
/// slopes between pairs whose x differ), over at most `SPREAD_POINTS`
/// evenly spaced points.
fn theil_sen(w: &[[f64; 3]], x: usize) -> Option<f64> {
    let step = w.len().div_ceil(SPREAD_POINTS).max(1);
    let pts: Vec<&[f64; 3]> = w.iter().step_by(step).collect();
    let mut slopes = Vec::new();
    for (i, a) in pts.iter().enumerate() {
        for b in &pts[i + 1..] {
            let dx = b[x] - a[x];
            if dx > 0.0 {
                slopes.push((b[2] - a[2]) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    Some(median_sorted(&slopes))
}

/// What the series shows.
#[derive(Clone, Debug)]
pub struct Findings {
    pub samples: usize,
    /// Workers fitted (each with `MIN_READINGS` readings).
    pub workers: usize,
    /// `uss`, `pss` or `rss`: the reading fitted.
    pub metric: &'static str,
    /// The longest a worker was watched, seconds.
    pub span_secs: f64,
    /// Requests per second, the pool's (all workers).
    pub pool_rate: f64,
    /// Requests per second, each worker's.
    pub rates: Spread,
    /// Memory at 0 requests (or at spawn, for time-driven growth).
    pub start: Spread,
    /// Per worker (Theil–Sen), bytes per request.
    pub per_request: Option<Spread>,
    /// Per worker (Theil–Sen), bytes per hour.
    pub per_hour: Spread,
    /// The shared slopes: bytes per request and per second.
    pub fitted_per_request: f64,
    pub fitted_per_second: f64,
    /// The share each model leaves unexplained.
    pub unexplained_requests: f64,
    pub unexplained_time: f64,
    pub driver: Driver,
    /// Seconds from spawn to first request, the median over the workers
    /// seen before their first request, and how many.
    pub replacement: Option<(f64, usize)>,
    /// The parent's RSS, when the stats hold it.
    pub parent_rss: Option<u64>,
    /// Workers running in the latest sample.
    pub running: u64,
}

/// The limits advised for a target.
#[derive(Clone, Debug)]
pub struct Advice {
    pub findings: Findings,
    /// The per-worker ceiling aimed at, and how it was derived.
    pub ceiling: Option<(u64, String)>,
    pub max_requests: Option<u64>,
    pub max_lifetime_secs: Option<u64>,
    /// Recycles per hour across the pool the limits cost.
    pub recycles_per_hour: Option<f64>,
    /// The policy string, when a target is given and a setting holds it.
    pub policy: Option<String>,
    /// Why no setting holds the target, when none does.
    pub unreachable: Option<String>,
}

/// What the series shows, or why it cannot tell yet.
pub fn findings(series: &Series) -> Result<Findings, String> {
    if series.samples < MIN_SAMPLES {
        return Err(format!(
            "{} sample{} taken, {MIN_SAMPLES} needed: watch longer",
            series.samples,
            if series.samples == 1 { "" } else { "s" }
        ));
    }
    // The reading fitted: USS (what a recycle frees) where the pool reads
    // it for most readings, else PSS, else RSS.
    let all: Vec<&Reading> = series.workers.values().flatten().collect();
    let share = |f: fn(&Reading) -> Option<u64>| {
        all.iter().filter(|r| f(r).is_some()).count() * 5 >= all.len() * 4
    };
    let (metric, pick): (&'static str, fn(&Reading) -> Option<u64>) = if share(|r| r.uss) {
        ("uss", |r| r.uss)
    } else if share(|r| r.pss) {
        ("pss", |r| r.pss)
    } else {
        ("rss", |r| r.rss)
    };
    let mut workers: Vec<Vec<[f64; 3]>> = Vec::new();
    let mut replacements = Vec::new();
    for readings in series.workers.values() {
        let mut rs: Vec<&Reading> = readings.iter().collect();
        rs.sort_by(|a, b| a.uptime.total_cmp(&b.uptime));
        // A worker seen before its first request and again after it: its
        // time from spawn to serving, to within a sample.
        if let (Some(zero), Some(first)) = (
            rs.iter().rposition(|r| r.requests == 0.0),
            rs.iter().position(|r| r.requests > 0.0),
        ) {
            if zero + 1 == first {
                replacements.push((rs[zero].uptime + rs[first].uptime) / 2.0);
            }
        }
        let mut pts: Vec<[f64; 3]> = Vec::new();
        for r in rs {
            if let Some(m) = pick(r) {
                if pts.last().map_or(true, |p| p[0] < r.uptime) {
                    pts.push([r.uptime, r.requests, m as f64]);
                }
            }
        }
        if pts.len() >= MIN_READINGS && pts[pts.len() - 1][0] > pts[0][0] {
            workers.push(pts);
        }
    }
    if workers.len() < MIN_WORKERS {
        return Err(format!(
            "{} worker{} with {MIN_READINGS} {metric} readings or more, {MIN_WORKERS} needed: \
             in one worker growth per request and per second cannot be told apart",
            workers.len(),
            if workers.len() == 1 { "" } else { "s" }
        ));
    }
    let served: f64 = workers.iter().map(|w| w[w.len() - 1][1] - w[0][1]).sum();
    let by_requests = match pooled(&workers, 1) {
        Some(f) if served > 0.0 => f,
        _ => {
            return Err(
                "no requests served while watched: growth per request cannot be measured".into(),
            )
        }
    };
    let by_time = pooled(&workers, 0).expect("every worker spans some time");
    let span = workers
        .iter()
        .map(|w| w[w.len() - 1][0] - w[0][0])
        .fold(0.0, f64::max);
    let rates = Spread::of(
        workers
            .iter()
            .map(|w| (w[w.len() - 1][1] - w[0][1]) / (w[w.len() - 1][0] - w[0][0]))
            .collect(),
    )
    .expect("two workers or more");
    let median_growth = |f: &Fit| {
        let mut g = f.growths.clone();
        g.sort_by(f64::total_cmp);
        median_sorted(&g)
    };
    let (u_r, u_t) = (by_requests.unexplained, by_time.unexplained);
    let best = if u_r <= u_t { &by_requests } else { &by_time };
    let driver =
        if best.slope <= 0.0 || best.unexplained > EXPLAINED || median_growth(best) < MIN_GROWTH {
            Driver::Flat
        } else if u_r <= u_t / 2.0 && u_t - u_r >= CLEAR_MARGIN {
            Driver::Requests
        } else if (u_t <= u_r / 2.0 && u_r - u_t >= CLEAR_MARGIN) || by_requests.slope <= 0.0 {
            // (Alike, but only time grows it: a limit per request would
            // divide by a slope that is not positive.)
            Driver::Time
        } else {
            Driver::Either
        };
    let chosen = if driver == Driver::Time {
        &by_time
    } else {
        &by_requests
    };
    let start = if driver == Driver::Flat {
        // No slope to project back along: the median reading.
        workers
            .iter()
            .map(|w| {
                let mut m: Vec<f64> = w.iter().map(|p| p[2]).collect();
                m.sort_by(f64::total_cmp);
                median_sorted(&m)
            })
            .collect()
    } else {
        chosen.starts.clone()
    };
    Ok(Findings {
        samples: series.samples,
        workers: workers.len(),
        metric,
        span_secs: span,
        pool_rate: if span > 0.0 { served / span } else { 0.0 },
        rates,
        start: Spread::of(start).expect("two workers or more"),
        per_request: Spread::of(workers.iter().filter_map(|w| theil_sen(w, 1)).collect()),
        per_hour: Spread::of(
            workers
                .iter()
                .filter_map(|w| theil_sen(w, 0).map(|s| s * 3600.0))
                .collect(),
        )
        .expect("every worker spans some time"),
        fitted_per_request: by_requests.slope,
        fitted_per_second: by_time.slope,
        unexplained_requests: u_r,
        unexplained_time: u_t,
        driver,
        replacement: Spread::of(replacements).map(|s| (s.median, s.workers)),
        parent_rss: series.parent_rss,
        running: series.running,
    })
}

/// Rounds a ceiling down to what a spec string writes plainly: whole MiB
/// from 16 MiB, else whole KiB.
fn round_size(bytes: u64) -> u64 {
    let unit = if bytes >= 16 << 20 { 1 << 20 } else { 1 << 10 };
    (bytes / unit * unit).max(unit)
}

/// The advice for `target`, or why it cannot tell yet.
pub fn advise(series: &Series, target: Target) -> Result<Advice, String> {
    let f = findings(series)?;
    let mut advice = Advice {
        ceiling: None,
        max_requests: None,
        max_lifetime_secs: None,
        recycles_per_hour: None,
        policy: None,
        unreachable: None,
        findings: f,
    };
    let f = &advice.findings;
    let (ceiling, how, workers) = match target {
        Target::None => return Ok(advice),
        Target::PerWorker(c) => (c, "--max-worker".to_string(), f.running.max(1)),
        Target::Container { limit, workers } => {
            let n = workers.map_or(f.running, u64::from);
            if n == 0 {
                return Err(
                    "no worker running in the latest sample: give --workers with --container"
                        .into(),
                );
            }
            let usable = limit - limit * CONTAINER_HEADROOM_PERCENT / 100;
            let parent = f.parent_rss.unwrap_or(0);
            let per = usable.saturating_sub(parent) / n;
            let mut how = format!(
                "the container's {} less {CONTAINER_HEADROOM_PERCENT}% headroom",
                human_size(limit)
            );
            match f.parent_rss {
                Some(p) => {
                    let _ = write!(how, " and the parent's RSS {}", human_size(p));
                }
                None => how.push_str(" (the parent's memory is not in the stats: not taken off)"),
            }
            let _ = write!(how, ", over {n} workers");
            (per, how, n)
        }
    };
    let ceiling = round_size(ceiling.max(1));
    advice.ceiling = Some((ceiling, how));
    let key = match f.metric {
        "uss" => Key::MaxUss,
        "pss" => Key::MaxPss,
        _ => Key::MaxRss,
    };
    let mut policy = Policy::new();
    policy.set_raw(key, ceiling);
    let room = ceiling as f64 - f.start.median;
    if room <= 0.0 {
        advice.unreachable = Some(format!(
            "workers start at {} {}, at or over the ceiling {}: no max_requests holds it \
             (raise the ceiling, or run fewer workers)",
            human_size(f.start.median.max(0.0) as u64),
            f.metric,
            human_size(ceiling)
        ));
        return Ok(advice);
    }
    match f.driver {
        Driver::Requests | Driver::Either => {
            let n = (room / f.fitted_per_request).floor();
            if n < 1.0 {
                advice.unreachable = Some(format!(
                    "one request grows a worker by {}, more than the {} between its start and the ceiling",
                    human_rate(f.fitted_per_request),
                    human_size(room as u64)
                ));
                return Ok(advice);
            }
            let n = n.min(u32::MAX as f64) as u64;
            advice.max_requests = Some(n);
            advice.recycles_per_hour = Some(f.pool_rate * 3600.0 / n as f64);
            policy.set_raw(Key::MaxRequests, n);
        }
        Driver::Time => {
            let secs = (room / f.fitted_per_second).floor();
            if secs < 1.0 {
                advice.unreachable = Some(format!(
                    "a worker grows by {} a second, more than the {} between its start and the ceiling",
                    human_rate(f.fitted_per_second),
                    human_size(room as u64)
                ));
                return Ok(advice);
            }
            let secs = secs.min(1e9) as u64;
            advice.max_lifetime_secs = Some(secs);
            advice.recycles_per_hour = Some(workers as f64 * 3600.0 / secs as f64);
            policy.set_raw(Key::MaxLifetime, secs * 1_000_000);
        }
        Driver::Flat => {}
    }
    advice.policy = Some(policy.to_string());
    Ok(advice)
}

fn size(v: f64) -> String {
    if v < 0.0 {
        format!("-{}", human_size((-v) as u64))
    } else {
        human_size(v as u64)
    }
}

fn spread_text(s: &Spread, fmt: impl Fn(f64) -> String) -> String {
    if s.workers == 1 {
        return format!("{} (1 worker)", fmt(s.median));
    }
    format!(
        "{} median, {} to {} across {} workers",
        fmt(s.median),
        fmt(s.min),
        fmt(s.max),
        s.workers
    )
}

fn seconds_text(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        Key::MaxLifetime.format_value((s * 1e6) as u64 / 1_000_000 * 1_000_000)
    }
}

/// `text` as it is safe to print (see `top::printable`), not cut short
/// below 1,000 characters: a path is shown whole.
pub fn escaped(text: &str) -> String {
    let chars: Vec<char> = text.chars().take(1000).collect();
    let mut out: String = chars
        .chunks(crate::view::top::MAX_CELL)
        .map(|c| printable(&c.iter().collect::<String>()))
        .collect();
    if text.chars().nth(1000).is_some() {
        out.push('…');
    }
    out
}

/// The report `advise` prints, and its exit status: 0 with advice (or
/// findings without a target), `EXIT_NOT_YET` when it cannot tell yet.
/// `source` names where the series came from.
pub fn report(series: &Series, target: Target, source: &str) -> (u8, String) {
    let mut o = String::new();
    let _ = writeln!(o, "workerlife advise: {}", escaped(source));
    let a = match advise(series, target) {
        Ok(a) => a,
        Err(why) => {
            let _ = writeln!(o, "cannot tell yet: {why}");
            return (EXIT_NOT_YET, o);
        }
    };
    let f = &a.findings;
    let _ = writeln!(
        o,
        "watched: {} samples, {} workers over {}, {:.1} requests/s in all ({:.1} to {:.1} per worker)",
        f.samples,
        f.workers,
        seconds_text(f.span_secs),
        f.pool_rate,
        f.rates.min,
        f.rates.max
    );
    let _ = writeln!(
        o,
        "memory: {} ({})",
        f.metric,
        match f.metric {
            "uss" => "unique set: what a recycle frees",
            "pss" => "proportional set: shared pages divided among sharers",
            _ =>
                "resident set, shared pages included: set max_uss in the pool's policy to read USS",
        }
    );
    let at = match f.driver {
        Driver::Time => "at spawn",
        Driver::Flat => "median reading",
        _ => "at 0 requests",
    };
    let _ = writeln!(o, "start size: {} ({at})", spread_text(&f.start, size));
    match &f.per_request {
        Some(s) => {
            let _ = writeln!(o, "growth per request: {}", spread_text(s, human_rate));
        }
        None => {
            let _ = writeln!(o, "growth per request: not known");
        }
    }
    let _ = writeln!(
        o,
        "growth per hour: {}",
        spread_text(&f.per_hour, human_rate)
    );
    let pct = |u: f64| format!("{:.1}%", u * 100.0);
    let fits = format!(
        "one slope per request for every worker leaves {} of the memory's movement unexplained, one per second {}",
        pct(f.unexplained_requests),
        pct(f.unexplained_time)
    );
    let _ = match f.driver {
        Driver::Requests => writeln!(
            o,
            "follows: requests, {}/request ({fits})",
            human_rate(f.fitted_per_request)
        ),
        Driver::Time => writeln!(
            o,
            "follows: time, {}/hour ({fits})",
            human_rate(f.fitted_per_second * 3600.0)
        ),
        Driver::Either => writeln!(
            o,
            "follows: requests or time, they cannot be told apart: every worker served at one steady rate ({fits}); \
             advised as per request, which holds while the load stays as it was"
        ),
        Driver::Flat => writeln!(
            o,
            "follows: nothing: no steady growth seen (less than {} over a worker's watched life, or neither model explains half of it; {fits})",
            human_size(MIN_GROWTH as u64)
        ),
    };
    let Some((ceiling, how)) = &a.ceiling else {
        let _ = writeln!(
            o,
            "target: none given (--max-worker SIZE, or --container SIZE --workers N): no limits advised"
        );
        return (0, o);
    };
    let _ = writeln!(o, "target: {} per worker ({how})", human_size(*ceiling));
    if let Some(why) = &a.unreachable {
        let _ = writeln!(o, "cannot hold it: {why}");
        return (0, o);
    }
    let memory_key = format!("max_{}", f.metric);
    if let Some(n) = a.max_requests {
        let _ = writeln!(
            o,
            "holds it: max_requests={n} (a worker starting at {} and growing {}/request reaches {} after {n} requests), {memory_key} at the ceiling as a backstop",
            size(f.start.median),
            human_rate(f.fitted_per_request),
            human_size(*ceiling)
        );
    } else if let Some(s) = a.max_lifetime_secs {
        let _ = writeln!(
            o,
            "holds it: max_lifetime={} (a worker starting at {} and growing {}/hour reaches {} then), {memory_key} at the ceiling as a backstop",
            Key::MaxLifetime.format_value(s * 1_000_000),
            size(f.start.median),
            human_rate(f.fitted_per_second * 3600.0),
            human_size(*ceiling)
        );
    } else {
        let _ = writeln!(
            o,
            "holds it: {memory_key} at the ceiling, as a backstop: no growth to recycle for"
        );
    }
    if let Some(r) = a.recycles_per_hour {
        let _ = writeln!(o, "recycles: {r:.1} per hour across the pool");
        match f.replacement {
            Some((t, n)) => {
                let _ = writeln!(
                    o,
                    "replacement time: {t:.2}s (median from spawn to first request, {n} worker{} seen start while watched; to within a sample)",
                    if n == 1 { "" } else { "s" }
                );
                let share = r * t / 3600.0;
                if share < 0.01 {
                    let _ = writeln!(
                        o,
                        "p99 cost: none expected: a worker is out being replaced {:.2}% of the time, under the 1% of requests the p99 leaves out",
                        share * 100.0
                    );
                } else {
                    let _ = writeln!(
                        o,
                        "p99 cost: up to {t:.2}s: a worker is out being replaced {:.1}% of the time, more than the 1% the p99 leaves out \
                         (max_surge=1 starts the replacement before the old worker leaves)",
                        share * 100.0
                    );
                }
            }
            None => {
                let _ = writeln!(
                    o,
                    "p99 cost: not known: no worker was seen from its spawn to its first request while watched, so this machine's replacement time was not measured"
                );
            }
        }
    }
    if let Some(p) = &a.policy {
        let _ = writeln!(o, "policy: {p}");
    }
    (0, o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A document of `workers` (slot = index), each at `uptime` with
    /// `(requests, uss)`.
    fn doc(uptime: f64, workers: &[(u64, u64)]) -> Value {
        json!({
            "workers": {"running": workers.len()},
            "per_slot": workers.iter().enumerate().map(|(i, (req, uss))| json!({
                "slot": i, "pid": 100 + i, "generation": 1, "state": "running",
                "requests": req, "uptime": uptime, "rss": uss + (50 << 20), "uss": uss, "pss": null,
            })).collect::<Vec<_>>(),
        })
    }

    const M: u64 = 1 << 20;

    /// Workers at rates 1..=4 requests/s; memory from `grow(requests, t)`.
    fn series(grow: impl Fn(u64, f64) -> u64, samples: u32) -> Series {
        let mut s = Series::new();
        for i in 0..samples {
            let t = f64::from(i);
            let ws: Vec<(u64, u64)> = (1..=4u64)
                .map(|rate| {
                    // Idle every other second for the odd rates.
                    let req = rate * u64::from(i) / if rate % 2 == 1 { 2 } else { 1 };
                    (req, 20 * M + grow(req, t))
                })
                .collect();
            s.push(&doc(t, &ws)).unwrap();
        }
        s
    }

    #[test]
    fn growth_per_request_is_told_from_growth_per_second() {
        let req = series(|r, _| r * M, 20);
        let f = findings(&req).unwrap();
        assert_eq!(f.driver, Driver::Requests, "{f:?}");
        assert!((f.fitted_per_request - M as f64).abs() < 1.0, "{f:?}");
        assert!((f.start.median - (20 * M) as f64).abs() < 1.0, "{f:?}");
        let a = advise(&req, Target::PerWorker(120 * M)).unwrap();
        assert_eq!(a.max_requests, Some(100));
        assert_eq!(a.policy.as_deref(), Some("max_uss=120MiB,max_requests=100"));
        let time = series(|_, t| (t * (M as f64)) as u64, 20);
        let f = findings(&time).unwrap();
        assert_eq!(f.driver, Driver::Time, "{f:?}");
        let a = advise(&time, Target::PerWorker(50 * M)).unwrap();
        assert_eq!(a.max_lifetime_secs, Some(30));
        assert_eq!(a.recycles_per_hour, Some(4.0 * 120.0));
        let (code, text) = report(&time, Target::PerWorker(50 * M), "test");
        assert_eq!(code, 0);
        assert!(text.contains("follows: time"), "{text}");
        assert!(
            text.contains("policy: max_uss=50MiB,max_lifetime=30s"),
            "{text}"
        );
        // Every worker was seen at 0 requests, then 1 s later past it.
        assert!(text.contains("replacement time: 0.50s"), "{text}");
        assert!(text.contains("p99 cost: up to 0.50s"), "{text}");
    }

    #[test]
    fn flat_memory_and_steady_rates_are_said_as_such() {
        let flat = series(|_, _| 0, 10);
        assert_eq!(findings(&flat).unwrap().driver, Driver::Flat);
        let a = advise(&flat, Target::PerWorker(64 * M)).unwrap();
        assert_eq!(a.policy.as_deref(), Some("max_uss=64MiB"));
        // Every worker at 3 requests/s: requests and time are the same line.
        let mut s = Series::new();
        for i in 0..10u64 {
            s.push(&doc(
                i as f64,
                &[(3 * i, 3 * i * M), (3 * i, 3 * i * M + M)],
            ))
            .unwrap();
        }
        assert_eq!(findings(&s).unwrap().driver, Driver::Either);
    }

    #[test]
    fn the_p99_cost_follows_the_replacement_time_or_is_not_known() {
        // 10 KiB a request over 400 s: a 2 GiB ceiling is some 200,000
        // requests away, a fraction of a recycle an hour.
        let slow = series(|r, _| r * 10 * 1024, 400);
        let (code, text) = report(&slow, Target::PerWorker(2 << 30), "x");
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("p99 cost: none expected"), "{text}");
        // Every worker already serving at the first sample: not measured.
        let mut s = Series::new();
        for i in 1..20u64 {
            s.push(&doc(i as f64, &[(i, i * M), (3 * i, 3 * i * M)]))
                .unwrap();
        }
        let (code, text) = report(&s, Target::PerWorker(64 * M), "x");
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("p99 cost: not known"), "{text}");
        assert!(!text.contains("replacement time:"), "{text}");
    }

    #[test]
    fn too_little_to_go_on_is_not_yet_and_never_divides_by_zero() {
        let mut s = Series::new();
        let (code, text) = report(&s, Target::PerWorker(M), "x");
        assert_eq!(code, EXIT_NOT_YET);
        assert!(text.contains("0 samples taken, 3 needed"), "{text}");
        // One worker.
        for i in 0..5u64 {
            s.push(&doc(i as f64, &[(i, i * M)])).unwrap();
        }
        let (code, text) = report(&s, Target::None, "x");
        assert_eq!(code, EXIT_NOT_YET, "{text}");
        assert!(text.contains("1 worker with 3 uss readings"), "{text}");
        // No requests, memory growing with time.
        let mut s = Series::new();
        for i in 0..5u64 {
            s.push(&doc(i as f64, &[(0, i * M), (0, i * M)])).unwrap();
        }
        let (code, text) = report(&s, Target::PerWorker(M), "x");
        assert_eq!(code, EXIT_NOT_YET, "{text}");
        assert!(text.contains("no requests served"), "{text}");
        // The same uptime in every sample (a frozen pool): no span.
        let mut s = Series::new();
        for i in 0..5u64 {
            s.push(&doc(1.0, &[(i, i * M), (i, i * M)])).unwrap();
        }
        assert_eq!(report(&s, Target::None, "x").0, EXIT_NOT_YET);
        // Container with no worker running and no --workers.
        let mut s = series(|r, _| r * M, 5);
        s.running = 0;
        let e = advise(
            &s,
            Target::Container {
                limit: M,
                workers: None,
            },
        )
        .unwrap_err();
        assert!(e.contains("--workers"), "{e}");
    }

    #[test]
    fn a_ceiling_under_the_start_size_is_said_unreachable() {
        let s = series(|r, _| r * M, 10);
        let a = advise(&s, Target::PerWorker(10 * M)).unwrap();
        assert!(a.unreachable.unwrap().contains("no max_requests holds it"));
        assert!(a.policy.is_none());
        let a = advise(
            &s,
            Target::Container {
                limit: 1000 * M,
                workers: Some(4),
            },
        )
        .unwrap();
        // 900 MiB over 4 workers: 225 MiB each, 205 requests of 1 MiB.
        assert_eq!(a.ceiling.as_ref().unwrap().0, 225 * M);
        assert_eq!(a.max_requests, Some(205));
    }

    #[test]
    fn garbled_documents_are_refused_with_the_field_named() {
        let mut s = Series::new();
        for (text, says) in [
            ("{", "not JSON"),
            ("[]", "expected a JSON object"),
            ("{}", "no per_slot"),
            (r#"{"per_slot": [1]}"#, "per_slot[0]: expected an object"),
            (r#"{"per_slot": [{"state": 3}]}"#, "per_slot[0].state"),
            (
                r#"{"per_slot": [{"state": "running", "slot": -1}]}"#,
                "per_slot[0].slot",
            ),
            (
                r#"{"per_slot": [{"state": "running", "slot": 0, "pid": 1, "generation": 1, "requests": 1, "uptime": -1}]}"#,
                "per_slot[0].uptime",
            ),
            (
                r#"{"per_slot": [{"state": "running", "slot": 0, "pid": 1, "generation": 1, "requests": 1, "uptime": 1, "rss": "\u001b[2J"}]}"#,
                "per_slot[0].rss: expected bytes or null, found \"\\u001b[2J\"",
            ),
        ] {
            let e = s.push_json(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert_eq!(s.samples(), 0);
        assert!(Target::parse(Some("1GiB"), Some("2GiB"), None).is_err());
        assert!(Target::parse(None, None, Some(3)).is_err());
        assert!(Target::parse(Some("lots"), None, None)
            .unwrap_err()
            .contains("--max-worker"));
        assert_eq!(
            Target::parse(None, Some("2GiB"), Some(4)),
            Ok(Target::Container {
                limit: 2 << 30,
                workers: Some(4)
            })
        );
        assert_eq!(parse_seconds("1m30s"), Ok(90.0));
        let long = format!("/{}\u{1b}[2J", "d/".repeat(100));
        assert_eq!(escaped(&long), format!("/{}\\x1b[2J", "d/".repeat(100)));
        assert!(parse_seconds("0").is_err());
    }
}
