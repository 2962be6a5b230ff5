/* SPDX-License-Identifier: MIT */
/*
 * bench-model.c — how long one admission decision takes in the pure model.
 *
 * Times, per call: the closed-form test (mmio_fits), the full placement
 * replay (mmio_place), and as the in-run baseline the same placement with
 * the free-space map rebuilt from the guest's occupied list every time
 * (mmio_space_init + mmio_place + mmio_space_free: what a daemon without a
 * cached map would pay).  Prints median and p99 ns per call over batches,
 * and ratios against the baseline measured in the same run.  It never
 * fails on time: benchmarks are not tests.
 *
 *   bench/bench-model            the headline case and the sweep
 *   bench/bench-model --quick    fewer repetitions (CI smoke run)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "mmio-model.h"

#define U (UINT64_C(1) << 20)

static volatile uint64_t sink;

struct guest {
	struct mmio_window win[3];
	struct mmio_range used[600];
	size_t nused;
	struct mmio_space sp;
};

/* A guest with `occupied` BARs spread over a 1 GiB low and a 64 GiB high
 * window, in the sizes real devices have (4 KiB .. 16 MiB). */
static void make_guest(struct guest *g, unsigned occupied)
{
	struct mmio_space_params p;
	struct mmio_error err;
	uint64_t lo = 0xC0000000, hi = UINT64_C(0x1000000000);

	memset(g, 0, sizeof(*g));
	g->win[0] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = 0xC0000000, .end = 0xFC000000 };
	g->win[1] = (struct mmio_window){ .kind = MMIO_WIN_HIGH, .start = hi, .end = hi + 64 * 1024 * U };
	g->win[2] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0x1000, .end = 0x10000 };
	for (unsigned i = 0; i < occupied; i++) {
		uint64_t size = UINT64_C(4096) << (i * 7 % 13);
		uint64_t *cur = (i % 2) ? &hi : &lo;
		uint64_t a = (*cur + size - 1) & ~(size - 1);
		g->used[g->nused++] = (struct mmio_range){ a, a + size };
		/* leave holes, as real layouts have */
		*cur = a + size + ((i % 3) ? size : 0);
	}
	p = (struct mmio_space_params){ .windows = g->win, .nwin = 3, .used = g->used, .nused = g->nused };
	if (mmio_space_init(&g->sp, &p, &err) != MMIO_OK) {
		fprintf(stderr, "bench: %s\n", err.msg);
		exit(1);
	}
}

static void make_devices(struct mmio_device *d, unsigned nbars, size_t *ndev)
{
	static const struct mmio_bar pattern[] = {
		{ 0, MMIO_BAR_MEM32, false, 16 * U, 0 }, { 1, MMIO_BAR_MEM64, true, 256 * U, 0 },
		{ 3, MMIO_BAR_MEM64, true, 32 * U, 0 }, { 5, MMIO_BAR_IO, false, 128, 0 },
		{ MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 512 * 1024, 0 }, { 2, MMIO_BAR_MEM32, false, 64 * 1024, 0 },
		{ 4, MMIO_BAR_MEM32, true, 1 * U, 0 },
	};
	*ndev = 0;
	while (nbars) {
		unsigned take = nbars > MMIO_MAX_BARS ? MMIO_MAX_BARS : nbars;
		struct mmio_device *dev = &d[(*ndev)++];
		memset(dev, 0, sizeof(*dev));
		snprintf(dev->name, sizeof(dev->name), "bench%zu", *ndev);
		for (unsigned i = 0; i < take; i++)
			dev->bars[dev->nbars++] = pattern[i];
		nbars -= take;
	}
}

enum op { OP_FITS, OP_PLACE, OP_REBUILD };

static void time_op(enum op op, struct guest *g, struct mmio_device *devs, size_t ndev,
		    unsigned batches, unsigned per_batch, double *median, double *p99)
{
	uint64_t *t = malloc(batches * sizeof(*t));
	struct mmio_placement *pl = mmio_placement_alloc(ndev);
	struct mmio_error err;

	for (unsigned b = 0; b < batches; b++) {
		uint64_t t0 = now_ns();
		for (unsigned i = 0; i < per_batch; i++) {
			if (op == OP_FITS) {
				sink += mmio_fits(&g->sp, &devs[0]);
			} else if (op == OP_PLACE) {
				sink += mmio_place(&g->sp, devs, ndev, pl, &err);
			} else {
				struct mmio_space sp;
				struct mmio_space_params p = { .windows = g->win, .nwin = 3,
							       .used = g->used, .nused = g->nused };
				mmio_space_init(&sp, &p, &err);
				sink += mmio_place(&sp, devs, ndev, pl, &err);
				mmio_space_free(&sp);
			}
		}
		t[b] = now_ns() - t0;
	}
	qsort(t, batches, sizeof(*t), cmp_u64);
	*median = (double)t[batches / 2] / per_batch;
	*p99 = (double)t[(batches * 99) / 100] / per_batch;
	free(t);
	free(pl);
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	unsigned batches = quick ? 21 : 201, per = quick ? 200 : 2000;
	static const unsigned occ[] = { 0, 16, 64, 128, 256 };
	static const unsigned nb[] = { 1, 3, 6, 7, 12 };
	struct mmio_device devs[2];
	size_t ndev;
	struct guest *g = malloc(sizeof(*g));
	double fm, fp, pm, pp, rm, rp;

	if (argc > 1 && !quick) {
		fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
		return 2;
	}
	printf("# bench-model: ns per call, median and p99 of %u batches x %u calls\n", batches, per);
	printf("# baseline = placement with the free-space map rebuilt per call\n\n");

	make_guest(g, 64);
	make_devices(devs, 6, &ndev);
	time_op(OP_FITS, g, devs, 1, batches, per, &fm, &fp);
	time_op(OP_PLACE, g, devs, 1, batches, per, &pm, &pp);
	time_op(OP_REBUILD, g, devs, 1, batches, per, &rm, &rp);
	printf("headline: 6-BAR device, 64 occupied BARs in both windows\n");
	printf("  closed form (mmio_fits)   median %8.1f ns  p99 %8.1f ns  target <= 200 ns\n", fm, fp);
	printf("  placement   (mmio_place)  median %8.1f ns  p99 %8.1f ns  target <= 2000 ns\n", pm, pp);
	printf("  baseline    (rebuild+place) median %6.1f ns  p99 %8.1f ns\n", rm, rp);
	printf("  ratio placement/baseline %.3f, closed form/placement %.3f\n\n", pm / rm, fm / pm);
	mmio_space_free(&g->sp);

	printf("sweep: median ns (p99) by occupied BARs (rows) and BARs checked (columns)\n");
	printf("%-10s %-7s", "occupied", "op");
	for (size_t j = 0; j < sizeof(nb) / sizeof(nb[0]); j++)
		printf(" %18u", nb[j]);
	printf("\n");
	for (size_t i = 0; i < sizeof(occ) / sizeof(occ[0]); i++) {
		make_guest(g, occ[i]);
		for (int op = OP_FITS; op <= OP_PLACE; op++) {
			printf("%-10u %-7s", occ[i], op == OP_FITS ? "fits" : "place");
			for (size_t j = 0; j < sizeof(nb) / sizeof(nb[0]); j++) {
				double m, p;
				make_devices(devs, nb[j], &ndev);
				/* the closed form answers one device; 12 BARs = two devices */
				time_op((enum op)op, g, devs, op == OP_FITS ? 1 : ndev, batches / 2 + 1, per, &m, &p);
				printf("   %7.1f (%7.1f)", m, p);
			}
			printf("\n");
		}
		mmio_space_free(&g->sp);
	}
	free(g);
	return 0;
}
