"""Debian's Firefox ESR for the browser tests, driven through Marionette.

Playwright's Firefox is a patched build that cannot be downloaded here, and Debian's
``firefox-esr`` is not the browser Playwright speaks to. Firefox has Marionette built in,
so ``marionette_driver`` talks to it directly (no geckodriver).

Each :class:`Firefox` is one person's browser: its own process, headless, with a fresh
profile in a temporary directory that is removed when it closes. The profile's prefs give
it a fake camera and microphone without a prompt, skip every first-run page, and keep it
off the network: no updates, telemetry, captive-portal or connectivity probes, safe
browsing, remote settings, DNS over HTTPS or prefetching, no STUN server and no mDNS.
Anything that still tried to reach out over HTTP would meet a proxy on a closed loopback
port.

Firefox 153 gathers no loopback ICE candidates, ``media.peerconnection.ice.loopback`` or
not (measured: only the default route's interface), so on the host its media would use the
machine's own network address. The tests run it in a network namespace of their own
instead (tests/browser/private_network.py): the process and its Marionette connection live
in the namespace of the thread that creates the :class:`Firefox`.

Marionette's client is blocking while the Concord server under test runs in the test's
own event loop, so every call goes to one worker thread (:meth:`Firefox.call`), in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

with warnings.catch_warnings():
    # marionette_driver's own imports warn: mozinfo calls distro.linux_distribution() and
    # mozrunner imports telnetlib (for Android emulators, unused here).
    warnings.simplefilter("ignore", DeprecationWarning)
    from marionette_driver.by import By  # type: ignore[import-untyped]
    from marionette_driver.marionette import Marionette  # type: ignore[import-untyped]

FIREFOX = shutil.which("firefox-esr") or "/usr/bin/firefox-esr"
STARTUP_TIMEOUT_S = 60.0
# How long a navigation or a script may take before Marionette gives up on it.
PAGE_LOAD_TIMEOUT_S = 30.0
# A reply slower than this means Firefox hangs (marionette_driver's default is 6 minutes).
SOCKET_TIMEOUT_S = PAGE_LOAD_TIMEOUT_S + 30.0
# The proxy for any request that is not to loopback: nothing listens on it, except a test
# that wants to catch such requests.
DEAD_PROXY_PORT = 9

T = TypeVar("T")

PREFS: dict[str, bool | int | str] = {
    # Marionette picks a free port and writes it to MarionetteActivePort in the profile.
    "marionette.port": 0,
    # A fake camera (moving colours) and microphone (a tone), granted without a prompt.
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    # No sound server here: without a mock audio device every AudioContext stays
    # "suspended" and the door's microphone meter reads silence (Chromium has its own
    # fake output in headless mode).
    "media.cubeb.force_mock_context": True,
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    # ICE: no default STUN server, and no mDNS names for host candidates (resolving
    # those would send multicast onto the network).
    "media.peerconnection.default_iceservers": "[]",
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.link_local": False,
    "intl.accept_languages": "zh-CN, zh",
    # The pages' console goes to Firefox's output (firefox.log), where tests read errors.
    "devtools.console.stdout.content": True,
    # No first-run, welcome, what's-new or default-browser pages.
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.homepage": "about:blank",
    "browser.startup.page": 0,
    "browser.startup.firstrunSkipsHomepage": True,
    "startup.homepage_welcome_url": "about:blank",
    "startup.homepage_welcome_url.additional": "",
    "browser.aboutwelcome.enabled": False,
    "trailhead.firstrun.didSeeAboutWelcome": True,
    "browser.shell.checkDefaultBrowser": False,
    "browser.newtabpage.enabled": False,
    "browser.sessionstore.resume_from_crash": False,
    "toolkit.startup.max_resumed_crashes": -1,
    "datareporting.policy.firstRunURL": "",
    "datareporting.policy.dataSubmissionPolicyBypassNotification": True,
    # No updates of Firefox, its add-ons, search engines or media plugins.
    "app.update.auto": False,
    "app.update.enabled": False,
    "app.update.checkInstallTime": False,
    "app.update.disabledForTesting": True,
    "extensions.update.enabled": False,
    "extensions.update.autoUpdateDefault": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "extensions.blocklist.enabled": False,
    "browser.search.update": False,
    "media.gmp-manager.updateEnabled": False,
    "media.gmp-manager.url": "",
    "media.gmp-gmpopenh264.enabled": False,
    # No telemetry, health reports, studies or pings.
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "",
    "toolkit.telemetry.archive.enabled": False,
    "toolkit.telemetry.newProfilePing.enabled": False,
    "toolkit.telemetry.shutdownPingSender.enabled": False,
    "toolkit.telemetry.updatePing.enabled": False,
    "toolkit.telemetry.bhrPing.enabled": False,
    "toolkit.telemetry.firstShutdownPing.enabled": False,
    "toolkit.telemetry.coverage.opt-out": True,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.usage.uploadEnabled": False,
    "app.normandy.enabled": False,
    "app.normandy.api_url": "",
    "app.shield.optoutstudies.enabled": False,
    "browser.ping-centre.telemetry": False,
    "browser.discovery.enabled": False,
    # No captive-portal, connectivity or time probes, no push service.
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.manage-offline-status": False,
    "network.sntp.pools": "",
    "dom.push.connection.enabled": False,
    # No safe-browsing lists, remote settings, certificate or CRL downloads.
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.downloads.remote.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.provider.google.updateURL": "",
    "browser.safebrowsing.provider.google4.updateURL": "",
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "services.settings.server": "data:,#remote-settings-disabled",
    "security.remote_settings.intermediates.enabled": False,
    "security.remote_settings.crlite_filters.enabled": False,
    "security.OCSP.enabled": 0,
    "security.certerrors.mitm.priming.enabled": False,
    # No location, region, translation or suggestion services.
    "geo.provider.network.url": "",
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "browser.translations.enable": False,
    "browser.urlbar.suggest.searches": False,
    "browser.topsites.contile.enabled": False,
    # No DNS over HTTPS, no prefetching or speculative connections.
    "network.trr.mode": 5,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.predictor.enabled": False,
    "network.http.speculative-parallel-limit": 0,
    # Whatever is left goes to a proxy that is not there; loopback is never proxied.
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": DEAD_PROXY_PORT,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": DEAD_PROXY_PORT,
    "network.proxy.share_proxy_settings": True,
    "network.proxy.allow_hijacking_localhost": False,
    # A refused proxy must not make Firefox try the direct route instead.
    "network.proxy.failover_direct": False,
}


def installed() -> bool:
    """Whether Debian's firefox-esr is there to run."""
    return os.access(FIREFOX, os.X_OK)


def user_js(prefs: dict[str, bool | int | str]) -> str:
    """The prefs as a profile's user.js (JSON literals are valid JavaScript literals)."""
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


class Firefox:
    """One headless firefox-esr process with its own profile and a Marionette session.

    The constructor starts the process and the worker thread from the calling thread, so
    both are in that thread's network namespace; :meth:`connect` then opens the session.
    """

    def __init__(self, width: int, height: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="concord-firefox-"))
        self.profile = self.root / "profile"
        self.profile.mkdir()
        (self.profile / "user.js").write_text(user_js(PREFS))
        self._client: Marionette | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="marionette")
        try:
            # A new thread joins its creator's network namespace: create it now, here.
            self._thread.submit(lambda: None).result()
            self.process = self._launch(width, height)
        except BaseException:
            self._thread.shutdown(wait=False)
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _launch(self, width: int, height: int) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "MOZ_HEADLESS": "1",
            # Headless Firefox takes its screen size from these, not from --window-size.
            "MOZ_HEADLESS_WIDTH": str(width),
            "MOZ_HEADLESS_HEIGHT": str(height),
            # Caches and any stray dotfiles land in the temporary directory too.
            "HOME": str(self.root),
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "MOZ_CRASHREPORTER_DISABLE": "1",
            # Release builds ignore services.settings.server unless this is set.
            "MOZ_REMOTE_SETTINGS_DEVTOOLS": "1",
        }
        with open(self.root / "firefox.log", "wb") as log:
            return subprocess.Popen(
                [
                    FIREFOX,
                    "--headless",
                    "--marionette",
                    "--no-remote",
                    "--new-instance",
                    "--profile",
                    str(self.profile),
                    "about:blank",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group, so that close() kills the content processes too.
                start_new_session=True,
            )

    async def connect(self) -> None:
        """Wait for Marionette to listen, then open a session (off the event loop)."""
        try:
            self._client = await self.call(self._open_session)
        except Exception as exc:
            raise RuntimeError(f"firefox-esr did not start: {exc}\n{self.log_tail()}") from exc

    def _open_session(self) -> Marionette:
        port = active_port(self.profile, self.process)
        client = Marionette(
            host="127.0.0.1",
            port=port,
            socket_timeout=SOCKET_TIMEOUT_S,
            startup_timeout=int(STARTUP_TIMEOUT_S),
        )
        client.start_session()
        client.timeout.page_load = PAGE_LOAD_TIMEOUT_S
        client.timeout.script = PAGE_LOAD_TIMEOUT_S
        return client

    @property
    def client(self) -> Marionette:
        if self._client is None:
            raise RuntimeError("no Marionette session yet: await connect() first")
        return self._client

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking Marionette call off the event loop, one at a time."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def navigate(self, url: str) -> None:
        await self.call(self.client.navigate, url)

    async def run(self, script: str, *args: Any) -> Any:
        """Evaluate a function body in the page (Marionette's sandbox, not bound by its CSP).

        ``arguments[0]``… are ``args``; a returned promise is awaited.
        """
        return await self.call(self.client.execute_script, script, list(args))

    async def fits_its_width(self) -> None:
        """The page has loaded and scrolls no wider than the window."""
        await self.wait_for(
            "return document.readyState === 'complete';", within=PAGE_LOAD_TIMEOUT_S, what="load"
        )
        width, inner = await self.run(
            "return [document.documentElement.scrollWidth, window.innerWidth];"
        )
        assert width <= inner, (
            f"{await self.call(self.client.get_url)} is {width}px wide in {inner}"
        )

    async def click(self, css: str) -> None:
        def click() -> None:
            self.client.find_element(By.CSS_SELECTOR, css).click()

        await self.call(click)

    async def attribute(self, css: str, name: str) -> str | None:
        value = await self.run(
            "const e = document.querySelector(arguments[0]);"
            "return e ? e.getAttribute(arguments[1]) : null;",
            css,
            name,
        )
        return None if value is None else str(value)

    async def wait_for(self, script: str, *args: Any, within: float, what: str) -> Any:
        """Poll ``script`` until it returns something truthy within ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            value = await self.run(script, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                url = await self.call(self.client.get_url)
                raise AssertionError(f"Firefox at {url}: {what} (not within {within:.0f} s)")
            await asyncio.sleep(0.2)

    async def wait_attribute(self, css: str, name: str, value: str, *, within: float) -> None:
        await self.wait_for(
            "const e = document.querySelector(arguments[0]);"
            "return !!e && e.getAttribute(arguments[1]) === arguments[2];",
            css,
            name,
            value,
            within=within,
            what=f"{css} never had {name}={value!r}",
        )

    def page_errors(self, origin: str) -> list[str]:
        """Uncaught errors of pages at ``origin`` and console.error calls from pages.

        Read from Firefox's output (``devtools.console.stdout.content``); an entry runs
        from its first line to the next unindented one. Firefox's own console errors
        (their stacks are in chrome:// or resource:// code) are left out.
        """
        entries: list[list[str]] = []
        for line in self._log_text().splitlines():
            if line[:1].isspace() and entries:
                entries[-1].append(line)
            else:
                entries.append([line])
        errors: list[str] = []
        for entry in entries:
            text = "\n".join(entry)
            if entry[0].startswith("JavaScript error: " + origin):
                errors.append(text)
            elif entry[0].startswith("console.error:") and not re.search(
                r"chrome://|resource://", text
            ):
                errors.append(text)
        return errors

    def _log_text(self) -> str:
        log = self.root / "firefox.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        """The end of Firefox's own output, for a failure message."""
        return "\n".join(self._log_text().splitlines()[-lines:])

    def close(self) -> None:
        """Drop the session, kill the process group, remove the profile: each step always runs.

        The session is not ended politely: the process is killed anyway, and a hung
        Firefox would keep a polite goodbye waiting.
        """
        try:
            if self._client is not None:
                self._client.delete_session(send_request=False)  # closes the socket
                self._client.cleanup_ran = True  # nothing left for Marionette.__del__ to do
        finally:
            self._thread.shutdown(wait=False, cancel_futures=True)
            kill(self.process)
            shutil.rmtree(self.root, ignore_errors=True)


def kill(process: subprocess.Popen[bytes]) -> None:
    """Kill Firefox and its content processes (its own process group)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


def active_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """The port Marionette chose, once it has written it into the profile."""
    marker = profile / "MarionetteActivePort"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"firefox-esr exited with {process.returncode}")
        text = marker.read_text().strip() if marker.exists() else ""
        if text.isdigit() and int(text) > 0:
            return int(text)
        time.sleep(0.1)
    raise TimeoutError(f"no {marker.name} after {STARTUP_TIMEOUT_S:.0f} s")


@asynccontextmanager
async def firefox(width: int = 360, height: int = 740) -> AsyncIterator[Firefox]:
    """A Firefox for the length of the block; closed (killed, profile removed) however it ends.

    Process and session are in the network namespace of the calling thread. Headless
    Firefox makes no window narrower than 500 px, so a phone's 360 becomes 500.
    """
    browser = Firefox(width, height)
    try:
        await browser.connect()
        yield browser
    finally:
        await asyncio.to_thread(browser.close)
