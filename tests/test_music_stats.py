"""Promises of music_stats.py: known answers on tiny hand-made melodies."""
import numpy as np
import pytest

import music_stats


def notes(*pitches_and_lengths, rest=0):
    """(n, 3) [start_step, end_step, pitch] notes from (pitch, length) pairs, `rest` steps apart."""
    rows, start = [], 0
    for pitch, length in pitches_and_lengths:
        rows.append([start, start + length, pitch])
        start += length + rest
    return np.array(rows, dtype=np.int64)


# ----------------------------------------------------------------------------
# Music statistics


def test_one_repeated_note_puts_all_pitch_classes_on_one_and_overlaps_itself_fully():
    histogram = music_stats.pitch_class_histogram([62, 62, 62, 74])  # D, D, D, D an octave up
    assert histogram.tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert music_stats.histogram_overlap(histogram, histogram) == 1.0


def test_overlap_of_histograms_with_nothing_in_common_is_zero():
    assert music_stats.histogram_overlap(music_stats.pitch_class_histogram([60]), music_stats.pitch_class_histogram([61])) == 0.0
    assert music_stats.histogram_overlap([0.5, 0.5, 0], [0, 0.5, 0.5]) == 0.5


def test_rest_ratio_is_the_share_of_rest_steps():
    assert music_stats.rest_ratio([61, 61, 0, 0, 63, 63]) == pytest.approx(1 / 3)
    melody = notes((60, 2), (62, 2), rest=2)  # 60 60 . . 62 62
    assert music_stats.music_statistics([melody])["rest_ratio"] == pytest.approx(1 / 3)


def test_longest_repeated_run_counts_notes_in_a_row_on_one_pitch():
    assert music_stats.longest_repeated_run([60, 60, 62, 62, 62, 60]) == 3
    assert music_stats.longest_repeated_run([60, 62, 64]) == 1
    assert music_stats.longest_repeated_run([]) == 0


def test_note_lengths_of_sixteen_or_more_share_the_last_bin():
    histogram = music_stats.note_length_histogram([1, 2, 2, 16, 40])
    assert len(histogram) == music_stats.LONGEST_NOTE_BIN
    assert histogram[0] == 0.2 and histogram[1] == 0.4 and histogram[-1] == 0.4


def test_music_statistics_of_a_known_melody():
    melody = notes((60, 2), (64, 4), (67, 2), (67, 2), (72, 1))
    stats = music_stats.music_statistics([melody])
    assert (stats["lowest_pitch"], stats["highest_pitch"], stats["pitch_span"]) == (60, 72, 12)
    assert stats["notes"] == 5 and stats["steps"] == 11 and stats["rest_ratio"] == 0
    assert stats["longest_repeated_run"] == 2 and stats["in_scale_share"] == 1.0
    assert sum(stats["pitch_class_histogram"]) == pytest.approx(1)
    assert stats["note_length_histogram"][1] == pytest.approx(3 / 5)  # three notes of 2 steps
    assert stats["held_bar_share"] == 0 and stats["melodies_with_a_4_bar_note"] == 0


def test_notes_held_a_bar_or_more_are_counted_with_the_steps_inside_them():
    stuck = notes((60, 64), (62, 2), (64, 14))  # 4 bars on one note, then 16 steps of tune
    tune = notes((60, 16), (62, 16))  # two whole-bar notes
    stats = music_stats.music_statistics([stuck, tune])
    assert stats["held_bar_share"] == pytest.approx(3 / 5)  # 64, 16 and 16 steps, of 5 notes
    assert stats["held_bar_step_share"] == pytest.approx(96 / 112)
    assert stats["melodies_with_a_4_bar_note"] == 0.5


# ----------------------------------------------------------------------------
# Structure: self-repetition and copying, on melodies of whole bars

BAR_A = np.arange(2, 18, dtype=np.uint8)  # 16 onset steps: a bar of different notes
BAR_B = np.full(16, 1, dtype=np.uint8)  # a bar held
BAR_C = np.zeros(16, dtype=np.uint8)  # a bar of rest


def test_self_repetition_counts_segments_that_repeat_an_earlier_one_of_the_same_melody():
    melody = np.concatenate([BAR_A, BAR_B, BAR_A, BAR_B, BAR_A, BAR_A])  # bars A B A B A A
    assert music_stats.self_repetition([melody], 1) == 4 / 6  # the 3rd to 6th bars come back
    assert music_stats.self_repetition([melody], 2) == 1 / 3  # AB AB AA: the second AB
    assert music_stats.self_repetition([melody], 4) == 0.0  # one whole 4-bar segment: nothing before it
    assert np.isnan(music_stats.self_repetition([BAR_A], 2))  # no whole segment at all

def test_self_repetition_never_matches_across_melodies_and_drops_a_last_partial_segment():
    first, second = np.concatenate([BAR_A, BAR_B]), np.concatenate([BAR_A, BAR_B, BAR_A[:8]])
    assert music_stats.self_repetition([first, second], 1) == 0.0  # each bar is new in its own melody


def test_segments_aligned_to_the_melody_start_are_what_repeat():
    shifted = np.concatenate([BAR_C[:4], BAR_A, BAR_A, BAR_A])  # the repeats sit 4 steps off the bar lines
    assert music_stats.self_repetition([shifted], 1) == 1 / 3  # bars 2 and 3 (from step 0) are equal, bar 1 differs


def test_copied_share_finds_segments_anywhere_in_other_melodies():
    tune = np.concatenate([BAR_C[:5], BAR_A, BAR_B, BAR_C])  # A B at an offset of 5 steps
    index = music_stats.index_segments([tune], 2)
    generated = np.concatenate([BAR_A, BAR_B, BAR_B, BAR_A])  # AB (found), BA (not found)
    assert music_stats.copied_share([generated], 2, index) == 0.5
    assert music_stats.copied_share([generated], 2, music_stats.index_segments([BAR_A], 2)) == 0.0  # too short to hold one


def test_structure_statistics_report_copying_only_against_given_melodies():
    melody = np.tile(BAR_A, 8)  # one bar, 8 times
    stats = music_stats.structure_statistics([melody])
    assert (stats["repeated_1_bars"], stats["repeated_2_bars"], stats["repeated_4_bars"]) == (7 / 8, 3 / 4, 1 / 2)
    assert stats["copied_2_bars"] is None and stats["copied_4_bars"] is None
    copied = music_stats.structure_statistics([melody], {2: music_stats.index_segments([melody], 2),
                                                      4: music_stats.index_segments([melody], 4)})
    assert copied["copied_2_bars"] == 1.0 and copied["copied_4_bars"] == 1.0


# ----------------------------------------------------------------------------
# Loops and whole tunes


def test_a_block_played_three_times_in_a_row_is_a_loop_and_its_third_copy_is_counted():
    melody = np.concatenate([BAR_A, BAR_B, BAR_A, BAR_B, BAR_A, BAR_B, BAR_C])  # (A B) three times, then C
    assert music_stats.looped_bars(melody, 2).tolist() == [False] * 4 + [True, True, False]
    stats = music_stats.loop_statistics([melody, np.concatenate([BAR_A, BAR_B, BAR_A, BAR_B])])
    assert stats["looped_2_bars"] == 0.5 and stats["looped_4_bars"] == 0 and stats["looped_16_bars"] == 0
    assert stats["looped_2_bars_steps"] == pytest.approx(2 * 16 / (7 * 16 + 4 * 16))


def test_a_16_bar_part_played_three_times_is_a_loop_no_shorter_block_shows():
    part = np.concatenate([{"A": BAR_A, "B": BAR_B, "C": BAR_C}[name] for name in "ABCABBCCACBACAAB"])
    stats = music_stats.loop_statistics([np.tile(part, 3)])
    assert stats["looped_8_bars"] == 0 and stats["looped_16_bars"] == 1
    assert stats["looped_16_bars_steps"] == pytest.approx(1 / 3)


def test_whole_melodies_report_their_length_and_whether_they_end_on_the_tonic_and_a_strong_beat():
    home = notes((60, 4), (64, 4), (67, 4), (60, 20))  # C E G C: ends on C, its last note on step 12
    away = notes((60, 4), (62, 4), (64, 4), (65, 2), (67, 2))  # ends on G, on step 14
    stats = music_stats.tune_statistics([home, away])
    assert stats["ends_on_tonic"] == 0.5 and stats["ends_on_strong_beat"] == 0
    assert stats["length_bars_quartiles"][1] == pytest.approx((32 + 16) / 2 / 16)
    assert music_stats.tune_statistics([notes((60, 8), (67, 8), (60, 16))])["ends_on_strong_beat"] == 1
