/**
 * The layout rules of DESIGN.md ("Layout"), checked on the source text: the run folder's paths are
 * built in one module, the engine knows nothing of the stores, databases, configuration, Lambda
 * or the AWS SDK, and the handlers stay thin. Each violation names the file and the line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUN_FOLDER_MODULE = 'functions/engine/run/run-folder.ts';
const HANDLER_MAX_LINES = 60;

/** Folders of functions/ that the engine must not import: it reaches them only through its ports. */
const OUTSIDE_ENGINE = ['stores', 'catalog', 'pipeline', 'handlers', 'config', 'cli', 'demo'].map((d) => `functions/${d}/`);
const OUTSIDE_ENGINE_FILES = ['functions/cli.ts'];
/** Packages of the world outside the engine: the AWS SDK, Lambda and its middleware, database drivers. */
const FORBIDDEN_PACKAGES = [/^@aws-sdk\//, /^@aws-lambda-powertools\//, /^aws-lambda$/, /^@middy\//, /^pg$/, /^pg-query-stream$/, /^mysql2(\/|$)/, /^@electric-sql\/pglite(\/|$)/];

/** Repository-relative, `/`-separated. */
const rel = (file: string): string => relative(REPO, file).split(sep).join('/');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => rel(join(e.parentPath, e.name)))
    .sort();
}

function parse(file: string, text: string): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
}

function walk(node: ts.Node, visit: (node: ts.Node) => void): void {
  visit(node);
  node.forEachChild((child) => walk(child, visit));
}

const lineOf = (source: ts.SourceFile, node: ts.Node): number => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;

/**
 * Strings (quoted, or the literal parts of a template) that start a run-folder path: `runs/…` or
 * `locks/…`, at the start or after a `/`. Comments are not strings and are not checked.
 */
function runFolderPathStrings(file: string, text: string): string[] {
  const source = parse(file, text);
  const found: string[] = [];
  walk(source, (node) => {
    const literal =
      ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node);
    if (!literal) return;
    const value = (node as ts.LiteralLikeNode).text;
    if (/(^|\/)(runs|locks)\//.test(value)) found.push(`${file}:${lineOf(source, node)}: builds a run-folder path (${JSON.stringify(value)}); only ${RUN_FOLDER_MODULE} may`);
  });
  return found;
}

/** Every module a file imports or re-exports (statically or with `import()`), with its line. */
function importsOf(source: ts.SourceFile): { specifier: string; line: number }[] {
  const found: { specifier: string; line: number }[] = [];
  walk(source, (node) => {
    let specifier: ts.Expression | undefined;
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) specifier = node.moduleSpecifier;
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) specifier = node.moduleReference.expression;
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) specifier = node.arguments[0];
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) specifier = node.argument.literal as ts.Expression;
    if (specifier && ts.isStringLiteralLike(specifier)) found.push({ specifier: specifier.text, line: lineOf(source, node) });
  });
  return found;
}

/** Imports of a file under functions/engine/ that reach outside the engine. */
function forbiddenEngineImports(file: string, text: string): string[] {
  const found: string[] = [];
  for (const { specifier, line } of importsOf(parse(file, text))) {
    if (specifier.startsWith('.')) {
      const target = rel(resolve(REPO, dirname(file), specifier)).replace(/\.js$/, '.ts');
      if (OUTSIDE_ENGINE.some((d) => target.startsWith(d)) || OUTSIDE_ENGINE_FILES.includes(target)) {
        found.push(`${file}:${line}: imports '${specifier}' (${target}); the engine reaches it only through its ports`);
      }
    } else if (FORBIDDEN_PACKAGES.some((p) => p.test(specifier))) {
      found.push(`${file}:${line}: imports the package '${specifier}'; the engine knows no SDK, Lambda or database driver`);
    }
  }
  return found;
}

/** A handler of HANDLER_MAX_LINES lines or more, named at the first line past the limit. */
function fatHandler(file: string, text: string): string[] {
  const lines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
  return lines < HANDLER_MAX_LINES
    ? []
    : [`${file}:${HANDLER_MAX_LINES}: the handler has ${lines} lines; handlers stay under ${HANDLER_MAX_LINES} (parse, call a role, answer)`];
}

const read = (file: string): string => readFileSync(join(REPO, file), 'utf8');

describe('layout rules of the source tree', () => {
  it('Given functions/**, When its strings are read, Then no run-folder path is built outside the run-folder module', () => {
    const files = sourceFiles('functions').filter((f) => f !== RUN_FOLDER_MODULE);
    expect(files.length).toBeGreaterThan(20);
    expect(files.flatMap((f) => runFolderPathStrings(f, read(f)))).toEqual([]);
    // The rule sees the module that does build them.
    expect(runFolderPathStrings(RUN_FOLDER_MODULE, read(RUN_FOLDER_MODULE)).length).toBeGreaterThan(5);
  });

  it('Given functions/engine/**, When its imports are read, Then none reaches the stores, catalogs, adapters, handlers, configuration, SDK or Lambda', () => {
    const files = sourceFiles('functions/engine');
    expect(files).toContain('functions/engine/run/scanner.ts');
    expect(files.flatMap((f) => forbiddenEngineImports(f, read(f)))).toEqual([]);
  });

  it(`Given functions/handlers/*.ts, When their lines are counted, Then each is under ${HANDLER_MAX_LINES}`, () => {
    const files = readdirSync(join(REPO, 'functions/handlers'))
      .filter((name) => name.endsWith('.ts'))
      .map((name) => `functions/handlers/${name}`);
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(files.flatMap((f) => fatHandler(f, read(f)))).toEqual([]);
  });
});

describe('the layout rules catch what they are about', () => {
  it('Given a path built in a quoted string or a template outside the module, When checked, Then the file and line are named; a comment is not', () => {
    const text = [
      "/** `runs/<id>/plan.json` is described here. */",
      "const a = 'runs/' + id;",
      'const b = `runs/${id}/report.json`;',
      'const c = `${root}/locks/${id}.json`;',
      'const d = "latest.json"; // runs/ in a comment',
    ].join('\n');
    expect(runFolderPathStrings('functions/pipeline/example.ts', text)).toEqual([
      expect.stringMatching(/^functions\/pipeline\/example\.ts:2: /),
      expect.stringMatching(/^functions\/pipeline\/example\.ts:3: /),
      expect.stringMatching(/^functions\/pipeline\/example\.ts:4: /),
    ]);
  });

  it('Given an engine file importing a store, the configuration, an adapter, the SDK or Lambda types, When checked, Then each import is named with its line', () => {
    const text = [
      "import { ConfigurationError } from '../model/errors.js';",
      "import { openStore } from '../../stores/index.js';",
      "import type { SQSEvent } from 'aws-lambda';",
      "export { readSettings } from '../../pipeline/settings.js';",
      "const s3 = await import('@aws-sdk/client-s3');",
      "import { loadDjConfig } from '../../config/datajoint.js';",
      "import pLimit from 'p-limit';",
    ].join('\n');
    const found = forbiddenEngineImports('functions/engine/run/example.ts', text);
    expect(found.map((v) => v.split(': ')[0])).toEqual([
      'functions/engine/run/example.ts:2',
      'functions/engine/run/example.ts:3',
      'functions/engine/run/example.ts:4',
      'functions/engine/run/example.ts:5',
      'functions/engine/run/example.ts:6',
    ]);
    expect(found[0]).toContain('functions/stores/index.ts');
  });

  it(`Given a handler of ${HANDLER_MAX_LINES} lines, When checked, Then it is named; one of ${HANDLER_MAX_LINES - 1} is not`, () => {
    const lines = (n: number): string => `${Array.from({ length: n }, (_, i) => `// ${i}`).join('\n')}\n`;
    expect(fatHandler('functions/handlers/example.ts', lines(HANDLER_MAX_LINES - 1))).toEqual([]);
    expect(fatHandler('functions/handlers/example.ts', lines(HANDLER_MAX_LINES))).toEqual([
      expect.stringMatching(/^functions\/handlers\/example\.ts:60: the handler has 60 lines/),
    ]);
  });
});
