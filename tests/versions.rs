//! One version for everything: every package the repository ships carries
//! the workspace's version, the changelog has its section, and
//! docs/install.md states the ABI and layout versions this build has.

use std::path::Path;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_changelog_has_this_versions_section() {
    let text = read("CHANGELOG.md");
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("## {VERSION} ")) || l == format!("## {VERSION}")),
        "CHANGELOG.md has no \"## {VERSION}\" section"
    );
}

#[test]
fn the_node_package_carries_the_workspace_version() {
    let text = read("bindings/node/package.json");
    let want = format!("\"version\": \"{VERSION}\"");
    assert!(
        text.contains(&want),
        "bindings/node/package.json lacks {want}"
    );
}

#[test]
fn the_header_and_docs_state_this_builds_versions() {
    let header = read("include/workerlife.h");
    assert!(header.contains(&format!("#define WL_VERSION_STRING \"{VERSION}\"")));
    let abi = header
        .lines()
        .find_map(|l| l.strip_prefix("#define WL_ABI_VERSION "))
        .expect("the header defines WL_ABI_VERSION");
    let install = read("docs/install.md");
    assert!(
        install.contains(&format!("`wl_abi_version()`, now {abi})")),
        "docs/install.md does not say the ABI version is {abi}"
    );
    let layout = workerlife::LAYOUT_VERSION;
    assert!(
        install.contains(&format!("(`wl_layout_version()`, now {layout})")),
        "docs/install.md does not say the layout version is {layout}"
    );
    let changelog = read("CHANGELOG.md");
    assert!(
        changelog.contains(&format!("ABI version {abi}, layout version {layout}.")),
        "CHANGELOG.md's {VERSION} section does not name ABI {abi} and layout {layout}"
    );
}
