"""Writing files so that nothing is lost: never half a file under its name, never over another."""
import os


def write_atomic(path, write):
    """Call write(tmp_path), then rename to path, so no half-written file ever has its name.

    The temporary name holds the process id: two processes writing one path (the workers of a
    multi_worker run saving the melody cache) never write into each other's file.
    """
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}.partial")
    write(tmp)
    os.replace(tmp, path)


def free_path(path):
    """path, or path with -2, -3, ... before its extension: never an existing file."""
    root, extension = os.path.splitext(path)
    number, free = 1, path
    while os.path.exists(free):
        number += 1
        free = f"{root}-{number}{extension}"
    return free
