// SPDX-License-Identifier: MIT
/*
 * `snapfs policy ...`: create, list, show, enable, disable, delete and run
 * lifecycle policies. Options of a schedule follow it on the command
 * line: --retain-count and --retain-age apply to the --schedule before
 * them, so that each of up to four schedules has its own retention.
 */
#include <errno.h>
#include <getopt.h>
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
	"  create NAME --target-tag K=V... --schedule S [--retain-count N] [--retain-age A]\n"
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

static int policy_create(const struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target-tag", required_argument, NULL, 'T' },
		{ "schedule", required_argument, NULL, 's' },
		{ "retain-count", required_argument, NULL, 'n' },
		{ "retain-age", required_argument, NULL, 'a' },
		{ "tag", required_argument, NULL, 't' },
		{ "copy-to", required_argument, NULL, 'C' },
		{ "copy-retain", required_argument, NULL, 'R' },
		{ "disabled", no_argument, NULL, 'D' },
		CLI_OPTION_JSON,
		CLI_OPTION_HELP,
		{ 0 },
	};
	static const char *const cmd = "policy create ";
	struct cli_opts co = { .cmd = cmd, .help = policy_help, .progress = -1 };
	struct sfs_policy p = { .enabled = true };
	struct sfs_policy_schedule *cur = NULL;
	struct sfs_store *s = NULL;
	struct sfs_txn *t;
	char err[256];
	int o, r = 0;

	p.target_tags = json_object();
	p.tags = json_object();
	while (r == 0 && (o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		uint64_t v;

		switch (o) {
		case 'T':
			r = parse_kv(p.target_tags, optarg, "target tag");
			break;
		case 't':
			r = parse_kv(p.tags, optarg, "tag");
			if (r == 0 && !strncmp(optarg, "snapfs:", 7))
				r = cli_usage_error(cmd, "tags starting with snapfs: are set by snapfs");
			break;
		case 's':
			if (p.n_schedules == SFS_POLICY_MAX_SCHEDULES) {
				r = cli_usage_error(cmd, "at most %d schedules per policy",
						    SFS_POLICY_MAX_SCHEDULES);
				break;
			}
			cur = &p.schedules[p.n_schedules++];
			if (strlen(optarg) >= sizeof(cur->text) ||
			    sfs_sched_parse(optarg, &cur->sched, err, sizeof(err)) < 0) {
				r = cli_usage_error(cmd, "--schedule: %s",
						    strlen(optarg) >= sizeof(cur->text)
							    ? "schedule text is too long"
							    : err);
				break;
			}
			snprintf(cur->text, sizeof(cur->text), "%s", optarg);
			break;
		case 'n':
			if (!cur)
				r = cli_usage_error(cmd, "--retain-count applies to the --schedule "
							 "before it; give a --schedule first");
			else if (sfs_parse_uint(optarg, 1, SFS_RETAIN_COUNT_MAX, &v) < 0)
				r = cli_usage_error(cmd, "invalid --retain-count '%s': 1 to %d",
						    optarg, SFS_RETAIN_COUNT_MAX);
			else
				cur->retain_count = (uint32_t)v;
			break;
		case 'a':
			if (!cur)
				r = cli_usage_error(cmd, "--retain-age applies to the --schedule before "
							 "it; give a --schedule first");
			else if (sfs_age_parse(optarg, &cur->retain_age) < 0)
				r = cli_usage_error(cmd, "invalid --retain-age '%s': e.g. 12h, 30d, 8w",
						    optarg);
			break;
		case 'C':
			free(p.copy_to);
			p.copy_to = realpath(optarg, NULL);
			if (!p.copy_to)
				r = cli_error("--copy-to %s: %s", optarg, strerror(errno));
			break;
		case 'R':
			if (sfs_parse_uint(optarg, 1, SFS_RETAIN_COUNT_MAX, &v) < 0)
				r = cli_usage_error(cmd, "invalid --copy-retain '%s': 1 to %d", optarg,
						    SFS_RETAIN_COUNT_MAX);
			else
				p.copy_retain = (uint32_t)v;
			break;
		case 'D':
			p.enabled = false;
			break;
		default:
			r = cli_opt_common(&co, o, argv);
		}
	}
	if (r == 0)
		r = cli_expect_args(cmd, argc, 1, "NAME");
	if (r) {
		r = cli_parse_exit(r);
		goto out;
	}
	snprintf(p.name, sizeof(p.name), "%s", argv[optind]);
	if (strlen(argv[optind]) > SFS_NAME_MAX || sfs_policy_validate(&p, err, sizeof(err)) < 0) {
		r = cli_usage_error(cmd, "%s", strlen(argv[optind]) > SFS_NAME_MAX
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

static int policy_list(const struct cli *c, bool json)
{
	struct plist l = { 0 };
	int r;

	if (json)
		l.arr = json_array();
	r = cli_read_catalog(c, list_query, &l);
	if (r) {
		json_decref(l.arr);
		return r > 0 ? r : cli_fail(r, "cannot list policies");
	}
	return json ? cli_print_json(l.arr) : 0;
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

static int policy_show(const struct cli *c, const char *name, bool json)
{
	struct show_query q = { .name = name };
	struct sfs_policy p;
	int64_t now = (int64_t)time(NULL);
	int r = cli_read_catalog(c, show_query, &q);

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

		printf("name:      %s\nstate:     %s\ncreated:   %s\n", p.name,
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

/* enable, disable, delete */
static int policy_change(const struct cli *c, const char *verb, const char *name)
{
	struct sfs_policy p;
	struct sfs_store *s;
	struct sfs_txn *t;
	int r = cli_open_store(c, SFS_OPEN_WRITE, &s);

	if (r)
		return r;
	r = sfs_txn_begin(s, true, &t);
	if (r == 0) {
		if (!strcmp(verb, "delete")) {
			r = sfs_cat_policy_del(t, name);
		} else {
			r = sfs_cat_policy_get(t, name, &p);
			if (r == 0) {
				p.enabled = !strcmp(verb, "enable");
				r = sfs_cat_policy_put(t, &p);
				sfs_policy_release(&p);
			}
		}
		if (r == 0)
			r = sfs_txn_commit(t);
		else
			sfs_txn_abort(t);
	}
	sfs_store_close(s);
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
	[SFS_POLICY_FAILED] = "failed",
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
				      json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?}",
						"action", action_names[e->action], "policy",
						e->policy, "schedule", e->schedule, "slot", slot,
						"volume", e->volume, "snapshot", e->snapshot, "store",
						e->store, "message", e->message));
		return;
	}
	if (e->action == SFS_POLICY_FAILED)
		return; /* logged on stderr as it happened */
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
	static const struct option opts[] = {
		{ "now", required_argument, NULL, 'n' },
		{ "policy", required_argument, NULL, 'p' },
		CLI_OPTION_JSON,
		CLI_OPTION_HELP,
		{ 0 },
	};
	struct cli_opts co = { .cmd = "policy run ", .help = policy_help, .progress = -1 };
	struct sfs_policy_run_opts ro = { .now = (int64_t)time(NULL) };
	struct run_out out = { 0 };
	struct sfs_store *s;
	int o, r;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			if (sfs_time_parse(optarg, &ro.now) < 0)
				return cli_usage_error("policy run ", "invalid --now '%s': use "
								      "2026-12-01T03:00:00Z (UTC)",
						       optarg);
			break;
		case 'p':
			ro.only = optarg;
			break;
		default:
			r = cli_opt_common(&co, o, argv);
			if (r) {
				json_decref(out.events);
				return cli_parse_exit(r);
			}
			if (co.json && !out.events)
				out.events = json_array();
		}
	}
	if (optind != argc) {
		json_decref(out.events);
		return cli_usage_error("policy run ", "unexpected argument '%s'", argv[optind]);
	}
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
	const char *sub, *name = NULL;
	bool json = false;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(policy_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	if (!strcmp(sub, "create"))
		return policy_create(c, argc - 1, argv + 1);
	if (!strcmp(sub, "run"))
		return policy_run(c, argc - 1, argv + 1);
	if (cli_wants_help(argc, argv)) {
		fputs(policy_help, stdout);
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-')
			return cli_usage_error("policy ", "bad option '%s'", argv[i]);
		else if (!name)
			name = argv[i];
		else
			return cli_usage_error("policy ", "unexpected argument '%s'", argv[i]);
	}
	if (!strcmp(sub, "list")) {
		if (name)
			return cli_usage_error("policy ", "policy list takes no arguments");
		return policy_list(c, json);
	}
	if (!name)
		return cli_usage_error("policy ", "expected 'policy %s NAME'", sub);
	if (!strcmp(sub, "show"))
		return policy_show(c, name, json);
	if (!strcmp(sub, "enable") || !strcmp(sub, "disable") || !strcmp(sub, "delete"))
		return policy_change(c, sub, name);
	return cli_usage_error("policy ", "unknown policy command '%s'", sub);
}
