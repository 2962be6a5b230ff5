# man/: the manual pages, installed by automake by their section suffix.
dist_man_MANS = \
	man/mmioctl.1 \
	man/mmiod.conf.5 \
	man/mmiod-dbus.7 \
	man/mmiod.8

# `make check`: every page must format without a single groff warning.
TESTS += man/check-man.sh
dist_check_SCRIPTS += man/check-man.sh
