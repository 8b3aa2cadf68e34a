//! Name lookups for every enum that crosses the C line, read from the
//! engine's one table of each (numbers and names), so that no binding keeps
//! a copy: a binding loops from 0 until NULL.

use std::ffi::c_char;
use workerlife::{Action, ActionKind, EventKind, Reason, Sharing};

/// The name of value `code` of an engine table, or NULL for a number that
/// names none.
fn name<T: Copy>(
    code: u32,
    from_code: fn(u8) -> Option<T>,
    c_str: fn(T) -> &'static std::ffi::CStr,
) -> *const c_char {
    crate::result::guard_value(std::ptr::null(), || {
        u8::try_from(code)
            .ok()
            .and_then(from_code)
            .map_or(std::ptr::null(), |v| c_str(v).as_ptr())
    })
}

/// The name of a `wl_reason` (`"max_requests"`): a static string, or NULL
/// for `WL_REASON_NONE` and numbers that are no reason. Any thread.
#[no_mangle]
pub extern "C" fn wl_reason_name(reason: u32) -> *const c_char {
    name(reason, Reason::from_code, Reason::as_c_str)
}

/// The name of a `wl_action` (`"continue"`, `"recycle"`, `"kill"`): a static
/// string, or NULL for a number that is no action. Any thread.
#[no_mangle]
pub extern "C" fn wl_action_name(action: u32) -> *const c_char {
    name(action, Action::from_code, Action::as_c_str)
}

/// The name of a `wl_pool_action_kind` (`"recycle"`, `"kill"`, `"spawn"`):
/// a static string, or NULL for a number that is none. Any thread.
#[no_mangle]
pub extern "C" fn wl_pool_action_kind_name(kind: u32) -> *const c_char {
    name(kind, ActionKind::from_code, ActionKind::as_c_str)
}

/// The name of a `wl_event_kind` (`"spawned"`, `"exited"`...): a static
/// string, or NULL for a number that is none. Any thread.
#[no_mangle]
pub extern "C" fn wl_event_kind_name(kind: u32) -> *const c_char {
    name(kind, EventKind::from_code, EventKind::as_c_str)
}

/// The name of a `wl_sharing` (`"private"`, `"shared"`, `"named"`): a static
/// string, or NULL for a number that is none. Any thread.
#[no_mangle]
pub extern "C" fn wl_sharing_name(sharing: u32) -> *const c_char {
    name(sharing, Sharing::from_code, Sharing::as_c_str)
}

/// The name of a `wl_unit` (`"bytes"`, `"microseconds"`, `"count"`): a
/// static string, or NULL for a number that is no unit. A binding finds
/// the unit of each key's raw value (`wl_key_unit`) by this name. Any
/// thread.
#[no_mangle]
pub extern "C" fn wl_unit_name(unit: u32) -> *const c_char {
    use crate::types::wl_unit::*;
    const UNITS: [(crate::types::wl_unit, &std::ffi::CStr); 3] = [
        (WL_UNIT_BYTES, c"bytes"),
        (WL_UNIT_MICROSECONDS, c"microseconds"),
        (WL_UNIT_COUNT, c"count"),
    ];
    UNITS
        .iter()
        .find(|(u, _)| *u as u32 == unit)
        .map_or(std::ptr::null(), |(_, name)| name.as_ptr())
}
