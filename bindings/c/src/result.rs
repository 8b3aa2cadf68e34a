//! The one result code of the C ABI, the thread's last error message, and
//! the panic boundary every export runs inside.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use workerlife::Error;

/// The result of every fallible call. Numbers are grouped by area and never
/// reused: 1xx arguments and handles, 2xx policies, 3xx pools, 4xx
/// processes, 5xx the system, 9xx library faults.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wl_result {
    WL_OK = 0,
    /// A required pointer argument was NULL.
    WL_NULL_ARGUMENT = 100,
    /// A handle that was freed, was never made by this library, or is of
    /// another type.
    WL_INVALID_HANDLE = 101,
    /// The caller's buffer is too short; the needed size was returned.
    WL_BUFFER_TOO_SMALL = 102,
    /// A string argument is not valid UTF-8.
    WL_INVALID_UTF8 = 103,
    /// An argument is out of its range (an unknown key or enum value).
    WL_INVALID_ARGUMENT = 104,
    /// A spec string or setter named a key that does not exist.
    WL_UNKNOWN_KEY = 200,
    /// A policy value did not parse or is out of range.
    WL_INVALID_VALUE = 201,
    /// A policy rule the host cannot carry out (`wl_pool_set_host`); the
    /// message names the key, the host and what to do instead.
    WL_NOT_FOR_HOST = 202,
    /// A pool needs between 1 and 2^20 slots.
    WL_INVALID_SLOT_COUNT = 300,
    /// A slot index past the end of the pool.
    WL_SLOT_OUT_OF_RANGE = 301,
    /// Every slot holds a live worker.
    WL_NO_FREE_SLOT = 302,
    /// No slot holds this pid.
    WL_UNKNOWN_PID = 303,
    /// The slot already holds a live worker.
    WL_SLOT_BUSY = 304,
    /// A pool file that is not a workerlife pool, or is damaged.
    WL_BAD_POOL_FILE = 305,
    /// A pool file or ledger not owned by the effective user, or writable
    /// by group or others: another user could have written it.
    WL_UNSAFE_FILE = 306,
    /// A request ticket the worker does not have in flight: ended already,
    /// never issued, or another worker's; nothing changed.
    WL_BAD_TICKET = 307,
    /// More requests in flight in one worker than a slot counts
    /// (`WL_TICKETS` timed and 65,535 more); nothing changed.
    WL_TOO_MANY_IN_FLIGHT = 308,
    /// No process has this pid (or it is a zombie).
    WL_NO_SUCH_PROCESS = 400,
    /// The pid belongs to another process now; nothing was sent.
    WL_IDENTITY_MISMATCH = 401,
    /// The orphan ledger is damaged; it was set aside.
    WL_BAD_LEDGER = 402,
    /// Time ran out before the process or port was released.
    WL_STILL_HELD = 403,
    /// The process is not a child of the caller, which signals only its own.
    WL_NOT_A_CHILD = 404,
    /// No identity (start time) was given: a bare pid never authorises a
    /// signal; nothing was sent.
    WL_UNKNOWN_IDENTITY = 405,
    /// An operating-system call failed.
    WL_IO = 500,
    /// The platform lacks what the call needs.
    WL_NOT_SUPPORTED = 501,
    /// A bug in workerlife: a panic was caught at the boundary.
    WL_PANIC = 900,
}

use wl_result::*;

/// The rest of each code's entry: its text. One list with the enum above,
/// held to it by the compiler: `text` is a `match` on every code named
/// here, so a code the enum has and this list lacks does not compile, nor
/// does one listed twice (`unreachable_patterns` is denied) or one the enum
/// lacks (the names are paths). `ALL`, `name`, `wl_result_name`,
/// `wl_result_text` and the bindings (which read names and texts through
/// those exports) are derived from it. The enum itself stays written out
/// because cbindgen reads items, not macro output, on a stable toolchain.
macro_rules! texts {
    ($($code:ident => $text:literal,)*) => {
        impl wl_result {
            /// Every code, in the enum's order (a test holds it to the
            /// header), for tests and the name and text lookups.
            pub const ALL: [wl_result; [$(wl_result::$code),*].len()] = [$(wl_result::$code),*];

            /// The fixed text of a code.
            #[deny(unreachable_patterns)]
            pub fn text(self) -> &'static str {
                match self {
                    $(wl_result::$code => $text,)*
                }
            }

            /// The code's name as the header spells it, NUL-terminated.
            pub fn name(self) -> &'static std::ffi::CStr {
                match self {
                    $(wl_result::$code => {
                        const NAME: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
                            concat!(stringify!($code), "\0").as_bytes(),
                        ) {
                            Ok(name) => name,
                            Err(_) => panic!("a code's name has no NUL"),
                        };
                        NAME
                    })*
                }
            }
        }
    };
}

texts! {
    WL_OK => "ok",
    WL_NULL_ARGUMENT => "a required pointer argument was NULL",
    WL_INVALID_HANDLE => "invalid handle: freed, of another type, or not made by workerlife",
    WL_BUFFER_TOO_SMALL => "the buffer is too small",
    WL_INVALID_UTF8 => "a string argument is not valid UTF-8",
    WL_INVALID_ARGUMENT => "an argument is out of range",
    WL_UNKNOWN_KEY => "unknown policy key",
    WL_INVALID_VALUE => "invalid policy value",
    WL_NOT_FOR_HOST => "a policy rule this host cannot carry out",
    WL_INVALID_SLOT_COUNT => "invalid slot count",
    WL_SLOT_OUT_OF_RANGE => "slot out of range",
    WL_NO_FREE_SLOT => "no free slot",
    WL_UNKNOWN_PID => "no slot holds this pid",
    WL_SLOT_BUSY => "the slot holds a live worker",
    WL_BAD_POOL_FILE => "not a usable workerlife pool file",
    WL_UNSAFE_FILE => "a file another user could have written",
    WL_BAD_TICKET => "not a request ticket in flight in this worker",
    WL_TOO_MANY_IN_FLIGHT => "too many requests in flight in one worker",
    WL_NO_SUCH_PROCESS => "no such process",
    WL_IDENTITY_MISMATCH => "the pid belongs to another process now",
    WL_BAD_LEDGER => "damaged workerlife ledger",
    WL_STILL_HELD => "still held when time ran out",
    WL_NOT_A_CHILD => "not a child of this process",
    WL_UNKNOWN_IDENTITY => "no identity: a bare pid never authorises a signal",
    WL_IO => "an operating-system call failed",
    WL_NOT_SUPPORTED => "not supported on this platform",
    WL_PANIC => "internal error (a panic was caught)",
}

impl wl_result {
    /// The code for a raw number, if it is one.
    pub fn from_u32(n: u32) -> Option<wl_result> {
        Self::ALL.iter().copied().find(|r| *r as u32 == n)
    }
}

impl From<&Error> for wl_result {
    fn from(e: &Error) -> wl_result {
        match e {
            Error::UnknownKey { .. } => WL_UNKNOWN_KEY,
            Error::InvalidValue { .. } => WL_INVALID_VALUE,
            Error::NotForHost { .. } => WL_NOT_FOR_HOST,
            Error::InvalidSlotCount(_) => WL_INVALID_SLOT_COUNT,
            Error::SlotOutOfRange { .. } => WL_SLOT_OUT_OF_RANGE,
            Error::NoFreeSlot(_) => WL_NO_FREE_SLOT,
            Error::UnknownPid(_) => WL_UNKNOWN_PID,
            Error::SlotBusy { .. } => WL_SLOT_BUSY,
            Error::BadPoolFile { .. } => WL_BAD_POOL_FILE,
            Error::UnsafeFile { .. } => WL_UNSAFE_FILE,
            Error::NotAChild { .. } => WL_NOT_A_CHILD,
            Error::InvalidArgument(_) => WL_INVALID_ARGUMENT,
            Error::BadTicket(_) => WL_BAD_TICKET,
            Error::TooManyInFlight { .. } => WL_TOO_MANY_IN_FLIGHT,
            Error::NoSuchProcess(_) => WL_NO_SUCH_PROCESS,
            Error::BadLedger { .. } => WL_BAD_LEDGER,
            Error::Io { .. } => WL_IO,
            // Nothing here to read: as "not supported" (its message says why).
            Error::NotSupported(_) | Error::NoCgroup(_) => WL_NOT_SUPPORTED,
            // The engine's errors are non-exhaustive; one this layer does
            // not know yet still fails the call, with its message.
            _ => WL_INVALID_ARGUMENT,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `message` as this thread's last error and returns `code`.
pub(crate) fn fail(code: wl_result, message: &str) -> wl_result {
    LAST_ERROR.with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            m.clear();
            m.push_str(message);
        }
    });
    code
}

/// Records an engine error as this thread's last error.
pub(crate) fn fail_with(e: &Error) -> wl_result {
    fail(e.into(), &e.to_string())
}

pub(crate) fn last_error<R>(f: impl FnOnce(&str) -> R) -> R {
    LAST_ERROR.with(|m| f(&m.borrow()))
}

/// Converts an engine result into a code, recording the message.
pub(crate) fn check<T>(r: workerlife::Result<T>) -> Result<T, wl_result> {
    r.map_err(|e| fail_with(&e))
}

/// Runs an export's body inside the panic boundary: a panic becomes
/// `WL_PANIC` (with its message as the last error) instead of unwinding into
/// C, which would be undefined behaviour.
#[inline(always)]
pub(crate) fn guard(f: impl FnOnce() -> Result<(), wl_result>) -> wl_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => WL_OK,
        Ok(Err(code)) => code,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            fail(WL_PANIC, &format!("workerlife panicked: {what}"))
        }
    }
}

/// For exports that return a value rather than a code: `fallback` on panic.
#[inline(always)]
pub(crate) fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}
