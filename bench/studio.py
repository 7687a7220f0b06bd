"""The studio's training job on the office's data, against a plain `train_model` (baseline)
in the same run, and the delay from an activation to a running interpreter's swap.

    .venv/bin/python bench/studio.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0:1] = [str(ROOT)]  # the repository, not bench/ (whose nlu.py would shadow nlu/)

from nlu.active import activate  # noqa: E402
from nlu.interpreter import Interpreter  # noqa: E402
from nlu.jobs import read_job, run_training  # noqa: E402
from nlu.live import LiveInterpreter, announce  # noqa: E402
from nlu.model_store import train_model  # noqa: E402


def main() -> None:
    root = Path(tempfile.mkdtemp())
    data = root / "data"
    shutil.copytree(ROOT / "data", data)
    models = root / "models"
    started = time.perf_counter()
    train_model([data], ROOT / "config.yml", models)
    baseline = time.perf_counter() - started
    (data / "nlu_studio.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: ask_parking\n  examples: |\n    - 办事大厅能停车吗\n'
    )
    started = time.perf_counter()
    run_training(str(data), str(ROOT / "config.yml"), str(models), "bench")
    job_seconds = time.perf_counter() - started
    job = read_job(models)
    assert job is not None and job.status == "done" and job.model, job
    live = LiveInterpreter(Interpreter.load(models, ROOT / "config.yml"), models, interval=60)
    live.start()
    started = time.perf_counter()
    activate(models, job.model)
    announce(models)
    while live.reloads < 1:
        time.sleep(0.005)
    swap = time.perf_counter() - started
    live.stop()
    report = json.loads((models / job.model / "evaluation" / "report.json").read_text())
    changed = json.loads((models / job.model / "evaluation" / "changed.json").read_text())
    print(
        f"plain training {baseline:.2f} s; studio job (train + held-out eval + compare) "
        f"{job_seconds:.2f} s = {job_seconds / baseline:.2f}x; activation → swap {swap:.3f} s"
    )
    shutil.rmtree(root, ignore_errors=True)
    print(
        json.dumps(
            {
                "train_seconds": round(baseline, 2),
                "job_seconds": round(job_seconds, 2),
                "job_over_train": round(job_seconds / baseline, 2),
                "activation_to_swap_seconds": round(swap, 3),
                "held_out_accuracy": report["intent"]["accuracy"],
                "held_out_macro_f1": report["intent"]["macro_f1"],
                "changed_predictions": len(changed["changed"]),
            }
        )
    )


if __name__ == "__main__":
    main()
