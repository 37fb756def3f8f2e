#include "fleethub/fh_backoff.h"

uint32_t fh_backoff_delay(uint32_t base_ms, uint32_t cap_ms, uint32_t attempt, uint32_t random32)
{
    uint64_t ceiling = base_ms;
    for (uint32_t i = 0; i < attempt && ceiling < cap_ms; i++) ceiling *= 2;
    if (ceiling > cap_ms) ceiling = cap_ms;
    return (uint32_t)((uint64_t)random32 % (ceiling + 1));
}
