# bench:suite's accountant: runs the suite as a child subreaper (Linux prctl), so that every process
# the suite starts is reaped here in the end, orphans included (a cluster worker whose primary was
# killed with its group, pm2's daemon), and its CPU time is counted. Node cannot become a subreaper.
# Usage: python3 bench-suite-reaper.py <result.json> <command> [args...]
import ctypes, json, os, resource, signal, sys, time

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
result_file, command = sys.argv[1], sys.argv[2:]
libc = ctypes.CDLL(None, use_errno=True)
subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0

# bench:suite killed outright (kill -9) cannot end the run: this process hears of it (SIGHUP) and
# ends it, as Ctrl+C would: the suite's processes end their lessons on SIGTERM.
bench = os.getppid()
signal.signal(signal.SIGHUP, lambda *_: os.killpg(os.getpgrp(), signal.SIGTERM))
libc.prctl(PR_SET_PDEATHSIG, signal.SIGHUP, 0, 0, 0)
suite = os.fork()
if suite == 0:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    os.execvp(command[0], command)

# bench:suite forwards Ctrl+C to this whole group: the suite handles it; this one keeps counting.
for name in (signal.SIGINT, signal.SIGTERM):
    signal.signal(name, lambda *_: None)
if os.getppid() != bench:  # bench:suite died before PR_SET_PDEATHSIG took effect
    os.killpg(os.getpgrp(), signal.SIGTERM)


def children():
    mine = []
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/stat') as stat:
                if int(stat.read().rsplit(')', 1)[1].split()[1]) == os.getpid():
                    mine.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return mine


status, leftovers, deadline = None, set(), None
while True:
    try:
        pid, code = os.waitpid(-1, 0 if deadline is None else os.WNOHANG)
    except ChildProcessError:
        break
    except InterruptedError:
        continue
    if pid == suite:
        status, deadline = code, time.monotonic() + 5  # whatever outlives the suite gets 5 s to end
    elif pid == 0:
        if time.monotonic() > deadline:  # still running: a leak; end it
            for orphan in children():
                leftovers.add(orphan)
                try:
                    os.kill(orphan, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.05)

usage = resource.getrusage(resource.RUSAGE_CHILDREN)
if not os.path.isdir(os.path.dirname(result_file)):
    sys.exit(1)  # bench:suite is gone, and its folder with it
with open(result_file, 'w') as out:
    json.dump({
        'exitCode': os.waitstatus_to_exitcode(status) if status is not None else None,
        'userS': usage.ru_utime, 'sysS': usage.ru_stime,
        'subreaper': subreaper, 'leftovers': sorted(leftovers),
    }, out)
