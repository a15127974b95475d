"""Promises of media.py: piano rolls that read as music, real instruments, and the page."""
import html.parser
import os
import struct
import sys
import urllib.parse
import wave

import numpy as np
import pretty_midi

import media
import step_encoding


def png_size(path):
    """(width, height) in pixels, from the PNG header."""
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_note_names_are_scientific_pitch_names():
    assert [media.note_name(p) for p in [21, 60, 61, 69, 127]] == ["A0", "C4", "C#4", "A4", "G9"]


def test_a_long_piano_roll_wraps_into_rows_instead_of_growing_wider(tmp_path):
    melody = np.array([p + 1 for p in range(60, 72) for _ in range(4)] * 21, dtype=np.uint8)  # 1008 steps
    media.steps_to_png(str(tmp_path / "short.png"), melody[:48], melody[:128], title="short")
    media.steps_to_png(str(tmp_path / "long.png"), melody[:48], melody, title="long")
    short_width, short_height = png_size(tmp_path / "short.png")
    long_width, long_height = png_size(tmp_path / "long.png")
    assert short_width == long_width <= 1200
    assert long_height > 3 * short_height  # 9 rows of 8 bars against 2


def test_a_piano_roll_of_nothing_but_rests_is_still_drawn(tmp_path):
    media.steps_to_png(str(tmp_path / "rests.png"), np.zeros(8, np.uint8), np.zeros(20, np.uint8), encoding="onset")
    assert png_size(tmp_path / "rests.png")[0] > 0


def render(tmp_path, program):
    midi = step_encoding.steps_to_midi(np.array([61] * 8 + [0] * 4 + [65] * 8, np.uint8), qpm=120, program=program)
    path = str(tmp_path / f"{program}.wav")
    synthesizer = media.midi_to_wav(midi, path)
    with wave.open(path) as f:
        audio = np.frombuffer(f.readframes(f.getnframes()), "<i2")
        return synthesizer, audio, f.getnframes() / f.getframerate(), midi.get_end_time()


def test_wav_plays_the_whole_melody_with_the_chosen_general_midi_instrument(tmp_path):
    synthesizer, piano, seconds, end = render(tmp_path, 0)
    assert synthesizer.startswith("midirenderer") and "TimGM6mb.sf2" in synthesizer
    assert end - 0.01 <= seconds <= end + 2 and np.abs(piano).max() > 10000
    _, flute, _, _ = render(tmp_path, pretty_midi.instrument_name_to_program("Flute"))
    assert len(flute) == len(piano) and not np.array_equal(flute, piano)


def test_without_midirenderer_wav_falls_back_to_sine_waves_and_says_how_to_get_instruments(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "midirenderer", None)  # import midirenderer raises ImportError
    synthesizer, audio, seconds, end = render(tmp_path, 0)
    assert "sine" in synthesizer and "pip install" in synthesizer
    assert end - 0.01 <= seconds <= end + 2 and np.abs(audio).max() > 10000


def test_a_melody_of_nothing_but_rests_gives_a_silent_wav(tmp_path):
    media.midi_to_wav(step_encoding.steps_to_midi(np.zeros(16, np.uint8)), str(tmp_path / "rests.wav"))
    with wave.open(str(tmp_path / "rests.wav")) as f:
        assert not np.frombuffer(f.readframes(f.getnframes()), "<i2").any()


class Links(html.parser.HTMLParser):
    """Every href and src of a page, and whether it has a script."""
    def __init__(self):
        super().__init__()
        self.links, self.scripts = [], 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.links += [value for name, value in attrs if name in ("href", "src")]


def read_links(folder):
    parser = Links()
    with open(os.path.join(folder, "index.html"), encoding="utf-8") as f:
        parser.feed(f.read())
    return parser


def test_page_lists_exactly_the_midi_files_in_the_folder_and_every_file_it_names_exists(tmp_path):
    folder = str(tmp_path)
    melody = np.array([61] * 8 + [65] * 8, np.uint8)
    for name in ["1.mid", "2.mid", "10.mid", "my <tune> & co.mid"]:
        step_encoding.steps_to_midi(melody).write(os.path.join(folder, name))
    media.steps_to_png(os.path.join(folder, "1.png"), melody[:4], melody)
    media.midi_to_wav(step_encoding.steps_to_midi(melody), os.path.join(folder, "1.wav"))
    media.save_origin(os.path.join(folder, "1.mid"), {"experiment_dir": "experiments/pretrained", "seed": 7,
                                                     "seed_melody": "data/midi/<odd>.mid"})
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("not a melody")
    media.write_index(folder)

    page = read_links(folder)
    targets = [urllib.parse.unquote(link) for link in page.links if not link.startswith("#")]
    assert sorted(t for t in targets if t.endswith(".mid")) == sorted(n for n in os.listdir(folder) if n.endswith(".mid"))
    assert all(os.path.isfile(os.path.join(folder, t)) for t in targets)  # relative, and there
    assert "1.wav" in targets and "1.png" in targets and "2.wav" not in targets
    assert page.scripts == 0 and not any("//" in link for link in page.links)  # nothing from the network
    with open(os.path.join(folder, "index.html"), encoding="utf-8") as f:
        text = f.read()
    assert "my &lt;tune&gt; &amp; co.mid" in text and "data/midi/&lt;odd&gt;.mid" in text and "<b>7</b>" in text
    assert text.index('id="10"') < text.index('id="2"') < text.index('id="1"')  # newest first
    assert sorted(os.listdir(folder)) == sorted(["1.mid", "1.png", "1.wav", "1.json", "2.mid", "10.mid", "index.html",
                                                 "my <tune> & co.mid", "notes.txt"])  # no temporary file left


def test_origin_of_a_file_is_read_back_and_a_missing_one_is_none(tmp_path):
    path = str(tmp_path / "3.mid")
    assert media.load_origin(path) is None
    media.save_origin(path, {"seed": 3, "temperature": 0.8})
    assert media.load_origin(path) == {"seed": 3, "temperature": 0.8}
    with open(tmp_path / "3.json", "w") as f:
        f.write("{broken")
    assert media.load_origin(path) is None
