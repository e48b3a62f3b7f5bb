/* test_tool.c - creating segments from the shell, following writes
 * (.next, poll), another IPC namespace, and the mount conventions.
 *
 * Runs in a private IPC and mount namespace; the kernel and ipcs are the
 * oracles.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

static const char *shmfs_path;
static const char *examples_dir; /* the source examples/, with the clients */
static const char *producer_path;
static struct test_mount mnt;
static char out[65536];

#define M mnt.dir

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other,default_size=8192", NULL };

	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	return mount_stop_clean(&mnt);
}

/* The segment of a key, waiting (10 s at most) for it to appear: a name
 * created at its last close appears when the kernel's asynchronous
 * RELEASE reaches the daemon, which can come after the closing process
 * has exited (seen under valgrind). */
static struct shmid_ds stat_key(int key, int *id)
{
	struct shmid_ds ds;

	for (int i = 0; (*id = shmget(key, 0, 0)) < 0 && i < 1000; i++)
		usleep(10000);
	assert_true(*id >= 0);
	assert_int_equal(shmctl(*id, IPC_STAT, &ds), 0);
	return ds;
}

/* truncate -s, touch, echo >, cp and dd each make a segment with the key
 * named, of the size a person expects; ipcs shows it at once. */
static void test_create_from_the_shell(void **state)
{
	struct shmid_ds ds;
	int id;
	char *p;

	assert_int_equal(run(out, sizeof(out), "truncate -s 1M %s/by-key/0x00001234", M), 0);
	ds = stat_key(0x1234, &id);
	assert_int_equal(ds.shm_segsz, 1 << 20);
	assert_int_equal(run(out, sizeof(out), "ipcs -m | grep -c 0x00001234"), 0);
	assert_string_equal(out, "1\n");

	assert_int_equal(run(out, sizeof(out), "touch %s/by-key/0x00001235", M), 0);
	assert_int_equal(stat_key(0x1235, &id).shm_segsz, 8192); /* default_size */

	assert_int_equal(run(out, sizeof(out), "umask 027; echo hello > %s/by-key/0x00001236", M),
			 0);
	ds = stat_key(0x1236, &id);
	assert_int_equal(ds.shm_segsz, 8192);
	assert_int_equal(ds.shm_perm.mode & 0777, 0640); /* creat's mode, umask applied */
	p = shmat(id, NULL, SHM_RDONLY);
	assert_ptr_not_equal(p, (void *)-1);
	assert_memory_equal(p, "hello\n\0", 7);
	shmdt(p);

	/* cp and dd of 10000 bytes: a segment of 10000 bytes, same bytes */
	assert_int_equal(run(out, sizeof(out),
			     "head -c 10000 /dev/urandom > /tmp/shmfs-rnd.$$; "
			     "cp /tmp/shmfs-rnd.$$ %s/by-key/0x00001237 && "
			     "dd if=/tmp/shmfs-rnd.$$ of=%s/by-key/0x00001238 bs=1k status=none && "
			     "cmp /tmp/shmfs-rnd.$$ %s/by-key/0x00001237 && "
			     "cmp /tmp/shmfs-rnd.$$ %s/by-key/0x00001238; rm -f /tmp/shmfs-rnd.$$",
			     M, M, M, M),
			 0);
	assert_int_equal(stat_key(0x1237, &id).shm_segsz, 10000);
	assert_int_equal(stat_key(0x1238, &id).shm_segsz, 10000);

	/* the name is a link to the segment from now on */
	assert_int_equal(run(out, sizeof(out), "stat -c %%F %s/by-key/0x00001234", M), 0);
	assert_string_equal(out, "symbolic link\n");
	/* ... and an existing key is not made again */
	assert_int_equal(run(out, sizeof(out), "echo again > %s/by-key/0x00001236", M), 0);
	assert_int_equal(stat_key(0x1236, &id).shm_segsz, 8192);

	for (int key = 0x1234; key <= 0x1238; key++) {
		stat_key(key, &id);
		shmctl(id, IPC_RMID, NULL);
	}
}

/* Another user creates a segment through the mount: it is theirs. */
static void test_create_as_the_caller(void **state)
{
	struct shmid_ds ds;
	int id;

	assert_int_equal(run(out, sizeof(out),
			     "setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "
			     "\"echo mine > %s/by-key/0x00004242\"",
			     M),
			 0);
	ds = stat_key(0x4242, &id);
	assert_int_equal(ds.shm_perm.uid, 65534);
	assert_int_equal(ds.shm_perm.cuid, 65534);
	assert_int_equal(ds.shm_perm.gid, 65534);
	shmctl(id, IPC_RMID, NULL);

	/* While a name is being created (open, size not known yet), another
	 * user sees nothing of it, as of a segment not made yet. */
	assert_int_equal(run(out, sizeof(out),
			     "f=/tmp/shmfs-pending.$$; setpriv --reuid=65534 --regid=65534 "
			     "--clear-groups sh -c \"umask 077; exec 3> %s/by-key/0x00004243; "
			     "touch $f; sleep 1\" & "
			     "until [ -e $f ]; do sleep 0.02; done; "
			     "setpriv --reuid=2001 --regid=2001 --clear-groups "
			     "cat %s/by-key/0x00004243; echo rc=$?; wait; rm -f $f",
			     M, M),
			 0);
	assert_non_null(strstr(out, "No such file"));
	assert_non_null(strstr(out, "rc=1"));
	ds = stat_key(0x4243, &id);
	assert_int_equal(ds.shm_perm.mode & 0777, 0600);
	shmctl(id, IPC_RMID, NULL);
}

/* Names that are not keys never make a segment with a surprising key. */
static void test_create_bad_names(void **state)
{
	const char *bad[] = { "0xZZ",	    "12",	  "0x000012345",    "0x1234",
			      "0X00001234", "0x00000000", "0x00001234.next" };
	char proc[8192];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(run(out, sizeof(out), "touch %s/by-key/%s", M, bad[i]), 0);
		assert_true(strstr(out, "Invalid argument") || strstr(out, "No such file"));
	}
	assert_int_not_equal(run(out, sizeof(out), "touch %s/77", M), 0);
	assert_non_null(strstr(out, "Operation not permitted"));
	assert_int_equal(run(proc, sizeof(proc), "tail -n +2 /proc/sysvipc/shm"), 0);
	assert_string_equal(proc, "");
}

/* A write can be waited for: cat of <shmid>.next returns after the next
 * write, through the mount or posted by an outside writer. */
static void test_next_follows_writes(void **state)
{
	int id = shmget(0x5150, 64, IPC_CREAT | IPC_EXCL | 0600);

	assert_true(id >= 0);
	/* through the mount */
	assert_int_equal(
		run(out, sizeof(out),
		    "cat %s/by-key/0x00005150.next | tr -d \"\\\\000\" > /tmp/next.$$ & "
		    "until grep -q \"^notify_semid [0-9]\" %s/%d.stat; do sleep 0.02; done; "
		    "[ -s /tmp/next.$$ ] && echo early; "
		    "echo first > %s/%d; wait $!; cat /tmp/next.$$; rm -f /tmp/next.$$",
		    M, M, id, M, id),
		0);
	assert_string_equal(out, "first\n");

	/* an outside writer posts the notify semaphore named in the sidecar
	 * while a reader waits (looking makes no set: none before) */
	assert_int_equal(
		run(out, sizeof(out),
		    "for i in $(seq 100); do grep -q \"^notify_semid [0-9]\" %s/%d.stat || "
		    "exit 0; sleep 0.05; done; exit 1",
		    M, id),
		0);
	assert_int_equal(
		run(out, sizeof(out),
		    "cat %s/%d.next | tr -d \"\\\\000\" > /tmp/next.$$ & "
		    "until n=$(sed -n \"s/^notify_semid \\([0-9]*\\)\\$/\\1/p\" %s/%d.stat); "
		    "[ -n \"$n\" ]; do sleep 0.02; done; "
		    "perl -MIPC::SysV=IPC_NOWAIT -e \""
		    "my \\$id = shmget(0x5150, 0, 0) // die; shmwrite(\\$id, q(second), 0, 64) "
		    "or die; semop(\\$ARGV[0], pack(q(s!3), 0, 1, IPC_NOWAIT)) or die\" \"$n\"; "
		    "wait $!; cat /tmp/next.$$; rm -f /tmp/next.$$",
		    M, id, M, id),
		0);
	assert_string_equal(out, "second");
	shmctl(id, IPC_RMID, NULL);
}

/* poll(2) on a segment file: readable once written since this file last
 * read it. */
static void test_poll_reports_writes(void **state)
{
	int id = shmget(IPC_PRIVATE, 64, IPC_CREAT | 0600);
	char path[128], buf[64];
	struct pollfd pfd;
	int fd;

	snprintf(path, sizeof(path), "%s/%d", M, id);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(run(out, sizeof(out), "echo poke > %s", path), 0);
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_true(pfd.revents & POLLIN);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 64);
	assert_memory_equal(buf, "poke\n", 5);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	close(fd);

	/* opened for writing: always writable */
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_true(pfd.revents & POLLOUT);

	/* a poll that takes an outside writer's post wakes a .next reader too */
	assert_int_equal(run(out, sizeof(out), "cat %s/%d.stat", M, id), 0);
	char v[32];
	int notify = atoi(sidecar_value(out, "notify_semid", v, sizeof(v)));
	assert_int_equal(
		run(out, sizeof(out),
		    "cat %s/%d.next > /dev/null & c=$!; "
		    /* open files of a segment share an attachment: nattch
		     * cannot tell that cat has opened .next, its fds can */
		    "until ls -l /proc/$c/fd 2>/dev/null | grep -q %d.next; do sleep 0.02; done; "
		    "perl -MIPC::SysV=IPC_NOWAIT -e \"semop(%d, pack(q(s!3), 0, 1, IPC_NOWAIT)) "
		    "or die\"; /usr/bin/python3 -c \"import select, os; "
		    "p = select.poll(); p.register(os.open(\\\"%s\\\", os.O_RDONLY)); "
		    "p.poll(0)\"; wait $c; echo woke",
		    M, id, id, notify, path),
		0);
	assert_string_equal(out, "woke\n");
	close(fd);
	shmctl(id, IPC_RMID, NULL);
}

/* A "container": an IPC namespace of its own with one segment. */
static int make_container(void *arg)
{
	(void)arg;
	if (unshare(CLONE_NEWIPC) != 0 || shmget(0x0c0c, 777, IPC_CREAT | 0600) < 0)
		return -1;
	return 0;
}

/* -o ipcns= shows another IPC namespace: a "container" made here. */
static void test_other_ipc_namespace(void **state)
{
	struct test_mount other;
	char nspath[64], args_opt[128];
	pid_t child = testutil_fork_holder(make_container, NULL);

	assert_true(child > 0);
	snprintf(nspath, sizeof(nspath), "/proc/%d/ns/ipc", child);
	snprintf(args_opt, sizeof(args_opt), "ipcns=%s", nspath);
	const char *const args[] = { "-o", args_opt, NULL };

	mount_start(&other, shmfs_path, args);
	assert_int_equal(run(out, sizeof(out), "stat -L -c %%s %s/by-key/0x00000c0c", other.dir),
			 0);
	assert_string_equal(out, "777\n");
	/* our own namespace does not have it */
	assert_int_not_equal(run(out, sizeof(out), "ls %s/by-key/0x00000c0c", M), 0);
	assert_int_equal(mount_stop(&other), 0);

	/* a path that is not an IPC namespace: a clear refusal */
	assert_int_not_equal(run(out, sizeof(out), "%s -o ipcns=/etc/hostname /tmp", shmfs_path),
			     0);
	assert_non_null(strstr(out, "cannot join IPC namespace"));
	testutil_kill(child);
}

/* mount -t fuse.shmfs (mount.fuse3 passes a source first), --help and
 * --version. */
static void test_mount_conventions(void **state)
{
	char dir[] = "/tmp/shmfs-mnt.XXXXXX", bindir[] = "/tmp/shmfs-bin.XXXXXX";

	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(bindir));
	/* mount(8) runs helpers with a fixed PATH: put shmfs on it by a bind
	 * mount over /usr/local/sbin, which only this namespace sees. */
	assert_int_equal(run(out, sizeof(out),
			     "ln -s %s %s/shmfs && mount --bind %s /usr/local/sbin && "
			     "mount -t fuse.shmfs shmfs %s -o lock_timeout=3,nofail && "
			     "grep -c \" %s fuse.shmfs \" /proc/mounts && umount %s && "
			     "umount /usr/local/sbin",
			     shmfs_path, bindir, bindir, dir, dir, dir),
			 0);
	assert_string_equal(out, "1\n");
	/* the old "program#source" form of mount -t fuse */
	assert_int_equal(run(out, sizeof(out),
			     "mount -t fuse \"%s#shmfs\" %s -o allow_other && "
			     "grep -c \" %s fuse.shmfs \" /proc/mounts && umount %s",
			     shmfs_path, dir, dir, dir),
			 0);
	assert_string_equal(out, "1\n");
	assert_int_equal(run(out, sizeof(out), "%s --help", shmfs_path), 0);
	assert_non_null(strstr(out, "lock_timeout=SECONDS"));
	assert_non_null(strstr(out, "-o allow_other")); /* FUSE's own options follow */
	assert_int_equal(run(out, sizeof(out), "%s --version", shmfs_path), 0);
	assert_non_null(strstr(out, "shmfs version"));
	assert_non_null(strstr(out, "FUSE library version"));
	run(NULL, 0, "rm -rf %s %s", dir, bindir);
}

/* The clients in examples/, watched and poked through the mount: what
 * Python (sysv_ipc) writes, cat shows; what echo writes, Perl
 * (IPC::ShareLite) and Python read back; the C producer's messages
 * follow one another through by-key/...next. */
static void test_example_clients_through_the_mount(void **state)
{
	/* Python writes under the lock, cat reads through the mount */
	assert_int_equal(run(out, sizeof(out),
			     "/usr/bin/python3 %s/sysv_ipc_client.py -k 0x50590001 -c write "
			     "from-python && cat %s/by-key/0x50590001 | tr -d \"\\\\000\"",
			     examples_dir, M),
			 0);
	assert_string_equal(out, "from-python\n");
	/* echo through the mount, Python reads it back */
	assert_int_equal(run(out, sizeof(out),
			     "printf from-the-mount > %s/by-key/0x50590001 && "
			     "/usr/bin/python3 %s/sysv_ipc_client.py -k 0x50590001 read",
			     M, examples_dir),
			 0);
	assert_string_equal(out, "from-the-mount\n");
	assert_int_equal(run(out, sizeof(out),
			     "/usr/bin/python3 %s/sysv_ipc_client.py -k 0x50590001 remove",
			     examples_dir),
			 0);

	/* Perl's IPC::ShareLite stores its header then the text: the text
	 * shows through the mount */
	assert_int_equal(run(out, sizeof(out),
			     "perl %s/sharelite.pl -k 0x53484c01 write from-perl && "
			     "grep -c from-perl %s/by-key/0x53484c01 && "
			     "perl %s/sharelite.pl -k 0x53484c01 read && "
			     "perl %s/sharelite.pl -k 0x53484c01 remove",
			     examples_dir, M, examples_dir, examples_dir),
			 0);
	assert_string_equal(out, "1\nfrom-perl\n");

	/* the C producer and consumer, watched through the mount: the
	 * producer's lines show in cat while the pair runs */
	assert_int_equal(
		run(out, sizeof(out),
		    "d=$(dirname %s); $d/consumer -k 0x5348464d -n 3 > /dev/null 2>&1 & c=$!; "
		    "$d/producer -k 0x5348464d -n 3 -i 200 > /dev/null 2>&1 & p=$!; "
		    "until cat %s/by-key/0x5348464d 2>/dev/null | grep -q message; do "
		    "sleep 0.05; done; cat %s/by-key/0x5348464d | tr -d \"\\\\000\" "
		    "| cut -c1-7; wait $p; wait $c; "
		    "python3=/usr/bin/python3; $python3 %s/sysv_ipc_client.py -k 0x5348464d "
		    "remove",
		    producer_path, M, M, examples_dir),
		0);
	assert_string_equal(out, "message\n");
}

/* With the default attribute cache (0.1 s), a change made elsewhere shows
 * in stat within the documented bound of one second, and a listing shows
 * it at once. */
static void test_default_cache_bound(void **state)
{
	static const char *const args[] = { "-o", "attr_timeout=0.1", NULL };
	struct test_mount cached;
	int id = shmget(IPC_PRIVATE, 64, IPC_CREAT | 0600);
	struct shmid_ds ds;

	assert_true(id >= 0);
	mount_start(&cached, shmfs_path, args);
	assert_int_equal(run(out, sizeof(out), "stat -c %%a %s/%d", cached.dir, id), 0);
	assert_string_equal(out, "600\n");
	assert_int_equal(shmctl(id, IPC_STAT, &ds), 0);
	ds.shm_perm.mode = 0640;
	assert_int_equal(shmctl(id, IPC_SET, &ds), 0);
	assert_int_equal(run(out, sizeof(out),
			     "for i in $(seq 20); do [ $(stat -c %%a %s/%d) = 640 ] && exit 0; "
			     "sleep 0.05; done; exit 1",
			     cached.dir, id),
			 0);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(run(out, sizeof(out), "ls %s | grep -cx %d", cached.dir, id), 1);
	assert_int_equal(run(out, sizeof(out),
			     "for i in $(seq 20); do stat %s/%d 2>/dev/null || exit 0; "
			     "sleep 0.05; done; exit 1",
			     cached.dir, id),
			 0);
	assert_int_equal(mount_stop(&cached), 0);
}

/* The daemon's descriptors on segments' files (they show as /SYSV...). */
static int daemon_segment_fds(pid_t daemon)
{
	char text[64];

	run(text, sizeof(text), "ls -l /proc/%d/fd | grep -c SYSV", (int)daemon);
	return atoi(text);
}

/* -o attach_cache: open files share one descriptor on the segment's file,
 * kept a while after the last close, then let go (and at the next sweep
 * for a removed segment).  Never an attachment. */
static void test_attach_cache(void **state)
{
	static const char *const args[] = { "-o", "attach_cache=0.5", NULL };
	struct test_mount cached;
	int id = shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
	int gone = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	struct shmid_ds ds;
	int i;

	assert_true(id >= 0 && gone >= 0);
	mount_start(&cached, shmfs_path, args);
	/* two files open at once: one descriptor, no attachment */
	assert_int_equal(run(out, sizeof(out),
			     "exec 3<%s/%d 4<%s/%d; ipcs -m -i %d | grep -o \"nattch=[0-9]*\"; "
			     "ls -l /proc/%d/fd | grep -c SYSV",
			     cached.dir, id, cached.dir, id, id, (int)cached.pid),
			 0);
	assert_string_equal(out, "nattch=0\n1\n");
	assert_int_equal(run(out, sizeof(out), "cat %s/%d %s/%d > /dev/null", cached.dir, id,
			     cached.dir, gone),
			 0);
	/* kept after the close */
	assert_int_equal(daemon_segment_fds(cached.pid), 2);
	/* removed while cached: let go at the next sweep, the other when its
	 * time is up */
	assert_int_equal(shmctl(gone, IPC_RMID, NULL), 0);
	for (i = 0; i < 500 && daemon_segment_fds(cached.pid) != 0; i++)
		usleep(10000);
	assert_true(i < 500);
	assert_int_equal(shmctl(id, IPC_STAT, &ds), 0);
	assert_int_equal(ds.shm_nattch, 0);
	assert_int_equal(mount_stop(&cached), 0);
	shmctl(id, IPC_RMID, NULL);
}

/* Daemonized, shmfs tells syslog what it has to say.  In a mount namespace
 * of its own, /dev is a fresh tmpfs holding the nodes shmfs needs and a
 * /dev/log socket of ours; shmfs runs without -f and a warning it has to
 * give (a segment it created under kernel.shm_rmid_forced=1 kept attached
 * at the close, as detaching would destroy it) must arrive there. */
static const char syslog_script[] =
	"set -e\n"
	"unshare --mount sh -s \"$@\" <<'EOF'\n"
	"set -e\n"
	"mount --make-rprivate /\n"
	"mount -t tmpfs tmpfs /dev\n"
	"mknod -m 666 /dev/fuse c 10 229; mknod -m 666 /dev/null c 1 3\n"
	"/usr/bin/python3 -c \"\n"
	"import socket, sys\n"
	"s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind('/dev/log')\n"
	"s.settimeout(20); open('$1/ready', 'w').close()\n"
	"sys.stdout.write(s.recv(1000).decode())\n"
	"\" > $1/log &\n"
	"listener=$!\n"
	"while [ ! -e $1/ready ]; do sleep 0.02; done\n"
	"mkdir $1/mnt; $2 $1/mnt\n"
	"/usr/bin/python3 -c \"\n"
	"open('/proc/sys/kernel/shm_rmid_forced', 'w').write('1')\n"
	"open('$1/mnt/by-key/0x00005555', 'w').write('kept')\n"
	"\"\n"
	"wait $listener\n"
	"umount $1/mnt\n"
	"echo 0 > /proc/sys/kernel/shm_rmid_forced\n"
	"cat $1/log\n"
	"EOF\n";

static void test_daemon_logs_to_syslog(void **state)
{
	char dir[] = "/tmp/shmfs-syslog.XXXXXX", script[128];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/run.sh", dir);
	f = fopen(script, "w");
	assert_non_null(f);
	fputs(syslog_script, f);
	fclose(f);
	assert_int_equal(run(out, sizeof(out), "sh %s %s %s", script, dir, shmfs_path), 0);
	assert_non_null(strstr(out, "shmfs["));
	assert_non_null(strstr(out, "kept attached"));
	run(NULL, 0, "rm -rf %s", dir);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_from_the_shell),
		cmocka_unit_test(test_create_as_the_caller),
		cmocka_unit_test(test_create_bad_names),
		cmocka_unit_test(test_next_follows_writes),
		cmocka_unit_test(test_poll_reports_writes),
		cmocka_unit_test(test_other_ipc_namespace),
		cmocka_unit_test(test_mount_conventions),
		cmocka_unit_test(test_default_cache_bound),
		cmocka_unit_test(test_attach_cache),
		cmocka_unit_test(test_daemon_logs_to_syslog),
		cmocka_unit_test(test_example_clients_through_the_mount),
	};

	if (argc != 4) {
		fprintf(stderr, "usage: %s SHMFS EXAMPLES-DIR PRODUCER\n", argv[0]);
		return 1;
	}
	shmfs_path = argv[1];
	examples_dir = argv[2];
	producer_path = argv[3];
	testutil_isolate(true);
	return testutil_run_group_tests(tests, setup, teardown);
}
