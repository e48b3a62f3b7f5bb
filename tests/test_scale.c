/* test_scale.c - a namespace of thousands of segments, through a real
 * mount and real tools: every segment listed (in the root and by-key/),
 * stat-able, readable, its sidecar the kernel's, a second user's listing
 * the same; no timing (that is bench/ section 7).
 *
 * Runs in a private IPC and mount namespace; shmctl, /proc/sysvipc/shm
 * and ipcs are the oracles.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "listing.h"
#include "mountutil.h"
#include "testutil.h"

#define NSEGS	 3000
#define BASE_KEY 0x5ca1e000

static const char *shmfs_path;
static struct test_mount mnt;
static int ids[NSEGS];
static char *out; /* OUT_SIZE: the output of one tool over every segment */
#define OUT_SIZE (4u << 20)

#define M mnt.dir

/* Segments of one to three pages, with their index in their first bytes
 * and every third one owned by uid 65534, mode 0600 (another user's). */
static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", NULL };

	out = malloc(OUT_SIZE);
	assert_non_null(out);
	for (int i = 0; i < NSEGS; i++) {
		int *p;

		ids[i] = shmget(BASE_KEY + i, 4096 * (1 + i % 3), IPC_CREAT | IPC_EXCL | 0644);
		assert_true(ids[i] >= 0);
		p = shmat(ids[i], NULL, 0);
		assert_ptr_not_equal(p, (void *)-1);
		*p = i;
		shmdt(p);
		if (i % 3 == 0) {
			struct shmid_ds ds;

			assert_int_equal(shmctl(ids[i], IPC_STAT, &ds), 0);
			ds.shm_perm.uid = 65534;
			ds.shm_perm.mode = 0600;
			assert_int_equal(shmctl(ids[i], IPC_SET, &ds), 0);
		}
	}
	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	int status = mount_stop(&mnt);

	free(out);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int index_of(int shmid)
{
	for (int i = 0; i < NSEGS; i++)
		if (ids[i] == shmid)
			return i;
	return -1;
}

/* Every name of ls's output, each seen once: the file and its sidecar
 * for each segment, by-key/, sem/ and msg/, nothing else. */
static void check_root_listing(const char *as)
{
	static unsigned char seen[NSEGS];
	int files = 0, sidecars = 0, bykey = 0;

	memset(seen, 0, sizeof(seen));
	assert_int_equal(run(out, OUT_SIZE, "%s ls -1 %s", as, M), 0);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char *end;
		long id = strtol(line, &end, 10);
		int i = end != line ? index_of((int)id) : -1;

		if (strcmp(line, "by-key") == 0 || strcmp(line, "sem") == 0 ||
		    strcmp(line, "msg") == 0) {
			bykey++;
			continue;
		}
		assert_true(i >= 0);
		if (strcmp(end, ".stat") == 0) {
			assert_false(seen[i] & 2);
			seen[i] |= 2;
			sidecars++;
		} else {
			assert_string_equal(end, "");
			assert_false(seen[i] & 1);
			seen[i] |= 1;
			files++;
		}
	}
	assert_int_equal(files, NSEGS);
	assert_int_equal(sidecars, NSEGS);
	assert_int_equal(bykey, 3); /* by-key, sem, msg */
}

static void test_every_segment_listed(void **state)
{
	int n = 0;

	check_root_listing("");
	/* another user sees the same names, its own 0600 ones included */
	check_root_listing("setpriv --reuid=65534 --regid=65534 --clear-groups");

	/* by-key/: a link to ../SHMID for each (one find(1), not a readlink
	 * process per link: 3,000 processes overran run()'s timeout on a
	 * loaded machine) */
	assert_int_equal(
		run(out, OUT_SIZE, "cd %s/by-key && find . -mindepth 1 -printf \"%%f %%l\\n\"", M),
		0);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), n++) {
		unsigned int key;
		int shmid, i;

		assert_int_equal(sscanf(line, "0x%x ../%d", &key, &shmid), 2);
		i = index_of(shmid);
		assert_true(i >= 0);
		assert_int_equal(key, BASE_KEY + i);
	}
	assert_int_equal(n, NSEGS);
}

/* stat(1) of every segment gives the kernel's size, mode and owner. */
static void test_every_segment_stat_able(void **state)
{
	int n = 0;

	assert_int_equal(run(out, OUT_SIZE,
			     "cd %s && stat -c \"%%n %%s %%a %%u\" $(ls | grep -x \"[0-9]*\")", M),
			 0);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), n++) {
		unsigned int mode, uid;
		unsigned long long size;
		struct shmid_ds ds;
		int shmid;

		assert_int_equal(sscanf(line, "%d %llu %o %u", &shmid, &size, &mode, &uid), 4);
		assert_true(index_of(shmid) >= 0);
		assert_int_equal(shmctl(shmid, IPC_STAT, &ds), 0);
		assert_int_equal(size, ds.shm_segsz);
		assert_int_equal(mode, ds.shm_perm.mode & 0777);
		assert_int_equal(uid, ds.shm_perm.uid);
	}
	assert_int_equal(n, NSEGS);
}

/* Each segment reads back its own first bytes; each sidecar (cat of all,
 * one process) is the kernel's line of /proc/sysvipc/shm. */
static void test_every_segment_readable(void **state)
{
	char proc_line[512], path[128];
	int n = 0;
	FILE *f;

	for (int i = 0; i < NSEGS; i++) {
		int fd, v = -1;

		snprintf(path, sizeof(path), "%s/%d", M, ids[i]);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &v, sizeof(v), 0), sizeof(v));
		assert_int_equal(v, i);
		close(fd);
	}

	assert_int_equal(run(out, OUT_SIZE, "cat %s/*.stat", M), 0);
	f = fopen("/proc/sysvipc/shm", "r");
	assert_non_null(f);
	assert_non_null(fgets(proc_line, sizeof(proc_line), f)); /* the header */
	while (fgets(proc_line, sizeof(proc_line), f)) {
		unsigned long long size, nattch, rss, swap;
		int key, shmid;
		char want[160], *at;

		assert_int_equal(
			sscanf(proc_line,
			       "%d %d %*o %llu %*d %*d %llu %*u %*u %*u %*u %*d %*d %*d %llu %llu",
			       &key, &shmid, &size, &nattch, &rss, &swap),
			6);
		/* the sidecar's block for that shmid, in the order of the
		 * fields */
		snprintf(want, sizeof(want), "\nshmid %d\n", shmid);
		at = strstr(out, want);
		assert_non_null(at);
		snprintf(want, sizeof(want), "\nsize %llu\n", size);
		assert_ptr_equal(strstr(at, "\nsize "), strstr(at, want));
		snprintf(want, sizeof(want), "\nnattch %llu\n", nattch);
		assert_ptr_equal(strstr(at, "\nnattch "), strstr(at, want));
		snprintf(want, sizeof(want), "\nrss %llu\nswap %llu\n", rss, swap);
		assert_ptr_equal(strstr(at, "\nrss "), strstr(at, want));
		n++;
	}
	fclose(f);
	assert_int_equal(n, NSEGS);
}

/* Listings stay current: a segment made or removed shows at once, and
 * its sidecar has the kernel's rss after pages are touched. */
static void test_listing_is_current(void **state)
{
	char v[64];
	int id = shmget(IPC_PRIVATE, 3 * 4096, IPC_CREAT | 0600);
	char *p;

	assert_true(id >= 0);
	assert_int_equal(run(out, OUT_SIZE, "ls %s | grep -cx %d", M, id), 0);
	assert_int_equal(atoi(out), 1);
	assert_int_equal(run(out, OUT_SIZE, "cat %s/%d.stat", M, id), 0);
	assert_string_equal(sidecar_value(out, "rss", v, sizeof(v)), "0");
	p = shmat(id, NULL, 0);
	assert_ptr_not_equal(p, (void *)-1);
	memset(p, 1, 2 * 4096);
	assert_int_equal(run(out, OUT_SIZE, "cat %s/%d.stat", M, id), 0);
	assert_string_equal(sidecar_value(out, "nattch", v, sizeof(v)), "1");
	assert_string_equal(sidecar_value(out, "rss", v, sizeof(v)), "8192");
	shmdt(p);

	assert_int_equal(shmctl(ids[NSEGS - 1], IPC_RMID, NULL), 0);
	assert_int_equal(run(out, OUT_SIZE, "ls %s | grep -c .", M), 0);
	assert_int_equal(atoi(out), 2 * NSEGS + 3); /* one gone, one made; by-key, sem, msg */
	assert_int_equal(run(out, OUT_SIZE, "ls %s | grep -cx %d", M, ids[NSEGS - 1]), 1);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
}

static long long daemon_rss_kib(void)
{
	char path[64], line[256];
	long long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)mnt.pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Remove the IPC_PRIVATE segments uid made. */
static void remove_private_of(uid_t uid)
{
	char line[512];
	FILE *f = fopen("/proc/sysvipc/shm", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		int key, shmid;
		unsigned int cuid;

		if (sscanf(line, "%d %d %*o %*u %*d %*d %*u %*u %*u %u", &key, &shmid, &cuid) ==
			    3 &&
		    key == 0 && cuid == uid)
			shmctl(shmid, IPC_RMID, NULL);
	}
	fclose(f);
}

/* In a child as uid 65534: open n directory handles of the root, each
 * read a little (with a segment of its own made before each if
 * change_between), report through the pipe how many opened and the
 * errno of the first failure, wait for a byte, exit. */
static pid_t hold_dirs(int n, bool change_between, int answer[2], int go[2])
{
	pid_t pid;

	assert_int_equal(pipe(answer), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int opened = 0, err = 0;
		char byte;

		if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
			_exit(2);
		for (; opened < n; opened++) {
			DIR *d;

			if (change_between && shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600) < 0)
				_exit(3);
			d = opendir(M);
			if (!d) {
				err = errno;
				break;
			}
			for (int i = 0; i < 4; i++)
				readdir(d);
		}
		if (write(answer[1], &opened, sizeof(opened)) != sizeof(opened) ||
		    write(answer[1], &err, sizeof(err)) != sizeof(err) || read(go[0], &byte, 1) < 0)
			_exit(4);
		_exit(0);
	}
	close(answer[1]);
	close(go[0]);
	return pid;
}

static void release_dirs(pid_t pid, int answer[2], int go[2])
{
	int status;

	assert_int_equal(write(go[1], "x", 1), 1);
	close(go[1]);
	close(answer[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Issue 11: 2,000 open directory handles of another user cost the
 * daemon one snapshot, not 2,000 (which would be 380 MB here). */
static void test_dir_handles_share_memory(void **state)
{
	int answer[2], go[2], opened, err;
	long long before = daemon_rss_kib(), during;
	struct rlimit rl = { 2100, 2100 };
	pid_t pid;

	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	pid = hold_dirs(2000, false, answer, go);

	assert_int_equal(read(answer[0], &opened, sizeof(opened)), sizeof(opened));
	assert_int_equal(read(answer[0], &err, sizeof(err)), sizeof(err));
	assert_int_equal(err, 0);
	assert_int_equal(opened, 2000);
	during = daemon_rss_kib();
	/* and the others' listings are unaffected */
	assert_int_equal(run(out, OUT_SIZE, "ls %s | wc -l", M), 0);
	assert_int_equal(atoi(out), 2 * NSEGS + 3);
	release_dirs(pid, answer, go);
	/* (ASan keeps freed memory in quarantine: no bound to check) */
	if (!UNDER_ASAN)
		assert_true(during - before < 32 * 1024);
}

/* A user whose open handles hold 16 different listings gets EMFILE for a
 * 17th; another user's listing still works. */
static void test_dir_snapshots_bounded_per_user(void **state)
{
	int answer[2], go[2], opened, err;
	pid_t pid = hold_dirs(LISTING_DIRS_PER_USER + 1, true, answer, go);

	assert_int_equal(read(answer[0], &opened, sizeof(opened)), sizeof(opened));
	assert_int_equal(read(answer[0], &err, sizeof(err)), sizeof(err));
	assert_int_equal(opened, LISTING_DIRS_PER_USER);
	assert_int_equal(err, EMFILE);
	assert_int_equal(run(out, OUT_SIZE, "ls %s | grep -c stat", M), 0);
	assert_int_equal(atoi(out), NSEGS + LISTING_DIRS_PER_USER + 1);
	release_dirs(pid, answer, go);
	remove_private_of(65534);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_segment_listed),
		cmocka_unit_test(test_every_segment_stat_able),
		cmocka_unit_test(test_every_segment_readable),
		cmocka_unit_test(test_dir_handles_share_memory),
		cmocka_unit_test(test_dir_snapshots_bounded_per_user),
		cmocka_unit_test(test_listing_is_current),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-SHMFS\n", argv[0]);
		return 1;
	}
	shmfs_path = argv[1];
	testutil_isolate(true);
	return cmocka_run_group_tests(tests, setup, teardown);
}
