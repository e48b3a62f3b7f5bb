/* io.c - the measuring loops of shmfs-bench. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define PAGE 4096

/* Keep the compiler from dropping a copy into a buffer nobody reads. */
#define CLOBBER(p) __asm__ volatile("" : : "r"(p) : "memory")

static char *io_buffer(size_t size)
{
	char *buf = aligned_alloc(PAGE, (size + PAGE - 1) / PAGE * PAGE);

	if (!buf)
		die("out of memory for a %zu-byte buffer", size);
	/* Fault it in now, not while timing. */
	memset(buf, 0x5a, size);
	return buf;
}

static int open_target(const struct target *t, int mode)
{
	int fd = open(t->path, mode | t->extra_flags | O_CLOEXEC);

	if (fd < 0)
		die("open %s: %s", t->path, strerror(errno));
	return fd;
}

static void io_once(int fd, char *buf, size_t n, uint64_t off, bool write, const char *path)
{
	ssize_t got = write ? pwrite(fd, buf, n, off) : pread(fd, buf, n, off);

	if (got != (ssize_t)n)
		die("%s %s at %llu (%zu bytes): %s", write ? "pwrite" : "pread", path,
		    (unsigned long long)off, n, got < 0 ? strerror(errno) : "short");
}

/* One pass over t; seconds. */
static double seq_once(const struct target *t, int fd, char *buf, size_t req, bool write)
{
	double start = now_s();

	for (uint64_t off = 0; off < t->size; off += req) {
		size_t n = t->size - off < req ? t->size - off : req;

		if (!t->mem) {
			io_once(fd, buf, n, off, write, t->path);
		} else if (write) {
			memcpy(t->mem + off, buf, n);
		} else {
			memcpy(buf, t->mem + off, n);
			CLOBBER(buf);
		}
	}
	return now_s() - start;
}

/* passes passes on one descriptor.  The first is timed with the open and
 * the close around it (what reading a whole file costs); a later one
 * is timed alone (what the requests themselves cost). */
static double seq_passes(const struct target *t, size_t req, bool write, int passes)
{
	char *buf = io_buffer(req);
	double start = now_s(), secs = 0;
	int fd = -1;

	if (!t->mem)
		fd = open_target(t, write ? O_WRONLY : O_RDONLY);
	for (int i = 0; i < passes; i++)
		secs = seq_once(t, fd, buf, req, write);
	if (fd >= 0)
		close(fd);
	if (passes == 1)
		secs = now_s() - start;
	free(buf);
	return t->size / secs / 1e9;
}

double seq_pass(const struct target *t, size_t req, bool write)
{
	return seq_passes(t, req, write, 1);
}

double seq_pass_again(const struct target *t, size_t req, bool write)
{
	return seq_passes(t, req, write, 2);
}

struct random_worker {
	pthread_t thread;
	const struct target *t;
	pthread_barrier_t *barrier;
	bool write;
	double seconds;
	uint64_t span;
	uint64_t seed;
	double rate;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *random_worker_main(void *arg)
{
	struct random_worker *w = arg;
	uint64_t pages = w->span / PAGE, ops = 0;
	char *buf = io_buffer(PAGE);
	int fd = open_target(w->t, w->write ? O_WRONLY : O_RDONLY);
	double start, deadline, now;

	pthread_barrier_wait(w->barrier);
	start = now_s();
	deadline = start + w->seconds;
	do {
		for (int i = 0; i < 32; i++) {
			uint64_t off = xorshift(&w->seed) % pages * PAGE;

			io_once(fd, buf, PAGE, off, w->write, w->t->path);
		}
		ops += 32;
		now = now_s();
	} while (now < deadline);
	w->rate = ops / (now - start);
	close(fd);
	free(buf);
	return NULL;
}

double random_ops(const struct target *t, int nthreads, bool write, double seconds, uint64_t span)
{
	struct random_worker *w = calloc(nthreads, sizeof(*w));
	pthread_barrier_t barrier;
	double total = 0;

	if (!w)
		die("out of memory");
	pthread_barrier_init(&barrier, NULL, nthreads);
	for (int i = 0; i < nthreads; i++) {
		w[i] = (struct random_worker){
			.t = t,
			.barrier = &barrier,
			.write = write,
			.seconds = seconds,
			.span = span,
			.seed = 0x9e3779b97f4a7c15ull * (i + 1),
		};
		if (pthread_create(&w[i].thread, NULL, random_worker_main, &w[i]) != 0)
			die("pthread_create failed");
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].thread, NULL);
		total += w[i].rate;
	}
	pthread_barrier_destroy(&barrier);
	free(w);
	return total;
}

double sequential_reads(const struct target *t, size_t req, uint64_t span, double seconds)
{
	char *buf = io_buffer(req);
	int fd = open_target(t, O_RDONLY);
	uint64_t off = 0, n = 0;
	double start = now_s(), deadline = start + seconds, now;

	do {
		for (int i = 0; i < 8; i++) {
			io_once(fd, buf, req, off, false, t->path);
			off += req;
			if (off + req > span)
				off = 0;
		}
		n += 8;
		now = now_s();
	} while (now < deadline);
	close(fd);
	free(buf);
	return n / (now - start);
}

double per_call_us(bool (*fn)(void *arg), void *arg, double seconds, long min_calls, long max_calls)
{
	double start = now_s(), now;
	long n = 0;

	do {
		if (!fn(arg))
			die("a measured call failed: %s", strerror(errno));
		n++;
		now = now_s();
	} while (n < max_calls && (n < min_calls || now - start < seconds));
	return (now - start) / n * 1e6;
}
