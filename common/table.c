/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "table.h"

int table_find(const char *const *table, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (table[i] && strcmp(table[i], name) == 0)
			return (int)i;
	return -1;
}
