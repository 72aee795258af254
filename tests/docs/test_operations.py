"""docs/operations.md as written: every command of the page run, in order, against a temporary
/etc, /srv and /var/lib, or named in ELSEWHERE with the test that runs it instead (or why
nothing here can). A new command in the page that is neither run nor named fails the test.

Run in order by `test_every_command_of_the_operations_page`: `useradd` (as root, with
`--root` on copies of the account files), `git clone` and `git -C ... pull` (this checkout
as the remote, by file URL), `cd`, `install`, `cp`, `sed`, `set` and every `loyaltybot`
command. Elsewhere in this file: the systemd unit carried out as systemd would (with the
page's `curl` lines against it), the wheel that `.venv/bin/pip install .` installs, the
container file's inputs; tests/api run nginx and Caddy with the shipped files.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from telegram_emulator import TelegramEmulator, serve
from tests.run_kit import free_port

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "operations.md"
BIN = Path(sys.executable).parent
RUN = {"loyaltybot", "cp", "install", "sed", "set", "git", "cd", "useradd"}
# Not run by the page's script, and where instead (or why not at all).
ELSEWHERE = {
    "python3": "a venv of its own takes a minute of installing; the suite's .venv is made the"
    " same way (scripts/test), and what pip installs into it is the wheel tested below",
    ".venv/bin/pip": "test_the_wheel_holds_everything_the_packages_need builds the wheel that"
    " `pip install .` installs (from the container's inputs) and runs it alone",
    "systemctl": "needs systemd as PID 1: test_the_systemd_unit_runs_as_systemd_would_run_it"
    " carries the unit out without it, and systemd-analyze verifies it",
    "journalctl": "needs journald: the unit's log lines are read from the service's stderr by"
    " the systemd test; their format is tests/api/test_logs.py's",
    "docker": "needs a daemon and the base image from a registry, neither here: the build is"
    " skipped, its inputs are checked and built into a wheel by the tests below",
    "nginx": "tests/api/test_proxy.py runs deploy/nginx.conf with a real nginx before a live"
    " server (a stronger check than `nginx -t` of this machine's own config)",
    "caddy": "tests/api/test_caddy.py runs this validate line on the shipped file, and the file"
    " itself before a live server",
    "curl": "run by the systemd test against the unit's live service (the port replaced),"
    " where curl is installed",
}
DAY = "2026-11-20T10:00:00+00:00"


def commands() -> list[str]:
    """Every line of the page's sh blocks, in order (indented blocks in lists too)."""
    lines, inside = [], False
    for raw in PAGE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("```"):
            inside = line == "```sh"
            continue
        if inside and line and not line.startswith("#"):
            lines.append(line)
    return lines


def human_steps(root: Path) -> dict[str, str]:
    """What a person (or the shop) does between the page's commands, keyed by the line before."""
    events = root / "events.jsonl"
    events.write_text("".join(json.dumps({
        "id": f"e-{m}", "type": "member.upserted", "occurred_at": DAY, "data": {"member_id": m},
    }) + "\n" for m in ("m-1", "m-2")))  # fmt: skip
    link = root / "link.py"
    link.write_text(
        "import asyncio, sys\nfrom pathlib import Path\nfrom bot.config import load_config\n"
        "from bot.store import open_store\nfrom storage import links\n"
        "async def main():\n"
        "    async with open_store(load_config(Path(sys.argv[1]))) as store:\n"
        "        for m, user in (('m-1', 501), ('m-2', 502)):\n"
        "            token = await links.create_token(store, m)\n"
        "            await links.consume_token(store, token.token, user)\n"
        "asyncio.run(main())\n"
    )
    config = f"{root}/etc/loyaltybot/config.toml"
    return {
        # the person writes the secrets; the shop sends its members, who link Telegram
        "install -m 0600 /dev/null": (
            "printf 'BOT_TOKEN=123:abc\\nSHOP_API_KEY=k-0123456789\\n'"
            f" > {root}/etc/loyaltybot/secrets.env"
        ),
        "loyaltybot db migrate -c /etc/loyaltybot/config.toml": (
            f"loyaltybot events import {events} -c {config} && {sys.executable} {link} {config}"
            f" && loyaltybot db backup {root}/var/lib/loyaltybot/backups/loyalty-2026-12-01.db"
            f" -c {config}"
        ),
    }


ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow", "login.defs")


def accounts_root(root: Path) -> bool:
    """Give `useradd --root` copies of this machine's account files under `root`; False when
    useradd cannot run (not root: it chroots)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        return False
    for name in ACCOUNT_FILES:
        if Path("/etc", name).exists():
            shutil.copy2(Path("/etc", name), root / "etc" / name)
    nologin = root / "usr" / "sbin" / "nologin"  # the shell it checks, inside the root
    nologin.parent.mkdir(parents=True)
    nologin.write_text("#!/bin/sh\nexit 1\n")
    nologin.chmod(0o755)
    return True


def localised(line: str, root: Path) -> str:
    """Return a page line run against `root`: the paths moved there, the remote this checkout."""
    if line.startswith("useradd "):
        return line.replace("useradd ", f"useradd --root {root} ", 1)  # paths inside the root
    line = line.replace("https://example.org/loyaltybot.git", ROOT.as_uri())
    for top in ("/etc/", "/var/lib/", "/srv/"):
        # sed's "#" delimiters hold the paths too: they are replaced the same way.
        line = line.replace(top, f"{root}{top}")
    return line


def test_every_command_of_the_operations_page(tmp_path: Path) -> None:
    (tmp_path / "etc" / "systemd" / "system").mkdir(parents=True)  # the unit is copied there
    (tmp_path / "var" / "lib").mkdir(parents=True)
    (tmp_path / "srv").mkdir()
    as_root = accounts_root(tmp_path)
    steps = human_steps(tmp_path)
    script = ["set -euo pipefail", f"export PATH={BIN}:$PATH", f"cd {ROOT}"]
    ran: list[str] = []
    for line in commands():
        first = line.split()[0].rstrip(";")
        if first in ELSEWHERE or (first == "useradd" and not as_root):
            continue
        assert first in RUN, f"docs/operations.md: {line!r} is neither run nor named here"
        script.append(localised(line, tmp_path))
        ran.append(first)
        script += [v for k, v in steps.items() if line.startswith(k)]
    assert ran.count("loyaltybot") >= 20 and ran.count("git") == 2 and "cd" in ran
    child = subprocess.run(
        ["bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=300, check=False
    )
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
    assert "Traceback" not in child.stderr
    data = tmp_path / "var" / "lib" / "loyaltybot"
    assert (data / "loyalty.db").exists() and (data / "upgrade-trial.db").exists()
    backups = sorted(p.name for p in (data / "backups").iterdir())
    assert "before-upgrade.db" in backups and "before-repair.db" in backups
    assert "queued 1 of 1 reachable members" in child.stdout  # m-1 was unlinked just before
    # The clone is this checkout's history, and the page's later steps ran inside it.
    clone = tmp_path / "srv" / "loyaltybot"
    head = ["git", "-C", str(clone), "rev-parse", "HEAD"]
    assert subprocess.run(head, capture_output=True, text=True, check=True).stdout.strip() == (
        subprocess.run([*head[:2], str(ROOT), *head[3:]], capture_output=True, text=True,
                       check=True).stdout.strip()
    )  # fmt: skip
    assert (tmp_path / "etc" / "systemd" / "system" / "loyaltybot.service").exists()
    if as_root:
        passwd = (tmp_path / "etc" / "passwd").read_text().splitlines()
        (entry,) = [p for p in passwd if p.startswith("loyaltybot:")]
        fields = entry.split(":")
        assert fields[5:] == ["/var/lib/loyaltybot", "/usr/sbin/nologin"]
        assert int(fields[2]) < 1000  # --system: a system account's uid
        assert "loyaltybot:" not in Path("/etc/passwd").read_text()  # this machine untouched


def test_the_systemd_unit_verifies() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    unit = (ROOT / "deploy" / "loyaltybot.service").read_text()
    real = unit.replace("/srv/loyaltybot/.venv/bin/loyaltybot", str(BIN / "loyaltybot"))
    real = real.replace("/srv/loyaltybot", str(ROOT))
    path = Path(__file__).parent / ".." / ".." / ".pytest-unit"
    path.mkdir(exist_ok=True)
    try:
        (path / "loyaltybot.service").write_text(real)
        child = subprocess.run([analyze, "verify", str(path / "loyaltybot.service")],
                               capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    finally:
        shutil.rmtree(path)
    assert child.returncode == 0 and child.stderr.strip() == "", child.stderr
    for key in ("ExecStartPre=", "ExecStart=", "EnvironmentFile=", "KillSignal=SIGTERM"):
        assert key in unit, key


def unit_sections(text: str) -> configparser.ConfigParser:
    """Parse a systemd unit (an ini file with case-sensitive keys and no interpolation)."""
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def environment_file(path: Path) -> dict[str, str]:
    """Read a systemd EnvironmentFile: KEY=VALUE lines, # and ; comments, optional quotes."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


async def the_pages_curl_lines(port: int) -> None:
    """Run the page's `curl` lines against a live service on `port` (when curl is here)."""
    lines = [c for c in commands() if c.startswith("curl ")]
    assert lines and all("http://127.0.0.1:8080/" in c for c in lines)
    if shutil.which("curl") is None:
        return  # named in ELSEWHERE: run where curl is installed (Debian's CI image has it)
    for line in lines:
        argv = shlex.split(line.replace(":8080/", f":{port}/"))
        child = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(child.communicate(), 10)
        assert child.returncode == 0, line
        expected = b"loyalty_members " if line.endswith("/metrics") else b'"status"'
        assert expected in out, (line, out[:300])


async def test_the_systemd_unit_runs_as_systemd_would_run_it(tmp_path: Path) -> None:
    """No systemd as PID 1 here: the unit's [Service] is carried out the way systemd does it.

    EnvironmentFile and StateDirectory set up, UMask applied, ExecStartPre to its end, then
    ExecStart until /healthz answers, KillSignal, and a clean exit within TimeoutStopSec.
    Paths are this checkout's venv and a temporary /etc and /var/lib; User= is not switched.
    """
    service = unit_sections((ROOT / "deploy" / "loyaltybot.service").read_text())["Service"]
    etc, state_root = tmp_path / "etc" / "loyaltybot", tmp_path / "var" / "lib"

    def local(value: str) -> str:
        value = value.replace("/srv/loyaltybot/.venv/bin/loyaltybot", str(BIN / "loyaltybot"))
        value = value.replace("/srv/loyaltybot", str(ROOT))
        return value.replace("/etc/loyaltybot/", f"{etc}/")

    state = state_root / service["StateDirectory"]
    state.mkdir(parents=True, mode=int(service["StateDirectoryMode"], 8))
    etc.mkdir(parents=True)
    port = free_port()
    emulator = TelegramEmulator(bot_username="loyalty_test_bot")
    async with serve(emulator) as base_url:
        example = (ROOT / "config.example.toml").read_text()
        for line, replacement in (
            ('path = "loyalty.db"', f'path = "{state}/loyalty.db"'),  # the page's sed
            ("port = 8080", f"port = {port}"),
            ('base_url = "https://api.telegram.org/bot"', f'base_url = "{base_url}"'),
        ):
            assert line in example, line
            example = example.replace(line, replacement, 1)
        (etc / "config.toml").write_text(example)
        (etc / "secrets.env").write_text(
            f"# the bot's secrets\nBOT_TOKEN={emulator.token}\nSHOP_API_KEY='k-0123456789'\n"
        )
        # systemd's environment: its own few variables and the EnvironmentFile, nothing of ours.
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "STATE_DIRECTORY": str(state),
               **environment_file(Path(local(service["EnvironmentFile"])))}  # fmt: skip
        umask = int(service["UMask"], 8)
        start: dict[str, Any] = {"cwd": local(service["WorkingDirectory"]), "env": env,
                                 "preexec_fn": lambda: os.umask(umask)}  # fmt: skip
        for key in ("ExecStartPre", "ExecStart"):
            assert not service[key].startswith(("-", "@", ":", "+", "!")), key  # plain commands
        before = await asyncio.create_subprocess_exec(
            *shlex.split(local(service["ExecStartPre"])), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, **start,
        )  # fmt: skip
        _, failed = await asyncio.wait_for(before.communicate(), 60)
        assert before.returncode == 0, failed.decode()
        assert (state / "loyalty.db").stat().st_mode & 0o777 == 0o600  # UMask=0077
        main = await asyncio.create_subprocess_exec(
            *shlex.split(local(service["ExecStart"])), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, **start,
        )  # fmt: skip
        assert main.stderr is not None
        log: list[str] = []

        async def read_log() -> None:
            assert main.stderr is not None
            async for line in main.stderr:
                log.append(line.decode(errors="replace"))

        reading = asyncio.create_task(read_log())
        try:
            deadline = time.monotonic() + 30
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                while True:  # Type=exec: started at once; serving once it answers, bot and all
                    assert main.returncode is None, "the service ended:\n" + "".join(log)
                    with contextlib.suppress(httpx.TransportError):
                        healthy = (await client.get("/healthz")).status_code == 200
                        if healthy and any("event=bot_running" in line for line in log):
                            break
                    assert time.monotonic() < deadline, "not serving within 30 s"
                    await asyncio.sleep(0.1)
            await the_pages_curl_lines(port)
            main.send_signal(signal.Signals[service["KillSignal"]])
            stopping = time.monotonic()
            await asyncio.wait_for(main.wait(), float(service["TimeoutStopSec"]))
            await reading
        finally:
            if main.returncode is None:
                main.kill()
                await main.wait()
        text = "".join(log)
        assert main.returncode == 0, text[-3000:]
        assert time.monotonic() - stopping < float(service["TimeoutStopSec"])
        assert "event=stopped" in text and "Traceback" not in text
    await emulator.aclose()


WHEEL_CHECK = """
import sys
from pathlib import Path
site = Path(sys.argv[1])
sys.path.insert(0, str(site))  # -I left out the checkout; the venv's packages stay
import bot, handlers.catalogue
from bot.cli import main
for module in (bot, handlers.catalogue):
    assert Path(module.__file__).is_relative_to(site), module.__file__
print("texts:", len(list(handlers.catalogue.Catalogue.load())))
codes = [main(["db", "migrate", "-c", sys.argv[2]]), main(["config", "check", "-c", sys.argv[2]])]
print("codes:", codes)
"""


def copied_by_the_container_file() -> list[str]:
    """Return what deploy/Containerfile copies into the image, as checkout paths."""
    text = (ROOT / "deploy" / "Containerfile").read_text()
    return [
        name for m in re.finditer(r"^COPY (.+) \S+$", text, re.M) for name in m.group(1).split()
    ]


def test_the_wheel_holds_everything_the_packages_need(tmp_path: Path) -> None:
    """`pip install .` (the page's install, the container's too) installs a wheel, not the
    checkout: build it from what the Containerfile copies, then run from the wheel alone."""
    source = tmp_path / "source"
    for name in copied_by_the_container_file():
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, source / name)
    # The build backend's PEP 517 hook, as `pip wheel --no-deps --no-build-isolation` calls
    # it: the same wheel, without pip's own two seconds of start-up and metadata round.
    backend = (
        "import sys, tomllib, importlib; project = tomllib.load(open('pyproject.toml', 'rb'));"
        " hooks = importlib.import_module(project['build-system']['build-backend']);"
        " print(hooks.build_wheel(sys.argv[1]))"
    )
    build = [sys.executable, "-c", backend, str(tmp_path / "dist")]
    built = subprocess.run(build, capture_output=True, text=True, cwd=source, timeout=120,
                           check=False)  # fmt: skip
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("loyaltybot-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
        inside = set(archive.namelist())
    # Every file of the packages in the checkout is in the wheel (READMEs aside): texts,
    # migrations, presets, web pages.
    packages = ["bot", "handlers", "loyalty", "storage", "telegram_emulator"]
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", *packages], capture_output=True,
                             text=True, check=True).stdout.split()  # fmt: skip
    missing = sorted(n for n in tracked if n not in inside and not n.endswith(".md"))
    assert missing == [], f"not in the wheel (pyproject.toml's package-data): {missing}"
    config = tmp_path / "config.toml"
    config.write_text(
        (ROOT / "config.example.toml")
        .read_text()
        .replace('path = "loyalty.db"', f'path = "{tmp_path / "loyalty.db"}"')
    )
    env = {**os.environ, "BOT_TOKEN": "123:abc", "SHOP_API_KEY": "k-0123456789"}
    check = [sys.executable, "-I", "-c", WHEEL_CHECK, str(site), str(config)]
    child = subprocess.run(check, capture_output=True, text=True, cwd=tmp_path, env=env,
                           timeout=60, check=False)  # fmt: skip
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-3000:]
    assert "codes: [0, 0]" in child.stdout, child.stdout[-2000:] + child.stderr[-2000:]
    assert (tmp_path / "loyalty.db").exists()


def test_the_container_file_copies_every_package() -> None:
    text = (ROOT / "deploy" / "Containerfile").read_text()
    copied = {m.group(1) for m in re.finditer(r"^COPY (\S+) ", text, re.M)}
    copied |= set(re.search(r"^COPY (.+) \./$", text, re.M).group(1).split())
    for package in ("bot", "handlers", "loyalty", "storage", "telegram_emulator"):
        assert package in copied, package  # pyproject's packages, all of them
    for name in copied:
        assert (ROOT / name).exists(), name
    assert 'ENTRYPOINT ["loyaltybot"]' in text and "USER loyaltybot" in text
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True).returncode != 0:
        pytest.skip(
            "no docker daemon answers here (nor a registry for its python:3.11-slim base): the"
            " image is not built by the suite; its inputs are checked and built into a wheel"
        )
    build = [docker, "build", "-q", "-f", "deploy/Containerfile", "-t", "loyaltybot-test", "."]
    assert subprocess.run(build, cwd=ROOT, timeout=900, check=False).returncode == 0
