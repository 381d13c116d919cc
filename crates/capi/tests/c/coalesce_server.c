/*
 * Write coalescing as epserver relies on it: on a readable event the server writes the HTTP
 * header and then the body with two mtcp_write calls in the same event-loop turn. mTCP sends
 * what was written in one turn together, so both leave in ONE segment (they fit in one MSS).
 * The test captures the frames on the veth and counts the server's data segments.
 *
 * usage: coalesce_server <mtcp.conf> <connections>
 * prints "listening", then per response nothing; exits 0 after <connections> connections were
 * closed by the peer, printing "closed <n> requests <m>".
 * Connections are keep-alive: every request ("GET ... \r\n\r\n") gets one response.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mtcp_api.h>
#include <mtcp_epoll.h>

#define MAX_EVENTS 256
#define PORT 80

static const char header[] = "HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n";
static const char body[] = "coalesced header+body\n";

int main(int argc, char **argv)
{
	struct mtcp_conf mcfg;
	struct mtcp_epoll_event ev, events[MAX_EVENTS];
	struct sockaddr_in saddr;
	char buf[2048];
	int closed = 0, requests = 0, errors = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s <mtcp.conf> <connections>\n", argv[0]);
		return 2;
	}
	int connections = atoi(argv[2]);
	mtcp_getconf(&mcfg);
	mcfg.num_cores = 1;
	mtcp_setconf(&mcfg);
	if (mtcp_init(argv[1])) {
		fprintf(stderr, "Failed to initialize mtcp\n");
		return 1;
	}
	mctx_t mctx = mtcp_create_context(0);
	if (!mctx) {
		perror("mtcp_create_context");
		return 1;
	}
	int ep = mtcp_epoll_create(mctx, MAX_EVENTS);
	int listener = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	if (ep < 0 || listener < 0 || mtcp_setsock_nonblock(mctx, listener) < 0) {
		perror("mtcp_epoll_create/mtcp_socket");
		return 1;
	}
	memset(&saddr, 0, sizeof(saddr));
	saddr.sin_family = AF_INET;
	saddr.sin_addr.s_addr = INADDR_ANY;
	saddr.sin_port = htons(PORT);
	if (mtcp_bind(mctx, listener, (struct sockaddr *)&saddr, sizeof(saddr)) < 0 ||
	    mtcp_listen(mctx, listener, 64) < 0) {
		perror("bind/listen");
		return 1;
	}
	ev.events = MTCP_EPOLLIN;
	ev.data.sockid = listener;
	mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, listener, &ev);
	printf("listening header %zu body %zu\n", sizeof(header) - 1, sizeof(body) - 1);
	fflush(stdout);

	time_t start = time(NULL);
	while (closed < connections && time(NULL) - start < 20) {
		int n = mtcp_epoll_wait(mctx, ep, events, MAX_EVENTS, 100);
		if (n < 0) {
			if (errno != EINTR)
				perror("mtcp_epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			int s = events[i].data.sockid;
			if (s == listener) {
				int c;
				while ((c = mtcp_accept(mctx, listener, NULL, NULL)) >= 0) {
					mtcp_setsock_nonblock(mctx, c);
					ev.events = MTCP_EPOLLIN;
					ev.data.sockid = c;
					mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			int rd = mtcp_read(mctx, s, buf, sizeof(buf));
			if (rd < 0 && errno == EAGAIN)
				continue;
			if (rd <= 0) {
				mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_DEL, s, NULL);
				mtcp_close(mctx, s);
				closed++;
				continue;
			}
			/* One request per read: the peer waits for each response before the next. */
			if (memmem(buf, rd, "\r\n\r\n", 4) == NULL) {
				errors++;
				continue;
			}
			/* As epserver's SendUntilAvailable: the header, then the body. */
			if (mtcp_write(mctx, s, header, sizeof(header) - 1) != (int)sizeof(header) - 1 ||
			    mtcp_write(mctx, s, body, sizeof(body) - 1) != (int)sizeof(body) - 1)
				errors++;
			requests++;
		}
	}
	/* let the last ACKs and FINs go out */
	for (int i = 0; i < 10; i++)
		mtcp_epoll_wait(mctx, ep, events, MAX_EVENTS, 10);
	printf("closed %d requests %d errors %d\n", closed, requests, errors);
	fflush(stdout);
	mtcp_destroy_context(mctx);
	mtcp_destroy();
	return closed == connections && errors == 0 ? 0 : 1;
}
