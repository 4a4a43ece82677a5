"""The new layers and training tools in one model: a small conv encoder-decoder with BatchNorm2d, Dropout and
ConvTranspose2d, an Embedding classifier, trained with fit + a scheduler + gradient clipping, saved and loaded."""
import numpy as np

import tinynet as tn
import tinynet.functional as F
from tinynet import nn
from tinynet.testing import random_array


class Clipped(tn.optim.SGD):
    """SGD that clips the gradients' total norm before every step (what a training loop would do by hand)."""

    def step(self):
        self.last_norm = float(nn.utils.clip_grad_norm_(self.params, max_norm=1.0))
        super().step()


def test_encoder_decoder_learns_to_reconstruct_and_round_trips_through_a_file(tmp_path):
    tn.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.1),
        nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1))                      # 8x8 -> 4x4 -> 8x8
    x = random_array((32, 1, 8, 8), 0, dtype=np.float32)
    opt = Clipped(model.parameters(), lr=0.1, momentum=0.9)
    sched = tn.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    history = tn.fit(model, F.mse_loss, opt, x, x, epochs=20, batch_size=8, metrics=(), verbose=0, scheduler=sched)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["lr"][0] == 0.1 and history["lr"][-1] < 0.01
    path = tn.save(model.state_dict(), tmp_path / "autoencoder.npz")
    tn.manual_seed(1)
    copy = nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.1),
        nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1))
    copy.load_state_dict(tn.load(path))
    np.testing.assert_array_equal(tn.predict(copy, x), tn.predict(model, x))   # eval mode: running stats, no dropout


def test_embedding_bag_classifier_learns_which_token_is_present():
    tn.manual_seed(0)
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 10, size=(64, 5))
    tokens[:, -1] = 0                                                          # a padding token in every sentence
    labels = (tokens == 3).any(axis=1).astype(np.int64)

    class Bag(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 8, padding_idx=0)
            self.head = nn.Linear(8, 2)

        def forward(self, t):
            return self.head(self.embed(t).mean(axis=1))

    model = Bag()
    padding_row = model.embed.weight.data[0].copy()
    history = tn.fit(model, F.cross_entropy, tn.optim.Adam(model.parameters(), lr=0.05), tokens, labels, epochs=15,
                     batch_size=16, verbose=0)
    assert history["accuracy"][-1] >= 0.95
    np.testing.assert_array_equal(model.embed.weight.data[0], padding_row)     # padding_idx never trained
