//! `ocb doctor`: print what blocks or weakens the monthly run, with fixes.

use super::INVALID;
use crate::cli::Global;
use crate::doctor::Finding;
use anyhow::Result;

pub fn run(g: &Global) -> Result<u8> {
    let findings = match crate::build::open(&g.root, &g.config_path()) {
        Ok(repo) => crate::doctor::examine(&repo)?,
        // A configuration that does not load blocks everything else.
        Err(e) => vec![Finding {
            blocking: true,
            what: format!("{e:#}"),
            fix: "correct the configuration at the place named; docs/OPERATIONS.md lists every key"
                .into(),
        }],
    };
    for f in &findings {
        println!(
            "{} {}",
            if f.blocking { "error:" } else { "warning:" },
            f.what
        );
        println!("  fix: {}", f.fix);
    }
    let blocking = findings.iter().filter(|f| f.blocking).count();
    if findings.is_empty() {
        println!("nothing to fix: the repository is ready for `ocb build`");
    } else if blocking == 0 {
        println!(
            "{} warning(s); nothing blocks the monthly run",
            findings.len()
        );
    } else {
        println!("{blocking} finding(s) block a correct monthly run");
    }
    Ok(if blocking > 0 { INVALID } else { 0 })
}
