//! Dev mode: each message written as `output/emails/<P>/<pi>.eml`, with an
//! HTML preview per message and an index, so a team can read them in a
//! browser before anything is sent.

use super::message::Email;
use crate::period::Period;
use anyhow::{Context, Result, anyhow};
use minijinja::{Environment, Value, context};
use std::path::{Path, PathBuf};

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; background: #eef0f4; color: #1d2433; }
header, main { max-width: 960px; margin: 0 auto; padding: 12px 16px; }
.dev { background: #fff4d6; border: 1px solid #e2c26b; padding: 8px 12px; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; background: #fff; border-radius: 6px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e1e4ea; vertical-align: top; }
th { color: #5b6478; font-weight: 600; }
table.h th { width: 8em; }
td.num { text-align: right; white-space: nowrap; }
iframe { width: 100%; min-height: 480px; border: 1px solid #d5d9e2; border-radius: 6px; background: #fff; margin-top: 12px; }
pre { white-space: pre-wrap; background: #fff; padding: 12px; border-radius: 6px; border: 1px solid #d5d9e2; }
a { color: #1f5fbf; }
</style></head><body>
<header><p class="dev" style="margin-bottom: 0;">Dev mode preview: nothing was sent. {{ note }}</p></header>
<main>
{% if messages is defined %}
<h1>Emails for {{ period_name }}</h1>
<table><thead><tr><th>To</th><th>Cc</th><th>Subject</th><th>PDFs</th><th>Amount due</th><th></th></tr></thead><tbody>
{% for m in messages %}<tr><td>{{ m.to }}</td><td>{{ m.cc | join(", ") }}</td><td>{{ m.subject }}</td><td class="num">{{ m.attachments }}</td><td class="num">{{ m.due | join(", ") }}</td><td><a href="{{ m.slug }}.html">preview</a> · <a href="{{ m.slug }}.eml">.eml</a></td></tr>
{% else %}<tr><td colspan="6">No messages: every statement of this period was already sent.</td></tr>{% endfor %}
</tbody></table>
{% else %}
<p><a href="index.html">← all emails for {{ period_name }}</a> · <a href="{{ slug }}.eml">download .eml</a></p>
<table class="h">
<tr><th>From</th><td>{{ from }}</td></tr>
<tr><th>To</th><td>{{ to }}</td></tr>
{% if cc %}<tr><th>Cc</th><td>{{ cc | join(", ") }}</td></tr>{% endif %}
<tr><th>Subject</th><td><strong>{{ subject }}</strong></td></tr>
<tr><th>Message-ID</th><td>{{ message_id }}</td></tr>
<tr><th>Attachments</th><td>{% for a in attachments %}<a href="{{ a.href }}">{{ a.name }}</a> ({{ a.size }}){% if not loop.last %}<br>{% endif %}{% endfor %}</td></tr>
</table>
<iframe title="HTML part" sandbox="allow-same-origin allow-popups" srcdoc="{{ html }}" onload="try { this.style.height = (this.contentDocument.documentElement.scrollHeight + 8) + 'px'; } catch (e) {}"></iframe>
<h2>Plain-text part</h2>
<pre>{{ text }}</pre>
{% endif %}
</main></body></html>
"#;

/// The folder being written and what went into it.
pub struct Preview {
    dir: PathBuf,
    period: Period,
    env: Environment<'static>,
    rows: Vec<Value>,
}

impl Preview {
    /// Start from an empty `<out>/emails/<P>/`: files of an earlier run would
    /// show messages that this run would not send.
    pub fn start(out: &Path, period: Period) -> Result<Preview> {
        let dir = out.join("emails").join(period.to_string());
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear `{}`", dir.display()))?;
        }
        crate::write::ensure_dir(&dir)?;
        let env = crate::templates::environment([(
            "page.html".into(),
            PAGE.into(),
            "the email preview page".into(),
        )])?;
        Ok(Preview {
            dir,
            period,
            env,
            rows: Vec::new(),
        })
    }

    /// Write `<slug>.eml` (the exact bytes that would be sent) and `<slug>.html`.
    pub fn write(&mut self, email: &Email, from: &str, eml: &[u8]) -> Result<PathBuf> {
        let eml_path = self.dir.join(format!("{}.eml", email.slug));
        crate::write::file(&eml_path, eml)?;
        let attachments: Vec<Value> = email
            .parts
            .iter()
            .map(|p| context! { name => p.filename(), href => format!("../../{}", p.statement.pdf), size => size(p.bytes.len()) })
            .collect();
        let cc = email.recipients[1..].to_vec();
        let to = match email.pi_name.as_str() {
            "" => email.recipients[0].clone(),
            name => format!("{name} <{}>", email.recipients[0]),
        };
        let page = self.render(context! {
            title => &email.subject, note => "This is the message as it would be sent.", from => from,
            to => &to, cc => cc.clone(), subject => &email.subject, message_id => &email.message_id,
            attachments => attachments, html => &email.html, text => &email.text, slug => &email.slug,
            period_name => self.period.long_name(),
        })?;
        crate::write::file(
            &self.dir.join(format!("{}.html", email.slug)),
            page.as_bytes(),
        )?;
        let due: Vec<String> = email
            .totals
            .iter()
            .map(|t| t.amounts.billed.clone())
            .collect();
        self.rows.push(context! {
            to => to, cc => cc, subject => &email.subject,
            attachments => email.parts.len(), due => due, slug => &email.slug,
        });
        Ok(eml_path)
    }

    /// Write `index.html` listing every message; gives its path.
    pub fn finish(self) -> Result<PathBuf> {
        let page = self.render(context! {
            title => format!("Emails for {}", self.period.long_name()), note => "Open a message to see it as the PI would.",
            period_name => self.period.long_name(), messages => &self.rows,
        })?;
        let path = self.dir.join("index.html");
        crate::write::file(&path, page.as_bytes())?;
        Ok(path)
    }

    fn render(&self, ctx: Value) -> Result<String> {
        self.env
            .get_template("page.html")?
            .render(ctx)
            .map_err(|e| anyhow!("dev-mode preview: {e}"))
    }
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{} KB", b / 1024),
        b => format!("{b} bytes"),
    }
}
