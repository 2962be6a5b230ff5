/* SPDX-License-Identifier: MIT */
/* sockdir.c — watching a directory of unix sockets (sockdir.h). */
#include "config.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "event-util.h"
#include "sockdir.h"

struct sockdir {
	char dir[PATH_MAX];
	sockdir_scan_fn fn;
	void *ud;
	struct event *scan_ev;
	int ino_fd;
	int ino_wd;
	struct event *ino_ev;
	struct sockdir_entry *v;        /* the last scan's entries (reused) */
	size_t cap;
};

static void watch_dir(struct sockdir *sd)
{
	if (sd->ino_fd < 0 || sd->ino_wd >= 0)
		return;
	sd->ino_wd = inotify_add_watch(sd->ino_fd, sd->dir,
				       IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
				       IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
}

/* The entry for one directory entry, false when it is not a socket (or
 * its name does not fit). */
static bool entry_read(const struct sockdir *sd, const char *name, struct sockdir_entry *e)
{
	struct stat st;
	const char *dot;
	size_t len;

	if (name[0] == '.')
		return false;
	if ((size_t)snprintf(e->path, sizeof(e->path), "%s/%s", sd->dir, name) >= sizeof(e->path))
		return false;
	if (stat(e->path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	dot = strrchr(name, '.');
	len = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	if (len >= sizeof(e->id))
		return false;
	memcpy(e->id, name, len);
	e->id[len] = '\0';
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	return true;
}

static void scan(struct sockdir *sd)
{
	DIR *d = opendir(sd->dir);
	struct dirent *de;
	size_t n = 0;

	if (!d) {
		sd->fn(sd->ud, NULL, 0, errno);
		return;
	}
	watch_dir(sd);
	while ((de = readdir(d)) != NULL) {
		if (n == sd->cap) {
			size_t cap = sd->cap ? sd->cap * 2 : 8;
			struct sockdir_entry *v = realloc(sd->v, cap * sizeof(*v));
			if (!v)
				break;  /* the sockets read so far; the rest at the next scan */
			sd->v = v;
			sd->cap = cap;
		}
		if (entry_read(sd, de->d_name, &sd->v[n]))
			n++;
	}
	closedir(d);
	sd->fn(sd->ud, sd->v, n, 0);
}

static void scan_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	scan(arg);
}

static void inotify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sockdir *sd = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	(void)what;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				if (sd->ino_wd >= 0 && !(ev->mask & IN_IGNORED))
					inotify_rm_watch(sd->ino_fd, sd->ino_wd);
				sd->ino_wd = -1;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	scan(sd);
}

int sockdir_open(struct event_base *base, const char *dir, unsigned interval_s,
		 sockdir_scan_fn fn, void *ud, struct sockdir **out)
{
	struct timeval tv = { (time_t)interval_s, 0 };
	struct sockdir *sd;

	assert(base && dir && fn && out);
	assert(strlen(dir) < PATH_MAX - 64);
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return -1;
	snprintf(sd->dir, sizeof(sd->dir), "%s", dir);
	sd->fn = fn;
	sd->ud = ud;
	sd->ino_wd = -1;
	sd->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (sd->ino_fd >= 0) {
		sd->ino_ev = event_new(base, sd->ino_fd, EV_READ | EV_PERSIST, inotify_cb, sd);
		if (!sd->ino_ev || event_add(sd->ino_ev, NULL) < 0) {
			/* Polling alone still works. */
			event_freep(&sd->ino_ev);
			close(sd->ino_fd);
			sd->ino_fd = -1;
		}
	}
	sd->scan_ev = event_new(base, -1, EV_PERSIST, scan_cb, sd);
	if (!sd->scan_ev || event_add(sd->scan_ev, &tv) < 0) {
		sockdir_close(sd);
		errno = ENOMEM;
		return -1;
	}
	/* The first scan right away, but not from inside open(). */
	event_active(sd->scan_ev, EV_TIMEOUT, 0);
	*out = sd;
	return 0;
}

void sockdir_close(struct sockdir *sd)
{
	if (!sd)
		return;
	event_freep(&sd->scan_ev);
	event_freep(&sd->ino_ev);
	if (sd->ino_fd >= 0)
		close(sd->ino_fd);
	free(sd->v);
	free(sd);
}
