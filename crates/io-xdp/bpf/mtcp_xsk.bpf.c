/* XDP program of mtcp-io-xdp for a shared interface (`xdp_pass_foreign = 1`): frames for our
 * stack go to the AF_XDP socket of their receive queue, everything else to the kernel.
 * Ours: IPv4 to one of our addresses, and ARP whose target address is ours (ARP for the host's
 * own addresses stays with the host). Built with clang at compile time (build.rs). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_ADDRS 8

struct mtcp_cfg {
	__u32 addrs[MAX_ADDRS]; /* network order; 0 = unused */
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mtcp_cfg);
} mtcp_cfg_map SEC(".maps");

static __always_inline int is_ours(const struct mtcp_cfg *cfg, __u32 addr)
{
#pragma unroll
	for (int i = 0; i < MAX_ADDRS; i++)
		if (cfg->addrs[i] && cfg->addrs[i] == addr)
			return 1;
	return 0;
}

SEC("xdp")
int mtcp_xsk_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	const struct mtcp_cfg *cfg = bpf_map_lookup_elem(&mtcp_cfg_map, &zero);
	struct ethhdr *eth = data;
	__u32 target;

	if (!cfg || (void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
		/* Ethernet/IPv4 ARP: the target protocol address is at byte 24 of the ARP body. */
		__u8 *arp = (void *)(eth + 1);
		if ((void *)(arp + 28) > end)
			return XDP_PASS;
		__builtin_memcpy(&target, arp + 24, 4);
	} else if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		target = ip->daddr;
	} else {
		return XDP_PASS;
	}
	if (!is_ours(cfg, target))
		return XDP_PASS;
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
