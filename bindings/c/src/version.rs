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
