"""The media layer: probing without ffprobe, frames and audio through pipes, clear errors."""
import subprocess

import numpy as np
import pytest

from conftest import DATA, make_video
from leap_cli import media

SAMPLES = DATA / "demo" / "media"  # copies of the real samples (see its ATTRIBUTION.md)


def test_probe_real_samples():
    p = media.probe(str(SAMPLES / "ego4d_3c0dffd0_012_014.mp4"))
    assert (p.duration, p.width, p.height, p.fps, p.has_audio, p.audio_rate) == (2.0, 384, 288, 30.0, True, 48000)
    p = media.probe(str(SAMPLES / "cut_0.mp4"))
    assert (p.duration, p.width, p.height, p.fps, p.has_audio) == (8.0, 500, 282, 50.0, False)


def test_frames_at_a_rate_and_size(lavfi_video):
    times, frames = media.frames(str(lavfi_video), 1.0, 2.0, fps=4, size=(64, 48))
    assert frames.shape == (4, 48, 64, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(times, [1.0, 1.25, 1.5, 1.75])
    assert frames.std() > 10  # a real picture, not a blank buffer


def test_native_frames_short_side_and_batches():
    video = str(SAMPLES / "cut_0.mp4")
    batches = list(media.iter_frames(video, 2.0, 3.0, size=100, batch=16))
    assert [len(t) for t, _ in batches] == [16, 16, 16, 2]
    assert batches[0][1].shape[1:] == (100, 178, 3)


def test_frames_differ_over_time(lavfi_video):
    _, frames = media.frames(str(lavfi_video), 0.0, 3.0, fps=1)
    assert len(frames) == 3 and not np.array_equal(frames[0], frames[2])


def test_audio_tone(lavfi_video):
    x = media.audio(str(lavfi_video), 0.5, 1.5, rate=24000)
    assert x.dtype == np.float32 and abs(len(x) - 24000) <= 100
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) * 24000 / len(x) - 440) < 5


def test_audio_real_file_with_broken_seek_index():
    x = media.audio(str(SAMPLES / "epic_sounds.mp4"), 1.0, 3.0, rate=24000)
    assert abs(len(x) - 48000) < 200 and np.abs(x).max() > 0.01


def test_errors(tmp_path):
    with pytest.raises(media.MediaError, match="no such file"):
        media.probe(str(tmp_path / "missing.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(media.MediaError, match="not a media file ffmpeg can read"):
        media.frames(str(junk), 0, 1)
    with pytest.raises(media.MediaError, match=r"outside the video \(duration 8.00 s\)"):
        media.frames(str(SAMPLES / "cut_0.mp4"), 9.0, 10.0)
    with pytest.raises(media.NoAudio, match="no audio stream"):
        media.audio(str(SAMPLES / "cut_0.mp4"), 0, 1)
    silent = make_video(tmp_path / "silent.mp4", seconds=1, audio=False)
    with pytest.raises(media.NoAudio):
        media.audio(str(silent), 0, 1)


def test_probe_parses_ffmpeg_text_without_ffprobe():
    text = ("  Duration: 00:01:02.50, start: 0.000000\n"
            "  Stream #0:0[0x1](und): Video: h264 (High), yuv420p, 1920x1080 [SAR 1:1], 59.94 fps, 59.94 tbr\n"
            "  Stream #0:1[0x2](und): Audio: aac (LC), 48000 Hz, stereo, fltp\n")
    p = media.parse_probe(text)
    assert (p.duration, p.width, p.height, p.fps, p.audio_rate) == (62.5, 1920, 1080, 59.94, 48000)


def test_a_video_stored_sideways_comes_out_upright(tmp_path):
    # Phones store portrait video as landscape plus a display rotation; ffmpeg turns the frames,
    # so probe must report the turned size or the frames are squeezed into the stored one.
    plain = make_video(tmp_path / "plain.mp4", seconds=1, size="160x120", audio=False)
    turned = tmp_path / "turned.mp4"
    subprocess.run([media.ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation", "90",
                    "-i", str(plain), "-c", "copy", str(turned)], check=True)
    p = media.probe(str(turned))
    assert (p.width, p.height) == (120, 160)
    _, upright = media.frames(str(turned), 0, 0.2)
    _, stored = media.frames(str(plain), 0, 0.2)
    assert upright.shape[1:] == (160, 120, 3)
    # The first frame turned by a quarter: the stored frame's pixels, rotated (up to codec noise).
    diff = [np.abs(np.rot90(stored[0], k).astype(int) - upright[0]).mean() for k in (1, 3)]
    assert min(diff) < 8


def test_variable_frame_rate_times_stay_inside_the_window(tmp_path):
    # 2 s at 25 fps then 2 s at 12.5 fps: ffmpeg reports an average "17.01 fps" but decodes at
    # its 25 tbr; times stepped by the average ran to 7.3 s in a 5.9 s video.
    cfr = make_video(tmp_path / "cfr.mp4", seconds=4, audio=False)
    vfr = tmp_path / "vfr.mp4"
    subprocess.run([media.ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(cfr), "-vf",
                    "setpts='if(lt(N,50),N,50+(N-50)*2)/25/TB'", "-fps_mode", "vfr",
                    "-c:v", "libx264", "-preset", "ultrafast", str(vfr)], check=True)
    p = media.probe(str(vfr))
    assert p.fps == 25 and 5.8 < p.duration < 6
    times, frames = media.frames(str(vfr), 1.5, 5.5)
    assert len(times) == len(frames) == 100
    assert times[0] == 1.5 and times[-1] == pytest.approx(5.46)


def test_a_video_without_a_duration_is_decoded_not_refused(tmp_path):
    # Written to a pipe (a live capture): ffmpeg reports "Duration: N/A".
    live = tmp_path / "live.mkv"
    with open(live, "wb") as f:
        subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc=size=160x120:rate=25:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
                        "-f", "matroska", "pipe:"], stdout=f, check=True)
    assert media.probe(str(live)).duration == float("inf")
    times, frames = media.frames(str(live), 0.5, 1.0)
    assert len(frames) == 13 and times[0] == 0.5
    with pytest.raises(media.MediaError, match="no frames decoded in 5.00-6.00 s"):
        media.frames(str(live), 5.0, 6.0)


def test_a_file_that_cannot_seek():
    """The VLC-muxed EPIC sample: input-side seeking gives a short, shifted window."""
    path = str(SAMPLES / "epic_sounds.mp4")
    x = media.audio(path, 8.0, 11.0, rate=24000)
    exact = media._decode_audio(path, 8.0, 11.0, 24000, seek_input=False)
    assert abs(len(x) - 72000) < 100 and np.array_equal(x, exact)
    with pytest.raises(media.MediaError, match=r"ffmpeg decoded 28 of the 120 frames of 2.00-6.00 s: it cannot seek"):
        media.frames(path, 2.0, 6.0)
