/* SPDX-License-Identifier: MIT */
/*
 * bench-dbus.c — Check calls per second and latency through a bus.
 *
 *   bench-dbus ADDRESS DEST GUEST DEVICE SECONDS CLIENTS INFLIGHT
 *
 * CLIENTS processes each keep INFLIGHT asynchronous calls in flight (1 =
 * one call at a time) for SECONDS, on their own connection.  Prints one
 * line: calls/s over all clients, p50 and p99 latency in µs, errors.
 * Used by bench/bench-dbus.sh against mmiod and the echo service alike,
 * with the same client, so the ratio is the daemon's own cost.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#define MAX_SAMPLES (1u << 22)

struct ctx {
	sd_bus *bus;
	const char *dest, *guest, *device;
	uint64_t deadline;
	uint64_t *lat;
	size_t nlat;
	unsigned long calls, errors;
	unsigned inflight;
};

struct slot {
	struct ctx *c;
	uint64_t sent;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int send_one(struct slot *s);

static int on_reply(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct slot *s = ud;
	struct ctx *c = s->c;
	uint64_t t = now_us();

	if (sd_bus_message_is_method_error(m, NULL))
		c->errors++;
	c->calls++;
	if (c->nlat < MAX_SAMPLES)
		c->lat[c->nlat++] = t - s->sent;
	if (t < c->deadline)
		return send_one(s);
	c->inflight--;
	return 0;
}

static int send_one(struct slot *s)
{
	struct ctx *c = s->c;
	sd_bus_message *m = NULL;
	int r;

	r = sd_bus_message_new_method_call(c->bus, &m, c->dest, "/org/mmiod1", "org.mmiod1.Manager",
					   "Check");
	if (r >= 0)
		r = sd_bus_message_append(m, "sas", c->guest, 1, c->device);
	if (r >= 0)
		r = sd_bus_message_append(m, "a{sv}", 0);
	s->sent = now_us();
	if (r >= 0)
		r = sd_bus_call_async(c->bus, NULL, m, on_reply, s, 10 * 1000000u);
	sd_bus_message_unref(m);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int run_client(const char *addr, struct ctx *c, unsigned inflight, unsigned seconds, int out)
{
	struct slot *slots = calloc(inflight, sizeof(*slots));
	uint64_t start;
	int r;

	c->lat = malloc(MAX_SAMPLES * sizeof(*c->lat));
	r = sd_bus_new(&c->bus);
	if (r >= 0)
		r = sd_bus_set_address(c->bus, addr);
	if (r >= 0)
		r = sd_bus_set_bus_client(c->bus, 1);
	if (r >= 0)
		r = sd_bus_start(c->bus);
	if (r < 0) {
		fprintf(stderr, "bench-dbus: cannot connect to %s: %s\n", addr, strerror(-r));
		return 1;
	}
	start = now_us();
	c->deadline = start + (uint64_t)seconds * 1000000u;
	c->inflight = inflight;
	for (unsigned i = 0; i < inflight; i++) {
		slots[i].c = c;
		if (send_one(&slots[i]) < 0)
			return 1;
	}
	while (c->inflight > 0) {
		r = sd_bus_process(c->bus, NULL);
		if (r < 0)
			return 1;
		if (r == 0)
			sd_bus_wait(c->bus, 100000);
	}
	/* report: calls, errors, elapsed µs, then the latency samples */
	{
		uint64_t hdr[3] = { c->calls, c->errors, now_us() - start };
		if (write(out, hdr, sizeof(hdr)) != sizeof(hdr) ||
		    write(out, &c->nlat, sizeof(c->nlat)) != sizeof(c->nlat))
			return 1;
		for (size_t off = 0; off < c->nlat * sizeof(uint64_t);) {
			ssize_t w = write(out, (char *)c->lat + off, c->nlat * sizeof(uint64_t) - off);
			if (w <= 0)
				return 1;
			off += (size_t)w;
		}
	}
	sd_bus_flush_close_unref(c->bus);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned seconds, clients, inflight;
	uint64_t *all = NULL, calls = 0, errors = 0, elapsed = 0;
	size_t nall = 0;
	int pipes[64][2];

	if (argc != 8) {
		fprintf(stderr, "usage: %s ADDRESS DEST GUEST DEVICE SECONDS CLIENTS INFLIGHT\n", argv[0]);
		return 2;
	}
	seconds = (unsigned)atoi(argv[5]);
	clients = (unsigned)atoi(argv[6]);
	inflight = (unsigned)atoi(argv[7]);
	if (!seconds || !clients || clients > 64 || !inflight) {
		fprintf(stderr, "bench-dbus: bad numbers\n");
		return 2;
	}
	for (unsigned i = 0; i < clients; i++) {
		pid_t pid;
		if (pipe(pipes[i]) < 0)
			return 1;
		pid = fork();
		if (pid == 0) {
			struct ctx c = { .dest = argv[2], .guest = argv[3], .device = argv[4] };
			close(pipes[i][0]);
			_exit(run_client(argv[1], &c, inflight, seconds, pipes[i][1]));
		}
		close(pipes[i][1]);
	}
	for (unsigned i = 0; i < clients; i++) {
		uint64_t hdr[3];
		size_t n;
		FILE *f = fdopen(pipes[i][0], "r");
		if (!f || fread(hdr, sizeof(hdr), 1, f) != 1 || fread(&n, sizeof(n), 1, f) != 1) {
			fprintf(stderr, "bench-dbus: client %u failed\n", i);
			return 1;
		}
		all = realloc(all, (nall + n) * sizeof(*all));
		if (fread(all + nall, sizeof(*all), n, f) != n)
			return 1;
		nall += n;
		calls += hdr[0];
		errors += hdr[1];
		if (hdr[2] > elapsed)
			elapsed = hdr[2];
		fclose(f);
	}
	while (wait(NULL) > 0)
		;
	qsort(all, nall, sizeof(*all), cmp_u64);
	printf("calls_per_s=%.0f p50_us=%" PRIu64 " p99_us=%" PRIu64 " calls=%" PRIu64 " errors=%" PRIu64 "\n",
	       (double)calls * 1e6 / (double)elapsed, nall ? all[nall / 2] : 0,
	       nall ? all[nall * 99 / 100] : 0, calls, errors);
	free(all);
	return errors ? 1 : 0;
}
