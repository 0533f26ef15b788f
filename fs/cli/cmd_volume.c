// SPDX-License-Identifier: MIT
/* `snapfs volume ...`: list, show and tag volumes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "snapfs/catalog.h"
#include "snapfs/image.h"
#include "snapfs/policy.h"

static const char volume_help[] =
	"Usage: snapfs volume COMMAND ...\n"
	"\n"
	"  list [--json]\n"
	"  show VOLUME [--json]      the volume and its snapshots, oldest first\n"
	"  tag VOLUME KEY=VALUE...   set tags (KEY= removes a tag); snapfs:device=DEV\n"
	"                            names its device in image policies' images\n"
	"  set-source VOLUME PATH    where policies' scheduled snapshots read from\n"
	"                            (stored as an absolute path; '' clears it);\n"
	"                            creates the volume when it does not exist yet\n"
	"  permission add|remove VOLUME (--user U | --group G)...\n"
	"  permission list VOLUME [--json]\n"
	"      Who, besides root and the store's owner, may read the volume's\n"
	"      snapshots (snapshots/ and volumes/) in a mount made with\n"
	"      -o allow_other. Users and groups are host names; they must exist.\n";

struct vlist {
	json_t *arr;
	int count;
};

static int vlist_cb(void *ctx, const struct sfs_volume *v)
{
	struct vlist *l = ctx;
	char t[32], sz[32];

	if (l->arr) {
		json_array_append_new(l->arr, sfs_volume_to_json(v));
		return 0;
	}
	if (l->count++ == 0)
		printf("%-22s  %-24s  %-20s  %10s\n", "ID", "NAME", "CREATED", "SIZE");
	printf("%-22s  %-24s  %-20s  %10s\n", v->id, v->name, cli_time(v->created, t, sizeof(t)),
	       cli_human(v->size, sz, sizeof(sz)));
	return 0;
}

static int snap_ids_cb(void *ctx, const struct sfs_snapshot *sn)
{
	json_array_append_new(ctx, json_string(sn->id));
	return 0;
}

static int list_query(struct sfs_txn *t, void *ctx)
{
	return sfs_cat_volume_foreach(t, vlist_cb, ctx);
}

struct show_query {
	const char *name;
	struct sfs_volume v;
	json_t *snaps;
};

static int show_query(struct sfs_txn *t, void *ctx)
{
	struct show_query *q = ctx;
	int r = sfs_cat_volume_get(t, q->name, &q->v);

	if (r == 0)
		r = sfs_cat_snapshot_foreach(t, q->name, snap_ids_cb, q->snaps);
	return r;
}

/* The path is made absolute here, since policies run from a service
 * whose working directory is not the user's. */
struct set_source_query {
	const char *name;
	char *source; /* taken by the volume record on success */
};

static int set_source_query(struct sfs_txn *t, void *ctx)
{
	struct set_source_query *q = ctx;
	struct sfs_volume v;
	/* A volume to be snapshotted by a policy may start here. */
	int r = sfs_cat_volume_ensure(t, q->name, (int64_t)time(NULL), NULL, &v);

	if (r < 0)
		return r;
	free(v.source);
	v.source = q->source;
	q->source = NULL;
	r = sfs_cat_volume_put(t, &v);
	sfs_volume_release(&v);
	return r;
}

static int volume_set_source(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = { .cmd = "volume set-source ", .help = volume_help, .min_args = 2,
				.max_args = 2, .args_help = "VOLUME PATH" };
	struct set_source_query q;
	char *abs = NULL;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	argv = co.args;
	if (!sfs_name_valid(argv[0]))
		return cli_usage_error("volume ", "invalid volume name '%s': use 1-128 of A-Z a-z "
						  "0-9 . _ -, not starting with . or -",
				       argv[0]);
	if (argv[1][0]) {
		abs = realpath(argv[1], NULL);
		if (!abs)
			return cli_error("source %s of volume %s: %s", argv[1], argv[0],
					 strerror(errno));
		/* The path as stored: absolute, so the directories above the
		 * argument count too. */
		r = cli_text_arg("volume ", "the source path", abs);
		if (r) {
			free(abs);
			return r;
		}
	}
	q.name = argv[0];
	q.source = abs;
	r = cli_write_catalog(c, set_source_query, &q);
	free(q.source);
	if (r > 0)
		return r;
	if (r < 0)
		return cli_fail(r, "cannot set the source of volume %s", argv[0]);
	return 0;
}

static int volume_list(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = { .cmd = "volume list ", .help = volume_help, .shared = CLI_JSON };
	struct vlist l = { 0 };
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	if (co.json)
		l.arr = json_array();
	r = cli_read_catalog(c, list_query, &l);
	if (r) {
		json_decref(l.arr);
		return r > 0 ? r : cli_fail(r, "cannot list volumes");
	}
	return co.json ? cli_print_json(l.arr) : 0;
}

static int volume_show(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = { .cmd = "volume show ", .help = volume_help, .shared = CLI_JSON,
				.min_args = 1, .max_args = 1, .args_help = "VOLUME" };
	struct show_query q = { 0 };
	struct sfs_volume v;
	json_t *snaps, *o;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	q.name = co.args[0];
	q.snaps = snaps = json_array();
	r = cli_read_catalog(c, show_query, &q);
	if (r > 0) {
		json_decref(snaps);
		return r;
	}
	if (r == -ENOENT) {
		json_decref(snaps);
		return cli_error("no volume named %s", q.name);
	}
	if (r < 0) {
		json_decref(snaps);
		return cli_fail(r, "cannot read volume %s", q.name);
	}
	v = q.v;
	o = sfs_volume_to_json(&v);
	json_object_set_new(o, "snapshots", snaps);
	if (co.json) {
		r = cli_print_json(o);
	} else {
		char tm[32], sz[32];
		const char *k;
		json_t *val;
		size_t i;
		printf("name:       %s\nid:         %s\ncreated:    %s\nsize:       %s\n"
		       "source:     %s\n",
		       v.name, v.id, cli_time(v.created, tm, sizeof(tm)),
		       cli_human(v.size, sz, sizeof(sz)), v.source ? v.source : "-");
		json_object_foreach(v.tags, k, val)
			printf("tag:        %s=%s\n", k, json_string_value(val));
		json_array_foreach(snaps, i, val)
			printf("snapshot:   %s\n", json_string_value(val));
		json_decref(o);
	}
	sfs_volume_release(&v);
	return r;
}

/* Sets the tags args[1..] of volume args[0] (a KEY= removes KEY). */
static int tag_query(struct sfs_txn *t, void *ctx)
{
	const struct cli_parse *co = ctx;
	struct sfs_volume v;
	int r = sfs_cat_volume_get(t, co->args[0], &v);

	if (r < 0)
		return r;
	for (int i = 1; r == 0 && i < co->nargs; i++) {
		char key[CLI_TAG_KEY_MAX + 1];
		const char *val = cli_tag_split(co->args[i], key);

		if (!*val)
			json_object_del(v.tags, key);
		else if (json_object_set_new(v.tags, key, json_string(val)) < 0)
			r = -ENOMEM;
	}
	if (r == 0)
		r = sfs_cat_volume_put(t, &v);
	sfs_volume_release(&v);
	return r;
}

static int volume_tag(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = { .cmd = "volume tag ", .help = volume_help, .min_args = 2,
				.max_args = -1, .args_help = "VOLUME KEY=VALUE..." };
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	argc = co.nargs;
	argv = co.args;
	for (int i = 1; i < argc; i++) {
		char key[CLI_TAG_KEY_MAX + 1];
		const char *val = cli_tag_split(argv[i], key);

		/* The one reserved key a user sets: it tells image policies
		 * which device the volume is, so only a device name will do. */
		if (val && !strcmp(key, SFS_TAG_DEVICE)) {
			if (*val && !sfs_devname_valid(val))
				return cli_usage_error("volume tag ",
						       "invalid %s '%s': a device name such as "
						       "vda, sdb or nvme0n1",
						       SFS_TAG_DEVICE, val);
			continue;
		}
		r = cli_tag_arg("volume ", argv[i], key, &val);
		if (r)
			return r;
	}
	r = cli_write_catalog(c, tag_query, &co);
	if (r > 0)
		return r;
	if (r == -ENOENT)
		return cli_error("no volume named %s", argv[0]);
	if (r < 0)
		return cli_fail(r, "cannot tag volume %s", argv[0]);
	return 0;
}

static int volume_permission(const struct cli *c, int argc, char **argv)
{
	return cli_permission(c, argc, argv, SFS_ACCESS_VOLUME, volume_help);
}

int cmd_volume(const struct cli *c, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "list", volume_list },
		{ "show", volume_show },
		{ "tag", volume_tag },
		{ "set-source", volume_set_source },
		{ "permission", volume_permission },
		{ 0 },
	};

	return cli_dispatch(c, "volume", volume_help, subs, argc, argv);
}
