//! `periods/<P>/imports.yaml`: where each source's data in a period came from
//! (provider, export, run, manifest and part digests, import time), written
//! by `ocb import` and read by the period page and by the next import.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const FILE_NAME: &str = "imports.yaml";

/// Per source, the delivery its data in this period came from.
pub type Imports = BTreeMap<String, Import>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Import {
    /// The file written in the period folder, e.g. `aws.csv.gz`.
    pub file: String,
    /// SHA-256 of that file: a later change by hand shows.
    pub sha256: String,
    pub rows: u64,
    /// Σ BilledCost of the rows, per currency (`"USD 1234.56"`).
    pub billed: Vec<String>,
    /// `aws-data-exports`, `azure-cost-exports` or `files`.
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<String>,
    /// The export's execution id (AWS) or run id (Azure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Part>,
    /// The delivered files read, in order.
    pub parts: Vec<Part>,
    /// When it was imported (UTC, RFC 3339).
    pub imported_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// Relative to the folder (or the file) given to `ocb import`.
    pub path: String,
    pub sha256: String,
}

impl Import {
    /// Whether two imports are the same delivery (all but the time).
    pub fn same_delivery(&self, other: &Import) -> bool {
        Import {
            imported_at: String::new(),
            ..self.clone()
        } == Import {
            imported_at: String::new(),
            ..other.clone()
        }
    }
}

/// The imports recorded in a period folder; none when the file is absent.
pub fn read(dir: &Path) -> Result<Imports> {
    let path = dir.join(FILE_NAME);
    let shown = path.display().to_string();
    match crate::yaml_file::text(&path, &shown).map_err(|p| anyhow::anyhow!("{p}"))? {
        Some(text) => serde_yaml::from_str(&text)
            .with_context(|| format!("`{shown}` is not what `ocb import` writes")),
        None => Ok(Imports::new()),
    }
}

pub fn to_yaml(imports: &Imports) -> Result<String> {
    let body = serde_yaml::to_string(imports)?;
    Ok(format!(
        "# Written by `ocb import`: where each source's data in this period came from.\n{body}"
    ))
}

/// SHA-256 of a file, streamed.
pub fn digest_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let context = || format!("cannot read `{}`", path.display());
    let mut f = std::fs::File::open(path).with_context(context)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).with_context(context)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

pub fn digest_bytes(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
