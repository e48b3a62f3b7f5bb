/* test_share.c - which set under a segment's key lends its lock: the
 * classification on byte patterns and set states (ShareLite's and
 * Shareable's as their code writes them, and look-alikes of foreign
 * programs), then on real sets in a private IPC namespace, then on shares
 * made by the real Perl modules. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "semun.h"
#include "share.h"
#include "testutil.h"

/* Each test uses keys of its own. */
#define KEY(n) ((int32_t)(0x5a0000 + (n)))

/* ShareLite's header as sharestuff.c writes it, then data. */
static size_t sharelite_bytes(unsigned char *buf, int32_t next, int32_t length, uint32_t state,
			      int32_t version)
{
	struct sharelite_header h = { next, length, state, version };

	memset(buf, 'x', SHARE_HEAD_BYTES);
	memcpy(buf, &h, sizeof(h));
	return SHARE_HEAD_BYTES;
}

/* What a tied scalar holding "hello" starts with (IPC::Shareable 1.13,
 * Storable 3.26, x86-64), as a real segment showed it. */
static const unsigned char shareable_hello[] = "IPC::Shareable\x04\x0b\x08"
					       "12345678\x04\x08\x08\x08\x0a\x05hello";

/* PHP's sysvshm header (sysvshm_chunk_head: four zend_longs, start = 32,
 * end, free, total) for a 4096-byte segment after one shm_put_var. */
static size_t php_sysvshm_bytes(unsigned char *buf)
{
	int64_t head[4] = { 32, 96, 4096 - 96, 4096 - 32 };

	memset(buf, 0, SHARE_HEAD_BYTES);
	memcpy(buf, head, sizeof(head));
	return SHARE_HEAD_BYTES;
}

static struct share_set set3(unsigned short a, unsigned short b, unsigned short c)
{
	return (struct share_set){ .nsems = 3, .val = { a, b, c } };
}

static struct share_set set5(unsigned short a, unsigned short b, unsigned short c,
			     unsigned short m3, unsigned short m4)
{
	return (struct share_set){ .nsems = 5, .val = { a, b, c, m3, m4 } };
}

static void test_set_states(void **state)
{
	(void)state;
	/* what the protocol reaches: idle, readers, a writer */
	assert_true(share_set_in_protocol(&(struct share_set){ .nsems = 3, .val = { 1, 0, 0 } }));
	assert_true(share_set_in_protocol(&(struct share_set){ .nsems = 3, .val = { 1, 4, 0 } }));
	assert_true(share_set_in_protocol(&(struct share_set){ .nsems = 3, .val = { 1, 0, 1 } }));
	/* what it never reaches */
	struct share_set never[] = {
		set3(0, 0, 0), /* not initialised */
		set3(1, 1, 1), /* three free mutexes */
		set3(1, 0, 2), /* two writers */
		set3(2, 0, 0), /* a count */
		{ .nsems = 1, .val = { 1 } },
		{ .nsems = 4, .val = { 1, 0, 0, SHARE_MARK_3 } },
		set5(1, 0, 0, 0, 0),			   /* five semaphores, no mark */
		set5(1, 0, 0, SHARE_MARK_4, SHARE_MARK_3), /* swapped */
		set5(1, 0, 0, SHARE_MARK_3, SHARE_MARK_4 + 1),
		set5(1, 1, 1, SHARE_MARK_3, SHARE_MARK_4), /* marked, but readers and writer */
		set5(0, 0, 0, SHARE_MARK_3, SHARE_MARK_4), /* marked, not initialised */
	};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		assert_false(share_set_in_protocol(&never[i]));
	struct share_set marked = set5(1, 2, 0, SHARE_MARK_3, SHARE_MARK_4);
	assert_true(share_set_in_protocol(&marked));
}

static void test_sharelite_headers(void **state)
{
	unsigned char b[SHARE_HEAD_BYTES];
	int32_t next = 99;

	(void)state;
	/* as new_share() leaves it, and after stores */
	assert_true(share_is_sharelite_first(b, sharelite_bytes(b, -1, 0, 1, 1), 4096));
	assert_true(share_is_sharelite_first(b, sharelite_bytes(b, -1, 16, 1, 2), 4096));
	assert_true(share_is_sharelite_first(b, sharelite_bytes(b, -1, 4080, 1, 2), 4096));
	/* a chain (the real one: 100 bytes in 64-byte segments) */
	assert_true(share_is_sharelite_first(b, sharelite_bytes(b, 3, 100, 2, 4), 64));
	/* mid-store: the length zeroed first */
	assert_true(share_is_sharelite_first(b, sharelite_bytes(b, 3, 0, 2, 5), 64));
	/* the instant a shorter store has set its length, before it cuts
	 * the chain: not taken (the next open finds the share) */
	assert_false(share_is_sharelite_first(b, sharelite_bytes(b, 3, 10, 2, 5), 64));
	/* a chain longer than shmfs follows; text read as a header ("trio",
	 * " 0x7", "f030", "100:") */
	assert_false(share_is_sharelite_first(b, sharelite_bytes(b, 3, 48 * 4097 + 1, 2, 5), 64));
	memcpy(b, "trio 0x7f030100: 1 0 0\n", 24);
	assert_false(share_is_sharelite_first(b, 24, 4096));

	/* what ShareLite never writes */
	assert_false(share_is_sharelite_first(b, sharelite_bytes(b, -1, 4081, 1, 2), 4096));
	assert_false(share_is_sharelite_first(b, sharelite_bytes(b, -1, 0, 0, 1), 4096));
	assert_false(share_is_sharelite_first(b, sharelite_bytes(b, -1, 0, 1, 0), 4096));
	assert_false(share_is_sharelite_first(b, sharelite_bytes(b, -1, 0, 3, 2), 4096));
	assert_false(share_is_sharelite_first(b, sharelite_bytes(b, -1, -5, 1, 1), 4096));
	assert_false(share_is_sharelite_first(b, sharelite_bytes(b, -2, 0, 1, 1), 4096));
	assert_false(share_is_sharelite_first(b, sharelite_bytes(b, -1, 0, 1, 1), 16));
	assert_false(share_is_sharelite_first(b, 15, 4096));
	assert_false(share_is_sharelite_first(NULL, 0, 4096));
	assert_false(share_is_sharelite_first(b, php_sysvshm_bytes(b), 4096));
	memset(b, 0, sizeof(b));
	assert_false(share_is_sharelite_first(b, sizeof(b), 4096));
	memcpy(b, "message 1 from producer 4242 at", 32);
	assert_false(share_is_sharelite_first(b, sizeof(b), 4096));

	/* continuations: next_shmid, then zeros */
	assert_true(share_is_sharelite_next(b, sharelite_bytes(b, 4, 0, 0, 0), 64, &next));
	assert_int_equal(next, 4);
	assert_true(share_is_sharelite_next(b, sharelite_bytes(b, -1, 0, 0, 0), 64, &next));
	assert_int_equal(next, -1);
	assert_false(share_is_sharelite_next(b, sharelite_bytes(b, -1, 0, 1, 1), 64, NULL));
	assert_false(share_is_sharelite_next(b, sharelite_bytes(b, -1, 5, 0, 0), 64, NULL));
	assert_false(share_is_sharelite_next(b, sharelite_bytes(b, -3, 0, 0, 0), 64, NULL));
	assert_false(share_is_sharelite_next(b, php_sysvshm_bytes(b), 4096, NULL));
}

static void test_shareable_images(void **state)
{
	unsigned char b[SHARE_HEAD_BYTES];

	(void)state;
	assert_true(share_is_shareable(shareable_hello, sizeof(shareable_hello) - 1));
	memcpy(b, "IPC::Shareable\x05\x0b", 16); /* network order (nfreeze) */
	assert_true(share_is_shareable(b, 16));

	memcpy(b, shareable_hello, sizeof(b));
	b[14] = 0x03; /* no Storable major 2 */
	assert_false(share_is_shareable(b, sizeof(b)));
	memcpy(b, shareable_hello, sizeof(b));
	b[16] = 7; /* byte order string of 7 */
	assert_false(share_is_shareable(b, sizeof(b)));
	memcpy(b, shareable_hello, sizeof(b));
	b[20] = '9';
	assert_false(share_is_shareable(b, sizeof(b)));
	memcpy(b, "IPC::Shareable{\"a\":1}", 21); /* bare JSON after the tag */
	assert_false(share_is_shareable(b, 21));
	memcpy(b, "{\"a\":1}", 7); /* the JSON serializer: any program's */
	assert_false(share_is_shareable(b, 7));
	assert_false(share_is_shareable(shareable_hello, 15));
	assert_false(share_is_shareable(NULL, 0));
}

/* The decision: a set lends its lock only with a proof. */
static void test_classify(void **state)
{
	unsigned char lite[SHARE_HEAD_BYTES], php[SHARE_HEAD_BYTES], zero[SHARE_HEAD_BYTES];
	const char text[SHARE_HEAD_BYTES] = "message 1 from producer 4242";
	const struct share_set idle = set3(1, 0, 0), reader = set3(1, 1, 0), writer = set3(1, 0, 1),
			       mutexes = set3(1, 1, 1);
	const struct share_set marked = set5(1, 0, 0, SHARE_MARK_3, SHARE_MARK_4);

	(void)state;
	sharelite_bytes(lite, -1, 5, 1, 2);
	php_sysvshm_bytes(php);
	memset(zero, 0, sizeof(zero));

	assert_int_equal(share_classify(&idle, lite, sizeof(lite), 4096), SHARE_SHARELITE);
	assert_int_equal(share_classify(&reader, lite, sizeof(lite), 4096), SHARE_SHARELITE);
	assert_int_equal(share_classify(&writer, lite, sizeof(lite), 4096), SHARE_SHARELITE);
	assert_int_equal(share_classify(&idle, shareable_hello, sizeof(shareable_hello) - 1, 256),
			 SHARE_SHAREABLE);
	assert_int_equal(share_classify(&marked, text, sizeof(text), 4096), SHARE_SHMFS);
	assert_int_equal(share_classify(&marked, NULL, 0, 4096), SHARE_SHMFS);

	/* PHP's worker (sysvsem at 1 1 0 with a sysvshm or a shmop
	 * segment), a program's three semaphores in every state, a share
	 * never stored (zeros): left alone */
	assert_int_equal(share_classify(&reader, php, sizeof(php), 4096), SHARE_NONE);
	assert_int_equal(share_classify(&reader, text, sizeof(text), 4096), SHARE_NONE);
	assert_int_equal(share_classify(&idle, text, sizeof(text), 4096), SHARE_NONE);
	assert_int_equal(share_classify(&writer, text, sizeof(text), 4096), SHARE_NONE);
	assert_int_equal(share_classify(&mutexes, text, sizeof(text), 4096), SHARE_NONE);
	assert_int_equal(share_classify(&idle, zero, sizeof(zero), 4096), SHARE_NONE);
	assert_int_equal(share_classify(&idle, NULL, 0, 4096), SHARE_NONE);
	/* a share's bytes under a set the protocol never reaches */
	assert_int_equal(share_classify(&mutexes, lite, sizeof(lite), 4096), SHARE_NONE);
	const struct share_set unmarked5 = set5(1, 0, 0, 0, 0);
	assert_int_equal(share_classify(&unmarked5, lite, sizeof(lite), 4096), SHARE_NONE);
	assert_string_equal(share_kind_name(SHARE_SHARELITE), "IPC::ShareLite");
	assert_string_equal(share_kind_name(SHARE_NONE), "none");
}

/* ---- real sets and segments ----------------------------------------- */

static int make_segment(int32_t key, size_t size, const void *bytes, size_t len,
			struct segment_info *seg)
{
	int shmid = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
	void *addr;

	assert_true(shmid >= 0);
	addr = shmat(shmid, NULL, 0);
	assert_true(addr != (void *)-1);
	memcpy(addr, bytes, len);
	shmdt(addr);
	assert_int_equal(segment_stat(shmid, false, seg), 0);
	return shmid;
}

static int make_set(int32_t key, int nsems, const unsigned short *vals)
{
	int semid = semget(key, nsems, IPC_CREAT | IPC_EXCL | 0666);
	union semun arg = { .array = (unsigned short *)vals };

	assert_true(semid >= 0);
	assert_int_equal(semctl(semid, 0, SETALL, arg), 0);
	return semid;
}

static void test_real_sets(void **state)
{
	unsigned char lite[SHARE_HEAD_BYTES];
	const char text[] = "message 1 from producer 4242";
	const unsigned short idle[] = { 1, 0, 0 }, busy[] = { 1, 1, 0 },
			     mark[] = { 1, 0, 0, SHARE_MARK_3, SHARE_MARK_4 };
	struct segment_info seg[4];
	int shm[4], sem[4];
	enum share_kind kind;

	(void)state;
	sharelite_bytes(lite, -1, 5, 1, 2);
	shm[0] = make_segment(KEY(1), 4096, lite, sizeof(lite), &seg[0]);
	sem[0] = make_set(KEY(1), 3, idle);
	shm[1] = make_segment(KEY(2), 4096, text, sizeof(text), &seg[1]);
	sem[1] = make_set(KEY(2), 3, busy);
	shm[2] = make_segment(KEY(3), 4096, text, sizeof(text), &seg[2]);
	sem[2] = make_set(KEY(3), 5, mark);
	shm[3] = make_segment(KEY(4), 4096, text, sizeof(text), &seg[3]);
	sem[3] = -1; /* no set */

	assert_int_equal(share_lock_set(&seg[0], lite, sizeof(lite), &kind), sem[0]);
	assert_int_equal(kind, SHARE_SHARELITE);
	assert_true(share_set_lends(sem[0], &seg[0]));
	assert_int_equal(share_lock_set(&seg[1], text, sizeof(text), &kind), -ENOENT);
	assert_int_equal(kind, SHARE_NONE);
	assert_int_equal(share_lock_set(&seg[2], text, sizeof(text), &kind), sem[2]);
	assert_int_equal(kind, SHARE_SHMFS);
	assert_int_equal(share_lock_set(&seg[2], NULL, 0, NULL), sem[2]);
	assert_int_equal(share_lock_set(&seg[3], text, sizeof(text), NULL), -ENOENT);
	/* without the bytes only the mark proves anything */
	assert_int_equal(share_lock_set(&seg[0], NULL, 0, NULL), -ENOENT);

	/* looking changed no value */
	unsigned short now[5];
	union semun arg = { .array = now };
	assert_int_equal(semctl(sem[1], 0, GETALL, arg), 0);
	assert_memory_equal(now, busy, sizeof(busy));

	for (int i = 0; i < 4; i++) {
		shmctl(shm[i], IPC_RMID, NULL);
		if (sem[i] >= 0)
			semctl(sem[i], 0, IPC_RMID);
	}
}

/* A set another user made for the key lends nothing, however it looks. */
static void test_planted_set(void **state)
{
	unsigned char lite[SHARE_HEAD_BYTES];
	struct segment_info seg;
	int shmid, semid, status;
	pid_t pid;

	(void)state;
	sharelite_bytes(lite, -1, 5, 1, 2);
	shmid = make_segment(KEY(5), 4096, lite, sizeof(lite), &seg);
	pid = testutil_fork();
	if (pid == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(2);
		const unsigned short marked[] = { 1, 0, 0, SHARE_MARK_3, SHARE_MARK_4 };
		int id = semget(KEY(5), 5, IPC_CREAT | IPC_EXCL | 0666);
		union semun arg = { .array = (unsigned short *)marked };
		_exit(id >= 0 && semctl(id, 0, SETALL, arg) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	semid = semget(KEY(5), 0, 0);
	assert_true(semid >= 0);
	assert_int_equal(share_lock_set(&seg, lite, sizeof(lite), NULL), -ENOENT);
	assert_false(share_set_lends(semid, &seg));
	semctl(semid, 0, IPC_RMID);
	shmctl(shmid, IPC_RMID, NULL);
}

/* A continuation finds its first segment's set whichever way the keys
 * below are searched: one pass over few sets, or a semget per key when
 * there are many; a zero-filled keyed segment (which reads as a
 * continuation) finds none, with no set in the namespace or with sets
 * that are not a chain's. */
static void test_chain_either_way(void **state)
{
	unsigned char first[SHARE_HEAD_BYTES], cont[SHARE_HEAD_BYTES],
		zero[SHARE_HEAD_BYTES] = { 0 };
	const unsigned short idle[] = { 1, 0, 0 };
	struct segment_info seg[3];
	int shm[3], sem, many[SHARE_CHAIN_LISTED + 1];

	(void)state;
	/* the real layout: 100 bytes stored in 64-byte segments */
	sharelite_bytes(cont, -1, 0, 0, 0);
	memset(cont + sizeof(struct sharelite_header), 0,
	       SHARE_HEAD_BYTES - sizeof(struct sharelite_header));
	shm[1] = make_segment(KEY(41), 64, cont, sizeof(cont), &seg[1]);
	sharelite_bytes(first, shm[1], 100, 1, 1);
	shm[0] = make_segment(KEY(40), 64, first, sizeof(first), &seg[0]);
	shm[2] = make_segment(KEY(50), 64, zero, sizeof(zero), &seg[2]);
	/* no set at all */
	assert_int_equal(share_chain_set(&seg[1], cont, sizeof(cont)), -ENOENT);
	assert_int_equal(share_chain_set(&seg[2], zero, sizeof(zero)), -ENOENT);

	sem = make_set(KEY(40), 3, idle);
	assert_int_equal(share_chain_set(&seg[1], cont, sizeof(cont)), sem);
	assert_int_equal(share_chain_set(&seg[2], zero, sizeof(zero)), -ENOENT);

	/* more sets than one pass is for: a semget per key below */
	for (int i = 0; i < SHARE_CHAIN_LISTED + 1; i++)
		many[i] = make_set(IPC_PRIVATE, 1, idle);
	assert_int_equal(share_chain_set(&seg[1], cont, sizeof(cont)), sem);
	assert_int_equal(share_chain_set(&seg[2], zero, sizeof(zero)), -ENOENT);

	for (int i = 0; i < SHARE_CHAIN_LISTED + 1; i++)
		semctl(many[i], 0, IPC_RMID);
	semctl(sem, 0, IPC_RMID);
	for (int i = 0; i < 3; i++)
		shmctl(shm[i], IPC_RMID, NULL);
}

/* ---- the real modules ------------------------------------------------ */

static bool have_module(const char *module)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "perl -M%s -e 1 2>/dev/null", module);
	return system(cmd) == 0;
}

/* Run a perl one-liner (the share's key in $ENV{KEY}); then the kind
 * share_lock_set() finds for the segment of key. */
static enum share_kind perl_share(int32_t key, const char *script)
{
	char keystr[16], head[SHARE_HEAD_BYTES];
	struct segment_info seg;
	enum share_kind kind;
	int shmid, status;
	pid_t pid;
	void *addr;

	snprintf(keystr, sizeof(keystr), "%d", key);
	pid = testutil_fork();
	if (pid == 0) {
		setenv("KEY", keystr, 1);
		execlp("perl", "perl", "-e", script, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	shmid = shmget(key, 0, 0);
	assert_true(shmid >= 0);
	assert_int_equal(segment_stat(shmid, false, &seg), 0);
	addr = shmat(shmid, NULL, SHM_RDONLY);
	assert_true(addr != (void *)-1);
	memcpy(head, addr, sizeof(head));
	shmdt(addr);
	share_lock_set(&seg, head, sizeof(head), &kind);
	return kind;
}

static void test_real_modules(void **state)
{
	(void)state;
	if (!have_module("IPC::ShareLite") || !have_module("IPC::Shareable")) {
		if (testutil_in_ci())
			fail_msg("perl with IPC::ShareLite and IPC::Shareable is needed");
		skip();
	}
	assert_int_equal(perl_share(KEY(10),
				    "use IPC::ShareLite; IPC::ShareLite->new(-key => "
				    "$ENV{KEY}, -create => 1, -size => 4096)->store('hi')"),
			 SHARE_SHARELITE);
	/* fresh: new() wrote the header, nothing stored yet */
	assert_int_equal(perl_share(KEY(11), "use IPC::ShareLite; IPC::ShareLite->new(-key => "
					     "$ENV{KEY}, -create => 1, -size => 4096)"),
			 SHARE_SHARELITE);
	/* a value that spills into two more segments */
	assert_int_equal(perl_share(KEY(12),
				    "use IPC::ShareLite; IPC::ShareLite->new(-key => "
				    "$ENV{KEY}, -create => 1, -size => 64)->store('x' x 100)"),
			 SHARE_SHARELITE);
	assert_int_equal(perl_share(KEY(20), "use IPC::Shareable; tie my %h, 'IPC::Shareable', "
					     "{ key => $ENV{KEY}, create => 1, size => 256 }; "
					     "$h{a} = 1"),
			 SHARE_SHAREABLE);
	assert_int_equal(perl_share(KEY(21), "use IPC::Shareable; tie my $s, 'IPC::Shareable', "
					     "{ key => $ENV{KEY}, create => 1, size => 256 }; "
					     "$s = 'hello'"),
			 SHARE_SHAREABLE);
	/* tied, never stored: zeros, left alone until the first store */
	assert_int_equal(perl_share(KEY(22), "use IPC::Shareable; tie my $s, 'IPC::Shareable', "
					     "{ key => $ENV{KEY}, create => 1, size => 256 }"),
			 SHARE_NONE);
	/* IPC::SysV directly: a 3-semaphore set at 1 0 0 and text */
	assert_int_equal(perl_share(KEY(30), "use IPC::SysV qw(IPC_CREAT SETALL); "
					     "my $m = shmget($ENV{KEY}, 4096, IPC_CREAT | 0600); "
					     "shmwrite($m, 'queue of 3 jobs', 0, 15) or die; "
					     "my $s = semget($ENV{KEY}, 3, IPC_CREAT | 0600); "
					     "semctl($s, 0, SETALL, pack('s!3', 1, 0, 0)) or die"),
			 SHARE_NONE);
}

static int remove_all(void **state)
{
	(void)state;
	return system("ipcrm -a 2>/dev/null") < 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_states),
		cmocka_unit_test(test_sharelite_headers),
		cmocka_unit_test(test_shareable_images),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_real_sets),
		cmocka_unit_test(test_planted_set),
		cmocka_unit_test(test_chain_either_way),
		cmocka_unit_test_teardown(test_real_modules, remove_all),
	};

	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
