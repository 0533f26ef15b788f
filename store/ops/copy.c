// SPDX-License-Identifier: MIT
/*
 * Snapshot copy between stores: a depth-first walk of the source map that
 * stores children before their page, in a destination writer session with
 * frequent checkpoints. The order is what makes resuming safe: whatever
 * a checkpoint made durable is a set of whole subtrees plus loose data
 * chunks, never a page whose children are missing.
 *
 * Stores with different keys (plain and encrypted, or two master keys)
 * name the same bytes with different ids, so such a copy translates: every
 * chunk is decrypted and verified through the source's chunk store, named
 * and sealed through the destination's, and every map page is rebuilt
 * with its children's new ids. Only stores that share a key send stored
 * bytes as they are.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "snapfs/blockmap.h"
#include "snapfs/chunkstore.h"
#include "snapfs/copy.h"
#include "snapfs/keys.h"
#include "snapfs/log.h"
#include "snapfs/pack.h"
#include "batchread_int.h"
#include "store_int.h"
#include "writer_int.h"

#define DEFAULT_CHECKPOINT (64ull << 20)

/* A leaf's data chunks are read in batches of about this many raw bytes
 * (at most BATCH_MAX chunks, at least 2), two batches at a time. */
#define BATCH_BYTES (4u << 20)
#define BATCH_MAX 128u

struct cp {
	struct sfs_store *src, *dst;
	struct sfs_writer *w;
	const struct sfs_copy_opts *o;
	struct sfs_copy_result *res;
	bool same_level;
	bool translate; /* the stores' keys differ: ids and stored bytes change */
	uint64_t nblocks, size;
	uint32_t bs;
	uint64_t ckpt_bytes, since_ckpt;
	uint8_t *pages[SFS_MAP_MAX_DEPTH]; /* one decoded page per level */
	uint8_t *out_pages[SFS_MAP_MAX_DEPTH]; /* translate: one rebuilt page per level */
	uint64_t data_blocks;
	struct sfs_batchread *pool;
	struct sfs_batch_ent *batch[2]; /* batch_max entries each, with their buffers */
	struct cp_slot *slots[2];       /* the entries' args */
	size_t batch_max;
	bool encode; /* data chunks are encoded for the destination as they are read */
};

/* What a data chunk's reading thread made of it for the destination. */
struct cp_slot {
	uint32_t slot;            /* in its leaf */
	bool present;             /* translating: the destination's last commit has it */
	bool encoded;             /* h and enc hold the destination's record */
	struct sfs_id id;         /* the destination's id */
	struct sfs_rec_header h;
	uint8_t *enc;             /* sfs_store_chunk_bound(bs) bytes, when c->encode */
};

static uint64_t span_of(int level)
{
	return level < 0 ? 1 : UINT64_C(1) << (SFS_MAP_SHIFT * (unsigned)(level + 1));
}

static void progress(struct cp *c, uint64_t block)
{
	uint64_t done = block >= c->nblocks ? c->size : block * c->bs;

	if (c->o->progress)
		c->o->progress(c->o->progress_ctx, done, c->size);
}

static int maybe_checkpoint(struct cp *c)
{
	return sfs_writer_checkpoint_over(c->w, c->ckpt_bytes);
}

/* After a put begun when the writer had written `before` bytes: counts
 * the chunk as sent when it was new, then checkpoints when one is due. */
static int sent(struct cp *c, uint64_t before, bool is_new, uint64_t raw_len)
{
	uint64_t after;

	if (is_new) {
		c->res->sent_chunks++;
		sfs_writer_stats(c->w, &after, NULL);
		c->res->sent_bytes += after - before;
		c->res->sent_raw_bytes += raw_len;
	}
	return maybe_checkpoint(c);
}

/* Appends a record to the destination unless it arrived already. */
static int record_put(struct cp *c, const struct sfs_rec_header *h, const void *payload,
		      bool *ret_new)
{
	uint64_t before;
	int r;

	sfs_writer_stats(c->w, &before, NULL);
	r = sfs_writer_put_stored(c->w, h, payload, ret_new);
	return r < 0 ? r : sent(c, before, *ret_new, h->raw_len);
}

/* The same of raw bytes, encoded at the destination's level (and under
 * its key) by the writer. */
static int chunk_put(struct cp *c, uint8_t type, const uint8_t *raw, size_t len,
		     const struct sfs_id *id, bool *ret_new)
{
	uint64_t before;
	int r;

	sfs_writer_stats(c->w, &before, NULL);
	r = sfs_writer_put_chunk(c->w, type, raw, len, id, ret_new);
	return r < 0 ? r : sent(c, before, *ret_new, len);
}

/* Appends a verified chunk to the destination unless it arrived already:
 * its stored bytes, or at another level, when compressed, raw compressed
 * again (map pages; data chunks come encoded from the batch reader). */
static int put(struct cp *c, const struct sfs_chunk_loc *loc, const struct sfs_id *id,
	       const uint8_t *raw, const void *stored)
{
	struct sfs_rec_header h = {
		.type = loc->type,
		.comp = loc->comp,
		.raw_len = loc->raw_len,
		.stored_len = loc->stored_len,
		.id = *id,
	};
	bool is_new = false;

	if (c->same_level || (loc->comp & SFS_COMP_MASK) == SFS_COMP_NONE)
		return record_put(c, &h, stored, &is_new);
	return chunk_put(c, loc->type, raw, loc->raw_len, id, &is_new);
}

static int log_bad(int r, const struct sfs_id *id, const char *what)
{
	char hex[SFS_ID_HEX_LEN + 1];

	sfs_id_to_hex(id, hex);
	sfs_log(SFS_LOG_ERR, "copy: %s %s in the source store: %s", what, hex,
		r == -EBADMSG   ? "stored bytes fail verification"
		: r == -EUCLEAN ? "missing from the store"
				: strerror(-r));
	return r;
}

static bool in_batch(const struct sfs_batch_ent *e, size_t n, const struct sfs_id *id)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(e[i].id.b, id->b, SFS_ID_LEN) == 0)
			return true;
	return false;
}

/* Whether the destination's last commit has chunk id, asked from a
 * reading thread; what this copy stored since, the writer finds. */
static bool committed(struct sfs_store *s, const struct sfs_id *id)
{
	struct sfs_chunk_loc loc;
	struct sfs_txn *t;
	bool has;

	if (sfs_txn_begin(s, false, &t) < 0)
		return false;
	has = sfs_cat_chunk_get(t, id, &loc) == 0;
	sfs_txn_abort(t);
	return has;
}

/* The batch reader's then: names and encodes a data chunk for the
 * destination on the thread that read it, when its key or level differ.
 * Translating, a chunk the destination has is not encoded: a rerun finds
 * most of them there. */
static int encode_then(void *ctx, struct sfs_batch_ent *e, const uint8_t *raw)
{
	struct cp *c = ctx;
	struct cp_slot *o = e->arg;
	int r = 0;

	o->id = e->id;
	o->present = false;
	o->encoded = c->translate || (e->loc.comp & SFS_COMP_MASK) != SFS_COMP_NONE;
	if (c->translate) {
		r = sfs_store_chunk_id(c->dst, raw, e->loc.raw_len, &o->id);
		if (r == 0 && committed(c->dst, &o->id)) {
			o->present = true;
			return 0;
		}
	}
	if (r == 0 && o->encoded)
		r = sfs_store_chunk_encode(c->dst, SFS_CHUNK_DATA, raw, e->loc.raw_len, &o->id,
					   o->enc, sfs_store_chunk_bound(c->bs), &o->h);
	return r;
}

/* Stores a batch in slot order; out: the leaf being rebuilt (translating). */
static int put_batch(struct cp *c, struct sfs_batch_ent *e, size_t n, struct sfs_id *out)
{
	for (size_t i = 0; i < n; i++) {
		struct cp_slot *o = e[i].arg;
		bool is_new = false;
		int r;

		if (e[i].r < 0)
			return log_bad(e[i].r, &e[i].id, "chunk");
		if (c->encode && o->present) {
			c->res->present_chunks++;
			r = 0;
		} else if (!c->encode || !o->encoded) {
			r = put(c, &e[i].loc, &e[i].id, NULL, e[i].stored);
		} else {
			r = record_put(c, &o->h, o->enc, &is_new);
			if (r == 0 && !is_new)
				c->res->present_chunks++; /* translating: met again */
		}
		if (r < 0)
			return r;
		if (out)
			out[o->slot] = o->id;
	}
	return 0;
}

/* A leaf being copied, for the batch reader's fill and drain. */
struct leaf {
	struct cp *c;
	const struct sfs_map_page *p;
	uint64_t base;
	struct sfs_id *out; /* translating: the leaf being rebuilt */
	uint32_t slot;      /* the next to look at */
};

/* The next chunks to read. With the same key, chunks the destination has
 * are skipped by id, and a chunk met again before its batch is stored
 * counts as present, as it did when each lookup followed the last put.
 * Translating, every chunk is read and the destination's dedup finds what
 * it has. */
static int leaf_fill(void *ctx, struct sfs_batch_ent *e, size_t max,
		     const struct sfs_batch_ent *held, size_t n_held)
{
	struct leaf *l = ctx;
	struct cp *c = l->c;
	size_t n = 0;
	int r;

	for (; l->slot < l->p->count && n < max; l->slot++) {
		const struct sfs_id *id = &l->p->ids[l->slot];
		struct sfs_chunk_loc loc;

		if (sfs_id_is_zero(id)) {
			if (l->out)
				memset(&l->out[l->slot], 0, sizeof(l->out[l->slot]));
			continue;
		}
		if (!c->translate) {
			r = sfs_cat_chunk_get(sfs_writer_txn(c->w), id, &loc);
			if (r != 0 && r != -ENOENT && r != -EBADMSG)
				return r;
			if (r == 0 || in_batch(e, n, id) || in_batch(held, n_held, id)) {
				c->res->present_chunks++;
				progress(c, l->base + l->slot + 1);
				continue;
			}
		}
		e[n].id = *id;
		e[n].type = SFS_CHUNK_DATA;
		((struct cp_slot *)e[n].arg)->slot = l->slot;
		n++;
	}
	return (int)n;
}

static int leaf_drain(void *ctx, struct sfs_batch_ent *e, size_t n)
{
	struct leaf *l = ctx;

	return put_batch(l->c, e, n, l->out);
}

/* A leaf page's data chunks, read and verified in batches on every CPU
 * (and named and encoded there when the destination's key or level
 * differ), then stored in slot order by this thread, the destination
 * writer's only user, while the helpers read the next batch; out
 * receives the new ids when translating. */
static int copy_leaf(struct cp *c, const struct sfs_map_page *p, uint64_t base,
		     struct sfs_id *out)
{
	struct leaf l = { c, p, base, out, 0 };
	struct sfs_batch_pipe pipe = { leaf_fill, leaf_drain, &l };

	return sfs_batchread_pipe(c->pool, c->batch, c->batch_max, &pipe);
}

/* A map page at level (0: a leaf) and what it points to. */
static int copy_node(struct cp *c, const struct sfs_id *id, int level, uint64_t base)
{
	struct sfs_chunk_loc loc;
	struct sfs_map_page p;
	const void *stored;
	uint8_t *raw = c->pages[level];
	int r;

	if (sfs_id_is_zero(id))
		return 0;
	r = sfs_cat_chunk_get(sfs_writer_txn(c->w), id, &loc);
	if (r == 0) {
		c->res->present_chunks++;
		progress(c, base + span_of(level));
		return 0;
	}
	if (r != -ENOENT && r != -EBADMSG)
		return r;
	r = sfs_store_chunk_read(c->src, id, SFS_CHUNK_MAP, NULL, raw, SFS_MAP_PAGE_MAX, &loc,
				 NULL);
	if (r < 0)
		return log_bad(r, id, "map page");
	r = sfs_map_page_decode(raw, loc.raw_len, &p);
	if (r == 0 && p.level != level)
		r = -EBADMSG;
	if (r < 0)
		return log_bad(r, id, "malformed map page");
	if (level == 0)
		r = copy_leaf(c, &p, base, NULL);
	for (uint32_t slot = 0; r == 0 && level > 0 && slot < p.count; slot++)
		r = copy_node(c, &p.ids[slot], level - 1, base + slot * span_of(level - 1));
	if (r < 0)
		return r;
	/* Children first, then the page: a present page vouches for them.
	 * The page is read again since the children's reads reused the
	 * thread's record buffer (and gc may have moved it meanwhile). */
	r = sfs_store_chunk_read(c->src, id, SFS_CHUNK_MAP, NULL, raw, SFS_MAP_PAGE_MAX, &loc,
				 &stored);
	if (r < 0)
		return log_bad(r, id, "map page");
	r = put(c, &loc, id, raw, stored);
	if (r == 0)
		progress(c, base + span_of(level));
	return r;
}

/* A chunk under a different key: read and verified in the source, named
 * and stored by the destination. */
static int put_translated(struct cp *c, uint8_t type, const uint8_t *raw, size_t len,
			  struct sfs_id *ret_id)
{
	bool is_new = false;
	int r = sfs_store_chunk_id(c->dst, raw, len, ret_id);

	if (r == 0)
		r = chunk_put(c, type, raw, len, ret_id, &is_new);
	if (r == 0 && !is_new)
		c->res->present_chunks++;
	return r;
}

/*
 * copy_node for stores with different keys. The destination's id of a
 * node is known only once its subtree is translated, so nothing can be
 * skipped by id: the whole snapshot is read, and dedup in the destination
 * keeps what it has from being stored twice. A page keeps its header and
 * count (zero ids stay zero), so the rebuilt page is a valid page.
 */
static int copy_node_translate(struct cp *c, const struct sfs_id *id, int level, uint64_t base,
			       struct sfs_id *ret_id)
{
	struct sfs_chunk_loc loc;
	struct sfs_map_page p;
	uint8_t *raw = c->pages[level], *out = c->out_pages[level];
	struct sfs_id *out_ids = (struct sfs_id *)(out + SFS_MAP_HEADER_LEN);
	int r;

	if (sfs_id_is_zero(id)) {
		memset(ret_id, 0, sizeof(*ret_id));
		return 0;
	}
	r = sfs_store_chunk_read(c->src, id, SFS_CHUNK_MAP, NULL, raw, SFS_MAP_PAGE_MAX, &loc,
				 NULL);
	if (r < 0)
		return log_bad(r, id, "map page");
	r = sfs_map_page_decode(raw, loc.raw_len, &p);
	if (r == 0 && p.level != level)
		r = -EBADMSG;
	if (r < 0)
		return log_bad(r, id, "malformed map page");
	memcpy(out, raw, SFS_MAP_HEADER_LEN);
	if (level == 0)
		r = copy_leaf(c, &p, base, out_ids);
	for (uint32_t slot = 0; r == 0 && level > 0 && slot < p.count; slot++)
		r = copy_node_translate(c, &p.ids[slot], level - 1,
					base + slot * span_of(level - 1), &out_ids[slot]);
	if (r < 0)
		return r;
	r = put_translated(c, SFS_CHUNK_MAP, out, loc.raw_len, ret_id);
	if (r == 0)
		progress(c, base + span_of(level));
	return r;
}

static int same_store(struct sfs_store *a, struct sfs_store *b)
{
	struct stat sa, sb;

	if (fstat(a->dirfd, &sa) < 0 || fstat(b->dirfd, &sb) < 0)
		return -errno;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int sfs_copy_target_check(struct sfs_store *src, const char *path)
{
	struct stat sa, sb;

	/* By identity, not by name: a symlink, a bind mount or "a/../a"
	 * names the same directory under another string. */
	if (fstat(src->dirfd, &sa) < 0 || stat(path, &sb) < 0)
		return -errno;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino ? -EINVAL : 0;
}

/* The destination volume, created with the source volume's tags. */
static int ensure_volume(struct cp *c, const struct sfs_snapshot *src_sn)
{
	struct sfs_txn *dt = sfs_writer_txn(c->w), *st;
	struct sfs_volume sv = { 0 };
	int r = sfs_txn_begin(c->src, false, &st);

	if (r < 0)
		return r;
	r = sfs_cat_volume_get(st, src_sn->volume, &sv);
	sfs_txn_abort(st);
	if (r < 0 && r != -ENOENT && r != -EBADMSG)
		return r;
	r = sfs_cat_volume_ensure(dt, src_sn->volume, (int64_t)time(NULL), sv.tags, NULL);
	sfs_volume_release(&sv);
	return r;
}

static int new_record(const struct sfs_snapshot *src, const struct sfs_copy_opts *o,
		      struct sfs_snapshot *sn)
{
	const char *desc = o->description ? o->description : src->description;
	int r;

	memset(sn, 0, sizeof(*sn));
	r = sfs_idstr_new("snap-", sn->id);
	if (r < 0)
		return r;
	memcpy(sn->volume, src->volume, sizeof(sn->volume));
	sn->created = src->created; /* the point in time the data is of */
	sn->created_ns = src->created_ns;
	sn->block_size = src->block_size;
	sn->description = desc ? strdup(desc) : NULL;
	sn->copied_from = strdup(src->id);
	sn->tags = src->tags ? json_deep_copy(src->tags) : json_object();
	if (sn->tags && o->tags)
		json_object_update(sn->tags, o->tags);
	if ((desc && !sn->description) || !sn->copied_from || !sn->tags)
		return -ENOMEM;
	return 0;
}

static int cp_init(struct cp *c)
{
	int r;

	for (int i = 0; i < SFS_MAP_MAX_DEPTH; i++) {
		c->pages[i] = malloc(SFS_MAP_PAGE_MAX);
		c->out_pages[i] = malloc(SFS_MAP_PAGE_MAX);
		if (!c->pages[i] || !c->out_pages[i])
			return -ENOMEM;
	}
	/* With the same key, stored bytes are sent as they are, but for
	 * compressed ones at another level; else every chunk is encoded. */
	c->encode = c->translate || !c->same_level;
	c->batch_max = BATCH_BYTES / c->bs;
	c->batch_max = c->batch_max < 2 ? 2 : c->batch_max > BATCH_MAX ? BATCH_MAX : c->batch_max;
	for (int k = 0; k < 2; k++) {
		c->batch[k] = calloc(c->batch_max, sizeof(*c->batch[k]));
		c->slots[k] = calloc(c->batch_max, sizeof(*c->slots[k]));
		if (!c->batch[k] || !c->slots[k])
			return -ENOMEM;
		for (size_t i = 0; i < c->batch_max; i++) {
			struct sfs_batch_ent *e = &c->batch[k][i];
			struct cp_slot *o = &c->slots[k][i];

			/* The decoded bytes go to the reading thread's scratch
			 * buffer: the then function encodes them there, and
			 * otherwise the stored bytes are what is sent. */
			e->arg = o;
			e->cap = c->bs;
			if (!c->translate) {
				e->stored_cap = c->bs + SFS_SEAL_OVERHEAD + SFS_SUM_LEN;
				e->stored = malloc(e->stored_cap);
				if (!e->stored)
					return -ENOMEM;
			}
			if (c->encode) {
				o->enc = malloc(sfs_store_chunk_bound(c->bs));
				if (!o->enc)
					return -ENOMEM;
			}
		}
	}
	r = sfs_batchread_new(c->src, &c->pool);
	if (r == 0 && c->encode)
		sfs_batchread_then(c->pool, encode_then, c);
	return r;
}

static void cp_release(struct cp *c)
{
	sfs_batchread_free(c->pool);
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; c->batch[k] && i < c->batch_max; i++)
			free(c->batch[k][i].stored);
		for (size_t i = 0; c->slots[k] && i < c->batch_max; i++)
			free(c->slots[k][i].enc);
		free(c->batch[k]);
		free(c->slots[k]);
	}
	for (int i = 0; i < SFS_MAP_MAX_DEPTH; i++) {
		free(c->pages[i]);
		free(c->out_pages[i]);
	}
}

int sfs_copy_snapshot(struct sfs_store *src, const char *id, struct sfs_store *dst,
		      const struct sfs_copy_opts *o, struct sfs_copy_result *ret)
{
	static const struct sfs_copy_opts defaults;
	struct cp c = { .src = src, .dst = dst, .res = ret, .o = o ? o : &defaults };
	struct sfs_snapshot ssn = { 0 }, sn = { 0 };
	struct sfs_txn *t;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!dst->writable)
		return -EROFS;
	r = same_store(src, dst);
	if (r < 0)
		return r;
	if (r)
		return -EINVAL;
	if (src->block_size != dst->block_size)
		return -EXDEV;
	r = sfs_txn_begin(src, false, &t);
	if (r < 0)
		return r;
	r = sfs_cat_snapshot_get(t, id, &ssn);
	sfs_txn_abort(t);
	if (r < 0)
		return r;
	if (ssn.state != SFS_SNAP_COMPLETED) {
		r = -EAGAIN;
		goto out;
	}
	c.same_level = src->zstd_level == dst->zstd_level;
	c.translate = !sfs_store_same_key(src, dst);
	c.bs = ssn.block_size;
	c.size = ssn.size;
	c.nblocks = (ssn.size + c.bs - 1) / c.bs;
	c.ckpt_bytes = c.o->checkpoint_bytes ? c.o->checkpoint_bytes : DEFAULT_CHECKPOINT;
	r = cp_init(&c);
	if (r < 0)
		goto out;
	r = new_record(&ssn, c.o, &sn);
	if (r < 0)
		goto out;
	r = sfs_writer_begin(dst, &c.w);
	if (r < 0)
		goto out;
	/* Pending first, durably: an interrupted copy is found and cleaned by
	 * the destination's next writer, and what arrived stays indexed. */
	r = sfs_writer_add_pending(c.w, &sn);
	sn.root = ssn.root;
	if (r == 0 && ssn.depth > 0 && c.translate)
		r = copy_node_translate(&c, &ssn.root, (int)ssn.depth - 1, 0, &sn.root);
	else if (r == 0 && ssn.depth > 0)
		r = copy_node(&c, &ssn.root, (int)ssn.depth - 1, 0);
	if (r == 0)
		r = ensure_volume(&c, &ssn);
	if (r < 0) {
		sfs_writer_abort(c.w);
		goto out;
	}
	sn.depth = ssn.depth;
	sn.size = ssn.size;
	sn.data_bytes = ssn.data_bytes;
	sn.new_bytes = ret->sent_bytes;
	sn.new_chunks = ret->sent_chunks;
	memcpy(ret->snap_id, sn.id, sizeof(ret->snap_id));
	r = sfs_writer_add_done(c.w, &sn);
	if (r < 0) {
		sfs_writer_abort(c.w);
		goto out;
	}
	r = sfs_writer_commit(c.w);
	if (r == 0)
		progress(&c, c.nblocks);
out:
	cp_release(&c);
	sfs_snapshot_release(&sn);
	sfs_snapshot_release(&ssn);
	return r;
}
