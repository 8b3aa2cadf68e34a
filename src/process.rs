//! What the pool needs to know about a process: is it (still) the one we
//! started? Identity is the pid plus the process start time from
//! `/proc/PID/stat`, so a reused pid is never taken for the worker.

/// Whether a process lives, as far as the pool is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Running (or stopped), and its start time matches when one was given.
    Alive,
    /// Gone, a zombie, or a different process now holds the pid.
    Gone,
}

/// The process start time in clock ticks since boot (field 22 of
/// `/proc/PID/stat`), and whether the process is a zombie.
#[cfg(target_os = "linux")]
pub(crate) fn stat(pid: u32) -> Option<(u64, bool)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn stat(_pid: u32) -> Option<(u64, bool)> {
    None
}

/// The identity to record for `pid`: its start time, or 0 when unknown.
pub fn identity(pid: u32) -> u64 {
    stat(pid).map_or(0, |(start, _)| start)
}

/// Checks a pid against the identity recorded for it (0: unknown, pid only).
pub fn liveness(pid: u32, identity: u64) -> Liveness {
    if pid == 0 || pid > i32::MAX as u32 {
        return Liveness::Gone;
    }
    // SAFETY: signal 0 only checks that the pid exists and may be signalled.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return Liveness::Gone;
    }
    match stat(pid) {
        Some((_, true)) => Liveness::Gone,
        Some((start, false)) if identity != 0 && start != identity => Liveness::Gone,
        _ => Liveness::Alive,
    }
}
