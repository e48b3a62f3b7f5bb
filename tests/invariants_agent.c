/* invariants_agent.c - one user of the invariant harness: makes the calls
 * the driver asks for, as that user, and keeps that user's open files and
 * mappings.  See invariants.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "invariants.h"
#include "semun.h"
#include "share.h"
#include "testutil.h"

static int fds[INV_MAX_SLOTS];
static struct {
	void *p;
	size_t len;
} maps[INV_MAX_MAPS];

static void on_alarm(int sig)
{
	(void)sig; /* only to interrupt a read */
}

static int err_of(long ret)
{
	return ret < 0 ? errno : 0;
}

/* shmat as the open flags would need it, and detach at once: the
 * kernel's answer for this caller, 0 or an errno. */
static int probe_shmat(int shmid, bool writable)
{
	void *p = shmat(shmid, NULL, writable ? 0 : SHM_RDONLY);

	if (p == (void *)-1)
		return errno;
	shmdt(p);
	return 0;
}

/* Read a whole file from offset 0, at most max bytes: the count, or -errno. */
static long read_all(int fd, unsigned char *buf, long max)
{
	long n = 0;

	while (n < max) {
		ssize_t r = pread(fd, buf + n, (size_t)(max - n), n);

		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += r;
	}
	return n;
}

/* The sidecar of mb->path (its text into names) and the link by-key/ has
 * for mb->key. */
static void observe_names(struct mailbox *mb)
{
	char path[320];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s.stat", mb->path);
	fd = open(path, O_RDONLY);
	mb->side_err = err_of(fd);
	mb->names[0] = '\0';
	if (fd >= 0) {
		n = read_all(fd, (unsigned char *)mb->names, INV_NAMES - 1);
		mb->names[n > 0 ? n : 0] = '\0';
		if (n < 0)
			mb->side_err = (int)-n;
		close(fd);
	}
	mb->link[0] = '\0';
	mb->link_err = 0;
	if (mb->key) {
		char *slash = strrchr(path, '/');

		*slash = '\0';
		snprintf(slash, sizeof(path) - (size_t)(slash - path), "/by-key/0x%08x",
			 (unsigned int)mb->key);
		n = readlink(path, mb->link, sizeof(mb->link) - 1);
		mb->link_err = err_of(n);
		mb->link[n > 0 ? n : 0] = '\0';
	}
}

static void observe(struct mailbox *mb)
{
	void *p;
	int fd;

	mb->stat_err = err_of(stat(mb->path, &mb->st));
	mb->shm_len = 0;
	p = shmat(mb->shmid, NULL, SHM_RDONLY);
	mb->probe_err = p == (void *)-1 ? errno : 0;
	if (p != (void *)-1) {
		mb->shm_len = mb->size < INV_MAX_SEG ? mb->size : INV_MAX_SEG;
		memcpy(mb->shm_out, p, (size_t)mb->shm_len);
		shmdt(p);
	}
	mb->out_len = 0;
	fd = open(mb->path, O_RDONLY);
	mb->err = err_of(fd);
	if (fd >= 0) {
		long n = read_all(fd, mb->out, INV_MAX_SEG + 1);

		mb->err2 = n < 0 ? (int)-n : 0;
		mb->out_len = n < 0 ? 0 : n;
		mb->err3 = err_of(close(fd));
	}
	mb->ds_err = err_of(shmctl(mb->shmid, IPC_STAT, &mb->ds));
	observe_names(mb);
}

static void readdir_names(struct mailbox *mb)
{
	DIR *d = opendir(mb->path);
	struct dirent *e;
	size_t n = 0;

	mb->names[0] = '\0';
	mb->err = d ? 0 : errno;
	if (!d)
		return;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		int w;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		w = snprintf(mb->names + n, sizeof(mb->names) - n, "%s\n", e->d_name);
		if (w < 0 || (size_t)w >= sizeof(mb->names) - n)
			break;
		n += (size_t)w;
	}
	mb->err2 = errno;
	closedir(d);
}

static void create(struct mailbox *mb)
{
	int fd = open(mb->path, O_RDWR | O_CREAT | O_EXCL, (mode_t)mb->mode);

	mb->err = err_of(fd);
	mb->err2 = mb->err3 = mb->err4 = 0;
	if (fd < 0)
		return;
	if (mb->len > 0 && write(fd, mb->in, (size_t)mb->len) != mb->len)
		mb->err2 = errno ? errno : EIO;
	if (mb->size > 0)
		mb->err3 = err_of(ftruncate(fd, mb->size));
	mb->err4 = err_of(close(fd));
}

/* A read from the start that waits at most off milliseconds: the timer
 * interrupts it. */
static void next_read(struct mailbox *mb)
{
	struct itimerval t = { .it_value = { mb->off / 1000, (mb->off % 1000) * 1000 } };
	struct itimerval none = { 0 };
	ssize_t n;

	setitimer(ITIMER_REAL, &t, NULL);
	n = pread(fds[mb->slot], mb->out, (size_t)mb->len, 0);
	mb->err = err_of(n);
	setitimer(ITIMER_REAL, &none, NULL);
	mb->out_len = n < 0 ? 0 : n;
	mb->ret = n;
}

/* A set through the mount and directly, as this user. */
/* A set made to look like a lock: semaphore 0 the marker (1: a share
 * initialised), 1 and 2 (readers, writer) free, and for a set of 5 the
 * shmfs protocol's mark in 3 and 4 (share.h).  SETALL operates on
 * nothing (sem_otime stays 0).  0 or an errno. */
static int look_alike(int semid, const struct mailbox *mb)
{
	unsigned short v[SHARE_NSEMS_MARK] = { 0 };
	union semun arg = { .array = v };

	v[SHARE_SEM_INIT] = (unsigned short)mb->marker;
	if (mb->len >= SHARE_NSEMS_MARK) {
		v[SHARE_SEM_MARK_3] = SHARE_MARK_3;
		v[SHARE_SEM_MARK_4] = SHARE_MARK_4;
	}
	return mb->len > SHARE_NSEMS_MARK ? EINVAL : err_of(semctl(semid, 0, SETALL, arg));
}

/* A set's or queue's stat file through the mount, as this user, into
 * mb->names (mb->err: the open's or the read's errno). */
static void read_view_stat(struct mailbox *mb)
{
	char path[320];
	int fd;

	snprintf(path, sizeof(path), "%s/stat", mb->path);
	mb->names[0] = '\0';
	fd = open(path, O_RDONLY);
	mb->err = err_of(fd);
	if (fd >= 0) {
		long n = read_all(fd, (unsigned char *)mb->names, INV_NAMES - 1);

		mb->names[n > 0 ? n : 0] = '\0';
		if (n < 0)
			mb->err = (int)-n;
		close(fd);
	}
}

static void sem_view(struct mailbox *mb)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	char path[320];
	int fd;

	mb->probe_err = err_of(semctl(mb->shmid, 0, IPC_STAT, arg));
	for (int i = 0; i < mb->len && i < INV_MAX_SEMS; i++)
		mb->direct_vals[i] = semctl(mb->shmid, i, GETVAL);
	read_view_stat(mb);
	for (int i = 0; i < mb->len && i < INV_MAX_SEMS; i++) {
		char text[32] = "";
		long n = -EIO;

		mb->vals[i] = -1;
		snprintf(path, sizeof(path), "%s/%d", mb->path, i);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			n = read_all(fd, (unsigned char *)text, sizeof(text) - 1);
			close(fd);
		} else {
			n = -errno;
		}
		if (n < 0 && !mb->err2)
			mb->err2 = (int)-n;
		if (n > 0)
			mb->vals[i] = atoi(text);
	}
}

/* A queue through the mount, as this user. */
static void msg_view(struct mailbox *mb)
{
	struct msqid_ds ds;
	char path[320];
	long at = 0;
	int fd;

	mb->probe_err = err_of(msgctl(mb->shmid, IPC_STAT, &ds));
	read_view_stat(mb);
	for (int i = 0; i < mb->len && i < INV_MAX_MSGS; i++) {
		long n;

		snprintf(path, sizeof(path), "%s/%d", mb->path, i);
		fd = open(path, O_RDONLY);
		n = fd >= 0 ? read_all(fd, mb->out + at, INV_MAX_MSG + 1) : -errno;
		if (fd >= 0)
			close(fd);
		if (n < 0 && !mb->err2)
			mb->err2 = (int)-n;
		mb->msg_len[i] = n;
		at += n > 0 ? n : 0;
	}
	mb->out_len = at;
}

/* A -N write to a semaphore that waits as long as it must, in a child of
 * the agent's (the agent answers on): the child writes its result into
 * the mailbox, which it shares, park_done last. */
static pid_t park_child = -1;

static void sem_park(struct mailbox *mb)
{
	pid_t pid;

	__atomic_store_n(&mb->park_done, 0, __ATOMIC_SEQ_CST);
	pid = fork();
	if (pid == 0) {
		int fd = open(mb->path, O_WRONLY);
		long ret = -1;
		int err = fd < 0 ? errno : 0;

		if (fd >= 0) {
			ret = write(fd, mb->in, (size_t)mb->len);
			err = ret < 0 ? errno : 0;
			close(fd);
		}
		mb->park_ret = ret;
		mb->park_err = err;
		__atomic_store_n(&mb->park_done, 1, __ATOMIC_SEQ_CST);
		_exit(0);
	}
	park_child = pid;
	mb->ret = pid;
	mb->err = err_of(pid);
}

static void sem_park_end(struct mailbox *mb)
{
	bool timed_out = false;
	int status;

	mb->ret = -1;
	mb->err = mb->err2 = mb->err3 = 0;
	if (park_child <= 0)
		return;
	if (mb->flags)
		kill(park_child, SIGKILL);
	for (long waited = 0; waitpid(park_child, &status, WNOHANG) != park_child; waited += 5) {
		if (waited >= mb->len) {
			timed_out = true;
			kill(park_child, SIGKILL);
			waitpid(park_child, &status, 0);
			break;
		}
		usleep(5000);
	}
	park_child = -1;
	mb->err2 = timed_out ? ETIMEDOUT : 0;
	if (__atomic_load_n(&mb->park_done, __ATOMIC_SEQ_CST)) {
		mb->ret = mb->park_ret;
		mb->err = mb->park_err;
	} else {
		mb->err3 = 1;
	}
}

static void serve_one(struct mailbox *mb)
{
	int fd;
	void *p;

	errno = 0;
	mb->ret = 0;
	mb->err = mb->err2 = mb->err3 = mb->err4 = 0;
	switch (mb->op) {
	case A_OPEN:
		mb->probe_err = probe_shmat(mb->shmid, (mb->flags & O_ACCMODE) != O_RDONLY);
		fd = open(mb->path, mb->flags);
		mb->err = err_of(fd);
		fds[mb->slot] = fd;
		break;
	case A_CLOSE:
		mb->err = err_of(close(fds[mb->slot]));
		fds[mb->slot] = -1;
		break;
	case A_PREAD:
		mb->ret = read_all(fds[mb->slot], mb->out, mb->len);
		mb->err = mb->ret < 0 ? (int)-mb->ret : 0;
		mb->out_len = mb->ret < 0 ? 0 : mb->ret;
		break;
	case A_PWRITE:
		mb->ret = pwrite(fds[mb->slot], mb->in, (size_t)mb->len, mb->off);
		mb->err = err_of(mb->ret);
		break;
	case A_FTRUNCATE:
		mb->err = err_of(ftruncate(fds[mb->slot], mb->size));
		break;
	case A_FSTAT:
		mb->err = err_of(fstat(fds[mb->slot], &mb->st));
		break;
	case A_MMAP:
		p = mmap(NULL, (size_t)mb->len, PROT_READ | (mb->flags ? PROT_WRITE : 0),
			 MAP_SHARED, fds[mb->slot], 0);
		mb->err = p == MAP_FAILED ? errno : 0;
		if (p != MAP_FAILED) {
			maps[mb->map].p = p;
			maps[mb->map].len = (size_t)mb->len;
		}
		break;
	case A_MAPREAD:
		memcpy(mb->out, maps[mb->map].p, (size_t)mb->len);
		mb->out_len = mb->len;
		break;
	case A_MAPWRITE:
		memcpy((char *)maps[mb->map].p + mb->off, mb->in, (size_t)mb->len);
		break;
	case A_MUNMAP:
		mb->err = err_of(munmap(maps[mb->map].p, maps[mb->map].len));
		maps[mb->map].p = NULL;
		break;
	case A_OBSERVE:
		observe(mb);
		break;
	case A_PATHWRITE:
		mb->probe_err = probe_shmat(mb->shmid, true);
		fd = open(mb->path, O_WRONLY);
		mb->err = err_of(fd);
		if (fd >= 0) {
			mb->ret = pwrite(fd, mb->in, (size_t)mb->len, mb->off);
			mb->err2 = err_of(mb->ret);
			mb->err3 = err_of(close(fd));
		}
		break;
	case A_TRUNCATE:
		mb->probe_err = probe_shmat(mb->shmid, true);
		mb->err = err_of(truncate(mb->path, mb->size));
		break;
	case A_UNLINK:
		mb->err = err_of(unlink(mb->path));
		break;
	case A_CHMOD:
		mb->err = err_of(chmod(mb->path, (mode_t)mb->mode));
		break;
	case A_CHOWN:
		mb->err = err_of(chown(mb->path, mb->uid, mb->gid));
		break;
	case A_CREATE:
		create(mb);
		break;
	case A_READDIR:
		readdir_names(mb);
		break;
	case A_POLL: {
		struct pollfd pfd = { .fd = fds[mb->slot], .events = POLLIN };

		mb->ret = poll(&pfd, 1, (int)mb->len);
		mb->err = err_of(mb->ret);
		mb->ret = mb->ret > 0 ? pfd.revents : 0;
		break;
	}
	case A_NEXTREAD:
		next_read(mb);
		break;
	case A_SHMGET:
		mb->ret = shmget(mb->key, (size_t)mb->size, IPC_CREAT | IPC_EXCL | mb->mode);
		mb->err = err_of(mb->ret);
		break;
	case A_SHMRMID:
		mb->err = err_of(shmctl(mb->shmid, IPC_RMID, NULL));
		break;
	case A_SHMATWRITE:
		p = shmat(mb->shmid, NULL, 0);
		mb->err = p == (void *)-1 ? errno : 0;
		if (p != (void *)-1) {
			memcpy((char *)p + mb->off, mb->in, (size_t)mb->len);
			shmdt(p);
		}
		break;
	case A_SEMGET:
		mb->ret = semget(mb->key, (int)mb->len, IPC_CREAT | IPC_EXCL | mb->mode);
		mb->err = err_of(mb->ret);
		if (mb->ret >= 0)
			mb->err2 = err_of(semctl((int)mb->ret, 0, SETVAL, mb->marker));
		break;
	case A_SEMLOOK:
		mb->ret = semget(mb->key, (int)mb->len, IPC_CREAT | IPC_EXCL | mb->mode);
		mb->err = err_of(mb->ret);
		if (mb->ret >= 0)
			mb->err2 = look_alike((int)mb->ret, mb);
		break;
	case A_SEMRM:
		mb->err = err_of(semctl(mb->shmid, 0, IPC_RMID));
		break;
	case A_SEMVIEW:
		sem_view(mb);
		break;
	case A_SEMPARK:
		sem_park(mb);
		break;
	case A_SEMPARKEND:
		sem_park_end(mb);
		break;
	case A_SEMWRITE:
		/* O_NONBLOCK: a -N that cannot go through now is EAGAIN, as
		 * the model says, not a wait (test_semwait.c) */
		fd = open(mb->path, O_WRONLY | O_NONBLOCK);
		mb->err = err_of(fd);
		if (fd >= 0) {
			mb->ret = write(fd, mb->in, (size_t)mb->len);
			mb->err2 = err_of(mb->ret);
			mb->err3 = err_of(close(fd));
		}
		break;
	case A_MSGVIEW:
		msg_view(mb);
		break;
	case A_MSGGET:
		mb->ret = msgget(mb->key, IPC_CREAT | IPC_EXCL | mb->mode);
		mb->err = err_of(mb->ret);
		break;
	case A_MSGSND: {
		struct {
			long type;
			unsigned char text[INV_MAX_MSG];
		} m = { .type = mb->marker };

		memcpy(m.text, mb->in, (size_t)mb->len);
		mb->err = err_of(msgsnd(mb->shmid, &m, (size_t)mb->len, IPC_NOWAIT));
		break;
	}
	case A_MSGRCV: {
		struct {
			long type;
			unsigned char text[INV_MAX_MSG];
		} m = { 0 };

		mb->out_len = msgrcv(mb->shmid, &m, sizeof(m.text), 0, IPC_NOWAIT);
		mb->err = err_of(mb->out_len);
		mb->ret = m.type;
		if (mb->out_len > 0)
			memcpy(mb->out, m.text, (size_t)mb->out_len);
		break;
	}
	case A_RMDIR:
		mb->err = err_of(rmdir(mb->path));
		break;
	default:
		mb->err = ENOSYS;
	}
}

static void agent_serve(uid_t uid, struct mailbox *mb, int cmd_fd, int done_fd)
{
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
	pid_t parent = getppid();
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(3);
	if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		_exit(2);
	umask(0);
	sigaction(SIGALRM, &sa, NULL);
	for (int i = 0; i < INV_MAX_SLOTS; i++)
		fds[i] = -1;
	while (read(cmd_fd, &c, 1) == 1) {
		serve_one(mb);
		if (write(done_fd, "x", 1) != 1)
			break;
	}
	_exit(0);
}

void agent_start(struct agent *a, uid_t uid)
{
	int cmd[2], done[2];

	a->uid = uid;
	a->mb = mmap(NULL, sizeof(*a->mb), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		     0);
	if (a->mb == MAP_FAILED || pipe(cmd) != 0 || pipe(done) != 0) {
		perror("agent_start");
		exit(1);
	}
	a->pid = testutil_fork();
	if (a->pid == 0) {
		/* none of the driver's descriptors: another agent's pipe kept
		 * open here would never see its end */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != cmd[0] && fd != done[1])
				close(fd);
		agent_serve(uid, a->mb, cmd[0], done[1]);
	}
	close(cmd[0]);
	close(done[1]);
	a->cmd = cmd[1];
	a->done = done[0];
}

bool agent_call(struct agent *a, enum agent_op op, int timeout_ms)
{
	struct pollfd pfd = { .fd = a->done, .events = POLLIN };
	char c;

	a->mb->op = op;
	return write(a->cmd, "x", 1) == 1 && poll(&pfd, 1, timeout_ms) == 1 &&
	       read(a->done, &c, 1) == 1;
}

bool agent_stop(struct agent *a)
{
	bool clean;

	close(a->cmd);
	close(a->done);
	clean = testutil_wait_bounded(a->pid, 10) >= 0;
	munmap(a->mb, sizeof(*a->mb));
	a->mb = NULL;
	return clean;
}
