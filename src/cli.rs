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

    /// How messages name the config file: relative to the repository when
    /// inside it, else as given.
    pub fn config_shown(&self) -> String {
        let path = self.config_path();
        path.strip_prefix(&self.root)
            .unwrap_or(&path)
            .display()
            .to_string()
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
        /// Compute every period again instead of restoring unchanged ones
        /// from .ocb-cache/periods/
        #[arg(long)]
        no_cache: bool,
    },
    /// Validate FOCUS files, or the whole repository; exit 1 on any problem
    Check {
        /// Files to check (default: the whole repository)
        files: Vec<PathBuf>,
    },
    /// Import a FOCUS file or a provider's delivery folder into periods/<YYYY-MM>/, split by BillingPeriodStart
    Import {
        /// A .csv, .csv.gz or .parquet file, or a delivery folder (AWS Data
        /// Exports, Azure cost export, or a plain folder of files)
        file: PathBuf,
        #[arg(long)]
        source: String,
        /// Replace period data that is not an earlier delivery of the same export
        #[arg(long)]
        force: bool,
        /// Show per month what would change, and write nothing
        #[arg(long)]
        dry_run: bool,
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
    /// Projects the data names against projects.yaml: known, unknown, unused
    Projects {
        #[command(subcommand)]
        action: Option<ProjectsAction>,
    },
    /// What is missing or suspicious in this repository and machine, with the fix
    Doctor,
    /// Scaffold a new billing repository
    Init { dir: Option<PathBuf> },
    /// Build, serve output/ on 127.0.0.1 and rebuild on change
    Serve {
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Skip PDFs while serving (faster rebuilds)
        #[arg(long)]
        no_pdf: bool,
        /// Largest file the desk's import page accepts, in MiB
        #[arg(long, default_value_t = 512, value_name = "MIB")]
        max_upload_mb: u64,
    },
    /// Write synthetic FOCUS data (demos, benchmarks)
    Sample(SampleArgs),
    /// Email each PI their statements of a period (SMTP, or .eml files in dev mode)
    Send(SendArgs),
    /// Convert Slurm accounting or storage usage into a FOCUS CSV for a period
    Convert {
        #[command(subcommand)]
        kind: ConvertKind,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProjectsAction {
    /// Append the projects the data names but projects.yaml lacks
    Add {
        /// Take id, PI and fund/org from the charges' tags
        #[arg(long, required = true)]
        from_data: bool,
        /// Only the projects of this period (YYYY-MM)
        #[arg(long)]
        period: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConvertKind {
    /// Slurm `sacct --parsable2` output: one row per job, priced with your rates
    Slurm {
        #[command(flatten)]
        args: ConvertArgs,
        /// `day`: one row per account, partition and day instead of per job
        #[arg(long, value_enum, default_value = "job")]
        group: SlurmGroup,
    },
    /// Storage usage snapshots (date,path,project_id,bytes[,tier]), or with
    /// `--format isilon` daily `isi quota quotas list --format=json` files: one row per path and tier
    Storage {
        #[command(flatten)]
        args: ConvertArgs,
        /// `csv` (one snapshot file) or `isilon` (one JSON file per day, dated in its name)
        #[arg(long, value_enum, default_value = "csv")]
        format: StorageFormat,
        /// With `--format isilon`: bill `logical` bytes (default), `physical` bytes or the `hard` threshold
        #[arg(long)]
        bill: Option<String>,
    },
    /// ChatGPT Edu workspace usage export (CSV): one row per user, day and usage type
    Openai {
        #[command(flatten)]
        args: ConvertArgs,
    },
    /// Azure Local VM inventory snapshots (one JSON file per day): compute and disk rows per VM
    AzureLocal {
        #[command(flatten)]
        args: ConvertArgs,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFormat {
    Csv,
    Isilon,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlurmGroup {
    Job,
    Day,
}

#[derive(Args, Debug, Clone)]
pub struct ConvertArgs {
    /// The export to convert (daily snapshot formats: one file per day)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Rates file (YAML): prices, subsidy; see docs/guides/
    #[arg(long)]
    pub rates: PathBuf,
    /// Billing period (YYYY-MM); usage outside it is left out
    #[arg(long)]
    pub period: String,
    /// Source name, the output file's stem (default: hpc, storage, openai or azure-local)
    #[arg(long)]
    pub source: Option<String>,
    /// Write here instead of <root>/periods/<period>/<source>.csv
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an existing output file
    #[arg(long)]
    pub force: bool,
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

#[derive(Args, Debug, Clone)]
pub struct SendArgs {
    /// The period to send (YYYY-MM); it must have been built
    #[arg(long)]
    pub period: String,
    /// Print who would receive what; send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Only these PIs (their email address); repeatable
    #[arg(long = "to", value_name = "EMAIL")]
    pub to: Vec<String>,
    /// Send statements changed since they were sent; with --to, everything to those PIs
    #[arg(long)]
    pub resend: bool,
    /// Send even though the period has charges held for review
    #[arg(long)]
    pub allow_held: bool,
    /// Write .eml files and previews to output/emails/<P>/ instead of sending
    #[arg(long, conflicts_with = "no_dev")]
    pub dev: bool,
    /// Send over SMTP even when `email.dev_mode` is true
    #[arg(long)]
    pub no_dev: bool,
    /// The build output to read (default: <root>/output)
    #[arg(long)]
    pub out: Option<PathBuf>,
}
