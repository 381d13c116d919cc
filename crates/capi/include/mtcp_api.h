/*
 * mtcp_api.h - mTCP's application interface, as provided by the Rust reimplementation's
 * libmtcp (crate mtcp-capi). Hand-written to match mTCP 3.0's header: same types, same
 * constants, same functions (plus mtcp_abort, which mTCP defines but does not declare).
 *
 * Every int-returning call returns -1 and sets errno on failure.
 */
#ifndef MTCP_API_H
#define MTCP_API_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/uio.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifndef UNUSED
#define UNUSED(x)	(void)x
#endif

#ifndef INPORT_ANY
#define INPORT_ANY	(uint16_t)0
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum socket_type
{
	MTCP_SOCK_UNUSED,
	MTCP_SOCK_STREAM,
	MTCP_SOCK_PROXY,
	MTCP_SOCK_LISTENER,
	MTCP_SOCK_EPOLL,
	MTCP_SOCK_PIPE,
};

struct mtcp_conf
{
	int num_cores;
	int max_concurrency;

	int max_num_buffers;
	int rcvbuf_size;
	int sndbuf_size;

	int tcp_timewait;
	int tcp_timeout;
};

/* The per-core context. Only `cpu` is visible; the library keeps the rest behind it. */
struct mtcp_context
{
	int cpu;
};

typedef struct mtcp_context *mctx_t;

int
mtcp_init(const char *config_file);

void
mtcp_destroy(void);

int
mtcp_getconf(struct mtcp_conf *conf);

int
mtcp_setconf(const struct mtcp_conf *conf);

int
mtcp_core_affinitize(int cpu);

mctx_t
mtcp_create_context(int cpu);

void
mtcp_destroy_context(mctx_t mctx);

typedef void (*mtcp_sighandler_t)(int);

mtcp_sighandler_t
mtcp_register_signal(int signum, mtcp_sighandler_t handler);

int
mtcp_pipe(mctx_t mctx, int pipeid[2]);

int
mtcp_getsockopt(mctx_t mctx, int sockid, int level,
		int optname, void *optval, socklen_t *optlen);

int
mtcp_setsockopt(mctx_t mctx, int sockid, int level,
		int optname, const void *optval, socklen_t optlen);

int
mtcp_setsock_nonblock(mctx_t mctx, int sockid);

/* mtcp_socket_ioctl: only FIONREAD and FIONBIO are supported */
int
mtcp_socket_ioctl(mctx_t mctx, int sockid, int request, void *argp);

int
mtcp_socket(mctx_t mctx, int domain, int type, int protocol);

int
mtcp_bind(mctx_t mctx, int sockid,
		const struct sockaddr *addr, socklen_t addrlen);

int
mtcp_listen(mctx_t mctx, int sockid, int backlog);

int
mtcp_accept(mctx_t mctx, int sockid, struct sockaddr *addr, socklen_t *addrlen);

int
mtcp_init_rss(mctx_t mctx, in_addr_t saddr_base, int num_addr,
		in_addr_t daddr, in_addr_t dport);

int
mtcp_connect(mctx_t mctx, int sockid,
		const struct sockaddr *addr, socklen_t addrlen);

int
mtcp_close(mctx_t mctx, int sockid);

/* Sends a RST and frees the id at once (defined by mTCP, declared here too). */
int
mtcp_abort(mctx_t mctx, int sockid);

/** Returns either length of data read or errno */
ssize_t
mtcp_read(mctx_t mctx, int sockid, char *buf, size_t len);

ssize_t
mtcp_recv(mctx_t mctx, int sockid, char *buf, size_t len, int flags);

/* readv should work in atomic */
int
mtcp_readv(mctx_t mctx, int sockid, const struct iovec *iov, int numIOV);

/** Returns either length of data written or errno */
ssize_t
mtcp_write(mctx_t mctx, int sockid, const char *buf, size_t len);

/* writev should work in atomic */
int
mtcp_writev(mctx_t mctx, int sockid, const struct iovec *iov, int numIOV);

int
mtcp_getsockname(mctx_t mctx, int sockid, struct sockaddr *addr, socklen_t *addrlen);

int
mtcp_getpeername(mctx_t mctx, int sockid, struct sockaddr *addr, socklen_t *addrlen);

#ifdef __cplusplus
};
#endif

#endif /* MTCP_API_H */
