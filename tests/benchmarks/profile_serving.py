"""Where a prediction request's time goes: py-spy samples our server under wrk load.

Usage: .venv/bin/python tests/benchmarks/profile_serving.py [--seconds 20] [--path PATH]
(after `make bench`, which trains the model it serves; py-spy is not a dependency:
`.venv/bin/pip install py-spy`, and it needs permission to read another process).

The server runs as `side_by_side.py` runs it (API key, audit trail, one worker); with
`--path /cds-services/alliance-risk-patient-view` it answers `cds_hooks.py`'s patient-view
call with full prefetch instead (as there, without the CDS client's JWT). py-spy
samples only threads holding the GIL (`--gil`), so the shares are of the Python work per
request, not of time spent waiting. Prints each function's inclusive share of the samples
(every frame on a sampled stack counts once), the view that shows which layer to cut;
with `--threads`, first each kind of thread's share (the event loop's, the prediction's
worker threads, the audit writer), then the functions per kind of thread.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cds_hooks import SERVICE, prefetch_call
from harness import BIN, ROOT, free_port, our_server, server, with_api_key, wrk
from run_all import environment, example_bodies

_LINE = re.compile(r":\d+\)$")


_THREAD = re.compile(r"^thread \(\d+\): ")


def inclusive_shares(
    raw: Path,
) -> tuple[collections.Counter[str], dict[str, collections.Counter[str]]]:
    """Samples per kind of thread (one kind, "all", unless py-spy recorded threads) and, per
    kind and function (name and file), the samples whose stack contains it."""
    samples: collections.Counter[str] = collections.Counter()
    shares: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        thread = "all"
        if _THREAD.match(frames[0]):
            # "thread (1234): AnyIO worker thread": the kind, without the thread's number.
            thread = _THREAD.sub("", frames.pop(0))
        samples[thread] += int(count)
        # py-spy's raw frames read "function (path/file.py:line)"; the line is dropped.
        for function in {_LINE.sub(")", frame) for frame in frames}:
            shares[thread][function] += int(count)
    return samples, shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--path", default="/v1/predictions")
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--threads", action="store_true", help="Shares per kind of thread.")
    args = parser.parse_args()
    spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    home, data = args.work / "train-20000", args.work / "cohort-20000"
    env = environment(home)
    if args.path == SERVICE:
        headers, body = None, prefetch_call(data)
    else:
        headers, (body, _) = with_api_key(env), example_bodies(home, data)
    port = free_port()
    with (
        server(our_server(port), env, f"http://127.0.0.1:{port}/readyz") as ours,
        tempfile.TemporaryDirectory() as scratch,
    ):
        url = f"http://127.0.0.1:{port}{args.path}"
        wrk(url, body, connections=8, seconds=2, headers=headers)
        raw = Path(scratch) / "raw.txt"
        record = [spy, "record", "-p", str(ours.pid), "-r", "500", "-f", "raw", "--gil"]
        record += ["-o", str(raw), "-d", str(args.seconds + 2), "--nonblocking"]
        record += ["--threads"] if args.threads else []
        sampler = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load = wrk(url, body, connections=8, seconds=args.seconds, headers=headers)
        sampler.wait()
        samples, shares = inclusive_shares(raw)
    total = samples.total()
    print(
        f"c=8 for {args.seconds} s: {load.requests_per_second:.0f} req/s, "
        f"p99 {load.p99_ms:.1f} ms; {total} samples holding the GIL "
        f"({total / (500 * (args.seconds + 2)):.0%} of the time)"
    )
    for thread, thread_samples in samples.most_common():
        if args.threads:
            print(f"\n{100 * thread_samples / total:5.1f}%  thread: {thread}")
        for function, count in shares[thread].most_common(args.top):
            print(f"{100 * count / total:5.1f}%  {function}")


if __name__ == "__main__":
    main()
