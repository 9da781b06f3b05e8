import numpy as np
import pytest

from rramlsm.errors import EventDataError
from rramlsm.sw.events import (
    AudioFraming,
    VisionFraming,
    frame_audio,
    frame_vision,
    make_audio_events,
    make_vision_events,
    validate_events,
)


def _naive_vision(ev, T, reduce, polarity):
    out = np.zeros((T, 512 if polarity == "both" else 256), np.uint8)
    t0, t1 = ev["t"].min(), ev["t"].max()
    for e in ev:
        b = (int(e["t"]) - t0) * T // (t1 - t0 + 1)
        if reduce == "crop":
            c, r = int(e["x"]) - 9, int(e["y"]) - 9
        else:
            c, r = (int(e["x"]) - 1) // 2, (int(e["y"]) - 1) // 2
        if not (0 <= c < 16 and 0 <= r < 16):
            continue
        if polarity == "on" and e["p"] != 1 or polarity == "off" and e["p"] != 0:
            continue
        slot = 1 - int(e["p"]) if polarity == "both" else 0
        out[b, slot * 256 + r * 16 + c] = 1
    return out


def _random_vision(rng, n):
    t = np.sort(rng.integers(0, 300_000, n))
    return make_vision_events(rng.integers(0, 34, n), rng.integers(0, 34, n), t,
                              rng.integers(0, 2, n))


@pytest.mark.parametrize("reduce", ["pool", "crop"])
@pytest.mark.parametrize("polarity", ["on", "off", "both"])
def test_vision_framing_matches_a_per_event_loop(reduce, polarity):
    rng = np.random.default_rng(1)
    samples = [_random_vision(rng, n) for n in (500, 1, 37)]
    framing = VisionFraming(steps=7, reduce=reduce, polarity=polarity)
    got = frame_vision(samples, framing)
    assert got.shape == (3, 7, framing.inputs)
    for i, ev in enumerate(samples):
        np.testing.assert_array_equal(got[i], _naive_vision(ev, 7, reduce, polarity))


def test_vision_framing_hand_checked():
    ev = make_vision_events([1, 2, 33], [1, 1, 33], [0, 49, 99], [1, 1, 1])
    fr = frame_vision([ev], VisionFraming(steps=2))
    # (1,1) and (2,1) pool to cell (0,0) in bin 0; (33,33) is on the border: dropped.
    assert fr.sum() == 1 and fr[0, 0, 0] == 1


def test_audio_framing_chunks_and_pads():
    # Recording of 10 ms -> raster 10 bins; T=4 -> chunk of 3 bins; last chunk padded.
    ev = make_audio_events([0, 5, 5, 63], [0, 2_999, 3_000, 9_999], [1, 0, 1, 1])
    fr = frame_audio([ev], AudioFraming(steps=4))
    expected = np.zeros((4, 64), np.uint8)
    expected[0, 0] = expected[0, 5] = expected[1, 5] = expected[3, 63] = 1
    np.testing.assert_array_equal(fr[0], expected)


def test_audio_framing_is_binary_and_per_sample():
    rng = np.random.default_rng(0)
    samples = [make_audio_events(rng.integers(0, 64, n), np.sort(rng.integers(0, 500_000, n)),
                                 rng.integers(0, 2, n)) for n in (1000, 3)]
    fr = frame_audio(samples)
    assert fr.shape == (2, 129, 64) and set(np.unique(fr)) <= {0, 1}
    assert fr[1].sum() <= 3


def test_empty_batch_frames_to_zeros():
    assert frame_vision([]).shape == (0, 50, 256)


@pytest.mark.parametrize("field,value,message", [
    ("x", 34, "x=34 outside the sensor"),
    ("y", -1, "y=-1 outside the sensor"),
])
def test_validate_rejects_coordinates_outside_sensor(field, value, message):
    ev = make_vision_events([1, 2], [1, 2], [0, 1], [0, 1])
    ev[field][1] = value
    with pytest.raises(EventDataError, match=message):
        validate_events(ev, where="f.bin", sensor=(34, 34))


def test_validate_rejects_time_going_backwards_and_empty():
    ev = make_vision_events([1, 2], [1, 2], [10, 5], [0, 1])
    with pytest.raises(EventDataError, match="f.bin: timestamps go backwards at event 1"):
        validate_events(ev, where="f.bin", sensor=(34, 34))
    with pytest.raises(EventDataError, match="f.bin: recording holds no events"):
        validate_events(ev[:0], where="f.bin", sensor=(34, 34))


def test_framing_configs_validate():
    with pytest.raises(ValueError, match="VisionFraming steps must be a positive integer, not 0"):
        VisionFraming(steps=0)
    with pytest.raises(ValueError, match="reduce must be 'pool' or 'crop'"):
        VisionFraming(reduce="max")
    with pytest.raises(ValueError, match="AudioFraming steps must be a positive integer, not -1"):
        AudioFraming(steps=-1)
