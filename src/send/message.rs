//! One email per PI: the theme's `email.html` and `email.txt` rendered with
//! the statements being sent, the subject from `email.subject`, and the PDF
//! statements attached. Building a message touches neither disk nor network.

use super::manifest::{Amounts, PiGroup, Statement};
use crate::config::Config;
use crate::money::{format, percent, round};
use crate::period::Period;
use crate::theme::Theme;
use anyhow::{Context, Result, anyhow};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::SystemTime;

/// A statement going out in this message, with its PDF read once: the bytes
/// attached are the bytes whose digest is recorded.
#[derive(Debug, Clone)]
pub struct Part {
    pub statement: Statement,
    pub bytes: Vec<u8>,
    pub sha256: String,
    /// When it was sent before, and whether the PDF changed since.
    pub previously: Option<(String, bool)>,
}

impl Part {
    pub fn read(out: &Path, statement: &Statement) -> Result<Part> {
        let path = out.join(&statement.pdf);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(Part {
            statement: statement.clone(),
            bytes,
            sha256,
            previously: None,
        })
    }

    /// The name the PI sees: number and project, not the site's file layout.
    pub fn filename(&self) -> String {
        let s = &self.statement;
        format!(
            "statement-{}-{}.pdf",
            safe(&s.number),
            crate::slug::slugify(&s.project_id)
        )
    }
}

/// Totals of one currency over the statements of a message.
#[derive(Debug, Clone, Serialize)]
pub struct Total {
    pub currency: String,
    pub amounts: Amounts,
}

/// A rendered message, before it becomes MIME.
#[derive(Debug, Clone)]
pub struct Email {
    pub pi: String,
    pub pi_name: String,
    /// The PI first, then the cc addresses.
    pub recipients: Vec<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub message_id: String,
    pub parts: Vec<Part>,
    pub totals: Vec<Total>,
    /// File stem for dev-mode files: the PI's slug on the site.
    pub slug: String,
}

/// The templates and the settings every message shares.
pub struct Composer {
    env: Environment<'static>,
    theme: Theme,
    from: Mailbox,
    period: Period,
    org: crate::config::Organization,
    /// `site.base_url` when it is absolute: a relative link means nothing in an inbox.
    base_url: Option<String>,
    config_shown: String,
}

impl Composer {
    pub fn new(
        root: &Path,
        config: &Config,
        config_shown: &str,
        period: Period,
    ) -> Result<Composer> {
        let theme = Theme::new(root, &config.site.theme, config_shown)?;
        let mut env = crate::templates::from_theme(&theme, &["email.html", "email.txt"])?;
        env.add_template_owned("subject".to_string(), config.email.subject.clone())
            .map_err(|e| anyhow!("{config_shown}: key `email.subject`: {e}"))?;
        let from: Mailbox = config.email.from.parse().map_err(|e| {
            anyhow!(
                "{config_shown}: key `email.from`: `{}` is not an email address: {e}",
                config.email.from
            )
        })?;
        let base = config.site.base_url.trim();
        let base_url = (base.starts_with("https://") || base.starts_with("http://"))
            .then(|| format!("{}/", base.trim_end_matches('/')));
        Ok(Composer {
            env,
            theme,
            from,
            period,
            org: config.organization.clone(),
            base_url,
            config_shown: config_shown.to_string(),
        })
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Render the message for `group` with the statements in `parts`.
    pub fn compose(&self, group: &PiGroup, parts: Vec<Part>, now: SystemTime) -> Result<Email> {
        let totals = totals(&parts);
        let corrected = parts
            .iter()
            .any(|p| matches!(p.previously, Some((_, true))));
        let subject_ctx = context! {
            period => self.period.to_string(), period_name => self.period.long_name(),
            pi_name => &group.name, pi_email => &group.email, org => Serde(&self.org), corrected => corrected,
        };
        let mut subject = one_line(&self.render("subject", subject_ctx)?);
        if corrected {
            subject = format!("Corrected: {subject}");
        }
        let ctx = self.body_context(group, &parts, &totals, &subject);
        let html = self.render("email.html", ctx.clone())?;
        let text = self.render("email.txt", ctx)?;
        let message_id = self.message_id(group, &parts, now);
        Ok(Email {
            pi: group.email.clone(),
            pi_name: group.name.clone(),
            recipients: group.recipients(),
            subject,
            html,
            text,
            message_id,
            parts,
            totals,
            slug: pi_slug(group),
        })
    }

    fn body_context(
        &self,
        group: &PiGroup,
        parts: &[Part],
        totals: &[Total],
        subject: &str,
    ) -> Value {
        let projects: Vec<Value> = parts
            .iter()
            .map(|p| {
                let s = &p.statement;
                let (sent_at, changed) = p.previously.clone().unzip();
                context! {
                    project => &s.project_id, name => &s.project_name, fund => &s.fund_org, number => &s.number,
                    currency => &s.currency, amounts => Serde(due_amounts(s)), attachment => p.filename(), replaces => &s.replaces,
                    previously_sent => sent_at.map(|t| t.get(..10).unwrap_or(&t).to_string()), changed => changed.unwrap_or(false),
                    ledger => s.ledger.as_ref().filter(|l| !l.lines.is_empty() || !l.split.is_empty()).map(Serde),
                }
            })
            .collect();
        let url = self
            .base_url
            .as_ref()
            .filter(|_| !group.href.is_empty())
            .map(|b| format!("{b}{}", group.href));
        context! {
            subject => subject, period => self.period.to_string(), period_name => self.period.long_name(),
            pi => context! { email => &group.email, name => &group.name },
            corrected => parts.iter().any(|p| matches!(p.previously, Some((_, true)))),
            projects => projects, totals => Serde(totals), url => url, org => Serde(&self.org),
            portal => group.href.starts_with("pi/"),
        }
    }

    fn render(&self, name: &str, ctx: Value) -> Result<String> {
        let t = self.env.get_template(name)?;
        t.render(ctx).map_err(|e| {
            let file = match name {
                "subject" => format!("{}: key `email.subject`", self.config_shown),
                _ => self.theme.shown(&format!("templates/{name}")),
            };
            anyhow!("{file}:{}: {e}", e.line().unwrap_or(0))
        })
    }

    /// `<number.hash@domain>`: readable, and new for every message (a resend
    /// must not look like a duplicate to mail servers).
    fn message_id(&self, group: &PiGroup, parts: &[Part], now: SystemTime) -> String {
        let mut h = Sha256::new();
        h.update(group.email.as_bytes());
        for p in parts {
            h.update(p.statement.number.as_bytes());
            h.update(p.sha256.as_bytes());
        }
        let nanos = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.update(nanos.to_le_bytes());
        let hash = hex::encode(h.finalize());
        let first = parts
            .first()
            .map(|p| safe(&p.statement.number))
            .unwrap_or_else(|| "ocb".into());
        format!("<{first}.{}@{}>", &hash[..12], self.from.email.domain())
    }

    /// The MIME message: multipart/mixed of (plain text | HTML) and the PDFs.
    pub fn message(&self, email: &Email, date: SystemTime) -> Result<Message> {
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(email.subject.clone())
            .message_id(Some(email.message_id.clone()))
            .date(date)
            .user_agent(format!("ocb {}", env!("CARGO_PKG_VERSION")));
        for (i, r) in email.recipients.iter().enumerate() {
            let name = (i == 0 && !email.pi_name.is_empty()).then(|| email.pi_name.clone());
            let address = r
                .parse()
                .map_err(|e| anyhow!("`{r}` is not a valid email address: {e}"))?;
            let mbox = Mailbox::new(name, address);
            b = if i == 0 { b.to(mbox) } else { b.cc(mbox) };
        }
        let pdf = ContentType::parse("application/pdf").map_err(|e| anyhow!("{e}"))?;
        let mut body = MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ));
        for p in &email.parts {
            body =
                body.singlepart(Attachment::new(p.filename()).body(p.bytes.clone(), pdf.clone()));
        }
        b.multipart(body)
            .map_err(|e| anyhow!("cannot build the message: {e}"))
    }
}

/// The amounts a PI reads: the amount due after credits, allocations and
/// surcharges where the ledger changed it.
fn due_amounts(s: &Statement) -> Amounts {
    let mut a = s.amounts.clone();
    if let Some(due) = &s.due_text {
        a.billed = due.clone();
    }
    a
}

/// Per currency, in order of appearance. Each column sums the rounded amounts
/// shown in the rows above it, so the total is what a PI adds up by hand.
fn totals(parts: &[Part]) -> Vec<Total> {
    let mut sums: Vec<(String, [Decimal; 3])> = Vec::new();
    for p in parts {
        let s = &p.statement;
        let exact = |v: &str| {
            v.parse::<Decimal>()
                .map(|d| round(d, &s.currency))
                .unwrap_or_default()
        };
        let (list, discount, billed) = (
            exact(&s.list_cost),
            exact(&s.discount),
            exact(s.due.as_deref().unwrap_or(&s.billed_cost)),
        );
        let i = match sums.iter().position(|(c, _)| *c == s.currency) {
            Some(i) => i,
            None => {
                sums.push((s.currency.clone(), [Decimal::ZERO; 3]));
                sums.len() - 1
            }
        };
        let row = &mut sums[i].1;
        row[0] += list;
        row[1] += discount;
        row[2] += billed;
    }
    sums.into_iter()
        .map(|(currency, [list, discount, billed])| Total {
            amounts: Amounts {
                list: format(list, &currency),
                discount: format(discount, &currency),
                discount_pct: percent(discount, list),
                billed: format(billed, &currency),
            },
            currency,
        })
        .collect()
}

/// A statement number as it is, minus anything unsafe in a file name or id.
fn safe(number: &str) -> String {
    let s: String = number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if s.is_empty() { "statement".into() } else { s }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The PI's slug from their page on the site (`pis/<slug>.html`).
fn pi_slug(group: &PiGroup) -> String {
    group
        .href
        .strip_prefix("pis/")
        .and_then(|h| h.strip_suffix(".html"))
        .map(crate::slug::slugify)
        .unwrap_or_else(|| crate::slug::slugify(&group.email))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(number: &str, project: &str, list: &str, billed: &str) -> Statement {
        let (l, b): (Decimal, Decimal) = (list.parse().unwrap(), billed.parse().unwrap());
        Statement {
            number: number.into(),
            pi_email: "a@x.edu".into(),
            pi_name: "Dr. A".into(),
            project_id: project.into(),
            project_name: format!("Project {project}"),
            fund_org: "NSF-1".into(),
            currency: "USD".into(),
            pdf: format!("2025-01/statements/a/{project}.pdf"),
            amounts: Amounts {
                list: format(l, "USD"),
                discount: format(l - b, "USD"),
                discount_pct: percent(l - b, l),
                billed: format(b, "USD"),
            },
            list_cost: list.into(),
            discount: (l - b).to_string(),
            billed_cost: billed.into(),
            due: None,
            due_text: None,
            ledger: None,
            cc: vec!["m@x.edu".into()],
            pi_href: "pis/a-x-edu.html".into(),
            replaces: None,
        }
    }

    fn part(s: Statement, previously: Option<(String, bool)>) -> Part {
        Part {
            statement: s,
            bytes: b"%PDF-1.4 test".to_vec(),
            sha256: "00".into(),
            previously,
        }
    }

    fn composer(base_url: &str) -> Composer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.site.base_url = base_url.into();
        config.organization.contact = "billing@x.edu".into();
        config.email.subject = "Charges for {{ period_name }}, {{ pi_name }}".into();
        Composer::new(dir.path(), &config, "ocb.yaml", "2025-01".parse().unwrap()).unwrap()
    }

    fn group(statements: &[&Statement]) -> PiGroup {
        PiGroup {
            email: "a@x.edu".into(),
            name: "Dr. A".into(),
            href: "pis/a-x-edu.html".into(),
            statements: statements.iter().map(|s| (*s).clone()).collect(),
        }
    }

    #[test]
    fn composes_subject_both_parts_and_totals_of_the_rounded_rows() {
        let c = composer("https://rc.x.edu/charges");
        let (s1, s2) = (
            statement("202501-AA", "p1", "10.005", "10.005"),
            statement("202501-BB", "p2", "20.00", "15.004"),
        );
        let parts = vec![part(s1.clone(), None), part(s2.clone(), None)];
        let e = c
            .compose(&group(&[&s1, &s2]), parts, SystemTime::now())
            .unwrap();
        assert_eq!(e.subject, "Charges for January 2025, Dr. A");
        assert_eq!(e.recipients, ["a@x.edu", "m@x.edu"]);
        // $10.01 + $15.00 as shown in the rows, not round(25.009) = $25.01.
        assert_eq!(e.totals[0].amounts.billed, "$25.01");
        assert_eq!(e.totals[0].amounts.list, "$30.01");
        for body in [&e.text, &e.html] {
            assert!(
                body.contains("Project p2") && body.contains("$15.00"),
                "{body}"
            );
            assert!(body.contains("rc.x.edu"), "{body}");
        }
        assert!(e.text.contains("https://rc.x.edu/charges/pis/a-x-edu.html"));
        assert!(e.message_id.starts_with("<202501-AA.") && e.message_id.ends_with("@example.edu>"));
        assert_eq!(e.parts[0].filename(), "statement-202501-AA-p1.pdf");
    }

    #[test]
    fn a_relative_site_gives_no_link_and_corrections_say_so() {
        let c = composer("/");
        let s = statement("202501-AA", "p1", "1", "1");
        let parts = vec![part(s.clone(), Some(("2025-02-03T10:00:00Z".into(), true)))];
        let e = c.compose(&group(&[&s]), parts, SystemTime::now()).unwrap();
        assert_eq!(e.subject, "Corrected: Charges for January 2025, Dr. A");
        assert!(!e.text.contains("across all periods"), "{}", e.text);
        assert!(
            e.text
                .contains("corrected; replaces the one sent 2025-02-03"),
            "{}",
            e.text
        );
    }

    #[test]
    fn the_message_is_multipart_with_the_pdf_attached() {
        let c = composer("/");
        let s = statement("202501-AA", "p1", "1", "1");
        let e = c
            .compose(
                &group(&[&s]),
                vec![part(s.clone(), None)],
                SystemTime::now(),
            )
            .unwrap();
        let raw = String::from_utf8(c.message(&e, SystemTime::now()).unwrap().formatted()).unwrap();
        for needle in [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "text/html",
            "application/pdf",
            "Cc: m@x.edu",
        ] {
            assert!(raw.contains(needle), "{needle} missing:\n{raw}");
        }
        let mut bad = e.clone();
        bad.recipients[1] = "not an address".into();
        let err = c.message(&bad, SystemTime::now()).unwrap_err().to_string();
        assert!(
            err.contains("`not an address` is not a valid email address"),
            "{err}"
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p: Period = "2025-01".parse().unwrap();
        let mut config = Config::default();
        config.email.subject = "{{ period ".into();
        let err = Composer::new(dir.path(), &config, "ocb.yaml", p)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("ocb.yaml: key `email.subject`"), "{err}");
        let mut config = Config::default();
        config.email.from = "billing at x".into();
        let err = Composer::new(dir.path(), &config, "ocb.yaml", p)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("ocb.yaml: key `email.from`"), "{err}");
    }
}
