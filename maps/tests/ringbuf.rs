//! Ring buffers: the kernel's record protocol, wrap-around through the double mapping, and a
//! consumer that is another mapping of the store (as another process would be).

mod common;

use common::TempStore;
use uxdp_maps::ringbuf::query;
use uxdp_maps::{Map, MapDef, MapType, Store};

fn ring(t: &TempStore, size: u32) -> Map {
    Map::create(&t.store, &MapDef::new(MapType::Ringbuf, 0, 0, size)).unwrap()
}

#[test]
fn records_commit_discard_and_consume_in_order() {
    let t = TempStore::new("rb", 1);
    let rb = ring(&t, 4096);
    let a = rb.ringbuf_reserve(5).unwrap();
    let b = rb.ringbuf_reserve(3).unwrap();
    // SAFETY: each sample has room for its size; each is committed once.
    unsafe {
        a.as_ptr().copy_from_nonoverlapping(b"hello".as_ptr(), 5);
        b.as_ptr().copy_from_nonoverlapping(b"bye".as_ptr(), 3);
        rb.ringbuf_commit(b, false);
    }
    // `a` is still reserved: nothing can be consumed past it.
    let mut got: Vec<Vec<u8>> = Vec::new();
    assert_eq!(rb.ringbuf_consume(|s| got.push(s.to_vec())), 0);
    // SAFETY: as above.
    unsafe { rb.ringbuf_commit(a, false) };
    rb.ringbuf_output(b"x").unwrap();
    let d = rb.ringbuf_reserve(8).unwrap();
    // SAFETY: as above.
    unsafe { rb.ringbuf_commit(d, true) };
    assert_eq!(rb.ringbuf_query(query::AVAIL_DATA), 16 + 16 + 16 + 16);
    assert_eq!(rb.ringbuf_consume(|s| got.push(s.to_vec())), 3);
    assert_eq!(got, [b"hello".to_vec(), b"bye".to_vec(), b"x".to_vec()]);
    assert_eq!(rb.ringbuf_query(query::AVAIL_DATA), 0);
    assert_eq!(rb.ringbuf_query(query::RING_SIZE), 4096);
}

#[test]
fn a_full_ring_refuses_and_records_wrap_contiguously() {
    let t = TempStore::new("rb-wrap", 1);
    let rb = ring(&t, 4096);
    // 4096 bytes hold 42 records of 88 bytes (96 with the header); the 43rd does not fit.
    for i in 0..42u8 {
        rb.ringbuf_output(&[i; 88]).unwrap();
    }
    assert!(rb.ringbuf_reserve(88).is_none());
    assert_eq!(
        rb.ringbuf_output(&[0; 88]).unwrap_err().errno(),
        libc::E2BIG
    );
    assert!(rb.ringbuf_reserve(4096).is_none(), "larger than the ring");
    let mut n = 0;
    rb.ringbuf_consume(|s| {
        assert_eq!(s, [n; 88]);
        n += 1;
    });
    assert_eq!(n, 42);
    // Producer is at 4032: a 200-byte record runs over the end of the data pages.
    let pattern: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
    rb.ringbuf_output(&pattern).unwrap();
    // Consumed through a second, independent mapping of the store.
    let other = Store::open(&t.path).unwrap();
    let rb2 = Map::open(&other, rb.id()).unwrap();
    let mut seen = Vec::new();
    assert_eq!(rb2.ringbuf_consume(|s| seen = s.to_vec()), 1);
    assert_eq!(seen, pattern);
    assert_eq!(
        rb.ringbuf_query(query::CONS_POS),
        rb.ringbuf_query(query::PROD_POS)
    );
}

#[test]
fn producers_on_threads_lose_nothing() {
    let t = TempStore::new("rb-mt", 1);
    let rb = ring(&t, 1 << 16);
    let mut total = 0u64;
    std::thread::scope(|s| {
        for id in 0..2u32 {
            let rb = &rb;
            s.spawn(move || {
                for i in 0..20_000u32 {
                    let v = (u64::from(id) << 32 | u64::from(i)).to_ne_bytes();
                    while rb.ringbuf_output(&v).is_err() {
                        std::thread::yield_now();
                    }
                }
            });
        }
        let mut last = [None::<u32>; 2];
        while total < 40_000 {
            total += rb.ringbuf_consume(|s| {
                let v = u64::from_ne_bytes(s.try_into().unwrap());
                let (id, i) = ((v >> 32) as usize, v as u32);
                assert!(
                    last[id].is_none_or(|l| i == l + 1),
                    "producer {id} out of order"
                );
                last[id] = Some(i);
            }) as u64;
        }
    });
    assert_eq!(total, 40_000);
}

#[test]
fn ring_buffers_follow_the_kernels_rules() {
    let t = TempStore::new("rb-rules", 1);
    let bad = |def: MapDef| def.validate().unwrap_err().errno();
    assert_eq!(
        bad(MapDef::new(MapType::Ringbuf, 0, 0, 4096 * 3)),
        libc::EINVAL
    );
    assert_eq!(bad(MapDef::new(MapType::Ringbuf, 0, 0, 1024)), libc::EINVAL);
    assert_eq!(bad(MapDef::new(MapType::Ringbuf, 4, 0, 4096)), libc::EINVAL);
    let rb = ring(&t, 4096);
    let mut v = [0u8; 0];
    assert_eq!(rb.lookup(&[], &mut v, 0).unwrap_err().errno(), 524);
    assert_eq!(rb.region_offset() % 4096, 0);
}
