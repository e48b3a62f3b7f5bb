/* log.c - rate-limited warnings. */
#include <fuse_log.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define LOG_KINDS 32 /* distinct format strings tracked; more share the last */

bool log_rate_allow(struct log_rate *r, uint64_t now_ns, unsigned long *dropped)
{
	if (r->in_window == 0 || now_ns - r->window_start_ns >= LOG_INTERVAL_S * CLOCK_NS_PER_S) {
		r->window_start_ns = now_ns;
		r->in_window = 0;
	}
	if (r->in_window >= LOG_BURST) {
		r->suppressed++;
		return false;
	}
	r->in_window++;
	*dropped = r->suppressed;
	r->suppressed = 0;
	return true;
}

/* Guards kinds[] (the rate of each format).  The innermost mutex
 * (lockorder.h): a warning may be logged under any other.  File-scope as
 * logging is the process's, from every module, with no state at hand. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const char *fmt;
	struct log_rate rate;
} kinds[LOG_KINDS];

static struct log_rate *rate_of_locked(const char *fmt)
{
	size_t i;

	for (i = 0; i < LOG_KINDS - 1 && kinds[i].fmt && kinds[i].fmt != fmt; i++)
		;
	kinds[i].fmt = fmt;
	return &kinds[i].rate;
}

void log_warning(const char *fmt, ...)
{
	unsigned long dropped = 0;
	char line[512];
	size_t len;
	va_list ap;
	bool allow;

	pthread_mutex_lock(&log_lock);
	allow = log_rate_allow(rate_of_locked(fmt), clock_now_ns(), &dropped);
	pthread_mutex_unlock(&log_lock);
	if (!allow)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	len = strlen(line);
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (dropped)
		fuse_log(FUSE_LOG_WARNING, "%s (and %lu more like it not logged)\n", line, dropped);
	else
		fuse_log(FUSE_LOG_WARNING, "%s\n", line);
}
