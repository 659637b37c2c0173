import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { appConfig, type ContextKey } from './app-context.js';
import { DjgcStack } from './djgc-stack.js';

const app = new App();
try {
  const { stackName, props } = appConfig((key: ContextKey) => app.node.tryGetContext(key));
  new DjgcStack(app, stackName, props);
} catch (error) {
  console.error(`djgc: ${(error as Error).message}`);
  process.exit(1);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
