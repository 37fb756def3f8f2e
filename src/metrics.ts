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

/** One labelled series of a metric: a number the hot path updates in place. */
interface Series {
  value: number;
}

abstract class Metric {
  readonly #series = new Map<string, Series>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  /** The series for these labels, created at 0 on first use. */
  protected series(labels: Labels): Series {
    const key = labelKey(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { value: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  /** The current value for these labels (0 when never touched). */
  value(labels: Labels = {}): number {
    return this.#series.get(labelKey(labels))?.value ?? 0;
  }

  render(): string {
    let text = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    if (this.#series.size === 0 && this.type === 'gauge') text += `${this.name} 0\n`;
    for (const [key, series] of this.#series) text += `${this.name}${key} ${series.value}\n`;
    return text;
  }
}

/** A counter's series bound to fixed labels, for paths that count on every connection. */
export interface BoundCounter {
  inc(delta?: number): void;
}

/** A monotonically increasing count. */
export class Counter extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = {}, delta = 1): void {
    this.series(labels).value += delta;
  }
  /** The series for `labels`, resolved once: `inc()` then costs one addition. */
  labels(labels: Labels): BoundCounter {
    const series = this.series(labels);
    return {
      inc(delta = 1) {
        series.value += delta;
      },
    };
  }
}

/** A value that goes up and down. */
export class Gauge extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(value: number, labels: Labels = {}): void {
    this.series(labels).value = value;
  }
  inc(labels: Labels = {}, delta = 1): void {
    this.series(labels).value += delta;
  }
  dec(labels: Labels = {}, delta = 1): void {
    this.series(labels).value -= delta;
  }
}

/** A gauge without labels whose value is read at scrape time (nothing to update as it changes). */
class ObservedGauge extends Metric {
  readonly #read: () => number;
  constructor(name: string, help: string, read: () => number) {
    super(name, help, 'gauge');
    this.#read = read;
  }
  override render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${this.#read()}\n`;
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

  /** A gauge whose value `read` returns at scrape time. */
  observedGauge(name: string, help: string, read: () => number): void {
    this.#register(new ObservedGauge(name, help, read));
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
