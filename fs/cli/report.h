/* SPDX-License-Identifier: MIT */
/*
 * The HTML page of `snapfs report` (report_html.c), drawn from the
 * figures cmd_report.c gathers: the same JSON object --json prints.
 */
#ifndef SNAPFS_FS_CLI_REPORT_H
#define SNAPFS_FS_CLI_REPORT_H

#include <jansson.h>

/* Writes the page for figures f to path: one self-contained file (styles
 * and SVG charts inline, nothing fetched), written beside path and
 * renamed over it once complete, so a reader never sees half a page.
 * 0 or -errno. f is borrowed. */
int report_html_write(json_t *f, const char *path);

#endif
