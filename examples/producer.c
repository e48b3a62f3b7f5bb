/* producer - fill a System V shared-memory buffer, one line at a time,
 * for the consumer to print.
 *
 * The segment has key KEY; the turns are taken through the semaphore set
 * KEY + 1 (handshake.h); each write happens under the exclusive lock of
 * the set KEY (shmlock.h), which is the lock shmfs takes, so a `cat` of
 * /mnt/shm/by-key/0xKEY never shows half a line.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "handshake.h"
#include "shmlock.h"

struct options {
	key_t key;
	unsigned long long size;
	unsigned long long count; /* 0: forever */
	unsigned long long interval_ms;
	bool remove;
};

struct channel {
	int shmid;
	int lock_semid;
	int handshake_semid;
	char *buf;
	size_t size; /* the segment's real size, which may exceed the option */
};

static volatile sig_atomic_t stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [-k KEY] [-s SIZE] [-n COUNT] [-i MS] [-r]\n"
		"Write a line of text into the System V segment KEY, COUNT times, each time\n"
		"waiting for a consumer to read the previous one.\n"
		"\n"
		"  -k KEY    segment key: decimal, 0octal or 0xhex (default 0x%08x)\n"
		"  -s SIZE   segment size in bytes, if it must be created (default %d)\n"
		"  -n COUNT  stop after COUNT messages, once the last is read (0: never, the "
		"default)\n"
		"  -i MS     pause between messages in milliseconds (default 1000)\n"
		"  -r        on exit, remove the segment and its two semaphore sets\n"
		"  -h        show this help\n",
		prog, DEFAULT_KEY, DEFAULT_SIZE);
}

/* Returns 0 to go on, 1 after --help, -1 on a bad option. */
static int parse_options(int argc, char **argv, struct options *opt)
{
	int c;

	*opt = (struct options){
		.key = DEFAULT_KEY,
		.size = DEFAULT_SIZE,
		.count = 0,
		.interval_ms = 1000,
		.remove = false,
	};
	while ((c = getopt(argc, argv, "k:s:n:i:rh")) != -1) {
		switch (c) {
		case 'k':
			if (parse_key(optarg, &opt->key) < 0) {
				fprintf(stderr, "%s: bad key '%s'\n", argv[0], optarg);
				return -1;
			}
			break;
		case 's':
			if (parse_count(optarg, &opt->size) < 0 || opt->size == 0 ||
			    opt->size > SIZE_MAX) {
				fprintf(stderr, "%s: bad size '%s'\n", argv[0], optarg);
				return -1;
			}
			break;
		case 'n':
			if (parse_count(optarg, &opt->count) < 0) {
				fprintf(stderr, "%s: bad count '%s'\n", argv[0], optarg);
				return -1;
			}
			break;
		case 'i':
			if (parse_count(optarg, &opt->interval_ms) < 0) {
				fprintf(stderr, "%s: bad interval '%s'\n", argv[0], optarg);
				return -1;
			}
			break;
		case 'r':
			opt->remove = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			usage(stderr, argv[0]);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr, argv[0]);
		return -1;
	}
	return 0;
}

/* The handshake set of key: created with the buffer free, or found as the
 * previous producer left it (which may be mid-turn: then we wait for the
 * consumer like that producer would have). */
static int open_handshake(key_t key)
{
	unsigned short initial[HANDSHAKE_NSEMS] = {
		[HANDSHAKE_WRITTEN] = 0,
		[HANDSHAKE_READ] = 1,
	};
	union semun arg = { .array = initial };
	int semid;

	semid = semget(key, HANDSHAKE_NSEMS, IPC_CREAT | IPC_EXCL | 0666);
	if (semid < 0 && errno == EEXIST)
		semid = semget(key, HANDSHAKE_NSEMS, 0);
	else if (semid >= 0 && semctl(semid, 0, SETALL, arg) < 0)
		return -errno;
	return semid < 0 ? -errno : semid;
}

/* Lock set first, segment last: by the time shmfs can list the segment,
 * the ShareLite set of its key exists and is marked, so shmfs locks with
 * it and we agree on the lock. */
static int channel_open(struct channel *ch, const struct options *opt)
{
	struct shmid_ds ds;
	void *addr;
	int err;

	err = shmlock_open(opt->key, 0666, &stop);
	if (err < 0) {
		fprintf(stderr, "producer: lock set 0x%08" PRIx32 ": %s\n", (uint32_t)opt->key,
			strerror(-err));
		return err;
	}
	ch->lock_semid = err;

	err = open_handshake(handshake_key(opt->key));
	if (err < 0) {
		fprintf(stderr, "producer: handshake set 0x%08" PRIx32 ": %s\n",
			(uint32_t)handshake_key(opt->key), strerror(-err));
		return err;
	}
	ch->handshake_semid = err;

	ch->shmid = shmget(opt->key, opt->size, IPC_CREAT | 0666);
	if (ch->shmid < 0 || shmctl(ch->shmid, IPC_STAT, &ds) < 0) {
		err = -errno;
		fprintf(stderr, "producer: segment 0x%08" PRIx32 ": %s%s\n", (uint32_t)opt->key,
			strerror(-err),
			err == -EINVAL ? " (it exists, smaller than -s SIZE?)" : "");
		return err;
	}
	addr = shmat(ch->shmid, NULL, 0);
	if (addr == (void *)-1) {
		err = -errno;
		fprintf(stderr, "producer: attach shmid %d: %s\n", ch->shmid, strerror(-err));
		return err;
	}
	ch->buf = addr;
	ch->size = ds.shm_segsz;
	return 0;
}

static void channel_close(struct channel *ch, bool remove)
{
	if (ch->buf)
		shmdt(ch->buf);
	if (!remove)
		return;
	if (ch->shmid >= 0 && shmctl(ch->shmid, IPC_RMID, NULL) < 0)
		perror("producer: remove segment");
	if (ch->lock_semid >= 0 && semctl(ch->lock_semid, 0, IPC_RMID) < 0)
		perror("producer: remove lock set");
	if (ch->handshake_semid >= 0 && semctl(ch->handshake_semid, 0, IPC_RMID) < 0)
		perror("producer: remove handshake set");
}

static size_t format_message(char *line, size_t size, unsigned long long n)
{
	struct timespec now;
	struct tm tm;
	char when[32];
	int len;

	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	len = snprintf(line, size, "message %llu from producer %ld at %s.%03ld\n", n,
		       (long)getpid(), when, now.tv_nsec / 1000000L);
	return len < 0 ? 0 : (size_t)len < size ? (size_t)len : size - 1;
}

/* Replace the whole buffer: the line, then NULs to the end, so neither
 * the consumer nor `cat` sees the tail of a longer earlier line. */
static int write_message(struct channel *ch, unsigned long long n)
{
	char line[256];
	size_t len = format_message(line, sizeof(line), n);
	int err;

	if (len > ch->size)
		len = ch->size;
	err = shmlock_exclusive(ch->lock_semid, &stop);
	if (err < 0)
		return err;
	memcpy(ch->buf, line, len);
	memset(ch->buf + len, 0, ch->size - len);
	return shmlock_exclusive_release(ch->lock_semid);
}

/* Returns 0 when done or stopped, else a negative errno. */
static int produce(struct channel *ch, const struct options *opt)
{
	unsigned long long n;
	int err;

	for (n = 1; opt->count == 0 || n <= opt->count; n++) {
		if (n > 1)
			sleep_ms(opt->interval_ms, &stop);
		err = handshake_wait(ch->handshake_semid, HANDSHAKE_READ, &stop);
		if (err < 0)
			return err == -EINTR ? 0 : err;
		err = write_message(ch, n);
		if (err < 0) {
			/* Not written after all: hand the turn back. */
			handshake_post(ch->handshake_semid, HANDSHAKE_READ);
			return err == -EINTR ? 0 : err;
		}
		err = handshake_post(ch->handshake_semid, HANDSHAKE_WRITTEN);
		if (err < 0)
			return err;
	}
	/* Leave once the last message has been read, so that -r does not
	 * pull the segment from under the consumer. */
	err = handshake_wait_idle(ch->handshake_semid, HANDSHAKE_READ, &stop);
	return err == -EINTR ? 0 : err;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct channel ch = { .shmid = -1, .lock_semid = -1, .handshake_semid = -1 };
	int err;

	err = parse_options(argc, argv, &opt);
	if (err)
		return err > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	err = catch_stop_signals(on_stop_signal);
	if (err < 0) {
		fprintf(stderr, "producer: sigaction: %s\n", strerror(-err));
		return EXIT_FAILURE;
	}

	err = channel_open(&ch, &opt);
	if (err < 0)
		goto out;
	fprintf(stderr, "producer %ld: key 0x%08" PRIx32 ", shmid %d, %zu bytes\n", (long)getpid(),
		(uint32_t)opt.key, ch.shmid, ch.size);

	err = produce(&ch, &opt);
	if (err < 0)
		fprintf(stderr, "producer: %s\n", strerror(-err));
out:
	channel_close(&ch, opt.remove);
	return err < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
