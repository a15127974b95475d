"""Looking and listening: piano rolls, audio, and index.html, the page that shows a folder of them.

sample.py writes, beside each N.mid it makes, N.png (a piano roll), N.wav with --wav, and N.json
(what made it: experiment, checkpoint, seed, temperature, seed melody), then writes index.html
again, listing every MIDI file in the folder. Pillow and the synthesizer are imported only inside
the functions that need them, so scripts' --help stays light.
"""
import html
import io
import json
import os
import re
import urllib.parse

import numpy as np
import pretty_midi

import midi_notes
import safe_write
import scales
import step_encoding

BARS_PER_ROW = 8  # piano rolls wrap like a score: 8 bars a row (128 sixteenth notes in 4/4, 96 in 6/8)
ROLL_WIDTH = 1200  # pixels
ROLL_SEMITONE = 5  # pixels a semitone
ROLL_COLOR, ROLL_SEED_COLOR = (31, 119, 180), (153, 153, 153)  # generated notes blue, the seed grey
# General MIDI soundfont that pretty_midi ships (6 MB): real instruments with nothing else installed
BUNDLED_SOUNDFONT = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


def note_name(pitch):
    """MIDI pitch -> scientific pitch name: 60 -> 'C4', 61 -> 'C#4'."""
    return f"{scales.PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


# ----------------------------------------------------------------------------
# Piano rolls


def steps_to_png(path, seed_steps, steps, encoding="roll", title=None, bars_per_row=BARS_PER_ROW,
                 seed_label="seed (not in the file)", meter=midi_notes.DEFAULT_METER, seed_in_file=False):
    """Draw a piano roll of a seed window (grey) and what followed it (blue) to a PNG file.

    seed_steps, steps: class arrays, one per sixteenth note. Like a score, it wraps into rows of
    bars_per_row bars of the meter ([numerator, denominator]), numbered as the file's: from the
    first generated step (the seed lies before bar 1), or with seed_in_file from the seed's first
    step, a bar line; with pitches named (C4 is middle C) and every bar, beat and C marked. Drawn straight into an image
    with Pillow, in a small fraction of the time matplotlib's axes took (benchmarks/sample_speed.py).
    """
    from PIL import Image, ImageDraw, ImageFont

    seed_notes = step_encoding.steps_to_notes(seed_steps, encoding)
    seed_notes[:, :2] -= len(seed_steps)  # time 0 is the first generated step
    notes = step_encoding.steps_to_notes(steps, encoding)
    both = np.concatenate([seed_notes, notes])
    low, high = (int(both[:, 2].min()), int(both[:, 2].max())) if len(both) else (60, 72)
    bar, beat = midi_notes.bar_steps(meter), midi_notes.beat_steps(meter)
    file_start = -len(seed_steps) if seed_in_file else 0  # a bar line: bar 1 of the written file
    first = file_start + (-len(seed_steps) - file_start) // bar * bar  # the bar line at or before the seed
    row_steps = bars_per_row * bar
    num_rows = max(1, -(-(len(steps) - first) // row_steps))
    left, right, top, below = 66, 12, 45, 30  # margins, in pixels: note names, title and legend, bar numbers
    row_height = (high - low + 3) * ROLL_SEMITONE  # pitches low - 1.5 .. high + 1.5
    step_width = (ROLL_WIDTH - left - right) / row_steps  # pixels
    # a palette image: its few colours (added to the palette as they are drawn) make the PNG a third of
    # the size of an RGB one, and written in about a third of the time
    image = Image.new("P", (ROLL_WIDTH, top + num_rows * (row_height + below)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=10)  # a font inside Pillow itself, nothing to find on the system
    title_font = ImageFont.load_default(size=12)
    pitch_ticks = [p for p in range(low - 1, high + 2) if p % 12 in (0, 4, 7)]  # C, E, G
    for r in range(num_rows):
        start, y0 = first + r * row_steps, top + r * (row_height + below)

        def x(step):
            return round(left + (step - start) * step_width)

        def y(pitch):
            return round(y0 + (high + 1.5 - pitch) * ROLL_SEMITONE)

        # grid: beats light, bars dark, and each C
        for line in range(start, start + row_steps, beat):
            draw.line([(x(line), y0), (x(line), y0 + row_height)], fill=(224,) * 3 if (line - start) % bar else (128,) * 3)
        for pitch in range(low - 1, high + 2):
            if pitch % 12 == 0:
                draw.line([(left, y(pitch)), (ROLL_WIDTH - right, y(pitch))], fill=(224,) * 3)
        # one rectangle per note; a pixel of white before the next note shows where a note is struck again
        for part, color in [(seed_notes, ROLL_SEED_COLOR), (notes, ROLL_COLOR)]:
            shown = part[(part[:, 0] < start + row_steps) & (part[:, 1] > start)]
            for a, b, pitch in shown.tolist():
                draw.rectangle([x(max(a, start)), y(pitch) - 2, x(min(b, start + row_steps)) - 1, y(pitch) + 2],
                               fill=color)
        draw.rectangle([left, y0, ROLL_WIDTH - right, y0 + row_height], outline="black")
        for pitch in pitch_ticks:  # note names
            draw.line([(left - 3, y(pitch)), (left, y(pitch))], fill="black")
            draw.text((left - 5, y(pitch)), note_name(pitch), fill="black", font=font, anchor="rm")
        for line in range(start, start + row_steps, bar):  # bar numbers
            if line >= file_start:
                draw.line([(x(line), y0 + row_height), (x(line), y0 + row_height + 3)], fill="black")
                draw.text((x(line), y0 + row_height + 5), str((line - file_start) // bar + 1), fill="black",
                          font=font, anchor="mt")
    if title:
        draw.text((left, top // 2), title, fill="black", font=title_font, anchor="lm")
    at = ROLL_WIDTH - right
    for label, color in [("generated", ROLL_COLOR), (seed_label, ROLL_SEED_COLOR)]:  # the legend
        at -= draw.textlength(label, font=title_font)
        draw.text((at, top // 2), label, fill="black", font=title_font, anchor="lm")
        draw.rectangle([at - 26, top // 2 - 4, at - 6, top // 2 + 4], fill=color)
        at -= 40
    safe_write.write_atomic(path, lambda tmp: image.save(tmp, format="png"))


# ----------------------------------------------------------------------------
# Audio


def find_soundfont():
    """The SOUNDFONT environment variable's .sf2 file, else the General MIDI soundfont pretty_midi ships."""
    return os.environ.get("SOUNDFONT") or BUNDLED_SOUNDFONT


def start_wav_pool():
    """Processes that render N.wav files (midi_file_to_wav) while sample.py goes on: the synthesizer
    holds Python's lock, so threads would only take turns. Each is a fresh process (forkserver, or
    spawn where there is none), never a fork of one that runs TensorFlow."""
    import concurrent.futures
    import multiprocessing

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return concurrent.futures.ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context(method))


def midi_file_to_wav(path, soundfont=None):
    """N.mid -> N.wav beside it (midi_to_wav); returns which synthesizer was used."""
    return midi_to_wav(pretty_midi.PrettyMIDI(path), path[:-4] + ".wav", soundfont)


def midi_to_wav(midi, path, soundfont=None):
    """Render a PrettyMIDI to a 16-bit mono WAV file; returns which synthesizer was used.

    The midirenderer package (a pip wheel with no system library) plays it with the instruments
    of a General MIDI soundfont (default: find_soundfont's); without it, pretty_midi's sine waves.
    """
    import wave

    try:
        import midirenderer
    except ImportError:
        sample_rate = 22050
        audio = midi.synthesize(fs=sample_rate)
        synthesizer = "pretty_midi's sine waves (pip install -r requirements.txt for real instruments)"
    else:
        midi_bytes = io.BytesIO()
        midi.write(midi_bytes)
        soundfont = soundfont or find_soundfont()
        with open(soundfont, "rb") as f:
            rendered = midirenderer.render_wave_from(f.read(), midi_bytes.getvalue())  # a 16-bit stereo WAV
        with wave.open(io.BytesIO(rendered)) as f:
            sample_rate, channels = f.getframerate() // 2, f.getnchannels()
            samples = np.frombuffer(f.readframes(f.getnframes()), "<i2")
        # mono at half the sample rate, by summing each pair of frames: a melody needs no more, and
        # the file is a quarter the size
        pairs = samples[:len(samples) // (2 * channels) * 2 * channels].reshape(-1, 2 * channels)
        audio = pairs.sum(axis=1, dtype=np.int32)
        synthesizer = f"midirenderer with the soundfont {soundfont}"
    peak = max(1e-9, np.abs(audio).max(initial=0))
    pcm = (audio * np.float32(0.9 * 32767 / peak)).astype("<i2").tobytes()  # as loud as it goes, with headroom

    def write(tmp):
        with wave.open(tmp, "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(sample_rate)
            f.writeframes(pcm)

    safe_write.write_atomic(path, write)
    return synthesizer


# ----------------------------------------------------------------------------
# What made each file, and the page that shows them all


def save_origin(midi_path, origin):
    """Write N.json beside N.mid: a dict saying what made it, kept for later runs' pages."""
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(origin, f, indent=2)
    safe_write.write_atomic(midi_path[:-4] + ".json", write)


def load_origin(midi_path):
    """The dict save_origin wrote for this MIDI file, or None when there is none or it is unreadable."""
    try:
        with open(midi_path[:-4] + ".json") as f:
            origin = json.load(f)
        return origin if isinstance(origin, dict) else None
    except (OSError, ValueError):
        return None


def list_midi_files(folder):
    """Names of the .mid files in folder: N.mid by number, then any others by name."""
    names = [n for n in os.listdir(folder) if n.lower().endswith(".mid") and os.path.isfile(os.path.join(folder, n))]
    return sorted(names, key=lambda n: (0, int(n[:-4]), "") if re.fullmatch(r"\d+\.mid", n) else (1, 0, n))


PAGE_STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; color: #222; max-width: 1240px; margin: 1.5em auto; padding: 0 1em; }
h1 { font-size: 1.5em; margin: 0 0 0.2em; }
section { border-top: 1px solid #ccc; padding: 0.8em 0 1.2em; }
h2 { font-size: 1.15em; margin: 0 0 0.3em; }
.listen { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5em 1.5em; }
audio { width: 420px; max-width: 100%; }
.origin { color: #555; font-size: 0.9em; margin: 0.3em 0 0.5em; }
.origin b { color: #222; font-weight: 600; }
img { display: block; max-width: 100%; height: auto; }
nav { margin: 0 0 1em; line-height: 1.8; }
nav a { display: inline-block; min-width: 2.2em; text-align: center; border: 1px solid #ccc; border-radius: 4px;
        text-decoration: none; margin-right: 0.2em; }
"""


def describe_origin(origin):
    """One line of HTML saying what made a file, from its N.json dict (None: not recorded)."""
    if origin is None:
        return "what made this file was not recorded (no .json beside it)"
    parts = [("experiment", origin.get("experiment_dir")), ("checkpoint", origin.get("checkpoint")),
             ("seed", origin.get("seed")), ("temperature", origin.get("temperature")),
             ("seed melody", origin.get("seed_melody")), ("continues", origin.get("continue_file"))]
    if origin.get("seed_melody_step") is not None:
        parts.append(("from step", origin["seed_melody_step"]))
    if origin.get("tempo") is not None:
        parts.append(("tempo", f"{origin['tempo']:g} quarter notes a minute"))
    parts += [("instrument", origin.get("midi_instrument")), ("written", origin.get("written"))]
    return " &middot; ".join(f"{name} <b>{html.escape(str(value))}</b>" for name, value in parts if value is not None)


def describe_file(folder, name):
    """The page's section for one MIDI file: its name, audio player, link, origin and piano roll."""
    stem, quoted = name[:-4], urllib.parse.quote(name[:-4])  # links are relative: the folder can move
    if os.path.isfile(os.path.join(folder, stem + ".wav")):
        audio = f'<audio controls preload="metadata" src="{quoted}.wav"></audio>'
    else:
        audio = "<span class=origin>no audio (sample.py --wav writes it)</span>"
    picture = ""
    if os.path.isfile(os.path.join(folder, stem + ".png")):
        picture = f'<img src="{quoted}.png" alt="piano roll of {html.escape(name)}" loading="lazy">'
    return (f'<section id="{html.escape(stem)}">\n<h2>{html.escape(name)}</h2>\n'
            f'<div class=listen>{audio} <a href="{quoted}.mid">MIDI file</a></div>\n'
            f'<p class=origin>{describe_origin(load_origin(os.path.join(folder, name)))}</p>\n{picture}\n</section>')


def write_index(folder):
    """Write folder/index.html: every .mid file in folder, newest first, with its piano roll, a player
    for its .wav, a link to it and what made it. Plain HTML and CSS, no script: it works opened from disk."""
    names = list_midi_files(folder)
    contents = " ".join(f'<a href="#{urllib.parse.quote(n[:-4])}">{html.escape(n[:-4])}</a>' for n in reversed(names))
    title = f"Melodies in {os.path.normpath(folder)}"
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{PAGE_STYLE}</style>\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
            f"<p>{len(names)} MIDI files, newest first, each with its piano roll: the seed window (grey) that "
            f"started it, then what the model wrote (blue). sample.py writes this page again after each run.</p>\n"
            f"<nav>{contents}</nav>\n" + "\n".join(describe_file(folder, name) for name in reversed(names))
            + "\n</body>\n</html>\n")

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)

    safe_write.write_atomic(os.path.join(folder, "index.html"), write)
