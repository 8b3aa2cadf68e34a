//! The library's version at run time (the header's `WL_VERSION_*` macros
//! give it at compile time), and what an FFI checks its declarations
//! against: the ABI version, struct sizes and offsets, the header's constants.

use std::ffi::c_char;

/// The version as `"MAJOR.MINOR.PATCH"`: a static NUL-terminated string,
/// owned by the library; never NULL. Any thread.
#[no_mangle]
pub extern "C" fn wl_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The version as one number, `MAJOR * 10000 + MINOR * 100 + PATCH` (the
/// same as `WL_VERSION_NUMBER`). Any thread.
#[no_mangle]
pub extern "C" fn wl_version_number() -> u32 {
    const fn num(s: &str) -> u32 {
        let b = s.as_bytes();
        let mut i = 0;
        let mut n = 0;
        while i < b.len() {
            n = n * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        n
    }
    const V: u32 = num(env!("CARGO_PKG_VERSION_MAJOR")) * 10_000
        + num(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + num(env!("CARGO_PKG_VERSION_PATCH"));
    V
}

/// The ABI version this header describes; `wl_abi_version()` gives the
/// library's. Raised whenever a public struct's fields, an enum's values or
/// a function's signature change in a way an existing binding would misread.
pub const WL_ABI_VERSION: u32 = 2;

/// The library's ABI version (`WL_ABI_VERSION` of the header it was built
/// with). A binding that declares the structs itself (an FFI: Ruby's `ffi`,
/// Node's koffi, Python's ctypes) compares it, and each struct's size from
/// `wl_struct_size`, with its own before the first call, and refuses a
/// library that differs. Any thread.
#[no_mangle]
pub extern "C" fn wl_abi_version() -> u32 {
    WL_ABI_VERSION
}

/// The version of the pool's shared memory layout: a pool file made by a
/// library with another layout is refused by `wl_pool_attach`. Any thread.
#[no_mangle]
pub extern "C" fn wl_layout_version() -> u32 {
    workerlife::LAYOUT_VERSION
}

/// `sizeof` of a public struct, by its name in the header (`"wl_event"`,
/// `"wl_pool_action"`...), or 0 for NULL or a name that is no public struct.
/// Any thread.
///
/// # Safety
///
/// - `name` may be NULL (the answer is 0), else a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn wl_struct_size(name: *const c_char) -> usize {
    crate::result::guard_value(0, || {
        if name.is_null() {
            return 0;
        }
        // SAFETY: the caller passes a NUL-terminated string (above).
        let name = unsafe { std::ffi::CStr::from_ptr(name) };
        crate::types::STRUCT_SIZES
            .iter()
            .find(|(n, _)| n.as_bytes() == name.to_bytes())
            .map_or(0, |&(_, size)| size)
    })
}

/// The offset of `field` in the public struct `name` (`"wl_event"`,
/// `"pid"`), as `offsetof` gives it, or `SIZE_MAX` when either pointer is
/// NULL or names nothing. A binding that declares the structs itself checks
/// each field's offset here, as well as each struct's size: two fields of one
/// size swapped keep the size but move the offsets. Any thread.
///
/// # Safety
///
/// - `name` may be NULL (the answer is `SIZE_MAX`), else a NUL-terminated string.
/// - `field` may be NULL (the answer is `SIZE_MAX`), else a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn wl_struct_offset(name: *const c_char, field: *const c_char) -> usize {
    crate::result::guard_value(usize::MAX, || {
        if name.is_null() || field.is_null() {
            return usize::MAX;
        }
        // SAFETY: the caller passes NUL-terminated strings (above).
        let (name, field) = unsafe {
            (
                std::ffi::CStr::from_ptr(name).to_bytes(),
                std::ffi::CStr::from_ptr(field).to_bytes(),
            )
        };
        crate::types::STRUCT_FIELDS
            .iter()
            .find(|(s, f, _)| s.as_bytes() == name && f.as_bytes() == field)
            .map_or(usize::MAX, |&(_, _, offset)| offset)
    })
}

/// Writes the value of the header's `#define` `name` (`"WL_TICKET_LAST"`,
/// `"WL_TICKETS"`, `"WL_NO_SLOT"`...; every numeric one but the
/// `WL_VERSION_*` macros, which `wl_version_number` gives) to `*value`, for
/// bindings that read constants from the library instead of copying them.
///
/// A name that is no such define is `WL_INVALID_ARGUMENT`; NULL `name` or
/// `value` is `WL_NULL_ARGUMENT`. Any thread.
///
/// # Safety
///
/// - `name` must not be NULL: a NUL-terminated string, readable up to its NUL.
/// - `value` must not be NULL: valid for writing one `u64`.
#[no_mangle]
pub unsafe extern "C" fn wl_constant(name: *const c_char, value: *mut u64) -> crate::wl_result {
    crate::result::guard(|| {
        let name = crate::buffers::str_arg(name, "name")?;
        let value = crate::buffers::out(value, "value")?;
        let found = crate::types::CONSTANTS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| {
                crate::result::fail(
                    crate::wl_result::WL_INVALID_ARGUMENT,
                    &format!("{name:?} is no constant of the header"),
                )
            })?;
        *value = found.1;
        Ok(())
    })
}
