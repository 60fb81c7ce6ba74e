"""kill -9 an `rnc-run train --resume CKPT` while it writes CKPT.partial.*.

Usage: kill_during_save.py RNC_RUN MODEL.so CKPT
With RNC_CHECKPOINT_WRITE_DELAY_MS the writer pauses halfway through the
data; once its temporary file CKPT.partial.<pid>.<n> exists and holds part of
the data, SIGKILL it. Fails if the save finished first or the temporary file
never appeared.
"""
import glob
import os
import signal
import subprocess
import sys
import time

rnc_run, model, ckpt = sys.argv[1:4]
partial = None
env = dict(os.environ, RNC_CHECKPOINT_WRITE_DELAY_MS="20000")
proc = subprocess.Popen([rnc_run, "train", model, "--resume", ckpt],
                        stdout=subprocess.DEVNULL, env=env)
deadline = time.time() + 120
while time.time() < deadline:
    if proc.poll() is not None:
        sys.exit("rnc-run exited (status %d) before it was killed" % proc.returncode)
    found = glob.glob(glob.escape(ckpt) + ".partial.*")
    if found and os.path.getsize(found[0]) > 8:
        partial = found[0]
        time.sleep(0.5)  # well inside the 20 s pause
        break
    time.sleep(0.05)
else:
    proc.kill()
    sys.exit("no %s.partial.* appeared within 120 s" % ckpt)
proc.send_signal(signal.SIGKILL)
proc.wait()
print("killed rnc-run during the save; %s has %d bytes" % (partial, os.path.getsize(partial)))
