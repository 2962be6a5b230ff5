/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h — shared helpers of the libFuzzer targets (fuzz/run-fuzzers).
 *
 * Every target aborts on a violated invariant so libFuzzer saves the input;
 * ASan and UBSan catch the rest.  Nothing here is built by `make`.
 */
#ifndef MMIOD_FUZZ_H
#define MMIOD_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mmio-model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, \
				__LINE__, #cond);                                 \
			abort();                                                  \
		}                                                                 \
	} while (0)

/* A NUL-terminated copy of the input (the parsers take C strings);
 * embedded NULs simply end the string early, as they would in argv. */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* The contract of every mmio_* function that fills a struct mmio_error:
 * on failure err carries the same code and a terminated, non-empty
 * message; on success err is untouched. */
#define FUZZ_ERR_POISON 0x5a
static inline void fuzz_err_poison(struct mmio_error *err)
{
	memset(err, FUZZ_ERR_POISON, sizeof(*err));
}

static inline void fuzz_err_check(enum mmio_status st, const struct mmio_error *err)
{
	if (st == MMIO_OK) {
		const unsigned char *p = (const unsigned char *)err;
		for (size_t i = 0; i < sizeof(*err); i++)
			FUZZ_CHECK(p[i] == FUZZ_ERR_POISON);
		return;
	}
	FUZZ_CHECK(err->code == st);
	FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);
	FUZZ_CHECK(err->msg[0] != '\0');
	FUZZ_CHECK(mmio_status_name(st) != NULL);
}

static inline enum mmio_status fuzz_err_checked(enum mmio_status st, const struct mmio_error *err)
{
	fuzz_err_check(st, err);
	return st;
}

/* The status of call, which reports into err, with the error contract
 * checked: err poisoned before, untouched on success, filled after a
 * failure. */
#define FUZZ_ERR_CALL(err, call) (fuzz_err_poison(&(err)), fuzz_err_checked((call), &(err)))

/* A device as every parser must leave it: at most 7 BARs, each valid,
 * indices strictly increasing (the ROM last), a terminated name; with
 * regs, also no BAR in the upper register of a 64-bit BAR (the rule of
 * "bars:" lists; the sysfs reader trusts the kernel's numbering). */
static inline void fuzz_device_check_regs(const struct mmio_device *d, bool regs)
{
	struct mmio_error e;
	int last = -1, fn = -1;
	unsigned in_fn = 0;

	/* one function, or a slot: functions ascending, each's BARs in index order */
	FUZZ_CHECK(d->nbars <= MMIO_MAX_DEVICE_BARS);
	FUZZ_CHECK(d->nfn <= MMIO_MAX_FUNCTIONS);
	FUZZ_CHECK(memchr(d->name, '\0', sizeof(d->name)) != NULL);
	for (unsigned i = 0; i < d->nbars; i++) {
		const struct mmio_bar *b = &d->bars[i];
		char buf[128];

		FUZZ_CHECK(mmio_bar_validate(b, &e) == MMIO_OK);
		FUZZ_CHECK((int)b->fn >= fn);
		FUZZ_CHECK(b->fn == 0 || mmio_device_function(d, b->fn) != NULL);
		if ((int)b->fn != fn) {
			fn = b->fn;
			last = -1;
			in_fn = 0;
		}
		FUZZ_CHECK(++in_fn <= MMIO_MAX_BARS);
		FUZZ_CHECK((int)b->index > last);
		last = b->index;
		/* a 64-bit BAR takes two registers */
		if (regs && i + 1 < d->nbars && d->bars[i + 1].fn == b->fn && b->kind == MMIO_BAR_MEM64)
			FUZZ_CHECK(d->bars[i + 1].index >= b->index + 2);
		mmio_bar_describe(b, buf, sizeof(buf));
		FUZZ_CHECK(memchr(buf, '\0', sizeof(buf)) != NULL);
		FUZZ_CHECK(mmio_bar_kind_name(b) != NULL);
		mmio_size_format(b->size, buf, sizeof(buf));
		mmio_bar_owner(d, b, buf, sizeof(buf));
		FUZZ_CHECK(memchr(buf, '\0', sizeof(buf)) != NULL);
	}
}

static inline void fuzz_device_check(const struct mmio_device *d)
{
	fuzz_device_check_regs(d, true);
}

#endif
