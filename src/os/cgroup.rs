//! The memory cgroup a process runs in (its container, most often): the
//! limit and how much of it is in use, from cgroup v2 or v1 files. Found
//! from `/proc/self/cgroup` and `/proc/self/mountinfo`; read afresh every
//! time (containers are resized in place). Linux only: elsewhere every
//! call says "not supported".
//!
//! What predicts the OOM killer is the working set, as the kubelet counts
//! it: usage minus the inactive file cache (which the kernel reclaims
//! first), not the usage itself.

use crate::error::{Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Which cgroup hierarchy the memory controller is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// The unified hierarchy (`memory.max`, `memory.current`).
    V2,
    /// The legacy memory controller (`memory.limit_in_bytes`).
    V1,
}

/// A memory cgroup's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    dir: PathBuf,
    /// The hierarchy's mount point: a v2 limit is the smallest of the
    /// cgroup's and its parents' up to here.
    mount: PathBuf,
    version: Version,
}

/// One reading of a memory cgroup, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MemoryReading {
    /// The limit; None when there is none (`max`, or v1's huge number).
    pub limit: Option<u64>,
    /// All memory charged to the cgroup, page cache included.
    pub usage: u64,
    /// Usage minus the inactive file cache: what the OOM killer acts on.
    pub working_set: u64,
    /// Anonymous memory (v2 `anon`, v1 `total_rss`).
    pub anon: Option<u64>,
    /// Page cache (v2 `file`, v1 `total_cache`).
    pub file: Option<u64>,
    /// Processes the kernel's OOM killer ended in the cgroup (v2
    /// `memory.events`, v1 `memory.oom_control`; None where the kernel does
    /// not count them).
    pub oom_kills: Option<u64>,
    /// The share of the last 10 s in which some task waited for memory, in
    /// percent (v2 `memory.pressure`; None under v1).
    pub pressure_some_avg10: Option<f64>,
}

/// v1 writes "no limit" as the largest page-aligned counter; anything at or
/// above 2^62 bytes is that.
const V1_UNLIMITED: u64 = 1 << 62;

impl Cgroup {
    /// The memory cgroup of this process.
    pub fn of_self() -> Result<Cgroup> {
        if !cfg!(target_os = "linux") {
            return Err(Error::NotSupported("reading a memory cgroup (Linux only)"));
        }
        let read = |p: &str| std::fs::read_to_string(p).map_err(|e| Error::io(p, e));
        Cgroup::find(&read("/proc/self/cgroup")?, &read("/proc/self/mountinfo")?)
    }

    /// The memory cgroup that a `/proc/PID/cgroup` and `/proc/PID/mountinfo`
    /// text name: v1's memory controller when it is mounted, else v2's.
    pub fn find(proc_cgroup: &str, mountinfo: &str) -> Result<Cgroup> {
        let (v2_path, v1_path) = parse_proc_cgroup(proc_cgroup);
        let (v2_mount, v1_mount) = parse_mountinfo(mountinfo);
        let candidates = [
            (v1_path, v1_mount, Version::V1),
            (v2_path, v2_mount, Version::V2),
        ];
        for (path, mount, version) in candidates {
            if let (Some(path), Some((root, point))) = (path, mount) {
                // A path outside the mount's root (another namespace's
                // view) shows nothing of this cgroup.
                let Some(rel) = path.strip_prefix(root.as_str()) else {
                    continue;
                };
                let mount = PathBuf::from(point);
                let dir = mount.join(rel.trim_start_matches('/'));
                return Ok(Cgroup {
                    dir,
                    mount,
                    version,
                });
            }
        }
        Err(Error::NoCgroup(
            "no memory controller is mounted for this process's cgroup".into(),
        ))
    }

    /// The cgroup at `dir` (tests read fixture directories this way).
    pub fn at(dir: impl Into<PathBuf>, version: Version) -> Cgroup {
        let dir = dir.into();
        Cgroup {
            mount: dir.clone(),
            dir,
            version,
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Which hierarchy it is in.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Reads its limit and usage now (see [`Reader::read`]).
    pub fn read(&self) -> Result<MemoryReading> {
        self.reader().read()
    }

    /// A reader that keeps the cgroup's own files open: a reading then costs
    /// a `pread` per file instead of an open, a read and a close (an open is
    /// most of the cost: `benches/container.rs`). Under v2 its parents'
    /// `memory.max`, up to the mount, are still opened at every reading;
    /// a container with its own cgroup namespace (Docker's and Kubernetes'
    /// default) sits at the mount and has none.
    pub fn reader(&self) -> Reader {
        Reader {
            cgroup: self.clone(),
            open: Vec::new(),
            buf: Vec::new(),
        }
    }
}

/// A cgroup with its files kept open (opened at the first reading, and
/// again after a failed one).
#[derive(Debug)]
pub struct Reader {
    cgroup: Cgroup,
    open: Vec<(&'static str, File)>,
    buf: Vec<u8>,
}

impl Reader {
    /// The cgroup it reads.
    pub fn cgroup(&self) -> &Cgroup {
        &self.cgroup
    }

    /// Reads the limit and usage now. A file the reading needs that is
    /// missing, unreadable or garbage is an error naming it; one it can do
    /// without (pressure, OOM kills, the breakdown) leaves its field None.
    /// A limit of 0 is an error: no container runs under it, and taken at
    /// its word it would recycle every worker.
    pub fn read(&mut self) -> Result<MemoryReading> {
        let r = match self.cgroup.version {
            Version::V2 => self.read_v2(),
            Version::V1 => self.read_v1(),
        };
        if r.is_err() {
            self.open.clear();
        }
        let r = r?;
        if r.limit == Some(0) {
            return Err(Error::NoCgroup(format!(
                "{}: a memory limit of 0",
                self.cgroup.dir.display()
            )));
        }
        Ok(r)
    }

    /// The text of file `name`, read from the start.
    fn file(&mut self, name: &'static str) -> Result<String> {
        let path = || self.cgroup.dir.join(name).display().to_string();
        let i = match self.open.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                let f = File::open(self.cgroup.dir.join(name)).map_err(|e| Error::io(path(), e))?;
                self.open.push((name, f));
                self.open.len() - 1
            }
        };
        // memory.stat is the longest (v1: about 1.5 KiB); a file that fills
        // the buffer is read again with more room.
        let mut size = self.buf.len().max(4096);
        loop {
            self.buf.resize(size, 0);
            let n = self.open[i]
                .1
                .read_at(&mut self.buf, 0)
                .map_err(|e| Error::io(path(), e))?;
            if n < size || size >= 1 << 20 {
                return Ok(String::from_utf8_lossy(&self.buf[..n]).into_owned());
            }
            size *= 2;
        }
    }

    fn number(&mut self, name: &'static str) -> Result<u64> {
        let text = self.file(name)?;
        text.trim().parse().map_err(|_| self.garbage(name, &text))
    }

    fn garbage(&self, name: &str, text: &str) -> Error {
        let shown: String = text.trim().chars().take(40).collect();
        Error::NoCgroup(format!(
            "{}: not a number: {shown:?}",
            self.cgroup.dir.join(name).display()
        ))
    }

    fn read_v2(&mut self) -> Result<MemoryReading> {
        let usage = self.number("memory.current")?;
        let max = self.file("memory.max")?;
        let mut limit = v2_limit(&max).ok_or_else(|| self.garbage("memory.max", &max))?;
        // A parent's limit binds too: the smallest up to the mount.
        let mut dir = self.cgroup.dir.as_path();
        let mount = &self.cgroup.mount;
        while let Some(parent) = dir.parent().filter(|p| p.starts_with(mount) && p != mount) {
            if let Ok(text) = std::fs::read_to_string(parent.join("memory.max")) {
                if let Some(Some(l)) = v2_limit(&text) {
                    limit = Some(limit.map_or(l, |m| m.min(l)));
                }
            }
            dir = parent;
        }
        let stat = self.file("memory.stat").unwrap_or_default();
        let inactive = stat_field(&stat, "inactive_file");
        let events = self.file("memory.events").unwrap_or_default();
        let pressure = self.file("memory.pressure").unwrap_or_default();
        Ok(MemoryReading {
            limit,
            usage,
            working_set: usage.saturating_sub(inactive.unwrap_or(0)),
            anon: stat_field(&stat, "anon"),
            file: stat_field(&stat, "file"),
            oom_kills: stat_field(&events, "oom_kill"),
            pressure_some_avg10: pressure_avg10(&pressure),
        })
    }

    fn read_v1(&mut self) -> Result<MemoryReading> {
        let limit = self.number("memory.limit_in_bytes")?;
        let usage = self.number("memory.usage_in_bytes")?;
        let stat = self.file("memory.stat").unwrap_or_default();
        // A parent's limit binds too: v1 sums it up as hierarchical_memory_limit.
        let limit = [Some(limit), stat_field(&stat, "hierarchical_memory_limit")]
            .into_iter()
            .flatten()
            .filter(|&l| l < V1_UNLIMITED)
            .min();
        let inactive = stat_field(&stat, "total_inactive_file");
        let oom = self.file("memory.oom_control").unwrap_or_default();
        Ok(MemoryReading {
            limit,
            usage,
            working_set: usage.saturating_sub(inactive.unwrap_or(0)),
            anon: stat_field(&stat, "total_rss"),
            file: stat_field(&stat, "total_cache"),
            oom_kills: stat_field(&oom, "oom_kill"),
            pressure_some_avg10: None,
        })
    }
}

/// A v2 `memory.max`: Some(None) for "max", None for garbage.
fn v2_limit(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        t => t.parse().ok().map(Some),
    }
}

/// The value of `key` in a "key value" per line file (memory.stat,
/// memory.events, memory.oom_control).
fn stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `some avg10=1.50 avg60=...` in `memory.pressure`.
fn pressure_avg10(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    let v = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("avg10="))?;
    v.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)
}

/// From `/proc/self/cgroup`: the v2 path (`0::/path`) and the v1 memory
/// controller's path (`N:memory:/path`, controllers comma-separated).
fn parse_proc_cgroup(text: &str) -> (Option<String>, Option<String>) {
    let (mut v2, mut v1) = (None, None);
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2 = Some(path.to_string());
        } else if controllers.split(',').any(|c| c == "memory") {
            v1 = Some(path.to_string());
        }
    }
    (v2, v1)
}

/// A mount's root within its hierarchy and its mount point.
type Mount = (String, String);

/// From `/proc/self/mountinfo`: the cgroup2 mount and the v1 mount holding
/// the memory controller.
fn parse_mountinfo(text: &str) -> (Option<Mount>, Option<Mount>) {
    let (mut v2, mut v1) = (None, None);
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let tail: Vec<&str> = right.split(' ').collect();
        if fields.len() < 5 || tail.len() < 3 {
            continue;
        }
        let mount = (unescape(fields[3]), unescape(fields[4]));
        match tail[0] {
            "cgroup2" if v2.is_none() => v2 = Some(mount),
            "cgroup" if v1.is_none() && tail[2].split(',').any(|o| o == "memory") => {
                v1 = Some(mount)
            }
            _ => {}
        }
    }
    (v2, v1)
}

/// Mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v1_memory_before_v2() {
        let cg = "4:memory:/process_api/abc\n3:cpuset:/\n0::/\n";
        let mi = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
                  35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
        let c = Cgroup::find(cg, mi).unwrap();
        assert_eq!(c.version, Version::V1);
        assert_eq!(c.dir, Path::new("/sys/fs/cgroup/memory/process_api/abc"));
    }

    #[test]
    fn finds_v2_under_its_mount_root() {
        // A container's namespace: the mount's root is the cgroup itself.
        let cg = "0::/kubepods/pod1/ctr\n";
        let mi =
            "40 30 0:40 /kubepods/pod1/ctr /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let c = Cgroup::find(cg, mi).unwrap();
        assert_eq!(c.version, Version::V2);
        assert_eq!(c.dir, Path::new("/sys/fs/cgroup"));
    }

    #[test]
    fn no_memory_controller_is_an_error() {
        let cg = "4:cpu:/x\n0::/x\n";
        let mi = "35 31 0:32 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        let e = Cgroup::find(cg, mi).unwrap_err().to_string();
        assert!(e.contains("no memory controller"), "{e}");
    }

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape(r"/a\04"), r"/a\04");
    }

    #[test]
    fn pressure_and_stat_fields() {
        let p = "some avg10=1.50 avg60=0.20 avg300=0.00 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(pressure_avg10(p), Some(1.5));
        assert_eq!(pressure_avg10("garbage"), None);
        assert_eq!(pressure_avg10("some avg10=nan"), None);
        assert_eq!(stat_field("anon 5\nfile 7\n", "file"), Some(7));
        assert_eq!(stat_field("anon x\n", "anon"), None);
        assert_eq!(stat_field("", "anon"), None);
    }
}
