//! The per-period cache, `.ocb-cache/periods/<YYYY-MM>/`: the files a
//! period's build wrote and the data the rest of the build reads from it
//! (rollup, statement numbers, statements), under a key that digests
//! everything the period depends on. A stale entry would be a wrong bill, so
//! the key is wide: see docs/OPERATIONS.md, "The per-period cache", for what
//! it holds.

use crate::build::Repo;
use crate::discover::PeriodDir;
use crate::flag::SourceTotals;
use crate::outputs::CurrencySummary;
use crate::period::Period;
use crate::pipeline::PeriodData;
use crate::problem::Problem;
use crate::projects::{Lookup, Projects};
use crate::rollup::{Group, ResourceKey, Rollup, StatementKey};
use crate::site::StatementRef;
use anyhow::{Context, Result};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Changed whenever what an entry holds changes: old entries then miss.
const FORMAT: &str = "ocb period cache 3";
const ENTRY: &str = "entry.msgpack";
/// The rollup's resources, read only when statement pages are rendered
/// again: most of an entry's bytes (65,000 groups for a million rows).
const RESOURCES: &str = "resources.msgpack";
const FILES: &str = "files";

/// Files of a period folder rendered again on every build: they name the
/// repository's state (its commit, uncommitted changes), which is not a
/// period's input.
const RENDERED_EACH_TIME: [&str; 2] = ["index.html", "audit.json"];

pub struct Cache {
    dir: PathBuf,
    /// Where replaced entries go (`write::trash`).
    trash: PathBuf,
    /// Digest of what every period depends on: this ocb binary, the config,
    /// the themes and the journal template. projects.yaml is in each entry's
    /// `Key`, by the questions the period asked of it.
    global: String,
    /// Per period (by index): digest of the periods before it and their
    /// period.yaml.
    before: Vec<String>,
}

/// What a period's entry holds for: the digest of its inputs (`base`) and
/// the answers projects.yaml gave to the questions its build asked.
#[derive(Clone, Serialize, Deserialize)]
pub struct Key {
    pub base: String,
    pub lookups: Vec<Lookup>,
    pub projects: String,
}

impl Key {
    /// The key of a period computed since `Projects::trace_start`.
    pub fn new(base: String, projects: &Projects) -> Key {
        let lookups = projects.trace_take();
        Key {
            projects: projects.digest(&lookups),
            base,
            lookups,
        }
    }

    /// This key with what a restored period asked since (its statement
    /// pages were rendered again).
    pub fn and_since(mut self, projects: &Projects) -> Key {
        self.lookups.extend(projects.trace_take());
        self.lookups.sort();
        self.lookups.dedup();
        self.projects = projects.digest(&self.lookups);
        self
    }

    /// Whether a period with inputs `base` would be computed as this entry's
    /// was: same inputs, and the same answers from projects.yaml.
    pub fn holds(&self, base: &str, projects: &Projects) -> bool {
        self.base == base && projects.digest(&self.lookups) == self.projects
    }
}

/// A period's cache entry.
#[derive(Serialize, Deserialize)]
pub struct Entry {
    pub key: Key,
    pub data: Snapshot,
    /// The spike rule's input for the next period.
    pub totals: Vec<((String, String, String), Decimal)>,
    /// This period's totals as its own spike rule read them.
    pub spike_totals: Vec<((String, String, String), Decimal)>,
    /// The previous period's billed amount of each of this period's
    /// statements (`previous_billed`), as its pages show the change.
    pub previous: String,
    /// Whether the period has corrections to closed periods: their lines are
    /// charges, so its statement pages cannot be rendered from the rollup.
    pub corrections: bool,
    /// The period's statements as the site rendered them.
    pub rows: Vec<StatementRef>,
    /// Files under the period's output folder, `/`-separated.
    pub files: Vec<String>,
}

/// A period's data without its charges: what the ledger, the histories and
/// the dashboard read.
#[derive(Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub rollup: Rollup,
    /// Before the ledger's totals (the ledger runs again on a restored period).
    pub currencies: Vec<CurrencySummary>,
    pub numbers: BTreeMap<StatementKey, String>,
    pub stale: Vec<Problem>,
    pub replaces: BTreeMap<StatementKey, String>,
    pub digests: BTreeMap<StatementKey, String>,
    pub corrected_in: Vec<Period>,
}

/// How the build treats one period.
#[derive(Default)]
pub enum Use {
    /// Not cached (another command, `--no-cache`, per-PI portals, or a period
    /// that carries corrections between periods).
    #[default]
    Off,
    /// Restored: its files are copied from the entry, nothing is loaded.
    /// With `statements` (the previous period's amounts, as
    /// `previous_billed` digests them), those changed: its statement pages
    /// are rendered again from the rollup, and the entry stored again.
    Hit {
        entry: Box<Entry>,
        statements: Option<String>,
    },
    /// Computed; store it under this key (`Key::base`) once rendered.
    Store { base: String, previous: String },
}

impl Cache {
    /// The cache of a repository. Every input file's digest is computed here,
    /// on every core, and remembered for the keys and the audit records.
    /// With `prune` (a build, holding the repository's lock), entries no
    /// build will read are removed.
    pub fn open(repo: &Repo, prune: bool) -> Result<Cache> {
        let dir = repo.root.join(".ocb-cache").join("periods");
        // Digests an earlier build made of files still unchanged are taken
        // as they are: an unchanged year is not read again.
        crate::digest::recall(&digests_file(repo));
        // The files of periods that have an entry, on every core: their
        // keys are asked for first. A period without one is computed, its
        // files hashed beside its processing (`books`).
        let files: Vec<PathBuf> = repo
            .periods
            .iter()
            .filter(|p| dir.join(p.period.to_string()).join(ENTRY).is_file())
            .flat_map(|p| files_under(&p.dir))
            .collect();
        crate::parallel::map(files.len(), |i| crate::digest::sha256(&files[i]).ok());
        if prune {
            remember_digests(repo);
        }
        let mut h = Sha256::new();
        let mut put = |label: &str, value: &[u8]| {
            h.update(label.as_bytes());
            h.update((value.len() as u64).to_le_bytes());
            h.update(value);
        };
        put("format", FORMAT.as_bytes());
        put("version", env!("CARGO_PKG_VERSION").as_bytes());
        put("binary", binary_identity().as_bytes());
        put("config", &read_or_absent(&repo.config_path));
        if let Some(t) = &repo.config.journal.template {
            put("journal template", &read_or_absent(&repo.root.join(t)));
        }
        let themes = repo.root.join("themes");
        for path in files_under(&themes) {
            let rel = path.strip_prefix(&themes).unwrap_or(&path);
            put("theme file", rel.to_string_lossy().as_bytes());
            put("theme bytes", &read_or_absent(&path));
        }
        // The periods before each one, with their period.yaml: which are
        // closed, and what they issued, decides where its late rows go. A
        // new month after them changes no earlier key.
        let mut before = Vec::new();
        let mut earlier = Sha256::new();
        for p in &repo.periods {
            before.push(hex::encode(earlier.clone().finalize()));
            let yaml = read_or_absent(&p.period_yaml());
            earlier.update(format!("{}\0{}\0", p.period, yaml.len()).as_bytes());
            earlier.update(&yaml);
        }
        let cache = Cache {
            dir,
            trash: crate::write::trash(&repo.root),
            global: hex::encode(h.finalize()),
            before,
        };
        if prune {
            cache.prune(&repo.periods);
        }
        Ok(cache)
    }

    /// Remove what no build will read: entries of periods the repository no
    /// longer has, and half-written entries of a build that was killed (the
    /// repository lock keeps any other build out while this one runs).
    fn prune(&self, periods: &[PeriodDir]) {
        let Ok(list) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let known: Vec<String> = periods.iter().map(|p| p.period.to_string()).collect();
        for entry in list.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !known.contains(&name) {
                // Best effort: an entry left behind is never read.
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// The key of period `i`: the global digest, the periods before it,
    /// every file in its folder (name and content), and `carried`, what
    /// other periods hand it.
    pub fn key(&self, i: usize, dir: &PeriodDir, carried: &str) -> Result<String> {
        let mut h = Sha256::new();
        h.update(self.global.as_bytes());
        h.update(self.before.get(i).map_or("?", String::as_str).as_bytes());
        h.update(dir.period.to_string().as_bytes());
        for path in files_under(&dir.dir) {
            let rel = path.strip_prefix(&dir.dir).unwrap_or(&path);
            let digest = crate::digest::sha256(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            h.update(format!("\n{}\0{digest}", rel.to_string_lossy()).as_bytes());
        }
        h.update(b"\ncarried\0");
        h.update(carried.as_bytes());
        Ok(hex::encode(h.finalize()))
    }

    fn entry_dir(&self, period: Period) -> PathBuf {
        self.dir.join(period.to_string())
    }

    /// The period's entry, if there is one, without its rollup's resources
    /// (`resources`).
    pub fn read(&self, period: Period) -> Option<Entry> {
        let bytes = std::fs::read(self.entry_dir(period).join(ENTRY)).ok()?;
        rmp_serde::from_slice(&bytes).ok()
    }

    /// The resources of the entry's rollup.
    pub fn resources(&self, period: Period) -> Option<Vec<Group<ResourceKey>>> {
        let bytes = std::fs::read(self.entry_dir(period).join(RESOURCES)).ok()?;
        rmp_serde::from_slice(&bytes).ok()
    }

    /// Every file of the entry is there.
    pub fn whole(&self, period: Period, entry: &Entry) -> bool {
        let dir = self.entry_dir(period).join(FILES);
        entry.files.iter().all(|f| dir.join(f).is_file())
    }

    /// Put an entry's files into the period's output folder: hard links
    /// where the file system allows (`write::file` never writes into an
    /// existing file, so a link is never changed), copies otherwise.
    pub fn restore(&self, period: Period, entry: &Entry, out: &Path) -> Result<()> {
        use rayon::prelude::*;
        let from = self.entry_dir(period).join(FILES);
        // Hundreds of files a month: linked on every core.
        entry
            .files
            .par_iter()
            .try_for_each(|rel| link_or_copy(&from.join(rel), &out.join(rel)))
    }

    /// Store what a period's build wrote under `out` (its output folder) and
    /// the data the rest of the build reads from it. The entry replaces the
    /// period's previous one in one rename.
    pub fn store(
        &self,
        key: Key,
        previous: String,
        data: &PeriodData,
        rows: Vec<StatementRef>,
        out: &Path,
    ) -> Result<()> {
        let period = data.dir.period;
        let tmp = self
            .dir
            .join(format!(".{period}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .with_context(|| format!("cannot remove `{}`", tmp.display()))?;
        }
        // The resources (a hundred thousand groups a month) are encoded on
        // another core while the files are linked.
        let resources = &data.rollup.resources;
        let (resources, files) = std::thread::scope(|s| {
            let encoded = s.spawn(|| rmp_serde::to_vec(resources));
            let files = (|| -> Result<Vec<String>> {
                let mut files = Vec::new();
                for path in files_under(out) {
                    let rel = path.strip_prefix(out).unwrap_or(&path);
                    let name = rel.to_string_lossy().replace('\\', "/");
                    if RENDERED_EACH_TIME.contains(&name.as_str()) {
                        continue;
                    }
                    link_or_copy(&path, &tmp.join(FILES).join(rel))?;
                    files.push(name);
                }
                Ok(files)
            })();
            let encoded = encoded
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (encoded, files)
        });
        let files = files?;
        let mut currencies = data.currencies.clone();
        for c in &mut currencies {
            c.usage = Decimal::ZERO;
            c.credits = Decimal::ZERO;
            c.surcharges = Decimal::ZERO;
            c.due = Decimal::ZERO;
        }
        let resources = resources.context("cannot encode a cache entry")?;
        crate::write::file(&tmp.join(RESOURCES), &resources)?;
        let entry = Entry {
            key,
            data: Snapshot {
                rollup: Rollup {
                    states: data.rollup.states.clone(),
                    statements: data.rollup.statements.clone(),
                    services: data.rollup.services.clone(),
                    resources: Vec::new(),
                    period_services: data.rollup.period_services.clone(),
                    held: data.rollup.held.clone(),
                },
                currencies,
                numbers: data.numbers.clone(),
                stale: data.stale.clone(),
                replaces: data.replaces.clone(),
                digests: data.digests.clone(),
                corrected_in: data.corrected_in.clone(),
            },
            totals: sorted(&data.totals),
            spike_totals: sorted(&data.spike_totals),
            previous,
            corrections: data.charges.iter().any(|c| c.origin.is_some()),
            rows,
            files,
        };
        let bytes = rmp_serde::to_vec_named(&entry).context("cannot encode a cache entry")?;
        crate::write::file(&tmp.join(ENTRY), &bytes)?;
        let dir = self.entry_dir(period);
        if dir.exists() {
            // Removed while the next build works: its files may be the last
            // links to a month's output, and removing those waits on the disk.
            crate::write::discard(&dir, &self.trash, "entry-")
                .with_context(|| format!("cannot remove `{}`", dir.display()))?;
        }
        std::fs::rename(&tmp, &dir)
            .with_context(|| format!("cannot rename `{}`", tmp.display()))?;
        Ok(())
    }
}

fn sorted(totals: &SourceTotals) -> Vec<((String, String, String), Decimal)> {
    let mut v: Vec<_> = totals.iter().map(|(k, v)| (k.clone(), *v)).collect();
    v.sort();
    v
}

/// What a period is handed by the periods before it, in a stable order: the
/// spike flags the previous period's totals raise on this one's
/// (`spike_totals`), the ledger's balances before it (`ledger`, its
/// fingerprint) and the slugs its names get (`slugs`).
pub fn carried(
    config: &crate::config::Config,
    previous: Option<&SourceTotals>,
    spike_totals: &SourceTotals,
    ledger: &str,
    slugs: &str,
) -> String {
    let mut spikes: Vec<String> = crate::flag::spikes(spike_totals, config, previous)
        .into_iter()
        .map(|(k, detail)| format!("{k:?}={detail}"))
        .collect();
    spikes.sort();
    format!("spikes {}\n{ledger}\nslugs {slugs}", spikes.join(";"))
}

/// The previous period's billed amount of each statement of `rollup`, the
/// "change vs previous" its statement pages show.
pub fn previous_billed(
    previous: Option<&[crate::rollup::Group<StatementKey>]>,
    rollup: &Rollup,
) -> String {
    let before: BTreeMap<&StatementKey, Decimal> = previous
        .unwrap_or_default()
        .iter()
        .map(|g| (&g.key, g.sums.billed))
        .collect();
    rollup
        .statements
        .iter()
        .map(|g| format!("{:?}={:?}\n", g.key, before.get(&g.key)))
        .collect()
}

/// Regular files under a folder, recursively, in name order.
fn digests_file(repo: &Repo) -> PathBuf {
    repo.root.join(".ocb-cache").join("digests.msgpack")
}

/// Keep the digests of the repository's files for the next build (best
/// effort: without them it reads the files again). A build calls it when it
/// opens the cache and again once every period's files are hashed.
pub fn remember_digests(repo: &Repo) {
    let _ = crate::digest::remember(&digests_file(repo), &repo.root);
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    // Links followed, as `discover` follows them: a linked input is an input.
    walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

fn read_or_absent(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|_| b"\0absent".to_vec())
}

/// This ocb binary: a rebuilt ocb (same version, new code) must not read
/// entries another one wrote.
fn binary_identity() -> String {
    let meta = std::env::current_exe().and_then(std::fs::metadata);
    match meta {
        Ok(m) => format!(
            "{} {:?}",
            m.len(),
            m.modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        ),
        // Unknown: this run's entries are its own.
        Err(_) => format!("unknown, run {}", std::process::id()),
    }
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    // A copy never goes into a file with other links (`write::LIVE`).
    let _ = std::fs::remove_file(to);
    std::fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("cannot copy `{}` to `{}`", from.display(), to.display()))
}
