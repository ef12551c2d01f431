import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The stand-ins play other companies' systems: they may use the product's types and helpers, but
 * the product must never depend on them, or it would ship a fake partner.
 */
const root = path.resolve(__dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

describe('stand-ins/', () => {
  it('is never imported from src/', () => {
    const standIns = path.join(root, 'stand-ins');
    const importing = sourceFiles(path.join(root, 'src')).filter((file) =>
      [...readFileSync(file, 'utf8').matchAll(/from '(\.[^']*)'/g)].some(([, spec]) => {
        const target = path.resolve(path.dirname(file), spec!);
        return target === standIns || target.startsWith(`${standIns}${path.sep}`);
      }),
    );
    expect(importing.map((f) => path.relative(root, f))).toEqual([]);
  });
});
