"""How a measurement is taken: interleaved rounds, in-process batches, paired ratios.

`interleave()` runs every measurement once per round in a rotating order
(A B C, B C A, C A B, ...) so that the drift of a shared machine hits every
scenario alike; a `Series` keeps the per-round samples and answers medians and
medians of per-round ratios. `login_times()` times failed logins in pairs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from targets import EMAIL, PASSWORD, BenchError


def interleave(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each measurement once per round, rotating the order: A B C, B C A, C A B, ..."""
    names = list(runs)
    for name in names:  # warm-up, not recorded
        runs[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(runs[name]())
    return samples


class InProcess:
    """A batch of n requests through the test client; returns requests per wall second.

    It also keeps requests per CPU second of this process (`cpu`): on SQLite, where
    all the work happens in this process, that rate is blind to other jobs taking
    the CPU away, so its ratios are the steadiest read on a shared machine.
    """

    def __init__(self, app, path: str, headers: dict | list[dict], n: int):
        self.client = app.test_client()
        # A list of headers is cycled through (a new token each request).
        self.pool = headers if isinstance(headers, list) else [headers]
        self.path, self.n, self.next = path, n, 0
        self.cpu: list[float] = []

    def __call__(self) -> float:
        get, path, n, pool = self.client.get, self.path, self.n, self.pool
        batch = [pool[(self.next + i) % len(pool)] for i in range(n)]
        self.next += n
        cpu = time.process_time()
        start = time.perf_counter()
        for headers in batch:
            response = get(path, headers=headers)
            if response.status_code != 200:
                raise BenchError(f"{path}: {response.status_code}")
        wall = time.perf_counter() - start
        self.cpu.append(n / max(time.process_time() - cpu, 1e-9))
        return n / wall


def inprocess(app, path: str, headers: dict | list[dict], n: int) -> InProcess:
    return InProcess(app, path, headers, n)


def inprocess_series(runs: dict[str, InProcess], rounds: int) -> Series:
    samples = interleave(runs, rounds)
    # Drop the warm-up batch interleave() ran first.
    return Series(samples, {name: run.cpu[1:] for name, run in runs.items()})


@dataclass
class Series:
    samples: dict[str, list[float]]  # requests per wall second, one per round
    cpu: dict[str, list[float]] | None = None  # requests per CPU second (in-process)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def ratio(self, a: str, b: str) -> float:
        """Median of the per-round ratios a/b (paired, so drift cancels)."""
        return _paired(self.samples, a, b)

    def cpu_ratio(self, a: str, b: str) -> float | None:
        return _paired(self.cpu, a, b) if self.cpu else None

    def spread(self, name: str) -> tuple[float, float]:
        values = sorted(self.samples[name])
        q = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
        return q[0], q[2]


def _paired(samples: dict[str, list[float]], a: str, b: str) -> float:
    return statistics.median(x / y for x, y in zip(samples[a], samples[b], strict=True))




def login_times(app, pairs: int) -> dict[str, list[float]]:
    """Seconds per failed login: unknown email vs wrong password, interleaved.

    Also CPU seconds of this process per login (`*_cpu`): bcrypt runs here.
    """
    client = app.test_client()
    with app.app_context():
        from usergate.services.accounts import find_user_by_email
        from usergate.services.runtime import auth_settings

        costs = {auth_settings().dummy_hash[:7], find_user_by_email(EMAIL).password_hash[:7]}
    if costs != {"$2b$12$"}:
        raise BenchError(f"login should compare bcrypt cost 12 hashes, not {costs}")
    attempts = {
        "unknown_email": lambda i: {"email": f"nobody{i}@example.com", "password": PASSWORD},
        "wrong_password": lambda i: {"email": EMAIL, "password": PASSWORD + f" wrong{i}"},
    }
    names = list(attempts)
    times: dict[str, list[float]] = {key: [] for name in names for key in (name, name + "_cpu")}
    for i in range(pairs + 1):  # round 0 is a warm-up
        for name in (names if i % 2 == 0 else names[::-1]):
            body = attempts[name](i)
            cpu = time.process_time()
            start = time.perf_counter()
            response = client.post("/api/v1/auth/login", json=body)
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu
            if response.status_code != 401:
                raise BenchError(f"login {name}: {response.status_code}")
            if i:
                times[name].append(elapsed)
                times[name + "_cpu"].append(cpu)
    return times


