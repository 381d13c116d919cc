/* Prints the ABI facts of mtcp_api.h / mtcp_epoll.h as "name value" lines; the Rust test
 * compares them with the library's own definitions. */
#include <stddef.h>
#include <stdio.h>
#include <mtcp_api.h>
#include <mtcp_epoll.h>

#define P(name, v) printf("%s %lld\n", name, (long long)(v))

int main(void)
{
	int unused_var = 0;
	UNUSED(unused_var);

	P("sizeof_mtcp_conf", sizeof(struct mtcp_conf));
	P("off_num_cores", offsetof(struct mtcp_conf, num_cores));
	P("off_max_concurrency", offsetof(struct mtcp_conf, max_concurrency));
	P("off_max_num_buffers", offsetof(struct mtcp_conf, max_num_buffers));
	P("off_rcvbuf_size", offsetof(struct mtcp_conf, rcvbuf_size));
	P("off_sndbuf_size", offsetof(struct mtcp_conf, sndbuf_size));
	P("off_tcp_timewait", offsetof(struct mtcp_conf, tcp_timewait));
	P("off_tcp_timeout", offsetof(struct mtcp_conf, tcp_timeout));

	P("sizeof_epoll_event", sizeof(struct mtcp_epoll_event));
	P("alignof_epoll_event", _Alignof(struct mtcp_epoll_event));
	P("off_events", offsetof(struct mtcp_epoll_event, events));
	P("off_data", offsetof(struct mtcp_epoll_event, data));
	P("sizeof_epoll_data", sizeof(mtcp_epoll_data_t));

	P("sizeof_mctx_t", sizeof(mctx_t));
	P("off_cpu", offsetof(struct mtcp_context, cpu));

	P("MTCP_EPOLL_CTL_ADD", MTCP_EPOLL_CTL_ADD);
	P("MTCP_EPOLL_CTL_DEL", MTCP_EPOLL_CTL_DEL);
	P("MTCP_EPOLL_CTL_MOD", MTCP_EPOLL_CTL_MOD);

	P("MTCP_EPOLLNONE", (uint32_t)MTCP_EPOLLNONE);
	P("MTCP_EPOLLIN", (uint32_t)MTCP_EPOLLIN);
	P("MTCP_EPOLLPRI", (uint32_t)MTCP_EPOLLPRI);
	P("MTCP_EPOLLOUT", (uint32_t)MTCP_EPOLLOUT);
	P("MTCP_EPOLLERR", (uint32_t)MTCP_EPOLLERR);
	P("MTCP_EPOLLHUP", (uint32_t)MTCP_EPOLLHUP);
	P("MTCP_EPOLLRDNORM", (uint32_t)MTCP_EPOLLRDNORM);
	P("MTCP_EPOLLRDBAND", (uint32_t)MTCP_EPOLLRDBAND);
	P("MTCP_EPOLLWRNORM", (uint32_t)MTCP_EPOLLWRNORM);
	P("MTCP_EPOLLWRBAND", (uint32_t)MTCP_EPOLLWRBAND);
	P("MTCP_EPOLLMSG", (uint32_t)MTCP_EPOLLMSG);
	P("MTCP_EPOLLRDHUP", (uint32_t)MTCP_EPOLLRDHUP);
	P("MTCP_EPOLLONESHOT", (uint32_t)MTCP_EPOLLONESHOT);
	P("MTCP_EPOLLET", (uint32_t)MTCP_EPOLLET);

	P("MTCP_SOCK_UNUSED", MTCP_SOCK_UNUSED);
	P("MTCP_SOCK_STREAM", MTCP_SOCK_STREAM);
	P("MTCP_SOCK_PROXY", MTCP_SOCK_PROXY);
	P("MTCP_SOCK_LISTENER", MTCP_SOCK_LISTENER);
	P("MTCP_SOCK_EPOLL", MTCP_SOCK_EPOLL);
	P("MTCP_SOCK_PIPE", MTCP_SOCK_PIPE);

	P("INPORT_ANY", INPORT_ANY);

	/* The library agrees: an event written by C comes back through epoll untouched. */
	struct mtcp_epoll_event ev;
	ev.events = MTCP_EPOLLIN | MTCP_EPOLLET;
	ev.data.u64 = 0x1122334455667788ULL;
	P("ev_bytes_events", *(uint32_t *)((char *)&ev + 0));
	P("ev_bytes_data", (long long)*(uint64_t *)((char *)&ev + 8));

	/* A function pointer of each exported call, so a missing symbol fails the link. */
	void *fns[] = {
		(void *)mtcp_init, (void *)mtcp_destroy, (void *)mtcp_getconf, (void *)mtcp_setconf,
		(void *)mtcp_core_affinitize, (void *)mtcp_create_context, (void *)mtcp_destroy_context,
		(void *)mtcp_register_signal, (void *)mtcp_pipe, (void *)mtcp_socket, (void *)mtcp_bind,
		(void *)mtcp_listen, (void *)mtcp_accept, (void *)mtcp_init_rss, (void *)mtcp_connect,
		(void *)mtcp_close, (void *)mtcp_abort, (void *)mtcp_read, (void *)mtcp_recv,
		(void *)mtcp_readv, (void *)mtcp_write, (void *)mtcp_writev, (void *)mtcp_getsockopt,
		(void *)mtcp_setsockopt, (void *)mtcp_setsock_nonblock, (void *)mtcp_socket_ioctl,
		(void *)mtcp_getsockname, (void *)mtcp_getpeername, (void *)mtcp_epoll_create,
		(void *)mtcp_epoll_create1, (void *)mtcp_epoll_ctl, (void *)mtcp_epoll_wait,
		(void *)EventToString,
	};
	int linked = 0;
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		linked += fns[i] != NULL;
	P("functions_linked", linked);
	return 0;
}
