//! Where a pool's bytes live: private memory, shared-anonymous memory created
//! before `fork()`, or a named file that workers started with `exec` attach.

use crate::error::{Error, Result};
use crate::os::clock::ClockMode;
use crate::policy::{Policy, KEY_COUNT};
use crate::table::layout::{self, Header, HeaderStatic, Slot, LAYOUT_VERSION, MAGIC, MAX_SLOTS};
use memmap2::{MmapMut, MmapOptions};
use std::fs::{File, OpenOptions};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::AcqRel;

crate::names::named_enum! {
    /// How the pool's memory is shared.
    pub enum Sharing {
        /// Only this process (threads) sees it.
        Private = 0 => "private",
        /// Shared with children forked after creation (anonymous memory).
        Shared = 1 => "shared",
        /// A file any process can attach by path.
        Named = 2 => "named",
    }
}

/// The mapping plus where it came from.
pub(crate) struct Region {
    map: MmapMut,
    pub sharing: Sharing,
    pub path: Option<PathBuf>,
    /// The process that created a named file removes it when its pool drops;
    /// forked children inherit the handle but must not.
    owner_pid: Option<u32>,
    /// For a named pool from `create` or `attach`: the file, holding this
    /// process's shared lock on it for as long as the pool lives (the kernel
    /// drops it when the process dies). A file nobody holds is stale, and
    /// `create` makes it anew.
    hold: Option<File>,
    /// For a pool from `open`: the file's descriptor, holding this
    /// process's lock on it; -1 when none (taken without a lock, so it is
    /// fork-safe, by `remove_if_last`).
    lock: AtomicI32,
}

/// What every new pool needs: a slot count in range and a valid policy.
fn check_request(slots: u32, policy: &Policy) -> Result<()> {
    if slots == 0 || slots > MAX_SLOTS {
        return Err(Error::InvalidSlotCount(u64::from(slots)));
    }
    policy.validate()
}

impl Region {
    /// Makes zeroed memory for `slots` slots and writes the header.
    pub fn create(
        sharing: Sharing,
        path: Option<&Path>,
        slots: u32,
        policy: &Policy,
        seed: u64,
        clock: ClockMode,
        epoch_ns: u64,
    ) -> Result<Region> {
        check_request(slots, policy)?;
        let size = layout::pool_size(slots);
        let (map, owner_pid, path) = match sharing {
            Sharing::Private => (
                MmapOptions::new()
                    .len(size)
                    .map_anon()
                    .map_err(|e| Error::io("mapping private pool memory", e))?,
                None,
                None,
            ),
            Sharing::Shared => (shared_anonymous(size)?, None, None),
            Sharing::Named => {
                let path = path.ok_or(Error::NotSupported("a named pool needs a path"))?;
                return Region::create_named(path, size, slots, policy, seed, clock, epoch_ns);
            }
        };
        let mut region = Region {
            map,
            sharing,
            path,
            owner_pid,
            hold: None,
            lock: AtomicI32::new(-1),
        };
        region.write_header(slots, policy, seed, clock, epoch_ns);
        Ok(region)
    }

    /// A named pool: made whole under a temporary name beside `path` (mode
    /// 0600, held with a shared lock), then linked at `path`, so nobody
    /// ever sees it half made or unheld. A pool file already there that no
    /// live process holds (its makers were killed) is replaced; one that is
    /// held, a file that is not a workerlife pool, a symlink, or a file
    /// another user owns or may write is refused and left as it is.
    #[allow(clippy::too_many_arguments)]
    fn create_named(
        path: &Path,
        size: usize,
        slots: u32,
        policy: &Policy,
        seed: u64,
        clock: ClockMode,
        epoch_ns: u64,
    ) -> Result<Region> {
        let ctx = |what: &str| format!("{}: {what}", path.display());
        let (file, tmp) = crate::os::files::create_temporary(path)
            .map_err(|e| Error::io(ctx("creating the pool file"), e))?;
        let made = (|| {
            hold_shared(&file);
            file.set_len(size as u64)
                .map_err(|e| Error::io(ctx("sizing the pool file"), e))?;
            // Its owner is set once the file is at `path`: a region dropped
            // before then must not remove what is there.
            let mut region = Region::fresh_named(map_file(&file, path)?, path);
            region.write_header(slots, policy, seed, clock, epoch_ns);
            Ok(region)
        })();
        let mut region = match made.and_then(|r| publish(&tmp, path).map(|()| r)) {
            Ok(region) => region,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        crate::os::files::remove_at_exit(path, &file);
        region.hold = Some(file);
        region.owner_pid = Some(std::process::id());
        Ok(region)
    }

    /// A named region over `map`, not yet holding its file nor removing it.
    fn fresh_named(map: MmapMut, path: &Path) -> Region {
        Region {
            map,
            sharing: Sharing::Named,
            path: Some(path.to_path_buf()),
            owner_pid: None,
            hold: None,
            lock: AtomicI32::new(-1),
        }
    }

    /// Writes the header of zeroed memory not yet visible to anyone else,
    /// and readies the slots.
    fn write_header(
        &mut self,
        slots: u32,
        policy: &Policy,
        seed: u64,
        clock: ClockMode,
        epoch_ns: u64,
    ) {
        let fixed = HeaderStatic {
            magic: MAGIC,
            layout_version: LAYOUT_VERSION,
            writer: HeaderStatic::this_writer(),
            header_size: std::mem::size_of::<Header>() as u32,
            slot_size: std::mem::size_of::<Slot>() as u32,
            slot_count: slots,
            clock_mode: clock as u32,
            key_count: KEY_COUNT as u32,
            seed,
            epoch_ns,
            policy: *policy.raw_values(),
        };
        let header = self.map.as_mut_ptr().cast::<Header>();
        // SAFETY: the mapping is page aligned, at least size_of::<Header>()
        // long, zeroed, and not yet visible to anyone else. All-zero bytes are
        // a valid Header apart from the fields written here.
        unsafe {
            std::ptr::addr_of_mut!((*header).fixed).write(fixed);
            std::ptr::addr_of_mut!((*header).checksum).write(fixed.checksum());
        }
        self.init_slots();
    }

    /// Opens the pool file at `path` that the processes of one server share
    /// with no master to make it (uvicorn's workers): attaches it while
    /// another process holds it, else (missing, or left by processes now
    /// gone) makes it anew with `slots` slots and `policy`. Every process
    /// holding the pool keeps a shared lock on the file (released by the
    /// kernel when it dies), which is how a stale file is told apart; the
    /// one that makes it holds the lock exclusively meanwhile. A file that is
    /// not a workerlife pool, or that another user could have planted, is an
    /// error and is left as it is.
    pub fn open(
        path: &Path,
        slots: u32,
        policy: &Policy,
        seed: u64,
        clock: ClockMode,
        epoch_ns: u64,
    ) -> Result<Region> {
        check_request(slots, policy)?;
        let ctx = |what: &str| format!("{}: {what}", path.display());
        // A file removed or replaced between our open and our lock is not
        // the pool any more: open again.
        for _ in 0..64 {
            let file = match open_existing(path) {
                Ok(f) => f,
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    match crate::os::files::exclusive().open(path) {
                        Ok(f) => f,
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                        Err(e) => return Err(Error::io(ctx("creating the pool file"), e)),
                    }
                }
                Err(e) => return Err(e),
            };
            let meta = file.metadata().map_err(|e| Error::io(ctx("stat"), e))?;
            crate::os::files::check_trusted(path, &meta)?;
            let exclusive = crate::os::files::try_lock(&file, true)
                .map_err(|e| Error::io(ctx("locking"), e))?;
            if !exclusive {
                crate::os::files::lock_shared(&file).map_err(|e| Error::io(ctx("locking"), e))?;
            }
            if !crate::os::files::same_file(&file, path) {
                continue;
            }
            let size = file
                .metadata()
                .map_err(|e| Error::io(ctx("stat"), e))?
                .len();
            if !exclusive {
                let map = map_file(&file, path)?;
                let region = Region::validated(map, size, path, Some(file))?;
                if region.header().fixed.policy != *policy.raw_values() {
                    return Err(Error::BadPoolFile {
                        path: path.to_path_buf(),
                        why: format!(
                            "in use with another policy ({}; this process asks for {policy})",
                            Policy::from_raw_values(region.header().fixed.policy)
                                .map(|p| p.to_string())
                                .unwrap_or_default()
                        ),
                    });
                }
                return Ok(region);
            }
            // Nobody else holds it: new, or stale. Only a workerlife pool (or
            // an empty file) is ours to make anew.
            if size > 0 && !starts_with_magic(&file) {
                return Err(Error::BadPoolFile {
                    path: path.to_path_buf(),
                    why: "not a workerlife pool (bad magic); left as it is".into(),
                });
            }
            let want = layout::pool_size(slots) as u64;
            file.set_len(0)
                .map_err(|e| Error::io(ctx("emptying a stale pool file"), e))?;
            file.set_len(want)
                .map_err(|e| Error::io(ctx("sizing the pool file"), e))?;
            let mut region = Region::fresh_named(map_file(&file, path)?, path);
            region.write_header(slots, policy, seed, clock, epoch_ns);
            // fcntl locks convert atomically: nobody can take the file
            // between our making it and our holding it shared.
            crate::os::files::lock_shared(&file).map_err(|e| Error::io(ctx("locking"), e))?;
            region.lock = AtomicI32::new(file.into_raw_fd());
            return Ok(region);
        }
        Err(Error::BadPoolFile {
            path: path.to_path_buf(),
            why: "replaced again and again while opening it".into(),
        })
    }

    /// For a pool from `open`, when this process is done with it: gives
    /// up its hold on the file, then removes the file if no other process
    /// holds it. Giving up first is what lets the last of several workers
    /// shutting down at once find itself last. The mapping stays valid.
    /// True if the file was removed; later calls do nothing.
    pub fn remove_if_last(&self) -> Result<bool> {
        let fd = self.lock.swap(-1, AcqRel);
        let Some(path) = self.path.as_ref().filter(|_| fd >= 0) else {
            return Ok(false);
        };
        // SAFETY: the descriptor was ours alone (taken out of `lock` above).
        let file = unsafe { File::from_raw_fd(fd) };
        let ctx = |what: &str| format!("{}: {what}", path.display());
        crate::os::files::unlock(&file).map_err(|e| Error::io(ctx("unlocking"), e))?;
        if !crate::os::files::try_lock(&file, true).map_err(|e| Error::io(ctx("locking"), e))? {
            return Ok(false);
        }
        // Removed while we held it exclusively: whoever opens it next makes
        // it anew; closing the file drops our lock.
        Ok(crate::os::files::same_file(&file, path) && std::fs::remove_file(path).is_ok())
    }

    /// Attaches a named pool file after checking it is whole and ours, and
    /// holds it (a shared lock) while attached, so that its maker's death
    /// alone does not make it stale while its workers run.
    pub fn attach(path: &Path) -> Result<Region> {
        let mut file = open_existing(path)?;
        // A file being replaced (its replacer holds it exclusively) is waited
        // for; if it was replaced meanwhile, the new one is what to attach.
        for _ in 0..64 {
            if !hold_shared(&file) || crate::os::files::same_file(&file, path) {
                break;
            }
            file = open_existing(path)?;
        }
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("{}: stat", path.display()), e))?;
        // Every process of the pool acts on what the file says.
        crate::os::files::check_trusted(path, &meta)?;
        let len = meta.len();
        let need = std::mem::size_of::<Header>() as u64;
        if len < need {
            return Err(Error::BadPoolFile {
                path: path.to_path_buf(),
                why: format!("truncated: {len} bytes, a header alone is {need}"),
            });
        }
        let map = map_file(&file, path)?;
        let mut region = Region::validated(map, len, path, None)?;
        region.hold = Some(file);
        Ok(region)
    }

    /// A mapping of a pool file of `len` bytes, once its header checks out.
    fn validated(map: MmapMut, len: u64, path: &Path, lock: Option<File>) -> Result<Region> {
        let bad = |why: String| Error::BadPoolFile {
            path: path.to_path_buf(),
            why,
        };
        let need = std::mem::size_of::<Header>() as u64;
        if len < need || (map.len() as u64) < need {
            return Err(bad(format!(
                "truncated: {len} bytes, a header alone is {need}"
            )));
        }
        // SAFETY: the mapping is page aligned and at least a header long.
        let header = unsafe { &*map.as_ptr().cast::<Header>() };
        let fixed = header.fixed;
        if fixed.magic != MAGIC {
            return Err(bad("bad magic: not a workerlife pool".into()));
        }
        if fixed.layout_version != LAYOUT_VERSION {
            return Err(bad(format!(
                "layout version {} (made by {}; this library, workerlife {}, reads {LAYOUT_VERSION}): \
                 every process of a pool must run a workerlife of the same layout version",
                fixed.layout_version,
                writer_name(&fixed.writer),
                env!("CARGO_PKG_VERSION"),
            )));
        }
        if fixed.checksum() != header.checksum {
            return Err(bad("header checksum mismatch: the file is corrupted".into()));
        }
        if fixed.header_size as usize != std::mem::size_of::<Header>()
            || fixed.slot_size as usize != std::mem::size_of::<Slot>()
            || fixed.key_count as usize != KEY_COUNT
        {
            return Err(bad(
                "header, slot or policy size differs from this library's".into(),
            ));
        }
        if fixed.slot_count == 0 || fixed.slot_count > MAX_SLOTS {
            return Err(bad(format!("invalid slot count {}", fixed.slot_count)));
        }
        let want = layout::pool_size(fixed.slot_count) as u64;
        if len != want || map.len() as u64 != want {
            return Err(bad(format!(
                "size {len} bytes, {} slots need {want}: truncated or extended",
                fixed.slot_count
            )));
        }
        if fixed.clock_mode > ClockMode::Manual as u32 {
            return Err(bad(format!("unknown clock mode {}", fixed.clock_mode)));
        }
        Policy::from_raw_values(fixed.policy)
            .map_err(|e| bad(format!("stored policy is invalid: {e}")))?;
        let mut region = Region::fresh_named(map, path);
        *region.lock.get_mut() = lock.map_or(-1, |f| f.into_raw_fd());
        Ok(region)
    }

    fn init_slots(&mut self) {
        for slot in self.slots() {
            slot.reset(0);
        }
    }

    pub fn header(&self) -> &Header {
        // SAFETY: created or validated above: aligned, long enough, and every
        // field is either immutable after creation or atomic.
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    pub fn slots(&self) -> &[Slot] {
        let n = self.header().fixed.slot_count as usize;
        // SAFETY: the mapping holds exactly n slots after the header (checked
        // at attach, made so at create); Slot is all atomics.
        unsafe {
            std::slice::from_raw_parts(
                self.map
                    .as_ptr()
                    .add(std::mem::size_of::<Header>())
                    .cast::<Slot>(),
                n,
            )
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let fd = *self.lock.get_mut();
        if fd >= 0 {
            // SAFETY: our own descriptor, closed once.
            drop(unsafe { File::from_raw_fd(fd) });
        }
        self.remove_if_owner();
    }
}

impl Region {
    /// For the process that made a named pool: removes its file (if it is
    /// still the one at its path). Called when the maker's pool handle is
    /// freed, even while its workers' handles (or a watchdog) keep the
    /// memory; later calls, and other processes, do nothing.
    pub fn remove_if_owner(&self) {
        if let (Some(owner), Some(path), Some(file)) = (self.owner_pid, &self.path, &self.hold) {
            if owner == std::process::id() {
                crate::os::files::remove_owned(path, file);
            }
        }
    }
}

/// Takes a shared lock on `file`, waiting while someone holds it
/// exclusively (making or replacing it). False where such locks are not
/// supported (the file is then never judged stale by its lock).
fn hold_shared(file: &File) -> bool {
    crate::os::files::lock_shared(file).is_ok()
}

/// Links the finished pool file `tmp` at `path`. Something already there
/// is replaced only if it is a workerlife pool file that we may trust and
/// that no live process holds (we then hold it exclusively, so no other
/// process can take it, or replace it too, meanwhile).
fn publish(tmp: &Path, path: &Path) -> Result<()> {
    let ctx = |what: &str| format!("{}: {what}", path.display());
    for _ in 0..64 {
        match std::fs::hard_link(tmp, path) {
            Ok(()) => {
                let _ = std::fs::remove_file(tmp);
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(ctx("creating the pool file"), e)),
        }
        let existing = match open_existing(path) {
            Ok(f) => f,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue
            }
            Err(e) => return Err(e),
        };
        let meta = existing.metadata().map_err(|e| Error::io(ctx("stat"), e))?;
        crate::os::files::check_trusted(path, &meta)?;
        if !crate::os::files::try_lock(&existing, true).unwrap_or(false) {
            return Err(Error::io(
                ctx("creating the pool file (a live process holds the one there)"),
                std::io::Error::from_raw_os_error(libc::EEXIST),
            ));
        }
        if !crate::os::files::same_file(&existing, path) {
            continue;
        }
        if !starts_with_magic(&existing) {
            return Err(Error::BadPoolFile {
                path: path.to_path_buf(),
                why: "a file that is not a workerlife pool is there; left as it is".into(),
            });
        }
        // Stale: replaced in one step; our exclusive hold on the old file
        // ends when `existing` closes.
        return std::fs::rename(tmp, path)
            .map_err(|e| Error::io(ctx("replacing a stale pool file"), e));
    }
    Err(Error::BadPoolFile {
        path: path.to_path_buf(),
        why: "replaced again and again while making it".into(),
    })
}

/// Whether `file` begins with a workerlife pool's magic: only such a file
/// (or an empty one) is ever made anew in place of what was there.
fn starts_with_magic(file: &File) -> bool {
    let mut magic = [0u8; 8];
    let read = std::os::unix::fs::FileExt::read_at(file, &mut magic, 0).unwrap_or(0);
    read == magic.len() && magic == MAGIC
}

fn map_file(file: &File, path: &Path) -> Result<MmapMut> {
    // SAFETY: every process touches the mapping only through atomics and
    // checked plain fields; a file changed under us can give wrong numbers
    // but not undefined reads within its length (checked by the caller).
    unsafe { MmapMut::map_mut(file) }
        .map_err(|e| Error::io(format!("{}: mapping", path.display()), e))
}

fn open_existing(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    options
        .open(path)
        .map_err(|e| Error::io(format!("{}: opening the pool file", path.display()), e))
}

/// Shared memory with no name: a memfd mapped shared, so that children
/// forked later see the same pages.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn shared_anonymous(size: usize) -> Result<MmapMut> {
    use std::os::fd::FromRawFd;
    // SAFETY: the name is a valid C string; the returned fd is owned below.
    let fd = unsafe { libc::memfd_create(c"workerlife".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io("memfd_create", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor we own.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(size as u64)
        .map_err(|e| Error::io("sizing shared pool memory", e))?;
    // SAFETY: the memfd is ours alone until fork.
    unsafe { MmapMut::map_mut(&file) }.map_err(|e| Error::io("mapping shared pool memory", e))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn shared_anonymous(_size: usize) -> Result<MmapMut> {
    Err(Error::NotSupported(
        "shared anonymous pools need Linux memfd",
    ))
}

/// The writer's version a header names, for an error: printable text, or
/// "an older workerlife" for a layout before 9 (whose bytes there were
/// other fields) or a writer field of anything else.
fn writer_name(raw: &[u8; layout::WRITER_BYTES]) -> String {
    let text = raw.split(|&b| b == 0).next().unwrap_or(&[]);
    let printable = !text.is_empty()
        && text
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    match std::str::from_utf8(text) {
        Ok(t) if printable => format!("workerlife {t}"),
        _ => "an older workerlife".to_string(),
    }
}
