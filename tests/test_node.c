/* test_node.c - the node table: one node per (kind, lifetime), ids never
 * reused, lookup counts freed at forget. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "node.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct segment_identity seg_fp(int shmid, pid_t cpid, uid_t cuid, gid_t cgid, uint64_t size)
{
	struct segment_info seg = {
		.shmid = shmid,
		.cpid = cpid,
		.cuid = cuid,
		.cgid = cgid,
		.size = size,
		/* what may change within a lifetime is not in the fingerprint */
		.key = 0x1234,
		.mode = 0600,
		.uid = 7,
		.gid = 8,
		.ctime = 99,
	};
	struct segment_identity life;

	identity_weak(&seg, &life);
	return life;
}

static struct node lookup(struct node_table *t, enum name_kind kind, struct segment_identity fp)
{
	struct node n;

	assert_int_equal(node_lookup(t, kind, &fp, &n), 0);
	assert_int_equal(n.kind, kind);
	assert_true(identity_same(&n.life, &fp));
	return n;
}

static void test_fingerprint_ignores_what_changes(void **state)
{
	struct segment_info a = { .shmid = 5, .cpid = 10, .cuid = 1000, .cgid = 100, .size = 4096 };
	struct segment_info b = a;
	struct segment_identity fa, fb;

	/* IPC_SET, IPC_RMID, shmat and shmdt change these, never the lifetime */
	b.key = 0;
	b.mode = 0644 | SEGMENT_MODE_DEST;
	b.uid = 65534;
	b.gid = 65534;
	b.nattch = 3;
	b.lpid = 77;
	b.atime = b.dtime = b.ctime = 12345;
	identity_weak(&a, &fa);
	identity_weak(&b, &fb);
	assert_memory_equal(&fa, &fb, sizeof(fa));
	assert_int_equal(fa.shmid, 5);
	assert_int_equal(fa.cpid, 10);
	assert_int_equal(fa.cuid, 1000);
	assert_int_equal(fa.cgid, 100);
	assert_int_equal(fa.size, 4096);
}

static void test_same_lifetime_same_node(void **state)
{
	struct node_table *t = node_table_new();
	struct node a = lookup(t, NAME_SEGMENT, seg_fp(5, 10, 1000, 100, 4096));
	struct node b = lookup(t, NAME_SEGMENT, seg_fp(5, 10, 1000, 100, 4096));
	struct node got;

	assert_true(a.id >= NODE_FIRST_ID);
	assert_int_equal(a.id, b.id);
	assert_int_equal(node_count(t), 1);
	assert_int_equal(node_get(t, a.id, &got), 0);
	assert_int_equal(got.id, a.id);
	assert_int_equal(node_check(&got, &a.life), 0);
	node_table_free(t);
}

/* Every kind of name of one lifetime is a node of its own. */
static void test_kinds_are_nodes_of_their_own(void **state)
{
	static const enum name_kind kinds[] = { NAME_SEGMENT, NAME_SIDECAR,  NAME_KEYLINK,
						NAME_NEXT,    NAME_NEXTLINK, NAME_PROCS };
	struct node_table *t = node_table_new();
	struct segment_identity fp = seg_fp(5, 10, 1000, 100, 4096);
	struct node n[ARRAY_SIZE(kinds)];

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		n[i] = lookup(t, kinds[i], fp);
		for (size_t j = 0; j < i; j++) {
			assert_true(n[i].id != n[j].id);
			assert_true(node_st_ino(&n[i]) != node_st_ino(&n[j]));
		}
	}
	assert_int_equal(node_count(t), ARRAY_SIZE(kinds));
	node_table_free(t);
}

/* The shmid comes back to another lifetime: a new node; the old one
 * still answers for its own, and says it is over. */
static void test_reused_shmid_is_a_new_node(void **state)
{
	static const struct {
		pid_t cpid;
		uid_t cuid;
		gid_t cgid;
		uint64_t size;
	} other[] = {
		{ 11, 1000, 100, 4096 },  /* another process of the same user */
		{ 10, 65534, 100, 4096 }, /* the pid recycled, another user */
		{ 10, 1000, 65534, 4096 },
		{ 10, 1000, 100, 8192 }, /* the same process, another size */
	};
	struct node_table *t = node_table_new();
	struct segment_identity old_fp = seg_fp(5, 10, 1000, 100, 4096);
	struct node old = lookup(t, NAME_SEGMENT, old_fp), got;

	for (size_t i = 0; i < ARRAY_SIZE(other); i++) {
		struct segment_identity now =
			seg_fp(5, other[i].cpid, other[i].cuid, other[i].cgid, other[i].size);
		struct node fresh = lookup(t, NAME_SEGMENT, now);

		assert_true(fresh.id > old.id);
		assert_int_equal(node_check(&old, &now), -ESTALE);
		assert_int_equal(node_check(&fresh, &now), 0);
		assert_true(node_st_ino(&fresh) != node_st_ino(&old));
		/* the old node is still the old lifetime */
		assert_int_equal(node_get(t, old.id, &got), 0);
		assert_memory_equal(&got.life, &old_fp, sizeof(old_fp));
	}
	/* nothing has the shmid any more */
	assert_int_equal(node_check(&old, NULL), -ENOENT);
	node_table_free(t);
}

static void test_forget_frees_at_zero(void **state)
{
	struct node_table *t = node_table_new();
	struct segment_identity fp = seg_fp(0, 1, 0, 0, 1);
	struct node n = lookup(t, NAME_SEGMENT, fp), got;

	lookup(t, NAME_SEGMENT, fp);
	lookup(t, NAME_SEGMENT, fp);
	node_forget(t, n.id, 2);
	assert_int_equal(node_get(t, n.id, &got), 0);
	node_forget(t, n.id, 1);
	assert_int_equal(node_get(t, n.id, &got), -ENOENT);
	assert_int_equal(node_count(t), 0);
	/* an id the table does not hold: nothing happens */
	node_forget(t, n.id, 1);
	node_forget(t, 123456789, 1);
	assert_int_equal(node_get(t, NODE_ROOT_ID, &got), -ENOENT);
	assert_int_equal(node_get(t, NODE_BYKEY_ID, &got), -ENOENT);
	assert_int_equal(node_get(t, 0, &got), -ENOENT);
	node_table_free(t);
}

/* After a forget the same lifetime comes back under a new id, with the
 * same st_ino: ids are never handed out twice, inode numbers are the
 * lifetime's. */
static void test_ids_never_reused(void **state)
{
	struct node_table *t = node_table_new();
	struct segment_identity fp = seg_fp(5, 10, 1000, 100, 4096);
	uint64_t last = 0, ino = 0;

	for (int i = 0; i < 1000; i++) {
		struct node n = lookup(t, i % 2 ? NAME_SIDECAR : NAME_SEGMENT, fp);

		assert_true(n.id > last);
		last = n.id;
		if (i == 0)
			ino = node_st_ino(&n);
		if (i % 2 == 0)
			assert_int_equal(node_st_ino(&n), ino);
		node_forget(t, n.id, 1);
	}
	assert_int_equal(node_count(t), 0);
	node_table_free(t);
}

static struct segment_identity strong(struct segment_identity weak, uint64_t btime,
				      unsigned char gen)
{
	weak.strong = true;
	weak.btime_ns = btime;
	weak.handle_type = 1;
	weak.handle_len = 8;
	memset(weak.handle, gen, weak.handle_len);
	return weak;
}

static void test_prove(void **state)
{
	struct node_table *t = node_table_new();
	struct segment_identity weak = seg_fp(5, 10, 1000, 100, 4096);
	struct node n = lookup(t, NAME_SEGMENT, weak), got;
	struct segment_identity p1 = strong(weak, 1700000000123456789ull, 42),
				p2 = strong(weak, 1700000000123456789ull, 43),
				p3 = strong(weak, 1700000000123456788ull, 42),
				other = strong(seg_fp(5, 11, 1000, 100, 4096), 1, 42);

	/* an open without a backing file proves only the weak part */
	assert_int_equal(node_prove(t, n.id, &weak), 0);
	assert_int_equal(node_get(t, n.id, &got), 0);
	assert_false(got.life.strong);
	assert_int_equal(node_prove(t, n.id, &p1), 0);
	assert_int_equal(node_prove(t, n.id, &p1), 0);
	/* a look-alike lifetime: same weak part, another backing file */
	assert_int_equal(node_prove(t, n.id, &p2), -ESTALE);
	assert_int_equal(node_prove(t, n.id, &p3), -ESTALE);
	/* another lifetime altogether */
	assert_int_equal(node_prove(t, n.id, &other), -ESTALE);
	assert_int_equal(node_prove(t, n.id, &weak), 0);
	assert_int_equal(node_get(t, n.id, &got), 0);
	assert_true(identity_strong_same(&got.life, &p1));
	assert_int_equal(node_prove(t, 999999, &p1), -ENOENT);
	/* a lookup of the same lifetime finds the proven node, proof kept */
	got = lookup(t, NAME_SEGMENT, weak);
	assert_int_equal(got.id, n.id);
	assert_true(identity_strong_same(&got.life, &p1));
	assert_int_equal(node_count(t), 1);
	node_table_free(t);
}

/* A name being created: keyed by its key, whatever its sign. */
static void test_pending_nodes(void **state)
{
	static const int32_t keys[] = { 1, 0x1234, INT32_MAX, -1, INT32_MIN };
	struct node_table *t = node_table_new();
	uint64_t inos[ARRAY_SIZE(keys)];

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		struct segment_identity fp = { .shmid = keys[i] };
		struct node n = lookup(t, NAME_PENDING, fp);

		inos[i] = node_st_ino(&n);
		assert_true(inos[i] != 0);
		for (size_t j = 0; j < i; j++)
			assert_true(inos[i] != inos[j]);
		assert_int_equal(lookup(t, NAME_PENDING, fp).id, n.id);
	}
	node_table_free(t);
}

/* Coexisting segments (distinct shmids) never share an st_ino. */
static void test_st_ino_distinct_for_coexisting(void **state)
{
	struct node_table *t = node_table_new();
	static const int ids[] = { 0, 1, 7, 8, 32768, 65536, INT32_MAX - 1, INT32_MAX };
	uint64_t inos[ARRAY_SIZE(ids) * 2];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		for (int k = 0; k < 2; k++) {
			struct node nd = lookup(t, k ? NAME_SIDECAR : NAME_SEGMENT,
						seg_fp(ids[i], 100 + (int)i, 0, 0, 4096 * (i + 1)));

			inos[n] = node_st_ino(&nd);
			assert_true(inos[n] > NODE_BYKEY_ID);
			for (size_t j = 0; j < n; j++)
				assert_true(inos[n] != inos[j]);
			n++;
		}
	}
	node_table_free(t);
}

/* Many nodes: the table grows, every node stays reachable. */
static void test_many(void **state)
{
	struct node_table *t = node_table_new();
	enum {
		N = 20000
	};
	uint64_t *ids = calloc(N, sizeof(*ids));
	struct node got;

	for (int i = 0; i < N; i++)
		ids[i] = lookup(t, NAME_SEGMENT, seg_fp(i % 500, i, 0, 0, 4096)).id;
	assert_int_equal(node_count(t), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(node_get(t, ids[i], &got), 0);
		assert_int_equal(got.life.cpid, i);
		assert_int_equal(lookup(t, NAME_SEGMENT, seg_fp(i % 500, i, 0, 0, 4096)).id,
				 ids[i]);
	}
	for (int i = 0; i < N; i++)
		node_forget(t, ids[i], 2);
	assert_int_equal(node_count(t), 0);
	free(ids);
	node_table_free(t);
}

/* A random sequence of lookups and forgets against a model: after every
 * step each live node is the lifetime it was made for, each (kind,
 * lifetime) has at most one live node, and no id comes twice. */
#define MODEL_MAX 4096
struct model_node {
	uint64_t id;
	enum name_kind kind;
	struct segment_identity fp;
	uint64_t nlookup;
};

static void test_random_against_model(void **state)
{
	static struct model_node m[MODEL_MAX];
	struct node_table *t = node_table_new();
	unsigned int seed = (unsigned int)time(NULL);
	size_t live = 0;
	uint64_t max_id = 0;
	const char *env = getenv("TEST_NODE_SEED");

	if (env)
		seed = (unsigned int)strtoul(env, NULL, 0);
	printf("# seed %u (TEST_NODE_SEED)\n", seed);
	srand(seed);
	for (int step = 0; step < 200000; step++) {
		int op = rand() % 3;

		if (op < 2 || live == 0) {
			/* few shmids, few creators: lifetimes collide often */
			enum name_kind kind = rand() % 2 ? NAME_SEGMENT : NAME_SIDECAR;
			struct segment_identity fp = seg_fp(rand() % 4, rand() % 3, rand() % 2, 0,
							    4096 * (1 + rand() % 2));
			struct node n = lookup(t, kind, fp);
			size_t i;

			for (i = 0; i < live; i++)
				if (m[i].kind == kind && !memcmp(&m[i].fp, &fp, sizeof(fp)))
					break;
			if (i < live) {
				assert_int_equal(n.id, m[i].id);
				m[i].nlookup++;
			} else {
				assert_true(n.id > max_id);
				assert_true(live < MODEL_MAX);
				max_id = n.id;
				m[live++] = (struct model_node){ n.id, kind, fp, 1 };
			}
		} else {
			size_t i = (size_t)rand() % live;
			uint64_t k = 1 + (uint64_t)rand() % m[i].nlookup;

			node_forget(t, m[i].id, k);
			m[i].nlookup -= k;
			if (m[i].nlookup == 0)
				m[i] = m[--live];
		}
		if (step % 1000 == 0 || live < 8) {
			assert_int_equal(node_count(t), live);
			for (size_t i = 0; i < live; i++) {
				struct node got;

				assert_int_equal(node_get(t, m[i].id, &got), 0);
				assert_int_equal(got.kind, m[i].kind);
				assert_memory_equal(&got.life, &m[i].fp, sizeof(got.life));
			}
		}
	}
	node_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint_ignores_what_changes),
		cmocka_unit_test(test_same_lifetime_same_node),
		cmocka_unit_test(test_kinds_are_nodes_of_their_own),
		cmocka_unit_test(test_reused_shmid_is_a_new_node),
		cmocka_unit_test(test_forget_frees_at_zero),
		cmocka_unit_test(test_ids_never_reused),
		cmocka_unit_test(test_prove),
		cmocka_unit_test(test_pending_nodes),
		cmocka_unit_test(test_st_ino_distinct_for_coexisting),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
