"""Data-parallel training on 4 simulated CPU devices follows the 1-device trajectory.

The pytest process already initialised JAX with one device, so the check runs in a
subprocess started with `--xla_force_host_platform_device_count=4`.
"""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from sensegen import errors
from sensegen import launch
from sensegen import parallel
from sensegen.config import Config

# The shared fixture runs once: every test of this module on one worker.
pytestmark = pytest.mark.xdist_group("parallel")

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = r"""
import json
import jax
import jax.numpy as jnp
import numpy as np
from sensegen import errors, models, parallel, steps

B, T, STEPS = 8, 6, 5
gen = models.Generator(channels=1, lstm_layers=2, lstm_units=8, dense_units=6, mixtures=3,
                       lstm_impl="fused")
tx = steps.make_optimizer(1e-2, 0.9, 1.0)
new_state = jax.jit(lambda: steps.create_train_state(jax.random.key(0), gen,
                                                     (gen.zero_state(1), jnp.zeros((1, 2, 1))), tx))
rng = np.random.default_rng(0)
batches = []
for i in range(STEPS):
  x = rng.normal(size=(B, T + 1, 1)).astype(np.float32)
  batches.append({"inputs": x[:, :-1], "targets": x[:, 1:], "reset": np.arange(B) == i})

def run(step, ts, rnn, place=lambda b: b):
  losses = []
  for batch in batches:
    ts, rnn, m = step(ts, rnn, place(batch))
    losses.append(float(m["train_nll"]))
  return losses, ts, rnn

single, ts1, _ = run(steps.make_generator_step(gen), new_state(), gen.zero_state(B))
mesh = parallel.make_mesh()
multi, ts4, rnn4 = run(parallel.make_parallel_generator_step(gen, mesh),
                       parallel.replicate(new_state(), mesh),
                       parallel.shard_rnn_state(gen.zero_state(B), mesh),
                       lambda b: parallel.shard_batch(b, mesh))
errors_seen = []
for call in (lambda: parallel.shard_batch(batches[0] | {"inputs": np.zeros((6, T, 1))}, mesh),
             lambda: parallel.make_parallel_generator_step(gen, mesh)(
                 ts4, rnn4, {k: v[:6] for k, v in batches[0].items()})):
  try:
    call()
  except errors.ConfigError as e:
    errors_seen.append(str(e))
params = lambda ts: [np.asarray(p).tolist() for p in jax.tree.leaves(ts.params)]
print(json.dumps({
    "devices": jax.device_count(), "single": single, "multi": multi,
    "params_single": params(ts1), "params_multi": params(ts4),
    "rnn_shards": [list(s.data.shape) for s in rnn4.addressable_shards],
    "param_replicated": jax.tree.leaves(ts4.params)[0].sharding.is_fully_replicated,
    "errors": errors_seen}))
"""


@pytest.fixture(scope="module")
def result():
  four = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
  env = dict(os.environ, XLA_FLAGS=four, JAX_PLATFORMS="cpu", PYTHONPATH=_REPO)
  proc = subprocess.run(
    [sys.executable, "-c", _SCRIPT],
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_four_devices_follow_the_single_device_losses(result):
  assert result["devices"] == 4
  assert len(result["multi"]) == 5
  assert result["multi"] == pytest.approx(result["single"], rel=1e-5)
  for got, want in zip(result["params_multi"], result["params_single"]):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_params_are_replicated_and_the_state_split_along_the_batch(result):
  assert result["param_replicated"]
  assert result["rnn_shards"] == [[2, 2, 2, 8]] * 4


def test_indivisible_batch_is_a_config_error(result):
  assert len(result["errors"]) == 2
  assert all("not divisible by the 4 devices" in e for e in result["errors"])


def test_single_device_mesh_checks_the_batch_size():
  mesh = parallel.make_mesh()
  assert mesh.axis_names == ("data",) and mesh.size == jax.device_count()
  with pytest.raises(errors.ConfigError, match="batch size 3 is not divisible by the 2"):
    parallel.check_batch_size(3, 2)


@pytest.mark.parametrize(
  "batch, cores, devices",
  [(32, 2, 2), (32, 1, 1), (30, 2, 1), (128, 16, 8), (48, 3, 3), (64, 3, 2), (16, 4, 1)],
)
def test_cpu_devices_divide_the_batch_into_shares_of_16_rows_or_more(batch, cores, devices):
  assert parallel.cpu_devices_for(batch, cores) == devices


def test_the_launcher_splits_the_cpu_only_for_single_process_plain_nll_training():
  cfg = Config(workdir="w", batch_size=32)  # The default: one device per core.
  assert launch.training_cpu_devices(cfg, cores=2) == 2
  assert launch.training_cpu_devices(cfg, cores=1) == 1
  assert launch.training_cpu_devices(dataclasses.replace(cfg, cpu_devices=1), cores=2) == 1
  assert launch.training_cpu_devices(dataclasses.replace(cfg, cpu_devices=4), cores=2) == 4
  for other in (
    {"mode": "evaluate"},
    {"mode": "sample"},
    {"coordinator_address": "127.0.0.1:1234"},
    {"dp": True},
    {"scheduled_sampling": 0.5},
    {"schedule": "adversarial"},
  ):
    assert launch.training_cpu_devices(dataclasses.replace(cfg, **other), cores=2) == 1, other
