//! Identity-checked signals against real processes.

use std::process::Command;
use workerlife::process::{self, Liveness, SignalRefused};

#[test]
fn a_signal_with_the_wrong_start_time_is_refused_and_the_process_lives_on() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    let identity = process::identity(pid);
    assert_ne!(identity, 0, "start time read from /proc");
    let refused = process::signal(pid, identity + 1, libc::SIGKILL).unwrap_err();
    assert_eq!(
        refused,
        SignalRefused::IdentityMismatch {
            expected: identity + 1,
            found: identity
        }
    );
    assert!(refused.to_string().contains("pid reused"));
    assert_eq!(process::liveness(pid, identity), Liveness::Alive);
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running after the refused signal"
    );

    process::signal(pid, identity, libc::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    assert_eq!(
        process::signal(pid, identity, libc::SIGTERM),
        Err(SignalRefused::Gone)
    );
    assert_eq!(process::liveness(pid, identity), Liveness::Gone);
}

#[test]
fn an_unknown_identity_never_authorises_a_signal() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    assert_eq!(
        process::signal(pid, 0, libc::SIGKILL),
        Err(SignalRefused::UnknownIdentity)
    );
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(child.try_wait().unwrap().is_none(), "nothing was sent");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_zombie_is_gone_and_is_not_signalled() {
    let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
    let pid = child.id();
    let identity = process::identity(pid);
    assert_ne!(identity, 0);
    // Let it exit without reaping it: it stays a zombie.
    for _ in 0..400 {
        if process::liveness(pid, identity) == Liveness::Gone {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(process::liveness(pid, identity), Liveness::Gone);
    assert_eq!(process::identity(pid), 0, "a zombie has no identity");
    assert_eq!(
        process::signal(pid, identity, libc::SIGTERM),
        Err(SignalRefused::Gone)
    );
    child.wait().unwrap();
    assert_eq!(
        process::signal(0, 0, libc::SIGTERM),
        Err(SignalRefused::Gone)
    );
    assert_eq!(
        process::signal(u32::MAX, 0, libc::SIGTERM),
        Err(SignalRefused::Gone)
    );
}
