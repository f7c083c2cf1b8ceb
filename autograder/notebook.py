"""``check("<function>")`` for lab notebooks: a function's public checks, in seconds.

    from autograder.notebook import check
    check("build_rnn_classifier")

It grades the module the notebook imports (``starter/`` by default, ``$SEQLAB_IMPL`` when set)
with the same sandboxed pipeline and messages as the autograder, limited to the checks about
that one function and without the slower training checks.
"""

from __future__ import annotations

from autograder.assignments import ASSIGNMENTS, load_assignment
from autograder.grader import GradeResult, grade
from autograder.registry import REGISTRY
from autograder.report import print_table
from seqlab.student import implementation_dir


def checked_functions() -> dict[str, str]:
    """``{function name: assignment}`` for every function with public checks."""
    for name in ASSIGNMENTS:
        load_assignment(name)
    return {c.function: c.assignment for checks in REGISTRY.values() for c in checks
            if c.function and c.public}


def check(function: str, impl: str | None = None, show: bool = True) -> GradeResult:
    """Run the public checks of ``function`` on the current implementation and print them."""
    known = checked_functions()
    if function not in known:
        raise ValueError(f"no checks for {function!r}; functions with checks: {sorted(known)}")
    result = grade(implementation_dir(impl), assignment=known[function], functions=(function,),
                   public_only=True)
    result.submission = f"check({function!r})"
    if show:
        print_table(result)
    return result
