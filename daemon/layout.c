/* SPDX-License-Identifier: MIT */
/* layout.c — copying and clearing a guest layout (layout.h). */
#include "config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "table.h"

static const char *const source_names[] = {
	[TSD_SRC_TOOLSTACK] = "toolstack", [TSD_SRC_MODEL] = "model", [TSD_SRC_PREDICTED] = "predicted",
	[TSD_SRC_INFERRED] = "inferred", [TSD_SRC_UNCERTAIN] = "uncertain",
	[TSD_SRC_ASSUMED] = "assumed",
};

static const char *const firmware_names[] = {
	[TSD_FW_UNKNOWN] = "unknown", [TSD_FW_SEABIOS] = "seabios", [TSD_FW_OVMF] = "ovmf",
};

const char *tsd_firmware_name(unsigned fw)
{
	return table_name(firmware_names, ELEMENTSOF(firmware_names), fw, "unknown");
}

const char *tsd_source_name(enum tsd_source s)
{
	return table_name(source_names, ELEMENTSOF(source_names), s, "unknown");
}

void tsd_layout_clear(struct tsd_layout *l)
{
	free(l->bars);
	free(l->clip);
	free(l->ports);
	memset(l, 0, sizeof(*l));
	l->free_slots = -1;
}

/* A malloc'd copy of n elements of size bytes at src; NULL for none. */
static void *copy_array(const void *src, size_t n, size_t size)
{
	void *p = n ? malloc(n * size) : NULL;

	if (p)
		memcpy(p, src, n * size);
	return p;
}

int tsd_layout_copy(struct tsd_layout *dst, const struct tsd_layout *src)
{
	assert(dst && src);
	*dst = *src;
	dst->ports = copy_array(src->ports, src->nports, sizeof(*dst->ports));
	dst->bars = copy_array(src->bars, src->nbars, sizeof(*dst->bars));
	dst->clip = copy_array(src->clip, src->nclip, sizeof(*dst->clip));
	if ((src->nports && !dst->ports) || (src->nbars && !dst->bars) || (src->nclip && !dst->clip)) {
		free(dst->ports);
		free(dst->bars);
		free(dst->clip);
		memset(dst, 0, sizeof(*dst));
		return -1;
	}
	return 0;
}
