/* SPDX-License-Identifier: MIT */
/*
 * mmio-model.h — the pure MMIO placement model.
 *
 * Everything in lib/ is pure: no I/O except the explicitly named sysfs and
 * catalogue readers (which take their root path as a parameter), no globals,
 * no D-Bus, no libevent, no toolstack headers.  Every function that can fail
 * returns an enum mmio_status and fills a caller-owned struct mmio_error
 * (untouched on success); nothing prints.
 *
 * Which guest behaviour is modelled: Linux x86 hot-plug BAR assignment
 * (drivers/pci/setup-bus.c pdev_sort_resources, setup-res.c
 * _pci_assign_resource, bus.c pci_bus_alloc_from_region, kernel/resource.c
 * __find_resource, arch/x86 pcibios_align_resource / arch_remove_reservations)
 * as of Linux 4.19 .. 6.1.  See docs/model.md.
 */
#ifndef MMIO_MODEL_H
#define MMIO_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMIO_4G          (UINT64_C(1) << 32)
#define MMIO_1M          (UINT64_C(1) << 20)
#define MMIO_BAR_ROM     6      /* index of the expansion ROM BAR */
#define MMIO_MAX_BARS    7      /* per function: BAR0..BAR5 + ROM */
#define MMIO_MAX_FUNCTIONS 8    /* functions of one slot */
#define MMIO_MAX_DEVICE_BARS (MMIO_MAX_FUNCTIONS * MMIO_MAX_BARS) /* one hot-plugged slot */
#define MMIO_MAX_WINDOWS 8
#define MMIO_IO_BAR_MAX  256    /* PCI 3.0 6.2.5.1: an I/O BAR decodes at most 256 bytes */
#define MMIO_MEM_BAR_MIN 16
#define MMIO_IO_BAR_MIN  4
#define MMIO_ROM_BAR_MIN 2048

/* ---- status and errors ------------------------------------------------ */

enum mmio_status {
	MMIO_OK = 0,
	MMIO_E_INVALID,     /* malformed input: BDF, size, BAR list, sysfs line */
	MMIO_E_NOSPACE,     /* a BAR has no aligned free block */
	MMIO_E_NOTFOUND,    /* unknown profile, missing sysfs device */
	MMIO_E_NOMEM,
	MMIO_E_IO,          /* a file could not be read */
	MMIO_E_UNSUPPORTED, /* a configuration the model does not cover */
};

struct mmio_error {
	enum mmio_status code;
	char msg[512];
};

/* Sets err (if not NULL) and returns code.  printf-style. */
enum mmio_status mmio_error_set(struct mmio_error *err, enum mmio_status code,
				const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *mmio_status_name(enum mmio_status st);

/* ---- BARs and devices ------------------------------------------------- */

enum mmio_bar_kind {
	MMIO_BAR_IO = 0,
	MMIO_BAR_MEM32,
	MMIO_BAR_MEM64,
};

struct mmio_bar {
	uint8_t index;          /* 0..5, or MMIO_BAR_ROM */
	uint8_t kind;           /* enum mmio_bar_kind; the ROM is MEM32 */
	bool prefetch;          /* the ROM is prefetchable, as Linux flags it */
	uint64_t size;          /* a power of two */
	uint8_t fn;             /* the function it belongs to in a multi-function slot (0..7) */
};

struct mmio_bdf {
	uint16_t domain;
	uint8_t bus;
	uint8_t dev;            /* 0..31 */
	uint8_t fn;             /* 0..7 */
};

#define MMIO_DEVICE_NAME_MAX 96

/* One function of a multi-function slot. */
struct mmio_function {
	uint8_t fn;             /* its function number in the guest's slot */
	bool has_bdf;           /* a host device: its address */
	struct mmio_bdf bdf;
};

/* What one hot-plug brings into the guest: one function, or the functions
 * of one slot (a GPU and its audio function), which Linux assigns as one
 * list sorted across functions. */
struct mmio_device {
	char name[MMIO_DEVICE_NAME_MAX]; /* "0000:03:00.0", "profile:nvidia-t4", "bars:...",
					  * "0000:03:00", "bars:...+bars:..." */
	bool has_bdf;           /* function 0 is a host device (its address) */
	struct mmio_bdf bdf;
	/* 0 or 1: a single function (fns[] unused; every bar has fn 0);
	 * 2..8: a multi-function slot, fns[] in function order, fns[0].fn == 0 */
	unsigned nfn;
	struct mmio_function fns[MMIO_MAX_FUNCTIONS];
	unsigned nbars;
	/* by function, then by BAR index: the order Linux lists them in
	 * (bus->devices is in function order), so ties in size keep it */
	struct mmio_bar bars[MMIO_MAX_DEVICE_BARS];
};

static inline bool mmio_device_is_slot(const struct mmio_device *d) { return d->nfn > 1; }

/* "io", "mem32", "mem32p", "mem64", "mem64p", "rom" */
const char *mmio_bar_kind_name(const struct mmio_bar *bar);
/* Linux's words for a BAR: "mem size 0x10000000 64bit pref", "io size 0x100" */
void mmio_bar_describe(const struct mmio_bar *bar, char *buf, size_t len);
/* Who a BAR belongs to, for messages: the device's name; in a slot, the
 * function's host address ("0000:03:00.1") or "NAME function F". */
void mmio_bar_owner(const struct mmio_device *dev, const struct mmio_bar *bar, char *buf, size_t len);
/* Function fn of a multi-function device, NULL if it has none such. */
const struct mmio_function *mmio_device_function(const struct mmio_device *dev, unsigned fn);
/* Human size: "192 MiB", "4 KiB", "1.5 GiB", "100 B" */
void mmio_size_format(uint64_t size, char *buf, size_t len);

static inline bool mmio_is_pow2(uint64_t v) { return v && !(v & (v - 1)); }
static inline unsigned mmio_log2(uint64_t v) { return 63u - (unsigned)__builtin_clzll(v); }

/* ---- parsers (lib/parse.c) --------------------------------------------- */

/* "0000:03:00.0" or "03:00.0".  Message names the bad part. */
enum mmio_status mmio_bdf_parse(const char *s, struct mmio_bdf *out, struct mmio_error *err);
/* Always the full form "0000:03:00.0"; buf >= 13 bytes. */
void mmio_bdf_format(const struct mmio_bdf *bdf, char *buf, size_t len);

/* "256M", "32G", "4K", "0x10000000", "4096", "1T", also "256MiB", "256MB" (binary). */
enum mmio_status mmio_size_parse(const char *s, uint64_t *out, struct mmio_error *err);

/* "bars:KIND:SIZE[,KIND:SIZE...]"; the "bars:" prefix is required.
 * KIND is mem32, mem32p, mem64, mem64p, io or rom (p = prefetchable).
 * BAR indices are given in declaration order as real hardware would
 * number them: a mem64 BAR takes two registers, "rom" is index 6.
 * "KIND:SIZE@INDEX" places a BAR at an explicit register (0..5) when the
 * hardware skips registers (Intel X710: BAR0 mem64p, BAR3 mem64p); the
 * index must not be below the next free register.  "rom" may appear
 * anywhere (at most once) and is stored last; bars[] is in index order. */
enum mmio_status mmio_bars_parse(const char *s, struct mmio_device *out, struct mmio_error *err);
/* The other way: "bars:mem64p:16G,mem32:16M" (sizes in the largest exact
 * unit, no "@INDEX"), as ListProfiles shows a catalogue entry. */
void mmio_bars_format(const struct mmio_device *dev, char *buf, size_t len);
/* Checks a single BAR for the rules above (power of two, minimum sizes,
 * I/O at most 256 bytes).  Used by every path that builds a device. */
enum mmio_status mmio_bar_validate(const struct mmio_bar *bar, struct mmio_error *err);

/* One line of sysfs "resource": "0x... 0x... 0x...".  Sets *present=false
 * for an all-zero region (absent BAR). index is the line number (0..12). */
enum mmio_status mmio_sysfs_line_parse(const char *line, unsigned index, struct mmio_bar *out,
				       bool *present, struct mmio_error *err);
/* Reads <sysfs_root>/bus/pci/devices/<BDF>/resource; keeps lines 0..6
 * (SR-IOV lines 7..12 are ignored: QEMU's VFIO hides SR-IOV). */
enum mmio_status mmio_sysfs_read_device(const char *sysfs_root, const struct mmio_bdf *bdf,
					struct mmio_device *out, struct mmio_error *err);

/* ---- the device catalogue (lib/catalogue.c, data in data/profiles.ini) -- */

struct mmio_profile {
	char name[48];
	char description[128];
	char source[160];
	bool uncertain;
	struct mmio_device device;
};

struct mmio_catalogue {
	size_t n;
	struct mmio_profile *profiles;
};

enum mmio_status mmio_catalogue_load(const char *path, struct mmio_catalogue *cat,
				     struct mmio_error *err);
/* Same, from INI text in memory; origin names it in error messages. */
enum mmio_status mmio_catalogue_load_string(const char *text, const char *origin,
					    struct mmio_catalogue *cat, struct mmio_error *err);
void mmio_catalogue_free(struct mmio_catalogue *cat);
const struct mmio_profile *mmio_catalogue_find(const struct mmio_catalogue *cat, const char *name);

/* Resolves any device spelling: a BDF (read from sysfs_root), "bars:...",
 * or "profile:NAME" (looked up in cat, which may be NULL).  A multi-function
 * slot: single functions joined with "+", function 0 first (function N is
 * the Nth), or a host slot "0000:03:00" / "0000:03:00.*" (every function
 * sysfs has, numbered as on the host; function 0 must exist). */
/* "0000:03:00", "03:00", "0000:03:00.*" or "03:00.*": a whole host slot.
 * *out gets its domain, bus and device (fn 0).  False when spec is no such
 * spelling (then it names one function). */
bool mmio_slot_address(const char *spec, struct mmio_bdf *out);
enum mmio_status mmio_device_resolve(const char *spec, const char *sysfs_root,
				     const struct mmio_catalogue *cat, struct mmio_device *out,
				     struct mmio_error *err);

/* ---- windows and free space (lib/space.c) ------------------------------ */

enum mmio_window_kind {
	MMIO_WIN_LOW = 0,       /* memory below 4 GiB */
	MMIO_WIN_HIGH,          /* memory above 4 GiB (64-bit BARs only) */
	MMIO_WIN_IO,            /* I/O ports */
};

/* Window flags, as Linux flags bus resources.  Root-bus windows from ACPI
 * _CRS carry none of them; bridge windows do. */
#define MMIO_WF_PREFETCH 0x1u
#define MMIO_WF_MEM64    0x2u
#define MMIO_WF_BRIDGE   0x4u   /* a bridge's window: named so in reasons; no effect on placement */

struct mmio_window {
	uint8_t kind;           /* enum mmio_window_kind */
	uint8_t flags;          /* MMIO_WF_* */
	uint64_t start, end;    /* [start, end) */
};

struct mmio_range {
	uint64_t start, end;    /* [start, end) */
};

const char *mmio_window_kind_name(enum mmio_window_kind k); /* "low", "high", "io" */

/* The free space of a guest: its windows minus what is occupied.
 * Built once per change of the guest's books, then queried many times. */
struct mmio_window_space {
	struct mmio_window win;
	size_t ngaps;
	struct mmio_range *gaps;   /* window minus used, sorted, disjoint (raw, unclipped) */
	uint64_t free_bytes;       /* sum of usable (clipped) gaps */
	uint64_t largest_block;    /* largest naturally aligned free block usable by a BAR */
	uint32_t blocks[64];       /* maximal dyadic free blocks per order (closed form) */
	/* Max-tree over the raw gaps' largest aligned block order (-1 = none),
	 * so placement finds "the first gap from the bottom that could hold
	 * 2^k" in O(log n) instead of scanning: leaves at [tree_leaves, 2*tree_leaves). */
	size_t tree_leaves;
	int8_t *tree;
};

struct mmio_space {
	unsigned nwin;
	struct mmio_window_space w[MMIO_MAX_WINDOWS];
	size_t nclip;
	struct mmio_range *clip;   /* E820 entries: Linux clips a gap, keeping the larger side */
	uint64_t min_mem;
	/* Per class (low memory, high memory, I/O): summed block counts and the
	 * highest order present, so the closed form touches no window. */
	uint32_t class_blocks[3][64];
	int8_t class_top[3];
	bool closed_form_exact;    /* false when clipping or bridge flags make counts inexact */
};

/* Inputs of a guest's free space. */
struct mmio_space_params {
	const struct mmio_window *windows;
	unsigned nwin;
	const struct mmio_range *used;  /* BARs, reservations, holds: any order, may
					 * overlap, may lie outside every window */
	size_t nused;
	const struct mmio_range *clip;  /* E820 entries: Linux clips a free gap that
					 * overlaps one, keeping the larger side */
	size_t nclip;
	uint64_t min_mem;               /* x86 PCIBIOS_MIN_MEM (start of the largest
					 * E820 gap below 4 GiB); 0 = none */
};

/* x86 PCIBIOS_MIN_IO: I/O BARs are never placed below this port. */
#define MMIO_X86_MIN_IO 0x1000u
/* x86 BIOS ROM area that Linux always clips out of memory gaps. */
#define MMIO_X86_BIOS_ROM_START UINT64_C(0xFFE00000)

enum mmio_status mmio_space_init(struct mmio_space *sp, const struct mmio_space_params *p,
				 struct mmio_error *err);
void mmio_space_free(struct mmio_space *sp);
/* Marks [r) used (r must lie inside a free gap of window wi). */
enum mmio_status mmio_space_take(struct mmio_space *sp, unsigned wi, struct mmio_range r,
				 struct mmio_error *err);
enum mmio_status mmio_space_copy(struct mmio_space *dst, const struct mmio_space *src,
				 struct mmio_error *err);

/* ---- admission (lib/place.c) ------------------------------------------- */

struct mmio_bar_place {
	uint16_t device;        /* index into the devices passed in */
	uint8_t bar;            /* index into that device's bars[] */
	bool placed;
	int8_t window;          /* index into sp->w, -1 if not placed */
	uint64_t addr;
	uint64_t size;
};

struct mmio_placement {
	size_t n;
	struct mmio_bar_place items[]; /* sized by the caller: see mmio_placement_alloc */
};

struct mmio_placement *mmio_placement_alloc(size_t ndevices);

/* Places the devices one after another, each as a separate hot-plug event
 * on the root bus, exactly as the modelled guest kernel would.  On success
 * sp is left untouched and *out holds every BAR's address.  On
 * MMIO_E_NOSPACE, err->msg names the first BAR that failed, its size and
 * kind, the windows it could use and the largest aligned block in each;
 * out still holds what the guest would have placed (partial assignment).
 * out may be NULL. */
enum mmio_status mmio_place(const struct mmio_space *sp, const struct mmio_device *devs,
			    size_t ndev, struct mmio_placement *out, struct mmio_error *err);

/* ---- native PCIe hot-plug (lib/pciehp.c) ------------------------------- */

/* A bridge's windows in Linux's bus-resource order. */
#define MMIO_BRIDGE_IO   0
#define MMIO_BRIDGE_MEM  1
#define MMIO_BRIDGE_PREF 2

/* A hot-plug port (a PCIe root port) as the guest kernel has it: the
 * windows it assigned at boot.  mem carries no flags; pref carries
 * MMIO_WF_PREFETCH, and MMIO_WF_MEM64 when it is 64-bit (QEMU's are). */
struct mmio_bridge {
	bool present[3];
	struct mmio_window win[3];
};

struct mmio_pciehp {
	unsigned tries;            /* 1: the device fit the current windows; 2: re-sizing ran */
	bool resized[3];           /* the window was released and sized anew */
	struct mmio_bridge after;  /* the port's windows after the hot-plug (a window
				    * that could not be placed again is gone) */
};

/* Places dev behind a port the guest drives with native PCIe hot-plug
 * (pciehp), as pci_assign_unassigned_bridge_resources() does: inside the
 * current windows; if a BAR (not a ROM) fails, the windows of the failing
 * types are released, sized for what is left and placed anew in the root
 * windows, then the BARs are placed again.  root describes the root bus
 * WITHOUT the port's own windows among its used ranges.  out (may be NULL,
 * sized for one device) gets every BAR with .window = MMIO_BRIDGE_* (an
 * index into res->after.win); res (may be NULL) the windows after.
 * MMIO_E_NOSPACE when any BAR (ROM included) stays unassigned; err->msg
 * in the kernel's words. */
enum mmio_status mmio_place_pciehp(const struct mmio_space_params *root, const struct mmio_bridge *port,
				   const struct mmio_device *dev, struct mmio_placement *out,
				   struct mmio_pciehp *res, struct mmio_error *err);

/* Closed-form test (counts per size order, no search) for one device on
 * the current free space.  Agrees with mmio_place whenever
 * sp->closed_form_exact; otherwise it falls back to mmio_place. */
bool mmio_fits(const struct mmio_space *sp, const struct mmio_device *dev);

/* ---- the guest's past: BARs nobody shows (lib/replay.c) ------------------ */

/* QEMU's query-pci reports no address for every ROM BAR and for every BAR
 * of a device whose decode the guest has not enabled, although Linux placed
 * them.  mmio_replay() works out where, by re-running the guest's history:
 * devices present at boot as the firmware left them (Linux claims their
 * BARs in place; a boot VGA's ROM is shadowed instead and holds nothing),
 * then every hot-plugged device in the order it arrived, each placed as
 * mmio_place() places one hot-plug, with removals where they happened.
 * Where the history is not known exactly (arrivals in an unknown order, a
 * removal at an unknown moment) every possible reading is replayed; those
 * that agree best with the addresses the toolstack does show are kept, and
 * a BAR on which they disagree counts as used at every place they give it
 * (the conservative reading). */

#define MMIO_ADDR_UNKNOWN UINT64_MAX           /* placed or not, nobody shows where */
#define MMIO_ADDR_NONE    (UINT64_MAX - 1)     /* not placed (known, or inferred) */
/* A boot BAR the firmware left unassigned (OVMF leaves every ROM BAR so):
 * Linux assigned it at boot, nobody shows where.  Those of every boot
 * device of the bus are placed as one list sorted by size, equal sizes in
 * devs[] order (give the devices in the bus's device order). */
#define MMIO_ADDR_FW_UNASSIGNED (UINT64_MAX - 2)

enum mmio_arrival {
	MMIO_ARRIVAL_BOOT = 0,  /* there when the firmware ran */
	MMIO_ARRIVAL_HOTPLUG,   /* hot-plugged while the guest ran */
};

struct mmio_past_device {
	const struct mmio_device *dev;
	/* Per dev->bars[i]: where the guest has it, as shown by the toolstack
	 * (or recorded while the device was there), MMIO_ADDR_NONE when known
	 * to be unassigned, MMIO_ADDR_UNKNOWN when nobody shows it (a boot
	 * BAR: the firmware put it somewhere), MMIO_ADDR_FW_UNASSIGNED (boot
	 * devices only) when the firmware left it to Linux. */
	uint64_t addr[MMIO_MAX_DEVICE_BARS];
	uint8_t arrival;        /* enum mmio_arrival */
	bool vga;               /* function 0 is PCI class 0x0300: Linux shadows a boot
				 * VGA's ROM (function 0's; not another function's) */
	/* Hot-plugged devices arrived in ascending seq; equal seq = in an
	 * unknown order among themselves. */
	uint32_t seq;
	/* A device no longer in the guest: removed after every arrival with
	 * seq <= gone_from and before any arrival with seq > gone_to
	 * (gone_from <= gone_to; both = the moment is known). */
	bool gone;
	uint32_t gone_from, gone_to;
};

/* One BAR of a device still in the guest, after the replay. */
struct mmio_replay_bar {
	uint64_t addr;          /* MMIO_ADDR_NONE: the guest has not placed it (or has
				 * shadowed it); MMIO_ADDR_UNKNOWN: a boot BAR nobody
				 * shows (the firmware's placement is not modelled) */
	bool inferred;          /* from the replay, not shown by the toolstack */
	bool uncertain;         /* the kept readings disagree: see mmio_replay.used */
};

struct mmio_replay {
	size_t ndev;
	struct mmio_replay_bar (*bars)[MMIO_MAX_DEVICE_BARS]; /* [device][i]: as devs[device].dev->bars[i] */
	/* Every range the devices still in the guest may occupy: their shown
	 * BARs and, for each inferred BAR, every place a kept reading gives
	 * it.  What admission must count as used (besides the base's used). */
	size_t nused;
	struct mmio_range *used;
	unsigned readings;      /* histories replayed */
	unsigned kept;          /* of which agree best with the shown addresses */
	unsigned disagreements; /* shown BARs of the kept readings not where first fit puts
				 * them: 0 when the history explains every shown address */
	bool exact;             /* one reading (the order of every event was known) */
};

/* base: the windows, what is used whatever the history (bridge windows),
 * E820 clips, min_mem.  devs[0..n): every device in the guest and every
 * removed one the caller still knows about.  At most MMIO_REPLAY_READINGS
 * readings are replayed: beyond that, the first and last reading of every
 * unknown and each unknown varied on its own. */
#define MMIO_REPLAY_READINGS 64
enum mmio_status mmio_replay(const struct mmio_space_params *base, const struct mmio_past_device *devs,
			     size_t n, struct mmio_replay *out, struct mmio_error *err);
void mmio_replay_free(struct mmio_replay *r);

#endif
