export { startCloudRun, AFFINITY_COOKIE, type CloudRun, type FrontEndCounters } from './front-end.js'
export { cloudRunDefaults, resolveCloudRunOptions, type CloudRunOptions } from './options.js'
export { Instance, InstancePool, type InstanceState } from './instances.js'
export { instanceHeaders, traceFor } from './headers.js'
