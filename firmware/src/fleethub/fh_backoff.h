/* Capped exponential backoff with full jitter (the simulator's and the sinks' rule). */
#ifndef FLEETHUB_FH_BACKOFF_H
#define FLEETHUB_FH_BACKOFF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The delay before attempt `attempt` (0 = first retry): a uniform draw from
 * [0, min(cap_ms, base_ms * 2^attempt)], so a fleet that lost its hub at the
 * same moment does not come back in lockstep. `random32` is a fresh random word.
 */
uint32_t fh_backoff_delay(uint32_t base_ms, uint32_t cap_ms, uint32_t attempt, uint32_t random32);

#ifdef __cplusplus
}
#endif
#endif
