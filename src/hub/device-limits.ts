/**
 * Which limits apply to a device, and the daily quota decision (pure).
 * A device's plan comes from the PKI inventory (`device add --plan`); the
 * limits are `HubConfig.plans[plan]`, or `HubConfig.limits` without a plan.
 */
import type { DeviceLimits, HubConfig } from './config.js';

/** The limits of a device on `plan` (undefined or unknown plan: the defaults, `known: false` for unknown). */
export function limitsForPlan(config: Pick<HubConfig, 'limits' | 'plans'>, plan: string | undefined | null): { limits: DeviceLimits; known: boolean } {
  if (plan === undefined || plan === null || plan === '') return { limits: config.limits, known: true };
  const limits = Object.hasOwn(config.plans, plan) ? config.plans[plan] : undefined;
  return limits === undefined ? { limits: config.limits, known: false } : { limits, known: true };
}

/**
 * Whether one more reading fits the daily quota: `storedToday` readings are
 * already stored on this UTC day (the store counts them, so the quota
 * survives restarts and resets at 00:00 UTC) and `inFlight` more are on their
 * way to the store.
 */
export function quotaAllows(storedToday: number, inFlight: number, msgsPerDay: number): boolean {
  return storedToday + inFlight < msgsPerDay;
}
