// SPDX-License-Identifier: MIT
/*
 * The page of `snapfs report --html`: key figures, the store's growth,
 * where the bytes go (zeros skipped, deduplication, compression), the
 * volumes, a timeline of snapshots per volume with the policies' runs
 * (failures listed with their error line), policies, images and the last
 * check's result, as
 * one HTML file with inline SVG charts and no script or network fetch.
 * Everything shown comes from the figures object; every name from the
 * store is escaped, since volume and image names are user text.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"

#define W 760   /* chart width */
#define LEFT 170 /* room for labels left of bars */

static uint64_t num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
								: 0;
}

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

static const char *human(uint64_t v, char *buf, size_t len)
{
	return cli_human(v, buf, len);
}

/* A figure, shown human and carried exact in data-bytes for tools. */
static void figure_row(FILE *f, const char *key, const char *label, uint64_t v)
{
	char h[32];

	fprintf(f, "<tr><th>%s</th><td data-figure=\"%s\" data-bytes=\"%" PRIu64 "\">%s</td></tr>\n",
		label, key, v, human(v, h, sizeof(h)));
}

static void growth_chart(FILE *out, json_t *growth)
{
	size_t n = json_array_size(growth), i;
	const int h = 240, top = 20, bottom = 30, left = 70;
	int64_t t0, t1;
	uint64_t ymax = 1;
	json_t *p;
	char a[32], b[32];

	fputs("<h2>Store size over time</h2>\n", out);
	if (!n) {
		fputs("<p>No snapshots yet.</p>\n", out);
		return;
	}
	t0 = (int64_t)num(json_array_get(growth, 0), "time");
	t1 = (int64_t)num(json_array_get(growth, n - 1), "time");
	json_array_foreach(growth, i, p) {
		if (num(p, "logical_bytes") > ymax)
			ymax = num(p, "logical_bytes");
		if (num(p, "stored_bytes") > ymax)
			ymax = num(p, "stored_bytes");
	}
	fprintf(out, "<svg class=\"chart\" id=\"growth\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"store size over time\">\n",
		W, h, W, h);
	fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n", left,
		h - bottom, W - 10, h - bottom);
	fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n", left, top,
		left, h - bottom);
	fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"lbl\" text-anchor=\"end\">%s</text>\n",
		left - 4, top + 4, human(ymax, a, sizeof(a)));
	fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"lbl\" text-anchor=\"end\">0</text>\n",
		left - 4, h - bottom);
	fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"lbl\">%s</text>\n", left, h - 8,
		cli_time(t0, a, sizeof(a)));
	fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"lbl\" text-anchor=\"end\">%s</text>\n",
		W - 10, h - 8, cli_time(t1, b, sizeof(b)));
	for (int k = 0; k < 2; k++) {
		const char *key = k ? "stored_bytes" : "logical_bytes";

		fprintf(out, "<polyline class=\"%s\" fill=\"none\" points=\"", k ? "stored" : "logical");
		json_array_foreach(growth, i, p) {
			double x = n == 1 || t1 == t0
					   ? left + (W - 10 - left) / 2.0
					   : left + (double)(num(p, "time") - (uint64_t)t0) /
							    (double)(t1 - t0) * (W - 10 - left);
			double y = h - bottom - (double)num(p, key) / (double)ymax * (h - bottom - top);
			fprintf(out, "%.1f,%.1f ", x, y);
		}
		fputs("\"/>\n", out);
	}
	fputs("</svg>\n<p class=\"legend\"><span class=\"sw logical\"></span>logical bytes of all "
	      "snapshots <span class=\"sw stored\"></span>bytes stored (what each snapshot "
	      "added)</p>\n",
	      out);
}

static void bar(FILE *out, int y, const char *label, uint64_t v, uint64_t max, const char *cls)
{
	char h[32];
	double w = max ? (double)v / (double)max * (W - LEFT - 90) : 0;

	fputs("<text x=\"4\" y=\"", out);
	fprintf(out, "%d\" class=\"lbl\">", y + 13);
	esc(out, label);
	fprintf(out, "</text><rect class=\"%s\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"16\">"
		"<title>%" PRIu64 " bytes</title></rect>",
		cls, LEFT, y, w < 1 && v ? 1 : w, v);
	fprintf(out, "<text x=\"%.1f\" y=\"%d\" class=\"lbl\">%s</text>\n", LEFT + w + 6, y + 13,
		human(v, h, sizeof(h)));
}

static void savings_chart(FILE *out, json_t *t)
{
	uint64_t max = num(t, "logical_bytes");
	const struct { const char *key, *label, *cls; } rows[] = {
		{ "logical_bytes", "logical (all snapshots)", "logical" },
		{ "data_bytes", "non-zero blocks", "data" },
		{ "unique_bytes", "after deduplication", "unique" },
		{ "stored_data_bytes", "after compression", "stored" },
		{ "disk_bytes", "on disk (packs, catalog)", "disk" },
	};
	int n = (int)(sizeof(rows) / sizeof(rows[0]));

	for (int i = 0; i < n; i++)
		if (num(t, rows[i].key) > max)
			max = num(t, rows[i].key);
	fputs("<h2>Logical and stored bytes</h2>\n", out);
	fprintf(out, "<svg class=\"chart\" id=\"savings\" width=\"%d\" height=\"%d\" role=\"img\" "
		"aria-label=\"logical and stored bytes\">\n", W, n * 24 + 8);
	for (int i = 0; i < n; i++)
		bar(out, 4 + i * 24, rows[i].label, num(t, rows[i].key), max, rows[i].cls);
	fputs("</svg>\n", out);
}

static void volume_chart(FILE *out, json_t *vols)
{
	size_t n = json_array_size(vols), i;
	uint64_t max = 1;
	json_t *v;

	fputs("<h2>By volume</h2>\n", out);
	if (!n) {
		fputs("<p>No volumes with snapshots.</p>\n", out);
		return;
	}
	json_array_foreach(vols, i, v)
		if (num(v, "logical_bytes") > max)
			max = num(v, "logical_bytes");
	fprintf(out, "<svg class=\"chart\" id=\"volumes\" width=\"%d\" height=\"%zu\" role=\"img\" "
		"aria-label=\"bytes by volume\">\n", W, n * 44 + 8);
	json_array_foreach(vols, i, v) {
		bar(out, 4 + (int)i * 44, json_string_value(json_object_get(v, "volume")),
		    num(v, "logical_bytes"), max, "logical");
		bar(out, 22 + (int)i * 44, "", num(v, "stored_bytes_added"), max, "stored");
	}
	fputs("</svg>\n<p class=\"legend\"><span class=\"sw logical\"></span>logical bytes of the "
	      "volume's snapshots <span class=\"sw stored\"></span>bytes they added to the "
	      "store</p>\n",
	      out);
}

/* x of time t on a timeline from t0 to t1. */
static double tx(int64_t t, int64_t t0, int64_t t1)
{
	return t1 == t0 ? LEFT + (W - 10 - LEFT) / 2.0
			: LEFT + (double)(t - t0) / (double)(t1 - t0) * (W - 10 - LEFT);
}

static void span(int64_t t, bool *any, int64_t *t0, int64_t *t1)
{
	if (!*any || t < *t0)
		*t0 = t;
	if (!*any || t > *t1)
		*t1 = t;
	*any = true;
}

/* One row per volume with its snapshots, then one per policy with its
 * runs (failed ones marked, the error in the tooltip), on one time axis. */
static void timeline_chart(FILE *out, json_t *timeline, json_t *runs)
{
	size_t n, i, row = 0;
	int64_t t0 = 0, t1 = 0;
	bool any = false;
	const char *vol;
	json_t *snaps, *sn, *rows = json_object(), *run;
	char a[32], b[32];

	fputs("<h2>Snapshots per volume and policy runs</h2>\n", out);
	json_object_foreach(timeline, vol, snaps)
		json_array_foreach(snaps, i, sn)
			span((int64_t)num(sn, "created"), &any, &t0, &t1);
	json_array_foreach(runs, i, run) {
		const char *pol = json_string_value(json_object_get(run, "policy"));

		span((int64_t)num(run, "time"), &any, &t0, &t1);
		if (rows && pol && !json_object_get(rows, pol))
			json_object_set_new(rows, pol, json_array());
		if (rows && pol)
			json_array_append(json_object_get(rows, pol), run);
	}
	n = json_object_size(timeline) + json_object_size(rows);
	if (!n) {
		fputs("<p>No snapshots and no policy runs yet.</p>\n", out);
		json_decref(rows);
		return;
	}
	fprintf(out, "<svg class=\"chart\" id=\"timeline\" width=\"%d\" height=\"%zu\" role=\"img\" "
		"aria-label=\"snapshots per volume and policy runs over time\">\n", W, n * 26 + 30);
	json_object_foreach(timeline, vol, snaps) {
		int y = 10 + (int)row * 26;

		fprintf(out, "<text x=\"4\" y=\"%d\" class=\"lbl\">", y + 12);
		esc(out, vol);
		fprintf(out, "</text><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"grid\"/>\n",
			LEFT, y + 8, W - 10, y + 8);
		json_array_foreach(snaps, i, sn) {
			const char *pol = json_string_value(json_object_get(sn, "policy"));

			fprintf(out, "<circle cx=\"%.1f\" cy=\"%d\" r=\"5\" class=\"%s\"><title>",
				tx((int64_t)num(sn, "created"), t0, t1), y + 8,
				pol ? "policy" : "manual");
			esc(out, json_string_value(json_object_get(sn, "id")));
			fprintf(out, " %s", cli_time((int64_t)num(sn, "created"), a, sizeof(a)));
			if (pol) {
				fputs(" (policy ", out);
				esc(out, pol);
				fputc(')', out);
			}
			fputs("</title></circle>\n", out);
		}
		row++;
	}
	json_object_foreach(rows, vol, snaps) {
		int y = 10 + (int)row * 26;

		fprintf(out, "<text x=\"4\" y=\"%d\" class=\"lbl\">policy ", y + 12);
		esc(out, vol);
		fprintf(out, "</text><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"grid\"/>\n",
			LEFT, y + 8, W - 10, y + 8);
		json_array_foreach(snaps, i, run) {
			const char *err = json_string_value(json_object_get(run, "error"));
			bool failed = num(run, "failures") > 0;
			double x = tx((int64_t)num(run, "time"), t0, t1);

			/* A diamond: runs are told apart from snapshots. */
			fprintf(out, "<path class=\"run %s\" d=\"M%.1f %dl6 6l-6 6l-6 -6z\"><title>",
				failed ? "run-failed" : "run-ok", x, y + 2);
			fprintf(out, "run %s, schedule ", cli_time((int64_t)num(run, "time"), a,
								     sizeof(a)));
			esc(out, json_string_value(json_object_get(run, "schedule")));
			if (failed) {
				fprintf(out, ": %" PRIu64 " failed: ", num(run, "failures"));
				esc(out, err ? err : "");
			} else {
				fputs(": ok", out);
			}
			fputs("</title></path>\n", out);
		}
		row++;
	}
	fprintf(out, "<text x=\"%d\" y=\"%zu\" class=\"lbl\">%s</text>", LEFT, n * 26 + 24,
		cli_time(t0, a, sizeof(a)));
	fprintf(out, "<text x=\"%d\" y=\"%zu\" class=\"lbl\" text-anchor=\"end\">%s</text>\n",
		W - 10, n * 26 + 24, cli_time(t1, b, sizeof(b)));
	fputs("</svg>\n<p class=\"legend\"><span class=\"sw manual\"></span>made by hand "
	      "<span class=\"sw policy\"></span>made by a policy "
	      "<span class=\"sw run-ok\"></span>policy run "
	      "<span class=\"sw run-failed\"></span>policy run with failures</p>\n",
	      out);
	json_decref(rows);
}

/* The runs that failed, newest first, with their error lines. */
static void run_failures(FILE *out, json_t *runs)
{
	size_t n = json_array_size(runs), shown = 0;
	char a[32];

	fputs("<h2>Policy run failures</h2>\n", out);
	for (size_t i = n; i-- > 0;) {
		json_t *run = json_array_get(runs, i);

		if (!num(run, "failures"))
			continue;
		if (!shown++)
			fputs("<table id=\"policy-failures\"><tr><th>run</th><th>policy</th><th>"
			      "schedule</th><th>failures</th><th>first error</th></tr>\n",
			      out);
		fprintf(out, "<tr class=\"failed\"><td>%s</td><td>",
			cli_time((int64_t)num(run, "time"), a, sizeof(a)));
		esc(out, json_string_value(json_object_get(run, "policy")));
		fputs("</td><td>", out);
		esc(out, json_string_value(json_object_get(run, "schedule")));
		fprintf(out, "</td><td>%" PRIu64 "</td><td class=\"error\">", num(run, "failures"));
		esc(out, json_string_value(json_object_get(run, "error")));
		fputs("</td></tr>\n", out);
	}
	if (shown)
		fputs("</table>\n", out);
	else
		fprintf(out, "<p id=\"policy-failures\">None%s.</p>\n",
			n ? " among the recorded runs" : " (no policy has run)");
}

static void last_check(FILE *out, json_t *c)
{
	char a[32];

	fputs("<h2>Last check</h2>\n", out);
	if (!json_is_object(c)) {
		fputs("<p id=\"last-check\" data-check=\"none\">No check recorded: run "
		      "<code>snapfs check</code> (with <code>--read-data</code> to read every "
		      "chunk).</p>\n",
		      out);
		return;
	}
	fprintf(out, "<table id=\"last-check\" data-check=\"%s\">"
		"<tr><th>when</th><td>%s</td></tr>"
		"<tr><th>result</th><td class=\"%s\">%s</td></tr>"
		"<tr><th>problems</th><td data-figure=\"check_problems\">%" PRIu64 "</td></tr>"
		"<tr><th>data read</th><td data-figure=\"check_read_data\">%s</td></tr>"
		"<tr><th>snapshots checked</th><td>%" PRIu64 "</td></tr></table>\n",
		num(c, "problems") ? "failed" : "passed",
		cli_time((int64_t)num(c, "time"), a, sizeof(a)),
		num(c, "problems") ? "bad" : "good", num(c, "problems") ? "FAILED" : "passed",
		num(c, "problems"),
		json_is_true(json_object_get(c, "read_data"))
			? "yes (every chunk read and verified)"
			: "no (maps and index only)",
		num(c, "snapshots"));
}

static void volume_table(FILE *out, json_t *vols)
{
	size_t i;
	json_t *v;
	char a[32], b[32], c[32], d[32], e[32];

	fputs("<table id=\"volume-table\"><tr><th>volume</th><th>snapshots</th><th>latest size"
	      "</th><th>logical</th><th>stored</th><th>first</th><th>last</th></tr>\n",
	      out);
	json_array_foreach(vols, i, v) {
		fputs("<tr><td>", out);
		esc(out, json_string_value(json_object_get(v, "volume")));
		fprintf(out, "</td><td>%" PRIu64 "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
			"<td>%s</td></tr>\n",
			num(v, "snapshots"), human(num(v, "latest_size"), a, sizeof(a)),
			human(num(v, "logical_bytes"), b, sizeof(b)),
			human(num(v, "stored_bytes_added"), c, sizeof(c)),
			cli_time((int64_t)num(v, "first"), d, sizeof(d)),
			cli_time((int64_t)num(v, "last"), e, sizeof(e)));
	}
	fputs("</table>\n", out);
}

static void policy_table(FILE *out, json_t *policies)
{
	size_t i, k;
	json_t *p, *s;
	char a[32];

	fputs("<h2>Policies</h2>\n", out);
	if (!json_array_size(policies)) {
		fputs("<p>No policies.</p>\n", out);
		return;
	}
	fputs("<table id=\"policy-table\"><tr><th>policy</th><th>enabled</th><th>schedules (last "
	      "run)</th><th>snapshots kept</th></tr>\n",
	      out);
	json_array_foreach(policies, i, p) {
		fputs("<tr><td>", out);
		esc(out, json_string_value(json_object_get(p, "name")));
		fprintf(out, "</td><td>%s</td><td>",
			json_is_true(json_object_get(p, "enabled")) ? "yes" : "no");
		json_array_foreach(json_object_get(p, "schedules"), k, s) {
			esc(out, json_string_value(json_object_get(s, "schedule")));
			fprintf(out, " (%s)<br>",
				num(s, "last_run") ? cli_time((int64_t)num(s, "last_run"), a, sizeof(a))
						   : "never");
		}
		fprintf(out, "</td><td>%" PRIu64 "</td></tr>\n", num(p, "snapshots"));
	}
	fputs("</table>\n", out);
}

static void image_table(FILE *out, json_t *images)
{
	size_t i, k;
	json_t *img, *d;
	char a[32];

	fputs("<h2>Images</h2>\n", out);
	if (!json_array_size(images)) {
		fputs("<p>No images.</p>\n", out);
		return;
	}
	fputs("<table id=\"image-table\"><tr><th>image</th><th>id</th><th>device</th><th>maps "
	      "snapshot</th><th>of volume</th><th>size</th></tr>\n",
	      out);
	json_array_foreach(images, i, img) {
		json_t *devs = json_object_get(img, "devices");

		json_array_foreach(devs, k, d) {
			fputs("<tr><td>", out);
			if (k == 0)
				esc(out, json_string_value(json_object_get(img, "name")));
			fputs("</td><td>", out);
			if (k == 0)
				esc(out, json_string_value(json_object_get(img, "id")));
			fputs("</td><td>", out);
			esc(out, json_string_value(json_object_get(d, "device")));
			fputs("</td><td>", out);
			esc(out, json_string_value(json_object_get(d, "snapshot")));
			fputs("</td><td>", out);
			esc(out, json_string_value(json_object_get(d, "volume")));
			fprintf(out, "</td><td>%s</td></tr>\n", human(num(d, "size"), a, sizeof(a)));
		}
	}
	fputs("</table>\n", out);
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:800px;color:#222}"
	"h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}"
	"table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;text-align:left;"
	"border-bottom:1px solid #eee}th{font-weight:600}"
	".chart{display:block;margin:.5em 0}.lbl{font-size:11px;fill:#444}"
	".axis{stroke:#888}.grid{stroke:#ddd}"
	"polyline.logical{stroke:#8fb3e0;stroke-width:2}polyline.stored{stroke:#1f5fa8;stroke-width:2}"
	"rect.logical,.sw.logical{fill:#8fb3e0;background:#8fb3e0}rect.data{fill:#6fa0d8}"
	"rect.unique{fill:#3f7fc0}rect.stored,.sw.stored{fill:#1f5fa8;background:#1f5fa8}"
	"rect.disk{fill:#555}circle.manual,.sw.manual{fill:#1f5fa8;background:#1f5fa8}"
	"circle.policy,.sw.policy{fill:#e08a1f;background:#e08a1f}"
	"path.run-ok,.sw.run-ok{fill:#3a9a4a;background:#3a9a4a}"
	"path.run-failed,.sw.run-failed{fill:#c62828;background:#c62828}"
	".bad,.error{color:#c62828;font-weight:600}.good{color:#2e7d32}"
	".sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}"
	".legend{font-size:12px;color:#555}";

static void page(FILE *out, json_t *f)
{
	json_t *t = json_object_get(f, "totals"), *st = json_object_get(f, "settings");
	char a[32];

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
	      "snapfs report: ", out);
	esc(out, json_string_value(json_object_get(f, "store")));
	fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>snapfs store ", style);
	esc(out, json_string_value(json_object_get(f, "store")));
	fprintf(out, "</h1>\n<p>Report of %s by snapfs %s. Block size %" PRIu64 ", zstd level %"
		PRIu64 ".</p>\n",
		cli_time((int64_t)num(f, "generated"), a, sizeof(a)),
		json_string_value(json_object_get(f, "snapfs_version")), num(st, "block_size"),
		num(st, "zstd_level"));
	fprintf(out, "<h2>Key figures</h2>\n<table id=\"figures\">\n"
		"<tr><th>snapshots</th><td data-figure=\"snapshots\">%" PRIu64 "</td></tr>\n"
		"<tr><th>volumes</th><td data-figure=\"volumes\">%" PRIu64 "</td></tr>\n"
		"<tr><th>images</th><td data-figure=\"images\">%" PRIu64 "</td></tr>\n"
		"<tr><th>chunks</th><td data-figure=\"chunks\">%" PRIu64 "</td></tr>\n",
		num(t, "snapshots"), num(t, "volumes"), num(t, "images"), num(t, "chunks"));
	figure_row(out, "logical_bytes", "logical bytes", num(t, "logical_bytes"));
	figure_row(out, "zero_bytes_skipped", "zero blocks skipped", num(t, "zero_bytes_skipped"));
	figure_row(out, "dedup_saved_bytes", "saved by deduplication", num(t, "dedup_saved_bytes"));
	figure_row(out, "compression_saved_bytes", "saved by compression",
		   num(t, "compression_saved_bytes"));
	figure_row(out, "packs_bytes", "packs on disk", num(st, "packs_bytes"));
	figure_row(out, "catalog_bytes", "catalog on disk", num(st, "catalog_bytes"));
	fprintf(out, "<tr><th>deduplication</th><td data-figure=\"dedup_ratio\">%.2fx</td></tr>\n"
		"<tr><th>compression</th><td data-figure=\"compression_ratio\">%.2fx</td></tr>\n"
		"</table>\n",
		json_real_value(json_object_get(t, "dedup_ratio")),
		json_real_value(json_object_get(t, "compression_ratio")));
	growth_chart(out, json_object_get(f, "growth"));
	savings_chart(out, t);
	volume_chart(out, json_object_get(f, "volumes"));
	volume_table(out, json_object_get(f, "volumes"));
	timeline_chart(out, json_object_get(f, "timeline"), json_object_get(f, "policy_runs"));
	run_failures(out, json_object_get(f, "policy_runs"));
	policy_table(out, json_object_get(f, "policies"));
	image_table(out, json_object_get(f, "images"));
	last_check(out, json_object_get(f, "last_check"));
	fputs("</body>\n</html>\n", out);
}

int report_html_write(json_t *f, const char *path)
{
	size_t len = strlen(path) + 16;
	char *tmp = malloc(len);
	FILE *out;
	int r = 0;

	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, len, "%s.tmp%d", path, (int)getpid() % 100000);
	out = fopen(tmp, "w");
	if (!out) {
		r = -errno;
		goto out_free;
	}
	page(out, f);
	if (fflush(out) != 0 || ferror(out))
		r = -errno ? -errno : -EIO;
	if (fclose(out) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
out_free:
	free(tmp);
	return r;
}
