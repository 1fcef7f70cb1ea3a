/* uxdp's C shim over DPDK's static-inline fast-path functions, which bindgen cannot bind:
 * each is a real function here, so Rust can call it. */
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

uint16_t uxdp_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t uxdp_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *uxdp_pktmbuf_alloc(struct rte_mempool *mp);
void uxdp_pktmbuf_free(struct rte_mbuf *m);
void uxdp_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n);
/* The buffer's first byte, its size, and the data's offset and length in it. */
uint8_t *uxdp_mbuf_buf(const struct rte_mbuf *m);
uint16_t uxdp_mbuf_buf_len(const struct rte_mbuf *m);
uint16_t uxdp_mbuf_data_off(const struct rte_mbuf *m);
uint16_t uxdp_mbuf_data_len(const struct rte_mbuf *m);
uint16_t uxdp_mbuf_nb_segs(const struct rte_mbuf *m);
uint16_t uxdp_mbuf_port(const struct rte_mbuf *m);
/* Sets a single-segment mbuf's data to `len` bytes at `off` (off + len <= buf_len). */
void uxdp_mbuf_set_data(struct rte_mbuf *m, uint16_t off, uint16_t len);
int uxdp_errno(void);
unsigned int uxdp_lcore_id(void);
