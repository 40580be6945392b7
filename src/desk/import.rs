//! Import from the browser: uploads are staged in the desk's scratch folder
//! (names cleaned, sizes and counts limited), then planned and applied by the
//! same library code as `ocb import` — one import per dropped file or folder.

use super::Desk;
use super::http::{Reply, body, header, json, query};
use crate::ingest;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest file accepted by default (`ocb serve --max-upload-mb`).
pub const MAX_FILE: u64 = 512 << 20;
/// Most files in one batch (a folder counts its files).
pub const MAX_FILES: usize = 200;
/// Deepest folder path kept from an uploaded name.
const MAX_DEPTH: usize = 8;

/// `POST /__desk/api/upload?batch=ID` with the file as the body and its name
/// (percent-encoded, maybe a relative path inside a dropped folder) in `X-Ocb-Name`.
pub fn upload(desk: &Desk, req: &mut tiny_http::Request, url: &str) -> Result<Reply, Reply> {
    let name = header(req, "X-Ocb-Name")
        .map(|n| {
            percent_encoding::percent_decode_str(n)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let rel = clean_name(&name).ok_or_else(|| {
        Reply::error(400, format!("`{name}` is not a file name the desk accepts"))
    })?;
    let batch = match query(url, "batch") {
        Some(id) if is_batch_id(&id) => id,
        Some(id) => return Err(Reply::error(400, format!("no upload batch `{id}`"))),
        None => new_batch_id().map_err(|e| Reply::error(500, e.to_string()))?,
    };
    let dir = batches(desk).join(&batch);
    if count_files(&dir) >= MAX_FILES {
        return Err(Reply::error(
            413,
            format!("at most {MAX_FILES} files can be imported at once"),
        ));
    }
    let bytes = body(req, desk.max_upload)?;
    let dest = dir.join(&rel);
    let io = |e: std::io::Error| Reply::error(500, format!("cannot stage the upload: {e}"));
    std::fs::create_dir_all(dest.parent().unwrap_or(&dir)).map_err(io)?;
    std::fs::write(&dest, &bytes).map_err(io)?;
    Ok(Reply::json(
        200,
        &json!({"batch": batch, "name": rel.to_string_lossy(), "bytes": bytes.len()}),
    ))
}

fn batches(desk: &Desk) -> PathBuf {
    desk.scratch.path().join("uploads")
}

fn new_batch_id() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

fn is_batch_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn count_files(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count()
}

/// A relative path made only of clean parts: the client's name never says
/// where on disk a file goes. Separators (`/` and `\`) split the name; empty,
/// `.` and `..` parts and leading dots are dropped; other characters outside
/// `[A-Za-z0-9._-]` become `_`.
pub fn clean_name(name: &str) -> Option<PathBuf> {
    let parts: Vec<String> = name
        .split(['/', '\\'])
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
                .trim_start_matches('.')
                .chars()
                .take(120)
                .collect::<String>()
        })
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() || parts.len() > MAX_DEPTH {
        return None;
    }
    Some(parts.iter().collect())
}

/// A suggested source name from a file or folder name: `AWS-2025-03.csv.gz` → `aws`.
pub fn suggest_source(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = base.split('.').next().unwrap_or(base).to_ascii_lowercase();
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    // Drop a trailing date: aws-2025-03, aws_202503.
    let cut = stem
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_')
        .to_string();
    if cut.is_empty() { stem } else { cut }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    batch: String,
    /// Source name per staged item; suggested from its name when absent.
    #[serde(default)]
    sources: BTreeMap<String, String>,
    #[serde(default)]
    force: bool,
}

/// One staged item: a dropped file, or a dropped folder.
#[derive(Serialize)]
struct ItemPlan {
    item: String,
    source: String,
    notes: Vec<String>,
    problems: Vec<String>,
    months: Vec<MonthPlan>,
}

#[derive(Serialize)]
struct MonthPlan {
    period: String,
    file: String,
    change: &'static str,
    rows: u64,
    billed: Vec<String>,
}

/// The staged items of a batch, by name: each dropped file, and each dropped
/// folder as one delivery (an export folder keeps its layout).
fn items(desk: &Desk, batch: &str) -> Result<Vec<(String, PathBuf)>, Reply> {
    if !is_batch_id(batch) {
        return Err(Reply::error(400, format!("no upload batch `{batch}`")));
    }
    let dir = batches(desk).join(batch);
    let entries = std::fs::read_dir(&dir)
        .map_err(|_| Reply::error(404, "the upload batch is gone: drop the files again"))?;
    let mut items: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    items.sort();
    Ok(items)
}

/// Each staged item planned by `ingest::plan`, as `ocb import` plans it.
/// Two items writing the same source and month are a problem too.
fn plans(desk: &Desk, r: &ImportRequest) -> Result<Vec<(ItemPlan, Option<ingest::Plan>)>, Reply> {
    let shown = desk.config.display().to_string();
    let config = crate::config::Config::load(&desk.config, &shown)
        .map_err(|e| Reply::error(500, format!("{e:#}")))?;
    let base = batches(desk).join(&r.batch);
    let mut out = Vec::new();
    let mut claimed: BTreeMap<(String, String), String> = BTreeMap::new();
    for (name, path) in items(desk, &r.batch)? {
        let source = r
            .sources
            .get(&name)
            .cloned()
            .unwrap_or_else(|| suggest_source(&name));
        let req = ingest::Request {
            root: &desk.root,
            path: &path,
            source: &source,
            force: r.force,
            progress: false,
        };
        let mut view = ItemPlan {
            item: name.clone(),
            source: source.clone(),
            notes: Vec::new(),
            problems: Vec::new(),
            months: Vec::new(),
        };
        let plan = match ingest::plan(&config, &req) {
            Ok(mut plan) => {
                // Problems name the staged copy: show the name that was dropped.
                for p in &mut plan.problems {
                    p.file = staged_name(&base, &p.file);
                }
                view.problems = plan.problems.iter().map(ToString::to_string).collect();
                view.notes = plan.notes.iter().map(|n| staged_name(&base, n)).collect();
                view.months = plan.months.iter().map(month_view).collect();
                for m in &plan.months {
                    let key = (source.clone(), m.period.to_string());
                    if let Some(other) = claimed.insert(key, name.clone()) {
                        view.problems.push(format!(
                            "{name}: {} {} is also in {other}: import one of them, or give them different sources",
                            source, m.period
                        ));
                    }
                }
                Some(plan)
            }
            Err(e) => {
                view.problems
                    .push(format!("{name}: {}", staged_name(&base, &format!("{e:#}"))));
                None
            }
        };
        out.push((view, plan));
    }
    Ok(out)
}

/// A staged path back to the name it was dropped with.
fn staged_name(base: &Path, text: &str) -> String {
    text.replace(&format!("{}/", base.display()), "")
}

fn month_view(m: &ingest::Month) -> MonthPlan {
    MonthPlan {
        period: m.period.to_string(),
        file: m.file.clone(),
        change: match m.change {
            ingest::Change::New => "new",
            ingest::Change::Replaced => "replaced",
            ingest::Change::Unchanged => "unchanged",
        },
        rows: m.after.rows,
        billed: m.after.billed_text(),
    }
}

fn all_ok(plans: &[(ItemPlan, Option<ingest::Plan>)]) -> bool {
    !plans.is_empty()
        && plans
            .iter()
            .all(|(v, p)| p.is_some() && v.problems.is_empty())
}

/// `POST /__desk/api/import/plan`: what importing the batch would do; writes nothing.
pub fn plan(desk: &Desk, req: &mut tiny_http::Request) -> Result<Reply, Reply> {
    let r: ImportRequest = json(req)?;
    let plans = plans(desk, &r)?;
    let ok = all_ok(&plans);
    let items: Vec<&ItemPlan> = plans.iter().map(|(v, _)| v).collect();
    Ok(Reply::json(200, &json!({"items": items, "ok": ok})))
}

/// `POST /__desk/api/import/apply`: plan again (the repository may have
/// changed), and only when nothing is wrong anywhere, apply every plan and rebuild.
pub fn apply(desk: &Desk, req: &mut tiny_http::Request) -> Result<Reply, Reply> {
    let r: ImportRequest = json(req)?;
    let plans = plans(desk, &r)?;
    if !all_ok(&plans) {
        let problems: Vec<&String> = plans.iter().flat_map(|(v, _)| &v.problems).collect();
        return Err(Reply::json(
            422,
            &json!({"error": "nothing was imported: the files have problems", "problems": problems}),
        ));
    }
    let mut written = Vec::new();
    let held = super::lock(desk, "import")?;
    for plan in plans.iter().filter_map(|(_, p)| p.as_ref()) {
        ingest::apply(&desk.root, plan).map_err(|e| Reply::error(500, format!("{e:#}")))?;
        written.extend(
            plan.months
                .iter()
                .filter(|m| m.change != ingest::Change::Unchanged)
                .map(|m| m.file.clone()),
        );
    }
    let _ = std::fs::remove_dir_all(batches(desk).join(&r.batch));
    drop(held);
    let build = desk.rebuild();
    Ok(Reply::json(
        200,
        &json!({"written": written, "build": build}),
    ))
}
