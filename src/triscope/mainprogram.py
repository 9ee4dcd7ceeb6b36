"""The program as Python would run it (docs/ARCHITECTURE.md, "The program's forms"): which
code runs (a script in source or compiled, a directory's or zip file's __main__, a module,
standard input), in a __main__ namespace made as the interpreter makes it, with the
sys.path[0] Python would give it; and which directories hold the program's own code, the
files the profile reports. Imports nothing beyond what the launcher has already imported
(the interpreter's frozen import machinery): it runs before the program starts.
"""
import _frozen_importlib
import _frozen_importlib_external
import builtins
import marshal
import os
import site
import sys
import zipimport

from triscope import _compat, children
from triscope.options import UsageError


def plain_orig_argv(launch_argv: list, program_words: list) -> list:
    """sys.orig_argv as plain python gives it to the program: the interpreter and its own
    options from the command line that started the launcher (`launch_argv`: before its
    `-m triscope`, the console script or triscope's __main__.py), then the program's own
    words (its path or `-m module`, and its arguments)."""
    end, _, _ = children.interpreter_options_end(launch_argv)
    return [launch_argv[0], *launch_argv[1:end], *program_words]


def library_dirs() -> list:
    """Where the standard library and installed packages live: not the program's code."""
    import sysconfig
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    dirs.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    dirs.add(site.getusersitepackages())
    return sorted({os.path.realpath(d) for d in dirs} | dirs)


def _under_any(path: str, dirs: list) -> bool:
    real = os.path.realpath(path)
    return any(candidate == d or candidate.startswith(d.rstrip(os.sep) + os.sep)
               for d in dirs for candidate in (path, real))


def _nested(first: str, second: str) -> bool:
    """Whether one of two absolute directories is the other or lies under it."""
    first, second = first.rstrip(os.sep) + os.sep, second.rstrip(os.sep) + os.sep
    return first.startswith(second) or second.startswith(first)


def library_dirs_inside(program_dirs: list) -> list:
    """The library directories the C core's filter needs: it reads only those inside a
    program directory (a virtualenv in the project: filter.c, ts_filter_match). Each lies
    under one of the interpreter's prefixes or the user base, from which sysconfig's install
    schemes and site's directories are made: where no program directory and no such root
    lie one inside the other, none is inside a program directory, and none is looked for.
    Then sysconfig is not imported (0.9 ms; from 3.12, 1.7 ms with the threading it
    imports). Otherwise all of them, which the filter sorts out itself."""
    roots = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
             site.getuserbase()}
    roots |= {os.path.realpath(root) for root in roots}
    programs = set(program_dirs) | {os.path.realpath(path) for path in program_dirs}
    if any(_nested(root, program) for root in roots for program in programs):
        return library_dirs()
    return []


def dirs_of_module_run(spec, cwd: str) -> list:
    """docs/ARCHITECTURE.md, "-m tools and -c/-m children": the working directory (the
    user's code under test, and what it imports from there; libraries inside it stay out,
    as they do under a program's directory), and the module's own directory unless the
    module is an installed tool. A tool (`-m pytest`, `-m unittest`, `-m pip`) is one found
    in the standard library or among installed packages: its frames are not the user's
    code, and profiling them would charge the whole run to its entry line."""
    if spec.submodule_search_locations:
        dirs = list(spec.submodule_search_locations)
    elif spec.origin and os.path.isabs(spec.origin):
        dirs = [os.path.dirname(spec.origin)]
    else:
        dirs = []  # frozen or built in: an installed tool too
    libraries = library_dirs()
    dirs = [d for d in dirs if not _under_any(d, libraries)]
    dirs.append(cwd)
    return sorted({d for path in dirs for d in (path, os.path.realpath(path))})


def enter_program_path(path0: str):
    """Makes `path0` the first entry of sys.path as Python would for the program (no entry
    under -P); returns what to give leave_program_path to undo it."""
    if sys.flags.safe_path:
        return None
    launcher_path0 = sys.path[0]
    sys.path[0] = path0
    return launcher_path0


def leave_program_path(launcher_path0) -> None:
    if launcher_path0 is not None:
        sys.path[0] = launcher_path0


def program_path0(program: str, is_module: bool) -> str:
    """What `python program.py` (its real directory) or `python -m module` puts first."""
    if is_module:
        return os.getcwd()
    if program == "-":  # the program on standard input: the working directory, as ''
        return ""
    # As the interpreter computes it: the path's own symlink followed once, then resolved
    # whole where that succeeds (through /proc/self/fd, as /dev/stdin goes, it does not).
    path0 = program
    try:
        link = os.readlink(path0)
    except (OSError, ValueError):
        link = ""
    if link.startswith(os.sep):
        path0 = link
    elif os.sep in link:
        path0 = os.path.join(os.path.dirname(path0), link)
    try:
        path0 = os.path.realpath(path0, strict=True)
    except (OSError, ValueError):
        pass
    return os.path.dirname(path0)


def enter_main_path(program: str, is_module: bool, path_entry=None) -> None:
    """Puts the program's own first sys.path entry in place as it begins: a directory or zip
    program's path (`path_entry`) first, even under -P, which leaves out only the unsafe
    entries, as Python does; else program_path0's (none under -P)."""
    if path_entry is None:
        enter_program_path(program_path0(program, is_module))
    elif sys.flags.safe_path:
        sys.path.insert(0, path_entry)
    else:
        sys.path[0] = path_entry


def module_dirs(module: str) -> list:
    """The directories `-m module` profiles, run from the working directory."""
    import importlib.util
    launcher_path0 = enter_program_path(os.getcwd())  # where `python -m` looks first
    try:
        spec = importlib.util.find_spec(module)
        # The whole package it belongs to is the code under test, as for a -m child.
        top = spec and importlib.util.find_spec(module.partition(".")[0])
    except (ImportError, ValueError):
        spec = None
    finally:
        leave_program_path(launcher_path0)
    if spec is None or spec.origin is None:
        raise UsageError(f"no module named {module!r}")
    return dirs_of_module_run(top, os.getcwd())


def fresh_main_module(file, loader):
    """A new __main__ module in sys.modules, its namespace as the interpreter makes it, in
    its order: for a program `file` named (a script, "<stdin>"), that file and its loader;
    without one (-m, a directory or zip program) what runpy then fills in."""
    module = type(sys)("__main__")  # __name__, __doc__, __package__, __loader__, __spec__
    namespace = module.__dict__
    if _compat.MAIN_HAS_ANNOTATIONS:
        namespace["__annotations__"] = {}
    namespace["__builtins__"] = builtins
    namespace["__loader__"] = loader
    if file is not None:
        namespace["__file__"] = file
        if _compat.MAIN_HAS_CACHED:
            namespace["__cached__"] = None
    sys.modules["__main__"] = module
    return module


def is_path_entry(program: str) -> bool:
    """Whether Python runs `program` as a sys.path entry holding a `__main__` module (a
    directory, a zip file such as a zipapp's .pyz) rather than as a script: when a path
    hook takes it, as the interpreter decides (docs/ARCHITECTURE.md, "The program's forms")."""
    if os.path.isdir(program):
        return True
    try:
        zipimport.zipimporter(program)
    except (zipimport.ZipImportError, OSError):
        return False
    return True


def _path_entry_path0(program: str) -> str:
    """sys.path[0] for a directory or zip program, as the interpreter makes it: absolute by
    joining the working directory, not normalised ("." is the directory itself)."""
    if os.path.isabs(program):
        return program
    if program in ("", os.curdir):
        return os.getcwd()
    return os.path.join(os.getcwd(), program)


def prepare_path_entry(program: str, program_args: list):
    """Returns (sys.path[0], program directories) for `python dir_or_zip` semantics: its
    `__main__` module runs as `python` runs it, found through sys.path[0]."""
    path0 = _path_entry_path0(program)
    # Found as runpy will find it (the path hooks), or refused before anything runs.
    if _frozen_importlib_external.PathFinder.find_spec("__main__", [path0]) is None:
        raise UsageError(f"{program!r} has no __main__.py to run (a directory or zip file "
                         "runs its __main__ module)")
    sys.argv[:] = [program, *program_args]
    return path0, sorted({path0, os.path.normpath(path0), os.path.realpath(path0)})


def _is_bytecode(path: str, data: bytes) -> bool:
    """Whether Python would run the file as compiled bytecode: named .pyc, or beginning with
    the first half of this interpreter's magic number."""
    return path.endswith(".pyc") or data[:2] == _frozen_importlib_external.MAGIC_NUMBER[:2]


def _bytecode(program: str, data: bytes):
    """The code object of a .pyc file's bytes (its 16-byte header skipped, as Python does),
    or a UsageError where Python would refuse to run it."""
    if data[:4] != _frozen_importlib_external.MAGIC_NUMBER:
        raise UsageError(f"{program!r} is not bytecode of this Python version (its magic "
                         "number is another's)")
    try:
        code = marshal.loads(data[16:])
    except (EOFError, ValueError, TypeError):
        code = None
    if type(code) is not type(_bytecode.__code__):
        raise UsageError(f"{program!r} holds no code object (a damaged .pyc file)")
    return code


def prepare_stdin(program_args: list):
    """Returns (code, globals, program directories) for `python -` semantics: the program
    read from standard input to its end before it runs, as Python reads it, named
    "<stdin>" (its lines are profiled; their text, which no file holds, is not quoted)."""
    source = sys.stdin.buffer.read()
    sys.argv[:] = ["-", *program_args]
    code = compile(source, "<stdin>", "exec", dont_inherit=True)
    module = fresh_main_module("<stdin>", _frozen_importlib.BuiltinImporter)
    return code, module.__dict__, ["<stdin>"]


def prepare_script(program: str, program_args: list):
    """Returns (code, globals, program directories) for `python program.py` semantics: any
    file Python would read (a pipe such as bash's <(...) too), source or compiled bytecode
    (docs/ARCHITECTURE.md, "The program's forms")."""
    if not os.path.exists(program):
        raise UsageError(f"cannot find the program {program!r}")
    path = os.path.abspath(program)
    try:
        with open(path, "rb") as stream:
            source = stream.read()
    except OSError as error:
        raise UsageError(f"cannot read {program}: {error.strerror}") from None
    sys.argv[:] = [program, *program_args]
    # importlib.machinery's classes, which it takes from the interpreter's frozen bootstrap:
    # taken from there, a run need not import importlib (0.5 ms, with warnings).
    if _is_bytecode(path, source):
        code = _bytecode(program, source)
        loader = _frozen_importlib_external.SourcelessFileLoader("__main__", path)
    else:
        code = compile(source, path, "exec", dont_inherit=True)
        loader = _frozen_importlib_external.SourceFileLoader("__main__", path)
    module = fresh_main_module(path, loader)
    dirs = {os.path.dirname(path), os.path.dirname(os.path.realpath(path))}
    return code, module.__dict__, sorted(dirs)
