"""Profiling a Ray job (docs/DEFINITIONS.md, "Ray"; docs/ARCHITECTURE.md, "Ray jobs"): the
worker processes of the tasks and actors a block starts, profiled, one merged profile.

    with triscope.ray.profile("job.json"):
        ray.get([work.remote(item) for item in items])

Imported only by a program that uses it: `ray` is not a dependency of triscope, and nothing
else of triscope imports this module. The workers import it too (Ray's setup hook names
this module's _setup), so triscope must be installed where they run.

While the block runs, every task and actor it submits carries a runtime environment of its
own: Ray's setup-hook variable naming _setup, and the job's settings. Ray starts dedicated
worker processes for a runtime environment, so the workers Ray had already started, and
work submitted outside the block, stay unprofiled; tasks that those tasks submit inherit
the environment, and are profiled too. In each dedicated worker _setup, once connected,
sets the profile to begin with the worker's first task (launch.begin_in_process, over the
driver's program directories, quiet); a thread of the worker then registers with the job's
collector (a named actor profile() starts, itself unprofiled) and waits for the job's end,
when it stops the profile, gives the worker back what profiling changed, and sends the
profile's JSON text to the collector: the profiles travel through Ray's own object store,
no shared filesystem is assumed. The driver merges them (reports/merge.merge), one entry
of `processes` per worker with its `name` and `host`. A worker that registered and sends
nothing back (killed, crashed) is said in one line.

PYTEST_DONT_REWRITE: no asserts of tests here, for pytest to rewrite (see triscope/__init__.py).
"""

import asyncio
import atexit
import contextlib
import json
import os
import socket
import sys
import threading
import time
import uuid

import ray
from ray._private import ray_constants
from ray._private.runtime_env import setup_hook
from ray._private.utils import get_runtime_env_info
from ray.actor import ActorClass
from ray.remote_function import RemoteFunction
from ray.runtime_env import RuntimeEnv

from triscope import _native, children, jobs, launch, scratch
# Job and program_dirs are imported as part of this module's API (docs/DEFINITIONS.md, "Ray").
from triscope.jobs import Job, program_dirs, worker_options
from triscope.options import Options

# The variable that makes a worker call a function once connected, before any task: what
# Ray's own `worker_process_setup_hook` sets, and the one way to reach a worker's start that
# a task's runtime environment can carry (Ray reads that field only for a whole job).
SETUP_HOOK_VARIABLE = ray_constants.WORKER_PROCESS_SETUP_HOOK_ENV_VAR
SETUP_HOOK = f"{__name__}._setup"
# The job a worker is profiled for, as JSON: the collector's name, the directories, the
# options, the job's own setup hook, and an actor's class: an actor submitted in the block
# gets a worker of its own, never one a task of the job ran in.
JOB_VARIABLE = "TRISCOPE_RAY_JOB"
NAMESPACE = "triscope"  # the collectors' namespace, whatever namespace the job has
# How often the driver, waiting for the profiles, looks for workers that died meanwhile.
POLL_S = 0.5
# How long a worker leaving during the job waits for the collector to take its profile.
EXIT_SEND_S = 10.0

# This worker process's profile while one runs: {"session", "dir", "name": its name in
# the job once registered}. Its thread and its exit hook may both end it: _lock.
_active = None
_lock = threading.Lock()
# RemoteFunction._remote and ActorClass._remote as Ray has them, while a block runs.
_submitting = None


# ==== In a worker ====

def _setup():
    """Ray's setup hook in a worker started for a profiled job: the job's own setup hook
    first, when it has one; then, unless the job has ended already, the profile is set to
    begin with the worker's first task."""
    job = json.loads(os.environ[JOB_VARIABLE])
    if job["hook"]:
        error = setup_hook.load_and_execute_setup_hook(job["hook"])
        if error is not None:
            raise RuntimeError(error)
    try:
        collector = ray.get_actor(job["collector"], namespace=NAMESPACE)
        _at_first_task(lambda: _begin(job, collector))
    except ValueError:
        return  # the job has ended: its collector is gone
    except Exception as error:  # noqa: BLE001 - Ray ends a worker whose setup hook raises
        _unprofiled(error)


def _unprofiled(error: Exception) -> None:
    """A failure of triscope's in a worker: one line in its log (Ray forwards it to the
    driver), and the worker runs on unprofiled."""
    print(f"triscope: this Ray worker is not profiled: {type(error).__name__}: {error}",
          file=sys.stderr)


def _at_first_task(begin) -> None:
    """Calls `begin` once this worker runs its first task (an actor's creation is one),
    in the main thread, which runs them, before the task's own code: the first call that
    thread makes under another task id than now. A one-shot profile function of that
    thread (sys.setprofile): it puts back the one there was, and costs nothing before, as
    the thread waits in Ray's task loop. Ray's worker needs that task: until then it does
    not know its runtime environment, and a call it makes to an actor aborts the process.
    A failure of triscope's there is _unprofiled's line, never the task's exception."""
    idle = ray.get_runtime_context().get_task_id()
    previous = sys.getprofile()

    def watch(frame, event, arg):
        if event != "call" or ray.get_runtime_context().get_task_id() == idle:
            return
        sys.setprofile(previous)
        try:
            begin()
        except Exception as error:  # noqa: BLE001 - whatever it was, the task runs on
            _unprofiled(error)

    sys.setprofile(watch)


def _begin(job: dict, collector) -> None:
    """Profiles this process from here on, into a private temporary file; its thread
    reports to the job's collector."""
    global _active
    refused = "it is already profiled by triscope (its profile is written when it exits)" \
        if _native.is_running() else None
    if refused is None:
        temporary = scratch.make_dir(f"triscope-{os.getpid()}-ray-")
        # Those of workers killed earlier, and of runs killed beside them.
        children.remove_stale_dirs(os.path.dirname(temporary))
        session = launch.begin_in_process(
            job["directories"], "-m ray._private.workers.default_worker",
            json_path=os.path.join(temporary, "profile.json"),
            options=Options.from_dict(job["options"]), quiet=True)
        _active = {"session": session, "dir": temporary, "name": None}
        # After begin_in_process's own exit hook, so before it: the profile is sent.
        atexit.register(_send_at_exit, collector)
    threading.Thread(target=_report, args=(collector, refused), daemon=True,
                     name="triscope-ray").start()


def _report(collector, refused: str) -> None:
    """The worker's thread: registers with the collector, waits for the job's end, then
    stops the profile and sends it. A job that has ended already, or a collector gone (the
    driver ended), leaves the process unprofiled, its profile dropped."""
    # This worker's own reference to the job's end: ready when the driver ends the job, and
    # to the driver an error once this process is dead (its owner gone): how a lost worker
    # is told from a slow one.
    end = collector.wait_for_end.remote()
    context = ray.get_runtime_context()
    facts = {"pid": os.getpid(), "host": socket.gethostname(), "actor": None}
    if context.get_actor_id() is not None:  # the process holds an actor: its class
        facts["actor"] = \
            context.current_actor._ray_actor_creation_function_descriptor.class_name
    try:
        name = ray.get(collector.register.remote(facts, [end], refused))
        if name is not None and refused is None:
            with _lock:
                if _active is not None:
                    _active["name"] = name
            ray.get(end)
    except ray.exceptions.RayError:
        name = None
    if name is None or refused is not None:
        _end(write=False)
        return
    _send(collector, name)


def _send_at_exit(collector) -> None:
    """A worker leaving while profiled (its actor ended or out of scope, Ray stopping an
    idle worker) sends its profile now, once registered; the collector keeps it for the
    job's end. One not registered yet (the job had ended) drops its profile."""
    with _lock:
        name = _active["name"] if _active is not None else None
    if name is None:
        _end(write=False)
    else:
        _send(collector, name, timeout=EXIT_SEND_S)


def _send(collector, name: str, timeout: float = None) -> None:
    """Stops this worker's profile and sends it to the collector."""
    text, error = None, None
    try:
        text = _end()
    except Exception as failure:  # noqa: BLE001 - said to the driver instead
        error = f"its profile could not be written: {type(failure).__name__}: {failure}"
    if text is None and error is None:
        return  # sent already, by the other of the thread and the exit hook
    # Waited for: the text stays this worker's object until the collector has it.
    ray.get(collector.deliver.remote(name, text, error), timeout=timeout)


def _end(write: bool = True):
    """Stops this worker's profile and gives the process back what profiling changed.
    Returns the profile's JSON text (None when none ran or `write` is false)."""
    global _active
    with _lock:
        active, _active = _active, None
    if active is None:
        return None
    atexit.unregister(_send_at_exit)
    return jobs.finish_worker(active, write)


class _Collector:
    """The job's collector, a named actor of the driver's job in a worker of the job's own
    runtime environment (not profiled): the workers register, wait for the job's end and
    send their profiles; the driver ends the job and takes the profiles."""

    def __init__(self):
        self.ended = asyncio.Event()
        self.arrived = asyncio.Event()
        self.workers = {}   # name: {"facts", "end": [the worker's reference], "refused"}
        self.profiles = {}  # name: {"text", "error"}, until the driver takes them
        self.task_workers = 0

    async def wait_for_end(self):
        await self.ended.wait()

    async def register(self, facts: dict, end: list, refused: str = None):
        """A worker's name in the job ("task worker 2", "actor Spinner"), or None when the
        job has ended already."""
        if self.ended.is_set():
            return None
        if facts["actor"] is None:
            self.task_workers += 1
            name = f"task worker {self.task_workers}"
        else:
            name, count = f"actor {facts['actor']}", 1
            while name in self.workers:
                count += 1
                name = f"actor {facts['actor']} {count}"
        self.workers[name] = {"facts": facts, "end": end, "refused": refused}
        return name

    async def deliver(self, name: str, text: str, error: str = None):
        self.profiles[name] = {"text": text, "error": error}
        self.arrived.set()

    async def end(self) -> dict:
        """Ends the job: the workers registered, each waiting now sends its profile."""
        self.ended.set()
        return self.workers

    async def take(self, wait_s: float) -> dict:
        """The profiles arrived, once one has or after `wait_s`; each is handed over once."""
        if not self.profiles:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), wait_s)
        taken, self.profiles = self.profiles, {}
        self.arrived.clear()
        return taken


# ==== In the driver ====

@contextlib.contextmanager
def profile(path: str = "triscope-profile.json", *, memory: bool = False, directories=None,
            options=(), timeout: float = 60.0):
    """Profiles the worker processes of the tasks and actors submitted while the block
    runs (and of the tasks they submit), then writes their merged profile to `path` (on
    the driver's host). `memory`: Python's allocator in each worker too (the allocator
    library is not loaded there). `directories`: the program's directories (default:
    program_dirs()). `options`: further triscope options (["--stacks"]). `timeout`: how
    long the end waits for the workers' profiles. Starts Ray (ray.init()) when the program
    has not. Yields a Job."""
    global _submitting
    if _submitting is not None:
        raise RuntimeError("a Ray job is being profiled already (triscope.ray.profile)")
    job = Job(path)
    name = f"triscope-ray-{uuid.uuid4().hex}"
    collector = ray.remote(_Collector).options(
        name=name, namespace=NAMESPACE, num_cpus=0).remote()
    settings = {"collector": name, "directories": program_dirs(directories),
                "options": worker_options(memory, options).to_dict(), "actor": None,
                "hook": ray.get_runtime_context().runtime_env.get("env_vars", {}).get(
                    SETUP_HOOK_VARIABLE)}
    _submitting = RemoteFunction.__dict__["_remote"], ActorClass.__dict__["_remote"]
    RemoteFunction._remote = _task_submission(_submitting[0], settings)
    ActorClass._remote = _actor_submission(_submitting[1], settings)
    try:
        yield job
    finally:
        RemoteFunction._remote, ActorClass._remote = _submitting
        _submitting = None
        try:
            profiles = _gather(collector, job, timeout)
        finally:
            ray.kill(collector)
        jobs.write(job, profiles, "Ray")


def _environment(runtime_env, settings: dict) -> RuntimeEnv:
    """`runtime_env` (a task's or actor's own, or None) with the job's variables."""
    merged = dict(runtime_env or {})
    merged["env_vars"] = {**(merged.get("env_vars") or {}), SETUP_HOOK_VARIABLE: SETUP_HOOK,
                          JOB_VARIABLE: json.dumps(settings, sort_keys=True)}
    return RuntimeEnv(**merged)


def _task_submission(submit, settings: dict):
    """RemoteFunction._remote, each task in the job's runtime environment. Ray passes the
    environment serialized beside it; both are made here."""
    def _remote(self, args=None, kwargs=None, serialized_runtime_env_info=None,
                **task_options):
        task_options["runtime_env"] = _environment(task_options.get("runtime_env"), settings)
        serialized = get_runtime_env_info(task_options["runtime_env"],
                                          is_job_runtime_env=False, serialize=True)
        return submit(self, args=args, kwargs=kwargs, serialized_runtime_env_info=serialized,
                      **task_options)
    return _remote


def _actor_submission(submit, settings: dict):
    """ActorClass._remote, each actor in the job's runtime environment with its class."""
    def _remote(self, args=None, kwargs=None, **actor_options):
        own = dict(settings, actor=self.__ray_metadata__.class_name)
        actor_options["runtime_env"] = _environment(actor_options.get("runtime_env"), own)
        return submit(self, args=args, kwargs=kwargs, **actor_options)
    return _remote


def _gather(collector, job: Job, timeout: float) -> list:
    """Ends the job and takes the workers' profiles, each named for its process; a worker
    whose process died before it sent one, or that sends none within `timeout`, is lost."""
    from triscope.reports import merge
    waiting = ray.get(collector.end.remote())
    for name, worker in list(waiting.items()):
        if worker["refused"]:
            job.lost[_label(name, worker["facts"])] = worker["refused"]
            del waiting[name]
    received, dead = {}, {}
    deadline = time.monotonic() + timeout
    while set(waiting) - set(received) - set(dead) and time.monotonic() < deadline:
        received.update(ray.get(collector.take.remote(POLL_S)))
        for name in set(waiting) - set(received) - set(dead):
            if _died(waiting[name]["end"][0]):
                dead[name] = "its process ended before it sent its profile (killed or " \
                             "crashed)"
    received.update(ray.get(collector.take.remote(0)))  # one that came as another died
    profiles = []
    for name, worker in sorted(waiting.items(), key=lambda item: _order(item[0])):
        reply = received.get(name)
        if reply is not None and reply["text"] is not None:
            job.workers.append(name)
            facts = worker["facts"]
            profiles.append(merge.with_process_facts(json.loads(reply["text"]), name=name,
                                                     host=facts["host"]))
        else:
            job.lost[_label(name, worker["facts"])] = \
                reply["error"] if reply is not None else dead.get(
                    name, f"it sent no profile within {timeout:g} s")
    return profiles


def _died(end) -> bool:
    """Whether the worker that owns `end` (its reference to the job's end) is dead: the
    reference is ready and holds Ray's error for an owner gone."""
    ready, _ = ray.wait([end], timeout=0)
    if not ready:
        return False
    try:
        ray.get(ready[0])
    except ray.exceptions.RayError:
        return True
    return False


def _order(name: str):
    """Names in order, their numbers by value: "task worker 10" after "task worker 9"."""
    head, _, number = name.rpartition(" ")
    return (head, int(number)) if number.isdigit() else (name, 0)


def _label(name: str, facts: dict) -> str:
    """A worker as the loss line names it: its name, pid and host."""
    return f"{name} (pid {facts['pid']} on {facts['host']})"
