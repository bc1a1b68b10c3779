#!/usr/bin/env node
// `npm run mutate`: runs Stryker (stryker.config.mjs) on the security-critical modules against the
// unit specs, times it, and rewrites reports/mutation.md from Stryker's JSON report: the score per
// file and every surviving mutant, each either explained by reports/equivalent-mutants.json or
// marked UNEXPLAINED. `node scripts/mutate.mjs --report-only` rewrites the report from the last run.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const jsonPath = join(root, 'reports/mutation/mutation.json');
const partsDir = join(root, 'reports/mutation/parts');
const equivalentsPath = join(root, 'reports/equivalent-mutants.json');
const outPath = join(root, 'reports/mutation.md');
const args = process.argv.slice(2);
const reportOnly = args.includes('--report-only');
// `--part NAME --mutate a.ts,b.ts`: mutate some files only, kept as a named part; the report merges the
// parts (the newest part wins for a file). A full run (no --part) drops every part.
const partAt = args.indexOf('--part');
const part = partAt >= 0 ? args[partAt + 1] : undefined;
const strykerArgs = args.filter((a, i) => a !== '--report-only' && i !== partAt && i !== partAt + 1);

if (!reportOnly) {
  // Stryker writes a part's report where the full run's is: keep that one to put it back.
  const full = part && existsSync(jsonPath) ? readFileSync(jsonPath) : undefined;
  const t0 = Date.now();
  const run = spawnSync('npx', ['stryker', 'run', ...strykerArgs], { cwd: root, stdio: 'inherit' });
  const seconds = Math.round((Date.now() - t0) / 1000);
  if (run.status !== 0) {
    console.error(`stryker failed (exit ${run.status}); reports/mutation.md not rewritten`);
    process.exit(run.status ?? 1);
  }
  const meta = { runtime: `${Math.floor(seconds / 60)} min ${seconds % 60} s`, at: new Date().toISOString() };
  if (part) {
    mkdirSync(partsDir, { recursive: true });
    renameSync(jsonPath, join(partsDir, `${part}.json`));
    if (full) writeFileSync(jsonPath, full);
    writeFileSync(join(partsDir, `${part}.meta.json`), JSON.stringify(meta));
  } else {
    rmSync(partsDir, { recursive: true, force: true });
    writeFileSync(`${jsonPath}.meta.json`, JSON.stringify(meta));
  }
}

/** The runs the report is made of, oldest first: the last full run and the parts made since. */
function runs() {
  const parts = existsSync(partsDir) ? readdirSync(partsDir).filter((f) => f.endsWith('.json') && !f.endsWith('.meta.json')) : [];
  const list = parts.map((f) => ({ name: `part ${f.slice(0, -5)}`, json: join(partsDir, f), meta: join(partsDir, `${f.slice(0, -5)}.meta.json`) }));
  if (existsSync(jsonPath)) list.push({ name: 'full run', json: jsonPath, meta: `${jsonPath}.meta.json` });
  if (list.length === 0) throw new Error(`no ${jsonPath}: run npm run mutate first`);
  return list
    .map((r) => ({ ...r, meta: existsSync(r.meta) ? JSON.parse(readFileSync(r.meta, 'utf8')) : { runtime: 'not measured', at: '' } }))
    .sort((a, b) => a.meta.at.localeCompare(b.meta.at));
}
const made = runs();
const report = { files: {} };
for (const r of made) Object.assign(report.files, JSON.parse(readFileSync(r.json, 'utf8')).files);
const runtime = made.map((r) => `${r.name}: ${r.meta.runtime}${r.meta.at ? ` (${r.meta.at.slice(0, 16)}Z)` : ''}`).join('; ');
/**
 * [{ file, mutator, original, replacement, line?, reason }]: matched by text, not by line number, so edits
 * elsewhere keep them; `line` (the trimmed source line the mutant starts on) tells apart equal snippets.
 */
const equivalents = existsSync(equivalentsPath) ? JSON.parse(readFileSync(equivalentsPath, 'utf8')) : [];

function textAt(source, loc) {
  const lines = source.split('\n');
  const { start, end } = loc;
  if (start.line === end.line) return lines[start.line - 1].slice(start.column - 1, end.column - 1);
  const parts = [lines[start.line - 1].slice(start.column - 1), ...lines.slice(start.line, end.line - 1), lines[end.line - 1].slice(0, end.column - 1)];
  return parts.join('\n');
}
const oneLine = (s, max = 110) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};
const cell = (s) => oneLine(s).replace(/\|/g, '\\|').replace(/`/g, "'");

const KILLED = new Set(['Killed', 'Timeout']);
const COUNTED = new Set(['Killed', 'Timeout', 'Survived', 'NoCoverage']);
const rows = [];
const survivors = [];
const usedEquivalents = new Set();
let total = { killed: 0, survived: 0, noCov: 0, equivalent: 0, counted: 0, errors: 0 };

for (const [file, { source, mutants }] of Object.entries(report.files).sort()) {
  const s = { killed: 0, survived: 0, noCov: 0, equivalent: 0, counted: 0, errors: 0 };
  for (const m of mutants) {
    if (!COUNTED.has(m.status)) {
      s.errors++;
      continue;
    }
    s.counted++;
    if (KILLED.has(m.status)) {
      s.killed++;
      continue;
    }
    const original = textAt(source, m.location);
    const lineText = source.split('\n')[m.location.start.line - 1].trim();
    const eq = equivalents.find(
      (e) =>
        e.file === file &&
        e.mutator === m.mutatorName &&
        oneLine(e.original, 1e6) === oneLine(original, 1e6) &&
        oneLine(e.replacement, 1e6) === oneLine(m.replacement, 1e6) &&
        (e.line === undefined || e.line === lineText),
    );
    if (eq) {
      usedEquivalents.add(eq);
      s.equivalent++;
    } else if (m.status === 'NoCoverage') s.noCov++;
    else s.survived++;
    survivors.push({ file, line: m.location.start.line, mutator: m.mutatorName, status: m.status, original, replacement: m.replacement, reason: eq?.reason });
  }
  for (const k of Object.keys(total)) total[k] += s[k];
  rows.push([file, s]);
}

const pct = (n, d) => (d === 0 ? 'n/a' : `${((100 * n) / d).toFixed(2)} %`);
const lines = [];
lines.push('# Mutation testing report');
lines.push('');
lines.push('Written by `npm run mutate` (scripts/mutate.mjs) from Stryker\'s JSON report; do not edit by hand.');
lines.push('Mutated: the modules listed in `stryker.config.mjs` (`mutate`); tests: the unit specs `test/unit/**` (jest.unit.config.js).');
lines.push('');
lines.push(`- Generated: ${new Date().toISOString()}`);
lines.push(`- Stryker runs (wall clock, this machine): ${runtime}`);
lines.push('- Score = killed (incl. timeouts) / all mutants that ran or had no coverage. "Score without equivalents" leaves out');
lines.push('  the surviving mutants listed, with their reason, in `reports/equivalent-mutants.json`.');
lines.push('');
lines.push('| file | mutants | killed | survived | no coverage | equivalent (explained) | score | score without equivalents |');
lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [file, s] of [...rows, ['**all files**', total]]) {
  lines.push(`| ${file} | ${s.counted} | ${s.killed} | ${s.survived} | ${s.noCov} | ${s.equivalent} | ${pct(s.killed, s.counted)} | ${pct(s.killed, s.counted - s.equivalent)} |`);
}
lines.push('');
const unexplained = survivors.filter((x) => !x.reason);
lines.push(`## Surviving mutants (${survivors.length}; ${unexplained.length} unexplained)`);
lines.push('');
if (survivors.length === 0) lines.push('None.');
else {
  lines.push('| file:line | mutator | status | original | mutant | why it survives |');
  lines.push('| --- | --- | --- | --- | --- | --- |');
  for (const x of survivors.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)) {
    lines.push(`| ${x.file}:${x.line} | ${x.mutator} | ${x.status} | \`${cell(x.original)}\` | \`${cell(x.replacement)}\` | ${x.reason ? `equivalent: ${cell(x.reason)}` : '**UNEXPLAINED**: needs a test or a reason'} |`);
  }
}
const stale = equivalents.filter((e) => !usedEquivalents.has(e));
if (stale.length > 0) {
  lines.push('');
  lines.push(`## Entries of equivalent-mutants.json that matched no survivor (${stale.length}): killed now, or the code changed`);
  lines.push('');
  for (const e of stale) lines.push(`- ${e.file} ${e.mutator}: \`${cell(e.original)}\` → \`${cell(e.replacement)}\``);
}
lines.push('');
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, lines.join('\n'));
console.log(`wrote ${outPath}: ${pct(total.killed, total.counted)} (${pct(total.killed, total.counted - total.equivalent)} without equivalents), ${unexplained.length} unexplained survivors, in ${runtime}`);
