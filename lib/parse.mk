# lib/parse.mk
