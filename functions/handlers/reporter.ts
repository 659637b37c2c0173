import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { parser } from '@aws-lambda-powertools/batch/parser';
import type { ParsedRecord } from '@aws-lambda-powertools/batch/types';
import type { SqsRecord } from '@aws-lambda-powertools/parser/types';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { pipelineContext, reporterDependencies, type PipelineContext } from '../pipeline/context.js';
import { FinalizeRequestSchema, parsePayload, ResultMessageSchema, type ResultMessage } from '../pipeline/messages.js';
import { finalizeOverdue, settleShard } from '../engine/run/reporter.js';
import { logger } from '../pipeline/logger.js';

const processor = new BatchProcessor(EventType.SQS, { parser, innerSchema: ResultMessageSchema, transformer: 'json', logger });
let context: PipelineContext | undefined;

async function reportRecord(record: ParsedRecord<SqsRecord, ResultMessage>): Promise<void> {
  const deps = reporterDependencies((context ??= pipelineContext()));
  const report = await settleShard(deps, record.body.runId, record.body.shardId);
  if (report) logger.info('run reported', { runId: report.run_id, complete: report.complete, errors: report.errors });
}

/** "Shard done" notices from the results queue, or the schedule's `{"action": "finalize-overdue"}`. */
export const handler = middy(async (event: SQSEvent | { action: string }, lambdaContext: Context): Promise<SQSBatchResponse | { reported: string[] }> => {
  // One at a time: records of the same run must not race to write its report.
  if ('Records' in event) return processPartialResponse(event, reportRecord, processor, { context: lambdaContext, processInParallel: false });
  parsePayload(FinalizeRequestSchema, event, 'reporter payload');
  const reports = await finalizeOverdue(reporterDependencies((context ??= pipelineContext())));
  return { reported: reports.map((r) => r.run_id) };
}).use(injectLambdaContext(logger));
