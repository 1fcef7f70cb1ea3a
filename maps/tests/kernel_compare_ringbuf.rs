//! Ring buffers against the kernel's: the same records produced on both sides — by
//! `bpf_ringbuf_output`, `bpf_ringbuf_reserve` and `bpf_ringbuf_discard` in programs run
//! with `BPF_PROG_TEST_RUN` on the kernel side, by [`Map::ringbuf_output`],
//! [`Map::ringbuf_reserve`] and [`Map::ringbuf_commit`] on uxdp's — must leave the same
//! bytes in the pages a consumer maps: the producer position, every record header (length,
//! busy and discard bits, page offset) and every sample byte, through a full ring and a
//! wrap-around. `bpf_ringbuf_query` must answer the same, and a full ring must refuse the
//! same record.
//!
//! The kernel's pages are read through `mmap` of the map's fd (the consumer page read-write
//! at offset 0, the producer page and the data after it read-only), uxdp's through the
//! store mapping at the map's region offset, where the shim maps them for libbpf.
//!
//! The kernel side needs `CAP_BPF` (root); without it the test fails, it never skips.

mod kcmp;

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};

use kcmp::{TempStore, kernel_program, kres, report, run};
use uxdp_kbpf::{MapFd as KernelMap, ProgFd};
use uxdp_maps::ringbuf::PAGE;
use uxdp_maps::{Map, MapDef, MapType};

/// Data pages of the rings compared.
const SIZE: usize = 4096;
/// A uxdp ring's region: consumer page, producer page, data.
const REGION: usize = 2 * PAGE as usize + SIZE;

/// The kernel ring's pages, mapped as libbpf maps them.
struct KernelPages {
    consumer: *mut u8,
    producer: *mut u8,
}

impl KernelPages {
    fn map(ring: &KernelMap) -> Self {
        let fd = ring.as_raw_fd();
        let page = PAGE as usize;
        // SAFETY: fresh shared mappings of the ring's fd, at the offsets and sizes the kernel
        // allows for a ring buffer (consumer page read-write, the rest read-only); unmapped on
        // drop.
        unsafe {
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            let consumer = libc::mmap(std::ptr::null_mut(), page, rw, libc::MAP_SHARED, fd, 0);
            assert_ne!(consumer, libc::MAP_FAILED, "mmap of the consumer page");
            let len = page + 2 * SIZE;
            let producer = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                PAGE as i64,
            );
            assert_ne!(producer, libc::MAP_FAILED, "mmap of the producer pages");
            Self {
                consumer: consumer.cast(),
                producer: producer.cast(),
            }
        }
    }
}

impl Drop for KernelPages {
    fn drop(&mut self) {
        // SAFETY: the mappings made in `map`, with their sizes.
        unsafe {
            libc::munmap(self.consumer.cast(), PAGE as usize);
            libc::munmap(self.producer.cast(), PAGE as usize + 2 * SIZE);
        }
    }
}

/// One ring buffer on each side, and the kernel programs that produce into the kernel's.
struct Rings {
    kernel: KernelMap,
    pages: KernelPages,
    uxdp: Map,
    /// The uxdp ring's pages: the store file mapped at the map's region offset, as the
    /// shim maps them for libbpf.
    uxdp_pages: *mut u8,
    /// Keeps the store file alive for as long as the map is used.
    _store: TempStore,
    ops: usize,
}

impl Drop for Rings {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, with its size.
        unsafe { libc::munmap(self.uxdp_pages.cast(), REGION) };
    }
}

/// Three views of a ring's state: consumer and producer positions and the data pages.
struct View {
    consumer: *const AtomicU64,
    producer: *const AtomicU64,
    data: *const u8,
}

impl View {
    fn consumer(&self) -> u64 {
        // SAFETY: the consumer position is an aligned u64 in a live mapping.
        unsafe { &*self.consumer }.load(Ordering::Acquire)
    }

    fn producer(&self) -> u64 {
        // SAFETY: as above.
        unsafe { &*self.producer }.load(Ordering::Acquire)
    }

    fn set_consumer(&self, pos: u64) {
        // SAFETY: as above; the consumer page is writable on both sides.
        unsafe { &*self.consumer }.store(pos, Ordering::Release);
    }

    fn data(&self) -> Vec<u8> {
        // SAFETY: SIZE data bytes follow in a live mapping.
        unsafe { std::slice::from_raw_parts(self.data, SIZE) }.to_vec()
    }
}

/// A sample's bytes: distinct per record.
fn sample(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8) | 1)
        .collect()
}

/// A program that writes `sample(n, seed)` to the stack and outputs it to `ring`,
/// returning the helper's result.
fn output_program(ring: &KernelMap, n: usize, seed: u8) -> ProgFd {
    let mut s = String::new();
    let bytes = sample(n, seed);
    for (i, b) in bytes.iter().enumerate() {
        s += &format!("stb [%r10-{}], {b}\n", 64 - i);
    }
    let fd = ring.as_raw_fd();
    s += &format!(
        "lddw %r1, map_fd {fd}\nmov %r2, %r10\nadd %r2, -64\nmov %r3, {n}\nmov %r4, 0\n\
         call 130\nexit\n"
    );
    kernel_program(&s)
}

/// A program that reserves `n` bytes, fills them, and discards them: returns 1 if the
/// reservation failed, 0 otherwise.
fn discard_program(ring: &KernelMap, n: usize, seed: u8) -> ProgFd {
    let fd = ring.as_raw_fd();
    let mut s = format!(
        "lddw %r1, map_fd {fd}\nmov %r2, {n}\nmov %r3, 0\ncall 131\njne %r0, 0, +2\n\
         mov %r0, 1\nexit\n"
    );
    for (i, b) in sample(n, seed).iter().enumerate() {
        s += &format!("stb [%r0+{i}], {b}\n");
    }
    s += "mov %r1, %r0\nmov %r2, 0\ncall 133\nmov %r0, 0\nexit\n";
    kernel_program(&s)
}

/// A program returning `bpf_ringbuf_query(ring, what)` (low 32 bits).
fn query_program(ring: &KernelMap, what: u64) -> ProgFd {
    let fd = ring.as_raw_fd();
    kernel_program(&format!(
        "lddw %r1, map_fd {fd}\nmov %r2, {what}\ncall 134\nexit\n"
    ))
}

impl Rings {
    fn new() -> Self {
        let def = MapDef::new(MapType::Ringbuf, 0, 0, SIZE as u32);
        let kernel = kcmp::kernel_create(&def).expect("kernel ring buffer");
        let pages = KernelPages::map(&kernel);
        let store = TempStore::new();
        let uxdp = Map::create(&store.store, &def).expect("uxdp ring buffer");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&store.path)
            .expect("open the store file");
        // SAFETY: a fresh shared mapping of the store file's pages of this map (the region
        // offset is page-aligned); unmapped on drop.
        let uxdp_pages = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                REGION,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                uxdp.region_offset() as i64,
            )
        };
        assert_ne!(
            uxdp_pages,
            libc::MAP_FAILED,
            "mmap of the store's ring pages"
        );
        Self {
            kernel,
            pages,
            uxdp,
            uxdp_pages: uxdp_pages.cast(),
            _store: store,
            ops: 0,
        }
    }

    fn kernel_view(&self) -> View {
        View {
            consumer: self.pages.consumer.cast(),
            producer: self.pages.producer.cast(),
            data: self.pages.producer.wrapping_add(PAGE as usize),
        }
    }

    fn uxdp_view(&self) -> View {
        let region = self.uxdp_pages;
        View {
            consumer: region.cast(),
            producer: region.wrapping_add(PAGE as usize).cast(),
            data: region.wrapping_add(2 * PAGE as usize),
        }
    }

    /// Both sides' pages hold the same positions and bytes.
    fn assert_same_pages(&mut self, what: &str) {
        let (k, u) = (self.kernel_view(), self.uxdp_view());
        assert_eq!(
            (u.consumer(), u.producer()),
            (k.consumer(), k.producer()),
            "{what}: consumer and producer positions, uxdp (left), kernel (right)"
        );
        let (kd, ud) = (k.data(), u.data());
        if let Some(at) = (0..SIZE).find(|&i| kd[i] != ud[i]) {
            let end = (at + 16).min(SIZE);
            panic!(
                "{what}: the data pages differ from byte {at}: uxdp {:?}, kernel {:?}",
                &ud[at..end],
                &kd[at..end]
            );
        }
        self.ops += 1;
    }

    /// The same sample output on both sides; whether it fit.
    fn output(&mut self, n: usize, seed: u8) -> bool {
        let retval = run(&output_program(&self.kernel, n, seed));
        let kernel = if retval == 0 {
            Ok(())
        } else {
            Err(-(retval as i32))
        };
        let uxdp = self
            .uxdp
            .ringbuf_output(&sample(n, seed))
            .map_err(|_| libc::EAGAIN);
        assert_eq!(
            uxdp, kernel,
            "output of {n} bytes: uxdp (left), kernel (right)"
        );
        self.ops += 1;
        kernel.is_ok()
    }

    /// The same sample reserved, written and discarded on both sides.
    fn discard(&mut self, n: usize, seed: u8) {
        let kernel_failed = run(&discard_program(&self.kernel, n, seed)) == 1;
        let reserved = self.uxdp.ringbuf_reserve(n as u64);
        assert_eq!(reserved.is_none(), kernel_failed, "reserve of {n} bytes");
        if let Some(p) = reserved {
            let bytes = sample(n, seed);
            // SAFETY: the reservation has room for n bytes and is committed once.
            unsafe {
                p.as_ptr().copy_from_nonoverlapping(bytes.as_ptr(), n);
                self.uxdp.ringbuf_commit(p, true);
            }
        }
        self.ops += 1;
    }

    fn queries(&mut self) {
        for what in 0..4 {
            let kernel = run(&query_program(&self.kernel, what));
            let uxdp = self.uxdp.ringbuf_query(what) as u32;
            assert_eq!(
                uxdp, kernel,
                "bpf_ringbuf_query({what}): uxdp (left), kernel (right)"
            );
            self.ops += 1;
        }
    }

    /// A consumer that has read everything: both consumer positions move to the producer's.
    fn consume_all(&mut self) {
        for view in [self.kernel_view(), self.uxdp_view()] {
            view.set_consumer(view.producer());
        }
    }
}

#[test]
fn ringbuf_pages_match_the_kernels() {
    let mut r = Rings::new();
    r.assert_same_pages("empty");
    r.queries();
    for (i, n) in [5, 16, 1, 24, 32, 8].into_iter().enumerate() {
        assert!(r.output(n, i as u8));
        r.assert_same_pages(&format!("after output {i} ({n} bytes)"));
    }
    r.discard(12, 9);
    r.assert_same_pages("after a discard");
    r.queries();
    // Fill the ring: 24-byte samples take 32 bytes each; both refuse the same one.
    r.consume_all();
    r.queries();
    let mut fitted = 0;
    while r.output(24, fitted as u8) {
        fitted += 1;
        assert!(fitted <= SIZE / 32, "the ring never fills");
    }
    r.assert_same_pages("full");
    r.queries();
    eprintln!("ringbuf: {fitted} records of 24 bytes fit after the first ones");
    // Consume part of it, and wrap around.
    let half = {
        let k = r.kernel_view();
        k.consumer() + (SIZE as u64 / 2)
    };
    for view in [r.kernel_view(), r.uxdp_view()] {
        view.set_consumer(half);
    }
    r.queries();
    let mut wrapped = 0;
    while r.output(40, 100 + wrapped as u8) {
        wrapped += 1;
        assert!(wrapped <= SIZE / 48, "the ring never fills");
    }
    r.discard(32, 7);
    r.assert_same_pages("wrapped around and full again");
    r.queries();
    // Elements: a ring buffer has none, on either side.
    let k = kres(r.kernel.lookup(&[], &mut [], 0));
    let u = r.uxdp.lookup(&[], &mut [], 0).map_err(|e| e.errno());
    assert_eq!(u, k, "lookup on a ring buffer");
    report("RINGBUF", r.ops);
}
