"""venv_util.py — the virtual environment a check installs its PyPI packages into
(tests/onnx_check.py, tests/python_check.py)."""
import os
import shutil
import subprocess
import sys


def ensure_venv(workdir, packages, modules):
    """The python of `workdir`/venv with `packages` (pip's names) installed and `modules` importable,
    made when it is missing or incomplete; None, after printing why, when that is impossible (no
    network, no venv module): the caller then exits 77 (skipped)."""
    venv = os.path.join(workdir, 'venv')
    py = os.path.join(venv, 'bin', 'python')
    probe = [py, '-c', 'import ' + ', '.join(modules)]
    if os.path.exists(py) and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run([sys.executable, '-m', 'venv', venv], check=True, capture_output=True, timeout=300)
        subprocess.run([py, '-m', 'pip', 'install', '--quiet'] + list(packages), check=True, capture_output=True,
                       timeout=600)
        subprocess.run(probe, check=True, capture_output=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        err = getattr(e, 'stderr', b'') or b''
        print('SKIPPED: cannot install %s into a virtual environment (%s) %s'
              % (', '.join(packages), e, err.decode(errors='replace')[-400:]))
        return None
    return py
