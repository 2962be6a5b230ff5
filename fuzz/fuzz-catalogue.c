/* SPDX-License-Identifier: MIT */
/* fuzz-catalogue.c — mmio_catalogue_load_string (inih through catalogue.c's
 * own line reader): no crash, no leak, error contract, and every loaded
 * profile is well-formed and findable by its name. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size);
	struct mmio_catalogue cat = { 0 };
	struct mmio_error err;
	enum mmio_status st;

	st = FUZZ_ERR_CALL(err, mmio_catalogue_load_string(s, "fuzz.ini", &cat, &err));
	FUZZ_CHECK(st == MMIO_OK || st == MMIO_E_INVALID);
	if (st == MMIO_OK) {
		FUZZ_CHECK(cat.n >= 1 && cat.profiles);
		for (size_t i = 0; i < cat.n; i++) {
			const struct mmio_profile *p = &cat.profiles[i];
			char spec[64];
			struct mmio_device d;

			FUZZ_CHECK(memchr(p->name, '\0', sizeof(p->name)));
			FUZZ_CHECK(memchr(p->description, '\0', sizeof(p->description)));
			FUZZ_CHECK(memchr(p->source, '\0', sizeof(p->source)));
			FUZZ_CHECK(p->name[0] != '\0');
			fuzz_device_check(&p->device);
			FUZZ_CHECK(p->device.nbars >= 1);
			FUZZ_CHECK(mmio_catalogue_find(&cat, p->name) == p);
			snprintf(spec, sizeof(spec), "profile:%s", p->name);
			FUZZ_CHECK(mmio_device_resolve(spec, NULL, &cat, &d, NULL) == MMIO_OK);
			FUZZ_CHECK(memcmp(&d, &p->device, sizeof(d)) == 0);
		}
		mmio_catalogue_free(&cat);
		FUZZ_CHECK(cat.n == 0 && cat.profiles == NULL);
	} else {
		FUZZ_CHECK(cat.n == 0 && cat.profiles == NULL);
	}
	free(s);
	return 0;
}
