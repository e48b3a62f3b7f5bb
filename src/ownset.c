/* ownset.c - semaphore sets the daemon makes: proven its own, recorded. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "orphan.h"
#include "ownset.h"
#include "semun.h"

#define DEFAULT_STATE_DIR "/run/shmfs"

static const char *state_dir(void)
{
	const char *dir = getenv("SHMFS_STATE_DIR");

	return dir && *dir ? dir : DEFAULT_STATE_DIR;
}

/* A process's start time (clock ticks since boot): with its pid, which
 * process it is (a pid alone comes back). */
static unsigned long long start_time(pid_t pid)
{
	char path[64], buf[1024], state;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	return orphan_parse_stat(buf, (size_t)n, &state, &t) == 0 ? t : 0;
}

/* The IPC namespace's directory of records; with mine, this daemon's
 * (pid-starttime) below it.  false if the namespace cannot be named. */
static bool ns_dir(char *buf, size_t size, bool mine)
{
	struct stat st;
	int n;

	if (stat("/proc/self/ns/ipc", &st) != 0)
		return false;
	n = snprintf(buf, size, "%s/ipc-%lu-%lu", state_dir(), (unsigned long)st.st_dev,
		     (unsigned long)st.st_ino);
	if (mine && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, "/%d-%llu", (int)getpid(),
			      start_time(getpid()));
	return n > 0 && (size_t)n < size;
}

static void log_once_unrecorded(int err)
{
	static int logged;

	if (!__atomic_exchange_n(&logged, 1, __ATOMIC_RELAXED))
		fprintf(stderr,
			"shmfs: cannot record the daemon's sets under %s (%s): a daemon killed "
			"with -9 will leave them behind\n",
			state_dir(), strerror(-err));
}

static int mkdirs(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(path, 0700) != 0 && errno != EEXIST ? -errno : 0;
}

/* The record's text: "nsems ctime uid gid mode" and, while an IPC_SET is
 * under way, the owner, group and mode it gives. */
static int record_write(const struct own_set *s, const struct own_set *pending)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], tmp[PATH_MAX + 40], text[160];
	int fd, n, ret;

	if (!ns_dir(dir, sizeof(dir), true))
		return -ENAMETOOLONG;
	ret = mkdirs(dir);
	if (ret)
		return ret;
	n = snprintf(text, sizeof(text), "%d %lld %u %u %o", s->nsems, (long long)s->ctime,
		     (unsigned int)s->uid, (unsigned int)s->gid, s->mode);
	if (pending)
		n += snprintf(text + n, sizeof(text) - (size_t)n, " %u %u %o",
			      (unsigned int)pending->uid, (unsigned int)pending->gid,
			      pending->mode);
	text[n++] = '\n';
	snprintf(path, sizeof(path), "%s/sem-%d", dir, s->semid);
	snprintf(tmp, sizeof(tmp), "%s/.sem-%d", dir, s->semid);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = write(fd, text, (size_t)n) == n ? 0 : -EIO;
	close(fd);
	if (ret == 0 && rename(tmp, path) != 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

static void record_drop(const struct own_set *s)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];

	if (!s->recorded || !ns_dir(dir, sizeof(dir), true))
		return;
	snprintf(path, sizeof(path), "%s/sem-%d", dir, s->semid);
	unlink(path);
	/* the last one: nothing of ours left, maybe nothing of the
	 * namespace's (both fail while not empty) */
	if (rmdir(dir) == 0 && ns_dir(dir, sizeof(dir), false))
		rmdir(dir);
}

static bool stat_set(int semid, struct semid_ds *ds)
{
	union semun arg = { .buf = ds };

	return semctl(semid, 0, IPC_STAT, arg) == 0;
}

/* What no one but the daemon's own uid can make: a private set created by
 * our euid and egid, of the size made. */
static bool made_by_us(const struct semid_ds *ds, int nsems)
{
	return ds->sem_perm.cuid == geteuid() && ds->sem_perm.cgid == getegid() &&
	       ds->sem_perm.__key == IPC_PRIVATE && (int)ds->sem_nsems == nsems;
}

static bool state_is(const struct semid_ds *ds, const struct own_set *s)
{
	return ds->sem_ctime == s->ctime && ds->sem_perm.uid == s->uid &&
	       ds->sem_perm.gid == s->gid && (ds->sem_perm.mode & 0777) == s->mode;
}

bool ownset_proven(const struct own_set *s)
{
	struct semid_ds ds;

	return s->semid >= 0 && stat_set(s->semid, &ds) && made_by_us(&ds, s->nsems) &&
	       state_is(&ds, s);
}

int ownset_make(int nsems, struct own_set *out)
{
	struct semid_ds ds;
	int ret;

	memset(out, 0, sizeof(*out));
	out->semid = semget(IPC_PRIVATE, nsems, IPC_CREAT | 0600);
	if (out->semid < 0)
		return -errno;
	if (!stat_set(out->semid, &ds)) {
		ret = -errno;
		semctl(out->semid, 0, IPC_RMID);
		out->semid = -1;
		return ret;
	}
	out->nsems = nsems;
	out->ctime = ds.sem_ctime;
	out->uid = ds.sem_perm.uid;
	out->gid = ds.sem_perm.gid;
	out->mode = ds.sem_perm.mode & 0777;
	ret = record_write(out, NULL);
	if (ret)
		log_once_unrecorded(ret);
	out->recorded = ret == 0;
	return 0;
}

int ownset_hand(struct own_set *s, uid_t uid, gid_t gid, unsigned int mode)
{
	struct own_set next = { .uid = uid, .gid = gid, .mode = mode & 0666 };
	union semun arg;
	struct semid_ds ds;

	if (!ownset_proven(s))
		return -ESTALE;
	if (s->uid == next.uid && s->gid == next.gid && s->mode == next.mode)
		return 0;
	/* the record says where the set is going before it goes there */
	if (s->recorded)
		record_write(s, &next);
	ds.sem_perm.uid = next.uid;
	ds.sem_perm.gid = next.gid;
	ds.sem_perm.mode = next.mode;
	arg.buf = &ds;
	if (semctl(s->semid, 0, IPC_SET, arg) != 0)
		return -errno;
	/* ours until now, and nobody but its new owner or root can have
	 * changed it since: read back what the kernel keeps */
	if (!stat_set(s->semid, &ds))
		return -errno;
	s->ctime = ds.sem_ctime;
	s->uid = ds.sem_perm.uid;
	s->gid = ds.sem_perm.gid;
	s->mode = ds.sem_perm.mode & 0777;
	if (s->recorded)
		record_write(s, NULL);
	return 0;
}

int ownset_remove(struct own_set *s)
{
	int ret = 0;

	if (s->semid < 0)
		return 0;
	if (!ownset_proven(s))
		ret = -ESTALE;
	else if (semctl(s->semid, 0, IPC_RMID) != 0)
		ret = errno == EINVAL || errno == EIDRM ? 0 : -errno;
	record_drop(s);
	s->semid = -1;
	return ret;
}

void ownset_forget(struct own_set *s)
{
	if (s->semid < 0)
		return;
	record_drop(s);
	s->semid = -1;
}

/* ---- after a kill -9 ------------------------------------------------------- */

/* The proof for a recorded set: its recorded state, or, with an IPC_SET
 * under way, the state it was giving (a later sem_ctime). */
static bool recorded_proven(int semid, const char *text)
{
	struct own_set s = { .semid = semid };
	unsigned int uid, gid, puid, pgid, pmode;
	long long ctime;
	struct semid_ds ds;
	int n;

	n = sscanf(text, "%d %lld %u %u %o %u %u %o", &s.nsems, &ctime, &uid, &gid, &s.mode, &puid,
		   &pgid, &pmode);
	if (n != 5 && n != 8)
		return false;
	s.ctime = (time_t)ctime;
	s.uid = uid;
	s.gid = gid;
	if (!stat_set(semid, &ds) || !made_by_us(&ds, s.nsems))
		return false;
	if (state_is(&ds, &s))
		return true;
	return n == 8 && ds.sem_ctime >= s.ctime && ds.sem_perm.uid == puid &&
	       ds.sem_perm.gid == pgid && (ds.sem_perm.mode & 0777) == pmode;
}

static int reclaim_daemon_dir(int nsfd, const char *name)
{
	int dfd = openat(nsfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC), removed = 0;
	struct dirent *e;
	DIR *d;

	if (dfd < 0)
		return 0;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	while ((e = readdir(d))) {
		char text[160] = "";
		int semid, fd;
		ssize_t n;

		if (sscanf(e->d_name, "sem-%d", &semid) != 1) {
			if (e->d_name[0] == '.' && e->d_name[1] == 's')
				unlinkat(dfd, e->d_name, 0); /* a record half written */
			continue;
		}
		fd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			text[n] = '\0';
			if (recorded_proven(semid, text) && semctl(semid, 0, IPC_RMID) == 0)
				removed++;
			else
				fprintf(stderr,
					"shmfs: set %d, recorded by a daemon that is gone, is not "
					"provably its any more: left alone\n",
					semid);
		}
		unlinkat(dfd, e->d_name, 0);
	}
	closedir(d);
	unlinkat(nsfd, name, AT_REMOVEDIR);
	return removed;
}

int ownset_reclaim(void)
{
	char dir[PATH_MAX];
	struct dirent *e;
	int nsfd, removed = 0;
	DIR *d;

	if (!ns_dir(dir, sizeof(dir), false))
		return 0;
	nsfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (nsfd < 0)
		return 0;
	d = fdopendir(nsfd);
	if (!d) {
		close(nsfd);
		return 0;
	}
	while ((e = readdir(d))) {
		unsigned long long started;
		int pid;

		if (sscanf(e->d_name, "%d-%llu", &pid, &started) != 2)
			continue;
		/* a daemon still running (another mount of this namespace) keeps
		 * its sets; a pid that came back is another process */
		if (started && start_time(pid) == started)
			continue;
		removed += reclaim_daemon_dir(nsfd, e->d_name);
	}
	closedir(d);
	rmdir(dir); /* fails while a live daemon's records are there */
	if (removed)
		fprintf(stderr, "shmfs: removed %d set(s) left by a daemon that was killed\n",
			removed);
	return removed;
}
