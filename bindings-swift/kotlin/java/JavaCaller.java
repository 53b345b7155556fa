// A Java program using the Kotlin package's canonical methods (compiled with javac by
// bindings-swift/test.sh): plain names, no mangled ones (the API takes and returns
// int/long, not Kotlin's unsigned types), the sealed exception cases by kind, and
// messages that read `SYMBOL (0xCODE): text`.
//   java JavaCaller STATE_DIR URL_OK URL_404 DEST
import io.github.bgcopy.BgCopyException;
import io.github.bgcopy.Completion;
import io.github.bgcopy.CopyFile;
import io.github.bgcopy.CopyJob;
import io.github.bgcopy.CopyManager;
import io.github.bgcopy.FileProgress;
import io.github.bgcopy.JobProgress;
import io.github.bgcopy.JobState;
import io.github.bgcopy.JobType;
import io.github.bgcopy.Priority;
import java.util.List;

public class JavaCaller {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String state = args[0], ok = args[1], missing = args[2], dest = args[3];
        try (CopyManager m = CopyManager.Companion.open(state, null)) {
            CopyJob job = m.createJob("java", JobType.DOWNLOAD);
            job.addFile(ok, dest);
            job.setPriority(Priority.FOREGROUND);
            job.setNoProgressTimeout(60);
            int seconds = job.getNoProgressTimeout();
            check(seconds == 60, "no-progress timeout " + seconds);
            job.setMaxConnectionsPerFile(2);
            job.resume();
            // A Long object: a primitive long would pick java.lang.Object.wait(long).
            JobState s = job.wait((Long) 30_000L);
            check(s == JobState.TRANSFERRED, "state " + s);
            JobProgress p = job.getProgress();
            long total = p.getBytesTotal();
            int files = p.getFilesTotal();
            check(total == 150_000L && files == 1, "progress " + p);
            List<CopyFile> list = job.enumFiles();
            FileProgress fp = list.get(0).getProgress();
            int index = list.get(0).getIndex();
            check(fp.getBytesTransferred() == 150_000L && index == 0, "file " + fp);
            check(job.complete() == Completion.ALL, "complete");
            check(JobState.TRANSFERRED.getValue() == 6, "JobState value");

            // The sealed cases by kind; the message is the core's text.
            try {
                job.resume();
                throw new AssertionError("resume() of a final job did not throw");
            } catch (BgCopyException.InvalidState e) {
                check(e.getMessage().startsWith("INVALID_STATE (0x80200002): "), e.getMessage());
                long code = e.code();
                check(code == 0x80200002L && e.symbol().equals("INVALID_STATE"), "code " + code);
            }
            try {
                job.setNoProgressTimeout(-1);
                throw new AssertionError("a negative timeout was accepted");
            } catch (BgCopyException.InvalidArgument e) {
                check(e.getMessage().startsWith("INVALID_ARG (0x80070057): "), e.getMessage());
            }
            CopyJob bad = m.createJob("java 404", JobType.DOWNLOAD);
            bad.addFile(missing, dest + ".404");
            bad.resume();
            check(bad.wait((Long) 30_000L) == JobState.ERROR, "404 state");
            try {
                m.getJob("00000000-0000-0000-0000-000000000000");
                throw new AssertionError("getJob() of no job did not throw");
            } catch (BgCopyException.NotFound e) {
                check(e.getMessage().startsWith("NOT_FOUND (0x80200001): "), e.getMessage());
                check(e.kind().equals("NOT_FOUND"), e.kind());
            }
            int status = bad.getError().getError().getCode() == 0x80190194L ? 404 : 0;
            check(status == 404, "the job's error is HTTP_404");
            check(bad.complete() == Completion.PARTIAL, "complete() in ERROR is partial");
        }
        System.out.println("java ok");
    }
}
