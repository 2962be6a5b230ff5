/* SPDX-License-Identifier: MIT */
/*
 * bench-ports.c — what a Check costs in the books when the guest's devices
 * go behind hot-plug ports (q35), against the same Check on a root-bus
 * guest (pc) measured in the same run: books_check_port() on a layout with
 * N pcie-root-ports (each Check builds one free-space map per port it
 * tries) versus books_check() on the root windows (a cached map).  Prints
 * median and p99 ns per call and the ratio to the root-bus baseline; never
 * fails on time.  docs/benchmarks.md §5.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "books.h"

static volatile uint64_t sink;

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* A q35-like guest: root windows, `nports` ports each with the firmware's
 * default windows (I/O 4 KiB, mem 2 MiB, pref 2 MiB) except the last, whose
 * pref window is 1 GiB, so a 512 MiB device is tried behind every port and
 * fits only behind the last. */
static void make_guest(struct books *b, unsigned nports, bool ports)
{
	struct tsd_layout l;
	struct tsd_port *p = calloc(nports ? nports : 1, sizeof(*p));
	struct mmio_error err;

	memset(&l, 0, sizeof(l));
	l.nwin = 3;
	l.win[0] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = 0xC0000000, .end = 0xFEC00000 };
	l.win[1] = (struct mmio_window){ .kind = MMIO_WIN_HIGH, .start = 32 * GiB, .end = 64 * GiB };
	l.win[2] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x1000, .end = 0x10000 };
	l.free_slots = -1;
	for (unsigned i = 0; ports && i < nports; i++) {
		snprintf(p[i].id, sizeof(p[i].id), "rp%u", i + 1);
		snprintf(p[i].guest_slot, sizeof(p[i].guest_slot), "00:%02x.0", 0x10 + i);
		p[i].empty = p[i].windows_known = true;
		p[i].secondary = (uint8_t)(i + 1);
		p[i].present[0] = p[i].present[1] = p[i].present[2] = true;
		p[i].win[0] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x1000 * (i + 1),
						    .end = 0x1000 * (i + 2) };
		p[i].win[1] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = 0xFE000000 - 2 * MiB * i,
						    .end = 0xFE000000 - 2 * MiB * i + 2 * MiB };
		uint64_t pref = i + 1 == nports ? GiB : 2 * MiB;
		p[i].win[2] = (struct mmio_window){ .kind = MMIO_WIN_HIGH,
						    .flags = MMIO_WF_PREFETCH | MMIO_WF_MEM64,
						    .start = 32 * GiB + GiB * i, .end = 32 * GiB + GiB * i + pref };
	}
	l.ports_only = ports;
	l.ports = p;
	l.nports = ports ? nports : 0;
	books_init(b);
	if (books_set_layout(b, &l, &err) != MMIO_OK) {
		fprintf(stderr, "bench-ports: %s\n", err.msg);
		exit(1);
	}
	free(p);
}

static void time_check(const struct books *b, const struct mmio_device *dev, const char *spec,
		       unsigned batches, unsigned per, double *median, double *p99)
{
	uint64_t *t = malloc(batches * sizeof(*t));
	struct books_entry e;
	struct mmio_error err;

	for (unsigned k = 0; k < batches; k++) {
		uint64_t t0 = now_ns();
		for (unsigned i = 0; i < per; i++)
			sink += books_check_port(b, dev, &spec, 1, NULL, &e, &err);
		t[k] = now_ns() - t0;
	}
	qsort(t, batches, sizeof(*t), cmp_u64);
	*median = (double)t[batches / 2] / per;
	*p99 = (double)t[(batches * 99) / 100] / per;
	free(t);
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	unsigned batches = quick ? 21 : 201, per = quick ? 200 : 2000;
	const char *spec = "bars:mem32:4K,io:256,mem64p:512M";
	struct mmio_device dev;
	struct mmio_error err;
	struct books root;
	double bm, bp;
	static const unsigned counts[] = { 1, 4, 8, 32 };

	if (mmio_bars_parse(spec, &dev, &err) != MMIO_OK) {
		fprintf(stderr, "bench-ports: %s\n", err.msg);
		return 1;
	}
	printf("# bench-ports: ns per Check of %s in the books, median and p99 of %u x %u\n",
	       spec, batches, per);
	make_guest(&root, 0, false);
	time_check(&root, &dev, spec, batches, per, &bm, &bp);
	printf("  root bus (pc), baseline          median %8.1f ns  p99 %8.1f ns\n", bm, bp);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct books b;
		double m, p;
		make_guest(&b, counts[i], true);
		time_check(&b, &dev, spec, batches, per, &m, &p);
		printf("  behind ports (q35), %2u ports      median %8.1f ns  p99 %8.1f ns  x%.1f baseline\n",
		       counts[i], m, p, m / bm);
		books_free(&b);
	}
	books_free(&root);
	return (int)(sink & 0);
}
