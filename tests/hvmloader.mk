# tests/hvmloader.mk
