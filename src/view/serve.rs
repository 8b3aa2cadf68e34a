//! The stats endpoint a master serves (`WORKERLIFE_METRICS` in every host
//! that has a master): Prometheus text at `/metrics` (and `/`), the stats
//! JSON at `/stats`, over plain HTTP/1.1 on one native thread, so no host
//! writes its own server and none needs its interpreter to answer.
//!
//! Hand-written on `std::net` rather than a crate (tiny_http, hyper): the
//! server must know every socket it holds, so that a child forked from the
//! master closes them at once (an at-fork handler, see `os::fork`) instead
//! of keeping the listening port open and counting them against `max_fds`.
//! It answers GET and HEAD for those three paths, one connection at a time,
//! each within [`IO_DEADLINE`]; it writes nothing and reads no more than
//! [`REQUEST_CAP`] bytes of a request.

use crate::error::{Error, Result};
use crate::os::fork::{AfterFork, ForkMutex, OwnThread};
use crate::pool::Pool;
use crate::rules::core::Core;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest one client may take, from its connection to the end of the
/// answer: a client that sends a byte every second is cut off here rather
/// than holding the endpoint.
pub const IO_DEADLINE: Duration = Duration::from_secs(2);

/// The most bytes of a request read (its line and headers); a longer one
/// is answered 431 and closed.
pub const REQUEST_CAP: usize = 8192;

/// The most bytes read and thrown away after an answer (see `linger`).
const LINGER_CAP: usize = 256 << 10;

/// How often the thread looks for a stop while no client comes.
const STOP_POLL_MS: i32 = 100;

/// The sockets the server holds now, as a forked child must close them.
#[derive(Debug)]
struct Sockets {
    listener: RawFd,
    client: RawFd,
}

impl AfterFork for Sockets {
    /// The child is not the server: it closes the listening socket and the
    /// connection being answered, which it would otherwise hold for ever.
    fn after_fork_in_child(&mut self) {
        for fd in [&mut self.listener, &mut self.client] {
            if *fd >= 0 {
                // SAFETY: an fd the parent's server owned; nothing in the
                // child refers to it (the server thread is not here).
                unsafe { libc::close(*fd) };
                *fd = -1;
            }
        }
    }
}

struct Shared {
    stop: AtomicBool,
    sockets: ForkMutex<Sockets>,
}

/// A running stats endpoint. Stopped (and its port closed) when dropped or
/// by [`MetricsServer::stop`]; in a forked child it holds nothing (its
/// sockets were closed at the fork) and stopping it only lets go.
pub struct MetricsServer {
    shared: Arc<Shared>,
    thread: OwnThread,
    address: SocketAddr,
}

/// Reads `HOST:PORT` (a name, an IPv4 address, or `[IPv6]`; port 0 picks
/// a free one). The error names the address and says what was wrong.
pub fn parse_address(address: &str) -> Result<Vec<SocketAddr>> {
    let bad = |why: &str| Error::InvalidArgument(format!("metrics address {address:?}: {why}"));
    if address.is_empty() || address.contains('\0') || address.len() > 300 {
        return Err(bad("expected HOST:PORT"));
    }
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(bad("expected HOST:PORT"));
    };
    if host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("expected HOST:PORT"));
    }
    if port.parse::<u16>().is_err() {
        return Err(bad("the port must be at most 65535"));
    }
    let found: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| bad(&format!("cannot resolve it: {e}")))?
        .collect();
    if found.is_empty() {
        return Err(bad("it resolves to no address"));
    }
    Ok(found)
}

impl MetricsServer {
    /// Binds `address` (`HOST:PORT`, see [`parse_address`]) now, and serves
    /// `pool`'s stats from a thread of its own until stopped. The server
    /// keeps the pool's memory mapped, so it may outlive `pool`'s handle.
    /// An address that does not parse, does not resolve or cannot be bound
    /// (in use, not this machine's) is an error naming it; nothing is
    /// started then.
    pub fn start(pool: &Pool, address: &str) -> Result<MetricsServer> {
        let candidates = parse_address(address)?;
        let listener = TcpListener::bind(&candidates[..]).map_err(|source| Error::Io {
            what: format!("metrics address {address:?}: cannot serve there"),
            source,
        })?;
        let io = |what: &str| {
            let what = format!("metrics address {address:?}: {what}");
            move |source| Error::Io { what, source }
        };
        listener
            .set_nonblocking(true)
            .map_err(io("set non-blocking"))?;
        let bound = listener
            .local_addr()
            .map_err(io("read the bound address"))?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            sockets: ForkMutex::new(Sockets {
                listener: listener.as_raw_fd(),
                client: -1,
            }),
        });
        let core = pool.shared_core();
        let inner = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("workerlife-metrics".into())
            .spawn(move || serve(&core, &inner, listener))
            .map_err(io("start its thread"))?;
        Ok(MetricsServer {
            shared,
            thread: OwnThread::new(thread),
            address: bound,
        })
    }

    /// Where it listens (the port chosen when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops serving, closes the port and waits for the thread (at most a
    /// tenth of a second, plus a client being answered).
    pub fn stop(&mut self) {
        let shared = &self.shared;
        self.thread
            .stop(|_| shared.stop.store(true, Ordering::Release));
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("address", &self.address)
            .finish()
    }
}

/// The server's thread: wait for a client (or a stop), answer it, close it.
fn serve(core: &Core, shared: &Shared, listener: TcpListener) {
    let fd = listener.as_raw_fd();
    while !shared.stop.load(Ordering::Acquire) {
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut poll, 1, STOP_POLL_MS) } <= 0 {
            continue;
        }
        // Accepted and recorded under the fork lock, so no child is forked
        // holding a connection it does not know to close.
        let client = {
            let mut sockets = shared.sockets.lock();
            match listener.accept() {
                Ok((stream, _)) => {
                    sockets.client = stream.as_raw_fd();
                    stream
                }
                Err(_) => continue,
            }
        };
        let mut client = client_ready(client);
        answer(core, &mut client);
        // Closed under the lock too: closed outside it, its number could be
        // reused by another thread before a fork, and the child would close
        // that file instead.
        let mut sockets = shared.sockets.lock();
        drop(client);
        sockets.client = -1;
    }
    let mut sockets = shared.sockets.lock();
    drop(listener);
    sockets.listener = -1;
}

fn client_ready(stream: TcpStream) -> TcpStream {
    // Accepted sockets inherit nothing from the listener on Linux, but say
    // it: blocking, each read and write bounded by the deadline.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    stream
}

/// Reads one request and answers it.
fn answer(core: &Core, stream: &mut TcpStream) {
    let deadline = Instant::now() + IO_DEADLINE;
    let Some(head) = read_head(stream, deadline) else {
        return;
    };
    let (status, kind, body) = match route(&head) {
        Route::Metrics => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            super::stats::prometheus(&super::stats::snapshot(core, true)),
        ),
        Route::Stats => (
            "200 OK",
            "application/json",
            super::stats::stats_json(&super::stats::snapshot(core, true)),
        ),
        Route::NotFound => ("404 Not Found", "text/plain", "not found\n".into()),
        Route::BadMethod => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET and HEAD\n".into(),
        ),
        Route::TooLarge => (
            "431 Request Header Fields Too Large",
            "text/plain",
            "request too large\n".into(),
        ),
        Route::Bad => ("400 Bad Request", "text/plain", "bad request\n".into()),
    };
    let head_only = head.starts_with(b"HEAD ");
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Connection: close\r\n{}\r\n",
        body.len(),
        if status.starts_with("405") {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        }
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    write_all(stream, &out, deadline);
    linger(stream, deadline);
}

/// Says it is done writing, then reads what the client still sends until
/// it closes (or the deadline): closing with unread bytes would make the
/// kernel reset the connection, and the client could lose the answer.
fn linger(stream: &mut TcpStream, deadline: Instant) {
    if stream.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let mut left = LINGER_CAP;
    while left > 0 {
        let Some(time) = deadline.checked_duration_since(Instant::now()) else {
            return;
        };
        if stream
            .set_read_timeout(Some(time.max(Duration::from_millis(1))))
            .is_err()
        {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

enum Route {
    Metrics,
    Stats,
    NotFound,
    BadMethod,
    TooLarge,
    Bad,
}

/// The request line and headers, up to the blank line; None when the
/// client went away or ran out of time. A request over the cap comes back
/// as it stands (routed 431).
fn read_head(stream: &mut TcpStream, deadline: Instant) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Some(buf);
        }
        if buf.len() > REQUEST_CAP {
            return Some(buf);
        }
    }
}

fn route(head: &[u8]) -> Route {
    if head.len() > REQUEST_CAP {
        return Route::TooLarge;
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let Ok(line) = std::str::from_utf8(line) else {
        return Route::Bad;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::Bad;
    }
    if method != "GET" && method != "HEAD" {
        return Route::BadMethod;
    }
    match target.split(['?', '#']).next().unwrap_or_default() {
        "/" | "/metrics" => Route::Metrics,
        "/stats" => Route::Stats,
        _ => Route::NotFound,
    }
}

fn write_all(stream: &mut TcpStream, mut data: &[u8], deadline: Instant) {
    while !data.is_empty() {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return;
        };
        if stream
            .set_write_timeout(Some(left.max(Duration::from_millis(1))))
            .is_err()
        {
            return;
        }
        match stream.write(data) {
            Ok(0) | Err(_) => return,
            Ok(n) => data = &data[n..],
        }
    }
}
