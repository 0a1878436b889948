#!/usr/bin/env python3
"""Generate the hostile archive corpus for prepd: zips, tars and gzips that
two readers could read differently, each with one defect, and the zips a
Windows tool writes in its OEM code page, which prepd must accept.

Usage:
    python3 tests/data/mkhostile.py OUTDIR

Writes every package into OUTDIR and prints NAME<TAB>EXPECTED, EXPECTED
being "ok" or a substring of the refusal's reason. The containers are
written byte by byte from their specifications (PKWARE APPNOTE 6.3.10 for
zip, POSIX.1-2017 pax/ustar for tar, RFC 1952 for gzip), not with Python's
zipfile, tarfile or gzip modules, so a defect is exactly where it is put;
zlib is used only for raw deflate and CRC-32. Deterministic output.
"""

import os
import struct
import sys
import zlib

INDEX = (b'<!doctype html><html lang="es"><head><meta charset="utf-8">'
         b'<base href="/"><title>PREP</title></head><body><app-root>'
         b'</app-root></body></html>\n')
# 2024-06-02 22:15:00 as MS-DOS date and time (APPNOTE 4.4.6)
DOS_TIME = (22 << 11) | (15 << 5)
DOS_DATE = ((2024 - 1980) << 9) | (6 << 5) | 2
MTIME = 1717387200


def deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


# ---------------------------------------------------------------------------
# zip (APPNOTE 4.3)
# ---------------------------------------------------------------------------

class ZipEntry:
    def __init__(self, name, data, method=8, utf8=None, descriptor=False,
                 dos=False):
        self.name = name if isinstance(name, bytes) else name.encode()
        self.data = data
        self.method = method
        self.comp = deflate(data) if method == 8 else data
        self.crc = zlib.crc32(data)
        if utf8 is None:
            utf8 = any(b >= 0x80 for b in self.name)
        self.flags = (0x0800 if utf8 else 0) | (0x0008 if descriptor else 0)
        self.descriptor = descriptor
        self.system = 0 if dos else 3          # MS-DOS or Unix
        # Per-header overrides to build inconsistent archives.
        self.local = {}
        self.central = {}
        self.dd = {}


def local_header(e):
    o = e.local
    desc = e.descriptor
    crc = o.get("crc", 0 if desc else e.crc)
    csize = o.get("csize", 0 if desc else len(e.comp))
    usize = o.get("usize", 0 if desc else len(e.data))
    name = o.get("name", e.name)
    return struct.pack("<4sBBHHHHIIIHH", b"PK\3\4", 20, e.system,
                       o.get("flags", e.flags), o.get("method", e.method),
                       DOS_TIME, DOS_DATE, crc, csize, usize, len(name),
                       0) + name


def descriptor(e):
    o = e.dd
    return struct.pack("<4sIII", b"PK\7\x08", o.get("crc", e.crc),
                       o.get("csize", len(e.comp)),
                       o.get("usize", len(e.data)))


def central_header(e, offset):
    o = e.central
    name = o.get("name", e.name)
    attr = (0o100644 << 16) if e.system == 3 else 0x20
    return struct.pack("<4sBBHHHHHIIIHHHHHII", b"PK\1\2", 63, e.system, 20,
                       o.get("flags", e.flags),
                       o.get("method", e.method), DOS_TIME, DOS_DATE,
                       o.get("crc", e.crc), o.get("csize", len(e.comp)),
                       o.get("usize", len(e.data)), len(name), 0, 0, 0, 0,
                       attr, o.get("offset", offset)) + name


def zip_bytes(entries, prepend=b"", between=None, append=b"",
              extra_central=(), count=None):
    """entries: ZipEntry list. between: {index: bytes} put before entry
    index. extra_central: (entry, offset-of-entry-index) pairs added to
    the central directory."""
    out = bytearray(prepend)
    offsets = []
    for i, e in enumerate(entries):
        if between and i in between:
            out += between[i]
        offsets.append(len(out))
        out += local_header(e) + e.comp
        if e.descriptor:
            out += descriptor(e)
    cd_off = len(out)
    cd = bytearray()
    for e, off in zip(entries, offsets):
        cd += central_header(e, off)
    for e, idx in extra_central:
        cd += central_header(e, offsets[idx])
    out += cd
    n = len(entries) + len(extra_central) if count is None else count
    out += struct.pack("<4sHHHHIIH", b"PK\5\6", 0, 0, n, n, len(cd), cd_off,
                       0)
    return bytes(out + append)


# ---------------------------------------------------------------------------
# tar (POSIX.1-2017 pax, ustar)
# ---------------------------------------------------------------------------

def octal(n, width):
    return ("%0*o" % (width - 1, n)).encode() + b"\0"


def tar_header(name, size, type_=b"0", mode=0o644, bad_checksum=False):
    name = name if isinstance(name, bytes) else name.encode()
    assert len(name) <= 100
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = octal(mode, 8)
    h[108:116] = octal(0, 8)
    h[116:124] = octal(0, 8)
    h[124:136] = octal(size, 12)
    h[136:148] = octal(MTIME, 12)
    h[148:156] = b" " * 8
    h[156:157] = type_
    h[257:265] = b"ustar\x0000"
    h[265:269] = b"root"
    h[297:301] = b"root"
    s = sum(h) + (1 if bad_checksum else 0)
    h[148:156] = ("%06o" % s).encode() + b"\0 "
    return bytes(h)


def pad(data):
    return data + b"\0" * (-len(data) % 512)


def pax_record(key, value):
    """One "LEN key=value\\n" record, LEN counting itself."""
    body = b" " + key.encode() + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def tar_file(name, data, **kw):
    return tar_header(name, len(data), **kw) + pad(data)


def tar_pax(records, global_=False, name=b"PaxHeader/x"):
    data = b"".join(records)
    return tar_header(name, len(data), b"g" if global_ else b"x") + pad(data)


END = b"\0" * 1024


def tar_bytes(*members, end=True):
    t = b"".join(members) + (END if end else b"")
    if end:
        t += b"\0" * (-len(t) % 10240)
    return t


# ---------------------------------------------------------------------------
# gzip (RFC 1952)
# ---------------------------------------------------------------------------

def gzip_member(data, crc=None, isize=None):
    head = struct.pack("<BBBBIBB", 0x1f, 0x8b, 8, 0, MTIME, 2, 3)
    tail = struct.pack("<II", zlib.crc32(data) if crc is None else crc,
                       (len(data) & 0xffffffff) if isize is None else isize)
    return head + deflate(data) + tail


# ---------------------------------------------------------------------------
# the corpus
# ---------------------------------------------------------------------------

def build():
    out = []

    def add(name, data, expected):
        out.append((name, data, expected))

    idx = ZipEntry("index.html", INDEX)

    # --- control: the writers make archives prepd accepts ------------------
    add("c-good.zip", zip_bytes([ZipEntry("index.html", INDEX),
                                 ZipEntry("datos/a.json", b"{}\n", method=0),
                                 ZipEntry("b.txt", b"b\n" * 100,
                                          descriptor=True)]), "ok")
    add("c-good.tar.gz", gzip_member(tar_bytes(
        tar_pax([pax_record("path", "estados/Nuevo León/index.html".encode()),
                 pax_record("mtime", b"1717387200.5"),
                 pax_record("size", str(len(INDEX)).encode())]),
        tar_file("estados/Nuevo Leon/index.html", INDEX),
        tar_file("index.html", INDEX))), "ok")

    # --- zip: central directory and local header disagree ---------------------
    e = ZipEntry("notes.txt", b"<p>malo</p>\n")
    e.local["name"] = b"index.html"
    e.central["name"] = b"notes.txt"
    add("z-name-mismatch.zip", zip_bytes([ZipEntry("ok.json", b"{}\n"), e]),
        "disagree on the name")

    e = ZipEntry("ok.json", b"evil\n")
    e.local["name"] = b"../x"
    add("z-dotdot-mismatch.zip", zip_bytes([idx, e]), "disagree on the name")

    e = ZipEntry("a.txt", b"a\n")
    e.local["csize"] = len(e.comp) + 7
    add("z-size-mismatch.zip", zip_bytes([idx, e]), "compressed size")

    e = ZipEntry("a.txt", b"a\n" * 50)
    e.local["usize"] = 3
    add("z-usize-mismatch.zip", zip_bytes([idx, e]), "disagree on its size")

    e = ZipEntry("a.txt", b"a\n" * 50)
    e.local["crc"] = e.crc ^ 1
    add("z-crc-mismatch.zip", zip_bytes([idx, e]), "CRC-32")

    e = ZipEntry("a.txt", b"a\n" * 50)
    e.local["method"] = 0
    add("z-method-mismatch.zip", zip_bytes([idx, e]), "compression method")

    e = ZipEntry("a.txt", b"a\n")
    e.local["flags"] = e.flags | 0x0800
    add("z-flags-mismatch.zip", zip_bytes([idx, e]), "disagree on its flags")

    e = ZipEntry("a.txt", b"a\n", method=0)
    e.local["flags"] = e.flags | 1
    add("z-encrypted-local.zip", zip_bytes([idx, e]),
        "encrypted flag is set in only one")
    e = ZipEntry("a.txt", b"a\n", method=0)
    e.central["flags"] = e.flags | 1
    add("z-encrypted-central.zip", zip_bytes([idx, e]),
        "encrypted flag is set in only one")

    e = ZipEntry("a.txt", b"a\n" * 40, descriptor=True)
    e.dd["usize"] = 5
    add("z-descriptor-size.zip", zip_bytes([idx, e]),
        "data descriptor disagrees")
    e = ZipEntry("a.txt", b"a\n" * 40, descriptor=True)
    e.dd["csize"] = len(e.comp) + 1
    add("z-descriptor-csize.zip", zip_bytes([idx, e]),
        "data descriptor disagrees")

    # --- zip: entries that overlap, hide, or are cut -----------------------
    e2 = ZipEntry("otro.html", INDEX)
    add("z-overlap.zip", zip_bytes([idx], extra_central=[(e2, 0)]),
        "overlapping entries")

    e = ZipEntry("index.html\0.txt", INDEX)
    add("z-nul-name.zip", zip_bytes([e]), "NUL byte")

    hidden = local_header(ZipEntry("evil.html", b"evil\n", method=0)) + \
        b"evil\n"
    add("z-prepended.zip", zip_bytes([idx], prepend=hidden),
        "before the first entry")
    add("z-gap.zip", zip_bytes([idx, ZipEntry("a.txt", b"a\n")],
                               between={1: hidden}), "does not describe")
    add("z-appended.zip", zip_bytes([idx], append=b"trailing junk\n"),
        "after the end of the zip")
    add("z-count.zip", zip_bytes([idx, ZipEntry("a.txt", b"a\n")], count=1),
        "end record says 1 entries")

    good = zip_bytes([idx, ZipEntry("a.txt", b"a\n" * 300)])
    cd_at = good.rfind(b"PK\1\2")
    add("z-truncated-in-cd.zip", good[:cd_at + 30], "truncated")
    add("z-truncated-before-cd.zip", good[:cd_at - 40], "truncated")
    add("z-empty.zip", b"", "empty")

    add("z-nfc.zip", zip_bytes([
        idx,
        ZipEntry("estados/Nuevo Le\u00f3n.json", b"{}\n"),
        ZipEntry("estados/Nuevo Leo\u0301n.json", b"{}\n")]), "NFC")

    # --- zip: what a Windows tool writes in Mexico: must be ACCEPTED -------
    # Explorer's "Send to > Compressed folder" on es-MX Windows: names in
    # OEM code page 850, no UTF-8 flag, MS-DOS as the system; a name that
    # is valid UTF-8 without the flag is taken as UTF-8.
    cp = [ZipEntry(b"index.html", INDEX, dos=True),
          ZipEntry("peque\u00f1a.html".encode("cp850"), b"<p>peque\xc3\xb1a</p>\n",
                   utf8=False, dos=True),
          ZipEntry("A\u00f1o/\u00cdndice.json".encode("cp850"), b"{}\n",
                   utf8=False, dos=True),
          ZipEntry("Michoac\u00e1n.json".encode(), b"{\"utf8\":1}\n",
                   utf8=False, dos=True)]
    add("20240602_2300_WINDOWS_CP850.zip", zip_bytes(cp), "ok")

    # --- gzip ---------------------------------------------------------------
    tar = tar_bytes(tar_file("index.html", INDEX))
    add("g-crc.tar.gz", gzip_member(tar, crc=zlib.crc32(tar) ^ 0x10), "CRC-32")
    add("g-isize.tar.gz", gzip_member(tar, isize=len(tar) + 512), "ISIZE")
    add("g-junk.tar.gz", gzip_member(tar) + b"junk\n",
        "junk after the end of the gzip stream")
    add("g-two-members.tar.gz",
        gzip_member(tar) + gzip_member(tar_bytes(tar_file("x.html", INDEX))),
        "second gzip member")
    add("g-truncated.tar.gz", gzip_member(tar)[:-3], "truncated")

    # --- tar ----------------------------------------------------------------
    add("t-no-end.tar.gz", gzip_member(tar_bytes(
        tar_file("index.html", INDEX), tar_file("a.txt", b"a\n"), end=False)),
        "no end-of-archive marker")
    add("t-one-zero-block.tar.gz", gzip_member(
        tar_file("index.html", INDEX) + b"\0" * 512),
        "one zero block")
    add("t-after-end.tar.gz", gzip_member(
        tar_file("index.html", INDEX) + END + tar_file("evil.html", b"e\n") +
        END), "after the end-of-archive marker")
    add("t-lone-zero.tar.gz", gzip_member(tar_bytes(
        tar_file("index.html", INDEX) + b"\0" * 512 +
        tar_file("hidden.html", b"h\n"))), "single zero block")
    add("t-pax-size.tar.gz", gzip_member(tar_bytes(
        tar_file("index.html", INDEX),
        tar_pax([pax_record("size", b"12abc")]),
        tar_file("a.txt", b"hola mundo!!" + b"\0" * 5))),
        "size is not a plain decimal")
    add("t-pax-uid.tar.gz", gzip_member(tar_bytes(
        tar_pax([pax_record("uid", b"+0")]), tar_file("index.html", INDEX))),
        "uid is not a plain decimal")
    add("t-pax-mtime.tar.gz", gzip_member(tar_bytes(
        tar_pax([pax_record("mtime", b"1717387200x")]),
        tar_file("index.html", INDEX))), "mtime is not a decimal time")
    bad = pax_record("path", b"index.html")
    bad = b"9" + bad[2:] if bad[:2] == b"20" else b"1" + bad
    add("t-pax-length.tar.gz", gzip_member(tar_bytes(
        tar_pax([bad, pax_record("mtime", b"0")]),
        tar_file("index.html", INDEX))), "record")
    add("t-pax-nul.tar.gz", gzip_member(tar_bytes(
        tar_file("index.html", INDEX),
        tar_pax([pax_record("path", b"ok.html\0../../evil")]),
        tar_file("ok.html", b"x\n"))), "NUL byte")
    add("t-pax-global-size.tar.gz", gzip_member(tar_bytes(
        tar_pax([pax_record("size", b"0")], global_=True),
        tar_file("index.html", INDEX))), "global pax header sets size")
    add("t-checksum.tar.gz", gzip_member(tar_bytes(
        tar_file("index.html", INDEX),
        tar_file("a.txt", b"a\n", bad_checksum=True))), "checksum is wrong")
    add("t-dir-size.tar.gz", gzip_member(tar_bytes(
        tar_file("index.html", INDEX),
        tar_header("d/", 512, b"5", 0o755) + pad(b"x" * 512))), "has a size")
    add("t-truncated-data.tar.gz", gzip_member(
        tar_file("index.html", INDEX) + tar_header("big.bin", 4096)
        + b"\1" * 1024), "truncated inside this entry")
    add("t-nfc.tar.gz", gzip_member(tar_bytes(
        tar_file("index.html", INDEX),
        tar_file("estados/Nuevo Le\u00f3n/index.html".encode(), INDEX),
        tar_file("estados/Nuevo Leo\u0301n/index.html".encode(), INDEX))),
        "NFC")
    add("t-empty.tar.gz", b"", "empty")
    return out


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    os.makedirs(argv[1], exist_ok=True)
    for name, data, expected in build():
        with open(os.path.join(argv[1], name), "wb") as f:
            f.write(data)
        print(f"{name}\t{expected}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
