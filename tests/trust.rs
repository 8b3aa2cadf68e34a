//! The trust rules, with real processes: a worker (even one that dropped to
//! another user) cannot make the master signal a process it did not start;
//! an unknown identity never authorises a signal; a reused pid does not
//! inherit a slot; files another user could write are refused; forked
//! children never hang on a lock a parent thread held.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;
use support::{fork_child, temp_path, wait, Bystander};
use workerlife::process::{self, Ledger};
use workerlife::{ActionKind, Error, EventKind, Policy, Pool, SLOT_BYTES};

const NOBODY: u32 = 65534;

fn manual(spec: &str, slots: u32) -> Pool {
    Pool::builder(&Policy::parse(spec).unwrap())
        .slots(slots)
        .manual_clock(true)
        .shared()
        .build()
        .unwrap()
}

fn refused(pool: &Pool) -> Vec<u32> {
    pool.events()
        .into_iter()
        .filter(|e| e.kind == EventKind::Refused)
        .map(|e| e.pid)
        .collect()
}

/// A child that drops to `nobody`, then, as a hostile app would from inside
/// a request, claims a slot for `victim` and asks for its recycle or lets
/// its request time out.
fn hostile_worker(pool: &Pool, victim: u32, hang: bool) -> u32 {
    fork_child(|| {
        // SAFETY: plain syscalls in the child.
        unsafe {
            if libc::setgid(NOBODY) != 0 || libc::setuid(NOBODY) != 0 {
                return 90;
            }
        }
        let w = pool.claim(victim).unwrap();
        if hang {
            w.begin();
        } else {
            pool.recycle(w.index()).unwrap();
        }
        0
    })
}

#[test]
fn a_worker_cannot_aim_the_masters_signals() {
    let mut victim = Bystander::start();
    let pool = manual("request_timeout=1s", 4);
    for hang in [false, true] {
        let pid = hostile_worker(&pool, victim.pid(), hang);
        assert_eq!(wait(pid), 0, "the hostile worker ran");
        pool.advance(Duration::from_secs(2)).unwrap();
        let actions = pool.tick();
        assert!(
            actions.iter().all(|a| a.kind == ActionKind::Spawn),
            "nothing to signal for a process the master never started: {actions:?}"
        );
        assert_eq!(
            refused(&pool),
            vec![victim.pid()],
            "refused once, and said so"
        );
        assert!(victim.alive());
    }
}

#[test]
fn a_slot_written_by_hand_names_only_the_masters_own_child() {
    let mut victim = Bystander::start();
    let mut worker = Bystander::start();
    let path = temp_path("hand-written.pool");
    let _ = std::fs::remove_file(&path);
    let pool = Pool::builder(&Policy::parse("").unwrap())
        .slots(2)
        .manual_clock(true)
        .named(&path)
        .build()
        .unwrap();
    pool.spawned(0, worker.pid()).unwrap();
    // Rewrite slot 0's pid and identity (offsets 8 and 48) to the victim's.
    let mut bytes = std::fs::read(&path).unwrap();
    let slot0 = bytes.len() - 2 * SLOT_BYTES;
    bytes[slot0 + 8..slot0 + 12].copy_from_slice(&victim.pid().to_ne_bytes());
    let victim_identity = process::identity(victim.pid());
    bytes[slot0 + 48..slot0 + 56].copy_from_slice(&victim_identity.to_ne_bytes());
    std::fs::write(&path, &bytes).unwrap();
    pool.recycle(0).unwrap();
    let actions = pool.tick();
    // The master puts back its own live child's pid: the recycle names that
    // child, with the identity the master read; never the victim.
    assert!(
        actions
            .iter()
            .all(|a| a.kind == ActionKind::Spawn || a.pid == worker.pid()),
        "{actions:?}"
    );
    assert!(actions
        .iter()
        .any(|a| a.kind == ActionKind::Recycle && a.pid == worker.pid()));
    assert!(refused(&pool).is_empty());
    assert_eq!(pool.stats().per_slot[0].pid, worker.pid());
    assert!(victim.alive() && worker.alive());
}

#[test]
fn actions_name_the_child_with_the_identity_the_master_read() {
    let mut child = Bystander::start();
    let pool = manual("max_requests=1", 2);
    pool.adopt(child.pid()).unwrap();
    pool.adopt(child.pid()).unwrap(); // again: nothing changes
                                      // The worker claims by its pid and lies about nothing.
    let w = pool.claim(child.pid()).unwrap();
    w.begin();
    w.end();
    let recycle: Vec<_> = pool
        .tick()
        .into_iter()
        .filter(|a| a.kind == ActionKind::Recycle)
        .collect();
    assert_eq!(recycle.len(), 1, "{recycle:?}");
    assert_eq!(recycle[0].pid, child.pid());
    assert_eq!(recycle[0].identity, process::identity(child.pid()));
    process::signal(recycle[0].pid, recycle[0].identity, libc::SIGTERM).unwrap();
    let status = child.0.wait().unwrap();
    assert!(!status.success());
}

#[test]
fn adopt_takes_only_live_children_of_the_caller() {
    let pool = manual("", 1);
    match pool.adopt(1) {
        Err(Error::NotAChild { pid: 1, parent: 0 }) => {}
        other => panic!("pid 1 is nobody's child: {other:?}"),
    }
    let parent = std::os::unix::process::parent_id();
    assert!(matches!(pool.adopt(parent), Err(Error::NotAChild { .. })));
    assert!(matches!(pool.adopt(0), Err(Error::NoSuchProcess(0))));
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    assert!(matches!(pool.adopt(pid), Err(Error::NoSuchProcess(_))));
}

#[test]
fn a_spawned_process_already_gone_is_never_signalled() {
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let pool = manual("max_requests=1", 1);
    pool.spawned(0, pid).unwrap();
    pool.worker(0).unwrap().begin();
    pool.worker(0).unwrap().end();
    let a = pool
        .tick()
        .into_iter()
        .find(|a| a.kind == ActionKind::Recycle)
        .expect("the decision is still made");
    assert_eq!(a.identity, 0, "the master could not read who it is");
    assert_eq!(
        process::signal(a.pid, a.identity, libc::SIGTERM),
        Err(process::SignalRefused::UnknownIdentity)
    );
}

#[test]
fn a_reused_pid_does_not_inherit_a_slot() {
    let child = Bystander::start();
    let path = temp_path("reuse.pool");
    let _ = std::fs::remove_file(&path);
    let pool = Pool::builder(&Policy::parse("max_requests=3").unwrap())
        .slots(2)
        .named(&path)
        .build()
        .unwrap();
    let w = pool.claim(child.pid()).unwrap();
    w.begin();
    w.end();
    w.begin();
    w.end();
    let before = pool.stats().per_slot[w.index() as usize].generation;
    // The same pid, but the slot says it started at another time: as if the
    // worker died and its pid went to a new process.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 2 * SLOT_BYTES + w.index() as usize * SLOT_BYTES + 48;
    bytes[at..at + 8].copy_from_slice(&12345u64.to_ne_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let again = pool.claim(child.pid()).unwrap();
    assert_eq!(again.requests(), 0, "no requests of the old process");
    let st = pool.stats();
    assert_ne!(st.per_slot[again.index() as usize].generation, before);
    again.begin();
    again.end();
    assert!(
        !again.decision().must_exit(),
        "its own limit, not the old one's"
    );
    drop(child);
}

#[test]
fn files_another_user_could_write_are_refused() {
    let path = temp_path("foreign.ledger");
    let _ = std::fs::remove_file(&path);
    let ledger = Ledger::open(&path).unwrap();
    let mut child = Bystander::start();
    ledger.record(child.pid()).unwrap();
    // Owned by nobody, mode 0644: root must not take orders from it.
    std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
    let e = Ledger::open(&path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::UnsafeFile { .. }), "{e:?}");
    assert!(msg.contains("uid 65534") && msg.contains("0600"), "{msg}");
    assert!(ledger.reap(Duration::ZERO).is_err());
    assert!(child.alive());
    // Ours, but writable by others.
    std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let msg = Ledger::open(&path).unwrap_err().to_string();
    assert!(msg.contains("0666") && msg.contains("others"), "{msg}");
    std::fs::remove_file(&path).unwrap();

    // A pool file: the same rules at attach.
    let pool_path = temp_path("foreign.pool");
    let _ = std::fs::remove_file(&pool_path);
    let pool = Pool::create(&pool_path, &Policy::new(), 1).unwrap();
    Pool::attach(&pool_path).unwrap();
    std::os::unix::fs::chown(&pool_path, Some(NOBODY), None).unwrap();
    let e = Pool::attach(&pool_path).unwrap_err();
    assert!(e.to_string().contains("owned by uid 65534"), "{e}");
    std::os::unix::fs::chown(&pool_path, Some(0), None).unwrap();
    std::fs::set_permissions(&pool_path, std::fs::Permissions::from_mode(0o620)).unwrap();
    assert!(matches!(
        Pool::attach(&pool_path),
        Err(Error::UnsafeFile { .. })
    ));
    drop(pool);
}

#[test]
fn rewrites_never_use_a_file_someone_planted() {
    let path = temp_path("planted.ledger");
    let _ = std::fs::remove_file(&path);
    let ledger = Ledger::open(&path).unwrap();
    let me = std::process::id();
    ledger.record(me).unwrap();
    // The temporary name the old code used, planted by another user.
    let planted = std::path::PathBuf::from(format!("{}.tmp.{me}", path.display()));
    std::fs::write(&planted, b"theirs").unwrap();
    std::os::unix::fs::chown(&planted, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    ledger.forget(me).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600));
    assert_eq!(std::fs::read(&planted).unwrap(), b"theirs");
    assert!(ledger.entries().unwrap().is_empty());
    assert!(matches!(
        ledger.record_with(me, 0),
        Err(Error::InvalidArgument(_))
    ));
    std::fs::remove_file(&planted).unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn forked_children_never_hang_on_a_busy_parent_thread() {
    let pool = std::sync::Arc::new(manual("max_requests=2,sample_interval=1ms", 8));
    pool.spawned(0, std::process::id()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let (pool, stop) = (pool.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                pool.tick();
                pool.events();
                pool.sample();
                pool.reap_dead();
            }
        })
    };
    let mut hung = 0;
    for _ in 0..100 {
        let pool = &pool;
        let pid = fork_child(move || {
            // SAFETY: a hang ends the child with SIGALRM.
            unsafe { libc::alarm(10) };
            let w = pool.claim(std::process::id()).unwrap();
            w.begin();
            w.end();
            pool.tick();
            pool.events();
            pool.reap_dead();
            let _ = pool.exited(1, 0);
            let _ = Policy::parse("max_requests=3").unwrap();
            w.exiting();
            0
        });
        if wait(pid) != 0 {
            hung += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().unwrap();
    assert_eq!(hung, 0, "children that hung or failed");
}
