"""Re-executing the interpreter with the allocator library preloaded (docs/ARCHITECTURE.md,
"The launcher and child processes"): a process whose memory is profiled must have the
library in LD_PRELOAD from its first instruction, so the launcher replaces itself (same PID)
by the same command with it, and the new image gives the program the LD_PRELOAD it had.

The launcher re-executes as soon as its options are known (cli.main), so the interpreter it
leaves has paid for nothing but them: this module imports only os and sys (and the C core,
to ask whether the library is in place already), never the launcher.
"""

import os
import sys

OWN_DIR = os.path.dirname(os.path.abspath(__file__))
# The re-executed interpreter finds these in its environment: that the preload library is
# in place, and what LD_PRELOAD was before (restored, so the program and its children see
# their own environment).
PRELOADED = "TRISCOPE_PRELOADED"
PREVIOUS_LD_PRELOAD = "TRISCOPE_PREVIOUS_LD_PRELOAD"
# And the command line the launcher was started with, which the program's sys.orig_argv is
# made from (mainprogram.plain_orig_argv): the new image's own is the re-execution's.
LAUNCH_ARGV = "TRISCOPE_LAUNCH_ARGV"
# That command line, in the re-executed image (restore_environment); else None.
launch_argv = None


def _packed(words: list) -> str:
    """Words as one environment value, each as its length, ":" and itself (any character
    but NUL may be in a word, and none is in an environment value)."""
    return "".join(f"{len(word)}:{word}" for word in words)


def _unpacked(text: str) -> list:
    words, at = [], 0
    while at < len(text):
        colon = text.index(":", at)
        end = colon + 1 + int(text[at:colon])
        words.append(text[colon + 1:end])
        at = end
    return words


def library() -> str:
    """The allocator library's path, as LD_PRELOAD can carry it (no spaces or colons)."""
    path = os.path.join(OWN_DIR, "libtriscope_preload.so")
    if not os.path.exists(path):
        return None
    if " " in path or ":" in path:
        import tempfile
        link = os.path.join(tempfile.gettempdir(), f"triscope-{os.getuid()}-preload.so")
        try:
            if os.path.realpath(link) != os.path.realpath(path):
                os.symlink(path, link + ".new")
                os.replace(link + ".new", link)
        except OSError:
            return None
        path = link
    return path


def in_place(launcher: bool = False) -> bool:
    """Whether this process runs with the allocator library already: re-executed by us, or
    preloaded by whoever started it.

    `launcher`: asked by the command line before it changes anything. Then, outside any
    profiled run (no TRISCOPE_ variable: a profiled child's start-up may have given it back
    the environment its parent chose), os.environ is what the process started with, and
    where neither LD_PRELOAD nor the system's list of preloads names anything of triscope's,
    the library is not loaded: the C core (0.4 ms to load) is not asked."""
    if os.environ.get(PRELOADED) == "1":
        return True
    if (launcher and "triscope" not in os.environ.get("LD_PRELOAD", "")
            and not any(name.startswith("TRISCOPE_") for name in os.environ)
            and not os.path.exists("/etc/ld.so.preload")):
        return False
    from triscope import _native
    return _native.memory_preloaded()


def reexec(argv: list) -> None:
    """Replaces this process (same PID) by `argv` run with the allocator library preloaded;
    returns, saying so, only when the library is missing."""
    found = library()
    if found is None:
        print("triscope: the allocator library is missing; memory profiling sees only "
              "Python's allocator", file=sys.stderr)
        return
    env = dict(os.environ)
    previous = env.get("LD_PRELOAD")
    env[PRELOADED] = "1"
    env[LAUNCH_ARGV] = _packed(launch_argv or sys.orig_argv)
    if previous is not None:
        env[PREVIOUS_LD_PRELOAD] = previous
    env["LD_PRELOAD"] = f"{found} {previous}" if previous else found
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)


def triscope_command(triscope_argv: list) -> list:
    """The command that runs this launch again: __main__.py as a script, with the
    interpreter's flags (never `-m triscope`, which would put the working directory first on
    sys.path, ahead of the modules triscope imports)."""
    return [sys.executable, *_interpreter_flags(), os.path.join(OWN_DIR, "__main__.py"),
            *triscope_argv]


def _interpreter_flags() -> list:
    """The options this interpreter was started with (-X, -W, -O, -I, ...), for the new
    image. Where its command line had none before `-m triscope` or the script (the common
    case), every setting came from the environment, which the new image is given too: no
    flags, without importing subprocess (3 ms) to reconstruct them."""
    given = getattr(sys, "orig_argv", [])
    if len(given) >= 2 and (given[1] == "-m" or not given[1].startswith("-")):
        return []
    import subprocess
    return subprocess._args_from_interpreter_flags()


def restore_environment() -> None:
    """In the re-executed process: give the program the LD_PRELOAD it had, and keep the
    launcher's first command line (launch_argv)."""
    global launch_argv
    packed = os.environ.pop(LAUNCH_ARGV, None)
    if os.environ.pop(PRELOADED, None) is None:
        return
    try:
        launch_argv = _unpacked(packed) if packed is not None else None
    except ValueError:  # not what reexec packed: the image's own command line serves
        launch_argv = None
    previous = os.environ.pop(PREVIOUS_LD_PRELOAD, None)
    if previous is None:
        os.environ.pop("LD_PRELOAD", None)
    else:
        os.environ["LD_PRELOAD"] = previous
