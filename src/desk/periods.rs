//! Period actions from the browser: close and reopen through the close
//! module (as `ocb close` / `ocb reopen`), and the emails of a period
//! previewed as `ocb send --dev` writes them, into the desk's scratch folder.

use super::http::{Reply, json};
use super::{Desk, period_dir};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodRequest {
    period: String,
    #[serde(default)]
    reason: Option<String>,
}

fn internal(e: anyhow::Error) -> Reply {
    Reply::error(500, format!("{e:#}"))
}

/// `POST /__desk/api/close`.
pub fn close(desk: &Desk, req: &mut tiny_http::Request) -> Result<Reply, Reply> {
    let r: PeriodRequest = json(req)?;
    let dir = period_dir(desk, &r.period)?;
    let held = super::lock(desk, "close")?;
    let done = crate::closing::close(&desk.root, &desk.config, dir.period)
        .map_err(|e| Reply::error(409, format!("{e:#}")))?;
    drop(held);
    if let Some(p) = done.problems.first() {
        return Err(Reply::error(
            409,
            format!(
                "{} was not closed: {} problem(s), first: {p}",
                dir.period,
                done.problems.len()
            ),
        ));
    }
    let build = desk.rebuild();
    Ok(Reply::json(
        200,
        &json!({
            "message": format!("closed {}: {} statements issued, {} input digests recorded in {}", dir.period, done.statements, done.digests, dir.shown("period.yaml")),
            "build": build,
        }),
    ))
}

/// `POST /__desk/api/reopen`: needs the reason, as `ocb reopen --reason`.
pub fn reopen(desk: &Desk, req: &mut tiny_http::Request) -> Result<Reply, Reply> {
    let r: PeriodRequest = json(req)?;
    let reason = r.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(Reply::error(400, "say why the period is reopened"));
    }
    let dir = period_dir(desk, &r.period)?;
    let held = super::lock(desk, "reopen")?;
    crate::close::refuse_if_corrected_later(&desk.root, &dir)
        .and_then(|()| crate::close::reopen(&dir, &desk.root, reason))
        .map_err(|e| Reply::error(409, format!("{e:#}")))?;
    drop(held);
    let build = desk.rebuild();
    Ok(Reply::json(
        200,
        &json!({"message": format!("reopened {}", dir.period), "build": build}),
    ))
}

/// `POST /__desk/api/emails`: write the dev-mode preview of a period's emails
/// (nothing is sent, nothing recorded) and give its address.
pub fn emails(desk: &Desk, req: &mut tiny_http::Request) -> Result<Reply, Reply> {
    let r: PeriodRequest = json(req)?;
    let period = period_dir(desk, &r.period)?.period;
    // The preview folder sees the built period through a link, so that send
    // reads output/<P>/ and writes only into the scratch folder.
    let preview = desk.scratch.path().join("preview");
    if preview.exists() {
        std::fs::remove_dir_all(&preview).map_err(|e| internal(e.into()))?;
    }
    std::fs::create_dir_all(&preview).map_err(|e| internal(e.into()))?;
    let built = desk.out.join(period.to_string());
    if !built.join("statements.json").is_file() {
        return Err(Reply::error(
            409,
            format!("{period} is not built yet: fix the build, then preview"),
        ));
    }
    std::os::unix::fs::symlink(&built, preview.join(period.to_string()))
        .map_err(|e| internal(e.into()))?;
    let shown = desk
        .config
        .strip_prefix(&desk.root)
        .unwrap_or(&desk.config)
        .display()
        .to_string();
    let config = crate::config::Config::load(&desk.config, &shown).map_err(internal)?;
    let opts = crate::send::Options {
        out: preview,
        period,
        mode: crate::send::Mode::Dev,
        to: Vec::new(),
        resend: false,
        allow_held: true,
    };
    let report = crate::send::run(
        &desk.root,
        &config,
        &shown,
        &opts,
        &mut |_: crate::send::Event<'_>| {},
    )
    .map_err(|e| Reply::error(409, format!("{e:#}")))?;
    Ok(Reply::json(
        200,
        &json!({
            "url": format!("/__desk/preview/emails/{period}/index.html"),
            "messages": report.messages,
            "already_sent": report.already_sent,
            "held_charges": report.held_charges,
        }),
    ))
}
