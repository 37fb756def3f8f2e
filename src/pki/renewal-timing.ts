/**
 * When the hub wants a device certificate renewed (SPEC: Device protocol
 * version 2, `hello.cert.renew`). Pure. ESP32 TLS stacks do not check dates,
 * so the hub decides: from two thirds of the lifetime, at a point spread over
 * a window by a hash of the device id (a batch issued the same day does not
 * renew the same hour), and at the latest once a tenth of the lifetime is
 * left, whatever the spread (short test certificates included).
 */
import { createHash } from 'node:crypto';

/** Fraction of the lifetime before which no renewal is due. */
export const RENEW_FROM_FRACTION = 2 / 3;
/** Fraction of the lifetime by which every device is due: a tenth is then left. */
export const RENEW_BY_FRACTION = 9 / 10;

/** A hash of the id mapped to [0, 1): the same id always lands at the same point of the window. */
export function spreadOf(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) / 2 ** 32;
}

/** ms since epoch from which the certificate of `id` valid [notBefore, notAfter] is due for renewal. */
export function renewAt(id: string, notBefore: number, notAfter: number): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  const fraction = RENEW_FROM_FRACTION + spreadOf(id) * (RENEW_BY_FRACTION - RENEW_FROM_FRACTION);
  return notBefore + Math.floor(lifetime * fraction);
}

/** True once the certificate is due for renewal at `now`. */
export function renewalDue(id: string, notBefore: number, notAfter: number, now: number): boolean {
  return now >= renewAt(id, notBefore, notAfter);
}

/** True once less than a tenth of the lifetime is left: past the latest renewal point (the expiry gauge counts these). */
export function closeToExpiry(notBefore: number, notAfter: number, now: number): boolean {
  return now >= notBefore + Math.floor(Math.max(0, notAfter - notBefore) * RENEW_BY_FRACTION);
}
