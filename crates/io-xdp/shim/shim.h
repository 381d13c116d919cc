#ifndef MTCP_XDP_SHIM_H
#define MTCP_XDP_SHIM_H
#include <stdint.h>

struct mtcp_xdp_prog;
struct mtcp_xsk;

struct mtcp_xsk_config {
	const char *ifname;
	uint32_t queue_id;
	uint32_t frame_count;
	uint32_t frame_size;
	uint32_t fill_size;
	uint32_t comp_size;
	uint32_t rx_size;
	uint32_t tx_size;
	uint16_t bind_flags;
};

#include <stddef.h>

/* Must match MAX_ADDRS in bpf/mtcp_xsk.bpf.c. */
#define MTCP_XDP_MAX_ADDRS 8

int mtcp_xdp_prog_attach(int ifindex, unsigned int xdp_flags, int frags,
			 struct mtcp_xdp_prog **out);
int mtcp_xdp_prog_attach_filter(int ifindex, unsigned int xdp_flags, int frags,
				const void *obj_bytes, size_t obj_len, const uint32_t *addrs,
				unsigned int n_addrs, struct mtcp_xdp_prog **out);
void mtcp_xdp_prog_detach(struct mtcp_xdp_prog *p);
int mtcp_xsk_open(const struct mtcp_xsk_config *c, struct mtcp_xdp_prog *prog,
		  struct mtcp_xsk **out);
void mtcp_xsk_close(struct mtcp_xsk *x);
unsigned char *mtcp_xsk_area(const struct mtcp_xsk *x);
int mtcp_xsk_fd(const struct mtcp_xsk *x);
unsigned int mtcp_xsk_fill(struct mtcp_xsk *x, const uint64_t *addrs, unsigned int n);
unsigned int mtcp_xsk_complete(struct mtcp_xsk *x, uint64_t *addrs, unsigned int n);
unsigned int mtcp_xsk_rx(struct mtcp_xsk *x, uint64_t *addrs, uint32_t *lens, uint32_t *opts,
			 unsigned int n, unsigned int max_pkts);
unsigned int mtcp_xsk_tx(struct mtcp_xsk *x, const uint64_t *addrs, const uint32_t *lens,
			 const uint32_t *opts, unsigned int n);
unsigned int mtcp_xsk_rx_ready(struct mtcp_xsk *x);
unsigned int mtcp_xsk_rx_backlog(struct mtcp_xsk *x);
int mtcp_xsk_fill_needs_wakeup(const struct mtcp_xsk *x);
int mtcp_xsk_tx_needs_wakeup(const struct mtcp_xsk *x);
unsigned int mtcp_xsk_tx_pending(const struct mtcp_xsk *x);
int mtcp_xsk_zero_copy(const struct mtcp_xsk *x);
int mtcp_xsk_kernel_stats(const struct mtcp_xsk *x, uint64_t out[6]);
#endif
