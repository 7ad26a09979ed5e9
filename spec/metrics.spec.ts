import { Registry } from 'prom-client';
import { Metrics } from '../src/metrics';

describe('Metrics', () => {
  test('counters, failure outcomes and the connection gauge appear in the exposition', async () => {
    const m = new Metrics(new Registry(), { defaults: false });
    m.message('matrix_to_irc', 'sent');
    m.message('matrix_to_irc', 'sent');
    m.message('irc_to_matrix', 'failed');
    [0, 429, 502, 403].forEach((s) => m.matrixFailure(s));
    m.connectionSource = () => [{ network: 'libera', state: 'puppet_registered', count: 7 }];
    const text = await m.registry.metrics();
    expect(text).toContain('ircbridge_messages_total{direction="matrix_to_irc",outcome="sent"} 2');
    expect(text).toContain('ircbridge_messages_total{direction="irc_to_matrix",outcome="failed"} 1');
    for (const outcome of ['connection', 'rate_limited', 'http_5xx', 'http_4xx']) {
      expect(text).toContain(`ircbridge_matrix_request_failures_total{outcome="${outcome}"} 1`);
    }
    expect(text).toContain('ircbridge_irc_connections{network="libera",state="puppet_registered"} 7');
  });

  test('the default metrics go on the injected registry, not the global one', async () => {
    const m = new Metrics(new Registry());
    expect(await m.registry.metrics()).toMatch(/^process_cpu_user_seconds_total /m);
    // A second instance with its own registry does not clash (prom-client throws on duplicates).
    expect(() => new Metrics(new Registry())).not.toThrow();
  });
});
