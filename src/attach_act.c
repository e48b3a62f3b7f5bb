/* attach_act.c - acts on a bare shmid (IPC_RMID, IPC_SET, SHM_LOCK) while
 * the lifetime meant is pinned by an attachment (attach.h). */
#include <errno.h>
#include <unistd.h>

#include "attach.h"

int attach_pin(struct attach_table *t, const struct segment_identity *expected,
	       struct identity_pin *pin)
{
	int ret = identity_pin(expected, 0, pin);

	(void)t;
	if (ret != -EBUSY)
		return ret;
	/* shm_rmid_forced, nobody attached: a look only, then the act on
	 * the bare shmid (the window of attach.h) */
	ret = segment_stat(expected->shmid, false, &pin->held);
	if (ret)
		return ret;
	identity_weak(&pin->held, &pin->id);
	return identity_same(expected, &pin->id) ? 0 : -ESTALE;
}

void attach_unpin(struct attach_table *t, struct identity_pin *pin)
{
	if (pin->fd >= 0)
		close(pin->fd);
	pin->fd = -1;
	if (pin->addr)
		attach_detach(t, pin->held.shmid, pin->addr);
	pin->addr = NULL;
}

int attach_act(struct attach_table *t, const struct segment_identity *expected,
	       int (*act)(const struct identity_pin *pin, void *ctx), void *ctx)
{
	struct identity_pin pin;
	int ret = attach_pin(t, expected, &pin);

	if (ret)
		return ret;
	ret = act(&pin, ctx);
	attach_unpin(t, &pin);
	return ret;
}
