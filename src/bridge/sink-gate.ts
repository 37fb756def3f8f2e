/**
 * What lets a sink's runner run: in cluster mode, a lease per sink (SPEC:
 * every sink delivers once per cluster, not once per hub). The bridge knows
 * only this interface, not NATS: the hub hands it the cluster's sink leases
 * (`SinkLeases` in src/hub/cluster/sink-lease.ts fits it as it is). Without
 * a gate every runner runs from `start()` to `close()`.
 */

/** What a gate tells the bridge about one sink. */
export interface SinkGateEvents {
  /** This hub may run the sink now: the runner starts from the sink's saved position. */
  onAcquired(): void;
  /** It may not any more (`reason` is for the log): the runner stops at once, without saving its position. */
  onLost(reason: string): void;
}

/** One sink's permission, as long as the bridge wants it. */
export interface SinkGateHandle {
  /** Gives the permission up, so another hub may run the sink at once (the runner has stopped by then). Idempotent. */
  release(): Promise<void>;
}

/** Grants each sink to one hub of the cluster at a time. */
export interface SinkGate {
  /** Starts asking for `sink`; `events` say when this hub holds it. Called once per sink, by `Bridge.start`. */
  hold(sink: string, events: SinkGateEvents): SinkGateHandle;
}
