#!/usr/bin/env python3
"""Seed fuzz/corpus/<target>/ from the shared conformance corpus (see its README for provenance).

Usage, from the fuzz/ directory:  python3 seed_corpora.py [PATH/TO/corpus]
The corpus path defaults to ../../shared/corpus. Existing corpus files are kept; seeds are named
by content hash, so running it twice adds nothing. The inputs of tests/data/fuzz/ (past
findings) are added to their target's corpus too.
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


# ---- SNMP datagrams ----

def pcap_udp_payloads(path):
    """UDP payloads of an Ethernet (or raw IPv4) pcap; enough for the corpus captures."""
    with open(path, "rb") as f:
        raw = f.read()
    endian = "<" if raw[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    linktype = struct.unpack(endian + "I", raw[20:24])[0]
    pos, out = 24, []
    while pos + 16 <= len(raw):
        incl = struct.unpack(endian + "I", raw[pos + 8 : pos + 12])[0]
        pkt = raw[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        ip = pkt[14:] if linktype == 1 else pkt
        if linktype == 1 and pkt[12:14] == b"\x81\x00":
            ip = pkt[18:]
        if not ip or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 15) * 4 :]
        out.append(udp[8:])
    return out


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        head = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + content


def read_tlv(b, pos=0):
    tag, first = b[pos], b[pos + 1]
    at = pos + 2
    if first < 0x80:
        n = first
    else:
        k = first & 0x7F
        n = int.from_bytes(b[at : at + k], "big")
        at += k
    return tag, b[at : at + n], at + n


def v1v2c_pdu(datagram):
    """The PDU TLV of a v1/v2c message, or None."""
    try:
        tag, seq, _ = read_tlv(datagram)
        if tag != 0x30:
            return None
        t, ver, pos = read_tlv(seq)
        if t != 0x02 or ver not in (b"\x00", b"\x01"):
            return None
        t, _, pos = read_tlv(seq, pos)
        start = pos
        t, _, end = read_tlv(seq, pos)
        return seq[start:end] if t & 0xE0 == 0xA0 else None
    except (IndexError, ValueError):
        return None


def seed_snmp(corpus):
    sd = os.path.join(corpus, "snmp")
    datagrams = []
    dd = os.path.join(sd, "datagrams")
    for name in sorted(os.listdir(dd)):
        with open(os.path.join(dd, name), "rb") as f:
            datagrams.append(f.read())
    pd = os.path.join(sd, "pcap")
    for name in sorted(os.listdir(pd)):
        if name.endswith(".pcap"):
            datagrams += pcap_udp_payloads(os.path.join(pd, name))
    with open(os.path.join(sd, "usm_vectors.json"), encoding="utf-8") as f:
        vectors = json.load(f)
    for table in ("gosnmp_sha2_auth", "wholemsg_hmac_vectors", "decryption_vectors"):
        for v in vectors.get(table, []):
            for key in ("whole_msg", "whole_msg_authenticated", "whole_msg_auth_zeroed"):
                if key in v:
                    datagrams.append(bytes.fromhex(v[key]))
    for d in datagrams:
        # Mode 0: as received; mode 1: re-signed by the target (snmp_decode.rs).
        put("snmp_decode", b"\x00" + d)
        put("snmp_decode", b"\x01" + d)
    # Modes 2 and 3: the PDUs of the v1/v2c messages, sent as each v3 user (header: user, level,
    # engine, boots, time, msgID; see build() in snmp_decode.rs).
    pdus = [p for p in map(v1v2c_pdu, datagrams) if p]
    for i, pdu in enumerate(pdus):
        for user in range(11):
            head = bytes([user, 0x04 if i % 2 else 0, i % 5]) + bytes(8) + struct.pack(">I", 1000 + i)
            put("snmp_decode", b"\x03" + head + pdu)
            scoped = tlv(0x30, tlv(0x04, b"\x80\x00\x1f\x88\x80\x01\x02\x03\x04") + tlv(0x04, b"") + pdu)
            put("snmp_decode", b"\x02" + head + scoped)


# ---- WAL ----

def seed_wal(lines):
    # Records are encoded by the targets themselves; seeds give them payloads: [len, bytes]...
    for i in range(0, min(len(lines), 64), 4):
        group = [l[:255] for l in lines[i : i + 4]]
        records = b"".join(bytes([len(l)]) + l for l in group)
        # wal_record model mode: [mode=1, n, damage lo, hi, len, cut] (no damage, no cut).
        put("wal_record", bytes([1, 3, 0, 0, 0, 0]) + records)
        put("wal_record", bytes([1, 3, 40, 0, 8, 0]) + records + b"\xff" * 8)
        put("wal_record", bytes([1, 3, 0, 0, 0, 17]) + records)
        # wal_recovery: [flags, first seq, damage lo, hi, len, cut].
        for flags in (0, 4):
            put("wal_recovery", bytes([flags, i % 3, 0, 0, 0, 0]) + records)
            put("wal_recovery", bytes([flags, i % 3, 0, 0, 0, 9]) + records)
            put("wal_recovery", bytes([flags, i % 3, 30, 0, 4, 0]) + records + b"\x55" * 4)


# ---- YAML files ----

def seed_yaml():
    repo = os.path.join(HERE, "..")
    files = {
        0: ["config/alert_rules.yaml"],
        1: ["config/mutt_config.yaml"],
        2: ["config/snmpv3_credentials.yaml"],
    }
    for sub, which in (("tests/data/rules", 0), ("tests/data/config", 1)):
        d = os.path.join(repo, sub)
        if os.path.isdir(d):
            files[which] += [os.path.join(sub, n) for n in sorted(os.listdir(d)) if n.endswith(".yaml")]
    for which, paths in files.items():
        for path in paths:
            with open(os.path.join(repo, path), "rb") as f:
                text = f.read()
            if len(text) <= 16384:
                put("yaml_loaders", bytes([which]) + text)


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "corpus")
    lines = seed_syslog(corpus)
    seed_framing(lines)
    seed_snmp(corpus)
    seed_wal(lines)
    seed_yaml()
    # Inputs that once failed (tests/data/fuzz/<target>-<what>.bin) stay in their corpus.
    found = os.path.join(HERE, "..", "tests", "data", "fuzz")
    if os.path.isdir(found):
        for name in sorted(os.listdir(found)):
            target = name.split("-", 1)[0]
            if os.path.isdir(os.path.join(HERE, "corpus", target)):
                with open(os.path.join(found, name), "rb") as f:
                    put(target, f.read())
    for target in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        n = len(os.listdir(os.path.join(HERE, "corpus", target)))
        print(f"{target}: {n} files")


if __name__ == "__main__":
    main()
