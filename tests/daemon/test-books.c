/* SPDX-License-Identifier: MIT */
/*
 * test-books.c — daemon/books.c without a bus or a back end: admission and
 * the hold in one step, the last block going to exactly one of two
 * admissions, reservations as capacity promises, release, predicted
 * addresses of BARs the toolstack shows unassigned, the safety margin.
 * The guest used throughout: books-fixture.h (small on purpose so every
 * block is countable).  Hot-plug ports and slots: test-books-ports.c.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "books-fixture.h"
#include "state.h"
#include "../tap.h"


static void test_no_layout(void)
{
	struct books b;
	struct mmio_space sp;
	struct mmio_error err = { 0 };

	books_init(&b);
	tap_ok(books_space(&b, BOOKS_USE_ALL, &sp, &err) == MMIO_E_UNSUPPORTED,
	       "no layout yet: books_space says UNSUPPORTED");
	tap_ok(admit(&b, "bars:mem32:1M", "a1", &err) == MMIO_E_UNSUPPORTED && b.nattach == 0,
	       "no layout yet: nothing admitted, nothing held");
	books_free(&b);
}

static void test_admit_holds(void)
{
	struct books b;
	struct mmio_error err;
	struct books_window_view w;

	books_with_guest(&b);
	w = low_view(&b);
	tap_is_u64(w.free, 3 * M, "low window: 3 MiB free around the live BAR");
	tap_is_u64(w.largest, 2 * M, "low window: largest block 2 MiB");

	tap_ok(admit(&b, "bars:mem32:2M", "a1", &err) == MMIO_OK, "2 MiB BAR admitted");
	const struct books_attach *a = attach(&b, "a1");
	tap_ok(a && a->state == BOOKS_ATTACH_INFLIGHT, "and held in the same call (in flight)");
	tap_ok(a && a->e.bars[0].placed && a->e.bars[0].window == MMIO_WIN_LOW,
	       "predicted in the low window");
	tap_is_u64(a ? a->e.bars[0].addr : 0, LOW + 2 * M, "predicted at the 2 MiB-aligned block");
	w = low_view(&b);
	tap_is_u64(w.free, 1 * M, "the hold counts as used in Windows");
	tap_is_u64(w.largest, 1 * M, "largest block is now 1 MiB");

	tap_ok(admit(&b, "bars:mem32:2M", "a2", &err) == MMIO_E_NOSPACE,
	       "a second 2 MiB BAR does not fit beside the hold");
	tap_contains(err.msg, "no space", "reason in the kernel's words");
	tap_ok(b.nattach == 1 && !attach(&b, "a2"), "a refused admission holds nothing");

	tap_ok(admit(&b, "bars:mem32:1M", "a1", &err) == MMIO_E_INVALID,
	       "an attach id already in use is refused");
	books_free(&b);
}

static void test_last_block(void)
{
	struct books b;
	struct mmio_error err1, err2;

	books_with_guest(&b);
	/* eat the 2 MiB block, leaving exactly one 1 MiB block */
	tap_ok(admit(&b, "bars:mem32:2M", "big", &err1) == MMIO_OK, "2 MiB block taken");
	enum mmio_status s1 = admit(&b, "bars:mem32:1M", "x1", &err1);
	enum mmio_status s2 = admit(&b, "bars:mem32:1M", "x2", &err2);
	tap_ok(s1 == MMIO_OK && s2 == MMIO_E_NOSPACE,
	       "two admissions for the last 1 MiB block: the first wins, the second gets NoSpace");
	tap_is_u64(attach(&b, "x1") ? attach(&b, "x1")->e.bars[0].addr : 0, LOW + 1 * M,
		   "the winner holds 0xE0100000");
	tap_is_u64(low_view(&b).free, 0, "low window full");

	/* dropping a hold gives the block back */
	books_remove_attach(&b, (size_t)books_find_attach(&b, "x1"));
	tap_is_u64(low_view(&b).free, 1 * M, "removing the hold restores 1 MiB");
	tap_ok(admit(&b, "bars:mem32:1M", "x2", &err2) == MMIO_OK, "and the loser now fits");
	books_free(&b);
}

static void test_reservations(void)
{
	struct books b;
	struct mmio_error err;

	books_with_guest(&b);
	tap_ok(reserve(&b, "bars:mem32:2M", "r1", &err) == MMIO_OK, "reserve 2 MiB");
	tap_ok(b.nres == 1 && b.res[0].devs[0].bars[0].placed &&
	       b.res[0].devs[0].bars[0].addr == LOW + 2 * M, "reservation predicted at 0xE0200000");
	tap_is_u64(books_reservation_bytes(&b.res[0]), 2 * M, "reservation bytes");
	tap_is_u64(low_view(&b).free, 1 * M, "Windows count the reservation as used");

	/* the guest kernel knows nothing of r1: a 2 MiB BAR would land on it */
	tap_ok(admit(&b, "bars:mem32:2M", "a1", &err) == MMIO_E_NOSPACE,
	       "a device that would eat reserved capacity is refused");
	tap_contains(err.msg, "reservation r1", "the reason names the reservation");
	tap_ok(b.nattach == 0, "nothing held for it");

	tap_ok(admit(&b, "bars:mem32:1M", "a2", &err) == MMIO_OK,
	       "a device that leaves the reservation room is admitted");
	tap_is_u64(attach(&b, "a2") ? attach(&b, "a2")->e.bars[0].addr : 0, LOW + 1 * M,
		   "at 0xE0100000, below the reserved block");

	tap_ok(reserve(&b, "bars:mem32:1M", "r2", &err) == MMIO_E_NOSPACE,
	       "a reservation that does not fit is refused");
	tap_ok(b.nres == 1, "and not recorded");
	tap_ok(reserve(&b, "bars:mem32:1M", "r1", &err) == MMIO_E_INVALID,
	       "a reservation id already in use is refused");

	/* a 64-bit BAR goes high and is unaffected by the low reservation */
	tap_ok(admit(&b, "bars:mem64p:256M", "a3", &err) == MMIO_OK &&
	       attach(&b, "a3")->e.bars[0].window == MMIO_WIN_HIGH,
	       "a 256 MiB 64-bit prefetchable BAR goes to the high window");

	ssize_t ri = books_find_reservation(&b, "r1");
	tap_ok(ri == 0, "books_find_reservation finds r1");
	books_release(&b, (size_t)ri);
	tap_ok(b.nres == 0 && books_find_reservation(&b, "r1") < 0, "released");
	tap_is_u64(low_view(&b).free, 2 * M, "release restores the reserved 2 MiB to Windows");
	tap_ok(admit(&b, "bars:mem32:2M", "a4", &err) == MMIO_OK,
	       "after the release the 2 MiB device is admitted");
	books_free(&b);
}

static void test_reservation_order(void)
{
	struct books b;
	struct mmio_error err;

	/* two reservations fill the window in creation order; breaking the
	 * second one is reported as the second one */
	books_with_guest(&b);
	tap_ok(reserve(&b, "bars:mem32:1M", "first", &err) == MMIO_OK &&
	       reserve(&b, "bars:mem32:2M", "second", &err) == MMIO_OK,
	       "reservations of 1 MiB and 2 MiB fill the low window");
	tap_ok(admit(&b, "bars:mem32:1M", "a1", &err) == MMIO_E_NOSPACE,
	       "a 1 MiB device would break one of them");
	tap_contains(err.msg, "reservation second", "the reservation that no longer fits is named");
	books_free(&b);
}

static void test_multi_check(void)
{
	struct books b;
	struct mmio_error err = { 0 };
	struct mmio_device d[2] = { dev("bars:mem32:1M"), dev("bars:mem32:2M") };
	const char *specs[2] = { "bars:mem32:1M", "bars:mem32:2M" };
	struct books_entry out[2];

	books_with_guest(&b);
	tap_ok(books_check(&b, d, specs, 2, out, &err) == MMIO_OK, "Check of two devices in order fits");
	tap_ok(out[0].bars[0].addr == LOW + M && out[1].bars[0].addr == LOW + 2 * M,
	       "sequential placement: 1 MiB at 0xE0100000, then 2 MiB at 0xE0200000");
	tap_is_str(out[1].spec, "bars:mem32:2M", "entries carry the caller's spec");
	tap_ok(b.nattach == 0 && b.nres == 0, "Check holds nothing");

	struct mmio_device big[2] = { dev("bars:mem32:2M"), dev("bars:mem32:2M") };
	tap_ok(books_check(&b, big, NULL, 2, out, &err) == MMIO_E_NOSPACE,
	       "two 2 MiB devices do not fit");
	tap_ok(out[0].bars[0].placed && !out[1].bars[0].placed,
	       "the partial placement shows which one failed");
	books_free(&b);
}

static void test_io(void)
{
	struct books b;
	struct mmio_error err;

	books_with_guest(&b);
	tap_ok(admit(&b, "bars:io:256", "io1", &err) == MMIO_OK, "an I/O BAR is admitted");
	const struct books_attach *a = attach(&b, "io1");
	tap_ok(a && a->e.bars[0].window == MMIO_WIN_IO && a->e.bars[0].addr >= MMIO_X86_MIN_IO,
	       "into the I/O window, not below PCIBIOS_MIN_IO");
	books_free(&b);
}

static void test_predicted(void)
{
	struct books b;
	struct mmio_error err;
	struct tsd_layout l;
	struct mmio_space sp;

	books_with_guest(&b);
	tap_ok(admit(&b, "bars:mem32:2M", "a1", &err) == MMIO_OK, "attach a1 admitted");
	/* the back end attached it under its own id; QEMU shows the BAR
	 * unassigned (all-ones) until the guest driver enables decode */
	attached_as(&b, "a1", "mmiod-a1");
	struct tsd_live_bar bars[2] = {
		live_vga,
		{ .device = "mmiod-a1", .guest_slot = "00:04.0",
		  .bar = { .index = 0, .kind = MMIO_BAR_MEM32, .size = 2 * M },
		  .addr = TSD_ADDR_UNASSIGNED, .source = TSD_SRC_TOOLSTACK },
	};
	layout_make(&l, bars, 2);
	tap_ok(books_set_layout(&b, &l, &err) == MMIO_OK, "layout with the unassigned BAR");
	tap_ok(books_layout_has_device(&b, "mmiod-a1"), "the device is present in the layout");
	tap_ok(!books_layout_has_device(&b, "mmiod-zz") && !books_layout_has_device(&b, ""),
	       "unknown and empty ids are not");
	tap_ok(books_find_attach(&b, "mmiod-a1") >= 0 && books_find_attach(&b, "bars:mem32:2M") >= 0,
	       "an attach is found by the back end's id and by its spec");

	/* attached (not in flight): only the live view counts it, via the prediction */
	tap_ok(books_space(&b, BOOKS_USE_LIVE, &sp, &err) == MMIO_OK, "space of live BARs");
	tap_is_u64(sp.w[0].free_bytes, 1 * M, "an unassigned BAR of a device mmiod attached counts at its predicted address");
	mmio_space_free(&sp);
	tap_is_u64(low_view(&b).free, 1 * M, "Windows agree");
	tap_ok(admit(&b, "bars:mem32:2M", "a2", &err) == MMIO_E_NOSPACE,
	       "nobody else is admitted onto the predicted block");

	/* an unassigned BAR of a device mmiod did not attach is not counted:
	 * there is no prediction to count */
	books_remove_attach(&b, (size_t)books_find_attach(&b, "a1"));
	tap_is_u64(low_view(&b).free, 3 * M, "without the attach record the unassigned BAR takes nothing");
	books_free(&b);
}

static void test_copy_in(void)
{
	struct books b;
	struct mmio_error err = { 0 };
	struct books_attach a;

	/* the state loader's path: records appended verbatim */
	books_with_guest(&b);
	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "a9");
	a.state = BOOKS_ATTACH_INFLIGHT;
	a.e.nbars = 1;
	a.e.bars[0] = (struct books_bar){ .bar = { .index = 0, .kind = MMIO_BAR_MEM32, .size = 1 * M },
					  .placed = true, .window = MMIO_WIN_LOW, .addr = LOW + M };
	tap_ok(books_add_attach(&b, &a, &err) == MMIO_OK, "books_add_attach");
	tap_is_u64(low_view(&b).free, 2 * M, "a loaded in-flight hold counts as used");
	tap_is_str(books_attach_state_name(BOOKS_ATTACH_DETACHING), "detaching", "state names");
	tap_ok(books_attach_state_from_name("attached") == BOOKS_ATTACH_ATTACHED &&
	       books_attach_state_from_name("bogus") == -1, "state names parse back");
	books_free(&b);
}

static void test_margin(void)
{
	struct books b;
	struct mmio_error err;
	struct books_entry out[1];

	books_with_guest(&b);
	b.safety_margin = 1 * M;
	tap_ok(admit(&b, "bars:mem32:2M", "a1", &err) == MMIO_OK,
	       "margin 1 MiB: a 2 MiB BAR leaving 1 MiB free is admitted");
	tap_ok(admit(&b, "bars:mem32:1M", "a2", &err) == MMIO_E_NOSPACE,
	       "margin 1 MiB: a 1 MiB BAR that would leave 0 free is refused");
	tap_contains(err.msg, "safety margin of 1 MiB", "the reason names the margin");
	tap_contains(err.msg, "low window", "and the window");
	tap_ok(b.nattach == 1, "nothing held for the refused one");
	struct mmio_device d = dev("bars:mem32:1M");
	tap_ok(books_check(&b, &d, NULL, 1, out, &err) == MMIO_E_NOSPACE, "Check agrees with admission");
	tap_ok(reserve(&b, "bars:mem32:1M", "r1", &err) == MMIO_E_NOSPACE && b.nres == 0,
	       "a reservation is held to the margin too");
	tap_ok(admit(&b, "bars:mem64p:256M", "a3", &err) == MMIO_OK,
	       "the margin is per window: the high window has room");
	tap_ok(admit(&b, "bars:io:256", "io1", &err) == MMIO_OK, "I/O windows are exempt");
	b.safety_margin = 0;
	tap_ok(admit(&b, "bars:mem32:1M", "a2", &err) == MMIO_OK, "margin 0: the last block is admitted");
	b.safety_margin = 5;
	books_free(&b);
	tap_ok(b.safety_margin == 5, "books_free keeps the configured margin");
}


int main(void)
{
	test_no_layout();
	test_admit_holds();
	test_last_block();
	test_reservations();
	test_reservation_order();
	test_multi_check();
	test_io();
	test_predicted();
	test_copy_in();
	test_margin();
	tap_done();
	return tap_exit();
}
