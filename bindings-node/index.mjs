// The ESM entry of bgcopy: the same module as `require('bgcopy')`, with named exports.
import bgcopy from './index.js'

export const {
  CopyManager,
  CopyJob,
  CopyFile,
  CopyError,
  JobState,
  Priority,
  JobType,
  ErrorContext,
  EventKind,
  AuthTarget,
  AuthScheme,
  ProxyUsage,
  NotifyFlags,
  SecurityFlags,
  BYTES_UNKNOWN,
  VERSION,
} = bgcopy

export default bgcopy
