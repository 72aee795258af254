"""docs/operations.md as written: every `loyaltybot` command (and the file steps around them) run
in order against a temporary /etc and /var/lib; the lines that need root, systemd, a daemon or
the network are named here with where they are checked instead. A new command in the page that
is neither run nor named fails the test."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "operations.md"
BIN = Path(sys.executable).parent
RUN = {"loyaltybot", "cp", "install", "sed", "set"}
# Not run here, and where instead (or why not at all).
ELSEWHERE = {
    "useradd": "needs root; the unit's User= is checked by systemd-analyze below",
    "git": "needs the network; the suite runs on a checkout",
    "cd": "into the checkout: the script below runs in this one",
    "python3": "the suite's own venv is made the same way (scripts/test)",
    ".venv/bin/pip": "the suite's own install (scripts/test: pip install -e .)",
    "systemctl": "needs systemd as PID 1; the unit is verified with systemd-analyze below",
    "journalctl": "needs journald; the log line format: tests/api/test_logs.py",
    "docker": "needs a daemon; built below when one answers, the inputs checked always",
    "nginx": "tests/api/test_proxy.py runs deploy/nginx.conf with a real nginx",
    "caddy": "tests/api/test_caddy.py runs this line, and deploy/Caddyfile before a live server",
    "curl": "the same endpoints: tests/api/test_system.py (/metrics, /healthz)",
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


def test_every_command_of_the_operations_page(tmp_path: Path) -> None:
    (tmp_path / "etc" / "systemd" / "system").mkdir(parents=True)  # the unit is copied there
    (tmp_path / "var" / "lib").mkdir(parents=True)
    steps = human_steps(tmp_path)
    script = ["set -euo pipefail", f"export PATH={BIN}:$PATH", f"cd {ROOT}"]
    ran: list[str] = []
    for line in commands():
        first = line.split()[0].rstrip(";")
        if first in ELSEWHERE:
            continue
        assert first in RUN, f"docs/operations.md: {line!r} is neither run nor named here"
        local = line.replace("/etc/", f"{tmp_path}/etc/").replace(
            "/var/lib/", f"{tmp_path}/var/lib/"
        )
        # sed's "#" delimiters hold the paths too: they were replaced the same way.
        script.append(local)
        ran.append(first)
        script += [v for k, v in steps.items() if line.startswith(k)]
    assert ran.count("loyaltybot") >= 20
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
        pytest.skip("no docker daemon answers here: the image is not built by the suite")
    build = [docker, "build", "-q", "-f", "deploy/Containerfile", "-t", "loyaltybot-test", "."]
    assert subprocess.run(build, cwd=ROOT, timeout=900, check=False).returncode == 0
