//! `workerlife top`'s table: a pool's stats (the JSON of `Pool::stats_json`,
//! read from a pool file or a server's stats endpoint) rendered for people.
//! One renderer for the `workerlife` binary and `python -m workerlife top`.

use crate::rules::decision::{Action, Reason};
use crate::rules::growth::human_rate;
use crate::units::human_size;
use serde_json::Value;
use std::fmt::Write;

/// The column heads, in order.
pub const COLUMNS: [&str; 13] = [
    "SLOT", "PID", "STATE", "AGE", "REQS", "RSS", "USS", "SHARED", "GROW/REQ", "GROW/S",
    "TO-LIMIT", "LAST", "WOULD",
];

/// The most characters a cell (or a name in the header) shows; longer text
/// ends in `…`. A document from anywhere cannot widen the table without
/// bound (formatting widths stop at 65,535: past that, a panic).
pub const MAX_CELL: usize = 40;

/// `text` as it is safe to print to a terminal: control characters (C0, DEL,
/// C1: escape sequences could move the cursor, retitle the window or
/// rewrite what was printed) and the bidirectional overrides (which reorder
/// what follows) are shown escaped, as `\x1b` or `\u{202e}`; then cut to
/// `MAX_CELL` characters.
pub fn printable(text: &str) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == MAX_CELL {
            out.push('…');
            break;
        }
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            if (c as u32) < 0x100 {
                let _ = write!(out, "\\x{:02x}", c as u32);
            } else {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A number of the document, or `?` for anything else it holds there.
fn number(v: &Value) -> String {
    match v {
        Value::Number(n) => printable(&n.to_string()),
        _ => "?".into(),
    }
}

/// The container line: `container: working set 310MiB of 400MiB (recycle
/// at 360MiB) | anon 280MiB | file 30MiB | OOM kills 0 | pressure 0.12%`;
/// None when the document has no container.
fn container_line(c: &Value) -> Option<String> {
    if !c.is_object() {
        return None;
    }
    if c["known"].as_bool() != Some(true) {
        return Some("container: unknown (its memory cgroup could not be read)".into());
    }
    let size = |v: &Value| v.as_u64().map_or("?".into(), human_size);
    let mut line = format!(
        "container: working set {} of {}",
        size(&c["working_set_bytes"]),
        c["limit_bytes"]
            .as_u64()
            .map_or("no limit".into(), human_size)
    );
    if let Some(at) = c["recycle_at_bytes"].as_u64() {
        let _ = write!(line, " (recycle at {})", human_size(at));
    }
    for (name, key) in [("anon", "anon_bytes"), ("file", "file_bytes")] {
        if let Some(v) = c[key].as_u64() {
            let _ = write!(line, " | {name} {}", human_size(v));
        }
    }
    if let Some(n) = c["oom_kills"].as_u64() {
        let _ = write!(line, " | OOM kills {n}");
    }
    if let Some(p) = c["pressure_some_avg10"].as_f64() {
        let _ = write!(line, " | pressure {p:.2}%");
    }
    Some(line)
}

/// Renders `stats` (a stats JSON document) as a header and one row per
/// occupied slot. `source` names where it came from. Errors name what is
/// missing when the document is not a pool's stats. Every string from the
/// document is shown through `printable`.
pub fn render(stats: &Value, source: &str) -> Result<String, String> {
    let slots = stats["per_slot"]
        .as_array()
        .ok_or("not workerlife stats: no per_slot list")?;
    let workers = &stats["workers"];
    let mut out = String::new();
    let _ = writeln!(out, "workerlife top: {}", printable(source));
    let count = |k: &str| workers[k].as_u64().unwrap_or(0);
    let recycles = counts(&stats["recycles"]).unwrap_or_else(|| "none".into());
    let _ = writeln!(
        out,
        "workers: {} running, {} draining, {} exiting, {} vacant | requests {} | spawns {} | crashes {}{} | permits held {}",
        count("running"),
        count("draining"),
        count("exiting"),
        count("vacant"),
        stats["requests_total"].as_u64().unwrap_or(0),
        stats["spawns"].as_u64().unwrap_or(0),
        stats["crashes"].as_u64().unwrap_or(0),
        match stats["oom_kills"].as_u64().unwrap_or(0) {
            0 => String::new(),
            n => format!(" ({n} OOM-killed)"),
        },
        stats["permits_held"].as_u64().unwrap_or(0),
    );
    let _ = writeln!(out, "recycles: {recycles}");
    if let Some(line) = rehearsal_line(stats) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(line) = relative_line(stats) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(ratio) = stats["sharing"].as_f64() {
        let _ = writeln!(
            out,
            "sharing: the workers still share {:.0}% of the parent's memory (RSS {}, pid {})",
            ratio * 100.0,
            stats["parent"]["rss_bytes"]
                .as_u64()
                .map_or("-".into(), human_size),
            number(&stats["parent"]["pid"])
        );
    }
    if let Some(line) = container_line(&stats["container"]) {
        let _ = writeln!(out, "{line}");
    }
    let mut rows: Vec<[String; 13]> = Vec::new();
    for s in slots {
        let state = s["state"].as_str().unwrap_or("?");
        if state == "vacant" {
            continue;
        }
        // Due for a recycle, in line for a permit (closest to its limit first).
        let state = if s["waiting"].as_bool() == Some(true) {
            "waiting"
        } else {
            state
        };
        let g = &s["growth"];
        let size = |v: &Value| v.as_u64().map_or("-".into(), human_size);
        let rate = |v: &Value, unit: &str| {
            v.as_f64()
                .map_or("-".into(), |r| format!("{}{unit}", human_rate(r)))
        };
        let to_limit = match g["seconds_to_limit"].as_f64() {
            None => "-".to_string(),
            Some(t) if t <= 0.0 => "now".to_string(),
            Some(t) => age(t),
        };
        rows.push([
            number(&s["slot"]),
            number(&s["pid"]),
            printable(state),
            age(s["uptime"].as_f64().unwrap_or(0.0)),
            number(&s["requests"]),
            size(&s["rss"]),
            size(&s["uss"]),
            size(&s["shared"]),
            rate(&g["bytes_per_request"], ""),
            rate(&g["bytes_per_second"], "/s"),
            to_limit,
            printable(s["last_exit"].as_str().unwrap_or("-")),
            would_cell(&s["would"]),
        ]);
    }
    let mut widths = COLUMNS.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &COLUMNS.map(String::from));
    for r in &rows {
        line(&mut out, r);
    }
    Ok(out)
}

/// A map of counts by reason (`recycles`, `would`), largest first, as
/// `max_requests 12, idle 3`; None when every count is 0.
fn counts(map: &Value) -> Option<String> {
    let mut counts: Vec<(&String, u64)> = map
        .as_object()?
        .iter()
        .filter_map(|(k, v)| v.as_u64().filter(|&n| n > 0).map(|n| (k, n)))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    (!counts.is_empty()).then(|| {
        counts
            .iter()
            .map(|(k, n)| format!("{} {n}", printable(k)))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The rules rehearsed (`enforce`): what is enforced and what would have
/// been done so far (`rehearsal: enforce=off | would: max_requests 12,
/// request_timeout 1`); None when every rule acts and none was rehearsed.
fn rehearsal_line(stats: &Value) -> Option<String> {
    let enforce = stats["enforce"].as_str().unwrap_or("all");
    let would = counts(&stats["would"]);
    if enforce == "all" && would.is_none() {
        return None;
    }
    let would = would.unwrap_or_else(|| "none yet".into());
    Some(format!(
        "rehearsal: enforce={} | would: {would}",
        printable(enforce)
    ))
}

/// Memory limits relative to the parent (`max_uss=3x`), resolved:
/// `limits: max_uss 3x = 360.0MiB (the parent, pid 4021: uss 120.0MiB)`, or
/// `waiting for a reading of the parent`; None when no limit is relative.
fn relative_line(stats: &Value) -> Option<String> {
    let limits = stats["memory_limits"].as_object()?;
    let parent = &stats["parent"];
    let parts: Vec<String> = limits
        .iter()
        .filter_map(|(key, l)| {
            let setting = l["setting"].as_str()?;
            if !setting.ends_with('x') {
                return None;
            }
            let metric = key.strip_prefix("max_").unwrap_or(key);
            let base = parent[format!("{metric}_bytes")].as_u64();
            Some(match (l["bytes"].as_u64(), base) {
                (Some(b), Some(base)) => format!(
                    "{} {} = {} (the parent, pid {}: {metric} {})",
                    printable(key),
                    printable(setting),
                    human_size(b),
                    number(&parent["pid"]),
                    human_size(base)
                ),
                _ => format!(
                    "{} {}: waiting for a reading of the parent",
                    printable(key),
                    printable(setting)
                ),
            })
        })
        .collect();
    (!parts.is_empty()).then(|| format!("limits: {}", parts.join(", ")))
}

/// A worker's rules rehearsed this generation (`recycle:max_requests`,
/// `kill:request_timeout`), or `-`.
fn would_cell(v: &Value) -> String {
    let names: Vec<String> = v
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(printable).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return "-".into();
    }
    let text: Vec<String> = names
        .iter()
        .map(|n| match Reason::from_name(n).map(Reason::action) {
            Some(Action::Kill) => format!("kill:{n}"),
            _ => format!("recycle:{n}"),
        })
        .collect();
    printable(&text.join(","))
}

/// `45s`, `12m05s`, `3h20m`, `2d04h`.
fn age(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m{:02}s", s / 60, s % 60),
        3_600..=86_399 => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3_600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_renders_one_row_per_worker() {
        let pool = crate::Pool::new(&crate::Policy::parse("max_rss=1GiB").unwrap(), 3).unwrap();
        let w = pool.claim(std::process::id()).unwrap();
        w.begin();
        w.end();
        let stats: Value = serde_json::from_str(&pool.stats_json()).unwrap();
        let table = render(&stats, "test").unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("workers: 1 running, 0 draining, 0 exiting, 2 vacant"));
        assert!(lines[3].starts_with("SLOT  PID"), "{table}");
        assert_eq!(lines.len(), 5, "{table}");
        let row: Vec<&str> = lines[4].split_whitespace().collect();
        assert_eq!(row[1], std::process::id().to_string());
        assert_eq!(row[4], "1");
        assert!(render(&serde_json::json!({}), "x")
            .unwrap_err()
            .contains("per_slot"));
    }

    #[test]
    fn a_worker_in_line_for_a_permit_shows_as_waiting() {
        let pool = crate::Pool::new(&crate::Policy::parse("max_requests=1").unwrap(), 2).unwrap();
        pool.spawned(0, std::process::id()).unwrap();
        let (a, b) = (pool.worker(0).unwrap(), pool.worker(1).unwrap());
        for w in [&a, &b] {
            w.begin();
            w.end();
        }
        let st = pool.stats();
        assert!(!st.per_slot[0].waiting && st.per_slot[1].waiting, "{st:?}");
        let stats: Value = serde_json::from_str(&pool.stats_json()).unwrap();
        let table = render(&stats, "test").unwrap();
        let states: Vec<&str> = table
            .lines()
            .skip(4)
            .map(|l| l.split_whitespace().nth(2).unwrap())
            .collect();
        assert_eq!(states, ["draining", "waiting"], "{table}");
    }

    #[test]
    fn strings_from_anywhere_are_escaped_and_cut() {
        let long = "x".repeat(65_536);
        let stats = serde_json::json!({
            "workers": {"running": 1},
            "recycles": {"\u{1b}]0;owned\u{7}": 3},
            "per_slot": [
                {"slot": 0, "pid": "\u{1b}[2J", "state": "\u{1b}[31mrunning\u{202e}", "requests": 1,
                 "uptime": 1.0, "growth": {}, "last_exit": long},
                {"slot": 1, "pid": 7, "state": long, "requests": -1e300, "uptime": "nan", "growth": null,
                 "last_exit": "crash\r\u{9b}"},
            ],
        });
        let table = render(&stats, "host:1\u{1b}[H").unwrap();
        assert!(
            !table.chars().any(|c| c != '\n' && c.is_control()),
            "{table:?}"
        );
        assert!(table.contains("\\x1b[31mrunning\\u{202e}"), "{table}");
        assert!(table.contains("\\x1b]0;owned\\x07 3"), "{table}");
        assert!(table.contains("crash\\x0d\\x9b"), "{table}");
        let widest = table.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest < 11 * (MAX_CELL + 3), "{widest}");
        assert!(table.contains(&format!("{}…", "x".repeat(MAX_CELL))));
    }

    #[test]
    fn a_pool_of_a_million_slots_is_listed_by_its_workers() {
        let policy = crate::Policy::parse("max_requests=5").unwrap();
        let pool = crate::Pool::new(&policy, 1 << 20).unwrap();
        let w = pool.claim(std::process::id()).unwrap();
        w.begin();
        w.end();
        let json = pool.stats_json_occupied();
        assert!(json.len() < 4096, "{} bytes", json.len());
        let stats: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(stats["workers"]["vacant"], (1 << 20) - 1);
        assert_eq!(stats["per_slot"].as_array().unwrap().len(), 1);
        let table = render(&stats, "test").unwrap();
        assert_eq!(table.lines().count(), 5, "{table}");
        assert_eq!(pool.stats().per_slot.len(), 1 << 20);
    }

    #[test]
    fn ages_read_for_people() {
        assert_eq!(age(5.2), "5s");
        assert_eq!(age(725.0), "12m05s");
        assert_eq!(age(12_000.0), "3h20m");
        assert_eq!(age(187_200.0), "2d04h");
    }
}
