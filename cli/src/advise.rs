//! `workerlife advise`: watches a pool (its file or its stats endpoint) for
//! a while, or reads a saved series, and prints what its workers' memory
//! does and the limits that hold a target. The analysis and the report are
//! the library's (`workerlife::advise`), shared with
//! `python -m workerlife advise`; this file gathers the series.

use crate::Source;
use clap::{ArgGroup, Args};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use workerlife::advise::{self, Series, Target};

/// The longest line a series file may hold (64 MiB, the stats endpoint's
/// body cap): a longer one is an error, not all of memory.
const LINE_CAP: u64 = 64 << 20;

#[derive(Args)]
#[command(group(ArgGroup::new("source").required(true).args(["pool", "metrics", "series"])))]
pub struct AdviseArgs {
    /// Watch this pool file (the gunicorn hook's WORKERLIFE_POOL, the Plack
    /// middleware's pool).
    #[arg(long, value_name = "FILE")]
    pool: Option<PathBuf>,
    /// Watch this stats endpoint (WORKERLIFE_METRICS): HOST:PORT (its
    /// /stats), or http://HOST:PORT/stats.
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<String>,
    /// Read a saved series instead of watching: JSON lines, one stats
    /// document each (what --save writes).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["save", "duration", "interval"])]
    series: Option<PathBuf>,
    /// How long to watch (60s, 5m, 1h30m; a bare number is seconds).
    #[arg(long = "for", value_name = "DURATION", default_value = "60s", value_parser = advise::parse_seconds)]
    duration: f64,
    /// Time between two samples.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = advise::parse_seconds)]
    interval: f64,
    /// While watching, also write each sample to FILE as a line: a series
    /// --series reads back.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// The target: each worker's memory at most SIZE (512MiB, 2GB).
    #[arg(long, value_name = "SIZE", value_parser = advise::parse_size)]
    max_worker: Option<u64>,
    /// The target: the container's memory limit, shared by the workers
    /// (less 10% headroom and the parent's RSS when the stats hold it).
    #[arg(long, value_name = "SIZE", value_parser = advise::parse_size, conflicts_with = "max_worker")]
    container: Option<u64>,
    /// With --container: the workers it holds (default: those running in
    /// the latest sample).
    #[arg(long, value_name = "N", requires = "container", value_parser = clap::value_parser!(u32).range(1..))]
    workers: Option<u32>,
}

/// Runs `advise`: 0 with advice, `advise::EXIT_NOT_YET` (3) when it
/// cannot tell yet, 1 on an error (said on stderr).
pub fn run(args: AdviseArgs) -> ExitCode {
    match advise(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("workerlife: {e}");
            ExitCode::FAILURE
        }
    }
}

fn advise(args: AdviseArgs) -> Result<u8, String> {
    // Checked before a minute of watching, not after.
    let target = Target::of(args.max_worker, args.container, args.workers)?;
    let (series, name) = if let Some(path) = &args.series {
        (read_series(path)?, path.display().to_string())
    } else {
        let (source, name) = match (&args.pool, &args.metrics) {
            (Some(p), _) => (
                Source::File(
                    workerlife::Pool::attach(p).map_err(|e| format!("{}: {e}", p.display()))?,
                ),
                p.display().to_string(),
            ),
            (None, Some(m)) => {
                let url = if m.starts_with("http://") {
                    m.clone()
                } else {
                    format!("http://{m}/stats")
                };
                (Source::Url(url.clone()), url)
            }
            (None, None) => unreachable!("clap requires a source"),
        };
        let series = watch(&source, &name, &args)?;
        (series, name)
    };
    let (code, text) = advise::report(&series, target, &name);
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(code)
}

/// Samples `source` every `--interval` for `--for`, each sample checked as
/// it comes (an error names the sample) and written to `--save`.
fn watch(source: &Source, name: &str, args: &AdviseArgs) -> Result<Series, String> {
    let mut save = match &args.save {
        Some(p) => Some((
            std::io::BufWriter::new(
                std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
            ),
            p,
        )),
        None => None,
    };
    eprintln!(
        "workerlife advise: watching {} for {}s, a sample every {}s",
        advise::escaped(name),
        args.duration,
        args.interval
    );
    let mut series = Series::new();
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        n += 1;
        // An endpoint's errors name its URL already.
        let doc = source.stats().map_err(|e| match e.strip_prefix(name) {
            Some(rest) => format!("{name}: sample {n}{rest}"),
            None => format!("{name}: sample {n}: {e}"),
        })?;
        series
            .push(&doc)
            .map_err(|e| format!("{name}: sample {n}: {e}"))?;
        if let Some((w, p)) = &mut save {
            // A line at a time: what was sampled is kept if the watch is
            // interrupted.
            writeln!(w, "{doc}")
                .and_then(|()| w.flush())
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
        let next = Duration::from_secs_f64(args.interval * n as f64);
        if next.as_secs_f64() > args.duration {
            break;
        }
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    if let Some((mut w, p)) = save {
        w.flush().map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(series)
}

/// A saved series: one stats document a line (blank lines skipped); an
/// error names the file and line.
fn read_series(path: &Path) -> Result<Series, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut series = Series::new();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let at = |e: String| format!("{}:{number}: {e}", path.display());
        let read = (&mut reader)
            .take(LINE_CAP + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| at(e.to_string()))?;
        if read == 0 {
            break;
        }
        if line.len() as u64 > LINE_CAP {
            return Err(at(format!("a line longer than {} MiB", LINE_CAP >> 20)));
        }
        let text = std::str::from_utf8(&line).map_err(|e| at(format!("not UTF-8 ({e})")))?;
        if text.trim().is_empty() {
            continue;
        }
        series.push_json(text).map_err(at)?;
    }
    Ok(series)
}
