import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseRoles, loadConfig } from '../../src/config';
import { createPool } from '../../src/connections';
import { migrate } from '../../src/migrate';
import { createOwnerPool } from '../support/owner-db';

/**
 * The audit log cannot be bypassed by the application (issue 18): every process connects as the
 * application role (DATABASE_URL), and here that role tries each way around the append-only
 * triggers of migrations/005 on the real stack's PostgreSQL. What the owner can still do is
 * tested too, because the README says so.
 */
describe('the application database role', () => {
  const config = loadConfig();
  const runId = randomUUID().slice(0, 8);
  const prescriptionId = `db-roles-${runId}`;
  let app: Pool;
  let owner: Pool;

  beforeAll(async () => {
    owner = createOwnerPool(config);
    await migrate(owner);
    app = createPool(config, { max: 2 });
    await app.query(
      `INSERT INTO prescription_audit_log (prescription_id, step, outcome, actor) VALUES ($1, 'probe', 'Recorded', 'database-roles.test')`,
      [prescriptionId],
    );
  });

  afterAll(async () => {
    await app?.end();
    await owner?.end();
  });

  it('is the role every process connects as: pipelines_app, no superuser, owner of no table and no member of the owner role', async () => {
    const { rows } = await app.query(
      `SELECT current_user AS role, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, pg_has_role(current_user, $1, 'MEMBER') AS owner_member,
              (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user) AS owned_tables,
              (SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'prescription_audit_log') AS audit_log_owner
         FROM pg_roles r WHERE r.rolname = current_user`,
      [databaseRoles.owner],
    );
    expect(rows).toEqual([
      {
        role: databaseRoles.app,
        rolsuper: false,
        rolcreaterole: false,
        rolcreatedb: false,
        rolbypassrls: false,
        owner_member: false,
        owned_tables: 0,
        audit_log_owner: databaseRoles.owner,
      },
    ]);
  });

  it('has an owner role for the migrations that is no superuser either and may create no role or database', async () => {
    const { rows } = await owner.query('SELECT current_user AS role, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user');
    expect(rows).toEqual([{ role: databaseRoles.owner, rolsuper: false, rolcreaterole: false, rolcreatedb: false }]);
  });

  it('may only read and append to the audit log', async () => {
    const { rows } = await app.query(
      `SELECT p AS privilege, has_table_privilege('prescription_audit_log', p) AS granted
         FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.privilege, r.granted]))).toEqual({
      SELECT: true,
      INSERT: true,
      UPDATE: false,
      DELETE: false,
      TRUNCATE: false,
      REFERENCES: false,
      TRIGGER: false,
    });
  });

  it.each([
    ['updates a row', `UPDATE prescription_audit_log SET outcome = 'Forged' WHERE prescription_id = '${prescriptionId}'`, /permission denied for table prescription_audit_log/],
    ['deletes a row', `DELETE FROM prescription_audit_log WHERE prescription_id = '${prescriptionId}'`, /permission denied for table prescription_audit_log/],
    ['truncates the log', 'TRUNCATE prescription_audit_log', /permission denied for table prescription_audit_log/],
    ['turns triggers off for its session', 'SET session_replication_role = replica', /permission denied to set parameter "session_replication_role"/],
    ['disables the triggers', 'ALTER TABLE prescription_audit_log DISABLE TRIGGER ALL', /must be owner of table prescription_audit_log/],
    ['drops a trigger', 'DROP TRIGGER prescription_audit_log_no_update_or_delete ON prescription_audit_log', /must be owner of (table|relation) prescription_audit_log/],
    [
      'replaces the trigger function',
      'CREATE OR REPLACE FUNCTION public.prescription_audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$',
      /permission denied for schema public/,
    ],
    ['takes the table over', `ALTER TABLE prescription_audit_log OWNER TO ${databaseRoles.app}`, /must be owner of table prescription_audit_log/],
  ])('is refused when it %s', async (_what, sql, error) => {
    const client = await app.connect();
    try {
      // A refusal that deleted first and failed later must not pass: it is all one transaction, rolled back.
      await client.query('BEGIN');
      await expect(client.query(sql)).rejects.toThrow(error);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    const { rows } = await app.query('SELECT outcome FROM prescription_audit_log WHERE prescription_id = $1', [prescriptionId]);
    expect(rows).toEqual([{ outcome: 'Recorded' }]);
  });

  it('may only read the codec server operators, so no process can add itself one; and only append to the access audit', async () => {
    const privileges = async (table: string) => {
      const { rows } = await app.query(
        `SELECT p AS privilege, has_table_privilege($1, p) AS granted FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p`,
        [table],
      );
      return Object.fromEntries(rows.map((r) => [r.privilege, r.granted]));
    };
    expect(await privileges('codec_operators')).toEqual({ SELECT: true, INSERT: false, UPDATE: false, DELETE: false, TRUNCATE: false });
    expect(await privileges('codec_access_audit')).toEqual({ SELECT: true, INSERT: true, UPDATE: false, DELETE: false, TRUNCATE: false });
    await expect(app.query(`INSERT INTO codec_operators (name, roles, credential_hash) VALUES ('mallory', '{decode}', 'x')`)).rejects.toThrow(
      /permission denied for table codec_operators/,
    );
  });

  it('cannot run the migrations, which would create shadow tables in its own schema, and says who must', async () => {
    await expect(migrate(app)).rejects.toThrow(
      'migrations run as the owner role (MIGRATION_DATABASE_URL, pipelines_owner), not as pipelines_app, which may not create tables in the public schema',
    );
    const { rows } = await app.query(`SELECT to_regclass('pipelines_app.schema_migrations') AS shadow`);
    expect(rows).toEqual([{ shadow: null }]);
  });

  it('gets nothing by granting itself more (PostgreSQL only warns)', async () => {
    const client = await app.connect();
    try {
      // In a transaction rolled back, so a role that could grant (a superuser) keeps nothing of it.
      await client.query('BEGIN');
      await client.query(`GRANT UPDATE, DELETE, TRUNCATE ON prescription_audit_log TO ${databaseRoles.app}`);
      const { rows } = await client.query(`SELECT has_table_privilege('prescription_audit_log', 'UPDATE, DELETE, TRUNCATE') AS granted`);
      expect(rows).toEqual([{ granted: false }]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('reads, adds and updates the rows of a table a later migration creates, and deletes none (default privileges)', async () => {
    const table = `db_roles_probe_${runId}`;
    await owner.query(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
    try {
      await app.query(`INSERT INTO ${table} VALUES (1, 'a')`);
      await app.query(`UPDATE ${table} SET note = 'b' WHERE id = 1`);
      expect((await app.query(`SELECT note FROM ${table}`)).rows).toEqual([{ note: 'b' }]);
      await expect(app.query(`DELETE FROM ${table}`)).rejects.toThrow(/permission denied/);
    } finally {
      await owner.query(`DROP TABLE ${table}`);
    }
  });

  it('cannot create objects in the schema the tables live in', async () => {
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await expect(client.query(`CREATE TABLE public.db_roles_planted_${runId} (id int)`)).rejects.toThrow(/permission denied for schema public/);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it("leaves a superuser able to skip the triggers for its session, which is why no process connects as one (the local stack's)", async () => {
    const url = new URL(config.DATABASE_URL);
    url.username = 'postgres';
    url.password = 'postgres';
    const superuser = createPool({ ...config, DATABASE_URL: url.toString() }, { max: 1 });
    const client = await superuser.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL session_replication_role = replica');
      const deleted = await client.query('DELETE FROM prescription_audit_log WHERE prescription_id = $1', [prescriptionId]);
      expect(deleted.rowCount).toBe(1);
    } finally {
      await client.query('ROLLBACK');
      client.release();
      await superuser.end();
    }
    expect((await app.query('SELECT count(*)::int AS n FROM prescription_audit_log WHERE prescription_id = $1', [prescriptionId])).rows).toEqual([{ n: 1 }]);
  });

  it('leaves the owner able to bypass the triggers, which is why no process connects as the owner', async () => {
    const client = await owner.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE prescription_audit_log DISABLE TRIGGER USER');
      const deleted = await client.query('DELETE FROM prescription_audit_log WHERE prescription_id = $1', [prescriptionId]);
      expect(deleted.rowCount).toBe(1);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    expect((await app.query('SELECT count(*)::int AS n FROM prescription_audit_log WHERE prescription_id = $1', [prescriptionId])).rows).toEqual([{ n: 1 }]);
  });
});
