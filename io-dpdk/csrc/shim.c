#include "shim.h"

uint16_t uxdp_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
    return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t uxdp_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
    return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *uxdp_pktmbuf_alloc(struct rte_mempool *mp)
{
    return rte_pktmbuf_alloc(mp);
}

void uxdp_pktmbuf_free(struct rte_mbuf *m)
{
    rte_pktmbuf_free(m);
}

void uxdp_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n)
{
    rte_pktmbuf_free_bulk(pkts, n);
}

uint8_t *uxdp_mbuf_buf(const struct rte_mbuf *m)
{
    return (uint8_t *)m->buf_addr;
}

uint16_t uxdp_mbuf_buf_len(const struct rte_mbuf *m)
{
    return m->buf_len;
}

uint16_t uxdp_mbuf_data_off(const struct rte_mbuf *m)
{
    return m->data_off;
}

uint16_t uxdp_mbuf_data_len(const struct rte_mbuf *m)
{
    return m->data_len;
}

uint16_t uxdp_mbuf_nb_segs(const struct rte_mbuf *m)
{
    return m->nb_segs;
}

uint16_t uxdp_mbuf_port(const struct rte_mbuf *m)
{
    return m->port;
}

void uxdp_mbuf_set_data(struct rte_mbuf *m, uint16_t off, uint16_t len)
{
    m->data_off = off;
    m->data_len = len;
    m->pkt_len = len;
}

int uxdp_errno(void)
{
    return rte_errno;
}

unsigned int uxdp_lcore_id(void)
{
    return rte_lcore_id();
}
