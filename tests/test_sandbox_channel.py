"""The result channel's encoding: JSON plus npz (no pickle), shapes and dtypes kept."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from grader.sandbox.channel import arrays_to_npz, decode, encode, npz_to_arrays


def round_trip(value: Any) -> Any:
    obj, arrays = encode(value)
    return decode(obj, npz_to_arrays(arrays_to_npz(arrays)))


@pytest.mark.parametrize("arr", [
    np.array(3.5, dtype=np.float32),         # 0-d stays 0-d
    np.arange(6, dtype=np.int64).reshape(2, 3),
    np.zeros((0, 4), dtype=np.float32),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.array([True, False]),
])
def test_arrays_keep_shape_dtype_and_values(arr: np.ndarray) -> None:
    back = round_trip(arr)
    assert isinstance(back, np.ndarray)
    assert back.shape == arr.shape and back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)


def test_nested_values() -> None:
    value = {"a": [1, 2.5, None, "x"], "b": {"c": np.ones(3, dtype=np.float32)}, "t": True}
    back = round_trip(value)
    assert back["a"] == [1, 2.5, None, "x"] and back["t"] is True
    np.testing.assert_array_equal(back["b"]["c"], np.ones(3, dtype=np.float32))


def test_npz_refuses_object_arrays() -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, a=np.array([object()], dtype=object))
    with pytest.raises(ValueError):
        npz_to_arrays(buf.getvalue())
