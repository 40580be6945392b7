//! The static website: templates from the theme, fed with the view model.
//! Periods are rendered while their charges are in memory; the dashboard and
//! the PI and project histories at the end, from rollups only.

use crate::charge::{Charge, State};
use crate::config::Config;
use crate::money::format;
use crate::period::Period;
use crate::pipeline::PeriodData;
use crate::projects::Projects;
use crate::published::{Published, Rendered};
use crate::rollup::{self, Group, StatementKey, Sums};
use crate::slug::Slugs;
use crate::theme::Theme;
use crate::view::{self, Amounts};
use crate::write;
use anyhow::{Result, anyhow};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Rows of the charges table rendered as plain HTML (the rest come from JS data).
pub const HTML_CHARGE_ROWS: usize = 500;

/// A rendered statement, for the histories, PDFs and email.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StatementRef {
    pub period: Period,
    pub number: String,
    pub pi: String,
    pub project: String,
    pub fund: String,
    pub currency: String,
    /// Paths relative to the output folder.
    pub html: String,
    pub pdf: String,
    pub sums: Sums,
    /// What the statement says is due: billed − credits + surcharges, in cents.
    pub due: Decimal,
    pub credits: Decimal,
    pub surcharges: Decimal,
    /// The statement this one reissues.
    pub replaces: Option<String>,
    /// What the statement showed beside its lines (recorded at close).
    pub shown: crate::closed_view::Shown,
}

impl StatementRef {
    pub fn key(&self) -> crate::rollup::StatementKey {
        crate::rollup::StatementKey {
            currency: self.currency.clone(),
            pi: self.pi.clone(),
            project: self.project.clone(),
            fund: self.fund.clone(),
        }
    }
}

/// What every page is rendered with: the configuration, the theme's
/// templates and the repository's state. Read only: what the site has
/// published so far is the build loop's (`Published`), passed to each render.
pub struct Site {
    config: Config,
    projects: Projects,
    env: Environment<'static>,
    theme: Theme,
    repository: crate::audit::Repository,
    root: std::path::PathBuf,
    config_path: std::path::PathBuf,
    /// The PI whose portal this is (`site.access: per_pi`): no review pages or
    /// manifests, and static files shared from the output root.
    portal: Option<String>,
}

/// The site's pages with what it has published so far: every renderer that
/// links to PI and project pages or lists statements reads both.
#[derive(Clone, Copy)]
pub struct Pages<'a> {
    site: &'a Site,
    pub published: &'a Published,
}

impl std::ops::Deref for Pages<'_> {
    type Target = Site;
    fn deref(&self) -> &Site {
        self.site
    }
}

impl Site {
    /// The site of the billing repository at `root`, whose config file is
    /// `config_path` (its digest goes into each period's audit record).
    pub fn new(
        root: &std::path::Path,
        config_path: &std::path::Path,
        config: &Config,
        projects: &Projects,
    ) -> Result<Site> {
        let theme = Theme::new(root, &config.site.theme, &config.shown)?;
        let names: Vec<&str> = crate::theme::DEFAULT
            .iter()
            .filter_map(|(p, _)| p.strip_prefix("templates/"))
            .collect();
        let env = crate::templates::from_theme(&theme, &names)?;
        Ok(Site {
            config: config.clone(),
            projects: projects.clone(),
            env,
            theme,
            repository: crate::audit::Repository::read(root),
            root: root.to_path_buf(),
            config_path: config_path.to_path_buf(),
            portal: None,
        })
    }

    /// The same site, rendered as `pi`'s portal in `pi/<slug>/`.
    pub fn for_portal(mut self, pi: &str) -> Site {
        self.portal = Some(pi.to_string());
        self
    }

    /// Render a template; errors name the theme file and line.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String> {
        let t = self.env.get_template(name)?;
        t.render(ctx).map_err(|e| {
            let mut msg = format!(
                "{}:{}: {}",
                self.theme
                    .shown(&format!("templates/{}", e.name().unwrap_or(name))),
                e.line().unwrap_or(0),
                e.kind()
            );
            if let Some(d) = e.detail() {
                msg.push_str(&format!(": {d}"));
            }
            anyhow!(msg)
        })
    }

    fn pi_name(&self, email: &str) -> String {
        self.projects
            .pi_name(email)
            .map(str::to_string)
            .unwrap_or_default()
    }

    fn project_name(&self, id: &str) -> String {
        self.projects
            .get(id)
            .map(|p| p.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_default()
    }

    /// The audit record (all inputs, all PIs) stays on the admins' site.
    fn audit(&self, data: &PeriodData, out: &Path) -> Result<Option<crate::audit::Audit>> {
        if self.portal.is_some() {
            return Ok(None);
        }
        let audit = crate::audit::audit(data, &self.root, &self.config_path, &self.repository)?;
        write::file(
            &out.join(format!("{}/audit.json", data.dir.period)),
            &crate::audit::json(&audit)?,
        )?;
        Ok(Some(audit))
    }

    /// The theme's static files into `out/static/`.
    pub fn write_statics(&self, out: &Path) -> Result<()> {
        for (name, bytes) in self.theme.statics()? {
            write::file(&out.join("static").join(&name), &bytes)?;
        }
        Ok(())
    }

    /// What `published` and this site render for a period.
    pub fn pages<'a>(&'a self, published: &'a Published) -> Pages<'a> {
        Pages {
            site: self,
            published,
        }
    }

    /// Render a period's pages and add them to what is published.
    pub fn render_period(
        &self,
        published: &mut Published,
        data: &PeriodData,
        out: &Path,
    ) -> Result<()> {
        published.claim_slugs(data);
        let rendered = self.pages(published).period(data, out)?;
        published.add(data, rendered);
        Ok(())
    }

    /// A period restored from the cache (its files already in place): the
    /// site takes its statements and slugs as `render_period` would, and
    /// renders again the two files that name the repository's state (the
    /// period page and `audit.json`), which the cache does not keep. With
    /// `statements`, the previous period's amounts changed: the statement
    /// pages (which show the change) are rendered again from the rollup.
    pub fn restore_period(
        &self,
        published: &mut Published,
        data: &PeriodData,
        rows: Vec<StatementRef>,
        statements: bool,
        out: &Path,
    ) -> Result<()> {
        published.claim_slugs(data);
        let pages = self.pages(published);
        let rows = if statements {
            let rows = pages.render_statements(data, out, &HashMap::new())?;
            if self.portal.is_none() {
                pages.manifest(data, &rows, out)?;
            }
            rows
        } else {
            rows
        };
        let audit = self.audit(data, out)?;
        pages.period_index(data, &rows, &[], audit.as_ref(), out)?;
        published.add(
            data,
            Rendered {
                statements: rows,
                superseded: Vec::new(),
            },
        );
        Ok(())
    }
}

impl Pages<'_> {
    pub(crate) fn page(&self, out: &Path, rel: &str, template: &str, ctx: Value) -> Result<()> {
        let depth = rel.matches('/').count();
        let root = "../".repeat(depth);
        // Allocations name every project's balances: the admin site only.
        let has_allocations =
            self.portal.is_none() && self.projects.with_allocations().next().is_some();
        // A portal (`pi/<slug>/`) uses the shared `static/` two levels up.
        let up = if self.portal.is_some() { "../../" } else { "" };
        let portal = self
            .portal
            .as_ref()
            .map(|pi| context! { email => pi, name => self.pi_name(pi), history => format!("pis/{}.html", self.published.pi_slug(pi)) });
        let base = context! { root => &root, static_dir => Value::from_safe_string(format!("{up}static/")), portal => portal, has_allocations => has_allocations, site => Serde(&self.config.site), org => Serde(&self.config.organization), billing_basis => Serde(self.config.billing.basis) };
        let html = self.render(template, context! { ..ctx, ..base })?;
        write::file(&out.join(rel), html.as_bytes())
    }

    /// A period's pages, and its statements and superseded ones.
    fn period(&self, data: &PeriodData, out: &Path) -> Result<Rendered> {
        // The charge browser and the review queue read every charge, the
        // statements the rollup: each on its own core.
        std::thread::scope(|s| {
            let charges = s.spawn(|| -> Result<()> {
                self.charges_page(data, out)?;
                if self.portal.is_none() {
                    self.review_page(data, out)?;
                }
                Ok(())
            });
            let statements = self.render_statements_and_index(data, out);
            let charges = charges
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            charges.and(statements)
        })
    }

    /// The statement pages, the superseded ones, the audit record, the
    /// period's index and its manifest; the statements and superseded ones.
    fn render_statements_and_index(&self, data: &PeriodData, out: &Path) -> Result<Rendered> {
        let corrections = crate::numbers::corrections_by_key(&data.charges);
        let rows = self.render_statements(data, out, &corrections)?;
        // A portal's data holds only its PI's superseded statements.
        let superseded = self.render_superseded(data, &rows, out)?;
        let audit = self.audit(data, out)?;
        self.period_index(data, &rows, &superseded, audit.as_ref(), out)?;
        if self.portal.is_none() {
            self.manifest(data, &rows, out)?;
        }
        Ok(Rendered {
            statements: rows,
            superseded,
        })
    }

    /// Each statement's page; the statements as rows for the other pages.
    fn render_statements(
        &self,
        data: &PeriodData,
        out: &Path,
        corrections: &HashMap<crate::numbers::Key, Vec<&Charge>>,
    ) -> Result<Vec<StatementRef>> {
        let period = data.dir.period;
        let r = &data.rollup;
        let previous = self.published.previous(period);
        // One folder per PI, one file per project (suffixed when a project has several funds or currencies).
        let mut files: HashMap<String, Slugs> = HashMap::new();
        let mut rows = Vec::new();
        for g in &r.statements {
            let StatementKey {
                currency,
                pi,
                project,
                fund,
            } = &g.key;
            // Claimed by `Published::claim_slugs`.
            let pi_slug = self.published.pi_slug(pi).to_string();
            let project_slug = self.published.project_slug(project);
            let file = format!(
                "{pi_slug}/{}",
                files.entry(pi_slug.clone()).or_default().claim(
                    &format!("{project}\u{1f}{fund}\u{1f}{currency}"),
                    project_slug
                )
            );
            let rel = format!("{period}/statements/{file}");
            let number = data.numbers[&g.key].clone();
            let ledger = crate::ledger::find(&data.ledger, &g.key);
            let stmt = StatementRef {
                period,
                number,
                pi: pi.clone(),
                project: project.clone(),
                fund: fund.clone(),
                currency: currency.clone(),
                html: format!("{rel}.html"),
                pdf: format!("{rel}.pdf"),
                sums: g.sums.clone(),
                due: ledger.map_or(g.sums.billed, |l| l.due),
                credits: ledger.map_or(Decimal::ZERO, |l| l.credits),
                surcharges: ledger.map_or(Decimal::ZERO, |l| l.surcharges),
                replaces: data.replaces.get(&g.key).cloned(),
                shown: Default::default(),
            };
            let (ctx, shown) = self.statement_context(
                data,
                g,
                &stmt,
                previous.and_then(|p| p.get(&g.key)).copied(),
                corrections,
            );
            self.page(out, &stmt.html, "statement.html", ctx)?;
            rows.push(StatementRef { shown, ..stmt });
        }
        Ok(rows)
    }

    fn statement_context(
        &self,
        data: &PeriodData,
        g: &Group<StatementKey>,
        stmt: &StatementRef,
        previous: Option<Decimal>,
        corrections: &HashMap<crate::numbers::Key, Vec<&Charge>>,
    ) -> (Value, crate::closed_view::Shown) {
        let r = &data.rollup;
        let services = rollup::of_statement(&r.services, &g.key);
        let resources = rollup::of_statement(&r.resources, &g.key);
        let currency = &stmt.currency;
        let sections = view::sections(services, resources, currency, &|s| {
            self.config.source_name(s).to_string()
        });
        let held: Sums =
            rollup::held_of(&r.held, &g.key)
                .iter()
                .fold(Sums::default(), |mut a, h| {
                    a.add(&h.sums);
                    a
                });
        let mut warnings = Vec::new();
        if held.count > 0 {
            warnings.push(format!("{} charge{} ({}) for this project {} held for review and not included here; held charges appear on a later statement once resolved.", held.count, if held.count == 1 { "" } else { "s" }, format(held.billed, currency), if held.count == 1 { "is" } else { "are" }));
        }
        // Held charges with no project yet may turn out to be anyone's.
        let unassigned: Sums = r
            .held
            .iter()
            .filter(|h| h.key.currency == g.key.currency && h.key.project.is_empty())
            .fold(Sums::default(), |mut a, h| {
                a.add(&h.sums);
                a
            });
        if unassigned.count > 0 {
            warnings.push(format!("{} charge{} of this period ({}) could not yet be attributed to a project and {} held for review; any that are this project's will appear on a later statement.", unassigned.count, if unassigned.count == 1 { "" } else { "s" }, format(unassigned.billed, currency), if unassigned.count == 1 { "is" } else { "are" }));
        }
        if let Some(end) = self.projects.get(&stmt.project).and_then(|p| p.end_date) {
            let period_end = data.dir.period.next().first_day();

            let days = (end - period_end).num_days();
            if end < period_end {
                warnings.push(format!("This project ended on {end}."));
            } else if days <= i64::from(self.config.review.expiry_warning_days) {
                warnings.push(format!("This project ends on {end}, in {days} days."));
            }
        }
        let project = self.projects.get(&stmt.project);
        warnings.extend(allocation_warnings(data, &stmt.project));
        let ledger = crate::ledger::find(&data.ledger, &g.key).map(crate::ledger::view::statement);
        let shown = crate::closed_view::Shown {
            pi_name: self.pi_name(&stmt.pi),
            department: project.map(|p| p.pi.department.clone()).unwrap_or_default(),
            project_name: self.project_name(&stmt.project),
            previous,
            warnings,
        }
        .or_recorded(data, &stmt.number);
        let posted = corrections
            .get(&g.key)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let extra = crate::closed_view::statement_extra(data, stmt, posted, &|s| {
            self.config.source_name(s).to_string()
        });
        let ctx = context! {
            ledger => Serde(ledger),
            title => format!("Statement {} — {}", stmt.number, data.dir.period.long_name()),
            number => &stmt.number,
            period => data.dir.period.to_string(),
            period_name => data.dir.period.long_name(),
            pi => context! { email => &stmt.pi, name => &shown.pi_name, department => &shown.department },
            project => context! { id => &stmt.project, name => &shown.project_name },
            fund => &stmt.fund,
            currency => currency,
            sections => Serde(sections),
            totals => Serde(Amounts::new(&stmt.sums, currency)),
            change => Serde(view::change(stmt.sums.billed, shown.previous, currency)),
            warnings => &shown.warnings,
            pdf => format!("{}.pdf", stmt.html.rsplit('/').next().unwrap_or("").trim_end_matches(".html")),
            pi_href => format!("pis/{}.html", self.published.pi_slug(&stmt.pi)),
            project_href => format!("projects/{}.html", self.published.project_slug(&stmt.project)),
            ..extra
        };
        (ctx, shown)
    }

    /// Superseded statements of the period, rendered again from their recorded
    /// rows at `<P>/superseded/<number>.html` with a "superseded by" banner.
    fn render_superseded(
        &self,
        data: &PeriodData,
        current: &[StatementRef],
        out: &Path,
    ) -> Result<Vec<StatementRef>> {
        let period = data.dir.period;
        let mut refs = Vec::new();
        for s in &data.superseded {
            let i = &s.issued;
            let Some(g) = s.rollup.statements.first() else {
                continue;
            };
            let rel = format!("{period}/superseded/{}", crate::slug::slugify(&i.number));
            let sections =
                view::sections(&s.rollup.services, &s.rollup.resources, &i.currency, &|x| {
                    self.config.source_name(x).to_string()
                });
            let posted = crate::numbers::corrections_by_key(&s.charges);
            let posted: Vec<&Charge> = posted.into_values().flatten().collect();
            let corrections = crate::closed_view::sections(&posted, &i.currency, &|x| {
                self.config.source_name(x).to_string()
            });
            let stmt = StatementRef {
                period,
                number: i.number.clone(),
                pi: i.pi_email.clone(),
                project: i.project_id.clone(),
                fund: i.fund_org.clone(),
                currency: i.currency.clone(),
                html: format!("{rel}.html"),
                pdf: format!("{rel}.pdf"),
                sums: g.sums.clone(),
                // A superseded statement was issued before credits were part of the record.
                due: g.sums.billed,
                credits: Decimal::ZERO,
                surcharges: Decimal::ZERO,
                replaces: i.replaces.clone(),
                shown: Default::default(),
            };
            let ctx = context! {
                title => format!("Statement {} (superseded) — {}", i.number, period.long_name()),
                ledger => (),
                number => &i.number, period => period.to_string(), period_name => period.long_name(),
                pi => context! { email => &i.pi_email, name => &i.pi_name, department => &i.department },
                project => context! { id => &i.project_id, name => &i.project_name },
                fund => &i.fund_org, currency => &i.currency, sections => Serde(sections), corrections => Serde(corrections),
                totals => Serde(Amounts::new(&g.sums, &i.currency)),
                change => Serde(view::change(g.sums.billed, i.previous.as_deref().and_then(|p| p.parse().ok()), &i.currency)),
                warnings => &i.warnings, replaces => &i.replaces,
                superseded_by => i.superseded_by.clone().unwrap_or_default(), superseded => true,
                superseded_href => current.iter().find(|r| Some(&r.number) == i.superseded_by.as_ref()).map(|r| format!("../../{}", r.html)),
                pdf => format!("{}.pdf", crate::slug::slugify(&i.number)),
                pi_href => format!("pis/{}.html", self.published.pi_slug(&i.pi_email)),
                project_href => format!("projects/{}.html", self.published.project_slug(&i.project_id)),
            };
            self.page(out, &stmt.html, "statement.html", ctx)?;
            refs.push(stmt);
        }
        Ok(refs)
    }

    fn period_index(
        &self,
        data: &PeriodData,
        rows: &[StatementRef],
        superseded: &[StatementRef],
        audit: Option<&crate::audit::Audit>,
        out: &Path,
    ) -> Result<()> {
        let period = data.dir.period;
        let r = &data.rollup;
        let mut by_source: BTreeMap<(String, String), Sums> = BTreeMap::new();
        for g in &r.period_services {
            by_source
                .entry((g.key.currency.clone(), g.key.source.clone()))
                .or_default()
                .add(&g.sums);
        }
        let sources: Vec<Value> = by_source.iter().map(|((cur, src), s)| context! { name => self.config.source_name(src), currency => cur, amounts => Serde(Amounts::new(s, cur)) }).collect();
        let services: Vec<Value> = r.period_services.iter().map(|g| context! { source => self.config.source_name(&g.key.source), category => view::display(&g.key.category, "—"), name => view::display(&g.key.service, "(no service name)"), amounts => Serde(Amounts::new(&g.sums, &g.key.currency)) }).collect();
        let statements: Vec<Value> = rows
            .iter()
            .map(|s| self.statement_row(s, "../", true))
            .collect();
        let currencies: Vec<Value> = data.currencies.iter().map(currency_row).collect();
        self.page(out, &format!("{period}/index.html"), "period.html", context! {
            title => format!("{}", period.long_name()), nav => "periods",
            period => period.to_string(), period_name => period.long_name(), status => data.status.as_str(),
            currencies => currencies, sources => sources, services => services, statements => statements,
            stale => data.stale.iter().map(ToString::to_string).collect::<Vec<_>>(),
            basis => self.config.billing.basis.describe(),
            imports => Serde(crate::ingest::provenance::read(&data.dir.dir).unwrap_or_default()),
            ..crate::closed_view::period_extra(data, audit, self.repository.describe(), superseded)
        })
    }

    /// A statement as a table row; `up` leads back to the output root, and
    /// inside its own period folder links are relative to that folder.
    /// `<P>/statements.json`: each statement with its files and formatted totals,
    /// for `ocb send` and other tools.
    fn manifest(&self, data: &PeriodData, rows: &[StatementRef], out: &Path) -> Result<()> {
        let items: Vec<Value> = rows
            .iter()
            .map(|s| context! {
                number => &s.number, period => s.period.to_string(), pi_email => &s.pi, pi_name => self.pi_name(&s.pi), project_id => &s.project,
                project_name => self.project_name(&s.project), fund_org => &s.fund, currency => &s.currency,
                html => &s.html, pdf => &s.pdf, amounts => Serde(Amounts::new(&s.sums, &s.currency)), replaces => &s.replaces,
                list_cost => s.sums.list.normalize().to_string(), discount => s.sums.discount().normalize().to_string(), billed_cost => s.sums.billed.normalize().to_string(),
                credits => format!("{:.2}", s.credits), surcharges => format!("{:.2}", s.surcharges), due => format!("{:.2}", s.due), due_text => format(s.due, &s.currency),
                ledger => Serde(crate::ledger::find(&data.ledger, &s.key()).map(crate::ledger::view::statement)),
                cc => self.projects.get(&s.project).map(|p| p.cc.clone()).unwrap_or_default(),
                pi_href => format!("pis/{}.html", self.published.pi_slug(&s.pi)),
            })
            .collect();
        let held: usize = data.currencies.iter().map(|c| c.held_rows as usize).sum();
        let doc = context! { period => data.dir.period.to_string(), held_charges => held, statements => items };
        let mut text = serde_json::to_string_pretty(&doc)?;
        text.push('\n');
        write::file(
            &out.join(format!("{}/statements.json", data.dir.period)),
            text.as_bytes(),
        )
    }

    fn statement_row(&self, s: &StatementRef, up: &str, in_period: bool) -> Value {
        let local = |p: &str| {
            if in_period {
                p.split_once('/')
                    .map(|(_, rest)| rest.to_string())
                    .unwrap_or_default()
            } else {
                format!("{up}{p}")
            }
        };
        context! {
            number => &s.number, pi => &s.pi, pi_name => self.pi_name(&s.pi), project => &s.project, project_name => self.project_name(&s.project),
            fund => &s.fund, currency => &s.currency, amounts => Serde(Amounts::new(&s.sums, &s.currency)), period => s.period.to_string(),
            due => format(s.due, &s.currency), adjusted => s.due != crate::money::round(s.sums.billed, &s.currency),
            credits => format(s.credits, &s.currency), surcharges => format(s.surcharges, &s.currency),
            html => local(&s.html), pdf => local(&s.pdf),
            pi_href => format!("{up}pis/{}.html", self.published.pi_slug(&s.pi)),
            project_href => format!("{up}projects/{}.html", self.published.project_slug(&s.project)),
        }
    }

    fn charges_page(&self, data: &PeriodData, out: &Path) -> Result<()> {
        let period = data.dir.period;
        let mut facets = match &data.browser {
            Some(values) => values.clone(),
            None => crate::charge_data::write(
                &data.charges,
                &self.config,
                &out.join(format!("{period}/charges-data")),
            )?,
        };
        let charges = &data.charges;
        let rows: Vec<ChargeRow> = charges
            .iter()
            .take(HTML_CHARGE_ROWS)
            .map(|c| charge_row(c, &self.config))
            .collect();
        // The facets' values, found as the browser's data was written.
        let mut options = |facet: &str| {
            let mut values = facets.remove(facet).unwrap_or_default();
            values.retain(|v| !v.is_empty());
            values
        };
        // Sources in the order of their ids (the facet's are names), each
        // shared by its charges: found by address.
        let mut seen: crate::charge::FastSet<*const u8> = Default::default();
        let mut sources = std::collections::BTreeSet::new();
        for c in charges {
            if seen.insert(c.source.as_ptr()) && !c.source.is_empty() {
                sources.insert(&*c.source);
            }
        }
        self.page(out, &format!("{period}/charges.html"), "charges.html", context! {
            title => format!("Charges — {}", period.long_name()), nav => "periods",
            period => period.to_string(), period_name => period.long_name(),
            rows => Serde(&rows), total => charges.len(), shown => rows.len(),
            pis => options("pi"), projects => options("project"),
            sources => sources.iter().map(|s| self.config.source_name(s).to_string()).collect::<Vec<_>>(),
            services => options("service"),

        })
    }

    fn review_page(&self, data: &PeriodData, out: &Path) -> Result<()> {
        let period = data.dir.period;
        let reviewed: Vec<&Charge> = data
            .charges
            .iter()
            .filter(|c| !c.flags.is_empty() || c.decision.is_some())
            .collect();
        let item = |c: &&Charge| {
            let d = c.decision.map(|i| &data.decisions[i as usize]);
            context! {
                id => c.id.as_str(), source => self.config.source_name(&c.source), file => &c.file, line => c.line, state => c.state.as_str(),
                billed => format(c.billed, &c.currency), service => &c.dims.service_name, resource => &c.dims.resource_id,
                pi => &c.attribution.pi_email, project => &c.attribution.project_id, fund => &c.attribution.fund_org,
                flags => c.flags.iter().map(|f| context! { code => f.code.as_str(), detail => &f.detail, holds => f.holds, hint => crate::hints::hint(f.code.as_str()) }).collect::<Vec<_>>(),
                decision => d.map(|d| context! { kind => d.decision.as_str(), note => &d.note, by => &d.by, date => &d.date, line => d.line, bulk => d.rule.is_some() }),
                snippet => if c.decision.is_none() && c.state == State::Held { crate::review::pending_entry(c) } else { String::new() },
            }
        };
        let group = |f: &dyn Fn(&Charge) -> bool| {
            reviewed
                .iter()
                .filter(|c| f(c))
                .take(5000)
                .map(item)
                .collect::<Vec<_>>()
        };
        let kind = |c: &Charge, k: crate::review::Kind| {
            c.decision
                .is_some_and(|i| data.decisions[i as usize].decision == k)
        };
        let currencies: Vec<Value> = data.currencies.iter().map(currency_row).collect();
        let codes: std::collections::BTreeSet<&str> = reviewed
            .iter()
            .flat_map(|c| c.flags.iter().map(|f| f.code.as_str()))
            .collect();
        let resolve: Vec<Value> = codes
            .into_iter()
            .map(|code| context! { code => code, hint => crate::hints::hint(code) })
            .collect();
        self.page(out, &format!("{period}/review.html"), "review.html", context! {
            title => format!("Review — {}", period.long_name()), nav => "periods",
            period => period.to_string(), period_name => period.long_name(), currencies => currencies,
            held => group(&|c| c.state == State::Held),
            rejected => group(&|c| c.state == State::Rejected),
            approved => group(&|c| kind(c, crate::review::Kind::Approve)),
            reassigned => group(&|c| kind(c, crate::review::Kind::Reassign)),
            warned => group(&|c| c.state == State::Billed && c.decision.is_none()),
            stale => data.stale.iter().map(ToString::to_string).collect::<Vec<_>>(), resolve => resolve,
            basis => self.config.billing.basis.describe(),
            imports => Serde(crate::ingest::provenance::read(&data.dir.dir).unwrap_or_default()),
        })
    }

    /// Dashboard, PI and project histories, and static files.
    pub fn render_history(&self, history: &[PeriodData], out: &Path) -> Result<()> {
        if self.portal.is_none() {
            self.write_statics(out)?;
        }
        let warnings: Vec<(String, String)> = history
            .last()
            .map(|d| {
                d.ledger
                    .allocations
                    .iter()
                    .flat_map(|a| {
                        crate::ledger::view::warnings(a, d.dir.period)
                            .into_iter()
                            .map(|w| (a.project.clone(), w))
                    })
                    .collect()
            })
            .unwrap_or_default();
        // A portal shows only the warnings of its own projects.
        let warnings: Vec<(String, String)> = warnings
            .into_iter()
            .filter(|(project, _)| {
                self.portal.is_none()
                    || self
                        .published
                        .statements
                        .iter()
                        .any(|s| &s.project == project)
            })
            .collect();
        self.dashboard(history, &warnings, out)?;
        if self.portal.is_none() {
            self.allocations_page(history, out)?;
        }
        let mut by_pi: BTreeMap<&str, Vec<&StatementRef>> = BTreeMap::new();
        let mut by_project: BTreeMap<&str, Vec<&StatementRef>> = BTreeMap::new();
        for s in &self.published.statements {
            by_pi.entry(&s.pi).or_default().push(s);
            by_project.entry(&s.project).or_default().push(s);
        }
        // (file, section, title, statements): a page per PI and per project,
        // rendered on all cores.
        let mut pages: Vec<(String, &str, String, Vec<&StatementRef>)> = Vec::new();
        for (pi, list) in by_pi {
            let slug = self.published.pi_slug(pi);
            let name = self.pi_name(pi);
            let title = if name.is_empty() {
                pi.to_string()
            } else {
                format!("{name} ({pi})")
            };
            pages.push((format!("pis/{slug}.html"), "pis", title, list));
        }
        for (project, list) in by_project {
            let slug = self.published.project_slug(project);
            let name = self.project_name(project);
            let title = if name.is_empty() {
                project.to_string()
            } else {
                format!("{name} ({project})")
            };
            pages.push((format!("projects/{slug}.html"), "projects", title, list));
        }
        use rayon::prelude::*;
        pages
            .par_iter()
            .try_for_each(|(file, section, title, list)| {
                let mine = warnings_for(&warnings, list);
                self.history_page(out, file, section, title, list, &mine)
            })
    }

    fn history_page(
        &self,
        out: &Path,
        rel: &str,
        nav: &str,
        title: &str,
        list: &[&StatementRef],
        warnings: &[String],
    ) -> Result<()> {
        let kind = if nav == "pis" { "PI" } else { "Project" };
        let mut charts = Vec::new();
        let mut currencies: Vec<&str> = list.iter().map(|s| s.currency.as_str()).collect();
        currencies.sort();
        currencies.dedup();
        for cur in currencies {
            let mut per: BTreeMap<Period, Sums> = BTreeMap::new();
            for s in list.iter().filter(|s| s.currency == cur) {
                per.entry(s.period).or_default().add(&s.sums);
            }
            let labels: Vec<String> = per.keys().map(|p| p.to_string()).collect();
            let series = [
                crate::svg::Series {
                    name: "list",
                    class: "list",
                    values: per.values().map(|s| s.list).collect(),
                },
                crate::svg::Series {
                    name: "due",
                    class: "billed",
                    values: list
                        .iter()
                        .filter(|s| s.currency == cur)
                        .fold(BTreeMap::<Period, Decimal>::new(), |mut m, s| {
                            *m.entry(s.period).or_default() += s.due;
                            m
                        })
                        .into_values()
                        .collect(),
                },
            ];
            charts.push(crate::svg::lines(
                &labels,
                &series,
                &|v| crate::money::format_whole(v, cur),
                &format!("{title}: list price and amount due per period ({cur})"),
            ));
        }
        let rows: Vec<Value> = list
            .iter()
            .rev()
            .map(|s| self.statement_row(s, "../", false))
            .collect();
        self.page(out, rel, "history.html", context! { title => title, nav => nav, kind => kind, charts => charts, statements => rows, warnings => warnings.to_vec() })
    }

    fn dashboard(
        &self,
        history: &[PeriodData],
        warnings: &[(String, String)],
        out: &Path,
    ) -> Result<()> {
        let periods: Vec<Value> = history
            .iter()
            .rev()
            .map(|d| context! { period => d.dir.period.to_string(), name => d.dir.period.long_name(), status => d.status.as_str(), currencies => d.currencies.iter().map(currency_row).collect::<Vec<_>>(), statements => d.rollup.statements.len() })
            .collect();
        let mut charts = Vec::new();
        let mut currencies: Vec<&str> = history
            .iter()
            .flat_map(|d| d.currencies.iter().map(|c| c.currency.as_str()))
            .collect();
        currencies.sort();
        currencies.dedup();
        for cur in &currencies {
            let labels: Vec<String> = history.iter().map(|d| d.dir.period.to_string()).collect();
            let get = |d: &PeriodData, f: fn(&crate::outputs::CurrencySummary) -> Decimal| {
                d.currencies
                    .iter()
                    .find(|c| c.currency == *cur)
                    .map(f)
                    .unwrap_or_default()
            };
            let series = [
                crate::svg::Series {
                    name: "list",
                    class: "list",
                    values: history.iter().map(|d| get(d, |c| c.list)).collect(),
                },
                crate::svg::Series {
                    name: "billed",
                    class: "billed",
                    values: history.iter().map(|d| get(d, |c| c.billed)).collect(),
                },
            ];
            charts.push(crate::svg::lines(
                &labels,
                &series,
                &|v| crate::money::format_whole(v, cur),
                &format!("List price and billed per period ({cur})"),
            ));
        }
        let latest = history.last().map(|d| self.latest(d));
        self.page(out, "index.html", "index.html", context! { title => "Dashboard", nav => "dashboard", periods => periods, charts => charts, latest => latest, warnings => warnings.iter().map(|w| w.1.clone()).collect::<Vec<_>>() })
    }

    /// The latest period's totals by source and service category, and top projects.
    fn latest(&self, d: &PeriodData) -> Value {
        let mut sources: BTreeMap<(String, String), Sums> = BTreeMap::new();
        let mut categories: BTreeMap<(String, String), Sums> = BTreeMap::new();
        for g in &d.rollup.period_services {
            sources
                .entry((
                    g.key.currency.clone(),
                    self.config.source_name(&g.key.source).to_string(),
                ))
                .or_default()
                .add(&g.sums);
            categories
                .entry((
                    g.key.currency.clone(),
                    view::display(&g.key.category, "Uncategorised"),
                ))
                .or_default()
                .add(&g.sums);
        }
        let rows = |m: BTreeMap<(String, String), Sums>| {
            m.into_iter().map(|((cur, name), s)| context! { name => name, currency => &cur, amounts => Serde(Amounts::new(&s, &cur)) }).collect::<Vec<_>>()
        };
        let mut top: Vec<&StatementRef> = self
            .published
            .statements
            .iter()
            .filter(|s| s.period == d.dir.period)
            .collect();
        top.sort_by(|a, b| b.sums.list.cmp(&a.sums.list).then(a.number.cmp(&b.number)));
        context! {
            period => d.dir.period.to_string(), name => d.dir.period.long_name(),
            sources => rows(sources), categories => rows(categories),
            top => top.into_iter().take(10).map(|s| self.statement_row(s, "", false)).collect::<Vec<_>>(),
        }
    }
}

fn currency_row(c: &crate::outputs::CurrencySummary) -> Value {
    let f = |v: Decimal| format(v, &c.currency);
    context! {
        currency => &c.currency, rows => c.input_rows, input => f(c.input_billed), billed => f(c.billed), held => f(c.held), rejected => f(c.rejected),
        list => f(c.list), discount => f(c.list - c.billed), discount_pct => crate::money::percent(c.list - c.billed, c.list),
        billed_rows => c.billed_rows, held_rows => c.held_rows, rejected_rows => c.rejected_rows,
    }
}

/// One charge as the charges page shows it (also its JavaScript data).
#[derive(Serialize)]
pub struct ChargeRow {
    id: String,
    source: String,
    at: String,
    state: &'static str,
    flags: String,
    pi: String,
    project: String,
    fund: String,
    service: String,
    resource: String,
    list: String,
    billed: String,
    /// Exact amount for sorting in the browser.
    n: String,
}

fn charge_row(c: &Charge, config: &Config) -> ChargeRow {
    ChargeRow {
        id: c.id.to_string(),
        source: config.source_name(&c.source).to_string(),
        at: format!("{}:{}", c.file.rsplit('/').next().unwrap_or(""), c.line),
        state: c.state.as_str(),
        flags: c
            .flags
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        pi: c.attribution.pi_email.to_string(),
        project: c.attribution.project_id.to_string(),
        fund: c.attribution.fund_org.to_string(),
        service: c.dims.service_name.to_string(),
        resource: if c.dims.resource_id.is_empty() {
            c.dims.resource_name.to_string()
        } else {
            c.dims.resource_id.to_string()
        },
        list: format(c.list, &c.currency),
        billed: format(c.billed, &c.currency),
        n: c.billed.to_string(),
    }
}

/// The warnings about allocations of the projects in `list`.
fn warnings_for(warnings: &[(String, String)], list: &[&StatementRef]) -> Vec<String> {
    warnings
        .iter()
        .filter(|(project, _)| list.iter().any(|s| &s.project == project))
        .map(|w| w.1.clone())
        .collect()
}

/// Warnings about the project's allocations at the end of the period.
fn allocation_warnings(data: &PeriodData, project: &str) -> Vec<String> {
    data.ledger
        .allocations
        .iter()
        .filter(|a| a.project == project)
        .flat_map(|a| crate::ledger::view::warnings(a, data.dir.period))
        .collect()
}

impl Pages<'_> {
    /// `allocations.html`: each allocation's balance, burn-down across the
    /// periods, projected exhaustion and warnings, as of the latest period.
    fn allocations_page(&self, history: &[PeriodData], out: &Path) -> Result<()> {
        let Some(latest) = history.last() else {
            return Ok(());
        };
        if latest.ledger.allocations.is_empty() {
            return Ok(());
        }
        let mut items = Vec::new();
        for (n, a) in latest.ledger.allocations.iter().enumerate() {
            let draws: Vec<(Period, Decimal, Decimal)> = history
                .iter()
                .filter_map(|d| {
                    d.ledger
                        .allocations
                        .get(n)
                        .map(|x| (d.dir.period, x.drawn, x.remaining))
                })
                .collect();
            let c = &a.currency;
            // The line starts at the full amount, before the first period's draw.
            let labels: Vec<String> = std::iter::once("start".to_string())
                .chain(draws.iter().map(|d| d.0.to_string()))
                .collect();
            let chart = crate::svg::lines(
                &labels,
                &[crate::svg::Series {
                    name: "remaining",
                    class: "billed",
                    values: std::iter::once(a.amount)
                        .chain(draws.iter().map(|d| d.2))
                        .collect(),
                }],
                &|v| crate::money::format_whole(v, c),
                &format!("{}: remaining balance per period ({c})", a.id),
            );
            let rows: Vec<Value> = draws
                .iter()
                .rev()
                .map(|(p, drawn, rem)| context! { period => p.to_string(), drawn => format(*drawn, c), remaining => format(*rem, c) })
                .collect();
            let pairs: Vec<(Period, Decimal)> = draws.iter().map(|d| (d.0, d.1)).collect();
            items.push(context! {
                id => &a.id, kind => Serde(a.kind), project => &a.project, project_name => self.project_name(&a.project),
                project_href => format!("projects/{}.html", self.published.project_slug(&a.project)),
                start => a.start.to_string(), end => a.end.to_string(),
                amount => format(a.amount, c), used => format(a.used, c), used_pct => crate::money::percent(a.used, a.amount),
                remaining => format(a.remaining, c),
                projection => crate::ledger::view::projection(a, &pairs),
                warnings => crate::ledger::view::warnings(a, latest.dir.period),
                chart => chart, rows => rows,
            });
        }
        self.page(out, "allocations.html", "allocations.html", context! {
            title => "Allocations", nav => "allocations", as_of => latest.dir.period.long_name(), allocations => items,
        })
    }
}
