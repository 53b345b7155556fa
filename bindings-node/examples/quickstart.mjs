import { CopyManager, HttpError, JobState, Priority, download } from 'bgcopy'

const [url = 'https://example.com/file.iso', dest = '/tmp/file.iso'] = process.argv.slice(2)

// The common case in one call: a job made, followed, completed; on failure the job is
// cancelled and the typed error thrown. An AbortSignal cancels it.
try {
  const [path] = await download(url, `${dest}.copy`, { signal: AbortSignal.timeout(3_600_000) })
  console.log('downloaded', path)
} catch (err) {
  if (!(err instanceof HttpError)) throw err
  console.error(`HTTP ${err.status}: ${err.message}`) // HTTP 404: HTTP_404 (0x80190194): …
}

// The BITS model: a durable job (store: $BGCOPY_STATE_DIR, else ~/.local/share/bgcopy).
const manager = CopyManager.open()
const job = manager.createJob('my download', { files: [[url, dest]], priority: Priority.Foreground })
job.noProgressTimeoutMs = 600_000 // properties over getX()/setX(); durations in ms
job.resume()
// Its events: state changes, progress (byte counts are numbers), files, errors.
for await (const ev of job.events()) {
  const { bytesTransferred, bytesTotal } = ev.progress
  if (ev.kind === 'PROGRESS') console.log(`${bytesTransferred} / ${bytesTotal ?? '?'} bytes`)
}

const state = await job.wait(3_600_000) // a Promise: the event loop keeps running
if (state === JobState.Transferred) {
  console.log(job.complete(), dest) // the file appears now, atomically
} else if (state === JobState.Error) {
  const error = job.getError()
  const { symbol, code } = error.getError()
  console.error(`failed: ${symbol} (0x${code.toString(16)}): ${error.getErrorDescription()}`)
  job.cancel()
} else {
  console.log(`still ${JobState[state]}; the job continues on the next open`)
}

// Calls throw a BgCopyError (code, hresult, kind, status); one class per kind.
try {
  job.resume() // the job is final now
} catch (err) {
  // err instanceof BgCopyError && err instanceof InvalidStateError (HttpError, NetworkError, …)
  console.error(err.code, `0x${err.hresult.toString(16)}`, err.kind) // INVALID_STATE 0x80200002 INVALID_STATE
}
manager.close()
