//! The helper table a caller hands to an engine: helper id → native function.
//!
//! Helpers use the kernel's calling convention: five 64-bit arguments (r1..r5) and a 64-bit
//! result (r0). The same table serves the interpreter and the JIT, which calls the very same
//! function pointers.

/// A helper function: arguments r1..r5, result r0.
pub type HelperFn = unsafe extern "C" fn(u64, u64, u64, u64, u64) -> u64;

/// One registered helper.
#[derive(Debug, Clone, Copy)]
pub struct Helper {
    /// Kernel name, e.g. `bpf_ktime_get_ns`.
    pub name: &'static str,
    /// The function called.
    pub func: HelperFn,
}

/// Helpers by id.
#[derive(Debug, Clone, Default)]
pub struct HelperTable {
    entries: Vec<Option<Helper>>,
}

impl HelperTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `func` as helper `id`, replacing any earlier one.
    ///
    /// # Safety
    ///
    /// `func` must be sound to call with any argument values a program that passed the
    /// engine's checks can pass: a helper that dereferences an argument must either check
    /// it itself or rely only on guarantees the verifier gives for that helper's signature.
    pub unsafe fn register(&mut self, id: u32, name: &'static str, func: HelperFn) {
        let idx = id as usize;
        if self.entries.len() <= idx {
            self.entries.resize(idx + 1, None);
        }
        self.entries[idx] = Some(Helper { name, func });
    }

    /// The helper with this id, if registered.
    #[inline]
    pub fn get(&self, id: u32) -> Option<&Helper> {
        self.entries.get(id as usize).and_then(Option::as_ref)
    }

    /// Registered helpers with their ids, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Helper)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(id, h)| h.as_ref().map(|h| (id as u32, h)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn sum(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
        a + b + c + d + e
    }

    #[test]
    fn registers_and_looks_up() {
        let mut t = HelperTable::new();
        // SAFETY: `sum` dereferences nothing.
        unsafe { t.register(7, "sum", sum) };
        assert!(t.get(6).is_none());
        assert!(t.get(1000).is_none());
        let h = t.get(7).unwrap();
        assert_eq!(h.name, "sum");
        // SAFETY: as above.
        assert_eq!(unsafe { (h.func)(1, 2, 3, 4, 5) }, 15);
        assert_eq!(t.iter().map(|(id, _)| id).collect::<Vec<_>>(), [7]);
    }
}
