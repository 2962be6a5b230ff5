/* SPDX-License-Identifier: MIT */
/*
 * strbuf.h — building a message in a fixed buffer (the 512-byte reasons
 * of struct mmio_error and struct tsd_result): what does not fit is cut,
 * never overflowed.
 */
#ifndef MMIOD_STRBUF_H
#define MMIOD_STRBUF_H

#include <stddef.h>

/* Appends to the NUL-terminated text in buf[len], cutting what does not fit. */
void strbuf_appendf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
