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
