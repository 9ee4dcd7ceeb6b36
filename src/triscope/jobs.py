"""What the cluster integrations share (docs/ARCHITECTURE.md, "Dask jobs" and "Ray jobs"):
the program's directories as the workers get them, the workers' options, the record of a
job's profile, and its merged profile written and said in one line.

dask.py and ray.py import it; it imports neither engine, so each integration still imports
its engine only when a program uses it.
"""

import os
import sys

from triscope import _native, launch, mainprogram, scratch
from triscope.options import Options


def program_dirs(directories=None) -> list:
    """The directories whose files are profiled, as the workers get them: `directories`, or
    the caller's working directory and the directory of the script it runs (not when that is
    an installed package's, as for `python -m pytest`); each as given and resolved."""
    if directories is None:
        directories = [os.getcwd()]
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if main_file:
            where = os.path.dirname(os.path.abspath(main_file))
            libraries = mainprogram.library_dirs()
            if not any(where == d or where.startswith(d.rstrip(os.sep) + os.sep)
                       for d in libraries):
                directories.append(where)
    return sorted({form for d in directories
                   for form in (os.path.abspath(d), os.path.realpath(d))})


def worker_options(memory: bool, extra) -> Options:
    """A worker's profile options: CPU time (the C core's sampling), with Python's memory
    when asked, and any further triscope command-line options of `extra` (["--stacks"])."""
    return Options.parse(["--cpu", *(["--memory"] if memory else []), *extra])


def finish_worker(active: dict, write: bool = True):
    """In a worker (or a Dask client profiled with include_client): stops the profile
    `active` holds ({"session", "dir": its private temporary directory}) and gives the
    process back what profiling changed. Returns the profile's JSON text, None when `write`
    is false."""
    session, text = active["session"], None
    try:
        if write:
            session.finish()
            with open(session.json_path, encoding="utf-8") as stream:
                text = stream.read()
        else:
            _native.stop()
    finally:
        _native.release()
        launch.end_in_process(session)
        scratch.remove_made_dir(active["dir"])
    return text


class Job:
    """What a job's profile() gathered: `path`, `workers` (the names merged), `lost`
    ({worker: why it sent no profile}), `message` (the line said at the end)."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.workers, self.lost, self.message = [], {}, None


def write(job: Job, profiles: list, engine: str, lost_as: str = "{}") -> None:
    """Merges `profiles` into job.path and says so in one line, and the losses in another;
    `engine` ("Dask", "Ray") names whose workers they were, `lost_as` how the loss line
    names a worker of job.lost ("worker {}" puts the word before a Dask worker's name)."""
    from triscope.reports import merge
    loss = "; ".join(f"{lost_as.format(name)}: {why}" for name, why in sorted(job.lost.items()))
    if loss:
        print(f"triscope: no profile from {loss}", file=sys.stderr)
    if not profiles:
        job.message = f"triscope: error: no {engine} worker sent a profile"
    else:
        try:
            merge.write(merge.merge(profiles), job.path)
            count = len(job.workers)
            whose = "workers' profiles" if count != 1 else "worker's profile"
            job.message = f"triscope: {count} {engine} {whose} merged into {job.path}"
        except (merge.MergeError, OSError) as error:
            job.message = f"triscope: error: the profile could not be written to " \
                          f"{job.path}: {error}"
    print(job.message, file=sys.stderr)
