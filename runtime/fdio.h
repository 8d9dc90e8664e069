/* fdio.h - system-call helpers shared by the runtime. */
#ifndef KP_FDIO_H
#define KP_FDIO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all `len` bytes to fd, retrying on EINTR and short writes. Returns
 * 0, or -1 with errno set. Async-signal-safe: the workers' signal handlers
 * use it. */
int kp_write_all(int fd, const void *buf, size_t len);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t kp_now_ns(void);

#endif
