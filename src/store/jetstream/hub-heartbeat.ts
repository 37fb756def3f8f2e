/**
 * Each hub's heartbeat in a KV bucket (`<prefix>-hubs`, key = the hub's
 * node name, value = when it last wrote): a write every few seconds that
 * JetStream acks only once a quorum of the bucket's replicas has it. A hub
 * whose heartbeats are not acked cannot store readings either, so the
 * store reports itself unhealthy (SPEC: /healthz 503 after 5 s without a
 * JetStream quorum). Reads and stream info are no such proof: a lone
 * replica may still answer them.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeToken } from './nats-names.js';

/** One hub's heartbeat. */
export class HubHeartbeat {
  readonly #kv: KV;
  readonly #key: string;

  private constructor(kv: KV, key: string) {
    this.#kv = kv;
    this.#key = key;
  }

  /** Opens (creating it) the bucket `bucket` with `replicas` copies, for hub `node`. */
  static async open(nc: NatsConnection, bucket: string, node: string, replicas: number, timeoutMs: number): Promise<HubHeartbeat> {
    return new HubHeartbeat(await openHeartbeatBucket(nc, bucket, replicas, timeoutMs), encodeToken(node));
  }

  /** Writes `now`; resolves once a quorum acked it, rejects when it was not. */
  async beat(now: number): Promise<void> {
    await this.#kv.put(this.#key, String(now));
  }
}

/** The heartbeat bucket (creating it), as every hub opens it: readers such as the cluster feed's presence watch it. */
export function openHeartbeatBucket(nc: NatsConnection, bucket: string, replicas: number, timeoutMs: number): Promise<KV> {
  return new Kvm(nc).create(bucket, { replicas, history: 1, timeout: timeoutMs });
}
