//! Progress bars over the bytes of input files: drawn on a terminal, hidden
//! everywhere else (pipes, cron, CI, `--quiet`), so logs stay clean.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A bar over `total` bytes, labelled `verb` (`importing`, `loading`).
pub fn bytes(enabled: bool, verb: &str, total: u64) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template = format!("{verb} {{bar:30}} {{bytes}}/{{total_bytes}} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// `file` counting its bytes into `bar` as they are read (unchanged when the
/// bar is hidden).
pub fn wrap(file: std::fs::File, bar: &ProgressBar) -> Box<dyn std::io::Read + Send> {
    if bar.is_hidden() {
        Box::new(file)
    } else {
        Box::new(bar.wrap_read(file))
    }
}

/// The size of a file, 0 when it cannot be read (the reader will say why).
pub fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
