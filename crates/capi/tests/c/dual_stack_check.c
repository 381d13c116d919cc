/* AF_INET6 from C with traffic: one context, two in-memory ports. A listener on [::]:7 (dual
 * stack) accepts an AF_INET6 client from 2001:2::2 and an AF_INET client from 198.18.0.2, the
 * latter shown as ::ffff:198.18.0.2 in a sockaddr_in6; bytes written by each client arrive.
 * Prints one line per fact for the Rust side to check. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include <mtcp_api.h>
#include <mtcp_epoll.h>

static void
show(const char *what, const struct sockaddr *sa)
{
	char text[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof(text));
		printf("%s AF_INET6 %s\n", what, text);
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, text, sizeof(text));
		printf("%s AF_INET %s\n", what, text);
	} else {
		printf("%s family %d\n", what, sa->sa_family);
	}
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
	int l = mtcp_socket(mctx, AF_INET6, SOCK_STREAM, 0);
	mtcp_setsock_nonblock(mctx, l);
	struct sockaddr_in6 any6;
	memset(&any6, 0, sizeof(any6));
	any6.sin6_family = AF_INET6;
	any6.sin6_port = htons(7);
	any6.sin6_addr = in6addr_any;
	if (mtcp_bind(mctx, l, (struct sockaddr *)&any6, sizeof(any6)) || mtcp_listen(mctx, l, 16)) {
		printf("listen failed: %s\n", strerror(errno));
		return 1;
	}
	struct mtcp_epoll_event ev = { .events = MTCP_EPOLLIN, .data.sockid = l };
	mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, l, &ev);

	int c6 = mtcp_socket(mctx, AF_INET6, SOCK_STREAM, 0);
	mtcp_setsock_nonblock(mctx, c6);
	struct sockaddr_in6 srv6 = any6;
	inet_pton(AF_INET6, "2001:2::1", &srv6.sin6_addr);
	if (mtcp_connect(mctx, c6, (struct sockaddr *)&srv6, sizeof(srv6)) == 0 || errno != EINPROGRESS)
		printf("connect6: %s\n", strerror(errno));
	int c4 = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	mtcp_setsock_nonblock(mctx, c4);
	struct sockaddr_in srv4;
	memset(&srv4, 0, sizeof(srv4));
	srv4.sin_family = AF_INET;
	srv4.sin_port = htons(7);
	inet_pton(AF_INET, "198.18.0.1", &srv4.sin_addr);
	if (mtcp_connect(mctx, c4, (struct sockaddr *)&srv4, sizeof(srv4)) == 0 || errno != EINPROGRESS)
		printf("connect4: %s\n", strerror(errno));

	int accepted[2], n = 0, wrote = 0, got = 0;
	struct mtcp_epoll_event evs[16];
	char buf[64];
	for (int turn = 0; turn < 2000 && got < 2; turn++) {
		mtcp_epoll_wait(mctx, ep, evs, 16, 1);
		while (n < 2) {
			struct sockaddr_in6 peer;
			socklen_t plen = sizeof(peer);
			int a = mtcp_accept(mctx, l, (struct sockaddr *)&peer, &plen);
			if (a < 0)
				break;
			show(plen == sizeof(peer) ? "accepted" : "accepted-short-len", (struct sockaddr *)&peer);
			accepted[n++] = a;
		}
		if (n == 2 && !wrote) {
			struct sockaddr_in6 name;
			socklen_t nlen = sizeof(name);
			mtcp_getsockname(mctx, c6, (struct sockaddr *)&name, &nlen);
			show("client6 name", (struct sockaddr *)&name);
			nlen = sizeof(name);
			mtcp_getpeername(mctx, c4, (struct sockaddr *)&name, &nlen);
			show("client4 peer", (struct sockaddr *)&name);
			wrote = mtcp_write(mctx, c6, "six", 3) == 3 && mtcp_write(mctx, c4, "four", 4) == 4;
		}
		for (int i = 0; wrote && i < n; i++) {
			int r = mtcp_read(mctx, accepted[i], buf, sizeof(buf) - 1);
			if (r > 0) {
				buf[r] = 0;
				printf("read %s\n", buf);
				got++;
			}
		}
	}
	printf("done %d %d\n", n, got);
	mtcp_destroy_context(mctx);
	mtcp_destroy();
	return 0;
}
