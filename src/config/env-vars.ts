// Config file strings may name environment variables: "${NAME}", or "${NAME:-fallback}" used when
// NAME is unset or empty (the shell's rule). Only whole `${…}` forms expand; any other `$` stays as
// written. An unset variable without a fallback is a config error naming where it was used.
import { InvalidConfigError, type ConfigIssue } from '../errors.ts';

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** A copy of `raw` (a parsed config file) with every `${…}` in its strings replaced from `env`. */
export function expandEnvVars(raw: unknown, env: NodeJS.ProcessEnv, source = 'config'): unknown {
  const issues: ConfigIssue[] = [];
  const walk = (v: unknown, path: string[]): unknown => {
    if (typeof v === 'string') {
      return v.replace(REF, (whole, name: string, fallback: string | undefined) => {
        const value = env[name];
        if (value !== undefined && value !== '') return value;
        if (fallback !== undefined) return fallback;
        issues.push({ path: path.join('.'), value: whole, expected: `environment variable ${name} set, or a fallback: \${${name}:-value}` });
        return whole;
      });
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, String(i)]));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...path, k])]));
    return v;
  };
  const out = walk(raw, []);
  if (issues.length) throw new InvalidConfigError(issues, source);
  return out;
}
