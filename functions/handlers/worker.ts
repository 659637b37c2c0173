import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { parser } from '@aws-lambda-powertools/batch/parser';
import type { ParsedRecord } from '@aws-lambda-powertools/batch/types';
import type { SqsRecord } from '@aws-lambda-powertools/parser/types';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import { engineDependencies, pipelineContext, type PipelineContext } from '../pipeline/context.js';
import { WorkMessageSchema, type WorkMessage } from '../pipeline/messages.js';
import { recordShardFailure, workOnShard } from '../engine/run/worker.js';
import { describeError } from '../engine/model/errors.js';
import { logger } from '../pipeline/logger.js';

const processor = new BatchProcessor(EventType.SQS, { parser, innerSchema: WorkMessageSchema, transformer: 'json', logger });
let context: PipelineContext | undefined;

/**
 * One shard per message. A failed shard goes back to SQS soon (not after the whole visibility
 * timeout); on its last delivery it is recorded as failed, so its run is reported as partial,
 * and the message moves on to the dead-letter queue, where it stays for an alarm and a redrive.
 */
async function sweepRecord(record: ParsedRecord<SqsRecord, WorkMessage>, lambda?: Context): Promise<void> {
  const ctx = (context ??= pipelineContext());
  const { runId, shardId } = record.body;
  try {
    const remainingMs = lambda ? { remainingMs: () => lambda.getRemainingTimeInMillis() } : {};
    const result = await workOnShard({ ...(await engineDependencies(ctx)), ...remainingMs }, runId, shardId);
    logger.info('shard swept', { runId, shardId, totals: result?.totals, errors: result?.errors });
  } catch (error) {
    logger.error('shard failed', { runId, shardId, error: error as Error });
    const deliveries = Number(record.attributes.ApproximateReceiveCount);
    if (deliveries >= ctx.settings.maxReceiveCount) {
      await recordShardFailure(await engineDependencies(ctx), runId, shardId, `failed on every one of ${deliveries} deliveries: ${describeError(error)}`).catch(
        (failure: unknown) => logger.error('could not record the shard failure', { runId, shardId, error: failure as Error }),
      );
    }
    await ctx.clients.sqs
      .send(new ChangeMessageVisibilityCommand({ QueueUrl: ctx.settings.workQueueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: ctx.settings.retryDelaySeconds }))
      .catch(() => undefined);
    throw error;
  }
}

export const handler = middy(
  async (event: SQSEvent, lambdaContext: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, sweepRecord, processor, { context: lambdaContext }),
).use(injectLambdaContext(logger));
