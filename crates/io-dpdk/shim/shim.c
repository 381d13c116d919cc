/* See shim.h. Kept free of policy: Rust decides, C only reaches into DPDK's structs and inlines. */
#include "shim.h"

#include <string.h>

#include <rte_build_config.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

/* Constants, exported so a Rust test can check its own copies against DPDK's headers. */
const uint64_t mtcp_shim_RTE_MBUF_F_RX_RSS_HASH = RTE_MBUF_F_RX_RSS_HASH;
const uint64_t mtcp_shim_RTE_MBUF_F_RX_IP_CKSUM_MASK = RTE_MBUF_F_RX_IP_CKSUM_MASK;
const uint64_t mtcp_shim_RTE_MBUF_F_RX_IP_CKSUM_GOOD = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
const uint64_t mtcp_shim_RTE_MBUF_F_RX_IP_CKSUM_BAD = RTE_MBUF_F_RX_IP_CKSUM_BAD;
const uint64_t mtcp_shim_RTE_MBUF_F_RX_L4_CKSUM_MASK = RTE_MBUF_F_RX_L4_CKSUM_MASK;
const uint64_t mtcp_shim_RTE_MBUF_F_RX_L4_CKSUM_GOOD = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
const uint64_t mtcp_shim_RTE_MBUF_F_RX_L4_CKSUM_BAD = RTE_MBUF_F_RX_L4_CKSUM_BAD;
const uint64_t mtcp_shim_RTE_MBUF_F_TX_IPV4 = RTE_MBUF_F_TX_IPV4;
const uint64_t mtcp_shim_RTE_MBUF_F_TX_IP_CKSUM = RTE_MBUF_F_TX_IP_CKSUM;
const uint64_t mtcp_shim_RTE_MBUF_F_TX_TCP_CKSUM = RTE_MBUF_F_TX_TCP_CKSUM;
const uint64_t mtcp_shim_RTE_MBUF_F_TX_UDP_CKSUM = RTE_MBUF_F_TX_UDP_CKSUM;
const uint64_t mtcp_shim_RTE_ETH_RX_OFFLOAD_IPV4_CKSUM = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
const uint64_t mtcp_shim_RTE_ETH_RX_OFFLOAD_TCP_CKSUM = RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
const uint64_t mtcp_shim_RTE_ETH_RX_OFFLOAD_UDP_CKSUM = RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
const uint64_t mtcp_shim_RTE_ETH_RX_OFFLOAD_RSS_HASH = RTE_ETH_RX_OFFLOAD_RSS_HASH;
const uint64_t mtcp_shim_RTE_ETH_TX_OFFLOAD_IPV4_CKSUM = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
const uint64_t mtcp_shim_RTE_ETH_TX_OFFLOAD_TCP_CKSUM = RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
const uint64_t mtcp_shim_RTE_ETH_TX_OFFLOAD_UDP_CKSUM = RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
const uint64_t mtcp_shim_RTE_ETH_RSS_IPV4 = RTE_ETH_RSS_IPV4;
const uint64_t mtcp_shim_RTE_ETH_RSS_NONFRAG_IPV4_TCP = RTE_ETH_RSS_NONFRAG_IPV4_TCP;
const uint64_t mtcp_shim_RTE_ETH_RSS_NONFRAG_IPV4_UDP = RTE_ETH_RSS_NONFRAG_IPV4_UDP;
const uint64_t mtcp_shim_RTE_ETH_RSS_FRAG_IPV4 = RTE_ETH_RSS_FRAG_IPV4;
const uint64_t mtcp_shim_RTE_ETH_RSS_NONFRAG_IPV4_OTHER = RTE_ETH_RSS_NONFRAG_IPV4_OTHER;
const uint32_t mtcp_shim_RTE_MBUF_DEFAULT_BUF_SIZE = RTE_MBUF_DEFAULT_BUF_SIZE;
const uint32_t mtcp_shim_RTE_ETHER_MTU = RTE_ETHER_MTU;
const uint32_t mtcp_shim_RTE_MAX_ETHPORTS = RTE_MAX_ETHPORTS;
const uint32_t mtcp_shim_MAX_BURST = MTCP_SHIM_MAX_BURST;
const char mtcp_shim_RTE_EAL_PMD_PATH[] = RTE_EAL_PMD_PATH;
/* Layout checks for the Rust twins of the shim's structs. */
const uint32_t mtcp_shim_sizeof_dev_info = sizeof(struct mtcp_shim_dev_info);
const uint32_t mtcp_shim_sizeof_rx = sizeof(struct mtcp_shim_rx);
const uint32_t mtcp_shim_sizeof_buf = sizeof(struct mtcp_shim_buf);
const uint32_t mtcp_shim_sizeof_tx = sizeof(struct mtcp_shim_tx);

int mtcp_shim_errno(void)
{
	return rte_errno;
}

/* 1 when the link is up, 0 when down, a negative errno on failure. */
int mtcp_shim_link_status(uint16_t port, uint32_t *speed_mbps)
{
	struct rte_eth_link link;
	int ret;

	memset(&link, 0, sizeof(link));
	ret = rte_eth_link_get_nowait(port, &link);
	if (ret != 0)
		return ret;
	*speed_mbps = link.link_speed;
	return link.link_status == RTE_ETH_LINK_UP ? 1 : 0;
}

/* Two net_ring ports wired back to back: queue i of A sends into queue i of B and the other way
 * round. Returns 0 or a negative errno. */
int mtcp_shim_ring_pair(const char *name_a, const char *name_b, uint16_t nb_queues, unsigned int ring_size)
{
	struct rte_ring *a_to_b[RTE_PMD_RING_MAX_RX_RINGS];
	struct rte_ring *b_to_a[RTE_PMD_RING_MAX_RX_RINGS];
	char ring_name[RTE_RING_NAMESIZE];
	uint16_t i;

	if (nb_queues == 0 || nb_queues > RTE_PMD_RING_MAX_RX_RINGS)
		return -EINVAL;
	for (i = 0; i < nb_queues; i++) {
		snprintf(ring_name, sizeof(ring_name), "%.10s>%.10s%u", name_a, name_b, (uint8_t)i);
		a_to_b[i] = rte_ring_create(ring_name, ring_size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (a_to_b[i] == NULL)
			return -rte_errno;
		snprintf(ring_name, sizeof(ring_name), "%.10s<%.10s%u", name_a, name_b, (uint8_t)i);
		b_to_a[i] = rte_ring_create(ring_name, ring_size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (b_to_a[i] == NULL)
			return -rte_errno;
	}
	if (rte_eth_from_rings(name_a, b_to_a, nb_queues, a_to_b, nb_queues, SOCKET_ID_ANY) < 0)
		return -rte_errno;
	if (rte_eth_from_rings(name_b, a_to_b, nb_queues, b_to_a, nb_queues, SOCKET_ID_ANY) < 0)
		return -rte_errno;
	return 0;
}

int mtcp_shim_dev_info(uint16_t port, struct mtcp_shim_dev_info *out)
{
	struct rte_eth_dev_info info;
	int ret = rte_eth_dev_info_get(port, &info);

	if (ret != 0)
		return ret;
	memset(out, 0, sizeof(*out));
	out->driver_name = info.driver_name;
	out->rx_offload_capa = info.rx_offload_capa;
	out->tx_offload_capa = info.tx_offload_capa;
	out->flow_type_rss_offloads = info.flow_type_rss_offloads;
	out->max_rx_queues = info.max_rx_queues;
	out->max_tx_queues = info.max_tx_queues;
	out->reta_size = info.reta_size;
	out->hash_key_size = info.hash_key_size;
	out->rx_desc_max = info.rx_desc_lim.nb_max;
	out->rx_desc_min = info.rx_desc_lim.nb_min;
	out->tx_desc_max = info.tx_desc_lim.nb_max;
	out->tx_desc_min = info.tx_desc_lim.nb_min;
	out->min_mtu = info.min_mtu;
	out->max_mtu = info.max_mtu;
	return 0;
}

int mtcp_shim_configure(uint16_t port, uint16_t nb_queues, uint64_t rx_offloads, uint64_t tx_offloads,
			uint64_t rss_hf, const uint8_t *rss_key, uint8_t rss_key_len)
{
	struct rte_eth_conf conf;

	memset(&conf, 0, sizeof(conf));
	conf.rxmode.offloads = rx_offloads;
	conf.txmode.offloads = tx_offloads;
	conf.txmode.mq_mode = RTE_ETH_MQ_TX_NONE;
	if (rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = (uint8_t *)(uintptr_t)rss_key;
		conf.rx_adv_conf.rss_conf.rss_key_len = rss_key_len;
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
	} else {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
	}
	return rte_eth_dev_configure(port, nb_queues, nb_queues, &conf);
}

int mtcp_shim_reta_update(uint16_t port, const uint16_t *reta, uint16_t reta_size)
{
	struct rte_eth_rss_reta_entry64 conf[512 / RTE_ETH_RETA_GROUP_SIZE];
	uint16_t i;

	if (reta_size == 0 || reta_size > 512)
		return -EINVAL;
	memset(conf, 0, sizeof(conf));
	for (i = 0; i < reta_size; i++) {
		conf[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
		conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] = reta[i];
	}
	return rte_eth_dev_rss_reta_update(port, conf, reta_size);
}

int mtcp_shim_reta_query(uint16_t port, uint16_t *reta, uint16_t reta_size)
{
	struct rte_eth_rss_reta_entry64 conf[512 / RTE_ETH_RETA_GROUP_SIZE];
	uint16_t i;
	int ret;

	if (reta_size == 0 || reta_size > 512)
		return -EINVAL;
	memset(conf, 0, sizeof(conf));
	for (i = 0; i < reta_size; i++)
		conf[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
	ret = rte_eth_dev_rss_reta_query(port, conf, reta_size);
	if (ret != 0)
		return ret;
	for (i = 0; i < reta_size; i++)
		reta[i] = conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
	return 0;
}

int mtcp_shim_rss_conf_get(uint16_t port, uint8_t *key, uint8_t key_len, uint64_t *rss_hf)
{
	struct rte_eth_rss_conf conf;
	int ret;

	memset(&conf, 0, sizeof(conf));
	conf.rss_key = key;
	conf.rss_key_len = key_len;
	ret = rte_eth_dev_rss_hash_conf_get(port, &conf);
	if (ret == 0)
		*rss_hf = conf.rss_hf;
	return ret;
}

uint16_t mtcp_shim_rx_burst(uint16_t port, uint16_t queue, struct mtcp_shim_rx *out, uint16_t n,
			    uint16_t *dropped)
{
	struct rte_mbuf *pkts[MTCP_SHIM_MAX_BURST];
	uint16_t got, i, kept = 0;

	if (n > MTCP_SHIM_MAX_BURST)
		n = MTCP_SHIM_MAX_BURST;
	got = rte_eth_rx_burst(port, queue, pkts, n);
	*dropped = 0;
	for (i = 0; i < got; i++) {
		struct rte_mbuf *m = pkts[i];

		/* Chained frames only arrive when scatter is on, which we never ask for; drop any. */
		if (m->nb_segs != 1) {
			rte_pktmbuf_free(m);
			(*dropped)++;
			continue;
		}
		out[kept].mbuf = m;
		out[kept].data = rte_pktmbuf_mtod(m, uint8_t *);
		out[kept].ol_flags = m->ol_flags;
		out[kept].rss_hash = m->hash.rss;
		out[kept].len = m->data_len;
		out[kept]._pad = 0;
		kept++;
	}
	return kept;
}

uint16_t mtcp_shim_tx_burst(uint16_t port, uint16_t queue, const struct mtcp_shim_tx *in, uint16_t n)
{
	struct rte_mbuf *pkts[MTCP_SHIM_MAX_BURST];
	uint16_t i;

	if (n > MTCP_SHIM_MAX_BURST)
		n = MTCP_SHIM_MAX_BURST;
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = in[i].mbuf;

		m->data_len = in[i].len;
		m->pkt_len = in[i].len;
		m->ol_flags = (m->ol_flags & RTE_MBUF_F_EXTERNAL) | in[i].ol_flags;
		m->l2_len = in[i].l2_len;
		m->l3_len = in[i].l3_len;
		/* The device computes the IPv4 header checksum over a zero checksum field. */
		if ((in[i].ol_flags & RTE_MBUF_F_TX_IP_CKSUM) && (uint32_t)in[i].l2_len + 12 <= in[i].len) {
			uint8_t *ip = rte_pktmbuf_mtod_offset(m, uint8_t *, in[i].l2_len);

			ip[10] = 0;
			ip[11] = 0;
		}
		pkts[i] = m;
	}
	return rte_eth_tx_burst(port, queue, pkts, n);
}

int mtcp_shim_alloc_bulk(struct rte_mempool *mp, struct mtcp_shim_buf *out, uint16_t n)
{
	struct rte_mbuf *pkts[MTCP_SHIM_MAX_BURST];
	uint16_t i;
	int ret;

	if (n > MTCP_SHIM_MAX_BURST)
		return -EINVAL;
	ret = rte_pktmbuf_alloc_bulk(mp, pkts, n);
	if (ret != 0)
		return ret;
	for (i = 0; i < n; i++) {
		out[i].mbuf = pkts[i];
		out[i].data = rte_pktmbuf_mtod(pkts[i], uint8_t *);
		out[i].capacity = rte_pktmbuf_tailroom(pkts[i]);
		memset(out[i]._pad, 0, sizeof(out[i]._pad));
	}
	return 0;
}

void mtcp_shim_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

/* 1 when the calling thread already has an lcore id (an EAL thread, or registered before), 0 when
 * it has just been registered as one, a negative errno when that failed (no lcore id left). */
int mtcp_shim_lcore_register(void)
{
	if (rte_lcore_id() != LCORE_ID_ANY)
		return 1;
	if (rte_thread_register() != 0)
		return -rte_errno;
	return rte_lcore_id() != LCORE_ID_ANY ? 0 : -ENOTSUP;
}

void mtcp_shim_lcore_unregister(void)
{
	rte_thread_unregister();
}

/* The calling thread's lcore id, LCORE_ID_ANY (UINT32_MAX) for a thread without one. */
unsigned int mtcp_shim_lcore_id(void)
{
	return rte_lcore_id();
}
