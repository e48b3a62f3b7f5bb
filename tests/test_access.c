/* test_access.c - the kernel's ipcperms() rule, case by case. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "access.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define R  ACCESS_READ
#define W  ACCESS_WRITE
#define RW (ACCESS_READ | ACCESS_WRITE)

/* The segment every case looks at, unless it says otherwise: owned by
 * 1000:100, created by 2000:200. */
#define OWNER	 1000
#define CREATOR	 2000
#define GROUP	 100
#define CGROUP	 200
#define STRANGER 3000
#define OTHERGRP 300

static const gid_t no_groups[] = { 0 };
static const gid_t in_group[] = { 50, GROUP, 60 };
static const gid_t in_cgroup[] = { CGROUP };
static const gid_t elsewhere[] = { 1, 2, 3, OTHERGRP };

struct access_case {
	const char *what;
	unsigned int mode;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	int want;
	int expect;
};

#define GROUPS(g) g, ARRAY_SIZE(g)
#define NOGROUPS  no_groups, 0

static const struct access_case cases[] = {
	/* owner class */
	{ "owner reads 0600", 0600, OWNER, OTHERGRP, NOGROUPS, R, 0 },
	{ "owner writes 0600", 0600, OWNER, OTHERGRP, NOGROUPS, W, 0 },
	{ "owner reads+writes 0600", 0600, OWNER, OTHERGRP, NOGROUPS, RW, 0 },
	{ "owner writes 0400", 0400, OWNER, OTHERGRP, NOGROUPS, W, -EACCES },
	{ "owner reads+writes 0400", 0400, OWNER, OTHERGRP, NOGROUPS, RW, -EACCES },
	{ "owner reads 0200", 0200, OWNER, OTHERGRP, NOGROUPS, R, -EACCES },
	{ "owner nothing asked 0000", 0000, OWNER, OTHERGRP, NOGROUPS, 0, 0 },
	{ "owner x bit ignored 0100", 0100, OWNER, OTHERGRP, NOGROUPS, R, -EACCES },
	/* owner class takes precedence over group and other */
	{ "owner in group, only group bits", 0060, OWNER, GROUP, NOGROUPS, R, -EACCES },
	{ "owner in supp group, only group bits", 0060, OWNER, OTHERGRP, GROUPS(in_group), RW,
	  -EACCES },
	{ "owner, only other bits", 0006, OWNER, OTHERGRP, NOGROUPS, R, -EACCES },
	{ "owner, group and other bits", 0066, OWNER, GROUP, GROUPS(in_group), W, -EACCES },
	/* the creator counts as owner */
	{ "creator reads 0600", 0600, CREATOR, OTHERGRP, NOGROUPS, R, 0 },
	{ "creator reads+writes 0600", 0600, CREATOR, OTHERGRP, NOGROUPS, RW, 0 },
	{ "creator writes 0400", 0400, CREATOR, OTHERGRP, NOGROUPS, W, -EACCES },
	{ "creator in cgid, only group bits", 0060, CREATOR, CGROUP, NOGROUPS, R, -EACCES },
	/* group class: gid or cgid, primary or supplementary */
	{ "gid member reads 0640", 0640, STRANGER, GROUP, NOGROUPS, R, 0 },
	{ "gid member writes 0640", 0640, STRANGER, GROUP, NOGROUPS, W, -EACCES },
	{ "gid member writes 0620", 0620, STRANGER, GROUP, NOGROUPS, W, 0 },
	{ "cgid member reads 0640", 0640, STRANGER, CGROUP, NOGROUPS, R, 0 },
	{ "cgid member writes 0660", 0660, STRANGER, CGROUP, NOGROUPS, RW, 0 },
	{ "supp gid member reads 0640", 0640, STRANGER, OTHERGRP, GROUPS(in_group), R, 0 },
	{ "supp cgid member reads 0640", 0640, STRANGER, OTHERGRP, GROUPS(in_cgroup), R, 0 },
	{ "supp cgid member writes 0640", 0640, STRANGER, OTHERGRP, GROUPS(in_cgroup), W, -EACCES },
	/* group class takes precedence over other */
	{ "group member, only other bits", 0604, STRANGER, GROUP, NOGROUPS, R, -EACCES },
	{ "supp group member, only other bits", 0606, STRANGER, OTHERGRP, GROUPS(in_group), W,
	  -EACCES },
	/* other class */
	{ "stranger reads 0644", 0644, STRANGER, OTHERGRP, GROUPS(elsewhere), R, 0 },
	{ "stranger writes 0644", 0644, STRANGER, OTHERGRP, GROUPS(elsewhere), W, -EACCES },
	{ "stranger reads+writes 0666", 0666, STRANGER, OTHERGRP, GROUPS(elsewhere), RW, 0 },
	{ "stranger reads 0660", 0660, STRANGER, OTHERGRP, GROUPS(elsewhere), R, -EACCES },
	{ "stranger reads 0000", 0000, STRANGER, OTHERGRP, NOGROUPS, R, -EACCES },
	/* the DEST and LOCKED bits beside the permission bits grant nothing */
	{ "stranger reads 03600", 03600, STRANGER, OTHERGRP, NOGROUPS, R, -EACCES },
	{ "owner reads 03600", 03600, OWNER, OTHERGRP, NOGROUPS, R, 0 },
	/* uid 0 always passes (CAP_IPC_OWNER) */
	{ "root reads 0000", 0000, 0, 0, NOGROUPS, R, 0 },
	{ "root reads+writes 0000", 0000, 0, 0, NOGROUPS, RW, 0 },
	{ "root reads+writes 0400", 0400, 0, OTHERGRP, NOGROUPS, RW, 0 },
	{ "root in group, 0000", 0000, 0, GROUP, NOGROUPS, W, 0 },
};

static struct segment_info segment(unsigned int mode)
{
	struct segment_info seg;

	memset(&seg, 0, sizeof(seg));
	seg.key = 0x162e;
	seg.shmid = 32768;
	seg.mode = mode;
	seg.uid = OWNER;
	seg.gid = GROUP;
	seg.cuid = CREATOR;
	seg.cgid = CGROUP;
	return seg;
}

static void test_access_table(void **state)
{
	size_t i;

	(void)state;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct access_case *c = &cases[i];
		struct segment_info seg = segment(c->mode);
		struct access_caller caller = {
			.uid = c->uid,
			.gid = c->gid,
			.groups = c->groups,
			.ngroups = c->ngroups,
		};
		int got = access_check(&caller, &seg, c->want);
		struct access_perm perm;

		if (got != c->expect)
			fail_msg("%s: access_check = %d, want %d", c->what, got, c->expect);
		/* a set's or a queue's ipc_perm: the same rule */
		access_perm_of_segment(&seg, &perm);
		got = access_check_perm(&caller, &perm, c->want);
		if (got != c->expect)
			fail_msg("%s: access_check_perm = %d, want %d", c->what, got, c->expect);
	}
}

static void test_access_null_groups(void **state)
{
	struct segment_info seg = segment(0640);
	struct access_caller caller = { .uid = STRANGER, .gid = OTHERGRP, .groups = NULL };

	(void)state;

	assert_int_equal(access_check(&caller, &seg, R), -EACCES);
	caller.gid = GROUP;
	assert_int_equal(access_check(&caller, &seg, R), 0);
}

static void test_access_owner_is_uid_not_gid(void **state)
{
	/* A gid numerically equal to the owner's uid makes no one an owner. */
	struct segment_info seg = segment(0600);
	struct access_caller caller = { .uid = STRANGER, .gid = OWNER };

	(void)state;

	assert_int_equal(access_check(&caller, &seg, R), -EACCES);
	assert_int_equal(access_check_owner(&caller, &seg), -EPERM);
}

struct owner_case {
	const char *what;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	int expect;
};

static const struct owner_case owner_cases[] = {
	{ "owner", OWNER, OTHERGRP, NOGROUPS, 0 },
	{ "creator", CREATOR, OTHERGRP, NOGROUPS, 0 },
	{ "root", 0, 0, NOGROUPS, 0 },
	{ "gid member", STRANGER, GROUP, NOGROUPS, -EPERM },
	{ "cgid member", STRANGER, CGROUP, NOGROUPS, -EPERM },
	{ "supp group member", STRANGER, OTHERGRP, GROUPS(in_group), -EPERM },
	{ "stranger", STRANGER, OTHERGRP, GROUPS(elsewhere), -EPERM },
	{ "root group, not root uid", STRANGER, 0, NOGROUPS, -EPERM },
};

static void test_access_owner_table(void **state)
{
	static const unsigned int modes[] = { 0000, 0777, 03777 };
	size_t i, m;

	(void)state;

	/* Ownership does not depend on the permission bits. */
	for (m = 0; m < ARRAY_SIZE(modes); m++) {
		struct segment_info seg = segment(modes[m]);

		for (i = 0; i < ARRAY_SIZE(owner_cases); i++) {
			const struct owner_case *c = &owner_cases[i];
			struct access_caller caller = {
				.uid = c->uid,
				.gid = c->gid,
				.groups = c->groups,
				.ngroups = c->ngroups,
			};
			int got = access_check_owner(&caller, &seg);

			if (got != c->expect)
				fail_msg("%s (mode %04o): access_check_owner = %d, want %d",
					 c->what, modes[m], got, c->expect);
		}
	}
}

/* A set's values: shown to those who may read the set, by its own
 * owner, creator and mode. */
static void test_set_perm(void **state)
{
	struct semset_state set = {
		.key = 0x1234, .uid = 1000, .gid = 100, .cuid = 2000, .cgid = 200, .mode = 0640
	};
	const struct access_caller owner = { .uid = 1000, .gid = 1 };
	const struct access_caller creator = { .uid = 2000, .gid = 1 };
	const struct access_caller member = { .uid = 3000, .gid = 200 };
	const struct access_caller other = { .uid = 65534, .gid = 65534 };
	struct segment_info perm;

	(void)state;
	access_set_perm(&set, &perm);
	assert_int_equal(access_check(&owner, &perm, ACCESS_READ), 0);
	assert_int_equal(access_check(&creator, &perm, ACCESS_READ), 0);
	assert_int_equal(access_check(&member, &perm, ACCESS_READ), 0);
	assert_int_equal(access_check(&other, &perm, ACCESS_READ), -EACCES);
	set.mode = 0644;
	access_set_perm(&set, &perm);
	assert_int_equal(access_check(&other, &perm, ACCESS_READ), 0);
	set.mode = 0600;
	access_set_perm(&set, &perm);
	assert_int_equal(access_check(&member, &perm, ACCESS_READ), -EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access_table),
		cmocka_unit_test(test_access_null_groups),
		cmocka_unit_test(test_access_owner_is_uid_not_gid),
		cmocka_unit_test(test_access_owner_table),
		cmocka_unit_test(test_set_perm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
