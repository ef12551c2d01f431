import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatabaseError } from 'pg';
import { censorPersonalFields, serializeError } from '../../src/logger';
import { pipelines } from '../../src/pipelines';

const root = path.resolve(__dirname, '..', '..');

describe('log redaction', () => {
  it("censors every pipeline's declared personal fields wherever they appear in a logged object, and keeps the identifiers", () => {
    const intake = {
      prescriptionId: 'rx_1',
      patient: { patientId: 'pat_1', name: 'Jane Doe', dateOfBirth: '1980-01-01', address: { postalCode: '10115' } },
    };
    const logged = censorPersonalFields({ event: intake, nested: [{ deeper: { email: 'jane@example.com', dateOfBirth: '1980-01-01' } }], userId: 'u_1' });
    expect(logged).toEqual({
      event: { prescriptionId: 'rx_1', patient: '[redacted]' },
      nested: [{ deeper: { email: '[redacted]', dateOfBirth: '[redacted]' } }],
      userId: 'u_1',
    });
    // The caller's object is not changed.
    expect(intake.patient.name).toBe('Jane Doe');
  });

  it("censors every field the intake's schema marks personal, the insurance member ID and a name outside `patient` included", () => {
    const intakeFields = pipelines.find((p) => p.name === 'prescription-fulfillment')!.settings.personalFields;
    expect(intakeFields).toEqual(expect.arrayContaining(['patient', 'name', 'dateOfBirth', 'address', 'memberId']));
    const logged = censorPersonalFields({ insurance: { payerId: 'payer-standard', memberId: 'M-778812' }, patientName: 'x', name: 'Jane Q Public' });
    expect(logged).toEqual({ insurance: { payerId: 'payer-standard', memberId: '[redacted]' }, patientName: 'x', name: '[redacted]' });
  });

  it('censors exactly the fields the pipelines declare, and leaves errors to the serializers', () => {
    const declared = pipelines.flatMap((p) => p.settings.personalFields);
    expect(declared.length).toBeGreaterThan(0);
    const logged = censorPersonalFields(Object.fromEntries(declared.map((field) => [field, 'personal'])));
    expect(Object.values(logged)).toEqual(declared.map(() => '[redacted]'));
    const err = new Error('boom');
    expect(censorPersonalFields({ err }).err).toBe(err);
  });

  it("a process's log lines carry no personal field, whether it came in a line's object or an activity logger's bindings", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'log-redaction-')), 'lines.log');
    const script = `
      require('./src/pipelines');
      const { activityLogger, logger } = require('./src/logger');
      activityLogger({ patient: { name: 'Jane Doe' } }).info({ event: { prescriptionId: 'rx_1', address: { line1: '1 Harbour Street' } } }, 'intake');
      logger.info({ user: { email: 'jane@example.com' } }, 'booking');`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, env: { ...process.env, LOG_FILE: file, LOG_LEVEL: 'info' }, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const lines = readFileSync(file, 'utf8');
    expect(lines).toContain('rx_1');
    expect(lines).not.toMatch(/Jane Doe|Harbour Street|jane@example\.com/);
    expect(lines.match(/\[redacted\]/g)).toHaveLength(3);
  });

  it("censors a connection's credentials, should its options be logged: a Temporal API key, a SASL password", () => {
    const logged = censorPersonalFields({ temporal: { namespace: 'pipelines.a1b2c', apiKey: 'the-api-key' }, kafka: { sasl: { mechanism: 'plain', username: 'u', password: 'the-sasl-password' } } });
    expect(JSON.stringify(logged)).not.toMatch(/the-api-key|the-sasl-password/);
    expect(logged).toMatchObject({ temporal: { namespace: 'pipelines.a1b2c' }, kafka: { sasl: { mechanism: 'plain', username: 'u' } } });
  });

  it("logs a PostgreSQL error as its SQLSTATE and names, without the message, detail or stack line that quote the value", () => {
    const err = Object.assign(new DatabaseError('date/time field value out of range: "0000-01-01"', 60, 'error'), {
      code: '22008',
      column: 'date_of_birth',
      detail: 'Failing row contains (Jane Q Public, 0000-01-01).',
    });
    const logged = JSON.stringify(serializeError(err));
    expect(logged).not.toMatch(/0000-01-01|Jane/);
    expect(serializeError(err)).toMatchObject({ type: 'DatabaseError', code: '22008', message: 'PostgreSQL failed (SQLSTATE 22008, column date_of_birth)' });
    const other = new Error('boom');
    expect(serializeError(other)).toMatchObject({ type: 'Error', message: 'boom' });
  });
});
