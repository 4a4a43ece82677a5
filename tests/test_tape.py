"""The engine: accumulation, no_grad, detach, propagation, release, depth, memory, aliasing, the visible tape."""
import gc
import re
import tracemalloc
import weakref

import numpy as np
import pytest

import tinynet as tn


def leaf(values, dtype=np.float64):
    return tn.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- gradients land where PyTorch puts them -----------------------------------------------------------------
def test_gradients_accumulate_across_backward_calls_until_zeroed():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_module_zero_grad_clears_parameter_grads():
    layer = tn.nn.Linear(3, 2)
    layer(tn.tensor(np.ones((4, 3), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    layer.zero_grad()
    assert all(p.grad is None for p in layer.parameters())


def test_intermediates_keep_no_grad_and_unused_inputs_stay_none():
    x, unused = leaf([1.0, 2.0]), leaf([5.0])
    h = x * 2
    (h * h).sum().backward()
    assert h.grad is None and unused.grad is None
    np.testing.assert_array_equal(x.grad, 8 * x.data)


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf([1.0, -2.0])
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad, 2 * h.data)
    np.testing.assert_array_equal(x.grad, 18 * x.data)


def test_requires_grad_propagates_only_from_inputs_that_need_it():
    a, b = leaf([1.0]), tn.tensor(np.array([2.0]))
    assert (a * b).requires_grad and not (b * b).requires_grad
    assert not (b * b).requires_grad and (b * b)._entry is None


def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with tn.no_grad():
        y = (x * 2).exp()
        assert not tn.is_grad_enabled()
        with tn.enable_grad():
            z = x * 2
    assert tn.is_grad_enabled()
    assert not y.requires_grad and y._entry is None
    assert z.requires_grad


def test_detach_cuts_the_tape_but_shares_data():
    x = leaf([1.0, 2.0])
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = (d * x).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, d.data)   # d is a constant: dy/dx = d


# ---- aliasing: no rule writes into a gradient it receives, no two grads share memory ------------------------
def test_sum_times_three_gives_independent_correct_grads():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    ((a + b) * 3).backward(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(a.grad, [3.0, 6.0])
    np.testing.assert_array_equal(b.grad, [3.0, 6.0])
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 1                                    # an optimizer hook mutating one grad must not touch the other
    np.testing.assert_array_equal(b.grad, [3.0, 6.0])


def test_broadcast_view_gradients_are_owned_and_writable():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()                       # sum's backward is a read-only broadcast view
    a.grad *= 2
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_diamond_x_used_on_two_paths():
    x = leaf([0.5, -1.5])
    y = (x.tanh() * x.exp()).sum()                 # x feeds tanh and exp; both paths meet in mul
    y.backward()
    t, e = np.tanh(x.data), np.exp(x.data)
    np.testing.assert_allclose(x.grad, (1 - t ** 2) * e + t * e)


@pytest.mark.parametrize("make, expected", [
    (lambda x: x * x, lambda x: 2 * x),
    (lambda x: x + x, lambda x: 2 * np.ones_like(x)),
    (lambda x: x * x * x, lambda x: 3 * x ** 2),
    (lambda x: (x + x) + (x + x), lambda x: 4 * np.ones_like(x)),
])
def test_tensor_used_more_than_once(make, expected):
    x = leaf([1.0, -2.0, 3.0])
    make(x).backward(np.ones(3))
    np.testing.assert_allclose(x.grad, expected(x.data))


def test_node_feeding_three_consumers_and_residual_reuse():
    x = leaf([0.3, 0.7])
    h = x * 2
    y = h.sigmoid() + h.tanh() + h * h             # h has three consumers
    r = x + y                                      # x reused across a residual branch
    r.backward(np.array([1.0, -1.0]))
    hd = h.data
    s = 1 / (1 + np.exp(-hd))
    dy_dh = s * (1 - s) + (1 - np.tanh(hd) ** 2) + 2 * hd
    np.testing.assert_allclose(x.grad, np.array([1.0, -1.0]) * (1 + 2 * dy_dh))


# ---- depth, release and memory ------------------------------------------------------------------------------
def test_ten_thousand_op_chain_has_no_recursion_limit():
    x = leaf([0.5])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward(np.ones(1))
    np.testing.assert_allclose(x.grad, [1.0001 ** 10_000], rtol=1e-9)


def test_second_backward_through_released_entries_is_a_clear_error():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, 4 * x.data)


def test_discarded_results_free_their_entries():
    x = leaf(np.ones(100))
    metric = (x * 2).exp().mean()                  # computed with grad on, never backpropagated
    probe = weakref.ref(metric._entry)
    del metric
    gc.collect()
    assert probe() is None


def test_memory_stays_flat_over_1000_training_steps():
    rng = np.random.default_rng(0)
    w = tn.tensor(rng.standard_normal((32, 32)) * 0.1, requires_grad=True)
    data = tn.tensor(rng.standard_normal((16, 32)))

    def step():
        loss = (data @ w).tanh().mean()
        accuracy_like = (data @ w).sigmoid().mean()      # a metric with grad on, discarded
        loss.backward()
        with tn.no_grad():
            w.data -= 0.01 * w.grad
        w.grad = None
        return accuracy_like.item()

    for _ in range(50):                                  # warm up caches and allocator pools
        step()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        step()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - before < 100_000, f"memory grew by {after - before} bytes over 1000 steps"


# ---- errors at the call -------------------------------------------------------------------------------------
def test_backward_on_non_scalar_needs_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"one-element tensor.*shape \(2,\)"):
        (x * 2).backward()


def test_backward_grad_of_wrong_shape():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the tensor has shape \(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tn.tensor([1.0]).backward()


@pytest.mark.parametrize("data", [np.array([1, 2]), np.array([True, False])])
def test_integer_and_bool_tensors_cannot_require_grad(data):
    with pytest.raises(TypeError, match="floating-point"):
        tn.tensor(data, requires_grad=True)


# ---- the visible tape ---------------------------------------------------------------------------------------
def test_tape_lists_entries_in_recording_order():
    x = leaf(np.ones((2, 3)))
    w = leaf(np.ones((3, 4)))
    with tn.Tape() as tape:
        loss = (x @ w).tanh().mean()
    assert [e.op for e in tape] == ["matmul", "tanh", "mean"]
    rows = tape_rows(tape)
    assert rows[0] == ["0", "matmul", "leaf0 (2, 3), leaf1 (3, 4)", "-> (2, 4)"]
    assert rows[2] == ["2", "mean", "e1 (2, 4)", "-> ()"]
    loss.backward()
    assert "[released by backward]" in str(tape)
    assert [e.index for e in tape] == sorted(e.index for e in tape)


def tape_rows(tape):
    """The printed tape's entry lines cut at its columns: [entry number, op, inputs, output (+ status)].

    Columns are found from the header line, so the test also checks that every row is aligned under it.
    """
    header, *lines = str(tape).splitlines()[1:]
    starts = [header.index(name) for name in ("op", "inputs", "output")]
    assert header[:starts[0]].strip() == "entry"
    rows = []
    for line in lines:
        assert line[starts[0] - 2:starts[0]] == "  " and line[starts[0]] != " ", line   # op column aligned
        assert line[starts[1] - 2:starts[1]] == "  " and line[starts[1]] != " ", line   # inputs column aligned
        assert line[starts[2]:starts[2] + 3] == "-> ", line                               # output column aligned
        rows.append([line[:starts[0]].strip(), line[starts[0]:starts[1]].strip(),
                     line[starts[1]:starts[2]].strip(), line[starts[2]:].strip()])
    return rows


def test_tape_shows_which_entry_produced_each_input_with_long_op_names_aligned():
    from tinynet import functional as F
    x = leaf(np.random.default_rng(0).standard_normal((2, 3, 12)))
    with tn.Tape() as tape:
        q, k, v = x[..., :4], x[..., 4:8], x[..., 8:]           # one tensor, three entries
        y = F.scaled_dot_product_attention(q, k, v)
        loss = (y * y).sum()
    rows = tape_rows(tape)
    assert [row[0] for row in rows] == ["0", "1", "2", "3", "4", "5"]
    assert [row[1] for row in rows] == ["getitem", "getitem", "getitem", "scaled_dot_product_attention", "mul",
                                        "sum"]
    assert [row[2] for row in rows[:3]] == ["leaf0 (2, 3, 12)"] * 3        # the same leaf, three times
    assert rows[3][2] == "e0 (2, 3, 4), e1 (2, 3, 4), e2 (2, 3, 4)"      # q, k, v from the three slices
    assert rows[4][2] == "e3 (2, 3, 4), e3 (2, 3, 4)"                      # y used twice by one entry
    assert rows[5][2] == "e4 (2, 3, 4)" and rows[5][3] == "-> ()"
    loss.backward()
    after = tape_rows(tape)                   # backward drops the entries' inputs; the tape still shows them
    assert [row[2] for row in after] == [row[2] for row in rows]
    assert all(row[3].endswith("[released by backward]") for row in after)


def test_tape_names_leaves_in_order_of_first_use_and_constants_apart():
    a, b = leaf([1.0, 2.0]), leaf([3.0])
    c = tn.tensor([5.0, 6.0])                              # does not require grad
    with tn.Tape() as tape:
        h = b * a
        out = h * c + a
    rows = tape_rows(tape)
    assert rows[0][2] == "leaf0 (1,), leaf1 (2,)"          # b is seen first
    assert rows[1][2] == "e0 (2,), const0 (2,)"
    assert rows[2][2] == "e1 (2,), leaf1 (2,)"
    assert out.requires_grad


def test_tape_shows_a_producer_recorded_before_it_opened():
    x = leaf([1.0, 2.0])
    h = x.exp()
    with tn.Tape() as tape:
        y = h.tanh()
        z = y * h
    assert len(tape) == 2 and z.requires_grad
    assert [row[2] for row in tape_rows(tape)] == ["before0 (2,)", "e0 (2,), before0 (2,)"]
    nodes, edges = parse_dot(tape.to_dot())
    assert "style=dashed" in nodes["before0"] and label_of(nodes["before0"]) == r"before0\n(2,)"
    assert edges == [("before0", "e0", None), ("e0", "e1", 0), ("before0", "e1", 1)]


DOT_NODE = re.compile(r'^\s*(\w+) \[(.*)\];$')
DOT_EDGE = re.compile(r'^\s*(\w+) -> (\w+)(?: \[label="(\d+)"\])?;$')


def parse_dot(text):
    """{node: attributes text}, [(tail, head, input position or None)]; fails on any line it cannot read."""
    lines = text.strip().splitlines()
    assert lines[0] == "digraph tape {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if line.strip().startswith("node ["):
            continue
        edge = DOT_EDGE.match(line)
        node = DOT_NODE.match(line)
        assert edge or node, f"unreadable DOT line: {line!r}"
        if edge:
            edges.append((edge.group(1), edge.group(2), None if edge.group(3) is None else int(edge.group(3))))
        else:
            assert node.group(1) not in nodes, f"node {node.group(1)} declared twice"
            nodes[node.group(1)] = node.group(2)
    return nodes, edges


def label_of(attributes):
    return re.search(r'label="(.*?)"(?:,|$)', attributes).group(1)


def test_to_dot_has_a_node_per_entry_and_leaf_and_an_edge_from_producer_to_consumer():
    from tinynet import functional as F
    x = leaf(np.random.default_rng(1).standard_normal((2, 3, 12)))
    w = leaf(np.ones((4, 4)))
    with tn.Tape() as tape:
        q, k, v = x[..., :4], x[..., 4:8], x[..., 8:]
        y = F.scaled_dot_product_attention(q, k, v) @ w
        loss = y.sum()
    nodes, edges = parse_dot(tape.to_dot())
    entries = tape.entries
    assert set(nodes) == {f"e{number}" for number in range(6)} | {"leaf0", "leaf1"}
    assert label_of(nodes["leaf0"]) == r"leaf0\n(2, 3, 12)" and "shape=box" in nodes["leaf0"]
    assert label_of(nodes["leaf1"]) == r"leaf1\n(4, 4)"
    for number, e in enumerate(entries):
        assert label_of(nodes[f"e{number}"]).startswith(f"e{number} {e.op}")
    assert label_of(nodes["e3"]) == r"e3 scaled_dot_product_attention\n-> (2, 3, 4)"
    assert label_of(nodes["e4"]) == r"e4 matmul\n-> (2, 3, 4)"
    assert sorted(edges) == sorted(
        [("leaf0", "e0", None), ("leaf0", "e1", None), ("leaf0", "e2", None),   # one leaf, three slices
         ("e0", "e3", 0), ("e1", "e3", 1), ("e2", "e3", 2),                     # q, k, v into attention
         ("e3", "e4", 0), ("leaf1", "e4", 1), ("e4", "e5", None)])
    assert loss.requires_grad


def test_to_dot_draws_an_input_used_twice_as_two_edges():
    x = leaf([1.0, 2.0])
    with tn.Tape() as tape:
        x * x
    nodes, edges = parse_dot(tape.to_dot())
    assert edges == [("leaf0", "e0", 0), ("leaf0", "e0", 1)]
    assert set(nodes) == {"leaf0", "e0"}


def test_tape_records_nothing_under_no_grad():
    x = leaf([1.0])
    with tn.Tape() as tape, tn.no_grad():
        x * 2
    assert len(tape) == 0


def test_engine_rejects_a_rule_that_forgets_to_unbroadcast():
    from tinynet.tensor import make_result

    def bad_add(a, b):                      # returns g for both inputs, without summing b's broadcast axis
        return make_result("bad_add", a.data + b.data, (a, b), lambda g: (g, g))
    a, b = leaf(np.ones((2, 3))), leaf(np.ones(3))
    with pytest.raises(RuntimeError, match=r"'bad_add' returned a gradient of shape \(2, 3\) for an input of shape \(3,\)"):
        bad_add(a, b).backward(np.ones((2, 3)))


def test_a_rule_that_raises_leaves_no_half_summed_gradient_behind():
    """Waiting entries hold partial sums during backward; an error must not leak them into the next backward."""
    from tinynet.tensor import make_result

    calls = []

    def fails_the_first_time(g):
        calls.append(g)
        if len(calls) == 1:
            raise ValueError("boom")
        return (g,)

    x = leaf([1.0, 2.0])
    h = x * 3.0
    u = make_result("flaky", h.data.copy(), (h,), fails_the_first_time)
    y = (u + h).sum()          # h has two consumers: the add (reached first) and the flaky op
    with pytest.raises(ValueError, match="boom"):
        y.backward(retain_graph=True)
    x.grad = None
    y.backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])   # dy/dx = 3 + 3; a leaked partial sum would give 9


def test_backward_called_inside_a_backward_rule():
    """Each backward() keeps its own bookkeeping, so a rule may run a second, nested backward."""
    from tinynet.tensor import make_result

    x = leaf([1.0, 2.0])
    h = x * 2.0
    seen = []

    def rule_that_backpropagates(g):
        h.backward(np.ones(2), retain_graph=True)        # nested: d(h)/dx = 2 lands in x.grad now
        seen.append(x.grad.copy())
        return (g,)

    u = make_result("nested", h.data.copy(), (h,), rule_that_backpropagates)
    (u + h).sum().backward()
    np.testing.assert_array_equal(seen[0], [2.0, 2.0])
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])    # 2 (nested) + 2 (through u) + 2 (through h directly)


def test_no_grad_and_enable_grad_work_as_decorators_as_in_pytorch():
    @tn.no_grad()
    def doubled(x):
        return x * 2, tn.is_grad_enabled()

    x = tn.tensor([1.0], requires_grad=True)
    y, recording = doubled(x)
    assert not recording and not y.requires_grad and tn.is_grad_enabled()
    assert doubled.__name__ == "doubled"

    @tn.enable_grad()
    def recorded(x):
        return x * 2

    with tn.no_grad():
        assert recorded(x).requires_grad and not tn.is_grad_enabled()


def test_no_grad_decorator_misuse_is_a_clear_error():
    with pytest.raises(TypeError, match=r"write @tn.no_grad\(\) with parentheses"):
        @tn.no_grad
        def bare(x):
            return x

    with pytest.raises(TypeError, match=r"cannot decorate the generator function gen"):
        @tn.no_grad()
        def gen(x):
            yield x


def test_tape_shows_the_gradient_computation_recorded_by_create_graph():
    """Under create_graph=True the backward rules run as ops, so the tape shows the gradient's own graph."""
    x = leaf([0.5, -1.0])
    with tn.Tape() as tape:
        y = (x.tanh() * x).sum()
        forward_entries = len(tape)
        (dx,) = tn.grad(y, [x], create_graph=True)
    assert forward_entries == 3 and len(tape) > 3
    rows = tape_rows(tape)
    last = len(rows) - 1
    assert rows[last][3] == "-> (2,)" and dx.shape == (2,)
    nodes, edges = parse_dot(tape.to_dot())
    assert set(nodes) == {f"e{number}" for number in range(len(tape))} | {"leaf0", "const0"}
    reached, frontier = set(), {f"e{last}"}                 # walk from dx's entry back to the leaf
    while frontier:
        node = frontier.pop()
        reached.add(node)
        frontier |= {tail for tail, head, _ in edges if head == node} - reached
    assert "leaf0" in reached and "e0" in reached           # dx depends on x, also through tanh(x)
    for tail, head, _ in edges:                             # every edge runs forward in recording order
        assert not tail.startswith("e") or int(tail[1:]) < int(head[1:])
