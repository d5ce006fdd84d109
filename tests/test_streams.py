"""Image streams: many images (or raw frames) through `filter - -o -` and `find -`, in order,
frame by frame, in bounded memory; `find -t` over every frame of an animation."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from convtool.cli import cli
from convtool.images import iter_frames, write_frames

ndi = pytest.importorskip("scipy.ndimage")
rng = np.random.default_rng(2024)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, data: bytes):
    return CliRunner().invoke(cli, args, input=data, catch_exceptions=False)


def frames_u8(n, shape=(6, 9, 3)):
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def ppm(arr: np.ndarray) -> bytes:
    """A binary PPM/PGM by hand (the format's own layout, not the code under test)."""
    magic = b"P6" if arr.ndim == 3 else b"P5"
    maxval = 255 if arr.dtype == np.uint8 else 65535
    head = magic + f"\n{arr.shape[1]} {arr.shape[0]}\n{maxval}\n".encode()
    return head + arr.astype(">u2" if maxval == 65535 else "u1").tobytes()


def box3(arr: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """scipy's 3x3 mean with reflected borders (dcba|abcd, as --border reflect), rounded."""
    values = arr.astype(np.float64) / scale
    size = (3, 3, 1) if arr.ndim == 3 else (3, 3)
    out = ndi.uniform_filter(values, size=size, mode="reflect")
    return np.rint(np.clip(out, 0, 1) * scale)


def split_png(data: bytes) -> list[bytes]:
    """Concatenated PNG files, split by walking their chunks (length, type, body, CRC)."""
    files, start, pos = [], 0, 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        pos += 12 + length
        if kind == b"IEND":
            files.append(data[start:pos])
            start, pos = pos, pos + 8
    return files


def close_to(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and np.abs(got.astype(np.float64) - want).max() <= 1


# --- filter over streams ----------------------------------------------------------------------


def test_three_ppm_images_give_three_outputs_in_order():
    frames = frames_u8(3)
    result = run(["filter", "-", "-k", "box:3", "-o", "-"], b"".join(ppm(f) for f in frames))
    assert result.exit_code == 0, result.stderr
    out, head = result.stdout_bytes, b"P6\n9 6\n255\n"
    size = len(head) + frames[0].nbytes
    assert len(out) == 3 * size
    for i, f in enumerate(frames):
        chunk = out[i * size : (i + 1) * size]
        assert chunk.startswith(head)
        got = np.frombuffer(chunk[len(head) :], np.uint8).reshape(f.shape)
        assert close_to(got, box3(f))


def test_three_png_images_give_three_pngs_in_order():
    frames = frames_u8(3, (7, 5, 3))
    stream = io.BytesIO()
    for f in frames:
        Image.fromarray(f).save(stream, "PNG")
    result = run(["filter", "-", "-k", "box:3", "-o", "-"], stream.getvalue())
    assert result.exit_code == 0, result.stderr
    pngs = split_png(result.stdout_bytes)
    assert len(pngs) == 3
    for data, f in zip(pngs, frames, strict=True):
        assert close_to(np.asarray(Image.open(io.BytesIO(data))), box3(f))


RAW = [
    ("7x5", np.uint8, (5, 7, 3)), ("7x5x1", np.uint8, (5, 7)), ("7x5x4:u8", np.uint8, (5, 7, 4)),
    ("7x5x1:u16", "<u2", (5, 7)), ("7x5x3:u16", "<u2", (5, 7, 3)), ("7x5x1:f32", "<f4", (5, 7)),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "dtype", "shape"), RAW)
def test_raw_frames_of_each_form(tmp_path, spec, dtype, shape):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        frames = [rng.random(shape).astype(dtype) for _ in range(3)]
    else:
        frames = [rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype) for _ in range(3)]
    data = b"".join(f.tobytes() for f in frames)  # little-endian, as ffmpeg's *le formats
    ident = tmp_path / "id.txt"
    ident.write_text("1\n")
    same = run(["filter", "-", "--raw", spec, "-k", str(ident), "-o", "-"], data)
    assert same.exit_code == 0, same.stderr
    assert same.stdout_bytes == data  # raw in, raw out: same layout, every frame, in order
    blur = run(["filter", "-", "--raw", spec, "-k", "box:3", "-o", "-", "--alpha", "filter"], data)
    got = np.frombuffer(blur.stdout_bytes, dtype).reshape(3, *shape)
    scale = 1.0 if dtype.kind == "f" else float(np.iinfo(dtype).max)
    for g, f in zip(got, frames, strict=True):
        want = box3(f, scale) if dtype.kind != "f" else ndi.uniform_filter(
            f.astype(np.float64), size=(3, 3, 1)[: f.ndim], mode="reflect")  # fmt: skip
        assert np.abs(g - want).max() <= (1 if dtype.kind != "f" else 1e-6)


def test_raw_frames_to_ppm_with_format():
    frames = frames_u8(2, (4, 6, 3))
    result = run(["filter", "-", "--raw", "6x4x3", "-k", "box:3", "-o", "-", "--format", "ppm"],
                 b"".join(f.tobytes() for f in frames))  # fmt: skip
    head = b"P6\n6 4\n255\n"
    assert result.stdout_bytes.count(head) == 2
    assert len(result.stdout_bytes) == 2 * (len(head) + frames[0].nbytes)


def _convtool(args, data: bytes):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "convtool", *args], input=data,
                          capture_output=True, env=env, timeout=120)  # fmt: skip


def test_stream_cut_mid_frame_keeps_earlier_frames(tmp_path):
    frames = frames_u8(3, (4, 5, 3))
    ident = tmp_path / "id.txt"
    ident.write_text("1\n")
    data = b"".join(f.tobytes() for f in frames) + frames[0].tobytes()[:25]
    done = _convtool(["filter", "-", "--raw", "5x4", "-k", str(ident), "-o", "-"], data)
    assert done.returncode == 2
    assert done.stdout == b"".join(f.tobytes() for f in frames)
    assert done.stderr == b"Error: stdin: frame 4 truncated (25 of 60 bytes)\n"
    cut = b"".join(ppm(f) for f in frames)[:-7]
    done = _convtool(["filter", "-", "-k", str(ident), "-o", "-"], cut)
    assert done.returncode == 2
    assert done.stdout == b"".join(ppm(f) for f in frames[:2])
    assert done.stderr == b"Error: stdin: frame 3 truncated\n"


def test_stream_to_files(tmp_path):
    frames = frames_u8(3, (5, 4, 3))
    data = b"".join(ppm(f) for f in frames)
    ident = tmp_path / "id.txt"
    ident.write_text("1\n")
    assert (
        run(["filter", "-", "-k", str(ident), "-o", str(tmp_path / "o.ppm")], data).exit_code == 0
    )
    assert (tmp_path / "o.ppm").read_bytes() == data  # images one after another, atomically
    assert (
        run(["filter", "-", "-k", str(ident), "-o", str(tmp_path / "o.png")], data).exit_code == 0
    )
    with Image.open(tmp_path / "o.png") as im:  # an APNG, as a multi-frame input gives
        assert im.n_frames == 3
        im.seek(2)
        assert np.array_equal(np.asarray(im.convert("RGB")), frames[2])
    result = run(["filter", "-", "-k", str(ident), "-o", str(tmp_path / "o.jpg")], data)
    assert result.exit_code == 2 and not (tmp_path / "o.jpg").exists()
    assert result.stderr == (
        "Error: the stream has more than one frame but JPEG holds one: write one of GIF, PNG, "
        "WEBP, TIFF, PGM, PPM, PNM, PAM, PFM, or a stream to -o -\n"
    )


def _peak_rss_kb(frames: int, shape=(96, 128, 3)) -> int:
    """Peak RSS of `filter - --raw` over ``frames`` raw frames fed through a pipe."""
    frame = rng.integers(0, 256, shape, dtype=np.uint8).tobytes()
    spec = f"{shape[1]}x{shape[0]}x{shape[2]}"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "convtool", "filter", "-", "--raw", spec, "-k", "box:3", "-o", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip

    def feed() -> None:
        for _ in range(frames):
            proc.stdin.write(frame)
        proc.stdin.close()

    writer = threading.Thread(target=feed)
    writer.start()
    total = 0
    while chunk := proc.stdout.read(1 << 20):
        total += len(chunk)
    writer.join()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0 and total == frames * len(frame)
    return usage.ru_maxrss


@pytest.mark.slow
def test_memory_does_not_grow_with_the_frame_count():
    """1,000 frames (36 MB through the pipe) peak within a few MB of 100 frames."""
    few, many = _peak_rss_kb(100), _peak_rss_kb(1000)
    assert many - few < 12 * 1024, (few, many)


def test_library_iterator_over_a_pipe():
    frames = frames_u8(3, (4, 6))
    code = "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"  # a producer process
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)  # fmt: skip
    proc.stdin.write(b"".join(ppm(f) for f in frames))
    proc.stdin.close()
    out = io.BytesIO()
    got = [(f.values() * 2, f.info) for f in iter_frames(proc.stdout)]
    proc.wait()
    assert write_frames(out, got, "pgm") == 3
    size = len(b"P5\n6 4\n255\n") + 24
    for i, f in enumerate(frames):
        chunk = out.getvalue()[i * size : (i + 1) * size]
        want = np.clip(f.astype(np.int64) * 2, 0, 255)
        assert np.array_equal(np.frombuffer(chunk[-24:], np.uint8).reshape(4, 6), want)


# --- find over streams and frames ---------------------------------------------------------------


def _scene_and_template(n=3, hit=2):
    tpl = rng.integers(0, 256, (10, 14), dtype=np.uint8)
    frames = [rng.integers(0, 256, (40, 50), dtype=np.uint8) for _ in range(n)]
    frames[hit - 1][12:22, 25:39] = tpl
    return frames, tpl


def test_find_json_lines_on_a_stream(tmp_path):
    frames, tpl = _scene_and_template(3, hit=2)
    Image.fromarray(tpl).save(tmp_path / "t.png")
    data = b"".join(ppm(f) for f in frames)
    result = run(["find", "-", str(tmp_path / "t.png"), "--json"], data)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"frame": 2, "x": 25, "y": 12, "width": 14, "height": 10, "score": 1.0}
    ]
    result = run(["find", "-t", str(tmp_path / "t.png"), "-", "--json"], data)
    assert json.loads(result.stdout)["file"] == "-" and json.loads(result.stdout)["frame"] == 2
    miss = run(["find", "-", str(tmp_path / "t.png"), "--frame", "1,3"], data)
    assert miss.exit_code == 1 and miss.stdout == ""


def test_find_t_searches_every_frame_of_a_gif(tmp_path):
    frames, tpl = _scene_and_template(4, hit=3)
    images = [Image.fromarray(f).convert("P") for f in frames]
    gif = tmp_path / "anim.gif"
    images[0].save(gif, save_all=True, append_images=images[1:], duration=100)
    Image.fromarray(tpl).save(tmp_path / "t.png")
    t = str(tmp_path / "t.png")
    tsv = run(["find", "-t", t, str(gif)], b"")
    assert tsv.exit_code == 0
    assert tsv.stdout == f"{gif}\t3\t25\t12\t14\t10\t1.0000\n"
    csv = run(["find", "-t", t, str(gif), "--csv"], b"").stdout.splitlines()
    assert csv == ["file,frame,x,y,width,height,score", f"{gif},3,25,12,14,10,1.0"]
    records = json.loads(run(["find", "-t", t, str(gif), "--json"], b"").stdout)
    assert [r["frame"] for r in records] == [3]
    assert run(["find", "-t", t, str(gif), "--frame", "1-2"], b"").exit_code == 1
    picked = run(["find", "-t", t, str(gif), "--frame", "3"], b"")
    assert picked.exit_code == 0 and picked.stdout.split("\t")[1] == "3"
    single = run(["find", str(gif), t, "--frame", "2-4", "--json"], b"")
    assert json.loads(single.stdout)[0]["frame"] == 3


def test_raw_layout_errors():
    result = run(["filter", "-", "--raw", "12by4", "-k", "box:3", "-o", "-"], b"x")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --raw 12by4: give WIDTHxHEIGHT[xCHANNELS][:u8|u16|f32], e.g. 1920x1080x3 or "
        "640x480x1:u16\n"
    )


def test_encoded_png_stream_reader_keeps_16_bits():
    """A 16-bit PNG in a stream keeps its depth (written by zlib by hand, read by ours)."""
    arr = rng.integers(0, 65536, (3, 4), dtype=np.uint16)
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in arr)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))  # fmt: skip

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 16, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip
    got = list(iter_frames(png + png))
    assert len(got) == 2 and got[1].info.depth == "16"
    assert np.array_equal(got[1].pixels, arr)


def test_plain_and_mixed_streams(tmp_path):
    """Plain PGM images with whitespace between them, then a PNG: one stream, in order; junk
    after them is one error line after the frames before it."""
    ident = tmp_path / "id.txt"
    ident.write_text("1\n")
    png = io.BytesIO()
    Image.fromarray(np.array([[7, 8]], np.uint8)).save(png, "PNG")
    data = b"P2 2 1 255\n1 2\n\n  P2\n# c\n2 1 255 3 4\n" + png.getvalue()
    result = run(["filter", "-", "-k", str(ident), "-o", "-", "--format", "pgm"], data)
    assert result.exit_code == 0, result.stderr
    frame = b"P5\n2 1\n255\n"
    assert result.stdout_bytes == frame + b"\x01\x02" + frame + b"\x03\x04" + frame + b"\x07\x08"
    bad = run(["filter", "-", "-k", str(ident), "-o", "-"], data + b"JUNK")
    assert bad.exit_code == 2
    assert (
        bad.stderr
        == "Error: stdin: frame 4 is not a Netpbm, PFM or PNG image (starts with b'JUNK')\n"
    )


def test_blas_held_to_one_thread_inside_the_block_only():
    from convtool import _blas

    api = _blas._api()
    if api is None:
        pytest.skip("no OpenBLAS found in this process")
    get, _ = api
    before = get()
    with _blas.single_threaded_blas(), _blas.single_threaded_blas():
        assert get() == 1
    assert get() == before


def split_ppm16(data: bytes, shape) -> list[np.ndarray]:
    """Concatenated 16-bit binary PPMs of one known shape, by their fixed sizes."""
    h, w, c = shape
    head = f"P6\n{w} {h}\n65535\n".encode()
    size = len(head) + h * w * c * 2
    assert len(data) % size == 0
    out = []
    for i in range(0, len(data), size):
        assert data[i : i + len(head)] == head
        body = data[i + len(head) : i + size]
        out.append(np.frombuffer(body, ">u2").reshape(h, w, c))
    return out


def test_stream_without_a_kernel_converts_depth_frame_by_frame():
    frames = frames_u8(3)
    res = run(["filter", "-", "--depth", "16", "-o", "-"], b"".join(ppm(f) for f in frames))
    assert res.exit_code == 0, res.output
    got = split_ppm16(res.stdout_bytes, frames[0].shape)
    assert [g.tolist() for g in got] == [(f.astype(np.uint16) * 257).tolist() for f in frames]


def test_stream_depth_float_keeps_signed_results_in_pfm():
    frames = frames_u8(2)
    res = run(
        ["filter", "-", "-k", "-1 0 1", "--depth", "float", "--format", "pfm", "-o", "-"],
        b"".join(ppm(f) for f in frames),
    )
    assert res.exit_code == 0, res.output
    out = list(iter_frames(io.BytesIO(res.stdout_bytes)))
    assert len(out) == 2
    for frame, src in zip(out, frames, strict=True):
        want = ndi.correlate1d(src.astype(np.float64) / 255, [-1, 0, 1], axis=1, mode="reflect")
        assert frame.pixels.dtype == np.float32 and frame.pixels.min() < 0
        np.testing.assert_allclose(frame.pixels, want, atol=1e-6)
