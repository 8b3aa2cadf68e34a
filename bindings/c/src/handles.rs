//! Generation-checked handles. A handle is not a pointer to the object: it
//! encodes a registry index, a generation and a type tag (XORed with a mask
//! so that it is never NULL and never a usable address). Every call looks the
//! handle up and compares the generation, so a freed, double-freed, foreign
//! or wrongly typed handle is refused with `WL_INVALID_HANDLE` instead of
//! touching freed memory. Registry entries are never deallocated, only
//! reused with the next generation, so even a stale lookup reads valid
//! memory. (Freeing a handle while another thread is inside a call on the
//! same handle is a data race, as with `free()`; that is the caller's to
//! avoid.)
//!
//! Hand-written rather than a slab crate: the lookup must be lock-free and a
//! few loads long (it sits on the begin/end hot path), and entries must
//! outlive their objects, which general-purpose slabs do not promise.

use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicPtr, AtomicU32};
use workerlife::fork::{AfterFork, ForkGuard, StaticForkMutex};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("the C ABI's handles are encoded in 64-bit pointers");

const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;
/// 4096 chunks of 1024: up to 4M live handles of each type.
const CHUNKS: usize = 4096;
/// Keeps handle values away from NULL and from real addresses.
const MASK: u64 = 0xA5C3_0000_0000_0000;

struct Entry<T> {
    /// Odd while the entry holds a live object.
    generation: AtomicU32,
    value: UnsafeCell<Option<T>>,
}

struct FreeList {
    free: Vec<u32>,
    next: u32,
}

/// The child keeps every handle its parent had: they are its own copies.
impl AfterFork for FreeList {
    fn after_fork_in_child(&mut self) {}
}

/// The objects of one handle type.
pub(crate) struct Registry<T> {
    tag: u8,
    chunks: [AtomicPtr<Entry<T>>; CHUNKS],
    /// Fork-safe: a child forked while another thread makes or frees a
    /// handle must still be able to make its own.
    list: StaticForkMutex<FreeList>,
}

// SAFETY: values are only reached through `get` (shared, for T: Sync) and
// moved in and out under the list lock while no live handle names them.
unsafe impl<T: Send + Sync> Sync for Registry<T> {}

impl<T> Registry<T> {
    pub const fn new(tag: u8) -> Self {
        Registry {
            tag,
            chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
            list: StaticForkMutex::new(FreeList {
                free: Vec::new(),
                next: 0,
            }),
        }
    }

    fn lock(&'static self) -> ForkGuard<'static, FreeList> {
        self.list.lock()
    }

    fn encode(&self, index: u32, generation: u32) -> u64 {
        ((u64::from(generation) << 32) | (u64::from(index) << 8) | u64::from(self.tag)) ^ MASK
    }

    /// The index and generation a handle names, if it is of this type.
    #[inline(always)]
    fn decode(&self, handle: u64) -> Option<(usize, u32)> {
        let raw = handle ^ MASK;
        if raw as u8 != self.tag || (raw >> 32) as u32 & 1 == 0 {
            return None;
        }
        Some((((raw >> 8) & 0xFF_FFFF) as usize, (raw >> 32) as u32))
    }

    #[inline(always)]
    fn entry(&self, index: usize) -> Option<&Entry<T>> {
        let chunk = self.chunks.get(index >> CHUNK_BITS)?.load(Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: a published chunk holds CHUNK entries and is never freed.
        Some(unsafe { &*chunk.add(index & (CHUNK - 1)) })
    }

    /// Stores `value` and returns its handle, or `None` when the registry
    /// is full.
    pub fn insert(&'static self, value: T) -> Option<u64> {
        let mut list = self.lock();
        let index = match list.free.pop() {
            Some(i) => i,
            None => {
                let i = list.next;
                if i as usize >= CHUNKS * CHUNK {
                    return None;
                }
                let slot = &self.chunks[i as usize >> CHUNK_BITS];
                if slot.load(Acquire).is_null() {
                    let entries: Box<[Entry<T>]> = (0..CHUNK)
                        .map(|_| Entry {
                            generation: AtomicU32::new(0),
                            value: UnsafeCell::new(None),
                        })
                        .collect();
                    slot.store(Box::into_raw(entries).cast::<Entry<T>>(), Release);
                }
                list.next = i + 1;
                i
            }
        };
        let entry = self.entry(index as usize).expect("allocated above");
        // SAFETY: the entry is free (even generation): no handle reaches its
        // value, and the list lock keeps other inserts and frees out.
        unsafe { *entry.value.get() = Some(value) };
        let generation = entry.generation.load(Relaxed).wrapping_add(1);
        entry.generation.store(generation, Release);
        Some(self.encode(index, generation))
    }

    /// How many handles of this type are live.
    pub fn live(&'static self) -> u64 {
        let list = self.lock();
        u64::from(list.next) - list.free.len() as u64
    }

    /// The object a handle names, if the handle is live and of this type.
    #[inline(always)]
    pub fn get(&self, handle: u64) -> Option<&T>
    where
        T: Sync,
    {
        let (index, generation) = self.decode(handle)?;
        let entry = self.entry(index)?;
        if entry.generation.load(Acquire) != generation {
            return None;
        }
        // SAFETY: the generation matched, so the value is live; it is only
        // taken out by `remove` after the generation has moved on.
        unsafe { (*entry.value.get()).as_ref() }
    }

    /// Takes the object out; the handle and every copy of it become invalid.
    pub fn remove(&'static self, handle: u64) -> Option<T> {
        let (index, generation) = self.decode(handle)?;
        let mut list = self.lock();
        let entry = self.entry(index)?;
        entry
            .generation
            .compare_exchange(generation, generation.wrapping_add(1), AcqRel, Acquire)
            .ok()?;
        list.free.push(index as u32);
        // SAFETY: the generation is now even: no new lookup reaches the value.
        // It is dropped by the caller, outside the lock.
        unsafe { (*entry.value.get()).take() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_foreign_and_mistyped_handles_are_refused() {
        static A: Registry<String> = Registry::new(1);
        static B: Registry<String> = Registry::new(2);
        let h = A.insert("one".into()).unwrap();
        assert_ne!(h, 0);
        assert_eq!(A.get(h).map(String::as_str), Some("one"));
        assert!(B.get(h).is_none(), "a handle of another type");
        assert_eq!(A.remove(h).as_deref(), Some("one"));
        assert!(A.get(h).is_none(), "freed");
        assert!(A.remove(h).is_none(), "double free");
        let h2 = A.insert("two".into()).unwrap();
        assert_ne!(h, h2, "the reused entry has a new generation");
        assert!(A.get(h).is_none());
        assert_eq!(A.get(h2).map(String::as_str), Some("two"));
        for foreign in [
            0u64,
            1,
            0x7fff_dead_beef,
            u64::MAX,
            h2 ^ (1 << 40),
            h2 + 256,
        ] {
            assert!(A.get(foreign).is_none(), "{foreign:#x}");
        }
    }
}
