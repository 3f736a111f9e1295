/* rvs DPDK shim: the DPDK headers bindgen reads, plus exported wrappers for the
 * static-inline functions and function-like macros that Rust cannot call directly. */
#ifndef RVS_DPDK_SHIM_H
#define RVS_DPDK_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include <rte_config.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>

/* Burst I/O. */
uint16_t rvs_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t rvs_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

/* Mbuf allocation and data access. */
struct rte_mbuf *rvs_pktmbuf_alloc(struct rte_mempool *mp);
int rvs_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int n);
void rvs_pktmbuf_free(struct rte_mbuf *m);
uint32_t rvs_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t rvs_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t rvs_pktmbuf_tailroom(const struct rte_mbuf *m);
int rvs_pktmbuf_is_contiguous(const struct rte_mbuf *m);
void *rvs_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
void *rvs_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
void *rvs_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
int rvs_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
void rvs_pktmbuf_reset(struct rte_mbuf *m);

/* Offload metadata. */
uint64_t rvs_mbuf_ol_flags(const struct rte_mbuf *m);
void rvs_mbuf_set_ol_flags(struct rte_mbuf *m, uint64_t flags);
void rvs_mbuf_set_tx_lens(struct rte_mbuf *m, uint16_t l2_len, uint16_t l3_len);
uint16_t rvs_mbuf_l2_len(const struct rte_mbuf *m);
uint16_t rvs_mbuf_l3_len(const struct rte_mbuf *m);
const char *rvs_mempool_ops_name(const struct rte_mempool *mp);

/* Lcores, errno, time. */
unsigned int rvs_lcore_id(void);
int rvs_errno(void);
uint64_t rvs_rdtsc(void);

/* SPSC rings of pointers. */
unsigned int rvs_ring_sp_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned int n);
unsigned int rvs_ring_sc_dequeue_burst(struct rte_ring *r, void **objs, unsigned int n);
unsigned int rvs_ring_count(const struct rte_ring *r);

/* Flag values that the headers define through RTE_BIT64 (bindgen cannot evaluate them). */
uint64_t rvs_rss_hf_ip_tcp_udp(void);
uint64_t rvs_tx_offload_ipv4_cksum(void);
uint64_t rvs_tx_offload_tcp_cksum(void);
uint64_t rvs_tx_offload_udp_cksum(void);
uint64_t rvs_rx_offload_ipv4_cksum(void);
uint64_t rvs_rx_offload_tcp_cksum(void);
uint64_t rvs_rx_offload_udp_cksum(void);
uint64_t rvs_link_speed_unknown(void);

/* Memory for large tables (plain Linux, not DPDK): anonymous mappings aligned to 2 MiB.
 * `len` is a multiple of 2 MiB. With `hugetlb`, the mapping takes reserved hugepages
 * (the pool the EAL draws from) and fails when too few are free; without, it is made of
 * ordinary pages with transparent hugepages requested. NULL on failure. */
void *rvs_table_map(size_t len, int hugetlb);
/* Unmaps what rvs_table_map returned (same length); 0 on success. */
int rvs_table_unmap(void *addr, size_t len);

#endif
