#!/usr/bin/python3
"""errno_contract.py - the man page's ERRORS section is a contract that
cannot drift (issue 21).

  errno_contract.py scan SRC-DIR MAN-SOURCE
      Every errno constant in SRC-DIR/*.c is listed in the man page's
      ERRORS, unless INTERNAL below says why no request is answered with
      it.  (An errno passed on from a system call, -errno, is not seen by
      this scan: each such place must map it on purpose.)

  errno_contract.py mount SHMFS MAN-SOURCE
      In a private IPC and mount namespace, with a real mount: for each
      operation (each "## " heading of ERRORS) every errno listed is either
      provoked here, and the mount answers exactly it, or named in
      NOT_PROVOKED with the reason it cannot be; an errno the mount answers
      in a case must be listed under that case's heading.

Exit status 77 (skipped) where namespaces cannot be made (not root),
except under CI=true, where that is a failure.
"""
import ctypes
import errno
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# ---- the man page ---------------------------------------------------------


def man_errors(path):
    """{heading: set of errno names} of the ERRORS section of the scdoc
    source: a line that is only bold errno names lists them."""
    text = open(path, encoding='utf-8').read()
    m = re.search(r'^# ERRORS\n(.*?)^# ', text, re.S | re.M)
    if not m:
        sys.exit('%s: no ERRORS section' % path)
    ops, cur = {}, None
    for line in m.group(1).splitlines():
        if line.startswith('## '):
            cur = line[3:].strip()
            ops[cur] = set()
        elif re.fullmatch(r'\*E[A-Z0-9]+\*(, \*E[A-Z0-9]+\*)*', line.strip()) \
                and not line.startswith('\t'):
            if cur is None:
                sys.exit('%s: errnos before the first ## heading' % path)
            ops[cur] |= set(re.findall(r'E[A-Z0-9]+', line))
    return ops, m.group(1)


# ---- scan -------------------------------------------------------------------

# Errno constants in src/ that no request is answered with, and why.
INTERNAL = {
    'EIO': 'attach.c: a zero fill whose pwrite(2) of the segment\'s tmpfs file '
           'wrote nothing, which tmpfs does not do',
    'ENOTDIR': 'fs.c: opendir of a non-directory, which the kernel never sends',
    'ESHUTDOWN': 'lockwait.c, watch.c: the session ends; fs_io.c answers EINTR',
    'ESRCH': 'orphan.c: kill(cpid, 0) for a verdict, never a reply',
    'E2BIG': 'msgq.c: msgrcv(MSG_COPY) into a short buffer, retried with a larger one',
    'ENOMSG': 'msgq.c: msgrcv(MSG_COPY) past the last message, the end of the list',
    'ENOSYS': 'msgq.c: a kernel without MSG_COPY, told apart in msgq.c',
    'ENAMETOOLONG': 'ownset.c: a record path past PATH_MAX (SHMFS_STATE_DIR), '
                    'logged, never a reply',
}


def scan(src, man):
    ops, section = man_errors(man)
    listed = set().union(*ops.values()) | set(re.findall(r'\*(E[A-Z0-9]+)\*', section))
    names = set(errno.errorcode.values()) | {'ENOTSUP', 'EWOULDBLOCK'}
    used = {}
    for f in sorted(os.listdir(src)):
        if not f.endswith('.c'):
            continue
        code = open(os.path.join(src, f), encoding='utf-8').read()
        code = re.sub(r'/\*.*?\*/', ' ', code, flags=re.S)  # comments
        code = re.sub(r'//[^\n]*', ' ', code)
        code = re.sub(r'"(\\.|[^"\\])*"', '""', code)  # strings
        for e in re.findall(r'\bE[A-Z0-9]+\b', code):
            if e in names:
                used.setdefault(e, set()).add(f)
    bad = 0
    for e in sorted(used):
        if e in listed or e in INTERNAL:
            continue
        print('%s (in %s) is not in the man page\'s ERRORS, nor in INTERNAL with a reason'
              % (e, ', '.join(sorted(used[e]))))
        bad += 1
    for e in sorted(INTERNAL):
        if e in listed:
            print('%s is in INTERNAL but listed in the man page: drop it from INTERNAL' % e)
            bad += 1
    print('%d errno names in src/, %d listed, %d internal' % (len(used),
          len([e for e in used if e in listed]), len([e for e in used if e in INTERNAL])))
    return 1 if bad else 0


# ---- mount: helpers ---------------------------------------------------------

NOBODY = 65534
libc = ctypes.CDLL(None, use_errno=True)
IPC_PRIVATE, IPC_CREAT, IPC_EXCL, IPC_RMID, IPC_NOWAIT = 0, 0o1000, 0o2000, 0, 0o4000
SETVAL, SEM_UNDO = 16, 0x1000


class sembuf(ctypes.Structure):
    _fields_ = [('sem_num', ctypes.c_ushort), ('sem_op', ctypes.c_short),
                ('sem_flg', ctypes.c_short)]


def check(ret):
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def shm_make(key=IPC_PRIVATE, size=8192, mode=0o644):
    return check(libc.shmget(key, ctypes.c_size_t(size), IPC_CREAT | IPC_EXCL | mode))


def shm_rm(shmid):
    libc.shmctl(shmid, IPC_RMID, None)


def sharelite_set(key):
    """The ShareLite set of key, as an outside program makes it."""
    semid = check(libc.semget(key, 3, IPC_CREAT | 0o600))
    check(libc.semctl(semid, 0, SETVAL, ctypes.c_int(1)))
    return semid


def lock_exclusive(semid):
    ops = (sembuf * 3)((1, 0, 0), (2, 0, 0), (2, 1, SEM_UNDO))
    check(libc.semop(semid, ops, 3))


def unlock_exclusive(semid):
    op = sembuf(2, -1, SEM_UNDO | IPC_NOWAIT)
    check(libc.semop(semid, ctypes.byref(op), 1))


def sysctl(name, value=None):
    path = '/proc/sys/kernel/' + name
    old = open(path).read().strip()
    if value is not None:
        with open(path, 'w') as f:
            f.write(str(value))
    return old


def errno_of(fn):
    """The errno fn() fails with, or 0."""
    try:
        fn()
        return 0
    except OSError as e:
        return e.errno


def as_user(uid, fn):
    """errno_of(fn) in a child with uid's ids and no groups."""
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            code = errno_of(fn)
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def in_child(fn):
    """errno_of(fn) in a child process (limits set there stay there)."""
    return as_user(os.getuid(), fn)


def write_all(path, data, flags=os.O_WRONLY):
    fd = os.open(path, flags)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def open_close(path, flags=os.O_RDONLY):
    os.close(os.open(path, flags))


# ---- mount: the cases -------------------------------------------------------

L = 'lookup, stat(2), readlink(2)'
O = 'open(2) of a segment or .next file'
MM = 'mmap(2) of a segment file'
SO = 'open(2) of a sidecar'
PO = 'open(2) of a .procs file'
R = 'read(2)'
W = 'write(2) to a segment file'
SW = 'write(2) to a sidecar'
T = 'truncate(2), ftruncate(2)'
U = 'unlink(2)'
C = 'chmod(2), chown(2), utimes(2)'
MK = 'mkdir(2), rmdir(2), rename(2), link(2), symlink(2), mknod(2)'
X = 'setxattr(2), getxattr(2), listxattr(2), removexattr(2)'
CR = 'open(2) with O_CREAT of a new name'
CS = 'creating the segment, reported by truncate(2), utimes(2) or close(2)'
D = 'opendir(3) of the root or by-key/'
SF = 'statfs(2)'
A = 'access(2)'

V = 'the sem/ and msg/ views'

SIGNAL = 'a signal at the right moment of a wait: tests/test_stall.c'
MAX_WAITS = 'max_waits requests parked at once: tests/test_stall.c'
NOMEM = 'the daemon out of memory'
USER_DAEMON = 'a daemon run by an ordinary user (this one is root)'
REUSED = ('a set\'s or a queue\'s node whose object is gone and whose number another '
          'holds: tests/test_views.c')
VIEWS = 'tests/test_views.c, against the kernel'
SEMWAIT = 'a -N written to a semaphore, waiting: tests/test_semwait.c, through a real mount'

NOT_PROVOKED = {
    (O, 'EINTR'): SIGNAL, (O, 'ENOLCK'): MAX_WAITS, (O, 'ENOMEM'): NOMEM,
    (SO, 'ENOMEM'): NOMEM,
    (PO, 'ENOMEM'): NOMEM,
    (PO, 'EAGAIN'): 'four scans of one user under way at once: tests/test_procs.c',
    (PO, 'ETIMEDOUT'): 'a process whose maps cannot be read for 10 s: tests/test_procs.c',
    (R, 'EINTR'): SIGNAL, (R, 'ENOLCK'): MAX_WAITS, (R, 'EACCES'): USER_DAEMON,
    (R, 'ENOMEM'): NOMEM,
    (R, 'EFAULT'): 'a SHM_HUGETLB|SHM_NORESERVE segment without huge pages: tests/test_stall.c',
    (R, 'EIDRM'): 'the lock set removed twice during one wait, a race',
    (W, 'EINTR'): SIGNAL, (W, 'ENOLCK'): MAX_WAITS, (W, 'EACCES'): USER_DAEMON,
    (W, 'EFAULT'): 'as for read(2)', (W, 'ENOMEM'): NOMEM,
    (W, 'EIDRM'): 'as for read(2)',
    (SW, 'EAGAIN'): 'the daemon unable to start a process, or 4 of the user\'s under way',
    (SW, 'ETIMEDOUT'): 'the caller stopping its own helper process for 2 s',
    (T, 'EINTR'): SIGNAL, (T, 'ENOLCK'): MAX_WAITS,
    (CR, 'ENOMEM'): NOMEM,
    (CS, 'EBUSY'): 'the new set\'s lock taken by another program at the moment of creation, a race',
    (CS, 'EPERM'): 'a descriptor of a name being created passed to another user',
    (CS, 'ENOMEM'): NOMEM,
    (SF, 'EINVAL'): 'a kernel without System V IPC',
    (O, 'ESTALE'): 'a shmid given to a new segment between the lookup and the open, a '
                   'race: tests/test_lifetimes.c, tests/test_attach.c',
    (SW, 'ESTALE'): 'as for unlink(2)',
    (T, 'ESTALE'): 'as for open(2)',
    (U, 'ESTALE'): 'a shmid given to a new segment between the lookup and the call, a race: '
                   'tests/test_attach.c',
    (L, 'ESTALE'): 'fstat(2) of a file whose segment was removed and its shmid given to a '
                   'new one (a path is looked up again): tests/test_stale.c',
    (SO, 'ESTALE'): 'as for open(2) of a segment',
    (PO, 'ESTALE'): 'as for open(2) of a segment',
    (A, 'ESTALE'): 'as for lookup',
    (V, 'ESTALE'): REUSED,
    # The views: each provoked, against the kernel, by tests/test_views.c.
    (V, 'EACCES'): VIEWS, (V, 'EPERM'): VIEWS, (V, 'EAGAIN'): VIEWS, (V, 'ERANGE'): VIEWS,
    (V, 'EINVAL'): VIEWS, (V, 'ENOENT'): VIEWS,
    (V, 'EMFILE'): '17 listings of sem/ or msg/ open by one user (as tests/test_scale.c '
                   'does for the root)',
    (V, 'EOPNOTSUPP'): 'a kernel without MSG_COPY (CONFIG_CHECKPOINT_RESTORE)',
    (V, 'ENOMEM'): NOMEM,
    (V, 'ETIMEDOUT'): SEMWAIT, (V, 'EINTR'): SEMWAIT, (V, 'EIDRM'): SEMWAIT,
    (V, 'ENOLCK'): SEMWAIT, (V, 'EBUSY'): SEMWAIT,
}


class Mount:
    def __init__(self, shmfs):
        self.dir = tempfile.mkdtemp(prefix='shmfs-contract.')
        self.log = tempfile.NamedTemporaryFile(prefix='shmfs-contract-log.', mode='w+')
        env = dict(os.environ, SHMFS_MASK_KERNEL_FEATURES='passthrough')
        opts = 'allow_other,attr_timeout=0,lock_timeout=1,max_sets=2,max_pending=65536'
        self.proc = subprocess.Popen([shmfs, '-f', '-o', opts, self.dir],
                                     stderr=self.log, env=env)
        for _ in range(500):
            if os.path.ismount(self.dir):
                return
            if self.proc.poll() is not None:
                sys.exit('shmfs exited before mounting: %s' % self.proc.returncode)
            time.sleep(0.01)
        sys.exit('shmfs did not mount')

    def path(self, *names):
        return os.path.join(self.dir, *[str(n) for n in names])

    def logged(self):
        self.log.flush()
        return open(self.log.name).read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        if os.path.ismount(self.dir):
            subprocess.run(['umount', '-l', self.dir])
        os.rmdir(self.dir)
        return status


def cases(m):
    """(heading, errno name, what, fn) for each case; fn returns the errno
    the mount answered (0: none)."""
    p = m.path
    root_only = shm_make(mode=0o600)
    public = shm_make(mode=0o644)
    keyed = shm_make(key=0x5eed0010)
    gone = shm_make()
    shm_rm(gone)

    def removed_segment():
        i = shm_make()
        shm_rm(i)
        return i

    def kept_fchmod(reuse):
        """fchmod(2) through a descriptor kept of a segment removed (and so
        destroyed: an open file is no attacher), its shmid given to another
        segment at once if reuse."""
        i = shm_make()
        fd = os.open(p(i), os.O_RDWR)
        other = None
        try:
            shm_rm(i)
            if reuse:
                with open('/proc/sys/kernel/shm_next_id', 'w') as f:
                    f.write('%d\n' % i)
                other = shm_make()
                if other != i:
                    return -1
            return errno_of(lambda: os.fchmod(fd, 0o600))
        finally:
            os.close(fd)
            if other is not None:
                shm_rm(other)

    def under_lock(fn):
        """fn while this process holds the exclusive lock of a segment made
        through by-key (so with the key's set, which shmfs locks with)."""
        key = 0x5eed0001
        fd = os.open(p('by-key', '0x%08x' % key), os.O_WRONLY | os.O_CREAT, 0o644)
        os.ftruncate(fd, 8192)
        os.close(fd)
        i = check(libc.shmget(key, 0, 0))
        semid = check(libc.semget(key, 0, 0))
        lock_exclusive(semid)
        try:
            return errno_of(lambda: fn(i))
        finally:
            unlock_exclusive(semid)
            libc.semctl(semid, 0, IPC_RMID)
            shm_rm(i)

    def rmid_forced(fn):
        old = sysctl('shm_rmid_forced', 1)
        i = shm_make()
        try:
            return errno_of(lambda: fn(i))
        finally:
            sysctl('shm_rmid_forced', old)
            shm_rm(i)

    def sets_budget():
        """As nobody: two .next files open hold two notification sets
        (max_sets=2); the third is refused, and the log names the budget."""
        ids = [shm_make(mode=0o666) for _ in range(3)]

        def third():
            fds = [os.open(p('%d.next' % i), os.O_RDONLY) for i in ids[:2]]
            try:
                open_close(p('%d.next' % ids[2]))
            finally:
                for fd in fds:
                    os.close(fd)
        try:
            return as_user(NOBODY, third)
        finally:
            for i in ids:
                shm_rm(i)

    def next_wait_destroyed():
        i = shm_make()
        fd = os.open(p('%d.next' % i), os.O_RDONLY)
        pid = os.fork()
        if pid == 0:
            os._exit(errno_of(lambda: os.read(fd, 1)))
        wait_in_read(pid)
        shm_rm(i)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        os.close(fd)
        return code

    def mmap_shared(flags, prot):
        import mmap

        def f():
            fd = os.open(p(public), flags)
            try:
                mmap.mmap(fd, 4096, mmap.MAP_SHARED, prot).close()
            finally:
                os.close(fd)
        return errno_of(f)

    def sidecar_write_limited(limit, size):
        """lock as a user (root's calls are the daemon's own) owning a
        segment of size, with RLIMIT_MEMLOCK limit."""
        def f():
            i = shm_make(size=size)
            try:
                write_all(p('%d.stat' % i), b'lock')
            finally:
                shm_rm(i)

        def limited():
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (limit, limit))
            check_errno(as_user(NOBODY, f))
        return in_child(limited)

    def sidecar_write_gone():
        i = shm_make()
        fd = os.open(p('%d.stat' % i), os.O_WRONLY)
        shm_rm(i)
        try:
            return errno_of(lambda: os.write(fd, b'lock'))
        finally:
            os.close(fd)

    def unlink_marked():
        i = shm_make()
        addr = libc.shmat(i, None, 0)
        try:
            os.unlink(p(i))
            return errno_of(lambda: os.unlink(p(i)))
        finally:
            libc.shmdt(ctypes.c_void_p(addr))

    def pending_then(key, fn):
        """fn(fd) with by-key/key open O_CREAT (being created)."""
        fd = os.open(p('by-key', '0x%08x' % key), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            return errno_of(lambda: fn(fd))
        finally:
            errno_of(lambda: os.close(fd))
            i = libc.shmget(key, 0, 0)
            if i >= 0:
                shm_rm(i)

    def create_beyond_shmmax():
        old = sysctl('shmmax', 1 << 20)
        try:
            return pending_then(0x5eed0002, lambda fd: os.ftruncate(fd, 2 << 20))
        finally:
            sysctl('shmmax', old)

    def create_beyond_shmmni():
        count = len(open('/proc/sysvipc/shm').readlines()) - 1
        old = sysctl('shmmni', count)
        try:
            return pending_then(0x5eed0003, lambda fd: os.ftruncate(fd, 4096))
        finally:
            sysctl('shmmni', old)

    def create_taken_meanwhile():
        key = 0x5eed0004

        def f(fd):
            shm_make(key=key)
            os.ftruncate(fd, 4096)
        return pending_then(key, f)

    def create_over_budget_close():
        key = 0x5eed0005
        fd = os.open(p('by-key', '0x%08x' % key), os.O_WRONLY | os.O_CREAT, 0o644)
        errno_of(lambda: os.write(fd, b'x' * 70000))
        return errno_of(lambda: os.close(fd))

    def others_pending_name():
        key = 0x5eed0006
        return pending_then(key, lambda fd: check_errno(as_user(
            NOBODY, lambda: os.truncate(p('by-key', '0x%08x' % key), 4096))))

    def listings():
        def f():
            made, fds = [], []
            try:
                for _ in range(17):
                    made.append(shm_make(mode=0o600))  # a new listing
                    fds.append(os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY))
            finally:
                for fd in fds:
                    os.close(fd)
                for i in made:
                    shm_rm(i)
        return as_user(NOBODY, f)

    nb = lambda fn: as_user(NOBODY, fn)  # noqa: E731
    e = errno_of
    return [
        (L, 'ENOENT', 'stat of a shmid no segment has', lambda: e(lambda: os.stat(p(gone)))),
        (L, 'ENOENT', 'stat of by-key/0x00000000',
         lambda: e(lambda: os.stat(p('by-key', '0x00000000')))),
        (O, 'EACCES', 'open by another user without permission',
         lambda: nb(lambda: open_close(p(root_only)))),
        (O, 'EACCES', 'a .next file opened for writing',
         lambda: e(lambda: open_close(p('%d.next' % public), os.O_WRONLY))),
        (O, 'ENOENT', 'open of a removed segment',
         lambda: e(lambda: open_close(p(removed_segment())))),
        (O, 'EBUSY', 'open under kernel.shm_rmid_forced=1, nobody attached',
         lambda: rmid_forced(lambda i: open_close(p(i)))),
        (O, 'ETIMEDOUT', 'O_TRUNC while another holds the lock',
         lambda: under_lock(lambda i: open_close(p(i), os.O_WRONLY | os.O_TRUNC))),
        (O, 'ENOSPC', 'a user past max_sets', sets_budget),
        (MM, 'ENODEV', 'MAP_SHARED without passthrough',
         lambda: mmap_shared(os.O_RDWR, 3)),
        (MM, 'EACCES', 'PROT_WRITE with MAP_SHARED of a read-only file',
         lambda: mmap_shared(os.O_RDONLY, 3)),
        (SO, 'EPERM', 'a sidecar opened for writing by another user',
         lambda: nb(lambda: open_close(p('%d.stat' % public), os.O_WRONLY))),
        (SO, 'ENOENT', 'the sidecar of a removed segment',
         lambda: e(lambda: open_close(p('%d.stat' % removed_segment())))),
        (PO, 'EACCES', 'a .procs file opened for writing',
         lambda: e(lambda: open_close(p('%d.procs' % public), os.O_WRONLY))),
        (PO, 'ENOENT', 'the .procs file of a removed segment',
         lambda: e(lambda: open_close(p('%d.procs' % removed_segment())))),
        (R, 'ETIMEDOUT', 'a read while another holds the lock',
         lambda: under_lock(lambda i: os.close(os.open(p(i), os.O_RDONLY)) or
                            read_once(p(i)))),
        (R, 'ENOENT', 'a read of .next waiting when the segment is destroyed',
         next_wait_destroyed),
        (W, 'ENOSPC', 'a write at the end', lambda: e(lambda: pwrite_at(p(public), 8192))),
        (W, 'ETIMEDOUT', 'a write while another holds the lock',
         lambda: under_lock(lambda i: write_all(p(i), b'x'))),
        (W, 'EFBIG', 'writing a name being created past max_pending',
         lambda: pending_then(0x5eed0007, lambda fd: os.write(fd, b'x' * 70000))),
        (SW, 'EINVAL', 'writing other than lock or unlock',
         lambda: e(lambda: write_all(p('%d.stat' % public), b'nope'))),
        (SW, 'EPERM', 'lock with RLIMIT_MEMLOCK 0', lambda: sidecar_write_limited(0, 8192)),
        (SW, 'ENOMEM', 'lock beyond RLIMIT_MEMLOCK',
         lambda: sidecar_write_limited(4096, 1 << 20)),
        (SW, 'ENOENT', 'lock of a segment removed since the open', sidecar_write_gone),
        (T, 'EFBIG', 'truncate beyond the size', lambda: e(lambda: os.truncate(p(public), 8193))),
        (T, 'EACCES', 'truncate by another user without write permission',
         lambda: nb(lambda: os.truncate(p(public), 0))),
        (T, 'EPERM', 'truncate of a sidecar',
         lambda: e(lambda: os.truncate(p('%d.stat' % public), 0))),
        (T, 'ENOENT', 'truncate of a removed segment',
         lambda: e(lambda: os.truncate(p(removed_segment()), 0))),
        (T, 'EBUSY', 'truncate under kernel.shm_rmid_forced=1, nobody attached',
         lambda: rmid_forced(lambda i: os.truncate(p(i), 0))),
        (T, 'ETIMEDOUT', 'truncate while another holds the lock',
         lambda: under_lock(lambda i: os.truncate(p(i), 0))),
        (U, 'EPERM', 'unlink by another user', lambda: nb(lambda: os.unlink(p(public)))),
        (U, 'EPERM', 'unlink of a sidecar', lambda: e(lambda: os.unlink(p('%d.stat' % public)))),
        (U, 'EPERM', 'unlink of a .next file',
         lambda: e(lambda: os.unlink(p('%d.next' % public)))),
        (U, 'EPERM', 'unlink in by-key', lambda: e(lambda: os.unlink(p('by-key', key_of(keyed))))),
        (U, 'ENOENT', 'unlink of a shmid no segment has', lambda: e(lambda: os.unlink(p(gone)))),
        (U, 'ENOENT', 'unlink of a segment marked for destruction', unlink_marked),
        (U, 'EISDIR', 'unlink of by-key', lambda: e(lambda: os.unlink(p('by-key')))),
        (C, 'EPERM', 'chmod by another user', lambda: nb(lambda: os.chmod(p(public), 0o666))),
        (C, 'EPERM', 'chmod of a sidecar', lambda: e(lambda: os.chmod(p('%d.stat' % public), 0o600))),
        (C, 'ENOENT', 'chmod of a removed segment',
         lambda: e(lambda: os.chmod(p(removed_segment()), 0o600))),
        (C, 'ENOENT', 'fchmod through a descriptor kept of a destroyed segment',
         lambda: kept_fchmod(False)),
        (C, 'ESTALE', 'fchmod through a descriptor kept of a destroyed segment whose '
         'shmid another segment has', lambda: kept_fchmod(True)),
        (MK, 'EPERM', 'mkdir', lambda: e(lambda: os.mkdir(p('d')))),
        (MK, 'EPERM', 'rename', lambda: e(lambda: os.rename(p(public), p(gone)))),
        (MK, 'EPERM', 'symlink', lambda: e(lambda: os.symlink('x', p('by-key', 'l')))),
        (X, 'ENOTSUP', 'setxattr', lambda: e(lambda: os.setxattr(p(public), 'user.a', b'1'))),
        (X, 'ENOTSUP', 'getxattr', lambda: e(lambda: os.getxattr(p(public), 'user.a'))),
        (CR, 'EPERM', 'a new name in the root directory',
         lambda: e(lambda: open_close(p('424242'), os.O_WRONLY | os.O_CREAT))),
        (CR, 'EINVAL', 'a new name in by-key that is not a key',
         lambda: e(lambda: open_close(p('by-key', 'nokey'), os.O_WRONLY | os.O_CREAT))),
        (CR, 'EINVAL', 'by-key/0x00000000',
         lambda: e(lambda: open_close(p('by-key', '0x00000000'), os.O_WRONLY | os.O_CREAT))),
        (CR, 'EEXIST', 'O_EXCL of a key that exists',
         lambda: e(lambda: open_close(p('by-key', key_of(keyed)),
                                      os.O_WRONLY | os.O_CREAT | os.O_EXCL))),
        (CS, 'EFBIG', 'a size beyond kernel.shmmax', create_beyond_shmmax),
        (CS, 'ENOSPC', 'kernel.shmmni reached', create_beyond_shmmni),
        (CS, 'EEXIST', 'the key taken meanwhile', create_taken_meanwhile),
        (CS, 'EFBIG', 'the close of a name whose write failed with EFBIG',
         create_over_budget_close),
        (CS, 'ENOENT', 'another user\'s name being created', others_pending_name),
        (D, 'EMFILE', 'a 17th listing held by one user', listings),
        (A, 'EACCES', 'W_OK by another user without permission',
         lambda: nb(lambda: access_or_raise(p(public), os.W_OK))),
        (A, 'EACCES', 'X_OK on a file', lambda: e(lambda: access_or_raise(p(public), os.X_OK))),
        (A, 'ENOENT', 'a removed segment',
         lambda: e(lambda: access_or_raise(p(removed_segment()), os.R_OK))),
    ], [root_only, public, keyed]


def wait_in_read(pid):
    """Until pid is blocked in read(2) (its request is in the daemon)."""
    for _ in range(1000):
        try:
            if open('/proc/%d/syscall' % pid).read().split()[0] == '0':
                return
        except (OSError, IndexError):
            pass
        time.sleep(0.01)
    raise OSError(errno.ETIMEDOUT, 'the child never blocked in read')


def check_errno(code):
    if code:
        raise OSError(code, os.strerror(code))


def key_of(shmid):
    for line in open('/proc/sysvipc/shm').readlines()[1:]:
        f = line.split()
        if int(f[1]) == shmid:
            return '0x%08x' % (int(f[0]) & 0xffffffff)
    raise OSError(errno.ENOENT, 'no key')


def read_once(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.read(fd, 1)
    finally:
        os.close(fd)


def pwrite_at(path, off):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b'x', off)
    finally:
        os.close(fd)


def access_or_raise(path, mode):
    # os.access swallows the errno: ask the kernel directly
    if libc.access(path.encode(), mode) != 0:
        check(-1)


def mount_test(shmfs, man):
    ops, _ = man_errors(man)
    m = Mount(shmfs)
    bad = 0
    covered = set()
    try:
        # keyed public segment for the by-key cases
        the_cases, made = cases(m)
        for heading, want, what, fn in the_cases:
            if heading not in ops:
                print('FAIL %s: no such heading in the man page' % heading)
                bad += 1
                continue
            got = fn()
            got_name = errno.errorcode.get(got, str(got)) if got else '0'
            if got_name == 'EOPNOTSUPP':
                got_name = 'ENOTSUP'
            ok = got_name == want and want in ops[heading]
            print('%s %-30.30s %-10s %s%s' % ('ok  ' if ok else 'FAIL', heading, want, what,
                  '' if ok else ' (answered %s%s)' % (got_name, '' if want in ops[heading]
                                                       else '; not listed there')))
            bad += not ok
            covered.add((heading, want))
        for i in made:
            shm_rm(i)
        log = m.logged()
        if 'max_sets' not in log:
            print('FAIL the log does not name max_sets when a user reached it:\n' + log)
            bad += 1
    finally:
        status = m.stop()
    if status != 0:
        print('FAIL shmfs exited with status %s' % status)
        bad += 1
    for heading, listed in ops.items():
        for e in sorted(listed):
            if (heading, e) not in covered and (heading, e) not in NOT_PROVOKED:
                print('FAIL %s lists %s: provoke it here, or say in NOT_PROVOKED why not'
                      % (heading, e))
                bad += 1
    for (heading, e) in NOT_PROVOKED:
        if e not in ops.get(heading, ()):
            print('FAIL NOT_PROVOKED has %s for %s, which the man page does not list'
                  % (e, heading))
            bad += 1
    return 1 if bad else 0


def isolate():
    """Re-run in a private IPC and mount namespace (once)."""
    if os.environ.get('ERRNO_CONTRACT_ISOLATED') == '1':
        return
    env = dict(os.environ, ERRNO_CONTRACT_ISOLATED='1')
    try:
        r = subprocess.run(['unshare', '--ipc', '--mount', '--propagation', 'private',
                            sys.executable] + sys.argv, env=env)
    except OSError as e:
        r = None
        print('cannot run unshare: %s' % e)
    if r is not None and r.returncode != 125 and not (r.returncode == 1 and os.geteuid()):
        sys.exit(r.returncode)
    print('cannot make private namespaces (these tests need root)')
    sys.exit(1 if os.environ.get('CI') == 'true' else 77)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ('scan', 'mount'):
        sys.exit('usage: %s scan SRC-DIR MAN-SOURCE | mount SHMFS MAN-SOURCE' % sys.argv[0])
    if sys.argv[1] == 'scan':
        sys.exit(scan(sys.argv[2], sys.argv[3]))
    if os.geteuid() != 0:
        print('not root: skipped')
        sys.exit(1 if os.environ.get('CI') == 'true' else 77)
    isolate()
    signal.alarm(240)  # a hang fails the test instead of stalling the suite
    # a run under nohup(1) ignores SIGHUP, and the daemons would inherit it
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    # the daemon's records of its sets go to a directory of ours, not the
    # host's /run/shmfs (our IPC namespace dies with us: nobody would
    # reclaim them)
    state = tempfile.mkdtemp(prefix='shmfs-state.')
    os.environ['SHMFS_STATE_DIR'] = state
    try:
        ret = mount_test(sys.argv[2], sys.argv[3])
    finally:
        shutil.rmtree(state, ignore_errors=True)
    sys.exit(ret)


if __name__ == '__main__':
    main()
