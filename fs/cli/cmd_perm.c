// SPDX-License-Identifier: MIT
/*
 * `snapfs volume permission ...` and `snapfs snapshot permission ...`:
 * read grants on a volume or a snapshot (like createVolumePermission), one
 * parser for both. The store keeps the names; the mount checks them
 * (snapfs/access.h).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfs/access.h"

struct perm_cmd {
	const struct cli *c;
	enum sfs_access_kind kind;
	const char *help;
	char cmd[40]; /* "volume permission add " */
};

struct perm_list_q {
	enum sfs_access_kind kind;
	const char *name;
	json_t *users, *groups;
};

static int perm_list_query(struct sfs_txn *t, void *ctx)
{
	struct perm_list_q *q = ctx;

	return sfs_cat_grants_get(t, q->kind, q->name, &q->users, &q->groups);
}

/* The exit code of a failed read or change of name's grants. */
static int perm_fail(const struct perm_cmd *p, int r, const char *name)
{
	const char *what = sfs_access_kind_name(p->kind);

	if (r == -ENOENT)
		return cli_error("no %s %s", what, name);
	return cli_fail(r, "cannot update the permissions of %s %s", what, name);
}

static int perm_list(struct perm_cmd *p, int argc, char **argv)
{
	const char *what = sfs_access_kind_name(p->kind);
	struct cli_parse co = { .cmd = p->cmd, .help = p->help, .shared = CLI_JSON,
				.min_args = 1, .max_args = 1, .args_help = what };
	struct perm_list_q q = { .kind = p->kind };
	json_t *v;
	size_t i;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	q.name = co.args[0];
	r = cli_read_catalog(p->c, perm_list_query, &q);
	if (r > 0)
		return r;
	if (r == -ENOENT)
		return cli_error("no %s %s", what, q.name);
	if (r < 0)
		return cli_fail(r, "cannot read the permissions of %s %s", what, q.name);
	if (co.json)
		return cli_print_json(json_pack("{s:s, s:o, s:o}", what, q.name, "users", q.users,
						"groups", q.groups));
	json_array_foreach(q.users, i, v) printf("user   %s\n", json_string_value(v));
	json_array_foreach(q.groups, i, v) printf("group  %s\n", json_string_value(v));
	json_decref(q.users);
	json_decref(q.groups);
	return 0;
}

/* One grant of add or remove, checked: 0 or an exit code. */
static int perm_apply(struct sfs_txn *t, const struct perm_cmd *p, const char *name, bool add,
		      char opt, const char *who)
{
	const char *what = opt == 'u' ? "user" : "group";
	int r;

	if (add && !(opt == 'u' ? getpwnam(who) != NULL : getgrnam(who) != NULL))
		return cli_error("no %s named '%s' on this host", what, who);
	r = sfs_cat_grant(t, p->kind, name, opt == 'u' ? SFS_PERM_USER : SFS_PERM_GROUP, who, add);
	if (r == -EINVAL)
		return cli_error("invalid %s name '%s'", what, who);
	if (r == -EEXIST)
		return 0; /* granting twice is granting */
	if (r == -ENOENT && !add) {
		/* Either the object or the grant is missing: say which. */
		json_t *users = NULL, *groups = NULL;

		if (sfs_cat_grants_get(t, p->kind, name, &users, &groups) == 0) {
			json_decref(users);
			json_decref(groups);
			return cli_error("%s %s has no permission on %s %s", what, who,
					 sfs_access_kind_name(p->kind), name);
		}
	}
	return r < 0 ? perm_fail(p, r, name) : 0;
}

static int perm_change(struct perm_cmd *p, int argc, char **argv, bool add)
{
	struct cli_grants g = { 0 };
	const struct cli_opt opts[] = {
		{ .name = "user", .kind = CLI_STRING, .dest = &g, .fn = cli_grant_opt },
		{ .name = "group", .kind = CLI_STRING, .dest = &g, .fn = cli_grant_opt },
		{ 0 },
	};
	struct cli_parse co = { .cmd = p->cmd, .help = p->help, .opts = opts, .max_args = -1 };
	struct sfs_store *s = NULL;
	struct sfs_txn *t;
	const char *name;
	int r;

	r = cli_parse(&co, argc, argv);
	if (r) {
		r = cli_parse_exit(r);
		goto out_free;
	}
	if (co.nargs != 1 || g.n == 0) {
		r = cli_usage_error(p->cmd, "expected %s and --user U or --group G",
				    sfs_access_kind_name(p->kind));
		goto out_free;
	}
	name = co.args[0];
	r = cli_open_store(p->c, SFS_OPEN_WRITE, &s);
	if (r)
		goto out_free;
	r = sfs_txn_begin(s, true, &t);
	if (r < 0) {
		r = perm_fail(p, r, name);
		goto out_close_store;
	}
	/* All or nothing: one transaction for every grant given. */
	for (size_t i = 0; r == 0 && i < g.n; i++)
		r = perm_apply(t, p, name, add, g.v[i].kind, g.v[i].name);
	if (r) {
		sfs_txn_abort(t);
		goto out_close_store;
	}
	r = sfs_txn_commit(t);
	if (r < 0)
		r = perm_fail(p, r, name);
out_close_store:
	sfs_store_close(s);
out_free:
	cli_grants_release(&g);
	return r;
}

int cli_permission(const struct cli *c, int argc, char **argv, enum sfs_access_kind kind,
		   const char *help)
{
	static const char *const subs[] = { "add", "remove", "list", NULL };
	struct perm_cmd p = { .c = c, .kind = kind, .help = help };
	const char *what = sfs_access_kind_name(kind);
	char group[32];
	int i, r;

	snprintf(group, sizeof(group), "%s permission", what);
	r = cli_subcommand(group, help, subs, "add, remove or list", argc, argv, &i);
	if (r)
		return cli_parse_exit(r);
	snprintf(p.cmd, sizeof(p.cmd), "%s permission %s ", what, argv[1]);
	if (i == 2)
		return perm_list(&p, argc - 1, argv + 1);
	return perm_change(&p, argc - 1, argv + 1, i == 0);
}
