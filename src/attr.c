/* attr.c - what stat(2) shows of the mount's names. */
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "node.h"

#define STAT_BLOCK 512	 /* the unit of st_blocks (stat(2)) */
#define LINK_UP	   "../" /* a by-key/ link's target: LINK_UP and the root's name */

/* mtime: the latest of the three times the kernel keeps (last attach,
 * last detach, last change).  A segment's bytes change while attached
 * and the kernel records no write time, so the last attach or detach is
 * the best evidence of a recent writer there is. */
static time_t segment_mtime(const struct segment_info *seg)
{
	time_t t = seg->ctime;

	if (seg->atime > t)
		t = seg->atime;
	if (seg->dtime > t)
		t = seg->dtime;
	return t;
}

bool attr_uncached(enum name_kind kind)
{
	return kind == NAME_SIDECAR;
}

void attr_of_segment(enum name_kind kind, const struct segment_info *seg, struct stat *st)
{
	struct segment_identity life;
	char target[32];

	identity_weak(seg, &life);
	memset(st, 0, sizeof(*st));
	st->st_ino = node_ino_of(kind, &life);
	st->st_uid = seg->uid;
	st->st_gid = seg->gid;
	st->st_nlink = (seg->mode & SEGMENT_MODE_DEST) ? 0 : 1;
	st->st_atime = seg->atime;
	st->st_mtime = segment_mtime(seg);
	st->st_ctime = seg->ctime;
	st->st_blksize = sysconf(_SC_PAGESIZE);
	switch (kind) {
	case NAME_SEGMENT:
	case NAME_NEXT:
		st->st_mode = S_IFREG | (seg->mode & 0777);
		st->st_size = seg->size;
		/* From the size, the same in a listing and in stat: the
		 * sidecar has rss and swap. */
		st->st_blocks = (seg->size + STAT_BLOCK - 1) / STAT_BLOCK;
		break;
	case NAME_SIDECAR:
		/* Readable by all, as /proc/sysvipc/shm; writable (lock,
		 * unlock) by the owner. Size 0 as a /proc file: read to EOF. */
		st->st_mode = S_IFREG | 0644;
		st->st_atime = st->st_mtime = st->st_ctime;
		break;
	case NAME_PROCS:
		/* Readable by all: each reader is shown what it may see. */
		st->st_mode = S_IFREG | 0444;
		st->st_atime = st->st_mtime = st->st_ctime;
		break;
	case NAME_KEYLINK:
	case NAME_NEXTLINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = names_format_root(target, sizeof(target),
						kind == NAME_KEYLINK ? NAME_SEGMENT : NAME_NEXT,
						seg->shmid) +
			      strlen(LINK_UP);
		st->st_nlink = 1;
		break;
	default:
		break;
	}
}

void attr_of_dir(const struct attr_dirs *dirs, unsigned long ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = ino == NAMES_ROOT_INO ? 3 : 2;
	st->st_uid = dirs->uid;
	st->st_gid = dirs->gid;
	st->st_atime = st->st_mtime = st->st_ctime = dirs->mount_time;
}
