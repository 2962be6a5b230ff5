# tests/guest/local.mk
EXTRA_DIST += tests/guest/build-initramfs tests/guest/init.sh tests/guest/rig.py \
	tests/guest/run-scenarios tests/guest/scenarios
