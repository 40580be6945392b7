//! Run a check of untrusted bytes in a child process. Some decoders trust a
//! length read from the file and allocate that much: an allocation failure
//! aborts the process, and no `catch_unwind` can stop it. In a forked child
//! such a file ends the child, and the parent reports the file as corrupt.

use std::io::Read;
use std::time::{Duration, Instant};

/// What `check` said, run in a forked child: `Ok`, its error, or an error
/// saying how the child ended. Where the child cannot be made (or does not
/// finish within `limit`, which a lock held by another thread at the fork
/// could cause) the check runs here instead.
#[cfg(unix)]
pub fn check(limit: Duration, check: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let mut fds = [0; 2];
    // SAFETY: plain libc calls on fds we own; the child only runs `check`,
    // writes to the pipe and `_exit`s, without returning into the caller.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return check();
    }
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        return check();
    }
    if pid == 0 {
        // The child says nothing itself (an allocation failure prints a
        // message and a backtrace) and dies of its signal, whatever handler
        // the parent installed (libFuzzer's would report a crash).
        unsafe {
            libc::close(fds[0]);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if null >= 0 {
                libc::dup2(null, 2);
            }
            for sig in [
                libc::SIGABRT,
                libc::SIGSEGV,
                libc::SIGBUS,
                libc::SIGILL,
                libc::SIGFPE,
            ] {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let said = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
            Ok(Ok(())) => String::new(),
            Ok(Err(e)) => e,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                format!("the reader failed on this file ({why})")
            }
        };
        let bytes = said.as_bytes();
        let mut sent = 0;
        while sent < bytes.len() {
            let n =
                unsafe { libc::write(fds[1], bytes[sent..].as_ptr().cast(), bytes.len() - sent) };
            if n <= 0 {
                break;
            }
            sent += n as usize;
        }
        unsafe { libc::_exit(if said.is_empty() { 0 } else { 1 }) };
    }
    unsafe { libc::close(fds[1]) };
    // SAFETY: the read end is ours alone from here on.
    let mut pipe = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    let start = Instant::now();
    let mut status = 0;
    loop {
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            break;
        }
        if done < 0 || start.elapsed() > limit {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            drop(pipe);
            return check();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut said = String::new();
    let _ = pipe.read_to_string(&mut said);
    if libc::WIFEXITED(status) {
        return match libc::WEXITSTATUS(status) {
            0 => Ok(()),
            _ => Err(said),
        };
    }
    Err(format!(
        "the reader ended on this file (signal {}): the file is corrupt",
        libc::WTERMSIG(status)
    ))
}

#[cfg(not(unix))]
pub fn check(_limit: Duration, check: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    check()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_childs_answer_or_how_it_ended() {
        let limit = Duration::from_secs(20);
        assert_eq!(check(limit, || Ok(())), Ok(()));
        assert_eq!(check(limit, || Err("bad".into())), Err("bad".into()));
        let e = check(limit, || -> Result<(), String> { std::process::abort() }).unwrap_err();
        assert!(e.contains("signal 6"), "{e}");
    }
}
