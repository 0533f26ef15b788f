// SPDX-License-Identifier: MIT
/*
 * `snapfs image launch-config`: turns an image's boot metadata and block
 * device mapping into something that starts a VM straight from a snapfs
 * mount: a sh script around one qemu-system-* command line, or a libvirt
 * domain. The output only names files of the mount; it never reads them,
 * so it can be generated before the store is mounted. Every value that
 * reaches a shell is single-quoted and every value in XML is escaped,
 * because mount paths and kernel command lines come from the user.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "image_launch.h"
#include "snapfs/parse.h"

struct launch {
	const struct sfs_image *img;
	const char *mount;   /* absolute */
	const char *overlay; /* absolute directory, or NULL */
	bool snapshot_mode;
	const char *kernel, *initrd, *append, *serial;
	const char *accel; /* NULL: kvm, falling back to tcg */
	const char *ram_dir; /* absolute; hibernation enabled: RAM file and QMP socket here */
	unsigned memory_mib, cpus;
	/* Devices --device added or replaced: read from snapshots/<id>.img
	 * rather than the image's own directory. Index as img->devices. */
	bool from_snapshot[SFS_IMAGE_MAX_DEVICES];
};

/* One --device DEV=snap-...[:SIZE] or DEV=none, in command-line order. */
struct launch_dev {
	char device[SFS_DEVNAME_MAX + 1];
	char snapshot[SFS_IDSTR_SIZE]; /* "" for none */
	uint64_t size;                 /* 0: the snapshot's */
};

struct launch_devs {
	struct launch_dev v[SFS_IMAGE_MAX_DEVICES];
	size_t n;
};

/* What QEMU needs to know of an architecture. */
struct platform {
	const char *qemu;    /* emulator */
	const char *machine; /* -machine */
	const char *cpu;     /* -cpu, or NULL for the machine's default */
	const char *libvirt_arch;
	const char *fw_code, *fw_vars; /* uefi firmware */
};

static const struct platform platforms[] = {
    [SFS_ARCH_X86_64] = {"qemu-system-x86_64", "q35", NULL, "x86_64",
			 "/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
    /* virt has no default 64-bit CPU, and "max" runs under KVM and TCG. */
    [SFS_ARCH_ARM64] = {"qemu-system-aarch64", "virt", "max", "aarch64",
			"/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"},
    [SFS_ARCH_I386] = {"qemu-system-i386", "pc", NULL, "i686", NULL, NULL},
};

/* ---- quoting ---- */

/* Prints s as one sh word: bare when it is plainly safe, else in single
 * quotes with embedded quotes spelled '\''. */
static void sh_word(FILE *f, const char *s)
{
	bool plain = *s != '\0';

	for (const char *p = s; *p && plain; p++)
		plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			       "_-+=/.,:@%",
			       *p) != NULL;
	if (plain) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	}
	fputc('\'', f);
}

/* QEMU's own option syntax splits on commas; a literal comma is doubled. */
static char *qemu_escape(const char *s)
{
	size_t n = strlen(s), extra = 0;
	char *out, *q;

	for (const char *p = s; *p; p++)
		extra += *p == ',';
	out = malloc(n + extra + 1);
	if (!out)
		return NULL;
	q = out;
	for (const char *p = s; *p; p++) {
		*q++ = *p;
		if (*p == ',')
			*q++ = ',';
	}
	*q = '\0';
	return out;
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* Text inside an XML comment may not contain "--". */
static void xml_comment_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		fputc(*s, f);
		if (*s == '-' && s[1] == '-')
			fputc(' ', f);
	}
}

/* ---- paths ---- */

static char *disk_path(const struct launch *l, const struct sfs_image_device *d)
{
	size_t i = (size_t)(d - l->img->devices);
	char *p;
	int n;

	if (l->from_snapshot[i])
		n = asprintf(&p, "%s/snapshots/%s.img", l->mount, d->snapshot);
	else
		n = asprintf(&p, "%s/images/%s/%s.img", l->mount, l->img->name, d->device);
	return n < 0 ? NULL : p;
}

static char *overlay_path(const struct launch *l, const struct sfs_image_device *d)
{
	char *p;

	if (asprintf(&p, "%s/%s-%s.qcow2", l->overlay, l->img->name, d->device) < 0)
		return NULL;
	return p;
}

/* A qemu-img command per device that creates its overlay: in the sh
 * script (sh: true; an existing overlay is kept) or in the comment of a
 * libvirt domain. */
static int print_overlay_creates(FILE *f, const struct launch *l, const struct sfs_image *img,
				 bool sh)
{
	void (*word)(FILE *, const char *) = sh ? sh_word : xml_comment_text;

	for (size_t i = 0; i < img->ndevices; i++) {
		char *ov = overlay_path(l, &img->devices[i]);
		char *base = disk_path(l, &img->devices[i]);

		if (!ov || !base) {
			free(ov);
			free(base);
			return -ENOMEM;
		}
		if (sh) {
			fputs("[ -e ", f);
			sh_word(f, ov);
			fputs(" ] || qemu-img create -q -f qcow2 -F raw -b ", f);
		} else {
			fputs("    qemu-img create -f qcow2 -F raw -b ", f);
		}
		word(f, base);
		fputc(' ', f);
		word(f, ov);
		fprintf(f, " %" PRIu64 "\n", img->devices[i].size);
		free(ov);
		free(base);
	}
	return 0;
}

static char *vars_path(const struct launch *l)
{
	char *p;

	if (asprintf(&p, "%s/%s-VARS.fd", l->overlay, l->img->name) < 0)
		return NULL;
	return p;
}

/* The guest's name of the n-th virtio disk: vda, vdb, ... vdz, vdaa. */
static void guest_disk(size_t n, char *buf, size_t len)
{
	if (n < 26)
		snprintf(buf, len, "vd%c", (char)('a' + n));
	else
		snprintf(buf, len, "vd%c%c", (char)('a' + n / 26 - 1), (char)('a' + n % 26));
}

/* An absolute form of a user-given path, without requiring it to exist
 * (the mount may not be there yet). */
static char *absolute(const char *p)
{
	char cwd[PATH_MAX], *out;
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		n--;
	if (p[0] == '/')
		return strndup(p, n);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%.*s", cwd, (int)n, p) < 0)
		return NULL;
	return out;
}

/* The order firmware tries the disks in, from 1: the root device first.
 * QEMU gives bootindex 0 to a -kernel, which must stay free. */
static size_t boot_index(const struct sfs_image *img, size_t i)
{
	size_t root = 0;

	for (size_t j = 0; j < img->ndevices; j++)
		if (!strcmp(img->devices[j].device, img->root_device))
			root = j;
	if (i == root)
		return 1;
	return i < root ? i + 2 : i + 1;
}

/* ---- QEMU ---- */

static void arg(FILE *f, const char *opt, const char *val)
{
	fputs(" \\\n  ", f);
	fputs(opt, f);
	if (val) {
		fputc(' ', f);
		sh_word(f, val);
	}
}

static int print_qemu(const struct launch *l, FILE *f)
{
	const struct sfs_image *img = l->img;
	const struct platform *pf = &platforms[img->arch];
	bool uefi = img->boot_mode == SFS_BOOT_UEFI, tmp_vars = false;
	char buf[PATH_MAX * 2 + 256], *vars = NULL;
	int r = 0;

	fprintf(f, "#!/bin/sh\n# Boots image %s (%s, %s, %s) from the snapfs mount at ", img->name,
		img->id, sfs_arch_name(img->arch), sfs_boot_mode_name(img->boot_mode));
	sh_word(f, l->mount);
	fputs(".\n", f);
	for (size_t i = 0; i < img->ndevices; i++) {
		char g[8];
		guest_disk(i, g, sizeof(g));
		fprintf(f, "# /dev/%s in the guest: device %s, snapshot %s, %" PRIu64 " bytes\n", g,
			img->devices[i].device, img->devices[i].snapshot, img->devices[i].size);
	}
	fputs("# Arguments given to this script are passed on to QEMU.\nset -e\n", f);
	if (l->overlay) {
		/* Existing overlays are kept: they are the VM's disks now. */
		fputs("mkdir -p ", f);
		sh_word(f, l->overlay);
		fputc('\n', f);
		r = print_overlay_creates(f, l, img, true);
		if (r < 0)
			return r;
	}
	if (uefi) {
		if (l->overlay) {
			vars = vars_path(l);
			if (!vars)
				return -ENOMEM;
			fputs("[ -e ", f);
			sh_word(f, vars);
			fputs(" ] || cp ", f);
			sh_word(f, pf->fw_vars);
			fputc(' ', f);
			sh_word(f, vars);
			fputc('\n', f);
		} else {
			/* UEFI variables need a writable store of their own; a
			 * throw-away copy keeps the run from leaving state. */
			tmp_vars = true;
			fputs("VARS=$(mktemp)\ntrap 'rm -f \"$VARS\"' EXIT\ncp ", f);
			sh_word(f, pf->fw_vars);
			fputs(" \"$VARS\"\n", f);
		}
	}
	if (l->ram_dir) {
		fputs("mkdir -p ", f);
		sh_word(f, l->ram_dir);
		fputc('\n', f);
	}
	fputs(tmp_vars ? "" : "exec ", f);
	fputs(pf->qemu, f);
	arg(f, "-name", img->name);
	if (l->ram_dir) {
		/* Hibernation: guest RAM in a shared file that checkpoint create
		 * snapshots, and a QMP socket to ask for it. */
		char *rd = qemu_escape(l->ram_dir);

		if (!rd)
			return -ENOMEM;
		snprintf(buf, sizeof(buf), "%s,memory-backend=mem", pf->machine);
		arg(f, "-machine", buf);
		snprintf(buf, sizeof(buf),
			 "memory-backend-file,id=mem,size=%uM,mem-path=%s/%s.ram,share=on",
			 l->memory_mib, rd, img->name);
		arg(f, "-object", buf);
		snprintf(buf, sizeof(buf), "unix:%s/%s.qmp,server=on,wait=off", rd, img->name);
		arg(f, "-qmp", buf);
		free(rd);
	} else {
		arg(f, "-machine", pf->machine);
	}
	if (l->accel) {
		arg(f, "-accel", l->accel);
	} else {
		arg(f, "-accel", "kvm");
		arg(f, "-accel", "tcg");
	}
	if (pf->cpu)
		arg(f, "-cpu", pf->cpu);
	snprintf(buf, sizeof(buf), "%u", l->memory_mib);
	arg(f, "-m", buf);
	snprintf(buf, sizeof(buf), "%u", l->cpus);
	arg(f, "-smp", buf);
	if (uefi) {
		char *code = qemu_escape(pf->fw_code);
		char *v = vars ? qemu_escape(vars) : NULL;

		if (!code || (vars && !v)) {
			free(code);
			free(v);
			r = -ENOMEM;
			goto out_free_vars;
		}
		snprintf(buf, sizeof(buf), "if=pflash,unit=0,format=raw,readonly=on,file=%s", code);
		arg(f, "-drive", buf);
		if (v) {
			snprintf(buf, sizeof(buf), "if=pflash,unit=1,format=raw,file=%s", v);
			arg(f, "-drive", buf);
		} else {
			/* "$VARS" must expand, so it is not quoted as a literal. */
			fputs(" \\\n  -drive if=pflash,unit=1,format=raw,file=\"$VARS\"", f);
		}
		free(code);
		free(v);
	}
	for (size_t i = 0; i < img->ndevices; i++) {
		const struct sfs_image_device *d = &img->devices[i];
		char *path = l->overlay ? overlay_path(l, d) : disk_path(l, d);
		char *q = path ? qemu_escape(path) : NULL;

		free(path);
		if (!q) {
			r = -ENOMEM;
			goto out_free_vars;
		}
		snprintf(buf, sizeof(buf), "file=%s,format=%s,if=none,id=%s%s", q,
			 l->overlay ? "qcow2" : "raw", d->device,
			 l->overlay || l->snapshot_mode ? "" : ",readonly=on");
		free(q);
		arg(f, "-drive", buf);
		snprintf(buf, sizeof(buf), "virtio-blk-pci,drive=%s,bootindex=%zu", d->device,
			 boot_index(img, i));
		arg(f, "-device", buf);
	}
	if (l->snapshot_mode)
		arg(f, "-snapshot", NULL);
	if (l->kernel)
		arg(f, "-kernel", l->kernel);
	if (l->initrd)
		arg(f, "-initrd", l->initrd);
	if (l->append)
		arg(f, "-append", l->append);
	if (l->serial) {
		char *q = qemu_escape(l->serial);

		if (!q) {
			r = -ENOMEM;
			goto out_free_vars;
		}
		snprintf(buf, sizeof(buf), "file:%s", q);
		free(q);
		arg(f, "-serial", buf);
		arg(f, "-display", "none");
		arg(f, "-monitor", "none");
	} else {
		arg(f, "-nographic", NULL);
	}
	/* The script's own arguments go to QEMU last, so that a caller can
	 * add or override options without editing it. */
	fputs(" \\\n  \"$@\"\n", f);
out_free_vars:
	free(vars);
	return r;
}

/* ---- libvirt ---- */

static void xml_elem(FILE *f, const char *indent, const char *tag, const char *text)
{
	fprintf(f, "%s<%s>", indent, tag);
	xml_text(f, text);
	fprintf(f, "</%s>\n", tag);
}

static int print_libvirt_disk(const struct launch *l, FILE *f, size_t i)
{
	const struct sfs_image_device *d = &l->img->devices[i];
	char *base = disk_path(l, d), *ov = l->overlay ? overlay_path(l, d) : NULL;
	char g[8];

	if (!base || (l->overlay && !ov)) {
		free(base);
		free(ov);
		return -ENOMEM;
	}
	guest_disk(i, g, sizeof(g));
	fprintf(f, "    <!-- device %s: snapshot %s -->\n", d->device, d->snapshot);
	fputs("    <disk type='file' device='disk'>\n", f);
	fprintf(f, "      <driver name='qemu' type='%s'/>\n", ov ? "qcow2" : "raw");
	fputs("      <source file='", f);
	xml_text(f, ov ? ov : base);
	fputs("'/>\n", f);
	if (ov) {
		fputs("      <backingStore type='file'>\n        <format type='raw'/>\n"
		      "        <source file='",
		      f);
		xml_text(f, base);
		fputs("'/>\n        <backingStore/>\n      </backingStore>\n", f);
	}
	fprintf(f, "      <target dev='%s' bus='virtio'/>\n", g);
	if (!ov)
		fputs(l->snapshot_mode ? "      <transient/>\n" : "      <readonly/>\n", f);
	fprintf(f, "      <boot order='%zu'/>\n", boot_index(l->img, i));
	fputs("    </disk>\n", f);
	free(base);
	free(ov);
	return 0;
}

/* Whether this host can run KVM guests: /dev/kvm opens and answers as
 * KVM does. A libvirt domain names one type with no fallback, so without
 * --accel the domain is 'kvm' only where that works, and 'qemu' (TCG)
 * elsewhere (a container or a VM without nested virtualisation). */
static bool host_has_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
	close(fd);
	return ok;
}

static int print_libvirt(const struct launch *l, FILE *f)
{
	const struct sfs_image *img = l->img;
	const struct platform *pf = &platforms[img->arch];
	bool tcg = l->accel ? !strcmp(l->accel, "tcg") : !host_has_kvm();
	int r;

	fputs("<!--\n  Image ", f);
	xml_comment_text(f, img->name);
	fprintf(f, " (%s) from the snapfs mount at ", img->id);
	xml_comment_text(f, l->mount);
	fputs(".\n", f);
	if (l->overlay) {
		fputs("  Create the overlays first:\n", f);
		r = print_overlay_creates(f, l, img, false);
		if (r < 0)
			return r;
	}
	fputs("-->\n", f);
	fprintf(f, "<domain type='%s'>\n", tcg ? "qemu" : "kvm");
	xml_elem(f, "  ", "name", img->name);
	if (img->description)
		xml_elem(f, "  ", "description", img->description);
	fprintf(f, "  <memory unit='MiB'>%u</memory>\n  <vcpu>%u</vcpu>\n", l->memory_mib, l->cpus);
	fprintf(f, "  <os>\n    <type arch='%s' machine='%s'>hvm</type>\n", pf->libvirt_arch,
		pf->machine);
	if (img->boot_mode == SFS_BOOT_UEFI) {
		fprintf(f, "    <loader readonly='yes' type='pflash'>%s</loader>\n", pf->fw_code);
		fprintf(f, "    <nvram template='%s'/>\n", pf->fw_vars);
	}
	if (l->kernel)
		xml_elem(f, "    ", "kernel", l->kernel);
	if (l->initrd)
		xml_elem(f, "    ", "initrd", l->initrd);
	if (l->append)
		xml_elem(f, "    ", "cmdline", l->append);
	fputs("  </os>\n  <features>\n    <acpi/>\n  </features>\n", f);
	if (pf->cpu)
		fputs(tcg ? "  <cpu mode='maximum'/>\n" : "  <cpu mode='host-passthrough'/>\n", f);
	fprintf(f, "  <devices>\n    <emulator>/usr/bin/%s</emulator>\n", pf->qemu);
	for (size_t i = 0; i < img->ndevices; i++) {
		r = print_libvirt_disk(l, f, i);
		if (r < 0)
			return r;
	}
	if (l->serial) {
		fputs("    <serial type='file'>\n      <source path='", f);
		xml_text(f, l->serial);
		fputs("'/>\n      <target port='0'/>\n    </serial>\n", f);
	} else {
		fputs("    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n"
		      "    <console type='pty'>\n      <target type='serial' port='0'/>\n"
		      "    </console>\n",
		      f);
	}
	fputs("  </devices>\n</domain>\n", f);
	return 0;
}

/* ---- the command ---- */

/* A path that goes into the output: the sh script names the mount and
 * overlay in comments, where a newline ends the comment and starts a
 * command, and XML has no way to write most control characters. So none
 * is allowed, nor text that is not UTF-8. 0 or the usage error's code. */
static int path_arg(const char *cmd, const char *opt, const char *path)
{
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return cli_usage_error(cmd, "the %s path contains a control character "
						    "(a newline, tab or the like)",
					       opt);
	return cli_text_arg(cmd, opt, path);
}

/* --device DEV=snap-...[:SIZE] | DEV=none, into the list at o->dest. */
static int opt_device(const struct cli_parse *p, const struct cli_opt *o, const char *arg,
		      uint64_t v)
{
	struct launch_devs *ds = o->dest;
	struct launch_dev *d;
	const char *eq = strchr(arg, '='), *val, *colon;
	size_t dl;

	(void)v;
	if (ds->n == SFS_IMAGE_MAX_DEVICES)
		return cli_usage_error(p->cmd, "too many --device options");
	d = &ds->v[ds->n];
	memset(d, 0, sizeof(*d));
	dl = eq ? (size_t)(eq - arg) : 0;
	if (!eq || dl == 0 || dl > SFS_DEVNAME_MAX)
		return cli_usage_error(p->cmd, "invalid --device '%s': DEV=snap-ID[:SIZE] or DEV=none",
				       arg);
	memcpy(d->device, arg, dl);
	if (dl > 5 && !strncmp(d->device, "/dev/", 5))
		memmove(d->device, d->device + 5, dl - 5 + 1);
	if (!sfs_devname_valid(d->device))
		return cli_usage_error(p->cmd, "invalid --device '%s': '%s' is not a device name "
					       "(sda, vdb, xvdf, nvme0n1)",
				       arg, d->device);
	for (size_t i = 0; i < ds->n; i++)
		if (!strcmp(ds->v[i].device, d->device))
			return cli_usage_error(p->cmd, "--device %s is given twice", d->device);
	val = eq + 1;
	if (strcmp(val, "none")) {
		colon = strchr(val, ':');
		dl = colon ? (size_t)(colon - val) : strlen(val);
		if (dl >= sizeof(d->snapshot))
			dl = sizeof(d->snapshot) - 1;
		memcpy(d->snapshot, val, dl);
		if (!sfs_idstr_valid(d->snapshot, "snap-"))
			return cli_usage_error(p->cmd, "invalid --device '%s': '%.*s' is not a "
						       "snapshot id (snap-<hex>) or none",
					       arg, (int)(colon ? colon - val : (long)strlen(val)), val);
		if (colon && (sfs_parse_size(colon + 1, &d->size) < 0 || d->size == 0 ||
			      d->size > SFS_IMAGE_DEVICE_SIZE_MAX))
			return cli_usage_error(p->cmd, "invalid --device '%s': bad size '%s'", arg,
					       colon + 1);
	}
	ds->n++;
	return 0;
}

/* Applies the --device changes to img in store s: a mapped device left
 * out or given another snapshot, a new one added. Prints its own errors;
 * 0 or an exit code. */
static int apply_devices(struct sfs_store *s, const struct launch_devs *ds, bool overlay,
			 struct sfs_image *img, struct launch *l)
{
	struct sfs_txn *t;
	int r = 0;

	for (size_t k = 0; k < ds->n && r == 0; k++) {
		const struct launch_dev *d = &ds->v[k];
		struct sfs_image_device *m = (struct sfs_image_device *)sfs_image_device(img, d->device);
		struct sfs_snapshot sn;
		uint64_t size;

		if (!d->snapshot[0]) {
			size_t i;

			if (!m)
				return cli_error("image %s maps no device %s: nothing to leave out "
						 "(--device %s=none)",
						 img->name, d->device, d->device);
			if (!strcmp(d->device, img->root_device))
				return cli_error("image %s: --device %s=none would leave out the root "
						 "device",
						 img->name, d->device);
			i = (size_t)(m - img->devices);
			memmove(&img->devices[i], &img->devices[i + 1],
				(img->ndevices - i - 1) * sizeof(*m));
			memmove(&l->from_snapshot[i], &l->from_snapshot[i + 1],
				(img->ndevices - i - 1) * sizeof(bool));
			img->ndevices--;
			continue;
		}
		r = sfs_txn_begin(s, false, &t);
		if (r == 0) {
			r = sfs_cat_snapshot_get(t, d->snapshot, &sn);
			sfs_txn_abort(t);
		}
		if (r == -ENOENT)
			return cli_error("--device %s: no snapshot %s in store %s", d->device,
					 d->snapshot, sfs_store_path(s));
		if (r < 0)
			return cli_fail(r, "--device %s: cannot read snapshot %s", d->device,
					d->snapshot);
		size = d->size ? d->size : sn.size;
		r = sn.state != SFS_SNAP_COMPLETED ? -EAGAIN : 0;
		sfs_snapshot_release(&sn);
		if (r)
			return cli_error("--device %s: snapshot %s is not completed", d->device,
					 d->snapshot);
		if (size < sn.size)
			return cli_error("--device %s: %" PRIu64 " bytes is smaller than snapshot %s "
					 "(%" PRIu64 " bytes)",
					 d->device, size, d->snapshot, sn.size);
		/* snapshots/<id>.img has the snapshot's size; a larger disk
		 * needs an overlay, which qemu-img makes at the size asked. */
		if (size > sn.size && !overlay)
			return cli_error("--device %s: a size above the snapshot's needs --overlay "
					 "DIR (the mount shows the snapshot at its own size)",
					 d->device);
		if (m) {
			memcpy(m->snapshot, d->snapshot, sizeof(m->snapshot));
			m->size = size;
			l->from_snapshot[m - img->devices] = true;
			continue;
		}
		r = sfs_image_add_device(img, d->device, d->snapshot, size);
		if (r == -E2BIG)
			return cli_error("image %s: too many devices", img->name);
		if (r < 0)
			return cli_fail(r, "--device %s", d->device);
		l->from_snapshot[img->ndevices - 1] = true;
	}
	return 0;
}

int cmd_image_launch_config(const struct cli *c, int argc, char **argv)
{
	static const char cmd[] = "image launch-config ";
	static const char help[] =
	    "Usage: snapfs image launch-config NAME|ID --mount DIR\n"
	    "       [--format qemu|libvirt] [--overlay DIR | --snapshot-mode]\n"
	    "       [--kernel F] [--initrd F] [--append T] [--memory MIB]\n"
	    "       [--cpus N] [--accel kvm|tcg] [--serial FILE]\n"
	    "       [--device DEV=snap-ID[:SIZE] | --device DEV=none]...\n"
	    "       [--hibernation --ram-dir DIR]\n"
	    "(see 'snapfs image --help')\n";
	struct launch l = {.memory_mib = 1024, .cpus = 1};
	struct launch_devs devs = {.n = 0};
	const char *format = "qemu", *mount = NULL, *overlay = NULL, *ram_dir = NULL;
	bool hibernation = false;
	uint64_t memory = 1024, cpus = 1;
	const struct cli_opt opts[] = {
	    {.name = "format", .kind = CLI_STRING, .dest = &format},
	    {.name = "mount", .kind = CLI_STRING, .dest = &mount},
	    {.name = "overlay", .kind = CLI_STRING, .dest = &overlay},
	    {.name = "snapshot-mode", .kind = CLI_FLAG, .dest = &l.snapshot_mode},
	    {.name = "kernel", .kind = CLI_STRING, .dest = &l.kernel},
	    {.name = "initrd", .kind = CLI_STRING, .dest = &l.initrd},
	    {.name = "append", .kind = CLI_STRING, .dest = &l.append},
	    {.name = "memory", .kind = CLI_UINT, .dest = &memory, .min = 16, .max = 1u << 24,
	     .hint = "MiB, 16 or more"},
	    {.name = "cpus", .kind = CLI_UINT, .dest = &cpus, .min = 1, .max = 1024},
	    {.name = "accel", .kind = CLI_STRING, .dest = &l.accel},
	    {.name = "serial", .kind = CLI_STRING, .dest = &l.serial},
	    {.name = "device", .kind = CLI_STRING, .dest = &devs, .fn = opt_device},
	    {.name = "hibernation", .kind = CLI_FLAG, .dest = &hibernation},
	    {.name = "ram-dir", .kind = CLI_STRING, .dest = &ram_dir},
	    {0},
	};
	struct cli_parse co = {.cmd = cmd, .help = help, .opts = opts, .min_args = 1,
			       .max_args = 1, .args_help = "the image NAME or ID"};
	char *abs_mount = NULL, *abs_overlay = NULL, *abs_ram_dir = NULL;
	struct sfs_store *s;
	struct sfs_image img;
	int r = cli_parse(&co, argc, argv);

	if (r)
		return cli_parse_exit(r);
	l.memory_mib = (unsigned)memory;
	l.cpus = (unsigned)cpus;
	if (l.accel && strcmp(l.accel, "kvm") && strcmp(l.accel, "tcg"))
		return cli_usage_error(cmd, "invalid --accel '%s': kvm or tcg", l.accel);
	if (!mount)
		return cli_usage_error(cmd, "--mount DIR is required: where the store is mounted");
	if (strcmp(format, "qemu") && strcmp(format, "libvirt"))
		return cli_usage_error(cmd, "unknown --format '%s': qemu or libvirt", format);
	if (overlay && l.snapshot_mode)
		return cli_usage_error(cmd, "--overlay and --snapshot-mode exclude each other");
	if ((l.initrd || l.append) && !l.kernel)
		return cli_usage_error(cmd, "--initrd and --append need --kernel");
	if (hibernation != (ram_dir != NULL))
		return cli_usage_error(cmd, "--hibernation and --ram-dir DIR go together: the "
					    "guest's RAM file and QMP socket live in DIR");
	if (hibernation && strcmp(format, "qemu"))
		return cli_usage_error(cmd, "--hibernation needs --format qemu");
	abs_mount = absolute(mount);
	abs_overlay = overlay ? absolute(overlay) : NULL;
	if (!abs_mount || (overlay && !abs_overlay)) {
		r = cli_error("out of memory");
		goto out_free;
	}
	/* Checked as printed: absolute, so the working directory's own name
	 * counts (a relative path was once checked before it was joined). */
	if ((r = path_arg(cmd, "--mount", abs_mount)) ||
	    (abs_overlay && (r = path_arg(cmd, "--overlay", abs_overlay))) ||
	    (l.kernel && (r = path_arg(cmd, "--kernel", l.kernel))) ||
	    (l.initrd && (r = path_arg(cmd, "--initrd", l.initrd))) ||
	    (l.serial && (r = path_arg(cmd, "--serial", l.serial))))
		goto out_free;
	if (ram_dir) {
		abs_ram_dir = absolute(ram_dir);
		if (!abs_ram_dir) {
			r = cli_error("out of memory");
			goto out_free;
		}
		r = path_arg(cmd, "--ram-dir", abs_ram_dir);
		if (r)
			goto out_free;
		l.ram_dir = abs_ram_dir;
	}
	l.mount = abs_mount;
	l.overlay = abs_overlay;
	r = cli_open_store(c, SFS_OPEN_READ, &s);
	if (r)
		goto out_free;
	r = cli_image_load(s, co.args[0], &img);
	if (r == 0) {
		r = apply_devices(s, &devs, abs_overlay != NULL, &img, &l);
		if (r)
			sfs_image_release(&img);
	}
	sfs_store_close(s);
	if (r)
		goto out_free;
	l.img = &img;
	r = !strcmp(format, "qemu") ? print_qemu(&l, stdout) : print_libvirt(&l, stdout);
	if (r < 0)
		r = cli_fail(r, "launch configuration of image %s", img.name);
	else if (fflush(stdout) != 0)
		r = cli_error("cannot write the launch configuration: %s", strerror(errno));
	sfs_image_release(&img);
out_free:
	free(abs_mount);
	free(abs_overlay);
	free(abs_ram_dir);
	return r;
}

/* ---- shared with checkpoint launch-config ---- */

void cli_sh_word(FILE *f, const char *s)
{
	sh_word(f, s);
}

char *cli_qemu_escape(const char *s)
{
	return qemu_escape(s);
}

char *cli_absolute(const char *p)
{
	return absolute(p);
}

int cli_launch_path_arg(const char *cmd, const char *opt, const char *path)
{
	return path_arg(cmd, opt, path);
}
