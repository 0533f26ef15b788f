/* SPDX-License-Identifier: MIT */
/*
 * Libraries loaded on first use. Every snapfs process maps its shared
 * libraries at start-up, and with a cold page cache that is most of the
 * time to a mount's first byte: libcrypto alone is some 4.5 MB. Libraries
 * that only some commands or some stores need (librados for a store on
 * RADOS, libcrypto for SHA-256 ids and encryption, libext2fs with
 * libcom_err and libblkid for the files and partitions of files/) are
 * therefore dlopen()ed when first needed and called through a table of
 * pointers typed from their headers' declarations: a prototype that
 * changes is a compile error, not a crash.
 *
 *	#define MYLIB_FNS(X) X(foo_open) X(foo_read)
 *	SFS_LAZYLIB(mylib, "libfoo.so.1", MYLIB_FNS);
 *	...
 *	if (sfs_lazylib_need(&mylib_lib) < 0)  // reason: mylib_lib.error
 *		...;
 *	mylib.foo_open(...);
 */
#ifndef SFS_LAZYLIB_INT_H
#define SFS_LAZYLIB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct sfs_lazylib {
	const char *soname;
	const char *const *names; /* n symbol names */
	void (**fns)(void);	  /* n slots, filled in the same order */
	size_t n;
	void (*init)(void); /* run once after the load, or NULL */
	pthread_mutex_t lock;
	int state;	  /* 0 untried, 1 loaded, -1 failed (read with acquire) */
	char error[256];  /* dlerror() of a failed load */
};

/* 0 once the library is loaded (the first call loads it; later calls cost
 * one atomic load), or -ELIBACC with the reason in l->error. */
int sfs_lazylib_need(struct sfs_lazylib *l);

/* Loads the library or ends the process (status 127) with a message
 * naming it: for libraries the package depends on, whose absence is the
 * same failure as a missing shared library at start-up. */
void sfs_lazylib_require(struct sfs_lazylib *l);

#define SFS_LAZYLIB_NAME_(fn)  #fn,
#define SFS_LAZYLIB_FIELD_(fn) __typeof__(fn) *fn;
#define SFS_LAZYLIB_COUNT_(fn) +1

/* Declares the table NAME (NAME.fn is fn's pointer) and its loader NAME_lib. */
#define SFS_LAZYLIB(NAME, SONAME, FNS) SFS_LAZYLIB_INIT(NAME, SONAME, FNS, NULL)

/* The same, with INIT run once, under the loader's lock, after the load. */
#define SFS_LAZYLIB_INIT(NAME, SONAME, FNS, INIT)                                                  \
	static const char *const NAME##_names_[] = { FNS(SFS_LAZYLIB_NAME_) };                     \
	static union {                                                                             \
		struct {                                                                           \
			FNS(SFS_LAZYLIB_FIELD_)                                                    \
		};                                                                                 \
		void (*any[0 FNS(SFS_LAZYLIB_COUNT_)])(void);                                      \
	} NAME;                                                                                    \
	static struct sfs_lazylib NAME##_lib = {                                                   \
		.soname = SONAME,                                                                  \
		.names = NAME##_names_,                                                            \
		.fns = NAME.any,                                                                   \
		.n = 0 FNS(SFS_LAZYLIB_COUNT_),                                                    \
		.init = INIT,                                                                      \
		.lock = PTHREAD_MUTEX_INITIALIZER,                                                 \
	}

#endif
