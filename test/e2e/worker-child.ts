/**
 * Runs the worker handler on one SQS event in its own process, and kills that process with
 * SIGKILL right after its first removal batch is journaled: a worker dying mid-shard, at a moment
 * fixed by what it has done rather than by how fast the machine is.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { handler } from '../../functions/handlers/worker.js';
import { lambdaContext } from '../support/aws.js';

const send = S3Client.prototype.send;
S3Client.prototype.send = async function (this: S3Client, command: { input?: { Key?: string } }, ...rest: unknown[]) {
  const output = await (send as (...args: unknown[]) => Promise<unknown>).call(this, command, ...rest);
  if (command.constructor.name === 'PutObjectCommand' && command.input?.Key?.includes('/batches/')) process.kill(process.pid, 'SIGKILL');
  return output;
} as typeof send;

const event = JSON.parse(process.argv[2]!) as Parameters<typeof handler>[0];
await handler(event, lambdaContext('worker'));
