//! The committed C header against the crate: the version macros, the
//! runtime version functions and Cargo.toml agree; every export is declared;
//! the header defines nothing without the library's prefix.

use std::ffi::CStr;

const HEADER: &str = include_str!("../../../include/workerlife.h");

fn define(name: &str) -> String {
    HEADER
        .lines()
        .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
        .unwrap_or_else(|| panic!("no #define {name}"))
        .trim()
        .to_string()
}

#[test]
fn versions_agree() {
    let major: u32 = define("WL_VERSION_MAJOR").parse().unwrap();
    let minor: u32 = define("WL_VERSION_MINOR").parse().unwrap();
    let patch: u32 = define("WL_VERSION_PATCH").parse().unwrap();
    assert_eq!(major.to_string(), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(minor.to_string(), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(patch.to_string(), env!("CARGO_PKG_VERSION_PATCH"));
    assert_eq!(
        define("WL_VERSION_STRING"),
        format!("\"{}\"", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        workerlife_c::version::wl_version_number(),
        major * 10_000 + minor * 100 + patch
    );
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(workerlife_c::version::wl_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn every_export_is_declared_and_prefixed() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut exports = Vec::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.trim() == "#[no_mangle]" {
                let decl = lines.next().unwrap();
                let name = decl
                    .split("fn ")
                    .nth(1)
                    .and_then(|r| r.split('(').next())
                    .unwrap_or_else(|| panic!("{decl}"));
                exports.push(name.to_string());
            }
        }
    }
    assert!(exports.len() >= 55, "{exports:?}");
    for name in &exports {
        assert!(name.starts_with("wl_"), "{name}");
        assert!(
            HEADER.contains(&format!(" {name}(")) || HEADER.contains(&format!("*{name}(")),
            "{name} is not declared in include/workerlife.h"
        );
    }
    for line in HEADER.lines() {
        let name = if let Some(rest) = line.strip_prefix("#define ") {
            rest.split_whitespace().next().unwrap()
        } else if let Some(rest) = line.strip_prefix("typedef ") {
            rest.trim_end_matches(';')
                .split_whitespace()
                .rfind(|t| *t != "{")
                .unwrap()
        } else if let Some(rest) = line.strip_prefix("enum ") {
            rest.split_whitespace().next().unwrap()
        } else {
            continue;
        };
        let name = name.trim_start_matches('*');
        assert!(
            name.starts_with("wl_") || name.starts_with("WL_") || name == "WORKERLIFE_H",
            "unprefixed name in the header: {line}"
        );
    }
}

/// `NAME = number` of every constant of the header's `enum {name}`.
fn header_enum(name: &str) -> Vec<(String, u8)> {
    let start = HEADER
        .find(&format!("enum {name}\n"))
        .unwrap_or_else(|| panic!("no enum {name} in the header"));
    let body = &HEADER[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find("};").unwrap()];
    body.lines()
        .filter_map(|l| l.trim().trim_end_matches(',').split_once(" = "))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

fn table(prefix: &str, values: impl Iterator<Item = (&'static str, u8)>) -> Vec<(String, u8)> {
    values
        .map(|(name, code)| (format!("{prefix}{}", name.to_uppercase()), code))
        .collect()
}

#[test]
fn the_headers_enums_are_the_engines_tables() {
    use workerlife::{Action, ActionKind, EventKind, Key, Reason, Sharing};
    assert_eq!(
        header_enum("wl_action"),
        table(
            "WL_ACTION_",
            Action::ALL.iter().map(|v| (v.as_str(), v.code()))
        )
    );
    let mut reasons = vec![("WL_REASON_NONE".to_string(), 0)];
    reasons.extend(table(
        "WL_REASON_",
        Reason::ALL.iter().map(|v| (v.as_str(), v.code())),
    ));
    assert_eq!(header_enum("wl_reason"), reasons);
    assert_eq!(
        header_enum("wl_pool_action_kind"),
        table(
            "WL_DO_",
            ActionKind::ALL.iter().map(|v| (v.as_str(), v.code()))
        )
    );
    assert_eq!(
        header_enum("wl_event_kind"),
        table(
            "WL_EVENT_",
            EventKind::ALL.iter().map(|v| (v.as_str(), v.code()))
        )
    );
    assert_eq!(
        header_enum("wl_sharing"),
        table(
            "WL_SHARING_",
            Sharing::ALL.iter().map(|v| (v.as_str(), v.code()))
        )
    );
    assert_eq!(
        header_enum("wl_key"),
        table(
            "WL_KEY_",
            Key::ALL
                .iter()
                .enumerate()
                .map(|(i, k)| (k.name(), i as u8))
        )
    );
}

#[test]
fn name_lookups_give_the_engines_names() {
    use std::ffi::{c_char, CStr};
    use workerlife::{Action, ActionKind, EventKind, Reason, Sharing};
    fn names(f: extern "C" fn(u32) -> *const c_char) -> Vec<String> {
        (0..64)
            .filter_map(|i| {
                let p = f(i);
                // SAFETY: a static NUL-terminated string or NULL.
                (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string())
            })
            .collect()
    }
    let engine = |all: Vec<&str>| all.into_iter().map(String::from).collect::<Vec<_>>();
    use workerlife_c::names::*;
    assert_eq!(
        names(wl_action_name),
        engine(Action::ALL.iter().map(|v| v.as_str()).collect())
    );
    assert_eq!(
        names(wl_reason_name),
        engine(Reason::ALL.iter().map(|v| v.as_str()).collect())
    );
    assert_eq!(
        names(wl_pool_action_kind_name),
        engine(ActionKind::ALL.iter().map(|v| v.as_str()).collect())
    );
    assert_eq!(
        names(wl_event_kind_name),
        engine(EventKind::ALL.iter().map(|v| v.as_str()).collect())
    );
    assert_eq!(
        names(wl_sharing_name),
        engine(Sharing::ALL.iter().map(|v| v.as_str()).collect())
    );
}

#[test]
fn every_result_code_is_listed_once_with_its_text() {
    use workerlife_c::wl_result;
    let start = HEADER.find("enum wl_result\n").expect("enum wl_result");
    let body = &HEADER[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find("};").unwrap()];
    let in_header: Vec<(String, u32)> = body
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').split_once(" = "))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect();
    let listed: Vec<(String, u32)> = wl_result::ALL
        .iter()
        .map(|r| (format!("{r:?}"), *r as u32))
        .collect();
    assert_eq!(
        in_header, listed,
        "wl_result::ALL is every code of the enum, in order"
    );
    for r in wl_result::ALL {
        assert_eq!(wl_result::from_u32(r as u32), Some(r));
        assert!(!r.text().is_empty());
    }
}

/// Every declaration of the header with the comment block above it.
fn declarations() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut doc = String::new();
    let mut lines = HEADER.lines();
    while let Some(line) = lines.next() {
        if let Some(text) = line.strip_prefix("//") {
            doc.push_str(text);
            doc.push('\n');
            continue;
        }
        let code = !line.starts_with([' ', '#', '/', '*']);
        if code && line.contains(" wl_") && line.contains('(') {
            let mut decl = line.to_string();
            while !decl.contains(';') {
                decl.push_str(lines.next().unwrap().trim());
            }
            out.push((decl, std::mem::take(&mut doc)));
        } else {
            doc.clear();
        }
    }
    out
}

const HANDLES: [&str; 6] = [
    "struct wl_policy *",
    "struct wl_pool *",
    "struct wl_worker *",
    "struct wl_ledger *",
    "struct wl_watchdog *",
    "struct wl_metrics *",
];

#[test]
fn every_pointer_argument_says_whether_it_may_be_null_and_is_tested() {
    let tests = include_str!("../../../tests/c/test_null_args.c");
    let mut checked = 0;
    for (decl, doc) in declarations() {
        let name = decl
            .split('(')
            .next()
            .unwrap()
            .rsplit([' ', '*'])
            .next()
            .unwrap();
        let params = decl.split_once('(').unwrap().1.rsplit_once(')').unwrap().0;
        let mut any_pointer = false;
        for param in params.split(',') {
            let param = param.trim();
            let Some((ty, arg)) = param.rsplit_once([' ', '*']) else {
                continue;
            };
            if !param.contains('*') {
                continue;
            }
            any_pointer = true;
            // Handles follow the header's one rule (never NULL but for *_free).
            if HANDLES
                .iter()
                .any(|h| param.trim_start_matches("const ").starts_with(h))
                && !ty.ends_with("**")
                && !param.contains("**")
            {
                continue;
            }
            let may = format!("- `{arg}` may be NULL");
            let must = format!("- `{arg}` must not be NULL");
            assert!(
                doc.contains(&may) || doc.contains(&must),
                "{name}: the header does not say whether `{arg}` may be NULL"
            );
            checked += 1;
        }
        if any_pointer {
            assert!(
                tests.contains(&format!("{name}(")),
                "{name} takes a pointer but tests/c/test_null_args.c does not call it"
            );
        }
    }
    assert!(checked >= 60, "only {checked} pointer arguments found");
}
