/**
 * A test hub with devices enrolled (and its CRL re-read, so the hub knows
 * them), and clients for them that have said hello: what the protocol 2
 * tests (commands, desired configuration) start from.
 */
import { connectDevice, type DeviceClient } from './device-client.js';
import { startHub, type HubOverrides, type TestHub } from './hub.js';
import type { DeviceCredentials } from './pki.js';

/** A device to enroll: its id, and its plan when not the default. */
export type EnrolledDevice = readonly [id: string, plan?: string];

/** A running hub and its enrolled devices. */
export interface EnrolledHub {
  readonly th: TestHub;
  /**
   * Connects device `id` (protocol 2 unless `v2` is false) to `url` (this
   * hub's, or another hub's on the same PKI) and waits for the hello.
   */
  connect(id: string, v2?: boolean, url?: string): Promise<DeviceClient>;
}

/** Starts a hub with `overrides` and enrolls `devices` in its PKI. */
export async function startEnrolledHub(overrides: HubOverrides, devices: readonly EnrolledDevice[]): Promise<EnrolledHub> {
  const th = await startHub(overrides);
  const enrolled = new Map<string, DeviceCredentials>();
  for (const [id, plan] of devices) enrolled.set(id, await th.pki.addDevice(id, plan === undefined ? {} : { plan }));
  await th.hub.checkRevocation();
  return {
    th,
    async connect(id, v2 = true, url = th.deviceUrl) {
      const c = enrolled.get(id);
      if (c === undefined) throw new Error(`device ${id} was not enrolled`);
      const client = await connectDevice({ url, ca: th.pki.ca, cert: c.cert, key: c.key, ...(v2 ? { protocol: 'fleethub.v2' } : {}) });
      await client.hello();
      return client;
    },
  };
}

/** Sends a reading and waits for its ack: whatever the hub sent before the ack has arrived too. */
export async function roundTrip(client: DeviceClient, seq: number): Promise<void> {
  client.send({ seq, data: { v: 1 } });
  await client.waitForAck(seq);
}
