import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { WorkQueue } from '../engine/run/ports.js';
import type { ResultMessage, WorkMessage } from './messages.js';

const SQS_BATCH = 10;

/** Shard messages on the work queue; "shard done" notices on the results queue, which the reporter reads. */
export class SqsWorkQueue implements WorkQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly workQueueUrl: string,
    private readonly resultsQueueUrl: string,
  ) {}

  async sendShards(runId: string, shardIds: string[]): Promise<void> {
    for (let i = 0; i < shardIds.length; i += SQS_BATCH) {
      const entries = shardIds.slice(i, i + SQS_BATCH).map((shardId, j) => {
        const message: WorkMessage = { runId, shardId };
        return { Id: String(i + j), MessageBody: JSON.stringify(message) };
      });
      const response = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.workQueueUrl, Entries: entries }));
      if (response.Failed && response.Failed.length > 0) {
        throw new Error(`could not queue ${response.Failed.length} shard messages: ${response.Failed.map((f) => `${f.Code} ${f.Message ?? ''}`).join('; ')}`);
      }
    }
  }

  async resendShard(runId: string, shardId: string): Promise<void> {
    const message: WorkMessage = { runId, shardId };
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.workQueueUrl, MessageBody: JSON.stringify(message) }));
  }

  async sendShardDone(runId: string, shardId: string): Promise<void> {
    const done: ResultMessage = { runId, shardId, status: 'done' };
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.resultsQueueUrl, MessageBody: JSON.stringify(done) }));
  }
}
