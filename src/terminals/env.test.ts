/** Issue 10, point 7: a new terminal's environment carries none of Keel's secrets (read back with `env` from a real shell). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startChildServer } from './child-server.ts';
import { waitFor } from './test-helpers.ts';

describe('terminals: environment', () => {
  it('strips KEEL_TOKEN, KEEL_AGENT_API_KEY, OPENAI_API_KEY and ANTHROPIC_API_KEY; keeps the rest', async () => {
    const secrets = {
      KEEL_TOKEN: 'tok-secret-0123456789abcdef',
      KEEL_AGENT_API_KEY: 'sk-keel-secret-1',
      OPENAI_API_KEY: 'sk-openai-secret-2',
      ANTHROPIC_API_KEY: 'sk-ant-secret-3',
    };
    const srv = await startChildServer(['--terminal-shell', '/bin/sh'], { ...secrets, KEEL_ENV_PROBE: 'visible-4' });
    try {
      assert.equal(srv.token, secrets.KEEL_TOKEN, 'the token really came from the environment');
      const out = path.join(srv.dataDir, 'env.txt');
      const r = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: `env > ${out}` });
      assert.equal(r.status, 201, r.text);
      await waitFor(async () => (await srv.api('GET', `/api/terminals/${r.json.id}`)).status === 404, 'env to run and exit');
      const env = fs.readFileSync(out, 'utf8');
      assert.match(env, /^KEEL_ENV_PROBE=visible-4$/m, 'the environment is passed through');
      assert.match(env, /^TERM=xterm-256color$/m);
      for (const [name, value] of Object.entries(secrets)) {
        assert.doesNotMatch(env, new RegExp(`^${name}=`, 'm'), `${name} is not in the terminal's environment`);
        assert.ok(!env.includes(value), `the value of ${name} appears nowhere`);
      }
    } finally {
      await srv.kill();
    }
  });
});
