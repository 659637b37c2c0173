import { z } from 'zod';
import { ConfigurationError } from '../engine/model/errors.js';
import { DEFAULT_RUN_OPTIONS } from '../engine/model/options.js';
import type { RunRequest } from '../engine/run/scanner.js';
import type { PipelineSettings } from './settings.js';

/** A run started by the schedule or by hand from the console. Every field is optional. */
export const ScanRequestSchema = z.strictObject({
  source: z.string().max(64).optional(),
  schemas: z.array(z.string().min(1).max(64)).max(1000).optional(),
  store: z.string().min(1).max(128).optional(),
  mode: z.enum(['dry-run', 'collect']).optional(),
  graceHours: z.number().min(0).max(24 * 365).optional(),
  removal: z.enum(['quarantine', 'delete']).optional(),
  retentionHours: z.number().min(0).max(24 * 365).optional(),
  maxOrphanFraction: z.number().min(0).max(1).optional(),
  minReferenceRatio: z.number().min(0).max(1).optional(),
  approveRun: z.string().regex(/^[0-9A-Za-z-]+$/, 'must be a run id such as 2026-11-23T03-00-00-000Z-a1b2c3').optional(),
});
export type ScanRequest = z.infer<typeof ScanRequestSchema>;

/** The scanner's request from its payload, with the stack's defaults for what it leaves out. */
export function runRequestOf(request: ScanRequest, defaults: PipelineSettings['defaults']): RunRequest {
  if (request.approveRun) {
    return {
      approveRun: request.approveRun,
      removal: request.removal ?? defaults.removal,
      ...(request.graceHours !== undefined ? { graceHours: request.graceHours } : {}),
    };
  }
  const store = request.store ?? defaults.store;
  return {
    options: {
      ...DEFAULT_RUN_OPTIONS,
      schemas: request.schemas ?? defaults.schemas,
      ...(store !== undefined ? { store } : {}),
      mode: request.mode ?? defaults.mode,
      graceHours: request.graceHours ?? defaults.graceHours,
      removal: request.removal ?? defaults.removal,
      retentionHours: request.retentionHours ?? defaults.retentionHours,
      ...(request.maxOrphanFraction !== undefined ? { maxOrphanFraction: request.maxOrphanFraction } : {}),
      ...(request.minReferenceRatio !== undefined ? { minReferenceRatio: request.minReferenceRatio } : {}),
    },
  };
}

export const WorkMessageSchema = z.object({ runId: z.string().min(1), shardId: z.string().min(1) });
export type WorkMessage = z.infer<typeof WorkMessageSchema>;

export const ResultMessageSchema = WorkMessageSchema.extend({ status: z.literal('done') });
export type ResultMessage = z.infer<typeof ResultMessageSchema>;

export const FinalizeRequestSchema = z.strictObject({ action: z.literal('finalize-overdue') });

export class PayloadError extends ConfigurationError {}

/** Parse or throw an error that names each wrong field and what it should be. */
export function parsePayload<T>(schema: z.ZodType<T>, payload: unknown, what: string): T {
  const result = schema.safeParse(payload);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : '(payload)';
    return `${field}: ${issue.message}`;
  });
  throw new PayloadError(`invalid ${what}: ${problems.join('; ')}`);
}
