// SPDX-License-Identifier: MIT
/*
 * `snapfs mount-status MOUNTPOINT`: a running mount's live figures, read
 * from the extended attribute the mount serves on its root (see
 * fs/mount/stats.c), so nothing is stopped or signalled and any user who
 * can see the mount can ask. The mount builds the JSON; this prints it or
 * a summary of it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "cli.h"
#include "mount.h"

static const char mount_status_help[] =
	"Usage: snapfs mount-status MOUNTPOINT [--json]\n"
	"\n"
	"The live figures of a running mount: block cache size and hit rate, blocks\n"
	"read ahead and how many were used, bytes read from packs against bytes\n"
	"served, verification failures, open files. Read from the mount root's\n"
	"extended attribute " SFS_STATS_XATTR "; the mount also logs them on SIGUSR1.\n";

/* Large enough for the figures many times over; the size is not asked
 * first, since the figures may grow between two calls. */
#define STATS_MAX 65536

static uint64_t num(json_t *o, const char *group, const char *key)
{
	json_t *v = json_object_get(group ? json_object_get(o, group) : o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
								: 0;
}

static const char *str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "?";
}

static void print_summary(json_t *o)
{
	char a[32], b[32], d[32];
	uint64_t hits = num(o, "cache", "hits"), misses = num(o, "cache", "misses");
	json_t *rate = json_object_get(json_object_get(o, "cache"), "hit_rate");

	printf("mount %s of store %s (pid %" PRIu64 ", up %" PRIu64 " s)\n",
	       str(o, "mountpoint"), str(o, "store"), num(o, NULL, "pid"),
	       num(o, NULL, "uptime_seconds"));
	printf("cache       %s of %s, %" PRIu64 " hits, %" PRIu64 " misses (%.1f%% hit rate)\n",
	       cli_human(num(o, "cache", "bytes"), a, sizeof(a)),
	       cli_human(num(o, "cache", "capacity"), b, sizeof(b)), hits, misses,
	       100.0 * (json_is_number(rate) ? json_number_value(rate) : 0.0));
	printf("readahead   %" PRIu64 " blocks read ahead, %" PRIu64 " used (window %s)\n",
	       num(o, "readahead", "blocks_read_ahead"), num(o, "readahead", "hits"),
	       cli_human(num(o, "readahead", "window_bytes"), a, sizeof(a)));
	printf("packs       %" PRIu64 " chunks, %s read, %s after decoding, %" PRIu64
	       " verification failures\n",
	       num(o, "packs", "chunks_decoded"),
	       cli_human(num(o, "packs", "stored_bytes_read"), a, sizeof(a)),
	       cli_human(num(o, "packs", "decoded_bytes"), b, sizeof(b)),
	       num(o, "packs", "verification_failures"));
	printf("served      %" PRIu64 " reads, %s, %" PRIu64 " read errors\n",
	       num(o, "served", "reads"), cli_human(num(o, "served", "bytes"), d, sizeof(d)),
	       num(o, "served", "read_errors"));
	printf("files       %" PRIu64 " open, %" PRIu64 " opened since mount\n",
	       num(o, "files", "open"), num(o, "files", "opened"));
}

int cmd_mount_status(const struct cli *c, int argc, char **argv)
{
	struct cli_parse p = { .cmd = "mount-status ", .help = mount_status_help,
			       .shared = CLI_JSON, .min_args = 1, .max_args = 1,
			       .args_help = "MOUNTPOINT" };
	char *buf;
	ssize_t n;
	json_error_t jerr;
	json_t *o;
	int r;

	r = cli_parse(&p, argc, argv);
	if (r)
		return cli_parse_exit(r);
	buf = malloc(STATS_MAX + 1);
	if (!buf)
		return cli_error("out of memory");
	n = getxattr(p.args[0], SFS_STATS_XATTR, buf, STATS_MAX);
	if (n < 0) {
		int e = errno;

		free(buf);
		if (e == ENODATA || e == ENOTSUP)
			return cli_error("%s is not the root of a snapfs mount", p.args[0]);
		return cli_error("%s: %s", p.args[0], strerror(e));
	}
	buf[n] = '\0';
	o = json_loads(buf, 0, &jerr);
	free(buf);
	if (!json_is_object(o)) {
		json_decref(o);
		return cli_error("%s: the mount's figures are not JSON: %s", p.args[0], jerr.text);
	}
	if (p.json)
		return cli_print_json(o);
	print_summary(o);
	json_decref(o);
	return 0;
}
