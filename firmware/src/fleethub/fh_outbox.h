/*
 * The outbox: readings not yet acked, and the sequence counter, in one
 * caller-provided byte block that is also what the storage persists
 * (a file on Linux, an NVS blob on ESP-IDF). Bounded: a full outbox refuses
 * new readings instead of dropping old ones.
 */
#ifndef FLEETHUB_FH_OUTBOX_H
#define FLEETHUB_FH_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Where the outbox is kept across restarts. Two ways, all functions
 * returning 0 on success:
 * - by record (preferred: set load_record/save_record): record 0 is the
 *   header, record i + 1 is slot i. A reading kept costs one write of its
 *   slot, an ack one write per reading it frees: what flash wear (NVS) asks.
 * - as one block (load/save, when the record functions are NULL): every
 *   change rewrites the whole outbox.
 */
typedef struct {
    void *ctx;
    /** Reads the saved block into `buf`; sets `*len` (0 when nothing was saved yet). */
    int (*load)(void *ctx, uint8_t *buf, size_t cap, size_t *len);
    /** Replaces the saved block atomically (a crash keeps the old or the new one whole). */
    int (*save)(void *ctx, const uint8_t *buf, size_t len);
    /** Reads record `index` (exactly `len` bytes) into `buf`; `*got` 0 when it was never saved, else its length. */
    int (*load_record)(void *ctx, uint32_t index, uint8_t *buf, size_t len, size_t *got);
    /** Replaces record `index` atomically. */
    int (*save_record)(void *ctx, uint32_t index, const uint8_t *buf, size_t len);
} fh_storage;

/** A slot's state on this connection (not meaningful across restarts). */
typedef enum { FH_SLOT_FREE = 0, FH_SLOT_UNSENT, FH_SLOT_SENT, FH_SLOT_NACKED } fh_slot_state;

/** One slot's header, followed in the block by `slot_bytes` of `data` text. */
typedef struct {
    uint8_t state;
    uint8_t reserved;
    uint16_t len;
    uint32_t order;  /* publish order, for readings not numbered yet */
    uint64_t seq;    /* 0 until numbered (after the first hello of a run without saved state); a freed slot keeps it */
    int64_t ts;      /* ms since epoch, 0 when unknown */
} fh_slot;

/** The block's header (persisted as is: the same build reads what it wrote). */
typedef struct {
    uint32_t magic;
    uint16_t slots;
    uint16_t slot_bytes;
    uint64_t next_seq;   /* saved by record only when a hello raises it: the slots' own seqs say the rest */
    uint32_t next_order;
    uint32_t reserved;
} fh_outbox_header;

typedef struct {
    uint8_t *mem;
    size_t mem_size;
    fh_outbox_header *h;
    fh_storage storage;
    bool numbered; /* a hello told us where the counter goes on */
} fh_outbox;

/** Bytes a block needs for `slots` readings of at most `slot_bytes` of data text each. */
#define FH_OUTBOX_BYTES(slots, slot_bytes) \
    (sizeof(fh_outbox_header) + (size_t)(slots) * (sizeof(fh_slot) + (((size_t)(slot_bytes) + 7u) & ~(size_t)7u)))

/**
 * Sets up the outbox in `mem` and loads what `storage` saved (a saved block
 * of another shape is refused: -2). A run with saved state goes on numbering
 * at once; one without waits for the hub's `hello.lastSeq`. 0 or negative.
 */
int fh_outbox_init(fh_outbox *o, uint8_t *mem, size_t mem_size, uint16_t slots, uint16_t slot_bytes, fh_storage storage);

/** Adds a reading (`data` is the JSON object text); persists before returning. 0, -1 full, -2 too long, -3 storage. */
int fh_outbox_add(fh_outbox *o, const char *data, size_t len, int64_t ts);

/** The hub's hello: numbering goes on from max(next, lastSeq + 1); unnumbered readings get their seqs. */
int fh_outbox_hello(fh_outbox *o, bool has_last_seq, uint64_t last_seq);

/** Readings held. */
size_t fh_outbox_count(const fh_outbox *o);
/** Slot i (0..slots-1) and its data text. */
fh_slot *fh_outbox_slot(fh_outbox *o, size_t i);
char *fh_outbox_data(fh_outbox *o, size_t i);
size_t fh_outbox_slots(const fh_outbox *o);

/** The next slot to send: UNSENT and numbered, lowest seq; -1 when none. */
int fh_outbox_next_unsent(fh_outbox *o);
/** Slots SENT and not yet acked or nacked. */
size_t fh_outbox_in_flight(const fh_outbox *o);

/** `{"ack":N}`: frees every SENT slot with seq <= N; returns how many (persisted). */
int fh_outbox_ack(fh_outbox *o, uint64_t n);
/** A nack for `seq`: marks it NACKED (to resend later). 0, or 1 when no SENT slot has it. */
int fh_outbox_nack(fh_outbox *o, uint64_t seq);
/** Frees the slot with `seq` whatever its state (a reading the hub will never accept). */
int fh_outbox_drop(fh_outbox *o, uint64_t seq);
/** After a reconnect, or once a nack's wait is over: every held slot goes back to UNSENT. */
void fh_outbox_rewind(fh_outbox *o);

#ifdef __cplusplus
}
#endif
#endif
