import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import { evaluate, type PolicyRequest } from './policy-evaluator.js';
import { logicalId, makeStack, only, type Resources, TEMPLATE_TEST_TIMEOUT } from './template-helpers.js';

vi.setConfig({ testTimeout: TEMPLATE_TEST_TIMEOUT });

const ACCOUNT = '123456789012';
const OTHER_ACCOUNT = '210987654321';
const REGION = 'eu-west-1';

describe('policy simulation: CloudWatch alarms publishing to the topic', () => {
  const stack = makeStack();
  const template = Template.fromStack(stack);
  const topicId = logicalId(stack, stack.collector.topic);
  const topicArn = `arn:aws:sns:${REGION}:${ACCOUNT}:Djgc-Topic-ABC`;
  const refs = { [topicId]: topicArn, 'AWS::AccountId': ACCOUNT, 'AWS::Region': REGION, 'AWS::Partition': 'aws' };
  const [, topicPolicy] = only(template, 'AWS::SNS::TopicPolicy', { Topics: [{ Ref: topicId }] });
  const statements = topicPolicy.PolicyDocument.Statement as any[];
  const alarmArn = (account: string) => `arn:aws:cloudwatch:${REGION}:${account}:alarm:Djgc-WorkDeadLetterAlarm9FD01079-XYZ`;
  const publish = (context: Record<string, string>): PolicyRequest => ({
    service: 'cloudwatch.amazonaws.com',
    action: 'sns:Publish',
    resource: topicArn,
    context,
  });

  it('allows an alarm of this account to publish over TLS', () => {
    const context = { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': alarmArn(ACCOUNT), 'aws:SecureTransport': 'true' };
    expect(evaluate(statements, publish(context), refs)).toBe('allow');
  });

  it('denies the same request without TLS', () => {
    const context = { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': alarmArn(ACCOUNT), 'aws:SecureTransport': 'false' };
    expect(evaluate(statements, publish(context), refs)).toBe('explicit-deny');
  });

  it('does not allow CloudWatch on behalf of another account, or without a source account', () => {
    const other = { 'aws:SourceAccount': OTHER_ACCOUNT, 'aws:SourceArn': alarmArn(OTHER_ACCOUNT), 'aws:SecureTransport': 'true' };
    expect(evaluate(statements, publish(other), refs)).toBe('implicit-deny');
    expect(evaluate(statements, publish({ 'aws:SecureTransport': 'true' }), refs)).toBe('implicit-deny');
  });

  it('lets CloudWatch of this account, and no other, use the topic key', () => {
    const keyPolicy = (template.findResources('AWS::KMS::Key') as Resources)[logicalId(stack, stack.collector.topicKey)]!.Properties
      .KeyPolicy.Statement as any[];
    const useKey = (account: string): PolicyRequest => ({
      service: 'cloudwatch.amazonaws.com',
      action: 'kms:GenerateDataKey',
      resource: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234`,
      context: { 'aws:SourceAccount': account, 'aws:SecureTransport': 'true' },
    });
    expect(evaluate(keyPolicy, useKey(ACCOUNT), refs)).toBe('allow');
    expect(evaluate(keyPolicy, useKey(OTHER_ACCOUNT), refs)).toBe('implicit-deny');
  });

  it('refuses to judge what it does not understand', () => {
    expect(() => evaluate([{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*', Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } }], publish({}), refs)).toThrow(
      /IpAddress not supported/,
    );
  });
});
