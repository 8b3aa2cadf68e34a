//! Waiting until an old worker (or a whole old server) has let go: its
//! process is gone and its TCP port can be bound again, so a replacement
//! can start without `EADDRINUSE`.

use super::identity::{self, Liveness};
use std::time::{Duration, Instant};

/// How often the port is tried again.
const POLL: Duration = Duration::from_millis(10);

/// What was still held when time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// The process is still running.
    Process(u32),
    /// The TCP port cannot be bound yet.
    Port(u16),
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::Process(pid) => write!(f, "process {pid} is still running"),
            Held::Port(port) => write!(f, "TCP port {port} is still bound"),
        }
    }
}

/// Waits until `pid` (if given) is gone — exited; a zombie counts as gone —
/// and TCP `port` (if given) can be bound again on every IPv4 address, the
/// way a server binds it (with `SO_REUSEADDR`, so sockets in TIME_WAIT do
/// not count). Returns what is still held when `timeout` runs out. Where
/// the kernel has pidfds, the process is pinned at the start, so a pid
/// reused while waiting is not mistaken for it.
pub fn wait_released(pid: Option<u32>, port: Option<u16>, timeout: Duration) -> Result<(), Held> {
    let deadline = deadline(timeout);
    if let Some(pid) = pid {
        wait_gone(pid, deadline)?;
    }
    if let Some(port) = port {
        loop {
            if port_free(port) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Held::Port(port));
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(())
}

fn wait_gone(pid: u32, deadline: Instant) -> Result<(), Held> {
    if !identity::in_pid_range(pid) {
        return Ok(());
    }
    let start = identity::identity(pid);
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        if fd >= 0 {
            use std::os::fd::{FromRawFd, OwnedFd};
            // SAFETY: a new fd that nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
            return wait_pidfd(pid, &fd, deadline);
        }
    }
    loop {
        if identity::liveness(pid, start) == Liveness::Gone {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Held::Process(pid));
        }
        std::thread::sleep(POLL);
    }
}

/// A pidfd becomes readable when its process exits.
#[cfg(target_os = "linux")]
fn wait_pidfd(pid: u32, fd: &std::os::fd::OwnedFd, deadline: Instant) -> Result<(), Held> {
    use std::os::fd::AsRawFd;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r > 0 {
            return Ok(());
        }
        if r == 0 && Instant::now() >= deadline {
            return Err(Held::Process(pid));
        }
        // EINTR, or woke a little early: go round.
    }
}

fn port_free(port: u16) -> bool {
    // SAFETY: plain socket calls on a socket owned here and closed below.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return false;
        }
        let one: libc::c_int = 1;
        libc::setsockopt(
            s,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = port.to_be();
        addr.sin_addr.s_addr = libc::INADDR_ANY.to_be();
        let r = libc::bind(
            s,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        libc::close(s);
        r == 0
    }
}

/// `now + timeout`, or a century from now when that does not fit in an
/// `Instant` (a huge timeout waits as long as anyone will, never panics).
pub(crate) fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}
