/* SPDX-License-Identifier: MIT */
/*
 * The recycle bin: rules say how long a deleted snapshot or deregistered
 * image is kept (optionally only those with a tag), and a delete that a
 * rule covers moves the record into the catalog's `bin` database instead
 * of dropping it. There it is hidden (no listing, no mount tree shows it:
 * its own database is gone from under them), gc keeps the chunks it maps
 * until its period ends and then drops the entry and reclaims them, and
 * `restore` puts the record back as it was. Rules and entries share the
 * database: rules under "rule-" ids, entries under the snapshot's or
 * image's own id (store/FORMAT.md). Functions that take a transaction
 * follow catalog.h's rules.
 */
#ifndef SNAPFS_BIN_H
#define SNAPFS_BIN_H

#include <jansson.h>
#include <stdint.h>

#include "snapfs/catalog.h"

/* What a rule covers. */
enum {
	SFS_BIN_SNAPSHOTS = 1 << 0,
	SFS_BIN_IMAGES = 1 << 1,
	SFS_BIN_BOTH = SFS_BIN_SNAPSHOTS | SFS_BIN_IMAGES,
};

/* The longest period a rule may keep things (10 years). */
#define SFS_BIN_RETAIN_MAX (UINT64_C(3650) * 86400)

struct sfs_bin_rule {
	char id[SFS_IDSTR_SIZE]; /* rule-... */
	uint64_t retain;         /* seconds, 1..SFS_BIN_RETAIN_MAX */
	unsigned resources;      /* SFS_BIN_* */
	char *tag_key;           /* with tag_value, a filter; NULL: everything; owned */
	char *tag_value;
	int64_t created;
};

void sfs_bin_rule_release(struct sfs_bin_rule *r); /* accepts NULL */
/* "snapshots", "images", "both"; NULL for another value. */
const char *sfs_bin_resources_name(unsigned resources);

/* Adds rule (its id and creation time filled in). -EINVAL for a rule out
 * of bounds, -errno. */
int sfs_bin_rule_create(struct sfs_txn *t, struct sfs_bin_rule *rule);
/* 0 or -ENOENT. */
int sfs_bin_rule_delete(struct sfs_txn *t, const char *id);
typedef int (*sfs_bin_rule_fn)(void *ctx, const struct sfs_bin_rule *r);
/* Every rule in id order; a damaged one is logged and skipped. */
int sfs_bin_rule_foreach(struct sfs_txn *t, sfs_bin_rule_fn fn, void *ctx);

/* The longest period, in seconds, of the rules that cover a snapshot
 * (kind SFS_BIN_SNAPSHOTS) or an image (SFS_BIN_IMAGES) with tags; 0
 * when none does. -errno on failure. */
int64_t sfs_bin_period(struct sfs_txn *t, unsigned kind, const json_t *tags);

/* One kept record. */
struct sfs_bin_entry {
	char id[SFS_IDSTR_SIZE];      /* snap-... or ami-... */
	unsigned kind;                /* SFS_BIN_SNAPSHOTS or SFS_BIN_IMAGES */
	char name[SFS_NAME_MAX + 1];  /* the snapshot's volume, the image's name */
	int64_t deleted, until;       /* unix seconds */
	char *record;                 /* the record as it was in the catalog; owned */
	size_t record_len;
};

void sfs_bin_entry_release(struct sfs_bin_entry *e); /* accepts NULL */

/* Keeps a record (the bytes of its snapshot or image record) under id
 * until `until`. The caller removes it from its own database. */
int sfs_bin_keep(struct sfs_txn *t, unsigned kind, const char *id, const char *name,
		 const void *record, size_t len, int64_t now, int64_t until);

typedef int (*sfs_bin_entry_fn)(void *ctx, const struct sfs_bin_entry *e);
/* Every entry in id order, expired ones included (e->until <= now is for
 * the caller to judge); a damaged one is logged and skipped. */
int sfs_bin_foreach(struct sfs_txn *t, sfs_bin_entry_fn fn, void *ctx);

/*
 * Puts entry id back where it was, at time now: a snapshot into the
 * snapshots (its volume made again if it went), an image into the images
 * with the snapshots it maps that are in the bin too. Returns 0, or
 * -ENOENT (no such entry, or its period ended), -EEXIST (an image of that
 * name exists), -ESRCH (a snapshot the image maps is gone), with one line
 * in err (errlen bytes) for the last two.
 */
int sfs_bin_restore(struct sfs_txn *t, const char *id, int64_t now, char *err, size_t errlen);

/* Drops the entries whose period ended by now: how many, or -errno. */
int sfs_bin_purge(struct sfs_txn *t, int64_t now);

#endif
