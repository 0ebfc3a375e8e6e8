"""Quality, not speed: NLL-only vs NLL + adversarial fine-tuning on a toy signal, per seed.

  python benchmarks/adversarial_toy.py --seeds 0 1 2 3 4

The toy: a period-20 sine + N(0, 0.05^2) noise + a +3 spike on ~2% of steps. Both arms
start from the same 60 NLL steps of a tiny generator (1x LSTM 16, 3 components) and take
60 more generator steps on the same batches; the adversarial arm's critic first sees 30
batches of the pretrained generator's samples, then takes one step per generator step.
Each arm is judged by a fresh paper-style discriminator (LSTM 16 -> 8 -> 1) trained for 400
steps on real vs generated 40-step windows and scored on held-out windows.

Prints one JSON line per seed (`judge_nll`, `judge_adv`: held-out judge accuracy, 0.5 =
indistinguishable; `amplitude_*`: mean |x| of samples vs `real_amplitude`) and a summary
line with the mean and std over seeds.
"""

import argparse
import functools
import json

import _common  # noqa: F401  (puts the repository on sys.path)
import jax
import jax.numpy as jnp
import numpy as np

from sensegen import adversarial
from sensegen import models
from sensegen import sampling
from sensegen import train
from sensegen.data import windows

_GEN = models.Generator(channels=1, lstm_layers=1, lstm_units=16, dense_units=16, mixtures=3)
_CRITIC = adversarial.CriticDiscriminator(lstm_layers=1, lstm_units=16, dense_units=16)
_JUDGE = models.Discriminator(lstm_units=16, dense_units=8)
_BATCH, _BPTT, _WINDOW = 16, 20, 40


@functools.cache
def _steps():
  return {
    "nll": train.make_generator_step(_GEN),
    "adv": adversarial.make_adversarial_generator_step(
      _GEN, _CRITIC, adversarial_weight=1.0, window=_WINDOW, gumbel_temperature=0.5
    ),
    "critic": adversarial.make_critic_step(_CRITIC, gradient_penalty=1.0),
    "judge": train.make_discriminator_step(_JUDGE),
    "judge_accuracy": train.make_discriminator_accuracy(_JUDGE),
  }


@functools.cache
def _init_and_tx(model, lr):
  return jax.jit(model.init), train.make_optimizer(lr, 0.9, 1.0)


def _state(model, key, example_inputs, lr):
  init, tx = _init_and_tx(model, lr)
  return train.TrainState.create(apply_fn=None, params=init(key, *example_inputs), tx=tx)


def _copy(tree):
  return jax.tree.map(jnp.copy, tree)  # The jitted steps donate their state arguments.


def _spiky_sine(seed, n=6000):
  rng = np.random.default_rng(seed)
  t = np.arange(n)
  x = np.sin(2 * np.pi * t / 20) + 0.05 * rng.normal(size=n) + 3.0 * (rng.random(n) < 0.02)
  return [x.astype(np.float32)[:, None]]


def _fake(params, key):
  return sampling.sample_jit(_GEN, params, key, _BATCH, _WINDOW)


def _judge_accuracy(params, train_series, test_series):
  state = _state(_JUDGE, jax.random.key(5), (jnp.zeros((1, _WINDOW, 1)),), 1e-3)
  step, accuracy = _steps()["judge"], _steps()["judge_accuracy"]
  rng, y = np.random.default_rng(9), np.repeat([1.0, 0.0], _BATCH).astype(np.float32)
  for i in range(400):
    x = np.concatenate(
      [
        windows.random_windows(train_series, _BATCH, _WINDOW, rng),
        _fake(params, jax.random.key(90000 + i)),
      ]
    )
    state, _, _ = step(state, x, y)
  accs = [
    accuracy(
      state.params,
      np.concatenate(
        [
          windows.random_windows(test_series, _BATCH, _WINDOW, rng),
          _fake(params, jax.random.key(99000 + i)),
        ]
      ),
      y,
    )
    for i in range(16)
  ]
  return float(np.mean(accs))


def _mean_amplitude(params):
  return float(
    np.mean([np.abs(np.asarray(_fake(params, jax.random.key(70000 + i)))) for i in range(16)])
  )


def _fine_tune(g_state, rnn, streams, train_series, seed, adversarial_loop):
  steps = _steps()
  g, r, s = _copy(g_state), _copy(rnn), windows.Streams.from_dict(streams.to_dict())
  c = _state(_CRITIC, jax.random.key(1), (jnp.zeros((1, _WINDOW, 1)),), 3e-3)
  rng = np.random.default_rng(seed + 5)
  real = lambda: windows.random_windows(train_series, _BATCH, _WINDOW, rng)
  if adversarial_loop:
    for j in range(30):
      c, _ = steps["critic"](c, real(), _fake(g.params, jax.random.key(50000 + j)))
  for i in range(60, 120):
    batch, s = windows.next_chunk(train_series, s, _BPTT, i, seed=seed)
    if adversarial_loop:
      c, _ = steps["critic"](c, real(), _fake(g.params, jax.random.key(10000 + i)))
      g, r, _ = steps["adv"](g, r, batch, c.params, jax.random.key(i))
    else:
      g, r, _ = steps["nll"](g, r, batch)
  return g.params


def compare(seed: int) -> dict:
  train_series, test_series = _spiky_sine(100), _spiky_sine(200)
  g_state = _state(_GEN, jax.random.key(seed), (_GEN.zero_state(1), jnp.zeros((1, 2, 1))), 1e-2)
  rnn = _GEN.zero_state(_BATCH)
  streams = windows.init_streams(train_series, _BATCH, _BPTT, seed=seed)
  for i in range(60):
    batch, streams = windows.next_chunk(train_series, streams, _BPTT, i, seed=seed)
    g_state, rnn, _ = _steps()["nll"](g_state, rnn, batch)
  real = windows.random_windows(test_series, 256, _WINDOW, np.random.default_rng(0))
  out = {"bench": "adversarial_toy", "seed": seed, "real_amplitude": float(np.mean(np.abs(real)))}
  for name, adv in (("nll", False), ("adv", True)):
    params = _fine_tune(g_state, rnn, streams, train_series, seed, adv)
    out[f"judge_{name}"] = _judge_accuracy(params, train_series, test_series)
    out[f"amplitude_{name}"] = _mean_amplitude(params)
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
  args = p.parse_args()
  rows = []
  for seed in args.seeds:
    rows.append(compare(seed))
    print(json.dumps(rows[-1]), flush=True)
  summary = {"bench": "adversarial_toy_summary", "seeds": args.seeds}
  for key in ("judge_nll", "judge_adv", "amplitude_nll", "amplitude_adv"):
    values = [r[key] for r in rows]
    summary[key] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
  print(json.dumps(summary), flush=True)


if __name__ == "__main__":
  main()
