/* mTCP's util helpers from C, as its examples call them (cpu.h, rss.h): prints one line per
 * value for tests/c_programs.rs to compare with the Rust implementation. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

#include <cpu.h>
#include <rss.h>

int
main(void)
{
	static const char *addrs[][2] = {
		{"198.18.0.1", "198.18.0.2"},
		{"10.0.0.1", "192.168.1.77"},
		{"66.9.149.187", "161.142.100.80"},
	};
	static const int ports[][2] = {{80, 1025}, {4242, 80}, {2794, 1766}, {65535, 1}};
	unsigned i, j;
	int n, r;

	printf("cpus %d\n", GetNumCPUs());
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		in_addr_t s = inet_addr(addrs[i][0]), d = inet_addr(addrs[i][1]);
		for (j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
			in_port_t sp = htons(ports[j][0]), dp = htons(ports[j][1]);
			printf("hash %u %u %u %u %u\n", (unsigned)s, (unsigned)d, (unsigned)sp,
			       (unsigned)dp, (unsigned)GetRSSHash(s, d, sp, dp));
			for (n = 1; n <= 8; n++)
				printf("core %u %u %u %u %d %d\n", (unsigned)s, (unsigned)d,
				       (unsigned)sp, (unsigned)dp, n,
				       GetRSSCPUCore(s, d, sp, dp, n));
		}
	}
	errno = 0;
	r = GetRSSCPUCore(1, 2, 3, 4, 0);
	printf("zero_queues %d %d\n", r, errno == EINVAL);
	errno = 0;
	r = CoreAffinitize(-1);
	printf("affinitize_bad %d %d\n", r, errno == EINVAL);
	printf("affinitize_0 %d\n", CoreAffinitize(0));
	return 0;
}
