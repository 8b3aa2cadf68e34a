//! Policy exports.

use crate::buffers::{out, str_arg, write_str};
use crate::result::{check, fail, guard, guard_value};
use crate::{lookup, publish, release, wl_policy, wl_result, POLICIES};
use std::ffi::c_char;
use workerlife::fork::{ForkGuard, ForkMutex};
use workerlife::Policy;
use workerlife::{Key, Unit};

fn policy<'a>(p: *const wl_policy) -> Result<ForkGuard<'a, Policy>, wl_result> {
    Ok(lookup(&POLICIES, p, "policy")?.lock())
}

pub(crate) fn key(k: u32) -> Result<Key, wl_result> {
    Key::ALL.get(k as usize).copied().ok_or_else(|| {
        fail(
            wl_result::WL_INVALID_ARGUMENT,
            &format!("{k} is not a wl_key (0..{})", Key::ALL.len() - 1),
        )
    })
}

/// A copy of the policy behind a handle (for building pools).
pub(crate) fn snapshot(p: *const wl_policy) -> Result<Policy, wl_result> {
    Ok(policy(p)?.clone())
}

/// Makes a default policy (every limit off) and writes its handle to `*out`.
///
/// The caller owns the handle and releases it with `wl_policy_free`. `out`
/// must not be NULL. Any thread.
///
/// # Safety
///
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_policy_new(out: *mut *mut wl_policy) -> wl_result {
    guard(|| publish(&POLICIES, ForkMutex::new(Policy::new()), out))
}

/// Parses a spec string such as `"max_requests=1000,max_rss=512MiB"` into a
/// new policy; `*out` gets its handle. An unknown key is `WL_UNKNOWN_KEY`, a
/// bad value `WL_INVALID_VALUE`; the last error message names the key and
/// value.
///
/// `spec` is a NUL-terminated UTF-8 string, borrowed for the call. The caller
/// owns the new handle (`wl_policy_free`). NULL arguments are
/// `WL_NULL_ARGUMENT`. Any thread.
///
/// # Safety
///
/// - `spec` must not be NULL: a NUL-terminated string, readable up to its NUL.
/// - `out` must not be NULL: valid for writing one handle.
#[no_mangle]
pub unsafe extern "C" fn wl_policy_parse(
    spec: *const c_char,
    out: *mut *mut wl_policy,
) -> wl_result {
    guard(|| {
        let spec = str_arg(spec, "spec")?;
        let p = check(Policy::parse(spec))?;
        publish(&POLICIES, ForkMutex::new(p), out)
    })
}

/// Releases a policy. NULL is a no-op (`WL_OK`); a freed or foreign handle
/// is `WL_INVALID_HANDLE`. Pools made from the policy keep their own copy.
/// Do not free a handle another thread is using.
#[no_mangle]
pub extern "C" fn wl_policy_free(policy: *mut wl_policy) -> wl_result {
    release(&POLICIES, policy, "policy")
}

/// Sets one key from text written as in a spec string (`"512MiB"`,
/// `"1h30m"`, `"off"`). The policy is checked as a whole afterwards (e.g.
/// `backoff_initial` <= `backoff_max`); on any error it is left unchanged.
///
/// `key` and `value` are NUL-terminated UTF-8, borrowed. NULL arguments are
/// `WL_NULL_ARGUMENT`. Thread-safe (the policy has its own lock).
///
/// # Safety
///
/// - `key` must not be NULL: a NUL-terminated string, readable up to its NUL.
/// - `value` must not be NULL: a NUL-terminated string, readable up to its NUL.
#[no_mangle]
pub unsafe extern "C" fn wl_policy_set(
    policy: *mut wl_policy,
    key: *const c_char,
    value: *const c_char,
) -> wl_result {
    guard(|| {
        let mut p = self::policy(policy)?;
        let (key, value) = (str_arg(key, "key")?, str_arg(value, "value")?);
        let mut next = p.clone();
        check(next.set(key, value).map(|_| ()))?;
        check(next.validate())?;
        *p = next;
        Ok(())
    })
}

/// Sets one key from a number: seconds for durations (fractions to the
/// microsecond), bytes for sizes, a count otherwise; no text in between.
/// Negative, NaN, infinite, fractional bytes or counts, too large, and a
/// non-zero duration that rounds to 0 are `WL_INVALID_VALUE` naming the key
/// and value. Checked as `wl_policy_set` is; on any error the policy is
/// left unchanged. Thread-safe.
///
/// # Safety
///
/// - `key` must not be NULL: a NUL-terminated string, readable up to its NUL.
#[no_mangle]
pub unsafe extern "C" fn wl_policy_set_number(
    policy: *mut wl_policy,
    key: *const c_char,
    value: f64,
) -> wl_result {
    guard(|| {
        let mut p = self::policy(policy)?;
        let key = str_arg(key, "key")?;
        let mut next = p.clone();
        check(next.set_number(key, value).map(|_| ()))?;
        check(next.validate())?;
        *p = next;
        Ok(())
    })
}

/// Sets one key (a `wl_key`) from its raw value: bytes for sizes,
/// microseconds for durations, a plain count otherwise (see
/// `wl_key_unit`); 0 turns a limit off. Checked as `wl_policy_set` is.
///
/// An unknown key number is `WL_INVALID_ARGUMENT`. Thread-safe.
#[no_mangle]
pub extern "C" fn wl_policy_set_raw(policy: *mut wl_policy, key: u32, raw: u64) -> wl_result {
    guard(|| {
        let mut p = self::policy(policy)?;
        let k = self::key(key)?;
        let mut next = p.clone();
        next.set_raw(k, raw);
        check(next.validate())?;
        *p = next;
        Ok(())
    })
}

/// Reads one key's raw value into `*raw`.
///
/// `raw` must not be NULL. An unknown key number is `WL_INVALID_ARGUMENT`.
/// Thread-safe.
///
/// # Safety
///
/// - `raw` must not be NULL: valid for writing one `u64`.
#[no_mangle]
pub unsafe extern "C" fn wl_policy_get_raw(
    policy: *const wl_policy,
    key: u32,
    raw: *mut u64,
) -> wl_result {
    guard(|| {
        let p = self::policy(policy)?;
        let k = self::key(key)?;
        *out(raw, "raw")? = p.raw(k);
        Ok(())
    })
}

/// Writes the policy as a spec string (only keys that differ from their
/// defaults; it parses back to the same policy) into `buf` of `len` bytes;
/// `*needed` (may be NULL) gets the size needed, NUL included. A short buffer
/// is `WL_BUFFER_TOO_SMALL`; pass `buf` NULL and `len` 0 to ask the size.
/// Thread-safe.
///
/// # Safety
///
/// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
/// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_policy_to_string(
    policy: *const wl_policy,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> wl_result {
    guard(|| {
        let text = self::policy(policy)?.to_string();
        write_str(&text, buf, len, needed)
    })
}

/// The spec name of a `wl_key` (`"max_rss"`): a static string owned by the
/// library, or NULL for a number that is no key. Any thread.
#[no_mangle]
pub extern "C" fn wl_key_name(key: u32) -> *const c_char {
    guard_value(std::ptr::null(), || {
        Key::ALL
            .get(key as usize)
            .map_or(std::ptr::null(), |k| key_name_c(*k).as_ptr())
    })
}

/// The unit of a `wl_key`'s raw value (a `wl_unit`), or `UINT32_MAX` for a
/// number that is no key. Any thread.
#[no_mangle]
pub extern "C" fn wl_key_unit(key: u32) -> u32 {
    guard_value(u32::MAX, || {
        Key::ALL
            .get(key as usize)
            .map_or(u32::MAX, |k| unit_c(k.unit()))
    })
}

/// Whether `raw` is a plain number in `key`'s unit (bytes, microseconds, a
/// count), as against a word its spec text writes: `container_memory`'s
/// `auto` (`WL_CONTAINER_AUTO`) and a `container_headroom` percentage
/// (`WL_HEADROOM_PERCENT`). False for a number that is no key. Any thread.
#[no_mangle]
pub extern "C" fn wl_key_is_number(key: u32, raw: u64) -> bool {
    guard_value(false, || {
        Key::ALL.get(key as usize).is_some_and(|k| k.is_number(raw))
    })
}

/// Writes `raw` as `key`'s spec text (`512MiB`, `1h30m`, `auto`, `10%`)
/// into `buf`, as `wl_policy_to_string` writes. `WL_INVALID_ARGUMENT` for
/// a number that is no key. Any thread.
///
/// # Safety
///
/// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
/// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
#[no_mangle]
pub unsafe extern "C" fn wl_key_format_value(
    key: u32,
    raw: u64,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> wl_result {
    guard(|| {
        let k = Key::ALL.get(key as usize).ok_or_else(|| {
            fail(
                wl_result::WL_INVALID_ARGUMENT,
                &format!("wl_key_format_value: {key} is no key"),
            )
        })?;
        write_str(&k.format_value(raw), buf, len, needed)
    })
}

/// A unit as its `wl_unit` number.
pub(crate) fn unit_c(unit: Unit) -> u32 {
    use crate::types::wl_unit;
    match unit {
        Unit::Size => wl_unit::WL_UNIT_BYTES as u32,
        Unit::Duration => wl_unit::WL_UNIT_MICROSECONDS as u32,
        Unit::Count => wl_unit::WL_UNIT_COUNT as u32,
    }
}

/// The key names, NUL-terminated, built once.
fn key_name_c(k: Key) -> &'static std::ffi::CStr {
    use std::sync::OnceLock;
    static NAMES: OnceLock<Vec<std::ffi::CString>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        Key::ALL
            .iter()
            .map(|k| std::ffi::CString::new(k.name()).expect("key names have no NUL"))
            .collect()
    });
    &names[k as usize]
}
