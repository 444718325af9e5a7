"""The README's httpie walk-through, run for real, so the docs cannot drift from the service.

The test reads the ```console blocks of the README section "A walk through with
httpie", runs every ``$ http ...`` line with the real httpie against a fresh
usergate (``:5000`` becomes the server's port; ``$ACCESS`` and ``$REFRESH`` are the
tokens of the latest response that carried them, as the README says), and compares
what httpie prints with the lines that follow the command in the README:

- the status line exactly;
- the same header names, and the same values except where a value is new on every
  run (Date, X-Request-ID, X-RateLimit-Reset, Content-Length, the Python version
  in Server, the user id in Location);
- a JSON body with the same keys and values, where a README token ending in ``…``
  stands for any JWT starting with the shown characters, a UUID for a UUID (the same
  README UUID always for the same real one), an RFC 3339 time for any such time,
  and ``token_expires_in`` for a number of seconds a little below the one shown.

``python tests/clients/test_httpie.py`` prints the same walk-through's real output
(tokens shortened) to paste into the README after a deliberate change.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
README = HERE.parents[1] / "README.md"
SECTION = "## A walk through with httpie"
README_PORT = "5000"
SHORT = 32  # characters of a token the README keeps before "…"

# What httpie prints in a terminal (formatted, headers and body), minus the colours;
# --ignore-stdin because the test's stdin is not a terminal.
HTTP_FLAGS = ["--ignore-stdin", "--pretty=format", "--print=hb", "--timeout=30"]

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT")
VOLATILE_HEADERS = {
    "date": HTTP_DATE,
    "x-request-id": re.compile(r"[0-9a-f]{32}"),
    "x-ratelimit-reset": re.compile(r"\d+"),
    "content-length": re.compile(r"\d+"),
    "server": re.compile(r"Werkzeug/[\d.]+ Python/[\d.]+"),
}


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Output:
    status: str
    headers: list[tuple[str, str]]
    body: str


def readme_steps(text: str) -> list[Step]:
    """The ``$ http`` commands of the walk-through section and the lines after each."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end != -1 else None]
    steps: list[Step] = []
    for block in re.findall(r"```console\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:]))
            elif steps:
                steps[-1].expected.append(line)
    return steps


def parse_output(lines: list[str]) -> Output:
    lines = list(lines)
    while lines and not lines[-1].strip():
        lines.pop()
    status, rest = lines[0], lines[1:]
    headers = []
    while rest and rest[0].strip():
        name, _, value = rest.pop(0).partition(":")
        headers.append((name.strip(), value.strip()))
    return Output(status.strip(), headers, "\n".join(rest).strip())


class Walk:
    """Runs README commands with httpie, carrying $ACCESS and $REFRESH along.

    After a password-reset request, the server's deliverer runs once (`flask mail
    deliver --once`, as `python3 run.py` does in the background) and $RESET_TOKEN
    is the token of the link in the mail it wrote (development: instance/mail/).
    """

    def __init__(self, http: str, port: int, home: Path, server=None):
        self.http = http
        self.port = port
        self.server = server
        self.variables: dict[str, str] = {}
        self.env = {**os.environ, "HOME": str(home), "HTTPIE_CONFIG_DIR": str(home / "httpie"),
                    "NO_COLOR": "1"}

    def argv(self, command: str) -> list[str]:
        for name, value in self.variables.items():
            command = command.replace(f"${name}", value)
        assert "$" not in command, f"an unknown variable in: {command}"
        argv = shlex.split(command)
        assert argv[0] == "http", command
        argv = [self.http, *HTTP_FLAGS, *argv[1:]]
        return [arg.replace(f":{README_PORT}/", f":{self.port}/", 1)
                if arg.startswith(f":{README_PORT}/") else arg for arg in argv]

    def run(self, command: str) -> Output:
        done = subprocess.run(self.argv(command), env=self.env, capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        # httpie exits 0 on 2xx/4xx unless --check-status; anything else is its own failure.
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        self.last_stdout = done.stdout
        output = parse_output(done.stdout.splitlines())
        if output.body.startswith("{"):
            body = json.loads(output.body)
            if "access_token" in body:
                self.variables["ACCESS"] = body["access_token"]
            if "refresh_token" in body:
                self.variables["REFRESH"] = body["refresh_token"]
        if "/auth/password-reset " in command + " " and self.server is not None:
            self.variables["RESET_TOKEN"] = self.mailed_reset_token()
        return output

    def mailed_reset_token(self) -> str:
        from email import message_from_bytes, policy

        self.server.flask("mail", "deliver", "--once")
        for eml in sorted((self.server.workdir / "instance" / "mail").glob("*.eml"),
                          reverse=True):
            message = message_from_bytes(eml.read_bytes(), policy=policy.default)
            if "Reset" in message["Subject"]:
                text = message.get_body(preferencelist=("plain",)).get_content()
                return re.search(r"#token=([A-Za-z0-9_-]+)", text).group(1)
        raise AssertionError("no reset mail was written")


class Matcher:
    """Compares what the README shows with what httpie printed."""

    def __init__(self):
        self.uuids: dict[str, str] = {}

    def same_uuid(self, shown: str, real: str, where: str) -> None:
        assert UUID.fullmatch(real), f"{where}: {real!r} is not a UUID"
        bound = self.uuids.setdefault(shown, real)
        assert bound == real, f"{where}: {shown} was {bound} earlier, now {real}"

    def header(self, name: str, shown: str, real: str) -> None:
        key = name.lower()
        if key in VOLATILE_HEADERS:
            assert VOLATILE_HEADERS[key].fullmatch(shown), f"README {name}: {shown!r}"
            assert VOLATILE_HEADERS[key].fullmatch(real), f"{name}: {real!r}"
        elif key == "location" and UUID.search(shown):
            assert UUID.sub("<id>", shown) == UUID.sub("<id>", real), (name, shown, real)
            self.same_uuid(UUID.search(shown).group(), UUID.search(real).group(), name)
        else:
            assert shown == real, f"{name}: README shows {shown!r}, the server sent {real!r}"

    def value(self, key: str, shown, real, where: str) -> None:
        where = f"{where}.{key}" if key else where
        if isinstance(shown, dict):
            assert isinstance(real, dict), f"{where}: {real!r}"
            assert list(shown) == list(real), f"{where}: keys {list(shown)} != {list(real)}"
            for name in shown:
                self.value(name, shown[name], real[name], where)
        elif isinstance(shown, str) and shown.endswith("…"):
            assert JWT.fullmatch(real), f"{where}: {real!r} is not a JWT"
            assert real.startswith(shown[:-1]), f"{where}: {real[:40]}… != {shown}"
        elif isinstance(shown, str) and UUID.fullmatch(shown):
            self.same_uuid(shown, real, where)
        elif isinstance(shown, str) and RFC3339.fullmatch(shown):
            assert isinstance(real, str) and RFC3339.fullmatch(real), f"{where}: {real!r}"
        elif key == "token_expires_in":
            # Seconds left: time passes between the sign-in and this request (a busy CI
            # machine starts httpie slowly); the point is a count down from expires_in.
            assert isinstance(real, int) and shown - 60 <= real <= shown + 1, (where, real)
        else:
            assert shown == real, f"{where}: README shows {shown!r}, the server sent {real!r}"


def check(step: Step, real: Output, matcher: Matcher) -> None:
    shown = parse_output(step.expected)
    where = f"`$ {step.command[:70]}`"
    assert real.status == shown.status, f"{where}: {real.status!r}, README: {shown.status!r}"
    real_headers = dict(real.headers)
    assert [n for n, _ in shown.headers] == [n for n, _ in real.headers], (
        f"{where}: headers {[n for n, _ in real.headers]}, README: {[n for n, _ in shown.headers]}")
    for name, value in shown.headers:
        matcher.header(name, value, real_headers[name])
    if shown.body or real.body:
        assert real.body and shown.body, f"{where}: body {real.body!r}, README: {shown.body!r}"
        matcher.value("", json.loads(shown.body), json.loads(real.body), where)


def httpie() -> str | None:
    beside = Path(sys.executable).with_name("http")
    return str(beside) if beside.exists() else shutil.which("http")


@pytest.fixture
def walk_server(start_server):
    # The server as `python3 run.py` starts it: development settings, rate limits on.
    return start_server(USERGATE_CONFIG="development", RATELIMIT_ENABLED="true")


def test_readme_section_is_a_runnable_walk_through():
    steps = readme_steps(README.read_text(encoding="utf-8"))
    commands = [step.command for step in steps]
    assert len(steps) >= 6, commands
    for path in ("/auth/register", "/auth/login", "/auth/user", "/auth/refresh",
                 "/auth/logout"):
        assert any(path in command for command in commands), path
    assert all(step.expected and step.expected[0].startswith("HTTP/1.1 ") for step in steps)
    # The step after logging out shows the 401.
    logout = next(n for n, command in enumerate(commands) if "/auth/logout" in command)
    assert steps[logout + 1].expected[0] == "HTTP/1.1 401 UNAUTHORIZED"
    # ... and then a password reset, with the token of the mailed link.
    assert any("/auth/password-reset/confirm" in command for command in commands)


def test_readme_httpie_walk_through_matches_the_service(walk_server, tmp_path, capsys):
    http = httpie()
    assert http, "httpie is in the test extra: pip install -e '.[test]'"
    steps = readme_steps(README.read_text(encoding="utf-8"))
    walk = Walk(http, walk_server.port, tmp_path, walk_server)
    matcher = Matcher()
    for step in steps:
        check(step, walk.run(step.command), matcher)
    with capsys.disabled():  # a line in the CI log
        print(f"\nhttpie walk-through: {len(steps)} README commands ran against a live server "
              f"and matched the README")


def shorten(text: str) -> str:
    return JWT.sub(lambda m: m.group()[:SHORT] + "…", text)


def main() -> None:
    """Print the walk-through's real output, to paste into the README."""
    import tempfile

    sys.path[:0] = [str(HERE), str(HERE.parent)]  # clients_support, and helpers beside it
    from clients_support import LiveServer

    with tempfile.TemporaryDirectory() as folder:
        server = LiveServer(Path(folder), USERGATE_CONFIG="development",
                            RATELIMIT_ENABLED="true").start()
        try:
            walk = Walk(httpie(), server.port, Path(folder), server)
            for step in readme_steps(README.read_text(encoding="utf-8")):
                walk.run(step.command)
                print(f"$ {step.command}\n{shorten(walk.last_stdout).rstrip()}\n")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
