#!/usr/bin/env python3
"""sysv_ipc_client.py - write or read a System V segment by key, under the
lock shmfs uses (IPC::ShareLite's).

    sysv_ipc_client.py [-k KEY] [-c] [-s SIZE] write TEXT
    sysv_ipc_client.py [-k KEY] read | dump | remove

write  replaces the whole segment with TEXT (plus a newline), NUL-padded,
       as the example producer does; -c creates the segment (SIZE bytes)
       if there is none.
read   prints the text before the first NUL, as the example consumer does.
dump   writes every byte of the segment to stdout, as `cat` through the
       mount does: pipe it to `xxd` to see e.g. IPC::ShareLite's header.
remove removes the segment and its lock set.

KEY defaults to 0x5348464d, the example producer's, and is read as
strtol(3) with base 0 reads it.

The lock is the lock set of the segment's key: the semaphore set with the
same key, 5 semaphores: 0 is 1 once the set is in use, 1 counts readers, 2
is the writer, and 3 and 4 hold the shmfs mark, 0x5348 and 0x464d ("SHFM"),
which tells shmfs the set is a lock (examples/shmlock.h says why semaphores
0..2 alone cannot).  It is opened as examples/shmlock.h opens it:
semget(K, 5, IPC_CREAT | 0666), the exclusive lock, if semaphore 0 is 0 the
mark into 3 and 4 and then 1 into semaphore 0, release; marking under the
lock is what makes two programs starting at once agree.  The key of an
IPC::ShareLite or IPC::Shareable share has a set of 3 semaphores, never
marked (shmfs knows those shares by the header in their segment): the
client locks with it as it is.  Then:
    shared lock     semop {2,0,0},{1,+1,SEM_UNDO}          release {1,-1,SEM_UNDO}
    exclusive lock  semop {1,0,0},{2,0,0},{2,+1,SEM_UNDO}  release {2,-1,SEM_UNDO}

Why ctypes.  sysv_ipc (Debian: python3-sysv-ipc) handles the segment, but its
Semaphore cannot express this protocol: it creates and opens sets of one
semaphore, and acquire(), release() and Z() each perform a single operation
on semaphore 0.  The protocol needs semaphores 1 and 2 of the set, and a
"wait until zero, then increment" that is one atomic semop() call: done as
two calls, two writers could both see zero and both get in.  So the set is
found or created with semget(), marked with semctl() and operated with
semtimedop() from libc through ctypes; sysv_ipc only removes the set.
"""

import argparse
import ctypes
import ctypes.util
import errno
import os
import sys
import time

try:
    import sysv_ipc
except ImportError:
    sys.exit("sysv_ipc_client.py: needs the sysv_ipc module (Debian: python3-sysv-ipc, "
             "for /usr/bin/python3; elsewhere: pip install sysv_ipc)")

DEFAULT_KEY = 0x5348464D
DEFAULT_SIZE = 4096

# Linux values, from <sys/ipc.h> and <sys/sem.h>.
IPC_CREAT = 0o1000
IPC_NOWAIT = 0o4000
SEM_UNDO = 0x1000

GETVAL = 12
SETVAL = 16

LOCK_NSEMS = 5
PERL_NSEMS = 3         # IPC::ShareLite's and IPC::Shareable's sets
SEM_MARK = 0           # 1: initialised
SEM_READERS = 1
SEM_WRITER = 2
SHMFS_MARK = {3: 0x5348, 4: 0x464D}   # semaphore: value ("SHFM")

# A wait is cut into slices so that Ctrl-C is seen promptly.
WAIT_SLICE_S = 0.2


class SemBuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort),
                ("sem_op", ctypes.c_short),
                ("sem_flg", ctypes.c_short)]


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.semget.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
_libc.semget.restype = ctypes.c_int
_libc.semtimedop.argtypes = [ctypes.c_int, ctypes.POINTER(SemBuf), ctypes.c_size_t,
                             ctypes.POINTER(Timespec)]
_libc.semtimedop.restype = ctypes.c_int
_libc.semctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
_libc.semctl.restype = ctypes.c_int
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
_libc.shmget.restype = ctypes.c_int


def _oserror(what):
    err = ctypes.get_errno()
    return OSError(err, "%s: %s" % (what, os.strerror(err)))


def parse_key(text):
    """A key as strtol(3) base 0 reads it, as key_t's signed 32-bit value."""
    body = text[1:] if text[:1] in "+-" else text
    if body[:2].lower() == "0x":
        value = int(body[2:], 16)
    elif body[:1] == "0":
        value = int(body, 8)
    else:
        value = int(body, 10)
    if text[:1] == "-":
        value = -value
    if not -2**31 <= value <= 2**32 - 1:
        raise ValueError("key out of range")
    value &= 0xFFFFFFFF
    if value == 0:
        raise ValueError("IPC_PRIVATE names nothing another process can find")
    return value - 2**32 if value >= 2**31 else value


class NotALockSet(OSError):
    """The key's set is someone else's (never retried)."""


class ShmLock:
    """The lock set of a key: shared and exclusive locks as context managers."""

    def __init__(self, key, timeout=None):
        self.timeout = timeout
        while True:
            self.semid = _libc.semget(key, LOCK_NSEMS, IPC_CREAT | 0o666)
            if self.semid < 0 and ctypes.get_errno() == errno.EINVAL:
                # A smaller set: an IPC::ShareLite or IPC::Shareable share's
                # (3 semaphores, initialised) locks the same way, unmarked.
                self.semid = _libc.semget(key, PERL_NSEMS, 0)
                if self.semid >= 0 and self._semctl(SEM_MARK, GETVAL) == 1:
                    return
                ctypes.set_errno(errno.EINVAL)
                self.semid = -1
            if self.semid < 0:
                if ctypes.get_errno() == errno.EINVAL:
                    raise OSError(errno.EINVAL, "semaphore set 0x%08x has fewer than %d "
                                  "semaphores: not a lock set" % (key & 0xFFFFFFFF,
                                                                  LOCK_NSEMS))
                raise _oserror("semget 0x%08x" % (key & 0xFFFFFFFF))
            try:
                with self.exclusive():
                    self._mark(key)
                return
            except OSError as e:
                # removed between semget and semop: make it again
                if isinstance(e, NotALockSet) or e.errno not in (errno.EINVAL, errno.EIDRM):
                    raise

    def _semctl(self, num, cmd, value=0):
        ret = _libc.semctl(self.semid, num, cmd, value)
        if ret < 0:
            raise _oserror("semctl")
        return ret

    def _mark(self, key):
        """Under the exclusive lock: mark a fresh set, or check a marked one."""
        if self._semctl(SEM_MARK, GETVAL) == 0:
            # the shmfs mark first: the set never looks initialised without it
            for num, value in SHMFS_MARK.items():
                self._semctl(num, SETVAL, value)
            self._semctl(SEM_MARK, SETVAL, 1)
        elif any(self._semctl(num, GETVAL) != value for num, value in SHMFS_MARK.items()):
            raise NotALockSet(errno.EINVAL, "semaphore set 0x%08x is initialised without "
                              "the shmfs mark: not a lock set" % (key & 0xFFFFFFFF))

    def _semop(self, ops, wait=True):
        array = (SemBuf * len(ops))(*[SemBuf(*op) for op in ops])
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            slice_s = WAIT_SLICE_S
            if deadline is not None:
                slice_s = min(slice_s, max(deadline - time.monotonic(), 0))
            ts = Timespec(int(slice_s), int((slice_s % 1) * 1e9))
            if _libc.semtimedop(self.semid, array, len(ops), ctypes.byref(ts)) == 0:
                return
            err = ctypes.get_errno()
            # EAGAIN: the slice ran out; EINTR: a signal (Python raises
            # KeyboardInterrupt on its own at the next bytecode).
            if not wait or err not in (errno.EAGAIN, errno.EINTR):
                raise OSError(err, "semop: %s" % os.strerror(err))
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("lock not granted in %g s" % self.timeout)

    def _locked(self, acquire, release):
        lock = self

        class Held:
            def __enter__(self):
                lock._semop(acquire)

            def __exit__(self, *exc):
                lock._semop(release, wait=False)

        return Held()

    def shared(self):
        return self._locked([(SEM_WRITER, 0, 0), (SEM_READERS, 1, SEM_UNDO)],
                            [(SEM_READERS, -1, SEM_UNDO | IPC_NOWAIT)])

    def exclusive(self):
        return self._locked([(SEM_READERS, 0, 0), (SEM_WRITER, 0, 0),
                             (SEM_WRITER, 1, SEM_UNDO)],
                            [(SEM_WRITER, -1, SEM_UNDO | IPC_NOWAIT)])

    def remove(self):
        sysv_ipc.remove_semaphore(self.semid)


def segment_id(key):
    shmid = _libc.shmget(key, 0, 0)
    if shmid < 0:
        raise _oserror("segment 0x%08x" % (key & 0xFFFFFFFF))
    return shmid


def command_write(args, key):
    data = args.text.encode()
    if not data.endswith(b"\n"):
        data += b"\n"
    if args.create and _libc.shmget(key, 0, 0) < 0:
        shm = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREAT, 0o666, args.size)
    else:
        shm = sysv_ipc.attach(segment_id(key))
    if len(data) > shm.size:
        sys.exit("sysv_ipc_client.py: %d bytes of text, but the segment holds %d"
                 % (len(data), shm.size))
    with ShmLock(key, args.timeout).exclusive():
        shm.write(data + bytes(shm.size - len(data)))
    shm.detach()


def read_all(args, key):
    shm = sysv_ipc.attach(segment_id(key), flags=sysv_ipc.SHM_RDONLY)
    with ShmLock(key, args.timeout).shared():
        data = shm.read()
    shm.detach()
    return data


def command_read(args, key):
    text = read_all(args, key).split(b"\0", 1)[0]
    if not text.endswith(b"\n"):
        text += b"\n"
    sys.stdout.buffer.write(text)


def command_dump(args, key):
    sys.stdout.buffer.write(read_all(args, key))


def command_remove(args, key):
    shmid = segment_id(key)
    lock = ShmLock(key, args.timeout)
    # Under the exclusive lock, so no reader through the mount is cut short;
    # removing the set then wakes every waiter with EIDRM.
    with lock.exclusive():
        sysv_ipc.remove_shared_memory(shmid)
    lock.remove()


def main():
    parser = argparse.ArgumentParser(
        description="Write or read a System V segment under shmfs's lock.")
    parser.add_argument("-k", "--key", default=hex(DEFAULT_KEY),
                        help="segment key: decimal, 0octal or 0xhex (default %(default)s)")
    parser.add_argument("-c", "--create", action="store_true",
                        help="write: create the segment if there is none (an existing "
                        "one is used whatever its size)")
    parser.add_argument("-s", "--size", type=int, default=DEFAULT_SIZE,
                        help="size of a segment -c creates (default %(default)s)")
    parser.add_argument("-t", "--timeout", type=float, default=None,
                        help="give up waiting for the lock after this many seconds")
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="replace the contents with TEXT")
    write.add_argument("text", metavar="TEXT")
    write.set_defaults(run=command_write)
    commands.add_parser("read", help="print the text before the first NUL").set_defaults(
        run=command_read)
    commands.add_parser("dump", help="write every byte to stdout").set_defaults(
        run=command_dump)
    commands.add_parser("remove", help="remove the segment and its lock set").set_defaults(
        run=command_remove)
    args = parser.parse_args()

    try:
        key = parse_key(args.key)
    except ValueError:
        parser.error("bad key '%s'" % args.key)
    try:
        args.run(args, key)
    except (OSError, ValueError, sysv_ipc.Error) as e:
        sys.exit("sysv_ipc_client.py: %s" % e)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
