/* SPDX-License-Identifier: MIT */
/*
 * books-fixture.h — the guest the books tests share (test-books.c,
 * test-books-ports.c) and the short ways they admit, reserve and look up:
 *   low  [0xE0000000, 0xE0400000)  4 MiB, a live 1 MiB BAR of "vga" at the bottom
 *   high [4 GiB, 4 GiB + 1 GiB)
 *   io   [0x1000, 0x2000)
 * so the low window's free blocks are 1 MiB at 0xE0100000 and 2 MiB at 0xE0200000.
 * Each helper aborts the test on a fixture that cannot be set up.
 */
#ifndef MMIOD_TESTS_BOOKS_FIXTURE_H
#define MMIOD_TESTS_BOOKS_FIXTURE_H

#include <stdint.h>

#include "books.h"

#define M      (UINT64_C(1) << 20)
#define LOW    UINT64_C(0xE0000000)
#define HIGH   MMIO_4G

extern struct tsd_live_bar live_vga;

void layout_make(struct tsd_layout *l, struct tsd_live_bar *bars, size_t nbars);
void books_with_guest(struct books *b);
struct mmio_device dev(const char *spec);
enum mmio_status admit(struct books *b, const char *spec, const char *id, struct mmio_error *err);
enum mmio_status reserve(struct books *b, const char *spec, const char *id, struct mmio_error *err);
struct books_window_view low_view(const struct books *b);
const struct books_attach *attach(const struct books *b, const char *id);
/* The admitted attach id as its back end finished it: attached under tsd_id. */
struct books_attach *attached_as(struct books *b, const char *id, const char *tsd_id);

#endif
