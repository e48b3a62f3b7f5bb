/* guarded.c - copies that survive pages that cannot come (SIGBUS), and
 * each thread's read buffer. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guarded.h"

/* A hugetlb segment made with SHM_NORESERVE gets its pages at the first
 * touch, and when there are none the toucher gets SIGBUS: through the
 * mapping, the daemon would die of a user's segment.  Its copies are
 * guarded: SIGBUS in them jumps back and the request fails with EFAULT. */
/* File-scope: the SIGBUS handler finds the copy to jump out of here (a
 * handler gets no state of ours); each thread's own.  volatile: the
 * stores around the copy must not be optimised away. */
static __thread sigjmp_buf *volatile copy_guard;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *info, void *ctx)
{
	if (copy_guard)
		siglongjmp(*copy_guard, 1);
	/* not in a guarded copy: die of it as we would have */
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

static void install_guard(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

/* memcpy, or -EFAULT if the pages could not be provided. */
int guarded_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf env;

	sigset_t bus, saved;

	pthread_once(&guard_once, install_guard);
	/* libfuse's workers block every signal, and a SIGBUS the kernel
	 * forces on a thread that blocks it kills the process: let it in
	 * for the copy (siglongjmp restores the mask sigsetjmp saved). */
	sigemptyset(&bus);
	sigaddset(&bus, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &bus, &saved);
	if (sigsetjmp(env, 1)) {
		copy_guard = NULL;
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
		return -EFAULT;
	}
	copy_guard = &env;
	memcpy(dst, src, n);
	copy_guard = NULL;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return 0;
}

int guarded_zero(void *dst, size_t n)
{
	static const char zeros[64 * 1024];

	for (size_t done = 0; done < n;) {
		size_t k = n - done < sizeof(zeros) ? n - done : sizeof(zeros);
		int ret = guarded_copy((char *)dst + done, zeros, k);

		if (ret)
			return ret;
		done += k;
	}
	return 0;
}

/* One buffer per thread for reads that are not spliced: a key of the
 * process's, as libfuse's workers come and go with no hook of ours. */
static pthread_key_t read_buffer_key;
static pthread_once_t read_buffer_once = PTHREAD_ONCE_INIT;

static void read_buffer_key_init(void)
{
	pthread_key_create(&read_buffer_key, free);
}

char *guarded_read_buffer(void)
{
	char *buf;

	pthread_once(&read_buffer_once, read_buffer_key_init);
	buf = pthread_getspecific(read_buffer_key);
	if (!buf) {
		buf = aligned_alloc((size_t)sysconf(_SC_PAGESIZE), GUARDED_READ_BUFFER);
		if (buf && pthread_setspecific(read_buffer_key, buf) != 0) {
			free(buf);
			buf = NULL;
		}
	}
	return buf;
}
