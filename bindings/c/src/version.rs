//! The library's version at run time (the header's `WL_VERSION_*` macros
//! give it at compile time).

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
