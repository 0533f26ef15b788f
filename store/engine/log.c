// SPDX-License-Identifier: MIT
/*
 * The one logging function of snapfs and its two sinks. Formatting happens
 * into a stack buffer so that concurrent callers never interleave halves of
 * a line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "snapfs/log.h"

static sfs_log_sink log_sink = sfs_log_stderr_sink;
static void *log_userdata;
static int log_level = SFS_LOG_INFO;

void sfs_log_set_sink(sfs_log_sink sink, void *userdata)
{
	log_sink = sink ? sink : sfs_log_stderr_sink;
	log_userdata = userdata;
}

void sfs_log_set_level(int level)
{
	log_level = level;
}

int sfs_log_get_level(void)
{
	return log_level;
}

static void log_va(int level, const char *fmt, va_list ap)
{
	char msg[1024];

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_sink(level, msg, log_userdata);
}

void sfs_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(level, fmt, ap);
	va_end(ap);
}

int sfs_log_errno(int err, const char *fmt, ...)
{
	va_list ap;
	char msg[900];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sfs_log(SFS_LOG_ERR, "%s: %s", msg, strerror(err < 0 ? -err : err));
	return err;
}

void sfs_log_stderr_sink(int level, const char *msg, void *userdata)
{
	(void)userdata;
	(void)level;
	fprintf(stderr, "snapfs: %s\n", msg);
}

void sfs_log_syslog_sink(int level, const char *msg, void *userdata)
{
	(void)userdata;
	syslog(level, "%s", msg);
}
