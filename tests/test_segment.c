/* test_segment.c - src/segment.c: the /proc parser, and the listing and
 * stat against real segments in a private IPC namespace. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helper.h"
#include "segment.h"
#include "testutil.h"

static void test_parse_proc_line(void **state)
{
	struct segment_info s;
	const char *line = "-348388682          7  1644                  4096  2096     9      "
			   "2  1000  1001  1002  1003 1795703700 1795703701 1795703729          "
			   "           8192                     0\n";

	(void)state;
	assert_int_equal(segment_parse_proc_line(line, &s), 0);
	assert_int_equal(s.key, -348388682);
	assert_int_equal(s.shmid, 7);
	assert_int_equal(s.mode, 01644);
	assert_int_equal(s.size, 4096);
	assert_int_equal(s.cpid, 2096);
	assert_int_equal(s.lpid, 9);
	assert_int_equal(s.nattch, 2);
	assert_int_equal(s.uid, 1000);
	assert_int_equal(s.gid, 1001);
	assert_int_equal(s.cuid, 1002);
	assert_int_equal(s.cgid, 1003);
	assert_int_equal(s.atime, 1795703700);
	assert_int_equal(s.dtime, 1795703701);
	assert_int_equal(s.ctime, 1795703729);
	assert_true(s.have_usage);
	assert_int_equal(s.rss, 8192);
	assert_int_equal(s.swap, 0);
}

static void test_parse_rejects_junk(void **state)
{
	struct segment_info s;

	(void)state;
	assert_int_equal(segment_parse_proc_line("", &s), -EINVAL);
	assert_int_equal(segment_parse_proc_line("       key      shmid perms", &s), -EINVAL);
	assert_int_equal(segment_parse_proc_line("1 2 3", &s), -EINVAL);
	assert_int_equal(segment_parse_proc_line("1 -2 644 1 1 1 1 0 0 0 0 0 0 0 0 0", &s),
			 -EINVAL);
	/* a shmid past int, a key past 32 bits, 15 columns */
	assert_int_equal(segment_parse_proc_line("1 2147483648 644 1 1 1 1 0 0 0 0 0 0 0", &s),
			 -EINVAL);
	assert_int_equal(segment_parse_proc_line("4294967296 2 644 1 1 1 1 0 0 0 0 0 0 0", &s),
			 -EINVAL);
	assert_int_equal(segment_parse_proc_line("1 2 644 1 1 1 1 0 0 0 0 0 0 0 0", &s), -EINVAL);
	/* sizes use all 64 bits; a key as the kernel prints it, signed */
	assert_int_equal(segment_parse_proc_line("-1 2 600 18446744073709551615 1 1 1 0 0 0 0 0 "
						 "0 0 18446744073709547520 4096",
						 &s),
			 0);
	assert_int_equal(s.key, -1);
	assert_true(s.size == UINT64_MAX);
	assert_true(s.rss == UINT64_MAX - 4095);
	assert_int_equal(s.swap, 4096);
}

/* The "Max locked memory" line of /proc/PID/limits, and this process's
 * own limits file against getrlimit (the kernel as the oracle). */
static void test_parse_memlock_limit(void **state)
{
	static const char text[] =
		"Limit                     Soft Limit           Hard Limit           Units     \n"
		"Max open files            1024                 524288               files     \n"
		"Max locked memory         8388608              unlimited            bytes     \n";
	struct rlimit rl, own;
	char buf[4096];
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(segment_parse_memlock_limit(text, &rl), 0);
	assert_int_equal(rl.rlim_cur, 8388608);
	assert_true(rl.rlim_max == RLIM_INFINITY);
	assert_int_equal(segment_parse_memlock_limit("Max locked memory  junk  1 bytes\n", &rl),
			 -EINVAL);
	assert_int_equal(segment_parse_memlock_limit("Max locked memory  9  8  bytes\n", &rl),
			 -EINVAL); /* soft above hard */
	assert_int_equal(segment_parse_memlock_limit("Max open files 1 2 files\n", &rl), -EINVAL);
	f = fopen("/proc/self/limits", "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_int_equal(segment_parse_memlock_limit(buf, &rl), 0);
	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &own), 0);
	assert_true(rl.rlim_cur == own.rlim_cur);
	assert_true(rl.rlim_max == own.rlim_max);
}

/* The listing and segment_stat agree with shmctl on real segments. */
static void test_list_and_stat_real_segments(void **state)
{
	struct segment_list list = { 0 };
	struct segment_info info;
	struct shmid_ds ds;
	int a = shmget(0x7a7a, 4096, IPC_CREAT | IPC_EXCL | 0640);
	int b = shmget(IPC_PRIVATE, 100, IPC_CREAT | 0600);
	void *p;

	(void)state;
	assert_true(a >= 0 && b >= 0);
	p = shmat(b, NULL, 0);
	assert_ptr_not_equal(p, (void *)-1);
	assert_int_equal(shmctl(b, IPC_RMID, NULL), 0);

	assert_int_equal(segment_list_read(&list), 0);
	assert_int_equal(list.n, 2);
	assert_non_null(segment_list_find(&list, a));
	assert_non_null(segment_list_find(&list, b));
	assert_ptr_equal(segment_list_find_key(&list, 0x7a7a), segment_list_find(&list, a));
	assert_null(segment_list_find_key(&list, 0));
	assert_true(segment_list_find(&list, b)->mode & SEGMENT_MODE_DEST);

	assert_int_equal(segment_stat(a, false, &info), 0);
	assert_int_equal(shmctl(a, IPC_STAT, &ds), 0);
	assert_int_equal(info.key, 0x7a7a);
	assert_int_equal(info.size, 4096);
	assert_int_equal(info.mode & 0777, 0640);
	assert_int_equal(info.cpid, ds.shm_cpid);
	assert_int_equal(info.ctime, ds.shm_ctime);
	assert_int_equal(segment_stat(a, true, &info), 0);
	assert_true(info.have_usage);

	assert_int_equal(segment_stat(a + 1000000, false, &info), -ENOENT);
	assert_int_equal(segment_stat(-1, false, &info), -ENOENT);

	assert_int_equal(segment_set_perm(a, 0, 0, 0600 | 01000), 0);
	assert_int_equal(shmctl(a, IPC_STAT, &ds), 0);
	assert_int_equal(ds.shm_perm.mode & 07777, 0600);

	assert_int_equal(segment_remove(a), 0);
	assert_int_equal(segment_remove(a), -ENOENT);
	assert_int_equal(shmdt(p), 0);
	assert_int_equal(segment_list_read(&list), 0);
	assert_int_equal(list.n, 0);
	segment_list_free(&list);
}

/* The descriptor behind an attachment is the segment's own memory, both
 * ways, and is not an attachment: nattch does not count it. */
static void test_open_fd_is_the_segment(void **state)
{
	const size_t size = 3 * 4096 + 100;
	int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	char *p, *q, *ro, got[6] = { 0 };
	struct shmid_ds ds;
	struct stat st;
	int fd, rofd;

	(void)state;
	assert_true(id >= 0);
	p = shmat(id, NULL, 0);
	q = shmat(id, NULL, 0);
	ro = shmat(id, NULL, SHM_RDONLY);
	assert_true(p != (void *)-1 && q != (void *)-1 && ro != (void *)-1);
	memcpy(p + 5000, "hello", 5);

	fd = segment_open_fd(p, size, true);
	if (fd == -EPERM && !testutil_in_ci()) {
		/* no CAP_SYS_ADMIN in the initial user namespace: shmfs then
		 * uses the mapping, which the mount tests cover */
		shmdt(p);
		shmdt(q);
		shmdt(ro);
		shmctl(id, IPC_RMID, NULL);
		skip();
	}
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, size);
	assert_int_equal(pread(fd, got, 5, 5000), 5);
	assert_string_equal(got, "hello");
	assert_int_equal(pwrite(fd, "world", 5, size - 5), 5);
	assert_memory_equal(q + size - 5, "world", 5);

	rofd = segment_open_fd(ro, size, false);
	assert_true(rofd >= 0);
	assert_int_equal(pwrite(rofd, "x", 1, 0), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(pread(rofd, got, 5, size - 5), 5);
	assert_string_equal(got, "world");

	/* not a mapping's exact start: refused */
	assert_true(segment_open_fd(p + 4096, size - 4096, true) < 0);
	assert_true(segment_open_fd(p, size + 4096, true) < 0);

	assert_int_equal(shmctl(id, IPC_STAT, &ds), 0);
	assert_int_equal(ds.shm_nattch, 3);
	assert_int_equal(shmdt(p), 0);
	assert_int_equal(shmdt(ro), 0);
	assert_int_equal(shmctl(id, IPC_STAT, &ds), 0);
	assert_int_equal(ds.shm_nattch, 1);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(shmdt(q), 0);
	assert_int_equal(shmctl(id, IPC_STAT, &ds), -1);
	close(fd);
	close(rofd);
}

/* A segment the caller may not IPC_STAT (mode 0600, another user's) is
 * still stat-able, as /proc/sysvipc/shm shows it to everyone: by its
 * index (SHM_STAT_ANY), the same fields as the owner's IPC_STAT. */
static void test_stat_without_permission(void **state)
{
	int id, gone, status;
	struct segment_info mine;
	pid_t pid;

	(void)state;
	/* a few others first, so that the index is not 0 */
	for (int i = 0; i < 5; i++)
		assert_true(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600) >= 0);
	id = shmget(0x5e9a11, 3 * 4096, IPC_CREAT | IPC_EXCL | 0600);
	gone = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	assert_true(id >= 0 && gone >= 0);
	assert_int_equal(shmctl(gone, IPC_RMID, NULL), 0);
	assert_int_equal(segment_stat(id, false, &mine), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct segment_info seen;
		struct shmid_ds ds;

		if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
			_exit(2);
		if (shmctl(id, IPC_STAT, &ds) == 0 || errno != EACCES)
			_exit(3); /* the case to test: IPC_STAT refused */
		if (segment_stat(id, false, &seen) != 0)
			_exit(4);
		if (seen.shmid != id || seen.key != mine.key || seen.size != mine.size ||
		    seen.mode != mine.mode || seen.uid != mine.uid || seen.cpid != mine.cpid ||
		    seen.ctime != mine.ctime)
			_exit(5);
		if (segment_stat(gone, false, &seen) != -ENOENT)
			_exit(6);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Without /proc/sysvipc (hidden by a tmpfs in a mount namespace of the
 * child's), the SHM_STAT_ANY loop lists the same segments, field for
 * field but the usage only /proc has. */
static void test_list_without_proc(void **state)
{
	struct segment_list proc = { 0 };
	int ids[3] = { shmget(0x5e10, 4096, IPC_CREAT | IPC_EXCL | 0640),
		       shmget(IPC_PRIVATE, 100, IPC_CREAT | 0600),
		       shmget(0x5e12, 3 * 4096, IPC_CREAT | IPC_EXCL | 0444) };
	int status;
	pid_t pid;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_true(ids[i] >= 0);
	assert_int_equal(segment_list_read(&proc), 0);
	assert_true(proc.n >= 3); /* and what the tests before left */
	pid = testutil_fork();
	if (pid == 0) {
		struct segment_list loop = { 0 };

		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("tmpfs", "/proc/sysvipc", "tmpfs", 0, NULL) != 0)
			_exit(2);
		if (segment_list_read(&loop) != 0 || loop.n != proc.n)
			_exit(3);
		for (size_t i = 0; i < proc.n; i++) {
			struct segment_info want = proc.v[i];

			want.rss = want.swap = 0;
			want.have_usage = false;
			if (memcmp(&loop.v[i], &want, sizeof(want)) != 0)
				_exit(4);
		}
		_exit(0);
	}
	status = testutil_wait_bounded(pid, 10);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (int i = 0; i < 3; i++)
		shmctl(ids[i], IPC_RMID, NULL);
	segment_list_free(&proc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_proc_line),
		cmocka_unit_test(test_parse_rejects_junk),
		cmocka_unit_test(test_parse_memlock_limit),
		cmocka_unit_test(test_list_and_stat_real_segments),
		cmocka_unit_test(test_open_fd_is_the_segment),
		cmocka_unit_test(test_stat_without_permission),
		cmocka_unit_test(test_list_without_proc),
	};

	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
