//! The desk's own pages (home and import), rendered in the site's theme from
//! templates compiled into the binary; never written into `output/`.

use super::Desk;
use anyhow::Result;
use minijinja::{Environment, context};

pub const DESK_JS: &str = include_str!("assets/desk.js");
pub const DESK_CSS: &str = include_str!("assets/desk.css");
const LAYOUT: &str = include_str!("assets/layout.html");
const HOME: &str = include_str!("assets/home.html");
const IMPORT: &str = include_str!("assets/import.html");

fn env() -> Result<Environment<'static>> {
    crate::templates::environment(
        [
            ("layout.html", LAYOUT),
            ("home.html", HOME),
            ("import.html", IMPORT),
        ]
        .map(|(name, text)| (name.into(), text.into(), format!("desk/{name}"))),
    )
}

fn site_title(desk: &Desk) -> String {
    let shown = desk.config.display().to_string();
    crate::config::Config::load(&desk.config, &shown)
        .map(|c| c.site.title)
        .unwrap_or_else(|_| "ocb".into())
}

/// `/__desk/`: every period with its status, inputs and actions.
pub fn home(desk: &Desk) -> Result<String> {
    let (periods, problems) = crate::discover::discover(&desk.root);
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    Ok(env()?.get_template("home.html")?.render(context! {
        title => "Desk", site_title => site_title(desk), nav => "desk",
        periods => rows(desk, &periods), problems => problems, root => desk.root.display().to_string(),
    })?)
}

/// What the desk pages show of each period, newest first.
fn rows(desk: &Desk, periods: &[crate::discover::PeriodDir]) -> Vec<minijinja::Value> {
    periods
        .iter()
        .rev()
        .map(|d| {
            let files: Vec<String> = d
                .files
                .iter()
                .filter_map(|f| f.path.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            context! {
                period => d.period.to_string(), name => d.period.long_name(),
                status => crate::close::status(d).as_str(), files => files,
                built => desk.out.join(d.period.to_string()).join("index.html").is_file(),
            }
        })
        .collect()
}

/// `/__desk/import`: the drop zone.
pub fn import(desk: &Desk) -> Result<String> {
    let (periods, _) = crate::discover::discover(&desk.root);
    Ok(env()?.get_template("import.html")?.render(context! {
        title => "Import", site_title => site_title(desk), nav => "import",
        max_file => super::http::size(desk.max_upload),
        max_files => super::import::MAX_FILES, periods => rows(desk, &periods),
    })?)
}
