"""One chat connection speaking Twitch's TMI dialect: login, CAP, JOIN/PART, PRIVMSG, commands."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from streamhub.channels.tokens import TokenInfo
from streamhub.chat.events import CAP_COMMANDS, CAP_TAGS, KNOWN_CAPS, Subscriber
from streamhub.chat.ratelimit import ChatRateLimiter
from streamhub.chat.rules import parse_duration, parse_followers_minutes, parse_slow_seconds
from streamhub.chat.service import SERVER, ChatError, ChatService, ChatUser, notice, user_type
from streamhub.protocols.irc.message import IrcError, Message

ANON_NICK = re.compile(r"^justinfan\d{1,20}$")
CHANNEL = re.compile(r"^#([a-z0-9_]{3,25})$")
MAX_PENDING_LINES = 64
MAX_JOINED = 100
MAX_SENDS_IN_FLIGHT = 200


class TokenValidator(Protocol):
    async def validate(self, token: str) -> TokenInfo | None: ...


class Conn(Subscriber, Protocol):
    """What the session needs from its gateway connection (also a fan-out subscriber)."""

    peer: str
    caps: frozenset[str]
    user_id: str | None

    def send_lines(self, data: bytes) -> None: ...

    def close(self, reason: str) -> None: ...


class ChatSession:
    """LineHandler for one connection; async steps (auth, join, send) keep line order."""

    def __init__(
        self,
        conn: Conn,
        service: ChatService,
        tokens: TokenValidator,
        *,
        auth_limiter: ChatRateLimiter,
        clock: Callable[[], float],
        on_closed: Callable[[ChatSession], None] | None = None,
    ) -> None:
        self._on_closed = on_closed
        self.conn = conn
        self.service = service
        self.tokens = tokens
        self.auth_limiter = auth_limiter
        self.clock = clock
        self.user: ChatUser | None = None
        self.nick: str | None = None
        self.password: str | None = None
        self.caps: set[str] = set()
        self.joined: set[str] = set()
        self.closed = False
        self._busy = False
        self._pending: list[str] = []
        self._send_chain: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until they finish
        self._sends_in_flight = 0
        self.last_input = clock()

    # ---- output ----

    def send(self, *messages: Message) -> None:
        tags = CAP_TAGS in self.caps
        data = b"".join((m.serialize(tags=tags) + "\r\n").encode() for m in messages)
        self.conn.send_lines(data)

    def notice(self, channel: str, msg_id: str, text: str) -> None:
        if CAP_COMMANDS in self.caps or not msg_id:
            self.send(notice(channel, msg_id, text))
        else:
            self.send(Message("NOTICE", (channel, text), {}, SERVER))

    # ---- input ----

    def on_line(self, line: str) -> None:
        if self.closed:
            return
        self.last_input = self.clock()
        if self._busy:
            if len(self._pending) >= MAX_PENDING_LINES:
                self._close("too many lines while busy")
                return
            self._pending.append(line)
            return
        self._handle(line)

    def on_close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        for name in list(self.joined):
            self.service.part(self.conn, name)
        self.joined.clear()
        if self._on_closed is not None:
            self._on_closed(self)

    def _close(self, reason: str) -> None:
        self.conn.close(reason)
        self.on_close(reason)

    def _run(self, step: Awaitable[None]) -> None:
        """Run an async step; lines arriving meanwhile wait, so order is kept."""
        self._busy = True

        async def runner() -> None:
            try:
                await step
            except ChatError as exc:
                self.notice("*", exc.msg_id, exc.text)
            finally:
                self._busy = False
                while self._pending and not self._busy and not self.closed:
                    self._handle(self._pending.pop(0))

        self._spawn(runner())

    def _spawn(self, step: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _handle(self, line: str) -> None:
        if not line.strip():
            return
        try:
            msg = Message.parse(line, max_body=2048)
        except IrcError as exc:
            self.notice("*", "", f"Malformed line: {exc}")
            return
        cmd = msg.command
        if cmd == "PING":
            if msg.params:
                self.send(Message("PONG", (SERVER, msg.params[-1]), {}, SERVER))
            else:
                self.send(Message("PONG", (SERVER,)))
            return
        if cmd == "PONG":
            return
        if cmd == "CAP":
            self._cap(msg)
            return
        if cmd == "QUIT":
            self._close("quit")
            return
        if self.user is None:
            self._pre_login(msg)
            return
        if cmd == "JOIN" and msg.params:
            self._run(self._join(msg.params[0]))
        elif cmd == "PART" and msg.params:
            for chan in msg.params[0].split(","):
                self._part(chan.strip())
        elif cmd == "PRIVMSG" and len(msg.params) >= 2:
            self._privmsg(msg)
        elif cmd in ("USER", "NICK", "PASS"):
            return
        else:
            self.send(Message("421", (self.user.login, cmd, "Unknown command"), {}, SERVER))

    def _cap(self, msg: Message) -> None:
        sub = msg.params[0].upper() if msg.params else ""
        target = self.nick or "*"
        if sub == "LS":
            self.send(Message("CAP", (target, "LS", " ".join(sorted(KNOWN_CAPS))), {}, SERVER))
        elif sub == "REQ" and len(msg.params) >= 2:
            asked = msg.params[-1].split()
            if all(c in KNOWN_CAPS for c in asked):
                self.caps.update(asked)
                self.conn.caps = frozenset(self.caps)
                for name in self.joined:  # fan-out groups subscribers by caps
                    room = self.service.rooms.get(name)
                    if room is not None:
                        room.fanout.refresh(self.conn)
                self.send(Message("CAP", ("*", "ACK", " ".join(asked)), {}, SERVER))
            else:
                self.send(Message("CAP", ("*", "NAK", " ".join(asked)), {}, SERVER))
        elif sub == "END":
            return

    # ---- login ----

    def _pre_login(self, msg: Message) -> None:
        if msg.command == "PASS" and msg.params:
            if self.nick is not None:
                self._fail("Improperly formatted auth")
                return
            self.password = msg.params[-1]
        elif msg.command == "NICK" and msg.params:
            self.nick = msg.params[0].lower()
            self._run(self._login())
        elif msg.command == "USER":
            return
        else:
            self.notice("*", "", "You must log in first (PASS oauth:<token>, then NICK).")

    def _fail(self, text: str) -> None:
        self.send(Message("NOTICE", ("*", text), {}, SERVER))
        self._close("login failed")

    async def _login(self) -> None:
        nick = self.nick or ""
        ip = self.conn.peer.rsplit(":", 1)[0]
        if not self.auth_limiter.allow_join_or_auth(ip, self.clock()):
            self._fail("Login unsuccessful: too many attempts, try again later")
            return
        if ANON_NICK.fullmatch(nick):
            user = ChatUser(None, nick, nick)
        else:
            password = self.password or ""
            if not password.startswith("oauth:"):
                self._fail("Improperly formatted auth")
                return
            info = await self.tokens.validate(password[len("oauth:"):])
            if info is None or info.login != nick or "chat:read" not in info.scopes:
                self._fail("Login authentication failed")
                return
            user = ChatUser(info.user_id, info.login, info.display_name, info.color, info.scopes,
                            info.is_admin)
        self.user = user
        self.conn.user_id = None if user.id is None else str(user.id)
        login = user.login
        self.send(
            Message("001", (login, "Welcome, GLHF!"), {}, SERVER),
            Message("002", (login, f"Your host is {SERVER}"), {}, SERVER),
            Message("003", (login, "This server is rather new"), {}, SERVER),
            Message("004", (login, "-"), {}, SERVER),
            Message("375", (login, "-"), {}, SERVER),
            Message("372", (login, "You are in a maze of twisty passages, all alike."), {}, SERVER),
            Message("376", (login, ">"), {}, SERVER),
        )
        if CAP_COMMANDS in self.caps and CAP_TAGS in self.caps and user.id is not None:
            self.send(Message("GLOBALUSERSTATE", (), {
                "badge-info": "", "badges": "staff/1" if user.staff else "",
                "color": user.shown_color, "display-name": user.display_name,
                "emote-sets": "0", "user-id": str(user.id),
                "user-type": user_type(user, False),
            }, SERVER))

    # ---- rooms ----

    async def _join(self, channels: str) -> None:
        assert self.user is not None
        for raw in channels.split(","):
            chan = raw.strip().lower()
            m = CHANNEL.fullmatch(chan)
            if m is None:
                self.notice(chan or "*", "", f"Invalid channel name: {chan}")
                continue
            name = m.group(1)
            if name in self.joined:
                continue
            if len(self.joined) >= MAX_JOINED:
                self.notice(chan, "", f"You may join at most {MAX_JOINED} channels.")
                continue
            ip = self.conn.peer.rsplit(":", 1)[0]
            if not self.auth_limiter.allow_join_or_auth(ip, self.clock()):
                self.notice(chan, "", "You are joining channels too quickly.")
                continue
            try:
                room = await self.service.join(self.conn, self.user, name)
            except ChatError as exc:
                self.notice(chan, exc.msg_id, exc.text)
                continue
            self.joined.add(name)
            u = self.user.login
            names = await self.service.names(room)
            if u not in names and not self.user.anonymous:
                names = [u, *names]
            self.send(Message("JOIN", (chan,), {}, f"{u}!{u}@{u}.{SERVER}"))
            for i in range(0, max(len(names), 1), 50):
                chunk = " ".join(names[i:i + 50]) or u
                self.send(Message("353", (u, "=", chan, chunk), {}, f"{u}.{SERVER}"))
            self.send(Message("366", (u, chan, "End of /NAMES list"), {}, f"{u}.{SERVER}"))
            if CAP_COMMANDS in self.caps:
                self.send(self.service.userstate(room, self.conn), room.roomstate())

    def _part(self, chan: str) -> None:
        m = CHANNEL.fullmatch(chan.lower())
        if m is None or m.group(1) not in self.joined or self.user is None:
            return
        name = m.group(1)
        self.joined.discard(name)
        self.service.part(self.conn, name)
        u = self.user.login
        self.send(Message("PART", (f"#{name}",), {}, f"{u}!{u}@{u}.{SERVER}"))

    # ---- messages and commands ----

    def _privmsg(self, msg: Message) -> None:
        assert self.user is not None
        chan, text = msg.params[0].lower(), msg.params[-1]
        m = CHANNEL.fullmatch(chan)
        if m is None or m.group(1) not in self.joined:
            self.notice(chan, "msg_not_joined", f"You are not in {chan}.")
            return
        name = m.group(1)
        if text.startswith(("/", ".")) and not text.startswith(("/me ", ".me ")):
            self._run(self._command(name, text))
            return
        if text.startswith(("/me ", ".me ")):
            text = f"\x01ACTION {text[4:]}\x01"
        reply_to = msg.tags.get("reply-parent-msg-id") or None
        if self._sends_in_flight >= MAX_SENDS_IN_FLIGHT:
            self.notice(chan, "msg_ratelimit", "Your message was not sent: too many messages "
                        "are still being delivered.")
            return
        # Sends are pipelined: each is checked and queued after the previous one (so they
        # keep their order), and acknowledged when delivered, without holding later lines.
        loop = asyncio.get_running_loop()
        previous, submitted = self._send_chain, loop.create_future()
        self._send_chain = submitted
        self._sends_in_flight += 1
        self._spawn(self._send(name, text, reply_to, previous, submitted))

    async def _send(
        self, name: str, text: str, reply_to: str | None,
        previous: asyncio.Future[None] | None, submitted: asyncio.Future[None],
    ) -> None:
        try:
            try:
                if previous is not None:
                    await previous
                msg_id, done = await self.service.submit_message(
                    self.conn, name, text, reply_to=reply_to
                )
            finally:  # the next send may go now, whatever happened to this one
                if not submitted.done():
                    submitted.set_result(None)
            await done
        except ChatError as exc:
            self.notice(f"#{name}", exc.msg_id, exc.text)
            return
        except Exception as exc:  # the bus or the database failed: say so, keep the session
            self.notice(f"#{name}", "msg_failed", f"Your message could not be sent ({exc}).")
            return
        finally:
            self._sends_in_flight -= 1
        room = self.service.rooms.get(name)
        if room is not None and self.conn in room.members and CAP_COMMANDS in self.caps:
            self.send(self.service.userstate(room, self.conn, msg_id))

    async def _command(self, name: str, text: str) -> None:
        assert self.user is not None
        chan = f"#{name}"
        word, *args = text[1:].split()
        word = word.lower()
        svc, me = self.service, self.user
        try:
            if word in ("ban", "timeout"):
                if not args:
                    raise ChatError(f"usage_{word}", f"Usage: /{word} <username> "
                                    + ("[duration] " if word == "timeout" else "") + "[reason]")
                duration = None
                rest = args[1:]
                if word == "timeout":
                    duration = 600
                    if rest:
                        try:
                            duration = parse_duration(rest[0])
                            rest = rest[1:]
                        except ValueError as exc:
                            raise ChatError("bad_timeout_duration", str(exc)) from None
                done = await svc.ban(name, me, args[0], duration=duration, reason=" ".join(rest))
                self.notice(chan, "ban_success" if duration is None else "timeout_success", done)
            elif word in ("unban", "untimeout"):
                if not args:
                    raise ChatError(f"usage_{word}", f"Usage: /{word} <username>")
                done = await svc.unban(name, me, args[0])
                self.notice(chan, f"{word}_success", done)
            elif word == "delete":
                if not args:
                    raise ChatError("usage_delete", "Usage: /delete <msg-id>")
                self.notice(chan, "delete_message_success",
                            await svc.delete_message(name, me, args[0]))
            elif word == "clear":
                await svc.clear(name, me)
            elif word in ("slow", "slowoff"):
                seconds = 0
                if word == "slow":
                    try:
                        seconds = parse_slow_seconds(args[0] if args else None)
                    except ValueError as exc:
                        raise ChatError("usage_slow_on", str(exc)) from None
                await svc.set_modes(name, me, slow=seconds)
            elif word in ("followers", "followersoff"):
                minutes = -1
                if word == "followers":
                    try:
                        minutes = parse_followers_minutes(args[0] if args else None)
                    except ValueError as exc:
                        raise ChatError("usage_followers_on", str(exc)) from None
                await svc.set_modes(name, me, followers_only=minutes)
            elif word in ("subscribers", "subscribersoff"):
                await svc.set_modes(name, me, subs_only=word == "subscribers")
            elif word in ("emoteonly", "emoteonlyoff"):
                await svc.set_modes(name, me, emote_only=word == "emoteonly")
            elif word in ("uniquechat", "uniquechatoff", "r9kbeta", "r9kbetaoff"):
                await svc.set_modes(name, me, r9k=not word.endswith("off"))
            elif word == "color":
                if not args:
                    raise ChatError("usage_color", "Usage: /color <color>")
                self.user = await svc.set_color(me, args[0])
                self.notice(chan, "color_changed", "Your color has been changed.")
            elif word in ("mod", "unmod", "vip", "unvip"):
                if not args:
                    raise ChatError(f"usage_{word}", f"Usage: /{word} <username>")
                role = "moderator" if word.endswith("mod") else "vip"
                done = await svc.set_role(name, me, args[0], role, not word.startswith("un"))
                self.notice(chan, f"{word}_success", done)
            else:
                raise ChatError("unrecognized_cmd", f"Unrecognized command: /{word}")
        except ChatError as exc:
            self.notice(chan, exc.msg_id, exc.text)

    def keepalive(self, now: float, idle_limit: float) -> None:
        """Called periodically by the node: ping idle clients, drop dead ones."""
        if now - self.last_input > idle_limit:
            self._close("ping timeout")
        else:
            self.send(Message("PING", (SERVER,)))
