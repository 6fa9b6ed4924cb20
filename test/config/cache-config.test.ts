import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { parseTarget } from '../../src/config/load.ts';
import { InvalidConfigError } from '../../src/errors.ts';

const cfg = suite('config: targets[].cache');
const target = { name: 'llm', prefix: '/llm', replicas: ['http://127.0.0.1:9001'] };

cfg('the cache is off by default, with the defaults DESIGN.md lists', () => {
  const c = parseTarget(target).cache;
  assert.equal({ ...c, jetstreamTtlMs: undefined, jetstreamReplicas: undefined }, {
    enabled: false, maxBytes: 268435456, maxEntryBytes: 8388608, ttlMs: 0, upstreamHeaders: 'respect',
    methods: ['GET', 'HEAD'], staleWhileRevalidateMs: 0, staleIfErrorMs: 0, store: 'memory',
    jetstreamTtlMs: undefined, jetstreamReplicas: undefined,
  });
});

cfg('an LLM prompt cache: POST, ignore, ttlMs', () => {
  const c = parseTarget({ ...target, cache: { enabled: true, methods: ['POST'], upstreamHeaders: 'ignore', ttlMs: 600000 } }).cache;
  assert.equal([c.enabled, c.methods, c.upstreamHeaders, c.ttlMs], [true, ['POST'], 'ignore', 600000]);
});

cfg('bad values name their path', () => {
  for (const [cache, path] of [
    [{ upstreamHeaders: 'obey' }, 'cache.upstreamHeaders'],
    [{ store: 'redis' }, 'cache.store'],
    [{ methods: ['DELETE'] }, 'cache.methods.0'],
    [{ maxBytes: 10, maxEntryBytes: 11 }, 'cache.maxEntryBytes'],
    [{ ttl: 5 }, 'cache.ttl'],
  ] as const) {
    try { parseTarget({ ...target, cache }); assert.unreachable(JSON.stringify(cache)); } catch (e) {
      assert.instance(e, InvalidConfigError);
      assert.ok((e as InvalidConfigError).issues.some((i) => i.path === path), `${JSON.stringify(cache)} → ${JSON.stringify((e as InvalidConfigError).issues)}`);
    }
  }
});

cfg.run();
