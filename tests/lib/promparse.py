#!/usr/bin/python3
"""Strict parser for the Prometheus text exposition format (0.0.4).

    promparse.py FILE [NAME{labels}=MIN ...]

Checks every line: HELP/TYPE comments precede their samples, a TYPE is
one of counter/gauge/untyped, names and label sets are well formed,
values are floats, no sample is repeated. Prints "name{labels} value"
per sample, sorted, so a test can compare two scrapes. Exit 1 on the
first violation, with the line number.
"""
import re, sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,(?:%s))*\})? ([^ ]+)$" % (NAME, LABEL, LABEL))


def die(n, msg):
    print("line %d: %s" % (n, msg))
    sys.exit(1)


def parse(text):
    types, samples = {}, {}
    if not text.endswith("\n"):
        die(0, "no final newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            if not re.match(r"^# HELP %s .+$" % NAME, line):
                die(n, "bad HELP")
            continue
        if line.startswith("# TYPE "):
            m = re.match(r"^# TYPE (%s) (counter|gauge|untyped|histogram|summary)$" % NAME, line)
            if not m or m.group(1) in types:
                die(n, "bad or repeated TYPE")
            types[m.group(1)] = m.group(2)
            continue
        if line.startswith("#") or not line:
            die(n, "unexpected line %r" % line)
        m = SAMPLE.match(line)
        if not m:
            die(n, "bad sample %r" % line)
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        if name not in types:
            die(n, "sample %s before its TYPE" % name)
        try:
            v = float(value)
        except ValueError:
            die(n, "bad value %r" % value)
        if types[name] == "counter" and (v < 0 or not name.endswith("_total")):
            die(n, "counter %s negative or not named *_total" % name)
        key = name + labels
        if key in samples:
            die(n, "repeated sample " + key)
        samples[key] = v
    return samples


def main():
    samples = parse(open(sys.argv[1]).read())
    for key in sorted(samples):
        print("%s %s" % (key, repr(samples[key])))
    for cond in sys.argv[2:]:
        key, _, low = cond.rpartition("=")
        if key not in samples or samples[key] < float(low):
            print("expected %s >= %s, got %s" % (key, low, samples.get(key)))
            sys.exit(1)


main()
