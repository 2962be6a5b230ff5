/* SPDX-License-Identifier: MIT */
/* toolstack-registry.c — the back ends compiled into this build. */
#include "config.h"

#include <string.h>

#include "toolstack-registry.h"

static const struct tsd_driver *const drivers[] = {
	&tsd_qmp_driver,
#ifdef HAVE_LIBVIRT
	&tsd_libvirt_driver,
#endif
#ifdef HAVE_LIBXL
	&tsd_libxl_driver,
#endif
};

const struct tsd_driver *tsd_driver_find(const char *name)
{
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

const char *tsd_driver_names(void)
{
	return "qmp"
#ifdef HAVE_LIBVIRT
	       ",libvirt"
#endif
#ifdef HAVE_LIBXL
	       ",libxl"
#endif
		;
}
