//! Which process a pid really is, and the one function that signals one.
//! Identity is the pid plus the process start time from `/proc/PID/stat`, so
//! a reused pid is never taken for the worker, nor signalled.

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
    let mut buf = [0u8; 1024];
    super::procfs::parse_stat(read_stat(pid, &mut buf)?)
}

#[cfg(target_os = "linux")]
fn read_stat(pid: u32, buf: &mut [u8]) -> Option<&[u8]> {
    use std::os::fd::AsFd;
    if !in_pid_range(pid) {
        return None;
    }
    let file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let n = super::procfs::pread_all(file.as_fd(), buf).ok()?;
    Some(&buf[..n])
}

/// The parent of a live (not zombie) process, and its start time.
#[cfg(target_os = "linux")]
pub(crate) fn parent_and_start(pid: u32) -> Option<(u32, u64)> {
    let mut buf = [0u8; 1024];
    let text = read_stat(pid, &mut buf)?;
    match super::procfs::parse_stat(text)? {
        (start, false) => Some((super::procfs::parse_ppid(text)?, start)),
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn parent_and_start(_pid: u32) -> Option<(u32, u64)> {
    None
}

/// Whether `pid` is a zombie child of this process: dead, but its exit
/// status is still this process's to collect with `waitpid`.
#[cfg(target_os = "linux")]
pub(crate) fn unreaped_child(pid: u32) -> bool {
    let mut buf = [0u8; 1024];
    let Some(text) = read_stat(pid, &mut buf) else {
        return false;
    };
    matches!(super::procfs::parse_stat(text), Some((_, true)))
        && super::procfs::parse_ppid(text) == Some(std::process::id())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn unreaped_child(_pid: u32) -> bool {
    false
}

/// Whether `pid` is a zombie: dead, not yet reaped by its parent, and (with
/// a known `identity`) the process that started then.
pub(crate) fn zombie_of(pid: u32, identity: u64) -> bool {
    matches!(stat(pid), Some((start, true)) if identity == 0 || start == identity)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn stat(_pid: u32) -> Option<(u64, bool)> {
    None
}

/// Whether `pid` can name a process at all (1..=i32::MAX); anything else
/// would address a process group or every process if passed to `kill`.
pub(crate) fn in_pid_range(pid: u32) -> bool {
    pid != 0 && pid <= i32::MAX as u32
}

/// The identity to record for `pid`: its start time, or 0 when unknown (no
/// such process, or only a zombie is left of it).
pub fn identity(pid: u32) -> u64 {
    match stat(pid) {
        Some((start, false)) => start,
        _ => 0,
    }
}

/// Checks a pid against the identity recorded for it (0: unknown, pid only).
pub fn liveness(pid: u32, identity: u64) -> Liveness {
    if !in_pid_range(pid) {
        return Liveness::Gone;
    }
    // SAFETY: signal 0 only checks that the pid exists and may be signalled.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return Liveness::Gone;
    }
    match check_identity(pid, identity) {
        Ok(()) => Liveness::Alive,
        Err(_) => Liveness::Gone,
    }
}

/// Why a signal was not sent.
#[derive(Debug, PartialEq, Eq)]
pub enum SignalRefused {
    /// No such process (or a zombie).
    Gone,
    /// The pid now belongs to a process that started at another time.
    IdentityMismatch { expected: u64, found: u64 },
    /// No identity was given (0): an unknown identity never authorises a
    /// signal, since the pid may name any process by now.
    UnknownIdentity,
    /// The kernel refused (errno).
    Os(i32),
}

impl std::fmt::Display for SignalRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignalRefused::Gone => f.write_str("no such process"),
            SignalRefused::IdentityMismatch { expected, found } => write!(
                f,
                "pid reused: recorded start time {expected}, the process there now started at {found}"
            ),
            SignalRefused::UnknownIdentity => f.write_str(
                "no identity (start time) was recorded for it, and a bare pid may name another process by now",
            ),
            SignalRefused::Os(errno) => write!(f, "{}", std::io::Error::from_raw_os_error(*errno)),
        }
    }
}

/// Sends `sig` to `pid` only if it is still the process that started at
/// `identity` (its start time; 0, unknown, is refused with
/// [`SignalRefused::UnknownIdentity`] and nothing is sent). Where the kernel has
/// `pidfd_open` (Linux 5.3+), the process is pinned by a pidfd before its
/// start time is checked, so it cannot be replaced between the check and the
/// signal; elsewhere the check and `kill` are as close as they can be.
pub fn signal(pid: u32, identity: u64, sig: i32) -> Result<(), SignalRefused> {
    if !in_pid_range(pid) {
        return Err(SignalRefused::Gone);
    }
    if identity == 0 {
        return Err(SignalRefused::UnknownIdentity);
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd >= 0 {
            let fd = fd as libc::c_int;
            let result = check_identity(pid, identity).and_then(|()| {
                // SAFETY: fd is the pidfd opened above; no siginfo.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd,
                        sig,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
                if r == 0 {
                    Ok(())
                } else {
                    Err(errno_refusal())
                }
            });
            // SAFETY: closing the fd we opened.
            unsafe { libc::close(fd) };
            return result;
        }
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if errno == libc::ESRCH {
            return Err(SignalRefused::Gone);
        }
        // ENOSYS (old kernel) or a seccomp filter: fall back to kill.
    }
    check_identity(pid, identity)?;
    // SAFETY: kill takes plain integers.
    if unsafe { libc::kill(pid as libc::pid_t, sig) } == 0 {
        Ok(())
    } else {
        Err(errno_refusal())
    }
}

fn errno_refusal() -> SignalRefused {
    match std::io::Error::last_os_error().raw_os_error().unwrap_or(0) {
        libc::ESRCH => SignalRefused::Gone,
        e => SignalRefused::Os(e),
    }
}

fn check_identity(pid: u32, identity: u64) -> Result<(), SignalRefused> {
    match stat(pid) {
        None | Some((_, true)) if cfg!(target_os = "linux") => Err(SignalRefused::Gone),
        Some((found, false)) if identity != 0 && found != identity => {
            Err(SignalRefused::IdentityMismatch {
                expected: identity,
                found,
            })
        }
        _ => Ok(()),
    }
}
