//! The crate's layers (src/lib.rs, "Layout"): every file of `src/` uses
//! only its own layer and those before it, so dependencies run one way and
//! no circle can form between layers. Read from the source: each
//! `crate::name` path whose first part is a module of the crate root.

use std::path::Path;

/// The layers, first to last; a layer is a file or a folder of `src/`.
const LAYERS: [&[&str]; 9] = [
    &["error", "names", "units"],
    &["os"],
    &["policy"],
    &["table"],
    &["rules"],
    &["worker"],
    &["host"],
    &["pool"],
    &["view"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules of the crate root that `text` names as `crate::name`.
fn uses(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn every_file_uses_only_its_layer_and_those_before() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for path in all {
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs");
        if top == "lib" {
            continue;
        }
        let own = layer_of(top).unwrap_or_else(|| panic!("{} is in no layer", rel.display()));
        for name in uses(&std::fs::read_to_string(&path).unwrap()) {
            let theirs = layer_of(&name)
                .unwrap_or_else(|| panic!("{}: crate::{name} is in no layer", rel.display()));
            checked += 1;
            if theirs > own {
                wrong.push(format!(
                    "{} (layer {own}) uses crate::{name} (layer {theirs})",
                    rel.display()
                ));
            }
        }
    }
    assert!(checked > 100, "only {checked} paths found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
