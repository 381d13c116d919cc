/* The C side of mtcp-io-dpdk: DPDK's inline functions and struct-layout-dependent calls behind plain
 * functions with fixed-layout arguments. Every struct here has a `#[repr(C)]` twin in src/ffi.rs. */
#ifndef MTCP_DPDK_SHIM_H
#define MTCP_DPDK_SHIM_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* The most frames one shim burst moves. */
#define MTCP_SHIM_MAX_BURST 64

/* What Rust needs of a port's rte_eth_dev_info. */
struct mtcp_shim_dev_info {
	const char *driver_name;
	uint64_t rx_offload_capa;
	uint64_t tx_offload_capa;
	uint64_t flow_type_rss_offloads;
	uint16_t max_rx_queues;
	uint16_t max_tx_queues;
	uint16_t reta_size;
	uint8_t hash_key_size;
	uint8_t _pad;
	uint16_t rx_desc_max;
	uint16_t rx_desc_min;
	uint16_t tx_desc_max;
	uint16_t tx_desc_min;
	uint16_t min_mtu;
	uint16_t max_mtu;
};

/* One received frame (single-segment). */
struct mtcp_shim_rx {
	struct rte_mbuf *mbuf;
	uint8_t *data;
	uint64_t ol_flags;
	uint32_t rss_hash;
	uint16_t len;
	uint16_t _pad;
};

/* A fresh transmit buffer. */
struct mtcp_shim_buf {
	struct rte_mbuf *mbuf;
	uint8_t *data;
	uint16_t capacity;
	uint16_t _pad[3];
};

/* One frame to transmit, with the metadata to write into its mbuf first. */
struct mtcp_shim_tx {
	struct rte_mbuf *mbuf;
	uint64_t ol_flags;
	uint16_t len;
	uint8_t l2_len;
	uint8_t l3_len;
	uint32_t _pad;
};

int mtcp_shim_errno(void);
int mtcp_shim_ring_pair(const char *name_a, const char *name_b, uint16_t nb_queues, unsigned int ring_size);
int mtcp_shim_link_status(uint16_t port, uint32_t *speed_mbps);
int mtcp_shim_dev_info(uint16_t port, struct mtcp_shim_dev_info *out);
int mtcp_shim_configure(uint16_t port, uint16_t nb_queues, uint64_t rx_offloads, uint64_t tx_offloads,
			uint64_t rss_hf, const uint8_t *rss_key, uint8_t rss_key_len);
int mtcp_shim_reta_update(uint16_t port, const uint16_t *reta, uint16_t reta_size);
int mtcp_shim_reta_query(uint16_t port, uint16_t *reta, uint16_t reta_size);
int mtcp_shim_rss_conf_get(uint16_t port, uint8_t *key, uint8_t key_len, uint64_t *rss_hf);
uint16_t mtcp_shim_rx_burst(uint16_t port, uint16_t queue, struct mtcp_shim_rx *out, uint16_t n,
			    uint16_t *dropped);
uint16_t mtcp_shim_tx_burst(uint16_t port, uint16_t queue, const struct mtcp_shim_tx *in, uint16_t n);
int mtcp_shim_alloc_bulk(struct rte_mempool *mp, struct mtcp_shim_buf *out, uint16_t n);
void mtcp_shim_free(struct rte_mbuf *m);
int mtcp_shim_lcore_register(void);
void mtcp_shim_lcore_unregister(void);
unsigned int mtcp_shim_lcore_id(void);

#endif
