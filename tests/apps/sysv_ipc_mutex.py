#!/usr/bin/python3
"""sysv_ipc_mutex.py - a segment and its 1-semaphore mutex under ONE key.

This is the pattern python sysv_ipc's documentation recommends (its
premise/conclusion demo): ftok() once, then SharedMemory(key, IPC_CREX) and
Semaphore(key, IPC_CREX).  Segment keys and semaphore keys are separate
namespaces, so the program expects the semaphore key to be free for it.
It knows nothing of shmfs.

  sysv_ipc_mutex.py create PATH   the segment (4096 bytes), "python 0" in it
  sysv_ipc_mutex.py lock PATH     Semaphore(key, IPC_CREX, initial 1), then
                                  acquire, write "python 1", release
  sysv_ipc_mutex.py check PATH    the semaphore still exists with value 1

Prints the id it made (create, lock) or "semid VALUE" (check).  Exit 0 on
success, 2 when IPC_CREX finds the key taken, 3 when the set is gone.
"""
import sys

import sysv_ipc


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: sysv_ipc_mutex.py create|lock|check PATH\n")
        return 64
    command, path = sys.argv[1], sys.argv[2]
    key = sysv_ipc.ftok(path, ord("M"), silence_warning=True)

    if command == "create":
        memory = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, mode=0o600, size=4096,
                                       init_character=b"\0")
        memory.write(b"python 0\0")
        memory.detach()
        print(memory.id)
    elif command == "lock":
        try:
            semaphore = sysv_ipc.Semaphore(key, sysv_ipc.IPC_CREX, mode=0o600, initial_value=1)
        except sysv_ipc.ExistentialError as e:
            print("Semaphore(IPC_CREX): %s" % e)
            return 2
        memory = sysv_ipc.SharedMemory(key)
        semaphore.acquire(5)
        memory.write(b"python 1\0")
        semaphore.release()
        memory.detach()
        print(semaphore.id)
    elif command == "check":
        try:
            semaphore = sysv_ipc.Semaphore(key)
        except sysv_ipc.ExistentialError as e:
            print("Semaphore(key): %s" % e)
            return 3
        print("%d %d" % (semaphore.id, semaphore.value))
    else:
        sys.stderr.write("unknown command %s\n" % command)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main())
