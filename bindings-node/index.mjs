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
  BgCopyError,
  HttpError,
  ServerError,
  NetworkError,
  LocalFileError,
  ValidationError,
  InvalidArgumentError,
  InvalidStateError,
  NotFoundError,
  StoreError,
  download,
  JobEventStream,
  DownloadTask,
  _WaitCancel,
  _download,
} = bgcopy

export default bgcopy
