"""What the TLS test clients share (tlsio.py, tlsstall.py)."""
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
