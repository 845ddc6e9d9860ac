"""Run one parameterized notebook as a DVC stage, with all-or-nothing outputs.

What ``dvc.yaml`` runs::

    python -m paperlib.pipeline notebooks/slice_train.ipynb \
        --executed results/notebooks/slice_train@cw_t10.ipynb \
        --out-dir out_dir=models/slice/cw_t10 \
        -p profile=profile -p model=slice.models.cw_t10 -v model_name=cw_t10

1. ``params.yaml`` is loaded and validated whole; a bad value stops here, before anything is
   written, with the file and the dotted key in the message.
2. Each ``-p NAME=KEY`` injects the validated value of params key ``KEY`` as notebook
   parameter ``NAME``; ``-v NAME=VALUE`` injects a literal string (the stage item's name).
   ``tests/test_dvc_yaml.py`` checks that every stage injects exactly the keys it declares
   under ``params:``, so DVC's invalidation and what the notebook reads cannot drift apart.
3. Each ``--out-dir NAME=PATH`` / ``--out-file NAME=PATH`` is injected as a *staging* path; the
   notebook writes there. Only when the whole notebook succeeded are the staging paths renamed
   onto the real outputs (and the executed notebook saved to ``--executed``). On failure the
   staging paths are removed and the executed notebook, with the traceback, is kept under
   ``.paperlib/failed/`` for reading; no declared output is half-written. The final paths are
   injected too, as the dict ``final_paths`` (plus ``final_paths["executed"]``), for notebooks
   that cite their own artifacts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from paperlib.config import ParamsError, load_params, lookup

FAILED_DIR = Path(".paperlib") / "failed"


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise SystemExit(f"{flag} expects NAME=VALUE with NAME a Python identifier, got {item!r}")
        pairs.append((name, value))
    return pairs


def _replace(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst`` (file or folder), removing what ``dst`` held."""
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def _kernel_manager_class():
    """A Jupyter kernel manager whose kernel is this interpreter (``sys.executable``).

    ``kernel_name="python3"`` alone would start whatever the Jupyter path's ``python3``
    kernelspec names (a user's ``~/.local/share/jupyter/kernels/python3`` from another
    environment, say), not necessarily the environment the stage was started with
    (``bin/project-python``); the kernel must import the same paperlib and packages.
    """
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from traitlets import default

    class ThisInterpreterSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python ({sys.executable})", language="python",
            )

    class ThisInterpreterKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self) -> KernelSpecManager:
            return ThisInterpreterSpecs(data_dir=self.data_dir)

    return ThisInterpreterKernelManager


def run_notebook(
    notebook: Path,
    executed: Path,
    *,
    params_file: Path = Path("params.yaml"),
    param_keys: list[tuple[str, str]] = (),
    literals: list[tuple[str, str]] = (),
    out_dirs: list[tuple[str, str]] = (),
    out_files: list[tuple[str, str]] = (),
) -> None:
    """Execute ``notebook`` with papermill; see the module docstring for the contract."""
    import papermill  # imported late: validation errors should not wait for Jupyter imports

    params = load_params(params_file)
    parameters: dict[str, object] = {name: lookup(params, key) for name, key in param_keys}
    parameters.update(dict(literals))
    if not notebook.is_file():
        raise FileNotFoundError(f"{notebook}: notebook not found")

    staging_root = Path(tempfile.mkdtemp(prefix=".stage-", dir="."))
    finals: list[tuple[Path, Path]] = []
    # Where each output will finally live, for notebooks that cite their own artifacts.
    parameters["final_paths"] = {name: path for name, path in [*out_dirs, *out_files]} | {"executed": str(executed)}
    try:
        for name, path in out_dirs:
            staged = staging_root / name
            staged.mkdir()
            parameters[name] = str(staged)
            finals.append((staged, Path(path)))
        for name, path in out_files:
            staged = staging_root / f"{name}{Path(path).suffix}"
            parameters[name] = str(staged)
            finals.append((staged, Path(path)))
        staged_nb = staging_root / "executed.ipynb"
        try:
            papermill.execute_notebook(
                str(notebook),
                str(staged_nb),
                parameters=parameters,
                kernel_name="python3",
                kernel_manager_class=_kernel_manager_class(),  # the kernel runs on sys.executable
                progress_bar=False,
                log_output=True,
                cwd=os.getcwd(),
            )
        except BaseException:
            if staged_nb.exists():
                FAILED_DIR.mkdir(parents=True, exist_ok=True)
                kept = FAILED_DIR / executed.name
                shutil.copyfile(staged_nb, kept)
                print(f"notebook failed; the executed copy with the traceback is {kept}", file=sys.stderr)
            raise
        for staged, final in finals:
            if not staged.exists():
                raise FileNotFoundError(f"{notebook} did not write its declared output {final}")
        for staged, final in finals:
            _replace(staged, final)
        _replace(staged_nb, executed)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a parameterized notebook as a DVC stage.")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--executed", type=Path, required=True, help="where the executed notebook goes")
    parser.add_argument("--params-file", type=Path, default=Path("params.yaml"))
    parser.add_argument("-p", "--param", action="append", default=[], help="NAME=params.key to inject")
    parser.add_argument("-v", "--value", action="append", default=[], help="NAME=literal string to inject")
    parser.add_argument("--out-dir", action="append", default=[], help="NAME=folder output")
    parser.add_argument("--out-file", action="append", default=[], help="NAME=file output")
    args = parser.parse_args(argv)
    try:
        run_notebook(
            args.notebook,
            args.executed,
            params_file=args.params_file,
            param_keys=_pairs(args.param, "-p"),
            literals=_pairs(args.value, "-v"),
            out_dirs=_pairs(args.out_dir, "--out-dir"),
            out_files=_pairs(args.out_file, "--out-file"),
        )
    except ParamsError as err:
        print(f"invalid params: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # papermill's PapermillExecutionError carries the cell's traceback
        print(f"stage failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
