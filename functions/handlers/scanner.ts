import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { engineDependencies, pipelineContext, type PipelineContext } from '../pipeline/context.js';
import { parsePayload, runRequestOf, ScanRequestSchema } from '../pipeline/messages.js';
import { startRun } from '../engine/run/scanner.js';
import { logger } from '../pipeline/logger.js';

let context: PipelineContext | undefined;

export type ScannerAnswer =
  | { status: 'started'; runId: string; shards: number; dryRun: boolean; approvedRun?: string }
  | { status: 'refused'; reason: string };

/** Started by the schedule, or by hand from the console with a JSON payload (every field optional). */
export const handler = middy(async (event: unknown): Promise<ScannerAnswer> => {
  const request = parsePayload(ScanRequestSchema, event ?? {}, 'scanner payload');
  const ctx = (context ??= pipelineContext());
  const outcome = await startRun(await engineDependencies(ctx), runRequestOf(request, ctx.settings.defaults));
  const answer: ScannerAnswer =
    outcome.status === 'refused'
      ? outcome
      : {
          status: 'started',
          runId: outcome.plan.runId,
          shards: outcome.plan.shards.length,
          dryRun: outcome.plan.options.mode === 'dry-run',
          ...(outcome.plan.approvedRun ? { approvedRun: outcome.plan.approvedRun } : {}),
        };
  logger.info(answer.status === 'started' ? 'run started' : 'run refused', { outcome: answer });
  return answer;
}).use(injectLambdaContext(logger));
