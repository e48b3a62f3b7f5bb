/* array.h - room for one more element in an array that grows by doubling.
 *
 * Header only: the core and the FUSE layer both use it.
 */
#ifndef SHMFS_ARRAY_H
#define SHMFS_ARRAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The array v of n elements of elem bytes, *cap of them allocated, with
 * room for element n: v itself while n < *cap, else v reallocated to
 * twice *cap (8 at first) and *cap updated.  NULL if out of memory (or
 * the size would overflow), v then untouched and still the caller's. */
static inline void *array_grow(void *v, size_t n, size_t *cap, size_t elem)
{
	size_t grown_cap;
	void *grown;

	if (n < *cap)
		return v;
	grown_cap = *cap ? *cap * 2 : 8;
	if (grown_cap < *cap || grown_cap > SIZE_MAX / elem)
		return NULL;
	grown = realloc(v, grown_cap * elem);
	if (grown)
		*cap = grown_cap;
	return grown;
}

#endif
