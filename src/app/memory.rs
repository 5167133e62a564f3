//! Giving back at once the memory that a large computation freed.

/// Returns to the system the memory that the allocator holds freed but still resident, now
/// rather than after its purge delay (a second in mimalloc 3). Called after the computations
/// that free hundreds of megabytes at once (a population snapshot, an ingest group): at a
/// million customers the previous one's freed memory was still resident while the next one
/// allocated, and that overlap set the server's peak RSS. A shorter delay for the whole
/// process did the same but cost Classify its p99 and a tenth of its throughput, pages freed
/// and reused within a call being returned and faulted back in. Where mimalloc is not the
/// global allocator (tests), this only tidies mimalloc's own empty heaps.
pub(crate) fn release_freed_memory() {
    // SAFETY: mi_collect takes no arguments that point anywhere; any thread may call it.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
