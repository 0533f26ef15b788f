// SPDX-License-Identifier: MIT
/*
 * The QMP client (qmp.h). QMP is one JSON object per line in each
 * direction: QEMU greets with {"QMP": {"version": ...}}, answers each
 * command with {"return": ...} or {"error": {"class", "desc"}}, and may
 * interleave {"event": ...} lines at any time. Lines are read with poll
 * and a deadline, and one that is not a JSON object ends the
 * conversation: the far end is not QEMU.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"

/* A reply larger than this is not one QEMU sends to our commands. */
#define QMP_LINE_MAX (4u << 20)

struct sfs_qmp {
	int fd;
	int timeout_ms;
	int version;
	pid_t peer;
	char *buf; /* bytes read past the last line */
	size_t len, cap;
};

static int say(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int say(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next line as a JSON object, within the deadline. */
static int read_msg(struct sfs_qmp *q, int64_t deadline, json_t **ret, char *err, size_t errlen)
{
	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		json_error_t je;
		struct pollfd p = {.fd = q->fd, .events = POLLIN};
		int64_t left;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - q->buf);
			json_t *o = json_loadb(q->buf, l, 0, &je);

			memmove(q->buf, nl + 1, q->len - l - 1);
			q->len -= l + 1;
			if (!json_is_object(o)) {
				json_decref(o);
				return say(err, errlen, -EPROTO, "not a QMP message: %.60s",
					   je.text[0] ? je.text : "not an object");
			}
			*ret = o;
			return 0;
		}
		if (q->len == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 4096;
			char *b;

			if (cap > QMP_LINE_MAX)
				return say(err, errlen, -EPROTO, "a QMP line longer than %u bytes",
					   QMP_LINE_MAX);
			b = realloc(q->buf, cap);
			if (!b)
				return say(err, errlen, -ENOMEM, "out of memory");
			q->buf = b;
			q->cap = cap;
		}
		left = deadline - now_ms();
		if (left <= 0)
			return say(err, errlen, -ETIMEDOUT, "no answer within %d ms",
				   q->timeout_ms);
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return say(err, errlen, -errno, "poll: %s", strerror(errno));
		if (n == 0)
			continue;
		n = read(q->fd, q->buf + q->len, q->cap - q->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return say(err, errlen, -errno, "read: %s", strerror(errno));
		if (n == 0)
			return say(err, errlen, -EPIPE, "the connection was closed");
		q->len += (size_t)n;
	}
}

static int send_msg(struct sfs_qmp *q, json_t *msg, char *err, size_t errlen)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	size_t len, off = 0;

	if (!text)
		return say(err, errlen, -ENOMEM, "out of memory");
	len = strlen(text);
	text[len++] = '\n'; /* over the terminating NUL: json_dumps leaves room */
	while (off < len) {
		ssize_t n = send(q->fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(text);
			return say(err, errlen, e == EPIPE ? -EPIPE : -e, "send: %s", strerror(e));
		}
		off += (size_t)n;
	}
	free(text);
	return 0;
}

int sfs_qmp_exec(struct sfs_qmp *q, const char *cmd, json_t *args, json_t **ret, char *err,
		 size_t errlen)
{
	int64_t deadline = now_ms() + q->timeout_ms;
	json_t *msg = json_pack("{s:s}", "execute", cmd);
	int r;

	if (ret)
		*ret = NULL;
	if (!msg)
		return say(err, errlen, -ENOMEM, "out of memory");
	if (args)
		json_object_set(msg, "arguments", args);
	r = send_msg(q, msg, err, errlen);
	json_decref(msg);
	if (r < 0)
		return r;
	for (;;) {
		json_t *o, *rv, *e;

		r = read_msg(q, deadline, &o, err, errlen);
		if (r < 0)
			return r;
		if (json_object_get(o, "event")) {
			json_decref(o);
			continue;
		}
		e = json_object_get(o, "error");
		rv = json_object_get(o, "return");
		if (e) {
			const char *cls = json_string_value(json_object_get(e, "class"));
			const char *desc = json_string_value(json_object_get(e, "desc"));

			r = say(err, errlen, -EREMOTEIO, "%s: %s", cmd, desc ? desc : cls ? cls : "?");
		} else if (rv) {
			if (ret)
				*ret = json_incref(rv);
			r = 0;
		} else {
			r = say(err, errlen, -EPROTO, "%s: an answer that is neither a return "
						      "nor an error", cmd);
		}
		json_decref(o);
		return r;
	}
}

int sfs_qmp_open(const char *path, int timeout_ms, struct sfs_qmp **ret, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sfs_qmp *q;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	json_t *greet = NULL, *v;
	char why[200];
	int r;

	*ret = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return say(err, errlen, -ENAMETOOLONG, "socket path too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	q = calloc(1, sizeof(*q));
	if (!q)
		return say(err, errlen, -ENOMEM, "out of memory");
	q->timeout_ms = timeout_ms;
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->fd < 0) {
		r = say(err, errlen, -errno, "socket: %s", strerror(errno));
		goto out_free;
	}
	if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = say(err, errlen, -errno, "cannot connect: %s", strerror(errno));
		goto out_free;
	}
	if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == 0)
		q->peer = cr.pid;
	r = read_msg(q, now_ms() + timeout_ms, &greet, why, sizeof(why));
	if (r == -ETIMEDOUT)
		r = say(err, errlen, -EPROTO, "not a QEMU QMP socket: no greeting within %d ms",
			timeout_ms);
	else if (r < 0)
		r = say(err, errlen, r == -ENOMEM ? r : -EPROTO, "not a QEMU QMP socket: %s", why);
	if (r < 0)
		goto out_free;
	v = json_object_get(json_object_get(json_object_get(greet, "QMP"), "version"), "qemu");
	if (!json_is_object(v)) {
		r = say(err, errlen, -EPROTO, "not a QEMU QMP socket: no QMP greeting");
		goto out_free;
	}
	q->version = (int)(json_integer_value(json_object_get(v, "major")) * 10000 +
			   json_integer_value(json_object_get(v, "minor")) * 100 +
			   json_integer_value(json_object_get(v, "micro")));
	r = sfs_qmp_exec(q, "qmp_capabilities", NULL, NULL, err, errlen);
	if (r < 0)
		goto out_free;
	json_decref(greet);
	*ret = q;
	return 0;

out_free:
	json_decref(greet);
	sfs_qmp_close(q);
	return r;
}

void sfs_qmp_close(struct sfs_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->buf);
	free(q);
}

int sfs_qmp_version(const struct sfs_qmp *q)
{
	return q->version;
}

pid_t sfs_qmp_peer_pid(const struct sfs_qmp *q)
{
	return q->peer;
}

void sfs_qmp_set_timeout(struct sfs_qmp *q, int timeout_ms)
{
	q->timeout_ms = timeout_ms;
}
