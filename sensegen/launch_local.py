"""Several training processes on one machine, one multi-process JAX job:
`python -m sensegen.launch_local --processes=N -- --flagfile=... --workdir=...`.

Starts N copies of `sensegen.launch` with the usual flags plus the job's coordinator
(a free localhost port), process count and index; they exchange gradients over gloo (CPU
collectives). SIGTERM and SIGINT are passed on to every process (they checkpoint and stop
together). When one process fails, the others get `PEER_GRACE_S` to end on their own (a
failed collective ends them) before they are killed. The exit code is the first
non-zero one of the processes, else 0.
"""

import os
import signal
import socket
import subprocess
import sys
import time

EXIT_BAD_INPUT = 2
PEER_GRACE_S = 30.0
_USAGE = "usage: python -m sensegen.launch_local --processes=N -- FLAG..."


def _fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(EXIT_BAD_INPUT)


def parse(argv: list) -> tuple:
  """(processes, the flags of every process) from `--processes=N -- FLAG...`."""
  if "--" not in argv:
    _fail(f"missing '--' before the training flags; {_USAGE}")
  split = argv.index("--")
  own, flags = argv[:split], argv[split + 1 :]
  if len(own) != 1 or not own[0].startswith("--processes="):
    _fail(f"expected --processes=N before '--', got {' '.join(own) or 'nothing'}; {_USAGE}")
  value = own[0].split("=", 1)[1]
  if not value.isdigit() or int(value) < 1:
    _fail(f"--processes={value}: must be a positive integer")
  return int(value), flags


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def start(processes: int, flags: list) -> list:
  """The N `sensegen.launch` processes of one job (not yet finished)."""
  job = [f"--coordinator_address=127.0.0.1:{free_port()}", f"--num_processes={processes}"]
  env = {"JAX_PLATFORMS": "cpu", **os.environ}  # CPU unless the caller chose a platform.
  return [
    subprocess.Popen(
      [sys.executable, "-m", "sensegen.launch", *flags, *job, f"--process_id={i}"], env=env
    )
    for i in range(processes)
  ]


def wait(procs: list) -> int:
  """Waits for every process; kills the rest `PEER_GRACE_S` after one fails."""
  failed_at = None
  while any(p.poll() is None for p in procs):
    codes = [p.returncode for p in procs if p.returncode]
    if codes and failed_at is None:
      failed_at = time.monotonic()
    if failed_at is not None and time.monotonic() - failed_at > PEER_GRACE_S:
      for p in procs:
        if p.poll() is None:
          p.kill()
    time.sleep(0.1)
  return next((p.returncode for p in procs if p.returncode), 0)


def main(argv: list) -> int:
  processes, flags = parse(argv)
  procs = start(processes, flags)

  def forward(signum, frame):
    del frame
    for p in procs:
      if p.poll() is None:
        p.send_signal(signum)

  for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, forward)
  return wait(procs)


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
