"""convtool.dask against the in-memory engine (and scipy), block edges and border modes."""

import os

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import convtool  # noqa: E402
from convtool import dask as cdask  # noqa: E402
from convtool.chain.memory import FilterOptions, apply_chain  # noqa: E402
from convtool.engine import BORDER_MODES, EngineError  # noqa: E402
from convtool.kernels import parse_kernel  # noqa: E402

ndimage = pytest.importorskip("scipy.ndimage")


@pytest.fixture(autouse=True)
def _synchronous():
    # Tiny graphs: the single-threaded scheduler is the fastest and shows plain tracebacks.
    with dask.config.set(scheduler="synchronous"):
        yield


def _image(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _both(img, chunks, kernel, *, convolve=False, **kw):
    """(dask result computed, in-memory result) for the same arguments."""
    x = da.from_array(img, chunks=chunks)
    fn, ref = (
        (cdask.convolve, convtool.convolve) if convolve else (cdask.correlate, convtool.correlate)
    )
    lazy = fn(x, kernel, **kw)
    got = lazy.compute()
    assert got.shape == lazy.shape and got.dtype == lazy.dtype
    return got, ref(img, kernel, **kw)


@pytest.mark.parametrize("border", BORDER_MODES)
@pytest.mark.parametrize(
    ("shape", "chunks", "ksize", "stride", "dilation"),
    [
        ((23, 31), (7, 5), (3, 3), 1, 1),  # odd kernel, ragged chunks
        ((23, 31), (7, 5), (4, 2), 1, 1),  # even sizes: anchor off centre
        ((23, 31), (7, 5), (3, 4), 3, 1),  # stride 3, chunks 7 and 5 are not multiples of it
        ((23, 31), (6, 9), (3, 3), (2, 3), 2),  # dilation, per-axis stride
        ((23, 31), (2, 1), (5, 5), 1, 1),  # chunks smaller than the halo
        ((17, 12, 3), (4, 5, 1), (3, 3), 2, 1),  # colour, channel axis split into chunks
    ],
)
@pytest.mark.parametrize("convolve", [False, True])
def test_every_border_mode_matches_the_engine(
    border, shape, chunks, ksize, stride, dilation, convolve
):
    img = _image(shape)
    kernel = np.random.default_rng(1).standard_normal(ksize)
    kw = dict(border=border, cval=0.25, stride=stride, dilation=dilation, strategy="direct")
    got, want = _both(img, chunks, kernel, convolve=convolve, **kw)
    # The direct strategy does the same float32 operations per pixel in every block.
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("border", BORDER_MODES)
def test_channel_mixing_and_depthwise_kernels(border):
    img = _image((19, 22, 3))
    rng = np.random.default_rng(2)
    mixing = rng.standard_normal((4, 3, 3, 5))
    got, want = _both(img, (5, 6, 2), mixing, border=border, stride=2, bias=np.arange(5.0))
    assert got.shape[2] == 5
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    depthwise = rng.standard_normal((2, 5, 3))
    got, want = _both(img, (4, 7, 1), depthwise, border=border, dilation=(1, 2))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap", "constant"])
def test_padding_modes_against_scipy(mode):
    # An oracle outside convtool: a chunk that pads itself (dask-image's old wrap bug)
    # would see its own far edge instead of the neighbour chunk's.
    img = _image((40, 33))
    kernel = np.random.default_rng(3).standard_normal((5, 4))
    x = da.from_array(img, chunks=(9, 8))
    got = cdask.correlate(x, kernel, border=mode, cval=0.5).compute()
    want = ndimage.correlate(img.astype(np.float64), kernel, mode=mode, cval=0.5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@given(
    h=st.integers(1, 14),
    w=st.integers(1, 14),
    ch=st.integers(1, 6),
    cw=st.integers(1, 6),
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    border=st.sampled_from(BORDER_MODES),
    convolve=st.booleans(),
)
def test_any_small_shape_and_chunking(h, w, ch, cw, kh, kw, stride, dilation, border, convolve):
    eh, ew = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    assume(border != "valid" or (eh <= h and ew <= w))
    img = _image((h, w), seed=h * 100 + w)
    kernel = np.random.default_rng(kh * 10 + kw).standard_normal((kh, kw))
    kwargs = dict(border=border, cval=-1.5, stride=stride, dilation=dilation, strategy="direct")
    got, want = _both(img, (ch, cw), kernel, convolve=convolve, **kwargs)
    np.testing.assert_array_equal(got, want)


def test_same_size_output_keeps_the_input_chunks():
    x = da.from_array(_image((50, 40)), chunks=(20, 15))
    out = cdask.correlate(x, np.ones((3, 3)), border="mirror")
    assert out.chunks == x.chunks


def test_stride_output_chunks_start_on_the_stride_phase():
    img = _image((30, 30))
    x = da.from_array(img, chunks=(7, 7))
    out = cdask.correlate(x, np.ones((2, 2)), border="nearest", stride=3, strategy="direct")
    want = convtool.correlate(img, np.ones((2, 2)), border="nearest", stride=3, strategy="direct")
    # Every block is checked on its own: a block starting off the phase would shift its rows.
    offsets = np.cumsum((0,) + out.chunks[0])
    for i, start in enumerate(offsets[:-1]):
        block = out.blocks[i, 0].compute()
        np.testing.assert_array_equal(block, want[start : offsets[i + 1], : block.shape[1]])


def test_integer_and_float64_inputs_keep_the_engine_dtypes():
    img = (np.arange(120).reshape(10, 12) % 7).astype(np.uint8)
    got, want = _both(img, 4, np.ones((3, 3)) / 9)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    got, want = _both(img.astype(np.float64), 4, np.ones((3, 3)) / 9)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_bad_arguments_fail_before_computing():
    x = da.zeros((8, 8), chunks=4)
    with pytest.raises(EngineError, match="unknown border"):
        cdask.correlate(x, np.ones((3, 3)), border="bogus")
    with pytest.raises(EngineError, match="larger than the image"):
        cdask.correlate(x, np.ones((9, 9)), border="valid")
    with pytest.raises(EngineError, match="bias"):
        cdask.correlate(x, np.ones((3, 3)), bias=[1.0, 2.0])
    with pytest.raises(EngineError, match="2-D"):
        cdask.correlate(da.zeros((4,), chunks=2), np.ones((3, 3)))
    with pytest.raises(EngineError, match="input channel"):
        cdask.correlate(da.zeros((8, 8, 2), chunks=4), np.ones((3, 3, 3, 1)))


@pytest.mark.parametrize(
    ("alpha", "border", "stride"),
    [
        ("keep", "mirror", 1),
        ("keep", "valid", 2),
        ("keep", "full", 1),
        ("premultiply", "wrap", 1),
        ("filter", "reflect", 2),
        ("drop", "constant", 1),
    ],
)
@pytest.mark.parametrize("convolve", [False, True])
def test_chain_matches_the_in_memory_chain(alpha, border, stride, convolve):
    img = _image((21, 26, 4), seed=5)
    steps = [parse_kernel("gaussian:1"), parse_kernel("sobel"), parse_kernel("box:4,2")]
    opts = dict(border=border, cval=0.3, convolve=convolve, stride=stride, scale=1.5, bias=0.1)
    opts.update(alpha=alpha, normalize=True)
    x = da.from_array(img, chunks=(6, 5, 2))
    got = cdask.apply_chain(x, steps, FilterOptions(**opts), has_alpha=True).compute()
    want = apply_chain(img, steps, FilterOptions(**opts), has_alpha=True)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_chain_errors_are_the_in_memory_ones():
    x = da.zeros((8, 8), chunks=4)
    with pytest.raises(EngineError, match="no kernel"):
        cdask.apply_chain(x, [], FilterOptions())
    with pytest.raises(EngineError, match="alpha mode"):
        cdask.apply_chain(x, [parse_kernel("box:3")], FilterOptions(alpha="bogus"))


@pytest.mark.parametrize("shape", [(4, 13, 11), (3, 13, 11, 3)])
def test_stacks_filter_frame_by_frame(shape):
    stack = _image(shape, seed=9)
    kernel = np.random.default_rng(10).random((3, 4))
    x = da.from_array(stack, chunks=(2, 5, 4, 3)[: len(shape)])
    got = cdask.correlate(x, kernel, border="wrap", stride=2, axes=(1, 2)).compute()
    want = np.stack([convtool.correlate(f, kernel, border="wrap", stride=2) for f in stack])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_stack_chain_keeps_each_frames_alpha():
    stack = _image((3, 20, 18, 4), seed=11)
    steps = [parse_kernel("gaussian:1"), parse_kernel("box:3")]
    opts = FilterOptions(border="valid", stride=2, alpha="keep")
    x = da.from_array(stack, chunks=(1, 8, 7, 4))
    got = cdask.apply_chain(x, steps, opts, has_alpha=True, axes=(-3, -2)).compute()
    want = np.stack([apply_chain(f, steps, opts, has_alpha=True) for f in stack])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_stack_needs_its_axes():
    with pytest.raises(EngineError, match=r"or a stack \(T, H, W\[, C\]\) with axes=\(1, 2\)"):
        cdask.correlate(da.zeros((2, 8, 8, 3), chunks=4), np.ones((3, 3)))
    with pytest.raises(EngineError, match="axes"):
        cdask.correlate(da.zeros((2, 8, 8), chunks=4), np.ones((3, 3)), axes=(0, 2))


@pytest.mark.parametrize("border", ["reflect", "mirror", "nearest", "wrap"])
def test_padding_is_slices_not_a_take(border):
    # da.take's shuffle graph made distributed lose keys on repeated crops (issue 27).
    img = _image((9, 7))
    lazy = cdask.correlate(da.from_array(img, chunks=4), np.ones((7, 9)), border=border)
    assert not any("take" in name or "shuffle" in name for name in lazy.dask.layers)
    want = convtool.correlate(img, np.ones((7, 9)), border=border)  # pads longer than chunks
    np.testing.assert_allclose(lazy.compute(), want, rtol=1e-5, atol=1e-5)


def test_a_dataarray_keeps_its_dims_and_coordinates():
    xr = pytest.importorskip("xarray")
    img = _image((10, 8, 3), seed=12)
    coords = {"y": np.arange(10) * 0.5, "x": np.arange(8) + 100, "band": ["r", "g", "b"]}
    arr = xr.DataArray(img, dims=("y", "x", "band"), coords=coords, attrs={"units": "dn"})
    got = cdask.correlate(arr.chunk({"y": 4}), np.ones((3, 3)) / 9, border="mirror")
    assert isinstance(got, xr.DataArray) and got.dims == ("y", "x", "band")
    assert got.attrs == {"units": "dn"}
    for name in coords:
        np.testing.assert_array_equal(got[name].values, arr[name].values)
    want = convtool.correlate(img, np.ones((3, 3)) / 9, border="mirror")
    np.testing.assert_allclose(got.values, want, rtol=1e-5, atol=1e-6)
    # A stack by dim names, frames along "time"; a stride keeps only the coordinates it keeps.
    stack = xr.DataArray(_image((2, 10, 8)), dims=("time", "y", "x"),
                         coords={"time": [1, 2], "y": np.arange(10)})  # fmt: skip
    strided = cdask.correlate(stack, np.ones((3, 3)), stride=2)
    assert strided.dims == ("time", "y", "x") and strided.shape == (2, 5, 4)
    assert list(strided.coords) == ["time"]


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster


def test_correlate_on_a_local_cluster(cluster):
    from distributed import Client

    img = _image((120, 90, 3), seed=7)
    kernel = np.random.default_rng(8).standard_normal((5, 4, 3, 2))
    with Client(cluster) as client:
        pids = client.run(os.getpid)
        x = da.from_array(img, chunks=(31, 40, 3))
        lazy = cdask.correlate(x, kernel, border="wrap", stride=2)
        got = client.compute(lazy).result()
    assert len(pids) == 2 and os.getpid() not in pids.values()  # two real worker processes
    want = convtool.correlate(img, kernel, border="wrap", stride=2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
