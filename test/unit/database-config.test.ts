import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { asOwner, loadConfig } from '../../src/config';

/** Where each process's PostgreSQL role and password come from (src/config.ts). */
describe('the database configuration', () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'database-config-'));
  const secrets = path.join(stateDir, 'secrets');
  // The files the local stack writes (scripts/payload-keys.ts ensure).
  mkdirSync(secrets, { recursive: true });
  writeFileSync(path.join(secrets, 'postgres-app-password'), 'app-secret\n');
  writeFileSync(path.join(secrets, 'postgres-owner-password'), 'owner-secret\n');

  it("connects as the application role with the local stack's password, and migrates as the owner on the same server", () => {
    const config = loadConfig({ STACK_STATE_DIR: stateDir, DATABASE_URL: 'postgres://pipelines_app@db.example:6543/pipelines' });
    expect(config.DATABASE_URL).toBe('postgres://pipelines_app:app-secret@db.example:6543/pipelines');
    expect(config.MIGRATION_DATABASE_URL).toBe('postgres://pipelines_owner:owner-secret@db.example:6543/pipelines');
    expect(asOwner(config).DATABASE_URL).toBe(config.MIGRATION_DATABASE_URL);
  });

  it('defaults to the application role on the local stack', () => {
    expect(new URL(loadConfig({ STACK_STATE_DIR: stateDir }).DATABASE_URL).username).toBe('pipelines_app');
  });

  it('keeps a password the URL has, and leaves it out when the process was given no password file', () => {
    const config = loadConfig({
      STACK_STATE_DIR: stateDir,
      DATABASE_URL: 'postgres://someone:given@db.example/pipelines',
      MIGRATION_DATABASE_PASSWORD_FILE: path.join(stateDir, 'not-mounted'),
    });
    expect(config.DATABASE_URL).toBe('postgres://someone:given@db.example/pipelines');
    expect(config.MIGRATION_DATABASE_URL).toBe('postgres://pipelines_owner@db.example/pipelines');
  });
});
