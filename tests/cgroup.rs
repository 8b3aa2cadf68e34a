//! Reading a memory cgroup from fixture directories (CI may have only
//! cgroup v1, so v2 is read from files written here): every file of a
//! reading present, missing, empty, garbage or `max`.

use std::fs;
use std::path::{Path, PathBuf};
use workerlife::cgroup::{Cgroup, Version};

/// A fixture directory, removed when dropped.
struct Fixture(PathBuf);

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("wl-cgroup-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Fixture(dir)
    }
    fn write(&self, name: &str, text: &str) -> &Self {
        let path = self.0.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        self
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const V2_STAT: &str =
    "anon 104857600\nfile 52428800\nkernel 1000\ninactive_file 20971520\nactive_file 31457280\n";

fn v2(f: &Fixture) {
    f.write("memory.max", "419430400\n")
        .write("memory.current", "157286400\n")
        .write("memory.stat", V2_STAT)
        .write("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n")
        .write(
            "memory.pressure",
            "some avg10=1.25 avg60=0.50 avg300=0.10 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        );
}

#[test]
fn v2_reads_every_figure() {
    let f = Fixture::new("v2");
    v2(&f);
    let r = Cgroup::at(f.path(), Version::V2).read().unwrap();
    assert_eq!(r.limit, Some(400 << 20));
    assert_eq!(r.usage, 150 << 20);
    assert_eq!(
        r.working_set,
        (150 << 20) - (20 << 20),
        "usage minus inactive file"
    );
    assert_eq!(r.anon, Some(100 << 20));
    assert_eq!(r.file, Some(50 << 20));
    assert_eq!(r.oom_kills, Some(2));
    assert_eq!(r.pressure_some_avg10, Some(1.25));
}

#[test]
fn v2_max_is_no_limit_and_a_parent_limit_binds() {
    let f = Fixture::new("v2max");
    // The cgroup under a parent with a smaller limit, both under the mount.
    let child = f.path().join("pod/ctr");
    let fx = Fixture(child.clone());
    fs::create_dir_all(&child).unwrap();
    v2(&fx);
    fx.write("memory.max", "max\n");
    f.write("pod/memory.max", "268435456\n");
    let r = Cgroup::find(
        "0::/pod/ctr\n",
        &format!(
            "40 30 0:40 / {} rw - cgroup2 cgroup2 rw\n",
            f.path().display()
        ),
    )
    .unwrap()
    .read()
    .unwrap();
    assert_eq!(r.limit, Some(256 << 20), "the parent's limit binds");
    fs::write(f.path().join("pod/memory.max"), "max\n").unwrap();
    let r = Cgroup::at(&child, Version::V2).read().unwrap();
    assert_eq!(r.limit, None, "max everywhere: no limit");
    std::mem::forget(fx); // removed with its parent
}

#[test]
fn v2_files_it_can_do_without() {
    let f = Fixture::new("v2partial");
    f.write("memory.max", "1000000\n")
        .write("memory.current", "5000\n");
    let r = Cgroup::at(f.path(), Version::V2).read().unwrap();
    assert_eq!(
        (r.limit, r.usage, r.working_set),
        (Some(1_000_000), 5000, 5000)
    );
    assert_eq!(
        (r.anon, r.file, r.oom_kills, r.pressure_some_avg10),
        (None, None, None, None)
    );
    // Empty or garbage breakdowns leave their fields unknown too.
    f.write("memory.stat", "")
        .write("memory.events", "oom_kill x\n")
        .write("memory.pressure", "garbage");
    let r = Cgroup::at(f.path(), Version::V2).read().unwrap();
    assert_eq!(
        (r.anon, r.oom_kills, r.pressure_some_avg10),
        (None, None, None)
    );
}

#[test]
fn files_a_reading_needs_are_errors_naming_them() {
    for (file, text, says) in [
        ("memory.max", None, "memory.max"),
        ("memory.max", Some(""), "memory.max"),
        ("memory.max", Some("lots\n"), "not a number"),
        ("memory.current", None, "memory.current"),
        ("memory.current", Some("-5\n"), "not a number"),
        ("memory.max", Some("0\n"), "a memory limit of 0"),
    ] {
        let f = Fixture::new("v2bad");
        v2(&f);
        match text {
            Some(t) => {
                f.write(file, t);
            }
            None => fs::remove_file(f.path().join(file)).unwrap(),
        }
        let e = Cgroup::at(f.path(), Version::V2)
            .read()
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{file} {text:?}: {e}");
    }
}

#[test]
fn v1_reads_every_figure_and_its_huge_number_is_no_limit() {
    let f = Fixture::new("v1");
    f.write("memory.limit_in_bytes", "9223372036854771712\n")
        .write("memory.usage_in_bytes", "300000000\n")
        .write(
            "memory.stat",
            "cache 1\nrss 2\nhierarchical_memory_limit 500000000\ntotal_cache 100000000\ntotal_rss 150000000\ntotal_inactive_file 60000000\n",
        )
        .write("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n");
    let r = Cgroup::at(f.path(), Version::V1).read().unwrap();
    assert_eq!(r.limit, Some(500_000_000), "the hierarchy's limit binds");
    assert_eq!(r.working_set, 240_000_000);
    assert_eq!(
        (r.anon, r.file, r.oom_kills),
        (Some(150_000_000), Some(100_000_000), Some(4))
    );
    assert_eq!(r.pressure_some_avg10, None, "v1 has no pressure file");
    f.write(
        "memory.stat",
        "total_inactive_file 60000000\nhierarchical_memory_limit 9223372036854771712\n",
    );
    let r = Cgroup::at(f.path(), Version::V1).read().unwrap();
    assert_eq!(r.limit, None, "v1's huge number everywhere: no limit");
    f.write("memory.limit_in_bytes", "garbage");
    let e = Cgroup::at(f.path(), Version::V1)
        .read()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("memory.limit_in_bytes") && e.contains("garbage"),
        "{e}"
    );
}

#[test]
fn a_reader_sees_changes_and_recovers_from_a_failed_reading() {
    let f = Fixture::new("reader");
    v2(&f);
    let mut reader = Cgroup::at(f.path(), Version::V2).reader();
    assert_eq!(reader.read().unwrap().usage, 150 << 20);
    f.write("memory.current", "209715200\n");
    assert_eq!(
        reader.read().unwrap().usage,
        200 << 20,
        "read again, not cached"
    );
    fs::remove_file(f.path().join("memory.current")).unwrap();
    // The kept file still reads; a file replaced is reopened after an error.
    f.write("memory.max", "garbage\n");
    assert!(reader.read().is_err());
    v2(&f);
    assert_eq!(reader.read().unwrap().usage, 150 << 20);
}

#[test]
fn this_process_has_a_cgroup_or_a_clear_error() {
    match Cgroup::of_self() {
        Ok(c) => {
            let r = c.read();
            assert!(
                r.is_ok()
                    || r.unwrap_err()
                        .to_string()
                        .contains(c.dir().to_str().unwrap())
            );
        }
        Err(e) => assert!(e.to_string().contains("memory"), "{e}"),
    }
}
