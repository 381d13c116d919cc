/* A thin C layer over libxdp/libbpf for mtcp-io-xdp: the XDP program's attachment through a
 * bpf_link (so the kernel detaches it when the process ends, however it ends), and one AF_XDP
 * socket with its own UMEM, driven in bursts. libxdp's ring accessors are static inline
 * functions, which Rust cannot call; everything here is a plain function over an opaque handle.
 * Errors are returned as negative errno values. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "shim.h"

/* Multi-buffer AF_XDP (Linux 6.6), missing from older uapi headers. */
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif
/* Linux 6.17: how many TX descriptors one send call takes in copy mode (default 32). */
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9
#endif

struct mtcp_xdp_prog {
	struct xdp_program *prog; /* libxdp's default program, or */
	struct bpf_object *own;   /* our filtering program */
	int link_fd;
	int map_fd;
};

static int warnings_only(enum libbpf_print_level level, const char *fmt, va_list args);

/* Loads `obj`'s program `name` into the kernel, finds its `xsks_map` and attaches the program
 * to `ifindex` through a bpf_link. */
static int load_and_link(struct mtcp_xdp_prog *p, struct bpf_object *obj, const char *name,
			 int ifindex, unsigned int xdp_flags, int frags)
{
	struct bpf_program *bp = bpf_object__find_program_by_name(obj, name);
	if (!bp)
		return -ENOENT;
	/* Frames larger than a page arrive in fragments: the program must say it copes (it only
	 * reads the first fragment's headers), or the driver refuses such an MTU (veth: ERANGE). */
	if (frags)
		bpf_program__set_flags(bp, bpf_program__flags(bp) | BPF_F_XDP_HAS_FRAGS);
	int err = bpf_object__load(obj);
	if (err)
		return err < 0 ? err : -EINVAL;
	p->map_fd = bpf_object__find_map_fd_by_name(obj, "xsks_map");
	if (p->map_fd < 0)
		return p->map_fd;
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = xdp_flags);
	p->link_fd = bpf_link_create(bpf_program__fd(bp), ifindex, BPF_XDP, &opts);
	if (p->link_fd < 0)
		return p->link_fd < -1 ? p->link_fd : -errno;
	return 0;
}

int mtcp_xdp_prog_attach_filter(int ifindex, unsigned int xdp_flags, int frags,
				const void *obj_bytes, size_t obj_len, const uint32_t *addrs,
				unsigned int n_addrs, struct mtcp_xdp_prog **out)
{
	uint32_t cfg[MTCP_XDP_MAX_ADDRS] = { 0 };
	if (n_addrs > MTCP_XDP_MAX_ADDRS)
		return -E2BIG;
	memcpy(cfg, addrs, n_addrs * sizeof(uint32_t));
	libbpf_set_print(warnings_only);
	struct mtcp_xdp_prog *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->own = bpf_object__open_mem(obj_bytes, obj_len, NULL);
	long err = libbpf_get_error(p->own);
	if (err) {
		free(p);
		return err < 0 ? (int)err : -EINVAL;
	}
	err = load_and_link(p, p->own, "mtcp_xsk_filter", ifindex, xdp_flags, frags);
	if (!err) {
		uint32_t zero = 0;
		int cfg_fd = bpf_object__find_map_fd_by_name(p->own, "mtcp_cfg_map");
		err = cfg_fd < 0 ? cfg_fd : bpf_map_update_elem(cfg_fd, &zero, cfg, BPF_ANY);
		if (err) {
			err = err < -1 ? err : -errno;
			close(p->link_fd);
		}
	}
	if (err) {
		bpf_object__close(p->own);
		free(p);
		return (int)err;
	}
	*out = p;
	return 0;
}

/* libbpf and libxdp report at info level that they skip the sections libxdp's dispatcher
 * metadata lives in; only warnings are worth a line on stderr. */
static int warnings_only(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

static int xdp_warnings_only(enum libxdp_print_level level, const char *fmt, va_list args)
{
	return level == LIBXDP_WARN ? vfprintf(stderr, fmt, args) : 0;
}

int mtcp_xdp_prog_attach(int ifindex, unsigned int xdp_flags, int frags,
			 struct mtcp_xdp_prog **out)
{
	libbpf_set_print(warnings_only);
	libxdp_set_print(xdp_warnings_only);
	struct mtcp_xdp_prog *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	/* libxdp's default AF_XDP program: redirects a frame to the socket bound to its receive
	 * queue, passes it to the kernel when that queue has none. Found on libxdp's object path. */
	p->prog = xdp_program__find_file("xsk_def_xdp_prog.o", NULL, NULL);
	long err = libxdp_get_error(p->prog);
	if (err) {
		free(p);
		return err < 0 ? (int)err : -ENOENT;
	}
	err = load_and_link(p, xdp_program__bpf_obj(p->prog), "xsk_def_prog", ifindex, xdp_flags,
			    frags);
	if (err) {
		xdp_program__close(p->prog);
		free(p);
		return (int)err;
	}
	*out = p;
	return 0;
}

void mtcp_xdp_prog_detach(struct mtcp_xdp_prog *p)
{
	if (!p)
		return;
	close(p->link_fd);
	if (p->prog)
		xdp_program__close(p->prog);
	if (p->own)
		bpf_object__close(p->own);
	free(p);
}

struct mtcp_xsk {
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	void *area;
	size_t area_len;
};

int mtcp_xsk_open(const struct mtcp_xsk_config *c, struct mtcp_xdp_prog *prog,
		  struct mtcp_xsk **out)
{
	struct mtcp_xsk *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->area_len = (size_t)c->frame_count * c->frame_size;
	x->area = mmap(NULL, x->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x->area == MAP_FAILED) {
		free(x);
		return -ENOMEM;
	}
	struct xsk_umem_config ucfg = {
		.fill_size = c->fill_size,
		.comp_size = c->comp_size,
		.frame_size = c->frame_size,
		.frame_headroom = 0,
		.flags = 0,
	};
	int err = xsk_umem__create(&x->umem, x->area, x->area_len, &x->fill, &x->comp, &ucfg);
	if (err)
		goto unmap;
	struct xsk_socket_config scfg = {
		.rx_size = c->rx_size,
		.tx_size = c->tx_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = 0,
		.bind_flags = c->bind_flags,
	};
	err = xsk_socket__create(&x->xsk, c->ifname, c->queue_id, x->umem, &x->rx, &x->tx, &scfg);
	if (err)
		goto umem;
	err = xsk_socket__update_xskmap(x->xsk, prog->map_fd);
	if (err)
		goto sock;
	/* In copy mode a send call takes at most 32 descriptors and answers EAGAIN while more
	 * wait: let one call take the whole TX ring instead, a syscall per burst rather than one
	 * per 32 frames. Kernels before 6.17 refuse the option; they keep the default. */
	unsigned int budget = c->tx_size;
	(void)setsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget,
			 sizeof(budget));
	*out = x;
	return 0;
sock:
	xsk_socket__delete(x->xsk);
umem:
	xsk_umem__delete(x->umem);
unmap:
	munmap(x->area, x->area_len);
	free(x);
	return err < 0 ? err : -EINVAL;
}

void mtcp_xsk_close(struct mtcp_xsk *x)
{
	if (!x)
		return;
	xsk_socket__delete(x->xsk);
	xsk_umem__delete(x->umem);
	munmap(x->area, x->area_len);
	free(x);
}

unsigned char *mtcp_xsk_area(const struct mtcp_xsk *x)
{
	return x->area;
}

int mtcp_xsk_fd(const struct mtcp_xsk *x)
{
	return xsk_socket__fd(x->xsk);
}

unsigned int mtcp_xsk_fill(struct mtcp_xsk *x, const uint64_t *addrs, unsigned int n)
{
	uint32_t idx;
	unsigned int got = xsk_ring_prod__reserve(&x->fill, n, &idx);
	for (unsigned int i = 0; i < got; i++)
		*xsk_ring_prod__fill_addr(&x->fill, idx + i) = addrs[i];
	if (got)
		xsk_ring_prod__submit(&x->fill, got);
	return got;
}

unsigned int mtcp_xsk_complete(struct mtcp_xsk *x, uint64_t *addrs, unsigned int n)
{
	uint32_t idx;
	unsigned int got = xsk_ring_cons__peek(&x->comp, n, &idx);
	for (unsigned int i = 0; i < got; i++)
		addrs[i] = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
	if (got)
		xsk_ring_cons__release(&x->comp, got);
	return got;
}

unsigned int mtcp_xsk_rx(struct mtcp_xsk *x, uint64_t *addrs, uint32_t *lens, uint32_t *opts,
			 unsigned int n, unsigned int max_pkts)
{
	uint32_t idx;
	unsigned int got = xsk_ring_cons__peek(&x->rx, n, &idx);
	unsigned int take = 0, pkts = 0;
	for (unsigned int i = 0; i < got && pkts < max_pkts; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);
		addrs[i] = d->addr;
		lens[i] = d->len;
		opts[i] = d->options;
		if (!(d->options & XDP_PKT_CONTD)) {
			pkts++;
			take = i + 1;
		}
	}
	/* Only whole frames leave the ring: a frame's last fragments may be in the next burst. */
	if (got > take)
		xsk_ring_cons__cancel(&x->rx, got - take);
	if (take)
		xsk_ring_cons__release(&x->rx, take);
	return take;
}

unsigned int mtcp_xsk_tx(struct mtcp_xsk *x, const uint64_t *addrs, const uint32_t *lens,
			 const uint32_t *opts, unsigned int n)
{
	uint32_t idx;
	unsigned int got = xsk_ring_prod__reserve(&x->tx, n, &idx);
	for (unsigned int i = 0; i < got; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + i);
		d->addr = addrs[i];
		d->len = lens[i];
		d->options = opts[i];
	}
	if (got)
		xsk_ring_prod__submit(&x->tx, got);
	return got;
}

/* Descriptors waiting in the RX ring (a look at the kernel's producer index, no syscall). */
unsigned int mtcp_xsk_rx_ready(struct mtcp_xsk *x)
{
	return xsk_cons_nb_avail(&x->rx, 1);
}

/* Descriptors the kernel has put on the RX ring that we have not taken: the receive backlog,
 * from a fresh read of the producer index (no syscall). */
unsigned int mtcp_xsk_rx_backlog(struct mtcp_xsk *x)
{
	x->rx.cached_prod = __atomic_load_n(x->rx.producer, __ATOMIC_ACQUIRE);
	return x->rx.cached_prod - x->rx.cached_cons;
}

int mtcp_xsk_fill_needs_wakeup(const struct mtcp_xsk *x)
{
	return xsk_ring_prod__needs_wakeup(&x->fill);
}

int mtcp_xsk_tx_needs_wakeup(const struct mtcp_xsk *x)
{
	return xsk_ring_prod__needs_wakeup(&x->tx);
}

/* Descriptors in the TX ring the kernel has not taken yet. In copy mode the TX ring always asks
 * for a wakeup; a kick is only worth its syscall while this is not zero. */
unsigned int mtcp_xsk_tx_pending(const struct mtcp_xsk *x)
{
	return x->tx.cached_prod - __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE);
}

/* Reads back the bind mode the kernel granted: XDP_OPTIONS reports zero copy. */
int mtcp_xsk_zero_copy(const struct mtcp_xsk *x)
{
	struct xdp_options opts;
	socklen_t len = sizeof(opts);
	if (getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_OPTIONS, &opts, &len))
		return -errno;
	return (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
}

/* The kernel's drop counters of the socket (XDP_STATISTICS), in the order of struct
 * xdp_statistics: rx_dropped, rx_invalid_descs, tx_invalid_descs, rx_ring_full,
 * rx_fill_ring_empty_descs, tx_ring_empty_descs. */
int mtcp_xsk_kernel_stats(const struct mtcp_xsk *x, uint64_t out[6])
{
	struct xdp_statistics st;
	socklen_t len = sizeof(st);
	memset(&st, 0, sizeof(st));
	if (getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_STATISTICS, &st, &len))
		return -errno;
	uint64_t v[6] = { st.rx_dropped, st.rx_invalid_descs, st.tx_invalid_descs,
			  st.rx_ring_full, st.rx_fill_ring_empty_descs, st.tx_ring_empty_descs };
	memcpy(out, v, sizeof(v));
	return 0;
}
