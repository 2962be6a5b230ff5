/* SPDX-License-Identifier: MIT */
/*
 * log.h — one logging function.  When JOURNAL_STREAM names our stderr,
 * entries go to the journal with structured fields (MMIOD_GUEST=,
 * MMIOD_DEVICE=, MMIOD_WINDOW=, MMIOD_SIZE=, MESSAGE_ID=); otherwise as
 * readable lines on stderr.
 */
#ifndef MMIOD_LOG_H
#define MMIOD_LOG_H

#include <stdint.h>
#include <syslog.h>

struct log_fields {
	const char *guest;
	const char *device;
	const char *window;
	uint64_t size;          /* 0 = not given */
	const char *message_id;
};

void log_init(int verbose);
void log_full(int priority, const struct log_fields *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_full(LOG_ERR, NULL, __VA_ARGS__)
#define log_warn(...)  log_full(LOG_WARNING, NULL, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, NULL, __VA_ARGS__)
#define log_info(...)  log_full(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, NULL, __VA_ARGS__)

#endif
