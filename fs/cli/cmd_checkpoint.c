// SPDX-License-Identifier: MIT
/*
 * `snapfs checkpoint`: hibernating QEMU virtual machines into the store
 * and resuming them from a mount. create talks to a running VM over QMP:
 * it finds the file behind guest RAM (which must be shared, so that
 * QEMU's x-ignore-shared leaves RAM out of the migration stream), pauses
 * the VM, saves the device state to a file, and snapshots the RAM file,
 * every disk and the device state in one writer session that also
 * registers the checkpoint, so that it lands whole or not at all. The VM
 * is then quit, or resumed with --keep-running; a create killed half way
 * leaves the VM paused, never lost. launch-config prints a script that
 * starts QEMU with the same command line, guest RAM mapped privately and
 * read-only from the mount (pages load as the guest touches them), and
 * `checkpoint incoming` (run by that script) feeds QEMU the device state.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "image_launch.h"
#include "mapped_ram.h"
#include "qmp.h"
#include "snapfs/checkpoint.h"
#include "snapfs/ingest.h"

#define QMP_TIMEOUT_MS 5000
/* Saving the device state of a stopped VM is quick; RAM is not in it. */
#define MIGRATE_TIMEOUT_S 600

static const char ckpt_help[] =
    "Usage: snapfs checkpoint COMMAND ...\n"
    "\n"
    "Hibernates QEMU VMs into the store and resumes them from a mount.\n"
    "\n"
    "  create NAME --qmp SOCKET [--keep-running] [--tmp-dir DIR]\n"
    "        pause the VM, store its RAM, disks and device state as checkpoint\n"
    "        NAME (one commit), then quit it (or resume it: --keep-running).\n"
    "        The VM must have been launched with hibernation enabled: guest RAM\n"
    "        in a shared file (image launch-config --hibernation), or resumed\n"
    "        from a checkpoint (its RAM, a private mapping, is then saved\n"
    "        through QEMU's mapped-ram migration, QEMU 9.0 or newer).\n"
    "  list [--json]                 checkpoints\n"
    "  show NAME|ID [--json]         one checkpoint\n"
    "  delete NAME|ID [--keep-snapshots]\n"
    "        remove it; its snapshots go too unless something else uses them\n"
    "  launch-config NAME|ID --mount DIR [--overlay DIR] [--serial FILE]\n"
    "        [--accel kvm|tcg] [--qmp SOCKET] [--memory MiB] [--cpus N] [--copy-ram]\n"
    "        a sh script that resumes the VM from MOUNT/checkpoints/NAME/: RAM\n"
    "        mapped lazily, disks writable through qcow2 overlays in DIR (else\n"
    "        discarded). The machine's shape is the checkpoint's: --memory and\n"
    "        --cpus only confirm it, and a different one is refused. --copy-ram\n"
    "        copies the RAM image out before the VM starts, as the script does\n"
    "        by itself with QEMU older than 8.2 (slower)\n"
    "  incoming --qmp SOCKET --state FILE [--timeout SECONDS]\n"
    "        [--memory BYTES] [--cpus N] [--machine TYPE] [--mapped-ram]\n"
    "        feed a VM started with -incoming defer its device state and run it\n"
    "        (what the launch-config script runs); a VM whose shape differs\n"
    "        from the one given is refused. --mapped-ram: a state saved with\n"
    "        QEMU's mapped-ram (the checkpoint of a resumed VM)\n";

/* ---- QMP helpers ---- */

static int qmp_fail(const char *what, int r, const char *err)
{
	(void)r;
	return cli_error("%s: %s", what, err);
}

/* qom-get path property into *ret (a new reference). */
static int qom_get(struct sfs_qmp *q, const char *path, const char *prop, json_t **ret, char *err,
		   size_t errlen)
{
	json_t *a = json_pack("{s:s, s:s}", "path", path, "property", prop);
	int r;

	if (!a)
		return -ENOMEM;
	r = sfs_qmp_exec(q, "qom-get", a, ret, err, errlen);
	json_decref(a);
	return r;
}

static int qmp_simple(struct sfs_qmp *q, const char *cmd, json_t *args, char *err, size_t errlen)
{
	int r = sfs_qmp_exec(q, cmd, args, NULL, err, errlen);

	json_decref(args);
	return r;
}

static json_t *ignore_shared_args(void)
{
	return json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", "x-ignore-shared",
			 "state", 1);
}

/* Polls query-migrate until the migration ends; 0 when it completed. */
static int wait_migration(struct sfs_qmp *q, int timeout_s, char *err, size_t errlen)
{
	time_t end = time(NULL) + timeout_s;

	for (;;) {
		json_t *st = NULL;
		const char *s;
		int r = sfs_qmp_exec(q, "query-migrate", NULL, &st, err, errlen);

		if (r < 0)
			return r;
		s = json_string_value(json_object_get(st, "status"));
		if (s && !strcmp(s, "completed")) {
			json_decref(st);
			return 0;
		}
		if (s && (!strcmp(s, "failed") || !strcmp(s, "cancelled"))) {
			const char *why = json_string_value(json_object_get(st, "error-desc"));

			snprintf(err, errlen, "the migration %s: %s", s, why ? why : "no reason given");
			json_decref(st);
			return -EIO;
		}
		json_decref(st);
		if (time(NULL) > end) {
			snprintf(err, errlen, "the migration did not end within %d s", timeout_s);
			return -ETIMEDOUT;
		}
		usleep(20000);
	}
}

/* ---- what create learns of the VM ---- */

struct disk {
	char id[SFS_DEVNAME_MAX + 1];
	char *file;   /* what QEMU has open */
	char *format; /* "raw", "qcow2", ... */
	bool backing; /* has a backing file: read through qemu-img */
	char *source; /* the file to snapshot (file, or a raw copy) */
};

struct vm {
	pid_t pid;
	int version;
	char name[SFS_NAME_MAX + 1];
	char memdev[64];
	char *ram_path;
	/* RAM mapped privately (a VM resumed from a checkpoint): it goes
	 * through a mapped-ram migration, not its file. */
	bool private_ram;
	uint64_t ram_size;
	json_t *machine; /* the shape recorded */
	struct disk disks[SFS_CKPT_MAX_DEVICES];
	size_t ndisks;
};

static void vm_release(struct vm *vm)
{
	free(vm->ram_path);
	json_decref(vm->machine);
	for (size_t i = 0; i < vm->ndisks; i++) {
		free(vm->disks[i].file);
		free(vm->disks[i].format);
		if (vm->disks[i].source != vm->disks[i].file)
			free(vm->disks[i].source);
	}
}

/* The VM's command line, from /proc: how it was started, which a resume
 * repeats. */
static json_t *read_cmdline(pid_t pid)
{
	char path[64], buf[1 << 16];
	json_t *arr;
	ssize_t n;
	size_t off = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || (size_t)n >= sizeof(buf) - 1)
		return NULL;
	buf[n] = '\0';
	arr = json_array();
	while (arr && off < (size_t)n) {
		json_array_append_new(arr, json_string(buf + off));
		off += strlen(buf + off) + 1;
	}
	return arr;
}

/* Finds guest RAM: the machine's memory backend, a file, shared. */
static int find_ram(struct sfs_qmp *q, struct vm *vm)
{
	json_t *mds = NULL, *v = NULL, *md, *chosen = NULL;
	char err[512];
	const char *want = NULL;
	size_t i;
	int r;

	r = sfs_qmp_exec(q, "query-memdev", NULL, &mds, err, sizeof(err));
	if (r < 0)
		return qmp_fail("query-memdev", r, err);
	if (qom_get(q, "/machine", "memory-backend", &v, err, sizeof(err)) == 0)
		want = json_string_value(v);
	json_array_foreach(mds, i, md) {
		const char *id = json_string_value(json_object_get(md, "id"));

		if (!chosen || (want && id && !strcmp(id, want)))
			chosen = md;
	}
	if (!chosen || !json_string_value(json_object_get(chosen, "id"))) {
		r = cli_error("the VM's RAM is not in a memory backend file: launch it with "
			      "hibernation enabled (image launch-config --hibernation)");
		goto out;
	}
	snprintf(vm->memdev, sizeof(vm->memdev), "%s",
		 json_string_value(json_object_get(chosen, "id")));
	vm->ram_size = (uint64_t)json_integer_value(json_object_get(chosen, "size"));
	{
		char path[128];
		json_t *mp = NULL;

		snprintf(path, sizeof(path), "/objects/%s", vm->memdev);
		if (qom_get(q, path, "mem-path", &mp, err, sizeof(err)) < 0 ||
		    !json_string_value(mp)) {
			json_decref(mp);
			r = cli_error("the VM's RAM (memory backend %s) is not file-backed: launch "
				      "it with hibernation enabled (image launch-config "
				      "--hibernation)",
				      vm->memdev);
			goto out;
		}
		vm->ram_path = strdup(json_string_value(mp));
		json_decref(mp);
	}
	if (!json_is_true(json_object_get(chosen, "share"))) {
		/* A private mapping holds the guest's writes in QEMU's memory, not
		 * in the file: only a migration of RAM itself captures them, at
		 * fixed offsets with mapped-ram (QEMU 9.0). */
		if (vm->version < 90000) {
			r = cli_error("the VM's RAM file %s is not shared (share=off) and QEMU %d.%d "
				      "cannot save it at fixed offsets (mapped-ram needs 9.0): launch "
				      "it with hibernation enabled (image launch-config --hibernation)",
				      vm->ram_path, vm->version / 10000, vm->version / 100 % 100);
			goto out;
		}
		vm->private_ram = true;
	}
	{
		struct stat st;

		if (stat(vm->ram_path, &st) < 0 || !S_ISREG(st.st_mode)) {
			r = cli_error("the VM's RAM file %s is not a regular file this host can "
				      "read",
				      vm->ram_path);
			goto out;
		}
	}
	r = 0;
out:
	json_decref(v);
	json_decref(mds);
	return r;
}

static int find_disks(struct sfs_qmp *q, struct vm *vm)
{
	json_t *blocks = NULL, *b;
	char err[512];
	size_t i;
	int r = sfs_qmp_exec(q, "query-block", NULL, &blocks, err, sizeof(err));

	if (r < 0)
		return qmp_fail("query-block", r, err);
	json_array_foreach(blocks, i, b) {
		json_t *ins = json_object_get(b, "inserted");
		const char *id = json_string_value(json_object_get(b, "device"));
		const char *file = json_string_value(json_object_get(ins, "file"));
		const char *drv = json_string_value(json_object_get(ins, "drv"));
		struct disk *d;

		if (!ins || !file || !drv)
			continue; /* an empty drive: nothing to keep */
		if (!id || !sfs_ckpt_device_valid(id)) {
			r = cli_error("the VM's drive '%s' has no id usable as a file name",
				      id ? id : "?");
			goto out;
		}
		if (vm->ndisks == SFS_CKPT_MAX_DEVICES) {
			r = cli_error("the VM has more than %d drives", SFS_CKPT_MAX_DEVICES);
			goto out;
		}
		d = &vm->disks[vm->ndisks++];
		snprintf(d->id, sizeof(d->id), "%s", id);
		d->file = strdup(file);
		d->format = strdup(drv);
		d->backing = json_object_get(ins, "backing_file") != NULL;
		if (!d->file || !d->format) {
			r = cli_error("out of memory");
			goto out;
		}
	}
	r = 0;
out:
	json_decref(blocks);
	return r;
}

static int probe_vm(struct sfs_qmp *q, struct vm *vm)
{
	json_t *v = NULL, *cpus = NULL, *argv;
	const char *type, *name;
	char err[512], mtype[128];
	int r;

	vm->pid = sfs_qmp_peer_pid(q);
	vm->version = sfs_qmp_version(q);
	r = find_ram(q, vm);
	if (r)
		return r;
	r = find_disks(q, vm);
	if (r)
		return r;
	if (sfs_qmp_exec(q, "query-name", NULL, &v, err, sizeof(err)) == 0 &&
	    (name = json_string_value(json_object_get(v, "name"))) && sfs_name_valid(name))
		snprintf(vm->name, sizeof(vm->name), "%s", name);
	json_decref(v);
	v = NULL;
	r = qom_get(q, "/machine", "type", &v, err, sizeof(err));
	if (r < 0)
		return qmp_fail("the machine type", r, err);
	type = json_string_value(v);
	snprintf(mtype, sizeof(mtype), "%s", type ? type : "");
	json_decref(v);
	if (strlen(mtype) > 8 && !strcmp(mtype + strlen(mtype) - 8, "-machine"))
		mtype[strlen(mtype) - 8] = '\0';
	r = sfs_qmp_exec(q, "query-cpus-fast", NULL, &cpus, err, sizeof(err));
	if (r < 0)
		return qmp_fail("query-cpus-fast", r, err);
	argv = vm->pid > 0 ? read_cmdline(vm->pid) : NULL;
	if (!argv) {
		json_decref(cpus);
		return cli_error("cannot read the VM's command line (QEMU pid %d): a checkpoint "
				 "must record how the VM was started",
				 (int)vm->pid);
	}
	vm->machine = json_pack("{s:s, s:I, s:I, s:s, s:i, s:o}", "type", mtype, "memory",
				(json_int_t)vm->ram_size, "cpus",
				(json_int_t)json_array_size(cpus), "memdev", vm->memdev,
				"qemu_version", vm->version, "argv", argv);
	json_decref(cpus);
	return vm->machine ? 0 : cli_error("out of memory");
}

/* Runs argv; 0 when it exited 0. */
static int run(char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/* A disk as the guest sees it: its file when raw without a backing
 * file, else a raw copy made by qemu-img (with -U: QEMU holds the
 * image's lock; the VM is paused, so nothing changes under it). */
static int disk_source(struct disk *d, const char *dir)
{
	char *out;

	if (!strcmp(d->format, "raw") && !d->backing) {
		d->source = d->file;
		return 0;
	}
	if (asprintf(&out, "%s/%s.raw", dir, d->id) < 0)
		return cli_error("out of memory");
	{
		char *const argv[] = {"qemu-img", "convert", "-U", "-q", "-f", d->format, "-O",
				      "raw", d->file, out, NULL};

		if (run(argv) < 0) {
			free(out);
			return cli_error("qemu-img convert of drive %s (%s) failed", d->id,
					 d->file);
		}
	}
	d->source = out;
	return 0;
}

/* ---- create ---- */

/* The capabilities of create's migration (see ckpt_create). mapped-ram
 * is named only to a QEMU that knows it. */
static json_t *migrate_caps(const struct vm *vm)
{
	json_t *caps = json_array();

	json_array_append_new(caps, json_pack("{s:s, s:b}", "capability", "x-ignore-shared",
					      "state", !vm->private_ram));
	if (vm->version >= 90000)
		json_array_append_new(caps, json_pack("{s:s, s:b}", "capability", "mapped-ram",
						      "state", vm->private_ram));
	return json_pack("{s:o}", "capabilities", caps);
}

/* A private RAM's checkpoint: the guest RAM block's pages out of the
 * mapped-ram stream into ram_raw (the RAM image, laid out as the shared
 * RAM file of a first checkpoint is, so unchanged pages dedup against
 * it), and the block's bitmap in the stream cleared (the device state: a
 * resume maps the pages from the RAM image, lazily). */
static int split_ram(const struct vm *vm, const char *state, const char *ram_raw)
{
	struct cli_mapped_ram_block b;
	int fd = open(state, O_RDWR | O_CLOEXEC), out = -1, r;

	if (fd < 0)
		return cli_error("cannot open the saved state %s: %s", state, strerror(errno));
	r = cli_mapped_ram_find(fd, vm->memdev, &b);
	if (r < 0) {
		r = r == -ENOENT ? cli_error("the saved state has no RAM block %s", vm->memdev)
		    : r == -EBADMSG ? cli_error("the saved state is not the mapped-ram stream "
						"expected of QEMU %d.%d",
						vm->version / 10000, vm->version / 100 % 100)
				    : cli_fail(r, "cannot read the saved state");
		goto out;
	}
	if (b.length != vm->ram_size) {
		r = cli_error("RAM block %s holds %" PRIu64 " bytes, not the VM's %" PRIu64, vm->memdev,
			      b.length, vm->ram_size);
		goto out;
	}
	out = open(ram_raw, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		r = cli_error("cannot create %s: %s", ram_raw, strerror(errno));
		goto out;
	}
	r = cli_mapped_ram_split(fd, &b, out);
	if (r < 0)
		r = cli_fail(r, "cannot take the RAM out of the saved state");
out:
	if (out >= 0)
		close(out);
	close(fd);
	return r;
}

/* A test seam: SNAPFS_CKPT_STOP_AT=POINT makes create stop itself
 * (SIGSTOP) at that point, so that a test can kill it there for certain
 * rather than by chance. The points: "paused" (VM stopped, nothing
 * saved), "migrating" (device state being written), "snapshotting" (the
 * RAM stored, the rest not), "committing" (every part and the record in
 * the session, not committed). */
static void stop_point(const char *point)
{
	const char *at = getenv("SNAPFS_CKPT_STOP_AT");

	if (at && !strcmp(at, point))
		raise(SIGSTOP);
}

/* A part's source is read past the page cache, as any snapshot's, unless
 * it lives there: the guest's RAM and the device state just written
 * (vm_state) are in memory, and a direct read would first write all of it
 * to disk. Those two may also come out shorter than the last of the same
 * VM (a VM launched again with less memory, a device state a few bytes
 * shorter), and a volume never shrinks: they are stored padded with zeros
 * to the volume's size, and the checkpoint records their own length
 * (res->source_size), which the mount shows. */
static int snap_part(struct sfs_writer *w, const char *vm, const char *part, const char *source,
		     bool vm_state, const char *ckpt, struct sfs_ingest_result *res)
{
	struct sfs_ingest_opts io = {0};
	char volume[SFS_NAME_MAX + 1], desc[256];
	int r;

	/* The volume a part of vm's checkpoints is a snapshot of: VM-PART. */
	if (snprintf(volume, sizeof(volume), "%s-%s", vm, part) >= (int)sizeof(volume))
		return cli_error("volume name %s-%s is too long", vm, part);
	snprintf(desc, sizeof(desc), "%s of checkpoint %s", part, ckpt);
	io.volume = volume;
	io.source = source;
	io.description = desc;
	io.buffered = vm_state;
	io.pad_to_parent = vm_state;
	r = sfs_writer_snapshot(w, &io, res);
	if (r < 0)
		return cli_fail(r, "snapshot of %s (%s)%s%s", part, source, res->error[0] ? ": " : "",
				res->error);
	return 0;
}

static int name_free(struct sfs_store *s, const char *name)
{
	struct sfs_checkpoint ck;
	struct sfs_txn *t;
	int r = sfs_txn_begin(s, false, &t);

	if (r < 0)
		return cli_fail(r, "cannot read the catalog");
	r = sfs_cat_checkpoint_get(t, name, &ck);
	sfs_txn_abort(t);
	if (r == 0 || r == -EBADMSG) {
		if (r == 0)
			sfs_checkpoint_release(&ck);
		return cli_error("a checkpoint named %s already exists", name);
	}
	return r == -ENOENT ? 0 : cli_fail(r, "cannot read checkpoint %s", name);
}

static int rm_tree(const char *dir)
{
	char *const argv[] = {"rm", "-rf", (char *)dir, NULL};

	return run(argv);
}

/* A create's temporary directory is locked while the create lives:
 * DIR/.lock, flocked, which the kernel releases when the process dies,
 * however it dies. The lock file is made and locked under another name
 * and renamed into place, so that a sweep never finds it unlocked while
 * its create lives. Returns the lock's fd (kept open until the end), or
 * -errno. */
#define TMP_PREFIX "snapfs-ckpt."
#define TMP_LOCK ".lock"

static int tmp_dir_lock(const char *dir)
{
	char tmp[PATH_MAX + 16], lock[PATH_MAX + 16];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.lock-new", dir);
	snprintf(lock, sizeof(lock), "%s/" TMP_LOCK, dir);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0 || rename(tmp, lock) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Removes the temporary directories of creates that were killed (device
 * state, raw copies of disks, a RAM image: up to the VM's RAM in size):
 * those whose lock nobody holds. One that has no lock yet is left alone
 * unless it is old, as its create may be about to make it. */
static void tmp_dirs_sweep(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX], lock[PATH_MAX + 16];
		struct stat st;
		int fd;

		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) ||
		    snprintf(path, sizeof(path), "%s/%s", parent, e->d_name) >= (int)sizeof(path) ||
		    lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
			continue;
		snprintf(lock, sizeof(lock), "%s/" TMP_LOCK, path);
		fd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			if (errno == ENOENT && st.st_mtime < time(NULL) - 600)
				rm_tree(path);
			continue;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			rm_tree(path);
		close(fd);
	}
	closedir(d);
}

static int ckpt_create(const struct cli *c, int argc, char **argv)
{
	static const char cmd[] = "checkpoint create ";
	const char *qmp_path = NULL, *tmp_dir = NULL;
	bool keep = false;
	const struct cli_opt opts[] = {
	    {.name = "qmp", .kind = CLI_STRING, .dest = &qmp_path},
	    {.name = "keep-running", .kind = CLI_FLAG, .dest = &keep},
	    {.name = "tmp-dir", .kind = CLI_STRING, .dest = &tmp_dir},
	    {0},
	};
	struct cli_parse co = {.cmd = cmd, .help = ckpt_help, .opts = opts, .shared = CLI_JSON,
			       .min_args = 1, .max_args = 1, .args_help = "the checkpoint NAME"};
	struct sfs_ingest_result res_ram = {0}, res_state = {0};
	struct sfs_checkpoint ck;
	struct sfs_writer *w = NULL;
	struct sfs_store *s = NULL;
	struct sfs_qmp *q = NULL;
	struct vm vm = {0};
	char err[512], dir[PATH_MAX], state[PATH_MAX + 16], ram_raw[PATH_MAX + 16], *uri = NULL;
	const char *name, *tmp_parent, *ram_source;
	int lock_fd = -1;
	bool stopped = false, done = false;
	double t0;
	struct timespec ts;
	uint64_t added = 0;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	name = co.args[0];
	if (!sfs_name_valid(name))
		return cli_usage_error(cmd, "invalid checkpoint name '%s': 1 to 128 of "
					    "A-Z a-z 0-9 . _ -, not starting with . or -",
				       name);
	if (!qmp_path)
		return cli_usage_error(cmd, "--qmp SOCKET is required: the VM's QMP socket");
	if (sfs_checkpoint_init(&ck) < 0)
		return cli_error("out of memory");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	/* The store first: the writer lock is held before the VM is touched,
	 * and a taken name costs the VM nothing. */
	r = cli_open_store(c, SFS_OPEN_WRITE, &s);
	if (r)
		goto out;
	r = name_free(s, name);
	if (r)
		goto out;
	r = sfs_qmp_open(qmp_path, QMP_TIMEOUT_MS, &q, err, sizeof(err));
	if (r < 0) {
		r = cli_error("QMP socket %s: %s", qmp_path, err);
		goto out;
	}
	r = probe_vm(q, &vm);
	if (r)
		goto out;
	snprintf(ck.name, sizeof(ck.name), "%s", name);
	snprintf(ck.vm, sizeof(ck.vm), "%s", vm.name[0] ? vm.name : name);
	json_decref(ck.machine);
	ck.machine = json_incref(vm.machine);
	if (vm.private_ram)
		json_object_set_new(ck.machine, "state_format", json_string("mapped-ram"));
	tmp_parent = tmp_dir ? tmp_dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	tmp_dirs_sweep(tmp_parent);
	snprintf(dir, sizeof(dir), "%s/" TMP_PREFIX "XXXXXX", tmp_parent);
	if (!mkdtemp(dir)) {
		r = cli_error("cannot make a temporary directory %s: %s", dir, strerror(errno));
		goto out;
	}
	lock_fd = tmp_dir_lock(dir);
	if (lock_fd < 0) {
		r = cli_fail(lock_fd, "cannot lock the temporary directory %s", dir);
		goto out_rm;
	}
	snprintf(state, sizeof(state), "%s/state.bin", dir);
	snprintf(ram_raw, sizeof(ram_raw), "%s/ram.raw", dir);
	/* Device state only: RAM lives in its shared file and stays out of
	 * the stream. A file: URI needs QEMU 8.2; older ones write through
	 * a shell (the directory is ours, the path needs no quoting). A
	 * private RAM goes into the stream at fixed offsets (mapped-ram),
	 * without x-ignore-shared: QEMU 10.0 reads the stream of the two
	 * together wrongly, and the VM has no shared RAM to leave out. The
	 * capabilities are set both ways: they outlive a migration, and the
	 * resume that made this VM set x-ignore-shared. */
	if (asprintf(&uri, vm.version >= 80200 ? "file:%s" : "exec:cat > %s", state) < 0) {
		r = cli_error("out of memory");
		goto out_rm;
	}
	r = qmp_simple(q, "migrate-set-capabilities", migrate_caps(&vm), err, sizeof(err));
	if (r == 0)
		r = qmp_simple(q, "stop", NULL, err, sizeof(err));
	if (r < 0) {
		r = cli_error("cannot pause the VM: %s", err);
		goto out_rm;
	}
	stopped = true;
	stop_point("paused");
	sfs_qmp_set_timeout(q, MIGRATE_TIMEOUT_S * 1000);
	r = qmp_simple(q, "migrate", json_pack("{s:s}", "uri", uri), err, sizeof(err));
	if (r == 0) {
		stop_point("migrating");
		r = wait_migration(q, MIGRATE_TIMEOUT_S, err, sizeof(err));
	}
	if (r < 0) {
		r = cli_error("cannot save the VM's device state: %s", err);
		goto out_rm;
	}
	ram_source = vm.ram_path;
	if (vm.private_ram) {
		r = split_ram(&vm, state, ram_raw);
		if (r)
			goto out_rm;
		ram_source = ram_raw;
	}
	for (size_t i = 0; i < vm.ndisks; i++) {
		r = disk_source(&vm.disks[i], dir);
		if (r)
			goto out_rm;
	}
	/* One session: the parts and the record land in one commit. */
	r = sfs_writer_begin(s, &w);
	if (r < 0) {
		r = cli_fail(r, "cannot start writing to the store");
		goto out_rm;
	}
	r = snap_part(w, ck.vm, "ram", ram_source, true, name, &res_ram);
	if (r == 0) {
		stop_point("snapshotting");
		r = snap_part(w, ck.vm, "state", state, true, name, &res_state);
	}
	if (r)
		goto out_abort;
	snprintf(ck.ram.snapshot, sizeof(ck.ram.snapshot), "%s", res_ram.snap_id);
	ck.ram.size = res_ram.source_size;
	snprintf(ck.state.snapshot, sizeof(ck.state.snapshot), "%s", res_state.snap_id);
	ck.state.size = res_state.source_size;
	added = res_ram.new_bytes + res_state.new_bytes;
	for (size_t i = 0; i < vm.ndisks; i++) {
		struct sfs_ingest_result res = {0};

		r = snap_part(w, ck.vm, vm.disks[i].id, vm.disks[i].source, false, name,
			      &res);
		if (r)
			goto out_abort;
		r = sfs_checkpoint_add_device(&ck, vm.disks[i].id, res.snap_id, res.size);
		if (r < 0) {
			r = cli_fail(r, "drive %s", vm.disks[i].id);
			goto out_abort;
		}
		added += res.new_bytes;
	}
	{
		struct sfs_image img;

		if (sfs_cat_image_get(sfs_writer_txn(w), ck.vm, &img) == 0) {
			snprintf(ck.image, sizeof(ck.image), "%s", img.name);
			sfs_image_release(&img);
		}
		struct passwd *pw = getpwuid(getuid());
		if (pw)
			ck.owner = strdup(pw->pw_name);
	}
	r = sfs_writer_checkpoint_create(w, &ck, err, sizeof(err));
	if (r < 0) {
		r = r == -EEXIST ? cli_error("%s", err) : cli_fail(r, "checkpoint %s: %s", name, err);
		goto out_abort;
	}
	stop_point("committing");
	r = sfs_writer_commit(w);
	w = NULL;
	if (r < 0) {
		r = cli_fail(r, "cannot commit checkpoint %s", name);
		goto out_rm;
	}
	done = true;
	r = 0;
	goto out_rm;

out_abort:
	sfs_writer_abort(w);
out_rm:
	rm_tree(dir);
	if (lock_fd >= 0)
		close(lock_fd);
out:
	if (q && stopped) {
		/* Quit only once the checkpoint is stored; on any failure the
		 * VM runs on as it was. */
		if (done && !keep)
			sfs_qmp_exec(q, "quit", NULL, NULL, err, sizeof(err));
		else if (sfs_qmp_exec(q, "cont", NULL, NULL, err, sizeof(err)) < 0)
			fprintf(stderr, "snapfs: the VM stays paused: cont failed: %s\n", err);
	}
	if (done) {
		double t1;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t1 = (double)ts.tv_sec + ts.tv_nsec / 1e9;
		if (co.json) {
			json_t *j = sfs_checkpoint_to_json(&ck);

			json_object_set_new(j, "new_bytes", json_integer((json_int_t)added));
			json_object_set_new(j, "seconds", json_real(t1 - t0));
			cli_print_json(j);
		} else {
			char h[32];

			printf("%s\n", ck.id);
			fprintf(stderr, "checkpoint %s: %s added to the store in %.1f s; the VM %s\n",
				name, cli_human(added, h, sizeof(h)), t1 - t0,
				keep ? "runs on" : "was stopped");
		}
	}
	free(uri);
	sfs_qmp_close(q);
	vm_release(&vm);
	sfs_checkpoint_release(&ck);
	sfs_store_close(s);
	return r;
}

/* ---- list, show, delete ---- */

struct list_ctx {
	json_t *arr; /* --json, else NULL */
};

static int list_cb(void *ctx, const struct sfs_checkpoint *ck)
{
	struct list_ctx *l = ctx;
	char t[32], h[32];

	if (l->arr)
		return json_array_append_new(l->arr, sfs_checkpoint_to_json(ck)) ? -ENOMEM : 0;
	printf("%-24s %-22s %-20s %8s %s\n", ck->name, ck->id, cli_time(ck->created, t, sizeof(t)),
	       cli_human(ck->ram.size, h, sizeof(h)), ck->vm);
	return 0;
}

static int list_query(struct sfs_txn *t, void *ctx)
{
	return sfs_cat_checkpoint_foreach(t, list_cb, ctx);
}

static int ckpt_list(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = {.cmd = "checkpoint list ", .help = ckpt_help, .shared = CLI_JSON};
	struct list_ctx l = {0};
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	if (!co.json)
		printf("%-24s %-22s %-20s %8s %s\n", "NAME", "ID", "CREATED", "RAM", "VM");
	return cli_read_listing(c, co.json, list_query, &l, &l.arr, "checkpoints");
}

struct load_ctx {
	const char *name;
	struct sfs_checkpoint *ck;
};

static int load_query(struct sfs_txn *t, void *ctx)
{
	struct load_ctx *l = ctx;

	return sfs_cat_checkpoint_find(t, l->name, l->ck);
}

/* Reads checkpoint NAME or ID; prints the error itself. */
static int ckpt_load(const struct cli *c, const char *name, struct sfs_checkpoint *ret)
{
	struct load_ctx l = {name, ret};
	int r = cli_read_catalog(c, load_query, &l);

	if (r == -ENOENT)
		return cli_error("no checkpoint %s in store %s", name, c->store_path);
	if (r == -EBADMSG)
		return cli_error("checkpoint %s: its record is damaged", name);
	if (r < 0)
		return cli_fail(r, "cannot read checkpoint %s", name);
	return r;
}

static int ckpt_show(const struct cli *c, int argc, char **argv)
{
	struct cli_parse co = {.cmd = "checkpoint show ", .help = ckpt_help, .shared = CLI_JSON,
			       .min_args = 1, .max_args = 1, .args_help = "NAME or ID"};
	struct sfs_checkpoint ck;
	char t[32], h[32];
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	r = ckpt_load(c, co.args[0], &ck);
	if (r)
		return r;
	if (co.json) {
		r = cli_print_json(sfs_checkpoint_to_json(&ck));
		sfs_checkpoint_release(&ck);
		return r;
	}
	printf("name:     %s\nid:       %s\ncreated:  %s\nvm:       %s\nimage:    %s\n"
	       "owner:    %s\nmachine:  %s, %" JSON_INTEGER_FORMAT " CPUs\n",
	       ck.name, ck.id, cli_time(ck.created, t, sizeof(t)), ck.vm,
	       ck.image[0] ? ck.image : "-", ck.owner ? ck.owner : "-",
	       json_string_value(json_object_get(ck.machine, "type")),
	       json_integer_value(json_object_get(ck.machine, "cpus")));
	printf("ram:      %s (%s)\n", ck.ram.snapshot, cli_human(ck.ram.size, h, sizeof(h)));
	{
		const char *fmt = json_string_value(json_object_get(ck.machine, "state_format"));

		printf("state:    %s (%s%s%s)\n", ck.state.snapshot,
		       cli_human(ck.state.size, h, sizeof(h)), fmt ? ", " : "", fmt ? fmt : "");
	}
	for (size_t i = 0; i < ck.ndevices; i++)
		printf("disk %-4s %s (%s)\n", ck.devices[i].name, ck.devices[i].snapshot,
		       cli_human(ck.devices[i].size, h, sizeof(h)));
	sfs_checkpoint_release(&ck);
	return 0;
}

struct del_ctx {
	const char *name;
	bool keep;
	json_t *lines;
	int result; /* of the delete */
};

static void del_fn(void *ctx, const char *snap_id, bool deleted, const char *kept_for)
{
	struct del_ctx *d = ctx;
	char line[256];

	if (deleted)
		snprintf(line, sizeof(line), "deleted snapshot %s", snap_id);
	else
		snprintf(line, sizeof(line), "kept snapshot %s: %s still uses it", snap_id,
			 kept_for);
	json_array_append_new(d->lines, json_string(line));
}

static int del_txn(struct sfs_txn *t, void *ctx)
{
	struct del_ctx *d = ctx;
	struct sfs_checkpoint ck;
	int r = sfs_cat_checkpoint_find(t, d->name, &ck);
	char name[SFS_NAME_MAX + 1];

	if (r < 0 && r != -EBADMSG)
		return r;
	snprintf(name, sizeof(name), "%s", r == 0 ? ck.name : d->name);
	if (r == 0)
		sfs_checkpoint_release(&ck);
	r = sfs_cat_checkpoint_delete(t, name, !d->keep, del_fn, d);
	d->result = r;
	return r < 0 ? r : 0;
}

static int ckpt_delete(const struct cli *c, int argc, char **argv)
{
	bool keep = false;
	const struct cli_opt opts[] = {
	    {.name = "keep-snapshots", .kind = CLI_FLAG, .dest = &keep},
	    {0},
	};
	struct cli_parse co = {.cmd = "checkpoint delete ", .help = ckpt_help, .opts = opts,
			       .min_args = 1, .max_args = 1, .args_help = "NAME or ID"};
	struct del_ctx d = {0};
	json_t *v;
	size_t i;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	d.name = co.args[0];
	d.keep = keep;
	d.lines = json_array();
	r = cli_write_catalog(c, del_txn, &d);
	if (r == -ENOENT)
		r = cli_error("no checkpoint %s in store %s", d.name, c->store_path);
	else if (r < 0)
		r = cli_fail(r, "cannot delete checkpoint %s", d.name);
	if (r == 0) {
		json_array_foreach(d.lines, i, v)
			printf("%s\n", json_string_value(v));
		if (d.result == 1)
			printf("removed the damaged record of %s; no snapshot touched\n", d.name);
		printf("deleted checkpoint %s (run gc to reclaim space)\n", d.name);
	}
	json_decref(d.lines);
	return r;
}

/* ---- incoming: the resume side ---- */

/* The shape a resume must repeat. memory in bytes; 0 / NULL: unchecked. */
struct shape {
	uint64_t memory, cpus;
	const char *machine;
};

/* Whether the VM waiting for its state has the checkpoint's shape: a
 * migration into another shape fails deep in QEMU with a line about
 * some device, or worse, resumes a guest whose memory map moved under
 * it. 0, or 1 after the one error line. */
static int shape_check(struct sfs_qmp *q, const struct shape *want)
{
	json_t *v = NULL;
	char err[512], h1[32], h2[32];
	int r = 0;

	if (want->memory) {
		uint64_t have;

		if (sfs_qmp_exec(q, "query-memory-size-summary", NULL, &v, err, sizeof(err)) < 0)
			return cli_error("cannot read the VM's memory size: %s", err);
		have = (uint64_t)json_integer_value(json_object_get(v, "base-memory"));
		json_decref(v);
		v = NULL;
		if (have != want->memory)
			return cli_error("the VM has %s of RAM and the checkpoint was made with %s: a "
					 "hibernated VM resumes only with the shape it had",
					 cli_human(have, h1, sizeof(h1)),
					 cli_human(want->memory, h2, sizeof(h2)));
	}
	if (want->cpus) {
		size_t have;

		if (sfs_qmp_exec(q, "query-cpus-fast", NULL, &v, err, sizeof(err)) < 0)
			return cli_error("cannot read the VM's CPUs: %s", err);
		have = json_array_size(v);
		json_decref(v);
		v = NULL;
		if (have != want->cpus)
			return cli_error("the VM has %zu CPUs and the checkpoint was made with %" PRIu64
					 ": a hibernated VM resumes only with the shape it had",
					 have, want->cpus);
	}
	if (want->machine && *want->machine) {
		char type[128];

		if (qom_get(q, "/machine", "type", &v, err, sizeof(err)) < 0)
			return cli_error("cannot read the VM's machine type: %s", err);
		snprintf(type, sizeof(type), "%s", json_string_value(v) ? json_string_value(v) : "");
		json_decref(v);
		if (strlen(type) > 8 && !strcmp(type + strlen(type) - 8, "-machine"))
			type[strlen(type) - 8] = '\0';
		if (strcmp(type, want->machine))
			r = cli_error("the VM is a %s machine and the checkpoint was made on %s: a "
				      "hibernated VM resumes only with the shape it had",
				      type, want->machine);
	}
	return r;
}

static int ckpt_incoming(const struct cli *c, int argc, char **argv)
{
	static const char cmd[] = "checkpoint incoming ";
	const char *qmp_path = NULL, *state = NULL;
	uint64_t timeout = 60;
	struct shape want = {0};
	bool mapped_ram = false;
	const struct cli_opt opts[] = {
	    {.name = "qmp", .kind = CLI_STRING, .dest = &qmp_path},
	    {.name = "state", .kind = CLI_STRING, .dest = &state},
	    {.name = "timeout", .kind = CLI_UINT, .dest = &timeout, .min = 1, .max = 3600},
	    {.name = "memory", .kind = CLI_SIZE, .dest = &want.memory, .min = 1},
	    {.name = "cpus", .kind = CLI_UINT, .dest = &want.cpus, .min = 1, .max = 1024},
	    {.name = "machine", .kind = CLI_STRING, .dest = &want.machine},
	    {.name = "mapped-ram", .kind = CLI_FLAG, .dest = &mapped_ram},
	    {0},
	};
	struct cli_parse co = {.cmd = cmd, .help = ckpt_help, .opts = opts};
	struct sfs_qmp *q = NULL;
	char err[512], *uri = NULL;
	struct timespec ts;
	double t0, t1;
	time_t end;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	if (!qmp_path || !state)
		return cli_usage_error(cmd, "--qmp SOCKET and --state FILE are required");
	if (access(state, R_OK) < 0)
		return cli_error("device state %s: %s", state, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	/* QEMU was just started: wait for its socket to appear. */
	end = time(NULL) + (time_t)timeout;
	for (;;) {
		r = sfs_qmp_open(qmp_path, QMP_TIMEOUT_MS, &q, err, sizeof(err));
		if (r == 0 || (r != -ENOENT && r != -ECONNREFUSED) || time(NULL) > end)
			break;
		usleep(20000);
	}
	if (r < 0)
		return cli_error("QMP socket %s: %s", qmp_path, err);
	if (asprintf(&uri, "%s%s", sfs_qmp_version(q) >= 80200 ? "file:" : "exec:cat ", state) < 0) {
		r = cli_error("out of memory");
		goto out;
	}
	r = shape_check(q, &want);
	if (r)
		goto out;
	if (mapped_ram && sfs_qmp_version(q) < 90000) {
		r = cli_error("the device state was saved with mapped-ram (the checkpoint of a resumed "
			      "VM): resuming it needs QEMU 9.0 or newer, not %d.%d",
			      sfs_qmp_version(q) / 10000, sfs_qmp_version(q) / 100 % 100);
		goto out;
	}
	sfs_qmp_set_timeout(q, (int)timeout * 1000);
	/* A mapped-ram state was saved without x-ignore-shared (see create);
	 * its guest RAM block lists no page, so they all come from the RAM
	 * image mapped. */
	r = qmp_simple(q, "migrate-set-capabilities",
		       mapped_ram ? json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability",
					      "mapped-ram", "state", 1)
				  : ignore_shared_args(),
		       err, sizeof(err));
	if (r == 0)
		r = qmp_simple(q, "migrate-incoming", json_pack("{s:s}", "uri", uri), err,
			       sizeof(err));
	if (r == 0)
		r = wait_migration(q, (int)timeout, err, sizeof(err));
	if (r == 0)
		r = qmp_simple(q, "cont", NULL, err, sizeof(err));
	if (r < 0) {
		r = cli_error("cannot resume the VM: %s", err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t1 = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	fprintf(stderr, "snapfs: VM resumed in %.2f s\n", t1 - t0);
out:
	free(uri);
	sfs_qmp_close(q);
	return r;
}

/* ---- launch-config ---- */

/* QEMU options that take no value (everything else takes one). */
static bool qemu_flag(const char *o)
{
	static const char *const flags[] = {"-nographic", "-snapshot", "-S", "-no-reboot",
					    "-no-shutdown", "-enable-kvm", "-daemonize",
					    "-nodefaults", "-no-user-config", "-s", "-full-screen",
					    "-no-hpet", "-no-acpi", "-only-migratable", NULL};

	for (int i = 0; flags[i]; i++)
		if (!strcmp(o, flags[i]))
			return true;
	return false;
}

/* The value of key in a QEMU option string ("a=b,id=x"), copied into
 * buf; false when absent. Doubled commas are literal commas. */
static bool qemu_opt_get(const char *s, const char *key, char *buf, size_t cap)
{
	size_t kl = strlen(key);
	const char *p = s;

	while (*p) {
		const char *e = p;

		while (*e && !(*e == ',' && e[1] != ',')) {
			if (*e == ',' && e[1] == ',')
				e++;
			e++;
		}
		if ((size_t)(e - p) > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			snprintf(buf, cap, "%.*s", (int)(e - p - (ptrdiff_t)kl - 1), p + kl + 1);
			return true;
		}
		p = *e ? e + 1 : e;
	}
	return false;
}

/* s without the keys listed in drop (NULL-terminated), malloc'd. */
static char *qemu_opt_drop(const char *s, const char *const *drop)
{
	char *out = malloc(strlen(s) + 1), *q = out;
	const char *p = s;

	if (!out)
		return NULL;
	while (*p) {
		const char *e = p;
		bool skip = false;

		while (*e && !(*e == ',' && e[1] != ',')) {
			if (*e == ',' && e[1] == ',')
				e++;
			e++;
		}
		for (int i = 0; drop[i]; i++) {
			size_t kl = strlen(drop[i]);
			skip |= (size_t)(e - p) > kl && !strncmp(p, drop[i], kl) && p[kl] == '=';
		}
		if (!skip) {
			if (q != out)
				*q++ = ',';
			memcpy(q, p, (size_t)(e - p));
			q += e - p;
		}
		p = *e ? e + 1 : e;
	}
	*q = '\0';
	return out;
}

struct resume {
	const struct sfs_checkpoint *ck;
	const char *mount, *overlay, *serial, *accel, *qmp, *self;
	bool copy_ram;
};

static const struct sfs_ckpt_part *ck_device(const struct sfs_checkpoint *ck, const char *id)
{
	for (size_t i = 0; i < ck->ndevices; i++)
		if (!strcmp(ck->devices[i].name, id))
			return &ck->devices[i];
	return NULL;
}

static void print_sh_assign(FILE *f, const char *var, const char *val)
{
	fprintf(f, "%s=", var);
	cli_sh_word(f, val);
	fputc('\n', f);
}

/* A part's file in the checkpoint's directory of the mount: read only by
 * those the checkpoint's image lets launch it, where snapshots/ would
 * need grants on every part's snapshot. */
static char *ckpt_file(const struct resume *rs, const struct sfs_ckpt_part *p)
{
	char *s;

	return asprintf(&s, "%s/checkpoints/%s/%s%s", rs->mount, rs->ck->name, p->name,
			p == &rs->ck->state ? ".bin" : ".img") < 0
		   ? NULL
		   : s;
}

static char *overlay_file(const struct resume *rs, const struct sfs_ckpt_part *p)
{
	char *s;

	return asprintf(&s, "%s/%s-%s.qcow2", rs->overlay, rs->ck->name, p->name) < 0 ? NULL : s;
}

/* One -drive value of the recorded command line, pointed at the
 * checkpoint's copy of the disk. */
static char *drive_value(const struct resume *rs, const char *val)
{
	static const char *const drop[] = {"file", "format", "readonly", NULL};
	const struct sfs_ckpt_part *p;
	char id[64], *rest, *path, *q = NULL, *out = NULL;

	if (!qemu_opt_get(val, "id", id, sizeof(id)) || !(p = ck_device(rs->ck, id)))
		return strdup(val);
	rest = qemu_opt_drop(val, drop);
	path = rs->overlay ? overlay_file(rs, p) : ckpt_file(rs, p);
	q = path ? cli_qemu_escape(path) : NULL;
	if (rest && q &&
	    asprintf(&out, "file=%s,format=%s%s%s", q, rs->overlay ? "qcow2" : "raw",
		     rest[0] ? "," : "", rest) < 0)
		out = NULL;
	free(rest);
	free(path);
	free(q);
	return out;
}

/* The -machine value with the recorded, versioned machine type: a bare
 * alias ("q35") would pick the newest type of whatever QEMU runs. */
static char *machine_value(const char *val, const char *type)
{
	const char *comma = strchr(val, ',');
	char *out;

	if (!type || !*type || (comma ? memchr(val, '=', (size_t)(comma - val)) != NULL
				      : strchr(val, '=') != NULL))
		return strdup(val);
	if (asprintf(&out, "%s%s", type, comma ? comma : "") < 0)
		return NULL;
	return out;
}

static int print_resume(const struct resume *rs, FILE *f)
{
	const struct sfs_checkpoint *ck = rs->ck;
	json_t *argv = json_object_get(ck->machine, "argv");
	const char *memdev = json_string_value(json_object_get(ck->machine, "memdev"));
	const char *type = json_string_value(json_object_get(ck->machine, "type"));
	char *ram = ckpt_file(rs, &ck->ram), *state = ckpt_file(rs, &ck->state), *v = NULL;
	const char *fmt = json_string_value(json_object_get(ck->machine, "state_format"));
	bool serial_done = false, mapped_ram = fmt && !strcmp(fmt, "mapped-ram");
	size_t n = json_array_size(argv);
	int r = 0;

	if (!ram || !state || n < 1 || !memdev) {
		r = n < 1 || !memdev ? -EBADMSG : -ENOMEM;
		goto out;
	}
	fprintf(f, "#!/bin/sh\n# Resumes checkpoint %s (%s) of VM %s from the snapfs mount at ",
		ck->name, ck->id, ck->vm);
	cli_sh_word(f, rs->mount);
	fputs(".\n# Guest RAM is mapped from the mount read-only and private: pages are read\n"
	      "# when the guest touches them, and its writes stay in this QEMU's memory.\n",
	      f);
	fputs(rs->overlay ? "# Disks are written to fresh qcow2 overlays over the checkpoint's "
			    "disks.\n"
			  : "# Disk writes are discarded (-snapshot); give --overlay to keep "
			    "them.\n",
	      f);
	fputs("# Arguments given to this script are passed on to QEMU.\nset -e\n", f);
	print_sh_assign(f, "SNAPFS", rs->self);
	print_sh_assign(f, "QMP", rs->qmp);
	print_sh_assign(f, "RAM", ram);
	print_sh_assign(f, "STATE", state);
	print_sh_assign(f, "QEMU", json_string_value(json_array_get(argv, 0)));
	/* What incoming checks before it feeds the state: arguments given to
	 * the script reach QEMU and may change the shape. A machine type
	 * goes in only as a plain word, which needs no quoting. */
	fprintf(f, "SHAPE='--memory %" PRIu64 " --cpus %" JSON_INTEGER_FORMAT,
		(uint64_t)json_integer_value(json_object_get(ck->machine, "memory")),
		json_integer_value(json_object_get(ck->machine, "cpus")));
	if (type && *type && strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789.-_") == strlen(type))
		fprintf(f, " --machine %s", type);
	fputs("'\n", f);
	{
		char *q = cli_qemu_escape(ram);

		if (!q) {
			r = -ENOMEM;
			goto out;
		}
		fprintf(f, "RAMOPTS=");
		{
			char *w;

			if (asprintf(&w, "mem-path=%s,share=off,readonly=on,rom=off", q) < 0)
				w = NULL;
			free(q);
			if (!w) {
				r = -ENOMEM;
				goto out;
			}
			cli_sh_word(f, w);
			free(w);
		}
		fputc('\n', f);
	}
	fprintf(f, "COPY_RAM=%s\n", rs->copy_ram ? "1" : "");
	fputs("V=$(\"$QEMU\" --version | sed -n '1s/^.*version \\([0-9]*\\)\\.\\([0-9]*\\).*$/\\1 "
	      "\\2/p')\n"
	      "MAJ=${V% *}\nMIN=${V#* }\n"
	      "if [ -n \"$V\" ] && { [ \"$MAJ\" -lt 8 ] || { [ \"$MAJ\" -eq 8 ] && [ \"$MIN\" "
	      "-lt 2 ]; }; }; then\n"
	      "\techo \"snapfs: QEMU $MAJ.$MIN is older than 8.2 and cannot map guest RAM "
	      "read-only from the mount: copying the RAM image out first, which is slower (the "
	      "whole image is read before the VM resumes)\" >&2\n"
	      "\tCOPY_RAM=1\n"
	      "elif [ -n \"$COPY_RAM\" ]; then\n"
	      "\techo \"snapfs: --copy-ram: copying the RAM image out first, which is slower (the "
	      "whole image is read before the VM resumes, where the mount's pages would be read "
	      "only as the guest touches them)\" >&2\n"
	      "fi\n"
	      "if [ -n \"$COPY_RAM\" ]; then\n"
	      "\tRAMDIR=$(mktemp -d)\n\ttrap 'rm -rf \"$RAMDIR\"' EXIT\n"
	      "\tcp --sparse=always \"$RAM\" \"$RAMDIR/ram.img\"\n"
	      "\tRAMOPTS=\"mem-path=$RAMDIR/ram.img,share=off\"\nfi\n",
	      f);
	if (rs->overlay) {
		fputs("mkdir -p ", f);
		cli_sh_word(f, rs->overlay);
		fputc('\n', f);
		for (size_t i = 0; i < ck->ndevices; i++) {
			char *ov = overlay_file(rs, &ck->devices[i]);
			char *base = ckpt_file(rs, &ck->devices[i]);

			if (!ov || !base) {
				free(ov);
				free(base);
				r = -ENOMEM;
				goto out;
			}
			/* Always fresh: writes made after an earlier resume do not
			 * belong with this checkpoint's RAM. */
			fputs("rm -f ", f);
			cli_sh_word(f, ov);
			fputs("\nqemu-img create -q -f qcow2 -F raw -b ", f);
			cli_sh_word(f, base);
			fputc(' ', f);
			cli_sh_word(f, ov);
			fprintf(f, " %" PRIu64 "\n", ck->devices[i].size);
			free(ov);
			free(base);
		}
	}
	fputs("rm -f \"$QMP\"\n\"$QEMU\"", f);
	for (size_t i = 1; i < n; i++) {
		const char *o = json_string_value(json_array_get(argv, i));
		const char *val = i + 1 < n ? json_string_value(json_array_get(argv, i + 1)) : NULL;
		char mdev[64];

		if (!o)
			continue;
		if (o[0] != '-' || qemu_flag(o)) {
			if (!strcmp(o, "-daemonize") || !strcmp(o, "-S"))
				continue;
			fputs(" \\\n  ", f);
			cli_sh_word(f, o);
			continue;
		}
		i++;
		if (!val)
			break;
		free(v);
		v = NULL;
		if (!strcmp(o, "-qmp") || !strcmp(o, "-incoming") || !strcmp(o, "-pidfile"))
			continue;
		if ((!strcmp(o, "-accel") && rs->accel))
			continue;
		if (!strcmp(o, "-object") && !strncmp(val, "memory-backend-file,", 20) &&
		    qemu_opt_get(val, "id", mdev, sizeof(mdev)) && !strcmp(mdev, memdev)) {
			char size[32];

			fprintf(f, " \\\n  -object \"memory-backend-file,id=%s,size=", memdev);
			snprintf(size, sizeof(size), "%" PRIu64, ck->ram.size);
			fprintf(f, "%s,$RAMOPTS\"", size);
			continue;
		}
		if (!strcmp(o, "-drive"))
			v = drive_value(rs, val);
		else if (!strcmp(o, "-machine") || !strcmp(o, "-M"))
			v = machine_value(val, type);
		else if (!strcmp(o, "-serial") && !serial_done) {
			char *q = rs->serial ? cli_qemu_escape(rs->serial) : NULL;

			serial_done = true;
			if (rs->serial && (!q || asprintf(&v, "file:%s", q) < 0))
				v = NULL;
			else if (!rs->serial)
				v = strdup("stdio");
			free(q);
		} else
			v = strdup(val);
		if (!v) {
			r = -ENOMEM;
			goto out;
		}
		fputs(" \\\n  ", f);
		cli_sh_word(f, o);
		fputc(' ', f);
		cli_sh_word(f, v);
	}
	if (rs->accel) {
		fputs(" \\\n  -accel ", f);
		cli_sh_word(f, rs->accel);
	}
	if (!rs->overlay)
		fputs(" \\\n  -snapshot", f);
	fprintf(f, " \\\n  -S -incoming defer -qmp \"unix:$QMP,server=on,wait=off\" \\\n  \"$@\" &\n"
	      "QEMU_PID=$!\n"
	      "if ! \"$SNAPFS\" checkpoint incoming --qmp \"$QMP\" --state \"$STATE\" $SHAPE%s; then\n"
	      "\tkill $QEMU_PID 2>/dev/null || true\n\twait $QEMU_PID || true\n\texit 1\nfi\n"
	      "wait $QEMU_PID\n",
		mapped_ram ? " --mapped-ram" : "");
out:
	free(v);
	free(ram);
	free(state);
	return r;
}

/* --memory and --cpus of launch-config: the shape is the record's, so
 * they may only repeat it, as a check of what the caller expects. */
static int shape_asked(const struct sfs_checkpoint *ck, uint64_t memory_mib, uint64_t cpus)
{
	uint64_t rec_mem = (uint64_t)json_integer_value(json_object_get(ck->machine, "memory"));
	uint64_t rec_cpus = (uint64_t)json_integer_value(json_object_get(ck->machine, "cpus"));

	if (memory_mib && memory_mib << 20 != rec_mem)
		return cli_error("checkpoint %s was made with %" PRIu64 " MiB of RAM, not --memory %" PRIu64
				 ": a hibernated VM resumes only with the shape it had",
				 ck->name, rec_mem >> 20, memory_mib);
	if (cpus && cpus != rec_cpus)
		return cli_error("checkpoint %s was made with %" PRIu64 " CPUs, not --cpus %" PRIu64
				 ": a hibernated VM resumes only with the shape it had",
				 ck->name, rec_cpus, cpus);
	return 0;
}

static int ckpt_launch_config(const struct cli *c, int argc, char **argv)
{
	static const char cmd[] = "checkpoint launch-config ";
	const char *mount = NULL, *overlay = NULL, *serial = NULL, *accel = NULL, *qmp = NULL;
	uint64_t memory = 0, cpus = 0;
	bool copy_ram = false;
	const struct cli_opt opts[] = {
	    {.name = "mount", .kind = CLI_STRING, .dest = &mount},
	    {.name = "memory", .kind = CLI_UINT, .dest = &memory, .min = 16, .max = 1u << 24,
	     .hint = "MiB, 16 or more"},
	    {.name = "cpus", .kind = CLI_UINT, .dest = &cpus, .min = 1, .max = 1024},
	    {.name = "overlay", .kind = CLI_STRING, .dest = &overlay},
	    {.name = "serial", .kind = CLI_STRING, .dest = &serial},
	    {.name = "accel", .kind = CLI_STRING, .dest = &accel},
	    {.name = "qmp", .kind = CLI_STRING, .dest = &qmp},
	    {.name = "copy-ram", .kind = CLI_FLAG, .dest = &copy_ram},
	    {0},
	};
	struct cli_parse co = {.cmd = cmd, .help = ckpt_help, .opts = opts, .min_args = 1,
			       .max_args = 1, .args_help = "the checkpoint NAME or ID"};
	char *abs_mount = NULL, *abs_overlay = NULL, *abs_qmp = NULL, self[PATH_MAX];
	struct sfs_checkpoint ck;
	struct resume rs = {0};
	ssize_t sl;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	if (!mount)
		return cli_usage_error(cmd, "--mount DIR is required: where the store is mounted");
	if (accel && strcmp(accel, "kvm") && strcmp(accel, "tcg"))
		return cli_usage_error(cmd, "invalid --accel '%s': kvm or tcg", accel);
	abs_mount = cli_absolute(mount);
	abs_overlay = overlay ? cli_absolute(overlay) : NULL;
	sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (!abs_mount || (overlay && !abs_overlay) || sl <= 0) {
		r = cli_error("out of memory");
		goto out_free;
	}
	self[sl] = '\0';
	if ((r = cli_launch_path_arg(cmd, "--mount", abs_mount)) ||
	    (abs_overlay && (r = cli_launch_path_arg(cmd, "--overlay", abs_overlay))) ||
	    (serial && (r = cli_launch_path_arg(cmd, "--serial", serial))) ||
	    (qmp && (r = cli_launch_path_arg(cmd, "--qmp", qmp))))
		goto out_free;
	r = ckpt_load(c, co.args[0], &ck);
	if (r)
		goto out_free;
	r = shape_asked(&ck, memory, cpus);
	if (r)
		goto out_release;
	if (qmp)
		abs_qmp = cli_absolute(qmp);
	else if (asprintf(&abs_qmp, "%s/%s.qmp", abs_overlay ? abs_overlay : "/tmp", ck.name) < 0)
		abs_qmp = NULL;
	if (!abs_qmp) {
		r = cli_error("out of memory");
		goto out_release;
	}
	rs = (struct resume){&ck, abs_mount, abs_overlay, serial, accel, abs_qmp, self, copy_ram};
	r = print_resume(&rs, stdout);
	if (r < 0)
		r = cli_fail(r, "launch configuration of checkpoint %s", ck.name);
	else if (fflush(stdout) != 0)
		r = cli_error("cannot write the launch configuration: %s", strerror(errno));
out_release:
	sfs_checkpoint_release(&ck);
out_free:
	free(abs_mount);
	free(abs_overlay);
	free(abs_qmp);
	return r;
}

int cmd_checkpoint(const struct cli *c, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
	    {"create", ckpt_create},
	    {"list", ckpt_list},
	    {"show", ckpt_show},
	    {"delete", ckpt_delete},
	    {"launch-config", ckpt_launch_config},
	    {"incoming", ckpt_incoming},
	    {0},
	};

	return cli_dispatch(c, "checkpoint", ckpt_help, subs, argc, argv);
}
