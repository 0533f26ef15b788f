/* SPDX-License-Identifier: MIT */
/*
 * Logging for the store library and its front ends. One function with a
 * printf format and a pluggable sink: the CLI logs to stderr, a daemonised
 * mount to syslog. The sink is process-wide because a process has one
 * stderr and one syslog connection; it carries no store state.
 */
#ifndef SNAPFS_LOG_H
#define SNAPFS_LOG_H

#include <stdarg.h>

enum sfs_log_level {
	SFS_LOG_ERR = 3,
	SFS_LOG_WARN = 4,
	SFS_LOG_INFO = 6,
	SFS_LOG_DEBUG = 7,
};

typedef void (*sfs_log_sink)(int level, const char *msg, void *userdata);

/* Replace the sink (NULL restores stderr). Not thread-safe: call at start-up. */
void sfs_log_set_sink(sfs_log_sink sink, void *userdata);
/* Messages above this level are dropped. Default SFS_LOG_INFO. */
void sfs_log_set_level(int level);
int sfs_log_get_level(void);

/* Thread-safe. Formats at most 1 KiB; longer messages are truncated. */
void sfs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs at SFS_LOG_ERR and returns err (a -errno), so that callers can write
 * `return sfs_log_errno(r, "...")`. */
int sfs_log_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The sink that writes "snapfs: msg\n" to stderr. */
void sfs_log_stderr_sink(int level, const char *msg, void *userdata);
/* The sink that sends messages to syslog(3). */
void sfs_log_syslog_sink(int level, const char *msg, void *userdata);

#endif
