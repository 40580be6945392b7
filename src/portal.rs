//! Per-PI portals (`site.access: per_pi`): the site's own templates over each
//! PI's share of every period, written to `pi/<slug>/`, with the admins' PDFs
//! linked in (never printed twice), the landing page and the server rules.

use crate::access::{self, Rules};
use crate::build::Repo;
use crate::charge::{Charge, State};
use crate::pipeline::PeriodData;
use crate::problem::Problem;
use crate::published::Published;
use crate::site::{Pages, Site, StatementRef};
use crate::slug::Slugs;
use crate::write;
use anyhow::{Context, Result};
use minijinja::context;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

struct Portal {
    slug: String,
    site: Site,
    /// What the portal has published so far.
    published: Published,
    /// The PI's share of each period, charges dropped once rendered.
    history: Vec<PeriodData>,
}

#[derive(Default)]
pub struct Portals {
    slugs: Slugs,
    by_pi: BTreeMap<String, Portal>,
}

/// A portal's folder, relative to the output: `pi/<slug>/`.
pub fn path(slug: &str) -> String {
    format!("pi/{slug}/")
}

impl Portals {
    /// Split `data` by PI and render each share into that PI's portal.
    pub fn render_period(&mut self, repo: &Repo, data: &PeriodData, out: &Path) -> Result<()> {
        for (pi, rows) in split(&data.charges) {
            // One PI's charges copied at a time: memory stays near one period's.
            let charges = rows.iter().map(|&i| data.charges[i].clone()).collect();
            let mut part = share(data, &pi, charges)?;
            if !self.by_pi.contains_key(&pi) {
                let portal = Portal {
                    slug: self.slugs.get(&pi),
                    site: Site::new(&repo.root, &repo.config_path, &repo.config, &repo.projects)?
                        .for_portal(&pi),
                    published: Published::default(),
                    history: Vec::new(),
                };
                self.by_pi.insert(pi.clone(), portal);
            }
            let Some(portal) = self.by_pi.get_mut(&pi) else {
                continue;
            };
            let dir = out.join(path(&portal.slug));
            tables(&part, &dir)?;
            portal
                .site
                .render_period(&mut portal.published, &part, &dir)?;
            part.charges = Vec::new();
            portal.history.push(part);
        }
        Ok(())
    }

    /// Who may open which portal; problems when a login cannot be written.
    pub fn rules(&self, repo: &Repo) -> (Rules, Vec<Problem>) {
        let list: Vec<(String, String)> = self
            .by_pi
            .iter()
            .map(|(pi, p)| (pi.clone(), path(&p.slug)))
            .collect();
        access::rules(&list, &repo.projects, &repo.config)
    }

    /// Histories and charts, the admins' PDFs linked in, shared static files,
    /// the landing page and `_access/`. `admin` rendered into `admin_dir`.
    pub fn finish(&self, rules: &Rules, admin: Pages, out: &Path, pdfs: bool) -> Result<()> {
        let admin_dir = out.join(access::ADMIN_DIR);
        let printed: HashMap<_, &StatementRef> = admin
            .published
            .statements
            .iter()
            .map(|s| (key(s), s))
            .collect();
        for portal in self.by_pi.values() {
            let dir = out.join(path(&portal.slug));
            portal
                .site
                .pages(&portal.published)
                .render_history(&portal.history, &dir)?;
            if pdfs {
                for s in &portal.published.statements {
                    let from = printed
                        .get(&key(s))
                        .with_context(|| format!("statement {} has no admin copy", s.number))?;
                    link(&admin_dir.join(&from.pdf), &dir.join(&s.pdf))?;
                }
                // Superseded statements keep the PDF printed with the banner.
                for s in &portal.published.superseded {
                    let from = admin
                        .published
                        .superseded
                        .iter()
                        .find(|a| a.number == s.number)
                        .with_context(|| format!("statement {} has no admin copy", s.number))?;
                    link(&admin_dir.join(&from.pdf), &dir.join(&s.pdf))?;
                }
            }
        }
        admin.write_statics(out)?;
        admin.page(
            out,
            "index.html",
            "landing.html",
            context! { title => "Sign in", nav => "landing" },
        )?;
        access::write_rules(rules, out)
    }
}

fn key(s: &StatementRef) -> (crate::period::Period, &str, &str, &str, &str) {
    (s.period, &s.currency, &s.pi, &s.project, &s.fund)
}

/// The same bytes in both places: a hard link, or a copy across file systems.
fn link(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        write::ensure_dir(dir)?;
    }
    if std::fs::hard_link(from, to).is_err() {
        // A copy never goes into a file with other links (`write::LIVE`).
        let _ = std::fs::remove_file(to);
        std::fs::copy(from, to)
            .with_context(|| format!("cannot copy `{}` to `{}`", from.display(), to.display()))?;
    }
    Ok(())
}

/// Indexes of the charges of each PI: billed and held ones with a valid PI
/// email. Rejected charges are on no statement and often were not the PI's.
fn split(charges: &[Charge]) -> BTreeMap<String, Vec<usize>> {
    let mut by_pi: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in charges.iter().enumerate() {
        let pi = &c.attribution.pi_email;
        if c.state != State::Rejected && crate::attribute::valid_email(pi) {
            by_pi.entry(pi.to_string()).or_default().push(i);
        }
    }
    by_pi
}

/// One PI's share of a period, rolled up on its own so that no total in it
/// includes anyone else's charges.
fn share(data: &PeriodData, pi: &str, charges: Vec<Charge>) -> Result<PeriodData> {
    let mut rollup = crate::rollup::rollup(&charges)?;
    // Statements warn about held charges not yet attributed to any project;
    // the portal's copy must say what the admins' page and the PDF say.
    rollup.held.extend(
        data.rollup
            .held
            .iter()
            .filter(|h| h.key.project.is_empty() && h.key.pi != pi)
            .map(|h| {
                let mut g = h.clone();
                g.key.pi = String::new();
                g
            }),
    );
    rollup.held.sort_by(|a, b| a.key.cmp(&b.key));
    let mut currencies = crate::pipeline::summarise(&charges, &rollup)?;
    // The PI's statements as the full ledger computed them (balances carry
    // across everyone's periods), and only their projects' allocations.
    let statements: Vec<_> = data
        .ledger
        .statements
        .iter()
        .filter(|s| s.pi == pi)
        .cloned()
        .collect();
    let ledger = crate::ledger::PeriodLedger {
        allocations: data
            .ledger
            .allocations
            .iter()
            .filter(|a| statements.iter().any(|s| s.project == a.project))
            .cloned()
            .collect(),
        statements,
    };
    crate::ledger::totals(&ledger, &mut currencies);
    let numbers = data
        .numbers
        .iter()
        .filter(|(k, _)| k.pi == pi)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mine = |m: &BTreeMap<crate::rollup::StatementKey, String>| {
        m.iter()
            .filter(|(k, _)| k.pi == pi)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    // The PI's own superseded statements (a reissue links to them); charges
    // held after a close are the admins' to decide.
    Ok(PeriodData {
        dir: data.dir.clone(),
        charges,
        decisions: Vec::new(),
        rollup,
        currencies,
        numbers,
        stale: Vec::new(),
        status: data.status,
        ledger,
        file: data.file.clone(),
        replaces: mine(&data.replaces),
        digests: mine(&data.digests),
        superseded: data
            .superseded
            .iter()
            .filter(|s| s.issued.pi_email == pi)
            .cloned()
            .collect(),
        held_now: Vec::new(),
        corrected_in: data.corrected_in.clone(),
        totals: Default::default(),
        spike_totals: Default::default(),
        cache: Default::default(),
        // A portal's browser shows its PI's charges only: written for it.
        browser: None,
    })
}

/// The PI's charges.csv and statements.csv (no journal: it is the ledger's).
fn tables(data: &PeriodData, dir: &Path) -> Result<()> {
    let p = dir.join(data.dir.period.to_string());
    let path = write::ensure_dir(&p)?.join("charges.csv");
    let mut file = std::io::BufWriter::with_capacity(1 << 20, write::create(&path)?);
    crate::outputs::charges_csv(&data.charges, data.dir.period, &data.numbers, &mut file)?;
    let file = file
        .into_inner()
        .map_err(|e| e.into_error())
        .context("cannot write charges.csv")?;
    write::finish(file).context("cannot write charges.csv")?;
    let statements: Vec<_> = data
        .rollup
        .statements
        .iter()
        .filter_map(|g| {
            let number = data.numbers.get(&g.key)?;
            Some((
                number.clone(),
                g,
                crate::ledger::find(&data.ledger, &g.key)?,
            ))
        })
        .collect();
    write::file(
        &p.join("statements.csv"),
        &crate::outputs::statements_csv(&statements, data.dir.period)?,
    )
}
