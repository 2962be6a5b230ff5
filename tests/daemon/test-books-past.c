/* SPDX-License-Identifier: MIT */
/*
 * test-books-past.c — daemon/books-past.c through the books' interface:
 * what the guest holds that the toolstack does not show, for devices other
 * tools plugged.  Layouts as the QMP back end reports them (QOM order of
 * arrival, hot-plug or boot; every ROM and every BAR of a device whose
 * decode is off unassigned), the books' reading of each BAR (books_live_bars)
 * and what admission counts as used (books_space).
 *
 * The guest: a pc with 512 MiB (QEMU 7.2's windows):
 *   low  [0x20000000, 0xfec00000)   high [4 GiB, 6 GiB)   io [0xd00, 0x10000)
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "../tap.h"

#define K      (UINT64_C(1) << 10)
#define M      (UINT64_C(1) << 20)
#define LOW    UINT64_C(0x20000000)
#define UNASS  TSD_ADDR_UNASSIGNED

static struct tsd_live_bar bar(const char *dev, const char *slot, uint8_t index, uint8_t kind, bool pref,
			       uint64_t size, uint64_t addr, uint8_t arrival, uint32_t seq)
{
	struct tsd_live_bar b = {
		.bar = { .index = index, .kind = kind, .prefetch = pref, .size = size },
		.addr = addr, .source = TSD_SRC_TOOLSTACK, .arrival = arrival, .seq = seq,
	};
	snprintf(b.device, sizeof(b.device), "%s", dev);
	snprintf(b.guest_slot, sizeof(b.guest_slot), "%s", slot);
	return b;
}

static uint8_t firmware = TSD_FW_SEABIOS;

static void set(struct books *b, struct tsd_live_bar *bars, size_t n)
{
	struct tsd_layout l;
	struct mmio_error err = { 0 };

	memset(&l, 0, sizeof(l));
	l.nwin = 3;
	l.win[0] = (struct mmio_window){ .kind = MMIO_WIN_LOW, .start = LOW, .end = 0xfec00000 };
	l.win[1] = (struct mmio_window){ .kind = MMIO_WIN_HIGH, .start = MMIO_4G, .end = MMIO_4G + 2048 * M };
	l.win[2] = (struct mmio_window){ .kind = MMIO_WIN_IO, .start = 0xd00, .end = 0x10000 };
	l.nbars = n;
	l.bars = bars;
	l.free_slots = -1;
	l.firmware = firmware;
	if (books_set_layout(b, &l, &err) != MMIO_OK) {
		tap_diag("books_set_layout: %s", err.msg);
		abort();
	}
}

/* The address the books read for layout bar i and its source. */
static bool view_is(const struct books *b, size_t i, uint64_t addr, uint8_t source)
{
	const struct books_live_view *v = books_live_bars(b);
	if (!v)
		return false;
	if (v[i].addr != addr || v[i].source != source)
		tap_diag("bar %zu (%s BAR%u): 0x%" PRIx64 " source %u, want 0x%" PRIx64 " source %u", i,
			 b->layout.bars[i].device, b->layout.bars[i].bar.index, v[i].addr, v[i].source, addr,
			 source);
	return v[i].addr == addr && v[i].source == source;
}

/* Where mmio_place puts a single 4 KiB BAR on the books' free space. */
static uint64_t next_4k(const struct books *b)
{
	struct mmio_space sp;
	struct mmio_error err = { 0 };
	struct mmio_device d = { .name = "probe", .nbars = 1,
				 .bars = { { .index = 0, .kind = MMIO_BAR_MEM32, .size = 4 * K } } };
	struct mmio_placement *pl = mmio_placement_alloc(1);
	uint64_t at = UNASS;

	if (!pl || books_space(b, BOOKS_USE_ALL, &sp, &err) != MMIO_OK)
		abort();
	if (mmio_place(&sp, &d, 1, pl, &err) == MMIO_OK && pl->n == 1 && pl->items[0].placed)
		at = pl->items[0].addr;
	mmio_space_free(&sp);
	free(pl);
	return at;
}

/* Someone plugged a two-function slot with QMP (function 1 first, then
 * function 0; the guest hears of it at function 0) and never enabled it:
 * every BAR is unassigned in query-pci.  Function 0 has a 4K BAR0 and a
 * 64K ROM, function 1 a 1M BAR0 and a 2K ROM; Linux sorted them across
 * functions, so function 0's ROM lies between function 1's BARs. */
static void test_others_slot(void)
{
	struct books b;
	struct tsd_live_bar l[] = {
		bar("s", "00:05.0", 0, MMIO_BAR_MEM32, false, 4 * K, UNASS, TSD_ARRIVAL_HOTPLUG, 3),
		bar("s", "00:05.0", MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 64 * K, UNASS, TSD_ARRIVAL_HOTPLUG, 3),
		bar("s.1", "00:05.1", 0, MMIO_BAR_MEM32, false, M, UNASS, TSD_ARRIVAL_HOTPLUG, 2),
		bar("s.1", "00:05.1", MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 2 * K, UNASS, TSD_ARRIVAL_HOTPLUG, 2),
	};
	char note[512];

	books_init(&b);
	set(&b, l, 4);
	tap_ok(view_is(&b, 2, LOW, TSD_SRC_INFERRED), "slot: function 1's 1M BAR inferred at the bottom (sorted across functions)");
	tap_ok(view_is(&b, 1, LOW + M, TSD_SRC_INFERRED), "slot: function 0's 64K ROM after it");
	tap_ok(view_is(&b, 0, LOW + M + 64 * K, TSD_SRC_INFERRED), "slot: function 0's BAR0 after the ROM");
	tap_ok(view_is(&b, 3, LOW + M + 68 * K, TSD_SRC_INFERRED), "slot: function 1's ROM last");
	tap_is_u64(next_4k(&b), LOW + M + 72 * K, "the next 4K BAR goes above the whole slot");
	books_history_note(&b, note, sizeof(note));
	tap_ok(note[0] == '\0', "one exact reading, nothing to say (\"%s\")", note);
	books_free(&b);
}

/* Functions other than 0 are plugged but function 0 has not come: the guest
 * does not know them, they hold nothing; once function 0 comes they are one
 * arrival at its seq, after a device plugged in between. */
static void test_slot_before_function0(void)
{
	struct books b;
	struct tsd_live_bar l[] = {
		bar("s.1", "00:05.1", 0, MMIO_BAR_MEM32, false, M, UNASS, TSD_ARRIVAL_HOTPLUG, 2),
		bar("t", "00:06.0", 0, MMIO_BAR_MEM32, false, 4 * K, UNASS, TSD_ARRIVAL_HOTPLUG, 3),
		bar("s", "00:05.0", 0, MMIO_BAR_MEM32, false, 4 * K, UNASS, TSD_ARRIVAL_HOTPLUG, 4),
	};

	books_init(&b);
	set(&b, l, 2);
	tap_ok(view_is(&b, 0, UNASS, TSD_SRC_TOOLSTACK), "function 1 without function 0: not in the guest, holds nothing");
	tap_ok(view_is(&b, 1, LOW, TSD_SRC_INFERRED), "a device plugged meanwhile takes the bottom");
	set(&b, l, 3);
	tap_ok(view_is(&b, 0, LOW + M, TSD_SRC_INFERRED), "function 0 came: function 1's 1M BAR above the device");
	tap_ok(view_is(&b, 2, LOW + 4 * K, TSD_SRC_INFERRED),
	       "and function 0's 4K BAR in the first gap (after the device's)");
	books_free(&b);
}

/* Partial assignment: a device whose 64-bit BAR found no room (the guest
 * left it unassigned, and no driver can enable a device with an
 * unassigned BAR, so QEMU shows none) still holds the BARs that fit. */
static void test_partial(void)
{
	struct books b;
	struct tsd_live_bar l[] = {
		bar("big", "00:05.0", 0, MMIO_BAR_MEM32, false, 4 * K, UNASS, TSD_ARRIVAL_HOTPLUG, 1),
		bar("big", "00:05.0", 1, MMIO_BAR_IO, false, 256, UNASS, TSD_ARRIVAL_HOTPLUG, 1),
		bar("big", "00:05.0", 2, MMIO_BAR_MEM64, true, 4096 * M, UNASS, TSD_ARRIVAL_HOTPLUG, 1),
	};

	books_init(&b);
	set(&b, l, 3);
	tap_ok(view_is(&b, 2, UNASS, TSD_SRC_INFERRED), "a 4G BAR that fits no window: inferred not placed");
	tap_ok(view_is(&b, 0, LOW, TSD_SRC_INFERRED), "its BAR0 that fit is held");
	tap_ok(view_is(&b, 1, 0x1000, TSD_SRC_INFERRED), "its I/O BAR that fit is held");
	tap_is_u64(next_4k(&b), LOW + 4 * K, "the next 4K BAR goes above the partial device's BAR0");
	books_free(&b);
}

/* A device removed while mmiod watched: the replay remembers where it was,
 * so the ROM of one plugged after it is where the guest put it, and the
 * note stays empty; a seq nobody saw is reported. */
static void test_departure_and_gap(void)
{
	struct books b;
	struct tsd_live_bar l[] = {
		bar("a", "00:05.0", 0, MMIO_BAR_MEM32, false, M, LOW, TSD_ARRIVAL_HOTPLUG, 1),
		bar("c", "00:07.0", 0, MMIO_BAR_MEM32, false, M, LOW + M, TSD_ARRIVAL_HOTPLUG, 2),
		bar("c", "00:07.0", MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 64 * K, UNASS, TSD_ARRIVAL_HOTPLUG, 2),
		bar("d", "00:08.0", 0, MMIO_BAR_MEM32, false, 4 * K, UNASS, TSD_ARRIVAL_HOTPLUG, 4),
	};
	char note[512];

	books_init(&b);
	set(&b, l, 3);
	tap_ok(view_is(&b, 2, LOW + 2 * M, TSD_SRC_INFERRED), "c's ROM above a and c");
	set(&b, l + 1, 2);             /* a leaves */
	tap_ok(view_is(&b, 1, LOW + 2 * M, TSD_SRC_INFERRED), "a gone: c's ROM stays where a's presence put it");
	books_history_note(&b, note, sizeof(note));
	tap_ok(note[0] == '\0', "a's departure was seen: nothing to say (\"%s\")", note);
	set(&b, l + 1, 3);             /* d arrives with seq 4: seq 3 was never seen */
	tap_ok(view_is(&b, 2, LOW, TSD_SRC_INFERRED), "d takes a's old place");
	books_history_note(&b, note, sizeof(note));
	tap_ok(strstr(note, "1 hot-plug(s) in the guest's history were never seen") != NULL,
	       "the unseen seq 3 is said (\"%s\")", note);
	books_free(&b);
}

/* OVMF leaves boot ROM BARs unassigned (where QEMU last mapped the ROM is
 * where OVMF read it, no more); Linux assigns them at boot, all of the
 * bus's in one sorted list, before any hot-plug.  Under SeaBIOS the same
 * hidden ROM is somewhere the firmware put it: not known, not counted. */
static void test_ovmf_boot_roms(void)
{
	struct books b;
	struct tsd_live_bar l[] = {
		bar("vga", "00:02.0", 0, MMIO_BAR_MEM32, true, 16 * M, 0x80000000, TSD_ARRIVAL_BOOT, 1),
		bar("vga", "00:02.0", MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 64 * K, UNASS, TSD_ARRIVAL_BOOT, 1),
		bar("nic", "00:03.0", 0, MMIO_BAR_MEM32, false, 128 * K, 0x81020000, TSD_ARRIVAL_BOOT, 2),
		bar("nic", "00:03.0", MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 256 * K, UNASS, TSD_ARRIVAL_BOOT, 2),
		bar("t", "00:04.0", 0, MMIO_BAR_MEM32, false, 4 * K, 0x81000000, TSD_ARRIVAL_BOOT, 3),
		bar("t", "00:04.0", MMIO_BAR_ROM, MMIO_BAR_MEM32, true, 32 * K, UNASS, TSD_ARRIVAL_BOOT, 3),
		bar("h", "00:05.0", 0, MMIO_BAR_MEM32, false, 4 * K, UNASS, TSD_ARRIVAL_HOTPLUG, 4),
	};
	char note[512];

	l[0].pci_class = 0x0300;
	l[3].last_mapped = 0x80800000;  /* where OVMF read it */
	firmware = TSD_FW_OVMF;
	books_init(&b);
	set(&b, l, 7);
	tap_ok(view_is(&b, 1, UNASS, TSD_SRC_INFERRED), "OVMF: the boot VGA's ROM is shadowed");
	tap_ok(view_is(&b, 3, LOW, TSD_SRC_INFERRED), "OVMF: the e1000's 256K boot ROM at the bottom of the low window");
	tap_ok(view_is(&b, 5, LOW + 256 * K, TSD_SRC_INFERRED), "OVMF: the 32K boot ROM after it");
	tap_ok(view_is(&b, 6, LOW + 288 * K, TSD_SRC_INFERRED), "OVMF: a hot-plug after boot goes above them");
	books_history_note(&b, note, sizeof(note));
	tap_ok(note[0] == '\0', "OVMF: nothing to say (\"%s\")", note);
	books_free(&b);

	firmware = TSD_FW_SEABIOS;
	l[3].last_mapped = 0;
	books_init(&b);
	set(&b, l, 7);
	tap_ok(view_is(&b, 3, UNASS, TSD_SRC_TOOLSTACK) && view_is(&b, 6, LOW, TSD_SRC_INFERRED),
	       "SeaBIOS: a boot ROM nobody saw mapped is not known and not counted");
	books_history_note(&b, note, sizeof(note));
	tap_ok(strstr(note, "2 BAR(s) of boot devices hidden by QEMU") != NULL, "and the note says so (\"%s\")", note);
	books_free(&b);
}

int main(void)
{
	test_others_slot();
	test_slot_before_function0();
	test_partial();
	test_departure_and_gap();
	test_ovmf_boot_roms();
	tap_done();
	return tap_exit();
}
