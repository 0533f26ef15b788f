// SPDX-License-Identifier: MIT
/*
 * `snapfs report`: how a store is used, as figures (--json), a summary,
 * or one self-contained HTML page (--html FILE, drawn by report_html.c
 * from the same figures, so the page and the JSON cannot disagree). The
 * figures come from one read transaction: every snapshot, volume, image
 * and policy record, and one pass over the chunk index for the bytes left
 * after deduplication and after compression.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"
#include "snapfs/catalog.h"
#include "snapfs/check.h"
#include "snapfs/image.h"
#include "snapfs/pack.h"
#include "snapfs/policy.h"

static const char report_help[] =
	"Usage: snapfs --store PATH report [--html FILE] [--json]\n"
	"\n"
	"How the store is used: its size over time and by volume, logical against\n"
	"stored bytes and what deduplication and compression save, a timeline of\n"
	"snapshots per volume (those policies made marked) with the policies' runs\n"
	"and their failures, policies, images with the snapshots they map, and the\n"
	"last check's result (recorded by 'snapfs check'). --html writes all of it as one self-contained\n"
	"HTML file (inline SVG charts, nothing fetched from the network); --json\n"
	"prints the figures the page is drawn from. The chunk index is read once,\n"
	"so a report of a large store takes a moment; nothing is written to it.\n";

struct gather {
	json_t *snaps, *vols, *images, *policies;
	struct sfs_check_last check;
	bool checked;
	uint64_t unique_bytes, unique_stored, unique_chunks, map_chunks, map_stored, damaged;
};

static int snap_cb(void *ctx, const struct sfs_snapshot *sn)
{
	struct gather *g = ctx;

	return json_array_append_new(g->snaps, sfs_snapshot_to_json(sn)) ? -ENOMEM : 0;
}

static int vol_cb(void *ctx, const struct sfs_volume *v)
{
	struct gather *g = ctx;

	return json_array_append_new(g->vols, sfs_volume_to_json(v)) ? -ENOMEM : 0;
}

static int image_cb(void *ctx, const struct sfs_image *img)
{
	struct gather *g = ctx;

	return json_array_append_new(g->images, sfs_image_to_json(img)) ? -ENOMEM : 0;
}

static int policy_cb(void *ctx, const struct sfs_policy *p)
{
	struct gather *g = ctx;

	return json_array_append_new(g->policies, sfs_policy_to_json(p)) ? -ENOMEM : 0;
}

static int chunk_cb(void *ctx, const struct sfs_id *id, const struct sfs_chunk_loc *loc)
{
	struct gather *g = ctx;

	if (!loc) {
		g->damaged++;
	} else if (loc->type == SFS_CHUNK_DATA) {
		g->unique_chunks++;
		g->unique_bytes += loc->raw_len;
		g->unique_stored += loc->stored_len;
	} else {
		g->map_chunks++;
		g->map_stored += loc->stored_len;
	}
	return 0;
}

static int gather_txn(struct sfs_txn *t, struct gather *g)
{
	int r = sfs_cat_snapshot_foreach(t, NULL, snap_cb, g);

	if (r == 0)
		r = sfs_cat_volume_foreach(t, vol_cb, g);
	if (r == 0)
		r = sfs_cat_image_foreach(t, image_cb, g);
	if (r == 0)
		r = sfs_cat_policy_foreach(t, policy_cb, g);
	if (r == 0)
		r = sfs_cat_chunk_foreach(t, chunk_cb, g);
	if (r == 0) {
		r = sfs_check_last_get(t, &g->check);
		g->checked = r == 0;
		if (r == -ENOENT)
			r = 0;
	}
	return r;
}

/* By time, then policy name: the runs of all policies as one list. */
static int by_run_time(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t tx = json_integer_value(json_object_get(x, "time"));
	json_int_t ty = json_integer_value(json_object_get(y, "time"));

	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "policy")),
		      json_string_value(json_object_get(y, "policy")));
}

/* Every policy's recorded runs, oldest first, each naming its policy. */
static json_t *policy_runs(json_t *policies)
{
	json_t *out = json_array(), *p, *run, **v;
	size_t i, k, n = 0;

	if (!out)
		return NULL;
	json_array_foreach(policies, i, p)
		n += json_array_size(json_object_get(p, "runs"));
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		json_decref(out);
		return NULL;
	}
	n = 0;
	json_array_foreach(policies, i, p) {
		json_array_foreach(json_object_get(p, "runs"), k, run) {
			json_t *c = json_copy(run);

			if (!c)
				continue;
			json_object_set(c, "policy", json_object_get(p, "name"));
			v[n++] = c;
		}
	}
	qsort(v, n, sizeof(*v), by_run_time);
	for (i = 0; i < n; i++)
		json_array_append_new(out, v[i]);
	free(v);
	return out;
}

static uint64_t jnum(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
								: 0;
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Snapshots in creation order (created, then ns, then seq). */
static int by_created(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return sfs_snap_created_cmp((int64_t)jnum(x, "created"), (uint32_t)jnum(x, "created_ns"),
				    jnum(x, "seq"), (int64_t)jnum(y, "created"),
				    (uint32_t)jnum(y, "created_ns"), jnum(y, "seq"));
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

/* The figures of the report from what was gathered; steals g's arrays. */
static json_t *figures(struct gather *g, struct sfs_store *s, uint64_t packs, uint64_t catalog)
{
	size_t n = json_array_size(g->snaps), i;
	json_t **sorted = calloc(n ? n : 1, sizeof(*sorted));
	json_t *growth = json_array(), *byvol = json_object(), *timeline = json_object();
	json_t *per_policy = json_object(), *vols = json_array(), *images = json_array();
	uint64_t logical = 0, data = 0, added = 0, cum_logical = 0;
	json_t *f, *img;

	if (!sorted || !growth || !byvol || !timeline || !per_policy || !vols || !images)
		goto out_nomem;
	for (i = 0; i < n; i++)
		sorted[i] = json_array_get(g->snaps, i);
	qsort(sorted, n, sizeof(*sorted), by_created);
	for (i = 0; i < n; i++) {
		json_t *sn = sorted[i], *tags = json_object_get(sn, "tags"), *row, *entry;
		const char *vol = jstr(sn, "volume"), *policy = jstr(tags, "snapfs:policy");

		if (strcmp(jstr(sn, "state") ? jstr(sn, "state") : "", "completed") != 0)
			continue;
		logical += jnum(sn, "size");
		data += jnum(sn, "data_bytes");
		added += jnum(sn, "new_bytes");
		cum_logical += jnum(sn, "size");
		json_array_append_new(growth, json_pack("{s:I, s:s, s:I, s:I}", "time",
							(json_int_t)jnum(sn, "created"), "snapshot",
							jstr(sn, "id"), "stored_bytes",
							(json_int_t)added, "logical_bytes",
							(json_int_t)cum_logical));
		row = json_object_get(byvol, vol);
		if (!row) {
			row = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "volume", vol,
					"snapshots", (json_int_t)0, "logical_bytes", (json_int_t)0,
					"stored_bytes_added", (json_int_t)0, "latest_size",
					(json_int_t)0, "first", (json_int_t)0, "last", (json_int_t)0);
			json_object_set_new(byvol, vol, row);
			json_object_set_new(timeline, vol, json_array());
			json_object_set_new(row, "first", json_integer((json_int_t)jnum(sn, "created")));
		}
		json_object_set_new(row, "snapshots", json_integer((json_int_t)jnum(row, "snapshots") + 1));
		json_object_set_new(row, "logical_bytes",
				    json_integer((json_int_t)(jnum(row, "logical_bytes") + jnum(sn, "size"))));
		json_object_set_new(row, "stored_bytes_added",
				    json_integer((json_int_t)(jnum(row, "stored_bytes_added") +
							      jnum(sn, "new_bytes"))));
		json_object_set_new(row, "latest_size", json_integer((json_int_t)jnum(sn, "size")));
		json_object_set_new(row, "last", json_integer((json_int_t)jnum(sn, "created")));
		entry = json_pack("{s:s, s:I, s:I, s:I, s:o}", "id", jstr(sn, "id"), "created",
				  (json_int_t)jnum(sn, "created"), "size", (json_int_t)jnum(sn, "size"),
				  "new_bytes", (json_int_t)jnum(sn, "new_bytes"), "policy",
				  policy ? json_string(policy) : json_null());
		json_array_append_new(json_object_get(timeline, vol), entry);
		if (policy)
			json_object_set_new(per_policy, policy,
					    json_integer((json_int_t)jnum(per_policy, policy) + 1));
	}
	{
		const char *key;
		json_t *row;

		json_object_foreach(byvol, key, row)
			json_array_append(vols, row);
	}
	json_array_foreach(g->images, i, img) {
		json_t *devs = json_array(), *d;
		size_t k;

		json_array_foreach(json_object_get(img, "devices"), k, d) {
			const char *sid = jstr(d, "snapshot");
			const char *svol = NULL;

			for (size_t j = 0; j < n && sid; j++)
				if (!strcmp(jstr(sorted[j], "id"), sid))
					svol = jstr(sorted[j], "volume");
			json_array_append_new(devs, json_pack("{s:s?, s:s?, s:s?, s:I}", "device",
							      jstr(d, "device"), "snapshot", sid,
							      "volume", svol, "size",
							      (json_int_t)jnum(d, "size")));
		}
		json_array_append_new(images, json_pack("{s:s?, s:s?, s:I, s:s?, s:o}", "name",
							jstr(img, "name"), "id", jstr(img, "id"),
							"created", (json_int_t)jnum(img, "created"),
							"root_device", jstr(img, "root_device"),
							"devices", devs));
	}
	{
		json_t *p;

		json_array_foreach(g->policies, i, p)
			json_object_set_new(p, "snapshots",
					    json_integer((json_int_t)jnum(per_policy, jstr(p, "name"))));
	}
	f = json_pack("{s:s, s:I, s:s, s:{s:i, s:i, s:I, s:I, s:I},"
		      " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f},"
		      " s:o, s:o, s:o, s:o, s:O, s:I}",
		      "store", sfs_store_path(s), "generated", (json_int_t)time(NULL),
		      "snapfs_version", SNAPFS_VERSION,
		      "settings", "block_size", (int)sfs_store_block_size(s), "zstd_level",
		      sfs_store_zstd_level(s), "pack_size", (json_int_t)sfs_store_pack_size(s),
		      "packs_bytes", (json_int_t)packs, "catalog_bytes", (json_int_t)catalog,
		      "totals", "snapshots", (json_int_t)json_array_size(growth),
		      "volumes", (json_int_t)json_array_size(g->vols),
		      "images", (json_int_t)json_array_size(images),
		      "logical_bytes", (json_int_t)logical,
		      "data_bytes", (json_int_t)data,
		      "unique_bytes", (json_int_t)g->unique_bytes,
		      "stored_data_bytes", (json_int_t)g->unique_stored,
		      "stored_map_bytes", (json_int_t)g->map_stored,
		      "disk_bytes", (json_int_t)(packs + catalog),
		      "chunks", (json_int_t)(g->unique_chunks + g->map_chunks + g->damaged),
		      "data_chunks", (json_int_t)g->unique_chunks,
		      "dedup_ratio", ratio(data, g->unique_bytes),
		      "compression_ratio", ratio(g->unique_bytes, g->unique_stored),
		      "growth", growth, "volumes", vols, "timeline", timeline, "images", images,
		      "policies", g->policies, "damaged_index_entries", (json_int_t)g->damaged);
	if (f) {
		json_object_set_new(f, "policy_runs", policy_runs(g->policies));
		json_object_set_new(f, "last_check",
				    g->checked ? json_pack("{s:I, s:b, s:b, s:I, s:I, s:I}", "time",
							   (json_int_t)g->check.time, "ok",
							   g->check.problems == 0, "read_data",
							   g->check.read_data, "problems",
							   (json_int_t)g->check.problems, "snapshots",
							   (json_int_t)g->check.snapshots,
							   "chunks_read",
							   (json_int_t)g->check.chunks_read)
					       : json_null());
	}
	if (f) {
		json_t *t = json_object_get(f, "totals");

		/* Savings, each against the bytes before that step. */
		json_object_set_new(t, "zero_bytes_skipped", json_integer((json_int_t)(logical - data)));
		json_object_set_new(t, "dedup_saved_bytes",
				    json_integer((json_int_t)(data > g->unique_bytes
								     ? data - g->unique_bytes
								     : 0)));
		json_object_set_new(t, "compression_saved_bytes",
				    json_integer((json_int_t)(g->unique_bytes > g->unique_stored
								     ? g->unique_bytes - g->unique_stored
								     : 0)));
	}
	json_decref(byvol);
	json_decref(per_policy);
	free(sorted);
	return f;
out_nomem:
	json_decref(growth);
	json_decref(byvol);
	json_decref(timeline);
	json_decref(per_policy);
	json_decref(vols);
	json_decref(images);
	free(sorted);
	return NULL;
}

static void print_summary(json_t *f)
{
	json_t *t = json_object_get(f, "totals"), *v;
	char a[32], b[32], d[32], e[32], g[32];
	size_t i;

	printf("store %s: %" PRIu64 " snapshots of %" PRIu64 " volumes, %" PRIu64 " images\n",
	       jstr(f, "store"), jnum(t, "snapshots"), jnum(t, "volumes"), jnum(t, "images"));
	printf("logical %s, in non-zero blocks %s, after dedup %s (%.2fx), stored %s (%.2fx); "
	       "%s on disk\n",
	       cli_human(jnum(t, "logical_bytes"), a, sizeof(a)),
	       cli_human(jnum(t, "data_bytes"), b, sizeof(b)),
	       cli_human(jnum(t, "unique_bytes"), d, sizeof(d)),
	       json_real_value(json_object_get(t, "dedup_ratio")),
	       cli_human(jnum(t, "stored_data_bytes"), e, sizeof(e)),
	       json_real_value(json_object_get(t, "compression_ratio")),
	       cli_human(jnum(t, "disk_bytes"), g, sizeof(g)));
	json_array_foreach(json_object_get(f, "volumes"), i, v)
		printf("  %-24s %4" PRIu64 " snapshots, %s logical, %s stored\n", jstr(v, "volume"),
		       jnum(v, "snapshots"), cli_human(jnum(v, "logical_bytes"), a, sizeof(a)),
		       cli_human(jnum(v, "stored_bytes_added"), b, sizeof(b)));
	{
		json_t *runs = json_object_get(f, "policy_runs"), *c = json_object_get(f, "last_check");
		uint64_t failed = 0;

		json_array_foreach(runs, i, v)
			failed += jnum(v, "failures") > 0;
		if (json_array_size(runs))
			printf("policy runs recorded: %zu, %" PRIu64 " with failures\n",
			       json_array_size(runs), failed);
		if (json_is_object(c))
			printf("last check: %s, %s, %" PRIu64 " problems%s\n",
			       cli_time((int64_t)jnum(c, "time"), a, sizeof(a)),
			       jnum(c, "problems") ? "FAILED" : "passed", jnum(c, "problems"),
			       json_is_true(json_object_get(c, "read_data")) ? ", data read" : "");
		else
			puts("last check: none recorded");
	}
}

int cmd_report(const struct cli *c, int argc, char **argv)
{
	const char *html = NULL;
	const struct cli_opt opts[] = {
		{ .name = "html", .kind = CLI_STRING, .dest = &html },
		{ 0 },
	};
	struct cli_parse co = { .cmd = "report ", .help = report_help, .opts = opts,
				.shared = CLI_JSON };
	struct gather g = { 0 };
	struct sfs_store *s;
	struct sfs_txn *t;
	uint64_t packs = 0, catalog = 0;
	json_t *f;
	int r;

	r = cli_parse(&co, argc, argv);
	if (r)
		return cli_parse_exit(r);
	if (html && !*html)
		return cli_usage_error("report ", "--html needs a file name");
	r = cli_open_store(c, SFS_OPEN_READ, &s);
	if (r)
		return r;
	g.snaps = json_array();
	g.vols = json_array();
	g.images = json_array();
	g.policies = json_array();
	r = sfs_store_disk_usage(s, &packs, &catalog);
	if (r == 0)
		r = sfs_txn_begin(s, false, &t);
	if (r == 0) {
		r = gather_txn(t, &g);
		sfs_txn_abort(t);
	}
	f = r == 0 ? figures(&g, s, packs, catalog) : NULL;
	json_decref(g.snaps);
	json_decref(g.vols);
	json_decref(g.images);
	json_decref(g.policies);
	sfs_store_close(s);
	if (r < 0)
		return cli_fail(r, "cannot read store %s", c->store_path);
	if (!f)
		return cli_error("out of memory");
	if (html) {
		r = report_html_write(f, html);
		if (r < 0) {
			json_decref(f);
			return cli_fail(r, "cannot write %s", html);
		}
	}
	if (co.json)
		return cli_print_json(f);
	if (!html)
		print_summary(f);
	else
		printf("wrote %s\n", html);
	json_decref(f);
	return 0;
}
