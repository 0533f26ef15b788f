// SPDX-License-Identifier: MIT
/*
 * Crash containment for the command line and the mount daemon. LMDB maps
 * the catalog and trusts its pages: a catalog whose bytes were changed on
 * disk can make the library read out of bounds and fault before any check
 * of ours sees a record. Validating every page first would mean writing
 * LMDB's page format a second time, so instead a fault becomes one line
 * that names the store and says what to do, and exit status 1: no core
 * dump, no half-written output taken for a result (LMDB's own assertions
 * abort on some damage it notices: SIGABRT is handled the same way). The
 * handler does only async-signal-safe work (write, _exit) and runs on its
 * own stack, so a fault from a runaway recursion is reported too. The process keeps its
 * pid and dies as soon as it faults: a writer killed or faulted leaves the
 * store exactly as kill -9 does, which recovery handles.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"

static char fatal_msg[1024];
static size_t fatal_len;
static bool fatal_syslog;

static void on_fatal(int sig)
{
	(void)sig;
	if (write(STDERR_FILENO, fatal_msg, fatal_len) < 0)
		fatal_len = 0;
	/* syslog is not async-signal-safe, but a daemon has no other place
	 * where an admin would look, and the process ends here either way. */
	if (fatal_syslog)
		syslog(LOG_ERR, "%s", fatal_msg);
	_exit(1);
}

void cli_guard_fatal_signals(const char *what, const char *store_path, bool to_syslog)
{
	/* SIGABRT: LMDB's own assertions abort on some damage it notices. */
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	static char altstack[64 << 10];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa = { .sa_handler = on_fatal, .sa_flags = SA_RESETHAND | SA_ONSTACK };
	int n;

	/* The message is made now: nothing may be formatted in the handler. */
	n = snprintf(fatal_msg, sizeof(fatal_msg),
		     "snapfs %s: crashed reading the store %s: its catalog is damaged; see "
		     "README \"Recovering a damaged catalog\"\n",
		     what, store_path ? store_path : "");
	fatal_len = n < 0 ? 0 : (size_t)n < sizeof(fatal_msg) ? (size_t)n : sizeof(fatal_msg) - 1;
	fatal_syslog = to_syslog;
	sigaltstack(&ss, NULL);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}
