//! The stats endpoint (`MetricsServer`), as a scraper and a hostile client
//! meet it: real sockets on 127.0.0.1, a real fork.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};
use workerlife::{MetricsServer, Policy, Pool};

fn pool() -> Pool {
    let pool = Pool::builder(&Policy::parse("max_requests=2").unwrap())
        .slots(2)
        .build()
        .unwrap();
    pool.spawned(0, std::process::id()).unwrap();
    let w = pool.worker(0).unwrap();
    for _ in 0..2 {
        w.begin();
        w.end();
    }
    pool
}

/// Sends `request` as it stands and reads the whole answer.
fn ask(server: &MetricsServer, request: &[u8]) -> String {
    let mut s = TcpStream::connect(server.address()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn get(server: &MetricsServer, path: &str) -> String {
    ask(
        server,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").unwrap().1
}

#[test]
fn serves_prometheus_text_and_the_stats_json() {
    let pool = pool();
    let server = MetricsServer::start(&pool, "127.0.0.1:0").unwrap();
    assert_ne!(server.address().port(), 0, "the port picked is reported");
    for path in ["/metrics", "/", "/metrics?x=1"] {
        let a = get(&server, path);
        assert!(a.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {a}");
        assert!(a.contains("Content-Type: text/plain; version=0.0.4"), "{a}");
        assert_eq!(body(&a), pool.prometheus(), "{path}: the pool's own text");
        assert!(body(&a).contains("workerlife_recycles_total{reason=\"max_requests\"} 1"));
    }
    let a = get(&server, "/stats");
    let json: serde_json::Value = serde_json::from_str(body(&a)).unwrap();
    assert_eq!(json["slots"], 2, "{a}");
    let head = ask(&server, b"HEAD /metrics HTTP/1.0\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && body(&head).is_empty(),
        "{head}"
    );
}

#[test]
fn answers_what_it_does_not_serve_with_an_error_and_goes_on() {
    let pool = pool();
    let server = MetricsServer::start(&pool, "127.0.0.1:0").unwrap();
    assert!(get(&server, "/nope").starts_with("HTTP/1.1 404 "));
    let post = ask(
        &server,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert!(
        post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD"),
        "{post}"
    );
    for garbage in [
        &b"\x00\xff\xfe\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET / SPDY/3\r\n\r\n",
    ] {
        assert!(
            ask(&server, garbage).starts_with("HTTP/1.1 400 "),
            "{garbage:?}"
        );
    }
    let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    huge.resize(64 << 10, b'a');
    let mut s = TcpStream::connect(server.address()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(&huge); // the server may close before reading it all
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(
        out.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // A client that connects and says nothing is cut off; the next is served.
    let silent = TcpStream::connect(server.address()).unwrap();
    let half = TcpStream::connect(server.address()).unwrap();
    (&half).write_all(b"GET /metr").unwrap();
    half.shutdown(Shutdown::Write).unwrap();
    assert!(get(&server, "/metrics").starts_with("HTTP/1.1 200 OK"));
    drop(silent);
}

#[test]
fn bad_addresses_are_refused_naming_them() {
    let pool = pool();
    for bad in [
        "",
        "9100",
        "127.0.0.1",
        "127.0.0.1:",
        ":9100",
        "127.0.0.1:99999",
        "127.0.0.1:-1",
        "127.0.0.1:9x",
        "no-such-host.invalid:9100",
        "127.0.0.1:91\u{0}00",
    ] {
        let e = MetricsServer::start(&pool, bad).unwrap_err().to_string();
        assert!(e.contains(&format!("{bad:?}")), "{bad:?}: {e}");
    }
    // An address of no interface here, and a port in use.
    let e = MetricsServer::start(&pool, "192.0.2.1:9100")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot serve there"), "{e}");
    let first = MetricsServer::start(&pool, "127.0.0.1:0").unwrap();
    let taken = first.address().to_string();
    let e = MetricsServer::start(&pool, &taken).unwrap_err().to_string();
    assert!(
        e.contains(&taken) && e.contains("cannot serve there"),
        "{e}"
    );
}

#[test]
fn outlives_the_pool_handle_and_closes_its_port_when_stopped() {
    let pool = pool();
    let expected = pool.prometheus();
    let mut server = MetricsServer::start(&pool, "127.0.0.1:0").unwrap();
    drop(pool);
    assert_eq!(body(&get(&server, "/metrics")), expected);
    let address = server.address();
    server.stop();
    assert!(TcpStream::connect(address).is_err(), "the port is closed");
    server.stop(); // twice is nothing
}

#[test]
fn a_forked_child_holds_none_of_its_sockets() {
    let pool = pool();
    let mut server = MetricsServer::start(&pool, "127.0.0.1:0").unwrap();
    let address = server.address();
    let (mut from_child, to_parent) = std::os::unix::net::UnixStream::pair().unwrap();
    // SAFETY: the child only writes a byte and waits in `pause` (both
    // async-signal-safe) until the parent kills it.
    let child = unsafe { libc::fork() };
    assert!(child >= 0);
    if child == 0 {
        unsafe {
            libc::write(
                std::os::fd::AsRawFd::as_raw_fd(&to_parent),
                b"r".as_ptr().cast(),
                1,
            );
            loop {
                libc::pause();
            }
        }
    }
    let mut byte = [0u8];
    from_child.read_exact(&mut byte).unwrap();
    server.stop();
    // Had the child kept the listening socket, the kernel would still
    // accept connections on the port into its backlog.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        match TcpStream::connect(address) {
            Err(_) => break true,
            Ok(_) if Instant::now() > deadline => break false,
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    unsafe {
        libc::kill(child, libc::SIGKILL);
        libc::waitpid(child, std::ptr::null_mut(), 0);
    }
    assert!(refused, "a forked child kept the metrics port open");
}
