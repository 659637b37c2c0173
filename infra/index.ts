export { DjgcCollector, type DjgcCollectorProps } from './djgc-collector.js';
export { DjgcStack, type DjgcStackProps, type DjgcVpcAttributes } from './djgc-stack.js';
export {
  DEFAULT_ORPHAN_FRACTION_PERCENT,
  DEFAULT_SCHEDULE,
  DEFAULT_SIZING,
  DjgcSettingsError,
  type DjgcAlarmProps,
  type DjgcDatabaseProps,
  type DjgcFunctionSize,
  type DjgcLogLevel,
  type DjgcMode,
  type DjgcOptions,
  type DjgcScope,
  type DjgcSizing,
} from './settings.js';
export { RUN_METRICS, RUN_METRICS_NAMESPACE, type RunMetricName } from './run-metrics.js';
export { StoreConfigError, type DataJointStoreConfig, type DataJointStores } from './store-sections.js';
