/* SPDX-License-Identifier: MIT */
/* log.c — journald-native or plain stderr logging. */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "log.h"
#include "mmiod-names.h"

static bool use_journal;
static int max_priority = LOG_INFO;

/* JOURNAL_STREAM is "DEV:INO" of the stream systemd connected stderr to. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(int verbose)
{
	use_journal = stderr_is_journal();
	max_priority = verbose > 0 ? LOG_DEBUG : LOG_INFO;
}

static const char *prio_word(int p)
{
	switch (p) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR: return "error: ";
	case LOG_WARNING: return "warning: ";
	case LOG_DEBUG: return "debug: ";
	default: return "";
	}
}

void log_full(int priority, const struct log_fields *f, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (priority > max_priority)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (use_journal) {
		char size[32] = "";
		if (f && f->size)
			snprintf(size, sizeof(size), "%" PRIu64, f->size);
		sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", priority,
				"SYSLOG_IDENTIFIER=mmiod",
				MMIOD_JOURNAL_GUEST "=%s", f && f->guest ? f->guest : "",
				MMIOD_JOURNAL_DEVICE "=%s", f && f->device ? f->device : "",
				MMIOD_JOURNAL_WINDOW "=%s", f && f->window ? f->window : "",
				MMIOD_JOURNAL_SIZE "=%s", size,
				"MESSAGE_ID=%s", f && f->message_id ? f->message_id : "",
				NULL);
		return;
	}
	if (f && f->guest)
		fprintf(stderr, "mmiod: %s[%s] %s\n", prio_word(priority), f->guest, msg);
	else
		fprintf(stderr, "mmiod: %s%s\n", prio_word(priority), msg);
}
