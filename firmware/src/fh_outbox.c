/* The bounded, persisted outbox and sequence counter (see fh_outbox.h). */
#include "fleethub/fh_outbox.h"

#include <stdint.h>
#include <string.h>

#define OUTBOX_MAGIC 0x31484F46u /* "FOH1" */

static size_t slot_stride(const fh_outbox *o)
{
    return sizeof(fh_slot) + (((size_t)o->h->slot_bytes + 7u) & ~(size_t)7u);
}

size_t fh_outbox_slots(const fh_outbox *o)
{
    return o->h->slots;
}

fh_slot *fh_outbox_slot(fh_outbox *o, size_t i)
{
    return (fh_slot *)(void *)(o->mem + sizeof(fh_outbox_header) + i * slot_stride(o));
}

char *fh_outbox_data(fh_outbox *o, size_t i)
{
    return (char *)(fh_outbox_slot(o, i) + 1);
}

static size_t block_size(const fh_outbox *o)
{
    return sizeof(fh_outbox_header) + (size_t)o->h->slots * slot_stride(o);
}

static bool by_record(const fh_outbox *o)
{
    return o->storage.save_record != NULL && o->storage.load_record != NULL;
}

static int persist(fh_outbox *o)
{
    if (o->storage.save == NULL) return 0;
    return o->storage.save(o->storage.ctx, o->mem, block_size(o)) == 0 ? 0 : -3;
}

static int persist_header(fh_outbox *o)
{
    if (!by_record(o)) return persist(o);
    return o->storage.save_record(o->storage.ctx, 0, o->mem, sizeof(fh_outbox_header)) == 0 ? 0 : -3;
}

/* One slot changed: its record only (or the whole block). */
static int persist_slot(fh_outbox *o, size_t i)
{
    if (!by_record(o)) return persist(o);
    return o->storage.save_record(o->storage.ctx, (uint32_t)i + 1u, (const uint8_t *)fh_outbox_slot(o, i), slot_stride(o)) == 0 ? 0 : -3;
}

/* Record by record: the header, then each slot (one never saved is free). 0, -2 another shape, -3 storage. */
static int load_records(fh_outbox *o, uint16_t slots, uint16_t slot_bytes, size_t *loaded)
{
    size_t got = 0;
    *loaded = 0;
    if (o->storage.load_record(o->storage.ctx, 0, o->mem, sizeof(fh_outbox_header), &got) != 0) return -3;
    if (got == 0) return 0;
    if (got != sizeof(fh_outbox_header) || o->h->magic != OUTBOX_MAGIC || o->h->slots != slots || o->h->slot_bytes != slot_bytes) return -2;
    for (size_t i = 0; i < slots; i++) {
        uint8_t *rec = (uint8_t *)fh_outbox_slot(o, i);
        if (o->storage.load_record(o->storage.ctx, (uint32_t)i + 1u, rec, slot_stride(o), &got) != 0) return -3;
        if (got == 0) memset(rec, 0, slot_stride(o));
        else if (got != slot_stride(o)) return -2;
    }
    *loaded = FH_OUTBOX_BYTES(slots, slot_bytes);
    return 0;
}

int fh_outbox_init(fh_outbox *o, uint8_t *mem, size_t mem_size, uint16_t slots, uint16_t slot_bytes, fh_storage storage)
{
    size_t loaded = 0;
    if (slots == 0 || slot_bytes == 0 || mem_size < FH_OUTBOX_BYTES(slots, slot_bytes)) return -1;
    memset(o, 0, sizeof *o);
    o->mem = mem;
    o->mem_size = mem_size;
    o->h = (fh_outbox_header *)(void *)mem;
    o->storage = storage;
    memset(mem, 0, FH_OUTBOX_BYTES(slots, slot_bytes));
    if (by_record(o)) {
        int rc = load_records(o, slots, slot_bytes, &loaded);
        if (rc != 0) return rc;
    } else if (storage.load != NULL && storage.load(storage.ctx, mem, FH_OUTBOX_BYTES(slots, slot_bytes), &loaded) != 0) {
        return -3;
    }
    if (loaded > 0) {
        if (loaded != FH_OUTBOX_BYTES(slots, slot_bytes) || o->h->magic != OUTBOX_MAGIC || o->h->slots != slots ||
            o->h->slot_bytes != slot_bytes) {
            return -2;
        }
        for (size_t i = 0; i < slots; i++) {
            fh_slot *s = fh_outbox_slot(o, i);
            if (s->state != FH_SLOT_FREE) s->state = FH_SLOT_UNSENT;
            if (s->len > slot_bytes) return -2;
            /* Saved by record, the counters live in the slots: the highest seq and order given out, freed slots included. */
            if (s->seq != 0 && s->seq >= o->h->next_seq) o->h->next_seq = s->seq + 1;
            if (s->state != FH_SLOT_FREE && s->order >= o->h->next_order) o->h->next_order = s->order + 1;
        }
        /* A saved counter is ours: no need to wait for the hub to number new readings. */
        o->numbered = o->h->next_seq > 0;
        return 0;
    }
    o->h->magic = OUTBOX_MAGIC;
    o->h->slots = slots;
    o->h->slot_bytes = slot_bytes;
    o->h->next_seq = 0;
    o->h->next_order = 1;
    return by_record(o) ? persist_header(o) : 0;
}

int fh_outbox_add(fh_outbox *o, const char *data, size_t len, int64_t ts)
{
    if (len > o->h->slot_bytes) return -2;
    for (size_t i = 0; i < o->h->slots; i++) {
        fh_slot *s = fh_outbox_slot(o, i);
        if (s->state != FH_SLOT_FREE) continue;
        memcpy(fh_outbox_data(o, i), data, len);
        s->len = (uint16_t)len;
        s->ts = ts;
        s->order = o->h->next_order++;
        s->seq = o->numbered ? o->h->next_seq++ : 0;
        s->state = FH_SLOT_UNSENT;
        if (persist_slot(o, i) != 0) {
            s->state = FH_SLOT_FREE;
            return -3;
        }
        return 0;
    }
    return -1;
}

int fh_outbox_hello(fh_outbox *o, bool has_last_seq, uint64_t last_seq)
{
    uint64_t floor = has_last_seq ? last_seq + 1 : 1;
    bool changed = false;
    if (o->h->next_seq < floor) {
        /* SPEC: a device that lost its counter goes on from lastSeq + 1. */
        o->h->next_seq = floor;
        changed = true;
    }
    for (;;) {
        size_t first = SIZE_MAX;
        for (size_t i = 0; i < o->h->slots; i++) {
            fh_slot *s = fh_outbox_slot(o, i);
            if (s->state != FH_SLOT_FREE && s->seq == 0 && (first == SIZE_MAX || s->order < fh_outbox_slot(o, first)->order)) first = i;
        }
        if (first == SIZE_MAX) break;
        fh_outbox_slot(o, first)->seq = o->h->next_seq++;
        if (by_record(o) && persist_slot(o, first) != 0) return -3;
        changed = true;
    }
    o->numbered = true;
    return changed ? persist_header(o) : 0;
}

size_t fh_outbox_count(const fh_outbox *o)
{
    size_t n = 0;
    for (size_t i = 0; i < o->h->slots; i++) n += fh_outbox_slot((fh_outbox *)o, i)->state != FH_SLOT_FREE;
    return n;
}

int fh_outbox_next_unsent(fh_outbox *o)
{
    int best = -1;
    for (size_t i = 0; i < o->h->slots; i++) {
        fh_slot *s = fh_outbox_slot(o, i);
        if (s->state == FH_SLOT_UNSENT && s->seq != 0 && (best < 0 || s->seq < fh_outbox_slot(o, (size_t)best)->seq)) best = (int)i;
    }
    return best;
}

size_t fh_outbox_in_flight(const fh_outbox *o)
{
    size_t n = 0;
    for (size_t i = 0; i < o->h->slots; i++) n += fh_outbox_slot((fh_outbox *)o, i)->state == FH_SLOT_SENT;
    return n;
}

int fh_outbox_ack(fh_outbox *o, uint64_t n)
{
    int freed = 0, rc = 0;
    for (size_t i = 0; i < o->h->slots; i++) {
        fh_slot *s = fh_outbox_slot(o, i);
        /* SPEC: an ack covers every message of this connection with seq <= N that was not nacked. */
        if (s->state == FH_SLOT_SENT && s->seq <= n) {
            s->state = FH_SLOT_FREE;
            freed++;
            /* By record: each freed slot's record (it keeps its seq: the counter survives an empty outbox). */
            if (by_record(o) && persist_slot(o, i) != 0) rc = -3;
        }
    }
    if (freed > 0 && !by_record(o) && persist(o) != 0) rc = -3;
    return rc != 0 ? rc : freed;
}

int fh_outbox_nack(fh_outbox *o, uint64_t seq)
{
    for (size_t i = 0; i < o->h->slots; i++) {
        fh_slot *s = fh_outbox_slot(o, i);
        if (s->state == FH_SLOT_SENT && s->seq == seq) {
            s->state = FH_SLOT_NACKED;
            return 0;
        }
    }
    return 1;
}

int fh_outbox_drop(fh_outbox *o, uint64_t seq)
{
    for (size_t i = 0; i < o->h->slots; i++) {
        fh_slot *s = fh_outbox_slot(o, i);
        if (s->state != FH_SLOT_FREE && s->seq == seq) {
            s->state = FH_SLOT_FREE;
            return persist_slot(o, i);
        }
    }
    return 1;
}

void fh_outbox_rewind(fh_outbox *o)
{
    for (size_t i = 0; i < o->h->slots; i++) {
        fh_slot *s = fh_outbox_slot(o, i);
        if (s->state != FH_SLOT_FREE) s->state = FH_SLOT_UNSENT;
    }
}
