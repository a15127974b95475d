"""--distribute: tf.distribute strategies, and what training on several workers needs (which one
writes, a private copy of the backup, a work-around for Keras' fit). Most runs need none of it.
"""
import json
import os
import shutil
import sys
import tempfile

import checkpoints

DISTRIBUTE = ["none", "mirrored", "multi_worker"]


def check_distribute(config):
    """multi_worker needs the cluster in TF_CONFIG, and one --experiment_dir that every worker reads."""
    if config["distribute"] != "multi_worker":
        return
    try:
        task = json.loads(os.environ["TF_CONFIG"])["task"]
        task["type"], task["index"]
    except (KeyError, TypeError, ValueError):
        sys.exit("error: --distribute multi_worker needs the TF_CONFIG environment variable, with this worker's "
                 "\"task\" and the \"cluster\" (see README: On a GPU, several GPUs or several machines)")
    if not config["experiment_dir"]:
        sys.exit("error: --distribute multi_worker needs --experiment_dir, the same folder for every worker, "
                 "on storage they all read")


def is_chief(distribute):
    """Whether this process writes the experiment: with multi_worker, only TF_CONFIG's chief does,
    or worker 0 when the cluster has no chief."""
    if distribute != "multi_worker":
        return True
    tf_config = json.loads(os.environ["TF_CONFIG"])
    task = tf_config["task"]
    if "chief" in tf_config.get("cluster", {}):
        return task["type"] == "chief"
    return task["type"] == "worker" and int(task["index"]) == 0


def make_strategy(distribute):
    """The tf.distribute strategy of --distribute; it must exist before any TensorFlow op runs."""
    import tensorflow as tf
    if distribute == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()  # the cluster and this worker's task from TF_CONFIG
    if distribute == "mirrored":
        # for tests on a machine with no GPU: MIDI_GENERATOR_CPU_REPLICAS=N splits the CPU into N devices
        cpu_replicas = int(os.environ.get("MIDI_GENERATOR_CPU_REPLICAS", "0"))
        if cpu_replicas > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
            return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas)])
        return tf.distribute.MirroredStrategy()  # every GPU of this machine; its CPU when it has none
    return tf.distribute.get_strategy()  # the default: one device, the first GPU when one is visible


def copy_backup(backup_dir, done):
    """A private copy of the chief's BackupAndRestore folder, for a worker that is not the chief.

    Every worker must restore the same state, but only the chief writes into the experiment.
    Returns the copy's path (a new temporary folder: the caller removes it).
    """
    private = os.path.join(tempfile.mkdtemp(prefix="midi-generator-backup-"), "backup")
    if os.path.isdir(backup_dir) and not (done and checkpoints.backup_epoch(backup_dir) < done):
        shutil.copytree(backup_dir, private)  # the chief keeps this one: it is not older than the checkpoint
    return private


def work_around_keras_multi_worker(model, train_data):
    """Let Keras 3.15's fit run under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    Its fit reduces a whole (x, y) batch in one strategy.reduce call before the first step, and
    each step's scalar logs along an axis 0 they do not have; both raise with several workers.
    Instead: build the metrics and optimizer from this worker's first batch, and average each log
    over the replicas. The training step itself is Keras' own.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=next(iter(train_data)))
    model._maybe_symbolic_build = lambda **kwargs: None  # everything it would build is built
    reduce_per_replica = trainer.reduce_per_replica

    def reduce_logs(values, strategy, reduction):
        if reduction != "auto":
            return reduce_per_replica(values, strategy, reduction)
        return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)

    trainer.reduce_per_replica = reduce_logs


def prepare_backup(experiment_dir, done, chief):
    """The BackupAndRestore folder this worker uses: the experiment's (a stale one removed), or a private copy."""
    backup_dir = os.path.join(experiment_dir, "backup")
    if chief and done and os.path.isdir(backup_dir) and checkpoints.backup_epoch(backup_dir) < done:
        shutil.rmtree(backup_dir)  # older than the latest checkpoint: nothing to restore from it
    return backup_dir if chief else copy_backup(backup_dir, done)
