/* Two listeners on one port from C, as Linux allows: 0.0.0.0:7 (AF_INET) and [::]:7 with
 * IPV6_V6ONLY; a dual-stack [::]:7 beside them fails with EADDRINUSE. An AF_INET client from
 * 198.18.0.2 lands on the first (a sockaddr_in), an AF_INET6 client from 2001:2::2 on the
 * second; bytes written by each arrive. Prints one line per fact for the Rust side to check. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <mtcp_api.h>
#include <mtcp_epoll.h>

static void
show(const char *what, const struct sockaddr *sa)
{
	char text[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof(text));
	else if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof(text));
	printf("%s %s %s\n", what, sa->sa_family == AF_INET6 ? "AF_INET6" : "AF_INET", text);
}

/* A listener of `domain` on the wildcard address, port 7; -1 with errno on failure. */
static int
listener(mctx_t mctx, int domain, int v6only)
{
	int s = mtcp_socket(mctx, domain, SOCK_STREAM, 0);
	mtcp_setsock_nonblock(mctx, s);
	if (v6only && mtcp_setsockopt(mctx, s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)))
		return -1;
	struct sockaddr_in6 any6 = { .sin6_family = AF_INET6, .sin6_port = htons(7),
				     .sin6_addr = in6addr_any };
	struct sockaddr_in any4 = { .sin_family = AF_INET, .sin_port = htons(7) };
	int r = domain == AF_INET6
		? mtcp_bind(mctx, s, (struct sockaddr *)&any6, sizeof(any6))
		: mtcp_bind(mctx, s, (struct sockaddr *)&any4, sizeof(any4));
	if (r || mtcp_listen(mctx, s, 16)) {
		int e = errno;
		mtcp_close(mctx, s);
		errno = e;
		return -1;
	}
	return s;
}

int
main(int argc, char **argv)
{
	if (argc != 2 || mtcp_init(argv[1]))
		return 2;
	mctx_t mctx = mtcp_create_context(0);
	if (!mctx)
		return 2;
	int ep = mtcp_epoll_create(mctx, 16);
	int l4 = listener(mctx, AF_INET, 0);
	int l6 = listener(mctx, AF_INET6, 1);
	if (l4 < 0 || l6 < 0) {
		printf("listen failed: %s\n", strerror(errno));
		return 1;
	}
	if (listener(mctx, AF_INET6, 0) < 0)
		printf("dual stack beside them: %s\n", errno == EADDRINUSE ? "EADDRINUSE" : strerror(errno));

	int c6 = mtcp_socket(mctx, AF_INET6, SOCK_STREAM, 0);
	mtcp_setsock_nonblock(mctx, c6);
	struct sockaddr_in6 srv6 = { .sin6_family = AF_INET6, .sin6_port = htons(7) };
	inet_pton(AF_INET6, "2001:2::1", &srv6.sin6_addr);
	if (mtcp_connect(mctx, c6, (struct sockaddr *)&srv6, sizeof(srv6)) == 0 || errno != EINPROGRESS)
		printf("connect6: %s\n", strerror(errno));
	int c4 = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	mtcp_setsock_nonblock(mctx, c4);
	struct sockaddr_in srv4 = { .sin_family = AF_INET, .sin_port = htons(7) };
	inet_pton(AF_INET, "198.18.0.1", &srv4.sin_addr);
	if (mtcp_connect(mctx, c4, (struct sockaddr *)&srv4, sizeof(srv4)) == 0 || errno != EINPROGRESS)
		printf("connect4: %s\n", strerror(errno));

	int accepted[2] = { -1, -1 }, n = 0, wrote = 0, got = 0;
	int listeners[2] = { l4, l6 };
	struct mtcp_epoll_event evs[16];
	char buf[64];
	for (int turn = 0; turn < 2000 && got < 2; turn++) {
		mtcp_epoll_wait(mctx, ep, evs, 16, 1);
		for (int i = 0; i < 2; i++) {
			struct sockaddr_in6 peer;
			socklen_t plen = sizeof(peer);
			int a = accepted[i] < 0
				? mtcp_accept(mctx, listeners[i], (struct sockaddr *)&peer, &plen)
				: -1;
			if (a >= 0) {
				show(i ? "l6 accepted" : "l4 accepted", (struct sockaddr *)&peer);
				accepted[i] = a;
				n++;
			}
		}
		if (n == 2 && !wrote)
			wrote = mtcp_write(mctx, c4, "four", 4) == 4 && mtcp_write(mctx, c6, "six", 3) == 3;
		for (int i = 0; wrote && i < 2; i++) {
			int r = mtcp_read(mctx, accepted[i], buf, sizeof(buf) - 1);
			if (r > 0) {
				buf[r] = 0;
				printf("%s read %s\n", i ? "l6" : "l4", buf);
				got++;
			}
		}
	}
	printf("done %d %d\n", n, got);
	mtcp_destroy_context(mctx);
	mtcp_destroy();
	return 0;
}
