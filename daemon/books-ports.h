/* SPDX-License-Identifier: MIT */
/*
 * books-ports.h — what books-ports.c (hot-plug ports) offers the admission
 * rule (books-admit.c).  Not for use outside the books.
 */
#ifndef MMIOD_BOOKS_PORTS_H
#define MMIOD_BOOKS_PORTS_H

#include "books.h"

/* books_check_port for a guest whose devices go behind ports (or when the
 * caller named a port): devs[0..n) behind the ports, then every
 * reservation behind the ports left. */
enum mmio_status books_check_in_ports(const struct books *b, const struct mmio_device *devs,
				      const char *const *specs, size_t n, const char *want_port,
				      struct books_entry *out, struct mmio_error *err);
/* devs[0..n) one after another behind the ports (a reservation's devices
 * after the earlier reservations'); out gets each one's placement and port. */
enum mmio_status books_place_in_ports(const struct books *b, const struct mmio_device *devs,
				      const char *const *specs, size_t n, struct books_entry *out,
				      struct mmio_error *err);

#endif
