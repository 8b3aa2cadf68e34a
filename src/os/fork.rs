//! Fork safety. A process may call `fork()` while another of its threads
//! holds one of the library's locks; the child would then wait forever for a
//! thread it does not have. So every lock the library keeps across calls is
//! a [`ForkMutex`] (a [`StaticForkMutex`] for a `static`): at-fork
//! handlers (`pthread_atfork`) take them all just before `fork()`, and
//! release them right after, in the parent as they were, in the child after
//! letting each value drop what belonged to the parent (its open `/proc`
//! files, its event queue, its record of children, the pool files it is to
//! remove at exit).
//!
//! The rule that keeps the handlers from deadlocking: never make or drop a
//! `ForkMutex` while holding one, and never hold one across a call that can
//! block on something else (a lock of the host's, its interpreter lock).
//!
//! Spin locks (from the `spin` crate) rather than `std::sync::Mutex`, because
//! the handlers must release a lock they took in another function, which
//! std's guards cannot do; every section they guard is short. The files
//! read under one are small `/proc` and cgroup files, each one `read`: a
//! worker's `/proc/PID/stat` to tell whether it lives, the container's
//! cgroup files when a worker exits, and `/proc/self/mountinfo` the first
//! time the pool looks for its cgroup. The costly reading, a pool's sampling
//! of every worker's memory, is made without the lock (its workers taken
//! under it, the readings applied under it again).

use spin::mutex::{SpinMutex, SpinMutexGuard};
use spin::relax::Yield;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

type Lock<T> = SpinMutex<T, Yield>;

/// The guard of a [`ForkMutex`] or [`StaticForkMutex`].
pub type ForkGuard<'a, T> = SpinMutexGuard<'a, T, Yield>;

/// What a value guarded by a fork-safe lock does in a freshly forked child,
/// while the lock is still held by the at-fork handler.
pub trait AfterFork: Send {
    /// Drop whatever is the parent's and not the child's. Must not panic.
    fn after_fork_in_child(&mut self);
}

/// The handlers' view of one lock.
trait Hooks: Sync {
    fn hold(&self);
    /// # Safety
    /// Only from the at-fork handlers, which hold the lock.
    unsafe fn release(&self, in_child: bool);
}

impl<T: AfterFork> Hooks for Lock<T> {
    fn hold(&self) {
        std::mem::forget(self.lock());
    }
    unsafe fn release(&self, in_child: bool) {
        if in_child {
            // SAFETY: the handler holds the lock, and the child has one thread.
            let value = unsafe { &mut *self.as_mut_ptr() };
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                value.after_fork_in_child()
            }));
        }
        // SAFETY: taken by `hold` in the prepare handler.
        unsafe { self.force_unlock() };
    }
}

#[derive(Clone, Copy)]
struct Tracked(*const (dyn Hooks + 'static));
// SAFETY: the pointee is Sync; entries are removed before it is freed.
unsafe impl Send for Tracked {}

impl Tracked {
    fn is(&self, other: *const (dyn Hooks + 'static)) -> bool {
        std::ptr::addr_eq(self.0, other)
    }
}

/// Every live fork-safe lock, in the order they were made.
static TRACKED: Lock<Vec<Tracked>> = Lock::new(Vec::new());
static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        #[cfg(unix)]
        // SAFETY: registers three plain functions; they live forever.
        unsafe {
            libc::pthread_atfork(Some(prepare), Some(in_parent), Some(in_child));
        }
    });
}

fn track(lock: *const (dyn Hooks + 'static)) {
    install();
    TRACKED.lock().push(Tracked(lock));
}

fn untrack(lock: *const (dyn Hooks + 'static)) {
    TRACKED.lock().retain(|t| !t.is(lock));
}

fn tracked() -> &'static [Tracked] {
    // SAFETY: only called by the handlers while they hold TRACKED.
    unsafe { &*TRACKED.as_mut_ptr() }
}

extern "C" fn prepare() {
    std::mem::forget(TRACKED.lock());
    for t in tracked() {
        // SAFETY: tracked locks outlive their entry (see `untrack`).
        unsafe { (*t.0).hold() };
    }
}

fn release_all(in_child: bool) {
    for t in tracked().iter().rev() {
        // SAFETY: taken by `prepare`.
        unsafe { (*t.0).release(in_child) };
    }
    // SAFETY: taken by `prepare`.
    unsafe { TRACKED.force_unlock() };
}

extern "C" fn in_parent() {
    release_all(false);
}

extern "C" fn in_child() {
    release_all(true);
}

/// A mutex that `fork()` never leaves locked in the child (see the module).
pub struct ForkMutex<T: AfterFork + 'static> {
    lock: Box<Lock<T>>,
}

impl<T: AfterFork + 'static> ForkMutex<T> {
    pub fn new(value: T) -> Self {
        let lock = Box::new(Lock::new(value));
        track(&*lock as &(dyn Hooks + 'static));
        ForkMutex { lock }
    }

    pub fn lock(&self) -> ForkGuard<'_, T> {
        self.lock.lock()
    }
}

impl<T: AfterFork + 'static> Drop for ForkMutex<T> {
    fn drop(&mut self) {
        untrack(&*self.lock as &(dyn Hooks + 'static));
    }
}

/// A [`ForkMutex`] for a `static`: it joins the at-fork handlers on its
/// first use.
pub struct StaticForkMutex<T: AfterFork + 'static> {
    lock: Lock<T>,
    tracked: AtomicBool,
}

impl<T: AfterFork + 'static> StaticForkMutex<T> {
    pub const fn new(value: T) -> Self {
        StaticForkMutex {
            lock: Lock::new(value),
            tracked: AtomicBool::new(false),
        }
    }

    pub fn lock(&'static self) -> ForkGuard<'static, T> {
        if !self.tracked.load(Ordering::Acquire) {
            install();
            let mut all = TRACKED.lock();
            if !self.tracked.swap(true, Ordering::AcqRel) {
                all.push(Tracked(&self.lock as &(dyn Hooks + 'static)));
            }
        }
        self.lock.lock()
    }

    /// The lock if it is free now, without waiting.
    pub fn try_lock(&'static self) -> Option<ForkGuard<'static, T>> {
        self.lock.try_lock()
    }
}

/// A thread of the library's own (a watchdog, the stats endpoint), held by
/// a value a forked child copies too. The child does not have the thread:
/// it must neither signal nor join it, only let go of the handle.
pub(crate) struct OwnThread {
    thread: Option<std::thread::JoinHandle<()>>,
    owner: u32,
}

impl OwnThread {
    pub(crate) fn new(thread: std::thread::JoinHandle<()>) -> OwnThread {
        OwnThread {
            thread: Some(thread),
            owner: std::process::id(),
        }
    }

    /// The thread, in the process that started it (None in a forked child
    /// or once stopped or let go).
    pub(crate) fn here(&self) -> Option<&std::thread::JoinHandle<()>> {
        self.thread
            .as_ref()
            .filter(|_| self.owner == std::process::id())
    }

    /// Lets the thread run on for the life of the process.
    pub(crate) fn detach(&mut self) {
        drop(self.thread.take());
    }

    /// Tells the thread to stop (`tell`, in the process that started it)
    /// and waits for it; in a forked child only lets go. Idempotent.
    pub(crate) fn stop(&mut self, tell: impl FnOnce(&std::thread::JoinHandle<()>)) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        if self.owner != std::process::id() {
            // The thread is the parent's; nothing to join.
            std::mem::forget(thread);
            return;
        }
        tell(&thread);
        let _ = thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Parent(Vec<u32>);
    impl AfterFork for Parent {
        fn after_fork_in_child(&mut self) {
            self.0.clear();
        }
    }

    #[test]
    fn a_child_forked_while_another_thread_holds_the_lock_can_take_it() {
        let m = std::sync::Arc::new(ForkMutex::new(Parent(vec![1, 2, 3])));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let busy = {
            let (m, stop) = (m.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut g = m.lock();
                    g.0.push(4);
                    g.0.truncate(3);
                }
            })
        };
        for _ in 0..50 {
            // SAFETY: the child only locks, checks and exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let ok = m.lock().0.is_empty();
                unsafe { libc::_exit(if ok { 0 } else { 3 }) };
            }
            let mut status = 0;
            // SAFETY: waiting for the child just forked.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
            assert_eq!(m.lock().0, vec![1, 2, 3], "the parent keeps its value");
        }
        stop.store(true, Ordering::Relaxed);
        busy.join().unwrap();
    }
}
