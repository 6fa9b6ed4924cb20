// Waiting on an event in a test must have a way to fail: a bare `await promise` on an event that
// never comes only hangs (and the per-test deadline then fails it without saying what was awaited).

/** True when `p` settles within `ms`, false when it does not; the caller asserts on it. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  return Promise.race([p.then(() => true, () => true), late]).finally(() => clearTimeout(timer));
}
