/* clock.h - the one monotonic clock of the daemon: nanoseconds since an
 * arbitrary start, and the conversions every wait needs.
 *
 * Header only: the core and the FUSE layer both use it.
 */
#ifndef SHMFS_CLOCK_H
#define SHMFS_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CLOCK_NS_PER_MS 1000000ull
#define CLOCK_NS_PER_S	1000000000ull

/* CLOCK_MONOTONIC now, in nanoseconds. */
static inline uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * CLOCK_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* The monotonic time ms milliseconds from now, in nanoseconds. */
static inline uint64_t clock_deadline_ns(uint64_t ms)
{
	return clock_now_ns() + ms * CLOCK_NS_PER_MS;
}

/* ns as a timespec (for pthread_cond_timedwait on a CLOCK_MONOTONIC
 * condition, or a semtimedop timeout). */
static inline struct timespec clock_timespec(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / CLOCK_NS_PER_S),
			       .tv_nsec = (long)(ns % CLOCK_NS_PER_S) };

	return ts;
}

#endif
