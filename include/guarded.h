/* guarded.h - copies that survive pages that cannot come, and each
 * thread's read buffer.
 *
 * A hugetlb segment made with SHM_NORESERVE gets its pages at the first
 * touch, and when there are none the toucher gets SIGBUS: through a
 * mapping, the daemon would die of a user's segment.  Such copies are
 * guarded: SIGBUS in them jumps back and the copy fails with -EFAULT.
 * Knows nothing of FUSE.
 */
#ifndef SHMFS_GUARDED_H
#define SHMFS_GUARDED_H

#include <stddef.h>

/* memcpy, or -EFAULT if the pages could not be provided. */
int guarded_copy(void *dst, const void *src, size_t n);
/* memset 0, or -EFAULT. */
int guarded_zero(void *dst, size_t n);
/* This thread's buffer of GUARDED_READ_BUFFER bytes (page aligned), or
 * NULL without memory; freed with the thread. */
#define GUARDED_READ_BUFFER (1024 * 1024)
char *guarded_read_buffer(void);

#endif
