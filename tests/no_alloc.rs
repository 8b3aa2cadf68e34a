//! The hot path (begin, end, heartbeat, health report, decision) allocates
//! nothing: counted with a global allocator wrapper.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use workerlife::{Health, Policy, Pool};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn the_hot_path_does_not_allocate() {
    let policy = Policy::parse(
        "max_requests=500,max_rss=1GiB,max_fds=1000,request_timeout=30s,heartbeat_timeout=1m",
    )
    .unwrap();
    let pool = Pool::shared(&policy, 2).unwrap();
    let w = pool.claim(std::process::id()).unwrap();
    let before = ALLOCS.load(Ordering::SeqCst);
    let mut exits = 0;
    for i in 0..1000u64 {
        w.begin();
        w.heartbeat();
        w.report_health(Health {
            rss: Some(i << 10),
            fds: Some(10),
            ..Health::default()
        });
        if w.end() {
            exits += 1;
        }
        let _ = w.decision();
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "allocations on the hot path");
    assert_eq!(exits, 501, "told to exit from the 500th request on");
}
