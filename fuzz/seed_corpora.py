#!/usr/bin/env python3
"""Seed fuzz/corpus/<target>/ from the shared conformance corpus (see its README for provenance).

Usage, from the fuzz/ directory:  python3 seed_corpora.py [PATH/TO/corpus]
The corpus path defaults to ../../shared/corpus. Existing corpus files are kept; seeds are named
by content hash, so running it twice adds nothing. Nothing here is committed except the small
hand-written seeds in fuzz/seeds/, which are copied in as well.
"""

import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- syslog lines ----

def syslog_lines(corpus):
    lines = []
    sd = os.path.join(corpus, "syslog")
    with open(os.path.join(sd, "vendor_samples.txt"), "rb") as f:
        lines += [l.rstrip(b"\n") for l in f if l.strip()]
    for name in sorted(os.listdir(sd)):
        if not name.endswith("_cases.jsonl"):
            continue
        with open(os.path.join(sd, name), encoding="utf-8") as f:
            for row in f:
                row = json.loads(row)
                if "raw_hex" in row:
                    lines.append(bytes.fromhex(row["raw_hex"]))
                else:
                    lines.append(row["raw"].encode("utf-8"))
    return lines


def seed_syslog(corpus):
    lines = syslog_lines(corpus)
    for i, line in enumerate(lines):
        # [receive-time selector, zone selector] then the frame, as fuzz_targets/syslog_decode.rs reads it.
        put("syslog_decode", bytes([i % 7, i % 5]) + line)
    return lines


def seed_framing(lines):
    # [max_frame lo, hi, split seed, refuse seed] then a stream (tcp_framing.rs).
    for i in range(0, len(lines), 8):
        group = lines[i : i + 8]
        lf = b"\n".join(group) + b"\n"
        crlf = b"\r\n".join(group)
        nul = b"\0".join(group)
        counted = b"".join(b"%d %s" % (len(l), l) for l in group)
        mixed = b"".join(
            (b"%d %s" % (len(l), l)) if j % 2 else l + b"\n" for j, l in enumerate(group)
        )
        for k, stream in enumerate([lf, crlf, nul, counted, mixed]):
            max_frame = [511, 120, 64, 300, 31][k]
            put("tcp_framing", struct.pack("<H", max_frame) + bytes([i % 256, k]) + stream)


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "corpus")
    lines = seed_syslog(corpus)
    seed_framing(lines)
    seeds = os.path.join(HERE, "seeds")
    if os.path.isdir(seeds):
        for target in sorted(os.listdir(seeds)):
            for name in sorted(os.listdir(os.path.join(seeds, target))):
                with open(os.path.join(seeds, target, name), "rb") as f:
                    put(target, f.read())
    for target in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        n = len(os.listdir(os.path.join(HERE, "corpus", target)))
        print(f"{target}: {n} files")


if __name__ == "__main__":
    main()
