//! How every enum whose values cross a language line is defined (decisions'
//! actions and reasons in `rules/decision.rs`, event kinds and severities in
//! `rules/event.rs`, pool actions in `pool/mod.rs`, sharing modes in
//! `table/region.rs`): with `named_enum!`, which gives each value its number
//! and name in one line of its type's own file. Bindings take the names from
//! the library; the C header's enums, which repeat the numbers, are checked
//! against these by a test (`bindings/c/tests/header.rs`).

/// Defines an enum whose variants each have a number and a name, with
/// `ALL` (in number order), `as_str`, `code`, `from_code` and `from_name`.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant = $code, )+
        }

        impl $name {
            /// Every value, in number order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name every binding, event and stat uses.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The name with a terminating NUL, for foreign callers.
            pub fn as_c_str(self) -> &'static std::ffi::CStr {
                match self {
                    $( $name::$variant => {
                        const NAME: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
                            concat!($text, "\0").as_bytes(),
                        ) {
                            Ok(name) => name,
                            Err(_) => panic!("a name with a NUL inside"),
                        };
                        NAME
                    } )+
                }
            }

            /// The number every binding uses (the C ABI's enum value).
            pub fn code(self) -> u8 {
                self as u8
            }

            /// The value with this number, if any.
            pub fn from_code(code: u8) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.code() == code)
            }

            /// The value with this name, if any.
            pub fn from_name(name: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }
    };
}

pub(crate) use named_enum;
