"""Profiling a Dask job (docs/DEFINITIONS.md, "Dask"; docs/ARCHITECTURE.md, "Dask
jobs"): every worker of a `distributed` cluster profiled, one merged profile.

    with triscope.dask.profile(client, "job.json"):
        client.gather(client.map(work, items))

Imported only by a program that uses it: `distributed` is not a dependency of triscope, and
nothing else of triscope imports this module. The workers import it too (the functions sent
to them are this module's, pickled by name), so triscope must be installed where they run.

In a worker, profiling begins in-process (launch.begin_in_process) over the program's
directories as the client names them (by default its working directory and its script's),
so the task functions' lines are under their own files and the worker's machinery (distributed,
tornado, the event loop: installed packages) is outside the profiled files. It begins from a
WorkerPlugin registered for the duration, whose setup runs on every worker present and on
every worker that joins; it ends with a function run on each worker (Client.run), which stops
the profile, gives the worker back what profiling changed, and returns the profile's JSON
text: the profiles travel over Dask's own communication, no shared filesystem is assumed.
The client merges them (reports/merge.merge), one entry of `processes` per worker with its
`name`, `host` and `address`. A worker that was profiled and sends nothing back (killed,
crashed, retired during the job) is said in one line.

For a long-lived cluster, `client.register_plugin(Profiler(path=...))` profiles each worker
from its setup until its teardown (the plugin unregistered, or the worker closing), which
writes the worker's profile on its own host; `triscope merge` joins them.

PYTEST_DONT_REWRITE: no asserts of tests here, for pytest to rewrite (see triscope/__init__.py).
"""

import contextlib
import json
import os
import socket
import sys
import tempfile
import uuid

from distributed.diagnostics.plugin import NannyPlugin, WorkerPlugin

from triscope import _native, jobs, launch, preload
# Job and program_dirs are imported as part of this module's API (docs/DEFINITIONS.md, "Dask").
from triscope.jobs import Job, program_dirs, worker_options
from triscope.options import Options

# This worker process's profile while one runs: {"session", "dir", "owner"}. One per process:
# workers that share a process (LocalCluster(processes=False)) share its profile, and
# _covered maps each other worker's address to the name of the one it is merged under.
_active = None
_covered = {}


def _begin(worker, directories: list, options: dict):
    """In a worker: profiles its process from here on, into a private temporary file. Returns
    None, or why not (one line)."""
    global _active
    if _active is not None:
        _covered[worker.address] = _active["owner"]
        return f"its process is already profiled for worker {_active['owner']}"
    if _native.is_running():
        return "it is already profiled by triscope (its profile is written when it exits)"
    temporary = tempfile.mkdtemp(prefix="triscope-dask-")
    session = launch.begin_in_process(
        directories, "-m distributed.worker", json_path=os.path.join(temporary, "profile.json"),
        options=Options.from_dict(options), quiet=True)
    _active = {"session": session, "dir": temporary, "owner": _name(worker)}
    return None


def _end(write: bool = True):
    """In a worker: stops its profile and gives the process back what profiling changed.
    Returns the profile's JSON text (None when none ran or `write` is false)."""
    global _active
    active, _active = _active, None
    if active is None:
        return None
    return jobs.finish_worker(active, write)


def _owns(worker) -> bool:
    """Whether `worker` may end its process's profile: not when it is another worker's."""
    return _covered.pop(worker.address, None) is None


def _name(worker) -> str:
    """A worker's name as a person gave it (LocalCluster numbers them), else its address."""
    return str(worker.name) if worker.name is not None else worker.address


def _collect(dask_worker=None):
    """Run on each worker by Client.run at the job's end: its profile and who it is."""
    if dask_worker.address in _covered:
        return {"covered_by": _covered.pop(dask_worker.address)}
    active = _active
    text = _end()
    if text is None:
        return {"error": "no profile was begun in it" if active is None else
                "its profile could not be written"}
    return {"profile": text, "name": _name(dask_worker), "address": dask_worker.address,
            "host": socket.gethostname()}


class _ForTheJob(WorkerPlugin):
    """Registered while profile() runs: every worker present, and each that joins, begins
    profiling; one still profiled at teardown (it joined after the job's end) is left
    unprofiled, its profile dropped."""

    def __init__(self, directories: list, options: dict, name: str):
        self.directories, self.options, self.name = directories, options, name

    def setup(self, worker):
        _begin(worker, self.directories, self.options)

    def teardown(self, worker):
        if _owns(worker):
            _end(write=False)


class Profiler(WorkerPlugin):
    """`client.register_plugin(triscope.dask.Profiler(path=...))`: each worker is profiled
    from the plugin's setup to its teardown (client.unregister_worker_plugin(name), or the
    worker closing), which writes the worker's profile to `path` on the worker's own host,
    relative to the worker's working directory, with {name}, {host} and {pid} replaced by
    the worker's. `triscope merge -o job.json triscope-dask-*.json` joins them."""

    name = "triscope-profiler"

    def __init__(self, path: str = "triscope-dask-{host}-{pid}.json", memory: bool = False,
                 directories=None, options=()):
        self.path = path
        self.directories = program_dirs(directories)
        self.options = worker_options(memory, options).to_dict()

    def setup(self, worker):
        _begin(worker, self.directories, self.options)

    def teardown(self, worker):
        text = _end() if _owns(worker) else None
        if text is None:
            return
        path = self.path.format(name=_name(worker), host=socket.gethostname(), pid=os.getpid())
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(json.dumps(_named(json.loads(text), _name(worker), worker.address)))


class NativeMemory(NannyPlugin):
    """`client.register_plugin(triscope.dask.NativeMemory())`: each nanny restarts its worker
    with triscope's allocator library preloaded, so that profiling with memory on sees
    native allocations (malloc, NumPy's buffers) besides Python's. The library does nothing
    until a profile starts; unregistering takes it out of the workers the nannies start
    later (docs/DEFINITIONS.md, "Dask")."""

    name = "triscope-native-memory"
    restart = True
    before = None  # LD_PRELOAD as the nanny had it

    def setup(self, nanny):
        library = preload.library()
        if library is None:
            raise RuntimeError("triscope's allocator library is not installed here")
        self.before = nanny.pre_spawn_env.get("LD_PRELOAD", os.environ.get("LD_PRELOAD"))
        # Set in the nanny before it spawns the worker: a library must be there at exec.
        nanny.pre_spawn_env["LD_PRELOAD"] = " ".join(filter(None, [library, self.before]))

    def teardown(self, nanny):
        if self.before is None:
            nanny.pre_spawn_env.pop("LD_PRELOAD", None)
            os.environ.pop("LD_PRELOAD", None)  # the nanny's own, set by its last spawn
        else:
            nanny.pre_spawn_env["LD_PRELOAD"] = os.environ["LD_PRELOAD"] = self.before


def _named(profile: dict, name: str, address: str = None) -> dict:
    """`profile` with its process entry naming the worker (or client) and its host."""
    from triscope.reports import merge
    facts = {"name": name, "host": socket.gethostname()}
    if address is not None:
        facts["address"] = address
    return merge.with_process_facts(profile, **facts)


@contextlib.contextmanager
def profile(client, path: str = "triscope-profile.json", *, memory: bool = False,
            directories=None, include_client: bool = False, options=()):
    """Profiles every worker of `client`'s cluster (and each that joins) while the block
    runs, then writes their merged profile to `path` (on the client's host). `memory`:
    Python's allocator in each worker too (the allocator library is not loaded there).
    `directories`: the program's directories (default: program_dirs()). `include_client`:
    the client process is profiled and merged too. `options`: further triscope options
    (["--stacks"]). Yields a Job."""
    directories = program_dirs(directories)
    settings = worker_options(memory, options)
    job = Job(path)
    plugin = _ForTheJob(directories, settings.to_dict(), f"triscope-job-{uuid.uuid4().hex}")
    client.register_plugin(plugin, name=plugin.name)
    began = _workers(client)
    own = None
    if include_client and not _native.is_running():
        temporary = tempfile.mkdtemp(prefix="triscope-dask-")
        own = launch.begin_in_process(directories, _client_program(), quiet=True,
                                      json_path=os.path.join(temporary, "client.json"),
                                      options=settings)
    try:
        yield job
    finally:
        replies = client.run(_collect, on_error="return")
        client.unregister_worker_plugin(plugin.name)
        profiles = []
        if own is not None:
            profiles.append(_named(_own_profile(own), "client"))
        for address, reply in sorted(replies.items()):
            if isinstance(reply, dict) and "profile" in reply:
                job.workers.append(reply["name"])
                profiles.append(_named(json.loads(reply["profile"]), reply["name"], address))
            elif isinstance(reply, dict) and "covered_by" in reply:
                continue  # its process's profile is another worker's
            elif address in began or not isinstance(reply, dict):
                job.lost[_label(began.get(address, address), address)] = \
                    reply["error"] if isinstance(reply, dict) else \
                    f"{type(reply).__name__}: {reply}"
        for address, name in began.items():
            if address not in replies:
                job.lost[_label(name, address)] = \
                    "it left the cluster during the job (killed, crashed or retired)"
        jobs.write(job, profiles, "Dask", lost_as="worker {}")


def _workers(client) -> dict:
    """{address: name} of the cluster's workers now."""
    return {address: str(info.get("name", address)) if info.get("name") is not None else
            address for address, info in client.scheduler_info()["workers"].items()}


def _label(name: str, address: str) -> str:
    """A worker as the loss line names it: its name and address (a nanny's replacement for
    a killed worker takes its name, with another address)."""
    return name if name == address else f"{name} ({address})"


def _client_program() -> str:
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file or "<interactive>"


def _own_profile(session) -> dict:
    """The client's own profile, stopped and written, and the client given back."""
    return json.loads(jobs.finish_worker(
        {"session": session, "dir": os.path.dirname(session.json_path)}))
