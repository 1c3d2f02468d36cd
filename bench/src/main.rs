//! `forge-bench`: the parts of `make bench` that need the project's own code — the hashing
//! rate, bulk seeding through the database layer, and rendering the results table. The load
//! itself comes from wrk and curl, driven by scripts/bench.sh, so that our server and the
//! reference server face exactly the same client.

mod hash;
mod report;
mod seed;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "forge-bench", about = "Benchmark tools of forge-packages")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the 4-digest hashing rate (MiB/s), serial and on two threads, as key=value lines.
    HashRate {
        /// MiB of in-memory data to hash for each rate.
        #[arg(long, default_value_t = 512)]
        mib: usize,
    },
    /// Add versions for an owner directly through the database layer.
    Seed {
        /// The server's database: postgres://… or the SQLite file.
        #[arg(long)]
        database_url: String,
        /// Existing user who owns the versions.
        #[arg(long)]
        owner: String,
        /// Package names are <prefix>0, <prefix>1, …; each holds 1000 versions.
        #[arg(long)]
        prefix: String,
        /// Versions to add, each with one file of its own few bytes (not in the store).
        #[arg(long)]
        count: u64,
    },
    /// Regenerate the part of the performance document below its marker from a results file.
    Report {
        /// key=value lines written during the run.
        #[arg(long)]
        results: PathBuf,
        /// The document to update in place.
        #[arg(long)]
        doc: PathBuf,
    },
}

fn run(cli: Cli) -> Result<(), Box<dyn Error>> {
    match cli.command {
        Command::HashRate { mib } => {
            let rates = hash::measure(mib << 20)?;
            println!("mib={mib}");
            println!("serial_mibs={:.1}", rates.serial);
            println!("parallel_mibs={:.1}", rates.parallel);
            println!("lanes={}", rates.lanes);
        }
        Command::Seed {
            database_url,
            owner,
            prefix,
            count,
        } => {
            let (added, took) = seed::seed(&database_url, &owner, &prefix, count)?;
            println!("seeded={added}");
            println!("seconds={:.1}", took.as_secs_f64());
        }
        Command::Report { results, doc } => {
            let text = std::fs::read_to_string(&results)
                .map_err(|e| format!("cannot read {}: {e}", results.display()))?;
            let old = match std::fs::read_to_string(&doc) {
                Ok(old) => old,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(format!("cannot read {}: {e}", doc.display()).into()),
            };
            let generated = report::render(&report::Results::parse(&text));
            std::fs::write(&doc, report::splice(&old, &generated))
                .map_err(|e| format!("cannot write {}: {e}", doc.display()))?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("forge-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
