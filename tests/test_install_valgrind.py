"""scripts/install-valgrind decides from the user and the tools on PATH, never fails set-up.

Fake ``id``, ``sudo``, ``apt-get`` and ``valgrind`` on an otherwise empty PATH; the fake
apt-get records its calls and, on ``install``, puts a fake valgrind on PATH."""

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install-valgrind"


def fake(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)


@pytest.fixture
def run(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"

    def run(uid=1000, sudo=None, apt="ok", valgrind=False):
        fake(bin_dir, "id", f'[ "$1" = -u ] && echo {uid}')
        if sudo is not None:  # "nopasswd" or "password"
            fake(bin_dir, "sudo", f'echo "sudo $*" >> {log}\n[ "$1" = -n ] && shift\n' + (
                '"$@"' if sudo == "nopasswd" else 'echo "a password is required" >&2; exit 1'))
        if apt is not None:  # "ok" or "fails"
            fake(bin_dir, "apt-get", f'echo "apt-get $*" >> {log}\n' + (
                f'[ "$1" = install ] && printf "#!/bin/bash\\necho valgrind-3.99\\n" > '
                f'{bin_dir}/valgrind && /bin/chmod +x {bin_dir}/valgrind; exit 0'
                if apt == "ok" else "exit 100"))
        if valgrind:
            fake(bin_dir, "valgrind", "echo valgrind-3.99")
        done = subprocess.run(["/bin/bash", str(SCRIPT)], env={"PATH": str(bin_dir)},
                              capture_output=True, text=True, timeout=60)
        calls = log.read_text().splitlines() if log.exists() else []
        return done, calls

    return run


def test_valgrind_there_nothing_to_do(run):
    done, calls = run(uid=0, valgrind=True)
    assert (done.returncode, done.stdout, done.stderr, calls) == (0, "", "", [])


@pytest.mark.parametrize("uid,sudo,prefix", [(0, None, ""), (1000, "nopasswd", "sudo -n ")])
def test_root_or_passwordless_sudo_installs_with_apt(run, uid, sudo, prefix):
    done, calls = run(uid=uid, sudo=sudo)
    assert done.returncode == 0 and done.stderr == ""
    apt = [c.removeprefix("sudo -n ") for c in calls if c.startswith("apt-get")]
    assert apt[0] == "apt-get update -qq"
    assert apt[1].startswith("apt-get install -y") and apt[1].endswith(" valgrind")
    if prefix:
        assert f"{prefix}apt-get install -y -qq --no-install-recommends valgrind" in calls
    assert "installed valgrind-3.99" in done.stdout


@pytest.mark.parametrize("case", [dict(sudo="password"), dict(sudo=None),
                                  dict(uid=0, apt="fails"), dict(uid=0, apt=None)],
                         ids=["sudo-needs-password", "no-sudo", "apt-fails", "no-apt"])
def test_otherwise_one_line_says_the_lane_is_na_and_how(run, case):
    done, calls = run(**case)
    assert done.returncode == 0
    (line,) = done.stderr.splitlines()
    assert "instruction-count lane will be n/a" in line
    assert "install" in line.split("n/a", 1)[1]
    if case.get("apt") != "fails":
        assert not [c for c in calls if "apt-get install" in c]
