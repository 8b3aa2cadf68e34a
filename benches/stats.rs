//! The stats of a pool of a million slots (2^20, one worker): its JSON
//! (`stats_json`) and its Prometheus text, against the baseline of the
//! snapshot they are made from (`stats`), measured in the same run. Prints
//! ratios; asserts nothing about time.

use std::hint::black_box;
use workerlife::{Policy, Pool};

mod timing;
use timing::best_ns;

fn main() {
    let slots = 1 << 20;
    let path = std::env::temp_dir().join(format!("wl-stats-bench-{}", std::process::id()));
    let pool = Pool::create(&path, &Policy::parse("max_rss=1GiB").unwrap(), slots).unwrap();
    let w = pool.claim(std::process::id()).unwrap();
    w.begin();
    w.end();
    let ms = |f: &dyn Fn()| best_ns(3, 1, |_| f()) / 1e6;
    let snapshot = ms(&|| {
        black_box(pool.stats());
    });
    let json = ms(&|| {
        black_box(pool.stats_json());
    });
    let prometheus = ms(&|| {
        black_box(pool.prometheus());
    });
    // One round under BENCH_QUICK=1, as best_ns runs it.
    let rounds = if std::env::var_os("BENCH_QUICK").is_some_and(|v| v == "1") {
        1
    } else {
        3
    };
    println!("stats of a pool of {slots} slots (best of {rounds} rounds):");
    println!("  stats()        {snapshot:8.0} ms");
    println!("  stats_json()   {json:8.0} ms   {:.1}x", json / snapshot);
    println!(
        "  prometheus()   {prometheus:8.0} ms   {:.1}x",
        prometheus / snapshot
    );
    // Dropping the pool that made the file removes it.
    drop(w);
    drop(pool);
}
