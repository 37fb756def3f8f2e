/**
 * fleethub's PKI library: the CA, device certificates, CSRs, the CRL, the
 * inventory and the ESP32 export. The hub, the simulator and the console
 * import from here only; everything else in `src/pki` is internal.
 */
export type { KeyType, KeySpec } from './keys.js';
export { DEFAULT_KEY_TYPE, DEFAULT_RSA_BITS, KEY_TYPES } from './keys.js';
export { DEVICE_ID_PATTERN, isValidDeviceId, isValidPlanName, assertDeviceId } from './device-id.js';
export { DEFAULT_PKI_DIR, PKI_DIR_ENV, defaultPkiDir, envPkiDir, pkiPaths, type PkiPaths } from './paths.js';
export {
  DEFAULT_CA_DAYS, DEFAULT_SERVER_DAYS, DEFAULT_DEVICE_DAYS, DEFAULT_RENEWED_DEVICE_DAYS, DEFAULT_CRL_DAYS, BACKDATE_MS,
  DEFAULT_RENEWAL_POLICY, defaultDeviceDays, type DeviceRenewalPolicy,
} from './validity.js';
export {
  initCa, issueServerCert, DEFAULT_CA_NAME, type InitCaOptions, type InitCaResult, type ServerCertOptions, type IssuedFile,
} from './ca.js';
export { loadCa, type LoadedCa } from './loaded-ca.js';
export { addDevice, deviceIdFromCsr, type AddDeviceOptions } from './devices.js';
export { addDevices, MAX_BATCH_COUNT, type AddDevicesOptions } from './batch-issue.js';
export { revokeDevice, writeCrl, type RevokeOptions, type WriteCrlOptions } from './revocation.js';
export {
  revokedSerials, parseCrl, crlSignedBy, REVOCATION_REASONS, DEFAULT_REVOCATION_REASON,
  type RevocationReason, type CrlInfo,
} from './crl.js';
export { readInventory, parseInventory, type DeviceRecord, type DeviceStatus, type InventoryFile } from './inventory.js';
export { REPLACED_DIR_PREFIX, type ArchivedPki } from './pki-archive.js';
export { ensureDevelopmentPki } from './development-pki.js';
export { exportEsp32Header, esp32Symbol, type Esp32HeaderInput } from './esp32-header.js';
