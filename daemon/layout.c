/* SPDX-License-Identifier: MIT */
/* layout.c — copying and clearing a guest layout (layout.h). */
#include "config.h"

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

int tsd_layout_copy(struct tsd_layout *dst, const struct tsd_layout *src)
{
	*dst = *src;
	dst->bars = NULL;
	dst->clip = NULL;
	dst->ports = NULL;
	if (src->nports) {
		dst->ports = malloc(src->nports * sizeof(*dst->ports));
		if (!dst->ports)
			goto fail;
		memcpy(dst->ports, src->ports, src->nports * sizeof(*dst->ports));
	}
	if (src->nbars) {
		dst->bars = malloc(src->nbars * sizeof(*dst->bars));
		if (!dst->bars)
			goto fail;
		memcpy(dst->bars, src->bars, src->nbars * sizeof(*dst->bars));
	}
	if (src->nclip) {
		dst->clip = malloc(src->nclip * sizeof(*dst->clip));
		if (!dst->clip)
			goto fail;
		memcpy(dst->clip, src->clip, src->nclip * sizeof(*dst->clip));
	}
	return 0;
fail:
	free(dst->bars);
	free(dst->ports);
	memset(dst, 0, sizeof(*dst));
	return -1;
}
