/* textbuf.h - a growing text buffer for renderings whose size is not
 * known in advance (a set of 32,000 semaphores, a queue's listing).
 *
 * Header only.  A failed allocation is remembered: textbuf_take() then
 * returns -ENOMEM, so a caller checks once at the end.
 */
#ifndef SHMFS_TEXTBUF_H
#define SHMFS_TEXTBUF_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct textbuf {
	char *s;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static inline void textbuf_printf(struct textbuf *b,
									const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		size_t cap;
		char *s;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		cap = b->cap ? b->cap * 2 : 1024;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		s = realloc(b->s, cap);
		if (!s) {
			b->failed = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

/* The text (malloc'ed, NUL-terminated; the caller frees it) and its
 * length; or -ENOMEM, the buffer freed. */
static inline int textbuf_take(struct textbuf *b, char **text, size_t *len)
{
	if (b->failed || !b->s) {
		free(b->s);
		b->s = NULL;
		*text = NULL;
		*len = 0;
		return -ENOMEM;
	}
	*text = b->s;
	*len = b->len;
	b->s = NULL;
	return 0;
}

#endif
