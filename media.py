"""Looking and listening: piano-roll pictures and audio of generated melodies.

matplotlib is imported only inside the function that draws, so scripts' --help stays light.
"""
import os

import numpy as np

import utils

SOUNDFONTS = [  # where Debian/Ubuntu, Fedora, Arch and Homebrew put a General MIDI soundfont
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
]


def steps_to_png(path, seed_steps, steps, encoding="roll", title=None):
    """Draw a piano roll of a seed window (grey) and what followed it (blue) to a PNG file.

    seed_steps, steps: class arrays, one per sixteenth note. Bars of 16 steps are marked.
    """
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    seed_notes = utils.steps_to_notes(seed_steps, encoding)
    notes = utils.steps_to_notes(steps, encoding)
    notes[:, :2] += len(seed_steps)
    length = len(seed_steps) + len(steps)
    pitches = np.concatenate([seed_notes[:, 2], notes[:, 2]]) if len(seed_notes) + len(notes) else np.array([60])
    figure, axes = plt.subplots(figsize=(min(40, 3 + length / 40), 3.5), dpi=100)
    for part, color, label in [(seed_notes, "0.6", "seed"), (notes, "tab:blue", "generated")]:
        for i, pitch in enumerate(np.unique(part[:, 2])):  # one collection per pitch: fast to draw
            row = part[part[:, 2] == pitch]
            axes.broken_barh(np.stack([row[:, 0], row[:, 1] - row[:, 0]], axis=1), (pitch - 0.4, 0.8), color=color,
                             edgecolor="white", linewidth=0.5, label=None if i else label)  # a gap: re-struck
    axes.axvline(len(seed_steps), color="k", linewidth=0.8)
    for bar in range(0, length + 1, 16):
        axes.axvline(bar, color="0.8", linewidth=0.5, zorder=0)
    axes.set_xlim(0, length)
    axes.set_ylim(pitches.min() - 2, pitches.max() + 2)
    axes.yaxis.get_major_locator().set_params(integer=True)  # pitches are whole numbers
    axes.set_xlabel("time (sixteenth notes; grid lines every bar of 16)")
    axes.set_ylabel("MIDI pitch")
    axes.legend(loc="lower left", bbox_to_anchor=(1.0, 0.0), fontsize="small", frameon=False)
    if title:
        axes.set_title(title)
    figure.tight_layout()
    utils.write_atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


def midi_to_wav(midi, path, sample_rate=22050):
    """Render a PrettyMIDI to a 16-bit mono WAV file; returns which synthesizer was used.

    A General MIDI soundfont through FluidSynth when pyfluidsynth and a soundfont are installed
    (the SOUNDFONT environment variable, or a usual system path), else pretty_midi's sine waves.
    """
    import wave

    audio, synthesizer = None, "pretty_midi's built-in sine-wave synthesizer"
    soundfont = next((p for p in [os.environ.get("SOUNDFONT", "")] + SOUNDFONTS if p and os.path.isfile(p)), None)
    if soundfont:
        try:
            audio = midi.fluidsynth(fs=sample_rate, synthesizer=soundfont)
            synthesizer = f"FluidSynth with {soundfont}"
        except (ImportError, OSError, ValueError):  # pyfluidsynth or its library missing
            audio = None
    if audio is None:
        audio = midi.synthesize(fs=sample_rate)
    audio = audio / max(1e-9, np.abs(audio).max()) * 0.9  # normalize, leaving headroom
    pcm = (audio * 32767).astype("<i2").tobytes()

    def write(tmp):
        with wave.open(tmp, "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(sample_rate)
            f.writeframes(pcm)

    utils.write_atomic(path, write)
    return synthesizer
