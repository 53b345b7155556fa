import { BYTES_UNKNOWN, CopyManager, JobState, NotifyFlags, Priority } from 'bgcopy'

const [url = 'https://example.com/file.iso', dest = '/tmp/file.iso'] = process.argv.slice(2)

// The durable job store: $BGCOPY_STATE_DIR, else ~/.local/share/bgcopy (or pass a dir).
const manager = CopyManager.open()
const job = manager.createJob('my download')
job.addFile(url, dest)
job.setPriority(Priority.Foreground)
job.setNotifyFlags(NotifyFlags.JobModification | NotifyFlags.JobTransferred | NotifyFlags.JobError)
job.setNotifyInterface({
  // Called on the JS thread; byte counts are bigint.
  jobModification(job) {
    const { bytesTransferred, bytesTotal } = job.getProgress()
    console.log(`${bytesTransferred} / ${bytesTotal === BYTES_UNKNOWN ? '?' : bytesTotal} bytes`)
  },
})
job.resume()

// A Promise: the event loop keeps running while the job transfers.
const state = await job.wait(3_600_000)
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
