"""Starting TensorFlow and Keras quietly: their start-up notes that say nothing is wrong are
dropped from stderr, and nothing else is.
"""
import contextlib
import os
import subprocess
import sys

# TensorFlow's notes that say nothing is wrong (see tensorflow_notes_dropped). Its libraries log the
# first two with absl as they load, before TF_CPP_MIN_LOG_LEVEL is read, so no environment variable
# hides them; the third is logged as an error, though TensorFlow goes on with its own kernels.
TENSORFLOW_NOTES = [
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    r" port\.cc:\d+\] oneDNN custom operations are on\.",
    r" util\.cc:\d+\] oneDNN supports DT_\w+ only on platforms with AVX-512\. Falling back to the default Eigen",
]
# ... and those saying that CUDA is missing, which only tell a machine with no NVIDIA GPU that the
# CPU will be used; where there is one (a device node), they are real errors and are kept
NO_GPU_NOTES = [
    r" cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\.$",
    r" cuda_platform\.cc:\d+\] failed call to cuInit: ",
]
NVIDIA_DEVICES = ["/dev/nvidiactl", "/dev/dxg"]  # Linux, and WSL2
# the filter process: passes on every stderr line but the notes, line by line as they come
NOTE_FILTER = """import re, sys
notes = re.compile(sys.argv[1].encode())
for line in sys.stdin.buffer:
    if not notes.search(line):
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
"""


@contextlib.contextmanager
def tensorflow_notes_dropped():
    """Within this, TensorFlow's notes that say nothing is wrong are dropped from stderr.

    stderr goes through a separate filter process that drops exactly TENSORFLOW_NOTES (and
    NO_GPU_NOTES on a machine with no NVIDIA GPU) and passes on everything else at once, so any
    other warning or error, even the last words of a crash, still reaches the terminal.
    """
    notes = TENSORFLOW_NOTES + ([] if any(os.path.exists(p) for p in NVIDIA_DEVICES) else NO_GPU_NOTES)
    sys.stderr.flush()
    stderr = os.dup(2)
    note_filter = subprocess.Popen([sys.executable, "-c", NOTE_FILTER, "|".join(notes)],
                                   stdin=subprocess.PIPE, stdout=stderr)
    os.dup2(note_filter.stdin.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(stderr, 2)
        os.close(stderr)
        note_filter.stdin.close()
        note_filter.wait()


def import_keras():
    """Import keras and start TensorFlow's devices, with its start-up notes dropped from stderr."""
    with tensorflow_notes_dropped():
        import keras
        import tensorflow as tf
        tf.config.list_physical_devices("GPU")  # CUDA starts, or fails to, here
    return keras
