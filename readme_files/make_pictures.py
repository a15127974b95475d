"""Make the README's animation pista.gif: how windows and their targets slide along a melody.

    python readme_files/make_pictures.py                                   # latest experiment's window
    python readme_files/make_pictures.py --experiment_dir experiments/01 --melody data/midi/ashover1.mid
    python readme_files/make_pictures.py --frames 5                        # a quick smoke run

Run it from the repository's folder. The animation is written again on every run; the same flags
and experiment give the same animation. The README's other pictures are what sample.py and
evaluate.py write themselves (N.png, evaluation.png).
"""
import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # this script lives in readme_files/; the project's modules are one folder up
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up notes quiet

import numpy as np  # noqa: E402

import checkpoints  # noqa: E402
import media  # noqa: E402
import midi_notes  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # input
    parser.add_argument("--experiment_dir", default=None, help="experiment whose window size and encoding are used (default: the highest-numbered one in experiments/)")
    parser.add_argument("--melody", default="data/midi/ashover1.mid", help="MIDI file whose first melody is drawn (default: %(default)s)")
    # animation
    parser.add_argument("--frames", type=int, default=40, help="frames of the animation, one step apart (default: %(default)s)")
    parser.add_argument("--frames_per_second", type=float, default=4.0, help="speed of the animation (default: %(default)s)")
    # output
    parser.add_argument("--save_dir", default=os.path.join(REPO, "readme_files"), help="folder for pista.gif (default: readme_files/)")
    return parser.parse_args(argv)


def load_melody(path, min_steps):
    """The file's first melody as notes (n, 3) [start_step, end_step, pitch]."""
    if not os.path.isfile(path):
        sys.exit(f"error: --melody {path} does not exist; pass a MIDI file")
    melodies, info = midi_notes.midi_to_notes(path)
    if info["skipped"]:
        sys.exit(f"error: cannot use --melody {path}: {info['skipped']}")
    notes = melodies[0]
    if notes[-1, 1] < min_steps:
        sys.exit(f"error: --melody {path} lasts {notes[-1, 1]} sixteenth notes; at least {min_steps} are needed "
                 f"for this window size and number of frames")
    return notes


def draw_frame(axes, notes, start, window_size, length):
    """One frame: the melody as a piano roll, the window [start, start + window_size) and its target."""
    target = start + window_size  # the step the model learns to predict from the window
    axes.clear()
    axes.axvspan(start, target, color="tab:blue", alpha=0.12, linewidth=0)
    axes.axvspan(target, target + 1, color="tab:orange", alpha=0.3, linewidth=0)
    for step in range(length + 1):  # the sixteenth-note grid, darker every quarter and every bar
        shade = "0.55" if step % 16 == 0 else "0.8" if step % 4 == 0 else "0.93"
        axes.axvline(step, color=shade, linewidth=0.6, zorder=0)
    shown = notes[notes[:, 0] < length]
    axes.barh(shown[:, 2], np.minimum(shown[:, 1], length) - shown[:, 0], left=shown[:, 0], height=0.8,
              color="0.75", zorder=2)
    for low, high, color in [(start, target, "tab:blue"), (target, target + 1, "tab:orange")]:
        part = notes[(notes[:, 0] < high) & (notes[:, 1] > low)]  # notes sounding in [low, high)
        left = np.maximum(part[:, 0], low)
        axes.barh(part[:, 2], np.minimum(part[:, 1], high) - left, left=left, height=0.8, color=color, zorder=3)
    sounding = notes[(notes[:, 0] <= target) & (notes[:, 1] > target)]
    what = media.note_name(sounding[0, 2]) if len(sounding) else "a rest"
    pitches = notes[notes[:, 0] < length, 2]
    ticks = [p for p in range(pitches.min() - 1, pitches.max() + 2) if p % 12 in (0, 4, 7)]  # C, E, G
    axes.set_yticks(ticks, [media.note_name(p) for p in ticks], fontsize=7)
    axes.set_ylim(pitches.min() - 1.5, pitches.max() + 1.5)
    axes.set_xlim(0, length)
    axes.tick_params(axis="x", labelsize=7)
    axes.set_xlabel("time (sixteenth notes)", fontsize=8)
    axes.set_title(f"window: steps {start}-{target - 1} ({window_size} sixteenth notes)  ->  "
                   f"target: step {target}, {what}", fontsize=8)


def make_animation(path, notes, window_size, frames, frames_per_second):
    """pista.gif: the window and its next-step target sliding one step per frame."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    length = window_size + frames  # steps shown: every window of the animation and its target
    figure, axes = plt.subplots(figsize=(6.4, 2.3), dpi=96)
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.2, top=0.88)
    animation = FuncAnimation(figure, lambda t: draw_frame(axes, notes, t, window_size, length), frames=frames)
    animation.save(path, writer=PillowWriter(fps=frames_per_second))
    plt.close(figure)


def main(argv=None):
    args = parse_args(argv)
    if args.frames < 1 or not args.frames_per_second > 0:
        sys.exit(f"error: --frames must be at least 1 and --frames_per_second above 0, got {args.frames} "
                 f"and {args.frames_per_second}")
    experiment_dir, _ = checkpoints.find_experiment(args.experiment_dir)
    config = checkpoints.load_config(experiment_dir)
    window_size = config["window_size"]
    notes = load_melody(args.melody, window_size + args.frames)
    os.makedirs(args.save_dir, exist_ok=True)

    # pista.gif: what one training example is
    gif_path = os.path.join(args.save_dir, "pista.gif")
    make_animation(gif_path, notes, window_size, args.frames, args.frames_per_second)
    print(f"Wrote {gif_path} ({os.path.getsize(gif_path) / 1024:.0f} KB, {args.frames} frames)")


if __name__ == "__main__":
    main()
