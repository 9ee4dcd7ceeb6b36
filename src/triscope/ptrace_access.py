"""Why the kernel may refuse this process access to another's memory, in one line.

`triscope attach` (which writes into the target through the interpreter's remote-execution
interface) and `triscope dump` (which reads its memory) both need the kernel's ptrace access
check to pass. When it fails the kernel says only EPERM; this module turns what /proc tells
about the two processes into the reason a user can act on (docs/DEFINITIONS.md, "triscope
attach" and "triscope dump"). It never retries or changes anything: it only explains.
"""
import os

PTRACE_SCOPE = "/proc/sys/kernel/yama/ptrace_scope"
CAP_SYS_PTRACE = 19  # the capability's bit in /proc/PID/status's CapEff


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.read()


def _status_field(pid: int | str, name: str) -> str | None:
    try:
        for line in _read(f"/proc/{pid}/status").splitlines():
            if line.startswith(name + ":"):
                return line.split(":", 1)[1]
    except OSError:
        pass
    return None


def _owner(pid: int) -> int | None:
    uids = _status_field(pid, "Uid")
    return int(uids.split()[1]) if uids else None  # the effective uid


def _has_cap_sys_ptrace() -> bool:
    caps = _status_field("self", "CapEff")
    return bool(caps) and bool(int(caps.strip(), 16) >> CAP_SYS_PTRACE & 1)


def _is_descendant(pid: int) -> bool:
    me = os.getpid()
    while pid > 1:
        try:
            stat = _read(f"/proc/{pid}/stat")
        except OSError:
            return False
        pid = int(stat.rpartition(")")[2].split()[1])  # ppid, after the command's name
        if pid == me:
            return True
    return False


def why_denied(pid: int, verb: str) -> str:
    """Why `verb` ("attach to", "read") process `pid` was refused, as far as /proc can tell."""
    owner, privileged = _owner(pid), _has_cap_sys_ptrace()
    if owner is not None and owner != os.geteuid() and not privileged:
        return (f"process {pid} belongs to another user (uid {owner}): run triscope as that "
                "user, or with CAP_SYS_PTRACE (e.g. as root)")
    try:
        scope = int(_read(PTRACE_SCOPE))
    except (OSError, ValueError):
        scope = 0  # no Yama: only ownership and capabilities decide
    if not privileged:
        if scope == 1 and not _is_descendant(pid):
            return (f"Yama's ptrace_scope is 1 ({PTRACE_SCOPE}): only a process's ancestors "
                    f"may {verb} it, and process {pid} is not a descendant of this one; run "
                    "triscope with CAP_SYS_PTRACE (e.g. as root), or set the scope to 0")
        if scope == 2:
            return (f"Yama's ptrace_scope is 2 ({PTRACE_SCOPE}): only a process with "
                    "CAP_SYS_PTRACE (e.g. root) may " + verb + " another")
    if scope == 3:
        return (f"Yama's ptrace_scope is 3 ({PTRACE_SCOPE}): no process may {verb} another "
                "until the next boot")
    who = "with CAP_SYS_PTRACE" if privileged else "as the same user"
    return (f"the kernel refused although triscope runs {who}: process {pid} may have made "
            "itself undumpable (a set-user-ID program, or prctl), or a security policy "
            "(a container's seccomp or user namespace, AppArmor, SELinux) forbids it")
