// SPDX-License-Identifier: MIT
/*
 * The RADOS backend's parts that need no cluster: the store spec
 * "rados:POOL?conf=F[&user=U]" and the state directory's params file
 * (test_rados.sh drives the rest against a real cluster).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rados_int.h"

Test(rados, spec_parse)
{
	struct sfs_rados_params p;

	cr_assert_eq(sfs_rados_spec_parse("rados:snap?conf=/etc/ceph/ceph.conf", &p), 0);
	cr_assert_str_eq(p.pool, "snap");
	cr_assert_str_eq(p.conf, "/etc/ceph/ceph.conf");
	cr_assert_str_eq(p.user, "");
	cr_assert_eq(sfs_rados_spec_parse("rados:p?conf=c&user=client.x", &p), 0);
	cr_assert_str_eq(p.user, "client.x");
	cr_assert_eq(sfs_rados_spec_parse("rados:p?user=client.x&conf=c", &p), 0);
	cr_assert_str_eq(p.conf, "c");
	cr_assert_str_eq(p.user, "client.x");
	/* No conf, no pool, unknown keys, empty values, not a spec. */
	cr_assert_eq(sfs_rados_spec_parse("rados:p", &p), -EINVAL);
	cr_assert_eq(sfs_rados_spec_parse("rados:?conf=c", &p), -EINVAL);
	cr_assert_eq(sfs_rados_spec_parse("rados:p?conf=c&frob=1", &p), -EINVAL);
	cr_assert_eq(sfs_rados_spec_parse("rados:p?conf=", &p), -EINVAL);
	cr_assert_eq(sfs_rados_spec_parse("rados:p?conf", &p), -EINVAL);
	cr_assert_eq(sfs_rados_spec_parse("/var/lib/snapfs", &p), -EINVAL);
	cr_assert(sfs_rados_is_spec("rados:x"));
	cr_assert(!sfs_rados_is_spec("./rados:x"));
}

Test(rados, params_file_round_trip)
{
	char dir[] = "/tmp/snapfs-rados-unit.XXXXXX";
	struct sfs_rados_params p = {0}, q;
	int dfd;

	cr_assert(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(sfs_rados_params_read(dfd, &q), -EMEDIUMTYPE);
	strcpy(p.pool, "pool-a");
	strcpy(p.conf, "/etc/ceph/a b.conf");
	strcpy(p.user, "client.snapfs");
	cr_assert_eq(sfs_rados_params_write(dfd, &p), 0);
	cr_assert_eq(sfs_rados_params_read(dfd, &q), 0);
	cr_assert_str_eq(q.pool, p.pool);
	cr_assert_str_eq(q.conf, p.conf);
	cr_assert_str_eq(q.user, p.user);
	unlinkat(dfd, SFS_RADOS_PARAMS_FILE, 0);
	close(dfd);
	rmdir(dir);
}
