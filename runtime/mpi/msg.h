/* mpi/msg.h - sending and receiving the packets of proto.h. */
#ifndef KP_MPI_MSG_H
#define KP_MPI_MSG_H

#include <stddef.h>
#include <sys/types.h>

/* Sends one packet (and `nfds` descriptors with it). 0 or -1 (errno). */
int kp_msg_send(int fd, const void *buf, size_t len, const int *fds, int nfds);

/* Receives one packet into buf (cap bytes) and up to *nfds descriptors
 * (NULL: none expected). Returns its length, 0 at EOF, -1 on error
 * (EAGAIN with `nonblock` when there is none). */
ssize_t kp_msg_recv(int fd, void *buf, size_t cap, int *fds, int *nfds, int nonblock);

#endif
