//! Time. Everything in a pool is measured in microseconds since the pool's
//! epoch, read from the system-wide monotonic clock so that every process of
//! a shared pool agrees, or from a manual clock kept in the pool header, which
//! tests move forward.
//!
//! The hot path reads `CLOCK_MONOTONIC_COARSE`: a vDSO read of the last tick
//! (a few nanoseconds, no syscall), precise to one scheduler tick (1–4 ms),
//! which is plenty for timeouts measured in seconds. `benches/hot_path.rs`
//! prints its cost next to the precise clock's.

/// Which clock a pool runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// The system's monotonic clock.
    Monotonic = 0,
    /// A clock that only moves when told (tests).
    Manual = 1,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
const COARSE: libc::clockid_t = libc::CLOCK_MONOTONIC_COARSE;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const COARSE: libc::clockid_t = libc::CLOCK_MONOTONIC;

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer; both clocks exist on every supported
    // platform, so the call cannot fail.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// Coarse monotonic time in nanoseconds.
#[inline]
pub fn coarse_ns() -> u64 {
    read(COARSE)
}

/// Precise monotonic time in nanoseconds.
#[inline]
pub fn precise_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}
