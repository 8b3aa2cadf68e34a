//! The orphan ledger: a file that records which worker processes each run
//! of a master started, so the next run can end what a crashed master left
//! behind. Each line names the run (its id and its master's pid and start
//! time) and one worker (pid and start time):
//!
//! ```text
//! # workerlife ledger 1: run master_pid master_start pid start
//! 5f0c2d9e11aa0b37 4120 8812345 4125 8812399
//! ```
//!
//! Writers take an exclusive `flock` on the file. Rewrites go to a temporary
//! file renamed over the ledger; a writer that waited on the old file sees
//! that the path now holds another inode and locks again.

use super::identity::{self, Liveness, SignalRefused};
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HEADER: &str = "# workerlife ledger 1: run master_pid master_start pid start";
/// How often reaping checks whether signalled processes are gone.
const POLL: Duration = Duration::from_millis(10);
/// How long reaping waits for a SIGKILLed process to vanish.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// One recorded worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub run_id: u64,
    pub master_pid: u32,
    pub master_start: u64,
    pub pid: u32,
    pub start_time: u64,
}

/// What reaping did to one recorded worker of an earlier run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReapOutcome {
    /// Ended by SIGTERM within the grace period.
    Terminated,
    /// Still alive after the grace period; ended by SIGKILL.
    Killed,
    /// Already gone; nothing sent.
    AlreadyGone,
    /// The pid belongs to another process now; nothing sent.
    PidReused { found: u64 },
    /// The kernel refused the signal (errno); the entry is kept.
    Refused(i32),
    /// The record has no start time (0): a bare pid is never signalled.
    UnknownIdentity,
}

/// One line of a reap report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reaped {
    pub entry: Entry,
    pub outcome: ReapOutcome,
}

/// A ledger file, opened for one run of a master.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    run_id: u64,
    master_pid: u32,
    master_start: u64,
}

impl Ledger {
    /// Opens (creating, mode 0600) the ledger at `path` for a new run of
    /// the calling process. A symlink at `path` is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<Ledger> {
        let pid = std::process::id();
        let ledger = Ledger {
            path: path.as_ref().to_path_buf(),
            run_id: crate::os::clock::precise_ns()
                ^ (u64::from(pid) << 32)
                ^ crate::os::clock::coarse_ns().rotate_left(17),
            master_pid: pid,
            master_start: identity::identity(pid),
        };
        ledger.lock()?;
        Ok(ledger)
    }

    /// The ledger's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This run's id.
    pub fn run_id(&self) -> u64 {
        self.run_id
    }

    /// Records a worker this run started. A pid that is gone is
    /// [`Error::NoSuchProcess`].
    pub fn record(&self, pid: u32) -> Result<()> {
        match identity::stat(pid) {
            Some((start, false)) => self.record_with(pid, start),
            _ if cfg!(target_os = "linux") => Err(Error::NoSuchProcess(pid)),
            _ => Err(Error::NotSupported("process start times (no /proc)")),
        }
    }

    /// Records a worker with a start time already read (from a
    /// `PoolAction` or an event).
    /// A start time of 0 (unknown) is refused: such a record could only
    /// ever name a pid, which may belong to another process by the time it
    /// is reaped.
    pub fn record_with(&self, pid: u32, start_time: u64) -> Result<()> {
        if start_time == 0 {
            return Err(Error::InvalidArgument(format!(
                "ledger record of pid {pid} without a start time: an unknown identity never authorises a signal"
            )));
        }
        if !identity::in_pid_range(pid) {
            return Err(Error::NoSuchProcess(pid));
        }
        let mut file = self.lock()?;
        let end = file
            .seek(SeekFrom::End(0))
            .map_err(|e| self.io("seek", e))?;
        let mut line = String::new();
        if end == 0 {
            line.push_str(HEADER);
            line.push('\n');
        }
        line.push_str(&self.line(pid, start_time));
        file.write_all(line.as_bytes())
            .map_err(|e| self.io("append to", e))
    }

    /// Drops the record of a worker of this run that ended normally, so the
    /// ledger does not grow with every respawn.
    pub fn forget(&self, pid: u32) -> Result<()> {
        let file = self.lock()?;
        let entries = self.read(&file)?;
        let before = entries.len();
        let kept: Vec<Entry> = entries
            .into_iter()
            .filter(|e| !(e.run_id == self.run_id && e.pid == pid))
            .collect();
        if kept.len() != before {
            self.rewrite(&kept)?;
        }
        Ok(())
    }

    /// Every recorded worker, of every run. A damaged ledger is set aside
    /// (renamed to `<path>.corrupt`) and reported as [`Error::BadLedger`].
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let file = self.lock()?;
        self.read(&file)
    }

    /// Ends what earlier runs left alive. Runs whose master still lives are
    /// left alone (another master shares the ledger). Each worker of a dead
    /// master's run gets SIGTERM, then after `grace` SIGKILL, both through
    /// the identity-checked [`identity::signal`], so a process that merely
    /// holds a recorded pid is never touched. The ledger keeps this run's
    /// records, live masters' records and refused ones. Holds the lock
    /// throughout, so concurrent `record`s wait.
    pub fn reap(&self, grace: Duration) -> Result<Vec<Reaped>> {
        let file = self.lock()?;
        let entries = self.read(&file)?;
        let mut report = Vec::new();
        let mut kept = Vec::new();
        let mut pending = Vec::new();
        for e in entries {
            let orphan = e.run_id != self.run_id
                && identity::liveness(e.master_pid, e.master_start) == Liveness::Gone;
            if !orphan {
                kept.push(e);
                continue;
            }
            match identity::signal(e.pid, e.start_time, libc::SIGTERM) {
                Ok(()) => pending.push(e),
                Err(refused) => report.push(Reaped {
                    entry: e,
                    outcome: refusal_outcome(refused),
                }),
            }
        }
        let deadline = super::release::deadline(grace);
        let mut killed = Vec::new();
        loop {
            pending.retain(|e| {
                let alive = identity::liveness(e.pid, e.start_time) == Liveness::Alive;
                if !alive {
                    report.push(Reaped {
                        entry: *e,
                        outcome: ReapOutcome::Terminated,
                    });
                }
                alive
            });
            if pending.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL);
        }
        for e in pending {
            match identity::signal(e.pid, e.start_time, libc::SIGKILL) {
                Ok(()) => killed.push(e),
                Err(SignalRefused::Gone) => report.push(Reaped {
                    entry: e,
                    outcome: ReapOutcome::Terminated,
                }),
                Err(refused) => {
                    let outcome = refusal_outcome(refused);
                    if matches!(outcome, ReapOutcome::Refused(_)) {
                        kept.push(e);
                    }
                    report.push(Reaped { entry: e, outcome });
                }
            }
        }
        let kill_deadline = Instant::now() + KILL_WAIT;
        while killed
            .iter()
            .any(|e| identity::liveness(e.pid, e.start_time) == Liveness::Alive)
            && Instant::now() < kill_deadline
        {
            std::thread::sleep(POLL);
        }
        report.extend(killed.into_iter().map(|entry| Reaped {
            entry,
            outcome: ReapOutcome::Killed,
        }));
        self.rewrite(&kept)?;
        drop(file);
        Ok(report)
    }

    fn line(&self, pid: u32, start_time: u64) -> String {
        format_entry(&Entry {
            run_id: self.run_id,
            master_pid: self.master_pid,
            master_start: self.master_start,
            pid,
            start_time,
        })
    }

    fn io(&self, what: &str, e: std::io::Error) -> Error {
        Error::io(format!("{what} ledger {}", self.path.display()), e)
    }

    /// Opens the ledger and takes its lock; retries when the file was
    /// replaced while waiting.
    fn lock(&self) -> Result<File> {
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&self.path)
                .map_err(|e| self.io("open", e))?;
            let meta = file.metadata().map_err(|e| self.io("stat", e))?;
            // Root reaps what the ledger names: a ledger someone else could
            // write would let them choose whom.
            crate::os::files::check_trusted(&self.path, &meta)?;
            // SAFETY: flock on an fd we own; blocks until the lock is ours.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(self.io("lock", std::io::Error::last_os_error()));
            }
            match std::fs::symlink_metadata(&self.path) {
                Ok(now) if now.ino() == meta.ino() && now.dev() == meta.dev() => return Ok(file),
                _ => continue,
            }
        }
    }

    fn read(&self, mut file: &File) -> Result<Vec<Entry>> {
        let mut text = String::new();
        file.seek(SeekFrom::Start(0))
            .map_err(|e| self.io("seek", e))?;
        if let Err(e) = file.read_to_string(&mut text) {
            if e.kind() == std::io::ErrorKind::InvalidData {
                return Err(self.set_aside("not text".into()));
            }
            return Err(self.io("read", e));
        }
        if text.is_empty() {
            return Ok(Vec::new());
        }
        if !text.ends_with('\n') {
            return Err(self.set_aside("the last line is cut short".into()));
        }
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(self.set_aside("the first line is not a workerlife ledger header".into()));
        }
        let mut entries = Vec::new();
        for (n, line) in lines.enumerate() {
            match parse_line(line) {
                Some(e) => entries.push(e),
                None => {
                    return Err(self.set_aside(format!(
                        "line {}: \"{}\"",
                        n + 2,
                        line.escape_default()
                    )))
                }
            }
        }
        Ok(entries)
    }

    fn rewrite(&self, entries: &[Entry]) -> Result<()> {
        let mut text = String::new();
        if !entries.is_empty() {
            text.push_str(HEADER);
            text.push('\n');
        }
        for e in entries {
            text.push_str(&format_entry(e));
        }
        let (mut f, tmp) =
            crate::os::files::create_temporary(&self.path).map_err(|e| self.io("rewrite", e))?;
        let mut write = || -> std::io::Result<()> {
            f.write_all(text.as_bytes())?;
            f.sync_data()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io("rewrite", e)
        })
    }

    fn set_aside(&self, why: String) -> Error {
        let to = sibling(&self.path, "corrupt");
        match std::fs::rename(&self.path, &to) {
            Ok(()) => self.bad(why, Some(to)),
            Err(_) => self.bad(why, None),
        }
    }

    fn bad(&self, why: String, moved_to: Option<PathBuf>) -> Error {
        Error::BadLedger {
            path: self.path.clone(),
            why,
            moved_to,
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn format_entry(e: &Entry) -> String {
    format!(
        "{:016x} {} {} {} {}\n",
        e.run_id, e.master_pid, e.master_start, e.pid, e.start_time
    )
}

fn parse_line(line: &str) -> Option<Entry> {
    let mut f = line.split(' ');
    let run = f.next()?;
    if run.len() != 16 {
        return None;
    }
    let entry = Entry {
        run_id: u64::from_str_radix(run, 16).ok()?,
        master_pid: f.next()?.parse().ok()?,
        master_start: f.next()?.parse().ok()?,
        pid: f.next()?.parse().ok()?,
        start_time: f.next()?.parse().ok()?,
    };
    (f.next().is_none() && entry.pid != 0).then_some(entry)
}

fn refusal_outcome(refused: SignalRefused) -> ReapOutcome {
    match refused {
        SignalRefused::Gone => ReapOutcome::AlreadyGone,
        SignalRefused::IdentityMismatch { found, .. } => ReapOutcome::PidReused { found },
        SignalRefused::UnknownIdentity => ReapOutcome::UnknownIdentity,
        SignalRefused::Os(errno) => ReapOutcome::Refused(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_strictly() {
        let e = parse_line("00000000000000ff 10 20 30 40").unwrap();
        assert_eq!(
            (e.run_id, e.master_pid, e.master_start, e.pid, e.start_time),
            (255, 10, 20, 30, 40)
        );
        for bad in [
            "ff 10 20 30 40",
            "00000000000000ff 10 20 30",
            "00000000000000ff 10 20 30 40 50",
            "00000000000000ff 10 20 0 40",
            "00000000000000ff -1 20 30 40",
            "00000000000000ff 10  20 30 40",
            "",
        ] {
            assert_eq!(parse_line(bad), None, "{bad:?}");
        }
    }
}
