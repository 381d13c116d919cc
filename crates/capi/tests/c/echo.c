/*
 * An mTCP-style epoll echo server and client in one process, one thread per core, written
 * the way mTCP's example programs are (epserver / epwget): mtcp_setconf(num_cores) before
 * mtcp_init, a context and an epoll instance per core, a listener per core, mtcp_init_rss and
 * non-blocking connects on the client side. Every core's client talks to its own core's server
 * through the in-memory switch (port mem1 -> port mem0; RSS keeps each flow on one core).
 *
 * usage: echo <mtcp.conf> <num_cores> <conns_per_core> <bytes_per_conn>
 * prints "[CPU n] Completed c connections, errors: e" per core; exits 0 only if all echoed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <time.h>
#include <arpa/inet.h>
#include <mtcp_api.h>
#include <mtcp_epoll.h>

#define MAX_EVENTS 1024
#define MAX_IDS 512
#define SERVER_IP "198.18.0.1"
#define PORT 8080

enum role { NONE, LISTENER, CLIENT, SERVER };

struct conn {
	enum role role;
	int sent;      /* client: bytes written */
	int received;  /* client: bytes read back; server: bytes pending echo */
	int connected;
	char pending[16384];
};

struct core_arg {
	int core;
	int conns;
	int bytes;
	int completed;
	int errors;
};

static int num_cores;
static volatile int done;

static void SignalHandler(int signum)
{
	UNUSED(signum);
	done = 1;
}

static char pattern(int i) { return (char)('a' + i % 26); }

static void *RunCore(void *argp)
{
	struct core_arg *arg = argp;
	int core = arg->core;
	struct mtcp_epoll_event ev, *events;
	struct conn *conns = calloc(MAX_IDS, sizeof(struct conn));
	char buf[16384];

	if (mtcp_core_affinitize(core) < 0)
		fprintf(stderr, "[CPU %d] affinitize: %s (continuing)\n", core, strerror(errno));

	mctx_t mctx = mtcp_create_context(core);
	if (!mctx) {
		fprintf(stderr, "[CPU %d] mtcp_create_context failed: %s\n", core, strerror(errno));
		arg->errors = -1;
		return NULL;
	}
	if (mctx->cpu != core) {
		fprintf(stderr, "[CPU %d] mctx->cpu = %d\n", core, mctx->cpu);
		arg->errors = -1;
		return NULL;
	}

	int ep = mtcp_epoll_create(mctx, MAX_EVENTS);
	events = calloc(MAX_EVENTS, sizeof(struct mtcp_epoll_event));

	/* server: a listener on every core, as epserver does */
	int listener = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	mtcp_setsock_nonblock(mctx, listener);
	struct sockaddr_in saddr;
	memset(&saddr, 0, sizeof(saddr));
	saddr.sin_family = AF_INET;
	saddr.sin_addr.s_addr = INADDR_ANY;
	saddr.sin_port = htons(PORT);
	if (mtcp_bind(mctx, listener, (struct sockaddr *)&saddr, sizeof(saddr)) < 0 ||
	    mtcp_listen(mctx, listener, 256) < 0) {
		fprintf(stderr, "[CPU %d] bind/listen: %s\n", core, strerror(errno));
		arg->errors = -1;
		return NULL;
	}
	conns[listener].role = LISTENER;
	ev.events = MTCP_EPOLLIN;
	ev.data.sockid = listener;
	mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, listener, &ev);

	/* client: as epwget does */
	in_addr_t daddr = inet_addr(SERVER_IP);
	in_port_t dport = htons(PORT);
	if (mtcp_init_rss(mctx, INADDR_ANY, 1, daddr, dport) < 0) {
		fprintf(stderr, "[CPU %d] mtcp_init_rss: %s\n", core, strerror(errno));
		arg->errors = -1;
		return NULL;
	}
	for (int i = 0; i < arg->conns; i++) {
		int s = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
		if (s < 0 || s >= MAX_IDS) {
			arg->errors++;
			continue;
		}
		mtcp_setsock_nonblock(mctx, s);
		struct sockaddr_in addr;
		memset(&addr, 0, sizeof(addr));
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = daddr;
		addr.sin_port = dport;
		int ret = mtcp_connect(mctx, s, (struct sockaddr *)&addr, sizeof(addr));
		if (ret < 0 && errno != EINPROGRESS) {
			fprintf(stderr, "[CPU %d] mtcp_connect: %s\n", core, strerror(errno));
			mtcp_close(mctx, s);
			arg->errors++;
			continue;
		}
		memset(&conns[s], 0, sizeof(conns[s]));
		conns[s].role = CLIENT;
		ev.events = MTCP_EPOLLOUT;
		ev.data.sockid = s;
		mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, s, &ev);
	}

	time_t start = time(NULL);
	while (!done && arg->completed + arg->errors < arg->conns) {
		if (time(NULL) - start > 20) {
			fprintf(stderr, "[CPU %d] timed out\n", core);
			break;
		}
		int nevents = mtcp_epoll_wait(mctx, ep, events, MAX_EVENTS, 100);
		if (nevents < 0) {
			if (errno != EINTR)
				perror("mtcp_epoll_wait");
			break;
		}
		for (int i = 0; i < nevents; i++) {
			int s = events[i].data.sockid;
			uint32_t e = events[i].events;
			struct conn *c = &conns[s];
			if (c->role == LISTENER) {
				for (;;) {
					struct sockaddr_in peer;
					socklen_t len = sizeof(peer);
					int a = mtcp_accept(mctx, listener, (struct sockaddr *)&peer, &len);
					if (a < 0) {
						if (errno != EAGAIN)
							fprintf(stderr, "[CPU %d] accept: %s\n", core, strerror(errno));
						break;
					}
					if (a >= MAX_IDS || len != sizeof(peer) || peer.sin_family != AF_INET ||
					    peer.sin_addr.s_addr != inet_addr("198.18.0.2")) {
						fprintf(stderr, "[CPU %d] bad accept %d\n", core, a);
						arg->errors++;
						mtcp_close(mctx, a);
						continue;
					}
					struct sockaddr_in pn;
					socklen_t pnlen = sizeof(pn);
					if (mtcp_getpeername(mctx, a, (struct sockaddr *)&pn, &pnlen) < 0 ||
					    pn.sin_addr.s_addr != peer.sin_addr.s_addr || pn.sin_port != peer.sin_port) {
						fprintf(stderr, "[CPU %d] getpeername disagrees with accept\n", core);
						arg->errors++;
					}
					memset(&conns[a], 0, sizeof(conns[a]));
					conns[a].role = SERVER;
					ev.events = MTCP_EPOLLIN;
					ev.data.sockid = a;
					mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, a, &ev);
				}
			} else if (c->role == SERVER) {
				/* echo what was read; keep what did not fit for EPOLLOUT */
				if (c->received == 0 && (e & MTCP_EPOLLIN)) {
					int r = mtcp_read(mctx, s, c->pending, sizeof(c->pending));
					if (r == 0) {
						mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_DEL, s, NULL);
						mtcp_close(mctx, s);
						c->role = NONE;
						continue;
					}
					if (r < 0) {
						if (errno != EAGAIN) {
							mtcp_close(mctx, s);
							c->role = NONE;
						}
						continue;
					}
					c->received = r;
					c->sent = 0;
				}
				if (c->received > 0) {
					int w = mtcp_write(mctx, s, c->pending + c->sent, c->received - c->sent);
					if (w > 0)
						c->sent += w;
					if (c->sent == c->received) {
						c->received = 0;
						ev.events = MTCP_EPOLLIN;
					} else {
						ev.events = MTCP_EPOLLOUT;
					}
					ev.data.sockid = s;
					mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_MOD, s, &ev);
				}
			} else if (c->role == CLIENT) {
				if (e & MTCP_EPOLLERR) {
					int err = 0;
					socklen_t len = sizeof(err);
					mtcp_getsockopt(mctx, s, SOL_SOCKET, SO_ERROR, &err, &len);
					fprintf(stderr, "[CPU %d] client error: %s\n", core, strerror(err));
					mtcp_close(mctx, s);
					c->role = NONE;
					arg->errors++;
					continue;
				}
				if ((e & MTCP_EPOLLOUT) && c->sent == 0) {
					struct sockaddr_in me;
					socklen_t melen = sizeof(me);
					if (mtcp_getsockname(mctx, s, (struct sockaddr *)&me, &melen) < 0 ||
					    me.sin_addr.s_addr != inet_addr("198.18.0.2") || me.sin_port == 0) {
						fprintf(stderr, "[CPU %d] bad getsockname on a client\n", core);
						arg->errors++;
					}
				}
				if ((e & MTCP_EPOLLOUT) && c->sent < arg->bytes) {
					while (c->sent < arg->bytes) {
						int n = arg->bytes - c->sent;
						if (n > (int)sizeof(buf))
							n = sizeof(buf);
						for (int k = 0; k < n; k++)
							buf[k] = pattern(c->sent + k);
						int w = mtcp_write(mctx, s, buf, n);
						if (w <= 0)
							break;
						c->sent += w;
					}
					ev.events = MTCP_EPOLLIN | (c->sent < arg->bytes ? MTCP_EPOLLOUT : 0);
					ev.data.sockid = s;
					mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_MOD, s, &ev);
				}
				if (e & MTCP_EPOLLIN) {
					int r;
					while ((r = mtcp_read(mctx, s, buf, sizeof(buf))) > 0) {
						for (int k = 0; k < r; k++) {
							if (buf[k] != pattern(c->received + k)) {
								fprintf(stderr, "[CPU %d] corrupt byte at %d\n", core,
									c->received + k);
								arg->errors++;
								r = -2;
								break;
							}
						}
						if (r < 0)
							break;
						c->received += r;
					}
					if (r == -2 || (r == 0 && c->received < arg->bytes) ||
					    (r < 0 && errno != EAGAIN)) {
						mtcp_close(mctx, s);
						c->role = NONE;
						if (r != -2)
							arg->errors++;
					} else if (c->received == arg->bytes) {
						mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_DEL, s, NULL);
						mtcp_close(mctx, s);
						c->role = NONE;
						arg->completed++;
					}
				}
			}
		}
	}
	/* let the closes go out */
	for (int i = 0; i < 20; i++)
		mtcp_epoll_wait(mctx, ep, events, MAX_EVENTS, 5);
	printf("[CPU %d] Completed %d connections, errors: %d\n", core, arg->completed, arg->errors);
	free(events);
	free(conns);
	mtcp_destroy_context(mctx);
	return NULL;
}

int main(int argc, char **argv)
{
	struct mtcp_conf mcfg;
	pthread_t threads[16];
	struct core_arg args[16];

	if (argc < 5) {
		fprintf(stderr, "usage: %s <conf> <cores> <conns> <bytes>\n", argv[0]);
		return 2;
	}
	num_cores = atoi(argv[2]);
	if (num_cores < 1 || num_cores > 16)
		return 2;

	mtcp_getconf(&mcfg);
	mcfg.num_cores = num_cores;
	mtcp_setconf(&mcfg);
	if (mtcp_init(argv[1])) {
		fprintf(stderr, "Failed to initialize mtcp\n");
		return 1;
	}
	mtcp_getconf(&mcfg);
	if (mcfg.num_cores != num_cores) {
		fprintf(stderr, "num_cores %d after init, wanted %d\n", mcfg.num_cores, num_cores);
		return 1;
	}
	mcfg.max_concurrency = 1000;
	mcfg.max_num_buffers = 1000;
	mtcp_setconf(&mcfg);
	mtcp_register_signal(SIGINT, SignalHandler);

	for (int i = 0; i < num_cores; i++) {
		args[i] = (struct core_arg){ .core = i, .conns = atoi(argv[3]), .bytes = atoi(argv[4]) };
		if (pthread_create(&threads[i], NULL, RunCore, &args[i])) {
			perror("pthread_create");
			return 1;
		}
	}
	int ok = 1;
	for (int i = 0; i < num_cores; i++) {
		pthread_join(threads[i], NULL);
		if (args[i].errors != 0 || args[i].completed != args[i].conns)
			ok = 0;
	}
	mtcp_destroy();
	return ok ? 0 : 1;
}
