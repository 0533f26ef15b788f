/* SPDX-License-Identifier: MIT */
/*
 * A small client of QEMU's machine protocol (QMP) over a unix socket:
 * connect and read the greeting, leave negotiation mode, execute commands
 * and wait for events. Replies are jansson objects. Every read is bounded
 * by a deadline, so a socket that is not QEMU (one that says nothing, or
 * says something else) is an error within that time rather than a hang.
 * One connection belongs to one thread.
 */
#ifndef SNAPFS_FS_QMP_H
#define SNAPFS_FS_QMP_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

struct sfs_qmp;

/*
 * Connects to the QMP socket at path, reads QEMU's greeting and sends
 * qmp_capabilities, each step bounded by timeout_ms. Returns 0, or -errno
 * with one line in err (errlen bytes): -ENOENT/-ECONNREFUSED/-ENOTSOCK
 * (nothing listens there), -EPROTO (something that is not QEMU answered,
 * or nothing did in time: -ETIMEDOUT). *ret is freed with sfs_qmp_close.
 */
int sfs_qmp_open(const char *path, int timeout_ms, struct sfs_qmp **ret, char *err, size_t errlen);
void sfs_qmp_close(struct sfs_qmp *q); /* accepts NULL */

/* QEMU's version from the greeting: major * 10000 + minor * 100 + micro. */
int sfs_qmp_version(const struct sfs_qmp *q);
/* The pid of the QEMU process on the other end (SO_PEERCRED), or 0. */
pid_t sfs_qmp_peer_pid(const struct sfs_qmp *q);

/*
 * Executes cmd with args (an object, borrowed; or NULL) and waits up to
 * the connection's timeout for its reply; events that arrive meanwhile
 * are skipped. 0 and *ret (the "return" member, a new reference; ret may
 * be NULL), or -errno with one line in err: -EREMOTEIO when QEMU
 * answered with an error (its class and description are in err),
 * -ETIMEDOUT, -EPROTO, -EPIPE (QEMU went away).
 */
int sfs_qmp_exec(struct sfs_qmp *q, const char *cmd, json_t *args, json_t **ret, char *err,
		 size_t errlen);

/* Sets the deadline of each later exec (milliseconds). */
void sfs_qmp_set_timeout(struct sfs_qmp *q, int timeout_ms);

#endif
