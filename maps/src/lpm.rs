//! `BPF_MAP_TYPE_LPM_TRIE`: longest-prefix match over a path-compressed binary trie, with the
//! semantics of the kernel's `kernel/bpf/lpm_trie.c`.
//!
//! A key is `struct bpf_lpm_trie_key { u32 prefixlen; u8 data[key_size - 4]; }`: `prefixlen`
//! in host order, `data` in network order, compared bit by bit from the most significant bit
//! of `data[0]`. The trie holds two kinds of node: real nodes (a stored prefix and its value)
//! and intermediate nodes, which only split two subtrees and always have exactly two
//! children. Every path from the root has strictly growing prefix lengths, so it is at most
//! `max_prefixlen + 1` nodes long.
//!
//! Region layout (offsets from the region start, derived from the definition):
//!
//! ```text
//! 0          LpmHeader: lock word, entry count, free-list head, never-used cursor, root
//!            link, nodes in use                                            (64 bytes)
//! 64         nodes: n_nodes × { seq, prefixlen, flags, free_next: u32, child: [u64; 2];
//!                               data (data_size rounded to 8); value (value_size rounded to 8) }
//! ```
//!
//! Trie links (root and children) are 64 bits: `node index + 1` in the low half (0 is
//! "none") and the node's `seq` at the time it was linked in the high half. Free-list links
//! are `node index + 1` in 32 bits. So an all-zero region is an empty trie, and nodes are
//! taken from the never-used cursor in order, so untouched pages stay untouched.
//! `n_nodes = 2 × max_entries`: with `r` real nodes a trie has at most `r - 1` intermediate
//! ones, and an update needs at most one node more than the trie it replaces.
//!
//! Writers (update, delete, and the syscall-side `get_next_key`) hold the map's one lock word
//! (see [`crate::spin`]). Every change is published with a single link (or flag) store, as
//! the kernel's RCU updates are, so any prefix of a writer's work leaves a well-formed trie;
//! a writer taking the lock over from a dead holder rebuilds the free list and the entry
//! count from what the trie reaches. Replacing a prefix's value links a fully written new
//! node in place of the old one, so readers see the whole old or the whole new value.
//!
//! Readers take no lock. A node is never rewritten while linked, only its child links and
//! its intermediate flag change (single stores, as in the kernel); an unlinked node keeps its
//! contents until it is reused. Each node's `seq` is odd while the node is being rewritten
//! for reuse and moves on with every reuse. A reader arriving over a link checks that the
//! node's `seq` is still the one the link was made with, and that it did not move while it
//! read the node; otherwise the node was reused under it and it starts over from the root.
//! So a reader sees what an RCU reader of the kernel's trie sees: each node it visits as it
//! was at some moment of its walk. Every link is checked against `n_nodes` before it is
//! followed and a walk stops after `max_prefixlen + 2` nodes, so a reader never leaves the
//! region and never loops; it starts over only when a writer reused a node meanwhile.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use crate::def::{KMALLOC_MAX_SIZE, MapDef, flags, update};
use crate::error::MapError;
use crate::spin;

/// Bytes of a key before its data: the `u32 prefixlen`.
pub const KEY_HEADER: u32 = 4;
/// The kernel's `LPM_DATA_SIZE_MAX`: the most data bytes a key may have.
pub const LPM_DATA_SIZE_MAX: u32 = 256;
/// Size of the kernel's `struct lpm_trie_node` (rcu head, two child pointers, prefixlen,
/// flags), which counts against [`LPM_VAL_SIZE_MAX`].
const LPM_TRIE_NODE_SIZE: u64 = 40;
/// The kernel's `LPM_VAL_SIZE_MAX`: `KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX -
/// sizeof(struct lpm_trie_node)`, whatever the key's own data size.
pub const LPM_VAL_SIZE_MAX: u64 = KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX as u64 - LPM_TRIE_NODE_SIZE;

/// Region header bytes.
const HEADER: u64 = 64;
/// Node header bytes: four `u32`s and two `u64` links.
const NODE_HDR: u64 = 32;
/// `flags` bit of an intermediate node (the kernel's `LPM_TREE_NODE_FLAG_IM`).
const IM: u32 = 1;

/// The error for a new prefix in a full trie.
///
/// A new prefix in a full trie: the kernel's `ENOSPC`.
fn full() -> MapError {
    MapError::NoSpace
}

/// The error for a trie that cannot be what writers leave behind (a corrupted region).
fn corrupt() -> MapError {
    MapError::Invalid("lpm trie region is corrupt")
}

/// The kernel's `trie_alloc` checks on the attributes of `BPF_MAP_CREATE` for an LPM trie
/// (all `EINVAL`), plus uxdp's own limits: no `bpf_spin_lock` in values (`EOPNOTSUPP`, as the
/// kernel's BTF check answers) and node indices that fit the region's `u32` links (`E2BIG`).
/// The common checks (name, `map_extra`) are [`MapDef::validate`]'s.
pub fn validate(def: &MapDef) -> Result<(), MapError> {
    use flags::*;
    let f = def.flags;
    let access_ok = f & (RDONLY | WRONLY) != (RDONLY | WRONLY)
        && f & (RDONLY_PROG | WRONLY_PROG) != (RDONLY_PROG | WRONLY_PROG);
    if def.max_entries == 0
        || f & NO_PREALLOC == 0
        || f & !(NO_PREALLOC | NUMA_NODE | ACCESS_MASK) != 0
        || !access_ok
        || def.key_size <= KEY_HEADER
        || def.key_size > KEY_HEADER + LPM_DATA_SIZE_MAX
        || def.value_size == 0
        || u64::from(def.value_size) > LPM_VAL_SIZE_MAX
    {
        return Err(MapError::Invalid(
            "lpm trie needs BPF_F_NO_PREALLOC, 4 < key_size <= 260, value_size > 0 and \
             max_entries > 0",
        ));
    }
    if def.spin_lock_off.is_some() {
        return Err(MapError::NotSupported);
    }
    LpmLayout::new(def).map(|_| ())
}

/// Where everything of an LPM trie lives, derived from its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LpmLayout {
    /// Largest number of stored prefixes.
    pub max_entries: u64,
    /// Node slots: `2 × max_entries`.
    pub n_nodes: u64,
    /// Key bytes: 4 + data bytes.
    pub key_size: u64,
    /// Data bytes of a key.
    pub data_size: u64,
    /// Data bytes rounded up to 8.
    pub data_stride: u64,
    /// Bits of key data: the longest prefix.
    pub max_prefixlen: u32,
    /// Value bytes.
    pub value_size: u64,
    /// Value bytes rounded up to 8.
    pub value_stride: u64,
    /// Bytes per node: header, data and value.
    pub node_size: u64,
    /// Offset of node 0.
    pub nodes_off: u64,
}

impl LpmLayout {
    /// The layout of `def`. Checks only what the layout itself needs; [`validate`] has the
    /// kernel's checks.
    pub fn new(def: &MapDef) -> Result<Self, MapError> {
        if def.key_size <= KEY_HEADER || def.key_size > KEY_HEADER + LPM_DATA_SIZE_MAX {
            return Err(MapError::Invalid("lpm trie key_size must be 5..=260"));
        }
        if def.value_size == 0 || def.max_entries == 0 {
            return Err(MapError::Invalid(
                "lpm trie needs value_size > 0 and max_entries > 0",
            ));
        }
        let max_entries = u64::from(def.max_entries);
        let n_nodes = 2 * max_entries;
        if n_nodes >= u64::from(u32::MAX) {
            return Err(MapError::TooBig("max_entries too large"));
        }
        let key_size = u64::from(def.key_size);
        let data_size = key_size - u64::from(KEY_HEADER);
        let data_stride = data_size.next_multiple_of(8);
        let value_stride = def.value_stride();
        Ok(Self {
            max_entries,
            n_nodes,
            key_size,
            data_size,
            data_stride,
            max_prefixlen: (data_size * 8) as u32,
            value_size: u64::from(def.value_size),
            value_stride,
            node_size: NODE_HDR + data_stride + value_stride,
            nodes_off: HEADER,
        })
    }

    /// Bytes the region needs.
    pub fn size(&self) -> u64 {
        self.nodes_off + self.n_nodes * self.node_size
    }
}

#[repr(C)]
struct LpmHeader {
    /// Writers' lock word (see [`crate::spin`]).
    lock: AtomicU32,
    /// Stored prefixes (real nodes).
    count: AtomicU32,
    /// First free node + 1 (0 = none); `free_next` links the rest.
    free_head: AtomicU32,
    /// Nodes never used yet start here.
    fresh: AtomicU32,
    /// Link to the root node (0 = empty trie).
    root: AtomicU64,
    /// Nodes linked or about to be: real and intermediate.
    in_use: AtomicU32,
}

#[repr(C)]
struct NodeHdr {
    /// Odd while the node is being rewritten for reuse; moves on with every reuse.
    seq: AtomicU32,
    /// Bits of `data` that form the prefix.
    prefixlen: AtomicU32,
    /// [`IM`] for an intermediate node.
    flags: AtomicU32,
    /// Next free node + 1, while on the free list.
    free_next: AtomicU32,
    /// Links to the children (0 = none): `child[b]` continues with bit `b` at position
    /// `prefixlen`.
    child: [AtomicU64; 2],
}

/// Bit `i` (from the most significant bit of byte 0) of `data`; 0 beyond its end.
#[inline]
fn bit(data: &[u8], i: u32) -> usize {
    data.get((i / 8) as usize)
        .map_or(0, |b| usize::from((b >> (7 - i % 8)) & 1))
}

/// How many leading bits `a` and `b` share, at most `limit` (the kernel's
/// `longest_prefix_match`).
#[inline]
fn match_len(a: &[u8], b: &[u8], limit: u32) -> u32 {
    let bytes = (limit as usize).div_ceil(8).min(a.len()).min(b.len());
    for (i, (x, y)) in a[..bytes].iter().zip(&b[..bytes]).enumerate() {
        let diff = x ^ y;
        if diff != 0 {
            return (i as u32 * 8 + diff.leading_zeros()).min(limit);
        }
    }
    limit.min(bytes as u32 * 8)
}

/// Where a locked walk for a key stopped (the kernel's walks in update and delete).
struct Walk<'s> {
    /// The link that holds (or would hold) the key's node.
    slot: &'s AtomicU64,
    /// The node in `slot`, if any.
    node: Option<u64>,
    /// Bits `node` shares with the key (up to the shorter prefix).
    matchlen: u32,
    /// The node owning `slot` (none when `slot` is the root).
    parent: Option<u64>,
    /// The link that holds `parent`.
    parent_slot: &'s AtomicU64,
}

/// Releases the lock word when dropped.
struct Guard<'a>(&'a AtomicU32);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        spin::unlock(self.0);
    }
}

/// An LPM trie's region, for operations.
pub struct LpmTrie<'a> {
    pub(crate) layout: &'a LpmLayout,
    pub(crate) base: *mut u8,
}

impl<'a> LpmTrie<'a> {
    /// A view of the trie whose region starts at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be 8-byte aligned and point at `layout.size()` bytes, shared only with
    /// other views of the same layout, that were zero when first used and stay mapped for
    /// `'a`.
    pub unsafe fn new(layout: &'a LpmLayout, base: *mut u8) -> Self {
        Self { layout, base }
    }

    fn header(&self) -> &LpmHeader {
        // SAFETY: the region starts with an LpmHeader (layout), inside the mapping; it is
        // all atomics.
        unsafe { &*self.base.cast::<LpmHeader>() }
    }

    fn node_ptr(&self, n: u64) -> *mut u8 {
        // In bounds for n < n_nodes, which every caller ensures.
        self.base
            .wrapping_add((self.layout.nodes_off + n * self.layout.node_size) as usize)
    }

    fn node(&self, n: u64) -> &NodeHdr {
        // SAFETY: n < n_nodes (links are checked before use), so the header lies inside the
        // region, 8-byte aligned; it is all atomics.
        unsafe { &*self.node_ptr(n).cast::<NodeHdr>() }
    }

    fn data_ptr(&self, n: u64) -> *mut u8 {
        self.node_ptr(n).wrapping_add(NODE_HDR as usize)
    }

    /// Node `n`'s key data. A reader may see it torn while a writer reuses the node; it then
    /// sees the node's `seq` move and discards what it read.
    fn node_data(&self, n: u64) -> &[u8] {
        // SAFETY: n < n_nodes, and a node's data area holds data_size bytes.
        unsafe { std::slice::from_raw_parts(self.data_ptr(n), self.layout.data_size as usize) }
    }

    /// Pointer to node `n`'s value (`value_stride` bytes, 8-byte aligned), for `n` from
    /// [`LpmTrie::find`].
    pub fn value_ptr(&self, n: u64) -> *mut u8 {
        self.node_ptr(n)
            .wrapping_add((NODE_HDR + self.layout.data_stride) as usize)
    }

    /// Decodes a free-list link, or a trie link's node, refusing one that points outside
    /// the node array.
    fn link(&self, raw: u32) -> Option<u64> {
        let n = u64::from(raw.checked_sub(1)?);
        (n < self.layout.n_nodes).then_some(n)
    }

    /// The node a trie link points to.
    fn target(&self, link: u64) -> Option<u64> {
        self.link(link as u32)
    }

    /// A trie link to node `n`, tagged with its current `seq` (lock held, `n` fully
    /// written).
    fn link_to(&self, n: u64) -> u64 {
        u64::from(self.node(n).seq.load(Ordering::Relaxed)) << 32 | (n + 1)
    }

    /// Splits a key into its prefix length and data, checking its size.
    fn split_key<'k>(&self, key: &'k [u8]) -> Result<(u32, &'k [u8]), MapError> {
        let want = self.layout.key_size as usize;
        match key.split_first_chunk::<4>() {
            Some((plen, data)) if key.len() == want => Ok((u32::from_ne_bytes(*plen), data)),
            _ => Err(MapError::BufferSize {
                want,
                got: key.len(),
            }),
        }
    }

    fn is_im(&self, n: u64) -> bool {
        self.node(n).flags.load(Ordering::Relaxed) & IM != 0
    }

    /// Finds the longest stored prefix matching `key` without locking; returns its node and
    /// the node's `seq` when it was read.
    fn find_seq(&self, key: &[u8]) -> Option<(u64, u32)> {
        let (plen, data) = self.split_key(key).ok()?;
        if plen > self.layout.max_prefixlen {
            return None;
        }
        'restart: loop {
            let mut found: Option<(u64, u32, u32)> = None;
            let mut link = self.header().root.load(Ordering::Acquire);
            for _ in 0..=self.layout.max_prefixlen + 1 {
                let Some(n) = self.target(link) else {
                    break;
                };
                let hdr = self.node(n);
                let seq = hdr.seq.load(Ordering::Acquire);
                if seq != (link >> 32) as u32 {
                    // Reused since it was linked (or being rewritten right now).
                    continue 'restart;
                }
                let nplen = hdr.prefixlen.load(Ordering::Relaxed);
                let im = hdr.flags.load(Ordering::Relaxed) & IM != 0;
                let matched = match_len(self.node_data(n), data, nplen.min(plen));
                let next = if matched == nplen && nplen < plen {
                    hdr.child[bit(data, nplen)].load(Ordering::Acquire)
                } else {
                    0
                };
                fence(Ordering::Acquire);
                if hdr.seq.load(Ordering::Relaxed) != seq {
                    continue 'restart;
                }
                if matched < nplen {
                    break;
                }
                // Prefixes grow along any path; the check only guards against a corrupt
                // region.
                if !im && found.is_none_or(|(_, _, best)| nplen > best) {
                    found = Some((n, seq, nplen));
                }
                link = next;
            }
            return found.map(|(n, seq, _)| (n, seq));
        }
    }

    /// The node holding the longest stored prefix that matches `key` (the data path's
    /// lookup, without locking): `key`'s first `prefixlen` bits are matched, and a key whose
    /// `prefixlen` exceeds the data, or of the wrong size, matches nothing.
    pub fn find(&self, key: &[u8]) -> Option<u64> {
        self.find_seq(key).map(|(n, _)| n)
    }

    /// `bpf_map_lookup_elem` from a program: a pointer to the value of the longest stored
    /// prefix matching `key`.
    pub fn lookup_value_ptr(&self, key: &[u8]) -> Option<*mut u8> {
        self.find(key).map(|n| self.value_ptr(n))
    }

    /// `BPF_MAP_LOOKUP_ELEM`: copies the value of the longest stored prefix matching `key`
    /// into `out` (`value_size` bytes). `ENOENT` when nothing matches.
    pub fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        self.split_key(key)?;
        let want = self.layout.value_size as usize;
        if out.len() != want {
            return Err(MapError::BufferSize {
                want,
                got: out.len(),
            });
        }
        loop {
            let (n, seq) = self.find_seq(key).ok_or(MapError::NotFound)?;
            // SAFETY: n < n_nodes, whose value area holds value_size bytes; out holds as many.
            // A copy torn by the node's reuse is detected below and retried.
            unsafe { std::ptr::copy_nonoverlapping(self.value_ptr(n), out.as_mut_ptr(), want) };
            fence(Ordering::Acquire);
            if self.node(n).seq.load(Ordering::Relaxed) == seq {
                return Ok(());
            }
        }
    }

    /// Takes the writers' lock, repairing the trie's bookkeeping if a dead holder left it.
    fn lock(&self) -> Guard<'_> {
        let word = &self.header().lock;
        if spin::lock(word) {
            self.recover();
        }
        Guard(word)
    }

    /// After a writer died holding the lock: rebuilds the free list, the entry count and the
    /// node count from the nodes the trie reaches. Nodes a dead writer had taken but not
    /// linked, or unlinked but not freed, come back this way.
    fn recover(&self) {
        let h = self.header();
        let fresh = u64::from(h.fresh.load(Ordering::Relaxed)).min(self.layout.n_nodes);
        let mut reached = vec![false; fresh as usize];
        let mut stack = vec![h.root.load(Ordering::Relaxed)];
        let (mut real, mut used) = (0u32, 0u32);
        while let Some(raw) = stack.pop() {
            let Some(n) = self.target(raw).filter(|&n| n < fresh) else {
                continue;
            };
            if std::mem::replace(&mut reached[n as usize], true) {
                continue;
            }
            used += 1;
            if !self.is_im(n) {
                real += 1;
            }
            let hdr = self.node(n);
            stack.extend(hdr.child.iter().map(|c| c.load(Ordering::Relaxed)));
        }
        let mut head = 0u32;
        for n in (0..fresh).rev() {
            if !reached[n as usize] {
                self.node(n).free_next.store(head, Ordering::Relaxed);
                head = n as u32 + 1;
            }
        }
        h.fresh.store(fresh as u32, Ordering::Relaxed);
        h.free_head.store(head, Ordering::Relaxed);
        h.count.store(real, Ordering::Relaxed);
        h.in_use.store(used, Ordering::Relaxed);
    }

    /// Takes a node off the free list or the never-used cursor (lock held).
    fn alloc(&self) -> Result<u64, MapError> {
        let h = self.header();
        let n = match self.link(h.free_head.load(Ordering::Relaxed)) {
            Some(n) => {
                h.free_head.store(
                    self.node(n).free_next.load(Ordering::Relaxed),
                    Ordering::Relaxed,
                );
                n
            }
            None => {
                let f = h.fresh.load(Ordering::Relaxed);
                if u64::from(f) >= self.layout.n_nodes {
                    // Cannot happen to a trie writers built (see the module documentation).
                    return Err(full());
                }
                h.fresh.store(f + 1, Ordering::Relaxed);
                u64::from(f)
            }
        };
        h.in_use.fetch_add(1, Ordering::Relaxed);
        Ok(n)
    }

    /// Returns a node no link reaches any more to the free list (lock held). Readers still on
    /// it see its `seq` move when it is reused.
    fn free(&self, n: u64) {
        let h = self.header();
        self.node(n)
            .free_next
            .store(h.free_head.load(Ordering::Relaxed), Ordering::Relaxed);
        h.free_head.store(n as u32 + 1, Ordering::Relaxed);
        let used = h.in_use.load(Ordering::Relaxed);
        h.in_use.store(used.saturating_sub(1), Ordering::Relaxed);
    }

    /// Writes a node taken by [`LpmTrie::alloc`], before it is linked (lock held).
    fn init(
        &self,
        n: u64,
        prefixlen: u32,
        flags: u32,
        data: &[u8],
        value: Option<&[u8]>,
        child: [u64; 2],
    ) {
        let hdr = self.node(n);
        // `| 1` keeps a node a dead writer left odd from turning even while rewritten.
        let odd = hdr.seq.load(Ordering::Relaxed) | 1;
        hdr.seq.store(odd, Ordering::Relaxed);
        fence(Ordering::Release);
        hdr.prefixlen.store(prefixlen, Ordering::Relaxed);
        hdr.flags.store(flags, Ordering::Relaxed);
        hdr.child[0].store(child[0], Ordering::Relaxed);
        hdr.child[1].store(child[1], Ordering::Relaxed);
        let size = self.layout.data_size as usize;
        // SAFETY: node n is ours alone (off the free list, not linked); its data area holds
        // data_size bytes and `data` as many (a checked key).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.data_ptr(n), size) };
        if let Some(v) = value {
            // SAFETY: as above; the value area holds value_stride >= value_size = v.len().
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), self.value_ptr(n), v.len()) };
        }
        hdr.seq.store(odd.wrapping_add(1), Ordering::Release);
    }

    /// Walks from the root towards the key's node (lock held): stops at an empty link, at a
    /// node that does not match the key, or at a node with the key's prefix length.
    fn walk(&self, data: &[u8], plen: u32) -> Result<Walk<'_>, MapError> {
        let root = &self.header().root;
        let mut w = Walk {
            slot: root,
            node: None,
            matchlen: 0,
            parent: None,
            parent_slot: root,
        };
        for _ in 0..=self.layout.max_prefixlen + 1 {
            let Some(n) = self.target(w.slot.load(Ordering::Relaxed)) else {
                return Ok(w);
            };
            let hdr = self.node(n);
            let nplen = hdr.prefixlen.load(Ordering::Relaxed);
            w.node = Some(n);
            w.matchlen = match_len(self.node_data(n), data, nplen.min(plen));
            if nplen != w.matchlen || nplen == plen {
                return Ok(w);
            }
            w.parent = Some(n);
            w.parent_slot = w.slot;
            w.slot = &hdr.child[bit(data, nplen)];
            w.node = None;
        }
        Err(corrupt())
    }

    /// The kernel's `trie_check_add_elem` (lock held): may a new prefix be added?
    fn check_add(&self, flags: u64) -> Result<(), MapError> {
        if flags == update::EXIST {
            return Err(MapError::NotFound);
        }
        if u64::from(self.header().count.load(Ordering::Relaxed)) >= self.layout.max_entries {
            return Err(full());
        }
        Ok(())
    }

    fn count_add(&self, delta: i32) {
        let c = &self.header().count;
        c.store(
            c.load(Ordering::Relaxed).saturating_add_signed(delta),
            Ordering::Relaxed,
        );
    }

    /// `BPF_MAP_UPDATE_ELEM`: stores `value` (`value_size` bytes) for `key`'s exact prefix.
    /// `flags` is `BPF_ANY`, `BPF_NOEXIST` or `BPF_EXIST` (else `EINVAL`); a `prefixlen`
    /// beyond the key's data is `EINVAL`; a new prefix in a full trie is the kernel's `ENOSPC`
    /// (see [`full`]). Replacing a prefix is allowed in a full trie and is atomic for readers.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        if flags > update::EXIST {
            return Err(MapError::Invalid(
                "lpm trie update flags are ANY, NOEXIST or EXIST",
            ));
        }
        let (plen, data) = self.split_key(key)?;
        let want = self.layout.value_size as usize;
        if value.len() != want {
            return Err(MapError::BufferSize {
                want,
                got: value.len(),
            });
        }
        if plen > self.layout.max_prefixlen {
            return Err(MapError::Invalid("prefixlen beyond the key's data"));
        }
        let _guard = self.lock();
        let w = self.walk(data, plen)?;
        let Some(node) = w.node else {
            // An empty link: the new node goes there.
            self.check_add(flags)?;
            let n = self.alloc()?;
            self.init(n, plen, 0, data, Some(value), [0, 0]);
            w.slot.store(self.link_to(n), Ordering::Release);
            self.count_add(1);
            return Ok(());
        };
        let hdr = self.node(node);
        if hdr.prefixlen.load(Ordering::Relaxed) == w.matchlen {
            // The key's exact prefix: replace the node (real or intermediate) by a new one.
            let im = self.is_im(node);
            if !im && flags == update::NOEXIST {
                return Err(MapError::Exists);
            }
            if im {
                self.check_add(flags)?;
            }
            let n = self.alloc()?;
            let child = [0, 1].map(|b| hdr.child[b].load(Ordering::Relaxed));
            self.init(n, plen, 0, data, Some(value), child);
            w.slot.store(self.link_to(n), Ordering::Release);
            if im {
                self.count_add(1);
            }
            self.free(node);
            return Ok(());
        }
        self.check_add(flags)?;
        if w.matchlen == plen {
            // The key is a prefix of the node's: the new node becomes its parent.
            let n = self.alloc()?;
            let mut child = [0, 0];
            child[bit(self.node_data(node), plen)] = w.slot.load(Ordering::Relaxed);
            self.init(n, plen, 0, data, Some(value), child);
            w.slot.store(self.link_to(n), Ordering::Release);
            self.count_add(1);
            return Ok(());
        }
        // The key and the node part ways: an intermediate node splits them.
        let n = self.alloc()?;
        let split = match self.alloc() {
            Ok(s) => s,
            Err(e) => {
                self.free(n);
                return Err(e);
            }
        };
        self.init(n, plen, 0, data, Some(value), [0, 0]);
        let (new_link, old_link) = (self.link_to(n), w.slot.load(Ordering::Relaxed));
        let child = if bit(data, w.matchlen) == 1 {
            [old_link, new_link]
        } else {
            [new_link, old_link]
        };
        // The intermediate node's data is the existing node's, as in the kernel; only its
        // first `matchlen` bits mean anything.
        self.init(split, w.matchlen, IM, self.node_data(node), None, child);
        w.slot.store(self.link_to(split), Ordering::Release);
        self.count_add(1);
        Ok(())
    }

    /// `BPF_MAP_DELETE_ELEM`: removes `key`'s exact prefix (`ENOENT` if it is not stored,
    /// `EINVAL` for a `prefixlen` beyond the key's data), dropping intermediate nodes that
    /// no longer split anything, as the kernel does.
    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let (plen, data) = self.split_key(key)?;
        if plen > self.layout.max_prefixlen {
            return Err(MapError::Invalid("prefixlen beyond the key's data"));
        }
        let _guard = self.lock();
        let w = self.walk(data, plen)?;
        let Some(node) = w.node else {
            return Err(MapError::NotFound);
        };
        let hdr = self.node(node);
        let nplen = hdr.prefixlen.load(Ordering::Relaxed);
        if nplen != plen || nplen != w.matchlen || self.is_im(node) {
            return Err(MapError::NotFound);
        }
        let child = [0, 1].map(|b| hdr.child[b].load(Ordering::Relaxed));
        if child[0] != 0 && child[1] != 0 {
            // Still splits two subtrees: it stays, as an intermediate node.
            hdr.flags.store(IM, Ordering::Release);
            self.count_add(-1);
            return Ok(());
        }
        if let Some(parent) = w.parent
            && self.is_im(parent)
            && child == [0, 0]
        {
            // A leaf under an intermediate node: the sibling takes the parent's place.
            let ph = self.node(parent);
            let sibling = if self.target(ph.child[0].load(Ordering::Relaxed)) == Some(node) {
                ph.child[1].load(Ordering::Relaxed)
            } else {
                ph.child[0].load(Ordering::Relaxed)
            };
            w.parent_slot.store(sibling, Ordering::Release);
            self.count_add(-1);
            self.free(parent);
            self.free(node);
            return Ok(());
        }
        // At most one child, which takes the node's place.
        let promoted = if child[0] != 0 { child[0] } else { child[1] };
        w.slot.store(promoted, Ordering::Release);
        self.count_add(-1);
        self.free(node);
        Ok(())
    }

    /// The leftmost real node under `start`: the first one in post-order.
    fn leftmost(&self, start: u64) -> Option<u64> {
        let mut next = None;
        let mut cur = Some(start);
        for _ in 0..=self.layout.max_prefixlen + 1 {
            let Some(n) = cur else {
                break;
            };
            let hdr = self.node(n);
            let c0 = self.target(hdr.child[0].load(Ordering::Relaxed));
            if self.is_im(n) {
                cur = c0;
            } else {
                next = Some(n);
                cur = c0.or_else(|| self.target(hdr.child[1].load(Ordering::Relaxed)));
            }
        }
        next
    }

    /// The node after `key`'s in post-order (lock held): the kernel's `trie_get_next_key`.
    fn next_node(&self, key: Option<&[u8]>) -> Result<Option<u64>, MapError> {
        let Some(root) = self.target(self.header().root.load(Ordering::Relaxed)) else {
            return Ok(None);
        };
        let start = match key {
            Some(k) => {
                let (plen, data) = self.split_key(k)?;
                if plen > self.layout.max_prefixlen {
                    root
                } else {
                    match self.after_exact(plen, data, root)? {
                        After::Node(n) => return Ok(Some(n)),
                        After::End => return Ok(None),
                        After::Leftmost(s) => s,
                    }
                }
            }
            None => root,
        };
        Ok(self.leftmost(start))
    }

    /// Where post-order goes after the real node holding exactly (`plen`, `data`).
    fn after_exact(&self, plen: u32, data: &[u8], root: u64) -> Result<After, MapError> {
        let mut stack = Vec::with_capacity(self.layout.max_prefixlen as usize + 2);
        let mut cur = Some(root);
        let mut exact = false;
        while let Some(n) = cur {
            if stack.len() > self.layout.max_prefixlen as usize {
                return Err(corrupt());
            }
            stack.push(n);
            let hdr = self.node(n);
            let nplen = hdr.prefixlen.load(Ordering::Relaxed);
            let matched = match_len(self.node_data(n), data, nplen.min(plen));
            if nplen != matched || nplen == plen {
                exact = nplen == matched && !self.is_im(n);
                break;
            }
            cur = self.target(hdr.child[bit(data, nplen)].load(Ordering::Relaxed));
        }
        if !exact {
            // The key is not stored: start over from the first node.
            return Ok(After::Leftmost(root));
        }
        let mut node = stack.pop().ok_or_else(corrupt)?;
        while let Some(&parent) = stack.last() {
            let ph = self.node(parent);
            if self.target(ph.child[0].load(Ordering::Relaxed)) == Some(node)
                && let Some(right) = self.target(ph.child[1].load(Ordering::Relaxed))
            {
                return Ok(After::Leftmost(right));
            }
            if !self.is_im(parent) {
                return Ok(After::Node(parent));
            }
            node = parent;
            stack.pop();
        }
        Ok(After::End)
    }

    /// `BPF_MAP_GET_NEXT_KEY`: writes into `out` (`key_size` bytes) the key after `key` in
    /// the kernel's order, a post-order walk (more specific prefixes before the prefixes
    /// containing them, a 0 bit before a 1 bit). `None`, a key that is not stored, or one
    /// whose `prefixlen` exceeds the data starts from the first key; `ENOENT` after the last.
    /// The data is returned as it was given to [`LpmTrie::update`], bits beyond the prefix
    /// included.
    pub fn next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), MapError> {
        let want = self.layout.key_size as usize;
        if out.len() != want {
            return Err(MapError::BufferSize {
                want,
                got: out.len(),
            });
        }
        if let Some(k) = key {
            self.split_key(k)?;
        }
        let _guard = self.lock();
        let n = self.next_node(key)?.ok_or(MapError::NotFound)?;
        let plen = self.node(n).prefixlen.load(Ordering::Relaxed);
        out[..4].copy_from_slice(&plen.to_ne_bytes());
        out[4..].copy_from_slice(self.node_data(n));
        Ok(())
    }

    /// Number of stored prefixes.
    pub fn len(&self) -> u32 {
        self.header().count.load(Ordering::Relaxed)
    }

    /// Whether no prefix is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Node slots in use, real and intermediate: at most `2 × len() - 1` between updates.
    pub fn nodes_in_use(&self) -> u32 {
        self.header().in_use.load(Ordering::Relaxed)
    }
}

/// Where `get_next_key` goes after an exactly matched node.
enum After {
    /// This node is next.
    Node(u64),
    /// The leftmost real node under this one is next.
    Leftmost(u64),
    /// The matched node was the last.
    End,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::def::MapType;

    /// A zeroed, 8-byte aligned region for a trie.
    struct Region {
        _mem: Vec<u64>,
        base: *mut u8,
        layout: LpmLayout,
    }

    impl Region {
        fn new(key_size: u32, value_size: u32, max_entries: u32) -> Self {
            let def = MapDef::new(MapType::LpmTrie, key_size, value_size, max_entries)
                .with_flags(flags::NO_PREALLOC);
            validate(&def).unwrap();
            let layout = LpmLayout::new(&def).unwrap();
            let mut mem = vec![0u64; layout.size().div_ceil(8) as usize];
            let base = mem.as_mut_ptr().cast::<u8>();
            Self {
                _mem: mem,
                base,
                layout,
            }
        }

        fn trie(&self) -> LpmTrie<'_> {
            // SAFETY: mem is zeroed, 8-byte aligned, layout.size() bytes, and lives as long
            // as the view; only views write it.
            unsafe { LpmTrie::new(&self.layout, self.base) }
        }
    }

    fn key(plen: u32, data: &[u8]) -> Vec<u8> {
        let mut k = plen.to_ne_bytes().to_vec();
        k.extend_from_slice(data);
        k
    }

    fn v4(a: u8, b: u8, c: u8, d: u8, plen: u32) -> Vec<u8> {
        key(plen, &[a, b, c, d])
    }

    fn val(t: &LpmTrie<'_>, k: &[u8]) -> Result<u64, MapError> {
        let mut out = [0u8; 8];
        t.lookup(k, &mut out).map(|()| u64::from_ne_bytes(out))
    }

    fn put(t: &LpmTrie<'_>, k: &[u8], v: u64, flags: u64) -> Result<(), MapError> {
        t.update(k, &v.to_ne_bytes(), flags)
    }

    fn all_keys(t: &LpmTrie<'_>) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut out = vec![0u8; t.layout.key_size as usize];
        let mut prev: Option<Vec<u8>> = None;
        while t.next_key(prev.as_deref(), &mut out).is_ok() {
            keys.push(out.clone());
            prev = Some(out.clone());
            assert!(
                keys.len() <= t.layout.max_entries as usize,
                "iteration loops"
            );
        }
        keys
    }

    #[test]
    fn layout_and_checks() {
        let def = MapDef::new(MapType::LpmTrie, 8, 12, 100).with_flags(flags::NO_PREALLOC);
        let l = LpmLayout::new(&def).unwrap();
        assert_eq!((l.n_nodes, l.data_size, l.max_prefixlen), (200, 4, 32));
        assert_eq!(l.node_size, 32 + 8 + 16);
        assert_eq!(l.size(), 64 + 200 * 56);
        assert!(validate(&def).is_ok());
        let bad = |d: MapDef| validate(&d).unwrap_err().errno();
        let lpm = |k, v, m| MapDef::new(MapType::LpmTrie, k, v, m);
        assert_eq!(bad(lpm(8, 8, 1)), libc::EINVAL); // no BPF_F_NO_PREALLOC
        let np = flags::NO_PREALLOC;
        assert_eq!(bad(lpm(4, 8, 1).with_flags(np)), libc::EINVAL);
        assert_eq!(bad(lpm(261, 8, 1).with_flags(np)), libc::EINVAL);
        assert!(validate(&lpm(260, 8, 1).with_flags(np)).is_ok());
        assert!(validate(&lpm(5, 1, 1).with_flags(np)).is_ok());
        assert_eq!(bad(lpm(8, 0, 1).with_flags(np)), libc::EINVAL);
        assert_eq!(bad(lpm(8, 8, 0).with_flags(np)), libc::EINVAL);
        assert!(validate(&lpm(8, LPM_VAL_SIZE_MAX as u32, 1).with_flags(np)).is_ok());
        assert_eq!(
            bad(lpm(8, LPM_VAL_SIZE_MAX as u32 + 1, 1).with_flags(np)),
            libc::EINVAL
        );
        for f in [
            flags::NUMA_NODE,
            flags::RDONLY,
            flags::WRONLY,
            flags::RDONLY_PROG,
            flags::WRONLY_PROG,
        ] {
            assert!(validate(&lpm(8, 8, 1).with_flags(np | f)).is_ok());
        }
        for f in [
            flags::ZERO_SEED,
            flags::MMAPABLE,
            flags::NO_COMMON_LRU,
            flags::RDONLY | flags::WRONLY,
        ] {
            assert_eq!(bad(lpm(8, 8, 1).with_flags(np | f)), libc::EINVAL);
        }
        let mut locked = lpm(8, 8, 1).with_flags(np);
        locked.spin_lock_off = Some(0);
        assert_eq!(bad(locked), libc::EOPNOTSUPP);
        assert_eq!(bad(lpm(8, 8, u32::MAX).with_flags(np)), libc::E2BIG);
    }

    #[test]
    fn ipv4_longest_prefix() {
        let r = Region::new(8, 8, 16);
        let t = r.trie();
        assert_eq!(val(&t, &v4(10, 1, 2, 3, 32)), Err(MapError::NotFound));
        put(&t, &v4(10, 0, 0, 0, 8), 8, 0).unwrap();
        put(&t, &v4(10, 1, 0, 0, 16), 16, 0).unwrap();
        put(&t, &v4(10, 1, 2, 0, 24), 24, 0).unwrap();
        assert_eq!(val(&t, &v4(10, 9, 9, 9, 32)), Ok(8));
        assert_eq!(val(&t, &v4(11, 0, 0, 0, 32)), Err(MapError::NotFound));
        put(&t, &v4(0, 0, 0, 0, 0), 0, 0).unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(val(&t, &v4(10, 1, 2, 3, 32)), Ok(24));
        assert_eq!(val(&t, &v4(10, 1, 3, 3, 32)), Ok(16));
        assert_eq!(val(&t, &v4(10, 2, 2, 3, 32)), Ok(8));
        assert_eq!(val(&t, &v4(11, 1, 2, 3, 32)), Ok(0));
        assert_eq!(val(&t, &v4(192, 168, 0, 1, 32)), Ok(0));
        // The lookup key's own prefix length bounds the match.
        assert_eq!(val(&t, &v4(10, 1, 2, 3, 23)), Ok(16));
        assert_eq!(val(&t, &v4(10, 1, 2, 3, 24)), Ok(24));
        assert_eq!(val(&t, &v4(10, 1, 2, 3, 7)), Ok(0));
        assert_eq!(val(&t, &v4(10, 1, 2, 3, 33)), Err(MapError::NotFound));
        // Data-path pointer: the value, 8-byte aligned.
        let p = t.lookup_value_ptr(&v4(10, 1, 2, 200, 32)).unwrap();
        assert_eq!(p as usize % 8, 0);
        // SAFETY: p points at the live node's 8-byte value.
        assert_eq!(unsafe { p.cast::<u64>().read() }, 24);
        assert_eq!(t.lookup_value_ptr(&v4(10, 1, 2, 3, 33)), None);
        assert_eq!(t.lookup_value_ptr(&[0u8; 7]), None);
        // Deleting the /16 leaves the /8 covering it.
        t.delete(&v4(10, 1, 0, 0, 16)).unwrap();
        assert_eq!(val(&t, &v4(10, 1, 3, 3, 32)), Ok(8));
        assert_eq!(val(&t, &v4(10, 1, 2, 3, 32)), Ok(24));
        assert_eq!(t.delete(&v4(10, 1, 0, 0, 16)), Err(MapError::NotFound));
        assert_eq!(t.delete(&v4(10, 1, 2, 0, 23)), Err(MapError::NotFound));
        assert_eq!(
            t.delete(&v4(10, 1, 2, 0, 33)).unwrap_err().errno(),
            libc::EINVAL
        );
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn ipv6_longest_prefix() {
        let r = Region::new(20, 8, 16);
        let t = r.trie();
        let a = |s: [u16; 8], plen| {
            let d: Vec<u8> = s.iter().flat_map(|w| w.to_be_bytes()).collect();
            key(plen, &d)
        };
        put(&t, &a([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), 32, 0).unwrap();
        put(&t, &a([0x2001, 0xdb8, 0xaaaa, 0, 0, 0, 0, 0], 48), 48, 0).unwrap();
        put(
            &t,
            &a([0x2001, 0xdb8, 0xaaaa, 0xbbbb, 0, 0, 0, 1], 128),
            128,
            0,
        )
        .unwrap();
        put(&t, &a([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), 10, 0).unwrap();
        let host = |s| a(s, 128);
        assert_eq!(
            val(&t, &host([0x2001, 0xdb8, 0xaaaa, 0xbbbb, 0, 0, 0, 1])),
            Ok(128)
        );
        assert_eq!(
            val(&t, &host([0x2001, 0xdb8, 0xaaaa, 0xbbbb, 0, 0, 0, 2])),
            Ok(48)
        );
        assert_eq!(
            val(&t, &host([0x2001, 0xdb8, 0xaaab, 0, 0, 0, 0, 2])),
            Ok(32)
        );
        assert_eq!(
            val(&t, &host([0x2001, 0xdb9, 0, 0, 0, 0, 0, 0])),
            Err(MapError::NotFound)
        );
        assert_eq!(val(&t, &host([0xfebf, 1, 2, 3, 4, 5, 6, 7])), Ok(10));
        assert_eq!(
            val(&t, &host([0xfec0, 1, 2, 3, 4, 5, 6, 7])),
            Err(MapError::NotFound)
        );
        assert_eq!(
            val(&t, &a([0xfe80, 0, 0, 0, 0, 0, 0, 0], 129)),
            Err(MapError::NotFound)
        );
        assert_eq!(
            put(&t, &a([0; 8], 129), 1, 0).unwrap_err().errno(),
            libc::EINVAL
        );
        assert_eq!(all_keys(&t).len(), 4);
    }

    #[test]
    fn update_flags() {
        let r = Region::new(8, 8, 4);
        let t = r.trie();
        let k = v4(10, 0, 0, 0, 8);
        assert_eq!(put(&t, &k, 1, update::EXIST), Err(MapError::NotFound));
        put(&t, &k, 1, update::NOEXIST).unwrap();
        assert_eq!(put(&t, &k, 2, update::NOEXIST), Err(MapError::Exists));
        put(&t, &k, 3, update::EXIST).unwrap();
        assert_eq!(val(&t, &k), Ok(3));
        put(&t, &k, 4, update::ANY).unwrap();
        assert_eq!(val(&t, &k), Ok(4));
        for bad in [3, update::F_LOCK, 1 << 40] {
            assert_eq!(put(&t, &k, 5, bad).unwrap_err().errno(), libc::EINVAL);
        }
        assert_eq!(
            put(&t, &v4(10, 0, 0, 0, 33), 5, 0).unwrap_err().errno(),
            libc::EINVAL
        );
        // Flags are checked before the prefix length, as in the kernel.
        assert_eq!(
            put(&t, &v4(10, 0, 0, 0, 33), 5, 9),
            Err(MapError::Invalid(
                "lpm trie update flags are ANY, NOEXIST or EXIST"
            ))
        );
        // Wrong sizes.
        assert_eq!(
            t.update(&k, &[0u8; 7], 0).unwrap_err().errno(),
            libc::EINVAL
        );
        assert!(matches!(
            t.update(&k[..7], &[0u8; 8], 0),
            Err(MapError::BufferSize { want: 8, got: 7 })
        ));
        // An intermediate node's prefix is not stored: EXIST fails, NOEXIST succeeds.
        put(&t, &v4(10, 1, 0, 0, 16), 16, 0).unwrap();
        put(&t, &v4(10, 129, 0, 0, 16), 17, 0).unwrap();
        assert_eq!(t.nodes_in_use(), 3);
        t.delete(&k).unwrap();
        // 10.0.0.0/8 had two children: it stays, as an intermediate node.
        assert_eq!((t.len(), t.nodes_in_use()), (2, 3));
        assert_eq!(val(&t, &v4(10, 2, 0, 0, 32)), Err(MapError::NotFound));
        assert_eq!(t.delete(&k), Err(MapError::NotFound));
        assert_eq!(put(&t, &k, 8, update::EXIST), Err(MapError::NotFound));
        put(&t, &k, 8, update::NOEXIST).unwrap();
        assert_eq!((t.len(), t.nodes_in_use()), (3, 3));
        assert_eq!(val(&t, &v4(10, 2, 0, 0, 32)), Ok(8));
        assert_eq!(val(&t, &v4(10, 129, 0, 0, 32)), Ok(17));
        // Deleting a leaf under an intermediate node removes both.
        t.delete(&k).unwrap();
        t.delete(&v4(10, 1, 0, 0, 16)).unwrap();
        assert_eq!((t.len(), t.nodes_in_use()), (1, 1));
        assert_eq!(val(&t, &v4(10, 129, 0, 0, 32)), Ok(17));
        assert_eq!(all_keys(&t), [v4(10, 129, 0, 0, 16)]);
    }

    #[test]
    fn full_trie() {
        let r = Region::new(8, 8, 3);
        let t = r.trie();
        put(&t, &v4(10, 0, 0, 0, 8), 1, 0).unwrap();
        put(&t, &v4(11, 0, 0, 0, 8), 2, 0).unwrap();
        put(&t, &v4(12, 0, 0, 0, 8), 3, 0).unwrap();
        let e = put(&t, &v4(13, 0, 0, 0, 8), 4, 0).unwrap_err();
        assert_eq!(e.errno(), libc::ENOSPC);
        // EXIST for a missing prefix is ENOENT even when full; NOEXIST of a present one EEXIST.
        assert_eq!(
            put(&t, &v4(13, 0, 0, 0, 8), 4, update::EXIST),
            Err(MapError::NotFound)
        );
        assert_eq!(
            put(&t, &v4(12, 0, 0, 0, 8), 4, update::NOEXIST),
            Err(MapError::Exists)
        );
        // Replacing works in a full trie, over and over, without leaking nodes.
        for i in 0..100 {
            put(&t, &v4(11, 0, 0, 0, 8), 100 + i, 0).unwrap();
        }
        assert_eq!(val(&t, &v4(11, 1, 1, 1, 32)), Ok(199));
        assert_eq!(t.len(), 3);
        assert_eq!(t.nodes_in_use(), 5);
        t.delete(&v4(10, 0, 0, 0, 8)).unwrap();
        put(&t, &v4(13, 0, 0, 0, 8), 4, 0).unwrap();
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn next_key_is_the_kernels_postorder() {
        // The kernel's own example: 192.168.0.0/16 over three /24s.
        let r = Region::new(8, 8, 8);
        let t = r.trie();
        let mut out = [0u8; 8];
        assert_eq!(t.next_key(None, &mut out), Err(MapError::NotFound));
        put(&t, &v4(192, 168, 0, 0, 16), 1, 0).unwrap();
        put(&t, &v4(192, 168, 0, 0, 24), 2, 0).unwrap();
        put(&t, &v4(192, 168, 1, 0, 24), 3, 0).unwrap();
        put(&t, &v4(192, 168, 128, 0, 24), 4, 0).unwrap();
        let want = [
            v4(192, 168, 0, 0, 24),
            v4(192, 168, 1, 0, 24),
            v4(192, 168, 128, 0, 24),
            v4(192, 168, 0, 0, 16),
        ];
        assert_eq!(all_keys(&t), want);
        // A key not stored, or with too long a prefix, starts over.
        t.next_key(Some(&v4(1, 2, 3, 4, 32)), &mut out).unwrap();
        assert_eq!(out.to_vec(), want[0]);
        t.next_key(Some(&v4(192, 168, 1, 0, 40)), &mut out).unwrap();
        assert_eq!(out.to_vec(), want[0]);
        assert_eq!(
            t.next_key(Some(&want[3]), &mut out),
            Err(MapError::NotFound)
        );
        // Data beyond the prefix comes back as given.
        put(&t, &v4(10, 0, 0, 7, 8), 5, 0).unwrap();
        assert_eq!(all_keys(&t)[0], v4(10, 0, 0, 7, 8));
        assert_eq!(val(&t, &v4(10, 0, 0, 0, 8)), Ok(5));
    }

    /// Xorshift64: deterministic and dependency-free.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The brute-force reference: a list of (prefixlen, data, value).
    struct Model {
        entries: Vec<(u32, Vec<u8>, u64)>,
        max_entries: usize,
        max_bits: u32,
    }

    impl Model {
        fn exact(&self, plen: u32, data: &[u8]) -> Option<usize> {
            self.entries
                .iter()
                .position(|(p, d, _)| *p == plen && match_len(d, data, plen) == plen)
        }

        fn lookup(&self, plen: u32, data: &[u8]) -> Option<u64> {
            if plen > self.max_bits {
                return None;
            }
            self.entries
                .iter()
                .filter(|(p, d, _)| *p <= plen && match_len(d, data, *p) == *p)
                .max_by_key(|(p, _, _)| *p)
                .map(|(_, _, v)| *v)
        }

        fn update(&mut self, plen: u32, data: &[u8], v: u64, flags: u64) -> Result<(), i32> {
            if flags > update::EXIST || plen > self.max_bits {
                return Err(libc::EINVAL);
            }
            match self.exact(plen, data) {
                Some(_) if flags == update::NOEXIST => Err(libc::EEXIST),
                Some(i) => {
                    self.entries[i] = (plen, data.to_vec(), v);
                    Ok(())
                }
                None if flags == update::EXIST => Err(libc::ENOENT),
                None if self.entries.len() == self.max_entries => Err(full().errno()),
                None => {
                    self.entries.push((plen, data.to_vec(), v));
                    Ok(())
                }
            }
        }

        fn delete(&mut self, plen: u32, data: &[u8]) -> Result<(), i32> {
            if plen > self.max_bits {
                return Err(libc::EINVAL);
            }
            let i = self.exact(plen, data).ok_or(libc::ENOENT)?;
            self.entries.swap_remove(i);
            Ok(())
        }

        /// The kernel's post-order: a 0 bit before a 1 bit, longer prefixes before the
        /// prefixes containing them.
        fn sorted(&self) -> Vec<Vec<u8>> {
            let mut e: Vec<_> = self
                .entries
                .iter()
                .map(|(p, d, _)| (*p, d.clone()))
                .collect();
            e.sort_by(|(pa, da), (pb, db)| {
                let l = (*pa).min(*pb);
                let m = match_len(da, db, l);
                if m < l {
                    bit(da, m).cmp(&bit(db, m))
                } else {
                    pb.cmp(pa)
                }
            });
            e.into_iter().map(|(p, d)| key(p, &d)).collect()
        }

        fn next_key(&self, k: Option<&[u8]>) -> Option<Vec<u8>> {
            let sorted = self.sorted();
            let first = sorted.first().cloned();
            let Some(k) = k else {
                return first;
            };
            let plen = u32::from_ne_bytes([k[0], k[1], k[2], k[3]]);
            if plen > self.max_bits {
                return first;
            }
            let pos = sorted.iter().position(|s| {
                let sp = u32::from_ne_bytes([s[0], s[1], s[2], s[3]]);
                sp == plen && match_len(&s[4..], &k[4..], plen) == plen
            });
            match pos {
                Some(i) => sorted.get(i + 1).cloned(),
                None => first,
            }
        }
    }

    /// A random key clustered so that prefixes nest and collide often.
    fn random_key(rng: &mut Rng, data_size: usize, max_bits: u32) -> (u32, Vec<u8>) {
        let mut data = vec![0u8; data_size];
        for (i, b) in data.iter_mut().enumerate() {
            *b = match i {
                0 => [10, 11, 192][rng.below(3) as usize],
                1 | 2 => rng.below(4) as u8 * 64 + rng.below(2) as u8,
                _ => rng.next() as u8,
            };
        }
        let plen = match rng.below(10) {
            0 => max_bits + 1 + rng.below(3) as u32,
            1 => max_bits,
            _ => rng.below(u64::from(max_bits.min(26)) + 1) as u32,
        };
        (plen, data)
    }

    fn check_invariants(t: &LpmTrie<'_>, m: &Model) {
        assert_eq!(t.len() as usize, m.entries.len());
        let nodes = t.nodes_in_use();
        assert!(
            nodes <= (2 * t.len()).saturating_sub(1),
            "{nodes} nodes for {}",
            t.len()
        );
        assert!(u64::from(t.header().fresh.load(Ordering::Relaxed)) <= t.layout.n_nodes);
        let keys = all_keys(t);
        assert_eq!(keys, m.sorted());
    }

    fn differential(key_size: u32, max_entries: u32, ops: usize, seed: u64) {
        let r = Region::new(key_size, 8, max_entries);
        let t = r.trie();
        let data_size = key_size as usize - 4;
        let max_bits = data_size as u32 * 8;
        let mut m = Model {
            entries: Vec::new(),
            max_entries: max_entries as usize,
            max_bits,
        };
        let mut rng = Rng(seed);
        let mut out = vec![0u8; key_size as usize];
        let (mut hits, mut fulls) = (0, 0);
        for op in 0..ops {
            let (plen, data) = random_key(&mut rng, data_size, max_bits);
            let k = key(plen, &data);
            match rng.below(8) {
                0..=2 => {
                    let flags = rng.below(4);
                    let v = rng.next();
                    let want = m.update(plen, &data, v, flags);
                    fulls += usize::from(want == Err(full().errno()));
                    assert_eq!(
                        put(&t, &k, v, flags).map_err(|e| e.errno()),
                        want,
                        "op {op}"
                    );
                }
                3 | 4 => {
                    // Delete a present prefix half of the time.
                    let k = if !m.entries.is_empty() && rng.below(2) == 0 {
                        let (p, d, _) = &m.entries[rng.below(m.entries.len() as u64) as usize];
                        key(*p, d)
                    } else {
                        k
                    };
                    let p = u32::from_ne_bytes([k[0], k[1], k[2], k[3]]);
                    let want = m.delete(p, &k[4..]);
                    assert_eq!(t.delete(&k).map_err(|e| e.errno()), want, "op {op}");
                }
                5 | 6 => {
                    let want = m.lookup(plen, &data);
                    hits += usize::from(want.is_some());
                    assert_eq!(val(&t, &k).ok(), want, "op {op}");
                    assert_eq!(t.lookup_value_ptr(&k).is_some(), want.is_some());
                }
                _ => {
                    let from = match rng.below(3) {
                        0 => None,
                        1 if !m.entries.is_empty() => {
                            let (p, d, _) = &m.entries[rng.below(m.entries.len() as u64) as usize];
                            Some(key(*p, d))
                        }
                        _ => Some(k),
                    };
                    let want = m.next_key(from.as_deref());
                    let got = t
                        .next_key(from.as_deref(), &mut out)
                        .map(|()| out.clone())
                        .ok();
                    assert_eq!(got, want, "op {op}");
                }
            }
            if op % 100 == 0 {
                check_invariants(&t, &m);
            }
        }
        check_invariants(&t, &m);
        assert!(
            hits > ops / 20 && fulls > 0,
            "the test exercises too little: {hits} {fulls}"
        );
        // Emptying the trie frees every node.
        for (p, d, _) in std::mem::take(&mut m.entries) {
            t.delete(&key(p, &d)).unwrap();
        }
        assert_eq!((t.len(), t.nodes_in_use()), (0, 0));
        assert_eq!(t.header().root.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn differential_ipv4() {
        differential(8, 48, 5_000, 0x9e37_79b9_7f4a_7c15);
    }

    #[test]
    fn differential_ipv6() {
        differential(20, 24, 2_000, 0xdead_beef_1234_5678);
    }

    #[test]
    fn differential_one_byte_keys() {
        differential(5, 8, 2_000, 42);
    }

    #[test]
    fn delete_cleans_up_and_reuses_nodes() {
        let r = Region::new(8, 8, 256);
        let t = r.trie();
        let mut rng = Rng(7);
        let mut m = Model {
            entries: Vec::new(),
            max_entries: 256,
            max_bits: 32,
        };
        for round in 0..20 {
            while m.entries.len() < 200 {
                let (plen, data) = random_key(&mut rng, 4, 32);
                let plen = plen.min(32);
                let v = rng.next();
                if m.update(plen, &data, v, update::NOEXIST).is_ok() {
                    put(&t, &key(plen, &data), v, update::NOEXIST).unwrap();
                }
            }
            check_invariants(&t, &m);
            while m.entries.len() > 20 * (round % 3) {
                let (p, d, _) = m.entries[rng.below(m.entries.len() as u64) as usize].clone();
                m.delete(p, &d).unwrap();
                t.delete(&key(p, &d)).unwrap();
            }
            check_invariants(&t, &m);
        }
        // Node slots came back to the free list and were reused: the never-used cursor
        // stayed within the slots.
        assert!(u64::from(t.header().fresh.load(Ordering::Relaxed)) <= t.layout.n_nodes);
    }

    #[test]
    fn a_dead_writer_is_recovered_from() {
        let r = Region::new(8, 8, 8);
        let t = r.trie();
        put(&t, &v4(10, 0, 0, 0, 8), 1, 0).unwrap();
        put(&t, &v4(11, 0, 0, 0, 8), 2, 0).unwrap();
        // A writer took a node, miscounted, and died holding the lock.
        let h = t.header();
        h.fresh.fetch_add(1, Ordering::Relaxed);
        h.in_use.fetch_add(1, Ordering::Relaxed);
        h.count.store(7, Ordering::Relaxed);
        h.lock.store(0x7fff_fff0, Ordering::Relaxed);
        put(&t, &v4(12, 0, 0, 0, 8), 3, 0).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.nodes_in_use(), 5);
        assert_eq!(val(&t, &v4(11, 1, 1, 1, 32)), Ok(2));
        assert_eq!(all_keys(&t).len(), 3);
    }

    #[test]
    fn a_stale_link_is_refused() {
        // A reader that read a link to an intermediate node which was then freed and reused
        // must see that the node is no longer the one linked.
        let r = Region::new(8, 8, 8);
        let t = r.trie();
        put(&t, &v4(10, 0, 0, 0, 16), 1, 0).unwrap();
        put(&t, &v4(10, 1, 0, 0, 16), 2, 0).unwrap();
        let stale = t.header().root.load(Ordering::Relaxed);
        let im = t.target(stale).unwrap();
        assert!(t.is_im(im));
        assert_eq!(t.node(im).seq.load(Ordering::Relaxed), (stale >> 32) as u32);
        t.delete(&v4(10, 0, 0, 0, 16)).unwrap();
        put(&t, &v4(192, 168, 0, 0, 16), 3, 0).unwrap();
        assert_eq!(t.nodes_in_use(), 3);
        assert_ne!(t.node(im).seq.load(Ordering::Relaxed), (stale >> 32) as u32);
        assert_eq!(val(&t, &v4(10, 1, 2, 3, 32)), Ok(2));
    }

    #[test]
    fn readers_race_writers() {
        // Stable prefixes never change; the writer churns prefixes under and around them and
        // replaces one value again and again. Readers must only ever see answers some state
        // of the trie gave, and whole values.
        let r = Region::new(8, 16, 4096);
        let base = r.base as usize;
        let layout = r.layout;
        let view = || {
            // SAFETY: the region outlives the scope below; see Region::trie.
            unsafe { LpmTrie::new(&layout, base as *mut u8) }
        };
        let v16 = |x: u64| {
            let mut v = [0u8; 16];
            v[..8].copy_from_slice(&x.to_ne_bytes());
            v[8..].copy_from_slice(&(!x).to_ne_bytes());
            v
        };
        let t = view();
        t.update(&v4(10, 0, 0, 0, 8), &v16(8), 0).unwrap();
        t.update(&v4(10, 1, 0, 0, 16), &v16(16), 0).unwrap();
        let stop = AtomicU32::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let t = view();
                let mut rng = Rng(99);
                let mut i = 0u64;
                while stop.load(Ordering::Relaxed) == 0 || i < 2_000 {
                    i += 1;
                    // Churn around 10.1.0.0/16 (never covering 10.1.2.3 except by /24).
                    let c = rng.below(200) as u8;
                    let k = v4(
                        10,
                        1,
                        128 | (c & 0xf),
                        rng.below(4) as u8 * 64,
                        17 + (c as u32 % 16),
                    );
                    if rng.below(2) == 0 {
                        let _ = t.update(&k, &v16(1000), 0);
                    } else {
                        let _ = t.delete(&k);
                    }
                    let k = v4(10, 2 + (c % 8), c, 0, 16 + (c as u32 % 17));
                    let _ = t.update(&k, &v16(2000), 0);
                    let _ = t.delete(&v4(10, 2 + (c.wrapping_add(3) % 8), 0, 0, 16));
                    // Free the intermediate node above 10.1.0.0/16 (with its sibling) and
                    // reuse both at once for prefixes elsewhere, then bring it back.
                    let far = v4(10, 128 + c % 64, c, 0, 24);
                    let _ = t.delete(&v4(10, 0, 0, 0, 16));
                    let _ = t.update(&far, &v16(3000), 0);
                    let _ = t.update(&v4(10, 0, 0, 0, 16), &v16(4000), 0);
                    let _ = t.delete(&far);
                    // Toggle 10.1.2.0/24 and replace its value.
                    match i % 3 {
                        0 => {
                            let _ = t.delete(&v4(10, 1, 2, 0, 24));
                        }
                        _ => t
                            .update(&v4(10, 1, 2, 0, 24), &v16(24 + i * 100), 0)
                            .unwrap(),
                    }
                }
            });
            s.spawn(|| {
                /// Stops the writer however the reader ends, failed assertions included.
                struct StopOnDrop<'a>(&'a AtomicU32);
                impl Drop for StopOnDrop<'_> {
                    fn drop(&mut self) {
                        self.0.store(1, Ordering::Relaxed);
                    }
                }
                let _stop = StopOnDrop(&stop);
                let t = view();
                let mut out = [0u8; 16];
                for _ in 0..200_000u32 {
                    t.lookup(&v4(10, 1, 2, 3, 32), &mut out).unwrap();
                    let a = u64::from_ne_bytes(out[..8].try_into().unwrap());
                    let b = u64::from_ne_bytes(out[8..].try_into().unwrap());
                    assert_eq!(a, !b, "torn value");
                    assert!(a == 16 || a % 100 == 24, "wrong prefix: {a}");
                    t.lookup(&v4(10, 1, 3, 3, 32), &mut out).unwrap();
                    assert_eq!(out, v16(16));
                    let p = t.lookup_value_ptr(&v4(10, 200, 0, 0, 32)).unwrap();
                    // SAFETY: a value pointer of this trie, inside the region.
                    let x = unsafe { p.cast::<u64>().read_volatile() };
                    assert!(x == 8, "wrong prefix: {x}");
                }
            });
        });
        assert!(t.nodes_in_use() <= 2 * t.len());
    }

    #[test]
    fn bits_and_matching() {
        assert_eq!(match_len(&[0xff, 0x00], &[0xff, 0x80], 16), 8);
        assert_eq!(match_len(&[0xff, 0x00], &[0xff, 0x80], 5), 5);
        assert_eq!(match_len(&[0x0f], &[0x0e], 8), 7);
        assert_eq!(match_len(&[1, 2], &[1, 2], 16), 16);
        assert_eq!(match_len(&[1, 2], &[1, 2], 0), 0);
        assert_eq!(bit(&[0x80, 0x01], 0), 1);
        assert_eq!(bit(&[0x80, 0x01], 15), 1);
        assert_eq!(bit(&[0x80, 0x01], 14), 0);
        assert_eq!(bit(&[0x80], 8), 0);
    }
}
