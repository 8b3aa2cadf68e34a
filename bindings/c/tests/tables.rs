//! What bindings read from the library instead of copying, against what is
//! written elsewhere: the result codes against docs/c.md's table, each
//! struct field's offset against the header's declaration, and the
//! header's constants against `wl_constant`.

use std::ffi::{c_char, CStr, CString};
use workerlife_c::version::{wl_constant, wl_struct_offset, wl_struct_size};
use workerlife_c::{wl_result, wl_result_name, wl_result_text};

const HEADER: &str = include_str!("../../../include/workerlife.h");
const C_DOC: &str = include_str!("../../../docs/c.md");

/// Every code the library answers to, as a binding finds them: every
/// number below 1000 that `wl_result_name` names, with its text.
fn library_codes() -> Vec<(u32, String, String)> {
    (0..1000)
        .filter_map(|code| {
            let name = wl_result_name(code);
            if name.is_null() {
                return None;
            }
            // SAFETY: a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(name) }
                .to_str()
                .unwrap()
                .to_string();
            let mut buf = [0 as c_char; 256];
            // SAFETY: `buf` is writable for its length; `needed` may be NULL.
            let rc =
                unsafe { wl_result_text(code, buf.as_mut_ptr(), buf.len(), std::ptr::null_mut()) };
            assert_eq!(rc, wl_result::WL_OK, "{name}");
            // SAFETY: the library wrote a NUL-terminated string into `buf`.
            let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_str()
                .unwrap()
                .to_string();
            Some((code, name, text))
        })
        .collect()
}

/// The rows of the table under `## Result codes` in docs/c.md.
fn documented_codes() -> Vec<(u32, String, String)> {
    let section = C_DOC
        .split("\n## ")
        .find(|s| s.starts_with("Result codes\n"))
        .expect("docs/c.md has a `## Result codes` section");
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2) // the head and its rule
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 3, "{row}");
            (
                cells[0].parse().unwrap_or_else(|_| panic!("{row}")),
                cells[1].trim_matches('`').to_string(),
                cells[2].to_string(),
            )
        })
        .collect()
}

#[test]
fn the_docs_table_is_every_result_code_with_its_text() {
    let library = library_codes();
    assert_eq!(library.len(), wl_result::ALL.len());
    assert_eq!(
        documented_codes(),
        library,
        "docs/c.md's result-code table differs from the library"
    );
}

#[test]
fn every_code_has_one_name_text_and_number() {
    for r in wl_result::ALL {
        assert_eq!(wl_result::from_u32(r as u32), Some(r));
        assert_eq!(r.name().to_str().unwrap(), format!("{r:?}"));
        assert!(!r.text().is_empty());
    }
    assert!(wl_result_name(1).is_null() && wl_result_name(1000).is_null());
}

/// (struct, its fields in order) of every struct the header defines.
fn header_structs() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut lines = HEADER.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("typedef struct ")
            .and_then(|r| r.strip_suffix(" {"))
        else {
            continue;
        };
        let mut fields = Vec::new();
        for line in lines.by_ref() {
            let line = line.trim();
            if line.starts_with('}') {
                break;
            }
            if line.starts_with("//") {
                continue;
            }
            let field = line
                .trim_end_matches(';')
                .rsplit([' ', '*'])
                .next()
                .unwrap();
            fields.push(field.to_string());
        }
        out.push((name.to_string(), fields));
    }
    out
}

fn offset(name: &str, field: &str) -> usize {
    let (name, field) = (CString::new(name).unwrap(), CString::new(field).unwrap());
    // SAFETY: two NUL-terminated strings.
    unsafe { wl_struct_offset(name.as_ptr(), field.as_ptr()) }
}

#[test]
fn every_header_struct_field_has_its_offset() {
    let structs = header_structs();
    assert!(structs.len() >= 8, "{structs:?}");
    for (name, fields) in &structs {
        let c = CString::new(name.as_str()).unwrap();
        // SAFETY: a NUL-terminated string.
        let size = unsafe { wl_struct_size(c.as_ptr()) };
        assert!(size > 0, "{name} has no size in the library");
        let mut last = None;
        for field in fields {
            let at = offset(name, field);
            assert!(at < size, "{name}.{field}: no offset in the library");
            assert!(
                last.is_none_or(|l| at > l),
                "{name}.{field} is not after the field before it"
            );
            last = Some(at);
        }
        assert_eq!(offset(name, "no_such_field"), usize::MAX);
    }
    assert_eq!(offset("wl_pool", "slots"), usize::MAX);
    // Checked against Rust's own layout for one struct, field by field.
    assert_eq!(
        offset("wl_event", "oom_killed"),
        std::mem::offset_of!(workerlife_c::types::wl_event, oom_killed)
    );
    assert_eq!(
        offset("wl_pool_options", "seed"),
        std::mem::offset_of!(workerlife_c::types::wl_pool_options, seed)
    );
}

/// A `#define`'s value as the header writes them: a number (`ull` too),
/// `UINT64_MAX`, `UINT32_MAX`, `(a << b)`, `(a - b)`.
fn eval(expr: &str) -> u64 {
    let e = expr
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    if let Some((a, b)) = e.split_once(" << ") {
        return eval(a) << eval(b);
    }
    if let Some((a, b)) = e.split_once(" - ") {
        return eval(a) - eval(b);
    }
    match e {
        "UINT64_MAX" => u64::MAX,
        "UINT32_MAX" => u32::MAX as u64,
        n => n
            .trim_end_matches("ull")
            .parse()
            .unwrap_or_else(|_| panic!("{expr}")),
    }
}

#[test]
fn every_define_is_a_constant_of_the_library() {
    let mut seen = 0;
    for line in HEADER.lines() {
        let Some((name, value)) = line
            .strip_prefix("#define ")
            .and_then(|r| r.split_once(' '))
        else {
            continue;
        };
        if name.starts_with("WL_VERSION_") {
            continue; // wl_version_number() and wl_version() give these
        }
        let c = CString::new(name).unwrap();
        let mut got = 0;
        // SAFETY: a NUL-terminated string and a writable u64.
        let rc = unsafe { wl_constant(c.as_ptr(), &mut got) };
        assert_eq!(rc, wl_result::WL_OK, "{name} is not given by wl_constant");
        assert_eq!(got, eval(value), "{name}");
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} defines");
    let mut got = 0;
    // SAFETY: as above.
    let rc = unsafe { wl_constant(c"WL_VERSION_MAJOR".as_ptr(), &mut got) };
    assert_eq!(rc, wl_result::WL_INVALID_ARGUMENT);
}
