/* identity.c - what proves that a shmid names one segment lifetime. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "identity.h"

void identity_weak(const struct segment_info *seg, struct segment_identity *out)
{
	memset(out, 0, sizeof(*out));
	out->shmid = seg->shmid;
	out->cpid = seg->cpid;
	out->cuid = seg->cuid;
	out->cgid = seg->cgid;
	out->size = seg->size;
}

int identity_read_strong(int fd, struct segment_identity *id)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[MAX_HANDLE_SZ];
	} h;
	struct statx sx;
	int mount_id;

	id->strong = false;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) != 0)
		return -errno;
	if (!(sx.stx_mask & STATX_BTIME))
		return -EOPNOTSUPP;
	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) != 0)
		return errno == EOPNOTSUPP || errno == ENOTSUP ? -EOPNOTSUPP : -errno;
	/* tmpfs's handle is 12 bytes; a longer one would be another file
	 * system, whose handle need not hold a generation */
	if (h.fh.handle_bytes == 0 || h.fh.handle_bytes > IDENTITY_HANDLE_MAX)
		return -EOPNOTSUPP;
	id->btime_ns = (uint64_t)sx.stx_btime.tv_sec * 1000000000ull + sx.stx_btime.tv_nsec;
	id->handle_type = h.fh.handle_type;
	id->handle_len = h.fh.handle_bytes;
	memset(id->handle, 0, sizeof(id->handle));
	memcpy(id->handle, h.fh.f_handle, h.fh.handle_bytes);
	id->strong = true;
	return 0;
}

bool identity_strong_same(const struct segment_identity *a, const struct segment_identity *b)
{
	return a->strong && b->strong && a->btime_ns == b->btime_ns &&
	       a->handle_type == b->handle_type && a->handle_len == b->handle_len &&
	       memcmp(a->handle, b->handle, a->handle_len) == 0;
}

bool identity_same(const struct segment_identity *want, const struct segment_identity *got)
{
	if (want->shmid != got->shmid || want->cpid != got->cpid || want->cuid != got->cuid ||
	    want->cgid != got->cgid || want->size != got->size)
		return false;
	if (want->strong && got->strong)
		return identity_strong_same(want, got);
	return true;
}

void identity_format(const struct segment_identity *id, char *buf, size_t size)
{
	int n = snprintf(buf, size, "shmid %d", id->shmid);

	if (id->strong && n >= 0 && (size_t)n < size) {
		snprintf(buf + n, size - (size_t)n, " (born %llu.%09llu, handle ",
			 (unsigned long long)(id->btime_ns / 1000000000ull),
			 (unsigned long long)(id->btime_ns % 1000000000ull));
		for (unsigned int i = 0; i < id->handle_len && i < 4; i++) {
			n = (int)strlen(buf);
			snprintf(buf + n, size - (size_t)n, "%02x", id->handle[i]);
		}
		n = (int)strlen(buf);
		snprintf(buf + n, size - (size_t)n, ")");
	}
}
