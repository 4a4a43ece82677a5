"""keep_freed_memory(): glibc keeps freed big blocks, so a repeated allocation pattern stops page-faulting.

It changes the whole process, so each case runs in a fresh Python process.
"""
import os
import subprocess
import sys
import textwrap

import pytest

import tinynet as tn
from tinynet import memory

PATTERN = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import tinynet as tn

    def faults_of_a_step_pattern():
        # make and drop three 24 MB arrays, as a training step does with its big temporaries
        for _ in range(2):                                   # warm-up: glibc adapts its thresholds
            arrays = [np.ones(6_000_000, np.float32) for _ in range(3)]
            del arrays
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            arrays = [np.ones(6_000_000, np.float32) for _ in range(3)]
            del arrays
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    if sys.argv[1] == "keep":
        assert tn.keep_freed_memory()
    print(faults_of_a_step_pattern())
""")

glibc_only = pytest.mark.skipif(memory._glibc() is None or not sys.platform.startswith("linux"),
                                reason="keep_freed_memory needs Linux with glibc")


def faults(mode):
    # Without NumPy's huge-page request every fault is one 4 KB page, so the count does not depend on how the
    # kernel aligns and backs big arrays (with 2 MB pages, a few hundred faults could cover the same memory).
    env = dict(os.environ, NUMPY_MADVISE_HUGEPAGE="0")
    out = subprocess.run([sys.executable, "-c", PATTERN, mode], capture_output=True, text=True, check=True, env=env)
    return int(out.stdout.strip())


@glibc_only
def test_keeping_freed_memory_removes_the_page_faults_of_a_repeated_step():
    default, kept = faults("default"), faults("keep")
    # 5 rounds x 72 MB would be ~88,000 faults of 4 KB if every block were fresh; default glibc returns at least
    # some of it to the OS each round. With the setting, the blocks are reused and (almost) nothing faults.
    assert default > 1000, f"expected glibc's default to page-fault on this pattern, saw {default} faults"
    assert kept < default / 20, f"keep_freed_memory left {kept} faults (default: {default})"


def test_keep_freed_memory_reports_whether_it_applied():
    applied = subprocess.run([sys.executable, "-c", "import tinynet as tn; print(tn.keep_freed_memory())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert applied == str(memory._glibc() is not None)
    assert tn.keep_freed_memory is memory.keep_freed_memory
