import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The layout's promises, checked on the source itself so that they cannot rot: no import cycle, the
 * folders' arrows point one way, and no class grows into a second engine. The checks are pure
 * functions over { path: text }, proven first on small synthetic trees, then run on src/.
 */

const root = fileURLToPath(new URL('..', import.meta.url));

type Sources = Record<string, string>;
interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
  text: string;
}

/**
 * Every relative import of a file, resolved to a path of the tree: static imports and re-exports,
 * `import type`, dynamic `import()` and `typeof import()` types. Read through the TypeScript parser,
 * so braces and quotes in strings or comments never fool it.
 */
function importsOf(path: string, text: string): Import[] {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: Import[] = [];
  const add = (specifier: ts.Node, typeOnly: boolean, node: ts.Node) => {
    if (!ts.isStringLiteralLike(specifier) || !specifier.text.startsWith('.')) return;
    const to = posix.normalize(posix.join(posix.dirname(path), specifier.text)).replace(/\.js$/, '.ts');
    found.push({ from: path, to, typeOnly, text: node.getText(file).replace(/\s+/g, ' ') });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      const everyNameIsType = !!named && named.length > 0 && !clause?.name && named.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, !!clause && (clause.isTypeOnly || everyNameIsType), node);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
      add(node.moduleSpecifier, node.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)), node);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true, node);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0]) {
      add(node.arguments[0], false, node);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** The import cycles of a tree, each as the chain of files that closes it (a → b → a). */
function importCycles(sources: Sources): string[][] {
  const edges = new Map<string, string[]>();
  for (const [path, text] of Object.entries(sources)) edges.set(path, [...new Set(importsOf(path, text).map((i) => i.to))].filter((to) => to in sources));
  const cycles: string[][] = [];
  const done = new Set<string>();
  const stack: string[] = [];
  const walk = (path: string): void => {
    const at = stack.indexOf(path);
    if (at >= 0) {
      cycles.push([...stack.slice(at), path]);
      return;
    }
    if (done.has(path)) return;
    stack.push(path);
    for (const to of edges.get(path) ?? []) walk(to);
    stack.pop();
    done.add(path);
  };
  for (const path of [...edges.keys()].sort()) walk(path);
  return cycles;
}

/**
 * The unit a file belongs to: its folder under src/ (stores/typeorm/x.ts is 'stores'), or, for a
 * file at the top, its name (errors, options, constants; index and typeorm are the entries).
 */
function unitOf(path: string): string {
  const parts = path.split('/');
  return parts.length > 2 ? parts[1] : parts[1].replace(/\.ts$/, '');
}

/**
 * What each unit may import besides itself: the layers module → nest → request → session →
 * {stores, crypto, http, options, errors, constants}, stores → {crypto, errors}, and the leaves.
 * errors.ts is the floor every unit may stand on; `typeOnly` lists what a unit may use as types only.
 */
const BELOW_SESSION = ['stores', 'crypto', 'http', 'options', 'errors', 'constants'];
const ALLOWED: Record<string, { any: string[]; typeOnly?: string[] }> = {
  // socket: start-up registers the HTTP server, whose WebSocket handshakes find their application.
  module: { any: ['nest', 'socket', 'request', 'session', ...BELOW_SESSION] },
  nest: { any: ['socket', 'request', 'session', ...BELOW_SESSION] },
  // WebSocket messages: a request context over the socket's handshake.
  socket: { any: ['request', 'session', ...BELOW_SESSION] },
  request: { any: ['session', ...BELOW_SESSION] },
  session: { any: BELOW_SESSION },
  stores: { any: ['crypto', 'errors'] },
  // Start-up validation asks the store what it can do (isUserIndexed, isCookieSessionStore).
  options: { any: ['errors', 'stores'], typeOnly: ['session'] },
  http: { any: ['errors'] },
  crypto: { any: ['errors'] },
  errors: { any: [] },
  constants: { any: [] },
  // nestjs-lazy-session/testing: the store conformance suite, written against the store contract only.
  testing: { any: ['stores'] },
  // OAuth 2.0 / OpenID Connect authorization requests kept in a session: through the public handle only.
  oauth: { any: ['errors'], typeOnly: ['session'] },
  // nestjs-lazy-session/passport: Passport's login guard and passport-oauth2's state store, over the above.
  passport: { any: ['oauth', 'nest', 'request', 'http', 'errors'], typeOnly: ['session'] },
  // The express-session-shaped req.session, opted into per route (middleware or guard).
  compat: { any: ['nest', 'request', 'http', 'errors'], typeOnly: ['session'] },
};
/** The package's entries: they only re-export, from anywhere. */
const ENTRIES = new Set(['index', 'typeorm']);

/** Every import that goes against ALLOWED, as "from → to (the import)"; a unit not in the map is an offender too. */
function forbiddenImports(sources: Sources): string[] {
  const offenders: string[] = [];
  for (const [path, text] of Object.entries(sources)) {
    const unit = unitOf(path);
    if (ENTRIES.has(unit)) continue;
    const rule = ALLOWED[unit];
    if (!rule) {
      offenders.push(`${path}: unit '${unit}' has no place in the layout (add it to ALLOWED)`);
      continue;
    }
    for (const i of importsOf(path, text)) {
      const target = unitOf(i.to);
      const ok = target === unit || rule.any.includes(target) || (i.typeOnly && !!rule.typeOnly?.includes(target));
      if (!ok) offenders.push(`${path} → ${i.to} (${unit} may not import ${target}${rule.typeOnly?.includes(target) ? ' except as types' : ''}): ${i.text}`);
    }
  }
  return offenders.sort();
}

interface ClassSize {
  name: string;
  path: string;
  lines: number;
}

/** Every class (declaration or expression) with its length in lines, from `class` to its closing brace; biggest first. */
function classSizes(sources: Sources): ClassSize[] {
  const sizes: ClassSize[] = [];
  for (const [path, text] of Object.entries(sources)) {
    const file = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const visit = (node: ts.Node): void => {
      if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) {
        const first = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
        const last = file.getLineAndCharacterOfPosition(node.getEnd()).line;
        sizes.push({ name: node.name?.text ?? '(anonymous class)', path, lines: last - first + 1 });
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return sizes.sort((a, b) => b.lines - a.lines);
}

const MAX_CLASS_LINES = 200;

function readSources(dir: string): Sources {
  const out: Sources = {};
  for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const full = join(entry.parentPath ?? dirname(join(root, dir, entry.name)), entry.name);
    out[relative(root, full).split('\\').join('/')] = readFileSync(full, 'utf8');
  }
  return out;
}

describe('architecture checks (on synthetic trees)', () => {
  it('reads every kind of relative import, and which ones are types only', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "import { type C, type D } from './c.js';",
      "import { type E, f } from './e.js';",
      "export { g } from './g.js';",
      "export type { H } from './h.js';",
      "import './side.js';",
      "const m = await import('./dyn.js');",
      "let t: typeof import('./typed.js');",
      "import { readFileSync } from 'node:fs';",
      "const s = \"import { x } from './in-a-string.js'\"; // import { y } from './in-a-comment.js'",
      'function f() { return { a: "}" }; }',
    ].join('\n');
    expect(importsOf('src/x/file.ts', text).map((i) => [i.to, i.typeOnly])).toEqual([
      ['src/x/a.ts', false],
      ['src/b.ts', true],
      ['src/x/c.ts', true],
      ['src/x/e.ts', false],
      ['src/x/g.ts', false],
      ['src/x/h.ts', true],
      ['src/x/side.ts', false],
      ['src/x/dyn.ts', false],
      ['src/x/typed.ts', true],
    ]);
  });

  it('finds a cycle, also one closed by `import type`, and none in a tree without', () => {
    const acyclic = { 'src/a.ts': "import { b } from './b.js';", 'src/b.ts': "import { c } from './c.js';", 'src/c.ts': '' };
    expect(importCycles(acyclic)).toEqual([]);
    const typeCycle = { ...acyclic, 'src/c.ts': "import type { A } from './a.js';" };
    expect(importCycles(typeCycle)).toEqual([['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/a.ts']]);
    const deep = { 'src/x/a.ts': "export { b } from '../y/b.js';", 'src/y/b.ts': "const a = () => import('../x/a.js');" };
    expect(importCycles(deep)).toEqual([['src/x/a.ts', 'src/y/b.ts', 'src/x/a.ts']]);
  });

  it('passes imports that follow the arrows, and names every one that does not', () => {
    const legal = {
      'src/module/m.ts': "import { N } from '../nest/n.js'; import { S } from '../session/s.js';",
      'src/nest/n.ts': "import { R } from '../request/r.js'; import { K } from '../constants.js';",
      'src/request/r.ts': "import { S } from '../session/s.js'; import { H } from '../http/h.js';",
      'src/session/s.ts': "import { T } from '../stores/typeorm/t.js'; import { O } from '../options.js'; import { X } from './x.js';",
      'src/stores/typeorm/t.ts': "import { C } from '../../crypto/c.js'; import { E } from '../../errors.js'; import { St } from '../store.js';",
      'src/options.ts': "import type { St } from './stores/store.js'; import type { Ev } from './session/events.js'; import { E } from './errors.js';",
      'src/crypto/c.ts': "import { E } from '../errors.js';",
      'src/index.ts': "export { M } from './module/m.js';",
    };
    expect(forbiddenImports(legal)).toEqual([]);
    const illegal = {
      ...legal,
      'src/session/s.ts': "import { R } from '../request/r.js';",
      'src/stores/t.ts': "import { O } from '../options.js';",
      'src/options.ts': "import { Handle } from './session/handle.js';",
      'src/http/h.ts': "import type { O } from '../options.js';",
      'src/extra/e.ts': '',
    };
    expect(forbiddenImports(illegal)).toEqual([
      "src/extra/e.ts: unit 'extra' has no place in the layout (add it to ALLOWED)",
      "src/http/h.ts → src/options.ts (http may not import options): import type { O } from '../options.js';",
      "src/options.ts → src/session/handle.ts (options may not import session except as types): import { Handle } from './session/handle.js';",
      "src/session/s.ts → src/request/r.ts (session may not import request): import { R } from '../request/r.js';",
      "src/stores/t.ts → src/options.ts (stores may not import options): import { O } from '../options.js';",
    ]);
  });

  it('measures classes from `class` to their closing brace, braces in strings and nested classes included', () => {
    const body = (n: number) => Array.from({ length: n }, (_, i) => `  m${i}() { return '}'; }`).join('\n');
    const sources = {
      'src/small.ts': `export class Small {\n${body(197)}\n}\n`,
      'src/big.ts': `/** doc */\nexport abstract class Big<T> extends Small implements X {\n${body(199)}\n  inner = class {\n    x = '{';\n  };\n}\n`,
    };
    expect(classSizes(sources)).toEqual([
      { name: 'Big', path: 'src/big.ts', lines: 204 },
      { name: 'Small', path: 'src/small.ts', lines: 199 },
      { name: '(anonymous class)', path: 'src/big.ts', lines: 3 },
    ]);
  });
});

describe('architecture of src/', () => {
  const sources = readSources('src');

  it('reads the whole tree', () => {
    expect(Object.keys(sources)).toEqual(expect.arrayContaining(['src/index.ts', 'src/errors.ts', 'src/options.ts', 'src/session/handle.ts']));
    expect(importsOf('src/index.ts', sources['src/index.ts']).length).toBeGreaterThan(10);
  });

  it('has no import cycle among its files (`import type` included)', () => {
    expect(importCycles(sources).map((c) => c.join(' → '))).toEqual([]);
  });

  it('imports only along the arrows: module → nest → request → session → {stores, crypto, http, options, errors, constants}', () => {
    expect(forbiddenImports(sources)).toEqual([]);
  });

  it(`has no class of ${MAX_CLASS_LINES} lines or more`, () => {
    const sizes = classSizes(sources);
    expect(sizes.length).toBeGreaterThan(10);
    expect(sizes.filter((c) => c.lines >= MAX_CLASS_LINES).map((c) => `${c.name} (${c.path}): ${c.lines} lines`)).toEqual([]);
  });
});

describe('the public surface', () => {
  it("the README's API reference names every export of the root entry, types included", () => {
    const index = ts.createSourceFile('index.ts', readFileSync(join(root, 'src/index.ts'), 'utf8'), ts.ScriptTarget.ES2022, true);
    const names = index.statements.flatMap((s) => (ts.isExportDeclaration(s) && s.exportClause && ts.isNamedExports(s.exportClause) ? s.exportClause.elements.map((e) => e.name.text) : []));
    expect(names.length).toBeGreaterThan(30);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## API reference\n'), readme.indexOf('\n## ', readme.indexOf('\n## API reference\n') + 1));
    const quoted = [...section.matchAll(/`([^`]+)`/g)].map((m) => m[1]).join(' ');
    expect(names.filter((name) => !new RegExp(`\\b${name}\\b`).test(quoted))).toEqual([]);
  });
});
