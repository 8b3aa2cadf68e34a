//! The README's policy table against the engine's table of keys: every key,
//! in the engine's order, with a default the engine reads as its own. A key added, renamed or given another
//! default fails here until the docs say so.

use workerlife::Key;

const README: &str = include_str!("../README.md");

/// (key, default) of each row of the README's policy table.
fn documented() -> Vec<(String, String)> {
    let start = README
        .find("| key | default | meaning |")
        .expect("the README has its policy table");
    README[start..]
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
    assert_eq!(names, keys, "the README's keys, in the engine's order");
    for ((name, default), key) in rows.iter().zip(Key::ALL) {
        // Read as the engine reads a spec (`off` is 0; `60s` is `1m`).
        let read = key
            .parse_value(default)
            .unwrap_or_else(|e| panic!("{name}: the README's default {default:?}: {e}"));
        assert_eq!(
            read,
            key.default_raw(),
            "{name}: the README says {default}, the engine {}",
            key.format_value(key.default_raw())
        );
    }
}
