/* mpi/msg.c - packets over SOCK_SEQPACKET sockets, with descriptors. */
#include "msg.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KP_MSG_MAX_FDS 250 /* below the kernel's SCM_MAX_FD (253) */

int kp_msg_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int) * KP_MSG_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    if (nfds > KP_MSG_MAX_FDS) {
        errno = EINVAL;
        return -1;
    }
    if (nfds > 0) {
        memset(&ctl, 0, sizeof ctl);
        m.msg_control = ctl.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do
        n = sendmsg(fd, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

ssize_t kp_msg_recv(int fd, void *buf, size_t cap, int *fds, int *nfds, int nonblock)
{
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int) * KP_MSG_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    if (fds) {
        m.msg_control = ctl.buf;
        m.msg_controllen = sizeof ctl.buf;
    }
    ssize_t n;
    do
        n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | (nonblock ? MSG_DONTWAIT : 0));
    while (n < 0 && errno == EINTR);
    if (fds) {
        int got = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int j = 0; j < k; j++) {
                int d;
                memcpy(&d, CMSG_DATA(c) + sizeof(int) * (size_t)j, sizeof d);
                if (got < *nfds)
                    fds[got++] = d;
                else
                    close(d); /* more than asked for: not ours to keep */
            }
        }
        *nfds = got;
    }
    if (n > 0 && (m.msg_flags & MSG_TRUNC)) {
        errno = EMSGSIZE;
        return -1;
    }
    return n;
}
