/* SPDX-License-Identifier: MIT */
/*
 * table.h — names of enum values kept as tables indexed by the value
 * (designated initializers), so adding a value is one line and a value
 * without a name reads as the fallback instead of a gap in a switch.
 */
#ifndef MMIOD_TABLE_H
#define MMIOD_TABLE_H

#include <stddef.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* table[i], or fallback when i is past the table or has no name. */
static inline const char *table_name(const char *const *table, size_t n, unsigned i,
				     const char *fallback)
{
	return i < n && table[i] ? table[i] : fallback;
}

/* The index of name in table, or -1. */
int table_find(const char *const *table, size_t n, const char *name);

#endif
