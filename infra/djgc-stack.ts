import { CfnOutput, Fn, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { DjgcCollector, type DjgcCollectorProps } from './djgc-collector.js';
import { DjgcSettingsError } from './settings.js';

export interface DjgcStackProps extends StackProps, DjgcCollectorProps {
  /** The VPC by IDs, imported without lookups (for the CDK app); exclusive with `vpc`. */
  readonly vpcAttributes?: DjgcVpcAttributes;
}

export interface DjgcVpcAttributes {
  readonly vpcId: string;
  /** Subnets with a route to the database and to S3, SQS and Secrets Manager (NAT or VPC endpoints). */
  readonly subnetIds: string[];
  /** Default: the collector creates one (outbound only). */
  readonly securityGroupIds?: string[];
}

/** A stack holding one `DjgcCollector`, with the outputs an operator needs. */
export class DjgcStack extends Stack {
  readonly collector: DjgcCollector;

  constructor(scope: Construct, id: string, props: DjgcStackProps) {
    super(scope, id, props);
    const { vpcAttributes, ...collectorProps } = props;
    const network = vpcAttributes ? this.importNetwork(vpcAttributes, props) : {};
    // The id "Default" keeps the collector out of every logical ID: a stack deployed before
    // the collector was a construct of its own keeps all its resources.
    const collector = (this.collector = new DjgcCollector(this, 'Default', { ...collectorProps, ...network }));

    new CfnOutput(this, 'ReportBucketName', { value: collector.reportBucket.bucketName, description: 'Reports: runs/<runId>/report.{json,txt,html} and latest.json' });
    new CfnOutput(this, 'TopicArn', { value: collector.topic.topicArn, description: 'Notifications of finished runs and alarms' });
    new CfnOutput(this, 'ScannerFunctionName', { value: collector.scanner.functionName, description: 'Invoke this function to start a run by hand' });
    new CfnOutput(this, 'WorkDeadLetterQueueArn', { value: collector.workDeadLetterQueue.queueArn, description: 'Failed shards wait here; redrive them after a fix' });
    new CfnOutput(this, 'DashboardName', { value: collector.dashboard.dashboardName, description: 'CloudWatch dashboard of runs, queues and functions' });
    if (collector.databaseSecret instanceof secretsmanager.Secret) {
      new CfnOutput(this, 'DatabaseSecretArn', { value: collector.databaseSecret.secretArn, description: 'Fill in the database connection before the first run' });
    }
    if (collector.databaseClientSecurityGroup) {
      new CfnOutput(this, 'DatabaseClientSecurityGroupId', {
        value: collector.databaseClientSecurityGroup.securityGroupId,
        description: 'Allow this security group on the database port',
      });
    }
  }

  private importNetwork(
    attrs: DjgcVpcAttributes,
    props: DjgcStackProps,
  ): Pick<DjgcCollectorProps, 'vpc' | 'vpcSubnets' | 'securityGroups'> {
    if (props.vpc) throw new DjgcSettingsError('Give either vpc or vpcAttributes, not both.');
    if (!/^vpc-([0-9a-f]{8}|[0-9a-f]{17})$/.test(attrs.vpcId)) {
      throw new DjgcSettingsError(`vpcAttributes.vpcId ${JSON.stringify(attrs.vpcId)} is not a VPC ID (vpc-…).`);
    }
    if (!attrs.subnetIds.length || attrs.subnetIds.some((id) => !/^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/.test(id))) {
      throw new DjgcSettingsError(
        `vpcAttributes.subnetIds must list the private subnets (subnet-…) the functions run in, got ${JSON.stringify(attrs.subnetIds)}.`,
      );
    }
    const sgIds = attrs.securityGroupIds ?? [];
    if (sgIds.some((id) => !/^sg-([0-9a-f]{8}|[0-9a-f]{17})$/.test(id))) {
      throw new DjgcSettingsError(`vpcAttributes.securityGroupIds must be security group IDs (sg-…), got ${JSON.stringify(sgIds)}.`);
    }
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: attrs.vpcId, availabilityZones: Fn.getAzs() });
    Validations.of(vpc).acknowledge({
      id: '@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones',
      reason: 'The functions are placed by explicit subnet IDs; the VPC\'s zones are never listed.',
    });
    const subnets = attrs.subnetIds.map((id, i) => {
      const subnet = ec2.Subnet.fromSubnetId(this, `Subnet${i}`, id);
      Validations.of(subnet).acknowledge({
        id: '@aws-cdk/aws-ec2:noSubnetRouteTableId',
        reason: 'Nothing in the stack reads the route table of an imported subnet.',
      });
      return subnet;
    });
    return {
      vpc,
      vpcSubnets: { subnets },
      securityGroups: sgIds.length
        ? sgIds.map((id, i) => ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, id, { mutable: false }))
        : undefined,
    };
  }
}
