//! Map contents as the syscall side sees them, read the same way from a uxdp map and from a
//! kernel map, so the two can be compared.

use std::collections::{BTreeMap, BTreeSet};

use uxdp_kbpf::MapFd;
use uxdp_maps::{Map, MapDef, MapType};

use crate::kernel::LARGE_ARRAY;

/// What a map holds, in a form that does not depend on where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// Key → value (per-CPU maps: every CPU's value, as the syscall returns them).
    Entries(BTreeMap<Vec<u8>, Vec<u8>>),
    /// The keys of the filled slots of a program array or map of maps (their values are
    /// object ids, which differ between uxdp and the kernel).
    Slots(BTreeSet<Vec<u8>>),
    /// Queue or stack elements in pop order, or ring buffer records in order (reading
    /// them consumes them).
    Sequence(Vec<Vec<u8>>),
    /// Not readable from the syscall side; the reason.
    Opaque(&'static str),
}

/// How contents of a map type are read and compared.
enum Shape {
    Entries,
    /// Entries whose values are compared on their first 4 bytes only (devmap and cpumap
    /// values hold a program's id after the ifindex or queue size).
    EntriesPrefix4,
    Slots,
    Pop,
    Ring,
    Opaque(&'static str),
}

fn shape(t: MapType) -> Shape {
    use MapType::*;
    match t {
        ProgArray | ArrayOfMaps | HashOfMaps => Shape::Slots,
        Devmap | DevmapHash | Cpumap => Shape::EntriesPrefix4,
        Queue | Stack => Shape::Pop,
        Ringbuf => Shape::Ring,
        Xskmap => Shape::Opaque("an XSKMAP holds sockets, which the syscall side cannot read"),
        BloomFilter => Shape::Opaque("a bloom filter cannot be enumerated"),
        PerfEventArray => Shape::Opaque("a perf event array holds perf event fds"),
        _ => Shape::Entries,
    }
}

/// Walks keys with `next`, then reads each with `get`; `prefix4` keeps 4 value bytes.
fn entries(
    key_size: usize,
    value_len: usize,
    prefix4: bool,
    mut next: impl FnMut(Option<&[u8]>, &mut [u8]) -> bool,
    mut get: impl FnMut(&[u8], &mut [u8]) -> bool,
) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut cur: Option<Vec<u8>> = None;
    let mut key = vec![0u8; key_size];
    // A map cannot hold more keys than this; a cycle would otherwise never end.
    for _ in 0..=(1 << 24) {
        if !next(cur.as_deref(), &mut key) {
            break;
        }
        let mut value = vec![0u8; value_len];
        if get(&key, &mut value) {
            if prefix4 {
                value.truncate(4);
            }
            out.insert(key.clone(), value);
        }
        cur = Some(key.clone());
    }
    out
}

/// A map as the syscall side reads it, in uxdp or in the kernel.
trait SyscallView {
    fn key_size(&self) -> usize;
    fn value_len(&self) -> usize;
    fn next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> bool;
    fn lookup(&self, key: &[u8], out: &mut [u8]) -> bool;
    /// Pops one queue or stack element.
    fn pop(&self, out: &mut [u8]) -> bool;
    /// Consumes every ring buffer record (`None` if the ring cannot be read).
    fn drain_ring(&self) -> Option<Vec<Vec<u8>>>;
    /// Every value of an array of `max_entries`, in key order (`None`: read it entry by
    /// entry).
    fn array_values(&self, max_entries: u32) -> Option<Vec<u8>>;
}

impl SyscallView for Map {
    fn key_size(&self) -> usize {
        self.def().key_size as usize
    }
    fn value_len(&self) -> usize {
        self.syscall_value_size()
    }
    fn next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> bool {
        Map::next_key(self, key, out).is_ok()
    }
    fn lookup(&self, key: &[u8], out: &mut [u8]) -> bool {
        Map::lookup(self, key, out, 0).is_ok()
    }
    fn pop(&self, out: &mut [u8]) -> bool {
        Map::pop(self, out).is_ok()
    }
    fn drain_ring(&self) -> Option<Vec<Vec<u8>>> {
        let mut seq = Vec::new();
        self.ringbuf_consume(|r| seq.push(r.to_vec()));
        Some(seq)
    }
    fn array_values(&self, max_entries: u32) -> Option<Vec<u8>> {
        let n = self.syscall_value_size();
        let mut out = vec![0u8; n * max_entries as usize];
        for (k, v) in out.chunks_exact_mut(n.max(1)).enumerate() {
            Map::lookup(self, &(k as u32).to_ne_bytes(), v, 0).ok()?;
        }
        Some(out)
    }
}

/// A kernel map with the definition it was created from.
struct Kernel<'a>(&'a MapFd, &'a MapDef);

impl SyscallView for Kernel<'_> {
    fn key_size(&self) -> usize {
        self.0.key_size()
    }
    fn value_len(&self) -> usize {
        self.0.value_len()
    }
    fn next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> bool {
        self.0.next_key(key, out).is_ok()
    }
    fn lookup(&self, key: &[u8], out: &mut [u8]) -> bool {
        self.0.lookup(key, out, 0).is_ok()
    }
    fn pop(&self, out: &mut [u8]) -> bool {
        self.0.lookup_and_delete(&[], out, 0).is_ok()
    }
    fn drain_ring(&self) -> Option<Vec<Vec<u8>>> {
        self.0.ringbuf_drain(self.1.max_entries as usize).ok()
    }
    fn array_values(&self, max_entries: u32) -> Option<Vec<u8>> {
        self.0
            .array_values(max_entries)
            .ok()
            .filter(|v| v.len() == max_entries as usize * self.0.value_len())
    }
}

/// An array's entries, read in bulk; the zero values of an array above [`LARGE_ARRAY`]
/// entries left out (on both sides alike, so comparisons hold: Katran's 33-million slot
/// rings would otherwise make a dump of gigabytes).
fn array(map: &impl SyscallView, max_entries: u32) -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
    let values = map.array_values(max_entries)?;
    Some(
        values
            .chunks_exact(map.value_len().max(1))
            .enumerate()
            .filter(|(_, v)| max_entries <= LARGE_ARRAY || v.iter().any(|&b| b != 0))
            .map(|(k, v)| ((k as u32).to_ne_bytes().to_vec(), v.to_vec()))
            .collect(),
    )
}

/// Reads `map`, of type `t`, the same way whichever side it lives on.
fn read(map: &impl SyscallView, t: MapType, max_entries: u32) -> Contents {
    if matches!(t, MapType::Array | MapType::PercpuArray)
        && let Some(e) = array(map, max_entries)
    {
        return Contents::Entries(e);
    }
    let (ks, vl) = (map.key_size(), map.value_len());
    let next = |k: Option<&[u8]>, out: &mut [u8]| map.next_key(k, out);
    let get = |k: &[u8], v: &mut [u8]| map.lookup(k, v);
    match shape(t) {
        Shape::Entries => Contents::Entries(entries(ks, vl, false, next, get)),
        Shape::EntriesPrefix4 => Contents::Entries(entries(ks, vl, true, next, get)),
        Shape::Slots => Contents::Slots(entries(ks, vl, false, next, get).into_keys().collect()),
        Shape::Pop => {
            let mut seq = Vec::new();
            let mut v = vec![0u8; vl];
            while map.pop(&mut v) {
                seq.push(v.clone());
            }
            Contents::Sequence(seq)
        }
        Shape::Ring => map.drain_ring().map_or(
            Contents::Opaque("the ring buffer could not be mapped"),
            Contents::Sequence,
        ),
        Shape::Opaque(why) => Contents::Opaque(why),
    }
}

/// Whether maps of type `t` read as plain entries (and so can be filled from records).
pub fn holds_entries(t: MapType) -> bool {
    matches!(shape(t), Shape::Entries | Shape::EntriesPrefix4)
}

/// The contents of a uxdp map (queues, stacks and ring buffers are drained).
pub fn of_uxdp(map: &Map) -> Contents {
    read(map, map.def().map_type, map.def().max_entries)
}

/// The contents of the kernel map `map`, created from `def` (queues, stacks and ring
/// buffers are drained).
pub fn of_kernel(map: &MapFd, def: &MapDef) -> Contents {
    read(&Kernel(map, def), def.map_type, def.max_entries)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The clocks programs read (`bpf_ktime_get_ns`, `bpf_ktime_get_boot_ns`,
/// `bpf_ktime_get_coarse_ns`), in nanoseconds, at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Clocks([u64; 3]);

impl Clocks {
    /// The clocks now.
    pub fn now() -> Clocks {
        Clocks([
            crate::helpers::clock_ns(libc::CLOCK_MONOTONIC),
            crate::helpers::clock_ns(libc::CLOCK_BOOTTIME),
            crate::helpers::clock_ns(libc::CLOCK_MONOTONIC_COARSE),
        ])
    }
}

/// When the programs ran: a word inside this window on one of the clocks is taken as a
/// clock reading.
#[derive(Debug, Clone, Copy)]
pub struct ClockWindow {
    /// Before the first run.
    pub from: Clocks,
    /// After the last.
    pub to: Clocks,
}

impl ClockWindow {
    /// Whether `v` reads as one of the clocks during the window (a coarse clock may lag
    /// by a tick: 10 ms of slack before the start).
    fn holds(&self, v: u64) -> bool {
        const SLACK: u64 = 10_000_000;
        (0..3).any(|c| (self.from.0[c].saturating_sub(SLACK)..=self.to.0[c]).contains(&v))
    }

    /// Whether two values of the same length differ only in aligned 8-byte words that
    /// are clock readings on both sides.
    fn only_clocks_differ(&self, a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() || a == b {
            return false;
        }
        let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().expect("8 bytes"));
        let whole = a.len() / 8 * 8;
        a[whole..] == b[whole..]
            && a[..whole]
                .chunks_exact(8)
                .zip(b[..whole].chunks_exact(8))
                .all(|(x, y)| x == y || (self.holds(word(x)) && self.holds(word(y))))
    }
}

/// What [`differences_in`] found.
#[derive(Debug, Default)]
pub struct Found {
    /// Real differences, one line each.
    pub differences: Vec<String>,
    /// Values that differ only in clock readings, one line each.
    pub clock_readings: Vec<String>,
}

/// The differences between `ours` (uxdp) and `theirs` (the kernel), with the values that
/// differ only in clock readings the programs took during `window` set apart.
pub fn differences_in(ours: &Contents, theirs: &Contents, window: &ClockWindow) -> Found {
    classified(ours, theirs, Some(window))
}

/// The differences between `ours` (uxdp) and `theirs` (the kernel), one line each.
pub fn differences(ours: &Contents, theirs: &Contents) -> Vec<String> {
    classified(ours, theirs, None).differences
}

/// The differences, one line each; a value that differs only in words reading as a clock
/// during `window` (if given) goes with the clock readings.
fn classified(ours: &Contents, theirs: &Contents, window: Option<&ClockWindow>) -> Found {
    let mut found = Found::default();
    let out = &mut found.differences;
    match (ours, theirs) {
        (Contents::Entries(a), Contents::Entries(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    None => out.push(format!("key {}: only in uxdp (value {})", hex(k), hex(v))),
                    Some(w) if w != v => {
                        let line = format!("key {}: uxdp {} kernel {}", hex(k), hex(v), hex(w));
                        if window.is_some_and(|c| c.only_clocks_differ(v, w)) {
                            found.clock_readings.push(line);
                        } else {
                            out.push(line);
                        }
                    }
                    Some(_) => {}
                }
            }
            for (k, w) in b {
                if !a.contains_key(k) {
                    out.push(format!(
                        "key {}: only in the kernel (value {})",
                        hex(k),
                        hex(w)
                    ));
                }
            }
        }
        (Contents::Slots(a), Contents::Slots(b)) => {
            for k in a.symmetric_difference(b) {
                let side = if a.contains(k) { "uxdp" } else { "the kernel" };
                out.push(format!("slot {}: filled only in {side}", hex(k)));
            }
        }
        (Contents::Sequence(a), Contents::Sequence(b)) => {
            if a.len() != b.len() {
                out.push(format!(
                    "{} elements in uxdp, {} in the kernel",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if x != y {
                    out.push(format!("element {i}: uxdp {} kernel {}", hex(x), hex(y)));
                }
            }
        }
        (Contents::Opaque(_), Contents::Opaque(_)) => {}
        (a, b) => out.push(format!("uxdp {a:?}, kernel {b:?}")),
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_keys_and_sides() {
        let a = Contents::Entries(BTreeMap::from([(vec![1], vec![10]), (vec![2], vec![20])]));
        let b = Contents::Entries(BTreeMap::from([(vec![2], vec![21]), (vec![3], vec![30])]));
        assert_eq!(
            differences(&a, &b),
            [
                "key 01: only in uxdp (value 0a)",
                "key 02: uxdp 14 kernel 15",
                "key 03: only in the kernel (value 1e)"
            ]
        );
        assert!(differences(&a, &a).is_empty());
        let s = Contents::Sequence(vec![vec![1], vec![2]]);
        let t = Contents::Sequence(vec![vec![1]]);
        assert_eq!(differences(&s, &t), ["2 elements in uxdp, 1 in the kernel"]);
        let x = Contents::Slots(BTreeSet::from([vec![0], vec![1]]));
        let y = Contents::Slots(BTreeSet::from([vec![1]]));
        assert_eq!(differences(&x, &y), ["slot 00: filled only in uxdp"]);
    }

    #[test]
    fn values_that_differ_only_in_clock_readings_are_set_apart() {
        let from = Clocks::now();
        let (t1, t2) = (
            crate::helpers::clock_ns(libc::CLOCK_MONOTONIC),
            crate::helpers::clock_ns(libc::CLOCK_MONOTONIC) + 1,
        );
        std::thread::sleep(std::time::Duration::from_micros(10));
        let window = ClockWindow {
            from,
            to: Clocks::now(),
        };
        let value = |count: u64, at: u64| [count.to_ne_bytes(), at.to_ne_bytes()].concat();
        let a = Contents::Entries(BTreeMap::from([
            (vec![1], value(1, t1)),
            (vec![2], value(5, t1)),
        ]));
        let b = Contents::Entries(BTreeMap::from([
            (vec![1], value(1, t2)),
            (vec![2], value(6, t2)),
        ]));
        let found = differences_in(&a, &b, &window);
        assert_eq!(found.clock_readings.len(), 1, "{found:?}");
        assert!(found.clock_readings[0].starts_with("key 01: "));
        assert_eq!(found.differences.len(), 1, "a count differs too: {found:?}");
        assert!(found.differences[0].starts_with("key 02: "));
        // A value far from the window is no clock reading.
        assert!(!window.only_clocks_differ(&value(1, 7), &value(1, 8)));
    }
}
