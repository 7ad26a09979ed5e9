/**
 * Every Prometheus metric the bridge exports, in one place, on an injected registry.
 * Names: ircbridge_<area>_<what>[_total|_seconds]; labels are low-cardinality (network,
 * direction, outcome, state), never a room or user ID.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type Direction = 'matrix_to_irc' | 'irc_to_matrix';

export class Metrics {
  readonly messages: Counter<'direction' | 'outcome'>;
  readonly transactionSeconds: Histogram<'outcome'>;
  readonly ircConnections: Gauge<'network' | 'state'>;
  readonly inboundBacklog: Gauge;
  readonly matrixRequestFailures: Counter<'outcome'>;
  readonly reconnects: Counter<'network' | 'role'>;
  readonly connectSeconds: Histogram<'network' | 'outcome'>;
  readonly outboxDepth: Gauge;
  readonly outboxRetries: Counter;
  readonly catchUpEvents: Counter;

  /** Set by main.ts: reports the current IRC connections when Prometheus scrapes. */
  connectionSource: (() => Array<{ network: string; state: string; count: number }>) | null = null;

  constructor(readonly registry: Registry = new Registry(), opts: { defaults?: boolean } = {}) {
    if (opts.defaults ?? true) {
      collectDefaultMetrics({ register: registry });
    }
    this.messages = new Counter({
      name: 'ircbridge_messages_total',
      help: 'Messages handled, by direction and outcome (sent, failed, dropped)',
      labelNames: ['direction', 'outcome'],
      registers: [registry],
    });
    this.transactionSeconds = new Histogram({
      name: 'ircbridge_transaction_seconds',
      help: 'Time to accept one appservice transaction (store and answer)',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
    this.ircConnections = new Gauge({
      name: 'ircbridge_irc_connections',
      help: 'IRC connections by network and state',
      labelNames: ['network', 'state'],
      registers: [registry],
      collect: () => {
        this.ircConnections.reset();
        for (const c of this.connectionSource?.() ?? []) {
          this.ircConnections.set({ network: c.network, state: c.state }, c.count);
        }
      },
    });
    this.inboundBacklog = new Gauge({
      name: 'ircbridge_inbound_backlog_events',
      help: 'Matrix events accepted and not yet handled',
      registers: [registry],
    });
    this.outboxDepth = new Gauge({
      name: 'ircbridge_matrix_outbox_items',
      help: 'Items read from IRC and not yet accepted by the homeserver',
      registers: [registry],
    });
    this.outboxRetries = new Counter({
      name: 'ircbridge_matrix_outbox_retries_total',
      help: 'Deliveries to the homeserver retried after a transient failure (5xx, 429, connection)',
      registers: [registry],
    });
    this.catchUpEvents = new Counter({
      name: 'ircbridge_catch_up_events_total',
      help: 'Matrix events the homeserver never sent, found in room history by a catch-up and handled',
      registers: [registry],
    });
    this.reconnects = new Counter({
      name: 'ircbridge_irc_reconnects_total',
      help: 'Reconnect attempts scheduled after a connection was lost or failed, by network and role (bot, puppet)',
      labelNames: ['network', 'role'],
      registers: [registry],
    });
    this.connectSeconds = new Histogram({
      name: 'ircbridge_irc_connect_seconds',
      help: "Time from opening a puppet's IRC connection to its registration (or failure), by network and outcome (ok, failed); waiting for a connect slot is not included",
      labelNames: ['network', 'outcome'],
      buckets: [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30],
      registers: [registry],
    });
    this.matrixRequestFailures = new Counter({
      name: 'ircbridge_matrix_request_failures_total',
      help: 'Client-server API calls that failed after retries',
      labelNames: ['outcome'],
      registers: [registry],
    });
  }

  /** A client-server call that failed for good, by the kind of failure. */
  matrixFailure(status: number): void {
    const outcome = status === 0 ? 'connection' : status === 429 ? 'rate_limited' : status >= 500 ? 'http_5xx' : 'http_4xx';
    this.matrixRequestFailures.inc({ outcome });
  }

  message(direction: Direction, outcome: 'sent' | 'failed' | 'dropped'): void {
    this.messages.inc({ direction, outcome });
  }
}
