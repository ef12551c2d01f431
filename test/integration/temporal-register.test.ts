import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { temporal } from '@temporalio/proto';
import Long from 'long';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchAttributes } from '../../src/contracts/pipeline';
import { connectRealStack, eventually, type RealStack } from '../support/real-stack';

const { IndexedValueType } = temporal.api.enums.v1;

/** `npm run temporal:register` as an operator runs it, against namespaces of its own on the stack's Temporal. */
describe('temporal:register', () => {
  let stack: RealStack;
  const namespaces: string[] = [];

  const register = async (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/temporal-register.ts', ...args], { env: { ...process.env, LOG_LEVEL: 'warn' } }).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );
  const listed = async (namespace: string) =>
    (await stack.client.connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};

  beforeAll(async () => {
    stack = await connectRealStack();
  });
  afterAll(async () => {
    for (const namespace of namespaces) await stack.client.connection.operatorService.deleteNamespace({ namespace }).catch(() => undefined);
    await stack?.stop();
  });

  it('creates a new namespace with its retention and every search attribute, and run again changes nothing', async () => {
    const namespace = `register-${stack.runId}`;
    namespaces.push(namespace);

    const first = await register('--namespace', namespace, '--retention', '3d');
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain(`namespace ${namespace}: created (retention 3d)`);
    for (const key of searchAttributes) expect(first.stdout).toContain(`search attribute ${key.name} (${key.type}): added`);

    const described = await stack.client.workflowService.describeNamespace({ namespace });
    expect(Number(described.config?.workflowExecutionRetentionTtl?.seconds)).toBe(3 * 86_400);
    const attributes = await listed(namespace);
    for (const key of searchAttributes) expect(attributes[key.name]).toBe(IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]);

    // Idempotent: everything is found, nothing created or added, the retention left as it was.
    const second = await register('--namespace', namespace, '--retention', '7d');
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).toContain(`namespace ${namespace}: already there (retention 3d, left as it is)`);
    for (const key of searchAttributes) expect(second.stdout).toContain(`search attribute ${key.name} (${key.type}): already there`);
    expect(second.stdout).not.toMatch(/created|added/);
  });

  it('refuses, naming it, a search attribute registered under another type, and adds nothing', async () => {
    const namespace = `register-conflict-${stack.runId}`;
    namespaces.push(namespace);
    await stack.client.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86_400) } });
    await eventually(
      () => stack.client.connection.operatorService.addSearchAttributes({ namespace, searchAttributes: { PipelineStatus: IndexedValueType.INDEXED_VALUE_TYPE_TEXT } }).then(() => true, () => false),
      (added) => added,
      30_000,
    );

    const result = await register('--namespace', namespace);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`PipelineStatus is TEXT in namespace ${namespace}; the pipelines set it as KEYWORD`);
    expect(Object.keys(await listed(namespace)).filter((name) => searchAttributes.some((k) => k.name === name))).toEqual(['PipelineStatus']);
  });
});
