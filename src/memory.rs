//! Memory: handing freed memory back to the system between periods, and
//! asking for it ahead of use.

/// Allocations of 1 MiB and more get their own mapping, returned to the
/// system when freed. glibc otherwise raises that threshold to the size of
/// each large block freed (up to 32 MiB), and then keeps freed blocks of the
/// month's charges (`load::Blocks`) in its heap while the month is joined:
/// the charges would be held twice at the peak.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc tunable; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// glibc keeps the heap pages a period freed for later use, in the arena of
/// the thread that freed them; the next period's loaders, on new threads,
/// allocate elsewhere, and a year's peak grew to twice a month's. Trimming
/// after each period returns those pages (a few milliseconds): done by the
/// thread that frees the period's charges, while the next period loads
/// (trimming first and then loading, a year's build faulted in again what
/// it had just returned: 4 s of a 36 s year).
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; no pointer is passed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Ask the CPU to bring `bytes` (up to 512 of them) into its cache.
pub fn prefetch_bytes(bytes: &[u8]) {
    lines(bytes.as_ptr(), bytes.len());
}

/// Ask the CPU to bring `value` into its cache ahead of use: rows visited
/// out of memory order (the charge browser's, by project) wait on memory
/// at every row otherwise.
pub fn prefetch<T>(value: &T) {
    lines((value as *const T).cast(), std::mem::size_of::<T>());
}

/// Ask for the first `len` bytes of `value` only: what a pass over it reads.
pub fn prefetch_first<T>(value: &T, len: usize) {
    lines(
        (value as *const T).cast(),
        len.min(std::mem::size_of::<T>()),
    );
}

/// Ask for what an `Arc` points to, its reference counts included (they
/// lie just before the value): cloning it writes them.
pub fn prefetch_arc<T>(value: &std::sync::Arc<T>) {
    let at = std::sync::Arc::as_ptr(value).cast::<u8>();
    let counts = 2 * std::mem::size_of::<usize>();
    lines(at.wrapping_sub(counts), counts + std::mem::size_of::<T>());
}

/// Every cache line of `len` bytes at `at` (up to 512), its last byte's
/// too: bytes that do not start a line span one line more than their
/// length in lines.
fn lines(at: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let size = len.min(512);
        for offset in (0..size).step_by(64).chain(size.checked_sub(1)) {
            // SAFETY: a prefetch is only a hint; it never faults or reads
            // into the program, and `at + offset` lies inside the value.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(offset).cast::<i8>()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (at, len);
}
