"""fit / evaluate / predict / History: a fixed-seed two-spirals problem is fitted to ~zero loss, predict records
nothing on the tape and is batch-size independent, the progress line behaves, and bad input is a clear error."""
import io

import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet.training import History, accuracy, evaluate, fit, predict

nn = tn.nn


def two_spirals(n=100, seed=0):
    """Two interleaved spirals in 2-D (class 0 and its point reflection, class 1): not linearly separable."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 10
    x = np.concatenate([arm, -arm]) + rng.normal(0, 0.02, (2 * n, 2))
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.int64)
    return x.astype(np.float32), y


def make_model(seed=0):
    tn.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))


def test_fit_drives_the_two_spirals_loss_near_zero():
    x, y = two_spirals()
    model = make_model()
    history = fit(model, F.cross_entropy, tn.optim.Adam(model.parameters(), lr=0.01), x, y, epochs=150,
                  batch_size=32, seed=0, verbose=0)
    assert isinstance(history, History)
    assert history.epoch == list(range(150)) and len(history["loss"]) == 150
    assert history["loss"][0] > 0.4                           # it starts near log 2 = 0.69 ...
    final = evaluate(model, F.cross_entropy, x, y)
    assert final["loss"] < 0.05 and final["accuracy"] == 1.0  # ... and ends near zero
    assert history["accuracy"][-1] > 0.98


def test_fit_is_reproducible_with_a_seed_and_records_validation():
    x, y = two_spirals(40)
    runs = []
    for _ in range(2):
        model = make_model(3)
        runs.append(fit(model, F.cross_entropy, tn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), x, y,
                        epochs=3, batch_size=16, validation_data=(x[:10], y[:10]), seed=7, verbose=0))
    assert runs[0].history == runs[1].history
    assert sorted(runs[0].history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 3 for v in runs[0].history.values())


def test_initial_epoch_continues_the_numbering_like_keras():
    x, y = two_spirals(10)
    model = make_model()
    log = io.StringIO()
    history = fit(model, F.cross_entropy, tn.optim.SGD(model.parameters(), lr=0.1), x, y, epochs=5,
                  initial_epoch=3, batch_size=10, stream=log)
    assert history.epoch == [3, 4] and len(history["loss"]) == 2
    assert [line[:9] for line in log.getvalue().splitlines()] == ["Epoch 4/5", "Epoch 5/5"]
    with pytest.raises(ValueError, match="initial_epoch"):
        fit(model, F.cross_entropy, tn.optim.SGD(model.parameters(), lr=0.1), x, y, epochs=2, initial_epoch=3)


def test_epoch_loss_is_the_example_weighted_mean_of_batch_losses():
    # lr = 0: the weights never move, so every batch loss is the loss of the fixed model on that batch and
    # the epoch's loss must equal the full-data loss, whatever the (uneven) batch split.
    x, y = two_spirals(25)
    model = make_model(1)
    history = fit(model, F.cross_entropy, tn.optim.SGD(model.parameters(), lr=0.0), x, y, epochs=1,
                  batch_size=7, verbose=0)
    full = evaluate(model, F.cross_entropy, x, y)
    np.testing.assert_allclose(history["loss"][0], full["loss"], rtol=1e-5)
    np.testing.assert_allclose(history["accuracy"][0], full["accuracy"])


def test_evaluate_matches_a_direct_computation_and_custom_metrics():
    x, y = two_spirals(30)
    model = make_model(2)
    with tn.no_grad():
        out = model(tn.Tensor(x))
    expected_loss = F.cross_entropy(out, y).item()

    def error_rate(output, target):
        return 1 - accuracy(output, target)

    got = evaluate(model, F.cross_entropy, x, y, batch_size=7, metrics=("accuracy", error_rate))
    np.testing.assert_allclose(got["loss"], expected_loss, rtol=1e-5)
    np.testing.assert_allclose(got["accuracy"], np.mean(out.data.argmax(1) == y))
    np.testing.assert_allclose(got["error_rate"], 1 - got["accuracy"])
    assert evaluate(model, None, x, y) == {"accuracy": got["accuracy"]}


def test_predict_records_nothing_and_does_not_depend_on_batch_size():
    x, _ = two_spirals(11)
    model = make_model(4)
    model.train()
    with tn.Tape() as tape:
        a = predict(model, x, batch_size=3)
        b = predict(model, x)
    assert len(tape) == 0                                      # under no_grad: no entries recorded
    assert isinstance(a, np.ndarray) and a.shape == (22, 2) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a, model(tn.Tensor(x)).data, rtol=1e-6, atol=1e-7)
    assert all(m.training for m in model.modules())            # training mode restored
    assert all(p.grad is None for p in model.parameters())


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_updates_in_place_on_a_terminal_and_is_one_line_per_epoch_in_a_log(capsys):
    x, y = two_spirals(40)
    model = make_model()
    fit(model, F.cross_entropy, tn.optim.Adam(model.parameters()), x, y, epochs=2, batch_size=8, verbose=0)
    assert capsys.readouterr().out == ""                       # verbose=0 is silent

    log = io.StringIO()
    fit(model, F.cross_entropy, tn.optim.Adam(model.parameters()), x, y, epochs=2, batch_size=8, stream=log)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in log.getvalue()
    assert lines[0].startswith("Epoch 1/2") and "10/10 batches" in lines[0]
    assert "loss" in lines[0] and "accuracy" in lines[0] and "ex/s" in lines[0]

    terminal = FakeTerminal()
    fit(model, F.cross_entropy, tn.optim.Adam(model.parameters()), x, y, epochs=2, batch_size=8, stream=terminal)
    text = terminal.getvalue()
    assert text.count("\n") == 2 and text.count("\r") >= 2   # each epoch's line is rewritten, then ended
    assert "Epoch 2/2" in text.split("\n")[1]


def test_default_stream_is_stdout(capsys):
    x, y = two_spirals(10)
    model = make_model()
    fit(model, F.cross_entropy, tn.optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1, batch_size=5)
    assert capsys.readouterr().out.startswith("Epoch 1/1")


def test_bad_input_is_a_clear_error():
    x, y = two_spirals(10)
    model = make_model()
    opt = tn.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="x has 20 examples but y has 19"):
        fit(model, F.cross_entropy, opt, x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, F.cross_entropy, opt, x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="unknown metric"):
        fit(model, F.cross_entropy, opt, x, y, metrics=("f1",), verbose=0)
    with pytest.raises(ValueError, match="scalar"):
        fit(model, lambda out, t: out * 1.0, opt, x, y, verbose=0)
    with pytest.raises(FloatingPointError, match="smaller learning rate"):
        fit(model, lambda out, t: out.sum() * float("nan"), opt, x, y, verbose=0)
    with pytest.raises(ValueError, match="validation_data"):
        fit(model, F.cross_entropy, opt, x, y, validation_data=x, verbose=0)


def test_accuracy_rejects_targets_that_would_broadcast():
    with pytest.raises(ValueError, match="accuracy"):
        accuracy(np.zeros((4, 1)), np.array([[0.0], [1.0], [2.0], [0.0]]))   # (4,) vs (4, 1) -> (4, 4)
    with pytest.raises(ValueError, match="accuracy"):
        accuracy(np.eye(3), np.array([0, 1]))
    assert accuracy(np.eye(3), np.array([0, 1, 1])) == pytest.approx(2 / 3)


def test_accuracy_takes_a_model_output_that_requires_grad():
    """A metric is never differentiated: accuracy reads the data of a tensor that is on the tape."""
    logits = tn.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]], requires_grad=True)
    assert accuracy(logits * 1.0, np.array([0, 1, 1])) == pytest.approx(2 / 3)


def test_fit_regression_with_the_default_accuracy_metric_is_a_clear_error():
    tn.manual_seed(0)
    model = nn.Linear(2, 1)
    x = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    y = x[:, :1] * 2
    with pytest.raises(ValueError, match="metrics=()"):
        fit(model, F.mse_loss, tn.optim.SGD(model.parameters(), lr=0.1), x, y, verbose=0)
    history = fit(model, F.mse_loss, tn.optim.SGD(model.parameters(), lr=0.1), x, y, metrics=(), verbose=0)
    assert np.isfinite(history["loss"][-1])
