//! Pointer plumbing: arguments read from C (checked for NULL and for the
//! alignment of their type, as Qiskit's `check_ptr` does), strings written
//! into the caller's buffers.

use crate::result::{fail, wl_result};
use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A pointer argument that must not be NULL, as a reference.
pub(crate) fn arg<'a, T>(p: *const T, name: &str) -> Result<&'a T, wl_result> {
    aligned(p, name)?;
    // SAFETY: the caller passes NULL or a valid pointer, as every export's
    // `# Safety` requires; alignment was checked above.
    unsafe { p.as_ref() }.ok_or_else(|| null(name))
}

/// An out-pointer that must not be NULL.
pub(crate) fn out<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T, wl_result> {
    aligned(p, name)?;
    // SAFETY: as for `arg`; out-pointers point to writable memory.
    unsafe { p.as_mut() }.ok_or_else(|| null(name))
}

/// Refuses a pointer not aligned for its type (NULL passes: callers check
/// it themselves), which would be undefined behaviour to read or write.
pub(crate) fn aligned<T>(p: *const T, name: &str) -> Result<(), wl_result> {
    if p.is_aligned() {
        Ok(())
    } else {
        Err(fail(
            wl_result::WL_INVALID_ARGUMENT,
            &format!(
                "argument `{name}` is not aligned to {} bytes",
                std::mem::align_of::<T>()
            ),
        ))
    }
}

pub(crate) fn null(name: &str) -> wl_result {
    fail(
        wl_result::WL_NULL_ARGUMENT,
        &format!("argument `{name}` is NULL"),
    )
}

/// A NUL-terminated UTF-8 string argument.
pub(crate) fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str, wl_result> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: a non-NULL string argument is NUL-terminated (documented).
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| {
        fail(
            wl_result::WL_INVALID_UTF8,
            &format!("argument `{name}` is not valid UTF-8"),
        )
    })
}

/// A NUL-terminated path argument (any bytes).
pub(crate) fn path_arg<'a>(p: *const c_char, name: &str) -> Result<&'a Path, wl_result> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: as for `str_arg`.
    let c = unsafe { CStr::from_ptr(p) };
    Ok(Path::new(OsStr::from_bytes(c.to_bytes())))
}

/// Writes `s` and a NUL into `buf` (of `len` bytes). `*needed` (if not NULL)
/// receives the size needed including the NUL; a short buffer gets
/// `WL_BUFFER_TOO_SMALL` and an empty string (when it has room for one).
pub(crate) fn write_str(
    s: &str,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> Result<(), wl_result> {
    let size = s.len() + 1;
    if let Some(n) = opt_out(needed, "needed")? {
        *n = size;
    }
    if buf.is_null() {
        return if len == 0 {
            Err(fail(
                wl_result::WL_BUFFER_TOO_SMALL,
                &format!("a buffer of {size} bytes is needed"),
            ))
        } else {
            Err(null("buf"))
        };
    }
    if len < size {
        if len > 0 {
            // SAFETY: buf has at least one writable byte.
            unsafe { *buf = 0 };
        }
        return Err(fail(
            wl_result::WL_BUFFER_TOO_SMALL,
            &format!("a buffer of {size} bytes is needed, {len} were given"),
        ));
    }
    // SAFETY: buf has len >= size writable bytes and does not overlap s.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
        *buf.add(s.len()) = 0;
    }
    Ok(())
}

/// An optional out-pointer: NULL means the caller does not want the value.
pub(crate) fn opt_out<'a, T>(p: *mut T, name: &str) -> Result<Option<&'a mut T>, wl_result> {
    aligned(p, name)?;
    // SAFETY: NULL or writable (each export's `# Safety`), and aligned.
    Ok(unsafe { p.as_mut() })
}

/// An out-array of `cap` items: aligned, and not NULL unless `cap` is 0.
/// Exports check it before they change anything.
pub(crate) fn array_out<T>(array: *mut T, cap: usize, name: &str) -> Result<(), wl_result> {
    aligned(array, name)?;
    if cap > 0 && array.is_null() {
        return Err(null(name));
    }
    Ok(())
}

/// Moves up to `cap` items from the front of `queue` into the caller's
/// array; `*n` gets how many. The rest stay queued.
pub(crate) fn drain_into<S, T: From<S>>(
    queue: &mut std::collections::VecDeque<S>,
    array: *mut T,
    cap: usize,
    n: *mut usize,
) -> Result<(), wl_result> {
    let n = out(n, "n")?;
    array_out(array, cap, "array")?;
    let count = queue.len().min(cap);
    for (i, item) in queue.drain(..count).enumerate() {
        // SAFETY: array has room for cap > i items (documented).
        unsafe { array.add(i).write(T::from(item)) };
    }
    *n = count;
    Ok(())
}

thread_local! {
    // The text behind the last `static_text` of each thread.
    static TEXT: std::cell::RefCell<std::ffi::CString> = std::cell::RefCell::new(std::ffi::CString::default());
}

/// `text` as a NUL-terminated string the library owns, for the exports that
/// answer in one call: valid until the calling thread's next such call. An
/// interior NUL ends it there.
pub(crate) fn static_text(text: &str) -> *const c_char {
    let end = text.find('\0').unwrap_or(text.len());
    let owned = std::ffi::CString::new(&text[..end]).unwrap_or_default();
    TEXT.with(|t| {
        *t.borrow_mut() = owned;
        t.borrow().as_ptr()
    })
}
