#!/usr/bin/env python3
"""A real SMTP server for `ocb send` tests (aiosmtpd), on 127.0.0.1.

    smtp_server.py serve DIR [--reject ADDR]... [--auth USER:PASSWORD] [--fail-first N]
                             [--starttls CERT KEY | --tls CERT KEY]
        Print the port on the first line of stdout, then save every accepted
        message into DIR as NNN.eml (raw), NNN.json (envelope and parsed parts)
        and NNN-<attachment name> (decoded attachment bytes). Runs until stdin
        closes. --reject answers 550 to that recipient; --auth requires AUTH
        with these credentials (over plain text: it is a test); --fail-first
        answers 451 to the first N messages, to exercise retries.
        --starttls offers STARTTLS and refuses mail before it (port 587
        style); --tls speaks TLS from the first byte (port 465 style); both
        with the PEM certificate chain CERT and its private key KEY.

    smtp_server.py parse FILE.eml
        Print the same JSON for a message file (dev-mode .eml files).

Install with `python3 -m pip install aiosmtpd`.
"""

import argparse
import email
import email.policy
import hashlib
import json
import os
import socket
import sys


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    attachments = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True) or b""
        attachments.append({
            "filename": part.get_filename(),
            "content_type": part.get_content_type(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        })
    return {
        "subject": str(msg.get("Subject", "")),
        "from": str(msg.get("From", "")),
        "to": str(msg.get("To", "")),
        "cc": str(msg.get("Cc", "")),
        "message_id": str(msg.get("Message-ID", "")),
        "content_type": msg.get_content_type(),
        "alternative": [p.get_content_type() for p in msg.walk() if p.get_content_maintype() == "text"],
        "text": plain.get_content() if plain is not None else None,
        "html": html.get_content() if html is not None else None,
        "attachments": attachments,
    }, msg


class Handler:
    def __init__(self, folder, reject, fail_first):
        self.folder = folder
        self.reject = {r.lower() for r in reject}
        self.fail_left = fail_first
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: recipient address rejected" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_left > 0:
            self.fail_left -= 1
            return "451 4.3.0 temporary failure, try again later"
        self.count += 1
        stem = os.path.join(self.folder, "%03d" % self.count)
        raw = envelope.original_content or envelope.content
        with open(stem + ".eml", "wb") as f:
            f.write(raw)
        info, msg = parse(raw)
        for part in msg.iter_attachments():
            with open("%s-%s" % (stem, os.path.basename(part.get_filename())), "wb") as f:
                f.write(part.get_payload(decode=True) or b"")
        login = getattr(session.auth_data, "login", None)
        info["mail_from"] = envelope.mail_from
        info["rcpt_tos"] = envelope.rcpt_tos
        info["auth_login"] = login.decode() if isinstance(login, bytes) else login
        # Write the JSON last and atomically: its presence means the message is complete.
        with open(stem + ".json.tmp", "w") as f:
            json.dump(info, f, indent=1)
        os.replace(stem + ".json.tmp", stem + ".json")
        return "250 Message accepted for delivery"


def serve(args):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    os.makedirs(args.dir, exist_ok=True)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    kwargs = {}
    if args.auth:
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        kwargs = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
    if args.starttls:
        kwargs["tls_context"] = tls_context(*args.starttls)
        kwargs["require_starttls"] = True
    if args.tls:
        kwargs["ssl_context"] = tls_context(*args.tls)
    controller = Controller(Handler(args.dir, args.reject, args.fail_first),
                            hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print(port, flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


def tls_context(cert, key):
    import ssl
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("serve")
    sv.add_argument("dir")
    sv.add_argument("--reject", action="append", default=[])
    sv.add_argument("--auth")
    sv.add_argument("--fail-first", type=int, default=0)
    sv.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    sv.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    pa = sub.add_parser("parse")
    pa.add_argument("file")
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args)
    else:
        with open(args.file, "rb") as f:
            print(json.dumps(parse(f.read())[0], indent=1))


if __name__ == "__main__":
    main()
