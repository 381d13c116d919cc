/*
 * A small web server written as mTCP's examples are (epserver.c's structure: -f config, -N cores,
 * mtcp_setconf before mtcp_init, a thread and a context per core, a listener per core, the
 * cpu.h/rss.h helpers), built from its own Makefile against the installed libmtcp.
 *
 *   webserver -f mtcp.conf -N cores -n connections_to_serve
 *
 * Every connection gets "HTTP/1.0 200 OK" and the core's number; the program exits when the
 * cores together have served -n connections, printing "served <n>".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mtcp_api.h>
#include <mtcp_epoll.h>
#include <cpu.h>
#include <rss.h>

#define MAX_CPUS 16
#define MAX_EVENTS 1024
#define PORT 80

static int num_cores;
static int to_serve;
static volatile int served;
static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;

static int
AddServed(void)
{
	int now;
	pthread_mutex_lock(&served_lock);
	now = ++served;
	pthread_mutex_unlock(&served_lock);
	return now;
}

static int
CreateListeningSocket(mctx_t mctx, int ep)
{
	struct mtcp_epoll_event ev;
	struct sockaddr_in saddr;
	int listener = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0);
	if (listener < 0) {
		perror("mtcp_socket");
		return -1;
	}
	if (mtcp_setsock_nonblock(mctx, listener) < 0) {
		perror("mtcp_setsock_nonblock");
		return -1;
	}
	memset(&saddr, 0, sizeof(saddr));
	saddr.sin_family = AF_INET;
	saddr.sin_addr.s_addr = INADDR_ANY;
	saddr.sin_port = htons(PORT);
	if (mtcp_bind(mctx, listener, (struct sockaddr *)&saddr, sizeof(saddr)) < 0) {
		perror("mtcp_bind");
		return -1;
	}
	if (mtcp_listen(mctx, listener, 4096) < 0) {
		perror("mtcp_listen");
		return -1;
	}
	ev.events = MTCP_EPOLLIN;
	ev.data.sockid = listener;
	mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, listener, &ev);
	return listener;
}

static void
HandleRead(mctx_t mctx, int ep, int sockid, int core)
{
	char buf[2048], resp[256];
	int rd = mtcp_read(mctx, sockid, buf, sizeof(buf));
	int body_len, len;
	char body[32];

	if (rd < 0 && errno == EAGAIN)
		return;
	if (rd > 0 && memmem(buf, rd, "\r\n\r\n", 4) == NULL)
		return; /* the rest of the request comes later (requests here are small) */
	if (rd > 0) {
		body_len = snprintf(body, sizeof(body), "core %d\n", core);
		len = snprintf(resp, sizeof(resp),
			       "HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			       body_len, body);
		if (mtcp_write(mctx, sockid, resp, len) != len)
			fprintf(stderr, "[CPU %d] short write\n", core);
		AddServed();
	}
	mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_DEL, sockid, NULL);
	mtcp_close(mctx, sockid);
}

static void *
RunServerThread(void *arg)
{
	int core = *(int *)arg;
	struct mtcp_epoll_event *events;
	struct mtcp_epoll_event ev;
	mctx_t mctx;
	int ep, listener, nevents, i;

	mtcp_core_affinitize(core % GetNumCPUs());
	mctx = mtcp_create_context(core);
	if (!mctx) {
		perror("mtcp_create_context");
		exit(1);
	}
	ep = mtcp_epoll_create(mctx, MAX_EVENTS);
	events = calloc(MAX_EVENTS, sizeof(*events));
	listener = CreateListeningSocket(mctx, ep);
	if (ep < 0 || !events || listener < 0)
		exit(1);
	printf("[CPU %d] listening on port %d\n", core, PORT);
	fflush(stdout);

	while (served < to_serve) {
		nevents = mtcp_epoll_wait(mctx, ep, events, MAX_EVENTS, 100);
		if (nevents < 0) {
			if (errno != EINTR)
				perror("mtcp_epoll_wait");
			break;
		}
		for (i = 0; i < nevents; i++) {
			if (events[i].data.sockid == listener) {
				int c;
				while ((c = mtcp_accept(mctx, listener, NULL, NULL)) >= 0) {
					mtcp_setsock_nonblock(mctx, c);
					ev.events = MTCP_EPOLLIN;
					ev.data.sockid = c;
					mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, c, &ev);
				}
			} else if (events[i].events & MTCP_EPOLLIN) {
				HandleRead(mctx, ep, events[i].data.sockid, core);
			} else if (events[i].events & (MTCP_EPOLLERR | MTCP_EPOLLHUP)) {
				mtcp_close(mctx, events[i].data.sockid);
			}
		}
	}
	free(events);
	mtcp_destroy_context(mctx);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct mtcp_conf mcfg;
	pthread_t threads[MAX_CPUS];
	int cores[MAX_CPUS];
	char *conf_file = NULL;
	int o, i;

	num_cores = GetNumCPUs();
	while ((o = getopt(argc, argv, "f:N:n:")) != -1) {
		if (o == 'f')
			conf_file = optarg;
		else if (o == 'N')
			num_cores = atoi(optarg);
		else if (o == 'n')
			to_serve = atoi(optarg);
	}
	if (!conf_file || num_cores < 1 || num_cores > MAX_CPUS || to_serve < 1) {
		fprintf(stderr, "usage: %s -f mtcp.conf -N cores -n connections\n", argv[0]);
		return 2;
	}
	/* As epserver: the core count given with -N overrides mtcp.conf's. */
	mtcp_getconf(&mcfg);
	mcfg.num_cores = num_cores;
	mtcp_setconf(&mcfg);
	if (mtcp_init(conf_file)) {
		perror("mtcp_init");
		return 1;
	}
	mtcp_getconf(&mcfg);
	printf("num_cores %d (rss of a sample flow: core %d of %d)\n", mcfg.num_cores,
	       GetRSSCPUCore(inet_addr("198.18.0.1"), inet_addr("198.18.0.2"), htons(40000),
			     htons(PORT), num_cores), num_cores);
	for (i = 0; i < num_cores; i++) {
		cores[i] = i;
		if (pthread_create(&threads[i], NULL, RunServerThread, &cores[i])) {
			perror("pthread_create");
			return 1;
		}
	}
	for (i = 0; i < num_cores; i++)
		pthread_join(threads[i], NULL);
	mtcp_destroy();
	printf("served %d\n", served);
	return served >= to_serve ? 0 : 1;
}
