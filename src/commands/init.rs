//! `ocb init [DIR]`: a new billing repository with a commented config.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

const OCB_YAML: &str = include_str!("../../docs/templates/ocb.yaml");
const PROJECTS_YAML: &str = include_str!("../../docs/templates/projects.yaml");
const README: &str = include_str!("../../docs/templates/README.md");

pub fn run(dir: PathBuf) -> Result<u8> {
    if dir.join("ocb.yaml").exists() {
        bail!(
            "`{}` already has an ocb.yaml; not overwriting it",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir.join("periods"))
        .with_context(|| format!("cannot create `{}`", dir.display()))?;
    let files: [(&str, &str); 5] = [
        ("README.md", README),
        ("ocb.yaml", OCB_YAML),
        ("projects.yaml", PROJECTS_YAML),
        (".gitignore", "output/\n.ocb-cache/\n.ocb.lock\n"),
        (
            "periods/README.md",
            "One folder per billing period (YYYY-MM) with FOCUS CSVs: `ocb import FILE --source NAME`.\n",
        ),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
        }
    }
    println!("created a billing repository in {}", dir.display());
    println!("next: edit ocb.yaml (organization, sources), then");
    println!("  ocb import FILE --source NAME     a FOCUS export into periods/YYYY-MM/");
    println!("  ocb projects add --from-data      the projects the data names, into projects.yaml");
    println!("  ocb build                         site, statements and journals into output/");
    println!("  ocb doctor                        what is still missing, with the fix");
    Ok(0)
}
