/* fdio.h - system-call helpers shared by the runtime. */
#ifndef KP_FDIO_H
#define KP_FDIO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all `len` bytes to fd, retrying on EINTR and short writes. Returns
 * 0, or -1 with errno set. Async-signal-safe: the workers' signal handlers
 * use it. */
int kp_write_all(int fd, const void *buf, size_t len);

/* Opens `path` as an empty file for writing, with `flags` (O_WRONLY, maybe
 * O_APPEND; O_CREAT and O_CLOEXEC are added). Truncating a file that holds a
 * previous run's results waits for the writeback ext4 started when that
 * file, truncated in its turn, was closed (auto_da_alloc), and ext4 then
 * writes the new one out at close: tens of milliseconds for a few MB. So a
 * non-empty regular file of ours with no other link is replaced: a new file
 * with its permission bits is created beside it (`path`.kpool-PID-N) and
 * renamed over it, so the old one goes only once the new one exists (when
 * the new one cannot be made, the old one is truncated as below); anything
 * else (a symlink, a device, a FIFO, a file with other links or another
 * owner) is truncated in place. Returns the descriptor, or -1 with errno. */
int kp_open_afresh(const char *path, int flags);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t kp_now_ns(void);

#endif
