"""What ``concord lan-cert`` prints: the files, a QR code for the CA, the steps on each phone.

The words are the catalogue's (Chinese unless ``default_language`` is ``en``):
the person reading them is often the beat office's own staff, holding a
party's phone.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import TYPE_CHECKING

from server.errors import N_

if TYPE_CHECKING:
    from server.config import Config

# The parser is built for every `concord` command: what only this one needs
# (cryptography, segno, the catalogues) is imported when it runs.

ANDROID_STEPS = (
    N_(
        "Scan the QR code with the phone's camera (or open {url} in its browser) and download "
        "the certificate. The browser warns that the connection is not private this once: "
        "choose Advanced, then Proceed."
    ),
    N_(
        "Open Settings → Security (or Security & privacy → More security settings) → "
        "Encryption & credentials → Install a certificate → CA certificate, pick the "
        "downloaded file and confirm."
    ),
    N_(
        "Open {site} in the system browser (Chrome or the phone maker's). WeChat's own browser "
        "may not accept the certificate: tap ··· at the top right → Open in browser."
    ),
)
IOS_STEPS = (
    N_(
        "Scan the QR code with the Camera app and open it in Safari (or type {url}); when Safari "
        "says the website is trying to download a configuration profile, tap Allow."
    ),
    N_("Open Settings → Profile Downloaded → Install, and enter the passcode."),
    N_(
        "Open Settings → General → About → Certificate Trust Settings and switch on full trust "
        "for “{ca}”."
    ),
    N_("Open {site} in Safari (WeChat's browser on iOS accepts it too once it is trusted)."),
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``concord lan-cert`` (called from server/cli.py)."""
    lan = sub.add_parser(
        "lan-cert",
        help="HTTPS for a trial on the office LAN: a local CA (made once) and a certificate "
        "for this machine's LAN addresses; prints a QR code and the steps for phones",
    )
    lan.add_argument(
        "--address",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a LAN address or local name (concord.lan) to put in the certificate, instead of "
        "the detected ones; repeat for several (localhost and 127.0.0.1 are always in)",
    )
    lan.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from server import i18n
    from server.cli import _config
    from server.lan_cert import LanCertError, detect_lan_addresses, make_lan_certificate

    config: Config = _config(args)
    i18n.activate(i18n.Catalogues(), config.default_language)
    addresses = list(args.address) or detect_lan_addresses()
    try:
        made = make_lan_certificate(config.lan_tls_dir, addresses)
    except LanCertError as exc:
        print(f"concord: {exc}", file=sys.stderr)
        return 2
    print(report(config, made.names, made.ca_fingerprint, made.ca_created))
    return 0


def site_url(config: Config, names: tuple[str, ...] | list[str]) -> str:
    """Where phones open Concord: the public URL if set, else the certificate's first name."""
    if config.public_url:
        return config.public_url.rstrip("/")
    host = names[0]
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{config.port}"


def report(
    config: Config, names: tuple[str, ...] | list[str], ca_fingerprint: str, ca_created: bool
) -> str:
    """The whole printout, in the language activated (``server.i18n.activate``)."""
    import segno

    from server.i18n import gettext as _
    from server.lan_cert import CA_COMMON_NAME, CA_DOWNLOAD_PATH
    from server.tls import WILDCARD_HOSTS

    site = site_url(config, names)
    url = site + CA_DOWNLOAD_PATH
    out = io.StringIO()
    directory = config.lan_tls_dir
    if ca_created:
        out.write(_("Made a local CA for this station in {dir}.").format(dir=directory) + "\n")
    else:
        out.write(
            _("Kept the local CA in {dir} (phones that trust it need nothing new).").format(
                dir=directory
            )
            + "\n"
        )
    out.write(_("New server certificate for: {names}").format(names=", ".join(names)) + "\n")
    if names[0] in ("localhost", "127.0.0.1"):
        out.write(_("No LAN address was found: give the one phones reach with --address.") + "\n")
    out.write("\n" + _("Phones download the CA certificate here:") + f" {url}\n")
    qr = io.StringIO()
    segno.make(url, error="m", micro=False).terminal(out=qr, compact=True, border=2)
    out.write(qr.getvalue())
    out.write(
        _("SHA-256 fingerprint of the CA (compare with what the phone shows):")
        + f"\n  {ca_fingerprint}\n"
    )
    for title, steps in ((_("Android:"), ANDROID_STEPS), (_("iPhone (iOS):"), IOS_STEPS)):
        out.write(f"\n{title}\n")
        for number, step in enumerate(steps, start=1):
            out.write(f"  {number}. {_(step).format(url=url, site=site, ca=CA_COMMON_NAME)}\n")
    out.write("\n" + _("Then start the server; it uses this certificate by itself:") + "\n")
    host = "" if config.host in WILDCARD_HOSTS else " --host 0.0.0.0"
    out.write(f"  concord serve{host} --port {config.port}\n")
    return out.getvalue()
