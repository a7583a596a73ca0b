"""scripts/demo.sh (make demo): the commands it runs, with a stand-in that records them."""

import os
import subprocess
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "scripts" / "demo.sh"


def test_the_demo_names_its_backbone_so_a_gpu_does_not_swap_it(tmp_path):
    """Left to ``auto``, a GPU would train ResNet50 on the CPU recipe's 64 px tiles."""
    calls = tmp_path / "calls"
    recorder = tmp_path / "geosiam"
    recorder.write_text(f'#!/usr/bin/env bash\necho "$*" >> {calls}\n')
    recorder.chmod(0o755)
    env = {**os.environ, "GEOSIAM": str(recorder)}
    subprocess.run(["bash", str(DEMO), str(tmp_path / "ws")], env=env, check=True, timeout=60)
    trains = [line.split() for line in calls.read_text().splitlines() if line.startswith("train ")]
    assert len(trains) == 1
    assert trains[0][trains[0].index("--backbone") + 1] == "mobilenetv3small"
