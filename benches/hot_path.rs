//! Hot-path and tick benchmarks. They print ratios against baselines measured
//! in the same run; they assert nothing about time.
//!
//! A hand-rolled harness rather than criterion: what we need is a ratio of
//! two measurements printed side by side, which criterion does not report.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use workerlife::{Policy, Pool, SLOT_BYTES};

mod timing;
use timing::best_ns;

fn main() {
    let iters = 20_000_000;
    let a = AtomicU64::new(0);
    let b = AtomicU64::new(0);
    let baseline = best_ns(7, iters, |n| {
        for _ in 0..n {
            black_box(&a).fetch_add(1, Ordering::AcqRel);
            black_box(&b).fetch_add(1, Ordering::AcqRel);
        }
    });

    // Best ns of one begin + end pair in a worker of a pool with `spec`.
    let begin_end_ns = |spec: &str| {
        let pool = Pool::shared(&Policy::parse(spec).unwrap(), 4).unwrap();
        let w = pool.claim(std::process::id()).unwrap();
        best_ns(7, iters, |n| {
            for _ in 0..n {
                w.begin();
                black_box(w.end());
            }
        })
    };
    let begin_end = begin_end_ns("max_requests=1000000000000,max_rss=1GiB,request_timeout=30s");
    // The same with the worker's watchdog thread looking at the slot every
    // 10 ms (its shortest interval), as hosts without a master run it.
    let watched = {
        let pool = Pool::shared(
            &Policy::parse("max_requests=1000000000000,max_rss=1GiB,request_timeout=30s").unwrap(),
            4,
        )
        .unwrap();
        let w = pool.claim(std::process::id()).unwrap();
        let options = workerlife::WatchdogOptions {
            interval: Some(std::time::Duration::from_millis(10)),
            ..Default::default()
        };
        let _dog = w.watchdog(options).unwrap();
        best_ns(7, iters, |n| {
            for _ in 0..n {
                w.begin();
                black_box(w.end());
            }
        })
    };
    // Without a rule that times activity (request_timeout,
    // heartbeat_timeout, max_idle) begin and end read no clock.
    let untimed = begin_end_ns("max_requests=1000000000000,max_rss=1GiB");
    // memory_forecast adds one flag test to end() (the estimate is made at
    // sampling, not per request).
    let forecast = begin_end_ns("max_requests=1000000000000,max_rss=1GiB,memory_forecast=1m");
    // Tickets: what a threaded or event-loop host calls per request.
    let tickets_ns = |spec: &str| {
        let pool = Pool::shared(&Policy::parse(spec).unwrap(), 4).unwrap();
        let w = pool.claim(std::process::id()).unwrap();
        best_ns(7, iters, |n| {
            for _ in 0..n {
                let t = w.begin_ticket().unwrap();
                black_box(w.end_ticket(t).unwrap());
            }
        })
    };
    let tickets = tickets_ns("max_requests=1000000000000,max_rss=1GiB,request_timeout=30s");
    let tickets_untimed = tickets_ns("max_requests=1000000000000,max_rss=1GiB");
    // Four threads beginning and ending on one slot (Puma's and gthread's
    // shape): wall time per pair, all threads' pairs counted, beside the
    // same four threads on two fetch_adds of shared atomics.
    let threads = 4;
    let threaded_baseline = best_ns(5, iters / 4, |n| {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..n / threads {
                        black_box(&a).fetch_add(1, Ordering::AcqRel);
                        black_box(&b).fetch_add(1, Ordering::AcqRel);
                    }
                });
            }
        })
    });
    let threaded = {
        let pool = Pool::shared(
            &Policy::parse("max_requests=1000000000000,max_rss=1GiB,request_timeout=30s").unwrap(),
            4,
        )
        .unwrap();
        let w = pool.claim(std::process::id()).unwrap();
        best_ns(5, iters / 4, |n| {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        for _ in 0..n / threads {
                            let t = w.begin_ticket().unwrap();
                            black_box(w.end_ticket(t).unwrap());
                        }
                    });
                }
            })
        })
    };
    let coarse = best_ns(5, iters, |n| {
        for _ in 0..n {
            black_box(workerlife::clock_ns_coarse());
        }
    });
    let precise = best_ns(5, iters, |n| {
        for _ in 0..n {
            black_box(workerlife::clock_ns_precise());
        }
    });

    println!("bench                                   ns/op    ratio");
    println!("2x AtomicU64::fetch_add (baseline)   {baseline:8.2}     1.00");
    println!(
        "begin + end (Rust API)               {begin_end:8.2}  {:7.2}x   goal <= 4x (with request_timeout: two clock reads)",
        begin_end / baseline
    );
    println!(
        "begin + end, watchdog running        {watched:8.2}  {:7.2}x   {:+.1} % against begin + end without it",
        watched / baseline,
        100.0 * (watched - begin_end) / begin_end
    );
    println!(
        "begin + end, no timed rule           {untimed:8.2}  {:7.2}x   goal <= 3x (max_requests, max_rss: no clock read)",
        untimed / baseline
    );
    println!(
        "begin + end, memory_forecast on      {forecast:8.2}  {:7.2}x   {:+.1} % against the line above",
        forecast / baseline,
        100.0 * (forecast - untimed) / untimed
    );
    println!(
        "begin_ticket + end_ticket            {tickets:8.2}  {:7.2}x   goal <= 4x (with request_timeout: two clock reads)",
        tickets / baseline
    );
    println!(
        "begin_ticket + end_ticket, untimed   {tickets_untimed:8.2}  {:7.2}x   goal <= 3x (no timed rule)",
        tickets_untimed / baseline
    );
    println!(
        "{threads} threads: 2x fetch_add, shared    {threaded_baseline:8.2}     1.00   (wall ns per pair, all threads)"
    );
    println!(
        "{threads} threads: tickets on one slot     {threaded:8.2}  {:7.2}x   against the line above; single-threaded: {:.2}x",
        threaded / threaded_baseline,
        tickets / baseline
    );
    println!("clock read, CLOCK_MONOTONIC_COARSE   {coarse:8.2}");
    println!(
        "clock read, CLOCK_MONOTONIC          {precise:8.2}  {:7.2}x the coarse clock",
        precise / coarse
    );

    let slots = 10_000u32;
    let pool = Pool::builder(
        &Policy::parse("max_requests=1000000,max_rss=1GiB,max_idle=1h,sample_interval=0").unwrap(),
    )
    .slots(slots)
    .build()
    .unwrap();
    for s in 0..slots {
        pool.spawned(s, 1_000_000 + s).unwrap();
    }
    let mut out = Vec::with_capacity(64);
    let tick = best_ns(7, 200, |n| {
        for _ in 0..n {
            out.clear();
            pool.tick_into(&mut out);
        }
    }) / f64::from(slots);
    println!("tick() over {slots} slots, per slot      {tick:8.2}              goal <= 20 ns (every shared value checked)");
    println!(
        "bytes per slot                       {SLOT_BYTES:8}              goal <= 128 (384: the growth fit, sustain runs and 16 ticket cells; see docs/benchmarks.md)"
    );
}
