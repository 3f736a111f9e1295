/* Exported wrappers over DPDK static-inline functions; see shim.h. */
#include "shim.h"

#include <sys/mman.h>

uint16_t rvs_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t rvs_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *rvs_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int rvs_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int n)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, n);
}

void rvs_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
uint32_t rvs_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }
uint16_t rvs_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }
uint16_t rvs_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
int rvs_pktmbuf_is_contiguous(const struct rte_mbuf *m) { return rte_pktmbuf_is_contiguous(m); }
void *rvs_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
void *rvs_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }
void *rvs_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
int rvs_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }
void rvs_pktmbuf_reset(struct rte_mbuf *m) { rte_pktmbuf_reset(m); }

uint64_t rvs_mbuf_ol_flags(const struct rte_mbuf *m) { return m->ol_flags; }
void rvs_mbuf_set_ol_flags(struct rte_mbuf *m, uint64_t flags) { m->ol_flags = flags; }

void rvs_mbuf_set_tx_lens(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len)
{
	m->l2_len = l2_len;
	m->l3_len = l3_len;
}

uint16_t rvs_mbuf_l2_len(const struct rte_mbuf *m) { return m->l2_len; }
uint16_t rvs_mbuf_l3_len(const struct rte_mbuf *m) { return m->l3_len; }

const char *rvs_mempool_ops_name(const struct rte_mempool *mp)
{
	return rte_mempool_get_ops(mp->ops_index)->name;
}


unsigned int rvs_lcore_id(void) { return rte_lcore_id(); }
int rvs_errno(void) { return rte_errno; }
uint64_t rvs_rdtsc(void) { return rte_rdtsc(); }

unsigned int rvs_ring_sp_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned int n)
{
	return rte_ring_sp_enqueue_burst(r, objs, n, NULL);
}

unsigned int rvs_ring_sc_dequeue_burst(struct rte_ring *r, void **objs, unsigned int n)
{
	return rte_ring_sc_dequeue_burst(r, objs, n, NULL);
}

unsigned int rvs_ring_count(const struct rte_ring *r) { return rte_ring_count(r); }

uint64_t rvs_rss_hf_ip_tcp_udp(void) { return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP; }
uint64_t rvs_tx_offload_ipv4_cksum(void) { return RTE_ETH_TX_OFFLOAD_IPV4_CKSUM; }
uint64_t rvs_tx_offload_tcp_cksum(void) { return RTE_ETH_TX_OFFLOAD_TCP_CKSUM; }
uint64_t rvs_tx_offload_udp_cksum(void) { return RTE_ETH_TX_OFFLOAD_UDP_CKSUM; }
uint64_t rvs_rx_offload_ipv4_cksum(void) { return RTE_ETH_RX_OFFLOAD_IPV4_CKSUM; }
uint64_t rvs_rx_offload_tcp_cksum(void) { return RTE_ETH_RX_OFFLOAD_TCP_CKSUM; }
uint64_t rvs_rx_offload_udp_cksum(void) { return RTE_ETH_RX_OFFLOAD_UDP_CKSUM; }
uint64_t rvs_link_speed_unknown(void) { return RTE_ETH_SPEED_NUM_UNKNOWN; }

#define RVS_TABLE_ALIGN ((size_t)2 << 20)

/* 2 MiB pages from the hugetlb pool whatever the host's default hugepage size: on a host
 * booted with default_hugepagesz=1G, MAP_HUGETLB alone takes a whole 1 GiB page per
 * table, and munmap of a 2 MiB multiple of it fails. */
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

void *rvs_table_map(size_t len, int hugetlb)
{
    if (len == 0 || len % RVS_TABLE_ALIGN != 0)
        return NULL;
    if (hugetlb) {
        /* Hugetlb mappings are aligned to the page size, and reserve their pages now:
         * a short pool fails here, not with SIGBUS on first touch. */
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    /* Over-map by one alignment unit and trim both ends, so the kernel can back every
     * 2 MiB of the table with one transparent hugepage. */
    size_t span = len + RVS_TABLE_ALIGN;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + RVS_TABLE_ALIGN - 1) & ~(uintptr_t)(RVS_TABLE_ALIGN - 1);
    char *p = (char *)start;
    size_t head = (size_t)(p - raw);
    size_t tail = span - head - len;
    /* A trim that fails would leave memory nobody accounts for: give the whole span back
     * (what is left of it) and let the caller fall back. */
    if ((head > 0 && munmap(raw, head) != 0) || (tail > 0 && munmap(p + len, tail) != 0)) {
        (void)munmap(raw, span);
        return NULL;
    }
    /* A kernel without transparent hugepages refuses the advice: ordinary pages then. */
    (void)madvise(p, len, MADV_HUGEPAGE);
    return p;
}

int rvs_table_unmap(void *addr, size_t len) { return munmap(addr, len); }
