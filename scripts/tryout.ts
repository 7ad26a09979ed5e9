/**
 * Brings up a complete local try-out on loopback, in ./tryout/: InspIRCd, Synapse
 * with a demo user, and the built bridge between them. Started by scripts/tryout.sh
 * (npm run tryout), which compiles this file together with the e2e harness it uses.
 * Ctrl-C (SIGINT) or SIGTERM stops every server by its PID.
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { setupEnv, type E2EEnv } from '../spec/e2e/harness/env';

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

async function main(): Promise<void> {
  const dir = path.resolve(process.argv[2] ?? 'tryout');
  const password = process.env.TRYOUT_PASSWORD ?? crypto.randomBytes(9).toString('base64url');
  out(`starting InspIRCd, Synapse and the bridge in ${dir} ...`);
  const running: { env?: E2EEnv } = {};
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    out(`\n${signal}: stopping the bridge, Synapse and InspIRCd ...`);
    await running.env?.teardown();
    out('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const env = await setupEnv({ dir, bridge: { networkId: 'tryout' } });
  running.env = env;
  let demo;
  try {
    demo = await env.matrixUser('demo', 'Demo', password);
  } catch (err) {
    await env.teardown();
    throw err;
  }
  out();
  out('matrix-irc-bridge try-out is running (loopback only).');
  out();
  out('Matrix client (e.g. Element, "sign in" with a custom homeserver):');
  out(`  homeserver URL: ${env.synapse.url}`);
  out(`  user:           ${demo.userId}   (or just "demo")`);
  out(`  password:       ${password}`);
  out('  then join       #tryout_lobby:localhost');
  out();
  out('IRC client:');
  out(`  irssi -c 127.0.0.1 -p ${env.ircd.port} -n ircuser`);
  out('  then            /join #lobby');
  out();
  out('Logs:');
  out(`  bridge   ${env.bridge.logPath}`);
  out(`  synapse  ${env.synapse.logPath}`);
  out(`  inspircd ${env.ircd.logPath}`);
  out();
  out('Press Ctrl-C to stop everything.');
}

main().catch((err: unknown) => {
  process.stderr.write(`try-out failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
