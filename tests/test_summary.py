"""summary(): totals equal the parameter sizes, per-layer MACs follow the hand formulas (Linear, any 4-D-weight
conv, attention), separable convs are compared with a standard conv, and the forward pass leaves no trace."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet.nn import Module, Parameter
from tinynet.summary import summary
from tinynet.tensor import Tensor

nn = tn.nn


class FakeConv(Module):
    """A conv-shaped leaf: a 4-D weight (O, C/groups, kh, kw), output (N, O, H, W) — only shapes matter here."""

    def __init__(self, c, o, k, groups=1):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size, self.groups = c, o, (k, k), groups
        self.weight = Parameter(np.zeros((o, c // groups, k, k), dtype=np.float32))
        self.bias = Parameter(np.zeros(o, dtype=np.float32))

    def forward(self, x):
        return Tensor(np.zeros((x.shape[0], self.out_channels) + x.shape[2:], dtype=x.dtype))


class FakeSeparable(Module):
    """Depthwise (groups = C) then pointwise (1x1): the weights live in the children."""

    def __init__(self, c, o, k):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = c, o, k
        self.depthwise = FakeConv(c, c, k, groups=c)
        self.pointwise = FakeConv(c, o, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


@given(sizes=st.lists(st.integers(1, 9), min_size=2, max_size=5))
def test_totals_equal_parameter_sizes_and_linear_macs_are_in_times_out(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers)
    s = summary(model, (sizes[0],), print_table=False)
    assert s.total_params == sum(p.size for p in model.parameters())
    assert s.total_params == sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    assert s.total_macs == sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    linear_rows = [r for r in s.rows if r["type"] == "Linear"]
    assert [r["output_shape"] for r in linear_rows] == [("N", b) for b in sizes[1:]]
    assert sum(r["params"] for r in s.rows) == s.total_params       # a flat model: rows partition the params


def test_nested_rows_count_their_subtree_and_depth_limits_rows():
    model = nn.Sequential(nn.Linear(4, 6), nn.Residual(nn.Sequential(nn.Linear(6, 6), nn.Tanh())), nn.Linear(6, 3))
    s = summary(model, (4,), print_table=False)
    by_name = {r["name"]: r for r in s.rows}
    assert by_name["1"]["params"] == by_name["1.block"]["params"] == by_name["1.block.0"]["params"] == 42
    assert by_name["1"]["macs"] == 36 and by_name["1.block.1"]["macs"] == 0
    assert s.total_macs == 24 + 36 + 18
    shallow = summary(model, (4,), depth=1, print_table=False)
    assert [r["name"] for r in shallow.rows] == ["0", "1", "2"]
    assert shallow.total_params == s.total_params == 30 + 42 + 21


def test_conv_macs_per_output_element_are_c_over_groups_times_kernel():
    model = nn.Sequential(FakeConv(4, 8, 3), FakeConv(8, 8, 3, groups=8), FakeConv(8, 16, 1))
    s = summary(model, (4, 5, 6), print_table=False)
    macs = [r["macs"] for r in s.rows]
    assert macs == [8 * 30 * 4 * 9, 8 * 30 * 1 * 9, 16 * 30 * 8 * 1]
    assert s.rows[2]["output_shape"] == ("N", 16, 5, 6)


def test_separable_conv_is_compared_with_a_standard_conv():
    model = nn.Sequential(FakeSeparable(8, 16, 3))
    s = summary(model, (8, 4, 4), print_table=False)
    (sep,) = s.separable
    assert sep["params"] == (8 * 9 + 8) + (16 * 8 + 16)
    assert sep["macs"] == 8 * 16 * 9 + 16 * 16 * 8
    assert sep["standard_params"] == 16 * 8 * 9 + 16
    assert sep["standard_macs"] == 16 * 16 * 8 * 9
    assert "standard" in str(s) and "FakeSeparable" in str(s)


def test_attention_macs_follow_the_formula():
    e, heads, length = 8, 2, 5
    model = nn.Sequential(nn.MultiHeadAttention(e, heads))
    s = summary(model, (length, e), print_table=False)
    expected = 3 * length * e * e + 2 * length * length * e + length * e * e   # q,k,v; QKᵀ and PV; out_proj
    assert s.total_macs == expected
    assert s.total_params == 4 * e * e + 4 * e


def test_summary_prints_a_table_and_leaves_no_trace(capsys):
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model.train()
    before = model.state_dict()
    with tn.Tape() as tape:
        s = summary(model, (3,))
    assert len(tape) == 0
    text = capsys.readouterr().out
    assert text == str(s) + "\n"
    for word in ("Layer (type)", "Output shape", "Params", "MACs", "0 (Linear)", "(N, 4)", "Total params: 26"):
        assert word in text
    assert all(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    assert "26 params" in repr(s)


def test_summary_errors():
    with pytest.raises(TypeError, match="Module"):
        summary(lambda x: x, (3,))
    with pytest.raises(ValueError, match="input_shape"):
        summary(nn.Linear(3, 2), (0,))
