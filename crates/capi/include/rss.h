/* mTCP's util/include/rss.h: the RSS helpers exported by libmtcp, as mTCP's library does. */
#ifndef _RSS_H_
#define _RSS_H_

#include <stdint.h>
#include <netinet/in.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The 32-bit Toeplitz hash of the 4-tuple under mTCP's symmetric key (0x05 repeated); each
 * value is hashed from its most significant bit down, as given (mTCP's programs pass
 * s_addr / sin_port, network byte order). */
uint32_t GetRSSHash(in_addr_t sip, in_addr_t dip,
		    in_port_t sp, in_port_t dp);

/* The receive queue (core) an Intel ixgbe-style NIC picks for the flow: the hash's 7 low bits
 * through its redirection table, modulo num_cpus. -1 with errno EINVAL for num_cpus <= 0. */
int GetRSSCPUCore(in_addr_t sip, in_addr_t dip,
		  in_port_t sp, in_port_t dp, int num_cpus);

#ifdef __cplusplus
}
#endif

#endif /* _RSS_H_ */
