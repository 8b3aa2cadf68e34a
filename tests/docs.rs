//! The docs held to the code. The policy table (docs/policy.md) against
//! the engine's table of keys; every relative link of README.md and
//! docs/*.md (file and heading); the README as the one index of docs/;
//! the layers src/lib.rs lists against those tests/layers.rs holds; the
//! vector ops docs/design.md describes; and every fenced example, run or
//! checked in its own language (C compiled against the header and the
//! library and run, Perl `perl -c` against the XS module, Python compiled,
//! Ruby `ruby -c`, JS `node --check`, shell `bash -n` with its `make`
//! targets, `workerlife` subcommands, files and endpoint paths). A fence
//! says what it holds (`text` for output); the word `fragment` after the
//! language marks an example shown in its context, not whole on its own,
//! counted in FRAGMENTS. The C and Perl
//! checks build what they need first (`make lib`, and `make perl` when the
//! XS module is not built).

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

// ---------------------------------------------------------------------------
// The pages themselves: README.md and docs/*.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A page, by its path from the repository's root.
struct Page {
    path: String,
    text: String,
}

fn pages() -> Vec<Page> {
    let mut paths = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|path| Page {
            text: std::fs::read_to_string(Path::new(ROOT).join(&path)).unwrap(),
            path,
        })
        .collect()
}

/// A fenced block: its language and the words after it (the markers).
struct Block {
    page: String,
    /// The line of its opening fence, from 1.
    line: usize,
    lang: String,
    markers: Vec<String>,
    body: String,
}

impl Block {
    fn at(&self) -> String {
        format!(
            "{}:{} (```{} {})",
            self.page,
            self.line,
            self.lang,
            self.markers.join(" ")
        )
    }

    /// A fragment on purpose (```c fragment): shown inside its context,
    /// not whole on its own.
    fn fragment(&self) -> bool {
        self.markers.iter().any(|m| m == "fragment")
    }
}

/// The page's fenced blocks, and its prose (the blocks blanked, so that
/// line numbers hold).
fn split(page: &Page) -> (Vec<Block>, String) {
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut open: Option<Block> = None;
    for (i, line) in page.text.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match open.take() {
            None if fence => {
                let mut words = line.trim_start()[3..].split_whitespace();
                open = Some(Block {
                    page: page.path.clone(),
                    line: i + 1,
                    lang: words.next().unwrap_or("").to_string(),
                    markers: words.map(str::to_string).collect(),
                    body: String::new(),
                });
                prose.push('\n');
            }
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
            Some(b) if fence => {
                blocks.push(b);
                prose.push('\n');
            }
            Some(mut b) => {
                b.body.push_str(line);
                b.body.push('\n');
                open = Some(b);
                prose.push('\n');
            }
        }
    }
    assert!(open.is_none(), "{}: a fence is never closed", page.path);
    (blocks, prose)
}

/// Inline code spans of `prose` (one may run across a line break), with
/// the line (from 1) each starts on.
fn code_spans(prose: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    for (i, part) in prose.split('`').enumerate() {
        if i % 2 == 1 {
            out.push((line, part.replace('\n', " ")));
        }
        line += part.matches('\n').count();
    }
    out
}

/// `prose` with its inline code spans blanked (a `[x](y)` in code is no
/// link), line breaks kept.
fn without_code(prose: &str) -> String {
    prose
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 0 {
                part.to_string()
            } else {
                part.chars()
                    .map(|c| if c == '\n' { c } else { ' ' })
                    .collect()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// GitHub's anchors for the headings of `page`: lower case, letters,
/// digits, `-` and `_` kept, spaces made `-`, the rest dropped; a repeated
/// one gets `-1`, `-2`...
fn anchors(page: &Page) -> BTreeSet<String> {
    let (_, prose) = split(page);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in prose.lines() {
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        let title = title.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        // A link in a heading shows its text.
        let mut text = String::new();
        let mut rest = title.trim();
        while let Some(i) = rest.find("](") {
            text.push_str(&rest[..i]);
            rest = rest[i..].split_once(')').map_or("", |(_, r)| r);
        }
        text.push_str(rest);
        let slug: String = text
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

/// Every `[text](target)` of the prose, with its line.
fn links(prose: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in without_code(prose).lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let tail = &rest[at + 2..];
            let end = tail.find(')').unwrap_or(tail.len());
            out.push((i + 1, tail[..end].to_string()));
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_resolves_to_a_file_and_its_anchor() {
    let pages = pages();
    let by_path: BTreeMap<&str, &Page> = pages.iter().map(|p| (p.path.as_str(), p)).collect();
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let (_, prose) = split(page);
        let dir = Path::new(&page.path).parent().unwrap();
        for (line, target) in links(&prose) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if file.is_empty() {
                page.path.clone()
            } else {
                normalize(&dir.join(file))
            };
            if !Path::new(ROOT).join(&file).exists() {
                broken.push(format!("{}:{line}: {target}: no file {file}", page.path));
                continue;
            }
            if anchor.is_empty() {
                continue;
            }
            match by_path.get(file.as_str()) {
                Some(p) if !anchors(p).contains(anchor) => broken.push(format!(
                    "{}:{line}: {target}: {file} has no heading #{anchor}",
                    page.path
                )),
                Some(_) => {}
                None if file.ends_with(".md") => broken.push(format!(
                    "{}:{line}: {target}: an anchor into a page this test does not read",
                    page.path
                )),
                // A line of a source file (#L10): GitHub's, not a heading.
                None => assert!(
                    anchor.starts_with('L')
                        && anchor[1..]
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == '-' || c == 'L'),
                    "{}:{line}: {target}: an anchor into a source file is a line (#L10)",
                    page.path
                ),
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} relative links found: the parser lost them"
    );
    assert!(
        broken.is_empty(),
        "links that do not resolve:\n{}",
        broken.join("\n")
    );
}

/// `a/../b/./c` as `b/c`, from the repository's root.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.to_str().unwrap().split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

#[test]
fn the_anchor_rule_is_githubs() {
    let page = Page {
        path: "x.md".into(),
        text: "# A `code` title: with, punctuation\n## Twice\n## Twice\n### [Linked](y.md) here\n```\n# not a heading\n```\n".into(),
    };
    let a = anchors(&page);
    let want: BTreeSet<String> = [
        "a-code-title-with-punctuation",
        "twice",
        "twice-1",
        "linked-here",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(a, want);
}

// ---------------------------------------------------------------------------
// Every example runs (or compiles) as written.

/// What the C and Perl examples need built: the library (`make lib`: its
/// SONAME link in target/c, as an installed library is found) and, when it
/// is not there yet, the Perl XS module (`make perl`).
fn built() -> &'static Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut targets = vec!["lib"];
        if !Path::new(ROOT)
            .join("bindings/perl/blib/arch/auto/WorkerLife/WorkerLife.so")
            .exists()
        {
            targets.push("perl");
        }
        let out = Command::new("make")
            .arg("--no-print-directory")
            .args(&targets)
            .current_dir(ROOT)
            .output()
            .map_err(|e| format!("make: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "make {}: {}\n{}",
                targets.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wl-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `cmd`; Err with what it said when it fails.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The functions include/workerlife.h declares.
fn header_functions() -> BTreeSet<String> {
    let header = std::fs::read_to_string(Path::new(ROOT).join("include/workerlife.h")).unwrap();
    header
        .lines()
        .filter(|l| !l.starts_with("//") && !l.starts_with(' '))
        .filter_map(|l| {
            let name = l.split('(').next()?.split_whitespace().last()?;
            let name = name.trim_start_matches('*');
            (l.contains('(') && name.starts_with("wl_")).then(|| name.to_string())
        })
        .collect()
}

/// The targets of the Makefile.
fn make_targets() -> BTreeSet<String> {
    let make = std::fs::read_to_string(Path::new(ROOT).join("Makefile")).unwrap();
    make.lines()
        .filter(|l| !l.starts_with(['\t', '#', ' ', '.']) && !l.contains(":=") && !l.contains("?="))
        .filter_map(|l| l.split_once(':').map(|(t, _)| t))
        .flat_map(|t| t.split_whitespace())
        .filter(|t| !t.contains('$'))
        .map(str::to_string)
        .collect()
}

/// The `workerlife` command's subcommands (cli/src/main.rs, `enum Command`).
fn subcommands() -> BTreeSet<String> {
    let main = std::fs::read_to_string(Path::new(ROOT).join("cli/src/main.rs")).unwrap();
    let body = main
        .split("enum Command {")
        .nth(1)
        .expect("cli/src/main.rs has enum Command");
    let body = &body[..body.find("\n}").unwrap()];
    body.lines()
        .filter_map(|l| {
            let l = l.trim();
            let name: String = l.chars().take_while(|c| c.is_alphanumeric()).collect();
            (l.starts_with(|c: char| c.is_ascii_uppercase())
                && l[name.len()..].trim_start().starts_with(['{', '(', ',']))
            .then(|| name.to_lowercase())
        })
        .collect()
}

/// The paths the library's stats endpoint answers (src/view/serve.rs).
fn served_paths() -> BTreeSet<String> {
    let serve = std::fs::read_to_string(Path::new(ROOT).join("src/view/serve.rs")).unwrap();
    let route = serve
        .split("fn route(")
        .nth(1)
        .expect("serve.rs has fn route");
    let route = &route[..route.find("\n}").unwrap()];
    route
        .lines()
        .filter(|l| l.contains("=> Route::"))
        .flat_map(|l| l.split("=>").next().unwrap().split('|'))
        .map(|p| p.trim().trim_matches('"').to_string())
        .collect()
}

/// What is wrong with the commands of `text` (a shell block, or inline
/// code): a `make` target, a `workerlife` subcommand, a cargo example, a
/// file of the repository or an endpoint's path that does not exist.
///
/// In prose (`inline`) `workerlife X` is taken for a command only when an
/// argument follows that is a source (a path, an address, a URL or a
/// placeholder such as PATH): `workerlife on for gunicorn` is a log line.
fn command_errors(text: &str, inline: bool) -> Vec<String> {
    let (targets, subs, served) = (make_targets(), subcommands(), served_paths());
    let mut errors = Vec::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let next = words.get(i + 1).copied().unwrap_or("");
            if *w == "make" {
                for t in words[i + 1..]
                    .iter()
                    .take_while(|t| !t.starts_with(['&', '|', ';', '#']))
                {
                    if !t.contains('=') && !t.starts_with('-') && !targets.contains(*t) {
                        errors.push(format!("`make {t}`: no such target in the Makefile"));
                    }
                }
            }
            let source = words.get(i + 2).is_some_and(|a| {
                a.contains(['/', ':']) || a.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            });
            if (*w == "workerlife" || w.ends_with("/workerlife"))
                && (source || !inline)
                && !next.is_empty()
                && !next.starts_with('-')
                && !subs.contains(next)
            {
                errors.push(format!(
                    "`workerlife {next}`: no such subcommand (cli/src/main.rs)"
                ));
            }
            if *w == "--example" && !Path::new(ROOT).join(format!("examples/{next}.rs")).exists() {
                errors.push(format!("`--example {next}`: no examples/{next}.rs"));
            }
            let top = [
                "examples/",
                "bindings/",
                "tests/",
                "docs/",
                "benches/",
                "include/",
                "cli/",
                "src/",
            ];
            // A file, a file's attribute (`asgi_apps.py:app`); globs are
            // patterns, not files.
            let file = w
                .split(':')
                .next()
                .unwrap()
                .trim_end_matches([',', ';', ')']);
            if top.iter().any(|t| w.starts_with(t))
                && !file.contains(['*', '{'])
                && !Path::new(ROOT).join(file).exists()
                && !build_output(file)
            {
                errors.push(format!("{w}: no such file in the repository"));
            }
            if let Some(url) = w.strip_prefix("http://") {
                let path = url.find('/').map_or("/", |i| &url[i..]);
                if !served.contains(path) && !url.starts_with("HOST:PORT") {
                    errors.push(format!(
                        "{w}: the stats endpoint (src/view/serve.rs) serves {:?}, not {path}",
                        served
                    ));
                }
            }
        }
    }
    errors
}

#[test]
fn the_command_checks_know_the_repository() {
    assert!(make_targets().contains("lib") && make_targets().contains("test"));
    assert!(subcommands().contains("top"), "{:?}", subcommands());
    assert!(served_paths().contains("/stats"), "{:?}", served_paths());
    assert!(header_functions().contains("wl_pool_claim"));
    assert_eq!(
        command_errors("make lib && workerlife top http://h:1/stats", false).len(),
        0
    );
    assert_eq!(
        command_errors("make nope\nworkerlife frobnicate\nworkerlife top http://pod:8000/_workerlife.json\ncargo build --example nope\nls examples/nope.py", false).len(),
        5
    );
    assert!(command_errors("workerlife on for gunicorn: policy ...", true).is_empty());
    assert_eq!(command_errors("workerlife frobnicate PATH", true).len(), 1);
}

/// How many examples are fragments on purpose: the README's C and Rust
/// (whole programs in docs/c.md and src/lib.rs) and docs/c.md's host
/// contract (the example server does all of it).
const FRAGMENTS: usize = 3;

#[test]
fn every_example_runs_or_compiles_as_written() {
    let header = header_functions();
    let mut failures = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut count = |what: &str| *counts.entry(what.to_string()).or_insert(0) += 1;
    for page in pages() {
        let (blocks, prose) = split(&page);
        for (line, span) in code_spans(&prose) {
            for e in command_errors(&span, true) {
                failures.push(format!("{}:{line}: {e}", page.path));
            }
        }
        for (n, b) in blocks.iter().enumerate() {
            let stem = format!(
                "{}-{n}",
                page.path.replace('/', "-").trim_end_matches(".md")
            );
            let result = match b.lang.as_str() {
                "" => Err(
                    "a fence says what it holds: ```text for output, else its language".to_string(),
                ),
                "text" | "json" | "yaml" if b.fragment() => {
                    Err("a fragment marker on something not run".to_string())
                }
                "text" => {
                    count("text (output, not run)");
                    Ok(())
                }
                "c" if b.fragment() => {
                    count("c fragments (their functions checked against the header)");
                    skipped.push(b.at());
                    let unknown: Vec<String> = b
                        .body
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .filter(|w| w.starts_with("wl_") && b.body.contains(&format!("{w}(")))
                        .filter(|w| !header.contains(*w))
                        .map(str::to_string)
                        .collect();
                    if unknown.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("not in include/workerlife.h: {unknown:?}"))
                    }
                }
                "c" if b.body.contains("int main(") => {
                    count("c programs (compiled and run)");
                    built().clone().and_then(|()| c_program(&stem, &b.body))
                }
                "c" => Err(
                    "a C example is a whole program (int main), or marked ```c fragment"
                        .to_string(),
                ),
                _ if b.fragment() => {
                    count(&format!("{} fragments (skipped)", b.lang));
                    skipped.push(b.at());
                    Ok(())
                }
                "python" => {
                    count("python (compiled)");
                    let file = write(&format!("{stem}.py"), &b.body);
                    run(Command::new("python3")
                        .args([
                            "-c",
                            "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')",
                        ])
                        .arg(&file))
                }
                "perl" => {
                    let file = write(&format!("{stem}.pl"), &b.body);
                    let perl = || {
                        let mut perl = Command::new("perl");
                        perl.arg(format!("-I{ROOT}/bindings/perl/blib/lib"))
                            .arg(format!("-I{ROOT}/bindings/perl/blib/arch"));
                        perl
                    };
                    // A whole PSGI app is loaded as a server loads it: the
                    // middleware is made and checks its policy.
                    let psgi = b.body.starts_with("# app.psgi");
                    count(if psgi {
                        "perl app.psgi (loaded by Plack::Util::load_psgi)"
                    } else {
                        "perl (perl -c, against the XS module)"
                    });
                    built().clone().and_then(|()| {
                        run(perl().arg("-c").arg(&file))?;
                        if psgi {
                            run(perl().arg("-MPlack::Util").arg("-e").arg(
                                "ref Plack::Util::load_psgi(shift) eq 'CODE' or die 'not an app'",
                            ).arg(&file))?;
                        }
                        Ok(())
                    })
                }
                "ruby" => {
                    count("ruby (ruby -c)");
                    run(Command::new("ruby")
                        .arg("-c")
                        .arg(write(&format!("{stem}.rb"), &b.body)))
                }
                "js" => {
                    count("js (node --check)");
                    run(Command::new("node")
                        .arg("--check")
                        .arg(write(&format!("{stem}.js"), &b.body)))
                }
                "sh" => {
                    count("sh (bash -n; targets, subcommands, examples, files, URLs)");
                    let errors = command_errors(&b.body, false);
                    run(Command::new("bash")
                        .arg("-n")
                        .arg(write(&format!("{stem}.sh"), &b.body)))
                    .and(if errors.is_empty() {
                        Ok(())
                    } else {
                        Err(errors.join("; "))
                    })
                }
                "json" => {
                    count("json (parsed; a vector case must be one of tests/vectors)");
                    json_case(&b.body)
                }
                "yaml" => {
                    count("yaml (parsed)");
                    let file = write(&format!("{stem}.yaml"), &b.body);
                    run(Command::new("ruby")
                        .args(["-ryaml", "-e", "YAML.load_file(ARGV[0])"])
                        .arg(&file))
                }
                other => Err(format!(
                    "no check for ```{other}: add one here, or mark it ```{other} fragment"
                )),
            };
            if let Err(e) = result {
                failures.push(format!("{}: {e}", b.at()));
            }
        }
    }
    let _ = std::fs::remove_dir_all(scratch("x").parent().unwrap());
    eprintln!("doc examples checked: {counts:?}");
    eprintln!("skipped by the `fragment` marker: {}", skipped.len());
    for s in &skipped {
        eprintln!("  {s}");
    }
    // Said here, so that a new fragment is a choice this file records.
    assert_eq!(
        skipped.len(),
        FRAGMENTS,
        "examples marked `fragment` (not run whole):\n{}",
        skipped.join("\n")
    );
    assert!(
        failures.is_empty(),
        "examples that fail as written:\n{}",
        failures.join("\n\n")
    );
}

fn write(name: &str, body: &str) -> PathBuf {
    let path = scratch(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// Compiles a C example as docs/c.md says (the header, the library and an
/// rpath to its SONAME link from `make lib`) and runs it.
fn c_program(stem: &str, body: &str) -> Result<(), String> {
    let src = write(&format!("{stem}.c"), body);
    let exe = scratch(stem);
    run(
        Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
            .arg(format!("-I{ROOT}/include"))
            .arg(&src)
            .arg(format!("-L{ROOT}/target/release"))
            .arg("-lworkerlife")
            .arg(format!("-Wl,-rpath,{ROOT}/target/c"))
            .arg("-o")
            .arg(&exe),
    )?;
    run(&mut Command::new(&exe))
}

/// A JSON example: valid, and when it is a vector case, one of
/// tests/vectors (so the format it shows is the one the suites run).
fn json_case(body: &str) -> Result<(), String> {
    let case: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let Some(name) = case.get("name").and_then(|n| n.as_str()) else {
        return Ok(());
    };
    for entry in std::fs::read_dir(Path::new(ROOT).join("tests/vectors")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        if let Some(found) = cases.iter().find(|c| c["name"] == name) {
            return if *found == case {
                Ok(())
            } else {
                Err(format!(
                    "vector case {name:?} differs from tests/vectors' one"
                ))
            };
        }
    }
    Err(format!("no vector case named {name:?} in tests/vectors"))
}

#[test]
fn the_readme_is_the_one_index_of_every_page() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let index = readme
        .split("\n## Documentation\n")
        .nth(1)
        .expect("README.md has ## Documentation");
    let index = index.split("\n## ").next().unwrap();
    let listed: BTreeSet<String> = links(index)
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| t.starts_with("docs/"))
        .collect();
    let pages: BTreeSet<String> = pages()
        .into_iter()
        .map(|p| p.path)
        .filter(|p| p.starts_with("docs/"))
        .collect();
    assert_eq!(
        listed, pages,
        "README.md's Documentation table and docs/*.md"
    );
}

/// The layers as src/lib.rs's "Layout" lists them: each item's module
/// names, in order.
fn layout_in_lib_rs() -> Vec<Vec<String>> {
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).unwrap();
    let layout = lib
        .split("//! # Layout\n")
        .nth(1)
        .expect("src/lib.rs has a Layout section");
    layout
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .filter_map(|l| {
            let item = l.trim_start_matches("//!").trim_start();
            let (n, rest) = item.split_once(". ")?;
            n.parse::<usize>().ok()?;
            let names = rest.split(':').next()?;
            Some(
                names
                    .split(',')
                    .map(|n| n.trim().trim_matches('`').to_string())
                    .collect(),
            )
        })
        .collect()
}

/// The layers tests/layers.rs holds the crate to (its `LAYERS`).
fn layers_in_the_test() -> Vec<Vec<String>> {
    let test = std::fs::read_to_string(Path::new(ROOT).join("tests/layers.rs")).unwrap();
    let table = test
        .split("const LAYERS")
        .nth(1)
        .expect("tests/layers.rs has LAYERS");
    let table = &table[table.find("= [").unwrap() + 3..];
    let table = &table[..table.find("\n];").unwrap()];
    table
        .lines()
        .filter(|l| l.contains("&["))
        .map(|l| {
            l.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn the_layout_src_lib_rs_gives_is_the_one_tests_layers_rs_holds() {
    let (said, held) = (layout_in_lib_rs(), layers_in_the_test());
    assert!(
        held.len() > 5,
        "tests/layers.rs's LAYERS not read: {held:?}"
    );
    assert_eq!(
        said, held,
        "src/lib.rs's Layout and tests/layers.rs's LAYERS"
    );
}

#[test]
fn design_md_names_every_op_the_vectors_use() {
    let design = std::fs::read_to_string(Path::new(ROOT).join("docs/design.md")).unwrap();
    let section = design
        .split("\n## Test vectors\n")
        .nth(1)
        .expect("design.md has ## Test vectors");
    let documented: BTreeSet<String> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l[3..].split('`').next().map(str::to_string))
        .collect();
    let mut used = BTreeSet::new();
    for entry in std::fs::read_dir(Path::new(ROOT).join("tests/vectors")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        for case in &cases {
            for step in case["steps"].as_array().unwrap() {
                used.insert(step["op"].as_str().unwrap().to_string());
            }
        }
    }
    let missing: Vec<&String> = used.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "ops the vectors use that docs/design.md does not describe: {missing:?}"
    );
}

/// Whether `path` is something a build makes (`bindings/perl/blib`,
/// `node_modules`): ignored by git, so a fresh clone has none, and a doc
/// may still name it. Asked as a file and as a folder (a pattern ending in
/// `/` matches only a folder, which git cannot tell of a missing path).
fn build_output(path: &str) -> bool {
    let folder = format!("{}/", path.trim_end_matches('/'));
    [path, folder.as_str()].iter().any(|p| {
        std::process::Command::new("git")
            .args(["-C", ROOT, "check-ignore", "-q", p])
            .status()
            .is_ok_and(|s| s.success())
    })
}
