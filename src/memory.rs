//! Handing freed memory back to the system between periods.

/// glibc keeps the heap pages a period freed for later use, in the arena of
/// the thread that freed them; the next period's loaders, on new threads,
/// allocate elsewhere, and a year's peak grew to twice a month's. Trimming
/// after each period returns those pages (a few milliseconds).
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; no pointer is passed.
    unsafe {
        libc::malloc_trim(0);
    }
}
