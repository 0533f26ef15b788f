// SPDX-License-Identifier: MIT
/*
 * `snapfs policy ...`: create, list, show, enable, disable, delete and run
 * lifecycle policies. Options of a schedule follow it on the command
 * line: --retain-count and --retain-age apply to the --schedule before
 * them, so that each of up to four schedules has its own retention.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "snapfs/copy.h"
#include "snapfs/parse.h"
#include "snapfs/policy.h"

static const char policy_help[] =
	"Usage: snapfs policy COMMAND ...\n"
	"\n"
	"  create NAME [--type snapshot|image] --target-tag K=V... --schedule S\n"
	"         [--retain-count N] [--retain-age A]\n"
	"         [--schedule S [--retain-count N] [--retain-age A]]... [--tag K=V]...\n"
	"         [--copy-to STORE [--copy-retain N]] [--disabled] [--json]\n"
	"      Snapshot every volume that has all the target tags, from its source\n"
	"      (snapfs volume set-source), on up to 4 schedules (UTC):\n"
	"        hourly | every Nh | every Nm | daily HH:MM | weekly MON[,THU] HH:MM |\n"
	"        monthly D HH:MM (D 1-28) | 'MIN HOUR MDAY MONTH WDAY' (cron)\n"
	"      --retain-count N (1-1000) and --retain-age A (e.g. 12h, 30d, 8w) apply to\n"
	"      the --schedule before them; with both, a snapshot is kept while either\n"
	"      keeps it. Retention deletes only snapshots this policy made, never one\n"
	"      an image uses. --copy-to copies each new snapshot to another store,\n"
	"      keeping the newest --copy-retain copies there (default: all).\n"
	"      Snapshots are tagged snapfs:policy, snapfs:schedule, snapfs:slot and --tag.\n"
	"      --type image: at each slot, one image of each target instead, named\n"
	"      NAME[-TARGET]-YYYYMMDDTHHMMZ. A target is the matching volumes that share\n"
	"      the values of the target tags given as K=* (all matching volumes when\n"
	"      none is), each the device its snapfs:device tag names (snapfs volume tag\n"
	"      VOL snapfs:device=vda), all snapshotted together and registered in one\n"
	"      commit. Retention (per target) deregisters only images this policy made\n"
	"      and deletes their snapshots unless another image or a checkpoint maps\n"
	"      them or they are locked; --copy-to copies each image, --copy-retain\n"
	"      keeping the newest N copies per target there.\n"
	"  list [--json]\n"
	"  show NAME [--json]\n"
	"  enable NAME | disable NAME | delete NAME\n"
	"      delete removes the policy, not the snapshots it made.\n"
	"  run [--now 2026-12-01T03:00:00Z] [--policy NAME] [--json]\n"
	"      Does what is due at --now (default: the clock): for each schedule the\n"
	"      latest slot not yet run, so slots missed while the machine was off are\n"
	"      caught up once. Running it again does nothing until the next slot.\n";

/* Like cli_parse_tag, but an empty VALUE is refused too. */
static int parse_kv(json_t *o, const char *kv, const char *what)
{
	char key[CLI_TAG_KEY_MAX + 1];
	const char *val;
	int r = cli_tag_arg("policy create ", kv, key, &val);

	if (r)
		return r;
	if (!*val)
		return cli_usage_error("policy create ", "invalid %s '%s': expected KEY=VALUE", what,
				       kv);
	if (json_object_set_new(o, key, json_string(val)) < 0)
		return cli_error("out of memory");
	return 0;
}

/* What the options of policy create build, in command-line order. */
struct create_ctx {
	struct sfs_policy *p;
	struct sfs_policy_schedule *cur; /* the last --schedule, which retention applies to */
};

static int opt_target_tag(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v)
{
	struct create_ctx *cc = o->dest;

	return parse_kv(cc->p->target_tags, arg, "target tag");
}

static int opt_tag(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v)
{
	struct create_ctx *cc = o->dest;
	int r = parse_kv(cc->p->tags, arg, "tag");

	if (r == 0 && !strncmp(arg, "snapfs:", 7))
		r = cli_usage_error(p->cmd, "tags starting with snapfs: are set by snapfs");
	return r;
}

static int opt_schedule(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v)
{
	struct create_ctx *cc = o->dest;
	struct sfs_policy *pol = cc->p;
	char err[256];

	if (pol->n_schedules == SFS_POLICY_MAX_SCHEDULES)
		return cli_usage_error(p->cmd, "at most %d schedules per policy",
				       SFS_POLICY_MAX_SCHEDULES);
	cc->cur = &pol->schedules[pol->n_schedules++];
	if (strlen(arg) >= sizeof(cc->cur->text))
		return cli_usage_error(p->cmd, "--schedule: schedule text is too long");
	if (sfs_sched_parse(arg, &cc->cur->sched, err, sizeof(err)) < 0)
		return cli_usage_error(p->cmd, "--schedule: %s", err);
	snprintf(cc->cur->text, sizeof(cc->cur->text), "%s", arg);
	return 0;
}

/* --retain-count and --retain-age: of the --schedule before them. */
static int opt_retain(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v)
{
	struct create_ctx *cc = o->dest;

	if (!cc->cur)
		return cli_usage_error(p->cmd, "--%s applies to the --schedule before it; "
						   "give a --schedule first",
				       o->name);
	if (o->kind == CLI_UINT)
		cc->cur->retain_count = (uint32_t)v;
	else if (sfs_age_parse(arg, &cc->cur->retain_age) < 0)
		return cli_usage_error(p->cmd, "invalid --retain-age '%s': e.g. 12h, 30d, 8w",
				       arg);
	return 0;
}

static int opt_type(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v)
{
	int *type = o->dest;

	if (!strcmp(arg, "snapshot"))
		*type = SFS_POLICY_SNAPSHOT;
	else if (!strcmp(arg, "image"))
		*type = SFS_POLICY_IMAGE;
	else
		return cli_opt_bad_value(p, o, arg);
	return 0;
}

static int policy_create(const struct cli *c, int argc, char **argv)
{
	static const char *const cmd = "policy create ";
	struct sfs_policy p = { .enabled = true };
	struct create_ctx cc = { .p = &p };
	const char *copy_to = NULL;
	uint64_t copy_retain = 0;
	bool disabled = false;
	const struct cli_opt opts[] = {
		{ .name = "type", .kind = CLI_STRING, .dest = &p.type, .fn = opt_type,
		  .hint = "snapshot or image" },
		{ .name = "target-tag", .kind = CLI_STRING, .dest = &cc, .fn = opt_target_tag },
		{ .name = "schedule", .kind = CLI_STRING, .dest = &cc, .fn = opt_schedule },
		{ .name = "retain-count", .kind = CLI_UINT, .dest = &cc, .fn = opt_retain,
		  .min = 1, .max = SFS_RETAIN_COUNT_MAX },
		{ .name = "retain-age", .kind = CLI_STRING, .dest = &cc, .fn = opt_retain },
		{ .name = "tag", .kind = CLI_STRING, .dest = &cc, .fn = opt_tag },
		{ .name = "copy-to", .kind = CLI_STRING, .dest = &copy_to },
		{ .name = "copy-retain", .kind = CLI_UINT, .dest = &copy_retain, .min = 1,
		  .max = SFS_RETAIN_COUNT_MAX },
		{ .name = "disabled", .kind = CLI_FLAG, .dest = &disabled },
		{ 0 },
	};
	struct cli_parse co = { .cmd = cmd, .help = policy_help, .opts = opts, .shared = CLI_JSON,
				.min_args = 1, .max_args = 1, .args_help = "NAME" };
	struct sfs_store *s = NULL;
	struct sfs_txn *t;
	char err[256];
	int r;

	p.target_tags = json_object();
	p.tags = json_object();
	r = cli_parse(&co, argc, argv);
	if (r) {
		r = cli_parse_exit(r);
		goto out;
	}
	p.enabled = !disabled;
	p.copy_retain = (uint32_t)copy_retain;
	if (copy_to && !(p.copy_to = realpath(copy_to, NULL))) {
		r = cli_error("--copy-to %s: %s", copy_to, strerror(errno));
		goto out;
	}
	snprintf(p.name, sizeof(p.name), "%s", co.args[0]);
	if (strlen(co.args[0]) > SFS_NAME_MAX || sfs_policy_validate(&p, err, sizeof(err)) < 0) {
		r = cli_usage_error(cmd, "%s", strlen(co.args[0]) > SFS_NAME_MAX
						      ? "policy name is too long"
						      : err);
		goto out;
	}
	p.created = (int64_t)time(NULL);
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		goto out;
	if (p.copy_to && sfs_copy_target_check(s, p.copy_to) == -EINVAL) {
		r = cli_usage_error(cmd, "--copy-to %s is this store; give another store",
				    p.copy_to);
		goto out;
	}
	r = sfs_txn_begin(s, true, &t);
	if (r == 0) {
		struct sfs_policy old;
		r = sfs_cat_policy_get(t, p.name, &old);
		if (r == 0) {
			sfs_policy_release(&old);
			r = -EEXIST;
		} else if (r == -ENOENT) {
			r = sfs_cat_policy_put(t, &p);
		}
		if (r == 0)
			r = sfs_txn_commit(t);
		else
			sfs_txn_abort(t);
	}
	if (r == -EEXIST)
		r = cli_error("policy %s exists (delete it first)", p.name);
	else if (r < 0)
		r = cli_fail(r, "cannot create policy %s", p.name);
	else if (co.json)
		r = cli_print_json(sfs_policy_to_json(&p));
	else
		printf("created policy %s\n", p.name);
out:
	sfs_store_close(s);
	sfs_policy_release(&p);
	return r;
}

static json_t *with_next(const struct sfs_policy *p, int64_t now)
{
	json_t *o = sfs_policy_to_json(p), *arr = json_object_get(o, "schedules"), *e;
	size_t i;

	json_array_foreach(arr, i, e) {
		char t[32];
		int64_t next = sfs_sched_next(&p->schedules[i].sched, now);
		if (next >= 0)
			json_object_set_new(e, "next_run", json_string(cli_time(next, t, sizeof(t))));
	}
	return o;
}

struct plist {
	json_t *arr;
	int count;
};

static int list_cb(void *ctx, const struct sfs_policy *p)
{
	struct plist *l = ctx;
	int64_t now = (int64_t)time(NULL);
	char targets[256] = "", next[32] = "-";
	int64_t soonest = -1;
	const char *k;
	json_t *v;

	if (l->arr) {
		json_array_append_new(l->arr, with_next(p, now));
		return 0;
	}
	json_object_foreach(p->target_tags, k, v) {
		size_t n = strlen(targets);
		snprintf(targets + n, sizeof(targets) - n, "%s%s=%s", n ? "," : "", k,
			 json_string_value(v));
	}
	for (size_t i = 0; i < p->n_schedules; i++) {
		int64_t t = sfs_sched_next(&p->schedules[i].sched, now);
		if (t >= 0 && (soonest < 0 || t < soonest))
			soonest = t;
	}
	if (soonest >= 0 && p->enabled)
		cli_time(soonest, next, sizeof(next));
	if (l->count++ == 0)
		printf("%-20s  %-8s  %-9s  %-20s  %s\n", "NAME", "STATE", "SCHEDULES", "NEXT RUN",
		       "TARGETS");
	printf("%-20s  %-8s  %-9zu  %-20s  %s\n", p->name, p->enabled ? "enabled" : "disabled",
	       p->n_schedules, next, targets);
	return 0;
}

static int list_query(struct sfs_txn *t, void *ctx)
{
	return sfs_cat_policy_foreach(t, list_cb, ctx);
}

static int policy_list(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = { .cmd = "policy list ", .help = policy_help, .shared = CLI_JSON };
	struct plist l = { 0 };
	int r = cli_parse(&co, argc, argv);
	bool json = co.json;

	if (r)
		return cli_parse_exit(r);
	return cli_read_listing(c, json, list_query, &l, &l.arr, "policies");
}

struct show_query {
	const char *name;
	struct sfs_policy p;
};

static int show_query(struct sfs_txn *t, void *ctx)
{
	struct show_query *q = ctx;

	return sfs_cat_policy_get(t, q->name, &q->p);
}

static int policy_show(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = { .cmd = "policy show ", .help = policy_help, .shared = CLI_JSON,
				.min_args = 1, .max_args = 1, .args_help = "NAME" };
	struct show_query q = { 0 };
	struct sfs_policy p;
	int64_t now = (int64_t)time(NULL);
	const char *name;
	int r = cli_parse(&co, argc, argv);
	bool json = co.json;

	if (r)
		return cli_parse_exit(r);
	q.name = name = co.args[0];
	r = cli_read_catalog(c, show_query, &q);
	if (r > 0)
		return r;
	if (r == -ENOENT)
		return cli_error("no policy named %s", name);
	if (r < 0)
		return cli_fail(r, "cannot read policy %s", name);
	p = q.p;
	if (json) {
		r = cli_print_json(with_next(&p, now));
	} else {
		char tm[32];
		const char *k;
		json_t *v;

		printf("name:      %s\ntype:      %s\nstate:     %s\ncreated:   %s\n", p.name,
		       p.type == SFS_POLICY_IMAGE ? "image" : "snapshot",
		       p.enabled ? "enabled" : "disabled", cli_time(p.created, tm, sizeof(tm)));
		json_object_foreach(p.target_tags, k, v)
			printf("target:    %s=%s\n", k, json_string_value(v));
		json_object_foreach(p.tags, k, v)
			printf("tag:       %s=%s\n", k, json_string_value(v));
		for (size_t i = 0; i < p.n_schedules; i++) {
			const struct sfs_policy_schedule *sc = &p.schedules[i];
			char last[32] = "never", next[32] = "-", keep[64] = "";
			int64_t n = sfs_sched_next(&sc->sched, now);

			if (sc->last_run)
				cli_time(sc->last_run, last, sizeof(last));
			if (n >= 0)
				cli_time(n, next, sizeof(next));
			if (sc->retain_count)
				snprintf(keep, sizeof(keep), "newest %u", sc->retain_count);
			if (sc->retain_age)
				snprintf(keep + strlen(keep), sizeof(keep) - strlen(keep),
					 "%s%" PRId64 "%s", keep[0] ? " or younger than " : "younger than ",
					 sc->retain_age % 86400 ? sc->retain_age / 3600
								: sc->retain_age / 86400,
					 sc->retain_age % 86400 ? "h" : "d");
			printf("schedule:  %s  (keep %s; last run %s; next %s)\n", sc->text, keep, last,
			       next);
		}
		if (p.copy_to)
			printf("copy to:   %s (keep %s)\n", p.copy_to,
			       p.copy_retain ? (snprintf(tm, sizeof(tm), "newest %u", p.copy_retain), tm)
					     : "all");
	}
	sfs_policy_release(&p);
	return r;
}

struct change_query {
	const char *verb, *name;
};

static int change_query(struct sfs_txn *t, void *ctx)
{
	const struct change_query *q = ctx;
	struct sfs_policy p;
	int r;

	if (!strcmp(q->verb, "delete"))
		return sfs_cat_policy_del(t, q->name);
	r = sfs_cat_policy_get(t, q->name, &p);
	if (r < 0)
		return r;
	p.enabled = !strcmp(q->verb, "enable");
	r = sfs_cat_policy_put(t, &p);
	sfs_policy_release(&p);
	return r;
}

/* enable, disable, delete (argv[0]) */
static int policy_change(const struct cli *c, int argc, char **argv)
{
	const char *verb = argv[0], *name;
	char cmd[32];
	struct cli_parse co = { .cmd = cmd, .help = policy_help, .min_args = 1, .max_args = 1,
				.args_help = "NAME" };
	struct change_query q = { .verb = verb };
	int r;

	snprintf(cmd, sizeof(cmd), "policy %s ", verb);
	r = cli_parse(&co, argc, argv);
	if (r)
		return cli_parse_exit(r);
	q.name = name = co.args[0];
	r = cli_write_catalog(c, change_query, &q);
	if (r > 0)
		return r;
	if (r == -ENOENT)
		return cli_error("no policy named %s", name);
	if (r < 0)
		return cli_fail(r, "cannot %s policy %s", verb, name);
	printf("%sd policy %s\n", !strcmp(verb, "delete") ? "delete" : verb, name);
	return 0;
}

static const char *const action_names[] = {
	[SFS_POLICY_CREATED] = "created", [SFS_POLICY_COPIED] = "copied",
	[SFS_POLICY_DELETED] = "deleted", [SFS_POLICY_KEPT] = "kept",
	[SFS_POLICY_FAILED] = "failed", [SFS_POLICY_REGISTERED] = "registered",
	[SFS_POLICY_DEREGISTERED] = "deregistered",
};

struct run_out {
	json_t *events; /* NULL: print lines */
};

static void on_event(void *ctx, const struct sfs_policy_event *e)
{
	struct run_out *out = ctx;
	char slot[32];

	cli_time(e->slot, slot, sizeof(slot));
	if (out->events) {
		json_array_append_new(out->events,
				      json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}",
						"action", action_names[e->action], "policy",
						e->policy, "schedule", e->schedule, "slot", slot,
						"volume", e->volume, "snapshot", e->snapshot, "image",
						e->image, "store", e->store, "message", e->message));
		return;
	}
	if (e->action == SFS_POLICY_FAILED)
		return; /* logged on stderr as it happened */
	if (e->image) {
		/* snapshot is the image's id, or for DELETED and KEPT one of
		 * its snapshots. */
		bool other = e->action == SFS_POLICY_COPIED || e->action == SFS_POLICY_DELETED ||
			     e->action == SFS_POLICY_DEREGISTERED;

		printf("%s %s: image %s%s%s (policy %s, schedule '%s', slot %s)%s%s\n",
		       action_names[e->action], e->snapshot ? e->snapshot : "-", e->image,
		       other ? " in " : "", other ? e->store : "", e->policy, e->schedule, slot,
		       e->message ? ": " : "", e->message ? e->message : "");
		return;
	}
	printf("%s %s: %s %s%s%s (policy %s, schedule '%s', slot %s)%s%s\n",
	       action_names[e->action], e->snapshot ? e->snapshot : "-",
	       e->volume ? "volume" : "", e->volume ? e->volume : "",
	       e->action == SFS_POLICY_COPIED || e->action == SFS_POLICY_DELETED ? " in " : "",
	       e->action == SFS_POLICY_COPIED || e->action == SFS_POLICY_DELETED ? e->store : "",
	       e->policy, e->schedule, slot, e->message ? ": " : "",
	       e->message ? e->message : "");
}

static int policy_run(const struct cli *c, int argc, char **argv)
{
	struct sfs_policy_run_opts ro = { .now = (int64_t)time(NULL) };
	const struct cli_opt opts[] = {
		{ .name = "now", .kind = CLI_STRING, .dest = &ro.now, .fn = cli_now_opt },
		{ .name = "policy", .kind = CLI_STRING, .dest = &ro.only },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "policy run ", .help = policy_help, .opts = opts,
				.shared = CLI_JSON };
	struct run_out out = { 0 };
	struct sfs_store *s;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	if (co.json)
		out.events = json_array();
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r) {
		json_decref(out.events);
		return r;
	}
	ro.event = on_event;
	ro.event_ctx = &out;
	r = sfs_policy_run(s, &ro);
	sfs_store_close(s);
	if (r < 0) {
		json_decref(out.events);
		return cli_fail(r, "policy run in store %s failed", c->store_path);
	}
	if (out.events) {
		char now[32];
		cli_print_json(json_pack("{s:s, s:i, s:o}", "now", cli_time(ro.now, now, sizeof(now)),
					 "failures", r, "events", out.events));
	}
	if (r > 0)
		return cli_error("policy run: %d step%s failed (see above)", r, r == 1 ? "" : "s");
	return 0;
}

int cmd_policy(const struct cli *c, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "create", policy_create }, { "list", policy_list },
		{ "show", policy_show },     { "enable", policy_change },
		{ "disable", policy_change }, { "delete", policy_change },
		{ "run", policy_run },       { 0 },
	};

	return cli_dispatch(c, "policy", policy_help, subs, argc, argv);
}
