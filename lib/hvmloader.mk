# lib/hvmloader.mk
