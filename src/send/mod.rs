//! `ocb send`: email each PI their statements of a period, built by `ocb build`.
//! One message per PI (PI plus the projects' `cc`), every PDF attached; what
//! went out is recorded in `periods/<P>/deliveries.yaml` so nothing goes twice.
//! Only this module talks to the network (DESIGN §4).

pub mod ledger;
pub mod manifest;
pub mod message;
pub mod preview;
pub mod transport;

use crate::config::Config;
use crate::period::Period;
use anyhow::{Context, Result, anyhow};
use ledger::{Delivery, Ledger, SentStatement, Status};
use manifest::PiGroup;
use message::{Composer, Email, Part};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use transport::{Failure, Smtp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Send over SMTP and record each delivery.
    Smtp,
    /// Write `.eml` files and HTML previews into `output/emails/<P>/`.
    Dev,
    /// Only say who would receive what.
    DryRun,
}

#[derive(Clone)]
pub struct Options {
    /// The build output (`<root>/output` unless `--out`).
    pub out: PathBuf,
    pub period: Period,
    pub mode: Mode,
    /// Only these PIs (`--to`); all when empty.
    pub to: Vec<String>,
    pub resend: bool,
    pub allow_held: bool,
}

/// The period has held charges and `--allow-held` was not given.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// What happened to one PI, as it happens (for the command to print).
pub enum Event<'a> {
    /// Dry run: this message would be sent.
    WouldSend(&'a Email),
    Sent(&'a Email),
    Written(&'a Email, &'a Path),
    /// A statement not included: already sent (`changed` if its PDF differs now).
    Skipped {
        pi: &'a str,
        number: &'a str,
        sent_at: &'a str,
        changed: bool,
    },
    NotSent {
        pi: &'a str,
        reason: &'a str,
    },
}

#[derive(Debug, Default)]
pub struct Report {
    pub held_charges: usize,
    /// Messages sent, written (dev) or that would be sent (dry run).
    pub messages: usize,
    pub already_sent: usize,
    /// Statements whose PDF changed since sent and that were not re-sent.
    pub changed: usize,
    /// (PI, why) for every message that did not go out.
    pub not_sent: Vec<(String, String)>,
    /// Dev mode: the preview index.
    pub preview: Option<PathBuf>,
    /// SMTP: the server, for the summary line.
    pub server: Option<String>,
}

/// Where messages go in this run.
enum Sink {
    Smtp(Smtp),
    Dev(preview::Preview),
    DryRun,
}

/// One run's state: read-only inputs and what has happened so far.
struct Run<'a> {
    opts: &'a Options,
    composer: Composer,
    ledger: Ledger,
    sink: Sink,
    report: Report,
    /// Set when the server failed in a way every later message would share.
    stopped: Option<String>,
}

/// Send (or preview) the statements of `opts.period`. `config_shown` names the
/// config file in errors; `on` hears about each PI as it is done.
pub fn run(
    root: &Path,
    config: &Config,
    config_shown: &str,
    opts: &Options,
    on: &mut dyn FnMut(Event),
) -> Result<Report> {
    let period = opts.period;
    // With per-PI access the statements are the admins' (`admin/`), and each
    // PI's link goes to their portal.
    let admin;
    let portals = crate::access::portals(&opts.out, config)?;
    let opts = match &portals {
        Some(_) => {
            admin = Options {
                out: opts.out.join(crate::access::ADMIN_DIR),
                ..opts.clone()
            };
            &admin
        }
        None => opts,
    };
    let mut built = manifest::load(&opts.out, period)?;
    if let Some(paths) = &portals {
        for s in &mut built.statements {
            s.pi_href = paths.get(&s.pi_email).cloned().unwrap_or_default();
        }
    }
    if opts.mode == Mode::Smtp && built.held_charges > 0 && !opts.allow_held {
        return Err(anyhow!(Refused(format!(
            "{period} has {} held charge{} not on any statement: resolve them (`ocb review`) and rebuild, or send anyway with --allow-held",
            built.held_charges,
            if built.held_charges == 1 { "" } else { "s" }
        ))));
    }
    let groups = manifest::select(manifest::by_pi(&built.statements), &opts.to, period)?;
    let period_dir = root.join("periods").join(period.to_string());
    // Held for the whole run: two runs must not both decide a statement is unsent.
    let _lock = match opts.mode {
        Mode::Smtp => Some(lock(&period_dir, period)?),
        _ => None,
    };
    let mut run = Run {
        opts,
        composer: Composer::new(root, config, config_shown, period)?,
        ledger: Ledger::load(&period_dir, &format!("periods/{period}/{}", ledger::FILE))?,
        sink: match opts.mode {
            Mode::Smtp => Sink::Smtp(Smtp::new(&config.email.smtp, root, &config.shown)?),
            Mode::Dev => Sink::Dev(preview::Preview::start(&opts.out, period)?),
            Mode::DryRun => Sink::DryRun,
        },
        report: Report {
            held_charges: built.held_charges,
            ..Report::default()
        },
        stopped: None,
    };
    if let Sink::Smtp(smtp) = &run.sink {
        run.report.server = Some(smtp.describe.clone());
    }
    for group in &groups {
        run.one(group, on)?;
    }
    if let Sink::Dev(p) = run.sink {
        run.report.preview = Some(p.finish()?);
    }
    Ok(run.report)
}

impl Run<'_> {
    /// Compose and deliver the message of one PI. A message that cannot go
    /// out is reported and the run goes on; errors are for broken local state.
    fn one(&mut self, group: &PiGroup, on: &mut dyn FnMut(Event)) -> Result<()> {
        let parts = self.parts(group, on)?;
        if parts.is_empty() {
            return Ok(());
        }
        if let Some(why) = &self.stopped {
            let reason = format!("not attempted: {why}");
            self.not_sent(group, reason, on);
            return Ok(());
        }
        let now = SystemTime::now();
        let email = self.composer.compose(group, parts, now)?;
        let message = match self.composer.message(&email, now) {
            Ok(m) => m,
            Err(e) => {
                self.not_sent(group, e.to_string(), on);
                return Ok(());
            }
        };
        match &mut self.sink {
            Sink::DryRun => on(Event::WouldSend(&email)),
            Sink::Dev(p) => {
                let from = self.composer.from().to_string();
                let path = p.write(&email, &from, &message.formatted())?;
                on(Event::Written(&email, &path));
            }
            Sink::Smtp(smtp) => match smtp.send(&message) {
                Ok(()) => {
                    // Recorded before anything else can fail: the ledger must
                    // list every message that went out.
                    self.ledger.record(delivery(&email)).with_context(|| {
                        format!(
                            "the message to {} WAS SENT but could not be recorded; add it to deliveries.yaml by hand, or it will be sent again",
                            email.pi
                        )
                    })?;
                    on(Event::Sent(&email));
                }
                Err(f) => {
                    if let Failure::Stop(why) = &f {
                        self.stopped = Some(why.clone());
                    }
                    self.not_sent(group, f.reason().to_string(), on);
                    return Ok(());
                }
            },
        }
        self.report.messages += 1;
        Ok(())
    }

    fn not_sent(&mut self, group: &PiGroup, reason: String, on: &mut dyn FnMut(Event)) {
        on(Event::NotSent {
            pi: &group.email,
            reason: &reason,
        });
        self.report.not_sent.push((group.email.clone(), reason));
    }

    /// The statements of `group` that go out now, PDFs read once. Delivered
    /// ones are skipped; changed ones go again only with `--resend`; `--resend`
    /// with `--to` sends everything again to the PIs named.
    fn parts(&mut self, group: &PiGroup, on: &mut dyn FnMut(Event)) -> Result<Vec<Part>> {
        let force = self.opts.resend && !self.opts.to.is_empty();
        let mut parts = Vec::new();
        for s in &group.statements {
            let mut part = Part::read(&self.opts.out, s)?;
            let (at, changed) = match self.ledger.status(&s.number, &part.sha256) {
                Status::New => {
                    parts.push(part);
                    continue;
                }
                Status::Delivered { at } => (at, false),
                Status::Changed { at } => (at, true),
            };
            if force || (changed && self.opts.resend) {
                part.previously = Some((at, changed));
                parts.push(part);
                continue;
            }
            if changed {
                self.report.changed += 1;
            } else {
                self.report.already_sent += 1;
            }
            on(Event::Skipped {
                pi: &group.email,
                number: &s.number,
                sent_at: &at,
                changed,
            });
        }
        Ok(parts)
    }
}

fn delivery(email: &Email) -> Delivery {
    Delivery {
        pi: email.pi.clone(),
        recipients: email.recipients.clone(),
        statements: email
            .parts
            .iter()
            .map(|p| SentStatement {
                number: p.statement.number.clone(),
                pdf: p.statement.pdf.clone(),
                sha256: p.sha256.clone(),
            })
            .collect(),
        message_id: email.message_id.clone(),
        sent_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// An exclusive lock on the period folder, released when the process ends.
fn lock(period_dir: &Path, period: Period) -> Result<std::fs::File> {
    let dir = std::fs::File::open(period_dir)
        .with_context(|| format!("no period folder `periods/{period}`"))?;
    dir.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => {
            anyhow!("another `ocb send` is running for {period}; wait for it to finish")
        }
        std::fs::TryLockError::Error(e) => anyhow!("cannot lock `periods/{period}`: {e}"),
    })?;
    Ok(dir)
}
