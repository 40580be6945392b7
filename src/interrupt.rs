//! Ctrl-C, SIGTERM and SIGHUP: stop the browser we started and remove our
//! temporary folders, so an interrupted build leaves the previous output and
//! nothing else behind; exit with 128 + the signal (130, 143, 129).

use std::path::PathBuf;
use std::sync::Mutex;

struct Cleanup {
    pids: Vec<u32>,
    paths: Vec<PathBuf>,
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Block forever once Ctrl-C was pressed: the handler exits the process.
pub fn wait_if_interrupted() {
    while INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

static CLEANUP: Mutex<Cleanup> = Mutex::new(Cleanup {
    pids: Vec::new(),
    paths: Vec::new(),
});

/// Install the handler once; later calls do nothing.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);

            if let Ok(c) = CLEANUP.lock() {
                c.pids.iter().for_each(|&pid| kill_tree(pid));
                // A browser still starting has no known pid yet, and a renderer forked
                // during the kill outlives its parent: both name our folders on their
                // command lines, so kill by that until none is left.
                for _ in 0..10 {
                    let rest: Vec<u32> = c.paths.iter().flat_map(|p| mentioning(p)).collect();
                    if rest.is_empty() {
                        break;
                    }
                    rest.into_iter().for_each(kill_tree);
                }
                c.paths.iter().for_each(|p| remove_dir(p));
            }
            let signal = match SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
                0 => libc::SIGINT,
                s => s,
            };
            let what = match signal {
                libc::SIGTERM => "terminated (SIGTERM)",
                libc::SIGHUP => "hung up (SIGHUP)",
                _ => "interrupted",
            };
            eprintln!("ocb: {what}; the previous output was left untouched");
            std::process::exit(128 + signal);
        });
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: run once, right after ctrlc installed its handlers.
            unsafe { record_signal(signal) };
        }
    });
}

/// The signal that stopped us, for the exit code (ctrlc does not say which).
static SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// ctrlc's own handler for SIGINT, SIGTERM and SIGHUP, called after recording.
static PREVIOUS: [std::sync::atomic::AtomicUsize; 3] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; 3];

fn slot(signal: libc::c_int) -> Option<usize> {
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
        .iter()
        .position(|&s| s == signal)
}

/// Put a small handler in front of ctrlc's: it notes the signal number (an
/// atomic store, async-signal-safe) and hands over to ctrlc's handler.
unsafe fn record_signal(signal: libc::c_int) {
    extern "C" fn note(signal: libc::c_int) {
        SIGNAL.store(signal, std::sync::atomic::Ordering::SeqCst);
        let previous = slot(signal)
            .map(|i| PREVIOUS[i].load(std::sync::atomic::Ordering::SeqCst))
            .unwrap_or(0);
        if previous > 1 {
            // SAFETY: a plain `fn(c_int)` handler that sigaction gave us (not SIG_DFL/SIG_IGN).
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(previous) };
            f(signal);
        }
    }
    let Some(i) = slot(signal) else { return };
    // SAFETY: sigaction with zeroed structs is the documented way to read and set handlers.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, std::ptr::null(), &mut old) != 0
            || old.sa_flags & libc::SA_SIGINFO != 0
            || old.sa_sigaction <= 1
        {
            return;
        }
        PREVIOUS[i].store(old.sa_sigaction, std::sync::atomic::Ordering::SeqCst);
        let mut new = old;
        new.sa_sigaction = note as extern "C" fn(libc::c_int) as usize;
        libc::sigaction(signal, &new, std::ptr::null_mut());
    }
}

pub fn kill_on_interrupt(pid: u32) {
    if let Ok(mut c) = CLEANUP.lock() {
        c.pids.push(pid);
    }
}

pub fn remove_on_interrupt(path: PathBuf) {
    if let Ok(mut c) = CLEANUP.lock() {
        c.paths.push(path);
    }
}

/// Forget a process or folder that was cleaned up normally.
pub fn forget(pid: Option<u32>, path: Option<&std::path::Path>) {
    if let Ok(mut c) = CLEANUP.lock() {
        c.pids.retain(|p| Some(*p) != pid);
        c.paths.retain(|p| Some(p.as_path()) != path);
    }
}

/// SIGKILL a process and all its descendants (Chromium's zygote and renderers
/// outlive a killed browser process otherwise), then wait briefly for them.
pub fn kill_tree(pid: u32) {
    let mut all = vec![pid];
    let mut i = 0;
    let parents = parents();
    while i < all.len() {
        let p = all[i];
        all.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    for &p in &all {
        // SAFETY: signalling processes we started; failure is harmless.
        unsafe { libc::kill(p as i32, libc::SIGKILL) };
    }
    for _ in 0..40 {
        if all.iter().all(|p| !alive(*p)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// Processes whose command line mentions `path`.
fn mentioning(path: &std::path::Path) -> Vec<u32> {
    let needle = path.to_string_lossy().into_owned();
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

/// (pid, parent pid) of every process, from /proc.
fn parents() -> Vec<(u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces; fields after its closing paren are plain.
            let rest = stat.get(stat.rfind(')')? + 2..)?;
            let ppid = rest.split(' ').nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// Running, and not a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(')')
            .and_then(|i| s.get(i + 2..i + 3))
            .is_some_and(|state| state != "Z")
    })
}

/// Remove a folder that another process may still be writing into.
pub fn remove_dir(path: &std::path::Path) {
    for _ in 0..40 {
        let _ = std::fs::remove_dir_all(path);

        if !path.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
