// Values read from flags and SLUICE_* variables before any config is parsed. Apart from the loader so
// the command line is read without loading the config schema (and its schema library), which
// `sluice simulate` and the policy commands do not need.
import { InvalidConfigError } from '../errors.ts';

export function portFrom(text: string, path: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new InvalidConfigError([{ path, value: text, expected: 'a port number 0-65535' }]);
  return n;
}

export const splitList = (s: string): string[] => s.split(',').map((x) => x.trim()).filter(Boolean);
