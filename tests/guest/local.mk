# tests/guest/local.mk
