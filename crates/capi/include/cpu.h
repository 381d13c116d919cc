/* mTCP's util/include/cpu.h: CPU helpers exported by libmtcp, as mTCP's library does. */
#ifndef __CPU_H_
#define __CPU_H_

#ifdef __cplusplus
extern "C" {
#endif

/* The number of online CPUs (sysconf(_SC_NPROCESSORS_ONLN)). */
int GetNumCPUs(void);
/* Pins the calling thread to `cpu`; -1 with errno EINVAL outside 0..GetNumCPUs()-1. */
int CoreAffinitize(int cpu);

#ifdef __cplusplus
}
#endif

#endif /* __CPU_H_ */
