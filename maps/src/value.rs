//! Copying values in and out of maps, around a value's `bpf_spin_lock`.
//!
//! As in the kernel, the 4-byte `bpf_spin_lock` inside a value is never copied by lookups or
//! updates: it belongs to the map. With `BPF_F_LOCK` the copy happens while holding it.

use std::sync::atomic::AtomicU32;

use crate::spin;

/// Copies `len` bytes from `src` to `dst`, leaving the 4 bytes at `lock_off` untouched.
///
/// # Safety
///
/// `src` must be valid for `len` reads and `dst` for `len` writes; they may not overlap.
pub(crate) unsafe fn copy(dst: *mut u8, src: *const u8, len: usize, lock_off: Option<u32>) {
    // SAFETY: the caller guarantees both ranges; the split pieces stay inside them.
    unsafe {
        match lock_off {
            Some(off) if (off as usize) + 4 <= len => {
                let off = off as usize;
                std::ptr::copy_nonoverlapping(src, dst, off);
                std::ptr::copy_nonoverlapping(src.add(off + 4), dst.add(off + 4), len - off - 4);
            }
            _ => std::ptr::copy_nonoverlapping(src, dst, len),
        }
    }
}

/// Copies under the value's own `bpf_spin_lock` at `lock_off` inside `locked` (which is `dst`
/// for updates and `src` for lookups).
///
/// # Safety
///
/// As for [`copy`], and `locked + lock_off` must be a 4-aligned lock word inside the map.
pub(crate) unsafe fn copy_locked(
    dst: *mut u8,
    src: *const u8,
    len: usize,
    locked: *mut u8,
    lock_off: u32,
) {
    // SAFETY: the caller guarantees the lock word is inside the map value and aligned.
    let word = unsafe { AtomicU32::from_ptr(locked.add(lock_off as usize).cast()) };
    spin::lock(word);
    // SAFETY: as the caller guarantees.
    unsafe { copy(dst, src, len, Some(lock_off)) };
    spin::unlock(word);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_word_is_not_copied() {
        let src = [1u8; 12];
        let mut dst = [0u8; 12];
        // SAFETY: both arrays are 12 bytes.
        unsafe { copy(dst.as_mut_ptr(), src.as_ptr(), 12, Some(4)) };
        assert_eq!(dst, [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
        let mut dst = [0u8; 12];
        // SAFETY: as above.
        unsafe { copy(dst.as_mut_ptr(), src.as_ptr(), 12, None) };
        assert_eq!(dst, [1; 12]);
    }
}
