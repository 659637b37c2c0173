import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { pipelineContext, type PipelineContext } from '../pipeline/context.js';
import { parsePayload, ScanRequestSchema } from '../pipeline/messages.js';
import { startScan, type ScanOutcome } from '../pipeline/scan-job.js';
import { logger } from '../pipeline/logger.js';

let context: PipelineContext | undefined;

/** Started by the schedule, or by hand from the console with a JSON payload (every field optional). */
export const handler = middy(async (event: unknown): Promise<ScanOutcome> => {
  const request = parsePayload(ScanRequestSchema, event ?? {}, 'scanner payload');
  context ??= pipelineContext();
  const outcome = await startScan(context, request);
  logger.info(outcome.status === 'started' ? 'run started' : 'run refused', { outcome });
  return outcome;
}).use(injectLambdaContext(logger));
