//! `dtfhe-fuzz`: run the fuzz targets, write the seed corpus, list the targets.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use dtfhe_fuzz::fixture::Fixture;
use dtfhe_fuzz::runner::{self, Budget, Crash};
use dtfhe_fuzz::seeds;
use dtfhe_fuzz::targets::{self, Target};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Fuzz the decoders of outside bytes (stable toolchain; see crates/fuzz/README.md).
#[derive(Parser)]
#[command(name = "dtfhe-fuzz")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fuzz targets (all by default) and print inputs executed and inputs per second.
    Run {
        /// Target to run (repeatable); every target if none.
        #[arg(long = "target")]
        targets: Vec<String>,
        /// Inputs per target.
        #[arg(long, conflicts_with = "seconds")]
        iterations: Option<u64>,
        /// Seconds per target.
        #[arg(long)]
        seconds: Option<f64>,
        /// Corpus directory (one sub-directory per target).
        #[arg(long, default_value = default_corpus())]
        corpus: PathBuf,
        /// Where an input that crashes a target is written.
        #[arg(long, default_value = "fuzz-crashes")]
        crashes: PathBuf,
        /// RNG seed (a run is reproducible from it).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write the seed corpus (real encoded objects) to `--out`.
    Seeds {
        /// Corpus directory.
        #[arg(long, default_value = default_corpus())]
        out: PathBuf,
    },
    /// Replay files (e.g. a saved crash) through one target.
    Replay {
        /// Target name.
        #[arg(long)]
        target: String,
        /// Input files.
        files: Vec<PathBuf>,
    },
    /// List the targets.
    List,
}

fn default_corpus() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/corpus")
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::List => {
            for t in targets::TARGETS {
                println!("{:<16} {}", t.name, t.about);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Seeds { out } => {
            let fx = Fixture::new()?;
            for (target, seeds) in seeds::all(&fx)? {
                let dir = out.join(target);
                fs::create_dir_all(&dir)?;
                for (name, bytes) in seeds {
                    fs::write(dir.join(format!("{name}.bin")), bytes)?;
                }
            }
            println!("seed corpus written to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Replay { target, files } => {
            let t = pick(&[target])?[0];
            let fx = Fixture::new()?;
            runner::quiet_panics();
            for f in files {
                let input = fs::read(&f)?;
                match runner::execute(&fx, t, &input) {
                    Ok(()) => println!("{}: no panic", f.display()),
                    Err(c) => {
                        println!("{}: {}", f.display(), c.message);
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            targets,
            iterations,
            seconds,
            corpus,
            crashes,
            seed,
        } => {
            let budget = match (iterations, seconds) {
                (_, Some(s)) => Budget::Time(Duration::from_secs_f64(s)),
                (Some(n), None) => Budget::Iterations(n),
                (None, None) => Budget::Iterations(10_000),
            };
            let chosen = pick(&targets)?;
            let fx = Fixture::new()?;
            runner::quiet_panics();
            println!(
                "{:<16} {:>14} {:>10} {:>12}",
                "target", "inputs", "seconds", "inputs/s"
            );
            let (mut total, mut secs) = (0u64, 0f64);
            for t in chosen {
                let seeds = load_corpus(&corpus.join(t.name))?;
                if seeds.is_empty() {
                    return Err(format!("no seeds in {}", corpus.join(t.name).display()).into());
                }
                match runner::fuzz(&fx, t, &seeds, budget, seed) {
                    Ok(s) => {
                        println!(
                            "{:<16} {:>14} {:>10.1} {:>12.0}",
                            s.target,
                            s.executed,
                            s.elapsed.as_secs_f64(),
                            s.per_second()
                        );
                        total += s.executed;
                        secs += s.elapsed.as_secs_f64();
                    }
                    Err(c) => {
                        report_crash(&crashes, &c)?;
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
            println!("{:<16} {:>14} {:>10.1}", "total", total, secs);
            println!("fuzz: {total} inputs, 0 panics");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn pick(names: &[String]) -> Result<Vec<&'static Target>, String> {
    if names.is_empty() {
        return Ok(targets::TARGETS.iter().collect());
    }
    names
        .iter()
        .map(|n| targets::by_name(n).ok_or_else(|| format!("no target `{n}` (see `list`)")))
        .collect()
}

fn load_corpus(dir: &Path) -> Result<Vec<Vec<u8>>, std::io::Error> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    files.iter().map(fs::read).collect()
}

fn report_crash(dir: &Path, c: &Crash) -> Result<(), std::io::Error> {
    fs::create_dir_all(dir)?;
    let hash = blake3::hash(&c.input).to_hex();
    let path = dir.join(format!("{}-{}.bin", c.target, &hash[..16]));
    fs::write(&path, &c.input)?;
    eprintln!(
        "CRASH in target {}: {}\ninput ({} bytes) saved to {}\nreplay: dtfhe-fuzz replay --target {} {}",
        c.target,
        c.message,
        c.input.len(),
        path.display(),
        c.target,
        path.display()
    );
    Ok(())
}
