//! Hints that ask the CPU to start loading memory a scan will soon read. Whole-population
//! work meets each customer's history once, at a scattered address; without a hint each of
//! them costs a wait for memory longer than the computation on it.

/// Cache lines of one slice a prefetch asks for at most: the events features read first; the
/// CPU's own prefetcher follows a longer history once it is being read in order.
const PREFETCH_LINES: usize = 12;
/// The cache line of every current x86-64 and most ARM CPUs.
const CACHE_LINE: usize = 64;

/// Hints to load the first cache lines of `items`, and the last one, which features read first.
#[inline]
pub fn prefetch_slice<T>(items: &[T]) {
    let bytes = std::mem::size_of_val(items);
    let start = items.as_ptr().cast::<u8>();
    for offset in (0..bytes.min(PREFETCH_LINES * CACHE_LINE)).step_by(CACHE_LINE) {
        prefetch(start.wrapping_add(offset));
    }
    if bytes > PREFETCH_LINES * CACHE_LINE {
        prefetch(start.wrapping_add(bytes - 1));
    }
}

/// Hints to load the bytes of `value` (a few cache lines at most).
#[inline]
pub fn prefetch_value<T>(value: *const T) {
    let start = value.cast::<u8>();
    for offset in (0..std::mem::size_of::<T>()).step_by(CACHE_LINE) {
        prefetch(start.wrapping_add(offset));
    }
}

/// A hint to load the cache line at `address`; it never faults and changes no result.
#[inline]
pub fn prefetch<T>(address: *const T) {
    // SAFETY: a prefetch reads nothing the program sees and cannot fault, whatever the
    // address; SSE, which the instruction needs, is part of every x86-64 CPU.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_on_any_slice_or_address_are_harmless() {
        let large: Vec<u64> = (0..10_000).collect();
        prefetch_slice(&large);
        prefetch_slice(&large[..3]);
        prefetch_slice::<u64>(&[]);
        prefetch_value(&large);
        prefetch(std::ptr::null::<u8>());
        prefetch(usize::MAX as *const u8);
        assert_eq!(large.iter().sum::<u64>(), 49_995_000);
    }
}
