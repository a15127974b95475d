"""Promises of tensorflow_start.py: only TensorFlow's known notes are dropped."""
import os

import tensorflow_start


def test_only_tensorflows_known_notes_are_dropped_from_stderr(capfd, monkeypatch):
    monkeypatch.setattr(tensorflow_start, "NVIDIA_DEVICES", [])  # a machine with no GPU
    with tensorflow_start.tensorflow_notes_dropped():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                    b"I0000 00:00:1795530894.872759    3877 port.cc:153] oneDNN custom operations are on. You may "
                    b"see slightly different numerical results\n"
                    b"I0000 00:00:1795530894.873088    3877 cudart_stub.cc:31] Could not find cuda drivers on your "
                    b"machine, GPU will not be used.\n"
                    b"E0000 00:00:1795530896.994564    3877 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
                    b"CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
                    b"E0000 00:00:1795530896.994564    3877 kernel.cc:52] a real error\n"
                    b"UserWarning: a warning from Python\n")
    assert capfd.readouterr().err == "E0000 00:00:1795530896.994564    3877 kernel.cc:52] a real error\n" \
                                     "UserWarning: a warning from Python\n"
