/* test_mount.c - the core contract, through a real mount and real tools.
 *
 * Runs in a private IPC and mount namespace: the segments, semaphore sets
 * and the mount it makes vanish with it, even if it dies.  The kernel
 * (shmctl, /proc/sysvipc/shm) and util-linux (ipcs) are the oracles.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "semun.h"
#include "mountutil.h"
#include "testutil.h"

static const char *shmfs_path;
static struct test_mount mnt;
static char out[65536];

#define M mnt.dir

static int setup(void **state)
{
	static const char *const args[] = { "-o", "lock_timeout=2", NULL };

	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	/* The daemon must end cleanly on SIGTERM, leaving no semaphore set
	 * behind (our private namespace had none before it started). */
	if (mount_stop_clean(&mnt) != 0 || ipc_left_behind("sem"))
		return -1;
	return 0;
}

static bool line_present(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0'))
			return true;
	return false;
}

/* ls lists every segment of the namespace, as /proc/sysvipc/shm does:
 * private ones and ones marked for destruction included. */
static void test_ls_lists_every_segment(void **state)
{
	int keyed = make_segment(0x1001, 64, 0600);
	int private = make_segment(IPC_PRIVATE, 128, 0644);
	int doomed = make_segment(0x1002, 32, 0600);
	void *p = shm_attach(doomed);
	char proc[65536], name[32];
	FILE *f;

	assert_int_equal(shmctl(doomed, IPC_RMID, NULL), 0);
	assert_int_equal(run(out, sizeof(out), "ls -1 %s", M), 0);
	assert_true(line_present(out, "by-key"));

	/* Every shmid the kernel lists is there, with its sidecar. */
	f = fopen("/proc/sysvipc/shm", "r");
	assert_non_null(f);
	assert_non_null(fgets(proc, sizeof(proc), f));
	int count = 0;
	while (fgets(proc, sizeof(proc), f)) {
		int key, id;

		assert_int_equal(sscanf(proc, "%d %d", &key, &id), 2);
		snprintf(name, sizeof(name), "%d", id);
		assert_true(line_present(out, name));
		snprintf(name, sizeof(name), "%d.stat", id);
		assert_true(line_present(out, name));
		count++;
	}
	fclose(f);
	assert_true(count >= 3);

	/* by-key shows only keyed, live segments, as links to their shmid. */
	assert_int_equal(run(out, sizeof(out), "ls -1 %s/by-key", M), 0);
	assert_true(line_present(out, "0x00001001"));
	assert_false(strstr(out, "0x00001002"));
	assert_false(strstr(out, "0x00000000"));
	assert_int_equal(run(out, sizeof(out), "readlink %s/by-key/0x00001001", M), 0);
	snprintf(name, sizeof(name), "../%d\n", keyed);
	assert_string_equal(out, name);

	shmdt(p);
	shmctl(keyed, IPC_RMID, NULL);
	shmctl(private, IPC_RMID, NULL);
	assert_false(shm_exists(doomed));
}

/* cat shows what a direct shmat wrote; bytes written later show at once. */
static void test_cat_reads_live_bytes(void **state)
{
	int id = make_segment(IPC_PRIVATE, 16, 0600);
	char *p = shm_attach(id);

	memcpy(p, "first", 5);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d | tr -d \"\\\\000\"", M, id), 0);
	assert_string_equal(out, "first");
	memcpy(p, "again", 5);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d | tr -d \"\\\\000\"", M, id), 0);
	assert_string_equal(out, "again");
	/* the whole segment, to its last byte, and no further */
	assert_int_equal(run(out, sizeof(out), "cat %s/%d | wc -c", M, id), 0);
	assert_int_equal(atoi(out), 16);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
}

/* echo > seg: O_TRUNC zero-fills, then the text; cat shows it back. */
static void test_echo_writes_and_truncates(void **state)
{
	int id = make_segment(IPC_PRIVATE, 32, 0600);
	char *p = shm_attach(id);

	memset(p, 'x', 32);
	assert_int_equal(run(out, sizeof(out), "echo hi > %s/%d", M, id), 0);
	assert_memory_equal(p, "hi\n", 3);
	for (int i = 3; i < 32; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d | od -An -c | head -1", M, id), 0);
	assert_non_null(strstr(out, "h   i  \\n  \\0"));
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
}

/* dd at an offset; a write crossing the end is cut short; at the end ENOSPC. */
static void test_dd_offsets_and_end(void **state)
{
	int id = make_segment(IPC_PRIVATE, 100, 0600);
	char *p = shm_attach(id);

	memset(p, 0, 100);
	assert_int_equal(
		run(out, sizeof(out),
		    "printf ABCDEFGHIJ | dd of=%s/%d bs=10 seek=5 conv=notrunc status=none", M, id),
		0);
	assert_memory_equal(p + 50, "ABCDEFGHIJ", 10);
	assert_int_equal(p[49], 0);
	assert_int_equal(p[60], 0);

	/* 20 bytes at 90: 10 land, the rest is refused with ENOSPC. */
	assert_int_not_equal(run(out, sizeof(out),
				 "head -c 20 /dev/zero | tr \"\\\\000\" Z | dd of=%s/%d bs=20 "
				 "seek=90 oflag=seek_bytes conv=notrunc",
				 M, id),
			     0);
	assert_non_null(strstr(out, "No space left on device"));
	for (int i = 90; i < 100; i++)
		assert_int_equal(p[i], 'Z');
	assert_int_not_equal(run(out, sizeof(out),
				 "printf x | dd of=%s/%d bs=1 seek=100 conv=notrunc status=none", M,
				 id),
			     0);
	assert_non_null(strstr(out, "No space left on device"));

	/* dd reads a slice in the middle */
	assert_int_equal(
		run(out, sizeof(out), "dd if=%s/%d bs=1 skip=52 count=3 status=none", M, id), 0);
	assert_string_equal(out, "CDE");
	/* reading past the end is end of file */
	assert_int_equal(run(out, sizeof(out),
			     "dd if=%s/%d bs=1 skip=150 count=3 status=none | wc -c", M, id),
			 0);
	assert_int_equal(atoi(out), 0);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
}

/* truncate(n <= size) zero-fills from n; beyond the size: EFBIG. */
static void test_truncate(void **state)
{
	int id = make_segment(IPC_PRIVATE, 64, 0600);
	char *p = shm_attach(id);

	memset(p, 'y', 64);
	assert_int_equal(run(out, sizeof(out), "truncate -s 10 %s/%d", M, id), 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(p[i], i < 10 ? 'y' : 0);
	assert_int_not_equal(run(out, sizeof(out), "truncate -s 65 %s/%d", M, id), 0);
	assert_non_null(strstr(out, "File too large"));
	assert_int_equal(shm_stat(id).shm_segsz, 64);
	assert_int_equal(p[5], 'y');
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
}

/* stat(1) shows the kernel's shmid_ds: size, mode, owner, links, times. */
static void test_stat_matches_kernel(void **state)
{
	int id = make_segment(0x2002, 4096, 0640);
	struct shmid_ds ds;
	void *p = shm_attach(id);
	char want[256];

	assert_int_equal(shmdt(p), 0);
	ds = shm_stat(id);
	assert_int_equal(
		run(out, sizeof(out), "stat -c \"%%s %%a %%u %%g %%h %%X %%Z %%F\" %s/%d", M, id),
		0);
	snprintf(want, sizeof(want), "%zu %o %u %u 1 %lld %lld regular file\n", ds.shm_segsz,
		 ds.shm_perm.mode & 0777, ds.shm_perm.uid, ds.shm_perm.gid, (long long)ds.shm_atime,
		 (long long)ds.shm_ctime);
	assert_string_equal(out, want);

	/* Marked for destruction while attached: link count 0. */
	p = shm_attach(id);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(run(out, sizeof(out), "stat -c %%h %s/%d", M, id), 0);
	assert_string_equal(out, "0\n");
	shmdt(p);
}

/* The sidecar's fields equal what ipcs -m -i and /proc/sysvipc/shm say. */
static void test_sidecar_matches_ipcs_and_proc(void **state)
{
	int id = make_segment(0x162e, 8192, 0640);
	char *p = shm_attach(id);
	char v[128], proc_line[512], cmd[256];
	long long key, atime, dtime, ctime;
	unsigned long long size, nattch, rss, swap;
	unsigned int perms, uid, gid, cuid, cgid;
	int shmid, cpid, lpid;
	FILE *f;
	char sidecar[4096];

	memset(p, 1, 4096); /* make some of it resident */
	assert_int_equal(run(sidecar, sizeof(sidecar), "cat %s/%d.stat", M, id), 0);

	/* the names, in this order */
	const char *names[] = { "key",	  "shmid", "perms", "size", "cpid",   "lpid",
				"nattch", "uid",   "gid",   "cuid", "cgid",   "atime",
				"dtime",  "ctime", "rss",   "swap", "status", "lock_semid" };
	const char *line = sidecar;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_non_null(line);
		assert_int_equal(strncmp(line, names[i], strlen(names[i])), 0);
		assert_int_equal(line[strlen(names[i])], ' ');
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}

	/* /proc/sysvipc/shm as the oracle for every number */
	f = fopen("/proc/sysvipc/shm", "r");
	assert_non_null(f);
	bool found = false;
	while (fgets(proc_line, sizeof(proc_line), f)) {
		if (sscanf(proc_line,
			   "%lld %d %o %llu %d %d %llu %u %u %u %u %lld %lld %lld %llu %llu", &key,
			   &shmid, &perms, &size, &cpid, &lpid, &nattch, &uid, &gid, &cuid, &cgid,
			   &atime, &dtime, &ctime, &rss, &swap) == 16 &&
		    shmid == id) {
			found = true;
			break;
		}
	}
	fclose(f);
	assert_true(found);
	snprintf(cmd, sizeof(cmd), "0x%08x", (unsigned int)key);
	assert_string_equal(sidecar_value(sidecar, "key", v, sizeof(v)), cmd);
	assert_int_equal(atoi(sidecar_value(sidecar, "shmid", v, sizeof(v))), id);
	assert_int_equal(strtoul(sidecar_value(sidecar, "perms", v, sizeof(v)), NULL, 8),
			 perms & 0777);
	assert_int_equal(strtoull(sidecar_value(sidecar, "size", v, sizeof(v)), NULL, 10), size);
	assert_int_equal(atoi(sidecar_value(sidecar, "cpid", v, sizeof(v))), cpid);
	assert_int_equal(atoi(sidecar_value(sidecar, "lpid", v, sizeof(v))), lpid);
	assert_int_equal(strtoull(sidecar_value(sidecar, "nattch", v, sizeof(v)), NULL, 10),
			 nattch);
	assert_int_equal(atoi(sidecar_value(sidecar, "uid", v, sizeof(v))), uid);
	assert_int_equal(atoi(sidecar_value(sidecar, "gid", v, sizeof(v))), gid);
	assert_int_equal(atoi(sidecar_value(sidecar, "cuid", v, sizeof(v))), cuid);
	assert_int_equal(atoi(sidecar_value(sidecar, "cgid", v, sizeof(v))), cgid);
	assert_int_equal(strtoull(sidecar_value(sidecar, "rss", v, sizeof(v)), NULL, 10), rss);
	assert_int_equal(strtoull(sidecar_value(sidecar, "swap", v, sizeof(v)), NULL, 10), swap);
	assert_string_equal(sidecar_value(sidecar, "status", v, sizeof(v)), "-");

	/* times: date -d reads ours back to the kernel's seconds */
	assert_int_equal(run(out, sizeof(out), "date -d %s +%%s",
			     sidecar_value(sidecar, "atime", v, sizeof(v))),
			 0);
	assert_int_equal(atoll(out), atime);
	assert_int_equal(run(out, sizeof(out), "date -d %s +%%s",
			     sidecar_value(sidecar, "ctime", v, sizeof(v))),
			 0);
	assert_int_equal(atoll(out), ctime);
	assert_int_equal(dtime, 0);
	assert_string_equal(sidecar_value(sidecar, "dtime", v, sizeof(v)), "not-set");

	/* ipcs -m -i as a second oracle (its own words for the same fields) */
	assert_int_equal(run(out, sizeof(out), "ipcs -m -i %d", id), 0);
	snprintf(cmd, sizeof(cmd), "uid=%u\tgid=%u\tcuid=%u\tcgid=%u", uid, gid, cuid, cgid);
	assert_non_null(strstr(out, cmd));
	snprintf(cmd, sizeof(cmd), "mode=%s", sidecar_value(sidecar, "perms", v, sizeof(v)));
	assert_non_null(strstr(out, cmd));
	snprintf(cmd, sizeof(cmd), "bytes=%s\tlpid=%d\tcpid=%d\tnattch=%llu",
		 sidecar_value(sidecar, "size", v, sizeof(v)), lpid, cpid, nattch);
	assert_non_null(strstr(out, cmd));

	/* Looking took no key: no set with the segment's key exists, and
	 * the sidecar names none. */
	assert_int_equal(semget(0x162e, 0, 0), -1);
	assert_false(isdigit((unsigned char)sidecar_value(sidecar, "lock_semid", v, sizeof(v))[0]));
	/* The ShareLite set of the key, once a program makes one, it names. */
	int semid = make_sharelite_set(0x162e);
	assert_int_equal(run(sidecar, sizeof(sidecar), "cat %s/%d.stat", M, id), 0);
	assert_int_equal(atoi(sidecar_value(sidecar, "lock_semid", v, sizeof(v))), semid);
	semctl(semid, 0, IPC_RMID);

	/* status once removed but still attached */
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(run(sidecar, sizeof(sidecar), "cat %s/%d.stat", M, id), 0);
	assert_string_equal(sidecar_value(sidecar, "status", v, sizeof(v)), "dest");
	assert_string_equal(sidecar_value(sidecar, "key", v, sizeof(v)), "0x00000000");
	shmdt(p);
}

/* A sidecar read in tiny chunks is the same one snapshot. */
static void test_sidecar_chunked_read_is_one_snapshot(void **state)
{
	int id = make_segment(IPC_PRIVATE, 4096, 0600);
	char path[128], text[4096], v[64];
	size_t len = 0;
	ssize_t n;
	void *p = NULL;
	int fd;

	/* Read in 3-byte chunks, and change the segment (attach it: nattch,
	 * lpid and atime move) after the first chunk.  Every chunk must come
	 * from the rendering made at open: nattch 0, and the text whole. */
	snprintf(path, sizeof(path), "%s/%d.stat", M, id);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	while ((n = read(fd, text + len, 3)) > 0) {
		len += n;
		if (!p) {
			p = shmat(id, NULL, 0);
			assert_ptr_not_equal(p, (void *)-1);
		}
	}
	assert_int_equal(n, 0);
	close(fd);
	text[len] = '\0';
	assert_string_equal(sidecar_value(text, "nattch", v, sizeof(v)), "0");
	assert_string_equal(sidecar_value(text, "atime", v, sizeof(v)), "not-set");
	assert_non_null(sidecar_value(text, "notify_semid", v, sizeof(v))); /* the last line */
	/* ... while a new open sees the change */
	assert_int_equal(run(out, sizeof(out), "cat %s", path), 0);
	assert_string_equal(sidecar_value(out, "nattch", v, sizeof(v)), "1");
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
}

/* rm is IPC_RMID; an attached segment lives on as dest; unknown: ENOENT. */
static void test_rm(void **state)
{
	int id = make_segment(0x3003, 64, 0600);
	int held = make_segment(0x3004, 64, 0600);
	void *p = shm_attach(held);

	assert_int_equal(run(out, sizeof(out), "rm %s/%d", M, id), 0);
	assert_false(shm_exists(id));
	assert_int_not_equal(run(out, sizeof(out), "ls %s/%d", M, id), 0);

	assert_int_equal(run(out, sizeof(out), "rm %s/%d", M, held), 0);
	assert_true(shm_exists(held));
	assert_true(shm_stat(held).shm_perm.mode & SHM_DEST);
	assert_int_equal(run(out, sizeof(out), "ls %s", M), 0);
	char name[32];
	snprintf(name, sizeof(name), "%d", held);
	assert_true(line_present(out, name));
	shmdt(p);
	assert_false(shm_exists(held));

	assert_int_not_equal(run(out, sizeof(out), "rm %s/77777", M), 0);
	assert_non_null(strstr(out, "No such file or directory"));
}

/* Opening a file does not leave shmfs attached once it is closed. */
static void test_no_attachment_after_close(void **state)
{
	int id = make_segment(IPC_PRIVATE, 64, 0600);

	assert_int_equal(run(out, sizeof(out), "cat %s/%d > /dev/null", M, id), 0);
	assert_int_equal(run(out, sizeof(out), "echo x > %s/%d", M, id), 0);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d.stat > /dev/null", M, id), 0);
	/* The kernel sends the release that detaches just after the last
	 * close returns (asynchronously): wait for it, within 5 seconds. */
	for (int i = 0; i < 500 && shm_stat(id).shm_nattch != 0; i++)
		usleep(10000);
	assert_int_equal(shm_stat(id).shm_nattch, 0);
	/* ... and open files are no attachers at all */
	assert_int_equal(run(out, sizeof(out),
			     "exec 4<>%s/%d 3<%s/%d; ipcs -m -i %d | grep -o \"nattch=[0-9]*\"", M,
			     id, M, id, id),
			 0);
	assert_string_equal(out, "nattch=0\n");
	for (int i = 0; i < 500 && shm_stat(id).shm_nattch != 0; i++)
		usleep(10000);
	assert_int_equal(shm_stat(id).shm_nattch, 0);
	shmctl(id, IPC_RMID, NULL);
}

/* The bytes of segment id the kernel holds (/proc/sysvipc/shm's rss). */
static unsigned long long shm_rss(int id)
{
	FILE *f = fopen("/proc/sysvipc/shm", "re");
	char line[512];
	unsigned long long rss = ~0ull;
	int shmid;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d %d %*o %*u %*d %*d %*u %*u %*u %*u %*u %*u %*u %*u %llu",
			   &shmid, &rss) == 2 &&
		    shmid == id)
			break;
	fclose(f);
	return rss;
}

/* pread the whole of path in requests of req bytes, twice (the second
 * pass after the daemon has had enough reads to map the file); each byte
 * must be want(offset). */
static void read_all(const char *path, size_t size, size_t req, char (*want)(size_t off))
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	for (int pass = 0; pass < 2; pass++)
		for (size_t off = 0; off < size; off += req) {
			assert_int_equal(pread(fd, buf, req, (off_t)off), (ssize_t)req);
			for (size_t i = 0; i < req; i += 512)
				if (buf[i] != want(off + i))
					fail_msg("pass %d req %zu: byte %zu is %d", pass, req,
						 off + i, buf[i]);
		}
	close(fd);
}

#define SPARSE_SIZE   (4u << 20)
#define SPARSE_FILLED ((1u << 20) + 4096) /* the first chunk and a page */

static bool sparse_filled; /* whether the first SPARSE_FILLED bytes are written */

static char sparse_byte(size_t off)
{
	return sparse_filled && off < SPARSE_FILLED ? 'f' : 0;
}

/* Looking changes nothing: reading a segment through the mount, in small
 * reads or big, in pages it never had, allocates none of them (the
 * segment's rss stays what its programs wrote); every byte read is
 * right, written or not. */
static void test_reads_allocate_nothing(void **state)
{
	int id = make_segment(IPC_PRIVATE, SPARSE_SIZE, 0600);
	char path[256], *addr;

	snprintf(path, sizeof(path), "%s/%d", M, id);
	assert_int_equal(shm_rss(id), 0);
	read_all(path, SPARSE_SIZE, 4096, sparse_byte);
	read_all(path, SPARSE_SIZE, 1 << 20, sparse_byte);
	assert_int_equal(shm_rss(id), 0);
	addr = shmat(id, NULL, 0);
	assert_true(addr != (void *)-1);
	memset(addr, 'f', SPARSE_FILLED);
	shmdt(addr);
	sparse_filled = true;
	assert_int_equal(shm_rss(id), SPARSE_FILLED);
	read_all(path, SPARSE_SIZE, 4096, sparse_byte);
	read_all(path, SPARSE_SIZE, 1 << 20, sparse_byte);
	read_all(path, SPARSE_SIZE, 8192, sparse_byte);
	assert_int_equal(shm_rss(id), SPARSE_FILLED);
	shmctl(id, IPC_RMID, NULL);
}

/* Rewriting through one open file: the first two passes are written to
 * the segment's file, the third maps the chunks and later ones copy
 * through the daemon's mapping (see write_through_mapping()); small and
 * unaligned writes in between.  What
 * a direct shmat sees must be exactly what was written, every time. */
static void test_rewrites_through_one_file(void **state)
{
	enum {
		SIZE = 3 * 1024 * 1024 + 5000
	};
	int id = make_segment(IPC_PRIVATE, SIZE, 0600);
	char *want = malloc(SIZE), *buf = malloc(1024 * 1024), path[128];
	const unsigned char *seg = shmat(id, NULL, SHM_RDONLY);
	int fd;

	assert_non_null(want);
	assert_non_null(buf);
	assert_ptr_not_equal(seg, (void *)-1);
	snprintf(path, sizeof(path), "%s/%d", M, id);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	for (int pass = 0; pass < 4; pass++) {
		/* 1 MiB and 128 KiB writes, then a small one and one that
		 * crosses a 1 MiB boundary at an odd offset */
		size_t req = pass % 2 ? 128 * 1024 : 1024 * 1024;

		for (size_t off = 0; off < SIZE; off += req) {
			size_t n = SIZE - off < req ? SIZE - off : req;

			memset(buf, 'a' + pass, n);
			assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
			memset(want + off, 'a' + pass, n);
		}
		memset(buf, 'A' + pass, 100000);
		assert_int_equal(pwrite(fd, buf, 7, 12345), 7);
		memset(want + 12345, 'A' + pass, 7);
		assert_int_equal(pwrite(fd, buf, 100000, 1024 * 1024 - 333), 100000);
		memset(want + 1024 * 1024 - 333, 'A' + pass, 100000);
		assert_memory_equal(seg, want, SIZE);
		/* and reads through the mount agree */
		assert_int_equal(pread(fd, buf, 1024 * 1024, 1024 * 1024 - 333), 1024 * 1024);
		assert_memory_equal(buf, want + 1024 * 1024 - 333, 1024 * 1024);
	}
	close(fd);
	shmdt(seg);
	shmctl(id, IPC_RMID, NULL);
	free(want);
	free(buf);
}

/* A segment removed while open stays usable through that open file, as an
 * unlinked file does: nobody is attached, so the kernel destroys it at
 * once, and the open file keeps its bytes. */
static void test_removed_while_open(void **state)
{
	int id = make_segment(IPC_PRIVATE, 64, 0600);
	char path[128], buf[16] = "";
	int fd;

	snprintf(path, sizeof(path), "%s/%d", M, id);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "hello", 5, 0), 5);
	assert_int_equal(unlink(path), 0);
	assert_false(shm_exists(id));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(pwrite(fd, "still", 5, 5), 5);
	assert_int_equal(pread(fd, buf, 10, 0), 10);
	assert_string_equal(buf, "hellostill");
	/* its end is still the end */
	assert_int_equal(pwrite(fd, "x", 1, 64), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(close(fd), 0);
}

/* Every kind of handle still open when the daemon stops: their releases
 * never come, so the daemon frees them itself (a leak here fails the
 * ASan and valgrind runs), and it exits 0. */
static void test_stopped_with_everything_open(void **state)
{
	static const char *const names[] = { "",	 "/by-key",   "/%d",
					     "/%d.stat", "/%d.procs", "/%d.next" };
	int id = make_segment(0x6d6f7500, 64, 0644), fds[6];
	struct test_mount m;
	char path[160], fmt[64];

	mount_start(&m, shmfs_path, NULL);
	for (int i = 0; i < 6; i++) {
		snprintf(fmt, sizeof(fmt), "%%s%s", names[i]);
		snprintf(path, sizeof(path), fmt, m.dir, id);
		fds[i] = open(path, O_RDONLY | (i < 2 ? O_DIRECTORY : 0));
		assert_true(fds[i] >= 0);
	}
	assert_int_equal(mount_stop_clean(&m), 0);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
	shmctl(id, IPC_RMID, NULL);
}

/* Names that are not live shmids: ENOENT; fixed structure: EPERM. */
static void test_bad_names_and_refused_ops(void **state)
{
	int id = make_segment(IPC_PRIVATE, 64, 0600);
	const char *bad[] = {
		"abc", "-1",	"0099",	       "99999999999", "12.stat.stat",	       "+5",
		"00",  ".stat", "by-key/0xZZ", "by-key/12",   "by-key/0x0000000000001"
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(run(out, sizeof(out), "cat %s/%s", M, bad[i]), 0);
		assert_non_null(strstr(out, "No such file or directory"));
	}
	assert_int_not_equal(run(out, sizeof(out), "mkdir %s/d", M), 0);
	assert_non_null(strstr(out, "Operation not permitted"));
	assert_int_not_equal(run(out, sizeof(out), "rmdir %s/by-key", M), 0);
	assert_int_not_equal(run(out, sizeof(out), "mv %s/%d %s/x", M, id, M), 0);
	assert_non_null(strstr(out, "Operation not permitted"));
	assert_int_not_equal(run(out, sizeof(out), "ln %s/%d %s/x", M, id, M), 0);
	assert_int_not_equal(run(out, sizeof(out), "ln -s %d %s/x", id, M), 0);
	assert_non_null(strstr(out, "Operation not permitted"));
	assert_int_not_equal(run(out, sizeof(out), "mknod %s/x p", M), 0);
	assert_int_not_equal(run(out, sizeof(out),
				 "setfattr -n user.x -v 1 %s/%d 2>&1 || "
				 "python3 -c \"import os; os.setxattr(\\\"%s/%d\\\", "
				 "\\\"user.x\\\", b\\\"1\\\")\"",
				 M, id, M, id),
			     0);
	assert_int_not_equal(run(out, sizeof(out), "rm %s/%d.stat", M, id), 0);
	assert_non_null(strstr(out, "Operation not permitted"));
	/* junk into a sidecar: EINVAL, and the segment is unchanged */
	assert_int_not_equal(run(out, sizeof(out), "/bin/echo junk > %s/%d.stat", M, id), 0);
	assert_non_null(strstr(out, "Invalid argument"));
	assert_true(shm_exists(id));
	assert_int_equal(shm_stat(id).shm_perm.mode & 0777, 0600);
	shmctl(id, IPC_RMID, NULL);
}

/* lock/unlock through the sidecar are SHM_LOCK/SHM_UNLOCK. */
static void test_sidecar_lock_command(void **state)
{
	int id = make_segment(IPC_PRIVATE, 4096, 0600);

	assert_int_equal(run(out, sizeof(out), "echo lock > %s/%d.stat", M, id), 0);
	assert_true(shm_stat(id).shm_perm.mode & SHM_LOCKED);
	assert_int_equal(run(out, sizeof(out), "grep ^status %s/%d.stat", M, id), 0);
	assert_string_equal(out, "status locked\n");
	assert_int_equal(run(out, sizeof(out), "ipcs -m | grep -w %d", id), 0);
	assert_non_null(strstr(out, "locked"));
	assert_int_equal(run(out, sizeof(out), "echo unlock > %s/%d.stat", M, id), 0);
	assert_false(shm_stat(id).shm_perm.mode & SHM_LOCKED);
	shmctl(id, IPC_RMID, NULL);
}

/* chmod and chown are IPC_SET; ipcs sees them at once. */
static void test_chmod_chown(void **state)
{
	int id = make_segment(IPC_PRIVATE, 64, 0600);

	assert_int_equal(run(out, sizeof(out), "chmod 640 %s/%d", M, id), 0);
	assert_int_equal(shm_stat(id).shm_perm.mode & 0777, 0640);
	assert_int_equal(run(out, sizeof(out), "chown 65534:65534 %s/%d", M, id), 0);
	assert_int_equal(shm_stat(id).shm_perm.uid, 65534);
	assert_int_equal(shm_stat(id).shm_perm.gid, 65534);
	assert_int_equal(run(out, sizeof(out), "ipcs -m -i %d | grep -c \"uid=65534\"", id), 0);
	assert_int_equal(run(out, sizeof(out), "touch %s/%d", M, id), 0);
	shmctl(id, IPC_RMID, NULL);
}

/* A segment without a ShareLite set is locked by the daemon's private
 * lock: no semaphore set while a file of it is open, none after; the
 * sidecar names it "private" while a file is open. */
static void test_lock_sets_follow_open_files(void **state)
{
	int id = make_segment(0x4005, 64, 0666);
	char path[128], v[64];
	int fd, sets = testutil_sysvipc_count("sem");

	snprintf(path, sizeof(path), "%s/%d", M, id);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d.stat", M, id), 0);
	assert_string_equal(sidecar_value(out, "lock_semid", v, sizeof(v)), "private");
	assert_string_equal(sidecar_value(out, "lock_writer", v, sizeof(v)), "none");
	assert_int_equal(testutil_sysvipc_count("sem"), sets);
	assert_int_equal(semget(0x4005, 0, 0), -1);
	/* removed while open: the lock stays where it is */
	assert_int_equal(run(out, sizeof(out), "cat %s/%d > /dev/null", M, id), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(run(out, sizeof(out), "rm %s/%d", M, id), 0);
	assert_int_equal(testutil_sysvipc_count("sem"), sets);
}

/* A reader waits for a writer that holds the exclusive lock (Perl
 * IPC::ShareLite), and sees only what it wrote under the lock. */
static void test_sharelite_writer_excludes_cat(void **state)
{
	char dir[] = "/tmp/shmfs-sl.XXXXXX";

	assert_non_null(mkdtemp(dir));
	/* The Perl side: create the share, lock, announce, write, wait for
	 * the go file, write the final value, mark, unlock. */
	assert_int_equal(
		run(out, sizeof(out),
		    "perl -MIPC::ShareLite=:lock -e \""
		    "my \\$s = IPC::ShareLite->new(-key => 0x5151, -create => 1, -destroy => 1, "
		    "-size => 4096) or die; \\$s->store(q(before));"
		    "\\$s->lock(LOCK_EX); \\$s->store(q(partial)); open my \\$f, q(>), "
		    "q(%s/locked); "
		    "close \\$f; sleep 1 until -e q(%s/go) ; select(undef,undef,undef,0.3); "
		    "\\$s->store(q(after-the-lock)); open \\$f, q(>), q(%s/unlocking); close \\$f; "
		    "\\$s->unlock; sleep 1 until -e q(%s/done);\" & "
		    "while [ ! -e %s/locked ]; do sleep 0.05; done; "
		    "id=$(readlink %s/by-key/0x00005151); id=${id#../}; "
		    "(cat %s/by-key/0x00005151 | tr -d \"\\\\000\" > %s/read; "
		    "[ -e %s/unlocking ] && echo ordered > %s/order) & "
		    "sleep 0.2; touch %s/go; wait $!; touch %s/done; wait; "
		    "cat %s/order; grep -c after-the-lock %s/read; grep -c partial %s/read || true",
		    dir, dir, dir, dir, dir, M, M, dir, dir, dir, dir, dir, dir, dir, dir),
		0);
	/* cat finished only after the writer let go, and saw its final data */
	assert_string_equal(out, "ordered\n1\n0\n");
	run(NULL, 0, "rm -rf %s", dir);
}

/* Start cat on a segment whose lock is held, SIGINT it once it waits,
 * and tell whether it then died of that signal.  A cat that survives
 * 20 seconds counts as hung. */
static bool cat_interrupted_while_waiting(const char *dir, int id)
{
	char path[128];
	int status = 0;
	pid_t cat;

	snprintf(path, sizeof(path), "%s/%d", dir, id);
	cat = testutil_fork();
	if (cat == 0) {
		signal(SIGINT, SIG_DFL);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execlp("cat", "cat", path, (char *)NULL);
		_exit(127);
	}
	/* wait until cat is blocked inside the read */
	for (int i = 0; i < 200; i++) {
		char wchan[64] = "", proc[64];
		FILE *f;

		snprintf(proc, sizeof(proc), "/proc/%d/wchan", cat);
		f = fopen(proc, "r");
		if (f) {
			if (!fgets(wchan, sizeof(wchan), f))
				wchan[0] = 0;
			fclose(f);
		}
		if (strstr(wchan, "request_wait_answer") || strstr(wchan, "fuse"))
			break;
		usleep(10000);
	}
	kill(cat, SIGINT);
	status = testutil_wait_bounded(cat, 20);
	return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGINT;
}

/* Takes the exclusive lock of the set *arg as an outside program does. */
static int lock_outside(void *arg)
{
	return outside_lock(*(const int *)arg, true);
}

/* A lock held forever: the read fails after lock_timeout with ETIMEDOUT;
 * a Ctrl-C on the waiting cat ends it. */
static void test_lock_timeout_and_interrupt(void **state)
{
	int id = make_segment(0x4004, 64, 0600);
	int semid;
	pid_t holder;

	/* The holder locks as an outside program does: the ShareLite set of
	 * the key, made by itself and marked initialised. */
	semid = make_sharelite_set(0x4004);
	holder = testutil_fork_holder(lock_outside, &semid);
	assert_true(holder > 0);

	assert_int_not_equal(run(out, sizeof(out), "cat %s/%d", M, id), 0);
	assert_non_null(strstr(out, "Connection timed out"));

	/* Ctrl-C on a blocked cat: it ends by the signal, it does not hang
	 * until the lock timeout (here raised out of reach). */
	static const char *const patient[] = { "-o", "lock_timeout=60", NULL };
	struct test_mount second;

	mount_start(&second, shmfs_path, patient);
	assert_true(cat_interrupted_while_waiting(second.dir, id));
	assert_int_equal(mount_stop(&second), 0);

	/* meanwhile other segments are served */
	int other = make_segment(IPC_PRIVATE, 8, 0600);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d | wc -c", M, other), 0);
	assert_int_equal(atoi(out), 8);

	/* the holder dies: SEM_UNDO frees the lock, cat works again */
	testutil_kill(holder);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d | wc -c", M, id), 0);
	assert_int_equal(atoi(out), 64);
	shmctl(id, IPC_RMID, NULL);
	shmctl(other, IPC_RMID, NULL);
	/* the set is the outside program's: shmfs left it, its maker removes it */
	assert_true(sem_exists(semid));
	semctl(semid, 0, IPC_RMID);
}

/* kernel.shm_rmid_forced=1: a plain cat must not destroy a segment. */
static void test_rmid_forced_never_destroys(void **state)
{
	int id = make_segment(IPC_PRIVATE, 64, 0600);
	int shared = make_segment(IPC_PRIVATE, 64, 0600);
	char *p;

	assert_int_equal(run(out, sizeof(out), "echo 1 > /proc/sys/kernel/shm_rmid_forced"), 0);
	/* nobody attached: reading it would destroy it, so it is refused */
	assert_int_not_equal(run(out, sizeof(out), "cat %s/%d", M, id), 0);
	assert_non_null(strstr(out, "busy"));
	assert_true(shm_exists(id));
	/* listing and the sidecar never attach */
	assert_int_equal(run(out, sizeof(out), "ls -l %s; cat %s/%d.stat", M, M, id), 0);
	assert_true(shm_exists(id));
	/* attached elsewhere: readable; and our detach does not destroy it */
	p = shm_attach(shared);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d | wc -c", M, shared), 0);
	assert_int_equal(atoi(out), 64);
	assert_true(shm_exists(shared));
	assert_int_equal(run(out, sizeof(out), "echo 0 > /proc/sys/kernel/shm_rmid_forced"), 0);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	shmctl(shared, IPC_RMID, NULL);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ls_lists_every_segment),
		cmocka_unit_test(test_cat_reads_live_bytes),
		cmocka_unit_test(test_echo_writes_and_truncates),
		cmocka_unit_test(test_dd_offsets_and_end),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_stat_matches_kernel),
		cmocka_unit_test(test_sidecar_matches_ipcs_and_proc),
		cmocka_unit_test(test_sidecar_chunked_read_is_one_snapshot),
		cmocka_unit_test(test_rm),
		cmocka_unit_test(test_no_attachment_after_close),
		cmocka_unit_test(test_rewrites_through_one_file),
		cmocka_unit_test(test_removed_while_open),
		cmocka_unit_test(test_stopped_with_everything_open),
		cmocka_unit_test(test_bad_names_and_refused_ops),
		cmocka_unit_test(test_sidecar_lock_command),
		cmocka_unit_test(test_chmod_chown),
		cmocka_unit_test(test_lock_sets_follow_open_files),
		cmocka_unit_test(test_sharelite_writer_excludes_cat),
		cmocka_unit_test(test_lock_timeout_and_interrupt),
		cmocka_unit_test(test_rmid_forced_never_destroys),
		cmocka_unit_test(test_reads_allocate_nothing),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-SHMFS\n", argv[0]);
		return 1;
	}
	shmfs_path = argv[1];
	testutil_isolate(true);
	return testutil_run_group_tests(tests, setup, teardown);
}
