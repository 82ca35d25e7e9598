"""Miniature Blur2Blur Table 2 (see camdeblur.eval.bench_blur2blur): known domain simulated gopro,
unknown cameras simulated phone and rsblur, NIQE from ../shared/iqa/niqe_pris_params.npz when present.

    python benchmarks/blur2blur_mini.py --out /tmp/b2b_mini      # == camdeblur bench blur2blur --preset mini
    python benchmarks/blur2blur_mini.py --out /tmp/b2b_mini --translator-config winner.yaml

Every stage resumes: rerun the same command after an interruption.
"""

import sys
from pathlib import Path

from camdeblur.cli.main import main

NIQE = Path(__file__).resolve().parents[1].parent / "shared" / "iqa" / "niqe_pris_params.npz"

if __name__ == "__main__":
    argv = ["bench", "blur2blur", "--preset", "mini", *sys.argv[1:]]
    if NIQE.is_file() and "--niqe-model" not in argv:
        argv += ["--niqe-model", str(NIQE)]
    sys.exit(main(argv))
