//! The policy table (docs/policy.md) against the engine's table of keys: every key,
//! in the engine's order, with a default the engine reads as its own. A key added, renamed or given another
//! default fails here until the docs say so.

use workerlife::Key;

const POLICY_DOC: &str = include_str!("../docs/policy.md");

/// (key, default) of each row of docs/policy.md's table.
fn documented() -> Vec<(String, String)> {
    let start = POLICY_DOC
        .find("| key | default | meaning |")
        .expect("docs/policy.md has its policy table");
    POLICY_DOC[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect()
}

#[test]
fn the_readme_lists_every_policy_key_with_its_default() {
    let rows = documented();
    let keys: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
    let names: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, keys, "docs/policy.md's keys, in the engine's order");
    for ((name, default), key) in rows.iter().zip(Key::ALL) {
        // Read as the engine reads a spec (`off` is 0; `60s` is `1m`).
        let read = key
            .parse_value(default)
            .unwrap_or_else(|e| panic!("{name}: docs/policy.md's default {default:?}: {e}"));
        assert_eq!(
            read,
            key.default_raw(),
            "{name}: docs/policy.md says {default}, the engine {}",
            key.format_value(key.default_raw())
        );
    }
}
