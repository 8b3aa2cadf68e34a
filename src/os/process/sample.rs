//! Current memory and FD readings of a process from `/proc`. A
//! [`ProcHandle`] keeps a tracked process's files open and re-reads them with
//! `pread`, so the master samples each worker without path lookups. Values
//! are current, never peaks (`ru_maxrss` only grows, so it cannot tell that a
//! worker is fine again).

use crate::error::{Error, Result};

/// One reading of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// The value: bytes for memory, a count for FDs, clock ticks since boot
    /// for a start time.
    Value(u64),
    /// Not read because it was not asked for (USS and PSS cost a page-table
    /// walk, so they are read only on request).
    NotRequested,
    /// The kernel refused (another user's process: its FD table needs
    /// ptrace rights).
    Denied,
    /// The platform has no way to read it (no `/proc`).
    Unsupported,
}

impl Reading {
    /// The value, if there is one.
    pub fn value(self) -> Option<u64> {
        match self {
            Reading::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// What one sample of a process found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub pid: u32,
    /// The process start time (its identity with the pid).
    pub start_time: Reading,
    /// Resident set size in bytes.
    pub rss: Reading,
    /// Open file descriptors.
    pub fds: Reading,
    /// Unique set size in bytes (pages only this process maps).
    pub uss: Reading,
    /// Proportional set size in bytes (shared pages divided among sharers).
    pub pss: Reading,
}

impl Sample {
    /// The readings as a health report for a worker slot (absent readings
    /// leave the slot's previous ones).
    pub fn health(&self) -> Health {
        Health {
            rss: self.rss.value(),
            uss: self.uss.value(),
            pss: self.pss.value(),
            fds: self.fds.value(),
        }
    }
}

/// Samples `pid` once (opens its files, reads, closes). For a process
/// sampled repeatedly, keep a [`ProcHandle`]. `uss` asks for USS and PSS
/// too. A process that is gone (or a zombie) is [`Error::NoSuchProcess`].
pub fn sample(pid: u32, uss: bool) -> Result<Sample> {
    ProcHandle::open(pid)?.sample(uss)
}

/// The calling process's open `/proc` files, for `sample_self`.
struct OwnFiles(Option<ProcHandle>);

impl crate::os::fork::AfterFork for OwnFiles {
    fn after_fork_in_child(&mut self) {
        // They are the parent's: the child opens its own.
        self.0 = None;
    }
}

/// A fork-safe lock (`os::fork`): a child forked while another thread
/// samples must still be able to sample itself.
static OWN_FILES: crate::os::fork::StaticForkMutex<OwnFiles> =
    crate::os::fork::StaticForkMutex::new(OwnFiles(None));

/// Samples the calling process, for workers that report their own health.
/// The files are kept open between calls and reopened after a `fork()`.
pub fn sample_self(uss: bool) -> Result<Sample> {
    let pid = std::process::id();
    let mut held = OWN_FILES.lock();
    match &mut held.0 {
        Some(h) if h.pid == pid => h.sample(uss),
        _ => {
            let h = held.0.insert(ProcHandle::open(pid)?);
            h.sample(uss)
        }
    }
}

#[cfg(target_os = "linux")]
pub use linux::ProcHandle;

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use crate::os::process::procfs;
    use std::ffi::CStr;
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
    use std::sync::OnceLock;

    /// The open `/proc` files of one process. Every file is opened relative
    /// to the process's `/proc/PID` directory, and a `/proc` fd stays bound to
    /// the process it was opened for: once that process is gone, reads fail
    /// even if the pid is reused, so a handle never samples the wrong
    /// process.
    #[derive(Debug)]
    pub struct ProcHandle {
        pub(super) pid: u32,
        start_time: u64,
        dir: OwnedFd,
        statm: OwnedFd,
        /// `None` when the kernel refused (another user's process).
        fd_dir: Option<OwnedFd>,
        /// Opened on the first USS/PSS request.
        smaps: Option<OwnedFd>,
    }

    fn open_at(dir: Option<&OwnedFd>, path: &CStr, flags: i32) -> io::Result<OwnedFd> {
        let base = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
        // SAFETY: path is NUL-terminated; the result is a new fd or -1.
        let fd = unsafe { libc::openat(base, path.as_ptr(), flags | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just opened and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn gone_or(pid: u32, what: &str, e: io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ESRCH) => Error::NoSuchProcess(pid),
            _ => Error::io(format!("{what} of pid {pid}"), e),
        }
    }

    fn page_size() -> u64 {
        static PAGE: OnceLock<u64> = OnceLock::new();
        // SAFETY: sysconf has no preconditions.
        *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64)
    }

    impl ProcHandle {
        /// Opens the files of `pid`. A pid that does not exist, or a zombie,
        /// is [`Error::NoSuchProcess`].
        pub fn open(pid: u32) -> Result<ProcHandle> {
            if !crate::os::process::identity::in_pid_range(pid) {
                return Err(Error::NoSuchProcess(pid));
            }
            let mut path = [0u8; 24];
            let dir_path = {
                use std::io::Write;
                let mut w = &mut path[..];
                write!(w, "/proc/{pid}\0").expect("24 bytes hold any pid");
                CStr::from_bytes_until_nul(&path).expect("written with a NUL")
            };
            let dir = open_at(None, dir_path, libc::O_RDONLY | libc::O_DIRECTORY)
                .map_err(|e| gone_or(pid, "/proc directory", e))?;
            let stat = open_at(Some(&dir), c"stat", libc::O_RDONLY)
                .map_err(|e| gone_or(pid, "/proc stat", e))?;
            let mut buf = [0u8; 1024];
            let n = procfs::pread_all(stat.as_fd(), &mut buf)
                .map_err(|e| gone_or(pid, "/proc stat", e))?;
            let (start_time, zombie) = procfs::parse_stat(&buf[..n]).ok_or_else(|| {
                Error::io(
                    format!("/proc stat of pid {pid}"),
                    io::Error::new(io::ErrorKind::InvalidData, "unreadable"),
                )
            })?;
            if zombie {
                return Err(Error::NoSuchProcess(pid));
            }
            let statm = open_at(Some(&dir), c"statm", libc::O_RDONLY)
                .map_err(|e| gone_or(pid, "/proc statm", e))?;
            let fd_dir = match open_at(Some(&dir), c"fd", libc::O_RDONLY | libc::O_DIRECTORY) {
                Ok(fd) => Some(fd),
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => None,
                Err(e) => return Err(gone_or(pid, "/proc fd directory", e)),
            };
            Ok(ProcHandle {
                pid,
                start_time,
                dir,
                statm,
                fd_dir,
                smaps: None,
            })
        }

        /// The pid this handle reads.
        pub fn pid(&self) -> u32 {
            self.pid
        }

        /// The start time of the process the handle was opened for.
        pub fn start_time(&self) -> u64 {
            self.start_time
        }

        /// Reads RSS and the FD count, and with `uss` USS and PSS too (RSS
        /// then comes from the same `smaps_rollup` read, so USS <= PSS <= RSS
        /// hold within one sample). Allocates nothing after the first USS
        /// request.
        pub fn sample(&mut self, uss: bool) -> Result<Sample> {
            let pid = self.pid;
            let mut buf = [0u8; 256];
            let n = procfs::pread_all(self.statm.as_fd(), &mut buf)
                .map_err(|e| gone_or(pid, "/proc statm", e))?;
            let pages = procfs::parse_statm_resident(&buf[..n]).ok_or_else(|| {
                Error::io(
                    format!("/proc statm of pid {pid}"),
                    io::Error::new(io::ErrorKind::InvalidData, "unreadable"),
                )
            })?;
            // A zombie has no memory map left: statm reads all zeros.
            if pages == 0 {
                return Err(Error::NoSuchProcess(pid));
            }
            let mut rss = Reading::Value(pages * page_size());
            let fds = match &self.fd_dir {
                Some(dir) => {
                    Reading::Value(count_fds(dir).map_err(|e| gone_or(pid, "/proc fd", e))?)
                }
                None => Reading::Denied,
            };
            let (mut uss_r, mut pss_r) = (Reading::NotRequested, Reading::NotRequested);
            if uss {
                if self.smaps.is_none() {
                    self.smaps = Some(
                        open_at(Some(&self.dir), c"smaps_rollup", libc::O_RDONLY)
                            .map_err(|e| gone_or(pid, "/proc smaps_rollup", e))?,
                    );
                }
                let smaps = self.smaps.as_ref().expect("opened above");
                let mut buf = [0u8; 4096];
                let n = procfs::pread_all(smaps.as_fd(), &mut buf)
                    .map_err(|e| gone_or(pid, "/proc smaps_rollup", e))?;
                match procfs::parse_smaps_rollup(&buf[..n]) {
                    Some((r, p, u)) => {
                        rss = Reading::Value(r);
                        pss_r = Reading::Value(p);
                        uss_r = Reading::Value(u);
                    }
                    // The process exited between the reads: empty rollup.
                    None if n == 0 => return Err(Error::NoSuchProcess(pid)),
                    None => {
                        return Err(Error::io(
                            format!("/proc smaps_rollup of pid {pid}"),
                            io::Error::new(io::ErrorKind::InvalidData, "unreadable"),
                        ))
                    }
                }
            }
            Ok(Sample {
                pid,
                start_time: Reading::Value(self.start_time),
                rss,
                fds,
                uss: uss_r,
                pss: pss_r,
            })
        }
    }

    /// Linux 6.2+ reports the number of open FDs as the size of
    /// `/proc/PID/fd`; older kernels report 0, and then the entries are
    /// counted with `getdents64`.
    fn count_fds(dir: &OwnedFd) -> io::Result<u64> {
        // SAFETY: fstat fills the zeroed struct for a valid fd.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(dir.as_raw_fd(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if st.st_size > 0 {
            return Ok(st.st_size as u64);
        }
        procfs::count_dir_entries(dir.as_fd())
    }
}

#[cfg(not(target_os = "linux"))]
mod other {
    use super::*;

    /// Without `/proc` nothing can be read: every reading is `Unsupported`.
    #[derive(Debug)]
    pub struct ProcHandle {
        pub(super) pid: u32,
    }

    impl ProcHandle {
        pub fn open(pid: u32) -> Result<ProcHandle> {
            Ok(ProcHandle { pid })
        }
        pub fn pid(&self) -> u32 {
            self.pid
        }
        pub fn start_time(&self) -> u64 {
            0
        }
        pub fn sample(&mut self, _uss: bool) -> Result<Sample> {
            Ok(Sample {
                pid: self.pid,
                start_time: Reading::Unsupported,
                rss: Reading::Unsupported,
                fds: Reading::Unsupported,
                uss: Reading::Unsupported,
                pss: Reading::Unsupported,
            })
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub use other::ProcHandle;

/// A forked child keeps a kept-open handle: its files are the child's own
/// copies, still bound to the same process.
impl crate::os::fork::AfterFork for ProcHandle {
    fn after_fork_in_child(&mut self) {}
}

/// A health sample; `None` is no reading, which leaves the previous one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub rss: Option<u64>,
    pub uss: Option<u64>,
    pub pss: Option<u64>,
    pub fds: Option<u64>,
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_child_forked_while_another_thread_samples_itself_can_sample_itself() {
        let stop = Arc::new(AtomicBool::new(false));
        let busy = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    sample_self(false).unwrap();
                }
            })
        };
        for _ in 0..50 {
            // SAFETY: the child samples itself and exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // A lock left held at the fork would hang the child: the
                // alarm turns that into a failure instead of a hung suite.
                unsafe { libc::alarm(30) };
                let ok = sample_self(false).is_ok_and(|s| s.pid == std::process::id());
                unsafe { libc::_exit(if ok { 0 } else { 3 }) };
            }
            let mut status = 0;
            // SAFETY: waiting for the child just forked.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the child could not sample itself (status {status})"
            );
        }
        stop.store(true, Ordering::Relaxed);
        busy.join().unwrap();
    }
}
