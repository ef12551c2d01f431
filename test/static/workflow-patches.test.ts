import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * A run decides its patches in its first activation (src/workflows/patches.ts says why): no
 * workflow module calls `patched()` itself, and each workflow asks for its patches before it
 * awaits anything.
 */
const workflowsDir = path.resolve(__dirname, '..', '..', 'src', 'workflows');
const modules = readdirSync(workflowsDir)
  .filter((f) => f.endsWith('.ts'))
  .map((file) => ({ file, source: ts.createSourceFile(file, readFileSync(path.join(workflowsDir, file), 'utf8'), ts.ScriptTarget.Latest, true) }));

/** Every call of `name` in `source`, with the function it is in. */
function callsOf(source: ts.SourceFile, name: string): Array<{ call: ts.CallExpression; fn: ts.FunctionLikeDeclaration | undefined }> {
  const found: Array<{ call: ts.CallExpression; fn: ts.FunctionLikeDeclaration | undefined }> = [];
  const visit = (node: ts.Node, fn: ts.FunctionLikeDeclaration | undefined) => {
    const inner = ts.isFunctionLike(node) && 'body' in node ? (node as ts.FunctionLikeDeclaration) : fn;
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === name) found.push({ call: node, fn });
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(source, undefined);
  return found;
}

/** Whether an `await` comes before `pos` in `fn`'s body (in source order, which is the order it runs here). */
function awaitsBefore(fn: ts.FunctionLikeDeclaration, pos: number): boolean {
  let found = false;
  const visit = (node: ts.Node) => {
    if (found || node.getStart() >= pos) return;
    if (ts.isFunctionLike(node) && node !== fn) return; // a nested function's awaits are its own
    if (ts.isAwaitExpression(node)) found = true;
    ts.forEachChild(node, visit);
  };
  if (fn.body) ts.forEachChild(fn.body, visit);
  return found;
}

describe("the workflows' patches", () => {
  it('are asked of patched() or deprecatePatch() only in patches.ts', () => {
    const callers = modules.flatMap(({ file, source }) =>
      ['patched', 'deprecatePatch'].flatMap((name) => (callsOf(source, name).length ? [`${file}: ${name}()`] : [])),
    );
    expect(callers).toEqual(['patches.ts: patched()']);
  });

  it('are decided by every workflow that has any, before it awaits anything', () => {
    const late = modules.flatMap(({ file, source }) =>
      callsOf(source, 'patchesOfThisRun').flatMap(({ call, fn }) =>
        !fn || awaitsBefore(fn, call.getStart()) || !fn.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
          ? [`${file}:${source.getLineAndCharacterOfPosition(call.getStart()).line + 1}`]
          : [],
      ),
    );
    expect(late).toEqual([]);
    // Operator controls take the run's patches, so each workflow that has them decides its patches.
    const undecided = modules
      .filter(({ source }) => callsOf(source, 'operatorControls').length && !callsOf(source, 'patchesOfThisRun').length)
      .map(({ file }) => file);
    expect(undecided).toEqual([]);
    expect(modules.filter(({ source }) => callsOf(source, 'patchesOfThisRun').length).length).toBeGreaterThan(1);
  });

  it('would be caught: an await before patchesOfThisRun() is found', () => {
    const source = ts.createSourceFile(
      'late.ts',
      'export async function late() { await step(); const patches = patchesOfThisRun(); }',
      ts.ScriptTarget.Latest,
      true,
    );
    const { call, fn } = callsOf(source, 'patchesOfThisRun')[0]!;
    expect(awaitsBefore(fn!, call.getStart())).toBe(true);
  });
});
