"""``poise run module:app``: uvicorn with poise installed and a drain on SIGTERM / SIGINT.

uvicorn on its own stops accepting connections the moment it is signalled, so a load
balancer still sending to the pod gets refused connections, and ``/readyz`` never had a
chance to say 503. Under ``poise run`` the first SIGTERM or SIGINT:

1. flips readiness to ``draining`` (``/readyz`` and the probe port answer 503 at once);
2. keeps serving for ``drain_delay`` seconds, so load balancers see that and stop;
3. lets uvicorn close its listeners and finish the requests in flight, for up to
   ``drain_timeout`` seconds (uvicorn's graceful shutdown);
4. runs the app's lifespan shutdown, so shared clients and pools close; exits 0.

A second signal skips what is left of the delay; a third stops at once.

How: the app is loaded through :func:`app` (a uvicorn factory), in the server's own
process and loop, right after uvicorn installed its signal handlers. There poise takes
the SIGTERM/SIGINT handlers over for that server. The same happens in each worker
process with ``--workers N`` (uvicorn's supervisor sends each worker SIGTERM).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, Final

from poise import Poise
from poise.errors import PoiseError

__all__ = ["STARTUP_FAILURE", "RunError", "app", "serve"]

logger = logging.getLogger("poise")

STARTUP_FAILURE: Final = 3  # uvicorn's exit code when the app's start-up fails
_TARGET_ENV: Final = "POISE_RUN_TARGET"
_FACTORY_ENV: Final = "POISE_RUN_FACTORY"
_HANDLED: Final = (signal.SIGINT, signal.SIGTERM)

_loaded: dict[str, Any] = {}


class RunError(PoiseError):
    """The target cannot be imported or is not an ASGI app (one-line reason, exit 2)."""


def serve(target: str, *, factory: bool = False, app_dir: str = ".", workers: int = 1,
          reload: bool = False, **uvicorn_options: Any) -> int:  # fmt: skip
    """Run ``target`` under uvicorn with poise and the drain; the exit code.

    Raises:
        RunError: the target does not import or is not an ASGI app.
    """
    try:
        import uvicorn
    except ImportError:
        raise RunError("poise run needs uvicorn: pip install 'poise[run]'") from None

    _log_like_uvicorn()
    sys.path.insert(0, os.path.abspath(app_dir))
    os.environ[_TARGET_ENV] = target
    os.environ[_FACTORY_ENV] = "1" if factory else ""
    if workers == 1 and not reload:
        the_app = _load(target, factory)  # a clear error now, not a traceback later
        poise = _poise_of(the_app)
        uvicorn_options["timeout_graceful_shutdown"] = poise.settings.drain_timeout
    else:
        # The workers import it themselves; importing it here too (spawned workers share
        # nothing with this process) turns a bad target into one line and exit 2, where
        # uvicorn's supervisor would restart failing workers forever.
        _import(target, factory)
    if reload:
        # The supervisor restarts a server process when --app-dir's files change; that
        # process loads the app. The drain timeout comes from the environment here.
        uvicorn_options["reload_dirs"] = [os.path.abspath(app_dir)]
        uvicorn_options.setdefault("timeout_graceful_shutdown", _drain_timeout_from_env())
    config = uvicorn.Config(
        "poise.run:app", factory=True, workers=workers, lifespan="on", reload=reload,
        **uvicorn_options,
    )  # fmt: skip
    _log_like_uvicorn()
    if reload:
        from uvicorn.supervisors import ChangeReload

        sock = config.bind_socket()
        ChangeReload(config, target=uvicorn.Server(config).run, sockets=[sock]).run()
        return 0
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        sock = config.bind_socket()
        supervisor = Multiprocess(config, sockets=[sock])
        supervisor.run()
        failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
        return STARTUP_FAILURE if failed else 0
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else STARTUP_FAILURE


def _drain_timeout_from_env() -> float:
    from poise.settings import Settings

    timeout: float = Settings.from_env().drain_timeout
    return timeout


def _log_like_uvicorn() -> None:
    """poise's own lines (the drain) next to uvicorn's, in its format and at its level.

    Once each: they do not also propagate to the root logger, which an app that calls
    ``logging.basicConfig`` has given a handler of its own (every line printed twice).
    """
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    # uvicorn's level is known once its Config has configured logging: set again then.
    logger.setLevel(max(logging.INFO, logging.getLogger("uvicorn.error").getEffectiveLevel()))


def app() -> Any:
    """The uvicorn factory ``poise run`` serves: the target app, with poise installed.

    Called by uvicorn inside its server (once per worker process). Besides loading the
    app, it takes over the server's SIGTERM/SIGINT handling for the drain.
    """
    target = os.environ.get(_TARGET_ENV)
    if not target:
        raise RunError(f"{_TARGET_ENV} is not set: start the app with `poise run module:app`")
    _log_like_uvicorn()
    try:
        the_app = _load(target, bool(os.environ.get(_FACTORY_ENV)))
    except RunError as exc:
        # uvicorn's start-up failure code: its supervisor stops instead of restarting
        # a worker that would fail the same way every time.
        logger.error("poise run: %s", exc)
        raise SystemExit(STARTUP_FAILURE) from None
    _take_over_signals(_poise_of(the_app))
    return the_app


def _import(target: str, factory: bool) -> Any:
    """The object ``target`` names (not yet called, for a factory).

    Raises:
        RunError: it does not import, or (not a factory) is not an ASGI app.
    """
    from uvicorn.importer import ImportFromStringError, import_from_string

    try:
        loaded = import_from_string(target)
    except ImportFromStringError as exc:
        raise RunError(f"cannot load {target!r}: {exc}") from None
    except (Exception, SystemExit) as exc:
        raise RunError(f"importing {target!r} failed: {type(exc).__name__}: {exc}") from exc
    if factory:
        if not callable(loaded):
            raise RunError(f"the factory {target!r} is a {type(loaded).__name__}, not callable")
    else:
        _check_asgi(target, loaded)
    return loaded


def _check_asgi(target: str, loaded: Any) -> None:
    if not callable(loaded):
        raise RunError(f"{target!r} is a {type(loaded).__name__}, not an ASGI app")
    try:
        signature = inspect.signature(loaded)
    except (TypeError, ValueError):  # no signature to read (a builtin): trust it
        return
    try:
        signature.bind(None, None, None)
    except TypeError:
        raise RunError(
            f"{target!r} is not an ASGI app: it cannot be called as app(scope, receive, send)"
        ) from None


def _load(target: str, factory: bool) -> Any:
    cached = _loaded.get(target)
    if cached is not None:
        return cached
    loaded = _import(target, factory)
    if factory:
        try:
            loaded = loaded()
        except Exception as exc:
            raise RunError(f"the factory {target!r} failed: {type(exc).__name__}: {exc}") from exc
        _check_asgi(f"{target}()", loaded)
    installed = getattr(loaded, "__poise__", None)
    if not isinstance(loaded, Poise) and not isinstance(installed, Poise):
        poise = Poise(loaded)
        # A FastAPI/Starlette app is changed in place; any other ASGI app is served
        # through the Poise object.
        loaded = loaded if poise._asgi is loaded else poise
    _loaded[target] = loaded
    return loaded


def _poise_of(the_app: Any) -> Poise:
    poise = the_app if isinstance(the_app, Poise) else getattr(the_app, "__poise__", None)
    assert isinstance(poise, Poise)
    return poise


class _Drain:
    """The SIGTERM/SIGINT handler of one uvicorn server: drain, then let it stop."""

    def __init__(self, server: Any, poise: Poise, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.poise = poise
        self.loop = loop
        self.signals = 0
        self.task: asyncio.Task[None] | None = None

    def __call__(self, sig: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes of whatever the loop runs.
        self.signals += 1
        if self.signals == 1:
            self.loop.call_soon_threadsafe(self._begin, signal.Signals(sig).name)
        elif self.signals == 2:
            logger.warning("poise: second signal: skipping the rest of the drain delay")
            self.server.should_exit = True
        else:
            self.server.force_exit = True

    def _begin(self, name: str) -> None:
        delay = self.poise.settings.drain_delay
        self.poise.health.begin_drain()
        logger.info("poise: %s: draining: /readyz answers 503, serving %g s more, then "
                    "finishing requests in flight (up to %g s)", name, delay,
                    self.poise.settings.drain_timeout)  # fmt: skip
        self.task = self.loop.create_task(self._stop_after(delay))

    async def _stop_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.server.should_exit = True


def _take_over_signals(poise: Poise) -> None:
    if threading.current_thread() is not threading.main_thread():
        logger.warning("poise: not in the main thread: SIGTERM will not drain")
        return
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    if server is None or not hasattr(server, "should_exit") or isinstance(handler, _Drain):
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    server.config.timeout_graceful_shutdown = poise.settings.drain_timeout
    drain = _Drain(server, poise, loop)
    for sig in _HANDLED:
        signal.signal(sig, drain)
