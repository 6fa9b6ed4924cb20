// BENCHMARKS.md is written by the bench: each scenario owns one section between
// `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, replaced whole by its next run, so running one
// scenario updates only its own figures. Pure: text in, text out.

export interface RunInfo { command: string; at: Date; machine: string }

const open = (name: string) => `<!-- bench:${name} -->`;
const close = (name: string) => `<!-- /bench:${name} -->`;

/** The section as written: an anchor README and docs link to, the scenario's markdown, then the run it came from. */
export function renderSection(name: string, markdown: string, run: RunInfo): string {
  const when = run.at.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  return `${open(name)}\n<a id="bench-${name}"></a>\n\n${markdown.trim()}\n\n` +
    `<sub>Run: \`${run.command}\` on ${when}; ${run.machine}.</sub>\n${close(name)}`;
}

/** Replaces the scenario's section in the document, or appends it when the document has none yet. */
export function writeSection(doc: string, name: string, section: string): string {
  const start = doc.indexOf(open(name));
  const endMarker = close(name);
  const end = start < 0 ? -1 : doc.indexOf(endMarker, start);
  if (start >= 0 && end >= 0) return doc.slice(0, start) + section + doc.slice(end + endMarker.length);
  if (start >= 0) throw new Error(`BENCHMARKS.md has ${open(name)} without ${endMarker}: fix the file by hand`);
  return doc.replace(/\n*$/, '\n\n') + section + '\n';
}
