/* consumer - print each buffer the producer writes into a System V
 * shared-memory segment.
 *
 * Waits for its turn on the semaphore set KEY + 1 (handshake.h), copies
 * the buffer out under the shared lock of the set KEY (shmlock.h), hands
 * the turn back, then prints the copy: the lock is held for a memcpy, not
 * for a write to a slow terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "handshake.h"
#include "shmlock.h"

/* How often to look again for a producer that has not started yet. */
#define WAIT_FOR_PRODUCER_MS 100

struct options {
	key_t key;
	unsigned long long size;  /* read at most this many bytes */
	unsigned long long count; /* 0: until the producer goes away */
};

struct channel {
	int shmid;
	int lock_semid;
	int handshake_semid;
	const char *buf;
	size_t size;
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
		"usage: %s [-k KEY] [-s SIZE] [-n COUNT]\n"
		"Print each buffer a producer writes into the System V segment KEY, up to\n"
		"its first NUL byte.  Waits for the producer if it has not started yet.\n"
		"\n"
		"  -k KEY    segment key: decimal, 0octal or 0xhex (default 0x%08x)\n"
		"  -s SIZE   read at most SIZE bytes of the segment (default %d)\n"
		"  -n COUNT  exit after COUNT messages (default 0: when the producer removes\n"
		"            the segment, or on SIGINT/SIGTERM)\n"
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
	};
	while ((c = getopt(argc, argv, "k:s:n:h")) != -1) {
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

/* The segment and the handshake set are the producer's to create (only it
 * knows to initialise the handshake), so wait until both exist.  Returns
 * 0, -EINTR if stopped first, or another negative errno. */
static int wait_for_producer(struct channel *ch, const struct options *opt)
{
	bool told = false;

	for (;;) {
		ch->shmid = shmget(opt->key, 0, 0);
		if (ch->shmid >= 0)
			ch->handshake_semid = semget(handshake_key(opt->key), HANDSHAKE_NSEMS, 0);
		if (ch->shmid >= 0 && ch->handshake_semid >= 0)
			return 0;
		if (errno != ENOENT)
			return -errno;
		if (!told) {
			fprintf(stderr, "consumer: waiting for a producer on key 0x%08" PRIx32 "\n",
				(uint32_t)opt->key);
			told = true;
		}
		sleep_ms(WAIT_FOR_PRODUCER_MS, &stop);
		if (stop)
			return -EINTR;
	}
}

static int channel_open(struct channel *ch, const struct options *opt)
{
	struct shmid_ds ds;
	void *addr;
	int err;

	err = wait_for_producer(ch, opt);
	if (err < 0) {
		if (err != -EINTR)
			fprintf(stderr, "consumer: key 0x%08" PRIx32 ": %s\n", (uint32_t)opt->key,
				strerror(-err));
		return err;
	}
	err = shmlock_open(opt->key, 0666, &stop);
	if (err < 0) {
		fprintf(stderr, "consumer: lock set 0x%08" PRIx32 ": %s\n", (uint32_t)opt->key,
			strerror(-err));
		return err;
	}
	ch->lock_semid = err;

	if (shmctl(ch->shmid, IPC_STAT, &ds) < 0) {
		err = -errno;
		fprintf(stderr, "consumer: shmid %d: %s\n", ch->shmid, strerror(-err));
		return err;
	}
	addr = shmat(ch->shmid, NULL, SHM_RDONLY);
	if (addr == (void *)-1) {
		err = -errno;
		fprintf(stderr, "consumer: attach shmid %d: %s\n", ch->shmid, strerror(-err));
		return err;
	}
	ch->buf = addr;
	ch->size = ds.shm_segsz < opt->size ? ds.shm_segsz : (size_t)opt->size;
	return 0;
}

/* A set removed under a waiter reports EIDRM; one already gone when the
 * wait starts reports EINVAL.  Either way the producer cleaned up (-r). */
static bool producer_gone(int err)
{
	return err == -EIDRM || err == -EINVAL;
}

/* Print the text before the first NUL as one line. */
static int print_message(const char *copy, size_t size)
{
	size_t len = strnlen(copy, size);

	fwrite(copy, 1, len, stdout);
	if (len == 0 || copy[len - 1] != '\n')
		putchar('\n');
	return fflush(stdout) == 0 ? 0 : -errno;
}

/* Returns 0 when done, stopped or the producer left; else a negative errno,
 * reported. */
static int consume(struct channel *ch, const struct options *opt)
{
	unsigned long long received;
	char *copy;
	int err = 0;

	copy = malloc(ch->size);
	if (!copy)
		return -ENOMEM;
	for (received = 0; opt->count == 0 || received < opt->count; received++) {
		err = handshake_wait(ch->handshake_semid, HANDSHAKE_WRITTEN, &stop);
		if (err < 0)
			break;
		err = shmlock_shared(ch->lock_semid, &stop);
		if (err < 0) {
			/* Not read after all: leave the message for the next consumer. */
			handshake_post(ch->handshake_semid, HANDSHAKE_WRITTEN);
			break;
		}
		memcpy(copy, ch->buf, ch->size);
		shmlock_shared_release(ch->lock_semid);
		err = handshake_post(ch->handshake_semid, HANDSHAKE_READ);
		if (err < 0)
			break;
		err = print_message(copy, ch->size);
		if (err < 0)
			break;
	}
	free(copy);
	if (err == -EINTR)
		return 0;
	if (producer_gone(err)) {
		fprintf(stderr, "consumer: the producer removed the segment\n");
		return 0;
	}
	if (err < 0)
		fprintf(stderr, "consumer: %s\n", strerror(-err));
	return err;
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
		fprintf(stderr, "consumer: sigaction: %s\n", strerror(-err));
		return EXIT_FAILURE;
	}

	err = channel_open(&ch, &opt);
	if (err == 0)
		err = consume(&ch, &opt);
	if (ch.buf)
		shmdt(ch.buf);
	if (err == -EINTR)
		err = 0;
	return err < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
