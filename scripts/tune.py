#!/usr/bin/env python3
"""Time to detection of planted bugs (docs/fuzzing.md, "Planted bugs"): for each bug and
each start, the first seed whose run catches it and that the correct engine passes, with
the seeds tried and the summed per-seed wall time (one worker).

usage: [CORRECT=<correct binary>] [PROFILE=standard|full] tune.py PLANTED START[,START...] MAXSEEDS BUG...
PLANTED is a release binary built with `--features planted-bugs`. Needs python3 only."""
import json, subprocess, sys
binary, starts, maxs = sys.argv[1], [int(x) for x in sys.argv[2].split(',')], int(sys.argv[3])
import os
def correct_passes(seed):
    c = os.environ.get('CORRECT')
    if not c:
        return True
    out = subprocess.run([c, 'fuzz', '--profile', os.environ.get('PROFILE','standard'), '--seeds', '1', '--seed-start', str(seed),
                          '--quiet', '--format', 'json', '--failures', '/tmp/tune-failures-correct'], capture_output=True, text=True).stdout
    return all(json.loads(l).get('verdict') == 'pass' for l in out.splitlines() if '"type":"seed"' in l)
for bug in sys.argv[4:]:
    for start in starts:
        p = subprocess.Popen([binary, 'fuzz', '--planted', bug, '--seeds', str(maxs), '--seed-start', str(start),
                              '--jobs', '2', '--quiet', '--profile', __import__('os').environ.get('PROFILE','standard'), '--format', 'json', '--failures', '/tmp/tune-failures'],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        wall, found = 0.0, None
        for line in p.stdout:
            d = json.loads(line)
            if d.get('type') != 'seed':
                continue
            wall += d.get('wall_ms', 0)
            if d['verdict'].startswith('violation') and correct_passes(d['seed']):
                found = (d['seed'], d['check'], d['seed'] - start + 1, wall / 1000)
                p.kill(); break
        p.wait()
        print(bug, start, found if found else f'not within {maxs}', flush=True)
