import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { pipelineContext, type PipelineContext } from '../pipeline/context.js';
import { parsePayload, WorkMessageSchema } from '../pipeline/messages.js';
import { retrySoon, sweepMessage } from '../pipeline/sweep-job.js';
import { logger } from '../pipeline/logger.js';

const processor = new BatchProcessor(EventType.SQS);
let context: PipelineContext | undefined;

async function sweepRecord(record: SQSRecord): Promise<void> {
  const ctx = (context ??= pipelineContext());
  const message = parsePayload(WorkMessageSchema, JSON.parse(record.body), 'work message');
  try {
    const result = await sweepMessage(ctx, message);
    logger.info('shard swept', { ...message, totals: result?.totals, errors: result?.errors });
  } catch (error) {
    logger.error('shard failed', { ...message, error: error as Error });
    await retrySoon(ctx, record.receiptHandle).catch(() => undefined);
    throw error;
  }
}

/** One shard per message; a failed shard is reported back to SQS, which retries it and finally dead-letters it. */
export const handler = middy(
  async (event: SQSEvent, lambdaContext: Context): Promise<SQSBatchResponse> => processPartialResponse(event, sweepRecord, processor, { context: lambdaContext }),
).use(injectLambdaContext(logger));
