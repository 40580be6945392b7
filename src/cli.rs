//! The command line (clap derive). Global options work before or after the subcommand.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ocb",
    version,
    about = "OpenChargeback: FOCUS billing CSVs to statements, journals and a static site"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The billing repository (default: the current directory)
    #[arg(long, global = true, default_value = ".")]
    pub root: PathBuf,
    /// Configuration file (default: <root>/ocb.yaml)
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more about each step
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl Global {
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| self.root.join("ocb.yaml"))
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build output/: site, statements, PDFs, journals
    Build {
        /// Output folder (default: <root>/output)
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print PDFs only for these periods (YYYY-MM); repeatable
        #[arg(long = "period")]
        periods: Vec<String>,
        /// Skip printing PDF statements
        #[arg(long)]
        no_pdf: bool,
    },
    /// Validate FOCUS files, or the whole repository; exit 1 on any problem
    Check {
        /// Files to check (default: the whole repository)
        files: Vec<PathBuf>,
    },
    /// Copy a FOCUS CSV into periods/<YYYY-MM>/<source>.csv, split by BillingPeriodStart
    Import {
        file: PathBuf,
        #[arg(long)]
        source: String,
        /// Overwrite existing period files
        #[arg(long)]
        force: bool,
    },
    /// Table of periods: rows, sources, totals, status
    Periods,
    /// List charges held for review; --write appends them to review.yaml as pending
    Review {
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        write: bool,
    },
    /// Close a period: record digests of its inputs in period.yaml
    Close { period: String },
    /// Reopen a closed period
    Reopen {
        period: String,
        #[arg(long)]
        reason: String,
    },
    /// Scaffold a new billing repository
    Init { dir: Option<PathBuf> },
    /// Build, serve output/ on 127.0.0.1 and rebuild on change
    Serve {
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Skip PDFs while serving (faster rebuilds)
        #[arg(long)]
        no_pdf: bool,
    },
    /// Write synthetic FOCUS data (demos, benchmarks)
    Sample(SampleArgs),
}

#[derive(Args, Debug, Clone)]
pub struct SampleArgs {
    /// Rows per period
    #[arg(long, default_value_t = 1000)]
    pub rows: u64,
    #[arg(long, default_value_t = 1)]
    pub periods: u32,
    #[arg(long, default_value_t = 20)]
    pub projects: u32,
    /// First period (YYYY-MM)
    #[arg(long, default_value = "2025-01")]
    pub start: String,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A billing repository to create (ocb.yaml, projects.yaml, periods/)
    #[arg(long)]
    pub out: PathBuf,
}
