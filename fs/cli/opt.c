// SPDX-License-Identifier: MIT
/*
 * The one option parser of the command line. Each command describes its
 * options in a table (struct cli_opt) and the options it shares with
 * others as bits (--json, --progress/--no-progress, --no-wait; --help and
 * -h always); cli_parse runs getopt_long over them, converts typed values
 * with the strict parsers of snapfs/parse.h, and turns every mistake into
 * one line that names the option and exit status 2. Commands only look at
 * what the parse filled in, so an option means the same everywhere and a
 * new command cannot grow a loop of its own.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfs/parse.h"

/* getopt_long values: shared options above any char, table entries above
 * those, so that a value names its option without a search. */
enum {
	VAL_JSON = 0x100,
	VAL_PROGRESS,
	VAL_NO_PROGRESS,
	VAL_NO_WAIT,
	VAL_HELP,
	VAL_TABLE = 0x200,
};

#define MAX_OPTS 40

static const struct option shared_opts[] = {
	{ "json", no_argument, NULL, VAL_JSON },
	{ "progress", no_argument, NULL, VAL_PROGRESS },
	{ "no-progress", no_argument, NULL, VAL_NO_PROGRESS },
	{ "no-wait", no_argument, NULL, VAL_NO_WAIT },
	{ "help", no_argument, NULL, VAL_HELP },
};

static bool shared_taken(unsigned shared, int val)
{
	switch (val) {
	case VAL_JSON:
		return shared & CLI_JSON;
	case VAL_PROGRESS:
	case VAL_NO_PROGRESS:
		return shared & CLI_PROGRESS;
	case VAL_NO_WAIT:
		return shared & CLI_NO_WAIT;
	default:
		return true; /* --help */
	}
}

/* The getopt tables of p: long options and the short string. 0, or an
 * exit code when the command's table does not fit (a programming error). */
static int build(const struct cli_parse *p, struct option *lo, char *so, size_t solen)
{
	/* '+': stop at the first operand (the global options before a
	 * command); ':': a missing value returns ':', told apart from '?'. */
	size_t n = 0, s = (size_t)snprintf(so, solen, "%s:h", p->stop_at_operand ? "+" : "");

	for (size_t i = 0; i < sizeof(shared_opts) / sizeof(shared_opts[0]); i++)
		if (shared_taken(p->shared, shared_opts[i].val))
			lo[n++] = shared_opts[i];
	for (size_t i = 0; p->opts && p->opts[i].name; i++) {
		const struct cli_opt *o = &p->opts[i];
		int has_arg = o->kind == CLI_FLAG ? no_argument : required_argument;

		if (n + 2 > MAX_OPTS || s + 3 > solen)
			return cli_error("internal error: too many options for '%s'", p->cmd);
		lo[n++] = (struct option){ o->name, has_arg, NULL, VAL_TABLE + (int)i };
		if (o->letter) {
			so[s++] = o->letter;
			if (has_arg == required_argument)
				so[s++] = ':';
		}
	}
	lo[n] = (struct option){ 0 };
	so[s] = '\0';
	return 0;
}

/* The argument getopt just refused (getopt's own message is off). */
static const char *cli_bad_arg(char **argv)
{
	return optind > 0 ? argv[optind - 1] : "?";
}

/* The table entry of a getopt value (a table value or a short letter). */
static const struct cli_opt *entry_of(const struct cli_parse *p, int val)
{
	if (val >= VAL_TABLE)
		return &p->opts[val - VAL_TABLE];
	for (size_t i = 0; p->opts && p->opts[i].name; i++)
		if (p->opts[i].letter && p->opts[i].letter == val)
			return &p->opts[i];
	return NULL;
}

int cli_opt_bad_value(const struct cli_parse *p, const struct cli_opt *o, const char *arg)
{
	if (o->hint)
		return cli_usage_error(p->cmd, "invalid --%s '%s': %s", o->name, arg, o->hint);
	return cli_usage_error(p->cmd, "invalid --%s '%s': %" PRIu64 " to %" PRIu64, o->name, arg,
			       o->min, o->max);
}

/* Converts one option's value and stores it, or hands it to o->fn. */
static int take(const struct cli_parse *p, const struct cli_opt *o, const char *arg)
{
	uint64_t v = 0;
	int r;

	if (o->kind == CLI_UINT || o->kind == CLI_SIZE) {
		r = o->kind == CLI_UINT ? sfs_parse_uint(arg, 0, UINT64_MAX, &v)
					: sfs_parse_size(arg, &v);
		if (r < 0 || v < o->min || (o->max && v > o->max) || (o->valid && !o->valid(v)))
			return cli_opt_bad_value(p, o, arg);
	}
	if (o->fn)
		return o->fn(p, o, arg, v);
	if (!o->dest)
		return 0;
	switch (o->kind) {
	case CLI_FLAG:
		*(bool *)o->dest = true;
		break;
	case CLI_STRING:
		*(const char **)o->dest = arg;
		break;
	case CLI_UINT:
	case CLI_SIZE:
		*(uint64_t *)o->dest = v;
		break;
	}
	return 0;
}

/* Checks the operands left after the options. */
static int check_operands(const struct cli_parse *p, int nargs, char **args)
{
	int max = p->max_args < 0 ? INT32_MAX : p->max_args;

	if (nargs >= p->min_args && nargs <= max)
		return 0;
	if (max == 0)
		return cli_usage_error(p->cmd, "unexpected argument '%s'", args[0]);
	return cli_usage_error(p->cmd, "expected %s", p->args_help ? p->args_help : "arguments");
}

int cli_parse(struct cli_parse *p, int argc, char **argv)
{
	struct option lo[MAX_OPTS + sizeof(shared_opts) / sizeof(shared_opts[0])];
	char so[3 * MAX_OPTS + 8];
	int o, r;

	p->json = false;
	p->progress = -1;
	p->wait = true;
	r = build(p, lo, so, sizeof(so));
	if (r)
		return r;
	opterr = 0; /* errors are ours to print, as one line */
	optind = 0; /* a fresh scan of this argv */
	while ((o = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		const struct cli_opt *e;

		switch (o) {
		case VAL_JSON:
			p->json = true;
			continue;
		case VAL_PROGRESS:
		case VAL_NO_PROGRESS:
			p->progress = o == VAL_PROGRESS;
			continue;
		case VAL_NO_WAIT:
			p->wait = false;
			continue;
		case 'h':
		case VAL_HELP:
			fputs(p->help, stdout);
			return CLI_HELP_SHOWN;
		case ':':
			/* optopt is the value of the option refused: its entry
			 * names it as the table spells it. */
			e = optopt ? entry_of(p, optopt) : NULL;
			if (e)
				return cli_usage_error(p->cmd, "option --%s needs a value",
						       e->name);
			return cli_usage_error(p->cmd, "option %s needs a value",
					       cli_bad_arg(argv));
		case '?':
			return cli_usage_error(p->cmd, "unknown option '%s'", cli_bad_arg(argv));
		}
		e = entry_of(p, o);
		if (!e)
			return cli_usage_error(p->cmd, "unknown option '%s'", cli_bad_arg(argv));
		r = take(p, e, optarg);
		if (r)
			return r;
	}
	p->args = argv + optind;
	p->nargs = argc - optind;
	return check_operands(p, p->nargs, p->args);
}

void cli_grants_release(struct cli_grants *g)
{
	free(g->v);
	g->v = NULL;
	g->n = 0;
}

int cli_grant_opt(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v)
{
	struct cli_grants *g = o->dest;
	struct cli_grant *grown = realloc(g->v, (g->n + 1) * sizeof(*g->v));

	if (!grown)
		return cli_error("out of memory");
	g->v = grown;
	g->v[g->n].kind = !strcmp(o->name, "public") ? 'p' : o->name[0];
	g->v[g->n].name = arg;
	g->n++;
	return 0;
}

int cli_tag_opt(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v)
{
	return cli_parse_tag(o->dest, arg, p->cmd);
}


int cli_subcommand(const char *group, const char *help, const char *const *names,
		   const char *missing, int argc, char **argv, int *ret_index)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "%s ", group);
	if (argc < 2 && missing)
		return cli_usage_error(cmd, "expected %s", missing);
	if (argc < 2) {
		fputs(help, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(help, stdout);
		return CLI_HELP_SHOWN;
	}
	for (int i = 0; names[i]; i++) {
		if (!strcmp(argv[1], names[i])) {
			*ret_index = i;
			return 0;
		}
	}
	return cli_usage_error(cmd, "unknown %s command '%s'", group, argv[1]);
}

int cli_dispatch(const struct cli *c, const char *group, const char *help,
		 const struct cli_sub *subs, int argc, char **argv)
{
	const char *names[32];
	size_t n = 0;
	int i, r;

	while (subs[n].name && n + 1 < sizeof(names) / sizeof(names[0])) {
		names[n] = subs[n].name;
		n++;
	}
	names[n] = NULL;
	r = cli_subcommand(group, help, names, NULL, argc, argv, &i);
	if (r)
		return cli_parse_exit(r);
	return subs[i].fn(c, argc - 1, argv + 1);
}

int cli_now_opt(const struct cli_parse *p, const struct cli_opt *o, const char *arg, uint64_t v)
{
	(void)v;
	if (sfs_parse_time(arg, false, o->dest) < 0)
		return cli_usage_error(p->cmd, "invalid --%s '%s': use 2026-12-01T03:00:00Z (UTC)",
				       o->name, arg);
	return 0;
}
