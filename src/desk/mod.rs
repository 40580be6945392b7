//! The billing office's desk: what `ocb serve` adds to the static site on
//! 127.0.0.1 — import, review decisions, close/reopen and email previews —
//! each ending as a plain file change in the billing repository, made by the
//! same code as the CLI. `ocb build` never writes any of it into `output/`.

pub mod builds;
pub mod files;
pub mod guard;
mod http;
mod import;
mod pages;
mod periods;
mod review;

use anyhow::{Context, Result};
use builds::Builds;
use guard::{Guard, Refused, TOKEN_HEADER};
use http::{Reply, header};
use std::path::PathBuf;
use std::sync::Arc;
use tiny_http::Method;

/// Polls the build number and reloads the page when it changes.
const RELOAD: &str = "<script>(function(){var v=null;setInterval(function(){fetch('/__ocb_build').then(function(r){return r.text()}).then(function(t){if(v!==null&&t!==v)location.reload();v=t}).catch(function(){})},1000)})();</script>";

/// The repository and server a desk works on.
pub struct Desk {
    root: PathBuf,
    config: PathBuf,
    out: PathBuf,
    builds: Arc<Builds>,
    guard: Guard,
    /// Private scratch space (uploads, email previews), removed when serve stops.
    scratch: tempfile::TempDir,
    /// Largest upload, in bytes.
    max_upload: u64,
}

impl Desk {
    pub fn new(
        root: PathBuf,
        config: PathBuf,
        out: PathBuf,
        port: u16,
        builds: Arc<Builds>,
    ) -> Result<Desk> {
        let scratch = tempfile::Builder::new()
            .prefix("ocb-desk-")
            .tempdir()
            .context("cannot create the desk's scratch folder")?;
        Ok(Desk {
            root,
            config,
            out,
            builds,
            guard: Guard::new(port).context("cannot make the desk's token")?,
            scratch,
            max_upload: import::MAX_FILE,
        })
    }

    pub fn max_upload(self, bytes: u64) -> Desk {
        Desk {
            max_upload: bytes,
            ..self
        }
    }

    /// Answer one request.
    pub fn handle(&self, mut request: tiny_http::Request) {
        let reply = self.reply(&mut request);
        let _ = request.respond(reply.into_response());
    }

    fn reply(&self, req: &mut tiny_http::Request) -> Reply {
        let url = req.url().to_string();
        let path = url.split(['?', '#']).next().unwrap_or("/").to_string();
        if let Err(Refused(why)) = self
            .guard
            .check_site(header(req, "Host"), header(req, "Origin"))
        {
            return Reply::text(403, why);
        }
        match req.method() {
            Method::Get | Method::Head => self.get(&path, &url),
            Method::Post => {
                let token = self
                    .guard
                    .check_token(header(req, TOKEN_HEADER), header(req, "Cookie"));
                match token {
                    Ok(()) => self.post(req, &path, &url),
                    Err(Refused(why)) => Reply::error(403, why),
                }
            }
            _ => Reply::text(405, "only GET and POST").with_header("Allow", "GET, HEAD, POST"),
        }
    }

    fn get(&self, path: &str, url: &str) -> Reply {
        match path {
            "/__ocb_build" => Reply::text(200, self.builds.generation().to_string()),
            "/__desk/desk.js" => Reply::new(
                200,
                "text/javascript; charset=utf-8",
                pages::DESK_JS.as_bytes().to_vec(),
            ),
            "/__desk/desk.css" => Reply::new(
                200,
                "text/css; charset=utf-8",
                pages::DESK_CSS.as_bytes().to_vec(),
            ),
            "/__desk" | "/__desk/" => self.page(pages::home(self)),
            "/__desk/import" => self.page(pages::import(self)),
            "/__desk/api/held" => review::held(self, url),
            _ => match path.strip_prefix("/__desk/preview/") {
                Some(rest) => self.file(&self.scratch.path().join("preview"), rest),
                None => self.file(&self.out, path),
            },
        }
    }

    fn post(&self, req: &mut tiny_http::Request, path: &str, url: &str) -> Reply {
        let reply = match path {
            "/__desk/api/review" => review::decide(self, req),
            "/__desk/api/close" => periods::close(self, req),
            "/__desk/api/reopen" => periods::reopen(self, req),
            "/__desk/api/emails" => periods::emails(self, req),
            "/__desk/api/upload" => import::upload(self, req, url),
            "/__desk/api/import/plan" => import::plan(self, req),
            "/__desk/api/import/apply" => import::apply(self, req),
            _ => return Reply::error(404, format!("no desk action `{path}`")),
        };
        reply.unwrap_or_else(|r| r)
    }

    /// A desk page, or an error page.
    fn page(&self, html: Result<String>) -> Reply {
        match html {
            Ok(body) => self.with_desk(body.into_bytes()),
            Err(e) => Reply::text(500, format!("{e:#}")),
        }
    }

    /// A file under `base`; HTML gets the desk and the reload script.
    fn file(&self, base: &std::path::Path, path: &str) -> Reply {
        let Some(file) = files::resolve(base, path, &[self.out.as_path()]) else {
            return Reply::text(404, "not found");
        };
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) => return Reply::text(500, format!("cannot read the file: {e}")),
        };
        if file.extension().is_some_and(|x| x == "html") {
            return self.with_desk(bytes);
        }
        Reply::new(200, &files::content_type(&file), bytes)
    }

    /// Served HTML carries the desk script, its token and the reload poller;
    /// the files in `output/` never do.
    fn with_desk(&self, mut bytes: Vec<u8>) -> Reply {
        let snippet = format!(
            "<script>window.ocbDesk={{token:\"{}\"}};</script><link rel=\"stylesheet\" href=\"/__desk/desk.css\"><script src=\"/__desk/desk.js\"></script>{RELOAD}",
            self.guard.token()
        );
        bytes.extend_from_slice(snippet.as_bytes());
        Reply::new(200, "text/html; charset=utf-8", bytes)
            .with_header("Set-Cookie", &self.guard.set_cookie())
    }

    /// Rebuild after a write, for the reply.
    fn rebuild(&self) -> builds::Outcome {
        self.builds.run()
    }

    fn repo(&self) -> Result<crate::build::Repo> {
        crate::build::open(&self.root, &self.config)
    }
}

/// The period folder named in a request, or a reply saying why not.
/// The repository lock for one desk write, like the CLI's writers take; it is
/// released before the rebuild (which does not lock).
fn lock(desk: &Desk, what: &str) -> Result<crate::lock::RepoLock, Reply> {
    crate::lock::acquire(&desk.root, &format!("ocb serve (desk: {what})"))
        .map_err(|e| Reply::error(409, format!("{e:#}")))
}

fn period_dir(desk: &Desk, period: &str) -> Result<crate::discover::PeriodDir, Reply> {
    let p: crate::period::Period = period.parse().map_err(|e: String| Reply::error(400, e))?;
    let (periods, _) = crate::discover::discover(&desk.root);
    periods
        .into_iter()
        .find(|d| d.period == p)
        .ok_or_else(|| Reply::error(404, format!("no period {p} under periods/")))
}
