//! Who may see what with `site.access: per_pi`: one portal per PI, the logins
//! allowed into each (the PI, their delegates, the admins), and the server
//! rules written to `output/_access/` (nginx, Apache, plain JSON).

mod apache;
mod nginx;

use crate::config::Config;
use crate::problem::Problem;
use crate::projects::Projects;
use crate::write;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The folder (under the output) where the admins' full site goes.
pub const ADMIN_DIR: &str = "admin";
/// The folder of the generated server rules; never served.
pub const ACCESS_DIR: &str = "_access";

/// One PI's portal: `pi/<slug>/`.
#[derive(Debug, Clone, Serialize)]
pub struct Portal {
    /// The PI's email as it appears on statements (lowercase).
    pub pi: String,
    /// Path relative to the output folder, ending in `/`.
    pub path: String,
    /// The PI's login first, then delegates; admins are not repeated here.
    pub logins: Vec<String>,
}

/// Every portal and who may open it.
#[derive(Debug, Clone, Serialize)]
pub struct Rules {
    pub admins: Vec<String>,
    pub portals: Vec<Portal>,
}

impl Rules {
    /// Where `/` sends each login: admins to `admin/`, a PI to their own
    /// portal, a delegate to the first portal they may open.
    pub fn homes(&self) -> BTreeMap<String, String> {
        let mut homes = BTreeMap::new();
        for a in &self.admins {
            homes.insert(a.clone(), format!("{ADMIN_DIR}/"));
        }
        for p in &self.portals {
            if let Some(own) = p.logins.first() {
                homes.entry(own.clone()).or_insert_with(|| p.path.clone());
            }
        }
        for p in &self.portals {
            for d in p.logins.iter().skip(1) {
                homes.entry(d.clone()).or_insert_with(|| p.path.clone());
            }
        }
        homes
    }

    /// Everyone allowed into a portal: its logins, then the admins.
    pub fn allowed<'a>(&'a self, p: &'a Portal) -> Vec<&'a str> {
        let mut all: Vec<&str> = p.logins.iter().map(String::as_str).collect();
        for a in &self.admins {
            if !all.contains(&a.as_str()) {
                all.push(a);
            }
        }
        all
    }
}

/// A login that is safe to write into server configuration: the characters
/// of an email address (no quotes, spaces, `$`, `;` or braces).
pub fn safe_login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 254
        && !s.starts_with(['\'', '-'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+'@-".contains(c))
}

/// The rules for `portals` (PI email → portal path), with logins and
/// delegates from projects.yaml. Conflicting or unsafe logins are problems.
pub fn rules(
    portals: &[(String, String)],
    projects: &Projects,
    config: &Config,
) -> (Rules, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (pi, path) in portals {
        let mine: Vec<_> = projects
            .all()
            .iter()
            .filter(|p| p.pi.email.eq_ignore_ascii_case(pi))
            .collect();
        let mut logins: Vec<String> = Vec::new();
        for p in &mine {
            match (&p.pi.login, logins.first()) {
                (Some(l), Some(first)) if first != l => problems.push(Problem::file(
                    "projects.yaml",
                    format!(
                        "project `{}`: PI `{pi}` has two logins, `{first}` and `{l}`",
                        p.id
                    ),
                )),
                (Some(l), None) => logins.push(l.clone()),
                _ => {}
            }
        }
        if logins.is_empty() {
            logins.push(pi.clone());
        }
        for d in mine
            .iter()
            .flat_map(|p| p.pi.delegates.iter().chain(&p.delegates))
        {
            if !logins.contains(d) {
                logins.push(d.clone());
            }
        }
        for l in logins.iter().filter(|l| !safe_login(l)) {
            problems.push(Problem::file(
                "projects.yaml",
                format!("PI `{pi}`: login `{l}` cannot be written into server rules (expected letters, digits and . _ % + ' @ -)"),
            ));
        }
        out.push(Portal {
            pi: pi.clone(),
            path: path.clone(),
            logins,
        });
    }
    let rules = Rules {
        admins: config.site.admins.clone(),
        portals: out,
    };
    (rules, problems)
}

/// `_access/nginx.conf`, `nginx-http.conf`, `apache.conf` and `access.json`.
pub fn write_rules(rules: &Rules, out: &Path) -> Result<()> {
    let dir = out.join(ACCESS_DIR);
    write::file(&dir.join("nginx.conf"), nginx::server(rules).as_bytes())?;
    write::file(&dir.join("nginx-http.conf"), nginx::http(rules).as_bytes())?;
    write::file(&dir.join("apache.conf"), apache::conf(rules).as_bytes())?;
    write::file(&dir.join("access.json"), &json(rules)?)
}

/// The plain mapping for any other server: per folder, who may read it.
fn json(rules: &Rules) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Folder<'a> {
        path: &'a str,
        pi: Option<&'a str>,
        allow: Vec<&'a str>,
    }
    #[derive(Serialize)]
    struct Doc<'a> {
        /// Readable by any signed-in user.
        public: [&'a str; 2],
        /// Never served.
        private: [&'a str; 1],
        folders: Vec<Folder<'a>>,
        home: BTreeMap<String, String>,
    }
    let admin = format!("{ADMIN_DIR}/");
    let mut folders = vec![Folder {
        path: &admin,
        pi: None,
        allow: rules.admins.iter().map(String::as_str).collect(),
    }];
    for p in &rules.portals {
        folders.push(Folder {
            path: &p.path,
            pi: Some(&p.pi),
            allow: rules.allowed(p),
        });
    }
    let access = format!("{ACCESS_DIR}/");
    let doc = Doc {
        public: ["index.html", "static/"],
        private: [&access],
        folders,
        home: rules.homes(),
    };
    let mut v = serde_json::to_vec_pretty(&doc)?;
    v.push(b'\n');
    Ok(v)
}

/// With `site.access: per_pi`, each PI's portal path (relative to the site
/// root) from the built `_access/access.json`; `None` for a public site.
pub fn portals(out: &Path, config: &Config) -> Result<Option<BTreeMap<String, String>>> {
    if config.site.access != crate::config::Access::PerPi {
        return Ok(None);
    }
    #[derive(serde::Deserialize)]
    struct Folder {
        path: String,
        pi: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        folders: Vec<Folder>,
    }
    let file = out.join(ACCESS_DIR).join("access.json");
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "cannot read `{}`: `site.access` is `per_pi`; run `ocb build` first",
            file.display()
        )
    })?;
    let doc: Doc = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not ocb's access.json", file.display()))?;
    Ok(Some(
        doc.folders
            .into_iter()
            .filter_map(|f| f.pi.map(|pi| (pi, f.path)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_that_could_break_a_config_are_refused() {
        for ok in ["a.lee@example.edu", "jdoe", "o'brien@x.edu", "a+b@x.io"] {
            assert!(safe_login(ok), "{ok}");
        }
        for bad in [
            "",
            "a b@x.edu",
            "a\"@x",
            "x;}",
            "$remote_user",
            "a\n@x",
            "'a@x",
            "-a",
        ] {
            assert!(!safe_login(bad), "{bad:?}");
        }
    }

    fn projects(yaml: &str) -> Projects {
        Projects::new(serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn delegates_and_logins_come_from_projects() {
        let p = projects(
            "- {id: p1, pi: {email: a@x.edu, login: alee, delegates: [mgr@x.edu]}}\n\
             - {id: p2, pi: {email: a@x.edu}, delegates: [dept@x.edu, mgr@x.edu]}\n\
             - {id: p3, pi: {email: b@x.edu}}\n",
        );
        let mut config = Config::default();
        config.site.admins = vec!["rc@x.edu".into()];
        let portals = [
            ("a@x.edu".to_string(), "pi/a-x-edu/".to_string()),
            ("b@x.edu".to_string(), "pi/b-x-edu/".to_string()),
            ("c@x.edu".to_string(), "pi/c-x-edu/".to_string()),
        ];
        let (r, problems) = rules(&portals, &p, &config);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(r.portals[0].logins, ["alee", "mgr@x.edu", "dept@x.edu"]);
        assert_eq!(r.portals[1].logins, ["b@x.edu"]);
        assert_eq!(r.portals[2].logins, ["c@x.edu"]);
        assert_eq!(
            r.allowed(&r.portals[1]),
            ["b@x.edu", "rc@x.edu"],
            "admins may open every portal"
        );
        let homes = r.homes();
        assert_eq!(homes["rc@x.edu"], "admin/");
        assert_eq!(homes["alee"], "pi/a-x-edu/");
        assert_eq!(homes["dept@x.edu"], "pi/a-x-edu/");
        assert!(!homes.contains_key("a@x.edu"), "a's login is `alee`");
    }

    #[test]
    fn two_logins_for_one_pi_is_a_problem() {
        let p = projects(
            "- {id: p1, pi: {email: a@x.edu, login: alee}}\n\
             - {id: p2, pi: {email: a@x.edu, login: lee}}\n",
        );
        let portals = [("a@x.edu".to_string(), "pi/a/".to_string())];
        let (_, problems) = rules(&portals, &p, &Config::default());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .to_string()
                .contains("PI `a@x.edu` has two logins, `alee` and `lee`"),
            "{}",
            problems[0]
        );
    }
}
