"""What the TLS test clients share (tlsio.py, tlsstall.py, tlsack.py,
tlssurge.py); read_answer() reads a plain socket too (balance.py)."""
import ssl


def client_context(version):
    """A client context for TLS `version` ("1.2" or "1.3") only, that takes
    any certificate (the tests' servers use a throwaway one)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    return ctx


def parse_answer(buf):
    """One Content-Length framed answer at the start of buf: None while its
    head is incomplete, else (complete, body); a status other than 200
    raises ValueError."""
    if b"\r\n\r\n" not in buf:
        return None
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 200"):
        raise ValueError(f"answer: {lines[0]}")
    n = next(int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:"))
    return len(body) >= n, body[:n]


def read_answer(s):
    """Reads one 200 answer off socket s (parse_answer()); returns its body."""
    buf = b""
    while True:
        got = parse_answer(buf)
        if got and got[0]:
            return got[1]
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("the connection closed before the answer ended")
        buf += chunk
