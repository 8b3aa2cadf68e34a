//! The policy: every limit and pool setting, typed setters, and the spec
//! string (`max_requests=1000,max_rss=512MiB,max_lifetime=1h`).
//!
//! Values are kept as raw `u64`s (bytes, microseconds or counts) in one array
//! indexed by [`Key`], which is also how the policy is stored in a shared pool
//! header. 0 means "off" for every limit.

pub mod reason;

use crate::error::Error;
use crate::units;
use reason::Reason;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The largest time the pool stores, in microseconds (48 bits, 8.9 years):
/// times share a word with other fields.
pub(crate) const TIME_MASK: u64 = (1 << 48) - 1;

/// The largest `max_concurrent_recycles` the word can count.
pub(crate) const MAX_BUDGET: u64 = 0xFFFF;

/// `container_memory=auto`: the limit is read from the cgroup.
pub const CONTAINER_AUTO: u64 = u64::MAX;

/// A `container_headroom` written as a percentage of the limit: this bit,
/// with the percentage in hundredths (basis points) below it.
pub const HEADROOM_PERCENT: u64 = 1 << 63;

/// A memory limit (`max_rss`, `max_uss`, `max_pss`) written as a multiple of
/// the parent's reading (`max_uss=3x`): this bit, with the multiple in
/// hundredths below it (300). See `Key::is_relative`.
pub const RELATIVE_LIMIT: u64 = 1 << 63;

/// The multiples a relative limit takes, in hundredths: 0.01x to 1000x.
const RELATIVE_RANGE: std::ops::RangeInclusive<u64> = 1..=100_000;

/// The largest memory limit in bytes (2^62: 4 EiB), below `RELATIVE_LIMIT`.
const MEMORY_SIZE_MAX: u64 = 1 << 62;

/// `enforce=all` (the default): every rule acts. Otherwise the raw value has
/// bit `1 << code` set for each reason that acts; the others are rehearsed
/// (decided, reported as `would_recycle` / `would_kill`, never carried out).
pub const ENFORCE_ALL: u64 = u64::MAX;

/// The largest size a container key takes in bytes (2^62: 4 EiB).
const CONTAINER_SIZE_MAX: u64 = 1 << 62;

/// How a key's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, written with a size unit (`512MiB`).
    Size,
    /// Microseconds, written with duration units (`1h30m`, `250ms`).
    Duration,
    /// A plain whole number.
    Count,
}

macro_rules! policy_keys {
    ($( $(#[$doc:meta])* $variant:ident, $name:literal, $unit:ident, $default:expr, $getter:ident, $setter:ident; )*) => {
        /// A policy key. The order is the order of the spec string and of the
        /// shared header; never reorder, only append.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Key { $( $(#[$doc])* $variant, )* }

        impl Key {
            /// Every key, in spec order.
            pub const ALL: &'static [Key] = &[ $( Key::$variant, )* ];
            /// The key as written in a spec string.
            pub fn name(self) -> &'static str { match self { $( Key::$variant => $name, )* } }
            /// How the key's value is written.
            pub fn unit(self) -> Unit { match self { $( Key::$variant => Unit::$unit, )* } }
            /// The default raw value (bytes, microseconds or a count).
            pub fn default_raw(self) -> u64 { match self { $( Key::$variant => $default, )* } }
        }

        impl Policy {
            $(
                policy_keys!(@accessors $unit, $variant, $getter, $setter, $(#[$doc])*);
            )*
        }
    };
    (@accessors Duration, $variant:ident, $getter:ident, $setter:ident, $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn $getter(&self) -> Duration { Duration::from_micros(self.raw(Key::$variant)) }
        $(#[$doc])*
        pub fn $setter(&mut self, value: Duration) -> &mut Self {
            self.values[Key::$variant as usize] = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
            self
        }
    };
    (@accessors $unit:ident, $variant:ident, $getter:ident, $setter:ident, $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn $getter(&self) -> u64 { self.raw(Key::$variant) }
        $(#[$doc])*
        pub fn $setter(&mut self, value: u64) -> &mut Self {
            self.values[Key::$variant as usize] = value;
            self
        }
    };
}

const S: u64 = 1_000_000;

policy_keys! {
    /// Kill a worker whose request has been in flight this long.
    RequestTimeout, "request_timeout", Duration, 0, request_timeout, set_request_timeout;
    /// Kill a worker with no heartbeat, begin or end for this long.
    HeartbeatTimeout, "heartbeat_timeout", Duration, 0, heartbeat_timeout, set_heartbeat_timeout;
    /// Recycle at this resident set size.
    MaxRss, "max_rss", Size, 0, max_rss, set_max_rss;
    /// Recycle at this unique set size (memory only this worker uses).
    MaxUss, "max_uss", Size, 0, max_uss, set_max_uss;
    /// Recycle at this proportional set size.
    MaxPss, "max_pss", Size, 0, max_pss, set_max_pss;
    /// Recycle at this many open file descriptors.
    MaxFds, "max_fds", Count, 0, max_fds, set_max_fds;
    /// Recycle after this many consecutive failed health checks.
    MaxHealthFailures, "max_health_failures", Count, 0, max_health_failures, set_max_health_failures;
    /// Recycle after this many requests (plus the generation's jitter draw).
    MaxRequests, "max_requests", Count, 0, max_requests, set_max_requests;
    /// Each generation adds a draw in `[0, max_requests_jitter]` to `max_requests`.
    MaxRequestsJitter, "max_requests_jitter", Count, 0, max_requests_jitter, set_max_requests_jitter;
    /// Recycle at this age (plus the generation's jitter draw).
    MaxLifetime, "max_lifetime", Duration, 0, max_lifetime, set_max_lifetime;
    /// Each generation adds a draw in `[0, lifetime_jitter]` to `max_lifetime`.
    LifetimeJitter, "lifetime_jitter", Duration, 0, lifetime_jitter, set_lifetime_jitter;
    /// Recycle a worker that has served nothing for this long.
    MaxIdle, "max_idle", Duration, 0, max_idle, set_max_idle;
    /// Soft recycles wait until the worker is at least this old.
    MinLifetime, "min_lifetime", Duration, 0, min_lifetime, set_min_lifetime;
    /// Kill a recycling worker still alive this long after it was told.
    DrainTimeout, "drain_timeout", Duration, 30 * S, drain_timeout, set_drain_timeout;
    /// At most this many workers draining at once (0: no budget).
    MaxConcurrentRecycles, "max_concurrent_recycles", Count, 1, max_concurrent_recycles, set_max_concurrent_recycles;
    /// At least this long between two recycle starts.
    MinRecycleInterval, "min_recycle_interval", Duration, 0, min_recycle_interval, set_min_recycle_interval;
    /// A worker up this long resets its slot's crash history.
    MinUptime, "min_uptime", Duration, S, min_uptime, set_min_uptime;
    /// More crashes than this within `restart_window` start respawn backoff (0: never).
    MaxRestarts, "max_restarts", Count, 5, max_restarts, set_max_restarts;
    /// The window in which crashes are counted.
    RestartWindow, "restart_window", Duration, 60 * S, restart_window, set_restart_window;
    /// The first backoff delay; it doubles with each further crash.
    BackoffInitial, "backoff_initial", Duration, S, backoff_initial, set_backoff_initial;
    /// The longest backoff delay.
    BackoffMax, "backoff_max", Duration, 60 * S, backoff_max, set_backoff_max;
    /// How often `tick()` samples every worker's memory and FDs from `/proc`
    /// (0: never; a manual-clock pool never samples on its own).
    SampleInterval, "sample_interval", Duration, S, sample_interval, set_sample_interval;
    /// Replace before retiring: a soft recycle first starts a replacement,
    /// and the worker drains only once it is ready. At most this many extra
    /// workers at once (0: retire first, then respawn).
    MaxSurge, "max_surge", Count, 0, max_surge, set_max_surge;
    /// A replacement not ready this long after its spawn is killed, and the
    /// worker it was to replace retires the plain way.
    ReadyTimeout, "ready_timeout", Duration, 30 * S, ready_timeout, set_ready_timeout;
    /// No replacement is started when the pool's summed RSS plus the retiring
    /// worker's would pass this (0: no ceiling); the recycle then goes the
    /// plain way.
    MaxPoolRss, "max_pool_rss", Size, 0, max_pool_rss, set_max_pool_rss;
    /// A memory or FD limit trips only once every reading over this span was
    /// at or above it, judged when a reading arrives (a spike that falls
    /// back does not recycle; readings that stop never trip). 0: the first
    /// reading at or above the limit trips.
    MemorySustain, "memory_sustain", Duration, 0, memory_sustain, set_memory_sustain;
    /// Recycle a worker predicted (by its growth estimate) to reach its
    /// memory limit within this span, before it gets there: for budgets that
    /// free a permit only every so often (`min_recycle_interval`). 0: off.
    MemoryForecast, "memory_forecast", Duration, 0, memory_forecast, set_memory_forecast;
    /// Recycle before the container is OOM-killed: the memory limit of the
    /// container the master runs in, `auto` (read from its cgroup, again
    /// every `sample_interval`) or a size that overrides it. 0: off.
    ContainerMemory, "container_memory", Size, 0, container_memory, set_container_memory;
    /// How far below that limit the container's working set may rise before
    /// the worker whose recycle frees the most is recycled: a size, or a
    /// percentage of the limit (raw: [`HEADROOM_PERCENT`] | hundredths).
    ContainerHeadroom, "container_headroom", Size, HEADROOM_PERCENT | 1000, container_headroom, set_container_headroom;
    /// Which rules act: `all`, `off` (a dress rehearsal: every rule is
    /// decided and reported as it would act, none is carried out), or rule
    /// names joined by `+` (`request_timeout+max_rss`), the others
    /// rehearsed. Raw: [`ENFORCE_ALL`], or a bit per reason code.
    Enforce, "enforce", Count, ENFORCE_ALL, enforce, set_enforce;
    /// Copy-on-write kept in view: a `sharing_low` event when the workers'
    /// mean share of the parent's memory falls below this percentage (and
    /// again after it recovers); USS is read for it. Raw: hundredths of a
    /// percent. 0: off.
    MinSharing, "min_sharing", Count, 0, min_sharing, set_min_sharing;
}

/// The number of policy keys.
pub const KEY_COUNT: usize = Key::ALL.len();

impl Key {
    /// Looks a key up by its spec name.
    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// Parses a value written for this key into its raw form.
    pub fn parse_value(self, value: &str) -> Result<u64, Error> {
        let v = value.trim();
        if v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("none") {
            return Ok(0);
        }
        if self == Key::ContainerMemory && v.eq_ignore_ascii_case("auto") {
            return Ok(CONTAINER_AUTO);
        }
        if self == Key::Enforce {
            return parse_enforce(v).map_err(|why| Error::invalid_value(self.name(), value, &why));
        }
        if let (true, Some(m)) = (self.takes_multiple(), v.strip_suffix(['x', 'X'])) {
            return units::parse_hundredths(m.trim())
                .and_then(|h| match h {
                    h if RELATIVE_RANGE.contains(&h) => Ok(RELATIVE_LIMIT | h),
                    _ => Err(
                        "expected a multiple of the parent's reading from 0.01x to 1000x".into(),
                    ),
                })
                .map_err(|why| Error::invalid_value(self.name(), value, &why));
        }
        if self == Key::MinSharing {
            return match v.strip_suffix('%') {
                Some(p) => units::parse_hundredths(p.trim()).and_then(|h| match h {
                    1..=10_000 => Ok(h),
                    _ => Err("expected a percentage above 0, at most 100".into()),
                }),
                None => Err("expected a percentage (50%)".into()),
            }
            .map_err(|why| Error::invalid_value(self.name(), value, &why));
        }
        if let (Key::ContainerHeadroom, Some(p)) = (self, v.strip_suffix('%')) {
            return units::parse_hundredths(p.trim())
                .and_then(|bp| match bp {
                    1..=9_999 => Ok(HEADROOM_PERCENT | bp),
                    _ => Err("expected a percentage above 0 and below 100".into()),
                })
                .map_err(|why| Error::invalid_value(self.name(), value, &why));
        }
        // A key that takes a percentage or a size cannot read a bare number
        // as either: `container_headroom=10` is 10 bytes to the size rule,
        // and almost surely meant 10%. (Keys that take only a size read it
        // as bytes, as the shared vectors write them.)
        let bare = v.ends_with(|c: char| c.is_ascii_digit() || c == '.');
        if self == Key::ContainerHeadroom && bare && v != "0" {
            return Err(Error::invalid_value(
                self.name(),
                value,
                "a bare number: write a percentage of the limit (10%) or a size with its unit (64MiB; 10B for bytes)",
            ));
        }
        let parsed = match self.unit() {
            Unit::Size => units::parse_size(v),
            Unit::Duration => units::parse_duration_us(v),
            Unit::Count => units::parse_count(v),
        };
        parsed.map_err(|why| Error::invalid_value(self.name(), value, why))
    }

    /// A value given as a number: seconds for durations (fractions to the
    /// microsecond), bytes for sizes and counts as they are (whole numbers).
    /// Negative, NaN, infinite, fractional bytes or counts, too large, and a
    /// non-zero value that rounds to 0 are errors naming the key and value.
    pub fn number_value(self, value: f64) -> Result<u64, Error> {
        let bad = |why: &str| Error::invalid_value(self.name(), &format!("{value}"), why);
        if self == Key::Enforce {
            return Err(bad(ENFORCE_WORDS));
        }
        if self == Key::MinSharing {
            return Err(bad("expected a percentage as text (50%)"));
        }
        if !value.is_finite() || value < 0.0 {
            return Err(bad("expected a finite number >= 0"));
        }
        let scaled = match self.unit() {
            Unit::Duration => (value * 1e6).round(),
            Unit::Size | Unit::Count if value.fract() != 0.0 => {
                return Err(bad("expected a whole number"))
            }
            Unit::Size | Unit::Count => value,
        };
        // 2^64 as a float: anything at or above it does not fit.
        if scaled >= 18_446_744_073_709_551_616.0 {
            return Err(bad("number too large"));
        }
        if scaled == 0.0 && value > 0.0 {
            return Err(bad(
                "not 0, but rounds to 0 (below 1 us), which would turn the rule off",
            ));
        }
        Ok(scaled as u64)
    }

    /// A value given as a whole number: seconds for durations, bytes for
    /// sizes, counts as they are.
    pub fn whole_value(self, value: u64) -> Result<u64, Error> {
        if self == Key::Enforce {
            return Err(Error::invalid_value(
                self.name(),
                &value.to_string(),
                ENFORCE_WORDS,
            ));
        }
        if self == Key::MinSharing {
            return Err(Error::invalid_value(
                self.name(),
                &value.to_string(),
                "expected a percentage as text (50%)",
            ));
        }
        match self.unit() {
            Unit::Duration => value.checked_mul(1_000_000).ok_or_else(|| {
                Error::invalid_value(self.name(), &value.to_string(), "number too large")
            }),
            Unit::Size | Unit::Count => Ok(value),
        }
    }

    /// Whether the key is a memory limit that may be written relative to the
    /// parent's reading (`max_uss=3x`).
    pub fn takes_multiple(self) -> bool {
        matches!(self, Key::MaxRss | Key::MaxUss | Key::MaxPss)
    }

    /// Whether a raw value is a plain number in the key's unit, as against
    /// a word the spec string writes (`auto`, a percentage): hosts show
    /// those as text (`format_value`).
    pub fn is_number(self, raw: u64) -> bool {
        match self {
            Key::ContainerMemory => raw != CONTAINER_AUTO,
            Key::ContainerHeadroom => raw & HEADROOM_PERCENT == 0,
            Key::Enforce | Key::MinSharing => false,
            Key::MaxRss | Key::MaxUss | Key::MaxPss => raw & RELATIVE_LIMIT == 0,
            _ => true,
        }
    }

    /// Writes a raw value the way the spec string does.
    pub fn format_value(self, raw: u64) -> String {
        if !self.is_number(raw) {
            return match self {
                Key::ContainerMemory => "auto".to_string(),
                Key::Enforce => format_enforce(raw),
                Key::MinSharing if raw == 0 => "0".into(),
                Key::MinSharing => format!("{}%", units::format_hundredths(raw)),
                Key::MaxRss | Key::MaxUss | Key::MaxPss => {
                    format!("{}x", units::format_hundredths(raw & !RELATIVE_LIMIT))
                }
                _ => format!("{}%", units::format_hundredths(raw & !HEADROOM_PERCENT)),
            };
        }
        match self.unit() {
            Unit::Size => units::format_size(raw),
            Unit::Duration => units::format_duration_us(raw),
            Unit::Count => raw.to_string(),
        }
    }
}

/// The limits and pool settings. See docs/policy.md for every default.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Policy {
    values: [u64; KEY_COUNT],
}

/// A policy is plain data: a forked child keeps its copy as it was.
impl crate::os::fork::AfterFork for Policy {
    fn after_fork_in_child(&mut self) {}
}

impl Default for Policy {
    fn default() -> Self {
        let mut values = [0; KEY_COUNT];
        for k in Key::ALL {
            values[*k as usize] = k.default_raw();
        }
        Policy { values }
    }
}

impl Policy {
    /// The default policy: every limit off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a spec string; an empty string is the default policy.
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let mut policy = Policy::default();
        for item in spec.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| Error::invalid_value(item, "", "expected key=value"))?;
            let key_name = key.trim();
            let key = Key::from_name(key_name).ok_or_else(|| Error::UnknownKey {
                key: key_name.to_string(),
                value: value.trim().to_string(),
            })?;
            policy.values[key as usize] = key.parse_value(value)?;
        }
        policy.validate()?;
        Ok(policy)
    }

    /// The raw value of a key (bytes, microseconds or a count).
    pub fn raw(&self, key: Key) -> u64 {
        self.values[key as usize]
    }

    /// Sets a key from its raw value.
    pub fn set_raw(&mut self, key: Key, raw: u64) -> &mut Self {
        self.values[key as usize] = raw;
        self
    }

    /// Sets a key from text written as in a spec string.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, Error> {
        let k = self.key(key, value)?;
        self.values[k as usize] = k.parse_value(value)?;
        Ok(self)
    }

    /// Sets a key from a number: seconds, bytes or a count by its unit (see
    /// [`Key::number_value`]).
    pub fn set_number(&mut self, key: &str, value: f64) -> Result<&mut Self, Error> {
        let k = self.key(key, &format!("{value}"))?;
        self.values[k as usize] = k.number_value(value)?;
        Ok(self)
    }

    /// Sets a key from a whole number: seconds, bytes or a count by its
    /// unit.
    pub fn set_whole(&mut self, key: &str, value: u64) -> Result<&mut Self, Error> {
        let k = self.key(key, &value.to_string())?;
        self.values[k as usize] = k.whole_value(value)?;
        Ok(self)
    }

    fn key(&self, key: &str, value: &str) -> Result<Key, Error> {
        Key::from_name(key).ok_or_else(|| Error::UnknownKey {
            key: key.to_string(),
            value: value.to_string(),
        })
    }

    /// Whether the rule behind `reason` acts (`enforce`); one that does not
    /// is rehearsed. Always true for what no rule starts: `manual`, and
    /// `drain_timeout` and `ready_timeout`, which finish a recycle under way.
    pub fn enforces(&self, reason: Reason) -> bool {
        enforces(self.raw(Key::Enforce), reason)
    }

    /// Every raw value, in [`Key::ALL`] order.
    pub fn raw_values(&self) -> &[u64; KEY_COUNT] {
        &self.values
    }

    /// Rebuilds a policy from raw values (as stored in a shared header) and
    /// checks it.
    pub fn from_raw_values(values: [u64; KEY_COUNT]) -> Result<Self, Error> {
        let p = Policy { values };
        p.validate()?;
        Ok(p)
    }

    /// Checks the rules that span keys or bound a value.
    pub fn validate(&self) -> Result<(), Error> {
        let budget = self.raw(Key::MaxConcurrentRecycles);
        if budget > MAX_BUDGET {
            return Err(Error::invalid_value(
                Key::MaxConcurrentRecycles.name(),
                &budget.to_string(),
                "at most 65535",
            ));
        }
        let (initial, max) = (self.raw(Key::BackoffInitial), self.raw(Key::BackoffMax));
        if initial > max {
            return Err(Error::invalid_value(
                Key::BackoffMax.name(),
                &Key::BackoffMax.format_value(max),
                "must not be below backoff_initial",
            ));
        }
        if self.raw(Key::MaxSurge) > 0 && self.raw(Key::ReadyTimeout) == 0 {
            return Err(Error::invalid_value(
                Key::ReadyTimeout.name(),
                "0",
                "must be above 0 when max_surge is set (a replacement that never becomes ready must end)",
            ));
        }
        let (memory, headroom) = (
            self.raw(Key::ContainerMemory),
            self.raw(Key::ContainerHeadroom),
        );
        if memory != CONTAINER_AUTO && memory > CONTAINER_SIZE_MAX {
            return Err(Error::invalid_value(
                Key::ContainerMemory.name(),
                &memory.to_string(),
                "expected off, auto or a size up to 4EiB",
            ));
        }
        let percent = headroom & HEADROOM_PERCENT != 0;
        let bad_headroom = if percent {
            !(1..=9_999).contains(&(headroom & !HEADROOM_PERCENT))
        } else {
            headroom > CONTAINER_SIZE_MAX || (headroom == 0 && memory != 0)
        };
        if bad_headroom {
            return Err(Error::invalid_value(
                Key::ContainerHeadroom.name(),
                &Key::ContainerHeadroom.format_value(headroom),
                "expected a size above 0 (up to 4EiB) or a percentage above 0 and below 100",
            ));
        }
        if memory != 0 && memory != CONTAINER_AUTO && !percent && headroom >= memory {
            return Err(Error::invalid_value(
                Key::ContainerHeadroom.name(),
                &Key::ContainerHeadroom.format_value(headroom),
                "must be below container_memory",
            ));
        }
        for k in [Key::MaxRss, Key::MaxUss, Key::MaxPss] {
            let raw = self.raw(k);
            let bad = if raw & RELATIVE_LIMIT != 0 {
                !RELATIVE_RANGE.contains(&(raw & !RELATIVE_LIMIT))
            } else {
                raw > MEMORY_SIZE_MAX
            };
            if bad {
                return Err(Error::invalid_value(
                    k.name(),
                    &raw.to_string(),
                    "expected off, a size up to 4EiB, or a multiple of the parent's reading from 0.01x to 1000x",
                ));
            }
        }
        if self.raw(Key::MinSharing) > 10_000 {
            return Err(Error::invalid_value(
                Key::MinSharing.name(),
                &self.raw(Key::MinSharing).to_string(),
                "expected off or a percentage above 0, at most 100",
            ));
        }
        let enforce = self.raw(Key::Enforce);
        if enforce != ENFORCE_ALL && enforce & !enforceable_bits() != 0 {
            return Err(Error::invalid_value(
                Key::Enforce.name(),
                &format!("{enforce:#x}"),
                "bits that name no rule that can be rehearsed",
            ));
        }
        for k in Key::ALL {
            if k.unit() == Unit::Duration && self.raw(*k) > TIME_MASK {
                return Err(Error::invalid_value(
                    k.name(),
                    &k.format_value(self.raw(*k)),
                    "longer than 8 years",
                ));
            }
        }
        Ok(())
    }
}

/// What `enforce` takes, for its errors.
const ENFORCE_WORDS: &str =
    "expected all, off, or rule names joined by + (request_timeout+max_rss)";

/// Whether `reason` acts under the raw `enforce` value `raw`.
pub(crate) fn enforces(raw: u64, reason: Reason) -> bool {
    reason.always_enforced() || raw & (1 << reason as u8) != 0
}

/// The bits of the reasons `enforce` can name.
fn enforceable_bits() -> u64 {
    Reason::ALL
        .iter()
        .filter(|r| !r.always_enforced())
        .fold(0, |bits, r| bits | 1 << *r as u8)
}

fn parse_enforce(v: &str) -> Result<u64, String> {
    if v.eq_ignore_ascii_case("all") {
        return Ok(ENFORCE_ALL);
    }
    let mut bits = 0;
    for name in v.split('+').map(str::trim) {
        // A rule by its reason (`memory_rss`) or by its key (`max_rss`).
        let by_key = || {
            Reason::ALL
                .iter()
                .copied()
                .find(|r| r.key().map(Key::name) == Some(name))
        };
        let Some(r) = Reason::from_name(name).or_else(by_key) else {
            let known: Vec<String> = Reason::ALL
                .iter()
                .filter(|r| !r.always_enforced())
                .map(|r| match r.key().map(Key::name) {
                    Some(k) if k != r.as_str() => format!("{k} ({r})"),
                    _ => r.as_str().to_string(),
                })
                .collect();
            return Err(if name.is_empty() {
                format!("an empty rule name: {ENFORCE_WORDS}")
            } else {
                format!(
                    "{name:?} names no rule: {ENFORCE_WORDS}; the rules: {}",
                    known.join(", ")
                )
            });
        };
        if r.always_enforced() {
            return Err(format!(
                "{name} always acts (no rule starts it: it is asked for, or it ends a recycle under way); name the rules to act on"
            ));
        }
        bits |= 1 << r as u8;
    }
    Ok(bits)
}

fn format_enforce(raw: u64) -> String {
    if raw == ENFORCE_ALL {
        return "all".into();
    }
    let names: Vec<&str> = Reason::ALL
        .iter()
        .filter(|r| !r.always_enforced() && raw & (1 << **r as u8) != 0)
        .map(|r| r.as_str())
        .collect();
    if names.is_empty() {
        "off".into()
    } else {
        names.join("+")
    }
}

impl FromStr for Policy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Policy::parse(s)
    }
}

/// The spec string of every key that differs from its default; it parses back
/// to the same policy.
impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for k in Key::ALL {
            let v = self.raw(*k);
            if v != k.default_raw() {
                if !first {
                    f.write_str(",")?;
                }
                first = false;
                write!(f, "{}={}", k.name(), k.format_value(v))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Policy({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_round_trip() {
        let p = Policy::default();
        assert_eq!(p.to_string(), "");
        assert_eq!(p.drain_timeout(), Duration::from_secs(30));
        assert_eq!(p.max_concurrent_recycles(), 1);
        let p =
            Policy::parse("max_requests=1000, max_rss=512MiB,max_lifetime=1h30m,drain_timeout=0")
                .unwrap();
        assert_eq!(p.max_requests(), 1000);
        assert_eq!(p.max_rss(), 512 << 20);
        assert_eq!(p.max_lifetime(), Duration::from_secs(5400));
        assert_eq!(p.drain_timeout(), Duration::ZERO);
        assert_eq!(Policy::parse(&p.to_string()).unwrap(), p);
    }

    #[test]
    fn container_keys() {
        let p = Policy::parse("container_memory=auto,container_headroom=12.5%").unwrap();
        assert_eq!(p.raw(Key::ContainerMemory), CONTAINER_AUTO);
        assert_eq!(p.raw(Key::ContainerHeadroom), HEADROOM_PERCENT | 1250);
        assert_eq!(
            p.to_string(),
            "container_memory=auto,container_headroom=12.5%"
        );
        assert_eq!(Policy::parse(&p.to_string()).unwrap(), p);
        assert!(!Key::ContainerMemory.is_number(CONTAINER_AUTO));
        let p = Policy::parse("container_memory=400MiB,container_headroom=64MiB").unwrap();
        assert_eq!(p.raw(Key::ContainerMemory), 400 << 20);
        assert_eq!(p.raw(Key::ContainerHeadroom), 64 << 20);
        assert!(Key::ContainerHeadroom.is_number(64 << 20));
        assert_eq!(Policy::default().to_string(), "", "10% is the default");
        assert_eq!(
            Key::ContainerHeadroom.format_value(HEADROOM_PERCENT | 1000),
            "10%"
        );
        assert_eq!(
            Key::ContainerHeadroom.format_value(HEADROOM_PERCENT | 5),
            "0.05%"
        );
        for bad in [
            "container_headroom=0%",
            "container_headroom=100%",
            "container_headroom=-5%",
            "container_headroom=x%",
            "container_memory=auto,container_headroom=0",
            "container_memory=auto,container_headroom=10",
            "container_memory=auto,container_headroom=10.5",
            "container_memory=100MiB,container_headroom=100MiB",
            "container_memory=auto2",
            "container_memory=8EiB",
        ] {
            let e = Policy::parse(bad).unwrap_err().to_string();
            assert!(e.contains("container_"), "{bad}: {e}");
        }
        // A raw value a worker or a C host could write is checked too.
        let mut raw = *Policy::default().raw_values();
        raw[Key::ContainerHeadroom as usize] = HEADROOM_PERCENT | 20_000;
        assert!(Policy::from_raw_values(raw).is_err());
        raw[Key::ContainerHeadroom as usize] = HEADROOM_PERCENT | 1000;
        raw[Key::ContainerMemory as usize] = (1 << 62) + 1;
        assert!(Policy::from_raw_values(raw).is_err());
    }

    #[test]
    fn a_bare_number_for_the_headroom_is_refused_naming_key_and_value() {
        let e = Policy::parse("container_memory=auto,container_headroom=10")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("container_headroom") && e.contains("\"10\"") && e.contains("10%"),
            "{e}"
        );
        let p = Policy::parse("container_memory=auto,container_headroom=10B").unwrap();
        assert_eq!(p.raw(Key::ContainerHeadroom), 10, "with its unit, bytes");
        assert_eq!(
            p.to_string(),
            "container_memory=auto,container_headroom=10B"
        );
        // A number given as a number (C, Python, Perl...) is bytes, as for
        // every size key.
        assert_eq!(Key::ContainerHeadroom.whole_value(10).unwrap(), 10);
        assert_eq!(Key::MaxRss.parse_value("100").unwrap(), 100);
    }

    #[test]
    fn errors_name_key_and_value() {
        let e = Policy::parse("max_rsss=1").unwrap_err().to_string();
        assert!(e.contains("max_rsss") && e.contains('1'), "{e}");
        let e = Policy::parse("max_rss=12XB").unwrap_err().to_string();
        assert!(e.contains("max_rss") && e.contains("12XB"), "{e}");
        let e = Policy::parse("max_requests=-5").unwrap_err().to_string();
        assert!(
            e.contains("max_requests") && e.contains("-5") && e.contains("negative"),
            "{e}"
        );
        let e = Policy::parse("max_requests").unwrap_err().to_string();
        assert!(e.contains("max_requests"), "{e}");
        let e = Policy::parse("backoff_initial=2m,backoff_max=1m")
            .unwrap_err()
            .to_string();
        assert!(e.contains("backoff_max"), "{e}");
    }

    #[test]
    fn typed_setters() {
        let mut p = Policy::new();
        p.set_max_requests(10)
            .set_request_timeout(Duration::from_millis(250));
        assert_eq!(p.to_string(), "request_timeout=250ms,max_requests=10");
    }
}
