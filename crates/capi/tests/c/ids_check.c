/* Socket ids come from a FIFO free list as in mTCP: a just-closed id is the last to come back
 * (every id never used first, then freed ids in the order they were freed). Prints the ids. */
#include <stdio.h>
#include <stdlib.h>

#include <mtcp_api.h>

int
main(int argc, char **argv)
{
	struct mtcp_conf conf;
	mctx_t mctx;
	int i, a, b, c, max;

	if (argc != 2 || mtcp_init(argv[1]))
		return 2;
	mctx = mtcp_create_context(0);
	if (!mctx)
		return 2;
	mtcp_getconf(&conf);
	max = conf.max_concurrency;
	a = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	b = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	mtcp_close(mctx, a);
	c = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	printf("first %d %d %d\n", a, b, c);
	mtcp_close(mctx, c);
	mtcp_close(mctx, b);
	/* Use up every id never used; then the freed ones come back oldest first: a, c, b. */
	for (i = c + 1; i < max; i++)
		if (mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0) != i)
			printf("unexpected id at %d\n", i);
	printf("reused %d", mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0));
	printf(" %d", mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0));
	printf(" %d\n", mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0));
	printf("full %d\n", mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0));
	mtcp_destroy_context(mctx);
	mtcp_destroy();
	return 0;
}
