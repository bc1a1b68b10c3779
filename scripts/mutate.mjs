#!/usr/bin/env node
// `npm run mutate`: runs Stryker (stryker.config.mjs) on the security-critical modules against the
// unit specs, times it, and rewrites reports/mutation.md from Stryker's JSON report: the score per
// file and every surviving mutant, each either explained by reports/equivalent-mutants.json or
// marked UNEXPLAINED. `node scripts/mutate.mjs --report-only` rewrites the report from the last run.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const jsonPath = join(root, 'reports/mutation/mutation.json');
const equivalentsPath = join(root, 'reports/equivalent-mutants.json');
const outPath = join(root, 'reports/mutation.md');
const reportOnly = process.argv.includes('--report-only');

let runtime = 'not measured (--report-only)';
if (!reportOnly) {
  const t0 = Date.now();
  const run = spawnSync('npx', ['stryker', 'run', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
  const seconds = Math.round((Date.now() - t0) / 1000);
  runtime = `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  if (run.status !== 0) {
    console.error(`stryker failed (exit ${run.status}); reports/mutation.md not rewritten`);
    process.exit(run.status ?? 1);
  }
}

if (!existsSync(jsonPath)) throw new Error(`no ${jsonPath}: run npm run mutate first`);
const report = JSON.parse(readFileSync(jsonPath, 'utf8'));
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
lines.push(`- Stryker run time (wall clock, this machine): ${runtime}`);
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
