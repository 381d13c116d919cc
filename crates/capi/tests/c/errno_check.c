/* errno and edge cases of the C API, checked from C. usage: errno_check <mtcp.conf>
 * Prints "ok <what>" or "FAIL <what>: ..." per check; exits with the number of failures. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <mtcp_api.h>
#include <mtcp_epoll.h>

static int failures;
static volatile sig_atomic_t got_signal;

static void on_usr1(int sig) { got_signal = sig; }

/* expect a call to fail with -1 and errno `want` */
#define FAILS(what, call, want) do { \
	errno = 0; \
	long r_ = (long)(call); \
	int e_ = errno; \
	if (r_ == -1 && e_ == (want)) printf("ok %s\n", what); \
	else { printf("FAIL %s: returned %ld errno %d (%s), wanted -1 %s\n", what, r_, e_, \
		strerror(e_), #want); failures++; } \
} while (0)

#define CHECK(what, cond) do { \
	if (cond) printf("ok %s\n", what); \
	else { printf("FAIL %s: errno %d (%s)\n", what, errno, strerror(errno)); failures++; } \
} while (0)

int main(int argc, char **argv)
{
	char buf[64];
	struct mtcp_conf conf;
	struct mtcp_epoll_event ev, evs[8];

	if (argc < 2)
		return 100;
	FAILS("mtcp_setconf(NULL)", mtcp_setconf(NULL), EINVAL);
	FAILS("mtcp_getconf(NULL)", mtcp_getconf(NULL), EINVAL);
	FAILS("mtcp_init(NULL)", mtcp_init(NULL), EFAULT);
	FAILS("mtcp_init(missing file)", mtcp_init("/nonexistent/mtcp.conf"), EINVAL);
	CHECK("mtcp_create_context before init is NULL", mtcp_create_context(0) == NULL);
	CHECK("mtcp_init", mtcp_init(argv[1]) == 0);
	FAILS("mtcp_init twice", mtcp_init(argv[1]), EEXIST);
	CHECK("mtcp_getconf", mtcp_getconf(&conf) == 0 && conf.num_cores == 1 &&
	      conf.rcvbuf_size == 16384 && conf.sndbuf_size == 16384);

	mctx_t mctx = mtcp_create_context(0);
	CHECK("mtcp_create_context(0)", mctx != NULL && mctx->cpu == 0);
	if (!mctx)
		return 100;
	errno = 0;
	CHECK("mtcp_create_context(0) again is NULL", mtcp_create_context(0) == NULL && errno != 0);
	errno = 0;
	CHECK("mtcp_create_context(5) is NULL/EINVAL", mtcp_create_context(5) == NULL && errno == EINVAL);

	/* bad context */
	FAILS("mtcp_socket(NULL ctx)", mtcp_socket(NULL, AF_INET, SOCK_STREAM, 0), EINVAL);
	FAILS("mtcp_epoll_create(NULL ctx)", mtcp_epoll_create(NULL, 1), EINVAL);
	FAILS("mtcp_read(NULL ctx)", mtcp_read(NULL, 0, buf, sizeof(buf)), EINVAL);

	/* bad ids */
	FAILS("mtcp_read(bad id)", mtcp_read(mctx, 999, buf, sizeof(buf)), EBADF);
	FAILS("mtcp_write(bad id)", mtcp_write(mctx, 999, buf, 1), EBADF);
	FAILS("mtcp_close(bad id)", mtcp_close(mctx, 999), EBADF);
	FAILS("mtcp_listen(bad id)", mtcp_listen(mctx, -1, 10), EBADF);
	FAILS("mtcp_accept(bad id)", mtcp_accept(mctx, 77, NULL, NULL), EBADF);

	/* socket() arguments */
	FAILS("mtcp_socket(AF_UNIX)", mtcp_socket(mctx, AF_UNIX, SOCK_STREAM, 0), EAFNOSUPPORT);
	FAILS("mtcp_socket(SOCK_DGRAM)", mtcp_socket(mctx, AF_INET, SOCK_DGRAM, 0), EINVAL);

	int s = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	CHECK("mtcp_socket", s >= 0);
	CHECK("mtcp_setsock_nonblock", mtcp_setsock_nonblock(mctx, s) == 0);

	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(9000);
	a.sin_addr.s_addr = INADDR_ANY;
	FAILS("mtcp_bind(NULL addr)", mtcp_bind(mctx, s, NULL, sizeof(a)), EINVAL);
	FAILS("mtcp_bind(short len)", mtcp_bind(mctx, s, (struct sockaddr *)&a, 4), EINVAL);
	a.sin_family = AF_INET6;
	FAILS("mtcp_bind(AF_INET6)", mtcp_bind(mctx, s, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	a.sin_family = AF_INET;
	FAILS("mtcp_listen(unbound)", mtcp_listen(mctx, s, 16), EINVAL);
	CHECK("mtcp_bind", mtcp_bind(mctx, s, (struct sockaddr *)&a, sizeof(a)) == 0);
	FAILS("mtcp_bind(already bound)", mtcp_bind(mctx, s, (struct sockaddr *)&a, sizeof(a)), EINVAL);
	FAILS("mtcp_listen(backlog 0)", mtcp_listen(mctx, s, 0), EINVAL);
	CHECK("mtcp_listen", mtcp_listen(mctx, s, 16) == 0);

	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	FAILS("mtcp_accept(empty queue)", mtcp_accept(mctx, s, (struct sockaddr *)&peer, &plen), EAGAIN);
	FAILS("mtcp_accept(NULL, NULL, empty)", mtcp_accept(mctx, s, NULL, NULL), EAGAIN);

	struct sockaddr_in name;
	socklen_t nlen = sizeof(name);
	CHECK("mtcp_getsockname", mtcp_getsockname(mctx, s, (struct sockaddr *)&name, &nlen) == 0 &&
	      nlen == sizeof(name) && name.sin_family == AF_INET && name.sin_port == htons(9000));
	FAILS("mtcp_getsockname(NULL)", mtcp_getsockname(mctx, s, NULL, &nlen), EINVAL);

	int s2 = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	FAILS("mtcp_accept(not listening)", mtcp_accept(mctx, s2, NULL, NULL), EINVAL);
	FAILS("mtcp_connect(NULL addr)", mtcp_connect(mctx, s2, NULL, sizeof(a)), EFAULT);
	a.sin_family = AF_INET6;
	FAILS("mtcp_connect(AF_INET6)", mtcp_connect(mctx, s2, (struct sockaddr *)&a, sizeof(a)), EAFNOSUPPORT);
	a.sin_family = AF_INET;
	FAILS("mtcp_read(not connected)", mtcp_read(mctx, s2, buf, sizeof(buf)), ENOTCONN);
	FAILS("mtcp_write(not connected)", mtcp_write(mctx, s2, buf, 1), ENOTCONN);
	FAILS("mtcp_getpeername(not connected)",
	      mtcp_getpeername(mctx, s2, (struct sockaddr *)&peer, &plen), ENOTCONN);
	FAILS("mtcp_read(NULL buf)", mtcp_read(mctx, s2, NULL, 10), EFAULT);
	FAILS("mtcp_readv(-1 iovecs)", mtcp_readv(mctx, s2, NULL, -1), EINVAL);

	/* options and ioctl */
	int v = -1;
	socklen_t vlen = sizeof(v);
	CHECK("getsockopt(SO_ERROR) = 0",
	      mtcp_getsockopt(mctx, s2, SOL_SOCKET, SO_ERROR, &v, &vlen) == 0 && v == 0 && vlen == sizeof(int));
	FAILS("getsockopt(NULL optval)", mtcp_getsockopt(mctx, s2, SOL_SOCKET, SO_ERROR, NULL, &vlen), EFAULT);
	FAILS("getsockopt(unknown)", mtcp_getsockopt(mctx, s2, SOL_SOCKET, SO_PEERCRED, &v, &vlen), ENOPROTOOPT);
	v = 1;
	CHECK("setsockopt(TCP_NODELAY)", mtcp_setsockopt(mctx, s2, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) == 0);
	v = 0;
	vlen = sizeof(v);
	CHECK("getsockopt(TCP_NODELAY) = 1",
	      mtcp_getsockopt(mctx, s2, IPPROTO_TCP, TCP_NODELAY, &v, &vlen) == 0 && v == 1);
	v = 32768;
	CHECK("setsockopt(SO_RCVBUF)", mtcp_setsockopt(mctx, s2, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) == 0);
	v = 0;
	CHECK("getsockopt(SO_RCVBUF)",
	      mtcp_getsockopt(mctx, s2, SOL_SOCKET, SO_RCVBUF, &v, &vlen) == 0 && v == 32768);
	FAILS("setsockopt(NULL optval)", mtcp_setsockopt(mctx, s2, SOL_SOCKET, SO_RCVBUF, NULL, 4), EFAULT);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	CHECK("setsockopt(SO_LINGER)", mtcp_setsockopt(mctx, s2, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
	FAILS("setsockopt(SO_LINGER, short)", mtcp_setsockopt(mctx, s2, SOL_SOCKET, SO_LINGER, &lg, sizeof(int)), EINVAL);
	lg.l_linger = -1;
	FAILS("setsockopt(SO_LINGER, negative)", mtcp_setsockopt(mctx, s2, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), EINVAL);
	FAILS("ioctl(FIONREAD, NULL)", mtcp_socket_ioctl(mctx, s2, FIONREAD, NULL), EFAULT);
	FAILS("ioctl(unknown request)", mtcp_socket_ioctl(mctx, s2, 0x1234, &v), EINVAL);
	v = 99;
	CHECK("ioctl(FIONREAD) = 0", mtcp_socket_ioctl(mctx, s2, FIONREAD, &v) == 0 && v == 0);

	/* AF_INET6: sockaddr_in6 in and out, IPV6_V6ONLY as Linux */
	int s6 = mtcp_socket(mctx, AF_INET6, SOCK_STREAM, 0);
	CHECK("mtcp_socket(AF_INET6)", s6 >= 0);
	struct sockaddr_in6 a6;
	memset(&a6, 0, sizeof(a6));
	a6.sin6_family = AF_INET6;
	a6.sin6_port = htons(9006);
	a6.sin6_addr = in6addr_any;
	FAILS("mtcp_bind(v6 socket, sockaddr_in length)", mtcp_bind(mctx, s6, (struct sockaddr *)&a6, sizeof(struct sockaddr_in)), EINVAL);
	FAILS("mtcp_bind(v6 socket, AF_INET address)", mtcp_bind(mctx, s6, (struct sockaddr *)&a, sizeof(a6)), EINVAL);
	FAILS("setsockopt(IPV6_V6ONLY) on AF_INET", mtcp_setsockopt(mctx, s2, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)), ENOPROTOOPT);
	v = 1;
	CHECK("setsockopt(IPV6_V6ONLY)", mtcp_setsockopt(mctx, s6, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)) == 0);
	CHECK("mtcp_bind([::]:9006)", mtcp_bind(mctx, s6, (struct sockaddr *)&a6, sizeof(a6)) == 0);
	FAILS("setsockopt(IPV6_V6ONLY) after bind", mtcp_setsockopt(mctx, s6, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)), EINVAL);
	v = 0;
	vlen = sizeof(v);
	CHECK("getsockopt(IPV6_V6ONLY) = 1",
	      mtcp_getsockopt(mctx, s6, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vlen) == 0 && v == 1);
	CHECK("mtcp_listen(v6)", mtcp_listen(mctx, s6, 16) == 0);
	struct sockaddr_in6 n6;
	socklen_t n6len = sizeof(n6);
	memset(&n6, 0xff, sizeof(n6));
	CHECK("mtcp_getsockname(v6) is sockaddr_in6 [::]:9006",
	      mtcp_getsockname(mctx, s6, (struct sockaddr *)&n6, &n6len) == 0 && n6len == sizeof(n6) &&
	      n6.sin6_family == AF_INET6 && n6.sin6_port == htons(9006) &&
	      memcmp(&n6.sin6_addr, &in6addr_any, sizeof(n6.sin6_addr)) == 0);
	int c6 = mtcp_socket(mctx, AF_INET6, SOCK_STREAM, 0);
	FAILS("mtcp_connect(v6 socket, AF_INET address)", mtcp_connect(mctx, c6, (struct sockaddr *)&a, sizeof(a6)), EAFNOSUPPORT);
	inet_pton(AF_INET6, "2001:db8::1", &a6.sin6_addr);
	FAILS("mtcp_connect(v6, no route)", mtcp_connect(mctx, c6, (struct sockaddr *)&a6, sizeof(a6)), ENETUNREACH);
	mtcp_close(mctx, c6);
	mtcp_close(mctx, s6);

	/* epoll */
	FAILS("mtcp_epoll_create(0)", mtcp_epoll_create(mctx, 0), EINVAL);
	FAILS("mtcp_epoll_create1(bad flags)", mtcp_epoll_create1(mctx, 0x4), EINVAL);
	int ep = mtcp_epoll_create(mctx, 16);
	CHECK("mtcp_epoll_create", ep >= 0);
	ev.events = MTCP_EPOLLIN;
	ev.data.sockid = s;
	FAILS("epoll_ctl(bad op)", mtcp_epoll_ctl(mctx, ep, 7, s, &ev), EINVAL);
	FAILS("epoll_ctl(bad epid)", mtcp_epoll_ctl(mctx, 500, MTCP_EPOLL_CTL_ADD, s, &ev), EBADF);
	FAILS("epoll_ctl(MOD unknown)", mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_MOD, s, &ev), ENOENT);
	CHECK("epoll_ctl(ADD)", mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, s, &ev) == 0);
	FAILS("epoll_ctl(ADD twice)", mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, s, &ev), EEXIST);
	FAILS("epoll_wait(maxevents 0)", mtcp_epoll_wait(mctx, ep, evs, 0, 0), EINVAL);
	FAILS("epoll_wait(bad epid)", mtcp_epoll_wait(mctx, 500, evs, 8, 0), EBADF);
	CHECK("epoll_wait(poll) = 0 on idle listener", mtcp_epoll_wait(mctx, ep, evs, 8, 0) == 0);
	CHECK("epoll_wait(20 ms) = 0 on idle listener", mtcp_epoll_wait(mctx, ep, evs, 8, 20) == 0);

	/* pipe with epoll */
	int p[2] = { -1, -1 };
	FAILS("mtcp_pipe(NULL)", mtcp_pipe(mctx, NULL), EFAULT);
	CHECK("mtcp_pipe", mtcp_pipe(mctx, p) == 0 && p[0] >= 0 && p[1] >= 0 && p[0] != p[1]);
	FAILS("pipe read empty", mtcp_read(mctx, p[0], buf, sizeof(buf)), EAGAIN);
	ev.events = MTCP_EPOLLIN;
	ev.data.u64 = 0xabcdef0012345678ULL;
	CHECK("epoll_ctl(ADD pipe)", mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, p[0], &ev) == 0);
	CHECK("pipe write", mtcp_write(mctx, p[1], "abc", 3) == 3);
	memset(evs, 0, sizeof(evs));
	int n = mtcp_epoll_wait(mctx, ep, evs, 8, 100);
	CHECK("epoll_wait reports the pipe with its data",
	      n == 1 && evs[0].events == MTCP_EPOLLIN && evs[0].data.u64 == 0xabcdef0012345678ULL);
	v = 0;
	CHECK("ioctl(FIONREAD) on pipe = 3", mtcp_socket_ioctl(mctx, p[0], FIONREAD, &v) == 0 && v == 3);
	char two[2], one[8];
	struct iovec iov[2] = { { two, sizeof(two) }, { one, sizeof(one) } };
	CHECK("mtcp_readv from pipe", mtcp_readv(mctx, p[0], iov, 2) == 3 &&
	      memcmp(two, "ab", 2) == 0 && one[0] == 'c');
	struct iovec wv[2] = { { "xy", 2 }, { "z", 1 } };
	CHECK("mtcp_writev to pipe", mtcp_writev(mctx, p[1], wv, 2) == 3);
	CHECK("mtcp_read from pipe", mtcp_read(mctx, p[0], buf, sizeof(buf)) == 3 && memcmp(buf, "xyz", 3) == 0);
	CHECK("epoll_ctl(DEL pipe, NULL event)", mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_DEL, p[0], NULL) == 0);
	CHECK("close pipe ends", mtcp_close(mctx, p[1]) == 0 && mtcp_close(mctx, p[0]) == 0);

	/* EventToString */
	CHECK("EventToString(IN|OUT)", strcmp(EventToString(MTCP_EPOLLIN | MTCP_EPOLLOUT), "EPOLLIN|EPOLLOUT") == 0);
	CHECK("EventToString(ET)", strcmp(EventToString(MTCP_EPOLLET), "EPOLLET") == 0);

	/* a registered signal makes epoll_wait fail with EINTR once, and calls the handler */
	CHECK("mtcp_register_signal returns no previous handler",
	      mtcp_register_signal(SIGUSR1, on_usr1) == NULL);
	CHECK("mtcp_register_signal returns the previous handler",
	      mtcp_register_signal(SIGUSR1, on_usr1) == on_usr1);
	raise(SIGUSR1);
	FAILS("epoll_wait after a signal", mtcp_epoll_wait(mctx, ep, evs, 8, 1000), EINTR);
	CHECK("handler called", got_signal == SIGUSR1);
	CHECK("epoll_wait after EINTR is quiet again", mtcp_epoll_wait(mctx, ep, evs, 8, 0) == 0);

	/* a refused connect: -1/EINPROGRESS, EALREADY, then EPOLLERR with SO_ERROR ECONNREFUSED */
	int c = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in dst;
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_addr.s_addr = inet_addr("198.18.0.1");
	dst.sin_port = htons(9999);
	FAILS("mtcp_connect(non-blocking)", mtcp_connect(mctx, c, (struct sockaddr *)&dst, sizeof(dst)), EINPROGRESS);
	FAILS("mtcp_connect(again)", mtcp_connect(mctx, c, (struct sockaddr *)&dst, sizeof(dst)), EALREADY);
	ev.events = MTCP_EPOLLOUT;
	ev.data.sockid = c;
	CHECK("epoll_ctl(ADD connecting)", mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, c, &ev) == 0);
	n = 0;
	for (int i = 0; i < 100 && n == 0; i++)
		n = mtcp_epoll_wait(mctx, ep, evs, 8, 20);
	CHECK("refused connect reports EPOLLERR", n == 1 && evs[0].data.sockid == c &&
	      (evs[0].events & MTCP_EPOLLERR));
	v = 0;
	vlen = sizeof(v);
	CHECK("getsockopt(SO_ERROR) = ECONNREFUSED",
	      mtcp_getsockopt(mctx, c, SOL_SOCKET, SO_ERROR, &v, &vlen) == 0 && v == ECONNREFUSED);
	CHECK("mtcp_close(refused)", mtcp_close(mctx, c) == 0);

	CHECK("mtcp_close(listener)", mtcp_close(mctx, s) == 0);
	FAILS("mtcp_close(closed)", mtcp_close(mctx, s), EBADF);
	mtcp_destroy_context(mctx);
	mtcp_destroy();
	printf("failures: %d\n", failures);
	return failures;
}
