//! The stats endpoint exports: a master's Prometheus text and stats JSON
//! over HTTP (`WORKERLIFE_METRICS`), served by a native thread of the
//! library, so no host writes a server of its own.

use crate::buffers::{out, str_arg};
use crate::result::{check, guard};
use crate::{lookup, publish, release, wl_metrics, wl_pool, wl_result, METRICS, POOLS};
use workerlife::MetricsServer;

/// Serves `pool`'s stats at `address` (`"HOST:PORT"`: a name, an IPv4
/// address or `[IPv6]`; port 0 picks a free one, see `wl_metrics_port`):
/// Prometheus text at `/metrics` and `/`, the stats JSON at `/stats`, GET
/// and HEAD only, one client at a time, each within 2 s. The address is
/// bound before this returns: one that does not parse is
/// `WL_INVALID_ARGUMENT`, one that cannot be bound (in use, not this
/// machine's) `WL_IO`, each with a message naming it, and nothing is
/// started. The server keeps the pool's memory mapped, so it may outlive
/// `pool`'s handle. A child forked later holds none of its sockets (they
/// are closed in the child at the fork). The caller owns the new handle
/// (`wl_metrics_free`). Thread-safe.
///
/// # Safety
///
/// - `address` must not be NULL: a NUL-terminated UTF-8 string.
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_metrics_serve(
    pool: *const wl_pool,
    address: *const std::ffi::c_char,
    out: *mut *mut wl_metrics,
) -> wl_result {
    guard(|| {
        let pool = lookup(&POOLS, pool, "pool")?;
        let address = str_arg(address, "address")?;
        self::out(out, "out")?;
        let server = check(MetricsServer::start(&pool.pool, address))?;
        publish(&METRICS, server, out)
    })
}

/// The port the server listens on (the one picked when 0 was asked for).
/// Thread-safe.
///
/// # Safety
///
/// - `port` must not be NULL: valid for writing one `uint16_t`.
#[no_mangle]
pub unsafe extern "C" fn wl_metrics_port(metrics: *const wl_metrics, port: *mut u16) -> wl_result {
    guard(|| {
        let server = lookup(&METRICS, metrics, "metrics")?;
        *out(port, "port")? = server.address().port();
        Ok(())
    })
}

/// Stops serving, closes the port, waits for the thread (at most a tenth
/// of a second, plus the client being answered) and releases the handle.
/// NULL is a no-op; a freed or foreign handle is `WL_INVALID_HANDLE`. In a
/// forked child it only releases the handle. Do not free a handle another
/// thread is using.
#[no_mangle]
pub extern "C" fn wl_metrics_free(metrics: *mut wl_metrics) -> wl_result {
    release(&METRICS, metrics, "metrics")
}
