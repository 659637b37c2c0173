import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { pipelineContext, type PipelineContext } from '../pipeline/context.js';
import { FinalizeRequestSchema, parsePayload, ResultMessageSchema, WorkMessageSchema } from '../pipeline/messages.js';
import { finalizeOverdue, onDeadLetter, onShardDone } from '../pipeline/report-job.js';
import { logger } from '../pipeline/logger.js';

const processor = new BatchProcessor(EventType.SQS);
let context: PipelineContext | undefined;

/** Results-queue messages carry a status; work messages arriving here come from the work dead-letter queue. */
async function reportRecord(record: SQSRecord): Promise<void> {
  const ctx = (context ??= pipelineContext());
  const body: unknown = JSON.parse(record.body);
  const report =
    typeof body === 'object' && body !== null && 'status' in body
      ? await onShardDone(ctx, parsePayload(ResultMessageSchema, body, 'result message'))
      : await onDeadLetter(ctx, parsePayload(WorkMessageSchema, body, 'dead-lettered work message'));
  if (report) logger.info('run reported', { runId: report.run_id, complete: report.complete, errors: report.errors.length });
}

export const handler = middy(async (event: SQSEvent | { action: string }, lambdaContext: Context): Promise<SQSBatchResponse | { reported: string[] }> => {
  // One at a time: records of the same run must not race to write its report.
  if ('Records' in event) return processPartialResponse(event, reportRecord, processor, { context: lambdaContext, processInParallel: false });
  parsePayload(FinalizeRequestSchema, event, 'reporter payload');
  const reports = await finalizeOverdue((context ??= pipelineContext()));
  return { reported: reports.map((r) => r.run_id) };
}).use(injectLambdaContext(logger));
