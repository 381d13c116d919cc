/*
 * mTCP's blocking calls (libmtcp built with the `blocking` feature), against a Linux peer at
 * 198.18.0.1 that tests/blocking.rs drives from this program's output: each step prints what it
 * is about to wait for ("WAIT ..."), the peer acts only then, and the call must return its
 * result, not -1 with EAGAIN/EINPROGRESS.
 *
 *   blocking_check mtcp.conf
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mtcp_api.h>

#define BULK (1 << 20)

static void
fail(const char *what)
{
	printf("FAIL %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void
say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a;
	static char bulk[BULK];
	char buf[64];
	mctx_t mctx;
	int l, s, c, n, off;

	if (argc != 2)
		return 2;
	if (mtcp_init(argv[1]))
		fail("mtcp_init");
	mctx = mtcp_create_context(0);
	if (!mctx)
		fail("mtcp_create_context");

	/* accept blocks until the peer connects. */
	l = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(80);
	if (l < 0 || mtcp_bind(mctx, l, (struct sockaddr *)&a, sizeof(a)) ||
	    mtcp_listen(mctx, l, 16))
		fail("listener");
	say("WAIT accept");
	s = mtcp_accept(mctx, l, NULL, NULL);
	if (s < 0)
		fail("accept");
	say("OK accept");

	/* read blocks until the peer sends. */
	say("WAIT read");
	n = mtcp_read(mctx, s, buf, sizeof(buf));
	if (n != 4 || memcmp(buf, "ping", 4))
		fail("read");
	say("OK read");

	/* write blocks while the send buffer is full, until the peer reads. */
	for (n = 0; n < BULK; n++)
		bulk[n] = (char)(n * 7 + 3);
	say("WAIT write");
	for (off = 0; off < BULK; off += n) {
		n = mtcp_write(mctx, s, bulk + off, BULK - off);
		if (n <= 0)
			fail("write");
	}
	say("OK write");

	/* read blocks until the peer closes: 0. */
	n = mtcp_read(mctx, s, buf, sizeof(buf));
	if (n != 0)
		fail("read at end");
	mtcp_close(mctx, s);
	say("OK eof");

	/* connect blocks until the handshake ends. */
	c = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = inet_addr("198.18.0.1");
	a.sin_port = htons(9000);
	say("WAIT connect");
	if (c < 0 || mtcp_connect(mctx, c, (struct sockaddr *)&a, sizeof(a)))
		fail("connect");
	if (mtcp_write(mctx, c, "hi", 2) != 2)
		fail("write after connect");
	say("OK connect");
	n = mtcp_read(mctx, c, buf, sizeof(buf));
	if (n != 0)
		fail("read at end of connected");
	mtcp_close(mctx, c);

	/* A refused connect fails with ECONNREFUSED (not EINPROGRESS). */
	c = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons(9001);
	errno = 0;
	if (mtcp_connect(mctx, c, (struct sockaddr *)&a, sizeof(a)) != -1 || errno != ECONNREFUSED)
		fail("refused connect");
	mtcp_close(mctx, c);
	say("OK refused");

	/* A non-blocking socket still gives EAGAIN. */
	mtcp_setsock_nonblock(mctx, l);
	if (mtcp_accept(mctx, l, NULL, NULL) != -1 || errno != EAGAIN)
		fail("nonblocking accept");
	say("OK nonblock");
	mtcp_destroy_context(mctx);
	mtcp_destroy();
	say("DONE");
	return 0;
}
