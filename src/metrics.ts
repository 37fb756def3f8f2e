/**
 * A small Prometheus text-format registry (exposition format 0.0.4).
 * Labels are for bounded sets only (reason, code, sink name): never a device id.
 */

type Labels = Readonly<Record<string, string>>;

const NEEDS_ESCAPE = /[\\"\n]/;

/** `{a="x",b="y"}` (label values escaped per the text format), or '' for no labels. Called on every count: no arrays. */
function labelKey(labels: Labels): string {
  let key = '';
  for (const name in labels) {
    const raw = labels[name] as string;
    const value = NEEDS_ESCAPE.test(raw) ? raw.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : raw;
    key += `${key === '' ? '' : ','}${name}="${value}"`;
  }
  return key === '' ? '' : `{${key}}`;
}

abstract class Metric {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  protected add(labels: Labels, delta: number): void {
    const key = labelKey(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + delta);
  }

  protected put(labels: Labels, value: number): void {
    this.#values.set(labelKey(labels), value);
  }

  /** The current value for these labels (0 when never touched). */
  value(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }

  render(): string {
    let text = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    if (this.#values.size === 0 && this.type === 'gauge') text += `${this.name} 0\n`;
    for (const [key, value] of this.#values) text += `${this.name}${key} ${value}\n`;
    return text;
  }
}

/** A monotonically increasing count. */
export class Counter extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = {}, delta = 1): void {
    this.add(labels, delta);
  }
}

/** A value that goes up and down. */
export class Gauge extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(value: number, labels: Labels = {}): void {
    this.put(labels, value);
  }
  inc(labels: Labels = {}, delta = 1): void {
    this.add(labels, delta);
  }
  dec(labels: Labels = {}, delta = 1): void {
    this.add(labels, -delta);
  }
}

/** Holds metrics and collectors; renders them all for `/metrics`. */
export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();
  readonly #collectors = new Set<() => string>();

  counter(name: string, help: string): Counter {
    return this.#register(new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.#register(new Gauge(name, help));
  }

  /** Adds a function that returns already-formatted metric text, read at scrape time. Returns its removal. */
  collect(collector: () => string): () => void {
    this.#collectors.add(collector);
    return () => this.#collectors.delete(collector);
  }

  render(): string {
    let text = '';
    for (const metric of this.#metrics.values()) text += metric.render();
    for (const collector of this.#collectors) text += collector();
    return text;
  }

  #register<M extends Metric>(metric: M): M {
    if (this.#metrics.has(metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}
