//! `workerlife`: the command line. `workerlife top SOURCE` shows a pool's
//! workers live (pid, age, requests, memory, growth, time to limit, state,
//! how the last one in each slot ended), from a named pool file or a
//! server's stats endpoint; `--once` prints one table, for scripts.
//! `workerlife advise` watches a pool for a while (or reads a saved series)
//! and prints what its workers' memory does and the limits that hold a
//! target.

mod advise;

use clap::{Parser, Subcommand};
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "workerlife", version, about = "workerlife's command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A live view of a pool's workers.
    Top {
        /// A pool file (the gunicorn hook's and the Plack middleware's
        /// WORKERLIFE_POOL / pool), or a stats endpoint serving the pool's
        /// JSON: http://HOST:PORT/stats (the gunicorn hook's
        /// WORKERLIFE_METRICS), or HOST:PORT for that.
        source: String,
        /// Print one table and exit.
        #[arg(long)]
        once: bool,
        /// Seconds between two refreshes.
        #[arg(long, default_value_t = 1.0, value_parser = interval)]
        interval: f64,
    },
    /// Advice from measured growth: watch a pool (or read a saved series),
    /// say what its workers' memory follows, and the limits that hold a
    /// target. Exit status: 0 advice printed, 1 an error, 2 a usage error,
    /// 3 it cannot tell yet (too few samples, one worker, no requests).
    Advise(advise::AdviseArgs),
}

fn interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.05..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: expected seconds in [0.05, 3600]")),
    }
}

/// The longest a stats endpoint may take to answer, from connecting to
/// the end of the body: a server that sends a byte every few seconds is cut
/// off here rather than holding `top` for ever.
const HTTP_DEADLINE: Duration = Duration::from_secs(5);

/// The largest stats body read (64 MiB): an endless or huge body is an
/// error, not all of memory. A pool's stats are about 600 bytes per worker.
const BODY_CAP: u64 = 64 << 20;

/// Where the stats come from.
enum Source {
    File(workerlife::Pool),
    Url(String),
}

impl Source {
    fn open(source: &str) -> Result<Source, String> {
        let is_url = source.starts_with("http://")
            || (!std::path::Path::new(source).exists()
                && source
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.parse::<u16>().is_ok()));
        if is_url {
            let url = if source.starts_with("http://") {
                source.to_string()
            } else {
                format!("http://{source}/stats")
            };
            return Ok(Source::Url(url));
        }
        workerlife::Pool::attach(source)
            .map(Source::File)
            .map_err(|e| e.to_string())
    }

    fn stats(&self) -> Result<Value, String> {
        let text = match self {
            // Vacant slots counted, not listed: a pool of 2^20 slots reads
            // in time and memory bounded by its workers.
            Source::File(pool) => pool.stats_json_occupied(),
            Source::Url(url) => ureq::get(url)
                .config()
                .timeout_global(Some(HTTP_DEADLINE))
                .build()
                .call()
                .map_err(|e| format!("{url}: {e}"))?
                .body_mut()
                .with_config()
                .limit(BODY_CAP)
                .read_to_string()
                .map_err(|e| format!("{url}: {e} (the body is read up to 64 MiB within 5 s)"))?,
        };
        serde_json::from_str(&text).map_err(|e| {
            format!("not the pool's stats JSON ({e}): point at the JSON endpoint (gunicorn hook: /stats)")
        })
    }
}

fn top(source: &str, once: bool, interval: f64) -> Result<(), String> {
    let src = Source::open(source)?;
    let mut out = std::io::stdout().lock();
    loop {
        let table = workerlife::top::render(&src.stats()?, source)?;
        if once {
            return out.write_all(table.as_bytes()).map_err(|e| e.to_string());
        }
        // Home, clear, table: a refresh in place, as top does.
        write!(out, "\x1b[H\x1b[2J{table}")
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_secs_f64(interval));
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Top {
            source,
            once,
            interval,
        } => top(&source, once, interval),
        Command::Advise(args) => return advise::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("workerlife: {e}");
            ExitCode::FAILURE
        }
    }
}
