"""The `streamhub` command: up, migrate, user, token, app, sub grant, bits grant."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from streamhub.channels.accounts import AccountService
from streamhub.channels.bits import BitsError, BitsService
from streamhub.channels.oauth import OAuthService
from streamhub.channels.service import AccountError, ChannelService
from streamhub.channels.subscriptions import SubscriptionError, SubscriptionService
from streamhub.channels.tokens import DEFAULT_SCOPES, TokenService
from streamhub.config import ConfigError, Settings, load_settings
from streamhub.storage.db import make_engine, migrate_sync, sessionmaker


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="streamhub", description="StreamHub live streaming node")
    p.add_argument("--config", type=Path, help="TOML settings file (or STREAMHUB_CONFIG)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="run every role in one process (RTMP, transcode, LL-HLS, web)")
    sub.add_parser("migrate", help="upgrade the database schema to the newest revision")
    user = sub.add_parser("user", help="manage users").add_subparsers(
        dest="user_cmd", required=True
    )
    create = user.add_parser("create", help="create a user; prints JSON with id, login, stream_key")
    create.add_argument("login")
    create.add_argument("--password")
    create.add_argument("--admin", action="store_true", help="make the user a site admin")
    reset = user.add_parser("reset-key", help="revoke the stream key and print a new one (JSON)")
    reset.add_argument("login")
    show = user.add_parser("show", help="print a user as JSON (with the stream key)")
    show.add_argument("login")
    token = sub.add_parser("token", help="manage access tokens").add_subparsers(
        dest="token_cmd", required=True
    )
    tcreate = token.add_parser(
        "create", help="issue an access token (chat login: PASS oauth:<token>); prints JSON"
    )
    tcreate.add_argument("login")
    tcreate.add_argument(
        "--scope", action="append", dest="scopes", metavar="S",
        help="a scope such as chat:read, chat:edit (repeatable; default chat:read chat:edit)",
    )
    app = sub.add_parser("app", help="manage OAuth2 applications").add_subparsers(
        dest="app_cmd", required=True
    )
    acreate = app.add_parser(
        "create", help="register an OAuth2 app; prints JSON with client_id and client_secret"
    )
    acreate.add_argument("name")
    acreate.add_argument(
        "--redirect-uri", action="append", dest="redirect_uris", default=[], metavar="URI",
        help="an allowed redirect URI (repeatable; https, or http on localhost)",
    )
    acreate.add_argument("--owner", metavar="LOGIN", help="the user who owns the app")
    subs = sub.add_parser(
        "sub", help="manage subscriptions (without payment: that is the money feature's)"
    ).add_subparsers(dest="sub_cmd", required=True)
    grant = subs.add_parser(
        "grant", help="grant USER a subscription to CHANNEL (a comp sub, or a gift with "
        "--gift-from); prints JSON saying what happened (sub, resub, subgift)")
    grant.add_argument("channel")
    grant.add_argument("user")
    grant.add_argument("--tier", type=int, choices=(1, 2, 3), default=1)
    grant.add_argument("--gift-from", metavar="LOGIN", help="the gifter")
    grant.add_argument("--months", type=int, default=1, help="30-day periods (1-12)")
    grant.add_argument("--message", default="", help="the resub message shown in chat")
    bits = sub.add_parser(
        "bits", help="manage Bits (without payment: that is the money feature's)"
    ).add_subparsers(dest="bits_cmd", required=True)
    bgrant = bits.add_parser("grant", help="add AMOUNT Bits to USER's balance; prints JSON")
    bgrant.add_argument("user")
    bgrant.add_argument("amount", type=int)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.cmd == "migrate":
            migrate_sync(settings.resolved_database_url)
            print("database is at the newest revision")
            return 0
        if args.cmd == "user":
            migrate_sync(settings.resolved_database_url)
            return asyncio.run(_user(settings, args))
        if args.cmd == "token":
            migrate_sync(settings.resolved_database_url)
            return asyncio.run(_token(settings, args))
        if args.cmd == "app":
            migrate_sync(settings.resolved_database_url)
            return asyncio.run(_app(settings, args))
        if args.cmd in ("sub", "bits"):
            migrate_sync(settings.resolved_database_url)
            return asyncio.run(_grant(settings, args))
        if args.cmd == "up":
            return _run_node(settings)
    except (AccountError, SubscriptionError, BitsError) as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 2
    return 2


async def _user(settings: Settings, args: argparse.Namespace) -> int:
    engine = make_engine(settings.resolved_database_url)
    try:
        service = ChannelService(sessionmaker(engine))
        if args.user_cmd == "create":
            info = await service.create_user(args.login, args.password)
            if args.admin:
                await AccountService(sessionmaker(engine), service).set_admin(info.login)
        elif args.user_cmd == "reset-key":
            await service.reset_stream_key(args.login)
            found = await service.get_user(args.login)
            assert found is not None
            info = found
        else:
            found = await service.get_user(args.login)
            if found is None:
                raise AccountError(f"no user {args.login!r}")
            info = found
        out: dict[str, object] = {"id": info.id, "login": info.login,
                                  "display_name": info.display_name,
                                  "stream_key": info.stream_key}
        if args.user_cmd == "create":
            out["admin"] = bool(args.admin)
        print(json.dumps(out))
        return 0
    finally:
        await engine.dispose()


async def _token(settings: Settings, args: argparse.Namespace) -> int:
    engine = make_engine(settings.resolved_database_url)
    try:
        scopes = tuple(args.scopes) if args.scopes else DEFAULT_SCOPES
        issued = await TokenService(sessionmaker(engine)).create(args.login, scopes)
        print(json.dumps({
            "access_token": issued.access_token, "token_type": "bearer",
            "login": issued.info.login, "user_id": issued.info.user_id,
            "scopes": sorted(issued.info.scopes),
        }))
        return 0
    finally:
        await engine.dispose()


async def _app(settings: Settings, args: argparse.Namespace) -> int:
    engine = make_engine(settings.resolved_database_url)
    try:
        sessions = sessionmaker(engine)
        made = await OAuthService(sessions, TokenService(sessions)).register_app(
            args.name, tuple(args.redirect_uris), args.owner)
        print(json.dumps({
            "client_id": made.app.client_id, "client_secret": made.client_secret,
            "name": made.app.name, "redirect_uris": list(made.app.redirect_uris),
            "owner_id": str(made.app.owner_id) if made.app.owner_id is not None else None,
        }))
        return 0
    finally:
        await engine.dispose()


async def _grant(settings: Settings, args: argparse.Namespace) -> int:
    """`sub grant` / `bits grant`. A subscription granted here reaches a running node's chat
    when the user next joins; `POST /helix/subscriptions` applies it in chat at once."""
    engine = make_engine(settings.resolved_database_url)
    try:
        sessions = sessionmaker(engine)
        if args.cmd == "sub":
            result = await SubscriptionService(sessions).grant(
                args.channel, args.user, tier=args.tier, gift_from=args.gift_from,
                months=args.months, message=args.message)
            print(json.dumps(result.json()))
        else:
            user_id, balance = await BitsService(sessions).grant(args.user, args.amount)
            print(json.dumps({"user_id": str(user_id), "login": args.user.lower(),
                              "granted": args.amount, "balance": balance}))
        return 0
    finally:
        await engine.dispose()


def _run_node(settings: Settings) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(_serve(settings))
    return uvloop.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    from streamhub.app import Node

    node = Node(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    bound = await node.start()
    web, rtmp = bound.public(settings.public_host)
    demo = await node.ensure_demo_user()
    lines = [
        "",
        "StreamHub is up.",
        f"  web:         {web}/",
        f"  RTMP server: {rtmp}",
        f"  chat:        ws://{web.split('//')[1].rsplit(':', 1)[0]}:{bound.chat_ws_port}/ "
        f"(IRC: port {bound.chat_irc_port})",
    ]
    if demo is not None:
        user, password = demo
        lines += [
            f"  demo user:   {user.login}" + (
                f"  (password: {password} - shown once; log in at {web}/login, change it at "
                f"{web}/settings/password)" if password else ""),
            f"  dashboard:   {web}/dashboard",
            f"  stream key:  {user.stream_key}",
            f"  publish:     ffmpeg -re -i video.mp4 -c copy -f flv {rtmp}/{user.stream_key}",
            f"  watch:       {web}/{user.login}",
        ]
    lines.append("")
    print("\n".join(lines), flush=True)
    # One machine-readable line for scripts and tests.
    ready = {"event": "ready", "http_port": bound.http_port, "rtmp_port": bound.rtmp_port,
             "chat_ws_port": bound.chat_ws_port, "chat_irc_port": bound.chat_irc_port}
    if bound.chat_wss_port is not None:
        ready.update(chat_wss_port=bound.chat_wss_port, chat_ircs_port=bound.chat_ircs_port)
    print(json.dumps(ready), flush=True)
    await stop.wait()
    await node.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
