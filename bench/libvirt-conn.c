/* SPDX-License-Identifier: MIT */
/*
 * libvirt-conn.c — does a call that waits on one domain delay another
 * thread's calls on the same libvirt connection?  (docs/reliability.md:
 * why mmiod's libvirt back end runs each call on a connection of its own.)
 *
 *   bench/libvirt-conn URI STUCK OTHER N shared|own [KEEPALIVE_S]
 *
 * Runs libvirt's default event loop on a thread, as mmiod does, with
 * keepalive KEEPALIVE_S (default 5) x 3.  One thread calls
 * query-status on domain STUCK (whose QEMU the caller has stopped: the
 * call waits); meanwhile the main thread times N query-status calls on
 * domain OTHER, on the same connection (shared) or on one of its own
 * (own).  Prints one line: calls, p50, p99, max, and how many took over
 * 1 s; each of those is also printed on stderr when it happens.
 */
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char query[] = "{\"execute\":\"query-status\"}";

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *event_loop(void *arg)
{
	(void)arg;
	for (;;)
		if (virEventRunDefaultImpl() < 0)
			return NULL;
}

static void *stuck_call(void *arg)
{
	virDomainPtr dom = arg;
	char *out = NULL;
	double t0 = now_ms();
	int r = virDomainQemuMonitorCommand(dom, query, &out, 0);

	fprintf(stderr, "the call on the stopped domain returned %d after %.0f ms\n", r,
		now_ms() - t0);
	free(out);
	return NULL;
}

static void quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static virConnectPtr open_conn(const char *uri, int keepalive)
{
	virConnectPtr c = virConnectOpen(uri);
	if (!c) {
		fprintf(stderr, "cannot connect to %s: %s\n", uri, virGetLastErrorMessage());
		exit(1);
	}
	virConnectSetKeepAlive(c, keepalive, 3);
	return c;
}

int main(int argc, char **argv)
{
	if (argc < 6 || (strcmp(argv[5], "shared") != 0 && strcmp(argv[5], "own") != 0)) {
		fprintf(stderr, "usage: %s URI STUCK OTHER N shared|own [KEEPALIVE_S]\n", argv[0]);
		return 2;
	}
	int n = atoi(argv[4]), keepalive = argc > 6 ? atoi(argv[6]) : 5, slow = 0;
	bool own = strcmp(argv[5], "own") == 0;
	pthread_t loop, stuck;
	double *lat, t00;

	if (n < 1 || keepalive < 1 || !(lat = calloc((size_t)n, sizeof(*lat))))
		return 2;
	virSetErrorFunc(NULL, quiet);
	if (virEventRegisterDefaultImpl() < 0)
		return 1;
	pthread_create(&loop, NULL, event_loop, NULL);
	virConnectPtr c1 = open_conn(argv[1], keepalive);
	virConnectPtr c2 = own ? open_conn(argv[1], keepalive) : c1;
	virDomainPtr sdom = virDomainLookupByName(c1, argv[2]);
	virDomainPtr odom = virDomainLookupByName(c2, argv[3]);
	if (!sdom || !odom) {
		fprintf(stderr, "no domain %s: %s\n", sdom ? argv[3] : argv[2], virGetLastErrorMessage());
		return 1;
	}
	pthread_create(&stuck, NULL, stuck_call, sdom);
	usleep(300000);         /* the stuck call is out */
	t00 = now_ms();
	for (int i = 0; i < n; i++) {
		char *out = NULL;
		double t0 = now_ms();
		if (virDomainQemuMonitorCommand(odom, query, &out, 0) < 0)
			fprintf(stderr, "call %d failed: %s\n", i, virGetLastErrorMessage());
		free(out);
		lat[i] = now_ms() - t0;
		if (lat[i] > 1000) {
			slow++;
			fprintf(stderr, "call %d took %.0f ms (%.0f ms in)\n", i, lat[i], t0 - t00);
		}
	}
	double total = now_ms() - t00;
	qsort(lat, (size_t)n, sizeof(*lat), by_value);
	printf("%s connection, keepalive %d s: %d calls in %.0f ms, p50 %.2f ms, p99 %.2f ms, "
	       "max %.1f ms, %d over 1 s\n", own ? "own" : "shared", keepalive, n, total, lat[n / 2],
	       lat[(size_t)n * 99 / 100], lat[n - 1], slow);
	fflush(stdout);
	/* the stuck call never returns while the domain is stopped */
	_exit(0);
}
