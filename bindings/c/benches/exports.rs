//! The cost of the C layer on the hot path: begin + end through the exports
//! (handle lookup, generation check, panic boundary, result code) against
//! the Rust API and a pair of bare atomic adds, measured in the same run.
//! Prints ratios; asserts nothing about time.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use workerlife::{Policy, Pool};
use workerlife_c::{policy, pool, worker};

#[path = "../../../benches/timing.rs"]
mod timing;
use timing::best_ns;

const SPEC: &std::ffi::CStr = c"max_requests=1000000000000,max_rss=1GiB,request_timeout=30s";

fn main() {
    let iters = 20_000_000;
    let (a, b) = (AtomicU64::new(0), AtomicU64::new(0));
    let baseline = best_ns(7, iters, |n| {
        for _ in 0..n {
            black_box(&a).fetch_add(1, Ordering::AcqRel);
            black_box(&b).fetch_add(1, Ordering::AcqRel);
        }
    });
    let rust = {
        let pool = Pool::shared(&Policy::parse(SPEC.to_str().unwrap()).unwrap(), 4).unwrap();
        let w = pool.claim(std::process::id()).unwrap();
        best_ns(7, iters, |n| {
            for _ in 0..n {
                w.begin();
                black_box(w.end());
            }
        })
    };
    // SAFETY: every pointer is a live out-pointer or a handle made here.
    let exports = unsafe {
        let (mut pol, mut p, mut w) = (
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        policy::wl_policy_parse(SPEC.as_ptr(), &mut pol);
        pool::wl_pool_new_shared(pol, 4, &mut p);
        pool::wl_pool_claim(p, std::process::id(), &mut w);
        let ns = best_ns(7, iters, |n| {
            for _ in 0..n {
                let mut leave = false;
                worker::wl_worker_begin(black_box(w));
                worker::wl_worker_end(black_box(w), &mut leave);
                black_box(leave);
            }
        });
        // Tickets, as a threaded or event-loop host calls them.
        let tickets = best_ns(7, iters, |n| {
            for _ in 0..n {
                let mut ticket = 0;
                let mut leave = false;
                worker::wl_worker_begin_ticket(black_box(w), &mut ticket);
                worker::wl_worker_end_ticket(black_box(w), ticket, &mut leave);
                black_box(leave);
            }
        });
        worker::wl_worker_free(w);
        pool::wl_pool_free(p);
        policy::wl_policy_free(pol);
        (ns, tickets)
    };
    let (exports, tickets) = exports;
    println!("C exports from Rust                     ns/op    ratio");
    println!("2x AtomicU64::fetch_add (baseline)   {baseline:8.2}     1.00");
    println!(
        "begin + end (Rust API)               {rust:8.2}  {:7.2}x",
        rust / baseline
    );
    println!(
        "begin + end via the C ABI exports    {exports:8.2}  {:7.2}x   goal <= 4x; handle check + boundary: {:+.2} ns",
        exports / baseline,
        exports - rust
    );
    println!(
        "begin_ticket + end_ticket via C       {tickets:8.2}  {:7.2}x   goal <= 4x (request_timeout on: two clock reads)",
        tickets / baseline
    );
}
