/* What the library needs from the platform besides BSD sockets: a clock and a sleep. */
#ifndef FLEETHUB_FH_PORT_H
#define FLEETHUB_FH_PORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A monotonic clock in ms. */
uint64_t fh_port_now_ms(void);
/** Wall-clock ms since the epoch, or 0 when the time is not known (no SNTP yet). */
int64_t fh_port_epoch_ms(void);
void fh_port_sleep_ms(uint32_t ms);

#ifdef __cplusplus
}
#endif
#endif
