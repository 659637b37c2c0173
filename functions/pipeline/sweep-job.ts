import { ChangeMessageVisibilityCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { readPlan } from '../engine/start-run.js';
import { workShard } from '../engine/work-shard.js';
import { readReport } from '../engine/finish-run.js';
import type { ShardResult } from '../engine/tally.js';
import { engineDependencies, type PipelineContext } from './context.js';
import type { ResultMessage, WorkMessage } from './messages.js';

/**
 * The worker: sweep one shard and tell the reporter. A message delivered again after its shard
 * finished only repeats the notice; a shard interrupted midway resumes where its journal ends.
 */
export async function sweepMessage(ctx: PipelineContext, message: WorkMessage): Promise<ShardResult | null> {
  const plan = await readPlan(ctx.folder, message.runId);
  if (await readReport(ctx.folder, message.runId)) return null;
  const result = await workShard(await engineDependencies(ctx), plan, message.shardId);
  const done: ResultMessage = { ...message, status: 'done' };
  await ctx.clients.sqs.send(new SendMessageCommand({ QueueUrl: ctx.settings.resultsQueueUrl, MessageBody: JSON.stringify(done) }));
  return result;
}

/** After a failure, let the message come back soon instead of after the whole visibility timeout. */
export async function retrySoon(ctx: PipelineContext, receiptHandle: string, seconds = ctx.settings.retryDelaySeconds): Promise<void> {
  await ctx.clients.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: ctx.settings.workQueueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }));
}
