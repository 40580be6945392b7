//! The `ocb` binary: parse arguments, run a command, print errors, pick the exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of stdout goes away (`ocb review | head`).
    // SAFETY: restoring the default signal disposition before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    ocb::memory::configure();
    ocb::write::note_umask();
    let cli = ocb::cli::Cli::parse();
    let result = ocb::commands::run(cli);
    // After Ctrl-C the browser's death fails the build here too; the interrupt
    // handler is cleaning up and exits with 130, so let it finish.
    ocb::interrupt::wait_if_interrupted();
    match result {
        Ok(code) => ExitCode::from(code),

        Err(e) => {
            eprintln!("ocb: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
