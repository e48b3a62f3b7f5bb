/* identity.c - what proves that a shmid names one segment lifetime. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int identity_pin(const struct segment_identity *expected, unsigned int flags,
		 struct identity_pin *pin)
{
	struct segment_info before;
	int ret;

	memset(pin, 0, sizeof(*pin));
	pin->fd = -1;
	/* A look first, so that a segment visibly not the one meant is not
	 * even attached (an attach sets its atime and lpid). */
	ret = segment_stat(expected->shmid, false, &before);
	if (ret)
		return ret;
	identity_weak(&before, &pin->id);
	if (!identity_same(expected, &pin->id))
		return -ESTALE;
	if (!(flags & PIN_FRESH) && segment_rmid_forced() && before.nattch == 0 &&
	    !(before.mode & SEGMENT_MODE_DEST))
		return -EBUSY;
	pin->writable = flags & (PIN_WRITABLE | PIN_TRY_WRITE);
	/* pin->held: IPC_STAT while attached; from here the shmid is this
	 * attachment's segment, until detached */
	ret = segment_attach_counted(expected->shmid, pin->writable, &pin->addr, &pin->count,
				     &pin->held);
	if (ret == -EACCES && (flags & PIN_TRY_WRITE) && !(flags & PIN_WRITABLE)) {
		pin->writable = false;
		ret = segment_attach_counted(expected->shmid, false, &pin->addr, &pin->count,
					     &pin->held);
	}
	if (ret)
		return ret;
	identity_weak(&pin->held, &pin->id);
	ret = -ESTALE;
	if (!identity_same(expected, &pin->id))
		goto fail;
	pin->fd = segment_open_fd(pin->addr, pin->held.size, pin->writable);
	if (pin->fd < 0) {
		pin->fd_err = pin->fd;
		pin->fd = -1;
	} else {
		identity_read_strong(pin->fd, &pin->id);
	}
	if (!identity_same(expected, &pin->id))
		goto fail;
	if (!(flags & PIN_KEEP_FD) && pin->fd >= 0) {
		close(pin->fd);
		pin->fd = -1;
	}
	return 0;
fail:
	identity_unpin(pin);
	return ret;
}

int identity_reproof_after(const struct identity_pin *pin, struct identity_reproof *out)
{
	memset(out, 0, sizeof(*out));
	/* Another attach of the slot since the pin's: the last attacher the
	 * kernel names may be that one. */
	if (!pin->id.strong || segment_attached_since(pin->id.shmid, pin->count))
		return -EAGAIN;
	out->count = pin->count;
	out->self = getpid();
	return 0;
}

/* The rule: a segment whose last attacher or detacher (lpid) is this
 * process, while this process attached nothing of the shmid's slot since
 * it held the lifetime proven, is that lifetime.  A later lifetime with
 * the shmid is born with lpid 0, and only an attach or a detach (or the
 * copy of an attachment at a fork, or its split) by an attacher sets it,
 * to that attacher (IPC_STAT gives its number in this pid namespace, 0
 * if it has none here: no other process can have this process's number
 * while it runs, and one that had it before attached nothing born
 * since); this process attaches only through segment_attach(), which
 * counts it, and never copies an attachment into a child. */
int identity_reprove(const struct segment_identity *id, const struct identity_reproof *proof,
		     struct segment_info *held)
{
	struct segment_identity now;
	struct segment_info seg;
	int ret;

	if (!id->strong || proof->count == 0)
		return -EAGAIN;
	ret = segment_stat_since(id->shmid, proof->count, &seg);
	if (ret)
		return ret == -EAGAIN ? ret : -EAGAIN;
	identity_weak(&seg, &now);
	if (seg.lpid != proof->self || (seg.mode & SEGMENT_MODE_DEST) || !identity_same(id, &now))
		return -EAGAIN;
	*held = seg;
	return 0;
}

void identity_unpin(struct identity_pin *pin)
{
	if (pin->fd >= 0)
		close(pin->fd);
	pin->fd = -1;
	if (pin->addr)
		segment_detach(pin->addr);
	pin->addr = NULL;
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
