// SPDX-License-Identifier: MIT
/*
 * Crash containment for the command line. LMDB maps the catalog and
 * trusts its pages: a catalog whose bytes were changed on disk can make
 * the library read out of bounds and die with SIGSEGV or SIGBUS before
 * any check of ours sees a record. So every command runs in a child
 * process; the parent only waits, forwards the signals a user sends, and
 * turns a fatal signal of the child into one clear line and exit status 1
 * instead of a core dump. The child dies with the parent (PR_SET_PDEATHSIG),
 * so that kill -9 of the command a user started still stops the writer.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>

#include "cli.h"

static volatile pid_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

static bool is_fault(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
	       sig == SIGABRT;
}

int cli_run_guarded(const char *what, const char *store_path, int (*fn)(void *ctx), void *ctx)
{
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa = { .sa_handler = forward };
	pid_t parent = getpid(), pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0) /* no process to spare: run unguarded rather than not at all */
		return fn(ctx);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1); /* the parent died before the line above */
		exit(fn(ctx)); /* exit, not _exit: stdio buffers must reach the pipe */
	}
	child_pid = pid;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return cli_fail(-errno, "%s: cannot wait for the command", what);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status) && is_fault(WTERMSIG(status))) {
		fprintf(stderr,
			"snapfs %s: crashed reading the store %s (%s): its catalog is damaged; "
			"see README \"Recovering a damaged catalog\"\n",
			what, store_path ? store_path : "", strsignal(WTERMSIG(status)));
		return 1;
	}
	/* Killed by a user's signal: end the same way, so the shell sees it. */
	signal(WTERMSIG(status), SIG_DFL);
	raise(WTERMSIG(status));
	return 128 + WTERMSIG(status);
}

static const char *fatal_store = "";

static void on_fatal(int sig)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg),
			 "snapfs mount: crashed reading the store %s (signal %d): its catalog is "
			 "damaged; see README \"Recovering a damaged catalog\"\n",
			 fatal_store, sig);

	/* Dying anyway: syslog is not async-signal-safe, but a daemon has no
	 * other place where the admin will look. */
	if (n > 0) {
		if (write(STDERR_FILENO, msg, (size_t)n) < 0)
			n = 0;
		syslog(LOG_ERR, "%s", msg);
	}
	_exit(1);
}

void cli_guard_fatal_signals(const char *store_path)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	struct sigaction sa = { .sa_handler = on_fatal, .sa_flags = SA_RESETHAND };

	fatal_store = store_path;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}
