// SPDX-License-Identifier: MIT
/* Libraries loaded on first use (lazylib_int.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lazylib_int.h"
#include "snapfs/log.h"

_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "dlsym returns function pointers");

static int load(struct sfs_lazylib *l)
{
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);

	if (!h)
		goto out_error;
	for (size_t i = 0; i < l->n; i++) {
		void *sym = dlsym(h, l->names[i]);

		if (!sym) {
			snprintf(l->error, sizeof(l->error), "%s", dlerror());
			dlclose(h);
			return -1;
		}
		/* Through memcpy: ISO C has no cast from an object to a
		 * function pointer. */
		memcpy(&l->fns[i], &sym, sizeof(sym));
	}
	return 1;
out_error:
	snprintf(l->error, sizeof(l->error), "%s", dlerror());
	return -1;
}

int sfs_lazylib_need(struct sfs_lazylib *l)
{
	int state = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);

	if (state == 0) {
		pthread_mutex_lock(&l->lock);
		state = l->state;
		if (state == 0) {
			state = load(l);
			if (state > 0 && l->init)
				l->init();
			__atomic_store_n(&l->state, state, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&l->lock);
	}
	return state > 0 ? 0 : -ELIBACC;
}

void sfs_lazylib_require(struct sfs_lazylib *l)
{
	if (sfs_lazylib_need(l) == 0)
		return;
	/* What the dynamic linker does for a library missing at start-up:
	 * one line and 127. (A writable store open loads libcrypto before it
	 * changes anything.) */
	sfs_log(SFS_LOG_ERR, "cannot load %s, which snapfs needs: %s", l->soname, l->error);
	_exit(127);
}
