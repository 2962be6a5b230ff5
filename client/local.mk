# client/: mmioctl, the command-line client, and its bash completion.
bin_PROGRAMS += client/mmioctl
client_mmioctl_SOURCES = \
	client/mmioctl.h \
	client/main.c \
	client/mmioctl-bus.c \
	client/mmioctl-output.c \
	client/guests-read.h \
	client/guests-read.c \
	client/cmd-status.c \
	client/cmd-metrics.c \
	client/cmd-check.c \
	client/cmd-attach.c \
	client/cmd-watch.c \
	client/cmd-profiles.c
# The bus names come from common/mmiod-names.h, as the daemon's do.
client_mmioctl_CPPFLAGS = $(AM_CPPFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
client_mmioctl_LDADD = common/libcommon.a lib/libmmio.a $(LIBSYSTEMD_LIBS) $(JSONC_LIBS) $(INIH_LIBS)

bashcompletion_DATA = completion/mmioctl
EXTRA_DIST += completion/mmioctl

# End-to-end tests of mmioctl: usage and bad input (no bus), daemon down
# (a private bus without mmiod), and the real daemon with a real QEMU guest.
CLIENT_TESTS = \
	tests/client/test-usage.sh \
	tests/client/test-daemon-down.sh \
	tests/client/test-completion.sh \
	tests/client/test-e2e.sh \
	tests/client/test-metrics.sh
TESTS += $(CLIENT_TESTS)
dist_check_SCRIPTS += $(CLIENT_TESTS)
EXTRA_DIST += tests/client/lib.sh
