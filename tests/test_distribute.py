"""train.py --distribute on this CPU: mirrored over two logical devices, multi_worker over two processes."""
import csv
import json
import os
import socket
import subprocess
import sys

import numpy as np

import checkpoints

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--rnn_size", "8", "--window_size", "8", "--batch_size", "16"]
TIMEOUT = 300  # seconds per run: generous, the machine is shared


def start_train(args, **env):
    """train.py in a process of its own (TensorFlow's devices and cluster are set once per process)."""
    return subprocess.Popen([sys.executable, "train.py"] + args + TINY, cwd=ROOT, env=dict(os.environ, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process):
    """Wait for a train.py process; returns its output, failing the test when it failed."""
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    assert process.returncode == 0, output[-3000:]
    return output


def free_ports(count):
    """Ports nobody listens on now: each socket holds its port until all are picked."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def check_experiment(experiment, epochs):
    """One checkpoint per epoch, one history row per epoch, finite losses."""
    assert [e for e, _ in checkpoints.list_checkpoints(experiment)] == list(range(1, epochs + 1))
    assert os.listdir(os.path.join(experiment, "checkpoints", "incomplete")) == []
    assert len(os.listdir(os.path.join(experiment, "checkpoints"))) == epochs + 1  # and incomplete/
    with open(os.path.join(experiment, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(epochs))
    assert all(np.isfinite(float(r["loss"])) and np.isfinite(float(r["val_loss"])) for r in rows)


def test_distribute_mirrored_trains_on_two_devices_and_resumes(melody_dir, tmp_path):
    experiment = str(tmp_path / "exp")
    args = ["--data_dir", melody_dir, "--experiment_dir", experiment, "--distribute", "mirrored"]
    output = finish(start_train(args + ["--num_epochs", "1"], MIDI_GENERATOR_CPU_REPLICAS="2"))
    assert "Training on 2 replicas (--distribute mirrored)" in output
    assert "18/18" in output  # 280 windows in batches of 16 over both devices: the batch size is global
    check_experiment(experiment, 1)
    assert checkpoints.load_config(experiment)["distribute"] == "mirrored"
    output = finish(start_train(args + ["--num_epochs", "2"], MIDI_GENERATOR_CPU_REPLICAS="2"))
    assert "Resuming" in output
    check_experiment(experiment, 2)


def test_distribute_multi_worker_trains_on_two_processes_writes_once_and_resumes(melody_dir, tmp_path):
    experiment = str(tmp_path / "exp")
    args = ["--data_dir", melody_dir, "--experiment_dir", experiment, "--distribute", "multi_worker"]

    def run_cluster(num_epochs):
        cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
        workers = [start_train(args + ["--num_epochs", str(num_epochs)],
                               TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
                   for i in range(2)]
        return [finish(w) for w in workers]

    outputs = run_cluster(1)
    for output in outputs:
        assert "Training on 2 replicas (--distribute multi_worker)" in output
        assert "18/18" in output  # each worker takes its half of every batch of 16
    check_experiment(experiment, 1)
    assert sorted(os.listdir(experiment)) == ["checkpoints", "config.json", "data.csv", "history.csv", "tensorboard-logs"]
    assert checkpoints.load_config(experiment)["distribute"] == "multi_worker"
    outputs = run_cluster(2)
    assert all("Resuming" in output for output in outputs)
    check_experiment(experiment, 2)
