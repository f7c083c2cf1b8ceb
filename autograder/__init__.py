"""The seqlab autograder: grade student modules in a sandbox and report Gradescope results.

Layout (one job per module):

- ``registry``: the ``@check`` decorator, outcomes, and the per-assignment check lists;
- ``assignments/<name>.py``: what to build from a submission (cases) and the checks that judge
  it; this is where a TA reads and extends the grading;
- ``sandbox``: runs tasks in a child process with limits, timeouts and respawn-on-failure;
- ``child``: the untrusted side, which imports the student's module and saves what it builds;
- ``worker``: the trusted side, which loads saved models safely, measures and trains them;
- ``grader``: ties the three together for one submission; ``report``: table and results.json;
- ``calibrate``: accuracy bands from the reference solution over several seeds.
"""
