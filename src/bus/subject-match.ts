// NATS subject matching: tokens split on '.', '*' matches one token, '>' matches one or more at the end.
// LocalBus uses it so the same subscriptions work on both buses. A pattern is split once, when
// compiled; the subject once per message (the simulator routes millions).

export type SubjectPattern = (subjectTokens: readonly string[], subject: string) => boolean;

export function compileSubject(pattern: string): SubjectPattern {
  if (!pattern.includes('*') && !pattern.includes('>')) return (_t, subject) => subject === pattern;
  const p = pattern.split('.');
  return (s) => {
    for (let i = 0; i < p.length; i++) {
      if (p[i] === '>') return s.length > i;
      if (i >= s.length) return false;
      if (p[i] !== '*' && p[i] !== s[i]) return false;
    }
    return p.length === s.length;
  };
}

export function subjectMatches(pattern: string, subject: string): boolean {
  return compileSubject(pattern)(subject.split('.'), subject);
}
