// SPDX-License-Identifier: MIT
/*
 * pread stress for a mounted snapshot: several threads read random ranges
 * of the image through the mount and compare every byte with the source
 * file. Offsets and lengths are drawn so that reads are unaligned, cross
 * block boundaries, span many blocks and run past the end of the file;
 * the page cache is dropped now and then so that reads keep reaching the
 * FUSE driver instead of being served from memory.
 *
 * usage: pread_stress MOUNTED_IMAGE SOURCE [THREADS [READS_PER_THREAD [SEED]]]
 * Exits 0 when every read matched, 1 on a mismatch or error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define MAX_LEN (3u << 20)
#define BOUNDARY 4096u /* every block size is a multiple of this */

struct job {
	const char *image, *source;
	uint64_t size;
	unsigned reads;
	uint64_t seed;
	int failed;
	unsigned thread;
};

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64*: reproducible from the seed printed on failure */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* pread until len bytes or end of file; returns bytes read or -errno. */
static ssize_t read_full(int fd, char *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void pick(struct job *j, uint64_t *rs, uint64_t *ret_off, size_t *ret_len)
{
	uint64_t r = next_rand(rs), span = j->size + 2 * 65536;
	uint64_t off = next_rand(rs) % span;
	size_t len;

	switch (r % 6) {
	case 0: /* tiny and unaligned */
		len = 1 + next_rand(rs) % 512;
		break;
	case 1: /* straddling a block boundary */
		off = (off / BOUNDARY) * BOUNDARY;
		off = off > 37 ? off - next_rand(rs) % 37 : off;
		len = 2 + next_rand(rs) % 8192;
		break;
	case 2: /* ending past the end of the file */
		off = j->size > 100000 ? j->size - next_rand(rs) % 100000 : 0;
		len = 1 + next_rand(rs) % 200000;
		break;
	case 3: /* large, many blocks */
		len = 1 + next_rand(rs) % MAX_LEN;
		break;
	default: /* page-ish reads at odd offsets */
		len = 1 + next_rand(rs) % 131072;
		break;
	}
	*ret_off = off;
	*ret_len = len;
}

static void *run(void *arg)
{
	struct job *j = arg;
	char *a = malloc(MAX_LEN), *b = malloc(MAX_LEN);
	int fa = open(j->image, O_RDONLY | O_CLOEXEC), fb = open(j->source, O_RDONLY | O_CLOEXEC);
	uint64_t rs = j->seed * 0x9e3779b97f4a7c15ull + j->thread + 1;

	if (!a || !b || fa < 0 || fb < 0) {
		fprintf(stderr, "pread_stress: setup: %s\n", strerror(errno));
		j->failed = 1;
		goto out;
	}
	for (unsigned i = 0; i < j->reads && !j->failed; i++) {
		uint64_t off;
		size_t len;
		ssize_t na, nb;

		pick(j, &rs, &off, &len);
		if (i % 64 == 63)
			posix_fadvise(fa, 0, 0, POSIX_FADV_DONTNEED);
		na = read_full(fa, a, len, off);
		nb = read_full(fb, b, len, off);
		if (na != nb || (na > 0 && memcmp(a, b, (size_t)na))) {
			size_t at = 0;
			while (na > 0 && nb > 0 && at < (size_t)na && a[at] == b[at])
				at++;
			fprintf(stderr,
				"pread_stress: thread %u read %u: offset %" PRIu64 " length %zu: "
				"mount gave %zd, source %zd, first difference at +%zu (seed %" PRIu64
				")\n",
				j->thread, i, off, len, na, nb, at, j->seed);
			j->failed = 1;
		}
	}
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(a);
	free(b);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned nthreads = argc > 3 ? (unsigned)atoi(argv[3]) : 8;
	unsigned reads = argc > 4 ? (unsigned)atoi(argv[4]) : 2000;
	uint64_t seed = argc > 5 ? strtoull(argv[5], NULL, 0) : (uint64_t)getpid();
	struct job *jobs;
	pthread_t *tids;
	struct stat sa, sb;
	int failed = 0;

	if (argc < 3 || nthreads < 1 || nthreads > 256) {
		fputs("usage: pread_stress MOUNTED_IMAGE SOURCE [THREADS [READS [SEED]]]\n", stderr);
		return 2;
	}
	if (stat(argv[1], &sa) < 0 || stat(argv[2], &sb) < 0) {
		fprintf(stderr, "pread_stress: stat: %s\n", strerror(errno));
		return 1;
	}
	if (sa.st_size != sb.st_size) {
		fprintf(stderr, "pread_stress: sizes differ: %jd vs %jd\n", (intmax_t)sa.st_size,
			(intmax_t)sb.st_size);
		return 1;
	}
	jobs = calloc(nthreads, sizeof(*jobs));
	tids = calloc(nthreads, sizeof(*tids));
	if (!jobs || !tids)
		return 1;
	for (unsigned t = 0; t < nthreads; t++) {
		jobs[t] = (struct job){ argv[1], argv[2], (uint64_t)sb.st_size, reads, seed, 0, t };
		if (pthread_create(&tids[t], NULL, run, &jobs[t]) != 0)
			return 1;
	}
	for (unsigned t = 0; t < nthreads; t++) {
		pthread_join(tids[t], NULL);
		failed |= jobs[t].failed;
	}
	if (!failed)
		printf("pread_stress: %u threads x %u reads matched (seed %" PRIu64 ")\n", nthreads,
		       reads, seed);
	free(jobs);
	free(tids);
	return failed;
}
