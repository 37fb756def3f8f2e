/* The two credential slots and their state byte (see fh_cred.h). */
#include "fleethub/fh_cred.h"

int fh_cred_load_current(const fh_cred_storage *s, char *key_pem, size_t key_cap, char *cert_pem, size_t cert_cap)
{
    uint8_t state = 0;
    int rc;
    if (s->load_state(s->ctx, &state) != 0) return -1;
    if (FH_CRED_CURRENT(state) == 0) return 1;
    uint8_t slot = (uint8_t)(FH_CRED_CURRENT(state) - 1);
    if ((rc = s->load(s->ctx, slot, FH_CRED_KEY, key_pem, key_cap)) != 0) return rc < 0 ? rc : -2;
    if ((rc = s->load(s->ctx, slot, FH_CRED_CERT, cert_pem, cert_cap)) != 0) return rc < 0 ? rc : -2;
    return 0;
}
