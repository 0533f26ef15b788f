// SPDX-License-Identifier: MIT
/* `snapfs bin ...`: recycle bin rules, what the bin keeps, and restores. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "snapfs/bin.h"
#include "snapfs/parse.h"

static const char bin_help[] =
	"Usage: snapfs bin COMMAND ...\n"
	"\n"
	"  rule create --retain PERIOD [--target-tag K=V] [--snapshots|--images|--both]\n"
	"              [--json]\n"
	"      Keep deleted snapshots (the default), deregistered images, or both, for\n"
	"      PERIOD (90m, 12h, 7d, 8w; at most 3650d), only those tagged K=V when\n"
	"      given. When several rules cover a thing, the longest period holds.\n"
	"  rule list [--json]\n"
	"  rule delete RULE-ID\n"
	"  list [--json] [--now TIME]\n"
	"      What the bin keeps and until when. Kept things are hidden from\n"
	"      listings and mounts; gc keeps their data until the period ends\n"
	"      (judged at --now TIME, default the clock), then reclaims it.\n"
	"  restore ID\n"
	"      Put a snapshot (snap-...) or an image (ami-...) back; an image brings\n"
	"      back the snapshots it maps that are in the bin too.\n"
	"\n"
	"'snapshot delete --force' and 'image deregister --force' skip the bin.\n";

/* ---- rules ---- */

static int opt_retain(const struct cli_parse *p, const struct cli_opt *o, const char *arg,
		      uint64_t v)
{
	(void)v;
	if (sfs_parse_duration(arg, SFS_BIN_RETAIN_MAX, o->dest) < 0)
		return cli_usage_error(p->cmd, "invalid --retain '%s': 90m, 12h, 7d or 8w, at most "
					       "3650d",
				       arg);
	return 0;
}

static int rule_create_apply(struct sfs_txn *t, void *ctx)
{
	return sfs_bin_rule_create(t, ctx);
}

static json_t *rule_json(const struct sfs_bin_rule *r)
{
	return json_pack("{s:s, s:I, s:s, s:s?, s:s?, s:I}", "id", r->id, "retain_seconds",
			 (json_int_t)r->retain, "resources", sfs_bin_resources_name(r->resources),
			 "tag_key", r->tag_key, "tag_value", r->tag_value, "created",
			 (json_int_t)r->created);
}

static const char *period_text(uint64_t secs, char *buf, size_t len)
{
	if (secs % 604800 == 0)
		snprintf(buf, len, "%" PRIu64 "w", secs / 604800);
	else if (secs % 86400 == 0)
		snprintf(buf, len, "%" PRIu64 "d", secs / 86400);
	else if (secs % 3600 == 0)
		snprintf(buf, len, "%" PRIu64 "h", secs / 3600);
	else
		snprintf(buf, len, "%" PRIu64 "m", secs / 60);
	return buf;
}

static int bin_rule_create(const struct cli *c, int argc, char **argv)
{
	struct sfs_bin_rule rule = { 0 };
	const char *tag = NULL, *value;
	bool snaps = false, images = false, both = false;
	char key[CLI_TAG_KEY_MAX + 1];
	const struct cli_opt opts[] = {
		{ .name = "retain", .kind = CLI_STRING, .dest = &rule.retain, .fn = opt_retain },
		{ .name = "target-tag", .kind = CLI_STRING, .dest = &tag },
		{ .name = "snapshots", .kind = CLI_FLAG, .dest = &snaps },
		{ .name = "images", .kind = CLI_FLAG, .dest = &images },
		{ .name = "both", .kind = CLI_FLAG, .dest = &both },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "bin rule create ", .help = bin_help, .opts = opts,
				.shared = CLI_JSON };
	char period[32];
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	if (!rule.retain)
		return cli_usage_error(co.cmd, "--retain PERIOD is required");
	if (snaps + images + both > 1)
		return cli_usage_error(co.cmd, "give one of --snapshots, --images and --both");
	rule.resources = both || (snaps && images) ? SFS_BIN_BOTH
			 : images			   ? SFS_BIN_IMAGES
							   : SFS_BIN_SNAPSHOTS;
	if (tag) {
		r = cli_tag_arg(co.cmd, tag, key, &value);
		if (r)
			return r;
		rule.tag_key = key;
		rule.tag_value = (char *)value;
	}
	r = cli_write_catalog(c, rule_create_apply, &rule);
	if (r > 0)
		return r;
	if (r < 0)
		return cli_fail(r, "cannot create the recycle bin rule");
	if (co.json)
		return cli_print_json(rule_json(&rule));
	printf("%s: keep %s for %s%s%s%s\n", rule.id, sfs_bin_resources_name(rule.resources),
	       period_text(rule.retain, period, sizeof(period)), tag ? " (tagged " : "",
	       tag ? tag : "", tag ? ")" : "");
	return 0;
}

struct rule_list {
	json_t *arr;
	int count;
};

static int rule_list_cb(void *ctx, const struct sfs_bin_rule *r)
{
	struct rule_list *l = ctx;
	char period[32], tag[2 * CLI_TAG_KEY_MAX + 2];

	if (l->arr)
		return json_array_append_new(l->arr, rule_json(r)) ? -ENOMEM : 0;
	if (l->count++ == 0)
		printf("%-22s  %-9s  %-7s  %s\n", "RULE", "KEEPS", "FOR", "TAG");
	snprintf(tag, sizeof(tag), "%s%s%s", r->tag_key ? r->tag_key : "-",
		 r->tag_key ? "=" : "", r->tag_key ? r->tag_value : "");
	printf("%-22s  %-9s  %-7s  %s\n", r->id, sfs_bin_resources_name(r->resources),
	       period_text(r->retain, period, sizeof(period)), tag);
	return 0;
}

static int rule_list_query(struct sfs_txn *t, void *ctx)
{
	return sfs_bin_rule_foreach(t, rule_list_cb, ctx);
}

static int bin_rule_list(const struct cli *c, int argc, char **argv)
{
	struct rule_list l = { 0 };
	struct cli_parse co = { .cmd = "bin rule list ", .help = bin_help, .shared = CLI_JSON };
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	return cli_read_listing(c, co.json, rule_list_query, &l, &l.arr, "the recycle bin rules");
}

static int rule_delete_apply(struct sfs_txn *t, void *ctx)
{
	return sfs_bin_rule_delete(t, ctx);
}

static int bin_rule_delete(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = { .cmd = "bin rule delete ", .help = bin_help, .min_args = 1,
				.max_args = 1, .args_help = "RULE-ID" };
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	if (!sfs_idstr_valid(co.args[0], "rule-"))
		return cli_usage_error(co.cmd, "'%s' is not a rule id (rule-<hex>)", co.args[0]);
	r = cli_write_catalog(c, rule_delete_apply, co.args[0]);
	if (r > 0)
		return r;
	if (r == -ENOENT)
		return cli_error("no recycle bin rule %s", co.args[0]);
	if (r < 0)
		return cli_fail(r, "cannot delete recycle bin rule %s", co.args[0]);
	printf("deleted rule %s\n", co.args[0]);
	return 0;
}

static int bin_rule(const struct cli *c, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "create", bin_rule_create },
		{ "list", bin_rule_list },
		{ "delete", bin_rule_delete },
		{ 0 },
	};

	return cli_dispatch(c, "bin rule", bin_help, subs, argc, argv);
}

/* ---- entries ---- */

struct entry_list {
	json_t *arr;
	int64_t now;
	int count;
};

static int entry_list_cb(void *ctx, const struct sfs_bin_entry *e)
{
	struct entry_list *l = ctx;
	const char *kind = e->kind == SFS_BIN_IMAGES ? "image" : "snapshot";
	char d[32], u[32];

	if (e->until <= l->now) /* gc drops it next; it can no longer come back */
		return 0;
	if (l->arr)
		return json_array_append_new(l->arr,
					     json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", e->id,
						       "kind", kind, "name", e->name, "deleted",
						       (json_int_t)e->deleted, "until",
						       (json_int_t)e->until))
			       ? -ENOMEM
			       : 0;
	if (l->count++ == 0)
		printf("%-22s  %-8s  %-24s  %-20s  %-20s\n", "ID", "KIND", "NAME", "DELETED",
		       "KEPT UNTIL");
	printf("%-22s  %-8s  %-24s  %-20s  %-20s\n", e->id, kind, e->name,
	       cli_time(e->deleted, d, sizeof(d)), cli_time(e->until, u, sizeof(u)));
	return 0;
}

static int entry_list_query(struct sfs_txn *t, void *ctx)
{
	return sfs_bin_foreach(t, entry_list_cb, ctx);
}

static int bin_list(const struct cli *c, int argc, char **argv)
{
	struct entry_list l = { .now = (int64_t)time(NULL) };
	const struct cli_opt opts[] = {
		{ .name = "now", .kind = CLI_STRING, .dest = &l.now, .fn = cli_now_opt },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "bin list ", .help = bin_help, .opts = opts,
				.shared = CLI_JSON };
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	return cli_read_listing(c, co.json, entry_list_query, &l, &l.arr, "the recycle bin");
}

struct restore_req {
	const char *id;
	char err[256];
};

static int restore_apply(struct sfs_txn *t, void *ctx)
{
	struct restore_req *q = ctx;

	return sfs_bin_restore(t, q->id, (int64_t)time(NULL), q->err, sizeof(q->err));
}

static int bin_restore(const struct cli *c, int argc, char **argv)
{
	struct restore_req q = { 0 };
	struct cli_parse co = { .cmd = "bin restore ", .help = bin_help, .min_args = 1,
				.max_args = 1, .args_help = "ID (snap-... or ami-...)" };
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	q.id = co.args[0];
	if (!sfs_idstr_valid(q.id, "snap-") && !sfs_idstr_valid(q.id, "ami-"))
		return cli_usage_error(co.cmd, "'%s' is not a snapshot or image id", q.id);
	r = cli_write_catalog(c, restore_apply, &q);
	if (r > 0)
		return r;
	if (r == -ENOENT)
		return cli_error("%s is not in the recycle bin of store %s", q.id, c->store_path);
	if (r == -EEXIST || r == -ESRCH)
		return cli_error("cannot restore %s: %s; nothing was changed", q.id, q.err);
	if (r < 0)
		return cli_fail(r, "cannot restore %s", q.id);
	printf("restored %s\n", q.id);
	return 0;
}

int cmd_bin(const struct cli *c, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "rule", bin_rule },
		{ "list", bin_list },
		{ "restore", bin_restore },
		{ 0 },
	};

	return cli_dispatch(c, "bin", bin_help, subs, argc, argv);
}
