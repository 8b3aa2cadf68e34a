//! Files another user must not be able to plant or change: pool files and
//! ledgers are trusted only when the effective user owns them and nobody
//! else may write them, and their temporaries are made exclusively.

use crate::error::{Error, Result};
use std::fs::{File, Metadata, OpenOptions};
use std::path::{Path, PathBuf};

/// Refuses `meta` (of the file at `path`) unless it is a regular file owned
/// by the effective user and not writable by group or others.
#[cfg(unix)]
pub(crate) fn check_trusted(path: &Path, meta: &Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mode = meta.mode() & 0o7777;
    let why = if !meta.is_file() {
        "not a regular file".to_string()
    } else if meta.uid() != me {
        format!(
            "owned by uid {} and not by this process's effective uid {me} (mode {mode:04o})",
            meta.uid()
        )
    } else if mode & 0o022 != 0 {
        format!("mode {mode:04o} lets group or others write it (owner uid {me})")
    } else {
        return Ok(());
    };
    Err(Error::UnsafeFile {
        path: path.to_path_buf(),
        why,
    })
}

#[cfg(not(unix))]
pub(crate) fn check_trusted(_path: &Path, _meta: &Metadata) -> Result<()> {
    Ok(())
}

/// How every file of ours is made: new (`O_EXCL`: an existing file or a
/// link there is an error), never through a symlink, mode 0600, read-write.
pub(crate) fn exclusive() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    options
}

/// A new file beside `path`, made `exclusive()`ly under a name nobody can
/// predict; a name someone took is skipped.
pub(crate) fn create_temporary(path: &Path) -> std::io::Result<(File, PathBuf)> {
    let options = exclusive();
    let mut last = None;
    for attempt in 0u64..16 {
        let token = crate::os::clock::precise_ns()
            .rotate_left(23)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (u64::from(std::process::id()) << 16)
            ^ attempt;
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".tmp.{token:016x}"));
        let tmp = PathBuf::from(name);
        match options.open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary name was free")))
}

/// Takes this open file's lock on all of `file` without waiting: exclusive,
/// or shared. False if another process holds a conflicting one. Open file
/// description locks (Linux): held per open file, released by the kernel
/// when the last descriptor closes (the process died), and converted from
/// exclusive to shared atomically, unlike `flock`.
#[cfg(target_os = "linux")]
pub(crate) fn try_lock(file: &File, exclusive: bool) -> std::io::Result<bool> {
    match ofd_lock(file, exclusive, false) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes this open file's shared lock on all of `file`, waiting for an
/// exclusive holder (one making the pool) to finish.
#[cfg(target_os = "linux")]
pub(crate) fn lock_shared(file: &File) -> std::io::Result<()> {
    ofd_lock(file, false, true)
}

#[cfg(target_os = "linux")]
fn ofd_lock(file: &File, exclusive: bool, wait: bool) -> std::io::Result<()> {
    let kind = if exclusive {
        libc::F_WRLCK
    } else {
        libc::F_RDLCK
    };
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    ofd_fcntl(file, kind, cmd)
}

/// Drops this open file's lock.
#[cfg(target_os = "linux")]
pub(crate) fn unlock(file: &File) -> std::io::Result<()> {
    ofd_fcntl(file, libc::F_UNLCK, libc::F_OFD_SETLK)
}

#[cfg(target_os = "linux")]
fn ofd_fcntl(file: &File, kind: libc::c_int, cmd: libc::c_int) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: all-zero is a valid flock; the fields that matter are set below.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    loop {
        // SAFETY: a valid descriptor and a valid flock for the call.
        if unsafe { libc::fcntl(file.as_raw_fd(), cmd, &lock) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn try_lock(_file: &File, _exclusive: bool) -> std::io::Result<bool> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "opening a shared pool file needs Linux open file description locks",
    ))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn unlock(_file: &File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn lock_shared(_file: &File) -> std::io::Result<()> {
    try_lock(_file, false).map(|_| ())
}

/// Whether `path` still names the open `file` (not removed or replaced).
#[cfg(unix)]
pub(crate) fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
pub(crate) fn same_file(_file: &File, _path: &Path) -> bool {
    false
}

/// A file this process made and removes when it is done with it: by path,
/// and by identity so that a file put there since is left alone.
struct Owned {
    pid: u32,
    path: PathBuf,
    dev: u64,
    ino: u64,
}

/// The pool files this process made: touched when a named pool is made or
/// freed, and at exit. Fork-safe (`os::fork`): a child forked while another
/// thread makes a pool must still be able to make its own.
static OWNED: crate::os::fork::StaticForkMutex<OwnedFiles> =
    crate::os::fork::StaticForkMutex::new(OwnedFiles(Vec::new()));

struct OwnedFiles(Vec<Owned>);

impl crate::os::fork::AfterFork for OwnedFiles {
    fn after_fork_in_child(&mut self) {
        // The parent's to remove, not the child's.
        self.0.clear();
    }
}

/// Removes `path` (which names `file`, made by this process) when this
/// process frees it (`remove_owned`) or, failing that, when it exits
/// normally: hosts exit with a worker's watchdog still holding the pool, or
/// without freeing their handle, and the name must not outlive them. A
/// process killed outright leaves the file; the next `create` of the path
/// finds nobody holding it and makes it anew.
#[cfg(unix)]
pub(crate) fn remove_at_exit(path: &Path, file: &File) {
    use std::os::unix::fs::MetadataExt;
    static REGISTER: std::sync::Once = std::sync::Once::new();
    let Ok(meta) = file.metadata() else { return };
    REGISTER.call_once(|| {
        // SAFETY: registers a function that takes no arguments and does
        // not unwind (it catches nothing it calls could throw: it only
        // locks without waiting, compares and unlinks).
        unsafe { libc::atexit(remove_all_owned) };
    });
    OWNED.lock().0.push(Owned {
        pid: std::process::id(),
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
    });
}

#[cfg(not(unix))]
pub(crate) fn remove_at_exit(_path: &Path, _file: &File) {}

/// Removes `path` now if this process made it as `file` and it is still
/// that file; forgets it either way. A forked child starts with an empty
/// list, and the pid check leaves a file to its maker.
#[cfg(unix)]
pub(crate) fn remove_owned(path: &Path, file: &File) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = file.metadata() else { return };
    let mut owned = OWNED.lock();
    let me = std::process::id();
    owned.0.retain(|o| {
        let ours = o.path == path && o.pid == me && o.dev == meta.dev() && o.ino == meta.ino();
        if ours {
            unlink_if_same(o);
        }
        !ours
    });
}

#[cfg(not(unix))]
pub(crate) fn remove_owned(path: &Path, _file: &File) {
    let _ = std::fs::remove_file(path);
}

#[cfg(unix)]
fn unlink_if_same(o: &Owned) {
    use std::os::unix::fs::MetadataExt;
    if let Ok(meta) = std::fs::symlink_metadata(&o.path) {
        if meta.dev() == o.dev && meta.ino() == o.ino {
            let _ = std::fs::remove_file(&o.path);
        }
    }
}

#[cfg(not(unix))]
fn unlink_if_same(o: &Owned) {
    let _ = std::fs::remove_file(&o.path);
}

/// At `exit()`: the files this process made and still has.
extern "C" fn remove_all_owned() {
    // Never waits: exit() may run on a thread while another holds the lock
    // (or, in a forked child, held it at the fork).
    let Some(mut owned) = OWNED.try_lock() else {
        return;
    };
    let me = std::process::id();
    for o in owned.0.drain(..) {
        if o.pid == me {
            unlink_if_same(&o);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_child_forked_while_another_thread_records_a_pool_file_can_record_its_own() {
        let dir = std::env::temp_dir().join(format!("wl-owned-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let busy_path = dir.join("busy");
        let busy_file = File::create(&busy_path).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let busy = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    remove_at_exit(&busy_path, &busy_file);
                    // Forgotten, not removed: another file's identity.
                    OWNED.lock().0.clear();
                }
            })
        };
        for i in 0..50 {
            // SAFETY: the child records and removes a file of its own, then exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // A lock left held at the fork would hang the child: the
                // alarm turns that into a failure instead of a hung suite.
                unsafe { libc::alarm(30) };
                let path = dir.join(format!("child-{i}"));
                let file = File::create(&path).unwrap();
                remove_at_exit(&path, &file);
                remove_owned(&path, &file);
                unsafe { libc::_exit(if path.exists() { 3 } else { 0 }) };
            }
            let mut status = 0;
            // SAFETY: waiting for the child just forked.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the child could not record and remove its file (status {status})"
            );
        }
        stop.store(true, Ordering::Relaxed);
        busy.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
