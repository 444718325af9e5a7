"""What a run reports: the table on stdout, the markdown section, the chart, JSON.

Every number printed is a median over interleaved rounds; every ratio is the
median of the per-round ratios (`measure.Series`).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from measure import Series, _paired
from targets import COLD, LABELS

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
# usergate / bare Flask, by database and mode; usergate / flask-jwt-extended.
BARE_TARGETS = {("SQLite", "in-process"): 0.85, ("PostgreSQL", "in-process"): 0.90,
                ("SQLite", "HTTP (gunicorn)"): 0.90, ("PostgreSQL", "HTTP (gunicorn)"): 0.90}
JWTX_TARGET = 1.5
JWTX_TARGET_COLD = 1.0


@dataclass
class DbResult:
    label: str
    version: str
    statements: int = 0
    inproc: Series | None = None
    http: Series | None = None
    scale: Series | None = None
    login: dict = field(default_factory=dict)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "usable": usable_cpus(), "cpu": model,
            "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}",
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def cpus_phrase(info: dict) -> str:
    usable, total = info["usable"], info["nproc"]
    return f"{usable} CPUs" if usable == total else f"{usable} usable CPUs of {total}"


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def fmt_ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def comparison_rows(r: DbResult):
    """(mode, series, usergate scenario) for every row of the main table."""
    rows = []
    if r.inproc:
        rows.append(("in-process", r.inproc, "usergate"))
        if COLD in r.inproc.samples:
            rows.append(("in-process, a new token every request", r.inproc, COLD))
    if r.http:
        rows.append(("HTTP (gunicorn)", r.http, "usergate"))
    return rows


def _ratio(series: Series, a: str, b: str, *, cpu: bool = False) -> float | None:
    if b not in series.samples or a not in series.samples:
        return None
    return series.cpu_ratio(a, b) if cpu else series.ratio(a, b)


def target_rows(results: list[DbResult]) -> list[tuple[str, str, str, bool]]:
    rows = []
    for r in results:
        tag = r.label
        for mode, series, ug in comparison_rows(r):
            wanted = BARE_TARGETS.get((tag, mode))
            v = _ratio(series, ug, "bare")
            if wanted is not None and v is not None:
                rows.append((f"{tag}: usergate / bare Flask, {mode}", f"≥ {wanted:.2f}",
                             fmt_ratio(v), v >= wanted))
        for mode, series, ug in comparison_rows(r):
            v = _ratio(series, ug, "jwtx")
            if v is not None:
                wanted = JWTX_TARGET_COLD if ug == COLD else JWTX_TARGET
                rows.append((f"{tag}: usergate / flask-jwt-extended, {mode}",
                             f"≥ {wanted:.2f}", fmt_ratio(v), v >= wanted))
        if r.inproc and "ceiling" in r.inproc.samples:
            v = r.inproc.ratio("usergate", "ceiling")
            rows.append((f"{tag}: usergate / no auth on usergate's stack, in-process",
                         "≥ 0.85", fmt_ratio(v), v >= 0.85))
        if r.scale:
            big, none = scale_ends(r)
            v = r.scale.ratio(big, none)
            rows.append((f"{tag}: {int(big):,} blacklist rows / none", "≥ 0.90",
                         fmt_ratio(v), v >= 0.9))
        rows.append((f"{tag}: SQL statements per protected request", "1",
                     str(r.statements), r.statements == 1))
        if r.login:
            v = login_ratio(r.login)
            rows.append((f"{tag}: login time, unknown email / wrong password", "0.90–1.10",
                         f"{v:.3f}", 0.9 <= v <= 1.1))
    return rows


def scale_ends(r: DbResult) -> tuple[str, str]:
    sizes = sorted(r.scale.samples, key=int)
    return sizes[-1], sizes[0]


def login_ratio(login: dict, suffix: str = "") -> float:
    """Median of the per-pair ratios unknown email / wrong password."""
    return _paired(login, "unknown_email" + suffix, "wrong_password" + suffix)


def markdown(results: list[DbResult], info: dict, plan, args, command: str,
             chart: str | None) -> str:
    cores = cpus_phrase(info)
    out = [
        f"Measured {info['date']} with `{command}` "
        f"({'quick' if args.quick else 'full'} mode, {info['seconds']:.0f} s).\n",
        f"Machine: {cores} ({info['cpu']}), {info['os']}, Python "
        f"{info['python']}, {', '.join(r.version for r in results)}; load average at the "
        f"start {info['load']}, at the end {info['load_end']}. A shared machine: other "
        f"jobs may run on the same {info['usable']} CPUs, so absolute numbers move from run "
        "to run; the ratios are paired per interleaved round and are what to read.\n",
        f"In-process: {plan.rounds} interleaved rounds of {plan.batch} requests per scenario "
        f"through the Flask test client. HTTP: gunicorn with {args.workers} sync workers "
        "per app (usergate's, and the bare-Flask app's own), "
        f"{plan.http_rounds} interleaved rounds of {plan.http_seconds} s per scenario, load "
        f"from {info['load_generator']} with {args.connections} connections on the same "
        "machine. Rates are medians of requests per second; a ratio is the median of the "
        "per-round ratios. *CPU* ratios divide requests per CPU-second of the benchmark "
        "process instead (in-process only): on SQLite all the work is in that process, so "
        "they do not see other jobs taking the CPU away; on PostgreSQL they leave out the "
        "server's own work, so read the wall-clock ratio there.\n",
        "### GET /api/v1/auth/user: requests per second\n",
        "| database | mode | bare Flask (ceiling) | no auth on usergate's stack | usergate "
        "| flask-jwt-extended | usergate / bare Flask | usergate / no auth on its stack "
        "| usergate / flask-jwt-extended | same, CPU time (bare / jwtx) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        for mode, series, ug in comparison_rows(r):
            cpu = (f"{fmt_ratio(_ratio(series, ug, 'bare', cpu=True))} / "
                   f"{fmt_ratio(_ratio(series, ug, 'jwtx', cpu=True))}"
                   if series.cpu else "–")
            rates = " | ".join(fmt_rate(series.median(s)) if s in series.samples else "–"
                               for s in ("bare", "ceiling", ug, "jwtx"))
            out.append(
                f"| {r.label} | {mode} | {rates} "
                f"| {fmt_ratio(_ratio(series, ug, 'bare'))} "
                f"| {fmt_ratio(_ratio(series, ug, 'ceiling'))} "
                f"| {fmt_ratio(_ratio(series, ug, 'jwtx'))} | {cpu} |")
    out.append("")
    scaled = [r for r in results if r.scale]
    if scaled:
        sizes = sorted(scaled[0].scale.samples, key=int)
        out.append("### Blacklist scaling: usergate protected requests per second "
                   "(in-process)\n")
        out.append("| database | " + " | ".join(f"{int(n):,} rows" for n in sizes)
                   + f" | {int(sizes[-1]):,} rows / none | same, CPU time |")
        out.append("| --- | " + " | ".join("---:" for _ in sizes) + " | ---: | ---: |")
        for r in scaled:
            big, none = scale_ends(r)
            cells = " | ".join(fmt_rate(r.scale.median(n)) for n in sizes)
            out.append(f"| {r.label} | {cells} | {fmt_ratio(r.scale.ratio(big, none))} "
                       f"| {fmt_ratio(r.scale.cpu_ratio(big, none))} |")
        out.append("")
    if any(r.login for r in results):
        out.append("### Login: time of a failed login (bcrypt cost 12, in-process)\n")
        out.append(f"{plan.login_pairs} interleaved pairs; the ratio is the median of the "
                   "per-pair ratios.\n")
        out.append("| database | unknown email | wrong password | unknown / wrong "
                   "| same, CPU time |")
        out.append("| --- | ---: | ---: | ---: | ---: |")
        for r in results:
            if r.login:
                out.append(
                    f"| {r.label} | {statistics.median(r.login['unknown_email']) * 1000:.1f} ms "
                    f"| {statistics.median(r.login['wrong_password']) * 1000:.1f} ms "
                    f"| {login_ratio(r.login):.3f} | {login_ratio(r.login, '_cpu'):.3f} |")
        out.append("")
    out.append("### Targets\n")
    out.append("| target | wanted | measured | met |")
    out.append("| --- | --- | --- | --- |")
    for name, wanted, got, ok in target_rows(results):
        out.append(f"| {name} | {wanted} | {got} | {'yes' if ok else '**no**'} |")
    out.append("")
    if chart:
        out.append(f"![requests per second by scenario]({chart})\n")
    return "\n".join(out)


CHART_ORDER = ("bare", "ceiling", "usergate", COLD, "jwtx")
COLORS = {"bare": "#4d4d4d", "ceiling": "#9e9e9e", "usergate": "#1f77b4", COLD: "#aec7e8",
          "jwtx": "#ff7f0e"}


def draw_chart(results: list[DbResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5),
                                      gridspec_kw={"width_ratios": [3, 2]})
    groups = []
    for r in results:
        for mode, series in (("in-process", r.inproc), ("HTTP", r.http)):
            if series is not None:
                groups.append((f"{r.label}\n{mode}", series))
    width = 0.8 / len(CHART_ORDER)
    for scenario in CHART_ORDER:
        xs, ys, errs = [], [], [[], []]
        for g, (_, series) in enumerate(groups):
            present = [s for s in CHART_ORDER if s in series.samples]
            if scenario in present:  # the bars of a group side by side, centred
                i = present.index(scenario)
                med = series.median(scenario)
                lo, hi = series.spread(scenario)
                xs.append(g + (i - (len(present) - 1) / 2) * width)
                ys.append(med)
                errs[0].append(max(0, med - lo))
                errs[1].append(max(0, hi - med))
        if xs:
            left.bar(xs, ys, width, yerr=errs, capsize=3, label=LABELS[scenario],
                     color=COLORS[scenario])
    left.set_xticks(range(len(groups)), [g for g, _ in groups])
    left.set_ylabel("requests / s (median; whiskers: interquartile range)")
    left.set_title("GET /api/v1/auth/user")
    left.legend(fontsize="small")
    scaled = [r for r in results if r.scale]
    if scaled:
        sizes = sorted(scaled[0].scale.samples, key=int)
        shades = ["#c6dbef", "#6baed6", "#08519c"]
        width = 0.8 / len(sizes)
        for i, n in enumerate(sizes):
            xs = [g + (i - (len(sizes) - 1) / 2) * width for g in range(len(scaled))]
            ys = [r.scale.median(n) for r in scaled]
            right.bar(xs, ys, width, label=f"{int(n):,} blacklist rows",
                      color=shades[i % len(shades)])
        right.set_xticks(range(len(scaled)), [r.label for r in scaled])
        right.set_title("usergate in-process, by blacklist size")
        right.set_ylabel("requests / s (median)")
        right.legend(fontsize="small")
    else:
        right.set_axis_off()
    fig.suptitle("usergate: the price of the framework and of authentication "
                 "(higher is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(results: list[DbResult]) -> None:
    print()
    header = f"{'database':<11} {'scenario':<48} {'median':>10}  ratios"
    print(header)
    print("-" * 110)
    for r in results:
        for mode, series in (("in-process", r.inproc), ("HTTP", r.http)):
            if series is None:
                continue
            for s in series.samples:
                notes = []
                if s in ("usergate", COLD):
                    for o in ("bare", "ceiling", "jwtx"):
                        if o not in series.samples:
                            continue
                        note = f"/{o} {series.ratio(s, o):.2f}x"
                        if series.cpu:
                            note += f" (cpu {series.cpu_ratio(s, o):.2f}x)"
                        notes.append(note)
                print(f"{r.label:<11} {mode + ' ' + LABELS[s]:<48} "
                      f"{series.median(s):>8,.0f}/s  {'  '.join(notes)}")
        if r.scale:
            base = min(r.scale.samples, key=int)
            for s in sorted(r.scale.samples, key=int):
                print(f"{r.label:<11} {f'blacklist {int(s):,} rows':<48} "
                      f"{r.scale.median(s):>8,.0f}/s  vs none {r.scale.ratio(s, base):.2f}x "
                      f"(cpu {r.scale.cpu_ratio(s, base):.2f}x)")
        if r.login:
            for name in ("unknown_email", "wrong_password"):
                print(f"{r.label:<11} {'login ' + name.replace('_', ' '):<48} "
                      f"{statistics.median(r.login[name]) * 1000:>7,.1f} ms")
            print(f"{r.label:<11} {'login unknown / wrong':<48} {'':>10}  "
                  f"{login_ratio(r.login):.3f} (cpu {login_ratio(r.login, '_cpu'):.3f})")
        print(f"{r.label:<11} {'SQL statements per protected request':<48} {r.statements:>10}")
    print()
    for name, wanted, got, ok in target_rows(results):
        print(f"  [{'ok' if ok else 'MISSED'}] {name}: {got} (wanted {wanted})")
    print()


def write_json(path: Path, results: list[DbResult], info: dict) -> None:
    path.write_text(json.dumps({
        "machine": info, "results": [
            {"database": r.label, "version": r.version, "statements": r.statements,
             "inprocess": r.inproc and r.inproc.samples,
             "inprocess_cpu": r.inproc and r.inproc.cpu,
             "http": r.http and r.http.samples,
             "blacklist": r.scale and r.scale.samples,
             "blacklist_cpu": r.scale and r.scale.cpu, "login": r.login}
            for r in results]}, indent=1))


def write_markdown(path: Path, section: str) -> None:
    block = f"{BEGIN}\n{section}\n{END}"
    if path.exists():
        current = path.read_text()
        if BEGIN in current and END in current:
            head, rest = current.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            path.write_text(head + block + tail)
            return
        path.write_text(current.rstrip() + "\n\n## Results\n\n" + block + "\n")
        return
    path.write_text("# Benchmarks\n\n" + block + "\n")
