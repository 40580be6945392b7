//! The one way ocb builds a minijinja environment from template files (the
//! theme's site and email templates, a repository's journal template): each
//! template's syntax error names its file and line.

use crate::theme::Theme;
use anyhow::{Result, anyhow};
use minijinja::Environment;

/// Templates by name, with their text and how errors name their file.
pub fn environment(
    templates: impl IntoIterator<Item = (String, String, String)>,
) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    for (name, text, shown) in templates {
        env.add_template_owned(name, text)
            .map_err(|e| anyhow!("{shown}:{}: {e}", e.line().unwrap_or(0)))?;
    }
    Ok(env)
}

/// The theme's `templates/<name>` for each name: the repository's copy when
/// the theme has one, else the default.
pub fn from_theme(theme: &Theme, names: &[&str]) -> Result<Environment<'static>> {
    let mut templates = Vec::new();
    for name in names {
        let path = format!("templates/{name}");
        let text = theme.text(&path)?.unwrap_or_default();
        templates.push((name.to_string(), text, theme.shown(&path)));
    }
    environment(templates)
}
