/* SPDX-License-Identifier: MIT */
/*
 * libvirt-open.c — the baseline for bench-scale.sh: what libvirt's test
 * driver costs by itself, in-process, for a node XML.
 *
 *   bench/libvirt-open URI
 *
 * Opens URI, lists all domains and reads each one's XML (what mmiod's
 * libvirt back end asks for at start-up), then prints one line:
 *   open_s=… list_s=… rss_kib=… (VmRSS after the listing) domains=…
 */
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = atol(line + 6);
	if (f)
		fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	virDomainPtr *doms = NULL;
	if (argc != 2) {
		fprintf(stderr, "usage: %s URI\n", argv[0]);
		return 2;
	}
	double t0 = now_s();
	virConnectPtr conn = virConnectOpen(argv[1]);
	double t1 = now_s();
	if (!conn)
		return 1;
	int n = virConnectListAllDomains(conn, &doms, 0);
	for (int i = 0; i < n; i++) {
		free(virDomainGetXMLDesc(doms[i], 0));
		virDomainIsActive(doms[i]);
		virDomainFree(doms[i]);
	}
	free(doms);
	double t2 = now_s();
	printf("open_s=%.4f list_s=%.4f rss_kib=%ld domains=%d\n", t1 - t0, t2 - t1, rss_kib(), n);
	virConnectClose(conn);
	return 0;
}
